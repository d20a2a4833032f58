//! `/api/v1/templates`: the catalog, one template, its findings, and its folder as a tar.gz —
//! adapters over `TemplateService` (the catalog pages' backend) and the export route's code.
//! Every signed-in user reads every template, as on the pages.
//!
//! The list takes the catalog page's filter (`q`, `tag`, `sort`, `kiln_shared::catalog::Filter`)
//! and pages by position in that order: templates have no numeric id, and the order is the
//! one asked for, not the key's.

use axum::extract::State;
use axum::response::Response;
use kiln_app::ssr::TemplatesBackend;
use kiln_shared::catalog::{Filter, Sort, TemplateDetail, TemplateSummary};
use kiln_shared::templates::{Finding, Severity};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{Page, PageQuery};
use crate::app_state::AppState;
use crate::routes::export;
use crate::templates::TemplateService;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(lint))
        .routes(routes!(export_tar_gz))
}

/// The catalog's filter, as the template browser keeps it in its URL.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateFilter {
    /// Words that must all appear in the slug, name, description or tags.
    pub q: Option<String>,
    /// Only templates with this tag (case-insensitive).
    pub tag: Option<String>,
    /// `name` (default), `updated` (newest first), `health` (most problems first), `size`
    /// (largest memory first).
    #[param(inline)]
    pub sort: Option<Sort>,
}

impl From<TemplateFilter> for Filter {
    fn from(f: TemplateFilter) -> Self {
        Filter {
            q: f.q.unwrap_or_default(),
            tag: f.tag.unwrap_or_default(),
            sort: f.sort.unwrap_or_default(),
        }
    }
}

/// A template's findings, as its page lists them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateLint {
    pub slug: String,
    /// Findings that make the template unusable as it is.
    pub errors: u32,
    /// Findings worth fixing; the template works.
    pub warnings: u32,
    pub findings: Vec<Finding>,
}

/// The templates matching the filter, in its order, a page at a time (the cursor is a
/// position in that order).
#[utoipa::path(get, operation_id = "list_templates", path = "/templates", tag = "templates", params(TemplateFilter, PageQuery),
    responses((status = 200, body = Page<TemplateSummary>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<TemplateFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<TemplateSummary>>, ApiError> {
    let catalog = TemplateService::new(state).catalog(&caller.actor).await?;
    let ordered = Filter::from(filter).apply(catalog.templates);
    let positioned: Vec<(i64, TemplateSummary)> = (0i64..).zip(ordered).collect();
    let found = page.page(positioned, |(position, _)| *position)?;
    Ok(ApiJson(Page {
        items: found.items.into_iter().map(|(_, t)| t).collect(),
        next_cursor: found.next_cursor,
    }))
}

/// One template: its model, findings, highlighted scripts and files, README, and how many
/// containers were made from it.
#[utoipa::path(get, operation_id = "get_template", path = "/templates/{slug}", tag = "templates",
    params(("slug" = String, Path, description = "The template's slug")),
    responses((status = 200, body = TemplateDetail), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<ApiJson<TemplateDetail>, ApiError> {
    Ok(ApiJson(
        TemplateService::new(state)
            .detail(&caller.actor, &slug)
            .await?,
    ))
}

/// The template's findings (from its last sync or save, as its page shows them).
#[utoipa::path(get, operation_id = "template_lint", path = "/templates/{slug}/lint", tag = "templates",
    params(("slug" = String, Path, description = "The template's slug")),
    responses((status = 200, body = TemplateLint), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn lint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<ApiJson<TemplateLint>, ApiError> {
    let detail = TemplateService::new(state)
        .detail(&caller.actor, &slug)
        .await?;
    let count = |severity: Severity| {
        let n = detail
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    Ok(ApiJson(TemplateLint {
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        slug: detail.summary.slug,
        findings: detail.findings,
    }))
}

/// The template as a folder in a tar.gz (what `kiln template` and `KILN_TEMPLATE_DIRS` read),
/// the same archive as the page's *Export* link.
#[utoipa::path(get, operation_id = "export_template", path = "/templates/{slug}/export", tag = "templates",
    params(("slug" = String, Path, description = "The template's slug")),
    responses((status = 200, body = [u8], content_type = "application/gzip",
            description = "The folder as a tar.gz (attachment `<slug>.tar.gz`)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_tar_gz(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let prepared = export::prepare(&state, &slug).await?;
    Ok(export::stream(prepared))
}
