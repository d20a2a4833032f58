//! `/api/v1/buckets`: the shared package buckets — adapters over `TemplateService` and
//! `templates::buckets`, the catalog pages' backend: anyone signed in reads and creates them;
//! a bucket is changed or deleted by its owner or an administrator only (403 for others).
//! The input is the page's form (`BucketInput`, 422 naming `name`, `description`, or a
//! manager's list by its extension: `apt`, `npm`, ...); a name already taken is the
//! service's 422 on `name`, as the form shows it.
//!
//! `PUT` and `DELETE` honour `If-Match` with the `ETag` a read gave (412 when the bucket
//! changed since): two people editing one bucket do not overwrite each other unseen. The
//! version is compared just before the service writes; two writes landing within those few
//! milliseconds are not told apart.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln_app::ssr::TemplatesBackend;
use kiln_shared::catalog::{Bucket, BucketInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::etag;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{Page, PageQuery};
use crate::app_state::AppState;
use crate::templates::{TemplateService, buckets};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// Every bucket by id, with the templates holding a copy.
#[utoipa::path(get, path = "/buckets", tag = "buckets", params(PageQuery),
    responses((status = 200, body = Page<Bucket>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<Bucket>>, ApiError> {
    let all = TemplateService::new(state).buckets(&caller.actor).await?;
    Ok(ApiJson(page.page(all, |b| b.id)?))
}

/// One bucket, with its `ETag` (send it back in `If-Match` when changing it).
#[utoipa::path(get, path = "/buckets/{id}", tag = "buckets",
    params(("id" = i64, Path, description = "The bucket's id")),
    responses((status = 200, body = Bucket, headers(("ETag" = String))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let bucket = buckets::get(&state, &caller.actor, id).await?;
    Ok(etag::json_with_etag(&bucket))
}

/// Creates a bucket owned by the caller.
#[utoipa::path(post, path = "/buckets", tag = "buckets", request_body = BucketInput,
    responses((status = 201, body = Bucket, headers(("ETag" = String))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<BucketInput>,
) -> Result<Response, ApiError> {
    let bucket = TemplateService::new(state)
        .save_bucket(&caller.actor, None, input)
        .await?;
    Ok((StatusCode::CREATED, etag::json_with_etag(&bucket)).into_response())
}

/// Replaces a bucket's name, description and lists (templates keep their own copies).
#[utoipa::path(put, path = "/buckets/{id}", tag = "buckets", request_body = BucketInput,
    params(("id" = i64, Path, description = "The bucket's id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read; 412 when it changed since")),
    responses((status = 200, body = Bucket, headers(("ETag" = String))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<BucketInput>,
) -> Result<Response, ApiError> {
    let current = buckets::get(&state, &caller.actor, id).await?;
    etag::check_if_match(&headers, &etag::of(&current))?;
    let bucket = TemplateService::new(state)
        .save_bucket(&caller.actor, Some(id), input)
        .await?;
    Ok(etag::json_with_etag(&bucket))
}

/// Deletes a bucket (templates keep their copies).
#[utoipa::path(delete, path = "/buckets/{id}", tag = "buckets",
    params(("id" = i64, Path, description = "The bucket's id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read; 412 when it changed since")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let current = buckets::get(&state, &caller.actor, id).await?;
    etag::check_if_match(&headers, &etag::of(&current))?;
    TemplateService::new(state)
        .delete_buckets(&caller.actor, vec![id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
