//! Writes to `audit_log`: who did what, when, from where.
//!
//! Services write through one helper, [`Entry::by`] + `AppState::audit`, so every row names
//! its actor the same way. Text columns are stored escaped and bounded ([`clean`]): a
//! username or target sent by a client cannot forge lines in a log viewer or fill the table.

use std::borrow::Cow;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kiln_shared::auth::Actor;

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

impl<'a> Entry<'a> {
    /// An entry for `action` done by `actor`: its id (none for the system), name and address.
    pub fn by(actor: &'a Actor, action: &'a str) -> Self {
        Entry {
            actor_id: actor.id(),
            actor_name: Some(&actor.username),
            source_ip: Some(&actor.address),
            detail: match &actor.via_token {
                Some(token) => serde_json::json!({ "via_token": token }),
                None => serde_json::Value::Object(serde_json::Map::new()),
            },
            ..Entry::new(action)
        }
    }

    /// The same entry about `target`.
    pub fn on(self, target: &'a str) -> Self {
        Entry {
            target: Some(target),
            ..self
        }
    }
}

/// The longest text a column keeps (in characters); longer values end in `…`.
pub const MAX_TEXT: usize = 200;

/// `value` with control characters escaped (`\n`, `\u{1b}`, ...) and cut to [`MAX_TEXT`]
/// characters: what the audit log and log lines show of text a client chose.
pub fn clean(value: &str) -> Cow<'_, str> {
    let plain = value.chars().count() <= MAX_TEXT && !value.chars().any(char::is_control);
    if plain {
        return Cow::Borrowed(value);
    }
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX_TEXT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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
    let actor_name = entry.actor_name.map(clean);
    let target = entry.target.map(clean);
    let source_ip = entry.source_ip.map(clean);
    diesel::insert_into(audit_log::table)
        .values(NewRow {
            actor_id: entry.actor_id,
            actor_name: actor_name.as_deref(),
            action: entry.action,
            target: target.as_deref(),
            source_ip: source_ip.as_deref(),
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

/// The newest entry of `action` about `target`.
pub async fn latest(
    conn: &mut AsyncPgConnection,
    action: &str,
    target: &str,
) -> QueryResult<Option<AuditRow>> {
    use diesel::OptionalExtension;
    audit_log::table
        .filter(audit_log::action.eq(action))
        .filter(audit_log::target.eq(clean(target).as_ref()))
        .order(audit_log::id.desc())
        .first(conn)
        .await
        .optional()
}

#[cfg(test)]
mod tests {
    use super::{MAX_TEXT, clean};

    #[test]
    fn control_characters_are_escaped_and_text_is_bounded() {
        assert_eq!(clean("ann"), "ann");
        assert_eq!(
            clean("x\n2026-01-01 INFO forged"),
            "x\\n2026-01-01 INFO forged"
        );
        assert_eq!(clean("\u{1b}[31m"), "\\u{1b}[31m");
        let long = "a".repeat(3 * 1024 * 1024);
        assert_eq!(clean(&long).chars().count(), MAX_TEXT + 1);
    }
}
