//! Containers: what the creation wizard's and progress page's server functions need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::container_page::{
    ContainerOverview, EventFilter, EventPage, PveConfig, Refreshed, ServiceLogs,
};
use kiln_shared::containers::{
    ContainerDetail, ContainerSummary, CreateRequest, NodeChoices, WizardStart,
};
use kiln_shared::inventory::{Action, ActionDone, DashboardView, Filter, Inventory, InventoryLive};
use kiln_shared::progress::ContainerEvent;

/// Implemented by the server's `ContainerService`. A user creates containers on their own
/// nodes only; a container is seen and retried by its owner or an administrator (404 for
/// anyone else). The request is re-validated in full (`kiln_shared::containers` rules), never
/// trusted from the wizard.
#[async_trait]
pub trait ContainersBackend: Send + Sync + 'static {
    /// Accepts a creation (the row and its durable job); returns the container's id.
    async fn create(&self, actor: &Actor, request: CreateRequest) -> Result<i64, AppError>;
    /// Runs a failed creation again from the phase it failed in.
    async fn retry(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
    /// Cancels a running creation; `true` when it was cancelled at once (not started yet),
    /// `false` when it stops at its next safe point.
    async fn cancel(&self, actor: &Actor, id: i64) -> Result<bool, AppError>;
    /// The containers the actor may see, newest first.
    async fn list(&self, actor: &Actor) -> Result<Vec<ContainerSummary>, AppError>;
    /// One container with what its page shows.
    async fn detail(&self, actor: &Actor, id: i64) -> Result<ContainerDetail, AppError>;
    /// Up to 1,000 events of a container after number `after` (the page without JavaScript).
    async fn events(
        &self,
        actor: &Actor,
        id: i64,
        after: i64,
    ) -> Result<Vec<ContainerEvent>, AppError>;
    /// What the wizard starts from; `template` preselects one.
    async fn wizard(
        &self,
        actor: &Actor,
        template: Option<String>,
    ) -> Result<WizardStart, AppError>;
    /// What a node offers a new container (`Unavailable` when it does not answer).
    async fn node_choices(&self, actor: &Actor, node_id: i64) -> Result<NodeChoices, AppError>;
    /// Whether a typed VMID is free (a 422 on `vmid` when not).
    async fn check_vmid(&self, actor: &Actor, node_id: i64, vmid: u32) -> Result<(), AppError>;
    /// One credential's value, decrypted, for the container's owner or an administrator
    /// (404 otherwise, or when it does not exist); audited without the value. A session
    /// that proved the password more than 10 minutes ago must give it again (`password`; a
    /// 422 on `password` asks for it, or says it is wrong); a correct one is recorded in
    /// `session` (the cookie's session id).
    async fn reveal_credential(
        &self,
        actor: &Actor,
        id: i64,
        service: String,
        key: String,
        session: Option<String>,
        password: Option<String>,
    ) -> Result<String, AppError>;
    /// Runs a creation that failed in its scripts again without running again the script
    /// that did not finish (interrupted or failed); returns that script's name. 409 when no
    /// script is unfinished.
    async fn retry_skipping_script(&self, actor: &Actor, id: i64) -> Result<String, AppError>;
    /// Deletes a container (any status; a running creation is cancelled first): it becomes
    /// `deleting` at once, and a durable job destroys it on its node — only if Kiln made it
    /// there — and removes it. `Ok` also when a deletion is already under way.
    async fn delete(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
    /// Starts a test run of template `slug` on the actor's default node: a throwaway
    /// container from the template's defaults whose creation ends with a pass/fail report
    /// (an `outcome` event), then is deleted. Returns the container's id.
    async fn test_template(&self, actor: &Actor, slug: String) -> Result<i64, AppError>;
    /// Every container on the actor's nodes — Kiln's and the others — with live figures; a
    /// node that does not answer leaves its rows with their last known state.
    async fn inventory(&self, actor: &Actor) -> Result<Inventory, AppError>;
    /// The dashboard page `filter` asks for: its rows only, filtered, sorted and paged.
    async fn dashboard(&self, actor: &Actor, filter: Filter) -> Result<DashboardView, AppError>;
    /// The live part of that page (the dashboard's refresh).
    async fn dashboard_live(
        &self,
        actor: &Actor,
        filter: Filter,
    ) -> Result<InventoryLive, AppError>;
    /// A lifecycle action on a container (owner or admin, else 404); 409 "busy: …" while
    /// another action holds the container's lock, or when its state does not allow it.
    async fn act(&self, actor: &Actor, id: i64, action: Action) -> Result<ActionDone, AppError>;
    /// One action on several containers, with bounded concurrency; an outcome per container.
    async fn bulk(
        &self,
        actor: &Actor,
        ids: Vec<i64>,
        action: Action,
    ) -> Result<Vec<ActionDone>, AppError>;
    /// Starts managing a container Kiln did not create (nothing changes on the node);
    /// returns its new id.
    async fn adopt(&self, actor: &Actor, node_id: i64, vmid: u32) -> Result<i64, AppError>;
    /// The page's Overview: what Kiln knows, the template version it was made from, and the
    /// node's live view (usage, config summary, addresses) — or a note when the node does not
    /// answer (never an error for that).
    async fn overview(&self, actor: &Actor, id: i64) -> Result<ContainerOverview, AppError>;
    /// The container's PVE config exactly as the node returns it (every key, sorted, with the
    /// `digest`); 503 when the node does not answer.
    async fn pve_config(&self, actor: &Actor, id: i64) -> Result<PveConfig, AppError>;
    /// A page of the container's events, newest first, filtered by kind/phase (422 for a
    /// filter the rules refuse).
    async fn event_page(
        &self,
        actor: &Actor,
        id: i64,
        filter: EventFilter,
    ) -> Result<EventPage, AppError>;
    /// Runs discovery again over the node's SSH and replaces the stored services and
    /// credentials (a ready container; audited).
    async fn refresh_services(&self, actor: &Actor, id: i64) -> Result<Refreshed, AppError>;
    /// The last 200 lines of a unit's journal; the unit must be one of the container's
    /// services (422 otherwise). Audited.
    async fn service_logs(
        &self,
        actor: &Actor,
        id: i64,
        unit: String,
    ) -> Result<ServiceLogs, AppError>;
}

/// The containers backend as provided in context.
pub type SharedContainers = Arc<dyn ContainersBackend>;

/// The containers backend, or `Internal` when the server forgot to provide it.
pub fn containers_backend() -> Result<SharedContainers, AppError> {
    super::provided::<SharedContainers>()
}
