//! The resource history's benchmark (issue 12): 1,000 guests polled every 10 s, a simulated
//! 30 days of rollups, the disk each tier takes and the chart queries' latency.
//!
//! ```text
//! cargo bench -p kiln-server --bench metrics
//! ```
//!
//! Runs against the test PostgreSQL (`TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) in a schema of its own (`kiln_bench_metrics_<pid>`,
//! migrated like the server's), dropped at the end, after a failure and on Ctrl-C. It prints:
//!
//! 1. raw inserts: an hour of polls (360 × 1,000 samples, one `insert_raw` statement per poll);
//! 2. rollups: that hour raw → 1 min; then 30 days of 1-minute buckets generated for the
//!    first `BENCH_METRICS_GUESTS` guests (default 200; 1000 for the full size: ~43 M rows,
//!    ~9 GiB, several minutes) and rolled up hour by hour into 1 h, as the monitor does; 335
//!    more days of hours generated (the 1-year chart has a year to read); the days rolled
//!    up day by day;
//! 3. the disk per tier (`pg_total_relation_size` of its partitions, indexes included, after
//!    `VACUUM ANALYZE`): bytes per row, rows and MiB per day for 1,000 guests, and the
//!    steady-state size at the default retention;
//! 4. the chart query (`MonitorService::read`, pool checkout included) per range over
//!    `BENCH_METRICS_QUERIES` (default 200) random guests: p50/p90/p99/max;
//! 5. the monitor's maintenance run (`Store::maintain`, once a minute) at steady state.
//!
//! Only the bulk generation of the simulated history is SQL of its own (`generate_series`);
//! every write, rollup and read goes through `db::metrics`, `monitor::store` and
//! `monitor::service`.

mod history;

use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use kiln_server::db::metrics::{self as q, RawSample, SeriesKey, Tier};
use kiln_server::db::{self, DbConn};
use kiln_server::monitor::Retention;
use kiln_server::monitor::store::Store;

/// The guests of the raw hour (10 nodes × 100, like `bench-dashboard.sh`'s labs).
const GUESTS: usize = 1_000;
const NODES: usize = 10;
/// One poll every 10 s for an hour.
const POLLS: i64 = 360;
const POLL_SECS: i64 = 10;

/// What the environment asks for.
struct Options {
    database: String,
    /// Guests with 30 days of minutes and a year of hours.
    history_guests: usize,
    /// Chart queries per range.
    queries: usize,
}

fn options() -> Result<Options> {
    let number = |name: &str, default: usize| -> Result<usize> {
        match std::env::var(name) {
            Ok(v) => v.parse().with_context(|| format!("{name}: not a number")),
            Err(_) => Ok(default),
        }
    };
    let history_guests = number("BENCH_METRICS_GUESTS", 200)?;
    if history_guests == 0 || history_guests > GUESTS {
        bail!("BENCH_METRICS_GUESTS must be 1..={GUESTS}");
    }
    Ok(Options {
        database: std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        history_guests,
        queries: number("BENCH_METRICS_QUERIES", 200)?.max(1),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let opts = options()?;
    let schema = format!("kiln_bench_metrics_{}", std::process::id());
    let mut admin = AsyncPgConnection::establish(&opts.database)
        .await
        .context("connecting to TEST_DATABASE_URL")?;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let outcome = tokio::select! {
        r = run(&opts, &schema) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // A statement still running on a dropped connection holds its locks until it ends.
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND application_name = '{schema}'"
        ))
        .await
        .ok();
    let dropped = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .with_context(|| format!("dropping schema {schema}"));
    outcome?;
    dropped?;
    println!("schema {schema} dropped");
    Ok(())
}

/// Adds the schema (and a name to find the connections by) to the database URL.
fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}")
}

async fn run(opts: &Options, schema: &str) -> Result<()> {
    let started = Instant::now();
    let url = with_search_path(&opts.database, schema);
    let pool = db::pool(&url, 4)?;
    db::migrate(&pool).await?;
    let mut conn = pool.get().await?;
    // The bulk statements below take longer than a request may.
    conn.batch_execute("SET statement_timeout = 0").await?;
    let ids = make_series(&mut conn).await?;
    let history = &ids[..opts.history_guests];
    let store = Store::new(Retention::default());
    // The simulated "now": the top of the current hour; the raw hour ends there.
    let end = Utc::now().duration_trunc(Duration::hours(1))?;
    println!(
        "resource history: {GUESTS} guests on {NODES} nodes, a poll every {POLL_SECS} s; \
         30 days of history for {} of them (BENCH_METRICS_GUESTS); PostgreSQL {}",
        history.len(),
        server_version(&mut conn).await?
    );

    println!("\n1. raw samples (insert_raw, one statement per poll of {GUESTS} guests)");
    raw_hour(&mut conn, &store, &ids, end).await?;

    println!("\n2. rollups");
    let t = Instant::now();
    store
        .ensure_range(&mut conn, Tier::Minute, end - Duration::hours(1), end)
        .await?;
    let n = q::roll_up(&mut conn, Tier::Minute, end - Duration::hours(1), end).await?;
    println!(
        "   raw → 1 min, the hour of {GUESTS} guests: {n} buckets from {} samples in {} ms",
        GUESTS as i64 * POLLS,
        t.elapsed().as_millis()
    );
    history::simulate(&mut conn, &store, history, end).await?;

    println!("\n3. disk per tier (VACUUM ANALYZE first; indexes included)");
    let t = Instant::now();
    conn.batch_execute("VACUUM ANALYZE metric_raw, metric_1m, metric_1h, metric_1d")
        .await?;
    println!("   (VACUUM ANALYZE: {:.1} s)", t.elapsed().as_secs_f64());
    history::disk(&mut conn).await?;

    println!(
        "\n4. chart queries: MonitorService::read, {} random guests per range (budget: 30 days < 30 ms)",
        opts.queries
    );
    drop(conn);
    history::charts(&pool, &url, history, end, opts.queries).await?;

    println!("\n5. the monitor's maintenance run at steady state (Store::maintain, once a minute)");
    let mut conn = pool.get().await?;
    history::maintenance(&mut conn, &store, end).await?;

    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
    drop(conn);
    pool.close();
    Ok(())
}

async fn server_version(conn: &mut DbConn) -> Result<String> {
    #[derive(diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let v: V = diesel::sql_query("SELECT current_setting('server_version') AS v")
        .get_result(conn)
        .await?;
    Ok(v.v)
}

/// A user, `NODES` nodes and `GUESTS` container series (`metric_series`), as the monitor
/// would make them.
async fn make_series(conn: &mut DbConn) -> Result<Vec<i32>> {
    let user = db::users::insert(
        conn,
        &db::users::NewUser {
            username: "bench",
            password_hash: "-",
            is_admin: true,
        },
    )
    .await?
    .context("user taken")?;
    let mut keys = Vec::with_capacity(GUESTS);
    for n in 0..NODES {
        let name = format!("node{n}");
        let node = db::nodes::insert(
            conn,
            &db::nodes::NewNode {
                owner_id: user.id,
                name: &name,
                host: "192.0.2.10",
                port: 8006,
                is_cluster: false,
                fingerprint: "AB:CD",
                token_id: "root@pam!kiln",
                token_secret: &[],
                is_lab: true,
            },
        )
        .await?
        .context("node name taken")?;
        for g in 0..GUESTS / NODES {
            keys.push(SeriesKey {
                node_id: node.id,
                kind: "lxc",
                vmid: 100 + i32::try_from(g)?,
                member: String::new(),
            });
        }
    }
    Ok(q::series_ids(conn, &keys).await?)
}

/// A small deterministic generator (xorshift64*): no `rand` in the server's dependencies.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// An hour of polls of every guest, written as the monitor writes them; prints the rate.
async fn raw_hour(conn: &mut DbConn, store: &Store, ids: &[i32], end: DateTime<Utc>) -> Result<()> {
    let start = end - Duration::hours(1);
    store.ensure_range(conn, Tier::Raw, start, end).await?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut times = Vec::with_capacity(POLLS as usize);
    let mut samples = Vec::with_capacity(ids.len());
    for k in 0..POLLS {
        let at = start + Duration::seconds(k * POLL_SECS);
        samples.clear();
        for (i, id) in ids.iter().enumerate() {
            let maxmem = 2_147_483_648_i64;
            samples.push(RawSample {
                series_id: *id,
                at,
                cpu: Some(rng.unit() * 0.5),
                mem: Some((rng.unit() * maxmem as f32) as i64),
                maxmem: Some(maxmem),
                disk: Some(1_000_000_000 + i as i64 * 1_000_000),
                maxdisk: Some(8_589_934_592),
                netin: Some(rng.unit() * 1e5),
                netout: Some(rng.unit() * 1e5),
                diskread: Some(rng.unit() * 1e6),
                diskwrite: Some(rng.unit() * 1e6),
                load: None,
                uptime: Some(86_400 + k * POLL_SECS),
            });
        }
        let t = Instant::now();
        let n = q::insert_raw(conn, &samples).await?;
        times.push(t.elapsed());
        if n != samples.len() {
            bail!("poll {k}: {n} of {} samples written", samples.len());
        }
    }
    let total: StdDuration = times.iter().sum();
    let written = POLLS as f64 * ids.len() as f64;
    let s = Stats::of(&mut times);
    println!(
        "   {POLLS} polls × {} samples in {:.2} s: {:.0} samples/s; per poll p50 {} / p99 {} / max {} \
         ({:.2} % of the 10 s interval)",
        ids.len(),
        total.as_secs_f64(),
        written / total.as_secs_f64(),
        ms(s.p50),
        ms(s.p99),
        ms(s.max),
        s.p50.as_secs_f64() / POLL_SECS as f64 * 100.0
    );
    Ok(())
}

/// Percentiles of a set of timings.
struct Stats {
    p50: StdDuration,
    p90: StdDuration,
    p99: StdDuration,
    max: StdDuration,
}

impl Stats {
    fn of(times: &mut [StdDuration]) -> Stats {
        times.sort();
        let at = |p: f64| {
            let i = ((times.len() as f64 - 1.0) * p).round() as usize;
            times.get(i).copied().unwrap_or_default()
        };
        Stats {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: times.last().copied().unwrap_or_default(),
        }
    }
}

/// A duration as milliseconds with two decimals.
fn ms(d: StdDuration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
