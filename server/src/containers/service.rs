//! [`ContainerService`]: creating containers. It takes the acting user, normalizes and
//! validates the request with `kiln_shared::containers`' rules, checks what depends on the
//! database (the node is the actor's, the template exists, the hostname and a chosen VMID are
//! free among Kiln's containers on that node), seals the root password to the new row, and
//! writes the row and its creation job in one transaction — then audits and wakes a worker.
//! What depends on the node (free VMIDs there, storages, templates) is the job's to check.
//! Retry and cancel act on a creation's job; `delete` marks the row `deleting` and enqueues
//! the deletion job (`containers::delete`), cancelling a creation that still runs.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_shared::auth::Actor;
use kiln_shared::container_page::{
    ContainerOverview, EventFilter, EventPage, PveConfig, Refreshed, ServiceLogs,
};
use kiln_shared::containers::{
    ContainerDetail, ContainerSummary, CreateRequest, NodeChoices, WizardStart, normalize,
    validate_create,
};
use kiln_shared::inventory::{Action, ActionDone, DashboardView, Filter, Inventory, InventoryLive};
use kiln_shared::progress::ContainerEvent;
use kiln_shared::{AppError, FieldErrors};
use serde_json::json;

use super::{CREATE_JOB, DELETE_JOB};
use crate::app_state::AppState;
use crate::db::audit::Entry;
use crate::db::containers::{self, ContainerRow, EventRow, Idempotency, NewContainer};
use crate::db::{nodes, templates};
use crate::errors::TxError;
use crate::jobs::NewJob;

/// The most events [`ContainerService::events`] returns at once.
pub const MAX_EVENTS: i64 = 1000;

/// A creation Kiln accepted: the container row and its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The container's id (its progress page).
    pub id: i64,
    /// The creation job.
    pub job_id: i64,
}

/// What [`ContainerService::create_with_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The container and its creation job.
    pub created: Created,
    /// An earlier request with the same key created them; nothing was created now.
    pub replayed: bool,
}

/// The digest an idempotency key is stored with: SHA-256 (hex) of the request as stored —
/// normalized, without secrets —, so a retry that differs only in a secret is the same
/// request, and nothing secret is derivable from the digest.
fn request_digest(stored: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(stored).unwrap_or_default();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
}

/// The answer to a request whose key found `found` (id, creation job, digest): a replay
/// when the digests agree, else 409.
fn replay(
    keyed: Idempotency<'_>,
    (id, job_id, digest): (i64, Option<i64>, Option<String>),
) -> Result<Accepted, AppError> {
    if digest.as_deref() != Some(keyed.digest) {
        return Err(AppError::Conflict(format!(
            "this Idempotency-Key was used for another request (container {id}); use a new key \
             for a new request"
        )));
    }
    let job_id =
        job_id.ok_or_else(|| AppError::Conflict(format!("container {id} has no creation job")))?;
    Ok(Accepted {
        created: Created { id, job_id },
        replayed: true,
    })
}

/// Creating and reading containers.
#[derive(Debug, Clone)]
pub struct ContainerService {
    state: AppState,
}

/// What the job may see of a request: everything but the secrets.
pub fn without_secrets(request: &CreateRequest) -> CreateRequest {
    CreateRequest {
        root_password: None,
        ..request.clone()
    }
}

impl ContainerService {
    /// The service over the app's pools and key.
    pub fn new(state: AppState) -> Self {
        ContainerService { state }
    }

    /// The app's pools, key and configuration.
    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// Accepts a creation: see the module docs. Refusals: 422 with a message per field
    /// (`node_id` when the node is not the actor's, `template` when unknown, `hostname` when
    /// taken), nothing written.
    pub async fn create(&self, actor: &Actor, request: CreateRequest) -> Result<Created, AppError> {
        self.create_with(actor, request, None).await
    }

    /// [`ContainerService::create`] with an idempotency key (the REST API's
    /// `Idempotency-Key`): the first request with `key` creates the container and records
    /// the key and a digest of the request without its secrets on the row, in the same
    /// insert. A later request of the same user with the same key and the same request
    /// (secrets aside) creates nothing and answers the first one's container and job
    /// (`replayed`); one with another request is refused (409). Two requests at once with
    /// one key create one container: the second waits for the node's creation lock, then
    /// finds the first one's row — or, on another node, the unique index on (owner, key)
    /// refuses its insert and it finds the row then. A key is forgotten with its row.
    pub async fn create_with_key(
        &self,
        actor: &Actor,
        request: CreateRequest,
        key: &str,
    ) -> Result<Accepted, AppError> {
        self.create_keyed(actor, request, None, Some(key)).await
    }

    /// [`ContainerService::create`]; `test`: a template test run, kept after its report
    /// when `Some(true)` (see `containers::test_run`).
    pub(crate) async fn create_with(
        &self,
        actor: &Actor,
        request: CreateRequest,
        test: Option<bool>,
    ) -> Result<Created, AppError> {
        self.create_keyed(actor, request, test, None)
            .await
            .map(|accepted| accepted.created)
    }

    /// The creation behind [`ContainerService::create_with`] and
    /// [`ContainerService::create_with_key`].
    async fn create_keyed(
        &self,
        actor: &Actor,
        request: CreateRequest,
        test: Option<bool>,
        idempotency_key: Option<&str>,
    ) -> Result<Accepted, AppError> {
        let request = normalize(request);
        validate_create(&request)
            .into_result()
            .map_err(AppError::Invalid)?;
        let key = self.state.secret_key.clone();
        let stored = serde_json::to_value(without_secrets(&request))
            .map_err(|e| crate::errors::internal("encoding a create request", e))?;
        let digest = idempotency_key.map(|_| request_digest(&stored));
        let keyed = idempotency_key
            .zip(digest.as_deref())
            .map(|(key, digest)| Idempotency { key, digest });
        if let Some(keyed) = keyed
            && let Some(found) = self.keyed(actor, keyed).await?
        {
            return Ok(found);
        }
        let mut pooled = self.state.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let inserted = conn
            .transaction::<_, TxError, _>(async |conn| {
                let mut errors = FieldErrors::default();
                let node = nodes::get(conn, actor.user_id, request.node_id).await?;
                if node.is_none() {
                    errors.add("node_id", "choose one of your nodes");
                }
                let template = match &request.template {
                    Some(slug) => {
                        let row = templates::by_slug(conn, slug).await?;
                        if row.is_none() {
                            errors.add("template", format!("there is no template `{slug}`"));
                        }
                        row
                    }
                    None => None,
                };
                if node.is_some() {
                    containers::lock_new_on_node(conn, request.node_id).await?;
                    // A request with this key committed while this one waited for the lock:
                    // its container, not a second one (nor "hostname taken").
                    if let Some(keyed) = keyed
                        && let Some(found) =
                            containers::by_idempotency_key(conn, actor.user_id, keyed.key).await?
                    {
                        return Ok(Err(found));
                    }
                    let taken = containers::hostnames_on(conn, request.node_id).await?;
                    if taken.contains(&request.hostname) {
                        errors.add(
                            "hostname",
                            format!(
                                "a container on this node is already named {}",
                                request.hostname
                            ),
                        );
                    }
                    if let Some(vmid) = request.vmid {
                        let reserved = containers::vmids_on(conn, request.node_id).await?;
                        if reserved
                            .iter()
                            .any(|v| u32::try_from(*v).ok() == Some(vmid))
                        {
                            errors.add(
                                "vmid",
                                format!("Kiln already uses VMID {vmid} on this node"),
                            );
                        }
                    }
                }
                errors.into_result().map_err(AppError::Invalid)?;
                let vmid = request.vmid.and_then(|v| i32::try_from(v).ok());
                let id = containers::insert_keyed(
                    conn,
                    &NewContainer {
                        node_id: request.node_id,
                        template_id: template.as_ref().map(|t| t.id),
                        hostname: &request.hostname,
                        owner_id: Some(actor.user_id),
                        kind: "lxc",
                        template_slug: template.as_ref().map(|t| t.slug.as_str()),
                        template_hash: template.as_ref().and_then(|t| t.content_hash.as_deref()),
                        status: "creating",
                        request: &stored,
                        vmid,
                        test_run: test.is_some(),
                        keep_after_test: test.unwrap_or(false),
                    },
                    keyed,
                )
                .await
                .map_err(|e| {
                    if containers::is_idempotency_violation(&e) {
                        // Answered below, once this transaction is rolled back.
                        TxError::Db(e)
                    } else if crate::db::is_unique_violation(&e) {
                        TxError::Refused(AppError::Conflict(
                            "that VMID was taken a moment ago; try again".to_owned(),
                        ))
                    } else {
                        TxError::Db(e)
                    }
                })?;
                if let Some(password) = &request.root_password {
                    let sealed = key
                        .encrypt(password.as_bytes(), &ContainerRow::secret_context(id))
                        .map_err(|e| crate::errors::internal("sealing a root password", e))?;
                    containers::set_root_password(conn, id, Some(&sealed)).await?;
                }
                // The owner too: who may read the job once the row is gone.
                let payload = json!({ "container_id": id, "owner_id": actor.user_id });
                let job = NewJob::new(CREATE_JOB, payload).on_node(request.node_id);
                let job_id = self.state.jobs.enqueue(conn, &job).await?;
                containers::set_job(conn, id, job_id).await?;
                Ok(Ok(Created { id, job_id }))
            })
            .await;
        // The audit takes a connection of its own: give this one back first.
        drop(pooled);
        let created = match (inserted, keyed) {
            (Ok(Ok(created)), _) => created,
            (Ok(Err(found)), Some(keyed)) => return replay(keyed, found),
            (Err(TxError::Db(e)), Some(keyed)) if containers::is_idempotency_violation(&e) => {
                return match self.keyed(actor, keyed).await? {
                    Some(found) => Ok(found),
                    // Deleted again in between: as good as a conflict.
                    None => Err(AppError::Conflict(
                        "a request with this Idempotency-Key is under way; try again".to_owned(),
                    )),
                };
            }
            (Ok(Err(_)), None) => return Err(AppError::Internal),
            (Err(e), _) => return Err(e.into_app("creating a container")),
        };
        self.state.jobs.wake();
        self.state.inventories.forget(actor.user_id);
        let action = if test.is_some() {
            "container.test"
        } else {
            "container.create"
        };
        self.audit(actor, action, &request.hostname, created.id)
            .await;
        Ok(Accepted {
            created,
            replayed: false,
        })
    }

    /// The container the actor created with `keyed`'s key, answered as a replay (or 409 when
    /// the key came with another request); `None` when the key is unused.
    async fn keyed(
        &self,
        actor: &Actor,
        keyed: Idempotency<'_>,
    ) -> Result<Option<Accepted>, AppError> {
        let mut conn = self.state.conn().await?;
        let found = containers::by_idempotency_key(&mut conn, actor.user_id, keyed.key)
            .await
            .map_err(|e| crate::errors::db("reading an idempotency key", e))?;
        found.map(|found| replay(keyed, found)).transpose()
    }

    /// Runs a failed creation again from the phase it failed in.
    pub async fn retry(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let (row, job) = self
            .creation_job(actor, id, "failed", "only a failed creation is retried")
            .await?;
        self.settled(job).await?;
        let mut pooled = self.state.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let jobs = self.state.jobs.clone();
        conn.transaction::<_, TxError, _>(async |conn| {
            if !jobs.retry(conn, job).await? {
                return Err(TxError::Refused(AppError::Conflict(format!(
                    "the creation of container {id} is not failed any more"
                ))));
            }
            // Watchers see it creating again at once, not when a worker picks it up. A
            // deletion that began meanwhile wins (and rolls the retry back).
            if !containers::set_status_unless_deleting(conn, id, "creating", None).await? {
                return Err(TxError::Refused(AppError::Conflict(format!(
                    "container {id} is being deleted"
                ))));
            }
            Ok(())
        })
        .await
        .map_err(|e| e.into_app("retrying a creation"))?;
        drop(pooled);
        self.state.jobs.wake();
        self.state.container_events.notify(id, 0);
        self.audit(actor, "container.retry", &row.hostname, id)
            .await;
        Ok(())
    }

    /// Cancels a creation: a job not started yet is cancelled at once (the container is
    /// `failed`, "cancelled", and nothing was sent to its node); a running one stops at its
    /// next safe point (between phases, or while it waits on the node), and the job records
    /// the outcome. Returns whether it was cancelled at once.
    pub async fn cancel(&self, actor: &Actor, id: i64) -> Result<bool, AppError> {
        let (row, job) = self
            .creation_job(
                actor,
                id,
                "creating",
                "only a running creation is cancelled",
            )
            .await?;
        let mut pooled = self.state.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let jobs = self.state.jobs.clone();
        let at_once = conn
            .transaction::<_, TxError, _>(async |conn| {
                match jobs.request_cancel(conn, job).await? {
                    crate::jobs::Cancel::Cancelled => {
                        // The job never ran: nobody else writes this container's events.
                        containers::set_status(conn, id, "failed", Some("cancelled")).await?;
                        containers::append_event(conn, id, "allocate", "outcome", "cancelled")
                            .await?;
                        Ok(true)
                    }
                    crate::jobs::Cancel::Requested => Ok(false),
                    crate::jobs::Cancel::Finished(_) | crate::jobs::Cancel::NotFound => {
                        Err(TxError::Refused(AppError::Conflict(format!(
                            "the creation of container {id} has already ended"
                        ))))
                    }
                }
            })
            .await
            .map_err(|e| e.into_app("cancelling a creation"))?;
        drop(pooled);
        self.state.container_events.notify(id, 0);
        self.audit(actor, "container.cancel", &row.hostname, id)
            .await;
        Ok(at_once)
    }

    /// The container `id` the actor may see, in `status`, with its creation job; a 409 with
    /// `refusal` otherwise.
    async fn creation_job(
        &self,
        actor: &Actor,
        id: i64,
        status: &str,
        refusal: &str,
    ) -> Result<(ContainerRow, i64), AppError> {
        let row = self.get(actor, id).await?;
        if row.status != status {
            return Err(AppError::Conflict(format!(
                "container {id} is {}; {refusal}",
                row.status
            )));
        }
        let job = row
            .job_id
            .ok_or_else(|| AppError::Conflict(format!("container {id} has no creation job")))?;
        Ok((row, job))
    }

    /// Waits (a few seconds at most) until job `job` is no longer running. A creation's row
    /// becomes `failed` in the job's last write before the worker records the job's end, so a
    /// retry right after the row failed would otherwise find the job still running.
    pub(super) async fn settled(&self, job: i64) -> Result<(), AppError> {
        const PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
        for _ in 0..100 {
            let state = {
                let mut conn = self.state.conn().await?;
                self.state
                    .jobs
                    .get(&mut conn, job)
                    .await
                    .map_err(|e| crate::errors::db("reading a job", e))?
                    .map(|j| j.state)
            };
            if state != Some(crate::jobs::JobState::Running) {
                return Ok(());
            }
            tokio::time::sleep(PAUSE).await;
        }
        Ok(())
    }

    /// Audits `action` on the container `id` named `hostname`.
    async fn audit(&self, actor: &Actor, action: &str, hostname: &str, id: i64) {
        let target = format!("{hostname} (container {id})");
        self.state.audit(Entry::by(actor, action).on(&target)).await;
    }

    /// A container the actor may see (its owner, or an admin).
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<ContainerRow, AppError> {
        let mut conn = self.state.conn().await?;
        let owner = (!actor.is_admin).then_some(actor.user_id);
        containers::get(&mut conn, owner, id)
            .await
            .map_err(|e| crate::errors::db("reading a container", e))?
            .ok_or_else(|| AppError::NotFound(format!("container {id}")))
    }

    /// Up to `limit` (1..=1000) events of a container the actor may see, after number
    /// `after`, in order: what a page shows of a creation without JavaScript (the live view is
    /// `progress`).
    pub async fn events(
        &self,
        actor: &Actor,
        id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, AppError> {
        self.get(actor, id).await?;
        let mut conn = self.state.conn().await?;
        containers::events_after(&mut conn, id, after.max(0), limit.clamp(1, MAX_EVENTS))
            .await
            .map_err(|e| crate::errors::db("reading container events", e))
    }

    /// Deletes a container: in one transaction (the row locked) its status becomes
    /// `deleting`, a creation still queued is cancelled at once and a running one is asked to
    /// stop at its next safe point, and the `container.delete` job is enqueued (the job waits
    /// the creation out, destroys the container on its node if it carries the creation's
    /// marker, and removes the row; see `containers::delete`). Any status may be deleted; a
    /// deletion already under way is not started twice (`Ok`), and one whose job died is
    /// started again. 404 for a container the actor may not see.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        self.delete_job(actor, id).await.map(drop)
    }

    /// [`ContainerService::delete`], returning the deletion job (the one already under way
    /// when there is one): what the REST API answers, so a client can follow it.
    pub async fn delete_job(&self, actor: &Actor, id: i64) -> Result<i64, AppError> {
        let owner = (!actor.is_admin).then_some(actor.user_id);
        // Another action under way: busy (a creation is cancelled instead; the deletion job
        // takes the lock once the creation has ended).
        self.get(actor, id).await?;
        match super::lock::GuestLocks::new(&self.state).holder(id).await {
            Ok(Some(busy)) if busy.what != "create" && busy.what != "delete" => {
                return Err(AppError::Conflict(busy.to_string()));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(ct.id = id, error = %e, "cannot read the container's lock"),
        }
        let mut pooled = self.state.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let jobs = self.state.jobs.clone();
        let started = conn
            .transaction::<_, TxError, _>(async |conn| {
                let row = containers::lock(conn, owner, id)
                    .await?
                    .ok_or_else(|| AppError::NotFound(format!("container {id}")))?;
                let restore = match row.status.as_str() {
                    "deleting" => {
                        let mine = json!({ "container_id": id });
                        if let Some(job) = jobs.active(conn, DELETE_JOB, &mine).await? {
                            return Ok((job, None));
                        }
                        "failed"
                    }
                    "ready" => "ready",
                    _ => "failed",
                };
                if let Some(creation) = row.job_id {
                    // Queued: cancelled now, nothing was sent. Running: it stops at its next
                    // safe point, which the deletion job waits for. Ended: nothing to do.
                    jobs.request_cancel(conn, creation).await?;
                }
                containers::set_status(conn, id, "deleting", None).await?;
                let payload = serde_json::to_value(super::delete::Payload {
                    container_id: id,
                    restore: restore.to_owned(),
                    owner_id: row.owner_id,
                })
                .map_err(|e| crate::errors::internal("encoding a deletion", e))?;
                let job = NewJob::new(DELETE_JOB, payload).on_node(row.node_id);
                let job = jobs.enqueue(conn, &job).await?;
                Ok((job, Some(row.hostname)))
            })
            .await
            .map_err(|e| e.into_app("deleting a container"))?;
        drop(pooled);
        let (job, started) = started;
        if let Some(hostname) = started {
            self.state.jobs.wake();
            self.state.container_events.notify(id, 0);
            self.audit(actor, "container.delete", &hostname, id).await;
        }
        Ok(job)
    }
}

#[async_trait::async_trait]
impl kiln_app::ssr::ContainersBackend for ContainerService {
    async fn create(&self, actor: &Actor, request: CreateRequest) -> Result<i64, AppError> {
        ContainerService::create(self, actor, request)
            .await
            .map(|created| created.id)
    }

    async fn retry(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        ContainerService::retry(self, actor, id).await
    }

    async fn cancel(&self, actor: &Actor, id: i64) -> Result<bool, AppError> {
        ContainerService::cancel(self, actor, id).await
    }

    async fn list(&self, actor: &Actor) -> Result<Vec<ContainerSummary>, AppError> {
        ContainerService::list(self, actor).await
    }

    async fn detail(&self, actor: &Actor, id: i64) -> Result<ContainerDetail, AppError> {
        ContainerService::detail(self, actor, id).await
    }

    async fn events(
        &self,
        actor: &Actor,
        id: i64,
        after: i64,
    ) -> Result<Vec<ContainerEvent>, AppError> {
        let rows = ContainerService::events(self, actor, id, after, MAX_EVENTS).await?;
        Ok(rows.into_iter().map(ContainerEvent::from).collect())
    }

    async fn wizard(
        &self,
        actor: &Actor,
        template: Option<String>,
    ) -> Result<WizardStart, AppError> {
        ContainerService::wizard(self, actor, template.as_deref()).await
    }

    async fn node_choices(&self, actor: &Actor, node_id: i64) -> Result<NodeChoices, AppError> {
        ContainerService::node_choices(self, actor, node_id).await
    }

    async fn check_vmid(&self, actor: &Actor, node_id: i64, vmid: u32) -> Result<(), AppError> {
        ContainerService::check_vmid(self, actor, node_id, vmid).await
    }

    async fn reveal_credential(
        &self,
        actor: &Actor,
        id: i64,
        service: String,
        key: String,
        session: Option<String>,
        password: Option<String>,
    ) -> Result<String, AppError> {
        ContainerService::reveal_credential_with_password(
            self,
            actor,
            id,
            &service,
            &key,
            session.as_deref(),
            password.as_deref(),
        )
        .await
    }

    async fn retry_skipping_script(&self, actor: &Actor, id: i64) -> Result<String, AppError> {
        ContainerService::retry_skipping_script(self, actor, id).await
    }

    async fn delete(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        ContainerService::delete(self, actor, id).await
    }

    async fn test_template(&self, actor: &Actor, slug: String) -> Result<i64, AppError> {
        ContainerService::test_run(self, actor, &slug, None, false).await
    }

    async fn inventory(&self, actor: &Actor) -> Result<Inventory, AppError> {
        ContainerService::inventory(self, actor)
            .await
            .map(std::sync::Arc::unwrap_or_clone)
    }

    async fn dashboard(&self, actor: &Actor, filter: Filter) -> Result<DashboardView, AppError> {
        ContainerService::dashboard(self, actor, &filter).await
    }

    async fn dashboard_live(
        &self,
        actor: &Actor,
        filter: Filter,
    ) -> Result<InventoryLive, AppError> {
        ContainerService::dashboard_live(self, actor, &filter).await
    }

    async fn act(&self, actor: &Actor, id: i64, action: Action) -> Result<ActionDone, AppError> {
        ContainerService::act(self, actor, id, action).await
    }

    async fn bulk(
        &self,
        actor: &Actor,
        ids: Vec<i64>,
        action: Action,
    ) -> Result<Vec<ActionDone>, AppError> {
        ContainerService::bulk(self, actor, ids, action).await
    }

    async fn adopt(&self, actor: &Actor, node_id: i64, vmid: u32) -> Result<i64, AppError> {
        ContainerService::adopt(self, actor, node_id, vmid).await
    }

    async fn overview(&self, actor: &Actor, id: i64) -> Result<ContainerOverview, AppError> {
        ContainerService::overview(self, actor, id).await
    }

    async fn pve_config(&self, actor: &Actor, id: i64) -> Result<PveConfig, AppError> {
        ContainerService::pve_config(self, actor, id).await
    }

    async fn event_page(
        &self,
        actor: &Actor,
        id: i64,
        filter: EventFilter,
    ) -> Result<EventPage, AppError> {
        ContainerService::event_page(self, actor, id, filter).await
    }

    async fn refresh_services(&self, actor: &Actor, id: i64) -> Result<Refreshed, AppError> {
        ContainerService::refresh_services(self, actor, id).await
    }

    async fn service_logs(
        &self,
        actor: &Actor,
        id: i64,
        unit: String,
    ) -> Result<ServiceLogs, AppError> {
        ContainerService::service_logs(self, actor, id, &unit).await
    }
}

// Details, credentials and the retry that skips a script (`service/details.rs`).
mod details;
pub use details::discovered;
// A container's jobs as their owner reads them (`service/jobs.rs`).
mod jobs;
// The dashboard's inventory (`service/inventory.rs`).
mod inventory;
pub use inventory::{INVENTORY_TTL, InventoryCache, NODE_TIMEOUT, seen_of};
// Lifecycle actions, bulk actions and adoption (`service/lifecycle.rs`).
mod lifecycle;
pub use lifecycle::{BULK_CONCURRENCY, SHUTDOWN_TIMEOUT, lock_refusal};
// The container page's tabs: overview, PVE config, events (`service/page.rs`).
mod page;
pub use page::LIVE_TIMEOUT;
// The Services tab's refresh and a unit's journal (`service/refresh.rs`).
mod refresh;
pub use refresh::REFRESH_PHASE;
