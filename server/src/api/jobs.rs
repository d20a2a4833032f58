//! `/api/v1/jobs`: the durable jobs that carry a container's creation and deletion — a job's
//! status (`GET /jobs/{id}`, what `kiln ct create --wait` polls) and its progress as
//! Server-Sent Events (`GET /jobs/{id}/events`).
//!
//! A job is visible to its container's owner or an administrator (anyone else: 404), as
//! `ContainerService::job` decides. Its events are its container's: the stream is the one
//! of the container's page (`containers::progress::Watch`, the same replay from
//! `Last-Event-ID` or `?after=`, the same `end` message), not a second implementation.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::app_state::AppState;
use crate::containers::progress::{Watch, last_event_id};
use crate::containers::service::ContainerService;
use crate::containers::{CREATE_JOB, DELETE_JOB};
use crate::jobs::{JobRow, JobState};

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get))
        .routes(routes!(events))
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// It did what it was for.
    Succeeded,
    /// It failed (`error` says why; a failed creation can be retried).
    Failed,
    /// It was cancelled.
    Cancelled,
}

impl From<JobState> for JobStatus {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Queued => JobStatus::Queued,
            JobState::Running => JobStatus::Running,
            JobState::Succeeded => JobStatus::Succeeded,
            JobState::Failed => JobStatus::Failed,
            JobState::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// A job as its owner sees it (never its payload: ids and options only, but internal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: i64,
    /// `container.create` or `container.delete`.
    pub kind: String,
    pub state: JobStatus,
    /// The phase it is in (or failed in): `allocate`, `create`, `start`, `network`, `files`,
    /// `packages`, `scripts`, `discover`, `ready` for a creation; `cancel-creation`,
    /// `destroy`, `forget` for a deletion.
    pub phase: Option<String>,
    /// Runs so far (a run interrupted by a restart counts).
    pub attempts: i32,
    /// Why it failed (never a secret: jobs keep them out of their errors).
    pub error: Option<String>,
    /// Someone asked it to stop; it does at its next safe point.
    pub cancel_requested: bool,
    /// The container it is about (`GET /containers/{id}`; gone after a deletion).
    pub container_id: Option<i64>,
    /// A creation's progress, 0–100, as the progress bar shows it (by phase); a deletion's
    /// only once it succeeded (100).
    pub percent: Option<u32>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// When it ended (succeeded, failed or cancelled).
    pub finished_at: Option<String>,
}

impl JobView {
    /// The view of `job`, about `container_id`.
    pub fn new(job: JobRow, container_id: Option<i64>) -> Self {
        let succeeded = job.state == JobState::Succeeded;
        let percent = match job.kind.as_str() {
            CREATE_JOB => Some(kiln_shared::progress::percent(
                job.phase.as_deref(),
                succeeded,
            )),
            DELETE_JOB if succeeded => Some(100),
            _ => None,
        };
        JobView {
            id: job.id,
            kind: job.kind,
            state: job.state.into(),
            phase: job.phase,
            attempts: job.attempts,
            error: job.error,
            cancel_requested: job.cancel_requested,
            container_id,
            percent,
            created_at: job.created_at.to_rfc3339(),
            updated_at: job.updated_at.to_rfc3339(),
            finished_at: job.finished_at.map(|t| t.to_rfc3339()),
        }
    }

    /// Job `id` as `actor` may see it (404 otherwise).
    pub async fn read(state: &AppState, actor: &Actor, id: i64) -> Result<Self, AppError> {
        let (job, container) = ContainerService::new(state.clone()).job(actor, id).await?;
        Ok(JobView::new(job, container))
    }
}

/// A job's status.
#[utoipa::path(get, path = "/jobs/{id}", operation_id = "get_job", tag = "jobs",
    params(("id" = i64, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<JobView>, ApiError> {
    Ok(ApiJson(JobView::read(&state, &caller.actor, id).await?))
}

/// Where an event stream's replay starts.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AfterQuery {
    /// Replay the events after this number (ignored when `Last-Event-ID` is sent).
    pub after: Option<i64>,
}

/// A job's progress as Server-Sent Events: its container's events after `Last-Event-ID`
/// (else `?after=`, else from the first), then live ones, then `event: end` with
/// `{"status", "error"}` once the container is `ready` or `failed` (`deleted` when a
/// deletion removed it). Each event: `id:` its number, `event:` `phase`, `log` or
/// `outcome`, `data:` `{"seq", "at", "phase", "kind", "text"}`. A reconnect
/// (`Last-Event-ID`) with nothing left, or a finished job whose container is gone, is
/// answered 204: stop reconnecting.
#[utoipa::path(get, path = "/jobs/{id}/events", operation_id = "job_events", tag = "jobs",
    params(("id" = i64, Path, description = "The job's id"),
        ("Last-Event-ID" = Option<i64>, Header,
            description = "The number of the last event received: the replay starts after it"),
        AfterQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "The event stream"),
        (status = 204, description = "Nothing left to send: the job is over"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<AfterQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (job, container) = ContainerService::new(state.clone())
        .job(&caller.actor, id)
        .await?;
    let over = job.state.is_finished();
    let Some(container) = container else {
        return Err(ApiError::not_found(format!("events of job {id}")));
    };
    let last_event_id = last_event_id(&headers);
    let after = last_event_id.or(query.after).unwrap_or(0);
    match Watch::open(&state, &caller.actor, container, after).await {
        Ok(watch) if last_event_id.is_some() && watch.is_over() => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Ok(watch) => Ok(watch.into_response()),
        // A finished deletion took the container and its events with it.
        Err(AppError::NotFound(_)) if over => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(e.into()),
    }
}
