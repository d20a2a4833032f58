//! A container's jobs as their owner reads them (the REST API's `GET /jobs/{id}`): every job
//! today is a container's creation or deletion, and it is visible to whoever may see that
//! container — its owner or an administrator —, also once a deletion removed the row.

use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use serde::Deserialize;

use super::ContainerService;
use crate::db::containers;
use crate::errors;
use crate::jobs::JobRow;

/// What a container job's payload says about whom it concerns.
#[derive(Debug, Default, Deserialize)]
struct About {
    /// The container (creation and deletion jobs).
    container_id: Option<i64>,
    /// Its owner, recorded when the job was enqueued (absent in older jobs).
    owner_id: Option<i64>,
}

impl ContainerService {
    /// Job `id` with the container it is about, for the container's owner or an
    /// administrator; 404 for anyone else and for a job about no container (unless admin).
    /// The container's row decides while it exists; once a deletion removed it, the owner
    /// the payload recorded.
    pub async fn job(&self, actor: &Actor, id: i64) -> Result<(JobRow, Option<i64>), AppError> {
        let not_found = || AppError::NotFound(format!("job {id}"));
        let mut conn = self.state.conn().await?;
        let job = self
            .state
            .jobs
            .get(&mut conn, id)
            .await
            .map_err(|e| errors::db("reading a job", e))?
            .ok_or_else(not_found)?;
        let about = About::deserialize(&job.payload).unwrap_or_default();
        if actor.is_admin {
            return Ok((job, about.container_id));
        }
        let container = about.container_id.ok_or_else(not_found)?;
        let row = containers::get(&mut conn, None, container)
            .await
            .map_err(|e| errors::db("reading a container", e))?;
        let owner = match row {
            Some(row) => row.owner_id,
            None => about.owner_id,
        };
        if owner != Some(actor.user_id) {
            return Err(not_found());
        }
        Ok((job, Some(container)))
    }
}
