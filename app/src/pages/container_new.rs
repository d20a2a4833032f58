//! `/containers/new` (also `?template=<slug>` from a template's page): the five-step creation
//! wizard — Template, Configure, Packages, Scripts, Review — as one island.
//!
//! Every step is checked with `kiln_shared::containers::validate_step`, the same rules the
//! server applies again on *Create*. The answers live in `sessionStorage` (this tab only) so
//! Back, Next and a reload lose nothing; they are dropped once the container is created.
//! What depends on the node (storages, OS templates, bridges, the next VMID, a typed VMID) is
//! asked from the server when the node is chosen; a node that does not answer says so on the
//! Configure step.

use kiln_shared::FieldErrors;
use kiln_shared::catalog::TemplateSummary;
use kiln_shared::containers::{
    CreateRequest, Ipv4Setting, NodeChoices, WizardStart, WizardStep, normalize, pct_equivalent,
    request_defaults, validate_step,
};
use kiln_shared::templates::{
    CPU_RANGE, DISK_GIB_RANGE, Package, RAM_MIB_RANGE, Template, validate_package_name,
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
#[cfg(feature = "hydrate")]
use serde::{Deserialize, Serialize};

use crate::components::copy::copy_text;
use crate::components::layout::PageHeader;
use crate::components::nav;
use crate::components::toast::{ToastKind, use_toaster};
use crate::functions::containers::{check_vmid, create_container, start_wizard, wizard_template};

/// The page: loads the wizard's starting point on the server and renders the island.
#[component]
pub fn ContainerNewPage() -> impl IntoView {
    let query = use_query_map();
    let template = query.read_untracked().get("template");
    let start = Resource::new(move || template.clone(), start_wizard);
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
                    Ok(start) => view! { <Wizard start /> }.into_any(),
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! { <div class="alert alert-error" role="alert">{e.to_string()}</div> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// What `sessionStorage` keeps of the wizard.
#[cfg(feature = "hydrate")]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    step: WizardStep,
    request: CreateRequest,
    template: Option<Template>,
}

/// The `sessionStorage` key of the wizard's answers.
#[cfg(feature = "hydrate")]
const SAVED_KEY: &str = "kiln-wizard";

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

/// The node's answer for the Configure step (only the browser asks).
#[derive(Debug, Clone)]
#[cfg_attr(
    not(feature = "hydrate"),
    expect(
        dead_code,
        reason = "only the browser asks the node: the server never builds Ready or Failed"
    )
)]
enum Choices {
    Loading,
    Ready(NodeChoices),
    Failed(String),
}

/// The wizard's shared state (signals are `Copy`).
#[derive(Clone, Copy)]
struct State {
    step: RwSignal<WizardStep>,
    request: RwSignal<CreateRequest>,
    template: RwSignal<Option<Template>>,
    choices: RwSignal<Choices>,
    /// Fields the user changed (their local errors show at once).
    dirty: RwSignal<Vec<String>>,
    /// Steps whose Next was pressed (all their errors show).
    attempted: RwSignal<Vec<WizardStep>>,
    /// The server's field errors (a taken VMID, a refusal on Create).
    server: RwSignal<FieldErrors>,
    busy: RwSignal<bool>,
}

impl State {
    /// The message for `field`: the server's, or the shared rule's once it should show.
    fn error(self, field: &'static str) -> impl Fn() -> Option<String> + Copy + 'static {
        move || {
            if let Some(m) = self.server.with(|e| e.get(field).map(str::to_owned)) {
                return Some(m);
            }
            let step = self.step.get();
            let show = self.attempted.with(|a| a.contains(&step))
                || self.dirty.with(|d| d.iter().any(|f| f == field));
            if !show {
                return None;
            }
            let request = normalize(self.request.get());
            validate_step(step, &request).get(field).map(str::to_owned)
        }
    }

    /// Applies a change to the request, marking `field` as changed.
    fn edit(self, field: &'static str, change: impl FnOnce(&mut CreateRequest)) {
        self.request.update(change);
        self.dirty.update(|d| {
            if !d.iter().any(|f| f == field) {
                d.push(field.to_owned());
            }
        });
        self.server.update(|e| {
            if e.get(field).is_some() {
                *e = e.iter().filter(|(f, _)| *f != field).fold(
                    FieldErrors::default(),
                    |mut acc, (f, m)| {
                        acc.add(f, m);
                        acc
                    },
                );
            }
        });
    }
}

/// The wizard (an island).
#[island]
pub fn Wizard(start: WizardStart) -> impl IntoView {
    let node_id = start
        .nodes
        .iter()
        .find(|n| n.unavailable.is_none())
        .or(start.nodes.first())
        .map_or(0, |n| n.id);
    let initial = request_defaults(
        start.template.as_ref(),
        node_id,
        start.hostname.clone(),
        Some(start.root_password.clone()),
    );
    let first_step = if start.template.is_some() {
        WizardStep::Configure
    } else {
        WizardStep::Template
    };
    let state = State {
        step: RwSignal::new(first_step),
        request: RwSignal::new(initial),
        template: RwSignal::new(start.template.clone()),
        choices: RwSignal::new(Choices::Loading),
        dirty: RwSignal::new(Vec::new()),
        attempted: RwSignal::new(Vec::new()),
        server: RwSignal::new(FieldErrors::default()),
        busy: RwSignal::new(false),
    };
    let start = StoredValue::new(start);

    // In the browser: restore the answers of this tab (after hydration, so the server's page
    // and the island agree), then keep them as they change.
    #[cfg(feature = "hydrate")]
    {
        let chosen = start.with_value(|s| s.template.as_ref().map(|t| t.slug.clone()));
        if let Some(saved) = storage()
            .and_then(|s| s.get_item(SAVED_KEY).ok().flatten())
            .and_then(|json| serde_json::from_str::<Saved>(&json).ok())
            .filter(|saved| chosen.is_none() || saved.request.template == chosen)
        {
            request_animation_frame(move || {
                state.template.set(saved.template);
                state.request.set(saved.request);
                state.step.set(saved.step);
            });
        }
        Effect::new(move |_| {
            let saved = Saved {
                step: state.step.get(),
                request: state.request.get(),
                template: state.template.get(),
            };
            if let (Some(s), Ok(json)) = (storage(), serde_json::to_string(&saved)) {
                let _ = s.set_item(SAVED_KEY, &json);
            }
        });
        // Ask the chosen node what it offers whenever the node changes.
        Effect::new(move |previous: Option<i64>| {
            let node = state.request.with(|r| r.node_id);
            if previous != Some(node) {
                load_choices(state, node);
            }
            node
        });
    }

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
            <section class="card wizard-body">
                {move || match step.get() {
                    WizardStep::Template => view! { <TemplateStep state start=start.get_value() /> }.into_any(),
                    WizardStep::Configure => view! { <ConfigureStep state start=start.get_value() /> }.into_any(),
                    WizardStep::Packages => view! { <PackagesStep state /> }.into_any(),
                    WizardStep::Scripts => view! { <ScriptsStep state /> }.into_any(),
                    WizardStep::Review => view! { <ReviewStep state start=start.get_value() /> }.into_any(),
                }}
                <Buttons state unavailable=start.with_value(|s| {
                    s.nodes.iter().filter_map(|n| Some((n.id, n.unavailable.clone()?))).collect()
                }) />
            </section>
        </div>
    }
}

/// Loads what node `node` offers into `state.choices`, filling the fields still empty (or not
/// offered by this node) with the node's best match.
#[cfg(feature = "hydrate")]
fn load_choices(state: State, node: i64) {
    state.choices.set(Choices::Loading);
    leptos::task::spawn_local(async move {
        match crate::functions::containers::node_offers(node).await {
            Ok(choices) => {
                let os_hint = state.template.with_untracked(|t| {
                    t.as_ref().map_or_else(
                        || "debian-12".to_owned(),
                        |t| format!("{}-{}", t.os, t.os_version),
                    )
                });
                state.request.update(|r| choices.fill(r, &os_hint));
                state.choices.set(Choices::Ready(choices));
            }
            Err(e) => state.choices.set(Choices::Failed(e.to_string())),
        }
    });
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
                if let Some(s) = storage() {
                    let _ = s.remove_item(SAVED_KEY);
                }
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

/// Step 1: a template from the catalog (search, tags), or none.
#[component]
fn TemplateStep(state: State, start: WizardStart) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let tag = RwSignal::new(None::<String>);
    let mut tags: Vec<String> = start
        .templates
        .iter()
        .flat_map(|t| t.tags.iter().cloned())
        .collect();
    tags.sort();
    tags.dedup();
    let templates = StoredValue::new(start.templates);
    let chosen = move || state.request.with(|r| r.template.clone());
    let choose_none = move |_| {
        state.template.set(None);
        let node = state.request.with_untracked(|r| r.node_id);
        let hostname = state.request.with_untracked(|r| r.hostname.clone());
        let password = state.request.with_untracked(|r| r.root_password.clone());
        state
            .request
            .update(|r| *r = keep_choices(r, request_defaults(None, node, hostname, password)));
    };
    let visible = move || {
        let needle = search.get().to_lowercase();
        let tag = tag.get();
        templates.with_value(|all| {
            all.iter()
                .filter(|t| {
                    needle.is_empty()
                        || t.app.to_lowercase().contains(&needle)
                        || t.slug.contains(&needle)
                        || t.description.to_lowercase().contains(&needle)
                })
                .filter(|t| tag.as_ref().is_none_or(|g| t.tags.contains(g)))
                .cloned()
                .collect::<Vec<TemplateSummary>>()
        })
    };
    view! {
        <h2>"Template"</h2>
        <p class="muted">"What the container becomes. Its values are defaults you can change on the next steps."</p>
        <div class="filter-bar">
            <input
                type="search"
                aria-label="Search templates"
                placeholder="Search templates"
                data-test="wizard-search"
                prop:value=move || search.get()
                on:input=move |ev| search.set(event_target_value(&ev))
            />
            <div class="row wrap" role="group" aria-label="Tags">
                {tags.into_iter().map(|t| {
                    let value = t.clone();
                    let pressed = {
                        let t = t.clone();
                        move || tag.get().as_ref() == Some(&t)
                    };
                    view! {
                        <button
                            type="button"
                            class="tag"
                            aria-pressed=move || if pressed() { "true" } else { "false" }
                            on:click=move |_| tag.update(|g| {
                                *g = if g.as_ref() == Some(&value) { None } else { Some(value.clone()) }
                            })
                        >
                            {t}
                        </button>
                    }
                }).collect_view()}
            </div>
        </div>
        <div class="grid choice-grid" role="radiogroup" aria-label="Template">
            <button
                type="button"
                role="radio"
                class="card choice"
                data-test="template-none"
                aria-checked=move || if chosen().is_none() { "true" } else { "false" }
                on:click=choose_none
            >
                <strong>"No template"</strong>
                <span class="muted small">"A plain OS container: nothing installed beyond the OS template."</span>
            </button>
            {move || visible().into_iter().map(|t| {
                let slug = t.slug.clone();
                let broken = t.error_count > 0;
                let checked = {
                    let slug = slug.clone();
                    move || chosen().as_ref() == Some(&slug)
                };
                view! {
                    <button
                        type="button"
                        role="radio"
                        class="card choice"
                        data-test="template-choice"
                        data-slug=slug.clone()
                        disabled=broken
                        aria-checked=move || if checked() { "true" } else { "false" }
                        on:click=move |_| choose_template(state, slug.clone())
                    >
                        <strong>{t.app.clone()}</strong>
                        <span class="muted small">{t.description.clone()}</span>
                        <span class="small">
                            {format!("{} core(s) · {} MiB · {} GiB · {} {}", t.cpu, t.ram_mib, t.disk_gib, t.os, t.os_version)}
                        </span>
                        {broken.then(|| view! { <span class="badge badge-danger">"has errors: fix it first"</span> })}
                    </button>
                }
            }).collect_view()}
        </div>
        <p class="field-error" role="alert">{state.error("template")}</p>
    }
}

/// A request with the template's defaults (`fresh`) that keeps what the user chose about the
/// node: node, name, VMID, storages, bridge, network and access.
fn keep_choices(old: &CreateRequest, fresh: CreateRequest) -> CreateRequest {
    CreateRequest {
        vmid: old.vmid,
        ostemplate: old.ostemplate.clone(),
        storage: old.storage.clone(),
        bridge: old.bridge.clone(),
        ipv4: old.ipv4.clone(),
        nameserver: old.nameserver.clone(),
        onboot: old.onboot,
        ssh_public_keys: old.ssh_public_keys.clone(),
        ..fresh
    }
}

/// Loads the template `slug` and applies its defaults.
fn choose_template(state: State, slug: String) {
    let toaster = use_toaster();
    state.busy.set(true);
    leptos::task::spawn_local(async move {
        match wizard_template(slug).await {
            Ok(template) => {
                state.request.update(|r| {
                    let fresh = request_defaults(
                        Some(&template),
                        r.node_id,
                        r.hostname.clone(),
                        r.root_password.clone(),
                    );
                    *r = keep_choices(r, fresh);
                });
                state.template.set(Some(template));
            }
            Err(e) => toaster.error(e.to_string()),
        }
        state.busy.set(false);
    });
}

/// A labelled text input bound to one field of the request.
#[component]
fn TextField(
    state: State,
    field: &'static str,
    label: &'static str,
    hint: String,
    get: fn(&CreateRequest) -> String,
    set: fn(&mut CreateRequest, String),
    #[prop(optional)] placeholder: Option<String>,
    #[prop(default = "text")] input_type: &'static str,
) -> impl IntoView {
    let id = format!("wizard-{}", field.replace('.', "-"));
    let error_id = format!("{id}-error");
    let error = state.error(field);
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=field
                type=input_type
                placeholder=placeholder
                prop:value=move || state.request.with(get)
                aria-invalid=move || error().is_some().then_some("true")
                aria-describedby=error_id.clone()
                on:input=move |ev| {
                    let value = event_target_value(&ev);
                    state.edit(field, |r| set(r, value));
                }
            />
            <div class="hint">{hint}</div>
            <div class="field-error" id=error_id>{error}</div>
        </div>
    }
}

/// A labelled number input bound to a `u32` field (an unreadable number is 0, which every
/// range refuses with its message).
#[component]
fn NumberField(
    state: State,
    field: &'static str,
    label: &'static str,
    range: std::ops::RangeInclusive<u32>,
    unit: &'static str,
    get: fn(&CreateRequest) -> u32,
    set: fn(&mut CreateRequest, u32),
) -> impl IntoView {
    let id = format!("wizard-{field}");
    let error_id = format!("{id}-error");
    let error = state.error(field);
    let hint = format!("{} to {} {unit}", range.start(), range.end());
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=field
                type="number"
                min=*range.start()
                max=*range.end()
                prop:value=move || state.request.with(get).to_string()
                aria-invalid=move || error().is_some().then_some("true")
                aria-describedby=error_id.clone()
                on:input=move |ev| {
                    let value = event_target_value(&ev).trim().parse().unwrap_or(0);
                    state.edit(field, |r| set(r, value));
                }
            />
            <div class="hint">{hint}</div>
            <div class="field-error" id=error_id>{error}</div>
        </div>
    }
}

/// The tags as typed (commas and spaces kept while typing), each change parsed into the
/// request's list: the list alone cannot show a trailing comma, so an input bound to it would
/// swallow every `,` and space as it is typed.
#[component]
fn TagsField(state: State) -> impl IntoView {
    let typed = RwSignal::new(None::<String>);
    let error = state.error("tags");
    view! {
        <div class="field">
            <label for="wizard-tags">"Tags"</label>
            <input
                id="wizard-tags"
                name="tags"
                prop:value=move || typed.get().unwrap_or_else(|| state.request.with(|r| r.tags.join(", ")))
                aria-invalid=move || error().is_some().then_some("true")
                aria-describedby="wizard-tags-error"
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    state.edit("tags", |r| {
                        r.tags = v.split([',', ';']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
                    });
                    typed.set(Some(v));
                }
            />
            <div class="hint">"Proxmox tags, separated by commas."</div>
            <div class="field-error" id="wizard-tags-error">{error}</div>
        </div>
    }
}

/// A checkbox bound to a `bool` field.
#[component]
fn Toggle(
    state: State,
    field: &'static str,
    label: &'static str,
    hint: &'static str,
    get: fn(&CreateRequest) -> bool,
    set: fn(&mut CreateRequest, bool),
) -> impl IntoView {
    view! {
        <label class="checkbox">
            <input
                type="checkbox"
                name=field
                prop:checked=move || state.request.with(get)
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    state.edit(field, |r| set(r, on));
                }
            />
            <span>{label}<span class="hint">{format!(" — {hint}")}</span></span>
        </label>
    }
}

/// A select over `options` bound to a text field; empty while the node is asked.
#[component]
fn SelectField(
    state: State,
    field: &'static str,
    label: &'static str,
    hint: &'static str,
    options: Signal<Vec<(String, String)>>,
    get: fn(&CreateRequest) -> String,
    set: fn(&mut CreateRequest, String),
) -> impl IntoView {
    let id = format!("wizard-{field}");
    let error = state.error(field);
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select
                id=id
                name=field
                prop:value=move || state.request.with(get)
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    state.edit(field, |r| set(r, value));
                }
            >
                {move || options.get().into_iter().map(|(value, text)| {
                    let selected = state.request.with(get) == value;
                    view! { <option value=value selected=selected>{text}</option> }
                }).collect_view()}
            </select>
            <div class="hint">{hint}</div>
            <div class="field-error">{error}</div>
        </div>
    }
}

fn gib(bytes: u64) -> String {
    // Whole GiB are precise enough for a choice.
    format!("{} GiB free", bytes / (1024 * 1024 * 1024))
}

/// Step 2: where and how the container runs.
#[component]
fn ConfigureStep(state: State, start: WizardStart) -> impl IntoView {
    let nodes = start.nodes.clone();
    let taken = StoredValue::new(start.taken_hostnames.clone());
    let choices = state.choices;
    let ready = move || match choices.get() {
        Choices::Ready(c) => Some(c),
        _ => None,
    };
    let storages = Signal::derive(move || {
        ready()
            .map(|c| {
                c.storages
                    .into_iter()
                    .map(|s| {
                        let text = match s.avail {
                            Some(b) => format!("{} ({})", s.id, gib(b)),
                            None => s.id.clone(),
                        };
                        (s.id, text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let ostemplates = Signal::derive(move || {
        ready()
            .map(|c| {
                c.ostemplates
                    .into_iter()
                    .map(|t| {
                        let name = t.rsplit('/').next().unwrap_or(&t).to_owned();
                        (t, name)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let bridges = Signal::derive(move || {
        ready()
            .map(|c| c.bridges.into_iter().map(|b| (b.clone(), b)).collect())
            .unwrap_or_default()
    });
    let next_vmid = move || {
        ready()
            .and_then(|c| c.next_vmid)
            .map_or_else(|| "next free".to_owned(), |v| format!("next free: {v}"))
    };
    let vmid_error = state.error("vmid");
    let check = move |_| {
        let (node, vmid) = state.request.with_untracked(|r| (r.node_id, r.vmid));
        if let Some(vmid) = vmid {
            leptos::task::spawn_local(async move {
                if let Err(kiln_shared::AppError::Invalid(errors)) = check_vmid(node, vmid).await {
                    state.server.update(|e| {
                        if let Some(m) = errors.get("vmid") {
                            e.add("vmid", m);
                        }
                    });
                }
            });
        }
    };
    let suggest = move |_| {
        let seed = js_random();
        let name = taken.with_value(|t| kiln_shared::containers::free_hostname(seed, t));
        state.edit("hostname", |r| r.hostname = name);
    };
    let is_static = move || {
        state
            .request
            .with(|r| matches!(r.ipv4, Ipv4Setting::Static { .. }))
    };
    view! {
        <h2>"Configure"</h2>
        <p class="muted">"Template values are filled in; every field says what it accepts."</p>
        <div class="form-grid">
            <div class="field">
                <label for="wizard-node_id">"Node"</label>
                <select
                    id="wizard-node_id"
                    name="node_id"
                    on:change=move |ev| {
                        if let Ok(id) = event_target_value(&ev).parse::<i64>() {
                            state.edit("node_id", |r| r.node_id = id);
                        }
                    }
                >
                    {nodes.into_iter().map(|n| {
                        let selected = move || state.request.with(|r| r.node_id) == n.id;
                        let text = match &n.unavailable {
                            Some(why) => format!("{} — {why}", n.name),
                            None if n.default => format!("{} (default)", n.name),
                            None => n.name.clone(),
                        };
                        view! {
                            <option value=n.id.to_string() selected=selected disabled=n.unavailable.is_some()>{text}</option>
                        }
                    }).collect_view()}
                </select>
                <div class="hint">"Your nodes; one that cannot take a container now says why."</div>
                <div class="field-error">{state.error("node_id")}</div>
            </div>
            <div class="field">
                <label for="wizard-hostname">"Hostname"</label>
                <div class="row">
                    <input
                        id="wizard-hostname"
                        name="hostname"
                        class="grow"
                        prop:value=move || state.request.with(|r| r.hostname.clone())
                        aria-invalid=move || state.error("hostname")().is_some().then_some("true")
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            state.edit("hostname", |r| r.hostname = v);
                        }
                    />
                    <button type="button" class="btn btn-sm" on:click=suggest>"Suggest"</button>
                </div>
                <div class="hint">"Lower-case letters, digits and '-'; dots separate DNS labels (253 at most)."</div>
                <div class="field-error">{state.error("hostname")}</div>
            </div>
            <div class="field">
                <label for="wizard-vmid">"VMID"</label>
                <input
                    id="wizard-vmid"
                    name="vmid"
                    type="number"
                    min="100"
                    placeholder=next_vmid
                    prop:value=move || state.request.with(|r| r.vmid.map(|v| v.to_string()).unwrap_or_default())
                    aria-invalid=move || vmid_error().is_some().then_some("true")
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        state.edit("vmid", |r| r.vmid = v.trim().parse().ok());
                    }
                    on:change=check
                />
                <div class="hint">{move || format!("Empty: Kiln takes the {}. 100 to 999999999.", next_vmid())}</div>
                <div class="field-error">{vmid_error}</div>
            </div>
        </div>
        {move || match choices.get() {
            Choices::Loading => view! {
                <div class="progress progress-indeterminate" role="progressbar" aria-label="Asking the node"><div class="progress-bar"></div></div>
                <p class="muted" data-test="choices-loading">"Asking the node for its storages, OS templates and bridges…"</p>
            }.into_any(),
            Choices::Failed(why) => view! {
                <div class="alert alert-error" role="alert" data-test="choices-error">
                    {format!("{why}. Choose another node, or try again when it answers.")}
                </div>
            }.into_any(),
            Choices::Ready(_) => ().into_any(),
        }}
        <div class="form-grid">
            <SelectField state field="ostemplate" label="OS template" hint="From the node's template storages (vztmpl)."
                options=ostemplates get=|r| r.ostemplate.clone() set=|r, v| r.ostemplate = v />
            <SelectField state field="storage" label="Root disk storage" hint="Storages of the node that hold container disks (rootdir)."
                options=storages get=|r| r.storage.clone() set=|r, v| r.storage = v />
            <NumberField state field="disk_gib" label="Disk size" range=DISK_GIB_RANGE unit="GiB"
                get=|r| r.disk_gib set=|r, v| r.disk_gib = v />
            <NumberField state field="cores" label="Cores" range=CPU_RANGE unit="cores"
                get=|r| r.cores set=|r, v| r.cores = v />
            <NumberField state field="memory_mib" label="Memory" range=RAM_MIB_RANGE unit="MiB"
                get=|r| r.memory_mib set=|r, v| r.memory_mib = v />
            <NumberField state field="swap_mib" label="Swap" range=kiln_shared::containers::SWAP_MIB_RANGE unit="MiB"
                get=|r| r.swap_mib set=|r, v| r.swap_mib = v />
            <SelectField state field="bridge" label="Bridge" hint="The node's network bridge for eth0."
                options=bridges get=|r| r.bridge.clone() set=|r, v| r.bridge = v />
            <div class="field">
                <span class="label">"IPv4"</span>
                <div class="row" role="radiogroup" aria-label="IPv4">
                    <label class="checkbox">
                        <input type="radio" name="ipv4" prop:checked=move || !is_static()
                            on:change=move |_| state.edit("ipv4", |r| r.ipv4 = Ipv4Setting::Dhcp) />
                        <span>"DHCP"</span>
                    </label>
                    <label class="checkbox">
                        <input type="radio" name="ipv4" data-test="ipv4-static" prop:checked=is_static
                            on:change=move |_| state.edit("ipv4", |r| r.ipv4 = Ipv4Setting::Static { address: String::new(), gateway: None }) />
                        <span>"Static"</span>
                    </label>
                </div>
                <div class="hint">"DHCP asks the bridge's DHCP server; static takes an address with its prefix."</div>
            </div>
        </div>
        {move || is_static().then(|| view! {
            <div class="form-grid">
                <TextField state field="ipv4.address" label="Address" hint="With its prefix length, e.g. 192.168.1.20/24.".to_owned()
                    get=|r| match &r.ipv4 { Ipv4Setting::Static { address, .. } => address.clone(), Ipv4Setting::Dhcp => String::new() }
                    set=|r, v| if let Ipv4Setting::Static { address, .. } = &mut r.ipv4 { *address = v } />
                <TextField state field="ipv4.gateway" label="Gateway" hint="Optional; inside the address's subnet.".to_owned()
                    get=|r| match &r.ipv4 { Ipv4Setting::Static { gateway, .. } => gateway.clone().unwrap_or_default(), Ipv4Setting::Dhcp => String::new() }
                    set=|r, v| if let Ipv4Setting::Static { gateway, .. } = &mut r.ipv4 { *gateway = (!v.trim().is_empty()).then_some(v) } />
            </div>
        })}
        <div class="form-grid">
            <TextField state field="nameserver" label="DNS servers" hint="Optional, space separated IPv4 addresses; empty uses the node's.".to_owned()
                get=|r| r.nameserver.clone().unwrap_or_default()
                set=|r, v| r.nameserver = (!v.trim().is_empty()).then_some(v) />
            <TagsField state />
        </div>
        <fieldset class="stack">
            <legend>"Options"</legend>
            <Toggle state field="unprivileged" label="Unprivileged" hint="root inside is not root on the node (recommended)"
                get=|r| r.unprivileged set=|r, v| r.unprivileged = v />
            <Toggle state field="nesting" label="Nesting" hint="containers inside (Docker needs it)"
                get=|r| r.nesting set=|r, v| r.nesting = v />
            <Toggle state field="keyctl" label="keyctl" hint="the keyctl system call (Docker in unprivileged containers)"
                get=|r| r.keyctl set=|r, v| r.keyctl = v />
            <Toggle state field="fuse" label="FUSE" hint="FUSE file systems inside"
                get=|r| r.fuse set=|r, v| r.fuse = v />
            <Toggle state field="onboot" label="Start on boot" hint="start when the node boots"
                get=|r| r.onboot set=|r, v| r.onboot = v />
        </fieldset>
        <fieldset class="stack">
            <legend>"Access"</legend>
            <div class="field">
                <label for="wizard-root_password">"Root password"</label>
                <div class="row">
                    <input
                        id="wizard-root_password"
                        name="root_password"
                        class="grow mono"
                        autocomplete="new-password"
                        prop:value=move || state.request.with(|r| r.root_password.clone().unwrap_or_default())
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            state.edit("root_password", |r| r.root_password = (!v.is_empty()).then_some(v));
                        }
                    />
                    <button type="button" class="btn btn-sm" data-test="copy-password" on:click=move |_| {
                        copy_text(state.request.with_untracked(|r| r.root_password.clone().unwrap_or_default()));
                    }>"Copy"</button>
                </div>
                <div class="hint">"Generated for you and shown only here: copy it now. 8 to 128 characters; empty for SSH keys only."</div>
                <div class="field-error">{state.error("root_password")}</div>
            </div>
            <div class="field">
                <label for="wizard-ssh_public_keys">"SSH public keys"</label>
                <textarea
                    id="wizard-ssh_public_keys"
                    name="ssh_public_keys"
                    rows="3"
                    class="mono"
                    placeholder="ssh-ed25519 AAAA… you@laptop"
                    prop:value=move || state.request.with(|r| r.ssh_public_keys.clone().unwrap_or_default())
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        state.edit("ssh_public_keys", |r| r.ssh_public_keys = (!v.trim().is_empty()).then_some(v));
                    }
                ></textarea>
                <div class="hint">"Optional; one key per line, for root."</div>
                <div class="field-error">{state.error("ssh_public_keys")}</div>
            </div>
        </fieldset>
    }
}

/// A random number from the browser (the hostname suggestion), or a fixed one on the server.
fn js_random() -> u64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys_random() * 9_007_199_254_740_991.0) as u64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        42
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Math, js_name = random)]
    fn js_sys_random() -> f64;
}

/// Adds `item` to `list` when `on`, removes it otherwise.
fn set_member(list: &mut Vec<String>, item: &str, on: bool) {
    list.retain(|x| x != item);
    if on {
        list.push(item.to_owned());
    }
}

/// Step 3: the template's buckets (each a toggle), single packages out, extra ones in.
#[component]
fn PackagesStep(state: State) -> impl IntoView {
    let adding = RwSignal::new(String::new());
    let add_error = RwSignal::new(None::<String>);
    let add = move || {
        let name = adding.get_untracked().trim().to_owned();
        if name.is_empty() {
            return;
        }
        match validate_package_name(&name) {
            Ok(()) => {
                state.edit("packages_added", |r| {
                    set_member(&mut r.packages_added, &name, true)
                });
                adding.set(String::new());
                add_error.set(None);
            }
            Err(e) => add_error.set(Some(e)),
        }
    };
    let buckets = move || {
        state
            .template
            .with(|t| t.as_ref().map(|t| t.packages.clone()).unwrap_or_default())
    };
    view! {
        <h2>"Packages"</h2>
        <p class="muted">"Installed with the container's package manager before the scripts run. Turn a bucket off, drop single packages, or add your own."</p>
        {move || {
            let list = buckets();
            if list.is_empty() {
                return view! { <p class="muted">"This template installs no packages."</p> }.into_any();
            }
            list.into_iter().map(|bucket| {
                let name = bucket.name.clone();
                let on = {
                    let name = name.clone();
                    move || state.request.with(|r| !r.buckets_off.contains(&name))
                };
                let toggle_name = name.clone();
                view! {
                    <fieldset class="bucket" data-test="bucket" data-bucket=name>
                        <legend>
                            <label class="checkbox">
                                <input type="checkbox" prop:checked=on.clone() on:change=move |ev| {
                                    let keep = event_target_checked(&ev);
                                    state.edit("buckets_off", |r| set_member(&mut r.buckets_off, &toggle_name, !keep));
                                } />
                                <span>{format!("{} ({})", bucket.name, bucket.manager.extension())}</span>
                            </label>
                        </legend>
                        <ul class="package-list">
                            {bucket.packages.into_iter().map(|p| {
                                let pname = match &p { Package::Plain(n) => n.clone(), Package::Custom { name, .. } => name.clone() };
                                let kept = {
                                    let pname = pname.clone();
                                    move || state.request.with(|r| !r.packages_removed.contains(&pname))
                                };
                                let enabled = on.clone();
                                let toggle = pname.clone();
                                view! {
                                    <li>
                                        <label class="checkbox">
                                            <input type="checkbox" prop:checked=kept disabled=move || !enabled() on:change=move |ev| {
                                                let keep = event_target_checked(&ev);
                                                state.edit("packages_removed", |r| set_member(&mut r.packages_removed, &toggle, !keep));
                                            } />
                                            <code>{pname}</code>
                                        </label>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </fieldset>
                }
            }).collect_view().into_any()
        }}
        <div class="field">
            <label for="wizard-add-package">"Add a package"</label>
            <div class="row">
                <input
                    id="wizard-add-package"
                    class="grow mono"
                    placeholder="jq"
                    prop:value=move || adding.get()
                    on:input=move |ev| adding.set(event_target_value(&ev))
                    on:keydown=move |ev| if ev.key() == "Enter" { ev.prevent_default(); add(); }
                />
                <button type="button" class="btn btn-sm" data-test="add-package" on:click=move |_| add()>"Add"</button>
            </div>
            <div class="hint">"Installed with the OS's manager (apt on Debian); a version pin is kept as written."</div>
            <div class="field-error">{move || add_error.get()}</div>
        </div>
        <ul class="row wrap package-added">
            {move || state.request.with(|r| r.packages_added.clone()).into_iter().map(|name| {
                let remove = name.clone();
                view! {
                    <li class="tag">
                        <code>{name.clone()}</code>
                        <button type="button" class="btn-icon" aria-label=format!("Remove {name}")
                            on:click=move |_| state.edit("packages_added", |r| set_member(&mut r.packages_added, &remove, false))>
                            "×"
                        </button>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// Step 4: the template's scripts in order; each can be skipped, each can be read.
#[component]
fn ScriptsStep(state: State) -> impl IntoView {
    let scripts = move || {
        state
            .template
            .with(|t| t.as_ref().map(|t| t.scripts.clone()).unwrap_or_default())
    };
    view! {
        <h2>"Scripts"</h2>
        <p class="muted">"Run as root inside the container, in this order, each once. Skip what you do not want."</p>
        {move || {
            let list = scripts();
            if list.is_empty() {
                return view! { <p class="muted">"This template runs no scripts."</p> }.into_any();
            }
            view! {
                <ol class="stack script-list">
                    {list.into_iter().map(|s| {
                        let name = s.file_name.clone();
                        let run = {
                            let name = name.clone();
                            move || state.request.with(|r| !r.scripts_skipped.contains(&name))
                        };
                        let toggle = name.clone();
                        let data_name = name.clone();
                        view! {
                            <li class="card" data-test="script" data-script=data_name>
                                <label class="checkbox">
                                    <input type="checkbox" prop:checked=run on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        state.edit("scripts_skipped", |r| set_member(&mut r.scripts_skipped, &toggle, !on));
                                    } />
                                    <code>{name}</code>
                                </label>
                                <details>
                                    <summary>"Show the script"</summary>
                                    <pre class="code-block"><code>{s.content}</code></pre>
                                </details>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            }.into_any()
        }}
    }
}

/// Step 5: everything at once, secrets masked, and the `pct` equivalent.
#[component]
fn ReviewStep(state: State, start: WizardStart) -> impl IntoView {
    let nodes = StoredValue::new(start.nodes);
    let request = move || normalize(state.request.get());
    let errors = move || validate_step(WizardStep::Review, &request());
    let row = |label: &'static str, value: String| {
        view! { <tr><th scope="row">{label}</th><td>{value}</td></tr> }
    };
    view! {
        <h2>"Review"</h2>
        <p class="muted">"Kiln checks all of it again on the server before anything is sent to the node."</p>
        {move || {
            let e = errors();
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
            let template = state.template.with(|t| t.as_ref().map_or_else(|| "none (plain OS)".to_owned(), |t| format!("{} ({})", t.app, t.slug)));
            let ip = match &r.ipv4 {
                Ipv4Setting::Dhcp => "DHCP".to_owned(),
                Ipv4Setting::Static { address, gateway } => format!("{address}{}", gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default()),
            };
            let features: Vec<&str> = [("nesting", r.nesting), ("keyctl", r.keyctl), ("fuse", r.fuse)]
                .into_iter().filter_map(|(n, on)| on.then_some(n)).collect();
            view! {
                <table class="table review" data-test="review">
                    <tbody>
                        {row("Template", template)}
                        {row("Node", node)}
                        {row("Hostname", r.hostname.clone())}
                        {row("VMID", r.vmid.map_or_else(|| "next free".to_owned(), |v| v.to_string()))}
                        {row("OS template", r.ostemplate.clone())}
                        {row("Root disk", format!("{} GiB on {}", r.disk_gib, r.storage))}
                        {row("CPU / memory / swap", format!("{} core(s) / {} MiB / {} MiB", r.cores, r.memory_mib, r.swap_mib))}
                        {row("Network", format!("{} on {}", ip, r.bridge))}
                        {row("DNS", r.nameserver.clone().unwrap_or_else(|| "the node's".to_owned()))}
                        {row("Unprivileged", if r.unprivileged { "yes" } else { "no" }.to_owned())}
                        {row("Features", if features.is_empty() { "none".to_owned() } else { features.join(", ") })}
                        {row("Start on boot", if r.onboot { "yes" } else { "no" }.to_owned())}
                        {row("Tags", if r.tags.is_empty() { "none".to_owned() } else { r.tags.join(", ") })}
                        {row("Root password", if r.root_password.is_some() { "••••••••".to_owned() } else { "none".to_owned() })}
                        {row("SSH keys", r.ssh_public_keys.as_ref().map_or_else(|| "none".to_owned(), |k| format!("{} key(s)", k.lines().filter(|l| !l.trim().is_empty()).count())))}
                        {row("Buckets off", if r.buckets_off.is_empty() { "none".to_owned() } else { r.buckets_off.join(", ") })}
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

fn join_or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}
