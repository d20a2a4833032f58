//! What a container's page reads beyond the creation — its detail with the services
//! discovery found and the keys of their credentials, one credential's value on request —
//! and the retry that skips an unfinished script.
//!
//! Architecture Invariant: a credential value is decrypted only in
//! [`ContainerService::reveal_credential`], for the container's owner or an administrator, and
//! audited without the value.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::{ContainerDetail, CreateRequest, ServiceView};

use super::{ContainerService, without_secrets};
use crate::containers::{discover, provision};
use crate::db::audit::Entry;
use crate::db::containers::{self, ContainerRow};
use crate::errors::{self, TxError};

/// A service or key name longer than this is not looked up (nothing stored is longer).
const MAX_NAME: usize = 64;

impl ContainerService {
    /// One container the actor may see (owner or admin; 404 otherwise) with what its pages
    /// show: the summary, the request without secrets, the phase its creation is in (or
    /// failed in), the services discovery found with the keys of their credentials, and the
    /// credentials of no found service. No credential value.
    pub async fn detail(&self, actor: &Actor, id: i64) -> Result<ContainerDetail, AppError> {
        self.detail_and_row(actor, id)
            .await
            .map(|(detail, _)| detail)
    }

    /// [`ContainerService::detail`] with the row it was made from (its creation job, when
    /// it changed, what its node last said of it): what the REST API adds to the detail.
    pub async fn detail_and_row(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(ContainerDetail, ContainerRow), AppError> {
        let mut conn = self.state.conn().await?;
        let owner = (!actor.is_admin).then_some(actor.user_id);
        let (row, node_name) = containers::get_with_node(&mut conn, owner, id)
            .await
            .map_err(|e| errors::db("reading a container", e))?
            .ok_or_else(|| AppError::NotFound(format!("container {id}")))?;
        let phase = match row.job_id {
            Some(job) => self
                .state
                .jobs
                .get(&mut conn, job)
                .await
                .map_err(|e| errors::db("reading a creation job", e))?
                .and_then(|j| j.phase),
            None => None,
        };
        let request: CreateRequest = serde_json::from_value(row.request.clone())
            .map_err(|e| errors::internal("reading a stored create request", e))?;
        let (services, other_credentials) = discovered(&mut conn, id).await?;
        let node_watch = crate::db::metrics::watch(&mut conn, row.node_id)
            .await
            .map_err(|e| errors::db("reading node reachability", e))?
            .map(crate::monitor::service::watch_of);
        let until = if row.status == "creating" {
            chrono::Utc::now()
        } else {
            row.updated_at
        };
        let elapsed_secs = u64::try_from((until - row.created_at).num_seconds()).unwrap_or(0);
        let detail = ContainerDetail {
            summary: crate::containers::wizard::summary(&row, node_name),
            request: without_secrets(&request),
            phase,
            elapsed_secs,
            services,
            other_credentials,
            node_watch,
        };
        Ok((detail, row))
    }

    /// The value of the credential `service`/`key` of container `id`, decrypted, for its
    /// owner or an administrator (404 for anyone else, and for a credential that does not
    /// exist) whose session proved the password in the last 10 minutes (else a 422 on
    /// `password` asking for it: see [`ContainerService::reveal_credential_with_password`]).
    /// Audited as `container.credential.reveal`, without the value.
    pub async fn reveal_credential(
        &self,
        actor: &Actor,
        id: i64,
        service: &str,
        key: &str,
    ) -> Result<String, AppError> {
        self.reveal_credential_with_password(actor, id, service, key, None, None)
            .await
    }

    /// [`ContainerService::reveal_credential`], with the password the user entered again
    /// when their session proved it more than 10 minutes ago (`auth::reauth`): a correct one
    /// is recorded in `session` (the cookie's session id) so the next reveals do not ask; a
    /// wrong one is refused (422 on `password`), counted against the sign-in limit and
    /// audited.
    pub async fn reveal_credential_with_password(
        &self,
        actor: &Actor,
        id: i64,
        service: &str,
        key: &str,
        session: Option<&str>,
        password: Option<&str>,
    ) -> Result<String, AppError> {
        let row = self.get(actor, id).await?;
        let not_found = || AppError::NotFound(format!("credential of container {id}"));
        if service.len() > MAX_NAME || key.len() > MAX_NAME {
            return Err(not_found());
        }
        crate::auth::reauth::require_recent_password(&self.state, actor, session, password).await?;
        let mut conn = self.state.conn().await?;
        let sealed = containers::credential_value(&mut conn, id, service, key)
            .await
            .map_err(|e| errors::db("reading a credential", e))?
            .ok_or_else(not_found)?;
        drop(conn);
        let plain = self
            .state
            .secret_key
            .decrypt(&sealed, &containers::credential_context(id, service, key))
            .map_err(|e| errors::internal("opening a credential", e))?;
        let value = String::from_utf8(plain)
            .map_err(|_| errors::internal("opening a credential", "not UTF-8"))?;
        let target = format!("{} (container {id}): {service}/{key}", row.hostname);
        self.state
            .audit(Entry::by(actor, "container.credential.reveal").on(&target))
            .await;
        Ok(value)
    }

    /// Runs a failed creation again from its failed phase, `scripts`, without running again
    /// the script that started and did not finish (interrupted by a crash, or failed): an
    /// event records the choice, and the job treats that script as finished. 409 when the
    /// creation did not fail in its scripts or no script is unfinished.
    pub async fn retry_skipping_script(&self, actor: &Actor, id: i64) -> Result<String, AppError> {
        let (row, job) = self
            .creation_job(actor, id, "failed", "only a failed creation is retried")
            .await?;
        self.settled(job).await?;
        let mut pooled = self.state.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let jobs = self.state.jobs.clone();
        let script = conn
            .transaction::<_, TxError, _>(async |conn| {
                let phase = jobs.get(conn, job).await?.and_then(|j| j.phase);
                let names = script_names(conn, &row).await?;
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let events = containers::events_after(conn, id, 0, 100_000).await?;
                let unfinished = provision::unfinished_script(
                    events
                        .iter()
                        .filter(|e| e.phase == "scripts" && e.kind == "log")
                        .map(|e| e.text.as_str()),
                    &names,
                );
                let script = match (phase.as_deref(), unfinished) {
                    (Some("scripts"), Some(script)) => script,
                    _ => {
                        return Err(TxError::Refused(AppError::Conflict(format!(
                            "container {id} has no unfinished script to skip; retry it instead"
                        ))));
                    }
                };
                if !jobs.retry(conn, job).await? {
                    return Err(TxError::Refused(AppError::Conflict(format!(
                        "the creation of container {id} is not failed any more"
                    ))));
                }
                // The job is queued, not running: nobody else writes this container's events
                // until this transaction commits.
                containers::append_event(
                    conn,
                    id,
                    "scripts",
                    "log",
                    &provision::script_skipped_on_retry(&script),
                )
                .await?;
                containers::set_status(conn, id, "creating", None).await?;
                Ok(script)
            })
            .await
            .map_err(|e| e.into_app("retrying a creation"))?;
        drop(pooled);
        self.state.jobs.wake();
        self.state.container_events.notify(id, 0);
        let target = format!("{} (container {id}), skipping {script}", row.hostname);
        self.state
            .audit(Entry::by(actor, "container.retry_skipping_script").on(&target))
            .await;
        Ok(script)
    }
}

/// The names of the scripts a creation runs: its template's (as stored now, which is what a
/// retry runs), without the ones the request skipped.
async fn script_names(
    conn: &mut AsyncPgConnection,
    row: &ContainerRow,
) -> Result<Vec<String>, TxError> {
    let Some(slug) = &row.template_slug else {
        return Ok(Vec::new());
    };
    let Some(template) = crate::db::templates::by_slug(conn, slug).await? else {
        return Ok(Vec::new());
    };
    let model: kiln_shared::templates::Template = serde_json::from_value(template.model)
        .map_err(|e| TxError::Refused(errors::internal("reading a template", e)))?;
    let request: CreateRequest = serde_json::from_value(row.request.clone())
        .map_err(|e| TxError::Refused(errors::internal("reading a stored create request", e)))?;
    Ok(provision::scripts(Some(&model), &request)
        .into_iter()
        .map(|s| s.file_name.clone())
        .collect())
}

/// The services stored for container `id` with their credentials' keys, and the credentials
/// of no found service.
pub async fn discovered(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<(Vec<ServiceView>, Vec<(String, Vec<String>)>), AppError> {
    let services = containers::services_of(conn, id)
        .await
        .map_err(|e| errors::db("reading a container's services", e))?;
    let keys = containers::credential_keys(conn, id)
        .await
        .map_err(|e| errors::db("reading a container's credentials", e))?;
    let stored = services
        .into_iter()
        .map(|s| discover::StoredService {
            name: s.name,
            unit: s.unit,
            state: s.state,
            ports: s
                .ports
                .into_iter()
                .filter_map(|p| u16::try_from(p).ok())
                .collect(),
            web_url: s.web_url,
        })
        .collect();
    Ok(discover::attach(stored, keys))
}
