//! Templates and package buckets: the catalog, sync, detail, save (custom templates and
//! custom copies), delete, and the shared buckets. Adapters over `TemplatesBackend`: the
//! service normalizes, validates and authorizes. Export is a plain download route
//! (`/templates/<slug>/export.tar.gz`), not a server function.

use kiln_shared::AppError;
use kiln_shared::catalog::{Bucket, BucketInput, Catalog, SyncSummary, TemplateDetail};
use kiln_shared::templates::Template;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

#[server(prefix = "/api/fn", endpoint = "template_catalog", output = kiln_shared::wire::JsonText)]
pub async fn template_catalog() -> Result<Catalog, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?.catalog(&actor).await
        }
        .await,
    )
}

/// Re-reads the template folders (built-in set and `KILN_TEMPLATE_DIRS`).
#[server(prefix = "/api/fn", endpoint = "sync_templates", output = kiln_shared::wire::JsonText)]
pub async fn sync_templates() -> Result<SyncSummary, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?.sync(&actor).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "get_template", output = kiln_shared::wire::JsonText)]
pub async fn get_template(slug: String) -> Result<TemplateDetail, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?.detail(&actor, &slug).await
        }
        .await,
    )
}

/// Saves a custom template (or a custom copy of a folder template); returns its slug.
#[server(prefix = "/api/fn", endpoint = "save_template", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn save_template(
    original: Option<String>,
    template: Template,
) -> Result<String, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?
                .save(&actor, original, template)
                .await
        }
        .await,
    )
}

/// Deletes a custom template (refused while containers use it).
#[server(prefix = "/api/fn", endpoint = "delete_template", output = kiln_shared::wire::JsonText)]
pub async fn delete_template(slug: String) -> Result<(), AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?.delete(&actor, &slug).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "list_buckets", output = kiln_shared::wire::JsonText)]
pub async fn list_buckets() -> Result<Vec<Bucket>, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?.buckets(&actor).await
        }
        .await,
    )
}

/// Creates (`id` empty) or edits a shared package bucket.
#[server(prefix = "/api/fn", endpoint = "save_bucket", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn save_bucket(id: Option<i64>, input: BucketInput) -> Result<Bucket, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?
                .save_bucket(&actor, id, input)
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "delete_buckets", input = server_fn::codec::Json, output = kiln_shared::wire::JsonText)]
pub async fn delete_buckets(ids: Vec<i64>) -> Result<u32, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::templates_backend()?.delete_buckets(&actor, ids).await
        }
        .await,
    )
}
