//! `/containers/:id` (and `/containers/:id/progress`): one container — its header with the
//! `ContainerActions` island, and four tabs from `?tab=` (plain links, so they work without
//! JavaScript; `tabs`): Overview (status, node, addresses, the template version, live usage
//! from the node, the config summary, notes — and the creation's live progress, an island over
//! Server-Sent Events, with what to do after a failure), Services (state, ports, web links,
//! logins revealed on request, *Refresh*, a unit's journal with `&logs=<unit>`), Events
//! (newest first, filtered by `&kind=`/`&phase=`) and Config (the PVE config as the node
//! returns it).
//!
//! Without JavaScript the page still shows everything it reads (the progress island renders
//! on the server with the persisted events); with it, new events stream in, and the page
//! reloads once when the creation ends.

use kiln_shared::AppError;
use kiln_shared::container_page::{
    ContainerOverview, EventFilter, EventPage, PageTab, PveConfig, REAUTH_FIELD, ServiceLogs,
};
use kiln_shared::containers::{ContainerDetail, ContainerStatus};
use kiln_shared::inventory::Action;
use kiln_shared::progress::{ContainerEvent, PHASES, percent, phase_index};
use leptos::html::Pre;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::components::confirm::ConfirmButton;
use crate::components::copy::copy_text;
use crate::components::format::short_time;
use crate::components::nav;
use crate::components::toast::{ToastKind, use_toaster};
use crate::functions::containers::{
    cancel_container, container_action, container_config, container_event_page, container_events,
    delete_container, get_container, get_container_overview, get_service_logs, retry_container,
    reveal_credential, skip_interrupted_script,
};

mod tabs;

/// The status badge of a container.
pub fn status_badge(status: ContainerStatus) -> impl IntoView + use<> {
    let class = match status {
        ContainerStatus::Creating => "badge badge-accent",
        ContainerStatus::Ready => "badge badge-ok",
        ContainerStatus::Failed => "badge badge-danger",
        ContainerStatus::Deleting => "badge badge-warn",
    };
    view! { <span class=class data-test="status">{status.as_str()}</span> }
}

/// What the page asks for: the container, the tab, and the tab's own query.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    id: i64,
    tab: PageTab,
    logs: Option<String>,
    filter: EventFilter,
}

/// What one tab loaded. A tab's own failure (the node does not answer, a refused filter) is
/// shown in the tab; only the container's own (404...) is the page's.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Loaded {
    Overview(Box<ContainerOverview>, Vec<ContainerEvent>),
    Services(Box<ContainerDetail>, Option<Result<ServiceLogs, AppError>>),
    Events(Box<ContainerDetail>, Result<EventPage, AppError>),
    Config(Box<ContainerDetail>, Result<PveConfig, AppError>),
}

impl Loaded {
    fn detail(&self) -> &ContainerDetail {
        match self {
            Loaded::Overview(o, _) => &o.detail,
            Loaded::Services(d, _) | Loaded::Events(d, _) | Loaded::Config(d, _) => d,
        }
    }
}

async fn load(ask: Ask) -> Result<Loaded, AppError> {
    let loaded = match ask.tab {
        PageTab::Overview => {
            let overview = get_container_overview(ask.id).await?;
            let events = container_events(ask.id, 0).await?;
            Loaded::Overview(Box::new(overview), events)
        }
        PageTab::Services => {
            let detail = get_container(ask.id).await?;
            let logs = match ask.logs {
                Some(unit) => Some(get_service_logs(ask.id, unit).await),
                None => None,
            };
            Loaded::Services(Box::new(detail), logs)
        }
        PageTab::Events => {
            let detail = get_container(ask.id).await?;
            let f = ask.filter;
            let page = container_event_page(ask.id, f.kind, f.phase, f.before).await;
            Loaded::Events(Box::new(detail), page)
        }
        PageTab::Config => {
            let detail = get_container(ask.id).await?;
            let config = container_config(ask.id).await;
            Loaded::Config(Box::new(detail), config)
        }
    };
    // A tab's own refusal (a node that does not answer, a filter the rules refuse) is shown
    // in the tab: the page itself is fine, whatever status that call set.
    let tab_failed = match &loaded {
        Loaded::Overview(..) => false,
        Loaded::Services(_, logs) => matches!(logs, Some(Err(_))),
        Loaded::Events(_, page) => page.is_err(),
        Loaded::Config(_, config) => config.is_err(),
    };
    if tab_failed {
        crate::components::error::set_ssr_status(200);
    }
    Ok(loaded)
}

#[component]
pub fn ContainerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let ask = move || {
        let id = params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let q = query.read();
        let word = |name: &str| q.get(name).filter(|v| !v.is_empty());
        Ask {
            id,
            tab: PageTab::parse(q.get("tab").as_deref()),
            logs: word("logs"),
            filter: EventFilter {
                kind: word("kind"),
                phase: word("phase"),
                before: word("before").and_then(|v| v.parse().ok()),
            },
        }
    };
    let data = Resource::new(ask, load);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the container…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(loaded) => view! { <Detail loaded /> }.into_any(),
                    Err(e) => {
                        crate::components::error::set_ssr_status(e.status());
                        view! {
                            <leptos_meta::Title text="Container" />
                            <h1>"Container"</h1>
                            <div class="alert alert-error" role="alert">{e.to_string()}</div>
                            <a class="btn" href="/containers">"All containers"</a>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(loaded: Loaded) -> impl IntoView {
    let tab = match &loaded {
        Loaded::Overview(..) => PageTab::Overview,
        Loaded::Services(..) => PageTab::Services,
        Loaded::Events(..) => PageTab::Events,
        Loaded::Config(..) => PageTab::Config,
    };
    let detail = loaded.detail().clone();
    let summary = detail.summary.clone();
    let status = summary.status;
    // A creation that failed in a script (interrupted by a crash, or exited non-zero) offers
    // re-run / skip / delete.
    let interrupted =
        status == ContainerStatus::Failed && detail.phase.as_deref() == Some("scripts");
    let base = format!("/containers/{}", summary.id);
    // Its node does not answer: the page shows what Kiln last knew, and power actions wait.
    let offline = detail
        .node_watch
        .as_ref()
        .and_then(|w| w.banner(short_time));
    view! {
        <leptos_meta::Title text=summary.hostname.clone() />
        <div class="page-header">
            <div>
                <h1 class="page-title">{summary.hostname.clone()}</h1>
                <div class="row wrap">
                    {status_badge(status)}
                    <span class="muted">{format!("on {}", summary.node_name)}</span>
                    {summary.vmid.map(|v| view! { <span class="muted">{format!("VMID {v}")}</span> })}
                    {summary.template.clone().map(|t| view! { <a class="tag" href=format!("/templates/{t}")>{t.clone()}</a> })}
                    {summary.address.clone().map(|a| view! { <code data-test="address">{a}</code> })}
                    <span class="muted small">{format!("asked for {}", short_time(&summary.created_at))}</span>
                </div>
            </div>
            <div class="spacer"></div>
            <ContainerActions id=summary.id status interrupted hostname=summary.hostname.clone() power=summary.power.clone() offline=offline.clone() />
        </div>
        {offline.map(|banner| view! {
            <div class="alert alert-warn" role="status" data-test="node-offline">
                <strong>{banner}</strong>
                ". What this page shows is what Kiln last knew; start, stop and the other power actions wait for the node."
            </div>
        })}
        <nav class="tabs" aria-label="Container" data-test="tabs">
            {PageTab::ALL.into_iter().map(|t| view! {
                <a href=format!("{base}?tab={}", t.as_str()) data-test=format!("tab-{}", t.as_str())
                    aria-current={(t == tab).then_some("page")}>{t.label()}</a>
            }).collect_view()}
        </nav>
        <div class="tab-panel" data-test="tab-panel" data-tab=tab.as_str()>
            {match loaded {
                Loaded::Overview(overview, events) => tabs::overview(*overview, events).into_any(),
                Loaded::Services(detail, logs) => tabs::services(*detail, logs).into_any(),
                Loaded::Events(detail, page) => tabs::events(&detail, page).into_any(),
                Loaded::Config(_, config) => tabs::config(config).into_any(),
            }}
        </div>
    }
}

/// One credential, masked until *Reveal* asks the server for it (owner or administrator;
/// audited); then shown with *Copy*. When the session proved the password more than 10
/// minutes ago the server answers with a 422 on `password`: the island then asks for it and
/// sends it with the next *Reveal*. An island.
#[island]
fn Reveal(id: i64, service: String, key: String) -> impl IntoView {
    let toaster = use_toaster();
    let value = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // `Some(message)` while the server wants the password again.
    let asking = RwSignal::new(None::<String>);
    let password = RwSignal::new(String::new());
    let reveal = move || {
        let (service, key) = (service.clone(), key.clone());
        let given = asking
            .get_untracked()
            .is_some()
            .then(|| password.get_untracked());
        busy.set(true);
        leptos::task::spawn_local(async move {
            match reveal_credential(id, service, key, given).await {
                Ok(v) => {
                    asking.set(None);
                    password.set(String::new());
                    value.set(Some(v));
                }
                Err(e) => match e.field(REAUTH_FIELD) {
                    Some(message) => asking.set(Some(message.to_owned())),
                    None => toaster.error(e.to_string()),
                },
            }
            busy.set(false);
        });
    };
    let on_click = {
        let reveal = reveal.clone();
        move |_| reveal()
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        reveal();
    };
    view! {
        {move || match value.get() {
            Some(v) => view! {
                <code class="secret" data-test="credential-value">{v.clone()}</code>
                <button type="button" class="btn btn-sm" on:click=move |_| copy_text(v.clone())>"Copy"</button>
            }.into_any(),
            None => view! {
                <span class="muted" aria-hidden="true">"••••••"</span>
                <button type="button" class="btn btn-sm" data-test="reveal" disabled=move || busy.get() on:click=on_click.clone()>
                    "Reveal"
                </button>
            }.into_any(),
        }}
        {move || asking.get().map(|message| view! {
            <form class="reauth" data-test="reauth" on:submit=on_submit.clone()>
                <label class="small">{message}
                    <input type="password" autocomplete="current-password" required=true data-test="reauth-password"
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev)) />
                </label>
                <button type="submit" class="btn btn-sm btn-primary" data-test="reauth-confirm" disabled=move || busy.get()>"Confirm"</button>
            </form>
        })}
    }
}

/// *Refresh* on the Services tab: runs discovery in the container again, then reloads the
/// page with what it found. An island.
#[island]
fn RefreshServices(id: i64) -> impl IntoView {
    let toaster = use_toaster();
    let busy = RwSignal::new(false);
    let refresh = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match crate::functions::containers::refresh_services(id).await {
                Ok(found) => {
                    toaster.after_navigation(
                        ToastKind::Success,
                        &format!(
                            "Refreshed: {} service(s), {} credential(s).",
                            found.services, found.credentials
                        ),
                    );
                    nav::reload();
                }
                Err(e) => {
                    busy.set(false);
                    toaster.error(e.to_string());
                }
            }
        });
    };
    view! {
        <button type="button" class="btn btn-sm" data-test="refresh-services"
            title="Looks for the container's services, ports, web links and saved logins again, now"
            disabled=move || busy.get() aria-busy=move || busy.get().then_some("true") on:click=refresh>
            "Refresh"
        </button>
    }
}

/// Cancel a running creation; retry a failed one (or skip the script a crash interrupted);
/// delete a failed one. An island: each action reloads the page.
#[island]
fn ContainerActions(
    id: i64,
    status: ContainerStatus,
    interrupted: bool,
    hostname: String,
    /// The power state Kiln last saw (`running`, `stopped`), for a ready container.
    power: Option<String>,
    /// Why power actions cannot run now (its node does not answer).
    offline: Option<String>,
) -> impl IntoView {
    let toaster = use_toaster();
    let busy = RwSignal::new(false);
    // A shutdown that did not finish in time: *Stop* is offered.
    let offer_stop = RwSignal::new(None::<String>);
    let act = move |action: Action| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match container_action(id, action).await {
                Ok(done) if done.offer_stop => {
                    busy.set(false);
                    toaster.error(done.message.clone());
                    offer_stop.set(Some(done.message));
                }
                Ok(done) => {
                    let kind = if done.ok {
                        ToastKind::Success
                    } else {
                        ToastKind::Error
                    };
                    toaster.after_navigation(kind, &done.message);
                    nav::reload();
                }
                Err(e) => {
                    busy.set(false);
                    toaster.error(e.to_string());
                }
            }
        });
    };
    let ready = status == ContainerStatus::Ready;
    let running = power.as_deref() != Some("stopped");
    let stopped = power.as_deref() != Some("running");
    let power_action = move |action: Action, question: String| {
        let class = if action == Action::Start {
            "btn btn-primary"
        } else {
            "btn"
        };
        if let Some(reason) = offline.clone() {
            return view! {
                <button type="button" class=class data-test=format!("action-{}", action.as_str())
                    disabled=true title=reason>
                    {action.label()}
                </button>
            }
            .into_any();
        }
        if action.needs_confirmation() {
            view! {
                <ConfirmButton
                    label=action.label().to_owned()
                    question=question
                    confirm_label=action.label().to_owned()
                    class=class
                    danger={action == Action::Stop}
                    on_confirm=Callback::new(move |()| act(action))
                />
            }
            .into_any()
        } else {
            view! {
                <button type="button" class=class data-test=format!("action-{}", action.as_str())
                    disabled=move || busy.get() on:click=move |_| act(action)>
                    {action.label()}
                </button>
            }
            .into_any()
        }
    };
    let cancel = Callback::new(move |()| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match cancel_container(id).await {
                Ok(true) => toaster.after_navigation(ToastKind::Success, "Cancelled."),
                Ok(false) => toaster.after_navigation(
                    ToastKind::Info,
                    "Cancelling: the creation stops at its next safe point.",
                ),
                Err(e) => toaster.after_navigation(ToastKind::Error, &e.to_string()),
            }
            nav::reload();
        });
    });
    let retry = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match retry_container(id).await {
                Ok(()) => {
                    toaster.after_navigation(ToastKind::Success, "Retrying from the failed phase.")
                }
                Err(e) => toaster.after_navigation(ToastKind::Error, &e.to_string()),
            }
            nav::reload();
        });
    };
    let skip = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match skip_interrupted_script(id).await {
                Ok(name) => toaster
                    .after_navigation(ToastKind::Success, &format!("Retrying without {name}.")),
                Err(e) => toaster.after_navigation(ToastKind::Error, &e.to_string()),
            }
            nav::reload();
        });
    };
    let delete = Callback::new(move |()| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match delete_container(id).await {
                Ok(()) => {
                    toaster.after_navigation(ToastKind::Success, "Deleting the container.");
                    nav::reload();
                }
                Err(e) => {
                    busy.set(false);
                    toaster.error(e.to_string());
                }
            }
        });
    });
    let name = hostname.clone();
    view! {
        <div class="page-actions" data-test="container-actions">
            {(ready && stopped).then(|| power_action(Action::Start, String::new()))}
            {(ready && running).then(|| power_action(
                Action::Shutdown,
                format!("Shut {name} down? Its services stop; Kiln waits up to a minute for a clean shutdown."),
            ))}
            {(ready && running).then(|| power_action(
                Action::Reboot,
                format!("Reboot {name}? Its services restart."),
            ))}
            {(ready && running).then(|| power_action(
                Action::Stop,
                format!("Stop {name} now? Like pulling the plug: its services get no chance to finish."),
            ))}
            {move || offer_stop.get().map(|message| view! {
                <div class="alert alert-warn" role="status" data-test="offer-stop">
                    <span>{message}</span>
                    <button type="button" class="btn btn-sm btn-danger" data-test="stop-now"
                        on:click=move |_| { offer_stop.set(None); act(Action::Stop); }>
                        "Stop now"
                    </button>
                </div>
            })}
            {(status == ContainerStatus::Creating).then(|| view! {
                <ConfirmButton
                    label="Cancel".to_owned()
                    question="Stop this creation? A running step finishes first; what was created stays until you delete it.".to_owned()
                    confirm_label="Stop the creation".to_owned()
                    danger=true
                    on_confirm=cancel
                />
            })}
            {(status == ContainerStatus::Failed).then(|| view! {
                <button type="button" class="btn btn-primary" data-test="retry" disabled=move || busy.get() on:click=retry>
                    {if interrupted { "Re-run the script" } else { "Retry from the failed phase" }}
                </button>
            })}
            {(status == ContainerStatus::Failed && interrupted).then(|| view! {
                <button type="button" class="btn" data-test="skip-script" disabled=move || busy.get() on:click=skip>
                    "Skip the script and go on"
                </button>
            })}
            {(status != ContainerStatus::Deleting).then(|| view! {
                <ConfirmButton
                    label="Delete".to_owned()
                    question=format!("Delete {hostname}? Kiln destroys the container on its node (only one Kiln created or adopted) with its disk, then forgets it, its services and logins. This cannot be undone.")
                    typed=hostname.clone()
                    confirm_label="Delete the container".to_owned()
                    class="btn"
                    danger=true
                    on_confirm=delete
                />
            })}
        </div>
    }
}

/// Elapsed seconds as `1 min 05 s`.
fn elapsed(secs: u64) -> String {
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {:02} s", secs / 60, secs % 60)
    }
}

/// The phases, the progress bar, the current step, the elapsed time and the log: an island
/// that follows the creation live over Server-Sent Events (`/containers/{id}/events`), replaying
/// from after the last event it was rendered with.
#[island]
fn Progress(
    id: i64,
    status: ContainerStatus,
    error: Option<String>,
    phase: Option<String>,
    elapsed_secs: u64,
    events: Vec<ContainerEvent>,
) -> impl IntoView {
    let last_phase = events
        .iter()
        .rev()
        .find(|e| e.kind == "phase")
        .map(|e| e.phase.clone())
        .or(phase);
    let current = RwSignal::new(last_phase);
    let status = RwSignal::new(status);
    let error = RwSignal::new(error);
    let log = RwSignal::new(events);
    let follow = RwSignal::new(true);
    let seconds = RwSignal::new(elapsed_secs);
    let pre = NodeRef::<Pre>::new();

    #[cfg(feature = "hydrate")]
    live(
        id,
        LiveState {
            current,
            status,
            error,
            log,
            follow,
            seconds,
            pre,
        },
    );
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, pre);

    let pct = move || {
        percent(
            current.get().as_deref(),
            status.get() == ContainerStatus::Ready,
        )
    };
    let phase_state = move |i: usize| {
        let at = current.get().as_deref().and_then(phase_index).unwrap_or(0);
        match status.get() {
            ContainerStatus::Ready => "done",
            _ if i < at => "done",
            ContainerStatus::Failed if i == at => "failed",
            ContainerStatus::Creating if i == at => "current",
            _ => "pending",
        }
    };
    let step_text = move || {
        let label = current
            .get()
            .as_deref()
            .and_then(phase_index)
            .map_or("Waiting for a worker", |i| PHASES[i].label);
        match status.get() {
            ContainerStatus::Ready => "Ready".to_owned(),
            ContainerStatus::Failed => format!("Failed during: {label}"),
            ContainerStatus::Deleting => "Deleting".to_owned(),
            ContainerStatus::Creating => format!("{label}…"),
        }
    };
    view! {
        <section class="card progress-card" data-test="progress">
            <div class="row">
                <h2 class="card-title grow" data-test="step" aria-live="polite">{step_text}</h2>
                <span class="muted" data-test="elapsed">{move || elapsed(seconds.get())}</span>
            </div>
            // A <progress> element, not a styled width: the CSP allows no inline style.
            <progress
                class="bar"
                class:failed=move || status.get() == ContainerStatus::Failed
                max="100"
                value=move || pct().to_string()
                aria-label="Creation progress"
                data-test="percent"
            >
                {move || format!("{} %", pct())}
            </progress>
            {move || error.get().map(|e| view! { <div class="alert alert-error" role="alert" data-test="error">{e}</div> })}
            <ol class="phases">
                {PHASES.iter().enumerate().map(|(i, p)| view! {
                    <li class=move || format!("phase phase-{}", phase_state(i)) data-phase=p.name>
                        <span class="phase-dot" aria-hidden="true"></span>
                        <span>{p.label}</span>
                        <span class="visually-hidden">{move || format!(" ({})", phase_state(i))}</span>
                    </li>
                }).collect_view()}
            </ol>
            <div class="row">
                <h3 class="grow">"Log"</h3>
                <label class="checkbox small">
                    <input type="checkbox" data-test="follow" prop:checked=move || follow.get()
                        on:change=move |ev| follow.set(event_target_checked(&ev)) />
                    <span>"Follow"</span>
                </label>
            </div>
            <pre class="log" node_ref=pre data-test="log" tabindex="0" aria-label="Creation log">
                {move || log.get().into_iter().map(|e| {
                    let class = format!("log-line log-{}", e.kind);
                    let text = if e.kind == "phase" { format!("▸ {}", e.text) } else { e.text };
                    view! { <span class=class data-seq=e.seq>{text}"\n"</span> }
                }).collect_view()}
            </pre>
        </section>
    }
}

#[cfg(feature = "hydrate")]
#[derive(Clone, Copy)]
struct LiveState {
    current: RwSignal<Option<String>>,
    status: RwSignal<ContainerStatus>,
    error: RwSignal<Option<String>>,
    log: RwSignal<Vec<ContainerEvent>>,
    follow: RwSignal<bool>,
    seconds: RwSignal<u64>,
    pre: NodeRef<Pre>,
}

/// Follows the creation: an `EventSource` after the last event shown, the elapsed time
/// ticking while it runs, the log scrolled to its end while "Follow" is on; on `end`, closes
/// the source and reloads the page once (so what the end brought — services, actions — shows).
#[cfg(feature = "hydrate")]
fn live(id: i64, s: LiveState) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    if !matches!(
        s.status.get_untracked(),
        ContainerStatus::Creating | ContainerStatus::Deleting
    ) {
        // After this frame: the log's <pre> does not exist yet while the island is built.
        request_animation_frame(move || scroll_to_end(s));
        return;
    }
    let after = s.log.with_untracked(|l| l.last().map_or(0, |e| e.seq));
    let Ok(source) = web_sys::EventSource::new(&format!("/containers/{id}/events?after={after}"))
    else {
        return;
    };
    let on_event =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(data) = ev.data().as_string() else {
                return;
            };
            let Ok(event) = serde_json::from_str::<ContainerEvent>(&data) else {
                return;
            };
            if s.log
                .with_untracked(|l| l.last().is_some_and(|last| last.seq >= event.seq))
            {
                return;
            }
            if event.kind == "phase" {
                s.current.set(Some(event.phase.clone()));
            }
            s.log.update(|l| l.push(event));
            if s.follow.get_untracked() {
                request_animation_frame(move || scroll_to_end(s));
            }
        });
    for kind in ["phase", "log", "outcome"] {
        let _ = source.add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref());
    }
    on_event.forget();
    let closing = source.clone();
    let on_end =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            closing.close();
            let end = ev
                .data()
                .as_string()
                .and_then(|d| serde_json::from_str::<kiln_shared::progress::StreamEnd>(&d).ok());
            if let Some(end) = end {
                s.status
                    .set(ContainerStatus::parse(&end.status).unwrap_or(ContainerStatus::Failed));
                s.error.set(end.error);
            }
            set_timeout(nav::reload, std::time::Duration::from_millis(800));
        });
    let _ = source.add_event_listener_with_callback(
        kiln_shared::progress::END_EVENT,
        on_end.as_ref().unchecked_ref(),
    );
    on_end.forget();
    let _ = set_interval_with_handle(
        move || {
            if s.status.get_untracked() == ContainerStatus::Creating {
                s.seconds.update(|x| *x += 1);
            }
        },
        std::time::Duration::from_secs(1),
    );
    request_animation_frame(move || scroll_to_end(s));
}

#[cfg(feature = "hydrate")]
fn scroll_to_end(s: LiveState) {
    if let Some(pre) = s.pre.get_untracked() {
        pre.set_scroll_top(pre.scroll_height());
    }
}
