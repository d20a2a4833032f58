//! Nodes: the list with live health, and the add/edit form (certificate confirmed on first
//! use, then an API token or a one-time Proxmox sign-in that creates one).

use kiln_shared::AppError;
use kiln_shared::nodes::{NodeInput, NodeSummary, NodeView, PveLogin};
use kiln_shared::pve::CertificateInfo;
use leptos::prelude::*;

use crate::components::call::{Call, moved_on};
use crate::components::confirm::ConfirmButton;
use crate::components::form::reveal_first_error;
use crate::components::layout::{EmptyState, PageHeader};
use crate::components::route::use_node_from_path;
use crate::components::toast::use_toaster;
use crate::functions::nodes::{
    add_node, add_node_with_login, delete_node, list_nodes, probe_node, set_default_node,
    test_node, update_node,
};

#[component]
pub fn NodesPage() -> impl IntoView {
    let nodes = Resource::new(|| (), |_| list_nodes());
    view! {
        <PageHeader title="Nodes" subtitle="The Proxmox VE nodes and clusters Kiln talks to.">
            <a class="btn btn-primary" href="/nodes/new" data-test="add-node">"Add node"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Checking your nodes…"</p> }>
            {move || Suspend::new(async move {
                match nodes.await {
                    Err(e) => view! { <div class="alert alert-error">{e.to_string()}</div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState icon="nodes" title="No nodes yet — add one">
                            <p class="muted">
                                "A node is a Proxmox VE host reached over its API (port 8006) with an API token. "
                                "Kiln shows its certificate for you to confirm, then keeps the token encrypted."
                            </p>
                            <div class="empty-actions">
                                <a class="btn btn-primary" href="/nodes/new">"Add a node"</a>
                            </div>
                        </EmptyState>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="grid">
                            {list.into_iter().map(|v| view! { <NodeCard view=v /> }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn percent(used: Option<u64>, max: Option<u64>) -> Option<f64> {
    match (used, max) {
        (Some(u), Some(m)) if m > 0 => Some(u as f64 * 100.0 / m as f64),
        _ => None,
    }
}

fn gib(bytes: Option<u64>) -> String {
    bytes
        .map(|b| format!("{:.1} GiB", b as f64 / 1_073_741_824.0))
        .unwrap_or_else(|| "–".into())
}

/// A node with its health (rendered on the server) and its actions (the [`NodeActions`] island).
#[component]
fn NodeCard(view: NodeView) -> impl IntoView {
    let NodeView {
        node,
        health,
        watch,
    } = view;
    // Not answering: since when, and when it last did (what the pages show is from then).
    let offline = watch
        .filter(|_| !health.online)
        .and_then(|w| w.banner(crate::components::format::short_time));
    let id = node.id;
    let status = if health.online {
        ("badge badge-ok", "online")
    } else {
        ("badge badge-danger", "offline")
    };
    view! {
        <article class="card node-card" data-test="node-card">
            <div class="row">
                <h2 class="card-title">{node.name.clone()}</h2>
                <span class=status.0>{status.1}</span>
                {node.is_default.then(|| view! { <span class="badge badge-accent">"default"</span> })}
                {node.is_lab.then(|| view! { <span class="badge badge-warn" title="A simulated Proxmox node: demo data">"lab node"</span> })}
            </div>
            <p class="muted small">
                {format!("{}:{}", node.host, node.port)}
                {health.version.clone().map(|v| format!(" · Proxmox VE {v}"))}
            </p>
            {offline.map(|banner| view! {
                <p class="alert alert-warn small" role="status" data-test="node-offline">{banner}</p>
            })}
            {health.certificate_changed.clone().map(|cert| view! {
                <div class="alert alert-warn" role="alert">
                    "The node's certificate changed. New fingerprint: " <code>{cert.fingerprint}</code>
                    " — " <a href=format!("/nodes/{id}/edit")>"review and confirm it"</a>
                </div>
            })}
            {health.error.clone().filter(|_| health.certificate_changed.is_none()).map(|e| view! {
                <div class="alert alert-error small">{e}</div>
            })}
            {(!health.missing_privileges.is_empty()).then(|| view! {
                <div class="alert alert-warn small">
                    "The token lacks: " {health.missing_privileges.join(", ")}
                </div>
            })}
            {health.members.iter().map(|m| {
                let cpu = m.cpu.map(|c| c * 100.0);
                let mem = percent(m.mem, m.maxmem);
                view! {
                    <div class="member">
                        <div class="row small">
                            <span class=if m.online { "dot dot-ok" } else { "dot dot-danger" }></span>
                            <strong>{m.name.clone()}</strong>
                            <span class="spacer"></span>
                            <span class="muted">{format!("{} cores · {} RAM", m.maxcpu.unwrap_or(0), gib(m.maxmem))}</span>
                        </div>
                        <div class="small muted">"CPU " {cpu.map(|c| format!("{c:.0}%")).unwrap_or_else(|| "–".into())}</div>
                        <meter class="meter" min="0" max="100" aria-label="CPU" value=cpu.unwrap_or(0.0).round()></meter>
                        <div class="small muted">"RAM " {mem.map(|c| format!("{c:.0}%")).unwrap_or_else(|| "–".into())}</div>
                        <meter class="meter" min="0" max="100" aria-label="Memory" value=mem.unwrap_or(0.0).round()></meter>
                    </div>
                }
            }).collect_view()}
            <NodeActions id name=node.name.clone() is_default=node.is_default ssh_pinned=node.ssh_host_key.is_some() />
        </article>
    }
}

/// A node card's buttons (an island; after a change the page reloads). *Test connection*
/// asks the server, which answers with the sentence for the toast.
#[island]
fn NodeActions(id: i64, name: String, is_default: bool, ssh_pinned: bool) -> impl IntoView {
    let toaster = use_toaster();
    let test = Call::new();
    let change = Call::new();
    view! {
        <div class="row card-actions">
            <button type="button" class="btn btn-sm" data-test="test-node" aria-busy=test.busy()
                on:click=move |_| test.run(test_node(id), move |answer| match answer {
                    Ok(message) => toaster.success(message),
                    Err(e) => toaster.error(e.to_string()),
                })>"Test connection"</button>
            {(!is_default).then(|| view! {
                <button type="button" class="btn btn-sm btn-ghost"
                    on:click=move |_| change.run(set_default_node(id), |answer| moved_on(answer, "Default node changed.", None))>"Make default"</button>
            })}
            <a class="btn btn-sm btn-ghost" href=format!("/nodes/{id}/edit")>"Edit"</a>
            <a class="btn btn-sm btn-ghost" href=format!("/nodes/{id}/ssh") data-test="node-ssh">
                {if ssh_pinned { "SSH" } else { "Set up SSH" }}
            </a>
            <ConfirmButton
                label="Delete".into()
                question=format!("Remove {name} from Kiln? Nothing on the node is changed.")
                confirm_label="Remove node".into()
                danger=true
                on_confirm=Callback::new(move |()| change.run(delete_node(id), |answer| moved_on(answer, "Node removed.", None)))
            />
        </div>
    }
}

/// `/nodes/new`.
#[component]
pub fn NodeNewPage() -> impl IntoView {
    view! {
        <PageHeader title="Add a node" subtitle="Connect Kiln to a Proxmox VE node or cluster." />
        <NodeForm existing=None />
    }
}

/// `/nodes/:id/edit`.
#[component]
pub fn NodeEditPage() -> impl IntoView {
    let node = use_node_from_path();
    view! {
        <PageHeader title="Edit node" subtitle="Change the address or credentials, or confirm a new certificate." />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match node.await {
                    Ok(view) => view! { <NodeForm existing=Some(view.node) /> }.into_any(),
                    Err(e) => Err::<(), AppError>(e).into_any(),
                }
            })}
        </Transition>
    }
}

/// The add/edit form: connection → certificate → credentials (an island).
#[island]
fn NodeForm(existing: Option<NodeSummary>) -> impl IntoView {
    let toaster = use_toaster();
    let editing = existing.as_ref().map(|n| n.id);
    let initial = existing;
    let name = RwSignal::new(initial.as_ref().map(|n| n.name.clone()).unwrap_or_default());
    let host = RwSignal::new(initial.as_ref().map(|n| n.host.clone()).unwrap_or_default());
    let port = RwSignal::new(
        initial
            .as_ref()
            .map(|n| n.port.to_string())
            .unwrap_or_else(|| "8006".into()),
    );
    let is_cluster = RwSignal::new(initial.as_ref().is_some_and(|n| n.is_cluster));
    let fingerprint = RwSignal::new(
        initial
            .as_ref()
            .map(|n| n.fingerprint.clone())
            .unwrap_or_default(),
    );
    let cert = RwSignal::new(None::<CertificateInfo>);
    let use_login = RwSignal::new(false);
    let token_id = RwSignal::new(
        initial
            .as_ref()
            .map(|n| n.token_id.clone())
            .unwrap_or_default(),
    );
    let token_secret = RwSignal::new(String::new());
    let pve_user = RwSignal::new("root".to_owned());
    let pve_realm = RwSignal::new("pam".to_owned());
    let pve_password = RwSignal::new(String::new());
    let pve_otp = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);
    let node = NodeRef::<leptos::html::Form>::new();
    let field =
        move |f: &'static str| move || error.get().and_then(|e| e.field(f).map(str::to_owned));
    // A new address needs its certificate checked (and trusted) again.
    Effect::new(move |first: Option<()>| {
        host.track();
        port.track();
        if first.is_some() {
            fingerprint.set(String::new());
            cert.set(None);
        }
    });

    let probe = Call::new();
    let on_probe = move |_| {
        let (h, p) = (
            host.get_untracked(),
            port.get_untracked().parse::<u16>().unwrap_or(0),
        );
        probe.run(probe_node(h, p), move |answer| match answer {
            Ok(info) => {
                error.set(None);
                cert.set(Some(info));
            }
            Err(e) => error.set(Some(e)),
        });
    };

    let save = Call::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = NodeInput {
            name: name.get_untracked(),
            host: host.get_untracked(),
            port: port.get_untracked().parse().unwrap_or(0),
            is_cluster: is_cluster.get_untracked(),
            fingerprint: fingerprint.get_untracked(),
            token_id: token_id.get_untracked(),
            token_secret: token_secret.get_untracked(),
        };
        let login = use_login.get_untracked().then(|| PveLogin {
            username: pve_user.get_untracked(),
            password: pve_password.get_untracked(),
            realm: pve_realm.get_untracked(),
            otp: Some(pve_otp.get_untracked()).filter(|o| !o.is_empty()),
        });
        let call = async move {
            match (editing, login) {
                (Some(id), _) => update_node(id, input)
                    .await
                    .map(|n| format!("Saved {}.", n.name)),
                (None, Some(login)) => add_node_with_login(input, login).await.map(|t| {
                    format!(
                        "Added {}. Created token {} with {}.",
                        t.node.name,
                        t.token_id,
                        t.grants.join(", ")
                    )
                }),
                (None, None) => add_node(input).await.map(|n| format!("Added {}.", n.name)),
            }
        };
        save.run(call, move |answer| match answer {
            Ok(message) => moved_on(Ok(()), &message, Some("/nodes")),
            Err(e) => {
                toaster.error(e.to_string());
                error.set(Some(e));
                reveal_first_error(node);
            }
        });
    };
    let confirmed = move || !fingerprint.get().is_empty();

    view! {
        <form class="form card node-form" node_ref=node data-test="node-form" on:submit=on_submit>
            <h2 class="card-title">"1. Connection"</h2>
            <NodeField id="node-name" label="Name" field="name" value=name error required=true placeholder="pve-home" />
            <div class="row">
                <NodeField class="field spacer" id="node-host" label="Host" field="host" value=host error required=true placeholder="pve.lan or 192.168.1.10" />
                <NodeField id="node-port" label="Port" field="port" value=port error inputmode="numeric" />
            </div>
            <label class="checkbox"><input type="checkbox" bind:checked=is_cluster />" This is a cluster (Kiln will see every member)"</label>

            <h2 class="card-title">"2. Certificate"</h2>
            <p class="muted small">"Proxmox uses a self-signed certificate. Check its fingerprint against the node (Datacenter → node → System → Certificates) before you trust it."</p>
            <div class="row">
                <button type="button" class="btn" data-test="probe" aria-busy=probe.busy() on:click=on_probe>"Check certificate"</button>
                {move || confirmed().then(|| view! { <span class="badge badge-ok">"trusted"</span> })}
            </div>
            {move || cert.get().map(|c| {
                let fp = c.fingerprint.clone();
                view! {
                    <dl class="cert" data-test="certificate">
                        <dt>"SHA-256"</dt><dd><code>{c.fingerprint.clone()}</code></dd>
                        <dt>"Subject"</dt><dd>{c.subject.clone()}</dd>
                        <dt>"Issuer"</dt><dd>{c.issuer.clone()}</dd>
                        <dt>"Valid"</dt><dd>{format!("{} – {}", c.not_before, c.not_after)}</dd>
                    </dl>
                    <button type="button" class="btn btn-primary" data-test="trust"
                        disabled=move || fingerprint.get() == fp
                        on:click={let fp = c.fingerprint.clone(); move |_| fingerprint.set(fp.clone())}>"Trust this certificate"</button>
                }
            })}
            <div class="field-error">{field("fingerprint")}</div>

            <h2 class="card-title">"3. Credentials"</h2>
            {editing.is_none().then(|| view! {
                <div class="tabs" role="tablist">
                    <button type="button" role="tab" aria-selected=move || (!use_login.get()).to_string() on:click=move |_| use_login.set(false)>"API token"</button>
                    <button type="button" role="tab" aria-selected=move || use_login.get().to_string() data-test="login-tab" on:click=move |_| use_login.set(true)>"Sign in once and create a token"</button>
                </div>
            })}
            <Show when=move || !use_login.get() fallback=move || view! {
                <p class="muted small">"Kiln signs in once, creates a token with privilege separation and the roles it needs, and forgets the password."</p>
                <div class="row">
                    <NodeField class="field spacer" id="pve-user" label="User" field="pve_username" value=pve_user error />
                    <div class="field"><label for="pve-realm">"Realm"</label>
                        <select id="pve-realm" prop:value=pve_realm on:change=move |ev| pve_realm.set(event_target_value(&ev))><option value="pam">"pam"</option><option value="pve">"pve"</option></select></div>
                </div>
                <NodeField id="pve-password" label="Password" field="pve_password" value=pve_password error input_type="password" autocomplete="off" />
                <NodeField id="pve-otp" label="Two-factor code (if enabled)" field="pve_otp" value=pve_otp error inputmode="numeric" autocomplete="one-time-code" />
            }>
                <NodeField id="token-id" label="Token ID" field="token_id" value=token_id error placeholder="root@pam!kiln"
                    hint="Datacenter → Permissions → API Tokens. Kiln needs VM and datastore privileges on /." />
                <NodeField id="token-secret" label="Secret" field="token_secret" value=token_secret error input_type="password" autocomplete="off"
                    placeholder=if editing.is_some() { "unchanged" } else { "" } />
            </Show>
            {move || error.get().and_then(|e| e.field(kiln_shared::FieldErrors::FORM).map(|m| view! { <div class="alert alert-error" role="alert" tabindex="-1">{m.to_owned()}</div> }))}
            <div class="form-actions">
                <a class="btn btn-ghost" href="/nodes">"Cancel"</a>
                <button type="submit" class="btn btn-primary" data-test="save-node" disabled=move || !confirmed()
                    aria-busy=save.busy()>
                    {if editing.is_some() { "Test and save" } else { "Test and add node" }}
                </button>
            </div>
        </form>
    }
}

/// One text field of the node form: its label, the input bound to `value`, an optional hint
/// and the message for `field` from the last answer. One component for every field, so the
/// bundle holds the field's code once.
#[component]
fn NodeField(
    id: &'static str,
    label: &'static str,
    /// The field's name in the server's errors.
    field: &'static str,
    value: RwSignal<String>,
    error: RwSignal<Option<AppError>>,
    #[prop(default = "field")] class: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
) -> impl IntoView {
    let message = move || error.get().and_then(|e| e.field(field).map(str::to_owned));
    view! {
        <div class=class>
            <label for=id>{label}</label>
            <input id=id type=input_type required=required placeholder=placeholder inputmode=inputmode
                autocomplete=autocomplete bind:value=value
                aria-invalid=move || message().map(|_| "true") />
            {hint.map(|h| view! { <div class="hint">{h}</div> })}
            <div class="field-error">{message}</div>
        </div>
    }
}
