//! Queries on `package_buckets`: the shared package buckets templates copy from.
//!
//! A bucket's `lists` column is a JSON array of the shared `PackageBucket` (one per manager).
//! Templates own their copies: nothing here touches `templates`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::package_buckets;

/// A row of `package_buckets`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = package_buckets)]
pub struct BucketRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub lists: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Who may change the bucket (with administrators); `None` when unknown.
    pub owner_id: Option<i64>,
}

/// What a save writes (on insert and on update alike).
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = package_buckets)]
pub struct BucketFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub lists: &'a serde_json::Value,
}

/// Every bucket, by name.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<BucketRow>> {
    package_buckets::table
        .order(package_buckets::name.asc())
        .select(BucketRow::as_select())
        .load(conn)
        .await
}

/// Inserts a bucket owned by `owner`; `None` when the name is taken.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    fields: &BucketFields<'_>,
    owner: Option<i64>,
) -> QueryResult<Option<BucketRow>> {
    diesel::insert_into(package_buckets::table)
        .values((fields, package_buckets::owner_id.eq(owner)))
        .on_conflict(package_buckets::name)
        .do_nothing()
        .returning(BucketRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The owner of each bucket among `ids` that exists, locked until the transaction ends.
pub async fn owners_for_update(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> QueryResult<Vec<(i64, Option<i64>)>> {
    package_buckets::table
        .filter(package_buckets::id.eq_any(ids))
        .select((package_buckets::id, package_buckets::owner_id))
        .for_update()
        .load(conn)
        .await
}

/// The buckets among `ids` that exist (after [`owners_for_update`] locked them: what a write
/// is about to change).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<BucketRow>> {
    package_buckets::table
        .filter(package_buckets::id.eq_any(ids))
        .select(BucketRow::as_select())
        .load(conn)
        .await
}

/// Rewrites a bucket; `None` when there is no bucket `id`. A taken name is a unique
/// violation (see [`super::is_unique_violation`]).
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i64,
    fields: &BucketFields<'_>,
) -> QueryResult<Option<BucketRow>> {
    diesel::update(package_buckets::table.find(id))
        .set((fields, package_buckets::updated_at.eq(diesel::dsl::now)))
        .returning(BucketRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes the buckets among `ids` that exist; returns their names.
pub async fn delete(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<String>> {
    diesel::delete(package_buckets::table.filter(package_buckets::id.eq_any(ids)))
        .returning(package_buckets::name)
        .get_results(conn)
        .await
}
