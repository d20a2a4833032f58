//! What the current path names, for the pages that share a route parameter.

use kiln_shared::AppError;
use kiln_shared::nodes::NodeView;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::functions::nodes::get_node;

/// The `:slug` of the current path (template pages).
pub fn use_slug() -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("slug").unwrap_or_default())
}

/// The node named by the `:id` of the current path, loaded with its health.
pub fn use_node_from_path() -> Resource<Result<NodeView, AppError>> {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    Resource::new(id, get_node)
}
