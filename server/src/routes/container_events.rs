//! `GET /containers/{id}/events`: a container's creation progress as Server-Sent Events, for
//! its owner or an administrator (anyone else: 404; signed out: 401, answered by the gate).
//! The stream itself is `containers::progress`.
//!
//! Where the replay starts: the `Last-Event-ID` header (an `EventSource` reconnecting), else
//! `?after=N` (a new `EventSource` sends no header, so a page that already shows events 1..N
//! asks for the rest this way), else the beginning. The header wins when both are given.
//! A reconnect to a finished container with nothing left to send is answered
//! `204 No Content`, which tells the browser to stop reconnecting.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_app::ssr::RequestCtx;
use kiln_shared::AppError;
use serde::Deserialize;

use crate::app_state::AppState;
use crate::containers::progress::{Watch, last_event_id};

/// The query string.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// Replay the events after this number (ignored when `Last-Event-ID` is sent).
    after: Option<i64>,
}

/// The handler: see the module docs.
pub async fn container_events(
    State(state): State<AppState>,
    ctx: Option<Extension<RequestCtx>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let Some(actor) = ctx.and_then(|Extension(ctx)| ctx.actor()) else {
        return refusal(&AppError::Unauthorized);
    };
    let Ok(id) = id.parse::<i64>() else {
        return refusal(&AppError::NotFound(format!("container {id}")));
    };
    let last_event_id = last_event_id(&headers);
    let after = last_event_id.or(params.after).unwrap_or(0);
    match Watch::open(&state, &actor, id, after).await {
        Ok(watch) if last_event_id.is_some() && watch.is_over() => {
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(watch) => watch.into_response(),
        Err(e) => refusal(&e),
    }
}

/// A refusal as the JSON `AppError`, like the gate's.
fn refusal(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(err).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
