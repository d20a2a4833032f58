//! The dashboard's inventory: every container on every node the actor owns — Kiln's rows and
//! the guests it does not manage — with live figures.
//!
//! One `/cluster/resources` call per node per refresh (`nodes::ClientCache::resources`: all
//! nodes asked at once, each bounded by [`NODE_TIMEOUT`], one answer shared by everyone who
//! asks within `RESOURCES_TTL`). A node that fails affects only its own rows: Kiln's rows on
//! it are shown with the last known state and figures and their age (`stale`), never
//! dropped; what the nodes said is written back to the rows (one statement, only where it
//! changed or is older than [`RECORD_EVERY_SECS`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::ContainerStatus;
use kiln_shared::inventory::{
    DashboardView, Filter, GuestRow, Inventory, InventoryLive, Link, Live, NodeState, State, Totals,
};
use kiln_shared::pve::ClusterResource;

use super::ContainerService;
use crate::containers::lock::GuestLocks;
use crate::db::containers::{self, Seen};

/// How long the dashboard waits for one node.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(4);

/// A row's record of what its node said is rewritten at most this often when nothing changed.
pub const RECORD_EVERY_SECS: i32 = 60;

/// A guest's figures from a `/cluster/resources` entry.
/// What a node's answer says of Kiln's container `id` (for `db::containers::record_seen`).
pub fn seen_of(id: i64, guest: &ClusterResource) -> Option<Seen> {
    Some(Seen {
        id,
        member: guest.node.clone()?,
        power: guest.status.clone()?,
        live: serde_json::to_value(live_of(guest)).ok()?,
    })
}

fn live_of(guest: &ClusterResource) -> Live {
    Live {
        cpu: guest.cpu,
        maxcpu: guest.maxcpu,
        mem: guest.mem,
        maxmem: guest.maxmem,
        disk: guest.disk,
        maxdisk: guest.maxdisk,
        uptime: guest.uptime,
    }
}

/// How long one user's assembled inventory serves every dashboard of theirs that asks (tabs,
/// refreshes, a burst of page loads): the nodes are asked at most once per
/// `nodes::RESOURCES_TTL` anyway; this spares the database and the rendering's input too.
pub const INVENTORY_TTL: Duration = Duration::from_secs(1);

/// One user's slot: the last inventory and when it was made. Assembling holds the slot's
/// lock, so requests at once wait for one assembly.
type InventorySlot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<Inventory>)>>>;

/// Each user's last inventory (in this process), dropped when they act on a container.
#[derive(Debug, Clone, Default)]
pub struct InventoryCache {
    slots: Arc<std::sync::Mutex<HashMap<i64, InventorySlot>>>,
}

impl InventoryCache {
    fn slot(&self, user: i64) -> Option<InventorySlot> {
        self.slots
            .lock()
            .ok()
            .map(|mut slots| slots.entry(user).or_default().clone())
    }

    /// Forgets user `user`'s inventory (an action, a creation or an adoption changed it).
    pub fn forget(&self, user: i64) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(&user);
        }
    }
}

impl ContainerService {
    /// The inventory of the actor's nodes (see the module docs), at most [`INVENTORY_TTL`]
    /// old. Only the actor's own nodes and containers: an administrator manages others'
    /// containers by their pages.
    pub async fn inventory(&self, actor: &Actor) -> Result<Arc<Inventory>, AppError> {
        let Some(slot) = self.state().inventories.slot(actor.user_id) else {
            return self.assemble(actor).await.map(Arc::new);
        };
        let mut slot = slot.lock().await;
        if let Some((at, inventory)) = slot.as_ref()
            && at.elapsed() < INVENTORY_TTL
        {
            return Ok(inventory.clone());
        }
        let inventory = Arc::new(self.assemble(actor).await?);
        *slot = Some((Instant::now(), inventory.clone()));
        Ok(inventory)
    }

    /// Assembles the inventory now.
    async fn assemble(&self, actor: &Actor) -> Result<Inventory, AppError> {
        let state = self.state();
        let mut conn = state.conn().await?;
        let nodes = crate::db::nodes::list(&mut conn, actor.user_id)
            .await
            .map_err(|e| crate::errors::db("listing nodes", e))?;
        let rows = containers::list(&mut conn, Some(actor.user_id))
            .await
            .map_err(|e| crate::errors::db("listing containers", e))?;
        let ids: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
        let links = containers::web_links(&mut conn, &ids)
            .await
            .map_err(|e| crate::errors::db("reading service links", e))?;
        let mut watches: HashMap<i64, kiln_shared::metrics::NodeWatch> =
            crate::db::metrics::watches(&mut conn, Some(actor.user_id))
                .await
                .map_err(|e| crate::errors::db("reading node reachability", e))?
                .into_iter()
                .map(|w| (w.node_id, crate::monitor::service::watch_of(w)))
                .collect();
        drop(conn);

        let answers = futures::future::join_all(nodes.iter().map(|n| {
            state
                .node_clients
                .resources(n, &state.secret_key, NODE_TIMEOUT)
        }))
        .await;
        let busy = match GuestLocks::new(state).holders(&ids).await {
            Ok(map) => map,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the containers' locks");
                HashMap::new()
            }
        };
        let mut links_of: HashMap<i64, Vec<Link>> = HashMap::new();
        for (id, name, url) in links {
            links_of.entry(id).or_default().push(Link { name, url });
        }

        let mut totals = Totals {
            nodes: nodes.len(),
            ..Totals::default()
        };
        let mut node_states = Vec::with_capacity(nodes.len());
        // Node id → VMID → guest, for the nodes that answered.
        let mut guests: HashMap<i64, HashMap<u32, &ClusterResource>> = HashMap::new();
        for (node, answer) in nodes.iter().zip(&answers) {
            match answer {
                Ok(list) => {
                    totals.nodes_online += 1;
                    let mut by_vmid = HashMap::new();
                    for r in list.iter() {
                        match r.kind.as_str() {
                            "lxc" if !r.template => {
                                if let Some(vmid) = r.vmid {
                                    by_vmid.insert(vmid, r);
                                }
                            }
                            "node" if r.status.as_deref() == Some("online") => {
                                let cores = r.maxcpu.unwrap_or(0.0);
                                totals.cpu_total += cores;
                                totals.cpu_used += r.cpu.unwrap_or(0.0) * cores;
                                totals.mem_total += r.maxmem.unwrap_or(0);
                                totals.mem_used += r.mem.unwrap_or(0);
                            }
                            _ => {}
                        }
                    }
                    guests.insert(node.id, by_vmid);
                    node_states.push(NodeState {
                        id: node.id,
                        name: node.name.clone(),
                        online: true,
                        error: None,
                        watch: None,
                    });
                }
                Err(e) => node_states.push(NodeState {
                    id: node.id,
                    name: node.name.clone(),
                    online: false,
                    error: Some(e.clone()),
                    // The monitor's view, when it saw the node fail too (else this refresh
                    // is the first to notice).
                    watch: watches.remove(&node.id).filter(|w| !w.reachable),
                }),
            }
        }

        // When the nodes answered: every row seen now, and the inventory, carry it.
        let now = chrono::Utc::now().to_rfc3339();
        let mut out = Vec::with_capacity(rows.len());
        let mut seen = Vec::new();
        let mut managed: HashSet<(i64, u32)> = HashSet::new();
        for (row, node_name) in rows {
            let kiln = ContainerStatus::parse(&row.status);
            let vmid = row.vmid.and_then(|v| u32::try_from(v).ok());
            if let Some(vmid) = vmid {
                managed.insert((row.node_id, vmid));
            }
            let request_tags = || -> Vec<String> {
                row.request
                    .get("tags")
                    .and_then(|t| serde_json::from_value(t.clone()).ok())
                    .unwrap_or_default()
            };
            let mut guest_row = GuestRow {
                key: format!("c{}", row.id),
                id: Some(row.id),
                node_id: row.node_id,
                node_name,
                member: row.pve_node.clone(),
                vmid,
                name: row.hostname.clone(),
                template: row.template_slug.clone(),
                state: State::Unknown,
                kiln_status: kiln,
                adopted: row.adopted,
                address: row.address.clone(),
                live: None,
                tags: Vec::new(),
                links: links_of.remove(&row.id).unwrap_or_default(),
                seen_at: row.seen_at.map(|t| t.to_rfc3339()),
                stale: false,
                last_power: None,
                busy: busy.get(&row.id).cloned(),
                error: row.error.clone(),
                spark: None,
            };
            match guests.get(&row.node_id) {
                Some(on_node) => {
                    let guest = vmid.and_then(|v| on_node.get(&v));
                    match guest {
                        Some(g) => {
                            guest_row.state = State::of(kiln, g.status.as_deref());
                            guest_row.member = g.node.clone().or(guest_row.member);
                            guest_row.tags = g.tags.clone();
                            seen.extend(seen_of(row.id, g));
                            guest_row.live = Some(live_of(g));
                            guest_row.seen_at = Some(now.clone());
                        }
                        None => {
                            guest_row.state = State::of(kiln, None);
                            guest_row.tags = request_tags();
                            if kiln == Some(ContainerStatus::Ready) {
                                guest_row.error = Some("not found on its node".to_owned());
                            }
                        }
                    }
                }
                None => {
                    // The node did not answer: the last known state, marked as such.
                    guest_row.stale = true;
                    guest_row.state = State::of(kiln, None);
                    guest_row.last_power = row.power.clone();
                    guest_row.live = row
                        .live
                        .as_ref()
                        .and_then(|v| serde_json::from_value(v.clone()).ok());
                    guest_row.tags = request_tags();
                }
            }
            out.push(guest_row);
        }

        // The guests Kiln does not manage, by node and VMID.
        for node in &nodes {
            let Some(on_node) = guests.get(&node.id) else {
                continue;
            };
            let mut others: Vec<(&u32, &&ClusterResource)> = on_node
                .iter()
                .filter(|(vmid, _)| !managed.contains(&(node.id, **vmid)))
                .collect();
            others.sort_by_key(|(vmid, _)| **vmid);
            for (vmid, g) in others {
                out.push(GuestRow {
                    key: format!("n{}-{vmid}", node.id),
                    id: None,
                    node_id: node.id,
                    node_name: node.name.clone(),
                    member: g.node.clone(),
                    vmid: Some(*vmid),
                    name: g.name.clone().unwrap_or_else(|| format!("CT {vmid}")),
                    template: None,
                    state: State::of(None, g.status.as_deref()),
                    kiln_status: None,
                    adopted: false,
                    address: None,
                    live: Some(live_of(g)),
                    tags: g.tags.clone(),
                    links: Vec::new(),
                    seen_at: Some(now.clone()),
                    stale: false,
                    last_power: None,
                    busy: None,
                    error: None,
                    spark: None,
                });
            }
        }
        totals.by_state = Inventory::count_states(&out);

        if !seen.is_empty() {
            let recorded: anyhow::Result<usize> = async {
                let mut conn = state.db.get().await?;
                Ok(containers::record_seen(&mut conn, &seen, RECORD_EVERY_SECS).await?)
            }
            .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "cannot record what the nodes said of the containers");
            }
        }
        Ok(Inventory::new(out, node_states, totals, now))
    }

    /// The dashboard page `filter` asks for (filtered, sorted and paged here, so the page
    /// carries only its rows).
    pub async fn dashboard(
        &self,
        actor: &Actor,
        filter: &Filter,
    ) -> Result<DashboardView, AppError> {
        let filter = filter.clone().normalized();
        let mut view = self.inventory(actor).await?.view(&filter);
        // The page's cards get the last hour's CPU (one query for the page); without the
        // history (a database hiccup) the cards simply have none.
        let guests: Vec<(i64, u32)> = view
            .rows
            .iter()
            .filter_map(|r| Some((r.node_id, r.vmid?)))
            .collect();
        match crate::monitor::MonitorService::new(self.state.clone())
            .sparklines(&guests, chrono::Utc::now())
            .await
        {
            Ok(mut lines) => {
                for row in &mut view.rows {
                    if let Some(vmid) = row.vmid {
                        row.spark = lines.remove(&(row.node_id, vmid));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the sparklines"),
        }
        Ok(view)
    }

    /// What the dashboard's live refresh patches into the page `filter` shows.
    pub async fn dashboard_live(
        &self,
        actor: &Actor,
        filter: &Filter,
    ) -> Result<InventoryLive, AppError> {
        let filter = filter.clone().normalized();
        Ok(self.inventory(actor).await?.live(&filter))
    }
}
