//! `/containers/new` (also `?template=<slug>` from a template's page, and `?template=` for a
//! plain OS container): the five-step creation wizard — Template, Configure, Packages,
//! Scripts, Review.
//!
//! The server renders every step's controls, filled with the template's defaults, inside one
//! island, `Wizard`, which keeps the answers and nothing else of the views: the controls'
//! `input`/`change`/`click` events bubble up to it, `kiln_shared::wizard_form` says which part
//! of the request a control is, and the island shows one step at a time, writes each field's
//! error next to it, fills the node's storages, OS templates and bridges when the node is
//! chosen, and renders only the Review and the buttons itself. (A view per field compiled
//! into the browser bundle cost three times as much: docs/BENCHMARKS.md.)
//!
//! Every step is checked with `kiln_shared::containers::validate_step`, the same rules the
//! server applies again on *Create*. The answers live in `sessionStorage` (this tab only) so
//! Back, Next and a reload lose nothing; they are dropped once the container is created.
//! Choosing another template on the first step loads the page for it and keeps the node,
//! name, network and access answers. A node that does not answer says so on Configure.

use kiln_shared::FieldErrors;
use kiln_shared::catalog::TemplateSummary;
use kiln_shared::containers::{
    CreateRequest, Ipv4Setting, SWAP_MIB_RANGE, WizardNode, WizardSetup, WizardStart, WizardStep,
    normalize, pct_equivalent, request_defaults, validate_step,
};
use kiln_shared::templates::{CPU_RANGE, DISK_GIB_RANGE, Package, RAM_MIB_RANGE, Template};
use kiln_shared::wizard_form::{checked_of, text_of};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::layout::PageHeader;
use crate::components::nav;
use crate::components::toast::{ToastKind, use_toaster};
use crate::functions::containers::{create_container, start_wizard};

/// The page: loads the wizard's starting point on the server and renders the steps inside
/// the island.
#[component]
pub fn ContainerNewPage() -> impl IntoView {
    let query = use_query_map();
    // `?template=` (even empty) means the template step is answered.
    let asked = query.read_untracked().get("template");
    let chosen = asked.is_some();
    let slug = asked.filter(|s| !s.is_empty());
    let start = Resource::new(move || slug.clone(), start_wizard);
    view! {
        <PageHeader title="Create a container" subtitle="Five short steps; nothing is sent to the node before Create." />
        <noscript>
            <div class="alert alert-warn" role="status">
                "The wizard needs JavaScript: it checks every answer as you type and asks the node what it offers."
            </div>
        </noscript>
        <Transition fallback=|| view! { <p class="muted">"Loading your nodes and templates…"</p> }>
            {move || Suspend::new(async move {
                match start.await {
                    Ok(start) if start.nodes.is_empty() => view! {
                        <div class="alert alert-info" role="status" data-test="wizard-no-node">
                            "Containers are made on a Proxmox VE node: add one first."
                        </div>
                        <a class="btn btn-primary" href="/nodes/new">"Add a node"</a>
                    }.into_any(),
                    Ok(start) => view! { <WizardPage start chosen /> }.into_any(),
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The island with the four steps the server renders (Review is the island's own).
#[component]
fn WizardPage(start: WizardStart, chosen: bool) -> impl IntoView {
    let node_id = start
        .nodes
        .iter()
        .find(|n| n.unavailable.is_none())
        .or(start.nodes.first())
        .map_or(0, |n| n.id);
    let request = request_defaults(
        start.template.as_ref(),
        node_id,
        start.hostname.clone(),
        Some(start.root_password.clone()),
    );
    let first = if chosen {
        WizardStep::Configure
    } else {
        WizardStep::Template
    };
    let setup = WizardSetup {
        request: request.clone(),
        first,
        nodes: start.nodes.clone(),
        template: start
            .template
            .as_ref()
            .map(|t| format!("{} ({})", t.app, t.slug)),
        os_hint: start.template.as_ref().map_or_else(
            || "debian-12".to_owned(),
            |t| format!("{}-{}", t.os, t.os_version),
        ),
        taken_hostnames: start.taken_hostnames.clone(),
    };
    let hide = move |step: WizardStep| step != first;
    let plain = chosen && start.template.is_none();
    view! {
        <Wizard setup>
            <section data-step="0" hidden=hide(WizardStep::Template)>
                <TemplateStep templates=start.templates chosen=request.template.clone() plain />
            </section>
            <section data-step="1" hidden=hide(WizardStep::Configure)>
                <ConfigureStep nodes=start.nodes request=request.clone() />
            </section>
            <section data-step="2" hidden=true>
                <PackagesStep template=start.template.clone() />
            </section>
            <section data-step="3" hidden=true>
                <ScriptsStep template=start.template />
            </section>
        </Wizard>
    }
}

/// The wizard's answers (signals are `Copy`).
#[derive(Clone, Copy)]
struct State {
    step: RwSignal<WizardStep>,
    request: RwSignal<CreateRequest>,
    /// Fields the user changed (their errors show at once).
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "only the browser shows errors as fields change")
    )]
    dirty: RwSignal<Vec<&'static str>>,
    /// Steps whose Next was pressed (all their errors show).
    attempted: RwSignal<Vec<WizardStep>>,
    /// The server's field errors (a taken VMID, a refusal on Create).
    server: RwSignal<FieldErrors>,
    busy: RwSignal<bool>,
}

#[cfg(feature = "hydrate")]
impl State {
    /// `field` was changed by the user: its errors show from now on, the server's is stale.
    fn touched(self, field: &'static str) {
        self.dirty.update(|d| {
            if !d.contains(&field) {
                d.push(field);
            }
        });
        if self.server.with_untracked(|e| e.get(field).is_some()) {
            self.server.update(|e| {
                *e = e.iter().filter(|(f, _)| *f != field).fold(
                    FieldErrors::default(),
                    |mut acc, (f, m)| {
                        acc.add(f, m);
                        acc
                    },
                );
            });
        }
    }

    /// The message shown for `field` (a control's `data-error-for`): the server's, or the
    /// shared rule's once the field was changed or its step's Next pressed. `tags` shows the
    /// first error of `tags.N` too.
    fn error(self, field: &str) -> Option<String> {
        if let Some(m) = self.server.with(|e| e.get(field).map(str::to_owned)) {
            return Some(m);
        }
        let step = self.step.get();
        let show =
            self.attempted.with(|a| a.contains(&step)) || self.dirty.with(|d| d.contains(&field));
        if !show {
            return None;
        }
        let request = normalize(self.request.get());
        validate_step(step, &request)
            .iter()
            .find(|(f, _)| {
                *f == field
                    || f.strip_prefix(field)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|(_, m)| m.to_owned())
    }
}

/// What `sessionStorage` keeps of the wizard.
#[cfg(feature = "hydrate")]
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Saved {
    step: WizardStep,
    request: CreateRequest,
}

/// The wizard (an island): the steps list, the server's steps as `children`, the Review and
/// the buttons.
#[island]
pub fn Wizard(setup: WizardSetup, children: Children) -> impl IntoView {
    let WizardSetup {
        request,
        first,
        nodes,
        template,
        os_hint,
        taken_hostnames,
    } = setup;
    let state = State {
        step: RwSignal::new(first),
        request: RwSignal::new(request),
        dirty: RwSignal::new(Vec::new()),
        attempted: RwSignal::new(Vec::new()),
        server: RwSignal::new(FieldErrors::default()),
        busy: RwSignal::new(false),
    };
    let unavailable: Vec<(i64, String)> = nodes
        .iter()
        .filter_map(|n| Some((n.id, n.unavailable.clone()?)))
        .collect();
    let nodes = StoredValue::new(nodes);
    let template = StoredValue::new(template);
    let taken = StoredValue::new(taken_hostnames);
    let body = NodeRef::<leptos::html::Section>::new();

    #[cfg(feature = "hydrate")]
    browser::start(state, body, os_hint);
    #[cfg(not(feature = "hydrate"))]
    let _ = (os_hint, taken);

    let on_control = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        browser::control_changed(state, body, &ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_click = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        browser::clicked(state, body, taken, &ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        #[cfg(feature = "hydrate")]
        browser::key(state, body, &ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let step = state.step;
    view! {
        <div class="wizard" data-test="wizard">
            <ol class="wizard-steps" aria-label="Steps">
                {WizardStep::ALL.into_iter().map(|s| {
                    let current = move || step.get() == s;
                    let done = move || step.get().index() > s.index();
                    view! {
                        <li
                            class="wizard-step"
                            class:current=current
                            class:done=done
                            aria-current=move || current().then_some("step")
                        >
                            <span class="wizard-step-number">{s.index() + 1}</span>
                            <span>{s.title()}</span>
                        </li>
                    }
                }).collect_view()}
            </ol>
            <section
                class="card wizard-body"
                node_ref=body
                on:input=on_control
                on:change=on_control
                on:click=on_click
                on:keydown=on_key
            >
                {children()}
                {move || (step.get() == WizardStep::Review).then(|| view! { <Review state nodes template /> })}
                <Buttons state unavailable />
            </section>
        </div>
    }
}

/// Back / Next / Create. `unavailable`: the nodes that cannot take a container now, with why.
#[component]
fn Buttons(state: State, unavailable: Vec<(i64, String)>) -> impl IntoView {
    let toaster = use_toaster();
    let step = state.step;
    let back = move |_| {
        let i = step.get().index();
        if i > 0 {
            step.set(WizardStep::ALL[i - 1]);
        }
    };
    let next = move |_| {
        let current = step.get();
        state.attempted.update(|a| a.push(current));
        let request = normalize(state.request.get());
        if current == WizardStep::Configure
            && let Some((_, why)) = unavailable.iter().find(|(id, _)| *id == request.node_id)
        {
            let why = format!("This node cannot take a container now: {why}.");
            state.server.update(|e| e.add("node_id", why.clone()));
            toaster.error(why);
            return;
        }
        if !validate_step(current, &request).is_empty() {
            toaster.error("Please check the highlighted fields.");
            return;
        }
        if current == WizardStep::Review {
            create(state, request);
        } else {
            step.set(WizardStep::ALL[current.index() + 1]);
        }
    };
    view! {
        <div class="form-actions wizard-actions">
            <button
                type="button"
                class="btn"
                data-test="wizard-back"
                disabled=move || step.get() == WizardStep::Template
                on:click=back
            >
                "Back"
            </button>
            <div class="spacer"></div>
            <button
                type="button"
                class="btn btn-primary"
                data-test="wizard-next"
                disabled=move || state.busy.get()
                on:click=next
            >
                {move || match step.get() {
                    WizardStep::Review if state.busy.get() => "Creating…",
                    WizardStep::Review => "Create",
                    _ => "Next",
                }}
            </button>
        </div>
    }
}

/// Sends the request; on success forgets the answers and opens the progress page. A field
/// refused by the server takes the user to its step.
fn create(state: State, request: CreateRequest) {
    let toaster = use_toaster();
    state.busy.set(true);
    leptos::task::spawn_local(async move {
        match create_container(request).await {
            Ok(id) => {
                #[cfg(feature = "hydrate")]
                browser::forget();
                toaster.after_navigation(ToastKind::Success, "Creation started.");
                nav::go(&format!("/containers/{id}"));
            }
            Err(kiln_shared::AppError::Invalid(errors)) => {
                state.busy.set(false);
                let first = errors
                    .iter()
                    .map(|(f, _)| f.to_owned())
                    .next()
                    .unwrap_or_default();
                let owner = WizardStep::ALL
                    .into_iter()
                    .find(|s| *s != WizardStep::Review && s.owns(&first))
                    .unwrap_or(WizardStep::Review);
                let message = errors
                    .get(FieldErrors::FORM)
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        "The server refused some answers; they are marked.".to_owned()
                    });
                state.server.set(errors);
                state.step.set(owner);
                toaster.error(message);
            }
            Err(e) => {
                state.busy.set(false);
                toaster.error(e.to_string());
            }
        }
    });
}

/// Step 5: everything at once, secrets masked, and the `pct` equivalent.
#[component]
fn Review(
    state: State,
    nodes: StoredValue<Vec<WizardNode>>,
    template: StoredValue<Option<String>>,
) -> impl IntoView {
    let request = move || normalize(state.request.get());
    let row = |label: &'static str, value: String| {
        view! { <tr><th scope="row">{label}</th><td>{value}</td></tr> }
    };
    view! {
        <h2>"Review"</h2>
        <p class="muted">"Kiln checks all of it again on the server before anything is sent to the node."</p>
        {move || {
            let e = validate_step(WizardStep::Review, &request());
            (!e.is_empty()).then(|| view! {
                <div class="alert alert-error" role="alert" data-test="review-errors">
                    <p>"Some answers need a change:"</p>
                    <ul>{e.iter().map(|(f, m)| view! { <li><code>{f.to_owned()}</code>": "{m.to_owned()}</li> }).collect_view()}</ul>
                </div>
            })
        }}
        {move || {
            let r = request();
            let node = nodes.with_value(|n| n.iter().find(|n| n.id == r.node_id).map(|n| n.name.clone()).unwrap_or_default());
            let ip = match &r.ipv4 {
                Ipv4Setting::Dhcp => "DHCP".to_owned(),
                Ipv4Setting::Static { address, gateway } => format!("{address}{}", gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default()),
            };
            let features: Vec<&str> = [("nesting", r.nesting), ("keyctl", r.keyctl), ("fuse", r.fuse)]
                .into_iter().filter_map(|(n, on)| on.then_some(n)).collect();
            view! {
                <table class="table review" data-test="review">
                    <tbody>
                        {row("Template", template.get_value().unwrap_or_else(|| "none (plain OS)".to_owned()))}
                        {row("Node", node)}
                        {row("Hostname", r.hostname.clone())}
                        {row("VMID", r.vmid.map_or_else(|| "next free".to_owned(), |v| v.to_string()))}
                        {row("OS template", r.ostemplate.clone())}
                        {row("Root disk", format!("{} GiB on {}", r.disk_gib, r.storage))}
                        {row("CPU / memory / swap", format!("{} core(s) / {} MiB / {} MiB", r.cores, r.memory_mib, r.swap_mib))}
                        {row("Network", format!("{} on {}", ip, r.bridge))}
                        {row("DNS", r.nameserver.clone().unwrap_or_else(|| "the node's".to_owned()))}
                        {row("Unprivileged", yes_no(r.unprivileged))}
                        {row("Features", if features.is_empty() { "none".to_owned() } else { features.join(", ") })}
                        {row("Start on boot", yes_no(r.onboot))}
                        {row("Tags", join_or_none(&r.tags))}
                        {row("Root password", if r.root_password.is_some() { "••••••••".to_owned() } else { "none".to_owned() })}
                        {row("SSH keys", r.ssh_public_keys.as_ref().map_or_else(|| "none".to_owned(), |k| format!("{} key(s)", k.lines().filter(|l| !l.trim().is_empty()).count())))}
                        {row("Buckets off", join_or_none(&r.buckets_off))}
                        {row("Packages added / removed", format!("{} / {}", join_or_none(&r.packages_added), join_or_none(&r.packages_removed)))}
                        {row("Scripts skipped", join_or_none(&r.scripts_skipped))}
                    </tbody>
                </table>
                <h3>"The Proxmox equivalent"</h3>
                <pre class="code-block" data-test="pct"><code>{pct_equivalent(&r)}</code></pre>
            }
        }}
    }
}

fn yes_no(on: bool) -> String {
    if on { "yes" } else { "no" }.to_owned()
}

fn join_or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The id of the control `name` (`wizard-hostname`, `wizard-ipv4-address`).
fn control_id(name: &str) -> String {
    format!("wizard-{}", name.replace('.', "-"))
}

/// Step 1 (rendered on the server): a template from the catalog (search, tags), or none.
#[component]
fn TemplateStep(
    templates: Vec<TemplateSummary>,
    chosen: Option<String>,
    plain: bool,
) -> impl IntoView {
    let mut tags: Vec<String> = templates
        .iter()
        .flat_map(|t| t.tags.iter().cloned())
        .collect();
    tags.sort();
    tags.dedup();
    let pressed = |on: bool| if on { "true" } else { "false" };
    view! {
        <h2>"Template"</h2>
        <p class="muted">"What the container becomes. Its values are defaults you can change on the next steps."</p>
        <div class="filter-bar">
            <input
                type="search"
                name="template-search"
                aria-label="Search templates"
                placeholder="Search templates"
                data-test="wizard-search"
            />
            <div class="row wrap" role="group" aria-label="Tags">
                {tags.into_iter().map(|t| {
                    let tag = t.clone();
                    view! { <button type="button" class="tag" data-tag=tag aria-pressed="false">{t}</button> }
                }).collect_view()}
            </div>
        </div>
        <div class="grid choice-grid" role="radiogroup" aria-label="Template">
            <button
                type="button"
                role="radio"
                class="card choice"
                data-test="template-none"
                data-slug=""
                aria-checked=pressed(plain)
            >
                <strong>"No template"</strong>
                <span class="muted small">"A plain OS container: nothing installed beyond the OS template."</span>
            </button>
            {templates.into_iter().map(|t| {
                let search = format!("{} {} {}", t.app, t.slug, t.description).to_lowercase();
                view! {
                    <button
                        type="button"
                        role="radio"
                        class="card choice"
                        data-test="template-choice"
                        data-slug=t.slug.clone()
                        data-search=search
                        data-tags=t.tags.join(" ")
                        disabled={t.error_count > 0}
                        aria-checked={pressed(chosen.as_deref() == Some(t.slug.as_str()))}
                    >
                        <strong>{t.app.clone()}</strong>
                        <span class="muted small">{t.description.clone()}</span>
                        <span class="small">
                            {format!("{} core(s) · {} MiB · {} GiB · {} {}", t.cpu, t.ram_mib, t.disk_gib, t.os, t.os_version)}
                        </span>
                        {(t.error_count > 0).then(|| view! { <span class="badge badge-danger">"has errors: fix it first"</span> })}
                    </button>
                }
            }).collect_view()}
        </div>
        <p class="field-error" role="alert" data-error-for="template"></p>
    }
}

/// A labelled field around its control, with its hint and (filled by the island) its error.
#[component]
fn Field(
    name: &'static str,
    label: &'static str,
    hint: String,
    children: Children,
) -> impl IntoView {
    let id = control_id(name);
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            {children()}
            <div class="hint" id=format!("{id}-hint")>{hint}</div>
            <div class="field-error" id=format!("{id}-error") data-error-for=name></div>
        </div>
    }
}

/// A text input showing the request's value of `name`.
fn input(request: &CreateRequest, name: &'static str) -> impl IntoView + use<> {
    let id = control_id(name);
    let described = format!("{id}-error");
    let value = text_of(request, name).unwrap_or_default();
    view! { <input id=id name=name value=value aria-describedby=described /> }
}

/// A number input with its range as its hint.
#[component]
fn NumberField(
    value: String,
    name: &'static str,
    label: &'static str,
    range: std::ops::RangeInclusive<u32>,
    unit: &'static str,
) -> impl IntoView {
    let id = control_id(name);
    let described = format!("{id}-error");
    view! {
        <Field name label hint=format!("{} to {} {unit}", range.start(), range.end())>
            <input
                id=id
                name=name
                type="number"
                min=*range.start()
                max=*range.end()
                value=value
                aria-describedby=described
            />
        </Field>
    }
}

/// A select the island fills with what the node offers.
#[component]
fn NodeSelect(name: &'static str, label: &'static str, hint: &'static str) -> impl IntoView {
    let id = control_id(name);
    view! {
        <Field name label hint=hint.to_owned()>
            <select id=id.clone() name=name aria-describedby=format!("{id}-error")></select>
        </Field>
    }
}

/// A checkbox for a flag of the request.
#[component]
fn Toggle(
    checked: bool,
    name: &'static str,
    label: &'static str,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label class="checkbox">
            <input type="checkbox" name=name value="on" checked=checked />
            <span>{label}<span class="hint">{format!(" — {hint}")}</span></span>
        </label>
    }
}

/// Step 2 (rendered on the server): where and how the container runs.
#[component]
fn ConfigureStep(nodes: Vec<WizardNode>, request: CreateRequest) -> impl IntoView {
    let r = request;
    let is_static = matches!(r.ipv4, Ipv4Setting::Static { .. });
    let node_id = r.node_id;
    let hostname = r.hostname.clone();
    let vmid = text_of(&r, "vmid").unwrap_or_default();
    let text = |name: &str| text_of(&r, name).unwrap_or_default();
    let (disk, cores, memory, swap) = (
        text("disk_gib"),
        text("cores"),
        text("memory_mib"),
        text("swap_mib"),
    );
    let flag = |name: &str| checked_of(&r, name, "on").unwrap_or(false);
    let (unprivileged, nesting, keyctl, fuse, onboot) = (
        flag("unprivileged"),
        flag("nesting"),
        flag("keyctl"),
        flag("fuse"),
        flag("onboot"),
    );
    let (address, gateway, nameserver, tags) = (
        input(&r, "ipv4.address"),
        input(&r, "ipv4.gateway"),
        input(&r, "nameserver"),
        input(&r, "tags"),
    );
    let password = r.root_password.clone().unwrap_or_default();
    let keys = r.ssh_public_keys.clone().unwrap_or_default();
    view! {
        <h2>"Configure"</h2>
        <p class="muted">"Template values are filled in; every field says what it accepts."</p>
        <div class="form-grid">
            <Field name="node_id" label="Node" hint="Your nodes; one that cannot take a container now says why.".to_owned()>
                <select id="wizard-node_id" name="node_id" aria-describedby="wizard-node_id-error">
                    {nodes.into_iter().map(|n| {
                        let text = match &n.unavailable {
                            Some(why) => format!("{} — {why}", n.name),
                            None if n.default => format!("{} (default)", n.name),
                            None => n.name.clone(),
                        };
                        view! {
                            <option value=n.id.to_string() selected={n.id == node_id} disabled=n.unavailable.is_some()>{text}</option>
                        }
                    }).collect_view()}
                </select>
            </Field>
            <Field name="hostname" label="Hostname" hint="Lower-case letters, digits and '-'; dots separate DNS labels (253 at most).".to_owned()>
                <div class="row">
                    <input id="wizard-hostname" name="hostname" class="grow" value=hostname aria-describedby="wizard-hostname-error" />
                    <button type="button" class="btn btn-sm" data-action="suggest">"Suggest"</button>
                </div>
            </Field>
            <Field name="vmid" label="VMID" hint="Empty: Kiln takes the next free one. 100 to 999999999.".to_owned()>
                <input id="wizard-vmid" name="vmid" type="number" min="100" placeholder="next free"
                    value=vmid aria-describedby="wizard-vmid-error" />
            </Field>
        </div>
        <div class="progress progress-indeterminate" role="progressbar" aria-label="Asking the node" data-choices="loading"><div class="progress-bar"></div></div>
        <p class="muted" data-test="choices-loading" data-choices="loading">"Asking the node for its storages, OS templates and bridges…"</p>
        <div class="alert alert-error" role="alert" data-test="choices-error" data-choices="failed" hidden=true></div>
        <div class="form-grid">
            <NodeSelect name="ostemplate" label="OS template" hint="From the node's template storages (vztmpl)." />
            <NodeSelect name="storage" label="Root disk storage" hint="Storages of the node that hold container disks (rootdir)." />
            <NumberField value=disk name="disk_gib" label="Disk size" range=DISK_GIB_RANGE unit="GiB" />
            <NumberField value=cores name="cores" label="Cores" range=CPU_RANGE unit="cores" />
            <NumberField value=memory name="memory_mib" label="Memory" range=RAM_MIB_RANGE unit="MiB" />
            <NumberField value=swap name="swap_mib" label="Swap" range=SWAP_MIB_RANGE unit="MiB" />
            <NodeSelect name="bridge" label="Bridge" hint="The node's network bridge for eth0." />
            <div class="field">
                <span class="label">"IPv4"</span>
                <div class="row" role="radiogroup" aria-label="IPv4">
                    <label class="checkbox">
                        <input type="radio" name="ipv4" value="dhcp" checked=!is_static />
                        <span>"DHCP"</span>
                    </label>
                    <label class="checkbox">
                        <input type="radio" name="ipv4" value="static" data-test="ipv4-static" checked=is_static />
                        <span>"Static"</span>
                    </label>
                </div>
                <div class="hint">"DHCP asks the bridge's DHCP server; static takes an address with its prefix."</div>
            </div>
        </div>
        <div class="form-grid" data-static-ipv4 hidden=!is_static>
            <Field name="ipv4.address" label="Address" hint="With its prefix length, e.g. 192.168.1.20/24.".to_owned()>
                {address}
            </Field>
            <Field name="ipv4.gateway" label="Gateway" hint="Optional; inside the address's subnet.".to_owned()>
                {gateway}
            </Field>
        </div>
        <div class="form-grid">
            <Field name="nameserver" label="DNS servers" hint="Optional, space separated IPv4 addresses; empty uses the node's.".to_owned()>
                {nameserver}
            </Field>
            <Field name="tags" label="Tags" hint="Proxmox tags, separated by commas.".to_owned()>
                {tags}
            </Field>
        </div>
        <fieldset class="stack">
            <legend>"Options"</legend>
            <Toggle checked=unprivileged name="unprivileged" label="Unprivileged" hint="root inside is not root on the node (recommended)" />
            <Toggle checked=nesting name="nesting" label="Nesting" hint="containers inside (Docker needs it)" />
            <Toggle checked=keyctl name="keyctl" label="keyctl" hint="the keyctl system call (Docker in unprivileged containers)" />
            <Toggle checked=fuse name="fuse" label="FUSE" hint="FUSE file systems inside" />
            <Toggle checked=onboot name="onboot" label="Start on boot" hint="start when the node boots" />
        </fieldset>
        <fieldset class="stack">
            <legend>"Access"</legend>
            <Field name="root_password" label="Root password" hint="Generated for you and shown only here: copy it now. 8 to 128 characters; empty for SSH keys only.".to_owned()>
                <div class="row">
                    <input id="wizard-root_password" name="root_password" class="grow mono" autocomplete="new-password"
                        value=password aria-describedby="wizard-root_password-error" />
                    <button type="button" class="btn btn-sm" data-action="copy-password" data-test="copy-password">"Copy"</button>
                </div>
            </Field>
            <Field name="ssh_public_keys" label="SSH public keys" hint="Optional; one key per line, for root.".to_owned()>
                <textarea id="wizard-ssh_public_keys" name="ssh_public_keys" rows="3" class="mono"
                    placeholder="ssh-ed25519 AAAA… you@laptop" aria-describedby="wizard-ssh_public_keys-error">
                    {keys}
                </textarea>
            </Field>
        </fieldset>
    }
}

/// Step 3 (rendered on the server): the template's buckets (each a toggle), single packages
/// out, extra ones in.
#[component]
fn PackagesStep(template: Option<Template>) -> impl IntoView {
    let buckets = template.map(|t| t.packages).unwrap_or_default();
    view! {
        <h2>"Packages"</h2>
        <p class="muted">"Installed with the container's package manager before the scripts run. Turn a bucket off, drop single packages, or add your own."</p>
        {buckets.is_empty().then(|| view! { <p class="muted">"This template installs no packages."</p> })}
        {buckets.into_iter().map(|bucket| {
            let name = bucket.name.clone();
            view! {
                <fieldset class="bucket" data-test="bucket" data-bucket=name.clone()>
                    <legend>
                        <label class="checkbox">
                            <input type="checkbox" name="bucket" value=name.clone() checked=true />
                            <span>{format!("{} ({})", bucket.name, bucket.manager.extension())}</span>
                        </label>
                    </legend>
                    <ul class="package-list">
                        {bucket.packages.into_iter().map(|p| {
                            let package = match p { Package::Plain(n) => n, Package::Custom { name, .. } => name };
                            view! {
                                <li>
                                    <label class="checkbox">
                                        <input type="checkbox" name="package" value=package.clone() data-bucket=name.clone() checked=true />
                                        <code>{package}</code>
                                    </label>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </fieldset>
            }
        }).collect_view()}
        <div class="field">
            <label for="wizard-add-package">"Add a package"</label>
            <div class="row">
                <input id="wizard-add-package" class="grow mono" placeholder="jq" aria-describedby="wizard-add-package-error" />
                <button type="button" class="btn btn-sm" data-action="add-package" data-test="add-package">"Add"</button>
            </div>
            <div class="hint">"Installed with the OS's manager (apt on Debian); a version pin is kept as written."</div>
            <div class="field-error" id="wizard-add-package-error" data-error-for="packages_added"></div>
        </div>
        <ul class="row wrap package-added" data-added-packages></ul>
    }
}

/// Step 4 (rendered on the server): the template's scripts in order; each can be skipped,
/// each can be read.
#[component]
fn ScriptsStep(template: Option<Template>) -> impl IntoView {
    let scripts = template.map(|t| t.scripts).unwrap_or_default();
    view! {
        <h2>"Scripts"</h2>
        <p class="muted">"Run as root inside the container, in this order, each once. Skip what you do not want."</p>
        {scripts.is_empty().then(|| view! { <p class="muted">"This template runs no scripts."</p> })}
        <ol class="stack script-list">
            {scripts.into_iter().map(|s| view! {
                <li class="card" data-test="script" data-script=s.file_name.clone()>
                    <label class="checkbox">
                        <input type="checkbox" name="script" value=s.file_name.clone() checked=true />
                        <code>{s.file_name.clone()}</code>
                    </label>
                    <details>
                        <summary>"Show the script"</summary>
                        <pre class="code-block"><code>{s.content}</code></pre>
                    </details>
                </li>
            }).collect_view()}
        </ol>
    }
}

/// The island's work in the browser: the DOM under the wizard's body is the server's, so it
/// is read and written directly (no view per control).
#[cfg(feature = "hydrate")]
mod browser {
    use kiln_shared::containers::{NodeChoices, free_hostname, keep_choices};
    use kiln_shared::templates::validate_package_name;
    use kiln_shared::wizard_form::{apply, set_member};
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlInputElement};

    use super::*;
    use crate::components::copy::copy_text;
    use crate::components::dom::{all, one, set_hidden};
    use crate::functions::containers::{check_vmid, node_offers};

    type Body = NodeRef<leptos::html::Section>;

    /// The `sessionStorage` key of the wizard's answers.
    const SAVED_KEY: &str = "kiln-wizard";

    fn storage() -> Option<web_sys::Storage> {
        window().session_storage().ok().flatten()
    }

    /// Forgets the answers (the container was created).
    pub(super) fn forget() {
        if let Some(s) = storage() {
            let _ = s.remove_item(SAVED_KEY);
        }
    }

    /// `value`, `checked` and `disabled` are properties of inputs, selects and textareas
    /// alike: one binding for all three.
    fn control(el: &Element) -> &HtmlInputElement {
        el.unchecked_ref::<HtmlInputElement>()
    }

    fn is_toggle(el: &Element) -> bool {
        matches!(
            el.get_attribute("type").as_deref(),
            Some("checkbox" | "radio")
        )
    }

    /// Puts `request` into every control of the request under `root`.
    fn sync(root: &Element, request: &CreateRequest) {
        sync_matching(root, "[name]", request);
    }

    /// Puts `request` into the controls matching `css`.
    fn sync_matching(root: &Element, css: &str, request: &CreateRequest) {
        for el in all(root, css) {
            let Some(name) = el.get_attribute("name") else {
                continue;
            };
            let input = control(&el);
            if is_toggle(&el) {
                if let Some(on) = checked_of(request, &name, &input.value()) {
                    input.set_checked(on);
                }
            } else if let Some(text) = text_of(request, &name) {
                input.set_value(&text);
            }
        }
    }

    /// Wires the island after hydration: restores this tab's answers, then keeps the DOM in
    /// step with the answers (visible step, errors, node choices, lists) and saves them.
    pub(super) fn start(state: State, body: Body, os_hint: String) {
        let initial = state.request.get_untracked();
        let saved = storage()
            .and_then(|s| s.get_item(SAVED_KEY).ok().flatten())
            .and_then(|json| serde_json::from_str::<Saved>(&json).ok());
        request_animation_frame(move || {
            if let Some(saved) = saved {
                if saved.request.template == initial.template {
                    state.request.set(saved.request);
                    state.step.set(saved.step);
                } else {
                    // Another template was chosen: its defaults, the answers about the node.
                    state.request.set(keep_choices(&saved.request, initial));
                }
            }
            if let Some(root) = body.get_untracked() {
                state.request.with_untracked(|r| sync(&root, r));
            }
        });
        // The visible step.
        Effect::new(move |_| {
            let index = state.step.get().index().to_string();
            if let Some(root) = body.get() {
                for section in all(&root, "section[data-step]") {
                    set_hidden(
                        &section,
                        section.get_attribute("data-step").as_deref() != Some(&index),
                    );
                }
            }
        });
        // Each field's error next to it.
        Effect::new(move |_| {
            let Some(root) = body.get() else { return };
            for el in all(&root, "[data-error-for]") {
                let Some(field) = el.get_attribute("data-error-for") else {
                    continue;
                };
                let message = state.error(&field);
                el.set_text_content(Some(message.as_deref().unwrap_or("")));
                if let Some(input) = one(&root, &format!("#{}", control_id(&field))) {
                    let _ = match message {
                        Some(_) => input.set_attribute("aria-invalid", "true"),
                        None => input.remove_attribute("aria-invalid"),
                    };
                }
            }
        });
        // What follows the answers: the static address fields, the packages added, the
        // packages of a bucket turned off.
        Effect::new(move |_| {
            let Some(root) = body.get() else { return };
            state.request.with(|r| {
                if let Some(block) = one(&root, "[data-static-ipv4]") {
                    set_hidden(&block, !matches!(r.ipv4, Ipv4Setting::Static { .. }));
                }
                for el in all(&root, "input[name=package]") {
                    let bucket = el.get_attribute("data-bucket").unwrap_or_default();
                    control(&el).set_disabled(r.buckets_off.contains(&bucket));
                }
                if let Some(list) = one(&root, "[data-added-packages]") {
                    list.set_inner_html("");
                    let document = document();
                    for name in &r.packages_added {
                        let (Ok(li), Ok(code), Ok(button)) = (
                            document.create_element("li"),
                            document.create_element("code"),
                            document.create_element("button"),
                        ) else {
                            continue;
                        };
                        let _ = li.set_attribute("class", "tag");
                        code.set_text_content(Some(name));
                        let _ = button.set_attribute("type", "button");
                        let _ = button.set_attribute("class", "btn-icon");
                        let _ = button.set_attribute("data-remove-package", name);
                        let _ = button.set_attribute("aria-label", &format!("Remove {name}"));
                        button.set_text_content(Some("×"));
                        let _ = li.append_child(&code);
                        let _ = li.append_child(&button);
                        let _ = list.append_child(&li);
                    }
                }
            });
        });
        // Saved for Back, Next and reload.
        Effect::new(move |_| {
            let saved = Saved {
                step: state.step.get(),
                request: state.request.get(),
            };
            if let (Some(s), Ok(json)) = (storage(), serde_json::to_string(&saved)) {
                let _ = s.set_item(SAVED_KEY, &json);
            }
        });
        // Ask the chosen node what it offers whenever the node changes.
        Effect::new(move |previous: Option<i64>| {
            let node = state.request.with(|r| r.node_id);
            if previous != Some(node) {
                load_choices(state, body, node, os_hint.clone());
            }
            node
        });
    }

    /// Shows what the node's choices are doing (`loading`, `failed` with why, or ready).
    fn show_choices(root: &Element, now: &str, why: Option<&str>) {
        for el in all(root, "[data-choices]") {
            set_hidden(
                &el,
                el.get_attribute("data-choices").as_deref() != Some(now),
            );
        }
        if let (Some(why), Some(el)) = (why, one(root, "[data-choices=failed]")) {
            el.set_text_content(Some(&format!(
                "{why}. Choose another node, or try again when it answers."
            )));
        }
    }

    /// Replaces the options of the select `name`.
    fn fill_select(root: &Element, name: &str, options: Vec<(String, String)>) {
        let Some(select) = one(root, &format!("select[name={name}]")) else {
            return;
        };
        select.set_inner_html("");
        let document = document();
        for (value, text) in options {
            if let Ok(option) = document.create_element("option") {
                let _ = option.set_attribute("value", &value);
                option.set_text_content(Some(&text));
                let _ = select.append_child(&option);
            }
        }
    }

    /// Asks node `node` what it offers; fills the selects and the answers still empty (or
    /// not offered there) with the node's best match.
    fn load_choices(state: State, body: Body, node: i64, os_hint: String) {
        if let Some(root) = body.get_untracked() {
            show_choices(&root, "loading", None);
        }
        leptos::task::spawn_local(async move {
            let answer = node_offers(node).await;
            // The user chose another node meanwhile: its own answer follows.
            if state.request.with_untracked(|r| r.node_id) != node {
                return;
            }
            let Some(root) = body.get_untracked() else {
                return;
            };
            match answer {
                Ok(choices) => {
                    state.request.update(|r| choices.fill(r, &os_hint));
                    fill(&root, &choices);
                    // Only the node's selects: a field being typed in keeps what it shows.
                    state
                        .request
                        .with_untracked(|r| sync_matching(&root, "select[name]", r));
                    show_choices(&root, "ready", None);
                }
                Err(e) => show_choices(&root, "failed", Some(&e.to_string())),
            }
        });
    }

    /// The node's storages, OS templates, bridges and next VMID into the Configure step.
    fn fill(root: &Element, choices: &NodeChoices) {
        let gib = |bytes: u64| format!("{} GiB free", bytes / (1024 * 1024 * 1024));
        fill_select(
            root,
            "storage",
            choices
                .storages
                .iter()
                .map(|s| {
                    let text = s
                        .avail
                        .map_or_else(|| s.id.clone(), |b| format!("{} ({})", s.id, gib(b)));
                    (s.id.clone(), text)
                })
                .collect(),
        );
        fill_select(
            root,
            "ostemplate",
            choices
                .ostemplates
                .iter()
                .map(|t| (t.clone(), t.rsplit('/').next().unwrap_or(t).to_owned()))
                .collect(),
        );
        fill_select(
            root,
            "bridge",
            choices
                .bridges
                .iter()
                .map(|b| (b.clone(), b.clone()))
                .collect(),
        );
        let next = choices
            .next_vmid
            .map_or_else(|| "next free".to_owned(), |v| format!("next free: {v}"));
        if let Some(vmid) = one(root, "#wizard-vmid") {
            let _ = vmid.set_attribute("placeholder", &next);
        }
        if let Some(hint) = one(root, "#wizard-vmid-hint") {
            hint.set_text_content(Some(&format!(
                "Empty: Kiln takes the {next}. 100 to 999999999."
            )));
        }
    }

    /// The element an event came from.
    fn target(ev: &web_sys::Event) -> Option<Element> {
        ev.target()?.dyn_into::<Element>().ok()
    }

    /// An `input` or `change` of a control: the answers follow it.
    pub(super) fn control_changed(state: State, body: Body, ev: &web_sys::Event) {
        let (Some(el), Some(root)) = (target(ev), body.get_untracked()) else {
            return;
        };
        let Some(name) = el.get_attribute("name") else {
            return;
        };
        if name == "template-search" {
            filter_templates(&root);
            return;
        }
        let input = control(&el);
        let checked = is_toggle(&el) && input.checked();
        let value = input.value();
        let field = state
            .request
            .try_update(|r| apply(r, &name, &value, checked))
            .flatten();
        if let Some(field) = field {
            state.touched(field);
        }
        if name == "vmid" && ev.type_() == "change" {
            let (node, vmid) = state.request.with_untracked(|r| (r.node_id, r.vmid));
            if let Some(vmid) = vmid {
                leptos::task::spawn_local(async move {
                    if let Err(kiln_shared::AppError::Invalid(errors)) =
                        check_vmid(node, vmid).await
                        && let Some(m) = errors.get("vmid")
                    {
                        state.server.update(|e| e.add("vmid", m));
                    }
                });
            }
        }
    }

    /// Enter in the package box adds the package (instead of nothing).
    pub(super) fn key(state: State, body: Body, ev: &web_sys::KeyboardEvent) {
        if ev.key() == "Enter" && target(ev).is_some_and(|el| el.id() == "wizard-add-package") {
            ev.prevent_default();
            add_package(state, body);
        }
    }

    /// The wizard's buttons inside the server's steps (`data-action`, a template, a tag, a
    /// package's ×).
    pub(super) fn clicked(
        state: State,
        body: Body,
        taken: StoredValue<Vec<String>>,
        ev: &web_sys::MouseEvent,
    ) {
        let (Some(el), Some(root)) = (target(ev), body.get_untracked()) else {
            return;
        };
        let Some(button) = el.closest("button").ok().flatten() else {
            return;
        };
        if let Some(name) = button.get_attribute("data-remove-package") {
            state
                .request
                .update(|r| set_member(&mut r.packages_added, &name, false));
            state.touched("packages_added");
        } else if let Some(slug) = button.get_attribute("data-slug") {
            choose_template(state, slug);
        } else if button.has_attribute("data-tag") {
            let on = button.get_attribute("aria-pressed").as_deref() != Some("true");
            for other in all(&root, "button[data-tag]") {
                let _ = other.set_attribute("aria-pressed", "false");
            }
            let _ = button.set_attribute("aria-pressed", if on { "true" } else { "false" });
            filter_templates(&root);
        } else {
            match button.get_attribute("data-action").as_deref() {
                Some("suggest") => {
                    let name = taken.with_value(|t| free_hostname(random(), t));
                    state.request.update(|r| r.hostname = name);
                    state.touched("hostname");
                    state
                        .request
                        .with_untracked(|r| sync_matching(&root, "[name=hostname]", r));
                }
                Some("copy-password") => {
                    copy_text(
                        state
                            .request
                            .with_untracked(|r| r.root_password.clone().unwrap_or_default()),
                    );
                }
                Some("add-package") => add_package(state, body),
                _ => {}
            }
        }
    }

    /// The package typed in the box joins the packages added (or its error shows).
    fn add_package(state: State, body: Body) {
        let Some(root) = body.get_untracked() else {
            return;
        };
        let Some(input) = one(&root, "#wizard-add-package") else {
            return;
        };
        let name = control(&input).value().trim().to_owned();
        if name.is_empty() {
            return;
        }
        match validate_package_name(&name) {
            Ok(()) => {
                state
                    .request
                    .update(|r| set_member(&mut r.packages_added, &name, true));
                state.touched("packages_added");
                control(&input).set_value("");
            }
            Err(e) => {
                if let Some(el) = one(&root, "#wizard-add-package-error") {
                    el.set_text_content(Some(&e));
                }
            }
        }
    }

    /// The same template goes on to Configure; another one (or none) loads its page, where
    /// the answers about the node are kept.
    fn choose_template(state: State, slug: String) {
        let current = state
            .request
            .with_untracked(|r| r.template.clone().unwrap_or_default());
        if current == slug {
            state.step.set(WizardStep::Configure);
        } else {
            nav::go(&format!("/containers/new?template={slug}"));
        }
    }

    /// Shows the templates matching the search text and the pressed tag.
    fn filter_templates(root: &Element) {
        let needle = one(root, "input[name=template-search]")
            .map(|el| control(&el).value().trim().to_lowercase())
            .unwrap_or_default();
        let tag = one(root, "button[data-tag][aria-pressed=true]")
            .and_then(|el| el.get_attribute("data-tag"));
        for card in all(root, "[data-test=template-choice]") {
            let text = card.get_attribute("data-search").unwrap_or_default();
            let tags = card.get_attribute("data-tags").unwrap_or_default();
            let shown = text.contains(&needle)
                && tag.as_ref().is_none_or(|t| tags.split(' ').any(|x| x == t));
            set_hidden(&card, !shown);
        }
    }

    /// A random number from the browser (the hostname suggestion).
    fn random() -> u64 {
        (js_random() * 9_007_199_254_740_991.0) as u64
    }

    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = Math, js_name = random)]
        fn js_random() -> f64;
    }
}
