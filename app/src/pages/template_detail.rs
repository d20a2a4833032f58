//! `/templates/:slug`: one template — tabs Config / Scripts / Packages / Files (the tab is in
//! the URL, `?tab=`, so it works without JavaScript), the README (rendered by the server), the
//! lint findings, and the actions — *Edit a copy* for a read-only (built-in or folder)
//! template; *Edit*, *Clone* and *Delete* for a custom one; *Export* (a `.tar.gz` of the
//! folder) for all — with a line saying what they do.

use kiln_shared::catalog::{Source, TemplateDetail, format_package_line};
use kiln_shared::templates::{FileContent, Package, Severity, Template};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::badges::{health_badge, source_badge};
use crate::components::call::{Call, moved_on};
use crate::components::confirm::ConfirmButton;
use crate::components::format::{mib, short_time};
use crate::components::layout::PageHeader;
use crate::components::nav;
use crate::components::route::use_slug;
use crate::components::toast::{ToastKind, use_toaster};
use crate::functions::containers::test_template;
use crate::functions::templates::{delete_template, get_template};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Config,
    Scripts,
    Packages,
    Files,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Config, Tab::Scripts, Tab::Packages, Tab::Files];

    fn word(self) -> &'static str {
        match self {
            Tab::Config => "config",
            Tab::Scripts => "scripts",
            Tab::Packages => "packages",
            Tab::Files => "files",
        }
    }

    fn label(self, t: &Template) -> String {
        match self {
            Tab::Config => "Config".to_owned(),
            Tab::Scripts => format!("Scripts ({})", t.scripts.len()),
            Tab::Packages => format!(
                "Packages ({})",
                t.packages.iter().map(|b| b.packages.len()).sum::<usize>()
            ),
            Tab::Files => format!("Files ({})", t.files.len()),
        }
    }
}

#[component]
pub fn TemplatePage() -> impl IntoView {
    let slug = use_slug();
    let detail = Resource::new(move || slug.get(), get_template);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the template…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <Detail d /> }.into_any(),
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! {
                            <PageHeader title="Template" />
                            <div class="alert alert-error" role="alert">{e.to_string()}</div>
                            <a class="btn" href="/templates">"All templates"</a>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(d: TemplateDetail) -> impl IntoView {
    let query = use_query_map();
    let tab = Memo::new(move |_| {
        let word = query.read().get("tab").unwrap_or_default();
        Tab::ALL
            .into_iter()
            .find(|t| t.word() == word)
            .unwrap_or(Tab::Config)
    });
    let TemplateDetail {
        summary,
        template,
        findings,
        scripts_html,
        files_html,
        readme_html,
        containers,
        can_change,
    } = d;
    let slug = summary.slug.clone();
    let title = summary.app.clone();
    let tabs = Tab::ALL.map(|t| (t, t.label(&template)));
    let template = StoredValue::new(template);
    let scripts_html = StoredValue::new(scripts_html);
    let files_html = StoredValue::new(files_html);
    let readme_html = StoredValue::new(readme_html);
    view! {
        <leptos_meta::Title text=title.clone() />
        <div class="page-header">
            <div>
                <h1 class="page-title">{title}</h1>
                <p class="muted">{summary.description.clone()}</p>
                <div class="row wrap">
                    <code>{slug.clone()}</code>
                    {source_badge(&summary)}
                    {health_badge(summary.error_count, summary.warning_count)}
                    {summary.missing.then(|| view! { <span class="badge badge-danger">"folder missing"</span> })}
                    {summary.tags.iter().map(|tag| view! {
                        <a class="tag" href=format!("/templates?tag={}", form_urlencoded::byte_serialize(tag.as_bytes()).collect::<String>())>{tag.clone()}</a>
                    }).collect_view()}
                </div>
            </div>
            <Actions slug=slug.clone() custom=summary.source.is_custom() can_change containers />
        </div>
        <p class="small muted" data-test="edit-help">{edit_help(summary.source)}</p>
        <Findings findings />
        <nav class="tabs" aria-label="Template parts">
            {tabs.into_iter().map(|(t, label)| view! {
                <a href=format!("?tab={}", t.word()) data-test=format!("tab-{}", t.word())
                    aria-current=move || (tab.get() == t).then_some("page")>{label}</a>
            }).collect_view()}
        </nav>
        <section class="tab-panel" data-test="tab-panel">
            {move || match tab.get() {
                Tab::Config => template.with_value(|t| config_tab(t, &summary.updated_at, readme_html.get_value())).into_any(),
                Tab::Scripts => template.with_value(|t| scripts_html.with_value(|h| scripts_tab(t, h))).into_any(),
                Tab::Packages => template.with_value(packages_tab).into_any(),
                Tab::Files => template.with_value(|t| files_html.with_value(|h| files_tab(t, h))).into_any(),
            }}
        </section>
    }
}

/// Edit, clone, test run, export and delete (an island). Another user's custom template
/// offers only clone, test run and export: its owner or an administrator changes it
/// (`can_change`).
#[island]
fn Actions(slug: String, custom: bool, can_change: bool, containers: u32) -> impl IntoView {
    let remove = Call::new();
    let test_run = Call::new();
    let toaster = use_toaster();
    let test_slug = slug.clone();
    // A folder or built-in template is read-only here, so editing it and cloning it are the
    // same thing (a new custom template): one button. A custom template has both.
    let (edit_label, edit_title) = if custom {
        ("Edit", "Change this template")
    } else {
        (
            "Edit a copy",
            "Opens the editor on a copy; saving creates a new custom template",
        )
    };
    let delete_slug = slug.clone();
    view! {
        <div class="page-actions">
            <a class="btn btn-primary" href=format!("/containers/new?template={slug}") data-test="create-from-template">"Create container"</a>
            {(!custom || can_change).then(|| view! {
                <a class="btn" href=format!("/templates/{slug}/edit") title=edit_title data-test="edit-template">{edit_label}</a>
            })}
            {custom.then(|| view! {
                <a class="btn" href=format!("/templates/new?from={slug}") title="Starts a new custom template from this one; this one stays as it is" data-test="clone-template">"Clone"</a>
            })}
            <button type="button" class="btn" data-test="test-template"
                title="Creates a throwaway container from this template on your default node, checks that its services are active, then deletes it"
                aria-busy=test_run.busy()
                on:click=move |_| test_run.run(test_template(test_slug.clone()), move |answer| match answer {
                    Ok(id) => {
                        toaster.after_navigation(ToastKind::Success, "Test run started.");
                        nav::go(&format!("/containers/{id}"));
                    }
                    Err(e) => toaster.error(e.to_string()),
                })>
                "Test run"
            </button>
            <a class="btn" href=format!("/templates/{slug}/export.tar.gz") download=format!("{slug}.tar.gz") rel="external" data-test="export-template">"Export .tar.gz"</a>
            {(custom && can_change).then(|| {
                let question = if containers > 0 {
                    format!("{containers} container(s) were made from {delete_slug}; Kiln will refuse while they exist. Try anyway?")
                } else {
                    format!("Delete the custom template {delete_slug}? This cannot be undone.")
                };
                view! {
                    <ConfirmButton label="Delete".into() question confirm_label="Delete template".into()
                        class="btn" danger=true
                        on_confirm=Callback::new(move |()| remove.run(delete_template(delete_slug.clone()), |answer| {
                            moved_on(answer, "Template deleted.", Some("/templates"));
                        })) />
                }
            })}
        </div>
    }
}

/// What the actions do, in one line under them.
fn edit_help(source: Source) -> &'static str {
    match source {
        Source::Custom => {
            "Edit changes this template. Clone starts a new custom template from it and leaves this one as it is."
        }
        Source::Builtin => {
            "Built into Kiln, so read-only here. Edit a copy opens the editor on a copy and saves it as a new custom template; this one stays as it is."
        }
        Source::Folder => {
            "From a template folder, so read-only here (change the folder and sync). Edit a copy opens the editor on a copy and saves it as a new custom template; this one stays as it is."
        }
    }
}

#[component]
fn Findings(findings: Vec<kiln_shared::templates::Finding>) -> impl IntoView {
    if findings.is_empty() {
        return view! { <p class="small muted" data-test="findings">"Lint: no findings."</p> }
            .into_any();
    }
    let open = findings.iter().any(|f| f.severity == Severity::Error);
    view! {
        <details class="card findings" data-test="findings" open=open>
            <summary>{format!("Lint findings ({})", findings.len())}</summary>
            <ul class="plain">
                {findings.into_iter().map(|f| {
                    let class = match f.severity { Severity::Error => "badge badge-danger", Severity::Warning => "badge badge-warn" };
                    let place = match f.line { Some(l) => format!("{}:{l}", f.path), None => f.path.clone() };
                    view! { <li><span class=class>{f.severity.to_string()}</span> " " <code>{place}</code> " " {f.message}</li> }
                }).collect_view()}
            </ul>
        </details>
    }
    .into_any()
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn config_tab(
    t: &Template,
    updated_at: &str,
    readme_html: Option<String>,
) -> impl IntoView + use<> {
    let rows: Vec<(&'static str, String)> = vec![
        ("Display name", t.app.clone()),
        ("Cores", t.cpu.to_string()),
        ("Memory", mib(t.ram_mib)),
        ("Disk", format!("{} GiB", t.disk_gib)),
        ("OS", format!("{} {}", t.os, t.os_version)),
        ("Unprivileged", yes_no(t.unprivileged).to_owned()),
        ("Nesting", yes_no(t.nesting).to_owned()),
        ("keyctl", yes_no(t.keyctl).to_owned()),
        ("FUSE", yes_no(t.fuse).to_owned()),
        ("Tags", t.tags.join("; ")),
        ("Updated", short_time(updated_at)),
    ];
    let extra = t.extra.clone();
    view! {
        <dl class="props">
            {rows.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
            {extra.into_iter().map(|(k, v)| view! { <dt><code>{k}</code></dt><dd>{v} " " <span class="muted small">"(not used by Kiln, kept)"</span></dd> }).collect_view()}
        </dl>
        // Rendered and made inert by the server (`templates::markdown`).
        {readme_html.map(|html| view! {
            <h3>"README"</h3>
            <div class="markdown" data-test="readme" inner_html=html></div>
        })}
    }
}

fn scripts_tab(t: &Template, html: &[String]) -> impl IntoView + use<> {
    if t.scripts.is_empty() {
        return view! { <p class="muted">"No setup scripts."</p> }.into_any();
    }
    let items: Vec<(String, String)> = t
        .scripts
        .iter()
        .zip(html.iter())
        .map(|(s, h)| (s.file_name.clone(), h.clone()))
        .collect();
    view! {
        <p class="muted small">"Run in this order, as root inside the container, with the helper library loaded."</p>
        {items.into_iter().enumerate().map(|(i, (name, html))| view! {
            <details class="code-block" open=true data-test="script">
                <summary><span class="badge badge-muted">{i + 1}</span> " " <code>{name}</code></summary>
                <pre class="hl"><code inner_html=html></code></pre>
            </details>
        }).collect_view()}
    }
    .into_any()
}

fn packages_tab(t: &Template) -> impl IntoView + use<> {
    if t.packages.is_empty() {
        return view! { <p class="muted">"No packages."</p> }.into_any();
    }
    let buckets = t.packages.clone();
    view! {
        <p class="muted small">"This template owns these lists: a change to a shared bucket reaches it only when you take the bucket again in the editor."</p>
        <div class="table-wrap">
            <table class="data">
                <thead><tr><th>"Bucket"</th><th>"Manager"</th><th>"Packages"</th></tr></thead>
                <tbody>
                    {buckets.into_iter().map(|b| view! {
                        <tr>
                            <td><a href="/packages">{b.name.clone()}</a></td>
                            <td><span class="badge badge-muted">{b.manager.extension()}</span></td>
                            <td>
                                <ul class="plain">
                                    {b.packages.iter().map(|p| match p {
                                        Package::Plain(name) => view! { <li><code>{name.clone()}</code></li> }.into_any(),
                                        Package::Custom { name, .. } => view! {
                                            <li><strong>{name.clone()}</strong> " " <code class="small">{format_package_line(p)}</code></li>
                                        }.into_any(),
                                    }).collect_view()}
                                </ul>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn files_tab(t: &Template, html: &[Option<String>]) -> impl IntoView + use<> {
    if t.files.is_empty() {
        return view! { <p class="muted">"No files."</p> }.into_any();
    }
    let items: Vec<_> = t
        .files
        .iter()
        .zip(html.iter())
        .map(|(f, h)| (f.clone(), h.clone()))
        .collect();
    view! {
        {items.into_iter().map(|(f, html)| {
            let target = format!("{}/{}", f.target_dir.trim_end_matches('/'), f.name);
            let (policy_class, policy_title) = match f.policy {
                kiln_shared::templates::Policy::Replace => ("badge badge-warn", "Overwritten when its content differs"),
                kiln_shared::templates::Policy::Default => ("badge badge-ok", "Left alone when it already exists"),
                kiln_shared::templates::Policy::Backup => ("badge badge-accent", "The old file is kept as .backup-<time>, then written"),
            };
            let body = match (html, &f.content) {
                (Some(h), _) => view! { <pre class="hl"><code inner_html=h></code></pre> }.into_any(),
                (None, FileContent::Base64(data)) => view! { <p class="muted small">{format!("Binary file, {} bytes.", data.len() / 4 * 3)}</p> }.into_any(),
                (None, FileContent::Utf8(text)) => view! { <pre><code>{text.clone()}</code></pre> }.into_any(),
            };
            view! {
                <details class="code-block" open=true data-test="file">
                    <summary>
                        <code>{f.name.clone()}</code> " → " <code>{target}</code> " "
                        <span class=policy_class title=policy_title>{f.policy.word()}</span>
                    </summary>
                    {body}
                </details>
            }
        }).collect_view()}
    }
    .into_any()
}
