//! The Services tab's actions: *Refresh* (discovery run again now, over the node's SSH, as
//! the creation's `discover` phase runs it) and a unit's journal (`containers::logs`).
//! Both are for the container's owner or an administrator (404 for anyone else), on a ready
//! container; both are audited.
//!
//! A refresh asks the node for the container's address first (`interfaces`: a DHCP
//! container's address may have changed since its creation), runs `discover::find`, and
//! then, in one transaction with the row locked and still `ready`, records the address,
//! replaces the stored services and credentials with what it found, and appends its notes
//! and an `outcome` as events (no job runs on a ready row; a deletion that began meanwhile
//! has made it `deleting`, and the refresh is refused).

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::container_page::{Refreshed, ServiceLogs, validate_unit_name};

use super::ContainerService;
use crate::containers::discover::find::{FindError, find};
use crate::containers::logs;
use crate::db::audit::Entry;
use crate::db::containers::{self, ContainerRow};
use crate::errors::{self, TxError};
use crate::proxmox::ProxmoxApi;
use crate::ssh::shell::NodeShell;

/// The phase a refresh's events are filed under.
pub const REFRESH_PHASE: &str = "refresh";

impl ContainerService {
    /// Runs discovery in container `id` again and stores what it finds (see the module
    /// docs). 409 unless `ready`; 503 when the node or its SSH does not answer.
    pub async fn refresh_services(&self, actor: &Actor, id: i64) -> Result<Refreshed, AppError> {
        let row = self.ready(actor, id).await?;
        // One thing at a time per container: not while an action (or another refresh) runs.
        let held = crate::containers::lock::GuestLocks::new(&self.state)
            .acquire(id, "refresh", &actor.username)
            .await
            .map_err(super::lock_refusal)?
            .keep_alive();
        let result = self.refresh_locked(actor, id, row).await;
        held.release().await;
        result
    }

    /// [`Self::refresh_services`] under the container's lock.
    async fn refresh_locked(
        &self,
        actor: &Actor,
        id: i64,
        row: crate::db::containers::ContainerRow,
    ) -> Result<Refreshed, AppError> {
        let at = self.locate(&row).await?;
        // Where the node says eth0 is now (DHCP); the recorded address when it does not say
        // (a stopped container has no interfaces: the commands below then say why).
        let address = at
            .client
            .lxc_interfaces(&at.member, at.vmid)
            .await
            .ok()
            .and_then(|list| list.into_iter().find(|i| i.name == "eth0"))
            .and_then(|i| i.inet)
            .map(|inet| inet.split('/').next().unwrap_or(&inet).to_owned())
            .or_else(|| row.address.clone());
        let shell = self.shell(&at.node).await?;
        let found = find(
            &shell,
            at.vmid,
            id,
            address.as_deref(),
            &self.state.secret_key,
        )
        .await;
        close(shell).await;
        let found = found.map_err(|e| match e {
            FindError::Failed(message) => AppError::Conflict(message),
            FindError::Internal(message) => errors::internal("refreshing services", message),
        })?;
        let refreshed = Refreshed {
            services: found.services.len(),
            credentials: found.credentials.len(),
        };
        let outcome = format!(
            "services refreshed by {}: {} service(s), {} credential(s)",
            actor.username, refreshed.services, refreshed.credentials
        );
        let owner = (!actor.is_admin).then_some(actor.user_id);
        let mut pooled = self.state.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let last = conn
            .transaction::<_, TxError, _>(async |conn| {
                let locked = containers::lock(conn, owner, id)
                    .await?
                    .ok_or_else(|| AppError::NotFound(format!("container {id}")))?;
                if locked.status != "ready" {
                    return Err(TxError::Refused(AppError::Conflict(format!(
                        "container {id} is {} now; its services were not refreshed",
                        locked.status
                    ))));
                }
                if let Some(address) = &address
                    && locked.address.as_deref() != Some(address)
                {
                    containers::set_address(conn, id, address).await?;
                }
                containers::replace_discovered(conn, id, &found.services, &found.credentials)
                    .await?;
                for note in &found.notes {
                    containers::append_event(conn, id, REFRESH_PHASE, "log", note).await?;
                }
                let seq =
                    containers::append_event(conn, id, REFRESH_PHASE, "outcome", &outcome).await?;
                Ok(seq)
            })
            .await
            .map_err(|e| e.into_app("refreshing services"))?;
        drop(pooled);
        self.state.container_events.notify(id, last);
        let target = format!("{} (container {id})", row.hostname);
        self.state
            .audit(Entry {
                detail: serde_json::json!({
                    "services": refreshed.services,
                    "credentials": refreshed.credentials,
                }),
                ..Entry::by(actor, "container.services.refresh").on(&target)
            })
            .await;
        Ok(refreshed)
    }

    /// The last 200 lines of unit `unit`'s journal in container `id`. The unit must pass the
    /// shared rule (422 on `unit`) and be one of the container's stored services (422 too);
    /// the output is cleaned and bounded (`containers::logs`). Audited.
    pub async fn service_logs(
        &self,
        actor: &Actor,
        id: i64,
        unit: &str,
    ) -> Result<ServiceLogs, AppError> {
        validate_unit_name(unit).map_err(|m| AppError::invalid("unit", m))?;
        let row = self.ready(actor, id).await?;
        let known = {
            let mut conn = self.state.conn().await?;
            containers::services_of(&mut conn, id)
                .await
                .map_err(|e| errors::db("reading a container's services", e))?
        };
        if !known.iter().any(|s| s.unit == unit) {
            return Err(AppError::invalid(
                "unit",
                format!("{unit} is not one of this container's services"),
            ));
        }
        let at = self.locate(&row).await?;
        let shell = self.shell(&at.node).await?;
        let argv = logs::journal_command(unit);
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let output = shell.pct_exec(at.vmid, &args).await;
        close(shell).await;
        let output = output.map_err(|e| {
            AppError::Unavailable(format!("cannot run journalctl in CT {}: {e}", at.vmid))
        })?;
        if !output.success() {
            let (err, _) = logs::clean(&output.stderr);
            let tail = err.iter().rev().take(2).rev().cloned().collect::<Vec<_>>();
            return Err(AppError::Conflict(format!(
                "journalctl failed in CT {} (exit status {}): {}",
                at.vmid,
                output.status,
                tail.join(" / ")
            )));
        }
        let (lines, truncated) = logs::clean(&output.stdout);
        let target = format!("{} (container {id}): {unit}", row.hostname);
        self.state
            .audit(Entry::by(actor, "container.service.logs").on(&target))
            .await;
        Ok(ServiceLogs {
            unit: unit.to_owned(),
            lines,
            truncated,
        })
    }

    /// Container `id`, which the actor may see, when it is `ready` (409 otherwise).
    async fn ready(&self, actor: &Actor, id: i64) -> Result<ContainerRow, AppError> {
        let row = self.get(actor, id).await?;
        if row.status != "ready" {
            return Err(AppError::Conflict(format!(
                "container {id} is {}; only a ready container's services are looked at",
                row.status
            )));
        }
        Ok(row)
    }

    /// An SSH shell on the container's node (its own key, pinned host key); 503 when it
    /// cannot be had.
    async fn shell(&self, node: &crate::db::nodes::NodeRow) -> Result<NodeShell, AppError> {
        crate::nodes::shell_for(&self.state, node)
            .await
            .map_err(|e| AppError::Unavailable(format!("the node's SSH: {e}")))
    }
}

/// Closes a shell's master connection (a failure only leaves it to time out).
async fn close(shell: NodeShell) {
    if let Err(e) = shell.close().await {
        tracing::debug!(error = %e, "closing a node shell");
    }
}
