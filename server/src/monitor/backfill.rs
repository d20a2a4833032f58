//! Gaps filled from the node's own RRD: when a node answers for the first time since Kiln
//! started (or since it stopped answering), each running container whose last sample is
//! older than [`GAP`](super::collect::GAP) gets its node's `rrddata` for the time it missed:
//! the `hour` timeframe (1-minute rows, average and maximum) into the 1-minute tier, the
//! `day` timeframe (30-minute rows) into the 1-hour tier for older parts. A back-filled
//! bucket counts as a full one, so a later rollup with fewer samples does not replace it,
//! and one with real samples does.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use kiln_shared::pve::RrdPoint;

use super::collect::{GAP, Monitor, guest_key};
use super::observation::{GuestKind, Seen};
use super::store::Store;
use crate::app_state::AppState;
use crate::db::metrics::{self as q, Bucket, Tier};
use crate::db::nodes::NodeRow;
use crate::proxmox::ProxmoxApi;

/// A back-fill of one node's running containers.
pub struct Backfill {
    state: AppState,
    store: Arc<Store>,
    row: NodeRow,
    /// (vmid, member).
    guests: Vec<(u32, String)>,
    timeout: std::time::Duration,
    /// The poll that found the node answering again: the gap ends there.
    before: DateTime<Utc>,
    keys: Vec<crate::db::metrics::SeriesKey>,
}

impl Backfill {
    pub fn new(monitor: &Monitor, row: &NodeRow, seen: &Seen, before: DateTime<Utc>) -> Backfill {
        let guests: Vec<(u32, String)> = seen
            .guests
            .iter()
            .filter(|g| g.status == "running" && g.kind == Some(GuestKind::Lxc))
            .filter_map(|g| Some((g.vmid, g.member.clone()?)))
            .collect();
        let keys = guests
            .iter()
            .map(|(vmid, _)| guest_key(row.id, GuestKind::Lxc, *vmid))
            .collect();
        Backfill {
            state: monitor.state.clone(),
            store: monitor.store.clone(),
            row: row.clone(),
            guests,
            timeout: monitor.options.timeout,
            before,
            keys,
        }
    }

    /// Fills the gaps; returns the buckets written.
    pub async fn run(self) -> anyhow::Result<usize> {
        if self.guests.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        let mut conn = self.state.conn().await?;
        let ids = q::series_ids(&mut conn, &self.keys).await?;
        let last: BTreeMap<i32, DateTime<Utc>> = q::last_samples(&mut conn, &ids, self.before)
            .await?
            .into_iter()
            .collect();
        drop(conn);
        let gap = chrono::Duration::from_std(GAP).unwrap_or(chrono::Duration::minutes(2));
        let client = self
            .state
            .node_clients
            .client(&self.row, &self.state.secret_key)?;
        let wanted: Vec<(i32, u32, String, DateTime<Utc>)> = self
            .guests
            .iter()
            .zip(&ids)
            .filter_map(|((vmid, member), id)| {
                // Never sampled: whatever the node has; else only the gap.
                let since = last
                    .get(id)
                    .copied()
                    .unwrap_or(now - chrono::Duration::days(2));
                (since < now - gap).then(|| (*id, *vmid, member.clone(), since))
            })
            .collect();
        let timeout = self.timeout;
        let fetched: Vec<anyhow::Result<Vec<(Tier, Bucket)>>> =
            futures::stream::iter(wanted.into_iter().map(|(id, vmid, member, since)| {
                let client = Arc::clone(&client);
                async move {
                    let mut out = Vec::new();
                    for (timeframe, tier) in [("hour", Tier::Minute), ("day", Tier::Hour)] {
                        let ask = |cf: &'static str| {
                            let client = Arc::clone(&client);
                            let member = member.clone();
                            async move {
                                tokio::time::timeout(
                                    timeout,
                                    client.lxc_rrddata(&member, vmid, timeframe, cf),
                                )
                                .await
                                .map_err(|_| anyhow::anyhow!("rrddata timed out"))?
                                .map_err(anyhow::Error::from)
                            }
                        };
                        let (avg, max) = tokio::join!(ask("AVERAGE"), ask("MAX"));
                        out.extend(
                            buckets(id, tier, &avg?, &max.unwrap_or_default(), since, now)
                                .into_iter()
                                .map(|b| (tier, b)),
                        );
                    }
                    Ok(out)
                }
            }))
            .buffer_unordered(4)
            .collect()
            .await;
        let mut minute = Vec::new();
        let mut hour = Vec::new();
        for result in fetched {
            for (tier, bucket) in result? {
                if tier == Tier::Minute {
                    minute.push(bucket);
                } else {
                    hour.push(bucket);
                }
            }
        }
        let mut conn = self.state.conn().await?;
        let mut written = 0;
        for (tier, list) in [(Tier::Minute, minute), (Tier::Hour, hour)] {
            if let (Some(first), Some(last)) = (
                list.iter().map(|b| b.at).min(),
                list.iter().map(|b| b.at).max(),
            ) {
                self.store
                    .ensure_range(&mut conn, tier, first, last + chrono::Duration::seconds(1))
                    .await?;
                written += q::insert_buckets(&mut conn, tier, &list).await?;
            }
        }
        Ok(written)
    }
}

/// The buckets of `tier` that RRD rows (`avg`, `max`, same times) give for the time after
/// `since` and before the current bucket: rows without figures (the guest was not running)
/// give none; 30-minute rows are joined into hours.
pub fn buckets(
    series_id: i32,
    tier: Tier,
    avg: &[RrdPoint],
    max: &[RrdPoint],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Bucket> {
    let step = tier.bucket_secs();
    let current = now.timestamp().div_euclid(step) * step;
    let maxima: BTreeMap<i64, &RrdPoint> = max.iter().map(|p| (p.time, p)).collect();
    // Bucket start → the rows in it.
    let mut grouped: BTreeMap<i64, Vec<(&RrdPoint, Option<&RrdPoint>)>> = BTreeMap::new();
    for p in avg.iter().filter(|p| p.cpu.is_some()) {
        let start = p.time.div_euclid(step) * step;
        if p.time <= since.timestamp() || start >= current {
            continue;
        }
        grouped
            .entry(start)
            .or_default()
            .push((p, maxima.get(&p.time).copied()));
    }
    let full = match tier {
        Tier::Minute => 6,
        Tier::Hour => 360,
        _ => 8_640,
    };
    grouped
        .into_iter()
        .filter_map(|(start, rows)| {
            let at = Utc.timestamp_opt(start, 0).single()?;
            let pick = |f: fn(&RrdPoint) -> Option<f64>| -> [Option<f32>; 3] {
                let avgs: Vec<f64> = rows.iter().filter_map(|(a, _)| f(a)).collect();
                let maxs: Vec<f64> = rows
                    .iter()
                    .filter_map(|(a, m)| m.and_then(f).or_else(|| f(a)))
                    .collect();
                if avgs.is_empty() {
                    return [None; 3];
                }
                let mean = avgs.iter().sum::<f64>() / avgs.len() as f64;
                let min = avgs.iter().copied().fold(f64::INFINITY, f64::min);
                let top = maxs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                [
                    Some(mean as f32),
                    Some(min as f32),
                    Some(top.max(mean) as f32),
                ]
            };
            let fields: [[Option<f32>; 3]; 8] = [
                pick(|p| p.cpu),
                pick(|p| p.mem),
                pick(|p| p.disk),
                pick(|p| p.netin),
                pick(|p| p.netout),
                pick(|p| p.diskread),
                pick(|p| p.diskwrite),
                [None; 3],
            ];
            let mut values = [None; 24];
            for (i, v) in fields.iter().flatten().enumerate() {
                values[i] = *v;
            }
            let top = |f: fn(&RrdPoint) -> Option<f64>| {
                rows.iter()
                    .filter_map(|(a, _)| f(a))
                    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                    .map(|v| v as i64)
            };
            Some(Bucket {
                series_id,
                at,
                n: full,
                values,
                maxmem: top(|p| p.maxmem),
                maxdisk: top(|p| p.maxdisk),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(time: i64, cpu: Option<f64>) -> RrdPoint {
        RrdPoint {
            time,
            cpu,
            maxcpu: Some(1.0),
            mem: cpu.map(|c| c * 1000.0),
            maxmem: Some(1000.0),
            disk: None,
            maxdisk: None,
            netin: None,
            netout: None,
            diskread: None,
            diskwrite: None,
        }
    }

    #[test]
    fn rows_after_the_gap_start_and_before_now_become_buckets() {
        let now = Utc.timestamp_opt(1_800_000_000 / 60 * 60 + 30, 0).single();
        let Some(now) = now else { panic!("time") };
        let t = now.timestamp() / 60 * 60;
        let avg: Vec<RrdPoint> = (1..=5)
            .rev()
            .map(|i| point(t - i * 60, Some(0.1 * i as f64)))
            .chain([point(t, Some(0.9))])
            .collect();
        let mut max = avg.clone();
        max[1].cpu = Some(0.95);
        let since = Utc.timestamp_opt(t - 4 * 60 - 1, 0).single();
        let Some(since) = since else { panic!("time") };
        let got = buckets(7, Tier::Minute, &avg, &max, since, now);
        // t-4m .. t-1m: four buckets; t-5m is before the gap, t is the current bucket.
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].at.timestamp(), t - 240);
        assert_eq!(got[0].values[0], Some(0.4));
        assert_eq!(got[0].values[2], Some(0.95), "the MAX row's maximum");
        assert_eq!(got[0].maxmem, Some(1000));
        assert_eq!(got[0].n, 6);
        // A row without figures (not running) gives no bucket.
        let stopped = vec![point(t - 120, None)];
        assert!(buckets(7, Tier::Minute, &stopped, &[], since, now).is_empty());
    }

    #[test]
    fn half_hours_join_into_hours() {
        let now = Utc
            .timestamp_opt(1_800_003_600 / 3600 * 3600 + 10, 0)
            .single();
        let Some(now) = now else { panic!("time") };
        let h = now.timestamp() / 3600 * 3600 - 3600;
        let avg = vec![point(h, Some(0.2)), point(h + 1800, Some(0.4))];
        let since = Utc.timestamp_opt(h - 1, 0).single();
        let Some(since) = since else { panic!("time") };
        let got = buckets(1, Tier::Hour, &avg, &[], since, now);
        assert_eq!(got.len(), 1);
        let v = &got[0].values;
        assert!((v[0].unwrap_or(0.0) - 0.3).abs() < 1e-6);
        assert_eq!(v[1], Some(0.2));
        assert_eq!(v[2], Some(0.4));
    }
}
