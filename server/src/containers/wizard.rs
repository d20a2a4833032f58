//! What the creation wizard and the containers list read: the user's nodes with the reason one
//! cannot be chosen, the catalog, a free readable hostname and a generated root password
//! ([`ContainerService::wizard`]); what a node offers — root-disk storages, OS templates,
//! bridges, the next free VMID ([`ContainerService::node_choices`]); a typed VMID checked
//! live ([`ContainerService::check_vmid`]); and the containers the actor may see.
//!
//! Everything here only reads. A node that does not answer is an `Unavailable` error for the
//! step that needs it, never a crash of the page.

use kiln_app::ssr::{NodesBackend, TemplatesBackend};
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::{
    ContainerStatus, ContainerSummary, NodeChoices, StorageChoice, WizardNode, WizardStart,
    free_hostname, validate_vmid,
};
use kiln_shared::templates::Template;
use ring::rand::{SecureRandom, SystemRandom};

use super::service::ContainerService;
use crate::db::containers::{self, ContainerRow};
use crate::db::{nodes, templates};
use crate::errors;
use crate::nodes::NodeService;
use crate::proxmox::ProxmoxApi;
use crate::templates::TemplateService;

/// Characters of a generated root password (no look-alikes: 0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a generated root password.
const PASSWORD_LEN: usize = 20;

/// A random root password of [`PASSWORD_LEN`] characters from [`PASSWORD_ALPHABET`].
pub fn generate_password() -> Result<String, AppError> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(PASSWORD_LEN);
    while out.len() < PASSWORD_LEN {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte)
            .map_err(|_| errors::internal("generating a password", "no randomness"))?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % PASSWORD_ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(
                PASSWORD_ALPHABET[usize::from(byte[0]) % PASSWORD_ALPHABET.len()],
            ));
        }
    }
    Ok(out)
}

fn random_u64() -> Result<u64, AppError> {
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| errors::internal("suggesting a hostname", "no randomness"))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Why a node cannot take a creation now, from its live health and SSH setup.
fn unavailable(view: &kiln_shared::nodes::NodeView) -> Option<String> {
    if !view.health.online {
        let why = view
            .health
            .error
            .clone()
            .unwrap_or_else(|| "it does not answer".to_owned());
        return Some(format!("offline: {why}"));
    }
    if view.health.certificate_changed.is_some() {
        return Some("its certificate changed: review it on the Nodes page".to_owned());
    }
    if view.node.ssh_host_key.is_none() {
        return Some("SSH is not set up yet (Nodes → the node → SSH)".to_owned());
    }
    None
}

impl ContainerService {
    /// What the wizard starts from; `template` preselects one (`?template=`; an unknown slug
    /// is a 404).
    pub async fn wizard(
        &self,
        actor: &Actor,
        template: Option<&str>,
    ) -> Result<WizardStart, AppError> {
        let state = self.state();
        let node_views = NodeService::new(state.clone()).list_nodes(actor).await?;
        let mut nodes: Vec<WizardNode> = node_views
            .iter()
            .map(|v| WizardNode {
                id: v.node.id,
                name: v.node.name.clone(),
                default: v.node.is_default,
                unavailable: unavailable(v),
            })
            .collect();
        nodes.sort_by_key(|n| !n.default);
        let catalog = TemplateService::new(state.clone()).catalog(actor).await?;
        let template = match template {
            Some(slug) => Some(self.template(slug).await?),
            None => None,
        };
        let taken = self.hostnames(actor).await?;
        Ok(WizardStart {
            nodes,
            templates: catalog.templates,
            template,
            hostname: free_hostname(random_u64()?, &taken),
            taken_hostnames: taken,
            root_password: generate_password()?,
        })
    }

    /// A template's model (its defaults, buckets and scripts) for the wizard.
    pub async fn template(&self, slug: &str) -> Result<Template, AppError> {
        kiln_shared::templates::validate_slug(slug)
            .map_err(|_| AppError::NotFound(format!("template {slug}")))?;
        let mut conn = self.state().conn().await?;
        let row = templates::by_slug(&mut conn, slug)
            .await
            .map_err(|e| errors::db("loading a template", e))?
            .ok_or_else(|| AppError::NotFound(format!("template {slug}")))?;
        serde_json::from_value(row.model)
            .map_err(|e| errors::internal("reading a stored template", e))
    }

    /// Hostnames of the containers the actor owns.
    async fn hostnames(&self, actor: &Actor) -> Result<Vec<String>, AppError> {
        let mut conn = self.state().conn().await?;
        let rows = containers::list(&mut conn, Some(actor.user_id))
            .await
            .map_err(|e| errors::db("listing containers", e))?;
        Ok(rows.into_iter().map(|(row, _)| row.hostname).collect())
    }

    /// What the node `node_id` (the actor's) offers a new container. `Unavailable` when it
    /// does not answer.
    pub async fn node_choices(&self, actor: &Actor, node_id: i64) -> Result<NodeChoices, AppError> {
        let state = self.state();
        let mut conn = state.conn().await?;
        let row = nodes::get(&mut conn, actor.user_id, node_id)
            .await
            .map_err(|e| errors::db("loading a node", e))?
            .ok_or_else(|| AppError::NotFound("No such node.".into()))?;
        drop(conn);
        let down = |e: &dyn std::fmt::Display| {
            AppError::Unavailable(format!("the node {} does not answer: {e}", row.name))
        };
        let client = crate::nodes::client_for(&row, &state.secret_key).map_err(|e| down(&e))?;
        let pve = super::create::pve_node(&client)
            .await
            .map_err(|e| down(&e))?;
        let (rootdir, vztmpl, bridges, next) = tokio::join!(
            client.node_storage(&pve, Some("rootdir")),
            client.node_storage(&pve, Some("vztmpl")),
            client.node_bridges(&pve),
            client.cluster_nextid(None),
        );
        let mut storages: Vec<StorageChoice> = rootdir
            .map_err(|e| down(&e))?
            .into_iter()
            .filter(|s| s.enabled || s.active)
            .map(|s| StorageChoice {
                avail: s.total.zip(s.used).map(|(t, u)| t.saturating_sub(u)),
                id: s.storage,
            })
            .collect();
        storages.sort_by(|a, b| a.id.cmp(&b.id));
        let mut ostemplates = Vec::new();
        for storage in vztmpl.map_err(|e| down(&e))? {
            let content = client
                .storage_content(&pve, &storage.storage, Some("vztmpl"))
                .await
                .map_err(|e| down(&e))?;
            ostemplates.extend(content.into_iter().map(|c| c.volid));
        }
        ostemplates.sort();
        let mut bridges: Vec<String> = bridges
            .map_err(|e| down(&e))?
            .into_iter()
            .map(|b| b.iface)
            .collect();
        bridges.sort();
        Ok(NodeChoices {
            storages,
            ostemplates,
            bridges,
            next_vmid: next.ok(),
        })
    }

    /// Whether `vmid` is free on the node `node_id`: among Kiln's containers and on the node
    /// itself (`/cluster/nextid?vmid=`). A taken or invalid id is a 422 on `vmid`.
    pub async fn check_vmid(&self, actor: &Actor, node_id: i64, vmid: u32) -> Result<(), AppError> {
        let field = |message: String| {
            let mut errors = kiln_shared::FieldErrors::default();
            errors.add("vmid", message);
            AppError::Invalid(errors)
        };
        validate_vmid(vmid).map_err(field)?;
        let state = self.state();
        let mut conn = state.conn().await?;
        let row = nodes::get(&mut conn, actor.user_id, node_id)
            .await
            .map_err(|e| errors::db("loading a node", e))?
            .ok_or_else(|| AppError::NotFound("No such node.".into()))?;
        let reserved = containers::vmids_on(&mut conn, node_id)
            .await
            .map_err(|e| errors::db("reading VMIDs", e))?;
        drop(conn);
        if reserved
            .iter()
            .any(|v| u32::try_from(*v).ok() == Some(vmid))
        {
            return Err(field(format!("Kiln already uses VMID {vmid} on this node")));
        }
        let client = crate::nodes::client_for(&row, &state.secret_key).map_err(|e| {
            AppError::Unavailable(format!("the node {} cannot be used: {e}", row.name))
        })?;
        match client.cluster_nextid(Some(vmid)).await {
            Ok(_) => Ok(()),
            Err(crate::proxmox::Error::BadParameters { .. }) => {
                Err(field(format!("VMID {vmid} is already in use on the node")))
            }
            Err(e) => Err(AppError::Unavailable(format!(
                "the node {} does not answer: {e}",
                row.name
            ))),
        }
    }

    /// The containers the actor may see (an admin sees everybody's), newest first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<ContainerSummary>, AppError> {
        let mut conn = self.state().conn().await?;
        let owner = (!actor.is_admin).then_some(actor.user_id);
        let rows = containers::list(&mut conn, owner)
            .await
            .map_err(|e| errors::db("listing containers", e))?;
        Ok(rows
            .into_iter()
            .map(|(row, node)| summary(&row, node))
            .collect())
    }
}

/// The list's view of a row.
pub fn summary(row: &ContainerRow, node_name: String) -> ContainerSummary {
    ContainerSummary {
        id: row.id,
        hostname: row.hostname.clone(),
        node_id: row.node_id,
        node_name,
        vmid: row.vmid.and_then(|v| u32::try_from(v).ok()),
        template: row.template_slug.clone(),
        status: ContainerStatus::parse(&row.status).unwrap_or(ContainerStatus::Failed),
        address: row.address.clone(),
        error: row.error.clone(),
        created_at: row.created_at.to_rfc3339(),
        power: row.power.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_random_and_pass_the_rule() -> anyhow::Result<()> {
        let a = generate_password()?;
        let b = generate_password()?;
        assert_eq!(a.chars().count(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
        assert!(kiln_shared::containers::validate_root_password(&a).is_ok());
        Ok(())
    }
}
