//! `/nodes/:id/ssh`: SSH access for `pct` — the node's own public key (Kiln uses a key per
//! node) and the command to authorize it, the node's host key shown and pinned on
//! confirmation, and a test that runs `pct list`.

use kiln_shared::AppError;
use kiln_shared::nodes::HostKeyInfo;
use leptos::prelude::*;

use crate::components::call::Call;
use crate::components::copy::CopyButton;
use crate::components::layout::PageHeader;
use crate::components::route::use_node_from_path;
use crate::components::toast::use_toaster;
use crate::functions::nodes::{fetch_host_key, install_ssh_key, save_ssh, ssh_access, test_ssh};

#[component]
pub fn NodeSshPage() -> impl IntoView {
    let node = use_node_from_path();
    let params = leptos_router::hooks::use_params_map();
    let access = Resource::new(
        move || {
            params
                .read()
                .get("id")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        },
        ssh_access,
    );
    view! {
        <PageHeader title="SSH access" subtitle="Kiln runs pct on the node over SSH, with its own key and a pinned host key." />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let node = match node.await {
                    Ok(v) => v.node,
                    Err(e) => return Err::<(), AppError>(e).into_any(),
                };
                let access = match access.await {
                    Ok(a) => a,
                    Err(e) => return Err::<(), AppError>(e).into_any(),
                };
                view! {
                    <section class="card">
                        <h2 class="card-title">"1. Authorize this node's key"</h2>
                        <p class="muted small">{format!("Kiln uses a key of its own for each node. Run this on {} as the SSH user (usually root):", node.name)}</p>
                        <div class="copy-row">
                            <pre data-test="authorize-command"><code>{access.authorize_command.clone()}</code></pre>
                            <CopyButton text=access.authorize_command.clone() />
                        </div>
                        <p class="small muted">"Key fingerprint: " <code>{access.fingerprint.clone()}</code></p>
                    </section>
                    <SshForm id=node.id user=node.ssh_user.clone() port=node.ssh_port pinned=node.ssh_host_key.clone() />
                }
                .into_any()
            })}
        </Transition>
    }
}

/// Host key, SSH user and port, key install and test (an island).
#[island]
fn SshForm(id: i64, user: String, port: u16, pinned: Option<String>) -> impl IntoView {
    let toaster = use_toaster();
    let ssh_user = RwSignal::new(user);
    let ssh_port = RwSignal::new(port.to_string());
    let fetched = RwSignal::new(None::<HostKeyInfo>);
    let error = RwSignal::new(None::<AppError>);
    let is_pinned = RwSignal::new(pinned.is_some());
    let field =
        move |f: &'static str| move || error.get().and_then(|e| e.field(f).map(str::to_owned));
    // One closure type for every field's `aria-invalid` (each distinct closure would be
    // compiled into the bundle separately).
    let invalid = move |f: &'static str| move || field(f)().map(|_| "true");

    let fetch = Call::new();
    let on_fetch = move |_| {
        let port = ssh_port.get_untracked().parse::<u16>().unwrap_or(0);
        fetch.run(fetch_host_key(id, port), move |answer| match answer {
            Ok(key) => {
                error.set(None);
                fetched.set(Some(key));
            }
            Err(e) => error.set(Some(e)),
        });
    };
    let save = Call::new();
    let on_trust = move |key: String| {
        let (user, port) = (
            ssh_user.get_untracked(),
            ssh_port.get_untracked().parse::<u16>().unwrap_or(0),
        );
        save.run(save_ssh(id, user, port, key), move |answer| match answer {
            Ok(()) => {
                is_pinned.set(true);
                fetched.set(None);
                toaster.success("Host key pinned. Kiln will refuse the node if it changes.");
            }
            Err(e) => {
                toaster.error(e.to_string());
                error.set(Some(e));
            }
        });
    };
    let password = RwSignal::new(String::new());
    let install = Call::new();
    let on_install = move |_| {
        install.run(
            install_ssh_key(id, password.get_untracked()),
            move |answer| match answer {
                Ok(()) => {
                    password.set(String::new());
                    error.set(None);
                    toaster.success("The key is installed on the node. The password was not kept.");
                }
                Err(e) => error.set(Some(e)),
            },
        );
    };
    let test = Call::new();
    let on_test = move |_| {
        test.run(test_ssh(id), move |answer| match answer {
            Ok(message) => toaster.success(message),
            Err(e) => toaster.error(e.to_string()),
        });
    };

    view! {
        <section class="card form">
            <h2 class="card-title">"2. Confirm the node's host key"</h2>
            // The messages go below the pair, full width: a long one (ssh's own words) must not
            // squeeze the narrow port column.
            <div class="row ssh-target">
                <div class="field spacer">
                    <label for="ssh-user">"SSH user"</label>
                    <input id="ssh-user" bind:value=ssh_user
                        aria-invalid=invalid("ssh_user") aria-describedby="ssh-user-error" />
                </div>
                <div class="field field-port">
                    <label for="ssh-port">"Port"</label>
                    <input id="ssh-port" inputmode="numeric" bind:value=ssh_port
                        aria-invalid=invalid("ssh_port") aria-describedby="ssh-port-error" />
                </div>
            </div>
            <div class="field-error" id="ssh-user-error">{field("ssh_user")}</div>
            <div class="field-error" id="ssh-port-error" data-test="ssh-port-error">{field("ssh_port")}</div>
            <div class="row">
                <button type="button" class="btn" data-test="fetch-host-key"
                    aria-busy=fetch.busy() on:click=on_fetch>"Fetch host key"</button>
                {move || is_pinned.get().then(|| view! { <span class="badge badge-ok">"host key pinned"</span> })}
            </div>
            {move || fetched.get().map(|key| {
                let openssh = key.openssh.clone();
                view! {
                    <p class="small">"Compare with " <code>"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"</code> " on the node:"</p>
                    <dl class="cert" data-test="host-key">
                        <dt>"Type"</dt><dd>{key.algorithm.clone()}</dd>
                        <dt>"Fingerprint"</dt><dd><code>{key.fingerprint.clone()}</code></dd>
                    </dl>
                    <button type="button" class="btn btn-primary" data-test="trust-host-key"
                        aria-busy=save.busy() on:click=move |_| on_trust(openssh.clone())>"Trust this host key"</button>
                }
            })}
            <div class="field-error">{field("host_key")}</div>
        </section>
        <section class="card form">
            <h2 class="card-title">"Or: install the key with a password"</h2>
            <p class="muted small">"Instead of running the command above, Kiln can sign in once with the SSH user's password and install its key. The password is used once and not kept. Confirm the host key first."</p>
            <div class="row">
                <div class="field spacer">
                    <label for="ssh-password">"SSH user's password"</label>
                    <input id="ssh-password" type="password" autocomplete="off" bind:value=password />
                    <div class="field-error">{field("ssh_password")}</div>
                </div>
            </div>
            <button type="button" class="btn" data-test="install-key" disabled=move || !is_pinned.get()
                aria-busy=install.busy() on:click=on_install>"Install key"</button>
        </section>
        <section class="card">
            <h2 class="card-title">"3. Test"</h2>
            <p class="muted small">"Connects with the pinned host key and runs " <code>"pct list"</code> "."</p>
            <button type="button" class="btn" data-test="test-ssh" disabled=move || !is_pinned.get()
                aria-busy=test.busy() on:click=on_test>"Test SSH"</button>
        </section>
    }
}
