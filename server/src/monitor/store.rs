//! The history's upkeep: partitions made before they are needed, rollups (raw → 1 minute
//! → 1 hour → 1 day), and whole partitions dropped once past their tier's retention.
//!
//! A rollup run covers the whole buckets between a little before where the last run stopped
//! (late samples, back-filled minutes) and the start of the current bucket, and records how
//! far it went (`metric_rollups`); running it again changes nothing, and a run when no bucket
//! has ended since the last one writes nothing.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::Retention;
use crate::db::DbConn;
use crate::db::metrics::{self as q, Tier};

/// What one maintenance run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintained {
    /// Buckets written per rollup tier (minute, hour, day).
    pub rolled: [usize; 3],
    /// Partitions dropped.
    pub dropped: Vec<String>,
}

/// The partitions known to exist (so a write does not ask PostgreSQL each time).
#[derive(Debug)]
pub struct Store {
    retention: Retention,
    known: Mutex<HashSet<String>>,
}

/// How far back a rollup run starts before where the last one stopped.
fn overlap(tier: Tier) -> Duration {
    match tier {
        Tier::Raw | Tier::Minute => Duration::minutes(5),
        Tier::Hour => Duration::hours(2),
        Tier::Day => Duration::days(2),
    }
}

impl Store {
    pub fn new(retention: Retention) -> Store {
        Store {
            retention,
            known: Mutex::new(HashSet::new()),
        }
    }

    /// How long `tier` is kept.
    pub fn retention(&self, tier: Tier) -> Duration {
        let d = match tier {
            Tier::Raw => self.retention.raw,
            Tier::Minute => self.retention.minutes,
            Tier::Hour => self.retention.hours,
            Tier::Day => self.retention.days,
        };
        Duration::from_std(d).unwrap_or(Duration::days(1))
    }

    /// Makes sure the partition of `tier` holding `at` exists.
    pub async fn ensure(
        &self,
        conn: &mut DbConn,
        tier: Tier,
        at: DateTime<Utc>,
    ) -> diesel::QueryResult<()> {
        let (suffix, _, _) = tier.period().bounds(at);
        let name = format!("{}_p{suffix}", tier.table());
        if self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&name)
        {
            return Ok(());
        }
        q::ensure_partition(conn, tier, at).await?;
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name);
        Ok(())
    }

    /// Makes sure every partition of `tier` covering `from..until` exists.
    pub async fn ensure_range(
        &self,
        conn: &mut DbConn,
        tier: Tier,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> diesel::QueryResult<()> {
        let mut at = from;
        while at < until {
            self.ensure(conn, tier, at).await?;
            let (_, _, end) = tier.period().bounds(at);
            at = end;
        }
        Ok(())
    }

    /// One maintenance run as of `now`.
    pub async fn maintain(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Maintained> {
        let mut done = Maintained::default();
        // The current and the next partition of every tier, so writes never wait for DDL.
        for tier in Tier::ALL {
            self.ensure(conn, tier, now).await?;
            let (_, _, end) = tier.period().bounds(now);
            self.ensure(conn, tier, end).await?;
        }
        for (i, tier) in [Tier::Minute, Tier::Hour, Tier::Day]
            .into_iter()
            .enumerate()
        {
            done.rolled[i] = self.roll(conn, tier, now).await?;
        }
        for tier in Tier::ALL {
            let before = now - self.retention(tier);
            let dropped = q::drop_partitions_before(conn, tier, before).await?;
            if !dropped.is_empty() {
                let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
                for name in &dropped {
                    known.remove(name);
                }
            }
            done.dropped.extend(dropped);
        }
        Ok(done)
    }

    /// Rolls up into `tier` every whole bucket not rolled up yet, as of `now`.
    pub async fn roll(
        &self,
        conn: &mut DbConn,
        tier: Tier,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let Some(source) = tier.source() else {
            return Ok(0);
        };
        let bucket = Duration::seconds(tier.bucket_secs());
        let until = now.duration_trunc(bucket)?;
        let from = match q::rolled_until(conn, tier).await? {
            // No bucket has ended since the last run: nothing to write (late samples and
            // back-filled buckets are taken in by the overlap when the next one ends).
            Some(done) if done >= until => return Ok(0),
            Some(done) => done - overlap(tier),
            None => (now - self.retention(source)).duration_trunc(bucket)?,
        };
        if from >= until {
            return Ok(0);
        }
        self.ensure_range(conn, tier, from, until).await?;
        let written = q::roll_up(conn, tier, from, until).await?;
        q::set_rolled_until(conn, tier, until).await?;
        Ok(written)
    }
}
