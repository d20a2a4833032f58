//! `POST /api/v1/containers/{id}/actions/{action}` and `DELETE /api/v1/containers/{id}`: the
//! lifecycle actions the container page offers — `start`, `shutdown`, `stop`, `reboot`
//! (`ContainerService::act`: under the container's lock, answered once the node's task
//! ended), `delete` (the deletion job), and for a creation `retry`, `cancel` and
//! `skip-script` (a retry that skips the script that did not finish).
//!
//! The service's refusals are kept with their messages: 409 when the container is not in a
//! state the action is for ("web-1 is creating: only a finished container can be started")
//! or another action holds its lock ("busy: stop since 10:02:03 UTC by ada"). With
//! `If-Match`, 412 when the container's version (its `ETag`, see the parent module) changed
//! since the client read it. 202 when a job carries the action on (`job` in the answer),
//! 200 when it is done.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_shared::auth::Actor;
use kiln_shared::inventory::{Action, State as GuestState};
use serde::{Deserialize, Serialize};

use super::ContainerView;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::etag;
use crate::api::extract::{ApiJson, ApiPath, Caller};
use crate::api::jobs::JobView;
use crate::app_state::AppState;
use crate::containers::service::ContainerService;

/// What the API can do to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    /// A lifecycle action (`kiln_shared::inventory::Action`).
    Lifecycle(Action),
    /// Runs a failed creation again from the phase it failed in.
    Retry,
    /// Cancels a creation under way.
    Cancel,
    /// Retries a creation that failed in its scripts, skipping the unfinished one.
    SkipScript,
}

impl Verb {
    /// Every verb's word, for the 404 of an unknown one.
    const OTHERS: [&str; 3] = ["retry", "cancel", "skip-script"];

    fn parse(word: &str) -> Option<Verb> {
        match word {
            "retry" => Some(Verb::Retry),
            "cancel" => Some(Verb::Cancel),
            "skip-script" => Some(Verb::SkipScript),
            other => Action::parse(other).map(Verb::Lifecycle),
        }
    }
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionResult {
    /// The container.
    pub id: i64,
    /// The action (`start`, …, `retry`, `cancel`, `skip-script`).
    pub action: String,
    /// Whether it did (or, with a job, started) what was asked: a power task that failed or
    /// a shutdown that did not finish in time is `false`, with the reason in `message`.
    pub ok: bool,
    /// What to tell the user ("web-1 stopped", "web-1 is already running", ...).
    pub message: String,
    /// The container's state now, when known.
    pub state: Option<GuestState>,
    /// A shutdown that did not finish in time: `stop` is the way on.
    pub offer_stop: bool,
    /// The job that carries the action on (a deletion, a retried creation, a cancellation
    /// the running creation acts on at its next safe point).
    pub job: Option<JobView>,
}

/// 412 when the request's `If-Match` names another version of container `id` than its
/// current one (nothing to compare without the header).
async fn check_version(
    state: &AppState,
    actor: &Actor,
    id: i64,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if !headers.contains_key(header::IF_MATCH) {
        return Ok(());
    }
    let current = ContainerView::read(state, actor, id).await?.version();
    etag::check_if_match(headers, &current)
}

/// The answer: 202 with a job that is not over yet, else 200.
fn answer(result: ActionResult) -> Response {
    let status = match &result.job {
        Some(job) if job.finished_at.is_none() => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    (status, ApiJson(result)).into_response()
}

/// The creation job of container `id`, as the actor sees it.
async fn creation_job(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<Option<JobView>, ApiError> {
    let row = ContainerService::new(state.clone()).get(actor, id).await?;
    match row.job_id {
        Some(job) => Ok(Some(JobView::read(state, actor, job).await?)),
        None => Ok(None),
    }
}

/// Runs `verb` on container `id`.
async fn run(
    state: &AppState,
    actor: &Actor,
    id: i64,
    verb: Verb,
    word: &str,
) -> Result<ActionResult, ApiError> {
    let service = ContainerService::new(state.clone());
    let result = |ok: bool, message: String, job: Option<JobView>| ActionResult {
        id,
        action: word.to_owned(),
        ok,
        message,
        state: None,
        offer_stop: false,
        job,
    };
    Ok(match verb {
        Verb::Lifecycle(Action::Delete) => {
            let (done, job) = service.act_delete(actor, id).await?;
            ActionResult {
                state: done.state,
                job: Some(JobView::read(state, actor, job).await?),
                ..result(done.ok, done.message, None)
            }
        }
        Verb::Lifecycle(action) => {
            let done = service.act(actor, id, action).await?;
            ActionResult {
                state: done.state,
                offer_stop: done.offer_stop,
                ..result(done.ok, done.message, None)
            }
        }
        Verb::Retry => {
            service.retry(actor, id).await?;
            let job = creation_job(state, actor, id).await?;
            result(
                true,
                "the creation runs again from the phase it failed in".into(),
                job,
            )
        }
        Verb::Cancel => {
            let at_once = service.cancel(actor, id).await?;
            let message = if at_once {
                "the creation was cancelled before it started"
            } else {
                "the creation stops at its next safe point"
            };
            let job = creation_job(state, actor, id).await?;
            result(true, message.into(), job)
        }
        Verb::SkipScript => {
            let script = service.retry_skipping_script(actor, id).await?;
            let job = creation_job(state, actor, id).await?;
            result(
                true,
                format!("the creation runs again without the script {script}"),
                job,
            )
        }
    })
}

/// Runs an action on a container (see the module docs): `start`, `shutdown`, `stop`,
/// `reboot` (answered once the node's task ended), `delete`, and for a creation `retry`,
/// `cancel`, `skip-script`.
#[utoipa::path(post, path = "/containers/{id}/actions/{action}", operation_id = "container_action", tag = "containers",
    params(("id" = i64, Path, description = "The container's id"),
        ("action" = String, Path,
            description = "start, shutdown, stop, reboot, delete, retry, cancel, skip-script"),
        ("If-Match" = Option<String>, Header,
            description = "The container's ETag: 412 when it changed since")),
    responses(
        (status = 200, body = ActionResult, description = "Done"),
        (status = 202, body = ActionResult, description = "A job carries it on (`job`)"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn act(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((id, word)): ApiPath<(i64, String)>,
) -> Result<Response, ApiError> {
    let verb = Verb::parse(&word).ok_or_else(|| {
        let known: Vec<&str> = Action::ALL
            .iter()
            .map(|a| a.as_str())
            .chain(Verb::OTHERS)
            .collect();
        ApiError::not_found(format!(
            "action `{word}` (the actions: {})",
            known.join(", ")
        ))
    })?;
    check_version(&state, &caller.actor, id, &headers).await?;
    Ok(answer(run(&state, &caller.actor, id, verb, &word).await?))
}

/// Deletes a container (any status; a creation under way is cancelled): it is `deleting` at
/// once, then destroyed on its node and forgotten by the deletion job (`job`).
#[utoipa::path(delete, path = "/containers/{id}", operation_id = "delete_container", tag = "containers",
    params(("id" = i64, Path, description = "The container's id"),
        ("If-Match" = Option<String>, Header,
            description = "The container's ETag: 412 when it changed since")),
    responses(
        (status = 202, body = ActionResult, description = "The deletion job is under way"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 412, body = ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    check_version(&state, &caller.actor, id, &headers).await?;
    let verb = Verb::Lifecycle(Action::Delete);
    Ok(answer(
        run(&state, &caller.actor, id, verb, Action::Delete.as_str()).await?,
    ))
}
