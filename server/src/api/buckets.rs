//! `/api/v1/buckets`: the shared package buckets — adapters over `TemplateService` and
//! `templates::buckets`, the catalog pages' backend: anyone signed in reads and creates them;
//! a bucket is changed or deleted by its owner or an administrator only (403 for others).
//! The input is the page's form (`BucketInput`, 422 naming `name`, `description`, or a
//! manager's list by its extension: `apt`, `npm`, ...); a name already taken is the
//! service's 422 on `name`, as the form shows it.
//!
//! `PUT` and `DELETE` honour `If-Match` with the `ETag` a read gave (412 when the bucket
//! changed since): two people editing one bucket do not overwrite each other unseen. The
//! service compares the version inside its write's transaction, the row locked
//! (`buckets::Expected`), so a write between the comparison and this one cannot slip in.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_app::ssr::TemplatesBackend;
use kiln_shared::AppError;
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
#[utoipa::path(get, operation_id = "list_buckets", path = "/buckets", tag = "buckets", params(PageQuery),
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
#[utoipa::path(get, operation_id = "get_bucket", path = "/buckets/{id}", tag = "buckets",
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
#[utoipa::path(post, operation_id = "create_bucket", path = "/buckets", tag = "buckets", request_body = BucketInput,
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
#[utoipa::path(put, operation_id = "replace_bucket", path = "/buckets/{id}", tag = "buckets", request_body = BucketInput,
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
    let matches = version_test(&headers);
    let saved = buckets::save_expecting(
        &state,
        &caller.actor,
        Some(id),
        &input,
        expected(&headers, &matches),
    )
    .await
    .map_err(stale_is_412)?;
    Ok(etag::json_with_etag(&saved))
}

/// Deletes a bucket (templates keep their copies).
#[utoipa::path(delete, operation_id = "delete_bucket", path = "/buckets/{id}", tag = "buckets",
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
    let matches = version_test(&headers);
    let deleted =
        buckets::delete_expecting(&state, &caller.actor, &[id], expected(&headers, &matches))
            .await
            .map_err(stale_is_412)?;
    if deleted == 0 {
        return Err(ApiError::not_found("No such package bucket."));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a bucket, as the caller would read it now, is the version `If-Match` names.
fn version_test(headers: &HeaderMap) -> impl Fn(&Bucket) -> bool + Send + Sync + '_ {
    move |current: &Bucket| etag::check_if_match(headers, &etag::of(current)).is_ok()
}

/// The service's expectation: the version test when the request sent `If-Match`.
fn expected<'a>(
    headers: &HeaderMap,
    test: &'a (dyn Fn(&Bucket) -> bool + Send + Sync),
) -> buckets::Expected<'a> {
    headers.contains_key(header::IF_MATCH).then_some(test)
}

/// A bucket write's only conflict is a version other than the one expected: 412.
fn stale_is_412(e: AppError) -> ApiError {
    match e {
        AppError::Conflict(message) => ApiError::PreconditionFailed(message),
        other => other.into(),
    }
}
