//! `/api/v1/containers`: Kiln's containers — the list (`GET /containers`), a creation from a
//! template with the wizard's parameters (`POST`, idempotent with `Idempotency-Key`: see
//! `create`), one container (`GET /containers/{id}`, with an `ETag`), lifecycle actions and
//! deletion (`actions`, honouring `If-Match`), its services, a credential on explicit request
//! and its events (`services`).
//!
//! Every handler is a thin adapter over `ContainerService`, the service the pages call, so
//! the rules, the visibility (owner or administrator; anyone else gets 404, as on the pages)
//! and the audit entries are the pages'.
//!
//! **The list** is the dashboard's inventory (`ContainerService::inventory`): the user's own
//! containers on their nodes, with the node's live state, cached per user for
//! `INVENTORY_TTL` (1 s) with one assembly at a time, and each node asked at most once per
//! 2 s by everyone. So fifty clients listing at once cost one assembly a second, not fifty
//! database reads and fifty rounds of node calls — and the list says what the dashboard says
//! (a node that does not answer: its rows `stale` with the last known state). Only Kiln's
//! containers are listed: a guest Kiln does not manage has no id, no page and no actions
//! until it is adopted.
//!
//! **Versions.** A container's `ETag` is the version of Kiln's record of it — status, phase,
//! power, address, request, services, `updated_at` —, not of its clock-driven or live
//! figures (`elapsed_secs`, `percent`, `live`, `seen_at`, `node_watch`), which change while
//! nothing happens to the container. A write with `If-Match` gets 412 when that version
//! changed since the client read it.

mod actions;
mod create;
mod services;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::{ContainerStatus, ContainerSummary, CreateRequest, ServiceView};
use kiln_shared::inventory::{Action, Busy, Filter, GuestRow, Link, Live, State as GuestState};
use kiln_shared::metrics::NodeWatch;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::etag;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{Page, PageQuery};
use crate::app_state::AppState;
use crate::containers::service::ContainerService;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create::create))
        .routes(routes!(get, actions::delete))
        .routes(routes!(actions::act))
        .routes(routes!(services::services))
        .routes(routes!(services::credential))
        .routes(routes!(services::events))
}

/// A container in the list: the dashboard's row of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContainerItem {
    /// Kiln's id (`GET /containers/{id}`).
    pub id: i64,
    pub hostname: String,
    pub node_id: i64,
    /// The node's name in Kiln.
    pub node_name: String,
    /// The cluster member it runs on.
    pub member: Option<String>,
    /// The VMID, once allocated.
    pub vmid: Option<u32>,
    /// The template's slug (none: a plain OS container, or adopted).
    pub template: Option<String>,
    /// The node's power state for a finished container, else Kiln's status (`?status=`).
    pub state: GuestState,
    /// Kiln's status.
    pub status: Option<ContainerStatus>,
    /// Not created by Kiln, adopted.
    pub adopted: bool,
    /// Its IPv4 address, once known.
    pub address: Option<String>,
    /// Figures from its node (the last known ones when `stale`).
    pub live: Option<Live>,
    pub tags: Vec<String>,
    /// Web links of its services.
    pub links: Vec<Link>,
    /// When its node last answered for it (RFC 3339).
    pub seen_at: Option<String>,
    /// Its node did not answer now: `state` and `live` are the last known ones.
    pub stale: bool,
    /// The last known power state when `stale`.
    pub last_power: Option<String>,
    /// An action under way (who holds the container's lock).
    pub busy: Option<Busy>,
    /// Why its creation failed.
    pub error: Option<String>,
    /// The actions offered now (`POST /containers/{id}/actions/{action}`).
    pub actions: Vec<Action>,
}

impl ContainerItem {
    /// The item of an inventory row (of a container Kiln manages).
    fn of(row: &GuestRow) -> Option<Self> {
        Some(ContainerItem {
            id: row.id?,
            hostname: row.name.clone(),
            node_id: row.node_id,
            node_name: row.node_name.clone(),
            member: row.member.clone(),
            vmid: row.vmid,
            template: row.template.clone(),
            state: row.state,
            status: row.kiln_status,
            adopted: row.adopted,
            address: row.address.clone(),
            live: row.live.clone(),
            tags: row.tags.clone(),
            links: row.links.clone(),
            seen_at: row.seen_at.clone(),
            stale: row.stale,
            last_power: row.last_power.clone(),
            busy: row.busy.clone(),
            error: row.error.clone(),
            actions: Action::ALL.into_iter().filter(|a| row.offers(*a)).collect(),
        })
    }
}

/// The list's filters (the dashboard's, `kiln_shared::inventory::Filter`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this node's containers (its id).
    pub node: Option<i64>,
    /// Only containers in this state: `running`, `stopped`, `creating`, `failed`,
    /// `deleting`, `unknown`.
    pub status: Option<String>,
    /// Only containers of this template (its slug; `plain`: none).
    pub template: Option<String>,
    /// Only containers with this tag.
    pub tag: Option<String>,
    /// Text in the hostname, VMID, address, template, node or tags (case-insensitive).
    pub q: Option<String>,
}

impl ListQuery {
    /// The dashboard's filter of this query; 400 for a state it does not know and for a
    /// text the dashboard would drop (a script must never get everything for a typo).
    fn filter(self) -> Result<Filter, ApiError> {
        let state = match self.status.as_deref() {
            None | Some("") => None,
            Some(word) => Some(GuestState::parse(word).ok_or_else(|| {
                let known: Vec<&str> = GuestState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!(
                    "`status` must be one of {}; not `{word}`.",
                    known.join(", ")
                ))
            })?),
        };
        let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        let (template_given, tag_given) = (given(&self.template), given(&self.tag));
        let filter = Filter {
            node: self.node,
            state,
            template: self.template,
            tag: self.tag,
            q: self.q.unwrap_or_default(),
            ..Filter::default()
        }
        .normalized();
        if (template_given && filter.template.is_none()) || (tag_given && filter.tag.is_none()) {
            return Err(ApiError::BadRequest(
                "`template` and `tag` are at most 64 bytes.".into(),
            ));
        }
        Ok(filter)
    }
}

/// The user's containers (Kiln's, on their own nodes), in the order of their ids, filtered
/// as the dashboard filters; see the module docs for where the state comes from.
#[utoipa::path(get, path = "/containers", operation_id = "list_containers", tag = "containers",
    params(ListQuery, PageQuery),
    responses((status = 200, body = Page<ContainerItem>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<ContainerItem>>, ApiError> {
    let filter = query.filter()?;
    let inventory = ContainerService::new(state)
        .inventory(&caller.actor)
        .await?;
    let rows: Vec<&GuestRow> = inventory
        .rows
        .iter()
        .filter(|row| row.id.is_some() && filter.matches(row))
        .collect();
    let page = page.page(rows, |row| row.id.unwrap_or_default())?;
    Ok(ApiJson(Page {
        items: page
            .items
            .into_iter()
            .filter_map(ContainerItem::of)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One container as the API shows it: the summary, what its page shows, and its creation
/// job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContainerView {
    /// `id`, `hostname`, `node_id`, `node_name`, `vmid`, `template`, `status`, `address`,
    /// `error`, `created_at`, `power`.
    #[serde(flatten)]
    pub summary: ContainerSummary,
    /// The creation job (`GET /jobs/{id}`; none for an adopted container).
    pub job_id: Option<i64>,
    /// The creation's current phase, or the one it failed in.
    pub phase: Option<String>,
    /// The creation's progress, 0–100 (by phase; 100 once ready).
    pub percent: u32,
    /// Seconds since it was asked for (creating), or that its creation took.
    pub elapsed_secs: u64,
    /// What was asked for (`root_password` never included).
    pub request: CreateRequest,
    /// The services discovery found, with their web links and the keys of their
    /// credentials (`GET /containers/{id}/credentials/{service}/{key}` reveals one).
    pub services: Vec<ServiceView>,
    /// Credentials of no found service: (service, keys).
    pub other_credentials: Vec<(String, Vec<String>)>,
    /// Not created by Kiln, adopted.
    pub adopted: bool,
    /// The cluster member it was last seen on.
    pub member: Option<String>,
    /// Its figures when its node last answered for it (the list has the live ones).
    pub live: Option<Live>,
    /// When its node last answered for it (RFC 3339).
    pub seen_at: Option<String>,
    /// What the monitor knows of its node's reachability.
    pub node_watch: Option<NodeWatch>,
    /// When Kiln's record of it last changed (RFC 3339).
    pub updated_at: String,
}

impl ContainerView {
    /// Container `id` as `actor` may see it (owner or admin; 404 otherwise).
    pub async fn read(state: &AppState, actor: &Actor, id: i64) -> Result<Self, AppError> {
        let (detail, row) = ContainerService::new(state.clone())
            .detail_and_row(actor, id)
            .await?;
        let ready = detail.summary.status == ContainerStatus::Ready;
        Ok(ContainerView {
            percent: kiln_shared::progress::percent(detail.phase.as_deref(), ready),
            summary: detail.summary,
            job_id: row.job_id,
            phase: detail.phase,
            elapsed_secs: detail.elapsed_secs,
            request: detail.request,
            services: detail.services,
            other_credentials: detail.other_credentials,
            adopted: row.adopted,
            member: row.pve_node,
            live: row.live.and_then(|v| serde_json::from_value(v).ok()),
            seen_at: row.seen_at.map(|t| t.to_rfc3339()),
            node_watch: detail.node_watch,
            updated_at: row.updated_at.to_rfc3339(),
        })
    }

    /// The version (`ETag`): see the module docs.
    pub fn version(&self) -> String {
        let record = ContainerView {
            elapsed_secs: 0,
            percent: 0,
            live: None,
            seen_at: None,
            node_watch: None,
            ..self.clone()
        };
        etag::of(&record)
    }

    /// The view as JSON with its version as `ETag`.
    fn into_response(self) -> Response {
        let version = self.version();
        let mut response = ApiJson(self).into_response();
        if let Ok(value) = HeaderValue::from_str(&version) {
            response.headers_mut().insert(header::ETAG, value);
        }
        response
    }
}

/// One container: what its page shows (without a credential's value), with its `ETag`.
#[utoipa::path(get, path = "/containers/{id}", operation_id = "get_container", tag = "containers",
    params(("id" = i64, Path, description = "The container's id")),
    responses(
        (status = 200, body = ContainerView,
            headers(("ETag" = String, description = "The container's version (If-Match)"))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    Ok(ContainerView::read(&state, &caller.actor, id)
        .await?
        .into_response())
}
