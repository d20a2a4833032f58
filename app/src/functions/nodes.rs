//! Proxmox nodes: list, certificate probe (trust on first use), add (token or one-time
//! sign-in), edit, delete, default.

use kiln_shared::AppError;
use kiln_shared::nodes::{NodeInput, NodeSummary, NodeView, PveLogin, TokenCreated};
use kiln_shared::pve::CertificateInfo;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

#[server(prefix = "/api/fn", endpoint = "list_nodes", output = kiln_shared::wire::JsonText)]
pub async fn list_nodes() -> Result<Vec<NodeView>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.list_nodes(&actor).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "get_node", output = kiln_shared::wire::JsonText)]
pub async fn get_node(id: i64) -> Result<NodeView, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.get_node(&actor, id).await
        }
        .await,
    )
}

/// Checks the node now (a card's *Test connection*) and answers with what to tell the user:
/// "<name> answers: Proxmox VE <version>", or 503 with why it is offline. The browser gets a
/// sentence, not the node's whole health (which the page already rendered).
#[server(prefix = "/api/fn", endpoint = "test_node", output = kiln_shared::wire::JsonText)]
pub async fn test_node(id: i64) -> Result<String, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            let view = ssr::nodes_backend()?.get_node(&actor, id).await?;
            if view.health.online {
                Ok(format!(
                    "{} answers: Proxmox VE {}",
                    view.node.name,
                    view.health.version.unwrap_or_default()
                ))
            } else {
                Err(AppError::Unavailable(format!(
                    "{} is offline: {}",
                    view.node.name,
                    view.health.error.unwrap_or_default()
                )))
            }
        }
        .await,
    )
}

/// Connects to `host:port` and returns the certificate for the user to confirm.
#[server(prefix = "/api/fn", endpoint = "probe_node", output = kiln_shared::wire::JsonText)]
pub async fn probe_node(host: String, port: u16) -> Result<CertificateInfo, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?
                .probe_certificate(&actor, &host, port)
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "add_node", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn add_node(input: NodeInput) -> Result<NodeSummary, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.add_node(&actor, input).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "add_node_with_login", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn add_node_with_login(
    input: NodeInput,
    login: PveLogin,
) -> Result<TokenCreated, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?
                .add_node_with_login(&actor, input, login)
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "update_node", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn update_node(id: i64, input: NodeInput) -> Result<NodeSummary, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.update_node(&actor, id, input).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "delete_node", output = kiln_shared::wire::JsonText)]
pub async fn delete_node(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.delete_node(&actor, id).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "set_default_node", output = kiln_shared::wire::JsonText)]
pub async fn set_default_node(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.set_default_node(&actor, id).await
        }
        .await,
    )
}

/// The SSH public key Kiln uses for the node `id` and the command that authorizes it there.
#[server(prefix = "/api/fn", endpoint = "ssh_access", output = kiln_shared::wire::JsonText)]
pub async fn ssh_access(id: i64) -> Result<kiln_shared::nodes::SshAccess, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.ssh_access(&actor, id).await
        }
        .await,
    )
}

/// The node's SSH host key, to confirm before pinning it.
#[server(prefix = "/api/fn", endpoint = "fetch_host_key", output = kiln_shared::wire::JsonText)]
pub async fn fetch_host_key(
    id: i64,
    ssh_port: u16,
) -> Result<kiln_shared::nodes::HostKeyInfo, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?
                .fetch_host_key(&actor, id, ssh_port)
                .await
        }
        .await,
    )
}

/// Saves the SSH user and port and pins the confirmed host key.
#[server(prefix = "/api/fn", endpoint = "save_ssh", output = kiln_shared::wire::JsonText)]
pub async fn save_ssh(
    id: i64,
    ssh_user: String,
    ssh_port: u16,
    host_key: String,
) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?
                .save_ssh(&actor, id, &ssh_user, ssh_port, &host_key)
                .await
        }
        .await,
    )
}

/// Runs `pct list` over SSH with the pinned host key.
#[server(prefix = "/api/fn", endpoint = "test_ssh", output = kiln_shared::wire::JsonText)]
pub async fn test_ssh(id: i64) -> Result<String, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?.test_ssh(&actor, id).await
        }
        .await,
    )
}

/// Installs Kiln's key on the node with the SSH user's password (used once, never kept).
#[server(prefix = "/api/fn", endpoint = "install_ssh_key", output = kiln_shared::wire::JsonText)]
pub async fn install_ssh_key(id: i64, password: String) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::nodes_backend()?
                .install_ssh_key(&actor, id, &password)
                .await
        }
        .await,
    )
}
