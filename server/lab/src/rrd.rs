//! Resource history for real containers, kept like PVE's RRD files: for each timeframe
//! (hour, day, week, month, year) 70 rows of one step each, holding the average and the
//! maximum of the samples that fell in the row. Fed every few seconds by the lab's sampler
//! from the runtime's live figures (counters become rates per second); kept in memory (a
//! restarted lab starts a new history).

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::runtime::Usage;

/// Rows kept per timeframe (PVE's `rrddata` shows about 70).
const ROWS: usize = 70;

/// The timeframes and their steps in seconds.
pub const TIMEFRAMES: [(&str, i64); 5] = [
    ("hour", 60),
    ("day", 1800),
    ("week", 10_800),
    ("month", 43_200),
    ("year", 604_800),
];

/// One sample: gauges, and rates in bytes per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    cpu: f64,
    mem: f64,
    disk: f64,
    netin: f64,
    netout: f64,
    diskread: f64,
    diskwrite: f64,
}

impl Sample {
    fn fields(&self) -> [(&'static str, f64); 7] {
        [
            ("cpu", self.cpu),
            ("mem", self.mem),
            ("disk", self.disk),
            ("netin", self.netin),
            ("netout", self.netout),
            ("diskread", self.diskread),
            ("diskwrite", self.diskwrite),
        ]
    }
    fn zip(&self, other: &Sample, f: impl Fn(f64, f64) -> f64) -> Sample {
        Sample {
            cpu: f(self.cpu, other.cpu),
            mem: f(self.mem, other.mem),
            disk: f(self.disk, other.disk),
            netin: f(self.netin, other.netin),
            netout: f(self.netout, other.netout),
            diskread: f(self.diskread, other.diskread),
            diskwrite: f(self.diskwrite, other.diskwrite),
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    time: i64,
    count: u32,
    sum: Sample,
    max: Sample,
}

/// One container's history.
#[derive(Debug, Clone, Default)]
pub struct Rrd {
    archives: [VecDeque<Row>; 5],
    /// The last counters seen (time, usage) for rates.
    last: Option<(i64, Usage)>,
}

impl Rrd {
    /// Adds the figures read at `time` (unix seconds).
    pub fn add(&mut self, time: i64, usage: &Usage) {
        let rate = |now: u64, before: u64, secs: i64| {
            if secs <= 0 {
                0.0
            } else {
                now.saturating_sub(before) as f64 / secs as f64
            }
        };
        let (netin, netout, diskread, diskwrite) = match &self.last {
            Some((then, before)) => {
                let secs = time - then;
                (
                    rate(usage.netin, before.netin, secs),
                    rate(usage.netout, before.netout, secs),
                    rate(usage.diskread, before.diskread, secs),
                    rate(usage.diskwrite, before.diskwrite, secs),
                )
            }
            None => (0.0, 0.0, 0.0, 0.0),
        };
        self.last = Some((time, *usage));
        let sample = Sample {
            cpu: usage.cpu,
            mem: usage.mem as f64,
            disk: usage.disk as f64,
            netin,
            netout,
            diskread,
            diskwrite,
        };
        for (archive, (_, step)) in self.archives.iter_mut().zip(TIMEFRAMES) {
            let slot = time / step * step;
            match archive.back_mut() {
                Some(row) if row.time == slot => {
                    row.count += 1;
                    row.sum = row.sum.zip(&sample, |a, b| a + b);
                    row.max = row.max.zip(&sample, f64::max);
                }
                _ => {
                    archive.push_back(Row {
                        time: slot,
                        count: 1,
                        sum: sample,
                        max: sample,
                    });
                    while archive.len() > ROWS {
                        archive.pop_front();
                    }
                }
            }
        }
    }

    /// Forgets the counters (the container stopped: the next start begins at zero).
    pub fn pause(&mut self) {
        self.last = None;
    }

    /// The rows of `timeframe` ending at `now` (`AVERAGE` or, with `max`, `MAX`): `base`
    /// (time, maxcpu, maxmem, maxdisk) in every row, figures where samples exist.
    pub fn rows(&self, timeframe: &str, max: bool, now: i64, base: &Value) -> Vec<Value> {
        let index = TIMEFRAMES
            .iter()
            .position(|(name, _)| *name == timeframe)
            .unwrap_or(0);
        let step = TIMEFRAMES[index].1;
        let end = now / step * step;
        let archive = &self.archives[index];
        (0..ROWS as i64)
            .rev()
            .map(|i| {
                let time = end - i * step;
                let mut row = base.clone();
                if let Some(map) = row.as_object_mut() {
                    map.insert("time".into(), json!(time));
                    if let Some(found) = archive.iter().find(|r| r.time == time) {
                        let value = if max {
                            found.max
                        } else {
                            let n = f64::from(found.count.max(1));
                            found.sum.zip(&Sample::default(), |a, _| a / n)
                        };
                        for (key, v) in value.fields() {
                            map.insert(key.into(), json!(v));
                        }
                    }
                }
                row
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_maxima_and_rates() {
        let mut rrd = Rrd::default();
        let t0 = 1_800_000_000 / 60 * 60;
        let at = |cpu: f64, netin: u64| Usage {
            cpu,
            mem: 100,
            netin,
            ..Usage::default()
        };
        rrd.add(t0, &at(0.2, 0));
        rrd.add(t0 + 10, &at(0.4, 10_000));
        rrd.add(t0 + 70, &at(0.1, 10_000));
        let base = json!({"maxcpu": 1});
        let rows = rrd.rows("hour", false, t0 + 70, &base);
        assert_eq!(rows.len(), ROWS);
        let last = &rows[ROWS - 1];
        let before = &rows[ROWS - 2];
        assert_eq!(before["time"], json!(t0));
        assert!((before["cpu"].as_f64().unwrap_or(0.0) - 0.3).abs() < 1e-9);
        assert!((before["netin"].as_f64().unwrap_or(0.0) - 500.0).abs() < 1e-9);
        assert!((last["cpu"].as_f64().unwrap_or(0.0) - 0.1).abs() < 1e-9);
        let max = rrd.rows("hour", true, t0 + 70, &base);
        assert!((max[ROWS - 2]["cpu"].as_f64().unwrap_or(0.0) - 0.4).abs() < 1e-9);
        assert!(rows[0].get("cpu").is_none(), "no samples that long ago");
        assert_eq!(rows[0]["maxcpu"], json!(1));
    }
}
