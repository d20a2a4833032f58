//! `NodeService`: the server side of the node pages (the app's `NodesBackend`).
//!
//! A node belongs to the user who added it: every query is scoped to the actor, and another
//! user's node is "not found" (administrators included: a node holds its owner's token).
//! Input is validated here with the `kiln_shared::nodes` rules. Saving a node — its row, its
//! sealed secret and the default choice — is one transaction.

use async_trait::async_trait;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_app::ssr::NodesBackend;
use kiln_shared::auth::Actor;
use kiln_shared::nodes::{
    HostKeyInfo, NodeInput, NodeSummary, NodeView, PveLogin, SshAccess, TokenCreated,
};
use kiln_shared::pve::CertificateInfo;
use kiln_shared::{AppError, FieldErrors};
use serde_json::json;

use super::{CONNECT_TIMEOUT, REQUEST_TIMEOUT, check, client_for};
use crate::app_state::AppState;
use crate::db::audit::Entry;
use crate::db::nodes::{self, NewNode, NodeChanges, NodeRow};
use crate::errors::{self, TxError};
use crate::proxmox::client::{Auth, Client, ClientConfig};
use crate::proxmox::{Error, ProxmoxApi, tls};
use crate::ssh;

/// The roles "sign in once" grants to the token it creates. PVE 8 checks `SDN.Use` on the
/// bridge a container's network is attached to (`/sdn/zones/localnetwork/vmbr0`), hence
/// `PVESDNUser`.
const TOKEN_GRANTS: &[(&str, &str)] = &[
    ("/", "PVEVMAdmin"),
    ("/", "PVEDatastoreUser"),
    ("/", "PVEAuditor"),
    ("/sdn", "PVESDNUser"),
];

#[derive(Clone, Debug)]
pub struct NodeService {
    /// Pools, key, configuration.
    state: AppState,
}

impl NodeService {
    pub fn new(state: AppState) -> Self {
        NodeService { state }
    }

    async fn conn(&self) -> Result<crate::db::DbConn, AppError> {
        self.state.conn().await
    }

    async fn row(&self, actor: &Actor, id: i64) -> Result<NodeRow, AppError> {
        let mut conn = self.conn().await?;
        nodes::get(&mut conn, actor.user_id, id)
            .await
            .map_err(|e| errors::db("loading a node", e))?
            .ok_or_else(|| AppError::NotFound("No such node.".into()))
    }

    /// The health of one stored node; a changed certificate is probed so the user can review it.
    async fn view(&self, row: &NodeRow, default: Option<i64>) -> NodeView {
        let mut health = match client_for(row, &self.state.secret_key) {
            Ok(client) => check(&client).await,
            Err(e) => kiln_shared::nodes::NodeHealth {
                error: Some(format!("cannot use the stored credentials: {e}")),
                ..Default::default()
            },
        };
        if let (Some(_), Ok(port)) = (&health.certificate_changed, u16::try_from(row.port))
            && let Ok(full) = tls::probe(&row.host, port, CONNECT_TIMEOUT).await
        {
            health.certificate_changed = Some(full);
        }
        let watch = match self.state.conn().await {
            Ok(mut conn) => crate::db::metrics::watch(&mut conn, row.id)
                .await
                .ok()
                .flatten()
                .map(crate::monitor::service::watch_of),
            Err(_) => None,
        };
        NodeView {
            node: row.summary(default),
            health,
            watch,
        }
    }

    /// Checks that `api` answers and accepts the credentials; errors land on the right field.
    async fn verify(api: &dyn ProxmoxApi) -> Result<(), AppError> {
        match api.version().await {
            Ok(_) => Ok(()),
            Err(e) => Err(field_error(&e)),
        }
    }

    fn client(input: &NodeInput, auth: Auth) -> Result<Client, AppError> {
        Client::new(ClientConfig {
            host: input.host.trim().to_owned(),
            port: input.port,
            fingerprint: input.fingerprint.clone(),
            auth,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        })
        .map_err(|e| errors::internal("building a Proxmox client", e))
    }

    /// Inserts the node and its encrypted secret, and makes the actor's first node their
    /// default — one transaction: a failure leaves nothing behind.
    async fn save(
        &self,
        actor: &Actor,
        input: &NodeInput,
        is_lab: bool,
    ) -> Result<NodeSummary, AppError> {
        let key = &self.state.secret_key;
        let mut pooled = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let (row, default) = conn
            .transaction::<_, TxError, _>(async |conn| {
                let row = nodes::insert(
                    conn,
                    &NewNode {
                        owner_id: actor.user_id,
                        name: input.name.trim(),
                        host: input.host.trim(),
                        port: i32::from(input.port),
                        is_cluster: input.is_cluster,
                        fingerprint: &input.fingerprint,
                        token_id: input.token_id.trim(),
                        token_secret: &[],
                        is_lab,
                    },
                )
                .await?
                .ok_or_else(|| AppError::invalid("name", NAME_TAKEN))?;
                let sealed = key
                    .encrypt(
                        input.token_secret.trim().as_bytes(),
                        &NodeRow::secret_context(row.id),
                    )
                    .map_err(|e| errors::internal("encrypting a token secret", e))?;
                nodes::set_secret(conn, row.id, &sealed).await?;
                let mut default = nodes::default_for(conn, actor.user_id).await?;
                if default.is_none() {
                    nodes::set_default(conn, actor.user_id, Some(row.id)).await?;
                    default = Some(row.id);
                }
                Ok((row, default))
            })
            .await
            .map_err(|e| e.into_app("adding a node"))?;
        drop(pooled);
        self.state.inventories.forget(actor.user_id);
        tracing::info!(node.id = row.id, node.name = %row.name, user.name = ?actor.username, "node added");
        self.state
            .audit(Entry {
                detail: json!({ "host": row.host, "port": row.port, "token_id": row.token_id, "is_lab": is_lab }),
                ..Entry::by(actor, "node.add").on(&row.name)
            })
            .await;
        Ok(row.summary(default))
    }

    /// `Invalid` on `name` when the actor already has a node of that name (besides `except`).
    async fn check_name_free(
        &self,
        actor: &Actor,
        name: &str,
        except: Option<i64>,
    ) -> Result<(), AppError> {
        let mut conn = self.conn().await?;
        let taken = nodes::name_taken(&mut conn, actor.user_id, name.trim(), except)
            .await
            .map_err(|e| errors::db("checking a node name", e))?;
        if taken {
            Err(AppError::invalid("name", NAME_TAKEN))
        } else {
            Ok(())
        }
    }

    /// What an SSH action on an owned node needs: the row, its pinned host key (Conflict when
    /// none is confirmed yet), the node's own key and the target.
    async fn ssh_context(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<
        (
            NodeRow,
            ssh::host_key::HostKey,
            ssh::keys::NodeKey,
            ssh::Target,
        ),
        AppError,
    > {
        let row = self.row(actor, id).await?;
        let pinned = row
            .ssh_host_key
            .as_deref()
            .map(ssh::host_key::HostKey::parse)
            .transpose()
            .map_err(|e| errors::internal("reading a pinned host key", e))?
            .ok_or_else(|| AppError::Conflict("Confirm the node's SSH host key first.".into()))?;
        let key = self.node_key(actor, id).await?;
        let target = ssh::Target {
            user: row.ssh_user.clone(),
            host: row.host.clone(),
            port: u16::try_from(row.ssh_port).unwrap_or(22),
        };
        Ok((row, pinned, key, target))
    }

    /// The SSH key of an owned node (created on first use).
    async fn node_key(&self, actor: &Actor, id: i64) -> Result<ssh::keys::NodeKey, AppError> {
        ssh::keys::for_node(&self.state.db, &self.state.secret_key, actor.user_id, id)
            .await
            .map_err(|e| errors::internal("loading a node's SSH key", e))?
            .ok_or_else(|| AppError::NotFound("No such node.".into()))
    }

    /// Adds a node without a browser (the lab node registered by `kiln.sh up`).
    pub async fn add_lab_node(
        &self,
        actor: &Actor,
        input: NodeInput,
    ) -> Result<NodeSummary, AppError> {
        input.validate(true)?;
        Self::verify(&Self::client(
            &input,
            Auth::Token {
                id: input.token_id.clone(),
                secret: input.token_secret.clone(),
            },
        )?)
        .await?;
        self.save(actor, &input, true).await
    }

    /// Removes a token "sign in once" created when the node could not be saved after all, so
    /// no unused credential stays on the node. Best effort: a failure is logged.
    async fn remove_token(client: &Client, userid: &str, tokenid: &str) {
        match client.delete_token(userid, tokenid).await {
            Ok(()) => tracing::info!(token.id = %tokenid, "removed the unused API token"),
            Err(e) => {
                tracing::warn!(token.id = %tokenid, error = %e, "could not remove the unused API token")
            }
        }
    }
}

const NAME_TAKEN: &str = "You already have a node with this name.";

/// The refusal to delete a node while Kiln manages containers on it.
fn containers_on_node(count: i64) -> AppError {
    AppError::Conflict(if count == 1 {
        "1 container on this node is managed by Kiln; delete it first.".to_owned()
    } else {
        format!("{count} containers on this node are managed by Kiln; delete them first.")
    })
}

/// Puts a connection failure on the field the user should look at.
fn field_error(err: &Error) -> AppError {
    match err {
        Error::Connect { .. } | Error::Timeout { .. } => {
            AppError::invalid("host", format!("Kiln cannot reach the node: {err}"))
        }
        Error::CertificateChanged { .. } => AppError::invalid(
            "fingerprint",
            "The node now presents a different certificate than the one you confirmed. Check it again.",
        ),
        Error::Unauthorized { .. } => {
            AppError::invalid("token_secret", "The node refused these credentials.")
        }
        Error::Forbidden { .. } => AppError::invalid(
            "token_id",
            format!("The credentials lack a permission: {err}"),
        ),
        other => AppError::invalid(
            FieldErrors::FORM,
            format!("The node answered with an error: {other}"),
        ),
    }
}

#[async_trait]
impl NodesBackend for NodeService {
    async fn list_nodes(&self, actor: &Actor) -> Result<Vec<NodeView>, AppError> {
        let mut conn = self.conn().await?;
        let rows = nodes::list(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("listing nodes", e))?;
        let default = nodes::default_for(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("reading the default node", e))?;
        drop(conn);
        let checks = rows.iter().map(|row| self.view(row, default));
        Ok(futures::future::join_all(checks).await)
    }

    async fn get_node(&self, actor: &Actor, id: i64) -> Result<NodeView, AppError> {
        let row = self.row(actor, id).await?;
        let mut conn = self.conn().await?;
        let default = nodes::default_for(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("reading the default node", e))?;
        drop(conn);
        Ok(self.view(&row, default).await)
    }

    async fn probe_certificate(
        &self,
        _actor: &Actor,
        host: &str,
        port: u16,
    ) -> Result<CertificateInfo, AppError> {
        let mut errors = FieldErrors::default();
        errors.check("host", kiln_shared::nodes::host(host));
        errors.check("port", kiln_shared::nodes::port(port));
        errors.into_result()?;
        tls::probe(host.trim(), port, CONNECT_TIMEOUT)
            .await
            .map_err(|e| AppError::invalid("host", format!("Kiln cannot reach the node: {e}")))
    }

    async fn add_node(&self, actor: &Actor, input: NodeInput) -> Result<NodeSummary, AppError> {
        input.validate(true)?;
        self.check_name_free(actor, &input.name, None).await?;
        let client = Self::client(
            &input,
            Auth::Token {
                id: input.token_id.trim().to_owned(),
                secret: input.token_secret.trim().to_owned(),
            },
        )?;
        Self::verify(&client).await?;
        self.save(actor, &input, false).await
    }

    async fn add_node_with_login(
        &self,
        actor: &Actor,
        mut input: NodeInput,
        login: PveLogin,
    ) -> Result<TokenCreated, AppError> {
        // The token does not exist yet: check everything else first, the name included, so
        // that a refusal leaves nothing on the node.
        input.token_id = format!("{}@{}!kiln", login.username, login.realm);
        input.token_secret = "pending".into();
        input.validate(true)?;
        login.validate()?;
        self.check_name_free(actor, &input.name, None).await?;
        let userid = format!("{}@{}", login.username, login.realm);
        let client = Self::client(
            &input,
            Auth::Password {
                username: userid.clone(),
                password: login.password.clone(),
                otp: login.otp.clone().filter(|o| !o.is_empty()),
            },
        )?;
        Self::verify(&client)
            .await
            .map_err(|e| match e.field("token_secret") {
                Some(_) => AppError::invalid(
                    "pve_password",
                    "Proxmox refused this user, password or code.",
                ),
                None => e,
            })?;
        let suffix: String = crate::auth::tokens::digest(
            &crate::auth::tokens::random_token()
                .map_err(|e| errors::internal("making a token name", e))?,
        )
        .chars()
        .take(6)
        .collect();
        let tokenid = format!("kiln-{suffix}");
        let created = client
            .create_token(&userid, &tokenid, true, "Created by Kiln")
            .await
            .map_err(|e| field_error(&e))?;
        let mut grants = Vec::new();
        for (path, role) in TOKEN_GRANTS {
            if let Err(e) = client
                .grant_token_role(path, role, &created.full_tokenid)
                .await
            {
                Self::remove_token(&client, &userid, &tokenid).await;
                return Err(field_error(&e));
            }
            grants.push(format!("{role} on {path}"));
        }
        input.token_id = created.full_tokenid.clone();
        input.token_secret = created.value;
        let node = match self.save(actor, &input, false).await {
            Ok(node) => node,
            Err(e) => {
                Self::remove_token(&client, &userid, &tokenid).await;
                return Err(e);
            }
        };
        self.state
            .audit(Entry {
                detail: json!({ "token_id": created.full_tokenid, "grants": grants }),
                ..Entry::by(actor, "node.token.create").on(&node.name)
            })
            .await;
        Ok(TokenCreated {
            node,
            token_id: created.full_tokenid,
            grants,
        })
    }

    async fn update_node(
        &self,
        actor: &Actor,
        id: i64,
        mut input: NodeInput,
    ) -> Result<NodeSummary, AppError> {
        input.validate(false)?;
        let row = self.row(actor, id).await?;
        self.check_name_free(actor, &input.name, Some(id)).await?;
        let secret = if input.token_secret.trim().is_empty() {
            self.state
                .secret_key
                .decrypt_string(&row.token_secret, &NodeRow::secret_context(row.id))
                .map_err(|e| errors::internal("decrypting a token secret", e))?
        } else {
            input.token_secret.trim().to_owned()
        };
        input.token_secret = secret.clone();
        let client = Self::client(
            &input,
            Auth::Token {
                id: input.token_id.trim().to_owned(),
                secret,
            },
        )?;
        Self::verify(&client).await?;
        let sealed = self
            .state
            .secret_key
            .encrypt(input.token_secret.as_bytes(), &NodeRow::secret_context(id))
            .map_err(|e| errors::internal("encrypting a token secret", e))?;
        let changes = NodeChanges {
            name: input.name.trim(),
            host: input.host.trim(),
            port: i32::from(input.port),
            is_cluster: input.is_cluster,
            fingerprint: &input.fingerprint,
            token_id: input.token_id.trim(),
        };
        let owner = actor.user_id;
        let mut pooled = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let (row, default) = conn
            .transaction::<_, TxError, _>(async |conn| {
                let updated = match nodes::update(conn, owner, id, &changes).await {
                    Ok(n) => n,
                    Err(e) if crate::db::is_unique_violation(&e) => {
                        return Err(AppError::invalid("name", NAME_TAKEN).into());
                    }
                    Err(e) => return Err(e.into()),
                };
                if updated == 0 {
                    return Err(AppError::NotFound("No such node.".into()).into());
                }
                nodes::set_secret(conn, id, &sealed).await?;
                let row = nodes::get(conn, owner, id)
                    .await?
                    .ok_or_else(|| AppError::NotFound("No such node.".into()))?;
                let default = nodes::default_for(conn, owner).await?;
                Ok((row, default))
            })
            .await
            .map_err(|e| e.into_app("updating a node"))?;
        drop(pooled);
        self.state.inventories.forget(actor.user_id);
        self.state.node_clients.forget_resources(row.id);
        self.state
            .audit(Entry {
                detail: json!({ "host": row.host, "port": row.port, "fingerprint": row.fingerprint }),
                ..Entry::by(actor, "node.update").on(&row.name)
            })
            .await;
        Ok(row.summary(default))
    }

    async fn delete_node(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let row = self.row(actor, id).await?;
        let mut conn = self.conn().await?;
        let managed = nodes::count_containers(&mut conn, id)
            .await
            .map_err(|e| errors::db("counting a node's containers", e))?;
        if managed > 0 {
            return Err(containers_on_node(managed));
        }
        // A container added since the count makes the foreign key refuse the delete.
        match nodes::delete(&mut conn, actor.user_id, id).await {
            Ok(_) => {}
            Err(e) if crate::db::is_foreign_key_violation(&e) => {
                let managed = nodes::count_containers(&mut conn, id).await.unwrap_or(1);
                return Err(containers_on_node(managed));
            }
            Err(e) => return Err(errors::db("deleting a node", e)),
        }
        drop(conn);
        self.state.inventories.forget(actor.user_id);
        self.state.node_clients.forget_resources(id);
        ssh::keys::forget(&self.state.config.data_dir, id);
        self.state
            .audit(Entry::by(actor, "node.delete").on(&row.name))
            .await;
        Ok(())
    }

    async fn set_default_node(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let row = self.row(actor, id).await?;
        let mut conn = self.conn().await?;
        nodes::set_default(&mut conn, actor.user_id, Some(id))
            .await
            .map_err(|e| errors::db("setting the default node", e))?;
        drop(conn);
        self.state
            .audit(Entry::by(actor, "node.default").on(&row.name))
            .await;
        Ok(())
    }

    async fn ssh_access(&self, actor: &Actor, id: i64) -> Result<SshAccess, AppError> {
        let key = self.node_key(actor, id).await?;
        Ok(SshAccess {
            public_key: key.public_key().to_owned(),
            fingerprint: key.fingerprint().to_owned(),
            authorize_command: key.authorize_command(),
        })
    }

    async fn fetch_host_key(
        &self,
        actor: &Actor,
        id: i64,
        ssh_port: u16,
    ) -> Result<HostKeyInfo, AppError> {
        kiln_shared::nodes::port(ssh_port).map_err(|m| AppError::invalid("ssh_port", m))?;
        let row = self.row(actor, id).await?;
        let key = ssh::host_key::fetch(&row.host, ssh_port)
            .await
            .map_err(|e| AppError::invalid("ssh_port", e.to_string()))?;
        Ok(HostKeyInfo {
            algorithm: key.algorithm().to_owned(),
            fingerprint: key.fingerprint().to_owned(),
            openssh: key.to_openssh(),
        })
    }

    async fn save_ssh(
        &self,
        actor: &Actor,
        id: i64,
        ssh_user: &str,
        ssh_port: u16,
        host_key: &str,
    ) -> Result<(), AppError> {
        let mut errors = FieldErrors::default();
        errors.check("ssh_user", kiln_shared::nodes::ssh_user(ssh_user));
        errors.check("ssh_port", kiln_shared::nodes::port(ssh_port));
        if host_key.trim().is_empty() {
            errors.add("host_key", "Fetch and confirm the node's host key first.");
        }
        errors.into_result()?;
        let key = ssh::host_key::HostKey::parse(host_key)
            .map_err(|e| AppError::invalid("host_key", e))?;
        let row = self.row(actor, id).await?;
        let mut conn = self.conn().await?;
        nodes::set_ssh(
            &mut conn,
            actor.user_id,
            id,
            ssh_user,
            i32::from(ssh_port),
            &key.to_openssh(),
        )
        .await
        .map_err(|e| errors::db("saving SSH settings", e))?;
        drop(conn);
        self.state
            .audit(Entry {
                detail: json!({ "ssh_user": ssh_user, "ssh_port": ssh_port, "host_key": key.fingerprint() }),
                ..Entry::by(actor, "node.ssh").on(&row.name)
            })
            .await;
        Ok(())
    }

    async fn test_ssh(&self, actor: &Actor, id: i64) -> Result<String, AppError> {
        let (row, pinned, key, target) = self.ssh_context(actor, id).await?;
        let count = ssh::shell::test_access(
            &self.state.config.data_dir,
            target,
            row.id,
            Some(&pinned),
            &key,
        )
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
        Ok(format!(
            "SSH to {} works: `pct list` shows {count} container(s).",
            row.name
        ))
    }

    async fn install_ssh_key(
        &self,
        actor: &Actor,
        id: i64,
        password: &str,
    ) -> Result<(), AppError> {
        if password.is_empty() || password.len() > 1024 {
            return Err(AppError::invalid(
                "ssh_password",
                "Enter the SSH user's password.",
            ));
        }
        let (row, pinned, key, target) = self.ssh_context(actor, id).await?;
        ssh::install::install_key(
            &self.state.config.data_dir,
            &target,
            row.id,
            &pinned,
            &key,
            password,
        )
        .await
        .map_err(|e| AppError::invalid("ssh_password", e.to_string()))?;
        self.state
            .audit(Entry {
                detail: json!({ "ssh_user": row.ssh_user }),
                ..Entry::by(actor, "node.ssh.install_key").on(&row.name)
            })
            .await;
        Ok(())
    }
}
