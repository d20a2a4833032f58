//! What the pages read of the history: a subject's series over a range (the tier and slot
//! size the range asks for), the dashboard's sparklines, the nodes' reachability.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use kiln_app::ssr::MetricsBackend;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::metrics::{
    Field, Line, NodeWatch, Range, SPARKLINE_SLOTS, Series, Sparkline, Subject,
};

use super::collect::{guest_key, member_key};
use super::observation::GuestKind;
use crate::app_state::AppState;
use crate::db::metrics::{self as q, ROLLED, Slot, Tier};
use crate::errors;

/// The history's reader.
#[derive(Clone)]
pub struct MonitorService {
    state: AppState,
}

/// The tier a range reads from.
pub fn tier_of(range: Range) -> Tier {
    match range {
        Range::Hour => Tier::Raw,
        Range::Day | Range::Week => Tier::Minute,
        Range::Month | Range::Year => Tier::Hour,
    }
}

/// The index in a [`Slot`]'s values of `field`'s average (then min, max); maxmem and
/// maxdisk have one value each, after the rolled fields.
fn index_of(field: Field) -> Option<usize> {
    match field {
        Field::MaxMem => Some(ROLLED.len() * 3),
        Field::MaxDisk => Some(ROLLED.len() * 3 + 1),
        f => ROLLED.iter().position(|r| *r == f.as_str()).map(|i| i * 3),
    }
}

/// Lays `slots` (any order; absent ones are gaps) out as a series of `range` from `from`.
pub fn series_of(range: Range, from: i64, fields: &[Field], slots: &[Slot]) -> Series {
    let n = range.slots();
    let step = range.step();
    let mut lines: Vec<Line> = fields
        .iter()
        .map(|f| Line {
            field: *f,
            avg: vec![None; n],
            min: vec![None; n],
            max: vec![None; n],
        })
        .collect();
    for slot in slots {
        let offset = slot.t - from;
        if offset < 0 || offset % step != 0 {
            continue;
        }
        let Ok(i) = usize::try_from(offset / step) else {
            continue;
        };
        if i >= n {
            continue;
        }
        for line in &mut lines {
            let Some(at) = index_of(line.field) else {
                continue;
            };
            let get = |k: usize| slot.v.get(k).copied().flatten().map(|v| v as f32);
            if matches!(line.field, Field::MaxMem | Field::MaxDisk) {
                let v = get(at);
                line.avg[i] = v;
                line.min[i] = v;
                line.max[i] = v;
            } else {
                line.avg[i] = get(at);
                line.min[i] = get(at + 1);
                line.max[i] = get(at + 2);
            }
        }
    }
    Series {
        range,
        from,
        step,
        lines,
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_else(Utc::now)
}

impl MonitorService {
    pub fn new(state: AppState) -> MonitorService {
        MonitorService { state }
    }

    /// The series of `series_id` over `range` ending at `now`, not before `not_before`.
    pub async fn read(
        &self,
        series_id: Option<i32>,
        range: Range,
        fields: &[Field],
        now: DateTime<Utc>,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<Series, AppError> {
        let from = range.start(now.timestamp());
        let until = from + range.seconds();
        let Some(id) = series_id else {
            return Ok(series_of(range, from, fields, &[]));
        };
        let start = at(from).max(not_before.unwrap_or_else(|| at(from)));
        let mut conn = self.state.conn().await?;
        let tier = tier_of(range);
        let mut slots = q::read_slots(&mut conn, tier, id, start, at(until), range.step())
            .await
            .map_err(|e| errors::db("reading a series", e))?;
        if range == Range::Hour {
            // Minutes back-filled from the node's RRD stand in for raw slots it has none of.
            let minutes = q::read_slots(&mut conn, Tier::Minute, id, start, at(until), 60)
                .await
                .map_err(|e| errors::db("reading a series", e))?;
            let have: std::collections::HashSet<i64> = slots.iter().map(|s| s.t).collect();
            let mut extra = Vec::new();
            for m in &minutes {
                let inside: Vec<i64> = (0..6).map(|k| m.t + k * 10).collect();
                if inside.iter().all(|t| !have.contains(t)) {
                    extra.extend(inside.into_iter().map(|t| Slot { t, v: m.v.clone() }));
                }
            }
            slots.extend(extra);
        }
        Ok(series_of(range, from, fields, &slots))
    }

    /// The CPU sparklines (the last hour, per minute) of guests `(node, vmid)`.
    pub async fn sparklines(
        &self,
        guests: &[(i64, u32)],
        now: DateTime<Utc>,
    ) -> Result<HashMap<(i64, u32), Sparkline>, AppError> {
        let keys: Vec<(i64, i32)> = guests
            .iter()
            .filter_map(|(n, v)| Some((*n, i32::try_from(*v).ok()?)))
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.state.conn().await?;
        let series = q::guest_series(&mut conn, &keys)
            .await
            .map_err(|e| errors::db("reading series", e))?;
        let by_id: HashMap<i32, (i64, u32)> = series
            .iter()
            .filter_map(|(n, v, id)| Some((*id, (*n, u32::try_from(*v).ok()?))))
            .collect();
        let slots = i64::try_from(SPARKLINE_SLOTS).unwrap_or(60);
        let from = now.timestamp().div_euclid(60) * 60 - (slots - 1) * 60;
        let ids: Vec<i32> = by_id.keys().copied().collect();
        let rows = q::cpu_minutes(&mut conn, &ids, at(from))
            .await
            .map_err(|e| errors::db("reading sparklines", e))?;
        let mut out: HashMap<(i64, u32), Sparkline> = HashMap::new();
        for (id, t, cpu) in rows {
            let Some(key) = by_id.get(&id) else { continue };
            let Ok(i) = usize::try_from((t - from) / 60) else {
                continue;
            };
            let line = out
                .entry(*key)
                .or_insert_with(|| vec![None; SPARKLINE_SLOTS]);
            if let Some(slot) = line.get_mut(i) {
                *slot = cpu.map(|c| c as f32);
            }
        }
        Ok(out)
    }

    /// The reachability of the nodes `actor` owns (every node for an administrator).
    pub async fn node_watches(&self, actor: &Actor) -> Result<Vec<NodeWatch>, AppError> {
        let mut conn = self.state.conn().await?;
        let rows = q::watches(&mut conn, Some(actor.user_id))
            .await
            .map_err(|e| errors::db("reading node reachability", e))?;
        Ok(rows.into_iter().map(watch_of).collect())
    }
}

/// The wire form of a `node_watch` row.
pub fn watch_of(w: q::WatchRow) -> NodeWatch {
    NodeWatch {
        node_id: w.node_id,
        node_name: w.node_name,
        reachable: w.reachable,
        unreachable_since: w.unreachable_since.map(|t| t.to_rfc3339()),
        last_seen: w.last_seen.map(|t| t.to_rfc3339()),
        error: w.error,
    }
}

#[async_trait]
impl MetricsBackend for MonitorService {
    async fn series(
        &self,
        actor: &Actor,
        subject: Subject,
        range: Range,
    ) -> Result<Series, AppError> {
        let now = Utc::now();
        match subject {
            Subject::Container(id) => {
                let row = crate::containers::service::ContainerService::new(self.state.clone())
                    .get(actor, id)
                    .await?;
                let series_id = match row.vmid.and_then(|v| u32::try_from(v).ok()) {
                    Some(vmid) => {
                        let mut conn = self.state.conn().await?;
                        q::series_id(&mut conn, &guest_key(row.node_id, GuestKind::Lxc, vmid))
                            .await
                            .map_err(|e| errors::db("reading a series", e))?
                    }
                    None => None,
                };
                // A VMID used again: only this container's own time.
                self.read(series_id, range, &Field::GUEST, now, Some(row.created_at))
                    .await
            }
            Subject::Member { node_id, member } => {
                kiln_shared::metrics::validate_member(&member)
                    .map_err(|e| AppError::invalid("member", e))?;
                let mut conn = self.state.conn().await?;
                crate::db::nodes::get(&mut conn, actor.user_id, node_id)
                    .await
                    .map_err(|e| errors::db("reading a node", e))?
                    .ok_or_else(|| AppError::NotFound(format!("node {node_id}")))?;
                let series_id = q::series_id(&mut conn, &member_key(node_id, &member))
                    .await
                    .map_err(|e| errors::db("reading a series", e))?;
                drop(conn);
                self.read(series_id, range, &Field::MEMBER, now, None).await
            }
        }
    }

    async fn watches(&self, actor: &Actor) -> Result<Vec<NodeWatch>, AppError> {
        self.node_watches(actor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_land_in_their_place_and_the_rest_are_gaps() {
        let range = Range::Hour;
        let from = range.start(1_800_000_000);
        let mut v = vec![None; 26];
        v[0] = Some(0.5);
        v[1] = Some(0.25);
        v[2] = Some(0.75);
        v[24] = Some(1024.0);
        let slots = vec![
            Slot {
                t: from + 20,
                v: v.clone(),
            },
            Slot {
                t: from + 25,
                v: v.clone(),
            },
            Slot {
                t: from - 10,
                v: v.clone(),
            },
        ];
        let s = series_of(range, from, &[Field::Cpu, Field::MaxMem], &slots);
        assert_eq!(s.len(), 360);
        let cpu = s.line(Field::Cpu).map(|l| (l.avg[2], l.min[2], l.max[2]));
        assert_eq!(cpu, Some((Some(0.5), Some(0.25), Some(0.75))));
        assert_eq!(s.line(Field::MaxMem).and_then(|l| l.avg[2]), Some(1024.0));
        let filled = s.lines[0].avg.iter().filter(|v| v.is_some()).count();
        assert_eq!(filled, 1, "unaligned and early slots are ignored");
    }

    #[test]
    fn ranges_read_their_tier() {
        assert_eq!(tier_of(Range::Hour), Tier::Raw);
        assert_eq!(tier_of(Range::Week), Tier::Minute);
        assert_eq!(tier_of(Range::Year), Tier::Hour);
    }
}
