//! Queries on `templates` and `template_sync_runs`.
//!
//! Rows of source `folder`/`builtin` are written only by the template sync
//! (`crate::templates::sync`); rows of source `custom` are never touched by it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{template_sync_runs, templates};

/// A row of `templates`. `model` is the shared `Template`, `findings` its `Finding`s (JSON).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = templates)]
pub struct TemplateRow {
    pub id: i64,
    pub slug: String,
    pub source: String,
    pub root: Option<String>,
    pub app: String,
    pub description: String,
    pub tags: Vec<String>,
    pub model: serde_json::Value,
    pub findings: serde_json::Value,
    pub error_count: i32,
    pub warning_count: i32,
    pub content_hash: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub synced_at: Option<DateTime<Utc>>,
}

/// What a sync writes for one template folder (on insert and on update alike).
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = templates)]
#[diesel(treat_none_as_null = true)]
pub struct TemplateFields<'a> {
    pub slug: &'a str,
    pub source: &'a str,
    pub root: Option<&'a str>,
    pub app: &'a str,
    pub description: &'a str,
    pub tags: &'a [String],
    pub model: &'a serde_json::Value,
    pub findings: &'a serde_json::Value,
    pub error_count: i32,
    pub warning_count: i32,
    pub content_hash: Option<&'a str>,
    pub status: &'a str,
}

/// Every template, by slug.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<TemplateRow>> {
    templates::table
        .order(templates::slug.asc())
        .select(TemplateRow::as_select())
        .load(conn)
        .await
}

pub async fn by_slug(conn: &mut AsyncPgConnection, slug: &str) -> QueryResult<Option<TemplateRow>> {
    templates::table
        .filter(templates::slug.eq(slug))
        .select(TemplateRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The row of `slug`, locked until the end of the transaction.
pub async fn by_slug_for_update(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> QueryResult<Option<TemplateRow>> {
    templates::table
        .filter(templates::slug.eq(slug))
        .select(TemplateRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Inserts a template; `None` when the slug is already taken (e.g. by a concurrent sync).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    fields: &TemplateFields<'_>,
) -> QueryResult<Option<TemplateRow>> {
    diesel::insert_into(templates::table)
        .values((fields, templates::synced_at.eq(diesel::dsl::now)))
        .on_conflict(templates::slug)
        .do_nothing()
        .returning(TemplateRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Rewrites a synced template (content changed, or it came back after being missing).
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i64,
    fields: &TemplateFields<'_>,
) -> QueryResult<usize> {
    diesel::update(templates::table.find(id))
        .set((
            fields,
            templates::updated_at.eq(diesel::dsl::now),
            templates::synced_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

/// Notes that a sync saw the template unchanged.
pub async fn touch_synced(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::update(templates::table.find(id))
        .set(templates::synced_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// Marks `missing` the synced templates (source folder/builtin) whose slug is not in `seen`,
/// except those under a root in `unreadable` (their folders may still be there).
/// Returns how many rows changed.
pub async fn mark_missing(
    conn: &mut AsyncPgConnection,
    seen: &[String],
    unreadable: &[String],
) -> QueryResult<usize> {
    diesel::update(
        templates::table
            .filter(templates::source.eq_any(vec!["folder", "builtin"]))
            .filter(templates::status.eq("ok"))
            .filter(templates::slug.ne_all(seen))
            .filter(templates::root.assume_not_null().ne_all(unreadable)),
    )
    .set((
        templates::status.eq("missing"),
        templates::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
}

/// A row of `template_sync_runs`. `errors` is a JSON array of the per-template errors.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = template_sync_runs)]
pub struct SyncRunRow {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub added: i32,
    pub updated: i32,
    pub missing: i32,
    pub unchanged: i32,
    pub errors: serde_json::Value,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = template_sync_runs)]
pub struct NewSyncRun<'a> {
    pub started_at: DateTime<Utc>,
    pub added: i32,
    pub updated: i32,
    pub missing: i32,
    pub unchanged: i32,
    pub errors: &'a serde_json::Value,
}

pub async fn insert_run(conn: &mut AsyncPgConnection, run: &NewSyncRun<'_>) -> QueryResult<i64> {
    diesel::insert_into(template_sync_runs::table)
        .values(run)
        .returning(template_sync_runs::id)
        .get_result(conn)
        .await
}

/// The latest sync run, if any.
pub async fn last_run(conn: &mut AsyncPgConnection) -> QueryResult<Option<SyncRunRow>> {
    template_sync_runs::table
        .order(template_sync_runs::id.desc())
        .select(SyncRunRow::as_select())
        .first(conn)
        .await
        .optional()
}
