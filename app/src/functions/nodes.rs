//! Proxmox nodes: list, certificate probe (trust on first use), add (token or one-time
//! sign-in), edit, delete, default.

use kiln_shared::AppError;
use kiln_shared::nodes::{NodeInput, NodeSummary, NodeView, PveLogin, TokenCreated};
use kiln_shared::pve::CertificateInfo;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

#[server(prefix = "/api/fn", endpoint = "list_nodes")]
pub async fn list_nodes() -> Result<Vec<NodeView>, AppError> {
    ssr::respond(
        async {
            let (_, user) = ssr::require_user()?;
            ssr::nodes_backend()?.list_nodes(&user).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "get_node")]
pub async fn get_node(id: i64) -> Result<NodeView, AppError> {
    ssr::respond(
        async {
            let (_, user) = ssr::require_user()?;
            ssr::nodes_backend()?.get_node(&user, id).await
        }
        .await,
    )
}

/// Connects to `host:port` and returns the certificate for the user to confirm.
#[server(prefix = "/api/fn", endpoint = "probe_node")]
pub async fn probe_node(host: String, port: u16) -> Result<CertificateInfo, AppError> {
    ssr::respond(
        async {
            ssr::require_user()?;
            ssr::nodes_backend()?.probe_certificate(&host, port).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "add_node", input = server_fn::codec::Json)]
pub async fn add_node(input: NodeInput) -> Result<NodeSummary, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            input.validate(true)?;
            ssr::nodes_backend()?.add_node(&ctx, &user, input).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "add_node_with_login", input = server_fn::codec::Json)]
pub async fn add_node_with_login(
    input: NodeInput,
    login: PveLogin,
) -> Result<TokenCreated, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            login.validate()?;
            ssr::nodes_backend()?
                .add_node_with_login(&ctx, &user, input, login)
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "update_node", input = server_fn::codec::Json)]
pub async fn update_node(id: i64, input: NodeInput) -> Result<NodeSummary, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            input.validate(false)?;
            ssr::nodes_backend()?
                .update_node(&ctx, &user, id, input)
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "delete_node")]
pub async fn delete_node(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            ssr::nodes_backend()?.delete_node(&ctx, &user, id).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "set_default_node")]
pub async fn set_default_node(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            ssr::nodes_backend()?
                .set_default_node(&ctx, &user, id)
                .await
        }
        .await,
    )
}

/// The SSH public key Kiln uses for the node `id` and the command that authorizes it there.
#[server(prefix = "/api/fn", endpoint = "ssh_access")]
pub async fn ssh_access(id: i64) -> Result<kiln_shared::nodes::SshAccess, AppError> {
    ssr::respond(
        async {
            let (_, user) = ssr::require_user()?;
            ssr::nodes_backend()?.ssh_access(&user, id).await
        }
        .await,
    )
}

/// The node's SSH host key, to confirm before pinning it.
#[server(prefix = "/api/fn", endpoint = "fetch_host_key")]
pub async fn fetch_host_key(
    id: i64,
    ssh_port: u16,
) -> Result<kiln_shared::nodes::HostKeyInfo, AppError> {
    ssr::respond(
        async {
            let (_, user) = ssr::require_user()?;
            kiln_shared::nodes::port(ssh_port).map_err(|m| AppError::invalid("ssh_port", m))?;
            ssr::nodes_backend()?
                .fetch_host_key(&user, id, ssh_port)
                .await
        }
        .await,
    )
}

/// Saves the SSH user and port and pins the confirmed host key.
#[server(prefix = "/api/fn", endpoint = "save_ssh")]
pub async fn save_ssh(
    id: i64,
    ssh_user: String,
    ssh_port: u16,
    host_key: String,
) -> Result<(), AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            let mut errors = kiln_shared::FieldErrors::default();
            errors.check("ssh_user", kiln_shared::nodes::ssh_user(&ssh_user));
            errors.check("ssh_port", kiln_shared::nodes::port(ssh_port));
            if host_key.trim().is_empty() {
                errors.add("host_key", "Fetch and confirm the node's host key first.");
            }
            errors.into_result()?;
            ssr::nodes_backend()?
                .save_ssh(&ctx, &user, id, &ssh_user, ssh_port, &host_key)
                .await
        }
        .await,
    )
}

/// Runs `pct list` over SSH with the pinned host key.
#[server(prefix = "/api/fn", endpoint = "test_ssh")]
pub async fn test_ssh(id: i64) -> Result<String, AppError> {
    ssr::respond(
        async {
            let (_, user) = ssr::require_user()?;
            ssr::nodes_backend()?.test_ssh(&user, id).await
        }
        .await,
    )
}

/// Installs Kiln's key on the node with the SSH user's password (used once, never kept).
#[server(prefix = "/api/fn", endpoint = "install_ssh_key")]
pub async fn install_ssh_key(id: i64, password: String) -> Result<(), AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            if password.is_empty() || password.len() > 1024 {
                return Err(AppError::invalid(
                    "ssh_password",
                    "Enter the SSH user's password.",
                ));
            }
            ssr::nodes_backend()?
                .install_ssh_key(&ctx, &user, id, &password)
                .await
        }
        .await,
    )
}
