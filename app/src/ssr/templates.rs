//! Templates and package buckets: what the catalog pages' server functions need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::catalog::{Bucket, BucketInput, Catalog, SyncSummary, TemplateDetail};
use kiln_shared::templates::Template;

/// Implemented by the server's `TemplateService`. Every signed-in user may read and use every
/// template and bucket, and clone them; a custom template or a bucket is changed or deleted
/// only by its owner or an administrator (403 otherwise). Every method validates its own
/// input with the `kiln_shared::catalog` rules.
#[async_trait]
pub trait TemplatesBackend: Send + Sync + 'static {
    /// Every template (the page filters and sorts) and the last sync run.
    async fn catalog(&self, actor: &Actor) -> Result<Catalog, AppError>;
    /// Re-reads the template folders now; returns what changed.
    async fn sync(&self, actor: &Actor) -> Result<SyncSummary, AppError>;
    /// One template with its findings, highlighted scripts and files, and container count.
    async fn detail(&self, actor: &Actor, slug: &str) -> Result<TemplateDetail, AppError>;
    /// Normalizes, validates and saves a custom template atomically; returns its slug.
    /// `original` is the slug being edited: a custom one is updated (and may be renamed) when
    /// the actor owns it; a folder or built-in one is never changed — the template is saved
    /// as a new custom copy owned by the actor (its slug must be free).
    async fn save(
        &self,
        actor: &Actor,
        original: Option<String>,
        template: Template,
    ) -> Result<String, AppError>;
    /// Deletes a custom template; refused for folder templates and while containers use it.
    async fn delete(&self, actor: &Actor, slug: &str) -> Result<(), AppError>;
    /// Every shared package bucket with the templates holding a copy.
    async fn buckets(&self, actor: &Actor) -> Result<Vec<Bucket>, AppError>;
    /// Creates (`id` None) or edits a bucket; templates keep their own copies.
    async fn save_bucket(
        &self,
        actor: &Actor,
        id: Option<i64>,
        input: BucketInput,
    ) -> Result<Bucket, AppError>;
    /// Deletes buckets (all or nothing); returns how many were deleted.
    async fn delete_buckets(&self, actor: &Actor, ids: Vec<i64>) -> Result<u32, AppError>;
}

/// The templates backend as provided in context.
pub type SharedTemplates = Arc<dyn TemplatesBackend>;

/// The templates backend, or `Internal` when the server forgot to provide it.
pub fn templates_backend() -> Result<SharedTemplates, AppError> {
    super::provided::<SharedTemplates>()
}
