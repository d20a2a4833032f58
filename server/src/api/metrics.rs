//! `/api/v1/containers/{id}/metrics` and `/api/v1/nodes/{id}/metrics`: a resource history as
//! the charts draw it and the JSON export downloads it (`Series`) — adapters over
//! `MonitorService` (the charts' backend): a container's history is seen by its owner or an
//! administrator, a node member's by the node's owner (404 for anyone else).
//!
//! `range` is one of `1h` (default), `24h`, `7d`, `30d`, `1y`; `member` a cluster member's
//! PVE node name. Anything else is 422 naming the parameter (the export routes' rules).

use axum::extract::State;
use kiln_app::ssr::MetricsBackend;
use kiln_shared::metrics::{Series, Subject};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::app_state::AppState;
use crate::monitor::MonitorService;
use crate::routes::metrics_export::{member_of, range_of};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(container))
        .routes(routes!(member))
}

/// Which history of a container.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// `1h` (default), `24h`, `7d`, `30d` or `1y`: the span ending now.
    pub range: Option<String>,
}

/// Which history of a node.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// The cluster member (its PVE node name; a single node's own name).
    pub member: Option<String>,
    /// `1h` (default), `24h`, `7d`, `30d` or `1y`: the span ending now.
    pub range: Option<String>,
}

/// Container `id`'s history: one line per field (avg/min/max per slot; `null` where the slot
/// has no sample).
#[utoipa::path(get, operation_id = "container_metrics", path = "/containers/{id}/metrics", tag = "metrics",
    params(("id" = i64, Path, description = "The container's id"), RangeQuery),
    responses((status = 200, body = Series), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn container(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<ApiJson<Series>, ApiError> {
    let range = range_of(query.range.as_deref())?;
    let series = MonitorService::new(state)
        .series(&caller.actor, Subject::Container(id), range)
        .await?;
    Ok(ApiJson(series))
}

/// A cluster member's history (node `id`'s member `member`), with its load average.
#[utoipa::path(get, operation_id = "node_metrics", path = "/nodes/{id}/metrics", tag = "metrics",
    params(("id" = i64, Path, description = "The node's id"), MemberQuery),
    responses((status = 200, body = Series), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<MemberQuery>,
) -> Result<ApiJson<Series>, ApiError> {
    let subject = member_of(id, query.member.as_deref())?;
    let range = range_of(query.range.as_deref())?;
    let series = MonitorService::new(state)
        .series(&caller.actor, subject, range)
        .await?;
    Ok(ApiJson(series))
}
