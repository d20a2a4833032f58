//! `/api/v1/alerts`: the alerts page (active alerts, recent history, deliveries in trouble),
//! acknowledging one, and the caller's rules and channels — adapters over `AlertService` (the
//! alerts pages' backend): everything belongs to one user, another user's alert is 404
//! (administrators included), and an acknowledgement is audited.
//!
//! A channel is shown as the settings page shows it: its name, kind and `url_hint` (scheme
//! and host) — never its whole URL (a Discord or Slack URL is itself a secret) nor a
//! webhook's signing key.

use axum::extract::State;
use kiln_app::ssr::AlertsBackend;
use kiln_shared::alerts::{Alert, AlertsOverview, Channel, Rule};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::alerts::AlertService;
use crate::app_state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(acknowledge))
        .routes(routes!(rules))
        .routes(routes!(channels))
}

/// The active alerts, the recent history and the deliveries that failed or are retried.
#[utoipa::path(get, operation_id = "list_alerts", path = "/alerts", tag = "alerts",
    responses((status = 200, body = AlertsOverview), (status = 401, body = ErrorBody)))]
async fn overview(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<AlertsOverview>, ApiError> {
    Ok(ApiJson(
        AlertService::new(state).overview(&caller.actor).await?,
    ))
}

/// Acknowledges an alert: it stays active until it resolves, but no longer counts as new.
/// Acknowledging it again changes nothing.
#[utoipa::path(post, operation_id = "acknowledge_alert", path = "/alerts/{id}/acknowledge", tag = "alerts",
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, body = Alert), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<Alert>, ApiError> {
    Ok(ApiJson(
        AlertService::new(state)
            .acknowledge(&caller.actor, id)
            .await?,
    ))
}

/// The caller's alert rules (the defaults are made on first read, as on the page).
#[utoipa::path(get, operation_id = "list_alert_rules", path = "/alerts/rules", tag = "alerts",
    responses((status = 200, body = Vec<Rule>), (status = 401, body = ErrorBody)))]
async fn rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Vec<Rule>>, ApiError> {
    let settings = AlertService::new(state).settings(&caller.actor).await?;
    Ok(ApiJson(settings.rules))
}

/// The caller's notification channels, each with its last delivery.
#[utoipa::path(get, operation_id = "list_alert_channels", path = "/alerts/channels", tag = "alerts",
    responses((status = 200, body = Vec<Channel>), (status = 401, body = ErrorBody)))]
async fn channels(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Vec<Channel>>, ApiError> {
    let settings = AlertService::new(state).settings(&caller.actor).await?;
    Ok(ApiJson(settings.channels))
}
