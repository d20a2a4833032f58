//! Queries on `alert_settings`, `alert_rules` and `alerts` (channels: `alert_channels`;
//! deliveries: `alert_deliveries`). Every query a user's request reaches is scoped to its owner
//! (another user's row is "not found"); the evaluator and the dispatcher work across owners.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kiln_shared::alerts::{Alert, Rule, RuleInput, RuleKind, Scope};

use super::schema::{alert_rules, alert_settings, alerts};

/// A row of `alert_rules`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alert_rules)]
pub struct RuleRow {
    pub id: i64,
    pub owner_id: i64,
    pub kind: String,
    pub enabled: bool,
    pub threshold: Option<i32>,
    pub minutes: Option<i32>,
    pub node_id: Option<i64>,
    pub container_id: Option<i64>,
}

impl RuleRow {
    /// The kind, when the row holds a known one (the table's check makes it so).
    pub fn kind(&self) -> Option<RuleKind> {
        RuleKind::parse(&self.kind)
    }

    pub fn scope(&self) -> Scope {
        match (self.node_id, self.container_id) {
            (_, Some(id)) => Scope::Container(id),
            (Some(id), None) => Scope::Node(id),
            (None, None) => Scope::All,
        }
    }

    /// The wire form, with the scope's name.
    pub fn to_rule(&self, scope_name: Option<String>) -> Option<Rule> {
        Some(Rule {
            id: self.id,
            kind: self.kind()?,
            enabled: self.enabled,
            threshold: self.threshold.and_then(|t| u32::try_from(t).ok()),
            minutes: self.minutes.and_then(|m| u32::try_from(m).ok()),
            scope: self.scope(),
            scope_name,
        })
    }
}

/// The columns a rule's form sets.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = alert_rules, treat_none_as_null = true)]
pub struct RuleFields<'a> {
    pub kind: &'a str,
    pub enabled: bool,
    pub threshold: Option<i32>,
    pub minutes: Option<i32>,
    pub node_id: Option<i64>,
    pub container_id: Option<i64>,
}

impl<'a> RuleFields<'a> {
    pub fn of(input: &'a RuleInput) -> Self {
        let (node_id, container_id) = match input.scope {
            Scope::All => (None, None),
            Scope::Node(id) => (Some(id), None),
            Scope::Container(id) => (None, Some(id)),
        };
        RuleFields {
            kind: input.kind.as_str(),
            enabled: input.enabled,
            threshold: input.threshold.and_then(|t| i32::try_from(t).ok()),
            minutes: input.minutes.and_then(|m| i32::try_from(m).ok()),
            node_id,
            container_id,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = alert_rules)]
struct NewRule<'a> {
    owner_id: i64,
    #[diesel(embed)]
    fields: RuleFields<'a>,
}

/// The rules every user starts with: container down, node unreachable for a minute, a failed
/// creation, and CPU / memory / disk at 90 % for 5 minutes.
pub fn default_rules() -> Vec<RuleInput> {
    let rule = |kind, threshold, minutes| RuleInput {
        kind,
        enabled: true,
        threshold,
        minutes,
        scope: Scope::All,
    };
    vec![
        rule(RuleKind::ContainerDown, None, None),
        rule(RuleKind::NodeUnreachable, None, Some(1)),
        rule(RuleKind::JobFailed, None, None),
        rule(RuleKind::Cpu, Some(90), Some(5)),
        rule(RuleKind::Memory, Some(90), Some(5)),
        rule(RuleKind::Disk, Some(90), Some(5)),
    ]
}

/// Makes `owner`'s default rules, once in the user's life; true when it made them now.
pub async fn ensure_defaults(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let made = diesel::insert_into(alert_settings::table)
            .values(alert_settings::owner_id.eq(owner))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if made == 0 {
            return Ok(false);
        }
        let defaults = default_rules();
        let rows: Vec<NewRule<'_>> = defaults
            .iter()
            .map(|input| NewRule {
                owner_id: owner,
                fields: RuleFields::of(input),
            })
            .collect();
        diesel::insert_into(alert_rules::table)
            .values(&rows)
            .execute(conn)
            .await?;
        Ok(true)
    })
    .await
}

/// `owner`'s rules, oldest first.
pub async fn rules(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<RuleRow>> {
    alert_rules::table
        .filter(alert_rules::owner_id.eq(owner))
        .order(alert_rules::id.asc())
        .select(RuleRow::as_select())
        .load(conn)
        .await
}

/// `owner`'s enabled rules of `kind`.
pub async fn enabled_rules_of(
    conn: &mut AsyncPgConnection,
    owner: i64,
    kind: RuleKind,
) -> QueryResult<Vec<RuleRow>> {
    alert_rules::table
        .filter(alert_rules::owner_id.eq(owner))
        .filter(alert_rules::enabled.eq(true))
        .filter(alert_rules::kind.eq(kind.as_str()))
        .select(RuleRow::as_select())
        .load(conn)
        .await
}

pub async fn count_rules(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<i64> {
    alert_rules::table
        .filter(alert_rules::owner_id.eq(owner))
        .count()
        .get_result(conn)
        .await
}

pub async fn insert_rule(
    conn: &mut AsyncPgConnection,
    owner: i64,
    fields: RuleFields<'_>,
) -> QueryResult<RuleRow> {
    diesel::insert_into(alert_rules::table)
        .values(&NewRule {
            owner_id: owner,
            fields,
        })
        .returning(RuleRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn update_rule(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    fields: RuleFields<'_>,
) -> QueryResult<Option<RuleRow>> {
    diesel::update(
        alert_rules::table
            .filter(alert_rules::id.eq(id))
            .filter(alert_rules::owner_id.eq(owner)),
    )
    .set((&fields, alert_rules::updated_at.eq(diesel::dsl::now)))
    .returning(RuleRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Deletes `owner`'s rule `id`; its open alerts are resolved by the table's trigger first
/// (the history keeps them).
pub async fn delete_rule(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<RuleRow>> {
    diesel::delete(
        alert_rules::table
            .filter(alert_rules::id.eq(id))
            .filter(alert_rules::owner_id.eq(owner)),
    )
    .returning(RuleRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// A row of `alerts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: i64,
    pub owner_id: i64,
    pub rule_id: Option<i64>,
    pub kind: String,
    pub subject: String,
    pub title: String,
    pub detail: String,
    pub node_id: Option<i64>,
    pub container_id: Option<i64>,
    pub vmid: Option<i32>,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

impl AlertRow {
    pub fn to_alert(&self) -> Option<Alert> {
        Some(Alert {
            id: self.id,
            kind: RuleKind::parse(&self.kind)?,
            title: self.title.clone(),
            detail: self.detail.clone(),
            container_id: self.container_id,
            fired_at: self.fired_at.to_rfc3339(),
            resolved_at: self.resolved_at.map(|t| t.to_rfc3339()),
            acknowledged_at: self.acknowledged_at.map(|t| t.to_rfc3339()),
            acknowledged_by: self.acknowledged_by.clone(),
        })
    }
}

/// An alert to fire.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alerts)]
pub struct NewAlert {
    pub owner_id: i64,
    pub rule_id: Option<i64>,
    pub kind: String,
    pub subject: String,
    pub title: String,
    pub detail: String,
    pub node_id: Option<i64>,
    pub container_id: Option<i64>,
    pub vmid: Option<i32>,
    pub fired_at: DateTime<Utc>,
}

/// Fires `alert` unless its rule already has an open alert on the subject (`None` then), and
/// queues a `fired` delivery to each of the owner's enabled channels — one transaction.
pub async fn fire(conn: &mut AsyncPgConnection, alert: &NewAlert) -> QueryResult<Option<AlertRow>> {
    conn.transaction(async |conn| {
        let row = diesel::insert_into(alerts::table)
            .values(alert)
            .on_conflict_do_nothing()
            .returning(AlertRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(row) = &row {
            queue_for_alert(conn, row, "fired").await?;
        }
        Ok(row)
    })
    .await
}

/// Resolves open alert `id` (`None` when it was not open) and queues `resolved` deliveries.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: DateTime<Utc>,
) -> QueryResult<Option<AlertRow>> {
    conn.transaction(async |conn| {
        let row = diesel::update(
            alerts::table
                .filter(alerts::id.eq(id))
                .filter(alerts::resolved_at.is_null()),
        )
        .set(alerts::resolved_at.eq(at))
        .returning(AlertRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        if let Some(row) = &row {
            queue_for_alert(conn, row, "resolved").await?;
        }
        Ok(row)
    })
    .await
}

/// One delivery of `event` per enabled channel of the alert's owner.
async fn queue_for_alert(
    conn: &mut AsyncPgConnection,
    alert: &AlertRow,
    event: &str,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO alert_deliveries (alert_id, channel_id, event) \
         SELECT $1, id, $2 FROM alert_channels WHERE owner_id = $3 AND enabled",
    )
    .bind::<BigInt, _>(alert.id)
    .bind::<Text, _>(event)
    .bind::<BigInt, _>(alert.owner_id)
    .execute(conn)
    .await
}

/// Resolves rule `id`'s open alerts without telling anyone (the rule changed under them).
pub async fn close_rule_alerts(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::update(
        alerts::table
            .filter(alerts::rule_id.eq(id))
            .filter(alerts::resolved_at.is_null()),
    )
    .set(alerts::resolved_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// The open alerts of `owner` (all kinds), for the evaluator.
pub async fn open_alerts(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<AlertRow>> {
    alerts::table
        .filter(alerts::owner_id.eq(owner))
        .filter(alerts::resolved_at.is_null())
        .select(AlertRow::as_select())
        .load(conn)
        .await
}

/// The open alerts of `kind` on `subject`.
pub async fn open_alert_on(
    conn: &mut AsyncPgConnection,
    kind: RuleKind,
    subject: &str,
) -> QueryResult<Vec<AlertRow>> {
    alerts::table
        .filter(alerts::kind.eq(kind.as_str()))
        .filter(alerts::subject.eq(subject))
        .filter(alerts::resolved_at.is_null())
        .select(AlertRow::as_select())
        .load(conn)
        .await
}

/// `owner`'s alerts: the active ones (newest first) and the last `history` resolved ones.
pub async fn for_page(
    conn: &mut AsyncPgConnection,
    owner: i64,
    history: i64,
) -> QueryResult<(Vec<AlertRow>, Vec<AlertRow>)> {
    let active = alerts::table
        .filter(alerts::owner_id.eq(owner))
        .filter(alerts::resolved_at.is_null())
        .order(alerts::fired_at.desc())
        .limit(500)
        .select(AlertRow::as_select())
        .load(conn)
        .await?;
    let past = alerts::table
        .filter(alerts::owner_id.eq(owner))
        .filter(alerts::resolved_at.is_not_null())
        .order(alerts::fired_at.desc())
        .limit(history)
        .select(AlertRow::as_select())
        .load(conn)
        .await?;
    Ok((active, past))
}

/// Acknowledges `owner`'s alert `id` (again is harmless: the first acknowledgement stays).
pub async fn acknowledge(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    by: &str,
) -> QueryResult<Option<AlertRow>> {
    let found = alerts::table
        .filter(alerts::id.eq(id))
        .filter(alerts::owner_id.eq(owner))
        .select(AlertRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let Some(row) = found else {
        return Ok(None);
    };
    if row.acknowledged_at.is_some() {
        return Ok(Some(row));
    }
    diesel::update(alerts::table.filter(alerts::id.eq(id)))
        .set((
            alerts::acknowledged_at.eq(diesel::dsl::now),
            alerts::acknowledged_by.eq(by),
        ))
        .returning(AlertRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// How many of `owner`'s alerts are active and not acknowledged (the top bar's badge).
pub async fn count_unacknowledged(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<i64> {
    alerts::table
        .filter(alerts::owner_id.eq(owner))
        .filter(alerts::resolved_at.is_null())
        .filter(alerts::acknowledged_at.is_null())
        .count()
        .get_result(conn)
        .await
}

/// An alert by id, for the sender (any owner).
pub async fn alert(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<AlertRow>> {
    alerts::table
        .filter(alerts::id.eq(id))
        .select(AlertRow::as_select())
        .first(conn)
        .await
        .optional()
}
