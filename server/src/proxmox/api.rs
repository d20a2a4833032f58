//! `ProxmoxApi` for the real [`Client`]: one request per method, paths and parameters as in
//! PVE's API schema (`shared/pve/apidoc.json`).

use async_trait::async_trait;
use kiln_shared::pve::{
    AccessTicket, ClusterNode, ClusterResource, CreatedToken, LxcConfig, LxcCreate, LxcInterface,
    LxcListItem, LxcStatusCurrent, NodeNetwork, NodeStatus, NodeStorage, Permissions, Pool,
    RrdPoint, StorageContent, TaskLogLine, TaskStatus, Upid, Version, de,
};
use reqwest::Method;
use serde::Deserialize;

use super::client::Client;
use super::params::{bit, pair, seg, to_form};
use super::transport::Call;
use super::{Error, ProxmoxApi, Result, ShutdownOptions};

/// `/cluster/nextid` answers a string (`"100"`).
#[derive(Deserialize)]
struct NextId(#[serde(deserialize_with = "de::num")] u32);

impl Client {
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: Vec<(String, String)>,
    ) -> Result<T> {
        self.call(Method::GET, path, params).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: Vec<(String, String)>,
    ) -> Result<T> {
        self.call(Method::POST, path, params).await
    }

    async fn lxc_action(&self, node: &str, vmid: u32, action: &str) -> Result<Upid> {
        let path = format!("/nodes/{}/lxc/{vmid}/status/{action}", seg(node));
        self.post(&path, Vec::new()).await
    }
}

#[async_trait]
impl ProxmoxApi for Client {
    async fn version(&self) -> Result<Version> {
        self.get("/version", Vec::new()).await
    }

    async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        self.get("/nodes", Vec::new()).await
    }

    async fn cluster_resources_vm(&self) -> Result<Vec<ClusterResource>> {
        self.get("/cluster/resources", vec![pair("type", "vm")])
            .await
    }

    async fn cluster_resources(&self) -> Result<Vec<ClusterResource>> {
        self.get("/cluster/resources", vec![]).await
    }

    async fn cluster_nextid(&self, vmid: Option<u32>) -> Result<u32> {
        let params = vmid
            .map(|id| vec![pair("vmid", id.to_string())])
            .unwrap_or_default();
        let NextId(id) = self.get("/cluster/nextid", params).await?;
        Ok(id)
    }

    async fn lxc_list(&self, node: &str) -> Result<Vec<LxcListItem>> {
        self.get(&format!("/nodes/{}/lxc", seg(node)), Vec::new())
            .await
    }

    async fn lxc_create(&self, node: &str, params: &LxcCreate) -> Result<Upid> {
        self.post(&format!("/nodes/{}/lxc", seg(node)), to_form(params)?)
            .await
    }

    async fn lxc_config(&self, node: &str, vmid: u32) -> Result<LxcConfig> {
        self.get(
            &format!("/nodes/{}/lxc/{vmid}/config", seg(node)),
            Vec::new(),
        )
        .await
    }

    async fn lxc_config_update(
        &self,
        node: &str,
        vmid: u32,
        changes: &[(String, String)],
        digest: Option<&str>,
    ) -> Result<()> {
        let mut params = changes.to_vec();
        if let Some(digest) = digest {
            params.push(pair("digest", digest));
        }
        let path = format!("/nodes/{}/lxc/{vmid}/config", seg(node));
        self.call(Method::PUT, &path, params).await
    }

    async fn lxc_status(&self, node: &str, vmid: u32) -> Result<LxcStatusCurrent> {
        let path = format!("/nodes/{}/lxc/{vmid}/status/current", seg(node));
        self.get(&path, Vec::new()).await
    }

    async fn lxc_start(&self, node: &str, vmid: u32) -> Result<Upid> {
        self.lxc_action(node, vmid, "start").await
    }

    async fn lxc_stop(&self, node: &str, vmid: u32) -> Result<Upid> {
        self.lxc_action(node, vmid, "stop").await
    }

    async fn lxc_shutdown(&self, node: &str, vmid: u32, options: ShutdownOptions) -> Result<Upid> {
        let mut params = vec![pair("forceStop", bit(options.force_stop))];
        if let Some(timeout) = options.timeout {
            params.push(pair("timeout", timeout.to_string()));
        }
        let path = format!("/nodes/{}/lxc/{vmid}/status/shutdown", seg(node));
        self.post(&path, params).await
    }

    async fn lxc_reboot(&self, node: &str, vmid: u32) -> Result<Upid> {
        self.lxc_action(node, vmid, "reboot").await
    }

    async fn lxc_delete(&self, node: &str, vmid: u32) -> Result<Upid> {
        let params = vec![pair("purge", "1"), pair("destroy-unreferenced-disks", "1")];
        let path = format!("/nodes/{}/lxc/{vmid}", seg(node));
        self.call(Method::DELETE, &path, params).await
    }

    async fn lxc_interfaces(&self, node: &str, vmid: u32) -> Result<Vec<LxcInterface>> {
        let path = format!("/nodes/{}/lxc/{vmid}/interfaces", seg(node));
        self.get(&path, Vec::new()).await
    }

    async fn lxc_rrddata(
        &self,
        node: &str,
        vmid: u32,
        timeframe: &str,
        cf: &str,
    ) -> Result<Vec<RrdPoint>> {
        let path = format!("/nodes/{}/lxc/{vmid}/rrddata", seg(node));
        self.get(&path, vec![pair("timeframe", timeframe), pair("cf", cf)])
            .await
    }

    async fn node_status(&self, node: &str) -> Result<NodeStatus> {
        self.get(&format!("/nodes/{}/status", seg(node)), Vec::new())
            .await
    }

    async fn node_storage(&self, node: &str, content: Option<&str>) -> Result<Vec<NodeStorage>> {
        let params = content
            .map(|c| vec![pair("content", c)])
            .unwrap_or_default();
        self.get(&format!("/nodes/{}/storage", seg(node)), params)
            .await
    }

    async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
    ) -> Result<Vec<StorageContent>> {
        let params = content
            .map(|c| vec![pair("content", c)])
            .unwrap_or_default();
        let path = format!("/nodes/{}/storage/{}/content", seg(node), seg(storage));
        self.get(&path, params).await
    }

    async fn node_bridges(&self, node: &str) -> Result<Vec<NodeNetwork>> {
        let path = format!("/nodes/{}/network", seg(node));
        self.get(&path, vec![pair("type", "any_bridge")]).await
    }

    async fn pools(&self) -> Result<Vec<Pool>> {
        self.get("/pools", Vec::new()).await
    }

    async fn permissions(&self) -> Result<Permissions> {
        self.get("/access/permissions", Vec::new()).await
    }

    async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        let path = format!(
            "/nodes/{}/tasks/{}/status",
            seg(&upid.node),
            seg(&upid.to_string())
        );
        self.get(&path, Vec::new()).await
    }

    async fn task_log(&self, upid: &Upid, start: u64, limit: u64) -> Result<Vec<TaskLogLine>> {
        let path = format!(
            "/nodes/{}/tasks/{}/log",
            seg(&upid.node),
            seg(&upid.to_string())
        );
        let params = vec![
            pair("start", start.to_string()),
            pair("limit", limit.to_string()),
        ];
        self.get(&path, params).await
    }

    async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        privsep: bool,
        comment: &str,
    ) -> Result<CreatedToken> {
        let path = format!("/access/users/{}/token/{}", seg(userid), seg(tokenid));
        let params = vec![pair("privsep", bit(privsep)), pair("comment", comment)];
        self.post(&path, params).await
    }

    async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        let path = format!("/access/users/{}/token/{}", seg(userid), seg(tokenid));
        self.call(Method::DELETE, &path, Vec::new()).await
    }

    async fn grant_token_role(&self, path: &str, role: &str, token: &str) -> Result<()> {
        let params = vec![
            pair("path", path),
            pair("roles", role),
            pair("tokens", token),
        ];
        self.call(Method::PUT, "/access/acl", params).await
    }

    /// Unauthenticated. With `otp`, answers a `NeedTFA` challenge with `totp:<code>` (or the
    /// code as given when it already names its kind, e.g. `recovery:...`). Without `otp`, a
    /// challenge is returned as is (`need_tfa` set).
    async fn access_ticket(
        &self,
        username: &str,
        password: &str,
        otp: Option<&str>,
    ) -> Result<AccessTicket> {
        let params = [pair("username", username), pair("password", password)];
        let call = Call {
            method: Method::POST,
            path: "/access/ticket",
            params: &params,
        };
        let first: AccessTicket = self.send_retrying(&call, None, None).await?;
        let (true, Some(code)) = (first.need_tfa, otp) else {
            return Ok(first);
        };
        let challenge = first.ticket.ok_or_else(|| Error::Decode {
            what: "POST /access/ticket".into(),
            detail: "a two-factor challenge without a ticket".into(),
        })?;
        let response = if code.contains(':') {
            code.to_owned()
        } else {
            format!("totp:{code}")
        };
        let params = [
            pair("username", username),
            pair("tfa-challenge", challenge),
            pair("password", response),
        ];
        let call = Call {
            method: Method::POST,
            path: "/access/ticket",
            params: &params,
        };
        self.send_retrying(&call, None, None).await
    }

    async fn lxc_config_raw(
        &self,
        node: &str,
        vmid: u32,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
        self.get(
            &format!("/nodes/{}/lxc/{vmid}/config", seg(node)),
            Vec::new(),
        )
        .await
    }
}
