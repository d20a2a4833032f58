//! A node's live health: reachable, PVE version, cluster members, privileges Kiln lacks.

use kiln_shared::nodes::{NodeHealth, NodeMember, REQUIRED_PRIVILEGES};

use crate::proxmox::{Error, ProxmoxApi};

/// Asks the node for its version, members and the token's permissions.
pub async fn check(api: &dyn ProxmoxApi) -> NodeHealth {
    let version = match api.version().await {
        Ok(v) => v,
        Err(e) => {
            // The details of a changed certificate are filled in by a probe (see `service`).
            let certificate_changed = match &e {
                Error::CertificateChanged { actual, .. } => {
                    Some(kiln_shared::pve::CertificateInfo {
                        fingerprint: actual.clone(),
                        subject: String::new(),
                        issuer: String::new(),
                        not_before: String::new(),
                        not_after: String::new(),
                    })
                }
                _ => None,
            };
            return NodeHealth {
                online: false,
                error: Some(e.to_string()),
                certificate_changed,
                ..NodeHealth::default()
            };
        }
    };
    let (members, permissions) = tokio::join!(api.nodes(), api.permissions());
    let members = members
        .map(|list| {
            list.into_iter()
                .map(|n| NodeMember {
                    online: n.status == "online",
                    name: n.node,
                    cpu: n.cpu,
                    maxcpu: n.maxcpu,
                    mem: n.mem,
                    maxmem: n.maxmem,
                })
                .collect()
        })
        .unwrap_or_default();
    let (missing_privileges, error) = match permissions {
        Ok(perms) => {
            let root = perms.get("/");
            let missing = REQUIRED_PRIVILEGES
                .iter()
                .filter(|p| !root.and_then(|r| r.get(**p)).is_some_and(|flag| flag.0))
                .map(|p| (*p).to_owned())
                .collect();
            (missing, None)
        }
        Err(Error::Forbidden { .. }) => (
            REQUIRED_PRIVILEGES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(format!("cannot read permissions: {e}"))),
    };
    NodeHealth {
        online: true,
        version: Some(version.version),
        members,
        missing_privileges,
        error,
        certificate_changed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use kiln_shared::pve::{ClusterNode, PermissionFlag, Permissions, Version};

    /// A node that answers with a token missing one privilege.
    struct Fake;

    #[async_trait]
    impl ProxmoxApi for Fake {
        async fn version(&self) -> crate::proxmox::Result<Version> {
            Ok(Version {
                version: "8.2.4".into(),
                release: "8.2".into(),
                repoid: "x".into(),
            })
        }
        async fn nodes(&self) -> crate::proxmox::Result<Vec<ClusterNode>> {
            Ok(vec![ClusterNode {
                node: "pve".into(),
                status: "online".into(),
                cpu: Some(0.1),
                maxcpu: Some(4),
                mem: Some(1),
                maxmem: Some(2),
                uptime: None,
                ssl_fingerprint: None,
            }])
        }
        async fn permissions(&self) -> crate::proxmox::Result<Permissions> {
            let mut root = std::collections::BTreeMap::new();
            for p in REQUIRED_PRIVILEGES.iter().filter(|p| **p != "VM.Allocate") {
                root.insert((*p).to_owned(), PermissionFlag(true));
            }
            Ok(Permissions::from([("/".to_owned(), root)]))
        }
    }

    struct Down;
    #[async_trait]
    impl ProxmoxApi for Down {
        async fn version(&self) -> crate::proxmox::Result<Version> {
            Err(Error::Connect {
                host: "pve".into(),
                detail: "connection refused".into(),
            })
        }
    }

    #[tokio::test]
    async fn reports_version_members_and_missing_privileges() {
        let health = check(&Fake).await;
        assert!(health.online);
        assert_eq!(health.version.as_deref(), Some("8.2.4"));
        assert_eq!(health.members.len(), 1);
        assert_eq!(health.missing_privileges, vec!["VM.Allocate".to_owned()]);
        let down = check(&Down).await;
        assert!(!down.online);
        assert!(down.error.is_some_and(|e| e.contains("refused")));
    }
}
