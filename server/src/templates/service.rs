//! `TemplateService`: the server side of the catalog pages (the app's `TemplatesBackend`).
//!
//! Reading (catalog, detail) and syncing live here; saving and deleting custom templates is in
//! [`super::custom`], the shared package buckets in [`super::buckets`]. Templates and buckets
//! are shared by every user — read, used and cloned by anyone signed in; custom ones are
//! changed only by their owner or an administrator. Each change writes one `audit_log` row
//! naming the actor.
//!
//! Errors: database failures map through `crate::errors` (logged once); a stored model or
//! findings column that does not deserialize is `Internal`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kiln_app::ssr::TemplatesBackend;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::catalog::{Bucket, BucketInput, Catalog, SyncSummary, TemplateDetail};
use kiln_shared::templates::{FileContent, Finding, Template};
use serde_json::json;

use super::sync::{self, SyncReport};
use super::{buckets, custom, highlight};
use crate::app_state::AppState;
use crate::db::audit::Entry;
use crate::db::templates as rows;
use crate::errors;

#[derive(Clone, Debug)]
pub struct TemplateService {
    /// Pools and configuration (the template roots).
    state: AppState,
    /// One sync at a time per process: a sync rewrites the built-in set on disk first.
    sync_lock: Arc<tokio::sync::Mutex<()>>,
}

impl TemplateService {
    pub fn new(state: AppState) -> Self {
        TemplateService {
            state,
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

/// A sync run as the catalog shows it: counts, and one line per problem
/// (`slug: message`, or `path: message` for a template root).
fn sync_summary(finished_at: DateTime<Utc>, report: &SyncReport) -> SyncSummary {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    SyncSummary {
        finished_at: finished_at.to_rfc3339(),
        added: count(report.added),
        updated: count(report.updated),
        missing: count(report.missing),
        unchanged: count(report.unchanged),
        problems: report
            .errors
            .iter()
            .map(|e| {
                let subject = if e.slug.is_empty() { &e.path } else { &e.slug };
                format!("{subject}: {}", e.message)
            })
            .collect(),
    }
}

/// Each script, and each UTF-8 file, as highlighted HTML (binary files: `None`).
fn highlight_all(template: &Template) -> (Vec<String>, Vec<Option<String>>) {
    let scripts = template
        .scripts
        .iter()
        .map(|s| highlight::script(&s.content))
        .collect();
    let files = template
        .files
        .iter()
        .map(|f| match &f.content {
            FileContent::Utf8(text) => Some(highlight::file(&f.name, text)),
            FileContent::Base64(_) => None,
        })
        .collect();
    (scripts, files)
}

#[async_trait]
impl TemplatesBackend for TemplateService {
    async fn catalog(&self, _actor: &Actor) -> Result<Catalog, AppError> {
        let mut conn = self.state.conn().await?;
        let summaries = rows::summaries(&mut conn)
            .await
            .map_err(|e| errors::db("listing templates", e))?;
        drop(conn);
        let last = sync::last_run(&self.state.db)
            .await
            .map_err(|e| errors::db("reading the last template sync", e))?;
        Ok(Catalog {
            templates: summaries.into_iter().map(Into::into).collect(),
            last_sync: last.map(|run| sync_summary(run.finished_at, &run.report)),
        })
    }

    async fn sync(&self, actor: &Actor) -> Result<SyncSummary, AppError> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let config = self.state.config.clone();
        let roots = tokio::task::spawn_blocking(move || sync::configured_roots(&config))
            .await
            .map_err(|e| errors::internal("preparing the template roots", e))?
            .map_err(|e| errors::internal("preparing the template roots", format!("{e:#}")))?;
        let report = sync::sync(&self.state.db, &roots)
            .await
            .map_err(|e| errors::db("syncing templates", e))?;
        let summary = sync_summary(Utc::now(), &report);
        tracing::info!(
            templates.added = summary.added,
            templates.updated = summary.updated,
            templates.missing = summary.missing,
            templates.unchanged = summary.unchanged,
            templates.errors = summary.problems.len(),
            user.name = ?actor.username,
            "templates synced on request"
        );
        self.state
            .audit(Entry {
                detail: json!({
                    "added": summary.added,
                    "updated": summary.updated,
                    "missing": summary.missing,
                    "unchanged": summary.unchanged,
                    "problems": summary.problems.len(),
                }),
                ..Entry::by(actor, "template.sync").on("templates")
            })
            .await;
        Ok(summary)
    }

    async fn detail(&self, actor: &Actor, slug: &str) -> Result<TemplateDetail, AppError> {
        kiln_shared::templates::validate_slug(slug)
            .map_err(|_| AppError::NotFound("No such template.".into()))?;
        let mut conn = self.state.conn().await?;
        let row = rows::by_slug(&mut conn, slug)
            .await
            .map_err(|e| errors::db("loading a template", e))?
            .ok_or_else(|| AppError::NotFound("No such template.".into()))?;
        let containers = rows::count_containers(&mut conn, row.id)
            .await
            .map_err(|e| errors::db("counting a template's containers", e))?;
        drop(conn);
        let template: Template = serde_json::from_value(row.model.clone())
            .map_err(|e| errors::internal("reading a stored template", e))?;
        let findings: Vec<Finding> = serde_json::from_value(row.findings.clone())
            .map_err(|e| errors::internal("reading a template's findings", e))?;
        let summary = row.summary(&template);
        let can_change = row.source == "custom" && actor.may_change(row.owner_id);
        let (template, (scripts_html, files_html), readme_html) =
            tokio::task::spawn_blocking(move || {
                let html = highlight_all(&template);
                let readme = template.readme.as_deref().map(super::markdown::render);
                (template, html, readme)
            })
            .await
            .map_err(|e| errors::internal("highlighting a template", e))?;
        Ok(TemplateDetail {
            summary,
            template,
            findings,
            scripts_html,
            files_html,
            readme_html,
            containers: u32::try_from(containers).unwrap_or(u32::MAX),
            can_change,
        })
    }

    async fn save(
        &self,
        actor: &Actor,
        original: Option<String>,
        template: Template,
    ) -> Result<String, AppError> {
        custom::save(&self.state, actor, original.as_deref(), template).await
    }

    async fn delete(&self, actor: &Actor, slug: &str) -> Result<(), AppError> {
        custom::delete(&self.state, actor, slug).await
    }

    async fn buckets(&self, actor: &Actor) -> Result<Vec<Bucket>, AppError> {
        buckets::list(&self.state, actor).await
    }

    async fn save_bucket(
        &self,
        actor: &Actor,
        id: Option<i64>,
        input: BucketInput,
    ) -> Result<Bucket, AppError> {
        buckets::save(&self.state, actor, id, &input).await
    }

    async fn delete_buckets(&self, actor: &Actor, ids: Vec<i64>) -> Result<u32, AppError> {
        buckets::delete(&self.state, actor, &ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::sync::SyncError;

    #[test]
    fn problems_name_the_template_or_the_root() {
        let report = SyncReport {
            added: 1,
            errors: vec![
                SyncError {
                    slug: "web".into(),
                    path: "/t/web".into(),
                    message: "the slug is taken".into(),
                },
                SyncError {
                    slug: String::new(),
                    path: "/gone".into(),
                    message: "cannot read the template root".into(),
                },
            ],
            ..SyncReport::default()
        };
        let summary = sync_summary(Utc::now(), &report);
        assert_eq!(summary.added, 1);
        assert_eq!(
            summary.problems,
            [
                "web: the slug is taken",
                "/gone: cannot read the template root"
            ]
        );
    }
}
