//! Queries on `containers` and what belongs to one: `container_events` (numbered per
//! container for replay), `container_services`, `container_credentials`. Reads are scoped
//! by the services (owner or admin); the creation job writes through its lease (it fences
//! each write in a transaction).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{
    container_credentials, container_events, container_services, containers, nodes,
};

/// A row of `containers`. `root_password` is ciphertext bound to the row (see `crypto`),
/// present only until the container is created on its node.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = containers)]
pub struct ContainerRow {
    pub id: i64,
    pub node_id: i64,
    pub template_id: Option<i64>,
    pub vmid: Option<i32>,
    pub hostname: String,
    pub created_at: DateTime<Utc>,
    pub owner_id: Option<i64>,
    pub kind: String,
    pub template_slug: Option<String>,
    pub template_hash: Option<String>,
    pub status: String,
    pub job_id: Option<i64>,
    pub request: serde_json::Value,
    pub root_password: Option<Vec<u8>>,
    pub address: Option<String>,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// A template test run: the creation ends with a pass/fail report (`containers::test_run`).
    pub test_run: bool,
    /// A test run's container stays after the report (else it is deleted).
    pub keep_after_test: bool,
    /// Not created by Kiln: adopted from the node as it was (`ContainerService::adopt`).
    pub adopted: bool,
    /// An adopted container's own hostname on the node when it was adopted.
    pub adopted_name: Option<String>,
    /// The cluster member it was last seen on.
    pub pve_node: Option<String>,
    /// Its power state on the node when last seen (`running`, `stopped`).
    pub power: Option<String>,
    /// Its figures when last seen (`kiln_shared::inventory::Live`).
    pub live: Option<serde_json::Value>,
    /// When its node last answered for it.
    pub seen_at: Option<DateTime<Utc>>,
}

impl ContainerRow {
    /// The associated data binding this row's root password to it.
    pub fn secret_context(id: i64) -> String {
        format!("containers.root_password:{id}")
    }
}

/// A new container, before anything is sent to its node.
#[derive(Debug, Insertable)]
#[diesel(table_name = containers)]
pub struct NewContainer<'a> {
    pub node_id: i64,
    pub template_id: Option<i64>,
    pub hostname: &'a str,
    pub owner_id: Option<i64>,
    pub kind: &'a str,
    pub template_slug: Option<&'a str>,
    pub template_hash: Option<&'a str>,
    pub status: &'a str,
    pub request: &'a serde_json::Value,
    pub vmid: Option<i32>,
    /// A template test run (see [`ContainerRow::test_run`]).
    pub test_run: bool,
    /// Kept after a test run's report.
    pub keep_after_test: bool,
}

/// Inserts a container; returns its id.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewContainer<'_>) -> QueryResult<i64> {
    diesel::insert_into(containers::table)
        .values(new)
        .returning(containers::id)
        .get_result(conn)
        .await
}

/// The name of the unique index on (`owner_id`, `idempotency_key`): a violation of it means
/// another request with the same key created its container first.
pub const IDEMPOTENCY_INDEX: &str = "containers_idempotency";

/// A creation's idempotency key (an API client's `Idempotency-Key`) and the digest of the
/// request it came with (without secrets), stored on the row it created.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub digest: &'a str,
}

/// Inserts a container with the idempotency key of the request that creates it, in the same
/// statement (the unique index on owner and key then decides between two requests at once:
/// see [`IDEMPOTENCY_INDEX`]); returns its id.
pub async fn insert_keyed(
    conn: &mut AsyncPgConnection,
    new: &NewContainer<'_>,
    key: Option<Idempotency<'_>>,
) -> QueryResult<i64> {
    let Some(key) = key else {
        return insert(conn, new).await;
    };
    diesel::insert_into(containers::table)
        .values((
            new,
            containers::idempotency_key.eq(key.key),
            containers::idempotency_digest.eq(key.digest),
        ))
        .returning(containers::id)
        .get_result(conn)
        .await
}

/// Whether `err` is a violation of [`IDEMPOTENCY_INDEX`].
pub fn is_idempotency_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) if info.constraint_name() == Some(IDEMPOTENCY_INDEX)
    )
}

/// The container `owner` created with idempotency key `key`: its id, creation job and the
/// digest of the request that created it.
pub async fn by_idempotency_key(
    conn: &mut AsyncPgConnection,
    owner: i64,
    key: &str,
) -> QueryResult<Option<(i64, Option<i64>, Option<String>)>> {
    containers::table
        .filter(containers::owner_id.eq(owner))
        .filter(containers::idempotency_key.eq(key))
        .select((
            containers::id,
            containers::job_id,
            containers::idempotency_digest,
        ))
        .first(conn)
        .await
        .optional()
}

/// One container; `owner` `None` means any (an admin, or the job).
pub async fn get(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
    id: i64,
) -> QueryResult<Option<ContainerRow>> {
    let mut query = containers::table
        .filter(containers::id.eq(id))
        .select(ContainerRow::as_select())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(containers::owner_id.eq(owner));
    }
    query.first(conn).await.optional()
}

/// Containers, newest first; `owner` `None` means everybody's.
pub async fn list(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
) -> QueryResult<Vec<(ContainerRow, String)>> {
    let mut query = containers::table
        .inner_join(nodes::table)
        .order(containers::id.desc())
        .select((ContainerRow::as_select(), nodes::name))
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(containers::owner_id.eq(owner));
    }
    query.load(conn).await
}

/// Hostnames already used on a node (for suggestions and the uniqueness check).
pub async fn hostnames_on(conn: &mut AsyncPgConnection, node_id: i64) -> QueryResult<Vec<String>> {
    containers::table
        .filter(containers::node_id.eq(node_id))
        .select(containers::hostname)
        .load(conn)
        .await
}

/// VMIDs Kiln has reserved on a node.
pub async fn vmids_on(conn: &mut AsyncPgConnection, node_id: i64) -> QueryResult<Vec<i32>> {
    containers::table
        .filter(containers::node_id.eq(node_id))
        .filter(containers::vmid.is_not_null())
        .select(containers::vmid.assume_not_null())
        .load(conn)
        .await
}

/// Reserves `vmid` for container `id`; `false` when another container holds it on the node
/// (the unique index decides, atomically across workers).
pub async fn reserve_vmid(conn: &mut AsyncPgConnection, id: i64, vmid: i32) -> QueryResult<bool> {
    let result = diesel::update(containers::table.find(id))
        .set((
            containers::vmid.eq(vmid),
            containers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sets the creation job.
pub async fn set_job(conn: &mut AsyncPgConnection, id: i64, job_id: i64) -> QueryResult<()> {
    diesel::update(containers::table.find(id))
        .set(containers::job_id.eq(job_id))
        .execute(conn)
        .await
        .map(drop)
}

/// Stores (sealed) or clears the root password.
pub async fn set_root_password(
    conn: &mut AsyncPgConnection,
    id: i64,
    sealed: Option<&[u8]>,
) -> QueryResult<()> {
    diesel::update(containers::table.find(id))
        .set(containers::root_password.eq(sealed))
        .execute(conn)
        .await
        .map(drop)
}

/// Sets the status (and the error shown for `failed`).
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    id: i64,
    status: &str,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(containers::table.find(id))
        .set((
            containers::status.eq(status),
            containers::error.eq(error),
            containers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Records the template content (hash) a creation really used.
pub async fn set_template_hash(
    conn: &mut AsyncPgConnection,
    id: i64,
    hash: Option<&str>,
) -> QueryResult<()> {
    diesel::update(containers::table.find(id))
        .set((
            containers::template_hash.eq(hash),
            containers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Records the address the container reported.
pub async fn set_address(conn: &mut AsyncPgConnection, id: i64, address: &str) -> QueryResult<()> {
    diesel::update(containers::table.find(id))
        .set((
            containers::address.eq(address),
            containers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Removes a container row (and, by cascade, its events, services and credentials).
pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(containers::table.find(id))
        .execute(conn)
        .await
}

/// One event of a container's creation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = container_events)]
pub struct EventRow {
    pub container_id: i64,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub phase: String,
    pub kind: String,
    pub text: String,
}

/// Appends an event numbered one after the container's last; returns its number. Only the
/// job holding the container's lease writes events, so numbers never collide. One statement.
pub async fn append_event(
    conn: &mut AsyncPgConnection,
    container_id: i64,
    phase: &str,
    kind: &str,
    text: &str,
) -> QueryResult<i64> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    let row: Seq = diesel::sql_query(
        "INSERT INTO container_events (container_id, seq, phase, kind, text)
         SELECT $1, COALESCE(max(seq), 0) + 1, $2, $3, $4
         FROM container_events WHERE container_id = $1
         RETURNING seq",
    )
    .bind::<BigInt, _>(container_id)
    .bind::<Text, _>(phase)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(text)
    .get_result(conn)
    .await?;
    Ok(row.seq)
}

/// Whose lease a fenced write checks: the job and its lease owner token.
#[derive(Debug, Clone, Copy)]
pub struct LeaseHolder<'a> {
    pub job: i64,
    pub owner: &'a str,
}

/// The lease check of a one-statement write: a row while job `$1` runs under owner `$2`,
/// locked `FOR SHARE` until the statement commits, so no other worker takes the job over
/// before the write is in (what `Lease::fence` does for a transaction, in one round trip).
const LEASE_CTE: &str = "lease AS (
    SELECT id FROM jobs WHERE id = $1 AND lease_owner = $2 AND state = 'running' FOR SHARE)";

/// Appends `texts` as events numbered on from the container's last, in one statement that
/// writes only while `holder` holds the job's lease. Returns the last number, or `None` when
/// the lease is lost (nothing written). `texts` empty: `Some(0)`.
pub async fn append_events_fenced(
    conn: &mut AsyncPgConnection,
    holder: LeaseHolder<'_>,
    container_id: i64,
    phase: &str,
    kind: &str,
    texts: &[String],
) -> QueryResult<Option<i64>> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Nullable<BigInt>)]
        seq: Option<i64>,
    }
    if texts.is_empty() {
        return Ok(Some(0));
    }
    let last: Last = diesel::sql_query(format!(
        "WITH {LEASE_CTE},
         written AS (
             INSERT INTO container_events (container_id, seq, phase, kind, text)
             SELECT $3, base.seq + line.n, $4, $5, line.text
             FROM (SELECT COALESCE(max(seq), 0) AS seq FROM container_events
                   WHERE container_id = $3) AS base,
                  unnest($6::text[]) WITH ORDINALITY AS line(text, n)
             WHERE EXISTS (SELECT 1 FROM lease)
             RETURNING seq)
         SELECT max(seq) AS seq FROM written"
    ))
    .bind::<BigInt, _>(holder.job)
    .bind::<Text, _>(holder.owner)
    .bind::<BigInt, _>(container_id)
    .bind::<Text, _>(phase)
    .bind::<Text, _>(kind)
    .bind::<Array<Text>, _>(texts)
    .get_result(conn)
    .await?;
    Ok(last.seq)
}

/// Enters `phase`: the job's phase and the container's `phase` event, in one statement that
/// writes only while `holder` holds the lease. Returns whether cancelling was requested and
/// the event's number, or `None` when the lease is lost (nothing written).
pub async fn enter_phase_fenced(
    conn: &mut AsyncPgConnection,
    holder: LeaseHolder<'_>,
    container_id: i64,
    phase: &str,
) -> QueryResult<Option<(bool, i64)>> {
    use diesel::sql_types::{BigInt, Bool, Nullable, Text};
    #[derive(QueryableByName)]
    struct Entered {
        #[diesel(sql_type = Nullable<Bool>)]
        cancel: Option<bool>,
        #[diesel(sql_type = Nullable<BigInt>)]
        seq: Option<i64>,
    }
    let entered: Entered = diesel::sql_query(
        "WITH job AS (
             UPDATE jobs SET phase = $4, updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'
             RETURNING cancel_requested),
         written AS (
             INSERT INTO container_events (container_id, seq, phase, kind, text)
             SELECT $3, COALESCE(max(seq), 0) + 1, $4, 'phase', $4
             FROM container_events WHERE container_id = $3
             HAVING EXISTS (SELECT 1 FROM job)
             RETURNING seq)
         SELECT (SELECT cancel_requested FROM job) AS cancel,
                (SELECT seq FROM written) AS seq",
    )
    .bind::<BigInt, _>(holder.job)
    .bind::<Text, _>(holder.owner)
    .bind::<BigInt, _>(container_id)
    .bind::<Text, _>(phase)
    .get_result(conn)
    .await?;
    Ok(entered.cancel.zip(entered.seq))
}

/// Events after number `after`, in order, at most `limit`.
pub async fn events_after(
    conn: &mut AsyncPgConnection,
    container_id: i64,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    container_events::table
        .filter(container_events::container_id.eq(container_id))
        .filter(container_events::seq.gt(after))
        .order(container_events::seq.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
        .await
}

impl From<EventRow> for kiln_shared::progress::ContainerEvent {
    fn from(row: EventRow) -> Self {
        kiln_shared::progress::ContainerEvent {
            seq: row.seq,
            at: row.at.to_rfc3339(),
            phase: row.phase,
            kind: row.kind,
            text: row.text,
        }
    }
}

/// A container's status and error (what a progress watcher re-reads), `None` when the row is
/// gone. Not scoped: the watcher was authorized when it connected.
pub async fn status_of(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Option<(String, Option<String>)>> {
    containers::table
        .find(id)
        .select((containers::status, containers::error))
        .first(conn)
        .await
        .optional()
}

// ---- discovery: services and credentials ---------------------------------------------------

/// A service found in a container (a systemd unit its template added).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = container_services)]
pub struct ServiceRow {
    pub id: i64,
    pub container_id: i64,
    pub name: String,
    pub unit: String,
    pub state: String,
    pub ports: Vec<i32>,
    pub web_url: Option<String>,
}

/// A service as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, AsChangeset)]
#[diesel(table_name = container_services)]
pub struct NewService {
    pub container_id: i64,
    pub name: String,
    pub unit: String,
    pub state: String,
    pub ports: Vec<i32>,
    #[diesel(treat_none_as_null = true)]
    pub web_url: Option<String>,
}

/// A credential as discovery found it, its value already sealed with
/// [`credential_context`]. `Debug` leaves the value out.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub service: String,
    pub key: String,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("service", &self.service)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The associated data binding a credential's sealed value to its container, service and
/// key: a value copied to another row does not decrypt. Service and key names hold no `:`
/// (`containers::discover::{valid_service, valid_key}`).
pub fn credential_context(container_id: i64, service: &str, key: &str) -> String {
    format!("container_credentials:{container_id}:{service}:{key}")
}

/// Makes what is stored for container `id` what discovery found: services and credentials
/// found are inserted or updated in place, the ones no longer found removed. Running it twice
/// with the same findings changes nothing but the credentials' nonces.
pub async fn replace_discovered(
    conn: &mut AsyncPgConnection,
    id: i64,
    services: &[NewService],
    credentials: &[NewCredential],
) -> QueryResult<()> {
    use container_credentials as cc;
    use container_services as cs;
    let units: Vec<&str> = services.iter().map(|s| s.unit.as_str()).collect();
    diesel::delete(
        cs::table
            .filter(cs::container_id.eq(id))
            .filter(cs::unit.ne_all(&units)),
    )
    .execute(conn)
    .await?;
    for service in services {
        diesel::insert_into(cs::table)
            .values(service)
            .on_conflict((cs::container_id, cs::unit))
            .do_update()
            .set(service)
            .execute(conn)
            .await?;
    }
    let existing: Vec<(i64, String, String)> = cc::table
        .filter(cc::container_id.eq(id))
        .select((cc::id, cc::service, cc::key))
        .load(conn)
        .await?;
    let stale: Vec<i64> = existing
        .into_iter()
        .filter(|(_, service, key)| {
            !credentials
                .iter()
                .any(|c| &c.service == service && &c.key == key)
        })
        .map(|(row, _, _)| row)
        .collect();
    diesel::delete(cc::table.filter(cc::id.eq_any(&stale)))
        .execute(conn)
        .await?;
    for credential in credentials {
        diesel::insert_into(cc::table)
            .values((
                cc::container_id.eq(id),
                cc::service.eq(&credential.service),
                cc::key.eq(&credential.key),
                cc::value.eq(&credential.sealed),
            ))
            .on_conflict((cc::container_id, cc::service, cc::key))
            .do_update()
            .set(cc::value.eq(&credential.sealed))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The services found in container `id`, by name.
pub async fn services_of(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Vec<ServiceRow>> {
    use container_services as cs;
    cs::table
        .filter(cs::container_id.eq(id))
        .order((cs::name.asc(), cs::unit.asc()))
        .select(ServiceRow::as_select())
        .load(conn)
        .await
}

/// The (service, key) of container `id`'s credentials, by service, keys in the order they
/// were first found. No value.
pub async fn credential_keys(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Vec<(String, String)>> {
    use container_credentials as cc;
    cc::table
        .filter(cc::container_id.eq(id))
        .order((cc::service.asc(), cc::id.asc()))
        .select((cc::service, cc::key))
        .load(conn)
        .await
}

/// One credential's sealed value (open it with [`credential_context`]).
pub async fn credential_value(
    conn: &mut AsyncPgConnection,
    id: i64,
    service: &str,
    key: &str,
) -> QueryResult<Option<Vec<u8>>> {
    use container_credentials as cc;
    cc::table
        .filter(cc::container_id.eq(id))
        .filter(cc::service.eq(service))
        .filter(cc::key.eq(key))
        .select(cc::value)
        .first(conn)
        .await
        .optional()
}

/// One container with its node's name; `owner` `None` means any (an admin).
pub async fn get_with_node(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
    id: i64,
) -> QueryResult<Option<(ContainerRow, String)>> {
    let mut query = containers::table
        .inner_join(nodes::table)
        .filter(containers::id.eq(id))
        .select((ContainerRow::as_select(), nodes::name))
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(containers::owner_id.eq(owner));
    }
    query.first(conn).await.optional()
}

/// The container `id` (of `owner`; `None`: anyone's), locked `FOR UPDATE` until the caller's
/// transaction ends: a status change decided on what it read cannot race another.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
    id: i64,
) -> QueryResult<Option<ContainerRow>> {
    let row = containers::table
        .filter(containers::id.eq(id))
        .select(ContainerRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    // Another owner's row stays locked until the transaction ends, and is not returned.
    Ok(row.filter(|r| owner.is_none() || r.owner_id == owner))
}

/// Sets the status (and error) unless the container is being deleted: the creation job's
/// status writes, so that a creation ending after its deletion began leaves `deleting` as it
/// is. Returns whether the row changed.
pub async fn set_status_unless_deleting(
    conn: &mut AsyncPgConnection,
    id: i64,
    status: &str,
    error: Option<&str>,
) -> QueryResult<bool> {
    let rows = diesel::update(
        containers::table
            .filter(containers::id.eq(id))
            .filter(containers::status.ne("deleting")),
    )
    .set((
        containers::status.eq(status),
        containers::error.eq(error),
        containers::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

/// Sets the status (and error) only while it is `from`. Returns whether the row changed.
pub async fn change_status(
    conn: &mut AsyncPgConnection,
    id: i64,
    from: &str,
    to: &str,
    error: Option<&str>,
) -> QueryResult<bool> {
    let rows = diesel::update(
        containers::table
            .filter(containers::id.eq(id))
            .filter(containers::status.eq(from)),
    )
    .set((
        containers::status.eq(to),
        containers::error.eq(error),
        containers::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(rows == 1)
}

/// The advisory lock class of a node's new containers (the first key of
/// `pg_advisory_xact_lock(int, int)`; the second is the node's id).
const NEW_ON_NODE: i32 = 0x6b69_6c6e; // "kiln"

/// Serializes the creations on node `node_id` until the caller's transaction ends, so that
/// checking a hostname or VMID and inserting the row are one step for concurrent requests.
pub async fn lock_new_on_node(conn: &mut AsyncPgConnection, node_id: i64) -> QueryResult<()> {
    use diesel::sql_types::Integer;
    // Node ids beyond i32 share a lock with another node: only a little more waiting.
    let key = i32::try_from(node_id.rem_euclid(i64::from(i32::MAX))).unwrap_or_default();
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind::<Integer, _>(NEW_ON_NODE)
        .bind::<Integer, _>(key)
        .execute(conn)
        .await
        .map(drop)
}

/// A container Kiln did not create, adopted as it is on its node.
#[derive(Debug)]
pub struct AdoptedContainer<'a> {
    pub node_id: i64,
    pub owner_id: i64,
    pub vmid: i32,
    pub hostname: &'a str,
    /// Its hostname on the node (what a deletion checks before destroying it).
    pub adopted_name: Option<&'a str>,
    pub request: &'a serde_json::Value,
    pub pve_node: &'a str,
    pub power: Option<&'a str>,
}

/// Inserts an adopted container (status `ready`, no job); returns its id. The unique index
/// on `(node_id, vmid)` refuses a container Kiln already has.
pub async fn insert_adopted(
    conn: &mut AsyncPgConnection,
    new: &AdoptedContainer<'_>,
) -> QueryResult<i64> {
    diesel::insert_into(containers::table)
        .values((
            containers::node_id.eq(new.node_id),
            containers::owner_id.eq(new.owner_id),
            containers::vmid.eq(new.vmid),
            containers::hostname.eq(new.hostname),
            containers::kind.eq("lxc"),
            containers::status.eq("ready"),
            containers::request.eq(new.request),
            containers::adopted.eq(true),
            containers::adopted_name.eq(new.adopted_name),
            containers::pve_node.eq(new.pve_node),
            containers::power.eq(new.power),
            containers::seen_at.eq(diesel::dsl::now),
        ))
        .returning(containers::id)
        .get_result(conn)
        .await
}

/// Records the power state a lifecycle action left container `id` in, and where it runs.
pub async fn set_power(
    conn: &mut AsyncPgConnection,
    id: i64,
    member: &str,
    power: &str,
) -> QueryResult<()> {
    diesel::update(containers::table.find(id))
        .set((
            containers::pve_node.eq(member),
            containers::power.eq(power),
            containers::seen_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// What a node said of one of Kiln's containers in a refresh.
#[derive(Debug, Clone)]
pub struct Seen {
    pub id: i64,
    pub member: String,
    pub power: String,
    pub live: serde_json::Value,
}

/// Records what the nodes said of Kiln's containers (one statement), for the rows whose
/// state changed or whose record is older than `every_secs` — the dashboard's refreshes do
/// not write on every page view.
pub async fn record_seen(
    conn: &mut AsyncPgConnection,
    seen: &[Seen],
    every_secs: i32,
) -> QueryResult<usize> {
    use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Text};
    if seen.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = seen.iter().map(|s| s.id).collect();
    let members: Vec<&str> = seen.iter().map(|s| s.member.as_str()).collect();
    let powers: Vec<&str> = seen.iter().map(|s| s.power.as_str()).collect();
    let lives: Vec<&serde_json::Value> = seen.iter().map(|s| &s.live).collect();
    diesel::sql_query(
        "UPDATE containers c
         SET pve_node = u.member, power = u.power, live = u.live, seen_at = now()
         FROM unnest($1::int8[], $2::text[], $3::text[], $4::jsonb[]) AS u(id, member, power, live)
         WHERE c.id = u.id
           AND (c.seen_at IS NULL
                OR c.seen_at < now() - make_interval(secs => $5)
                OR c.power IS DISTINCT FROM u.power
                OR c.pve_node IS DISTINCT FROM u.member)",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<Text>, _>(members)
    .bind::<Array<Text>, _>(powers)
    .bind::<Array<Jsonb>, _>(lives)
    .bind::<Integer, _>(every_secs)
    .execute(conn)
    .await
}

/// The web links of the services of containers `ids`: (container, service name, URL).
pub async fn web_links(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> QueryResult<Vec<(i64, String, String)>> {
    use container_services as cs;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String, Option<String>)> = cs::table
        .filter(cs::container_id.eq_any(ids))
        .filter(cs::web_url.is_not_null())
        .order((cs::container_id.asc(), cs::name.asc()))
        .select((cs::container_id, cs::name, cs::web_url))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, url)| Some((id, name, url?)))
        .collect())
}
