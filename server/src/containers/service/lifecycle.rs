//! Lifecycle actions on a container Kiln manages — start, shutdown (graceful, with a timeout;
//! then the user is offered *Stop*), stop, reboot, delete —, bulk actions, and adopting a
//! container Kiln did not create.
//!
//! One action at a time per container: each takes the container's lock (`containers::lock`)
//! before anything is sent to Proxmox — a second one is answered "busy: <what> since <when>
//! by <who>" and never reaches the node —, follows the PVE task to its end, records the state
//! it left, writes an `action` and an `outcome` event, audits `container.<action>` and
//! releases the lock. A deletion is the durable deletion job (`containers::delete`), which
//! takes the same lock once the creation it may cancel has ended.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use futures::StreamExt as _;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::{
    ContainerStatus, CreateRequest, Ipv4Setting, normalize_hostname, validate_hostname,
    validate_vmid,
};
use kiln_shared::inventory::{Action, ActionDone, MAX_BULK, State};
use kiln_shared::pve::{ClusterResource, LxcConfig};

use super::ContainerService;
use crate::containers::lock::{GuestLocks, LockError};
use crate::db::containers::{self, ContainerRow};
use crate::proxmox::{ProxmoxApi, ShutdownOptions};

/// How long a graceful shutdown may take before the user is offered *Stop*.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long any other power task is followed.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(120);

/// How many containers of a bulk action are worked on at once.
pub const BULK_CONCURRENCY: usize = 4;

/// The busy answer of a lock that is held, or 503 when the lock store is away.
pub fn lock_refusal(e: LockError) -> AppError {
    match e {
        LockError::Busy(busy) => AppError::Conflict(busy.to_string()),
        LockError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "lock store unavailable");
            AppError::Unavailable("Kiln's lock store (Redis) does not answer; try again".into())
        }
    }
}

/// The guest with `vmid` among a cluster's resources, if it is a container.
pub(super) fn container_in(guests: Vec<ClusterResource>, vmid: u32) -> Option<ClusterResource> {
    guests
        .into_iter()
        .find(|g| g.vmid == Some(vmid) && g.kind == "lxc")
}

impl ContainerService {
    /// Runs `action` on container `id` for `actor` (owner or admin, else 404). *Delete*
    /// starts the deletion job (`ContainerService::delete`). A power action needs a finished
    /// (or adopted) container (409 otherwise) and its lock (409 "busy: …" when someone
    /// holds it); it answers once the PVE task ended. A node that does not answer is 503.
    pub async fn act(
        &self,
        actor: &Actor,
        id: i64,
        action: Action,
    ) -> Result<ActionDone, AppError> {
        if action == Action::Delete {
            return self.act_delete(actor, id).await.map(|(done, _)| done);
        }
        let row = self.get(actor, id).await?;
        match ContainerStatus::parse(&row.status) {
            Some(ContainerStatus::Ready) => {}
            _ => {
                return Err(AppError::Conflict(format!(
                    "{} is {}: only a finished container can be {}",
                    row.hostname,
                    row.status,
                    past(action)
                )));
            }
        }
        let held = GuestLocks::new(self.state())
            .acquire(id, action.as_str(), &actor.username)
            .await
            .map_err(lock_refusal)?
            .keep_alive();
        let result = self.power(actor, &row, action).await;
        held.release().await;
        self.changed(&row);
        result
    }

    /// *Delete* as an action: [`ContainerService::delete_job`], and the dashboards forget
    /// what they showed. Returns the outcome and the deletion job.
    pub async fn act_delete(&self, actor: &Actor, id: i64) -> Result<(ActionDone, i64), AppError> {
        let row = self.get(actor, id).await?;
        let job = self.delete_job(actor, id).await?;
        self.changed(&row);
        let done = ActionDone {
            id,
            name: row.hostname.clone(),
            action: Action::Delete,
            ok: true,
            message: format!("{} is being deleted", row.hostname),
            state: Some(State::Deleting),
            offer_stop: false,
        };
        Ok((done, job))
    }

    /// The power action itself, under the lock.
    async fn power(
        &self,
        actor: &Actor,
        row: &ContainerRow,
        action: Action,
    ) -> Result<ActionDone, AppError> {
        let name = row.hostname.clone();
        self.record(
            row.id,
            action.as_str(),
            "action",
            &format!("{} asked by {}", action.label(), actor.username),
        )
        .await;
        self.audit(
            actor,
            &format!("container.{}", action.as_str()),
            &name,
            row.id,
        )
        .await;
        let at = match self.locate(row).await {
            Ok(at) => at,
            Err(AppError::Conflict(text)) => {
                self.record(row.id, action.as_str(), "outcome", &text).await;
                return Err(AppError::Conflict(format!("{name}: {text}")));
            }
            Err(e) => return Err(e),
        };
        let (client, member, vmid) = (at.client, at.member, at.vmid);
        let running = at.status.as_deref() == Some("running");
        let done = |ok: bool, message: String, state: Option<State>, offer_stop: bool| ActionDone {
            id: row.id,
            name: name.clone(),
            action,
            ok,
            message,
            state,
            offer_stop,
        };
        // Already where it was asked to go: nothing is sent.
        let already = match (action, running) {
            (Action::Start, true) => Some((format!("{name} is already running"), State::Running)),
            (Action::Shutdown | Action::Stop, false) => {
                Some((format!("{name} is already stopped"), State::Stopped))
            }
            _ => None,
        };
        if let Some((text, state)) = already {
            self.seen(row.id, &member, state).await;
            self.record(row.id, action.as_str(), "outcome", &text).await;
            return Ok(done(true, text, Some(state), false));
        }
        if action == Action::Reboot && !running {
            let text = format!("{name} is not running: start it instead");
            self.record(row.id, action.as_str(), "outcome", &text).await;
            return Ok(done(false, text, Some(State::Stopped), false));
        }
        let sent = match action {
            Action::Start => client.lxc_start(&member, vmid).await,
            Action::Stop => client.lxc_stop(&member, vmid).await,
            Action::Reboot => client.lxc_reboot(&member, vmid).await,
            Action::Shutdown => {
                let options = ShutdownOptions {
                    timeout: u32::try_from(SHUTDOWN_TIMEOUT.as_secs()).ok(),
                    force_stop: false,
                };
                client.lxc_shutdown(&member, vmid, options).await
            }
            Action::Delete => return Err(AppError::Internal),
        };
        let wait = match action {
            Action::Shutdown => SHUTDOWN_TIMEOUT + Duration::from_secs(30),
            _ => TASK_TIMEOUT,
        };
        let result = match sent {
            Ok(upid) => crate::proxmox::tasks::wait_task(client.as_ref(), &upid, wait)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        let outcome = match result {
            Ok(()) => {
                let state = match action {
                    Action::Start | Action::Reboot => State::Running,
                    _ => State::Stopped,
                };
                self.seen(row.id, &member, state).await;
                done(true, format!("{name} {}", past(action)), Some(state), false)
            }
            Err(e) => {
                let offer_stop = action == Action::Shutdown;
                let text = if offer_stop {
                    format!(
                        "{name} did not shut down within {} s ({e}); stop it instead?",
                        SHUTDOWN_TIMEOUT.as_secs()
                    )
                } else {
                    format!("{name} was not {}: {e}", past(action))
                };
                done(false, text, None, offer_stop)
            }
        };
        self.record(row.id, action.as_str(), "outcome", &outcome.message)
            .await;
        Ok(outcome)
    }

    /// Runs `action` on each of `ids` (at most [`MAX_BULK`], [`BULK_CONCURRENCY`] at a time);
    /// one outcome per container, in the order asked — a container that fails or is busy is
    /// reported and the others completed.
    pub async fn bulk(
        &self,
        actor: &Actor,
        ids: Vec<i64>,
        action: Action,
    ) -> Result<Vec<ActionDone>, AppError> {
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<i64> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        if ids.is_empty() || ids.len() > MAX_BULK {
            return Err(AppError::invalid(
                "ids",
                format!("choose 1 to {MAX_BULK} containers"),
            ));
        }
        let mut outcomes: Vec<(usize, ActionDone)> =
            futures::stream::iter(ids.into_iter().enumerate())
                .map(|(i, id)| async move {
                    let outcome = match self.act(actor, id, action).await {
                        Ok(done) => done,
                        Err(e) => ActionDone {
                            id,
                            name: format!("container {id}"),
                            action,
                            ok: false,
                            message: e.to_string(),
                            state: None,
                            offer_stop: false,
                        },
                    };
                    (i, outcome)
                })
                .buffer_unordered(BULK_CONCURRENCY)
                .collect()
                .await;
        outcomes.sort_by_key(|(i, _)| *i);
        let ok = outcomes.iter().filter(|(_, o)| o.ok).count();
        tracing::info!(
            action = action.as_str(),
            containers = outcomes.len(),
            ok,
            "bulk action"
        );
        Ok(outcomes.into_iter().map(|(_, o)| o).collect())
    }

    /// Starts managing container `vmid` of node `node_id` (the actor's), which Kiln did not
    /// create: a row as it is on the node (name, resources, network from its config),
    /// status `ready`, marked adopted. Nothing is changed on the node. 404 when the node is
    /// not the actor's or has no such container; 409 when Kiln already manages it.
    pub async fn adopt(&self, actor: &Actor, node_id: i64, vmid: u32) -> Result<i64, AppError> {
        validate_vmid(vmid).map_err(|e| AppError::invalid("vmid", e))?;
        let mut conn = self.state().conn().await?;
        let node = crate::db::nodes::get(&mut conn, actor.user_id, node_id)
            .await
            .map_err(|e| crate::errors::db("reading a node", e))?
            .ok_or_else(|| AppError::NotFound(format!("node {node_id}")))?;
        drop(conn);
        let client = self
            .state()
            .node_clients
            .client(&node, &self.state().secret_key)
            .map_err(|e| crate::errors::internal("opening a node's client", e))?;
        let unavailable = |e: crate::proxmox::Error| {
            AppError::Unavailable(format!("the node {} does not answer: {e}", node.name))
        };
        let guest = container_in(
            client.cluster_resources_vm().await.map_err(unavailable)?,
            vmid,
        )
        .ok_or_else(|| AppError::NotFound(format!("CT {vmid} on {}", node.name)))?;
        let member = guest.node.clone().unwrap_or_default();
        let config = client
            .lxc_config(&member, vmid)
            .await
            .map_err(unavailable)?;
        let mut conn = self.state().conn().await?;
        let taken = containers::hostnames_on(&mut conn, node_id)
            .await
            .map_err(|e| crate::errors::db("reading hostnames", e))?;
        let hostname = adopted_hostname(
            config.hostname.as_deref().or(guest.name.as_deref()),
            vmid,
            &taken,
        );
        let request = adopted_request(node_id, vmid, &hostname, &config);
        let stored = serde_json::to_value(&request)
            .map_err(|e| crate::errors::internal("encoding an adopted container", e))?;
        let power = guest.status.clone();
        let id = containers::insert_adopted(
            &mut conn,
            &containers::AdoptedContainer {
                node_id,
                owner_id: actor.user_id,
                vmid: i32::try_from(vmid).map_err(|_| AppError::invalid("vmid", "out of range"))?,
                hostname: &hostname,
                adopted_name: config.hostname.as_deref(),
                request: &stored,
                pve_node: &member,
                power: power.as_deref(),
            },
        )
        .await
        .map_err(|e| {
            if crate::db::is_unique_violation(&e) {
                AppError::Conflict(format!(
                    "CT {vmid} on {} is already managed by Kiln",
                    node.name
                ))
            } else {
                crate::errors::db("adopting a container", e)
            }
        })?;
        drop(conn);
        self.record(
            id,
            "adopt",
            "outcome",
            &format!(
                "adopted by {}: CT {vmid} on {member}, as it was (nothing changed on the node)",
                actor.username
            ),
        )
        .await;
        self.audit(actor, "container.adopt", &hostname, id).await;
        self.state().inventories.forget(actor.user_id);
        Ok(id)
    }

    /// Forgets what the dashboards show of the container's owner and node (an action changed
    /// it), so the next look asks the node.
    fn changed(&self, row: &ContainerRow) {
        if let Some(owner) = row.owner_id {
            self.state().inventories.forget(owner);
        }
        self.state().node_clients.forget_resources(row.node_id);
    }

    /// Appends an event to a container's history and tells its watchers (best effort: an
    /// action is not undone because its record failed; the failure is logged).
    pub(crate) async fn record(&self, id: i64, phase: &str, kind: &str, text: &str) {
        let result: anyhow::Result<i64> = async {
            let mut conn = self.state().db.get().await?;
            Ok(append(&mut conn, id, phase, kind, text).await?)
        }
        .await;
        match result {
            Ok(seq) => self.state().container_events.notify(id, seq),
            Err(e) => tracing::warn!(ct.id = id, error = %e, "cannot record a container event"),
        }
    }

    /// Records the state an action left the container in.
    async fn seen(&self, id: i64, member: &str, state: State) {
        let power = match state {
            State::Running => "running",
            _ => "stopped",
        };
        let result: anyhow::Result<()> = async {
            let mut conn = self.state().db.get().await?;
            containers::set_power(&mut conn, id, member, power).await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(ct.id = id, error = %e, "cannot record a container's state");
        }
    }
}

/// Appends an event, once more if another writer took the same number at the same moment.
async fn append(
    conn: &mut AsyncPgConnection,
    id: i64,
    phase: &str,
    kind: &str,
    text: &str,
) -> diesel::QueryResult<i64> {
    match containers::append_event(conn, id, phase, kind, text).await {
        Err(e) if crate::db::is_unique_violation(&e) => {
            containers::append_event(conn, id, phase, kind, text).await
        }
        other => other,
    }
}

/// `started`, `shut down`, ...
fn past(action: Action) -> &'static str {
    match action {
        Action::Start => "started",
        Action::Shutdown => "shut down",
        Action::Stop => "stopped",
        Action::Reboot => "rebooted",
        Action::Delete => "deleted",
    }
}

/// The hostname an adopted container is recorded with: its own when valid and free among
/// Kiln's containers on the node, else `<it>-<vmid>`, else `ct-<vmid>`.
fn adopted_hostname(name: Option<&str>, vmid: u32, taken: &[String]) -> String {
    let free = |n: &str| validate_hostname(n).is_ok() && !taken.iter().any(|t| t == n);
    if let Some(name) = name.map(normalize_hostname) {
        if free(&name) {
            return name;
        }
        let numbered = format!("{name}-{vmid}");
        if free(&numbered) {
            return numbered;
        }
    }
    format!("ct-{vmid}")
}

/// One `key=value` property of a PVE property string (`name=eth0,bridge=vmbr0,ip=dhcp`).
fn property<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    value
        .split(',')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// What an adopted container "asked for", read from its config (no secret; the OS template
/// is not known).
fn adopted_request(node_id: i64, vmid: u32, hostname: &str, config: &LxcConfig) -> CreateRequest {
    let rootfs = config.rootfs.as_deref().unwrap_or_default();
    let storage = rootfs.split(':').next().unwrap_or_default().to_owned();
    let disk_gib = property(rootfs, "size")
        .and_then(|s| s.strip_suffix('G'))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let net0 = config.net0.as_deref().unwrap_or_default();
    let ipv4 = match property(net0, "ip") {
        Some(ip) if ip != "dhcp" && !ip.is_empty() => Ipv4Setting::Static {
            address: ip.to_owned(),
            gateway: property(net0, "gw").map(str::to_owned),
        },
        _ => Ipv4Setting::Dhcp,
    };
    let features = config.features.as_deref().unwrap_or_default();
    let feature = |name: &str| property(features, name) == Some("1");
    CreateRequest {
        template: None,
        node_id,
        hostname: hostname.to_owned(),
        vmid: Some(vmid),
        ostemplate: String::new(),
        storage,
        disk_gib,
        cores: config.cores.unwrap_or(0),
        memory_mib: u32::try_from(config.memory.unwrap_or(0)).unwrap_or(u32::MAX),
        swap_mib: u32::try_from(config.swap.unwrap_or(0)).unwrap_or(u32::MAX),
        bridge: property(net0, "bridge").unwrap_or_default().to_owned(),
        ipv4,
        nameserver: config
            .other
            .get("nameserver")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        unprivileged: config.unprivileged,
        nesting: feature("nesting"),
        keyctl: feature("keyctl"),
        fuse: feature("fuse"),
        onboot: config.onboot,
        tags: config.tag_list(),
        root_password: None,
        ssh_public_keys: None,
        buckets_off: vec![],
        packages_added: vec![],
        packages_removed: vec![],
        scripts_skipped: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adopted_name_is_its_own_when_free() {
        let taken = vec!["web".to_owned()];
        assert_eq!(adopted_hostname(Some("DB"), 105, &taken), "db");
        assert_eq!(adopted_hostname(Some("web"), 105, &taken), "web-105");
        assert_eq!(adopted_hostname(Some("bad name!"), 105, &taken), "ct-105");
        assert_eq!(adopted_hostname(None, 7, &taken), "ct-7");
    }

    #[test]
    fn an_adopted_request_is_read_from_the_config() -> anyhow::Result<()> {
        let config: LxcConfig = serde_json::from_value(serde_json::json!({
            "hostname": "db",
            "cores": 2,
            "memory": 1024,
            "swap": 256,
            "rootfs": "local-lvm:vm-105-disk-0,size=8G",
            "net0": "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1",
            "features": "nesting=1",
            "tags": "db;prod",
            "digest": "abc",
        }))?;
        let r = adopted_request(3, 105, "db", &config);
        assert_eq!(
            (r.storage.as_str(), r.disk_gib, r.cores),
            ("local-lvm", 8, 2)
        );
        assert_eq!(r.bridge, "vmbr0");
        assert_eq!(
            r.ipv4,
            Ipv4Setting::Static {
                address: "10.0.0.5/24".into(),
                gateway: Some("10.0.0.1".into())
            }
        );
        assert!(r.nesting && !r.fuse);
        assert_eq!(r.tags, ["db", "prod"]);
        assert!(r.root_password.is_none());
        Ok(())
    }
}
