//! Speaking Proxmox VE's API. Only this module sends HTTP to Proxmox.
//!
//! - [`ProxmoxApi`]: one async method per endpoint Kiln uses. Every method has a default body
//!   that answers [`Error::NotImplemented`], so test fakes implement only what they need; the
//!   real client (`client::Client`) and the lab node implement them all.
//! - [`Error`]: tells "failed before anything was sent — safe to retry" from "may have been
//!   applied", and each HTTP failure class PVE produces.
//! - Request/response types live in `kiln_shared::pve`, named after the API path.
//!
//! Code map: `client` (config, auth, retry policy), `api` (the trait methods, one request
//! each), `transport` (one HTTP exchange and the error mapping), `pin` (the pinned-certificate
//! verifier), `ticket` (password sessions), `params` (path segments, form pairs), `tls`
//! (fingerprints and the trust-on-first-use probe), `tasks` (waiting for UPIDs).

mod api;
pub mod client;
pub mod error;
mod params;
mod pin;
pub mod tasks;
mod ticket;
pub mod tls;
mod transport;

use async_trait::async_trait;
use kiln_shared::pve::{
    AccessTicket, ClusterNode, ClusterResource, CreatedToken, LxcConfig, LxcCreate, LxcInterface,
    LxcListItem, LxcStatusCurrent, NodeNetwork, NodeStatus, NodeStorage, Permissions, Pool,
    RrdPoint, StorageContent, TaskLogLine, TaskStatus, Upid, Version,
};

pub use client::{Auth, Client, ClientConfig, Tuning};
pub use error::Error;
pub use transport::MAX_BODY;

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// How a shutdown behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// Seconds to wait for the guest to stop.
    pub timeout: Option<u32>,
    /// Stop hard when the timeout passes.
    pub force_stop: bool,
}

/// The Proxmox VE API, as Kiln uses it. Paths are relative to `/api2/json`.
#[async_trait]
pub trait ProxmoxApi: Send + Sync {
    /// `GET /version` — the connection test.
    async fn version(&self) -> Result<Version> {
        Err(Error::NotImplemented("version"))
    }
    /// `GET /nodes`.
    async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        Err(Error::NotImplemented("nodes"))
    }
    /// `GET /cluster/resources?type=vm`.
    async fn cluster_resources_vm(&self) -> Result<Vec<ClusterResource>> {
        Err(Error::NotImplemented("cluster_resources_vm"))
    }
    /// `GET /cluster/resources`: guests, members and storages in one answer (the dashboard).
    async fn cluster_resources(&self) -> Result<Vec<ClusterResource>> {
        Err(Error::NotImplemented("cluster_resources"))
    }
    /// `GET /cluster/nextid` (with `vmid`: 400 when taken).
    async fn cluster_nextid(&self, _vmid: Option<u32>) -> Result<u32> {
        Err(Error::NotImplemented("cluster_nextid"))
    }
    /// `GET /nodes/{node}/lxc`.
    async fn lxc_list(&self, _node: &str) -> Result<Vec<LxcListItem>> {
        Err(Error::NotImplemented("lxc_list"))
    }
    /// `POST /nodes/{node}/lxc`.
    async fn lxc_create(&self, _node: &str, _params: &LxcCreate) -> Result<Upid> {
        Err(Error::NotImplemented("lxc_create"))
    }
    /// `GET /nodes/{node}/lxc/{vmid}/config`.
    async fn lxc_config(&self, _node: &str, _vmid: u32) -> Result<LxcConfig> {
        Err(Error::NotImplemented("lxc_config"))
    }
    /// `PUT /nodes/{node}/lxc/{vmid}/config` with `digest` (form pairs as PVE takes them).
    async fn lxc_config_update(
        &self,
        _node: &str,
        _vmid: u32,
        _changes: &[(String, String)],
        _digest: Option<&str>,
    ) -> Result<()> {
        Err(Error::NotImplemented("lxc_config_update"))
    }
    /// `GET /nodes/{node}/lxc/{vmid}/status/current`.
    async fn lxc_status(&self, _node: &str, _vmid: u32) -> Result<LxcStatusCurrent> {
        Err(Error::NotImplemented("lxc_status"))
    }
    /// `POST /nodes/{node}/lxc/{vmid}/status/start`.
    async fn lxc_start(&self, _node: &str, _vmid: u32) -> Result<Upid> {
        Err(Error::NotImplemented("lxc_start"))
    }
    /// `POST /nodes/{node}/lxc/{vmid}/status/stop`.
    async fn lxc_stop(&self, _node: &str, _vmid: u32) -> Result<Upid> {
        Err(Error::NotImplemented("lxc_stop"))
    }
    /// `POST /nodes/{node}/lxc/{vmid}/status/shutdown`.
    async fn lxc_shutdown(
        &self,
        _node: &str,
        _vmid: u32,
        _options: ShutdownOptions,
    ) -> Result<Upid> {
        Err(Error::NotImplemented("lxc_shutdown"))
    }
    /// `POST /nodes/{node}/lxc/{vmid}/status/reboot`.
    async fn lxc_reboot(&self, _node: &str, _vmid: u32) -> Result<Upid> {
        Err(Error::NotImplemented("lxc_reboot"))
    }
    /// `DELETE /nodes/{node}/lxc/{vmid}?purge=1&destroy-unreferenced-disks=1`.
    async fn lxc_delete(&self, _node: &str, _vmid: u32) -> Result<Upid> {
        Err(Error::NotImplemented("lxc_delete"))
    }
    /// `GET /nodes/{node}/lxc/{vmid}/interfaces`.
    async fn lxc_interfaces(&self, _node: &str, _vmid: u32) -> Result<Vec<LxcInterface>> {
        Err(Error::NotImplemented("lxc_interfaces"))
    }
    /// `GET /nodes/{node}/lxc/{vmid}/rrddata?timeframe=..&cf=..`.
    async fn lxc_rrddata(
        &self,
        _node: &str,
        _vmid: u32,
        _timeframe: &str,
        _cf: &str,
    ) -> Result<Vec<RrdPoint>> {
        Err(Error::NotImplemented("lxc_rrddata"))
    }
    /// `GET /nodes/{node}/status`.
    async fn node_status(&self, _node: &str) -> Result<NodeStatus> {
        Err(Error::NotImplemented("node_status"))
    }
    /// `GET /nodes/{node}/storage?content=..`.
    async fn node_storage(&self, _node: &str, _content: Option<&str>) -> Result<Vec<NodeStorage>> {
        Err(Error::NotImplemented("node_storage"))
    }
    /// `GET /nodes/{node}/storage/{storage}/content?content=..`.
    async fn storage_content(
        &self,
        _node: &str,
        _storage: &str,
        _content: Option<&str>,
    ) -> Result<Vec<StorageContent>> {
        Err(Error::NotImplemented("storage_content"))
    }
    /// `GET /nodes/{node}/network?type=any_bridge`.
    async fn node_bridges(&self, _node: &str) -> Result<Vec<NodeNetwork>> {
        Err(Error::NotImplemented("node_bridges"))
    }
    /// `GET /pools`.
    async fn pools(&self) -> Result<Vec<Pool>> {
        Err(Error::NotImplemented("pools"))
    }
    /// `GET /access/permissions` (of the caller).
    async fn permissions(&self) -> Result<Permissions> {
        Err(Error::NotImplemented("permissions"))
    }
    /// `GET /nodes/{node}/tasks/{upid}/status`.
    async fn task_status(&self, _upid: &Upid) -> Result<TaskStatus> {
        Err(Error::NotImplemented("task_status"))
    }
    /// `GET /nodes/{node}/tasks/{upid}/log?start=..&limit=..`.
    async fn task_log(&self, _upid: &Upid, _start: u64, _limit: u64) -> Result<Vec<TaskLogLine>> {
        Err(Error::NotImplemented("task_log"))
    }
    /// `POST /access/users/{userid}/token/{tokenid}` with `privsep`.
    async fn create_token(
        &self,
        _userid: &str,
        _tokenid: &str,
        _privsep: bool,
        _comment: &str,
    ) -> Result<CreatedToken> {
        Err(Error::NotImplemented("create_token"))
    }
    /// `DELETE /access/users/{userid}/token/{tokenid}` (its ACL entries go with it).
    async fn delete_token(&self, _userid: &str, _tokenid: &str) -> Result<()> {
        Err(Error::NotImplemented("delete_token"))
    }
    /// `PUT /access/acl`: grant `role` on `path` to an API token (`user@realm!tokenid`).
    async fn grant_token_role(&self, _path: &str, _role: &str, _token: &str) -> Result<()> {
        Err(Error::NotImplemented("grant_token_role"))
    }
    /// `POST /access/ticket` (password or ticket renewal; `otp` for two factors).
    async fn access_ticket(
        &self,
        _username: &str,
        _password: &str,
        _otp: Option<&str>,
    ) -> Result<AccessTicket> {
        Err(Error::NotImplemented("access_ticket"))
    }
    /// `GET /nodes/{node}/lxc/{vmid}/config` as sent: every key with its JSON value, none
    /// interpreted (what the container page's Config tab shows; [`ProxmoxApi::lxc_config`]
    /// reads the keys Kiln uses).
    async fn lxc_config_raw(
        &self,
        _node: &str,
        _vmid: u32,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
        Err(Error::NotImplemented("lxc_config_raw"))
    }
}
