//! Proxmox nodes: what the node pages' server functions need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::nodes::{
    HostKeyInfo, NodeInput, NodeSummary, NodeView, PveLogin, SshAccess, TokenCreated,
};
use kiln_shared::pve::CertificateInfo;

/// Implemented by the server's `NodeService`. Nodes belong to the user who added them: every
/// method is scoped to the actor, and another user's node is "not found". Every method
/// validates its own input with the `kiln_shared::nodes` rules.
#[async_trait]
pub trait NodesBackend: Send + Sync + 'static {
    /// The actor's nodes with a live health check each.
    async fn list_nodes(&self, actor: &Actor) -> Result<Vec<NodeView>, AppError>;
    /// One node with its health.
    async fn get_node(&self, actor: &Actor, id: i64) -> Result<NodeView, AppError>;
    /// The certificate a host presents (trust on first use).
    async fn probe_certificate(
        &self,
        actor: &Actor,
        host: &str,
        port: u16,
    ) -> Result<CertificateInfo, AppError>;
    /// Tests the token against the pinned certificate, then saves the node.
    async fn add_node(&self, actor: &Actor, input: NodeInput) -> Result<NodeSummary, AppError>;
    /// Signs in once with a password, creates an API token `kiln-…` with privilege separation
    /// and the roles Kiln needs, and saves the node with it. The password is not kept.
    async fn add_node_with_login(
        &self,
        actor: &Actor,
        input: NodeInput,
        login: PveLogin,
    ) -> Result<TokenCreated, AppError>;
    /// Edits a node; an empty secret keeps the stored one.
    async fn update_node(
        &self,
        actor: &Actor,
        id: i64,
        input: NodeInput,
    ) -> Result<NodeSummary, AppError>;
    /// Deletes a node (refused while containers use it).
    async fn delete_node(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
    /// Makes a node the actor's default.
    async fn set_default_node(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
    /// The SSH public key Kiln uses for the node `id` (created on first use; each node has its
    /// own) and the command that authorizes it.
    async fn ssh_access(&self, actor: &Actor, id: i64) -> Result<SshAccess, AppError>;
    /// The node's current SSH host key, for the user to confirm.
    async fn fetch_host_key(
        &self,
        actor: &Actor,
        id: i64,
        ssh_port: u16,
    ) -> Result<HostKeyInfo, AppError>;
    /// Saves the SSH user and port and pins the confirmed host key.
    async fn save_ssh(
        &self,
        actor: &Actor,
        id: i64,
        ssh_user: &str,
        ssh_port: u16,
        host_key: &str,
    ) -> Result<(), AppError>;
    /// Connects with the pinned host key and runs `pct list`; returns a message for the user.
    async fn test_ssh(&self, actor: &Actor, id: i64) -> Result<String, AppError>;
    /// Installs Kiln's key on the node with the SSH user's password (used once, never kept).
    async fn install_ssh_key(&self, actor: &Actor, id: i64, password: &str)
    -> Result<(), AppError>;
}

/// The nodes backend as provided in context.
pub type SharedNodes = Arc<dyn NodesBackend>;

/// The nodes backend, or `Internal` when the server forgot to provide it.
pub fn nodes_backend() -> Result<SharedNodes, AppError> {
    super::provided::<SharedNodes>()
}
