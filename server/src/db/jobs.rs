//! Queries on `jobs`, the durable job queue (`crate::jobs` is the engine around them).
//!
//! A worker claims a job with [`claim`] (one statement, no transaction kept open) and from then
//! on every write it makes for the job names its lease (`WHERE id = $1 AND lease_owner = $2`):
//! a write that matches no row means the lease was taken over, and the caller stops.

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::jobs;

/// Where a job is in its life. Stored as text (the table's `CHECK` lists the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum JobState {
    /// Waiting to be claimed (from `run_after` on).
    Queued,
    /// Claimed by a worker that holds its lease (or held it: an expired lease is claimable).
    Running,
    /// Its handler returned `Ok`.
    Succeeded,
    /// Failed with a reason (`error`) in a phase; [`retry`] queues it again.
    Failed,
    /// Cancelled on request (before it ran, or at a safe point of its handler).
    Cancelled,
}

impl JobState {
    /// The word stored in `jobs.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job is over (only a retry brings a failed one back).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            other => return Err(format!("unknown job state {other:?}")),
        })
    }
}

impl FromSql<Text, Pg> for JobState {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        Ok(text.parse()?)
    }
}

impl ToSql<Text, Pg> for JobState {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

/// A row of `jobs`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub node_id: Option<i64>,
    pub state: JobState,
    pub phase: Option<String>,
    pub attempts: i32,
    pub error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub node_slot: Option<i32>,
    pub cancel_requested: bool,
    pub run_after: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The fields of a new job; everything else starts at its default (queued, no phase).
#[derive(Debug, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJobRow<'a> {
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
    pub node_id: Option<i64>,
    /// `None`: now (the column's default).
    pub run_after: Option<DateTime<Utc>>,
}

/// Inserts a job (on the caller's connection, so inside its transaction if it has one).
pub async fn insert(conn: &mut AsyncPgConnection, job: &NewJobRow<'_>) -> QueryResult<i64> {
    diesel::insert_into(jobs::table)
        .values(job)
        .returning(jobs::id)
        .get_result(conn)
        .await
}

/// The job's row, if it exists.
pub async fn get(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<JobRow>> {
    jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// What a worker gets from a claim.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub node_id: Option<i64>,
    /// The phase it was in (a resumption) or failed in (a retry).
    #[diesel(sql_type = Nullable<Text>)]
    pub phase: Option<String>,
    /// Runs claimed so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// The job was `running` under an expired lease: its last run was interrupted.
    #[diesel(sql_type = Bool)]
    pub resumed: bool,
}

/// How a claim is made.
#[derive(Debug, Clone, Copy)]
pub struct ClaimParams<'a> {
    /// The new lease's owner (a fresh random token per claim).
    pub owner: &'a str,
    /// How long the lease holds without a heartbeat, in seconds.
    pub lease_secs: f64,
    /// Running jobs per node at most.
    pub per_node: i32,
    /// The kinds this worker has handlers for; other jobs are left alone.
    pub kinds: &'a [String],
    /// A job found interrupted this many times is not claimed again (see [`give_up`]).
    pub max_attempts: i32,
}

/// The claim: the oldest job that is queued and due, or running under an expired lease (its
/// worker died) and not yet interrupted `max_attempts` times, of a known kind, whose node has
/// a free place (`node_slot` in `0..per_node`; a resumed job keeps its place) — locked with
/// `SKIP LOCKED`, so concurrent workers never wait for each other — becomes `running` under a
/// new lease, in one statement.
///
/// Two workers that pick the same free place on a node at the same moment collide on
/// `jobs_node_slot_idx`: one of them gets a unique violation and simply claims again.
const CLAIM: &str = "\
UPDATE jobs
SET state = 'running',
    lease_owner = $1,
    lease_until = now() + make_interval(secs => $2),
    attempts = jobs.attempts + 1,
    node_slot = pick.slot,
    updated_at = now()
FROM (
    SELECT j.id,
           j.state = 'running' AS resumed,
           CASE WHEN j.state = 'running' THEN j.node_slot ELSE free.slot END AS slot
    FROM jobs j
    LEFT JOIN LATERAL (
        SELECT s.slot
        FROM generate_series(0, $3 - 1) AS s (slot)
        WHERE NOT EXISTS (
            SELECT 1 FROM jobs r
            WHERE r.node_id = j.node_id AND r.state = 'running' AND r.node_slot = s.slot
        )
        ORDER BY s.slot
        LIMIT 1
    ) free ON j.node_id IS NOT NULL
    WHERE j.state IN ('queued', 'running')
      AND j.kind = ANY($4)
      AND ((j.state = 'queued' AND j.run_after <= now())
           OR (j.state = 'running' AND j.lease_until <= now() AND j.attempts < $5))
      AND (j.state = 'running' OR j.node_id IS NULL OR free.slot IS NOT NULL)
    ORDER BY j.id
    LIMIT 1
    FOR UPDATE OF j SKIP LOCKED
) pick
WHERE jobs.id = pick.id
RETURNING jobs.id, jobs.kind, jobs.payload, jobs.node_id, jobs.phase, jobs.attempts,
          pick.resumed";

/// Claims one job: the oldest claimable one of `kinds` (queued and due, or running under an
/// expired lease and interrupted fewer than `max_attempts` times) on a node with a free
/// place becomes `running` under a new lease. `None` when nothing is claimable. A unique
/// violation means another worker took the same place at the same moment: claim again.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    params: ClaimParams<'_>,
) -> QueryResult<Option<Claimed>> {
    diesel::sql_query(CLAIM)
        .bind::<Text, _>(params.owner)
        .bind::<Double, _>(params.lease_secs)
        .bind::<Integer, _>(params.per_node)
        .bind::<Array<Text>, _>(params.kinds)
        .bind::<Integer, _>(params.max_attempts)
        .get_result(conn)
        .await
        .optional()
}

/// Extends the lease (the heartbeat); false when it is no longer ours.
pub async fn renew(
    conn: &mut AsyncPgConnection,
    id: i64,
    owner: &str,
    lease_secs: f64,
) -> QueryResult<bool> {
    let rows = diesel::sql_query(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3) \
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Double, _>(lease_secs)
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

/// The job's row under our lease: the filter of every lease-checked write.
type Leased<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<jobs::table, diesel::dsl::Eq<jobs::id, i64>>,
        diesel::dsl::Eq<jobs::lease_owner, &'a str>,
    >,
    diesel::dsl::Eq<jobs::state, JobState>,
>;

/// The job's row, if it is running under `owner`'s lease.
fn leased(id: i64, owner: &str) -> Leased<'_> {
    jobs::table
        .filter(jobs::id.eq(id))
        .filter(jobs::lease_owner.eq(owner))
        .filter(jobs::state.eq(JobState::Running))
}

/// Records the phase the job entered; false when the lease is no longer ours.
pub async fn set_phase(
    conn: &mut AsyncPgConnection,
    id: i64,
    owner: &str,
    phase: &str,
) -> QueryResult<bool> {
    let rows = diesel::update(leased(id, owner))
        .set((jobs::phase.eq(phase), jobs::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await?;
    Ok(rows == 1)
}

/// Inside the caller's transaction: whether the lease is still ours, and if so the row is
/// locked (`FOR SHARE`) until the transaction ends, so no other worker can take the job over
/// while the caller's writes commit.
pub async fn fence(conn: &mut AsyncPgConnection, id: i64, owner: &str) -> QueryResult<bool> {
    let found: Option<i64> = leased(id, owner)
        .select(jobs::id)
        .for_share()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Whether cancelling was requested; `None` when the lease is no longer ours.
pub async fn cancel_requested(
    conn: &mut AsyncPgConnection,
    id: i64,
    owner: &str,
) -> QueryResult<Option<bool>> {
    leased(id, owner)
        .select(jobs::cancel_requested)
        .first(conn)
        .await
        .optional()
}

/// How a run ended, as written by [`finish`].
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// `Succeeded`, `Failed` or `Cancelled`.
    pub state: JobState,
    /// The phase to record (`None` keeps the current one).
    pub phase: Option<&'a str>,
    /// The reason of a failure.
    pub error: Option<&'a str>,
}

/// Ends the run (the lease is given up with it); false when the lease is no longer ours.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: i64,
    owner: &str,
    end: Finish<'_>,
) -> QueryResult<bool> {
    let rows = diesel::sql_query(
        "UPDATE jobs
         SET state = $3, phase = COALESCE($4, phase), error = $5,
             lease_owner = NULL, lease_until = NULL, node_slot = NULL,
             finished_at = now(), updated_at = now()
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Text, _>(end.state)
    .bind::<Nullable<Text>, _>(end.phase)
    .bind::<Nullable<Text>, _>(end.error)
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

/// Lets the lease expire now (the worker is shutting down): the job stays `running` with its
/// phase, and the next claim (of this process or another) resumes it at once.
pub async fn release(conn: &mut AsyncPgConnection, id: i64, owner: &str) -> QueryResult<bool> {
    let rows = diesel::update(leased(id, owner))
        .set(jobs::lease_until.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(rows == 1)
}

/// A job [`give_up`] ended.
#[derive(Debug, Clone, QueryableByName)]
pub struct GivenUp {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub phase: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub payload: serde_json::Value,
}

/// Fails the jobs (of `kinds`) whose lease expired after `max_attempts` runs, every one of
/// them interrupted: "gave up after N interrupted runs". Rows locked by someone else are left
/// for the next sweep.
pub async fn give_up(
    conn: &mut AsyncPgConnection,
    max_attempts: i32,
    kinds: &[String],
) -> QueryResult<Vec<GivenUp>> {
    diesel::sql_query(
        "UPDATE jobs
         SET state = 'failed',
             error = format('gave up after %s interrupted runs', attempts),
             lease_owner = NULL, lease_until = NULL, node_slot = NULL,
             finished_at = now(), updated_at = now()
         WHERE id IN (
             SELECT id FROM jobs
             WHERE state = 'running' AND lease_until <= now() AND attempts >= $1
               AND kind = ANY($2)
             FOR UPDATE SKIP LOCKED
         )
         RETURNING id, kind, attempts, phase, payload",
    )
    .bind::<Integer, _>(max_attempts)
    .bind::<Array<Text>, _>(kinds)
    .load(conn)
    .await
}

/// Cancels a queued job at once, or flags a running one (its handler stops at its next safe
/// point). Returns the state afterwards (`Cancelled` or `Running`), or `None` when the job is
/// neither queued nor running.
pub async fn request_cancel(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Option<JobState>> {
    diesel::sql_query(
        "UPDATE jobs
         SET state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
             finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
             cancel_requested = TRUE,
             updated_at = now()
         WHERE id = $1 AND state IN ('queued', 'running')
         RETURNING state",
    )
    .bind::<BigInt, _>(id)
    .get_result::<StateOnly>(conn)
    .await
    .optional()
    .map(|row| row.map(|r| r.state))
}

#[derive(QueryableByName)]
struct StateOnly {
    #[diesel(sql_type = Text)]
    state: JobState,
}

/// Queues a failed job again, keeping its phase (its handler resumes from it), with a fresh
/// budget of attempts; false when the job is not failed.
pub async fn retry(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    let rows = diesel::update(
        jobs::table
            .filter(jobs::id.eq(id))
            .filter(jobs::state.eq(JobState::Failed)),
    )
    .set((
        jobs::state.eq(JobState::Queued),
        jobs::attempts.eq(0),
        jobs::error.eq(None::<&str>),
        jobs::cancel_requested.eq(false),
        jobs::finished_at.eq(None::<DateTime<Utc>>),
        jobs::run_after.eq(diesel::dsl::now),
        jobs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

/// The oldest queued or running job of `kind` whose payload contains `payload` (JSONB `@>`,
/// e.g. `{"container_id": 7}`): whether such work is already under way.
pub async fn active_with(
    conn: &mut AsyncPgConnection,
    kind: &str,
    payload: &serde_json::Value,
) -> QueryResult<Option<i64>> {
    jobs::table
        .filter(jobs::kind.eq(kind))
        .filter(jobs::state.eq_any([JobState::Queued, JobState::Running]))
        .filter(jobs::payload.contains(payload))
        .order(jobs::id.asc())
        .select(jobs::id)
        .first(conn)
        .await
        .optional()
}
