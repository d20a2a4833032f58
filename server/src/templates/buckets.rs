//! Shared package buckets: named package lists (one per manager) that templates copy.
//!
//! A template owns its copy (a `PackageBucket` of the same name in its model): editing or
//! deleting a shared bucket never changes a template. `used_by` lists the templates holding
//! a bucket of the same name, whatever the manager.
//!
//! Errors: the form is parsed again here (`BucketInput::parse`, the server never trusts the
//! browser) — `Invalid` per field; a taken name is `Invalid` on `name`; an unknown id on edit
//! is `NotFound`.

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;
use kiln_app::ssr::RequestCtx;
use kiln_shared::AppError;
use kiln_shared::auth::CurrentUser;
use kiln_shared::catalog::{Bucket, BucketInput};
use kiln_shared::templates::PackageBucket;
use serde_json::json;

use super::service::record;
use crate::app_state::AppState;
use crate::db::buckets::{self as rows, BucketFields, BucketRow};
use crate::db::{is_unique_violation, templates};
use crate::errors;

const NAME_TAKEN: &str = "a bucket with this name already exists";

/// Every bucket, by name, with the templates holding a copy.
pub async fn list(state: &AppState) -> Result<Vec<Bucket>, AppError> {
    let mut conn = state.conn().await?;
    let rows = rows::list(&mut conn)
        .await
        .map_err(|e| errors::db("listing package buckets", e))?;
    let mut users = copies(&mut conn).await?;
    rows.into_iter()
        .map(|row| {
            let used_by = users.remove(&row.name).unwrap_or_default();
            bucket(row, used_by)
        })
        .collect()
}

/// Creates (`id` None) or edits a bucket.
pub async fn save(
    state: &AppState,
    ctx: &RequestCtx,
    user: &CurrentUser,
    id: Option<i64>,
    input: &BucketInput,
) -> Result<Bucket, AppError> {
    let (name, description, lists) = input.parse()?;
    let lists_json =
        serde_json::to_value(&lists).map_err(|e| errors::internal("serializing a bucket", e))?;
    let fields = BucketFields {
        name: &name,
        description: &description,
        lists: &lists_json,
    };
    let mut conn = state.conn().await?;
    let row = match id {
        None => rows::insert(&mut conn, &fields)
            .await
            .map_err(|e| errors::db("adding a package bucket", e))?
            .ok_or_else(|| AppError::invalid("name", NAME_TAKEN))?,
        Some(id) => match rows::update(&mut conn, id, &fields).await {
            Ok(row) => row.ok_or_else(|| AppError::NotFound("No such package bucket.".into()))?,
            Err(e) if is_unique_violation(&e) => return Err(AppError::invalid("name", NAME_TAKEN)),
            Err(e) => return Err(errors::db("saving a package bucket", e)),
        },
    };
    let used_by = copies(&mut conn)
        .await?
        .remove(&row.name)
        .unwrap_or_default();
    drop(conn);
    let action = if id.is_some() {
        "bucket.save"
    } else {
        "bucket.create"
    };
    let managers: Vec<&str> = lists.iter().map(|l| l.manager.extension()).collect();
    tracing::info!(bucket.id = row.id, bucket.name = %row.name, user.name = %user.username, audit.action = action, "package bucket saved");
    record(
        state,
        ctx,
        user,
        action,
        &row.name,
        json!({ "id": row.id, "managers": managers }),
    )
    .await;
    bucket(row, used_by)
}

/// Deletes the buckets among `ids` that exist; returns how many.
pub async fn delete(
    state: &AppState,
    ctx: &RequestCtx,
    user: &CurrentUser,
    ids: &[i64],
) -> Result<u32, AppError> {
    let mut conn = state.conn().await?;
    let names = rows::delete(&mut conn, ids)
        .await
        .map_err(|e| errors::db("deleting package buckets", e))?;
    drop(conn);
    if !names.is_empty() {
        tracing::info!(buckets = ?names, user.name = %user.username, "package buckets deleted");
        record(
            state,
            ctx,
            user,
            "bucket.delete",
            &names.join(", "),
            json!({ "names": names }),
        )
        .await;
    }
    Ok(u32::try_from(names.len()).unwrap_or(u32::MAX))
}

/// The slugs of the templates holding a copy, per bucket name (sorted).
async fn copies(conn: &mut AsyncPgConnection) -> Result<HashMap<String, Vec<String>>, AppError> {
    let pairs = templates::bucket_copies(conn)
        .await
        .map_err(|e| errors::db("finding the templates that use package buckets", e))?;
    let mut by_bucket: HashMap<String, Vec<String>> = HashMap::new();
    for pair in pairs {
        by_bucket.entry(pair.bucket).or_default().push(pair.slug);
    }
    Ok(by_bucket)
}

fn bucket(row: BucketRow, used_by: Vec<String>) -> Result<Bucket, AppError> {
    let lists: Vec<PackageBucket> = serde_json::from_value(row.lists)
        .map_err(|e| errors::internal("reading a stored package bucket", e))?;
    Ok(Bucket {
        id: row.id,
        name: row.name,
        description: row.description,
        lists,
        used_by,
    })
}
