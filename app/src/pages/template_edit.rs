//! The template editor: `/templates/new` (blank, or `?from=<slug>` to clone) and
//! `/templates/:slug/edit`. One form with sections Basics, Resources, Features, Scripts,
//! Packages and Files. The rules are `kiln_shared::catalog::validate_template`, checked here
//! before sending and again by the server; messages appear beside their fields. A folder or
//! built-in template is never changed: saving it creates a custom copy (the page says so).

use kiln_shared::catalog::{
    Bucket, Source, format_package_text, parse_package_text, parse_tags, validate_template,
};
use kiln_shared::templates::{
    FileContent, Manager, PackageBucket, Policy, Script, Template, TemplateFile,
};
use kiln_shared::{AppError, FieldErrors};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::layout::PageHeader;
use crate::components::nav;
use crate::components::toast::{ToastKind, use_toaster};
use crate::functions::templates::{get_template, list_buckets, save_template};
use crate::pages::template_detail::use_slug;

/// `/templates/new`, blank or cloned from `?from=<slug>`.
#[component]
pub fn TemplateNewPage() -> impl IntoView {
    let query = use_query_map();
    let from = Memo::new(move |_| query.read().get("from").filter(|s| !s.is_empty()));
    let source = Resource::new(
        move || from.get(),
        |from| async move {
            let buckets = list_buckets().await?;
            match from {
                Some(slug) => get_template(slug).await.map(|d| (Some(d), buckets)),
                None => Ok((None, buckets)),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match source.await {
                    Err(e) => view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any(),
                    Ok((None, buckets)) => view! {
                        <PageHeader title="New template" subtitle="A custom template, stored in Kiln and exportable as a folder." />
                        <Editor template=Template::new("") original=None notice=None buckets />
                    }.into_any(),
                    Ok((Some(d), buckets)) => {
                        let mut t = d.template;
                        t.slug = format!("{}-copy", t.slug).chars().take(63).collect();
                        t.app = format!("{} (copy)", t.app);
                        let notice = format!("A copy of {}. Saving creates a new custom template.", d.summary.app);
                        view! {
                            <PageHeader title="Clone template" />
                            <Editor template=t original=None notice=Some(notice) buckets />
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `/templates/:slug/edit`.
#[component]
pub fn TemplateEditPage() -> impl IntoView {
    let slug = use_slug();
    let detail = Resource::new(
        move || slug.get(),
        |slug| async move { Ok::<_, AppError>((get_template(slug).await?, list_buckets().await?)) },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any()
                    }
                    Ok((d, buckets)) => {
                        let original = Some(d.summary.slug.clone());
                        let mut t = d.template;
                        let notice = match d.summary.source {
                            Source::Custom => None,
                            source => {
                                let from = if source == Source::Builtin { "Kiln's built-in set" } else { "a template folder" };
                                let copy: String = format!("{}-custom", t.slug).chars().take(63).collect();
                                let text = format!(
                                    "{} comes from {from} and is never changed by Kiln. Saving creates a custom copy named {copy} (change the slug if you like); the original stays as it is.",
                                    t.slug
                                );
                                t.slug = copy;
                                Some(text)
                            }
                        };
                        let title = format!("Edit {}", t.app);
                        view! {
                            <PageHeader title="Edit template" />
                            <leptos_meta::Title text=title />
                            <Editor template=t original notice buckets />
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct ScriptRow {
    key: usize,
    name: RwSignal<String>,
    content: RwSignal<String>,
}

#[derive(Clone, Copy)]
struct BucketRow {
    key: usize,
    name: RwSignal<String>,
    manager: RwSignal<Manager>,
    text: RwSignal<String>,
}

#[derive(Clone, Copy)]
struct FileRow {
    key: usize,
    name: RwSignal<String>,
    target_dir: RwSignal<String>,
    policy: RwSignal<Policy>,
    content: RwSignal<String>,
    /// Base64 content of a binary file, kept as it was (not editable here).
    binary: StoredValue<Option<String>>,
}

/// The form's state: one signal per field, rows for the lists.
#[derive(Clone, Copy)]
struct Form {
    slug: RwSignal<String>,
    app: RwSignal<String>,
    description: RwSignal<String>,
    tags: RwSignal<String>,
    cpu: RwSignal<String>,
    ram_mib: RwSignal<String>,
    disk_gib: RwSignal<String>,
    os: RwSignal<String>,
    os_version: RwSignal<String>,
    unprivileged: RwSignal<bool>,
    nesting: RwSignal<bool>,
    keyctl: RwSignal<bool>,
    fuse: RwSignal<bool>,
    scripts: RwSignal<Vec<ScriptRow>>,
    buckets: RwSignal<Vec<BucketRow>>,
    files: RwSignal<Vec<FileRow>>,
    /// What the form does not edit, carried over unchanged.
    kept: StoredValue<Template>,
    next_key: StoredValue<usize>,
}

impl Form {
    fn new(t: Template) -> Self {
        let form = Form {
            slug: RwSignal::new(t.slug.clone()),
            app: RwSignal::new(t.app.clone()),
            description: RwSignal::new(t.description.clone()),
            tags: RwSignal::new(t.tags.join("; ")),
            cpu: RwSignal::new(t.cpu.to_string()),
            ram_mib: RwSignal::new(t.ram_mib.to_string()),
            disk_gib: RwSignal::new(t.disk_gib.to_string()),
            os: RwSignal::new(t.os.clone()),
            os_version: RwSignal::new(t.os_version.clone()),
            unprivileged: RwSignal::new(t.unprivileged),
            nesting: RwSignal::new(t.nesting),
            keyctl: RwSignal::new(t.keyctl),
            fuse: RwSignal::new(t.fuse),
            scripts: RwSignal::new(Vec::new()),
            buckets: RwSignal::new(Vec::new()),
            files: RwSignal::new(Vec::new()),
            kept: StoredValue::new(t.clone()),
            next_key: StoredValue::new(0),
        };
        for s in &t.scripts {
            form.add_script(&s.file_name, &s.content);
        }
        for b in &t.packages {
            form.add_bucket(&b.name, b.manager, &format_package_text(&b.packages));
        }
        for f in &t.files {
            let row = form.add_file();
            row.name.set(f.name.clone());
            row.target_dir.set(f.target_dir.clone());
            row.policy.set(f.policy);
            match &f.content {
                FileContent::Utf8(text) => row.content.set(text.clone()),
                FileContent::Base64(data) => row.binary.set_value(Some(data.clone())),
            }
        }
        form
    }

    fn key(&self) -> usize {
        self.next_key.update_value(|k| *k += 1);
        self.next_key.get_value()
    }

    fn add_script(&self, name: &str, content: &str) {
        let row = ScriptRow {
            key: self.key(),
            name: RwSignal::new(name.to_owned()),
            content: RwSignal::new(content.to_owned()),
        };
        self.scripts.update(|rows| rows.push(row));
    }

    fn add_bucket(&self, name: &str, manager: Manager, text: &str) {
        let existing = self.buckets.with_untracked(|rows| {
            rows.iter()
                .find(|r| r.name.get_untracked() == name && r.manager.get_untracked() == manager)
                .copied()
        });
        if let Some(row) = existing {
            row.text.set(text.to_owned());
            return;
        }
        let row = BucketRow {
            key: self.key(),
            name: RwSignal::new(name.to_owned()),
            manager: RwSignal::new(manager),
            text: RwSignal::new(text.to_owned()),
        };
        self.buckets.update(|rows| rows.push(row));
    }

    fn add_file(&self) -> FileRow {
        let row = FileRow {
            key: self.key(),
            name: RwSignal::new(String::new()),
            target_dir: RwSignal::new(String::new()),
            policy: RwSignal::new(Policy::Default),
            content: RwSignal::new(String::new()),
            binary: StoredValue::new(None),
        };
        self.files.update(|rows| rows.push(row));
        row
    }

    /// Swaps script `i` with its neighbour and renumbers all scripts `10-`, `20-`, ... so the
    /// names (which order the run) follow the list.
    fn move_script(&self, i: usize, up: bool) {
        self.scripts.update(|rows| {
            let j = if up { i.checked_sub(1) } else { Some(i + 1) };
            if let Some(j) = j.filter(|j| *j < rows.len()) {
                rows.swap(i, j);
            }
            for (n, row) in rows.iter().enumerate() {
                let name = row.name.get_untracked();
                let rest = name.trim_start_matches(|c: char| c.is_ascii_digit());
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                row.name.set(format!("{:02}-{rest}", (n + 1) * 10));
            }
        });
    }

    /// The template the form describes, with the errors only the form can see (numbers that
    /// are not numbers, bad package lines).
    fn to_template(self) -> (Template, FieldErrors) {
        let mut errors = FieldErrors::default();
        let mut number = |field: &str, value: String| -> u32 {
            value.trim().parse::<u32>().unwrap_or_else(|_| {
                errors.add(field, "enter a whole number");
                0
            })
        };
        let cpu = number("cpu", self.cpu.get_untracked());
        let ram_mib = number("ram_mib", self.ram_mib.get_untracked());
        let disk_gib = number("disk_gib", self.disk_gib.get_untracked());
        let mut packages = Vec::new();
        for (i, row) in self.buckets.get_untracked().iter().enumerate() {
            let manager = row.manager.get_untracked();
            let (list, bad) = parse_package_text(manager, &row.text.get_untracked());
            if let Some((line, message)) = bad.first() {
                errors.add(
                    &format!("packages.{i}.packages"),
                    format!("line {line}: {message}"),
                );
            }
            packages.push(PackageBucket {
                name: row.name.get_untracked().trim().to_owned(),
                manager,
                packages: list,
            });
        }
        let t = Template {
            slug: self.slug.get_untracked().trim().to_owned(),
            app: self.app.get_untracked().trim().to_owned(),
            description: self.description.get_untracked().trim().to_owned(),
            tags: parse_tags(&self.tags.get_untracked()),
            cpu,
            ram_mib,
            disk_gib,
            os: self.os.get_untracked().trim().to_owned(),
            os_version: self.os_version.get_untracked().trim().to_owned(),
            unprivileged: self.unprivileged.get_untracked(),
            nesting: self.nesting.get_untracked(),
            keyctl: self.keyctl.get_untracked(),
            fuse: self.fuse.get_untracked(),
            scripts: self
                .scripts
                .get_untracked()
                .iter()
                .map(|r| Script {
                    file_name: r.name.get_untracked().trim().to_owned(),
                    order_key: String::new(),
                    content: r.content.get_untracked(),
                })
                .collect(),
            packages,
            files: self
                .files
                .get_untracked()
                .iter()
                .map(|r| TemplateFile {
                    name: r.name.get_untracked().trim().to_owned(),
                    target_dir: r.target_dir.get_untracked().trim().to_owned(),
                    policy: r.policy.get_untracked(),
                    content: match r.binary.get_value() {
                        Some(data) => FileContent::Base64(data),
                        None => FileContent::Utf8(r.content.get_untracked()),
                    },
                })
                .collect(),
            ..self.kept.get_value()
        };
        (t, errors)
    }
}

/// The whole editor (an island): the template, the slug it edits (if any), the notice about
/// custom copies, and the shared buckets it can take.
#[island]
fn Editor(
    template: Template,
    original: Option<String>,
    notice: Option<String>,
    buckets: Vec<Bucket>,
) -> impl IntoView {
    let toaster = use_toaster();
    let form = Form::new(template);
    let errors = RwSignal::new(None::<FieldErrors>);
    let form_error = RwSignal::new(None::<String>);
    let save = Action::new(|(original, t): &(Option<String>, Template)| {
        save_template(original.clone(), t.clone())
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(slug)) => {
            toaster.after_navigation(ToastKind::Success, &format!("Template {slug} saved."));
            nav::go(&format!("/templates/{slug}"));
        }
        Some(Err(AppError::Invalid(fields))) => {
            form_error.set(fields.get(FieldErrors::FORM).map(str::to_owned));
            errors.set(Some(fields));
            toaster.error("Please correct the highlighted fields.");
        }
        Some(Err(e)) => {
            form_error.set(Some(e.to_string()));
            toaster.error(e.to_string());
        }
        None => {}
    });
    let original = StoredValue::new(original);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (t, mut found) = form.to_template();
        for (field, message) in validate_template(&t).iter() {
            found.add(field, message);
        }
        if found.is_empty() {
            errors.set(None);
            form_error.set(None);
            save.dispatch((original.get_value(), t));
        } else {
            form_error.set(found.get(FieldErrors::FORM).map(str::to_owned));
            errors.set(Some(found));
            toaster.error("Please correct the highlighted fields.");
        }
    };
    let err = FieldError(errors);
    view! {
        {notice.map(|n| view! { <div class="alert alert-info" role="note" data-test="copy-notice">{n}</div> })}
        <form class="form editor" on:submit=on_submit novalidate=true data-test="template-editor">
            <noscript><div class="alert alert-warn">"The editor needs JavaScript."</div></noscript>
            <fieldset class="card">
                <legend>"Basics"</legend>
                <div class="form-grid">
                    <TextField id="slug" label="Slug" value=form.slug err hint="The folder name: lowercase letters, digits and hyphens." />
                    <TextField id="app" label="Display name" value=form.app err />
                </div>
                <TextField id="description" label="Description" value=form.description err />
                <TextField id="tags" label="Tags" value=form.tags err hint="Separated by ; (e.g. web; proxy)." />
            </fieldset>
            <fieldset class="card">
                <legend>"Resources"</legend>
                <div class="form-grid">
                    <TextField id="cpu" label="Cores" value=form.cpu err numeric=true />
                    <TextField id="ram_mib" label="Memory (MiB)" value=form.ram_mib err numeric=true />
                    <TextField id="disk_gib" label="Disk (GiB)" value=form.disk_gib err numeric=true />
                    <TextField id="os" label="OS" value=form.os err hint="e.g. debian, ubuntu, alpine" />
                    <TextField id="os_version" label="OS version" value=form.os_version err />
                </div>
            </fieldset>
            <fieldset class="card">
                <legend>"Features"</legend>
                <Check id="unprivileged" label="Unprivileged container (recommended)" value=form.unprivileged />
                <Check id="nesting" label="Nesting (needed for Docker and systemd services in LXC)" value=form.nesting />
                <Check id="keyctl" label="keyctl (needed for Docker in unprivileged containers)" value=form.keyctl />
                <Check id="fuse" label="FUSE" value=form.fuse />
            </fieldset>
            <ScriptsSection form err />
            <PackagesSection form err buckets />
            <FilesSection form err />
            {move || form_error.get().map(|m| view! { <div class="alert alert-error" role="alert">{m}</div> })}
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-test="save-template"
                    aria-busy=move || save.pending().get().then_some("true")
                    disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save template" }}
                </button>
                <a class="btn btn-ghost" href="/templates">"Cancel"</a>
            </div>
        </form>
    }
}

/// The message for one field from the latest check (browser or server).
#[derive(Clone, Copy)]
struct FieldError(RwSignal<Option<FieldErrors>>);

impl FieldError {
    fn get(self, field: &str) -> Option<String> {
        self.0
            .with(|e| e.as_ref().and_then(|e| e.get(field).map(str::to_owned)))
    }
}

#[component]
fn TextField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    err: FieldError,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] numeric: bool,
) -> impl IntoView {
    let input_id = format!("t-{id}");
    let error_id = format!("t-{id}-error");
    let message = move || err.get(id);
    view! {
        <div class="field">
            <label for=input_id.clone()>{label}</label>
            <input id=input_id name=id type="text" inputmode=numeric.then_some("numeric")
                bind:value=value
                aria-invalid=move || message().is_some().then_some("true")
                aria-describedby=error_id.clone() />
            {hint.map(|h| view! { <div class="hint">{h}</div> })}
            <div class="field-error" id=error_id>{message}</div>
        </div>
    }
}

#[component]
fn Check(id: &'static str, label: &'static str, value: RwSignal<bool>) -> impl IntoView {
    view! {
        <label class="checkbox">
            <input type="checkbox" name=id bind:checked=value />
            {label}
        </label>
    }
}

/// The rows with their positions (errors name rows by position).
fn indexed<T: Copy + Send + Sync + 'static>(
    rows: RwSignal<Vec<T>>,
) -> impl Fn() -> Vec<(usize, T)> + Copy {
    move || rows.get().into_iter().enumerate().collect()
}

/// A field error shown for a list row (`scripts.3.file_name`).
fn row_error(err: FieldError, field: String) -> impl IntoView {
    view! { <div class="field-error">{move || err.get(&field)}</div> }
}

#[component]
fn ScriptsSection(form: Form, err: FieldError) -> impl IntoView {
    let add = move |_| {
        let n = form.scripts.with_untracked(Vec::len) + 1;
        form.add_script(
            &format!("{:02}-step.sh", n * 10),
            "#!/usr/bin/env bash\nset -euo pipefail\n",
        );
    };
    view! {
        <fieldset class="card">
            <legend>"Scripts"</legend>
            <p class="hint">"Run as root inside the container in the order of their names (10-…, 20-…). Moving a script renumbers them."</p>
            <For each=indexed(form.scripts) key=|(i, r)| (*i, r.key) let((i, row))>
                <div class="list-row" data-test="script-row">
                    <div class="row">
                        <label class="visually-hidden" for=format!("script-{}", row.key)>"Script name"</label>
                        <input id=format!("script-{}", row.key) class="mono grow" type="text" bind:value=row.name
                            aria-label="Script name" data-test="script-name" />
                        <button type="button" class="btn btn-sm btn-ghost" title="Move up" aria-label="Move up"
                            disabled=i == 0 on:click=move |_| form.move_script(i, true)>"↑"</button>
                        <button type="button" class="btn btn-sm btn-ghost" title="Move down" aria-label="Move down"
                            on:click=move |_| form.move_script(i, false)>"↓"</button>
                        <button type="button" class="btn btn-sm btn-ghost" aria-label="Remove script"
                            on:click=move |_| form.scripts.update(|rows| rows.retain(|r| r.key != row.key))>"Remove"</button>
                    </div>
                    {row_error(err, format!("scripts.{i}.file_name"))}
                    <textarea class="code-editor" rows="10" spellcheck="false" wrap="off" aria-label="Script content"
                        data-test="script-content" bind:value=row.content></textarea>
                    {row_error(err, format!("scripts.{i}.content"))}
                </div>
            </For>
            <button type="button" class="btn btn-sm" on:click=add data-test="add-script">"Add script"</button>
        </fieldset>
    }
}

#[component]
fn PackagesSection(form: Form, err: FieldError, buckets: Vec<Bucket>) -> impl IntoView {
    let picked = RwSignal::new(String::new());
    let take = move |buckets: &[Bucket]| {
        let name = picked.get_untracked();
        if let Some(bucket) = buckets.iter().find(|b| b.name == name) {
            for list in &bucket.lists {
                form.add_bucket(
                    &list.name,
                    list.manager,
                    &format_package_text(&list.packages),
                );
            }
        }
    };
    view! {
        <fieldset class="card">
            <legend>"Packages"</legend>
            <p class="hint">"One package per line; custom lines are name|check command|install command[|timeout]. The template keeps its own copy of a shared bucket."</p>
            <For each=indexed(form.buckets) key=|(i, r)| (*i, r.key) let((i, row))>
                <div class="list-row" data-test="bucket-row">
                    <div class="row">
                        <input class="mono grow" type="text" bind:value=row.name aria-label="Bucket name" />
                        <select aria-label="Package manager"
                            on:change=move |ev| {
                                if let Some(m) = Manager::from_extension(&event_target_value(&ev)) { row.manager.set(m); }
                            }>
                            {Manager::ALL.into_iter().map(|m| view! {
                                <option value=m.extension() selected=move || row.manager.get() == m>{m.extension()}</option>
                            }).collect_view()}
                        </select>
                        <button type="button" class="btn btn-sm btn-ghost"
                            on:click=move |_| form.buckets.update(|rows| rows.retain(|r| r.key != row.key))>"Remove"</button>
                    </div>
                    {row_error(err, format!("packages.{i}.name"))}
                    <textarea class="code-editor" rows="4" spellcheck="false" aria-label="Packages" data-test="bucket-packages" bind:value=row.text></textarea>
                    {row_error(err, format!("packages.{i}.packages"))}
                </div>
            </For>
            <div class="row wrap">
                <button type="button" class="btn btn-sm" data-test="add-packages"
                    on:click=move |_| form.add_bucket("extra", Manager::Apt, "")>"Add single packages"</button>
                {if buckets.is_empty() {
                    view! { <span class="small muted">"No shared buckets yet — " <a href="/packages">"create one"</a></span> }.into_any()
                } else {
                    let names: Vec<String> = buckets.iter().map(|b| b.name.clone()).collect();
                    let buckets = StoredValue::new(buckets);
                    view! {
                        <label class="visually-hidden" for="take-bucket">"Shared bucket"</label>
                        <select id="take-bucket" on:change=move |ev| picked.set(event_target_value(&ev))>
                            <option value="">"Shared bucket…"</option>
                            {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                        </select>
                        <button type="button" class="btn btn-sm" data-test="take-bucket" on:click=move |_| buckets.with_value(|b| take(b))>"Take bucket"</button>
                    }.into_any()
                }}
            </div>
        </fieldset>
    }
}

#[component]
fn FilesSection(form: Form, err: FieldError) -> impl IntoView {
    view! {
        <fieldset class="card">
            <legend>"Files"</legend>
            <p class="hint">"Pushed into the container at target directory/name. Policy: default leaves an existing file alone, replace overwrites it when it differs, backup keeps the old one first."</p>
            <For each=indexed(form.files) key=|(i, r)| (*i, r.key) let((i, row))>
                <div class="list-row" data-test="file-row">
                    <div class="form-grid">
                        <div class="field">
                            <label for=format!("file-name-{}", row.key)>"Name"</label>
                            <input id=format!("file-name-{}", row.key) class="mono" type="text" bind:value=row.name data-test="file-name" />
                            {row_error(err, format!("files.{i}.name"))}
                        </div>
                        <div class="field">
                            <label for=format!("file-dir-{}", row.key)>"Target directory"</label>
                            <input id=format!("file-dir-{}", row.key) class="mono" type="text" placeholder="/etc/myapp" bind:value=row.target_dir data-test="file-target" />
                            {row_error(err, format!("files.{i}.target_dir"))}
                        </div>
                        <div class="field">
                            <label for=format!("file-policy-{}", row.key)>"Policy"</label>
                            <select id=format!("file-policy-{}", row.key) data-test="file-policy"
                                on:change=move |ev| {
                                    if let Some(p) = Policy::from_word(&event_target_value(&ev)) { row.policy.set(p); }
                                }>
                                {[Policy::Default, Policy::Replace, Policy::Backup].into_iter().map(|p| view! {
                                    <option value=p.word() selected=move || row.policy.get() == p>{p.word()}</option>
                                }).collect_view()}
                            </select>
                        </div>
                    </div>
                    {move || match row.binary.get_value() {
                        Some(data) => view! { <p class="small muted">{format!("Binary file ({} bytes), kept as it is.", data.len() / 4 * 3)}</p> }.into_any(),
                        None => view! {
                            <textarea class="code-editor" rows="8" spellcheck="false" wrap="off" aria-label="File content"
                                data-test="file-content" bind:value=row.content></textarea>
                        }.into_any(),
                    }}
                    {row_error(err, format!("files.{i}.content"))}
                    <button type="button" class="btn btn-sm btn-ghost"
                        on:click=move |_| form.files.update(|rows| rows.retain(|r| r.key != row.key))>"Remove file"</button>
                </div>
            </For>
            <button type="button" class="btn btn-sm" data-test="add-file" on:click=move |_| { form.add_file(); }>"Add file"</button>
        </fieldset>
    }
}
