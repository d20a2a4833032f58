//! Containers: creation (the wizard's *Create*), cancel, and retry of a failed creation (also
//! skipping an unfinished script); a container's detail and its credentials revealed on request.

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

/// One container with its services and the keys of its credentials (no value).
#[server(prefix = "/api/fn", endpoint = "container_detail")]
pub async fn container_detail(
    id: i64,
) -> Result<kiln_shared::containers::ContainerDetail, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?.detail(&actor, id).await
        }
        .await,
    )
}

/// One credential's value, revealed on request (owner or administrator; audited).
#[server(prefix = "/api/fn", endpoint = "reveal_credential")]
pub async fn reveal_credential(id: i64, service: String, key: String) -> Result<String, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::containers_backend()?
                .reveal_credential(&actor, id, service, key)
                .await
        }
        .await,
    )
}

/// Retries a creation that failed in its scripts, skipping the script that did not finish
/// (the *skip* of re-run / skip / abort); returns the skipped script's name.
#[server(prefix = "/api/fn", endpoint = "skip_interrupted_script")]
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
