//! The user's nodes as `kiln ct` needs them: a `--node` given by name or id, and what a node
//! offers a new container (storages, OS templates, bridges).

use kiln_shared::containers::NodeChoices;
use serde_json::Value;

use super::error::{CliError, Exit};
use super::http::Api;

/// A node's id and name in a list item: a `NodeView` (`{"node": {"id", "name"}}`) or a flat
/// summary.
fn id_and_name(item: &Value) -> Option<(i64, &str)> {
    let node = item.get("node").unwrap_or(item);
    Some((node.get("id")?.as_i64()?, node.get("name")?.as_str()?))
}

/// The id of the node `wanted` (a name, else an id) among the user's nodes (`GET /nodes`).
/// A Kiln without that route takes an id as it is (the creation checks it).
pub async fn resolve(api: &Api, wanted: &str) -> Result<i64, CliError> {
    let as_id = wanted.parse::<i64>().ok();
    let nodes = match api.all_pages("/nodes").await {
        Ok(nodes) => nodes,
        Err(e) if e.exit == Exit::NotFound => {
            return as_id.ok_or_else(|| {
                CliError::usage(format!(
                    "this Kiln lists no nodes over its API ({}): give the node's id",
                    e.message
                ))
            });
        }
        Err(e) => return Err(e),
    };
    let known: Vec<(i64, &str)> = nodes.iter().filter_map(id_and_name).collect();
    if let Some((id, _)) = known.iter().find(|(_, name)| *name == wanted) {
        return Ok(*id);
    }
    if let Some(id) = as_id
        && known.iter().any(|(known, _)| *known == id)
    {
        return Ok(id);
    }
    let names: Vec<&str> = known.iter().map(|(_, name)| *name).collect();
    Err(CliError::new(
        Exit::NotFound,
        if names.is_empty() {
            format!("no node {wanted}: you have no nodes (add one in Kiln first)")
        } else {
            format!("no node {wanted}; yours: {}", names.join(", "))
        },
    ))
}

/// A node's name by id, for display (`-` when unknown).
pub fn name_of(nodes: &[Value], id: i64) -> Option<String> {
    nodes
        .iter()
        .filter_map(id_and_name)
        .find(|(known, _)| *known == id)
        .map(|(_, name)| name.to_owned())
}

/// What node `id` offers a new container (`GET /nodes/{id}/choices`).
pub async fn choices(api: &Api, id: i64) -> Result<NodeChoices, CliError> {
    api.get_as(&format!("/nodes/{id}/choices"))
        .await
        .map_err(|e| match e.exit {
            Exit::NotFound => CliError::usage(format!(
                "cannot read node {id}'s storages, OS templates and bridges ({}): pass \
                 --storage, --bridge and --ostemplate",
                e.message
            )),
            _ => e,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nodes_are_read_as_views_or_summaries() {
        let nodes = [
            json!({"node": {"id": 3, "name": "lab"}, "health": {}}),
            json!({"id": 4, "name": "pve"}),
            json!({"name": "broken"}),
        ];
        assert_eq!(id_and_name(&nodes[0]), Some((3, "lab")));
        assert_eq!(id_and_name(&nodes[1]), Some((4, "pve")));
        assert_eq!(id_and_name(&nodes[2]), None);
        assert_eq!(name_of(&nodes, 4).as_deref(), Some("pve"));
        assert_eq!(name_of(&nodes, 9), None);
    }
}
