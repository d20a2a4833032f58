//! Resource history: what the charts ask for (`Range`, `Subject`) and get (`Series`), the
//! dashboard's sparklines, and what the offline views know about a node (`NodeWatch`).
//!
//! A series is aligned to slots: slot `i` covers `from + i * step .. from + (i + 1) * step`;
//! a slot without samples (Kiln was down, the node did not answer, the guest did not exist)
//! is `None` in every field, and a chart draws it as a gap.

use serde::{Deserialize, Serialize};

/// A chart's time range, as `?range=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Range {
    /// The last hour, from the raw 10 s samples.
    #[default]
    Hour,
    /// The last 24 hours, 5-minute slots from the 1-minute rollups.
    Day,
    /// The last 7 days, 30-minute slots from the 1-minute rollups.
    Week,
    /// The last 30 days, from the 1-hour rollups.
    Month,
    /// The last year, 1-day slots from the 1-hour rollups.
    Year,
}

impl Range {
    /// Every range, in the order the range picker shows them.
    pub const ALL: [Range; 5] = [
        Range::Hour,
        Range::Day,
        Range::Week,
        Range::Month,
        Range::Year,
    ];

    /// The range `?range=` names; the hour for anything else.
    pub fn parse(value: Option<&str>) -> Range {
        value.and_then(Range::from_word).unwrap_or_default()
    }

    /// The range `word` names exactly (as in [`Range::as_str`]); `None` for anything else
    /// (an export refuses it rather than guess).
    pub fn from_word(word: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|r| r.as_str() == word)
    }

    /// Its word in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Year => "1y",
        }
    }

    /// How the range picker labels it.
    pub fn label(self) -> &'static str {
        match self {
            Range::Hour => "1 hour",
            Range::Day => "24 hours",
            Range::Week => "7 days",
            Range::Month => "30 days",
            Range::Year => "1 year",
        }
    }

    /// How far back it reaches, in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Range::Hour => 3_600,
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
            Range::Year => 365 * 86_400,
        }
    }

    /// One slot's length in seconds (the chart has `seconds / step` slots).
    pub fn step(self) -> i64 {
        match self {
            Range::Hour => 10,
            Range::Day => 300,
            Range::Week => 1_800,
            Range::Month => 3_600,
            Range::Year => 86_400,
        }
    }

    /// How many slots its series has.
    pub fn slots(self) -> usize {
        usize::try_from(self.seconds() / self.step()).unwrap_or(0)
    }

    /// The first slot's start for a series ending at `now` (unix seconds): slots are
    /// aligned to their step, and the last one holds `now`.
    pub fn start(self, now: i64) -> i64 {
        let step = self.step();
        now.div_euclid(step) * step - (self.seconds() - step)
    }
}

/// Whose history a series is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// One of Kiln's containers, by its id.
    Container(i64),
    /// A cluster member of a Kiln node (`member` is the PVE node's name).
    Member {
        /// The Kiln node (the cluster's entry point).
        node_id: i64,
        /// The PVE node's name.
        member: String,
    },
}

/// One measured quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    /// CPU use as a share of the guest's (or node's) cores, 0..=1.
    Cpu,
    /// Memory used, bytes.
    Mem,
    /// Memory available, bytes.
    MaxMem,
    /// Root disk used, bytes.
    Disk,
    /// Root disk size, bytes.
    MaxDisk,
    /// Network received, bytes per second.
    NetIn,
    /// Network sent, bytes per second.
    NetOut,
    /// Disk read, bytes per second.
    DiskRead,
    /// Disk written, bytes per second.
    DiskWrite,
    /// The node's 1-minute load average (members only).
    Load,
}

impl Field {
    /// A guest's fields (everything but the load).
    pub const GUEST: [Field; 9] = [
        Field::Cpu,
        Field::Mem,
        Field::MaxMem,
        Field::Disk,
        Field::MaxDisk,
        Field::NetIn,
        Field::NetOut,
        Field::DiskRead,
        Field::DiskWrite,
    ];

    /// A cluster member's fields.
    pub const MEMBER: [Field; 6] = [
        Field::Cpu,
        Field::Mem,
        Field::MaxMem,
        Field::Disk,
        Field::MaxDisk,
        Field::Load,
    ];

    /// Every field, in storage order.
    pub const ALL: [Field; 10] = [
        Field::Cpu,
        Field::Mem,
        Field::MaxMem,
        Field::Disk,
        Field::MaxDisk,
        Field::NetIn,
        Field::NetOut,
        Field::DiskRead,
        Field::DiskWrite,
        Field::Load,
    ];

    /// Its name in exports and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Cpu => "cpu",
            Field::Mem => "mem",
            Field::MaxMem => "maxmem",
            Field::Disk => "disk",
            Field::MaxDisk => "maxdisk",
            Field::NetIn => "netin",
            Field::NetOut => "netout",
            Field::DiskRead => "diskread",
            Field::DiskWrite => "diskwrite",
            Field::Load => "load",
        }
    }

    /// The field named `name` (as in [`Field::as_str`]).
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Its unit.
    pub fn unit(self) -> Unit {
        match self {
            Field::Cpu => Unit::Share,
            Field::Mem | Field::MaxMem | Field::Disk | Field::MaxDisk => Unit::Bytes,
            Field::NetIn | Field::NetOut | Field::DiskRead | Field::DiskWrite => Unit::BytesPerSec,
            Field::Load => Unit::Plain,
        }
    }
}

/// How a field's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// 0..=1, shown as a percentage.
    Share,
    /// Bytes (KiB, MiB, GiB).
    Bytes,
    /// Bytes per second.
    BytesPerSec,
    /// A plain number.
    Plain,
}

/// One field's values over a series' slots: the average, the minimum and the maximum of the
/// samples in each slot (`None` where there were none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub field: Field,
    pub avg: Vec<Option<f32>>,
    pub min: Vec<Option<f32>>,
    pub max: Vec<Option<f32>>,
}

/// A subject's history over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub range: Range,
    /// The first slot's start, unix seconds.
    pub from: i64,
    /// Seconds per slot.
    pub step: i64,
    /// One line per field the subject has (members have `Load`, guests do not).
    pub lines: Vec<Line>,
}

impl Series {
    /// A series over `range` ending at `now` (unix seconds) with no value in any slot.
    pub fn empty(range: Range, now: i64, fields: &[Field]) -> Series {
        let slots = range.slots();
        Series {
            range,
            from: range.start(now),
            step: range.step(),
            lines: fields
                .iter()
                .map(|&field| Line {
                    field,
                    avg: vec![None; slots],
                    min: vec![None; slots],
                    max: vec![None; slots],
                })
                .collect(),
        }
    }

    /// `field`'s averages squeezed into [`SPARKLINE_SLOTS`] slots (each the mean of the
    /// values its share of the series has; `None` where that share has none): e.g. the last
    /// hour's 360 slots of 10 s as a card's 60 minutes.
    pub fn sparkline(&self, field: Field) -> Sparkline {
        let Some(line) = self.line(field) else {
            return vec![None; SPARKLINE_SLOTS];
        };
        let n = line.avg.len();
        (0..SPARKLINE_SLOTS)
            .map(|i| {
                let (a, b) = (i * n / SPARKLINE_SLOTS, (i + 1) * n / SPARKLINE_SLOTS);
                let values: Vec<f32> = line.avg[a..b].iter().flatten().copied().collect();
                (!values.is_empty()).then(|| values.iter().sum::<f32>() / values.len() as f32)
            })
            .collect()
    }

    /// The line of `field`, if the series has it.
    pub fn line(&self, field: Field) -> Option<&Line> {
        self.lines.iter().find(|l| l.field == field)
    }

    /// How many slots it has.
    pub fn len(&self) -> usize {
        self.lines.first().map_or(0, |l| l.avg.len())
    }

    /// Whether it has no slots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slot `i`'s start, unix seconds.
    pub fn time(&self, i: usize) -> i64 {
        self.from + i64::try_from(i).unwrap_or(0) * self.step
    }

    /// Whether any slot has a value.
    pub fn has_data(&self) -> bool {
        self.lines.iter().any(|l| l.avg.iter().any(Option::is_some))
    }
}

/// A cluster member's name as PVE allows it (a DNS label): what `?member=` may hold.
pub fn validate_member(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("a node name is 1 to 63 letters, digits and inner hyphens".to_owned())
    }
}

/// A dashboard card's sparkline: CPU over the last hour in 1-minute slots (60 values,
/// oldest first, `None` where nothing was measured).
pub type Sparkline = Vec<Option<f32>>;

/// The minutes a sparkline covers.
pub const SPARKLINE_SLOTS: usize = 60;

/// What Kiln's monitor knows about one node's reachability (the offline views' banner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeWatch {
    pub node_id: i64,
    pub node_name: String,
    /// Whether the last poll got an answer.
    pub reachable: bool,
    /// When the node stopped answering (RFC 3339), while it does not.
    pub unreachable_since: Option<String>,
    /// When it last answered (RFC 3339): the data shown is from then.
    pub last_seen: Option<String>,
    /// The last failure, one line.
    pub error: Option<String>,
}

impl NodeWatch {
    /// The banner's sentence while the node does not answer, e.g. "node pve unreachable
    /// since 14:02 UTC — showing data from 14:01 UTC"; `time` formats an RFC 3339 stamp.
    pub fn banner(&self, time: impl Fn(&str) -> String) -> Option<String> {
        if self.reachable {
            return None;
        }
        let since = self
            .unreachable_since
            .as_deref()
            .map(|t| format!(" since {}", time(t)))
            .unwrap_or_default();
        let data = match self.last_seen.as_deref() {
            Some(t) => format!("showing data from {}", time(t)),
            None => "no data from it yet".to_owned(),
        };
        Some(format!(
            "node {} unreachable{since} — {data}",
            self.node_name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_and_align() {
        for r in Range::ALL {
            assert_eq!(Range::parse(Some(r.as_str())), r);
            assert_eq!(r.seconds() % r.step(), 0);
            let now = 1_800_000_007;
            let start = r.start(now);
            assert_eq!(start % r.step(), 0);
            let last = start + (r.slots() as i64 - 1) * r.step();
            assert!(last <= now && now < last + r.step(), "{r:?}");
        }
        assert_eq!(Range::parse(Some("bogus")), Range::Hour);
        assert_eq!(Range::parse(None), Range::Hour);
        assert_eq!(Range::Month.slots(), 720);
    }

    #[test]
    fn strict_words_and_empty_series() {
        assert_eq!(Range::from_word("7d"), Some(Range::Week));
        assert_eq!(Range::from_word("7D"), None);
        assert_eq!(Range::from_word(""), None);
        let s = Series::empty(Range::Day, 1_800_000_007, &Field::GUEST);
        assert_eq!(s.len(), 288);
        assert_eq!(s.lines.len(), 9);
        assert!(!s.has_data());
        assert_eq!(s.from, Range::Day.start(1_800_000_007));
    }

    #[test]
    fn a_sparkline_squeezes_the_hour_and_keeps_its_gaps() {
        let mut s = Series::empty(Range::Hour, 1_800_000_000, &[Field::Cpu]);
        let line = &mut s.lines[0];
        // Minute 0: six values averaging 0.35; minute 1: one value; minute 2: none.
        for (i, v) in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6].into_iter().enumerate() {
            line.avg[i] = Some(v);
        }
        line.avg[10] = Some(0.9);
        let spark = s.sparkline(Field::Cpu);
        assert_eq!(spark.len(), SPARKLINE_SLOTS);
        assert!((spark[0].unwrap_or(0.0) - 0.35).abs() < 1e-6);
        assert_eq!(spark[1], Some(0.9));
        assert_eq!(spark[2], None);
        assert_eq!(s.sparkline(Field::Load), vec![None; SPARKLINE_SLOTS]);
    }

    #[test]
    fn member_names_are_dns_labels() {
        assert!(validate_member("pve-2").is_ok());
        for bad in ["", "-a", "a-", "a b", "a/../b", &"x".repeat(64)] {
            assert!(validate_member(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.as_str()), Some(f));
        }
        assert_eq!(Field::parse("nope"), None);
    }

    #[test]
    fn banner_names_the_node_and_times() {
        let mut w = NodeWatch {
            node_id: 1,
            node_name: "pve".into(),
            reachable: false,
            unreachable_since: Some("2026-12-06T14:02:00Z".into()),
            last_seen: Some("2026-12-06T14:01:50Z".into()),
            error: Some("connection refused".into()),
        };
        let hm = |t: &str| t[11..16].to_owned();
        assert_eq!(
            w.banner(hm).as_deref(),
            Some("node pve unreachable since 14:02 — showing data from 14:01")
        );
        w.reachable = true;
        assert_eq!(w.banner(hm), None);
    }
}
