//! Containers: the wizard's reads and *Create*, cancel and retry of a creation, the list and
//! one container's details and events; skipping an unfinished script on retry, and a
//! credential revealed on request.

use kiln_shared::AppError;
use kiln_shared::container_page::{
    ContainerOverview, EventPage, PveConfig, Refreshed, ServiceLogs,
};
use kiln_shared::containers::{
    ContainerDetail, ContainerSummary, CreateRequest, NodeChoices, WizardStart,
};
use kiln_shared::inventory::{Action, ActionDone, DashboardView, Filter, Inventory, InventoryLive};
use kiln_shared::progress::ContainerEvent;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

/// Creates a container from the wizard's request; returns its id (its progress page).
#[server(prefix = "/api/fn", endpoint = "create_container", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn create_container(request: CreateRequest) -> Result<i64, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.create(&actor, request).await
        }
        .await,
    )
}

/// Runs a failed creation again from the phase it failed in.
#[server(prefix = "/api/fn", endpoint = "retry_container", output = kiln_shared::wire::JsonText)]
pub async fn retry_container(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.retry(&actor, id).await
        }
        .await,
    )
}

/// Cancels a running creation; `true` when it was cancelled before it started.
#[server(prefix = "/api/fn", endpoint = "cancel_container", output = kiln_shared::wire::JsonText)]
pub async fn cancel_container(id: i64) -> Result<bool, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.cancel(&actor, id).await
        }
        .await,
    )
}

/// The containers the user may see, newest first.
#[server(prefix = "/api/fn", endpoint = "list_containers", output = kiln_shared::wire::JsonText)]
pub async fn list_containers() -> Result<Vec<ContainerSummary>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.list(&actor).await
        }
        .await,
    )
}

/// One container with what its page shows.
#[server(prefix = "/api/fn", endpoint = "get_container", output = kiln_shared::wire::JsonText)]
pub async fn get_container(id: i64) -> Result<ContainerDetail, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.detail(&actor, id).await
        }
        .await,
    )
}

/// A container's events after number `after` (at most 1,000).
#[server(prefix = "/api/fn", endpoint = "container_events", output = kiln_shared::wire::JsonText)]
pub async fn container_events(id: i64, after: i64) -> Result<Vec<ContainerEvent>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.events(&actor, id, after).await
        }
        .await,
    )
}

/// What the creation wizard starts from.
#[server(prefix = "/api/fn", endpoint = "start_wizard", output = kiln_shared::wire::JsonText)]
pub async fn start_wizard(template: Option<String>) -> Result<WizardStart, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.wizard(&actor, template).await
        }
        .await,
    )
}

/// What a node offers a new container: storages, OS templates, bridges, the next VMID.
#[server(prefix = "/api/fn", endpoint = "node_offers", output = kiln_shared::wire::JsonText)]
pub async fn node_offers(node_id: i64) -> Result<NodeChoices, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .node_choices(&actor, node_id)
                .await
        }
        .await,
    )
}

/// Checks that a typed VMID is free on the node.
#[server(prefix = "/api/fn", endpoint = "check_vmid", output = kiln_shared::wire::JsonText)]
pub async fn check_vmid(node_id: i64, vmid: u32) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .check_vmid(&actor, node_id, vmid)
                .await
        }
        .await,
    )
}

/// One credential's value, revealed on request (owner or administrator; audited). After 10
/// minutes since the session last proved the password, `password` must be given again (a
/// 422 on `password` asks for it).
#[server(prefix = "/api/fn", endpoint = "reveal_credential", output = kiln_shared::wire::JsonText)]
pub async fn reveal_credential(
    id: i64,
    service: String,
    key: String,
    #[server(default)] password: Option<String>,
) -> Result<String, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            let session = ssr::request_ctx().session_id;
            ssr::containers_backend()?
                .reveal_credential(&actor, id, service, key, session, password)
                .await
        }
        .await,
    )
}

/// Retries a creation that failed in its scripts, skipping the script that did not finish
/// (the *skip* of re-run / skip / abort); returns the skipped script's name.
#[server(prefix = "/api/fn", endpoint = "skip_interrupted_script", output = kiln_shared::wire::JsonText)]
pub async fn skip_interrupted_script(id: i64) -> Result<String, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .retry_skipping_script(&actor, id)
                .await
        }
        .await,
    )
}

/// Deletes a container (a failed creation's *Delete the container*; any status): it is
/// `deleting` at once, then destroyed on its node and removed by a durable job.
#[server(prefix = "/api/fn", endpoint = "delete_container", output = kiln_shared::wire::JsonText)]
pub async fn delete_container(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.delete(&actor, id).await
        }
        .await,
    )
}

/// Starts a test run of a template (its *Test run* button): a throwaway container on the
/// default node, created from the template's defaults, ending with a pass/fail report, then
/// deleted. Returns the container's id (its page follows the run).
#[server(prefix = "/api/fn", endpoint = "test_template", output = kiln_shared::wire::JsonText)]
pub async fn test_template(slug: String) -> Result<i64, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.test_template(&actor, slug).await
        }
        .await,
    )
}

/// The dashboard: every container on the user's nodes (Kiln's and the others) with live
/// figures, the nodes' state and the summary.
#[server(prefix = "/api/fn", endpoint = "load_inventory", output = kiln_shared::wire::JsonText)]
pub async fn load_inventory() -> Result<Inventory, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.inventory(&actor).await
        }
        .await,
    )
}

/// One dashboard page: the rows `filter` selects (sorted, 24 a page), the nodes, the summary
/// and the filter's choices.
#[server(prefix = "/api/fn", endpoint = "load_dashboard", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn load_dashboard(filter: Filter) -> Result<DashboardView, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.dashboard(&actor, filter).await
        }
        .await,
    )
}

/// The dashboard's live refresh of the page `filter` shows: each row's state, figures, busy
/// text and offered actions, the summary, and a digest of all rows' keys.
#[server(prefix = "/api/fn", endpoint = "refresh_inventory", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn refresh_inventory(filter: Filter) -> Result<InventoryLive, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .dashboard_live(&actor, filter)
                .await
        }
        .await,
    )
}

/// A lifecycle action (start, shutdown, stop, reboot, delete) on one container; answers once
/// the node's task ended (a deletion: once its job is queued).
#[server(prefix = "/api/fn", endpoint = "container_action", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn container_action(id: i64, action: Action) -> Result<ActionDone, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.act(&actor, id, action).await
        }
        .await,
    )
}

/// One action on several containers; an outcome per container.
#[server(prefix = "/api/fn", endpoint = "bulk_action", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn bulk_action(ids: Vec<i64>, action: Action) -> Result<Vec<ActionDone>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.bulk(&actor, ids, action).await
        }
        .await,
    )
}

/// Starts managing a container Kiln did not create; returns its id.
#[server(prefix = "/api/fn", endpoint = "adopt_container", output = kiln_shared::wire::JsonText)]
pub async fn adopt_container(node_id: i64, vmid: u32) -> Result<i64, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .adopt(&actor, node_id, vmid)
                .await
        }
        .await,
    )
}

/// The Overview tab of a container's page (the node's live view, or a note when it does not
/// answer).
#[server(prefix = "/api/fn", endpoint = "container_overview", output = kiln_shared::wire::JsonText)]
pub async fn get_container_overview(id: i64) -> Result<ContainerOverview, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.overview(&actor, id).await
        }
        .await,
    )
}

/// The container's PVE config exactly as the node returns it.
#[server(prefix = "/api/fn", endpoint = "container_config", output = kiln_shared::wire::JsonText)]
pub async fn container_config(id: i64) -> Result<PveConfig, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.pve_config(&actor, id).await
        }
        .await,
    )
}

/// A page of the container's events, newest first, filtered by kind and phase.
#[server(prefix = "/api/fn", endpoint = "container_event_page", output = kiln_shared::wire::JsonText)]
pub async fn container_event_page(
    id: i64,
    #[server(default)] kind: Option<String>,
    #[server(default)] phase: Option<String>,
    #[server(default)] before: Option<i64>,
) -> Result<EventPage, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            let filter = kiln_shared::container_page::EventFilter {
                kind,
                phase,
                before,
            };
            ssr::containers_backend()?
                .event_page(&actor, id, filter)
                .await
        }
        .await,
    )
}

/// Runs service discovery in the container again (its *Refresh* button).
#[server(prefix = "/api/fn", endpoint = "refresh_services", output = kiln_shared::wire::JsonText)]
pub async fn refresh_services(id: i64) -> Result<Refreshed, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .refresh_services(&actor, id)
                .await
        }
        .await,
    )
}

/// The last 200 lines of one of the container's services' journal.
#[server(prefix = "/api/fn", endpoint = "service_logs", output = kiln_shared::wire::JsonText)]
pub async fn get_service_logs(id: i64, unit: String) -> Result<ServiceLogs, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .service_logs(&actor, id, unit)
                .await
        }
        .await,
    )
}
