//! Containers: creation (the wizard's *Create*), cancel, and retry of a failed creation.

use kiln_shared::AppError;
use kiln_shared::containers::CreateRequest;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

/// Creates a container from the wizard's request; returns its id (its progress page).
#[server(prefix = "/api/fn", endpoint = "create_container", input = server_fn::codec::Json)]
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
#[server(prefix = "/api/fn", endpoint = "retry_container")]
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
#[server(prefix = "/api/fn", endpoint = "cancel_container")]
pub async fn cancel_container(id: i64) -> Result<bool, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.cancel(&actor, id).await
        }
        .await,
    )
}

/// Deletes a container (a failed creation's *Delete the container*; any status): it is
/// `deleting` at once, then destroyed on its node and removed by a durable job.
#[server(prefix = "/api/fn", endpoint = "delete_container")]
pub async fn delete_container(id: i64) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.delete(&actor, id).await
        }
        .await,
    )
}
