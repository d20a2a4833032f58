//! `POST /api/v1/containers`: a creation from a template with the wizard's parameters —
//! `ContainerService::create`, the wizard's own call, so the rules and the 422s are the
//! wizard's —, answered 202 with the container and its creation job.
//!
//! **Idempotency.** With an `Idempotency-Key` header (1–255 printable ASCII characters,
//! else 400) a retried request never creates a second container: the same user's same key
//! with the same request (its secrets aside) answers the first attempt's container and job
//! again, 202 with `Idempotent-Replayed: true`; with another request, 409. The key is stored
//! on the container's row in the insert that creates it, under a unique index, so two
//! retries at once create one container too (`ContainerService::create_with_key`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_shared::containers::CreateRequest;
use serde::{Deserialize, Serialize};

use super::ContainerView;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, Caller};
use crate::api::jobs::JobView;
use crate::app_state::AppState;
use crate::containers::service::{Accepted, ContainerService};

/// The request header that makes a creation idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header of an answer replayed for a known key.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest idempotency key, in characters.
pub const MAX_KEY: usize = 255;

/// A creation accepted: the container (`status` `creating`) and the job that creates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreationAccepted {
    pub container: ContainerView,
    /// Follow it with `GET /jobs/{id}` or `GET /jobs/{id}/events`.
    pub job: JobView,
}

/// The request's idempotency key: none, or 1–255 printable ASCII characters (400 else).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let refused = || {
        ApiError::BadRequest(format!(
            "`Idempotency-Key` must be 1 to {MAX_KEY} printable ASCII characters."
        ))
    };
    let key = value.to_str().map_err(|_| refused())?;
    let printable = key.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if key.is_empty() || key.len() > MAX_KEY || !printable {
        return Err(refused());
    }
    Ok(Some(key.to_owned()))
}

/// Creates a container from a template (or a plain OS template) with the wizard's
/// parameters; see the module docs for `Idempotency-Key`. The creation runs as a job: follow
/// it with `GET /jobs/{id}/events` (or poll `GET /jobs/{id}`).
#[utoipa::path(post, path = "/containers", operation_id = "create_container", tag = "containers", request_body = CreateRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1–255 printable characters: a retry with the same key and request \
            answers the first attempt's container and job instead of creating another")),
    responses(
        (status = 202, body = CreationAccepted, headers(
            ("Location" = String, description = "The container: /api/v1/containers/{id}"),
            ("Idempotent-Replayed" = String,
                description = "`true` when an earlier request with this key created it"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let service = ContainerService::new(state.clone());
    let accepted = match key {
        Some(key) => {
            service
                .create_with_key(&caller.actor, request, &key)
                .await?
        }
        None => Accepted {
            created: service.create(&caller.actor, request).await?,
            replayed: false,
        },
    };
    let id = accepted.created.id;
    let body = CreationAccepted {
        container: ContainerView::read(&state, &caller.actor, id).await?,
        job: JobView::read(&state, &caller.actor, accepted.created.job_id).await?,
    };
    let mut response = (StatusCode::ACCEPTED, ApiJson(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("{}/containers/{id}", crate::api::BASE)) {
        headers.insert(header::LOCATION, location);
    }
    if accepted.replayed {
        headers.insert(
            HeaderName::from_static(REPLAYED),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_printable_text() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(IDEMPOTENCY_KEY, v);
            }
            idempotency_key(&headers)
        };
        assert_eq!(idempotency_key(&HeaderMap::new()), Ok(None));
        assert_eq!(with("ci-run 42/a"), Ok(Some("ci-run 42/a".to_owned())));
        assert_eq!(with(&"k".repeat(MAX_KEY)), Ok(Some("k".repeat(MAX_KEY))));
        assert!(with(&"k".repeat(MAX_KEY + 1)).is_err());
        assert!(with("tab\there").is_err());
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_static(""));
        assert!(idempotency_key(&headers).is_err());
    }
}
