//! `GET /api/v1/nodes/{id}/choices`: what one of the user's nodes offers a new container —
//! root-disk storages, OS templates, bridges, the next free VMID — read from the node as the
//! wizard's Configure step reads it (`ContainerService::node_choices`, the same call).
//! `kiln ct create` fills the storage, OS template and bridge it was not given from this,
//! with the wizard's rule (`NodeChoices::fill`).

use axum::extract::State;
use kiln_shared::containers::NodeChoices;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::app_state::AppState;
use crate::containers::service::ContainerService;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(choices))
}

/// What the node offers a new container, asked of the node now (503 when it does not
/// answer; 404 for a node that is not the caller's).
#[utoipa::path(get, path = "/nodes/{id}/choices", operation_id = "node_choices", tag = "nodes",
    params(("id" = i64, Path, description = "The node's id")),
    responses((status = 200, body = NodeChoices), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn choices(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<NodeChoices>, ApiError> {
    Ok(ApiJson(
        ContainerService::new(state)
            .node_choices(&caller.actor, id)
            .await?,
    ))
}
