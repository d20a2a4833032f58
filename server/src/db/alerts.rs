//! Queries on the alerts' tables: `alert_settings`, `alert_rules`, `alert_channels`,
//! `alerts` and `alert_deliveries`. Every query a user's request reaches is scoped to its owner
//! (another user's row is "not found"); the evaluator and the dispatcher work across owners.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kiln_shared::alerts::{
    Alert, Channel, ChannelKind, Delivery, DeliveryState, Rule, RuleInput, RuleKind, Scope,
};

use super::schema::{alert_channels, alert_deliveries, alert_rules, alert_settings, alerts};

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

/// A row of `alert_channels`; `url_sealed` and `secret_sealed` are ciphertext (`crypto`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alert_channels)]
pub struct ChannelRow {
    pub id: i64,
    pub owner_id: i64,
    pub kind: String,
    pub name: String,
    pub url_sealed: Vec<u8>,
    pub url_hint: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub enabled: bool,
}

impl ChannelRow {
    /// The associated data binding a channel's URL to its row.
    pub fn url_context(id: i64) -> String {
        format!("alert_channels.url:{id}")
    }

    /// The associated data binding a webhook's signing key to its row.
    pub fn secret_context(id: i64) -> String {
        format!("alert_channels.secret:{id}")
    }

    pub fn kind(&self) -> Option<ChannelKind> {
        ChannelKind::parse(&self.kind)
    }

    pub fn to_channel(&self, last: Option<Delivery>) -> Option<Channel> {
        Some(Channel {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind()?,
            url_hint: self.url_hint.clone(),
            enabled: self.enabled,
            last,
        })
    }
}

pub async fn channels(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<ChannelRow>> {
    alert_channels::table
        .filter(alert_channels::owner_id.eq(owner))
        .order(alert_channels::name.asc())
        .select(ChannelRow::as_select())
        .load(conn)
        .await
}

pub async fn channel(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
    id: i64,
) -> QueryResult<Option<ChannelRow>> {
    let mut query = alert_channels::table
        .filter(alert_channels::id.eq(id))
        .select(ChannelRow::as_select())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(alert_channels::owner_id.eq(owner));
    }
    query.first(conn).await.optional()
}

/// Inserts a channel with its sealed values still empty (they are bound to the new id); `None`
/// when the owner already has a channel of that name.
pub async fn insert_channel(
    conn: &mut AsyncPgConnection,
    owner: i64,
    kind: ChannelKind,
    name: &str,
    url_hint: &str,
) -> QueryResult<Option<ChannelRow>> {
    diesel::insert_into(alert_channels::table)
        .values((
            alert_channels::owner_id.eq(owner),
            alert_channels::kind.eq(kind.as_str()),
            alert_channels::name.eq(name),
            alert_channels::url_sealed.eq(Vec::<u8>::new()),
            alert_channels::url_hint.eq(url_hint),
        ))
        .on_conflict_do_nothing()
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn set_channel_secrets(
    conn: &mut AsyncPgConnection,
    id: i64,
    url_sealed: &[u8],
    secret_sealed: Option<&[u8]>,
) -> QueryResult<()> {
    diesel::update(alert_channels::table.filter(alert_channels::id.eq(id)))
        .set((
            alert_channels::url_sealed.eq(url_sealed),
            alert_channels::secret_sealed.eq(secret_sealed),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_channel_enabled(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    enabled: bool,
) -> QueryResult<Option<ChannelRow>> {
    diesel::update(
        alert_channels::table
            .filter(alert_channels::id.eq(id))
            .filter(alert_channels::owner_id.eq(owner)),
    )
    .set((
        alert_channels::enabled.eq(enabled),
        alert_channels::updated_at.eq(diesel::dsl::now),
    ))
    .returning(ChannelRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn delete_channel(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<ChannelRow>> {
    diesel::delete(
        alert_channels::table
            .filter(alert_channels::id.eq(id))
            .filter(alert_channels::owner_id.eq(owner)),
    )
    .returning(ChannelRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn count_channels(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<i64> {
    alert_channels::table
        .filter(alert_channels::owner_id.eq(owner))
        .count()
        .get_result(conn)
        .await
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

/// Records a test message to channel `id`, claimed for a minute by the caller who sends it.
pub async fn queue_test(conn: &mut AsyncPgConnection, channel_id: i64) -> QueryResult<i64> {
    diesel::insert_into(alert_deliveries::table)
        .values((
            alert_deliveries::channel_id.eq(channel_id),
            alert_deliveries::event.eq("test"),
            alert_deliveries::locked_until.eq(Utc::now() + chrono::Duration::seconds(60)),
        ))
        .returning(alert_deliveries::id)
        .get_result(conn)
        .await
}

/// Counts an attempt made outside [`claim_due`] (a test sent by the request).
pub async fn count_attempt(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(alert_deliveries::table.filter(alert_deliveries::id.eq(id)))
        .set(alert_deliveries::attempts.eq(alert_deliveries::attempts + 1))
        .execute(conn)
        .await
        .map(drop)
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

/// A delivery claimed for sending, with what the sender needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct DueDelivery {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub alert_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub channel_id: i64,
    #[diesel(sql_type = Text)]
    pub event: String,
    /// This attempt's number (1 for the first).
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries for `hold` seconds (`FOR UPDATE SKIP LOCKED`: two
/// senders never take the same one), counting the attempt.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    hold_secs: i32,
) -> QueryResult<Vec<DueDelivery>> {
    diesel::sql_query(
        "UPDATE alert_deliveries SET attempts = attempts + 1, \
             locked_until = now() + make_interval(secs => $2) \
         WHERE id IN ( \
             SELECT id FROM alert_deliveries \
             WHERE state = 'pending' AND next_at <= now() \
               AND (locked_until IS NULL OR locked_until < now()) \
             ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, alert_id, channel_id, event, attempts",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Integer, _>(hold_secs)
    .load(conn)
    .await
}

/// Records a delivery's attempt: sent, to be tried again at `retry_at`, or given up.
pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    id: i64,
    outcome: Result<(), (&str, Option<DateTime<Utc>>)>,
) -> QueryResult<()> {
    let target = alert_deliveries::table.filter(alert_deliveries::id.eq(id));
    match outcome {
        Ok(()) => {
            diesel::update(target)
                .set((
                    alert_deliveries::state.eq("sent"),
                    alert_deliveries::sent_at.eq(diesel::dsl::now),
                    alert_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                    alert_deliveries::last_error.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
        }
        Err((error, Some(retry_at))) => {
            diesel::update(target)
                .set((
                    alert_deliveries::next_at.eq(retry_at),
                    alert_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                    alert_deliveries::last_error.eq(error),
                ))
                .execute(conn)
                .await?;
        }
        Err((error, None)) => {
            diesel::update(target)
                .set((
                    alert_deliveries::state.eq("failed"),
                    alert_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                    alert_deliveries::last_error.eq(error),
                ))
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// A delivery as the pages show it.
#[derive(Debug, Clone, QueryableByName)]
struct DeliveryLine {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    channel_id: i64,
    #[diesel(sql_type = Text)]
    channel: String,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Nullable<Text>)]
    alert: Option<String>,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    next_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

impl DeliveryLine {
    fn to_delivery(&self) -> Delivery {
        let state = match self.state.as_str() {
            "sent" => DeliveryState::Sent,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        };
        Delivery {
            id: self.id,
            channel: self.channel.clone(),
            event: self.event.clone(),
            alert: self.alert.clone(),
            state,
            attempts: u32::try_from(self.attempts).unwrap_or_default(),
            next_at: (state == DeliveryState::Pending).then(|| self.next_at.to_rfc3339()),
            last_error: self.last_error.clone(),
            created_at: self.created_at.to_rfc3339(),
        }
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.channel_id, c.name AS channel, d.event, a.title AS alert, \
     d.state, d.attempts, d.next_at, d.last_error, d.created_at \
     FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id \
     LEFT JOIN alerts a ON a.id = d.alert_id";

/// `owner`'s deliveries that failed or wait for another try, newest first.
pub async fn troubled(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<Delivery>> {
    let rows: Vec<DeliveryLine> = diesel::sql_query(format!(
        "SELECT {DELIVERY_COLUMNS} WHERE c.owner_id = $1 \
           AND (d.state = 'failed' OR (d.state = 'pending' AND d.attempts > 0)) \
         ORDER BY d.created_at DESC LIMIT 50"
    ))
    .bind::<BigInt, _>(owner)
    .load(conn)
    .await?;
    Ok(rows.iter().map(DeliveryLine::to_delivery).collect())
}

/// The last delivery of each of `owner`'s channels, by channel id.
pub async fn last_per_channel(
    conn: &mut AsyncPgConnection,
    owner: i64,
) -> QueryResult<std::collections::HashMap<i64, Delivery>> {
    let rows: Vec<DeliveryLine> = diesel::sql_query(format!(
        "SELECT DISTINCT ON (d.channel_id) {DELIVERY_COLUMNS} WHERE c.owner_id = $1 \
         ORDER BY d.channel_id, d.created_at DESC, d.id DESC"
    ))
    .bind::<BigInt, _>(owner)
    .load(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.channel_id, row.to_delivery()))
        .collect())
}

/// One delivery of `owner`'s (a test's outcome).
pub async fn delivery(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<Delivery>> {
    let rows: Vec<DeliveryLine> = diesel::sql_query(format!(
        "SELECT {DELIVERY_COLUMNS} WHERE c.owner_id = $1 AND d.id = $2"
    ))
    .bind::<BigInt, _>(owner)
    .bind::<BigInt, _>(id)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|row| row.to_delivery()))
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
