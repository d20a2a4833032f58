//! Resource history: a container's or a cluster member's series over a range (the Metrics
//! tab, the node page and the node cards' sparklines draw them on the server; scripts may
//! call them too). The range is a word of `?range=` (`1h`, `24h`, `7d`, `30d`, `1y`).

use kiln_shared::AppError;
use kiln_shared::metrics::{Range, Series};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

/// The range `word` names, or 422 on `range`.
pub fn range_of(word: &str) -> Result<Range, AppError> {
    Range::from_word(word)
        .ok_or_else(|| AppError::invalid("range", "the range is one of 1h, 24h, 7d, 30d, 1y"))
}

/// Container `id`'s history over `range` (its owner or an administrator; 404 for others).
#[server(prefix = "/api/fn", endpoint = "container_metrics", output = kiln_shared::wire::JsonText)]
pub async fn container_metrics(id: i64, range: String) -> Result<Series, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            let range = range_of(&range)?;
            ssr::metrics_backend()?
                .series(&actor, kiln_shared::metrics::Subject::Container(id), range)
                .await
        }
        .await,
    )
}

/// Cluster member `member` of node `node_id`: its history over `range` (the node's owner;
/// 404 for others).
#[server(prefix = "/api/fn", endpoint = "member_metrics", output = kiln_shared::wire::JsonText)]
pub async fn member_metrics(
    node_id: i64,
    member: String,
    range: String,
) -> Result<Series, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            let range = range_of(&range)?;
            kiln_shared::metrics::validate_member(&member)
                .map_err(|m| AppError::invalid("member", m))?;
            ssr::metrics_backend()?
                .series(
                    &actor,
                    kiln_shared::metrics::Subject::Member { node_id, member },
                    range,
                )
                .await
        }
        .await,
    )
}
