//! Writes to `audit_log`: who did what, when, from where.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::audit_log;

/// The outcome column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit entry. Never put a secret into `detail`.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor_id: Option<i64>,
    pub actor_name: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: serde_json::Value,
}

impl<'a> Entry<'a> {
    pub fn new(action: &'a str) -> Self {
        Entry {
            actor_id: None,
            actor_name: None,
            action,
            target: None,
            source_ip: None,
            outcome: Outcome::Ok,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
struct NewRow<'a> {
    actor_id: Option<i64>,
    actor_name: Option<&'a str>,
    action: &'a str,
    target: Option<&'a str>,
    source_ip: Option<&'a str>,
    outcome: &'a str,
    detail: &'a serde_json::Value,
}

pub async fn record(conn: &mut AsyncPgConnection, entry: &Entry<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(NewRow {
            actor_id: entry.actor_id,
            actor_name: entry.actor_name,
            action: entry.action,
            target: entry.target,
            source_ip: entry.source_ip,
            outcome: entry.outcome.as_str(),
            detail: &entry.detail,
        })
        .execute(conn)
        .await
        .map(|_| ())
}

/// Writes an audit row from a pool; a failure is logged, not returned (the action it records
/// already happened).
pub async fn record_logged(pool: &super::DbPool, entry: Entry<'_>) {
    let result = match pool.get().await {
        Ok(mut conn) => record(&mut conn, &entry).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        tracing::error!(%error, audit.action = entry.action, "writing the audit log failed");
    }
}

/// A row as read back (tests and, later, the audit page).
#[derive(Debug, Clone, Queryable)]
pub struct AuditRow {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub source_ip: Option<String>,
    pub outcome: String,
    pub detail: serde_json::Value,
}

pub async fn recent(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<AuditRow>> {
    audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .load(conn)
        .await
}
