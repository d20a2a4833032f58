//! Queries on `alert_deliveries`: one notification to one channel, its attempts and the
//! next one's time (the dispatcher claims due rows with `FOR UPDATE SKIP LOCKED`), and what
//! the pages show of them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kiln_shared::alerts::{Delivery, DeliveryState};

use super::schema::alert_deliveries;

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
