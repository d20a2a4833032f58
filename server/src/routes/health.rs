//! `/healthz` (the process answers) and `/readyz` (PostgreSQL and Redis answer, else 503).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app_state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (db, redis) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.db_ready()),
        tokio::time::timeout(CHECK_TIMEOUT, state.redis_ready()),
    );
    let verdict = |r: Result<anyhow::Result<()>, tokio::time::error::Elapsed>, what: &str| match r {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: {what} is not answering");
            Some("unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness: {what} timed out");
            Some("timeout")
        }
    };
    let db = verdict(db, "postgres");
    let redis = verdict(redis, "redis");
    let ready = db.is_none() && redis.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "unavailable" },
            "postgres": db.unwrap_or("ok"),
            "redis": redis.unwrap_or("ok"),
        })),
    )
}
