//! Containers: what the creation wizard's and progress page's server functions need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::CreateRequest;

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
    /// Deletes a container (any status; a running creation is cancelled first): it becomes
    /// `deleting` at once, and a durable job destroys it on its node — only if Kiln made it
    /// there — and removes it. `Ok` also when a deletion is already under way.
    async fn delete(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
}

/// The containers backend as provided in context.
pub type SharedContainers = Arc<dyn ContainersBackend>;

/// The containers backend, or `Internal` when the server forgot to provide it.
pub fn containers_backend() -> Result<SharedContainers, AppError> {
    super::provided::<SharedContainers>()
}
