//! Resource history and node reachability: what the charts and offline banners need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::metrics::{NodeWatch, Range, Series, Subject};

/// Implemented by the server's `MonitorService`. A container's history is seen by its owner
/// or an administrator, a node member's by the node's owner (404 for anyone else).
#[async_trait]
pub trait MetricsBackend: Send + Sync + 'static {
    /// `subject`'s history over `range`, ending now.
    async fn series(
        &self,
        actor: &Actor,
        subject: Subject,
        range: Range,
    ) -> Result<Series, AppError>;
    /// What the monitor knows about the reachability of the actor's nodes.
    async fn watches(&self, actor: &Actor) -> Result<Vec<NodeWatch>, AppError>;
}

/// The metrics backend as provided in context.
pub type SharedMetrics = Arc<dyn MetricsBackend>;

/// The metrics backend, or `Internal` when the server forgot to provide it.
pub fn metrics_backend() -> Result<SharedMetrics, AppError> {
    super::provided::<SharedMetrics>()
}
