//! Shared package buckets: named package lists (one per manager) that templates copy.
//!
//! A template owns its copy (a `PackageBucket` of the same name in its model): editing or
//! deleting a shared bucket never changes a template. `used_by` lists the templates holding
//! a bucket of the same name, whatever the manager.
//!
//! Who may: anyone signed in uses buckets and creates them (owned by them); a bucket is edited
//! or deleted only by its owner or an administrator.
//!
//! Errors: the form is parsed here (`BucketInput::parse`, the server never trusts the
//! browser) — `Invalid` per field; a taken name is `Invalid` on `name`; an unknown id on edit
//! is `NotFound`; another user's bucket is `Forbidden` (a delete of several changes nothing
//! then); a bucket that is not the version a write expected (the API's `If-Match`, see
//! [`Expected`]) is `Conflict` — the only conflict a bucket write reports.

use std::collections::HashMap;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_shared::auth::Actor;
use kiln_shared::catalog::{Bucket, BucketInput};
use kiln_shared::templates::PackageBucket;
use kiln_shared::{AppError, FieldErrors};
use serde_json::json;

use crate::app_state::AppState;
use crate::db::audit::Entry;
use crate::db::buckets::{self as rows, BucketFields, BucketRow};
use crate::db::{is_unique_violation, templates};
use crate::errors::{self, TxError};

const NAME_TAKEN: &str = "a bucket with this name already exists";

/// What a write expects of the buckets it changes: `None`, whatever they are now; or a test
/// of each as the actor would read it now (the API's `If-Match` against its `ETag`). The test
/// runs inside the write's transaction with the rows locked, so no other write lands between
/// it and this one; a bucket failing it refuses the write (`Conflict`, nothing changed).
pub type Expected<'a> = Option<&'a (dyn Fn(&Bucket) -> bool + Send + Sync)>;

/// The refusal of a write whose [`Expected`] test failed.
const CHANGED: &str = "The package bucket changed since it was read: read it again and retry.";

/// Every bucket, by name, with the templates holding a copy. Anyone signed in may read them.
pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<Bucket>, AppError> {
    let mut conn = state.conn().await?;
    let rows = rows::list(&mut conn)
        .await
        .map_err(|e| errors::db("listing package buckets", e))?;
    let mut users = copies(&mut conn).await?;
    rows.into_iter()
        .map(|row| {
            let used_by = users.remove(&row.name).unwrap_or_default();
            bucket(row, used_by, actor)
        })
        .collect()
}

/// One bucket (anyone signed in may read it), as [`list`] shows it — the list is read whole
/// (buckets are few, and `used_by` needs every template's copies anyway).
pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<Bucket, AppError> {
    list(state, actor)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| AppError::NotFound("No such package bucket.".into()))
}

/// Creates (`id` None, owned by the actor) or edits a bucket (its owner or an administrator).
pub async fn save(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
    input: &BucketInput,
) -> Result<Bucket, AppError> {
    save_expecting(state, actor, id, input, None).await
}

/// [`save`], an edit going ahead only when the bucket is what `expected` expects.
pub async fn save_expecting(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
    input: &BucketInput,
    expected: Expected<'_>,
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
        None => rows::insert(&mut conn, &fields, actor.id())
            .await
            .map_err(|e| errors::db("adding a package bucket", e))?
            .ok_or_else(|| AppError::invalid("name", NAME_TAKEN))?,
        Some(id) => {
            let conn: &mut AsyncPgConnection = &mut conn;
            conn.transaction::<_, TxError, _>(async |conn| {
                Ok(update(conn, actor, id, &fields, expected).await?)
            })
            .await
            .map_err(|e| e.into_app("saving a package bucket"))?
        }
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
    tracing::info!(bucket.id = row.id, bucket.name = %row.name, user.name = ?actor.username, audit.action = action, "package bucket saved");
    state
        .audit(Entry {
            detail: json!({ "id": row.id, "managers": managers }),
            ..Entry::by(actor, action).on(&row.name)
        })
        .await;
    bucket(row, used_by, actor)
}

/// Rewrites bucket `id` when the actor may change it and it is as `expected`, inside the
/// caller's transaction.
async fn update(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    fields: &BucketFields<'_>,
    expected: Expected<'_>,
) -> Result<BucketRow, AppError> {
    let owners = rows::owners_for_update(conn, &[id])
        .await
        .map_err(|e| errors::db("loading a package bucket", e))?;
    let Some(&(_, owner)) = owners.first() else {
        return Err(AppError::NotFound("No such package bucket.".into()));
    };
    actor.require_owner(owner, "package bucket")?;
    check_expected(conn, actor, &[id], expected).await?;
    match rows::update(conn, id, fields).await {
        Ok(row) => row.ok_or_else(|| AppError::NotFound("No such package bucket.".into())),
        Err(e) if is_unique_violation(&e) => Err(AppError::invalid("name", NAME_TAKEN)),
        Err(e) => Err(errors::db("saving a package bucket", e)),
    }
}

/// Deletes the buckets among `ids` that exist; returns how many. All or nothing: when one of
/// them is another user's (and the actor is no administrator), none is deleted.
pub async fn delete(state: &AppState, actor: &Actor, ids: &[i64]) -> Result<u32, AppError> {
    delete_expecting(state, actor, ids, None).await
}

/// [`delete`], going ahead only when every bucket among `ids` is what `expected` expects.
pub async fn delete_expecting(
    state: &AppState,
    actor: &Actor,
    ids: &[i64],
    expected: Expected<'_>,
) -> Result<u32, AppError> {
    if ids.is_empty() {
        return Err(AppError::invalid(
            FieldErrors::FORM,
            "Select at least one bucket.",
        ));
    }
    let mut pooled = state.conn().await?;
    let conn: &mut AsyncPgConnection = &mut pooled;
    let names = conn
        .transaction::<_, TxError, _>(async |conn| {
            let owners = rows::owners_for_update(conn, ids).await?;
            for &(_, owner) in &owners {
                actor.require_owner(owner, "package bucket")?;
            }
            check_expected(conn, actor, ids, expected).await?;
            Ok(rows::delete(conn, ids).await?)
        })
        .await
        .map_err(|e| e.into_app("deleting package buckets"))?;
    drop(pooled);
    if !names.is_empty() {
        tracing::info!(buckets = ?names, user.name = ?actor.username, "package buckets deleted");
        let target = names.join(", ");
        state
            .audit(Entry {
                detail: json!({ "names": names }),
                ..Entry::by(actor, "bucket.delete").on(&target)
            })
            .await;
    }
    Ok(u32::try_from(names.len()).unwrap_or(u32::MAX))
}

/// `Conflict` when one of the buckets among `ids` (locked by the caller) is not as
/// `expected`.
async fn check_expected(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    ids: &[i64],
    expected: Expected<'_>,
) -> Result<(), AppError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let current = rows::by_ids(conn, ids)
        .await
        .map_err(|e| errors::db("loading package buckets", e))?;
    let mut users = copies(conn).await?;
    for row in current {
        let used_by = users.remove(&row.name).unwrap_or_default();
        if !expected(&bucket(row, used_by, actor)?) {
            return Err(AppError::Conflict(CHANGED.into()));
        }
    }
    Ok(())
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

fn bucket(row: BucketRow, used_by: Vec<String>, actor: &Actor) -> Result<Bucket, AppError> {
    let lists: Vec<PackageBucket> = serde_json::from_value(row.lists)
        .map_err(|e| errors::internal("reading a stored package bucket", e))?;
    Ok(Bucket {
        id: row.id,
        name: row.name,
        description: row.description,
        lists,
        used_by,
        can_change: actor.may_change(row.owner_id),
    })
}
