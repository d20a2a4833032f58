//! Queries on `templates` and `template_sync_runs`.
//!
//! Rows of source `folder`/`builtin` are written only by the template sync
//! (`crate::templates::sync`); rows of source `custom` are never touched by it and are
//! written only by the catalog (`crate::templates::service`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kiln_shared::catalog::{Source, TemplateSummary};
use kiln_shared::templates::Template;

use diesel::sql_types::{Jsonb, Text};

use super::schema::{containers, template_sync_runs, templates};

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
    /// Who may change a custom template (with administrators); `None` for folder templates.
    pub owner_id: Option<i64>,
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

/// A template as the catalog lists it: the row without its model, plus the model's resource
/// keys (`cpu`, `ram_mib`, `disk_gib`, `os`, `os_version`) as one JSON object.
#[derive(Debug, Clone, Queryable)]
pub struct SummaryRow {
    pub slug: String,
    pub source: String,
    pub app: String,
    pub description: String,
    pub tags: Vec<String>,
    pub status: String,
    pub error_count: i32,
    pub warning_count: i32,
    pub updated_at: DateTime<Utc>,
    pub resources: serde_json::Value,
}

/// The model's resource keys, as [`SummaryRow::resources`] holds them.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Resources {
    cpu: u32,
    ram_mib: u32,
    disk_gib: u32,
    os: String,
    os_version: String,
}

impl From<SummaryRow> for TemplateSummary {
    fn from(row: SummaryRow) -> Self {
        let r: Resources = serde_json::from_value(row.resources).unwrap_or_default();
        TemplateSummary {
            slug: row.slug,
            app: row.app,
            description: row.description,
            tags: row.tags,
            cpu: r.cpu,
            ram_mib: r.ram_mib,
            disk_gib: r.disk_gib,
            os: r.os,
            os_version: r.os_version,
            source: source(&row.source),
            missing: row.status == "missing",
            error_count: u32::try_from(row.error_count).unwrap_or(0),
            warning_count: u32::try_from(row.warning_count).unwrap_or(0),
            updated_at: row.updated_at.to_rfc3339(),
        }
    }
}

impl TemplateRow {
    /// The catalog card of this row, with the resources of its (deserialized) `model`.
    pub fn summary(&self, model: &Template) -> TemplateSummary {
        TemplateSummary {
            slug: self.slug.clone(),
            app: self.app.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            cpu: model.cpu,
            ram_mib: model.ram_mib,
            disk_gib: model.disk_gib,
            os: model.os.clone(),
            os_version: model.os_version.clone(),
            source: source(&self.source),
            missing: self.status == "missing",
            error_count: u32::try_from(self.error_count).unwrap_or(0),
            warning_count: u32::try_from(self.warning_count).unwrap_or(0),
            updated_at: self.updated_at.to_rfc3339(),
        }
    }
}

/// The `source` column as the wire type (the column's CHECK allows only these words).
fn source(word: &str) -> Source {
    Source::parse(word).unwrap_or(Source::Folder)
}

/// Every template as the catalog lists it, by slug (the models' scripts and files stay in
/// the database).
pub async fn summaries(conn: &mut AsyncPgConnection) -> QueryResult<Vec<SummaryRow>> {
    templates::table
        .order(templates::slug.asc())
        .select((
            templates::slug,
            templates::source,
            templates::app,
            templates::description,
            templates::tags,
            templates::status,
            templates::error_count,
            templates::warning_count,
            templates::updated_at,
            diesel::dsl::sql::<Jsonb>(
                "jsonb_build_object('cpu', model->'cpu', 'ram_mib', model->'ram_mib', \
                 'disk_gib', model->'disk_gib', 'os', model->'os', 'os_version', model->'os_version')",
            ),
        ))
        .load(conn)
        .await
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

/// Inserts a custom template (never synced) owned by `owner`; `None` when the slug is taken.
pub async fn insert_custom(
    conn: &mut AsyncPgConnection,
    fields: &TemplateFields<'_>,
    owner: Option<i64>,
) -> QueryResult<Option<TemplateRow>> {
    diesel::insert_into(templates::table)
        .values((fields, templates::owner_id.eq(owner)))
        .on_conflict(templates::slug)
        .do_nothing()
        .returning(TemplateRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Rewrites a custom template (and its slug, on a rename). A taken slug is a unique
/// violation (see [`super::is_unique_violation`]); a row of another source is left alone (0).
pub async fn update_custom(
    conn: &mut AsyncPgConnection,
    id: i64,
    fields: &TemplateFields<'_>,
) -> QueryResult<usize> {
    diesel::update(
        templates::table
            .find(id)
            .filter(templates::source.eq("custom")),
    )
    .set((fields, templates::updated_at.eq(diesel::dsl::now)))
    .execute(conn)
    .await
}

/// Deletes a custom template; 0 when `id` is not a custom template. A container still
/// referencing it is a foreign key violation (see [`super::is_foreign_key_violation`]).
pub async fn delete_custom(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(
        templates::table
            .find(id)
            .filter(templates::source.eq("custom")),
    )
    .execute(conn)
    .await
}

/// How many containers were made from the template `id`.
pub async fn count_containers(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<i64> {
    containers::table
        .filter(containers::template_id.eq(id))
        .count()
        .get_result(conn)
        .await
}

/// A template holding a copy of a package bucket (a bucket of that name, any manager).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct BucketCopy {
    #[diesel(sql_type = Text)]
    pub bucket: String,
    #[diesel(sql_type = Text)]
    pub slug: String,
}

/// Every (bucket name, template slug) pair of the templates' package buckets, sorted.
pub async fn bucket_copies(conn: &mut AsyncPgConnection) -> QueryResult<Vec<BucketCopy>> {
    diesel::sql_query(
        "SELECT DISTINCT p->>'name' AS bucket, t.slug AS slug \
         FROM templates t, jsonb_array_elements(COALESCE(t.model->'packages', '[]')) AS p \
         ORDER BY 1, 2",
    )
    .load(conn)
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
