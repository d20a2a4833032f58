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
