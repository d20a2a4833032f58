//! Queries on `nodes`. Every query is scoped to an owner (another user's node is "not found"),
//! except [`lab_nodes`], Kiln's own start-up look-up of the configured lab node.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{containers, nodes, users};

/// A row of `nodes`. `token_secret` is ciphertext (see `crypto`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = nodes)]
pub struct NodeRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub host: String,
    pub port: i32,
    pub is_cluster: bool,
    pub fingerprint: String,
    pub token_id: String,
    pub token_secret: Vec<u8>,
    pub ssh_user: String,
    pub ssh_port: i32,
    pub ssh_host_key: Option<String>,
    pub is_lab: bool,
    pub created_at: DateTime<Utc>,
}

impl NodeRow {
    /// The associated data binding this row's secret to it.
    pub fn secret_context(id: i64) -> String {
        format!("nodes.token_secret:{id}")
    }

    pub fn summary(&self, default_node_id: Option<i64>) -> kiln_shared::nodes::NodeSummary {
        kiln_shared::nodes::NodeSummary {
            id: self.id,
            name: self.name.clone(),
            host: self.host.clone(),
            port: u16::try_from(self.port).unwrap_or(8006),
            is_cluster: self.is_cluster,
            is_lab: self.is_lab,
            is_default: default_node_id == Some(self.id),
            fingerprint: self.fingerprint.clone(),
            token_id: self.token_id.clone(),
            ssh_user: self.ssh_user.clone(),
            ssh_port: u16::try_from(self.ssh_port).unwrap_or(22),
            ssh_host_key: self.ssh_host_key.clone(),
        }
    }
}

/// The fields of a new node; the secret is set right after insert (it is bound to the id).
#[derive(Debug, Insertable)]
#[diesel(table_name = nodes)]
pub struct NewNode<'a> {
    pub owner_id: i64,
    pub name: &'a str,
    pub host: &'a str,
    pub port: i32,
    pub is_cluster: bool,
    pub fingerprint: &'a str,
    pub token_id: &'a str,
    pub token_secret: &'a [u8],
    pub is_lab: bool,
}

pub async fn list(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Vec<NodeRow>> {
    nodes::table
        .filter(nodes::owner_id.eq(owner))
        .order(nodes::name.asc())
        .select(NodeRow::as_select())
        .load(conn)
        .await
}

/// Every node of every user (the monitor polls them all).
pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<NodeRow>> {
    nodes::table
        .order(nodes::id.asc())
        .select(NodeRow::as_select())
        .load(conn)
        .await
}

pub async fn get(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<NodeRow>> {
    nodes::table
        .filter(nodes::owner_id.eq(owner))
        .find(id)
        .select(NodeRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The lab nodes (`is_lab`) at `host:port`, whoever owns them: the one query not scoped to an
/// owner, for Kiln's own start-up check of the lab it was configured with (`nodes::lab`).
pub async fn lab_nodes(
    conn: &mut AsyncPgConnection,
    host: &str,
    port: i32,
) -> QueryResult<Vec<NodeRow>> {
    nodes::table
        .filter(nodes::is_lab.eq(true))
        .filter(nodes::host.eq(host))
        .filter(nodes::port.eq(port))
        .order(nodes::id.asc())
        .select(NodeRow::as_select())
        .load(conn)
        .await
}

/// Inserts a node; `None` when the owner already has a node of that name.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    node: &NewNode<'_>,
) -> QueryResult<Option<NodeRow>> {
    diesel::insert_into(nodes::table)
        .values(node)
        .on_conflict((nodes::owner_id, nodes::name))
        .do_nothing()
        .returning(NodeRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Whether `owner` has a node named `name` (other than `except`).
pub async fn name_taken(
    conn: &mut AsyncPgConnection,
    owner: i64,
    name: &str,
    except: Option<i64>,
) -> QueryResult<bool> {
    let mut query = nodes::table
        .filter(nodes::owner_id.eq(owner))
        .filter(nodes::name.eq(name))
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(nodes::id.ne(id));
    }
    diesel::select(diesel::dsl::exists(query))
        .get_result(conn)
        .await
}

pub async fn set_secret(
    conn: &mut AsyncPgConnection,
    id: i64,
    sealed: &[u8],
) -> QueryResult<usize> {
    diesel::update(nodes::table.find(id))
        .set((
            nodes::token_secret.eq(sealed),
            nodes::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

/// The connection fields an edit may change.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = nodes)]
pub struct NodeChanges<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub port: i32,
    pub is_cluster: bool,
    pub fingerprint: &'a str,
    pub token_id: &'a str,
}

/// Updates an owned node; 0 when it is not the owner's.
pub async fn update(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    changes: &NodeChanges<'_>,
) -> QueryResult<usize> {
    diesel::update(nodes::table.filter(nodes::owner_id.eq(owner)).find(id))
        .set((changes, nodes::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await
}

/// Deletes an owned node; 0 when it is not the owner's. Containers Kiln manages on it make
/// this a foreign key violation (see [`super::is_foreign_key_violation`]).
pub async fn delete(conn: &mut AsyncPgConnection, owner: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(nodes::table.filter(nodes::owner_id.eq(owner)).find(id))
        .execute(conn)
        .await
}

/// How many containers Kiln manages on the node `id`.
pub async fn count_containers(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<i64> {
    containers::table
        .filter(containers::node_id.eq(id))
        .count()
        .get_result(conn)
        .await
}

pub async fn default_for(conn: &mut AsyncPgConnection, owner: i64) -> QueryResult<Option<i64>> {
    users::table
        .find(owner)
        .select(users::default_node_id)
        .first(conn)
        .await
        .optional()
        .map(Option::flatten)
}

pub async fn set_default(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: Option<i64>,
) -> QueryResult<usize> {
    diesel::update(users::table.find(owner))
        .set(users::default_node_id.eq(id))
        .execute(conn)
        .await
}

/// Saves the SSH user, port and pinned host key of an owned node; 0 when it is not the owner's.
pub async fn set_ssh(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    user: &str,
    port: i32,
    host_key: &str,
) -> QueryResult<usize> {
    diesel::update(nodes::table.filter(nodes::owner_id.eq(owner)).find(id))
        .set((
            nodes::ssh_user.eq(user),
            nodes::ssh_port.eq(port),
            nodes::ssh_host_key.eq(host_key),
            nodes::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

/// The sealed SSH private key of an owned node: `None` when the node is not the owner's,
/// `Some(None)` until its SSH access is first set up.
pub async fn ssh_key(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
) -> QueryResult<Option<Option<Vec<u8>>>> {
    nodes::table
        .filter(nodes::owner_id.eq(owner))
        .find(id)
        .select(nodes::ssh_key)
        .first(conn)
        .await
        .optional()
}

/// Stores the sealed SSH private key of an owned node unless it already has one; whether it
/// was stored (two requests racing to create a key keep the first).
pub async fn set_ssh_key_if_absent(
    conn: &mut AsyncPgConnection,
    owner: i64,
    id: i64,
    sealed: &[u8],
) -> QueryResult<bool> {
    diesel::update(
        nodes::table
            .filter(nodes::owner_id.eq(owner))
            .filter(nodes::ssh_key.is_null())
            .find(id),
    )
    .set(nodes::ssh_key.eq(sealed))
    .execute(conn)
    .await
    .map(|n| n == 1)
}
