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
    /// One container with its services (state, ports, web URL) and the keys of the
    /// credentials its scripts saved — never a value.
    async fn detail(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<kiln_shared::containers::ContainerDetail, AppError>;
    /// One credential's value, decrypted, for the container's owner or an administrator
    /// (404 otherwise, or when it does not exist); audited without the value.
    async fn reveal_credential(
        &self,
        actor: &Actor,
        id: i64,
        service: String,
        key: String,
    ) -> Result<String, AppError>;
    /// Runs a creation that failed in its scripts again without running again the script
    /// that did not finish (interrupted or failed); returns that script's name. 409 when no
    /// script is unfinished.
    async fn retry_skipping_script(&self, actor: &Actor, id: i64) -> Result<String, AppError>;
}

/// The containers backend as provided in context.
pub type SharedContainers = Arc<dyn ContainersBackend>;

/// The containers backend, or `Internal` when the server forgot to provide it.
pub fn containers_backend() -> Result<SharedContainers, AppError> {
    super::provided::<SharedContainers>()
}
