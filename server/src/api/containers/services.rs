//! What discovery found in a container — its services with their web links and the keys of
//! their credentials (`GET /containers/{id}/services`), one credential's value on explicit
//! request (`GET /containers/{id}/credentials/{service}/{key}`) — and its events as a JSON
//! page (`GET /containers/{id}/events`; the live stream is `GET /jobs/{id}/events`).
//!
//! Architecture Invariant: a credential's value leaves Kiln through the API only in the
//! answer of the credential route, which `ContainerService::reveal_credential` serves (and
//! audits as `container.credential.reveal`, without the value); a read-only token is refused
//! before the service is asked (403), since reading a secret is more than reading.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kiln_shared::AppError;
use kiln_shared::containers::ServiceView;
use kiln_shared::progress::ContainerEvent;
use serde::{Deserialize, Serialize};

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::jobs::AfterQuery;
use crate::api::page::{Page, PageQuery};
use crate::app_state::AppState;
use crate::containers::service::{ContainerService, MAX_EVENTS};
use crate::db::audit::{Entry, Outcome};

/// A container's services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Services {
    /// The services discovery found (`web_url`: a link to its web interface).
    pub services: Vec<ServiceView>,
    /// Credentials of no found service: (service, keys).
    pub other_credentials: Vec<(String, Vec<String>)>,
}

/// The services discovery found in a container, with their web links and the keys of their
/// credentials (never a value).
#[utoipa::path(get, path = "/containers/{id}/services", operation_id = "container_services", tag = "containers",
    params(("id" = i64, Path, description = "The container's id")),
    responses((status = 200, body = Services), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn services(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<Services>, ApiError> {
    let detail = ContainerService::new(state)
        .detail(&caller.actor, id)
        .await?;
    Ok(ApiJson(Services {
        services: detail.services,
        other_credentials: detail.other_credentials,
    }))
}

/// A credential's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    pub service: String,
    pub key: String,
    pub value: String,
}

/// One credential's value, on explicit request: audited (`container.credential.reveal`),
/// never cached (`Cache-Control: no-store`); a read-only token gets 403.
#[utoipa::path(get, path = "/containers/{id}/credentials/{service}/{key}", operation_id = "reveal_credential", tag = "containers",
    params(("id" = i64, Path, description = "The container's id"),
        ("service" = String, Path, description = "The service (or the credentials file's name)"),
        ("key" = String, Path, description = "The credential's key")),
    responses((status = 200, body = Credential), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn credential(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, service, key)): ApiPath<(i64, String, String)>,
) -> Result<Response, ApiError> {
    if caller.read_only {
        let target = format!("container {id}: {service}/{key}");
        state
            .audit(Entry {
                outcome: Outcome::Denied,
                detail: serde_json::json!({ "reason": "read_only_token" }),
                ..Entry::by(&caller.actor, "container.credential.reveal").on(&target)
            })
            .await;
        return Err(AppError::Forbidden(
            "This token is read-only: it cannot reveal credentials.".into(),
        )
        .into());
    }
    let value = ContainerService::new(state)
        .reveal_credential(&caller.actor, id, &service, &key)
        .await?;
    let mut response = ApiJson(Credential {
        service,
        key,
        value,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A container's events (its creation's phases, logs and outcome, its actions), oldest
/// first, after event number `after` (or the `cursor` of the previous page).
#[utoipa::path(get, path = "/containers/{id}/events", operation_id = "container_events", tag = "containers",
    params(("id" = i64, Path, description = "The container's id"), AfterQuery, PageQuery),
    responses((status = 200, body = Page<ContainerEvent>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(after): ApiQuery<AfterQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<ContainerEvent>>, ApiError> {
    let start = page.after()?.or(after.after).unwrap_or(0);
    let limit = i64::try_from(page.limit()?).unwrap_or(MAX_EVENTS);
    let service = ContainerService::new(state);
    let mut rows = service.events(&caller.actor, id, start, limit).await?;
    // A full page: one more event, if there is one, tells the page it is not the last.
    if let Some(last) = rows.last().map(|row| row.seq)
        && i64::try_from(rows.len()).is_ok_and(|n| n >= limit)
    {
        rows.extend(service.events(&caller.actor, id, last, 1).await?);
    }
    let events: Vec<ContainerEvent> = rows.into_iter().map(ContainerEvent::from).collect();
    Ok(ApiJson(page.page(events, |e| e.seq)?))
}
