//! Queries on the resource history: `metric_series`, the time-partitioned sample tables
//! (`metric_raw`, `metric_1m`, `metric_1h`, `metric_1d`), their partitions and rollups, and
//! `node_watch`.
//!
//! Every statement is built from the fixed lists below (tables, fields), never from input;
//! values are bound.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Float4, Integer, Nullable, Text, Timestamptz,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The fields that get min/avg/max rollups, in column order.
pub const ROLLED: [&str; 8] = [
    "cpu",
    "mem",
    "disk",
    "netin",
    "netout",
    "diskread",
    "diskwrite",
    "load",
];

/// A sample table and how its partitions are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Raw,
    Minute,
    Hour,
    Day,
}

/// How long one partition of a tier covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
    Year,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Raw, Tier::Minute, Tier::Hour, Tier::Day];

    pub fn table(self) -> &'static str {
        match self {
            Tier::Raw => "metric_raw",
            Tier::Minute => "metric_1m",
            Tier::Hour => "metric_1h",
            Tier::Day => "metric_1d",
        }
    }

    /// A bucket's length in seconds (a raw sample: the poll interval, not fixed).
    pub fn bucket_secs(self) -> i64 {
        match self {
            Tier::Raw => 0,
            Tier::Minute => 60,
            Tier::Hour => 3_600,
            Tier::Day => 86_400,
        }
    }

    pub fn period(self) -> Period {
        match self {
            Tier::Raw | Tier::Minute => Period::Day,
            Tier::Hour => Period::Month,
            Tier::Day => Period::Year,
        }
    }

    /// The tier this one is rolled up from.
    pub fn source(self) -> Option<Tier> {
        match self {
            Tier::Raw => None,
            Tier::Minute => Some(Tier::Raw),
            Tier::Hour => Some(Tier::Minute),
            Tier::Day => Some(Tier::Hour),
        }
    }
}

impl Period {
    /// The partition holding `at`: its name suffix and its bounds.
    pub fn bounds(self, at: DateTime<Utc>) -> (String, DateTime<Utc>, DateTime<Utc>) {
        let utc = |y: i32, m: u32, d: u32| {
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| Utc.from_utc_datetime(&t))
                .unwrap_or(at)
        };
        match self {
            Period::Day => {
                let start = utc(at.year(), at.month(), at.day());
                let end = start + chrono::Duration::days(1);
                (start.format("%Y%m%d").to_string(), start, end)
            }
            Period::Month => {
                let start = utc(at.year(), at.month(), 1);
                let end = if at.month() == 12 {
                    utc(at.year() + 1, 1, 1)
                } else {
                    utc(at.year(), at.month() + 1, 1)
                };
                (start.format("%Y%m").to_string(), start, end)
            }
            Period::Year => {
                let start = utc(at.year(), 1, 1);
                let end = utc(at.year() + 1, 1, 1);
                (start.format("%Y").to_string(), start, end)
            }
        }
    }

    /// The end of the partition whose name suffix is `suffix`.
    pub fn end_of(self, suffix: &str) -> Option<DateTime<Utc>> {
        let (y, m, d) = match (self, suffix.len()) {
            (Period::Day, 8) => (
                suffix.get(0..4)?.parse().ok()?,
                suffix.get(4..6)?.parse().ok()?,
                suffix.get(6..8)?.parse().ok()?,
            ),
            (Period::Month, 6) => (
                suffix.get(0..4)?.parse().ok()?,
                suffix.get(4..6)?.parse().ok()?,
                1,
            ),
            (Period::Year, 4) => (suffix.parse().ok()?, 1, 1),
            _ => return None,
        };
        let start = Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d)?.and_hms_opt(0, 0, 0)?);
        Some(self.bounds(start).2)
    }
}

/// Creates the partition of `tier` that holds `at` unless it exists. Returns its name.
pub async fn ensure_partition(
    conn: &mut AsyncPgConnection,
    tier: Tier,
    at: DateTime<Utc>,
) -> diesel::QueryResult<String> {
    let (suffix, start, end) = tier.period().bounds(at);
    let name = format!("{}_p{suffix}", tier.table());
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {} FOR VALUES FROM ('{}') TO ('{}')",
        tier.table(),
        start.to_rfc3339(),
        end.to_rfc3339()
    );
    match diesel::sql_query(sql).execute(conn).await {
        Ok(_) => Ok(name),
        // Another process made it at the same moment.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(name),
        Err(e) if e.to_string().contains("already exists") => Ok(name),
        Err(e) => Err(e),
    }
}

/// The partitions of `tier` in the current schema: (name, end).
pub async fn partitions(
    conn: &mut AsyncPgConnection,
    tier: Tier,
) -> diesel::QueryResult<Vec<(String, DateTime<Utc>)>> {
    #[derive(QueryableByName)]
    struct Part {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let parts: Vec<Part> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace",
    )
    .bind::<Text, _>(tier.table())
    .load(conn)
    .await?;
    let prefix = format!("{}_p", tier.table());
    Ok(parts
        .into_iter()
        .filter_map(|p| {
            let end = tier.period().end_of(p.name.strip_prefix(&prefix)?)?;
            Some((p.name, end))
        })
        .collect())
}

/// Drops the partitions of `tier` that end at or before `before`; returns their names.
pub async fn drop_partitions_before(
    conn: &mut AsyncPgConnection,
    tier: Tier,
    before: DateTime<Utc>,
) -> diesel::QueryResult<Vec<String>> {
    let mut dropped = Vec::new();
    for (name, end) in partitions(conn, tier).await? {
        if end <= before {
            diesel::sql_query(format!("DROP TABLE IF EXISTS {name}"))
                .execute(conn)
                .await?;
            dropped.push(name);
        }
    }
    Ok(dropped)
}

/// A series' identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub node_id: i64,
    /// `member`, `lxc` or `qemu`.
    pub kind: &'static str,
    /// 0 for a member.
    pub vmid: i32,
    /// '' for a guest.
    pub member: String,
}

/// The ids of `keys` (made when missing), in the same order.
pub async fn series_ids(
    conn: &mut AsyncPgConnection,
    keys: &[SeriesKey],
) -> diesel::QueryResult<Vec<i32>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Integer)]
        id: i32,
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let nodes: Vec<i64> = keys.iter().map(|k| k.node_id).collect();
    let kinds: Vec<&str> = keys.iter().map(|k| k.kind).collect();
    let vmids: Vec<i32> = keys.iter().map(|k| k.vmid).collect();
    let members: Vec<&str> = keys.iter().map(|k| k.member.as_str()).collect();
    // Insert the missing ones (nothing is updated), then read all of them.
    diesel::sql_query(
        "INSERT INTO metric_series (node_id, kind, vmid, member)
         SELECT * FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[])
         ON CONFLICT (node_id, kind, vmid, member) DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(&nodes)
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Integer>, _>(&vmids)
    .bind::<Array<Text>, _>(&members)
    .execute(conn)
    .await?;
    let found: Vec<Id> = diesel::sql_query(
        "SELECT s.id FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[])
             WITH ORDINALITY AS k(node_id, kind, vmid, member, n)
         JOIN metric_series s USING (node_id, kind, vmid, member)
         ORDER BY k.n",
    )
    .bind::<Array<BigInt>, _>(&nodes)
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Integer>, _>(&vmids)
    .bind::<Array<Text>, _>(&members)
    .load(conn)
    .await?;
    Ok(found.into_iter().map(|f| f.id).collect())
}

/// The id of a series, if it exists.
pub async fn series_id(
    conn: &mut AsyncPgConnection,
    key: &SeriesKey,
) -> diesel::QueryResult<Option<i32>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Integer)]
        id: i32,
    }
    let found: Option<Id> = diesel::sql_query(
        "SELECT id FROM metric_series WHERE node_id = $1 AND kind = $2 AND vmid = $3 AND member = $4",
    )
    .bind::<BigInt, _>(key.node_id)
    .bind::<Text, _>(key.kind)
    .bind::<Integer, _>(key.vmid)
    .bind::<Text, _>(&key.member)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(|e| match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    })?;
    Ok(found.map(|f| f.id))
}

/// One raw sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSample {
    pub series_id: i32,
    pub at: DateTime<Utc>,
    pub cpu: Option<f32>,
    pub mem: Option<i64>,
    pub maxmem: Option<i64>,
    pub disk: Option<i64>,
    pub maxdisk: Option<i64>,
    pub netin: Option<f32>,
    pub netout: Option<f32>,
    pub diskread: Option<f32>,
    pub diskwrite: Option<f32>,
    pub load: Option<f32>,
    pub uptime: Option<i64>,
}

/// Writes raw samples in one statement (their partitions must exist). A sample of a
/// series at a time already stored is ignored.
pub async fn insert_raw(
    conn: &mut AsyncPgConnection,
    samples: &[RawSample],
) -> diesel::QueryResult<usize> {
    if samples.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&RawSample) -> Option<f32>| samples.iter().map(f).collect::<Vec<_>>();
    let big = |f: fn(&RawSample) -> Option<i64>| samples.iter().map(f).collect::<Vec<_>>();
    diesel::sql_query(
        "INSERT INTO metric_raw (series_id, at, cpu, mem, maxmem, disk, maxdisk, netin, netout,
                                 diskread, diskwrite, load, uptime)
         SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::real[], $4::int8[], $5::int8[],
                              $6::int8[], $7::int8[], $8::real[], $9::real[], $10::real[],
                              $11::real[], $12::real[], $13::int8[])
         ON CONFLICT (series_id, at) DO NOTHING",
    )
    .bind::<Array<Integer>, _>(samples.iter().map(|s| s.series_id).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(samples.iter().map(|s| s.at).collect::<Vec<_>>())
    .bind::<Array<Nullable<Float4>>, _>(col(|s| s.cpu))
    .bind::<Array<Nullable<BigInt>>, _>(big(|s| s.mem))
    .bind::<Array<Nullable<BigInt>>, _>(big(|s| s.maxmem))
    .bind::<Array<Nullable<BigInt>>, _>(big(|s| s.disk))
    .bind::<Array<Nullable<BigInt>>, _>(big(|s| s.maxdisk))
    .bind::<Array<Nullable<Float4>>, _>(col(|s| s.netin))
    .bind::<Array<Nullable<Float4>>, _>(col(|s| s.netout))
    .bind::<Array<Nullable<Float4>>, _>(col(|s| s.diskread))
    .bind::<Array<Nullable<Float4>>, _>(col(|s| s.diskwrite))
    .bind::<Array<Nullable<Float4>>, _>(col(|s| s.load))
    .bind::<Array<Nullable<BigInt>>, _>(big(|s| s.uptime))
    .execute(conn)
    .await
}

/// One bucket of a rollup tier, written directly (back-filled from a node's own RRD):
/// `values` has avg, min, max for each of [`ROLLED`] in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub series_id: i32,
    pub at: DateTime<Utc>,
    pub n: i32,
    pub values: [Option<f32>; 24],
    pub maxmem: Option<i64>,
    pub maxdisk: Option<i64>,
}

/// The column list of a rollup table after `series_id, at, n`.
fn rolled_columns() -> String {
    let mut cols: Vec<String> = ROLLED
        .iter()
        .flat_map(|f| [format!("{f}_avg"), format!("{f}_min"), format!("{f}_max")])
        .collect();
    cols.push("maxmem".into());
    cols.push("maxdisk".into());
    cols.join(", ")
}

/// `SET` for an upsert that keeps the fuller bucket: a bucket is replaced only by one with
/// more samples behind it — never a back-filled one by a rollup with fewer, and not at all
/// by the same bucket rolled up again (no dead rows for nothing).
fn keep_fuller(table: &str) -> String {
    let sets: Vec<String> = std::iter::once("n".to_owned())
        .chain(
            rolled_columns()
                .split(", ")
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    format!(
        "ON CONFLICT (series_id, at) DO UPDATE SET {} WHERE {table}.n < EXCLUDED.n",
        sets.join(", ")
    )
}

/// Writes back-filled buckets into `tier` (their partitions must exist), keeping any
/// bucket that already has more samples behind it.
pub async fn insert_buckets(
    conn: &mut AsyncPgConnection,
    tier: Tier,
    buckets: &[Bucket],
) -> diesel::QueryResult<usize> {
    if buckets.is_empty() || tier == Tier::Raw {
        return Ok(0);
    }
    let table = tier.table();
    // One float array per value column, unnested side by side.
    let arrays: Vec<String> = (0..24).map(|i| format!("${}::real[]", i + 4)).collect();
    let sql = format!(
        "INSERT INTO {table} (series_id, at, n, {cols})
         SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::int4[], {arrays}, $28::int8[], $29::int8[])
         {conflict}",
        cols = rolled_columns(),
        arrays = arrays.join(", "),
        conflict = keep_fuller(table),
    );
    let mut query = diesel::sql_query(sql)
        .bind::<Array<Integer>, _>(buckets.iter().map(|b| b.series_id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(buckets.iter().map(|b| b.at).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(buckets.iter().map(|b| b.n).collect::<Vec<_>>())
        .into_boxed();
    for i in 0..24 {
        query = query.bind::<Array<Nullable<Float4>>, _>(
            buckets.iter().map(|b| b.values[i]).collect::<Vec<_>>(),
        );
    }
    query
        .bind::<Array<Nullable<BigInt>>, _>(buckets.iter().map(|b| b.maxmem).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(buckets.iter().map(|b| b.maxdisk).collect::<Vec<_>>())
        .execute(conn)
        .await
}

/// Rolls `tier`'s source up into `tier` for the buckets in `from..until` (whole buckets;
/// safe to run again: a bucket is replaced only by one with more samples behind it).
pub async fn roll_up(
    conn: &mut AsyncPgConnection,
    tier: Tier,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    let Some(source) = tier.source() else {
        return Ok(0);
    };
    let bucket = tier.bucket_secs();
    let mut select = Vec::new();
    for f in ROLLED {
        if source == Tier::Raw {
            select.push(format!("avg({f}), min({f}), max({f})"));
        } else {
            select.push(format!(
                "sum({f}_avg::float8 * n) / NULLIF(sum(n) FILTER (WHERE {f}_avg IS NOT NULL), 0), \
                 min({f}_min), max({f}_max)"
            ));
        }
    }
    let count = if source == Tier::Raw {
        "count(*)"
    } else {
        "sum(n)"
    };
    let sql = format!(
        "INSERT INTO {table} (series_id, at, n, {cols})
         SELECT series_id, date_bin('{bucket} seconds', at, TIMESTAMPTZ 'epoch'), {count},
                {select}, max(maxmem), max(maxdisk)
         FROM {src} WHERE at >= $1 AND at < $2
         GROUP BY 1, 2
         {conflict}",
        table = tier.table(),
        cols = rolled_columns(),
        select = select.join(", "),
        src = source.table(),
        conflict = keep_fuller(tier.table()),
    );
    diesel::sql_query(sql)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(until)
        .execute(conn)
        .await
}

/// How far the rollup into `tier` has gone.
pub async fn rolled_until(
    conn: &mut AsyncPgConnection,
    tier: Tier,
) -> diesel::QueryResult<Option<DateTime<Utc>>> {
    #[derive(QueryableByName)]
    struct Done {
        #[diesel(sql_type = Timestamptz)]
        done_until: DateTime<Utc>,
    }
    let found: Vec<Done> =
        diesel::sql_query("SELECT done_until FROM metric_rollups WHERE tier = $1")
            .bind::<Text, _>(tier.table())
            .load(conn)
            .await?;
    Ok(found.into_iter().next().map(|d| d.done_until))
}

/// Records how far the rollup into `tier` has gone.
pub async fn set_rolled_until(
    conn: &mut AsyncPgConnection,
    tier: Tier,
    until: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO metric_rollups (tier, done_until) VALUES ($1, $2)
         ON CONFLICT (tier) DO UPDATE SET done_until = GREATEST(metric_rollups.done_until, EXCLUDED.done_until)",
    )
    .bind::<Text, _>(tier.table())
    .bind::<Timestamptz, _>(until)
    .execute(conn)
    .await
}

/// One slot of a read series: its start (unix seconds) and avg/min/max per [`ROLLED`]
/// field, then maxmem and maxdisk (26 values).
#[derive(Debug, Clone, QueryableByName)]
pub struct Slot {
    #[diesel(sql_type = BigInt)]
    pub t: i64,
    #[diesel(sql_type = Array<Nullable<Double>>)]
    pub v: Vec<Option<f64>>,
}

/// Series `series_id` in `from..until` from `tier`, in slots of `step` seconds (aligned to
/// the epoch), oldest first; slots without samples are absent.
pub async fn read_slots(
    conn: &mut AsyncPgConnection,
    tier: Tier,
    series_id: i32,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    step: i64,
) -> diesel::QueryResult<Vec<Slot>> {
    let mut values = Vec::new();
    for f in ROLLED {
        if tier == Tier::Raw {
            values.push(format!(
                "avg({f})::float8, min({f})::float8, max({f})::float8"
            ));
        } else {
            values.push(format!(
                "sum({f}_avg::float8 * n) / NULLIF(sum(n) FILTER (WHERE {f}_avg IS NOT NULL), 0), \
                 min({f}_min)::float8, max({f}_max)::float8"
            ));
        }
    }
    let sql = format!(
        "SELECT extract(epoch FROM date_bin('{step} seconds', at, TIMESTAMPTZ 'epoch'))::int8 AS t,
                ARRAY[{values}, max(maxmem)::float8, max(maxdisk)::float8] AS v
         FROM {table} WHERE series_id = $1 AND at >= $2 AND at < $3
         GROUP BY 1 ORDER BY 1",
        values = values.join(", "),
        table = tier.table(),
    );
    diesel::sql_query(sql)
        .bind::<Integer, _>(series_id)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(until)
        .load(conn)
        .await
}

/// The last hour's CPU of `series` in 1-minute slots: (series, slot start, avg).
pub async fn cpu_minutes(
    conn: &mut AsyncPgConnection,
    series: &[i32],
    from: DateTime<Utc>,
) -> diesel::QueryResult<Vec<(i32, i64, Option<f64>)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        series_id: i32,
        #[diesel(sql_type = BigInt)]
        t: i64,
        #[diesel(sql_type = Nullable<Double>)]
        cpu: Option<f64>,
    }
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT series_id, extract(epoch FROM date_bin('60 seconds', at, TIMESTAMPTZ 'epoch'))::int8 AS t,
                avg(cpu)::float8 AS cpu
         FROM metric_raw WHERE series_id = ANY($1) AND at >= $2
         GROUP BY 1, 2",
    )
    .bind::<Array<Integer>, _>(series)
    .bind::<Timestamptz, _>(from)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.series_id, r.t, r.cpu))
        .collect())
}

/// The series of guests `(node, vmid)`: (node, vmid, series id).
pub async fn guest_series(
    conn: &mut AsyncPgConnection,
    guests: &[(i64, i32)],
) -> diesel::QueryResult<Vec<(i64, i32, i32)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        node_id: i64,
        #[diesel(sql_type = Integer)]
        vmid: i32,
        #[diesel(sql_type = Integer)]
        id: i32,
    }
    if guests.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT s.node_id, s.vmid, s.id FROM metric_series s
         JOIN unnest($1::int8[], $2::int4[]) AS g(node_id, vmid)
           ON s.node_id = g.node_id AND s.vmid = g.vmid AND s.kind IN ('lxc', 'qemu')",
    )
    .bind::<Array<BigInt>, _>(guests.iter().map(|g| g.0).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(guests.iter().map(|g| g.1).collect::<Vec<_>>())
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.node_id, r.vmid, r.id))
        .collect())
}

/// The time of the last raw sample before `before` of each of `series` (absent: none).
pub async fn last_samples(
    conn: &mut AsyncPgConnection,
    series: &[i32],
    before: DateTime<Utc>,
) -> diesel::QueryResult<Vec<(i32, DateTime<Utc>)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        series_id: i32,
        #[diesel(sql_type = Timestamptz)]
        at: DateTime<Utc>,
    }
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT s.id AS series_id, last.at FROM unnest($1::int4[]) AS s(id)
         CROSS JOIN LATERAL (SELECT at FROM metric_raw r WHERE r.series_id = s.id AND r.at < $2
                             ORDER BY at DESC LIMIT 1) AS last",
    )
    .bind::<Array<Integer>, _>(series)
    .bind::<Timestamptz, _>(before)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.series_id, r.at)).collect())
}

/// Kiln's containers on node `node_id` with a VMID: (vmid, container id), oldest first
/// (a VMID used again belongs to the newest).
pub async fn kiln_guests(
    conn: &mut AsyncPgConnection,
    node_id: i64,
) -> diesel::QueryResult<Vec<(i32, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        vmid: i32,
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT vmid, id FROM containers WHERE node_id = $1 AND vmid IS NOT NULL ORDER BY id",
    )
    .bind::<BigInt, _>(node_id)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.vmid, r.id)).collect())
}

/// A node's reachability as the monitor last saw it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct WatchRow {
    #[diesel(sql_type = BigInt)]
    pub node_id: i64,
    #[diesel(sql_type = Text)]
    pub node_name: String,
    #[diesel(sql_type = Bool)]
    pub reachable: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub unreachable_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_seen: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

/// Records a poll of node `node_id`: reachable (the answer came at `at`), or not (`error`).
/// The first failure after answers sets `unreachable_since`; an answer clears it. Returns
/// the row as it is now.
pub async fn record_poll(
    conn: &mut AsyncPgConnection,
    node_id: i64,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> diesel::QueryResult<Option<WatchRow>> {
    let rows: Vec<WatchRow> = diesel::sql_query(
        "WITH up AS (
             INSERT INTO node_watch AS w (node_id, reachable, unreachable_since, last_seen, error, polled_at)
             SELECT $1, $3::text IS NULL, CASE WHEN $3::text IS NULL THEN NULL ELSE $2 END,
                    CASE WHEN $3::text IS NULL THEN $2 END, $3, $2
             WHERE EXISTS (SELECT 1 FROM nodes WHERE id = $1)
             ON CONFLICT (node_id) DO UPDATE SET
                 reachable = EXCLUDED.reachable,
                 unreachable_since = CASE
                     WHEN EXCLUDED.reachable THEN NULL
                     ELSE COALESCE(w.unreachable_since, EXCLUDED.unreachable_since) END,
                 last_seen = COALESCE(EXCLUDED.last_seen, w.last_seen),
                 error = EXCLUDED.error,
                 polled_at = EXCLUDED.polled_at
             RETURNING w.*)
         SELECT up.node_id, n.name AS node_name, up.reachable, up.unreachable_since, up.last_seen, up.error
         FROM up JOIN nodes n ON n.id = up.node_id",
    )
    .bind::<BigInt, _>(node_id)
    .bind::<Timestamptz, _>(at)
    .bind::<Nullable<Text>, _>(error)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next())
}

/// The reachability of node `node_id`, if the monitor polled it.
pub async fn watch(
    conn: &mut AsyncPgConnection,
    node_id: i64,
) -> diesel::QueryResult<Option<WatchRow>> {
    let rows: Vec<WatchRow> = diesel::sql_query(
        "SELECT w.node_id, n.name AS node_name, w.reachable, w.unreachable_since, w.last_seen, w.error
         FROM node_watch w JOIN nodes n ON n.id = w.node_id WHERE w.node_id = $1",
    )
    .bind::<BigInt, _>(node_id)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next())
}

/// The reachability of the nodes of `owner` (every node for `None`).
pub async fn watches(
    conn: &mut AsyncPgConnection,
    owner: Option<i64>,
) -> diesel::QueryResult<Vec<WatchRow>> {
    diesel::sql_query(
        "SELECT w.node_id, n.name AS node_name, w.reachable, w.unreachable_since, w.last_seen, w.error
         FROM node_watch w JOIN nodes n ON n.id = w.node_id
         WHERE $1::int8 IS NULL OR n.owner_id = $1
         ORDER BY n.name",
    )
    .bind::<Nullable<BigInt>, _>(owner)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_cut_by_day_month_and_year() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).single();
        let Some(at) = at else {
            panic!("a valid time");
        };
        let (name, start, end) = Period::Day.bounds(at);
        assert_eq!(name, "20261231");
        assert_eq!(start.to_rfc3339(), "2026-12-31T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        let (name, _, end) = Period::Month.bounds(at);
        assert_eq!(name, "202612");
        assert_eq!(end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        let (name, _, end) = Period::Year.bounds(at);
        assert_eq!(name, "2026");
        assert_eq!(Period::Year.end_of("2026"), Some(end));
        assert_eq!(
            Period::Day.end_of("20261231").map(|t| t.to_rfc3339()),
            Some("2027-01-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            Period::Month.end_of("202602").map(|t| t.to_rfc3339()),
            Some("2026-03-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(Period::Day.end_of("2026"), None);
        assert_eq!(Period::Month.end_of("2026x1"), None);
    }

    #[test]
    fn the_upsert_keeps_the_fuller_bucket() {
        let sql = keep_fuller("metric_1m");
        assert!(sql.contains("cpu_avg = EXCLUDED.cpu_avg"));
        assert!(sql.contains("maxdisk = EXCLUDED.maxdisk"));
        assert!(sql.ends_with("WHERE metric_1m.n < EXCLUDED.n"));
    }
}
