//! What a container's page reads beyond the creation: the Overview (what Kiln knows, the
//! template version it was made from, and the node's live view — usage, config summary,
//! addresses), the Config tab (the PVE config exactly as the node returns it) and a page of
//! its events, newest first and filtered. Every method is for the container's owner or an
//! administrator (404 for anyone else).
//!
//! The node is asked for what it hosts: the cluster member of the VMID comes from
//! `/cluster/resources` (as the deletion finds it), then `status/current`, `config` and
//! `interfaces` are read at once, bounded by [`LIVE_TIMEOUT`]. A node that does not answer
//! leaves the Overview with what Kiln knows and a note — never an error page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::container_page::{
    ConfigSummary, ContainerOverview, EVENTS_PAGE, EventFilter, EventPage, LiveState, PveConfig,
    Usage, notes_without_marker, validate_filter_word,
};
use kiln_shared::progress::ContainerEvent;
use kiln_shared::pve::{LxcConfig, LxcInterface, LxcStatusCurrent};

use super::ContainerService;
use crate::db::containers::ContainerRow;
use crate::db::nodes::NodeRow;
use crate::errors;
use crate::proxmox::{Client, ProxmoxApi};

/// The longest the page waits for the node (all its calls together).
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a container is: its node row, that node's API client, the cluster member and VMID,
/// and its power state as the cluster listed it (`running`, `stopped`).
pub(super) struct Located {
    pub(super) node: NodeRow,
    pub(super) client: Arc<Client>,
    pub(super) member: String,
    pub(super) vmid: u32,
    pub(super) status: Option<String>,
}

impl ContainerService {
    /// The Overview tab of container `id` (see the module docs).
    pub async fn overview(&self, actor: &Actor, id: i64) -> Result<ContainerOverview, AppError> {
        let row = self.get(actor, id).await?;
        let detail = self.detail(actor, id).await?;
        let template_current = match &row.template_slug {
            Some(slug) => {
                let mut conn = self.state.conn().await?;
                crate::db::templates::by_slug(&mut conn, slug)
                    .await
                    .map_err(|e| errors::db("reading a template", e))?
                    .map(|t| t.content_hash == row.template_hash)
            }
            None => None,
        };
        let (live, node_note) = if row.vmid.is_none() {
            (None, None)
        } else {
            match tokio::time::timeout(LIVE_TIMEOUT, self.live(&row)).await {
                Ok(Ok(live)) => (Some(live), None),
                Ok(Err(note)) => (None, Some(note)),
                Err(_) => (
                    None,
                    Some(format!(
                        "The node is not answering (nothing within {} s): this is what Kiln knows.",
                        LIVE_TIMEOUT.as_secs()
                    )),
                ),
            }
        };
        Ok(ContainerOverview {
            detail,
            template_hash: row.template_hash,
            template_current,
            live,
            node_note,
        })
    }

    /// The node's live view of a container; the note to show when it cannot be had.
    async fn live(&self, row: &ContainerRow) -> Result<LiveState, String> {
        let at = self.locate(row).await.map_err(|e| e.to_string())?;
        let (status, config, interfaces) = tokio::join!(
            at.client.lxc_status(&at.member, at.vmid),
            at.client.lxc_config(&at.member, at.vmid),
            at.client.lxc_interfaces(&at.member, at.vmid),
        );
        let status = status
            .map_err(|e| format!("The node is not answering: {e}. This is what Kiln knows."))?;
        let config = config
            .map_err(|e| format!("The node is not answering: {e}. This is what Kiln knows."))?;
        Ok(LiveState {
            member: at.member,
            usage: usage(&status),
            config: summary(&config),
            // Stopped, a container has no interfaces to list.
            addresses: interfaces.map(|l| addresses(&l)).unwrap_or_default(),
        })
    }

    /// The node, its client, and the cluster member CT `vmid` is on (`/cluster/resources`).
    /// `Conflict` when it has no VMID yet or is not on its node; `Unavailable` when the node
    /// does not answer.
    pub(super) async fn locate(&self, row: &ContainerRow) -> Result<Located, AppError> {
        let vmid = row
            .vmid
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| AppError::Conflict(format!("container {} has no VMID yet", row.id)))?;
        let node = {
            let mut conn = self.state.conn().await?;
            crate::db::nodes::get(&mut conn, row.owner_id.unwrap_or_default(), row.node_id)
                .await
                .map_err(|e| errors::db("reading a node", e))?
                .ok_or_else(|| AppError::Conflict("the container's node is gone".into()))?
        };
        let client = self
            .state
            .node_clients
            .client(&node, &self.state.secret_key)
            .map_err(|e| errors::internal("making a node's client", format!("{e:#}")))?;
        let guests = client
            .cluster_resources_vm()
            .await
            .map_err(|e| AppError::Unavailable(format!("the node is not answering: {e}")))?;
        let (member, status) = super::lifecycle::container_in(guests, vmid)
            .and_then(|g| Some((g.node?, g.status)))
            .ok_or_else(|| {
                AppError::Conflict(format!("CT {vmid} is not on the node (any more)"))
            })?;
        Ok(Located {
            node,
            client,
            member,
            vmid,
            status,
        })
    }

    /// The Config tab: container `id`'s config exactly as Proxmox returns it — every key,
    /// sorted, values as sent, `digest` included. 409 without a VMID, 503 when the node does
    /// not answer.
    pub async fn pve_config(&self, actor: &Actor, id: i64) -> Result<PveConfig, AppError> {
        let row = self.get(actor, id).await?;
        let read = async {
            let at = self.locate(&row).await?;
            let raw = at
                .client
                .lxc_config_raw(&at.member, at.vmid)
                .await
                .map_err(|e| AppError::Unavailable(format!("the node is not answering: {e}")))?;
            Ok::<_, AppError>((at.member, at.vmid, raw))
        };
        let (member, vmid, raw) = tokio::time::timeout(LIVE_TIMEOUT, read)
            .await
            .map_err(|_| AppError::Unavailable("the node is not answering".into()))??;
        Ok(config_entries(member, vmid, raw))
    }

    /// A page of container `id`'s events, newest first (at most [`EVENTS_PAGE`]), of one
    /// kind and/or phase when the filter says (422 on `kind`/`phase`/`before` for a value
    /// the rules refuse), with the kinds and phases it has.
    pub async fn event_page(
        &self,
        actor: &Actor,
        id: i64,
        filter: EventFilter,
    ) -> Result<EventPage, AppError> {
        let mut errors = kiln_shared::FieldErrors::default();
        if let Some(kind) = &filter.kind {
            errors.check("kind", validate_filter_word(kind));
        }
        if let Some(phase) = &filter.phase {
            errors.check("phase", validate_filter_word(phase));
        }
        if filter.before.is_some_and(|b| b < 1) {
            errors.add("before", "a page starts after event 1");
        }
        errors.into_result()?;
        self.get(actor, id).await?;
        let mut conn = self.state.conn().await?;
        let mut rows = crate::db::container_page::events_newest_first(
            &mut conn,
            id,
            filter.kind.as_deref(),
            filter.phase.as_deref(),
            filter.before,
            EVENTS_PAGE + 1,
        )
        .await
        .map_err(|e| errors::db("reading container events", e))?;
        let more = rows.len() > EVENTS_PAGE as usize;
        rows.truncate(EVENTS_PAGE as usize);
        let older = more.then(|| rows.last().map(|r| r.seq)).flatten();
        let (kinds, phases) = crate::db::container_page::event_words(&mut conn, id)
            .await
            .map_err(|e| errors::db("reading container events", e))?;
        Ok(EventPage {
            events: rows.into_iter().map(ContainerEvent::from).collect(),
            kinds,
            phases,
            older,
        })
    }
}

/// The live figures of `status/current`.
fn usage(s: &LxcStatusCurrent) -> Usage {
    Usage {
        status: s.status.clone(),
        cpu: s.cpu,
        cpus: s.cpus,
        mem: s.mem,
        maxmem: s.maxmem,
        disk: s.disk,
        maxdisk: s.maxdisk,
        swap: s.swap,
        maxswap: s.maxswap,
        uptime: s.uptime,
    }
}

/// The keys the overview summarizes.
fn summary(c: &LxcConfig) -> ConfigSummary {
    ConfigSummary {
        ostype: c.ostype.clone(),
        cores: c.cores,
        memory: c.memory,
        swap: c.swap,
        rootfs: c.rootfs.clone(),
        net0: c.net0.clone(),
        features: c.features.clone(),
        onboot: c.onboot,
        unprivileged: c.unprivileged,
        tags: c.tag_list(),
        notes: c.description.as_deref().and_then(notes_without_marker),
    }
}

/// `eth0 10.0.0.5/24` per address, loopback left out.
fn addresses(interfaces: &[LxcInterface]) -> Vec<String> {
    interfaces
        .iter()
        .filter(|i| i.name != "lo")
        .flat_map(|i| {
            [i.inet.as_deref(), i.inet6.as_deref()]
                .into_iter()
                .flatten()
                .map(|a| format!("{} {a}", i.name))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The raw config as the Config tab shows it: strings as they are, anything else as JSON.
fn config_entries(
    member: String,
    vmid: u32,
    raw: BTreeMap<String, serde_json::Value>,
) -> PveConfig {
    let digest = raw
        .get("digest")
        .and_then(|d| d.as_str())
        .map(str::to_owned);
    let entries = raw
        .into_iter()
        .map(|(key, value)| {
            let shown = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (key, shown)
        })
        .collect();
    PveConfig {
        member,
        vmid,
        entries,
        digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_shown_as_sent() {
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"memory":512,"hostname":"web","digest":"abc","onboot":1,"net0":"name=eth0"}"#,
        )
        .unwrap_or_default();
        let config = config_entries("pve".into(), 100, raw);
        assert_eq!(config.digest.as_deref(), Some("abc"));
        let keys: Vec<&str> = config.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["digest", "hostname", "memory", "net0", "onboot"]);
        assert_eq!(config.entries[2].1, "512");
    }
}
