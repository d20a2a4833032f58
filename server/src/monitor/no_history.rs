//! `NoHistory`: the metrics backend until the monitor's store answers — it checks who may
//! see a subject exactly as the real one does (a container: its owner or an administrator; a
//! node member: the node's owner; 404 for anyone else) and answers a series with no value in
//! any slot, so the charts show their empty state and the exports their empty rows.
//! `MonitorService` replaces it in `http::router` once it lands.

use async_trait::async_trait;
use kiln_app::ssr::MetricsBackend;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::metrics::{Field, NodeWatch, Range, Series, Subject};

use crate::app_state::AppState;
use crate::containers::service::ContainerService;
use crate::db::nodes;
use crate::errors;

/// See the module docs.
pub struct NoHistory {
    /// For the access checks (the containers' service, the nodes' rows).
    state: AppState,
}

impl NoHistory {
    pub fn new(state: AppState) -> Self {
        NoHistory { state }
    }
}

#[async_trait]
impl MetricsBackend for NoHistory {
    async fn series(
        &self,
        actor: &Actor,
        subject: Subject,
        range: Range,
    ) -> Result<Series, AppError> {
        let fields: &[Field] = match subject {
            Subject::Container(id) => {
                ContainerService::new(self.state.clone())
                    .detail(actor, id)
                    .await?;
                &Field::GUEST
            }
            Subject::Member { node_id, .. } => {
                let mut conn = self.state.conn().await?;
                nodes::get(&mut conn, actor.user_id, node_id)
                    .await
                    .map_err(|e| errors::db("loading a node", e))?
                    .ok_or_else(|| AppError::NotFound(format!("node {node_id}")))?;
                &Field::MEMBER
            }
        };
        Ok(Series::empty(range, chrono::Utc::now().timestamp(), fields))
    }

    async fn watches(&self, _actor: &Actor) -> Result<Vec<NodeWatch>, AppError> {
        Ok(Vec::new())
    }
}
