//! The simulated history (30 days of minutes, a year of hours) and what is measured on it:
//! rollups, disk per tier, chart queries, the maintenance run.

use std::time::{Duration as StdDuration, Instant};

use anyhow::{Result, anyhow};
use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use kiln_server::app_state::AppState;
use kiln_server::config::{Config, Overrides};
use kiln_server::db::metrics::{self as q, ROLLED, Tier};
use kiln_server::db::{DbConn, DbPool};
use kiln_server::monitor::Retention;
use kiln_server::monitor::service::MonitorService;
use kiln_server::monitor::store::Store;
use kiln_shared::metrics::{Field, Range};

use super::{GUESTS, POLL_SECS, Rng, Stats, ms};

/// Bulk rows for `table` between `$1` and `$2` every `step` for the series `$3`, time-major
/// (each slot's rows together, as the monitor writes them), with `n` samples behind each.
/// Guests have no load (NULL), like the monitor's.
fn generate_sql(table: &str, step: &str, n: i64) -> String {
    let cols: Vec<String> = ROLLED
        .iter()
        .map(|f| format!("{f}_avg, {f}_min, {f}_max"))
        .collect();
    format!(
        "INSERT INTO {table} (series_id, at, n, {cols}, maxmem, maxdisk)
         SELECT v.id, v.at, {n}, c, c * 0.5, c * 1.5, m, m * 0.9, m * 1.1, d, d, d,
                i, i * 0.2, i * 3, o, o * 0.2, o * 3, r, r * 0.1, r * 4, w, w * 0.1, w * 4,
                NULL, NULL, NULL, 2147483648, 8589934592
         FROM generate_series($1::timestamptz, $2::timestamptz - interval '{step}', interval '{step}') AS t(at),
         LATERAL (SELECT s.id, t.at, (random() * 0.5)::real AS c, (random() * 2e9)::real AS m,
                         (1e9 + s.id * 1e6)::real AS d, (random() * 1e5)::real AS i,
                         (random() * 1e5)::real AS o, (random() * 1e6)::real AS r,
                         (random() * 1e6)::real AS w
                  FROM unnest($3::int4[]) AS s(id)) AS v",
        cols = cols.join(", "),
    )
}

/// Writes generated rows for `from..until`, one statement per partition of `tier`.
async fn generate(
    conn: &mut DbConn,
    tier: Tier,
    ids: &[i32],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<usize> {
    let sql = match tier {
        Tier::Minute => generate_sql(tier.table(), "1 minute", 6),
        Tier::Hour => generate_sql(tier.table(), "1 hour", 360),
        _ => return Err(anyhow!("only minutes and hours are generated")),
    };
    let mut written = 0;
    let mut at = from;
    while at < until {
        let (_, _, end) = tier.period().bounds(at);
        let to = end.min(until);
        written += diesel::sql_query(&sql)
            .bind::<Timestamptz, _>(at)
            .bind::<Timestamptz, _>(to)
            .bind::<Array<Integer>, _>(ids)
            .execute(conn)
            .await?;
        at = to;
    }
    Ok(written)
}

/// 30 days of minutes (generated) rolled up hour by hour, a year of hours, days rolled up
/// day by day.
pub async fn simulate(
    conn: &mut DbConn,
    store: &Store,
    ids: &[i32],
    end: DateTime<Utc>,
) -> Result<()> {
    let guests = ids.len();
    let month = end - Duration::days(30);
    let hour_ago = end - Duration::hours(1);
    store.ensure_range(conn, Tier::Minute, month, end).await?;
    let t = Instant::now();
    let rows = generate(conn, Tier::Minute, ids, month, hour_ago).await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "   30 days of 1-min buckets for {guests} guests generated (generate_series): {rows} rows in \
         {secs:.1} s ({:.0} rows/s)",
        rows as f64 / secs
    );

    store.ensure_range(conn, Tier::Hour, month, end).await?;
    let mut times = Vec::with_capacity(720);
    let mut buckets = 0;
    let mut at = month;
    while at < end {
        let t = Instant::now();
        buckets += q::roll_up(conn, Tier::Hour, at, at + Duration::hours(1)).await?;
        times.push(t.elapsed());
        at += Duration::hours(1);
    }
    let total: StdDuration = times.iter().sum();
    let s = Stats::of(&mut times);
    println!(
        "   1 min → 1 h, 30 days, hour by hour ({} roll_up calls of {} minutes each): {buckets} buckets \
         in {:.1} s; per hour p50 {} / max {} (≈ {} for {GUESTS} guests)",
        times.len(),
        guests * 60,
        total.as_secs_f64(),
        ms(s.p50),
        ms(s.max),
        ms(s.p50.mul_f64(GUESTS as f64 / guests as f64)),
    );

    let year = end - Duration::days(365);
    store.ensure_range(conn, Tier::Hour, year, month).await?;
    let t = Instant::now();
    let rows = generate(conn, Tier::Hour, ids, year, month).await?;
    println!(
        "   the 335 days of 1-h buckets before them generated (for the 1-year chart): {rows} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let day = Duration::days(1);
    let first = year.duration_trunc(day)?;
    let last = end.duration_trunc(day)?;
    store.ensure_range(conn, Tier::Day, first, last).await?;
    let mut times = Vec::with_capacity(366);
    let mut buckets = 0;
    let mut at = first;
    while at < last {
        let t = Instant::now();
        buckets += q::roll_up(conn, Tier::Day, at, at + day).await?;
        times.push(t.elapsed());
        at += day;
    }
    let total: StdDuration = times.iter().sum();
    let s = Stats::of(&mut times);
    println!(
        "   1 h → 1 day, a year, day by day ({} calls): {buckets} buckets in {:.1} s; per day p50 {} / max {}",
        times.len(),
        total.as_secs_f64(),
        ms(s.p50),
        ms(s.max),
    );
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows and bytes of each tier; what that makes for 1,000 guests per day and at the
/// default retention.
pub async fn disk(conn: &mut DbConn) -> Result<()> {
    let retention = Retention::default();
    println!(
        "   {:<10} {:>5} {:>11} {:>10} {:>9} {:>15} {:>10} {:>10} {:>22}",
        "tier",
        "parts",
        "rows",
        "MiB",
        "B/row",
        "rows/day (1k)",
        "MiB/day",
        "retention",
        "steady state (1k)"
    );
    let mut steady = (0.0, 0.0);
    for tier in Tier::ALL {
        let parts: Vec<String> = q::partitions(conn, tier)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let bytes: Count = diesel::sql_query(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 AS n FROM pg_class c
             WHERE c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace",
        )
        .bind::<Array<Text>, _>(&parts)
        .get_result(conn)
        .await?;
        let rows: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {}", tier.table()))
            .get_result(conn)
            .await?;
        let per_row = bytes.n as f64 / rows.n.max(1) as f64;
        let per_day = match tier {
            Tier::Raw => GUESTS as f64 * 86_400.0 / POLL_SECS as f64,
            t => GUESTS as f64 * 86_400.0 / t.bucket_secs() as f64,
        };
        let mib_day = per_day * per_row / 1_048_576.0;
        let (kept, slack) = match tier {
            Tier::Raw => (retention.raw, 1.0),
            Tier::Minute => (retention.minutes, 1.0),
            Tier::Hour => (retention.hours, 31.0),
            Tier::Day => (retention.days, 366.0),
        };
        let days = kept.as_secs_f64() / 86_400.0;
        // Whole partitions go once past retention: up to one partition more is kept.
        let low = mib_day * days / 1024.0;
        let high = mib_day * (days + slack) / 1024.0;
        steady = (steady.0 + low, steady.1 + high);
        println!(
            "   {:<10} {:>5} {:>11} {:>10.1} {:>9.0} {:>15.0} {:>10.1} {:>8.0} d {:>9.2}–{:.2} GiB",
            tier.table(),
            parts.len(),
            rows.n,
            bytes.n as f64 / 1_048_576.0,
            per_row,
            per_day,
            mib_day,
            days,
            low,
            high
        );
    }
    println!(
        "   steady state for {GUESTS} guests at the default retention: {:.1}–{:.1} GiB",
        steady.0, steady.1
    );
    Ok(())
}

/// The chart query of each range over random guests, as the pages ask for it.
pub async fn charts(
    pool: &DbPool,
    url: &str,
    ids: &[i32],
    end: DateTime<Utc>,
    queries: usize,
) -> Result<()> {
    let no_env = |_: &str| None::<String>;
    let mut config = Config::load_from(&Overrides::default(), &no_env)?;
    config.database_url = Some(url.to_owned());
    let redis_url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // Connects lazily: the reads never use it.
    let redis = kiln_server::redis_pool::pool(&redis_url)?;
    let key = kiln_server::crypto::SecretKey::generate()?;
    let state = AppState::new(
        config,
        pool.clone(),
        redis,
        kiln_app::Assets::default(),
        key,
    );
    let service = MonitorService::new(state);
    let now = end - Duration::seconds(1);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut pick = || ids[((rng.unit() * ids.len() as f32) as usize).min(ids.len() - 1)];
    for _ in 0..5 {
        service
            .read(Some(pick()), Range::Hour, &Field::GUEST, now, None)
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    for (range, label) in [
        (Range::Month, "30 d (1 h tier, 720 slots)"),
        (Range::Year, "1 y (1 h tier, 365 slots of a day)"),
        (Range::Week, "7 d (1 min tier, 336 slots of 30 min)"),
        (Range::Day, "24 h (1 min tier, 288 slots of 5 min)"),
        (Range::Hour, "1 h (raw + 1 min, 360 slots)"),
    ] {
        let mut times = Vec::with_capacity(queries);
        let mut filled = usize::MAX;
        for _ in 0..queries {
            let id = pick();
            let t = Instant::now();
            let series = service
                .read(Some(id), range, &Field::GUEST, now, None)
                .await
                .map_err(|e| anyhow!("{e:?}"))?;
            times.push(t.elapsed());
            // (`RunQueryDsl::first` is in scope.)
            let n = <[_]>::first(&series.lines)
                .map_or(0, |l| l.avg.iter().filter(|v| v.is_some()).count());
            filled = filled.min(n);
        }
        let s = Stats::of(&mut times);
        println!(
            "   {label:<40} p50 {} / p90 {} / p99 {} / max {}; slots with data ≥ {filled}/{}",
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            range.slots()
        );
    }
    Ok(())
}

/// What the once-a-minute maintenance costs once the history is in place: three runs as of
/// the same minute (each one rolls up the same overlap again).
pub async fn maintenance(conn: &mut DbConn, store: &Store, end: DateTime<Utc>) -> Result<()> {
    q::set_rolled_until(conn, Tier::Minute, end).await?;
    q::set_rolled_until(conn, Tier::Hour, end).await?;
    q::set_rolled_until(conn, Tier::Day, end.duration_trunc(Duration::days(1))?).await?;
    let now = end + Duration::seconds(30);
    for run in 1..=3 {
        let t = Instant::now();
        let done = store.maintain(conn, now).await?;
        println!(
            "   run {run}: {} — buckets rolled up again: {} minutes, {} hours, {} days; {} partitions dropped",
            ms(t.elapsed()),
            done.rolled[0],
            done.rolled[1],
            done.rolled[2],
            done.dropped.len()
        );
    }
    Ok(())
}
