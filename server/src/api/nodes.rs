//! `/api/v1/nodes`: the caller's Proxmox nodes, one node, and its health — adapters over
//! `NodeService` (the nodes page's backend), so a node is its owner's alone (anyone else:
//! 404, administrators included) and each answer is what the page shows.
//!
//! Read-only on purpose: adding or editing a node pins its TLS certificate (and, for SSH,
//! its host key) after a person compares the fingerprint Kiln saw with the node's own —
//! trust on first use is a decision made in the UI, not by a script. No answer holds a
//! token secret or an SSH key: `NodeSummary` has neither (the token's id, the SSH user and
//! the pinned host key's public line only).

use axum::extract::State;
use kiln_app::ssr::NodesBackend;
use kiln_shared::metrics::NodeWatch;
use kiln_shared::nodes::{NodeHealth, NodeView};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{Page, PageQuery};
use crate::app_state::AppState;
use crate::nodes::NodeService;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(health))
}

/// A node's health as the nodes page shows it: a live check now (reachable, PVE version,
/// cluster members, privileges the token lacks, a changed certificate) and what the monitor
/// last saw (`watch`: unreachable since, last seen).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeHealthView {
    pub node_id: i64,
    pub name: String,
    pub health: NodeHealth,
    pub watch: Option<NodeWatch>,
}

/// The caller's nodes by id, each with a live health check (a node that does not answer is
/// listed with `health.online = false` and why). Nodes are added and edited in the UI only
/// (the certificate is pinned by a person).
#[utoipa::path(get, operation_id = "list_nodes", path = "/nodes", tag = "nodes", params(PageQuery),
    responses((status = 200, body = Page<NodeView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<NodeView>>, ApiError> {
    let nodes = NodeService::new(state).list_nodes(&caller.actor).await?;
    Ok(ApiJson(page.page(nodes, |n| n.node.id)?))
}

/// One of the caller's nodes with its health (404 for another user's).
#[utoipa::path(get, operation_id = "get_node", path = "/nodes/{id}", tag = "nodes",
    params(("id" = i64, Path, description = "The node's id")),
    responses((status = 200, body = NodeView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<NodeView>, ApiError> {
    Ok(ApiJson(
        NodeService::new(state).get_node(&caller.actor, id).await?,
    ))
}

/// The node's health, checked now. A node that does not answer is a 200 with
/// `health.online = false` and the reason in `health.error`, not an error.
#[utoipa::path(get, operation_id = "node_health", path = "/nodes/{id}/health", tag = "nodes",
    params(("id" = i64, Path, description = "The node's id")),
    responses((status = 200, body = NodeHealthView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn health(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<NodeHealthView>, ApiError> {
    let view = NodeService::new(state).get_node(&caller.actor, id).await?;
    Ok(ApiJson(NodeHealthView {
        node_id: view.node.id,
        name: view.node.name,
        health: view.health,
        watch: view.watch,
    }))
}
