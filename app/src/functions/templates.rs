//! Templates and package buckets: the catalog, sync, detail, save (custom templates and
//! custom copies), delete, and the shared buckets. Export is a plain download route
//! (`/templates/<slug>/export.tar.gz`), not a server function.

use kiln_shared::AppError;
use kiln_shared::catalog::{Bucket, BucketInput, Catalog, SyncSummary, TemplateDetail};
use kiln_shared::templates::Template;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

#[server(prefix = "/api/fn", endpoint = "template_catalog")]
pub async fn template_catalog() -> Result<Catalog, AppError> {
    ssr::respond(
        async {
            ssr::require_user()?;
            ssr::templates_backend()?.catalog().await
        }
        .await,
    )
}

/// Re-reads the template folders (built-in set and `KILN_TEMPLATE_DIRS`).
#[server(prefix = "/api/fn", endpoint = "sync_templates")]
pub async fn sync_templates() -> Result<SyncSummary, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            ssr::templates_backend()?.sync(&ctx, &user).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "get_template")]
pub async fn get_template(slug: String) -> Result<TemplateDetail, AppError> {
    ssr::respond(
        async {
            ssr::require_user()?;
            kiln_shared::templates::validate_slug(&slug)
                .map_err(|_| AppError::NotFound("No such template.".into()))?;
            ssr::templates_backend()?.detail(&slug).await
        }
        .await,
    )
}

/// Saves a custom template (or a custom copy of a folder template); returns its slug.
#[server(prefix = "/api/fn", endpoint = "save_template", input = server_fn::codec::Json)]
pub async fn save_template(
    original: Option<String>,
    template: Template,
) -> Result<String, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            let template = normalize(template);
            kiln_shared::catalog::validate_template(&template).into_result()?;
            ssr::templates_backend()?
                .save(&ctx, &user, original, template)
                .await
        }
        .await,
    )
}

/// Deletes a custom template (refused while containers use it).
#[server(prefix = "/api/fn", endpoint = "delete_template")]
pub async fn delete_template(slug: String) -> Result<(), AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            kiln_shared::templates::validate_slug(&slug)
                .map_err(|_| AppError::NotFound("No such template.".into()))?;
            ssr::templates_backend()?.delete(&ctx, &user, &slug).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "list_buckets")]
pub async fn list_buckets() -> Result<Vec<Bucket>, AppError> {
    ssr::respond(
        async {
            ssr::require_user()?;
            ssr::templates_backend()?.buckets().await
        }
        .await,
    )
}

/// Creates (`id` empty) or edits a shared package bucket.
#[server(prefix = "/api/fn", endpoint = "save_bucket", input = server_fn::codec::Json)]
pub async fn save_bucket(id: Option<i64>, input: BucketInput) -> Result<Bucket, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            input.parse()?;
            ssr::templates_backend()?
                .save_bucket(&ctx, &user, id, input)
                .await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "delete_buckets", input = server_fn::codec::Json)]
pub async fn delete_buckets(ids: Vec<i64>) -> Result<u32, AppError> {
    ssr::respond(
        async {
            let (ctx, user) = ssr::require_user()?;
            if ids.is_empty() {
                return Err(AppError::invalid(
                    kiln_shared::FieldErrors::FORM,
                    "Select at least one bucket.",
                ));
            }
            ssr::templates_backend()?
                .delete_buckets(&ctx, &user, ids)
                .await
        }
        .await,
    )
}

/// What the editor sends, tidied the way the folder format stores it: names trimmed, scripts
/// in run order with their order key, empty buckets dropped.
pub fn normalize(mut t: Template) -> Template {
    t.slug = t.slug.trim().to_owned();
    t.app = t.app.trim().to_owned();
    t.description = t.description.trim().to_owned();
    t.config_path = None;
    for script in &mut t.scripts {
        script.file_name = script.file_name.trim().to_owned();
        script.order_key = script
            .file_name
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
    }
    t.scripts.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    t.packages.retain(|b| !b.packages.is_empty());
    for file in &mut t.files {
        file.name = file.name.trim().to_owned();
        file.target_dir = file.target_dir.trim().to_owned();
    }
    t
}
