//! Custom templates: made or edited in Kiln's editor, stored with source `custom` (no root,
//! no content hash) and never touched by a sync.
//!
//! Saving a folder or built-in template never changes its row: the edit becomes a new custom
//! copy under a free slug. A custom template gets its findings the way a folder does — it is
//! written with [`super::write_folder`] into a fresh temporary folder and read back with
//! [`super::parse_folder`] — which also proves that it exports.
//!
//! Who may: anyone signed in creates custom templates and copies (owned by them); a custom
//! template is updated, renamed or deleted only by its owner or an administrator.
//!
//! Errors: the editor's rules (`kiln_shared::catalog::validate_template`) are `Invalid` per
//! field; a slug already taken is `Invalid` on `slug`; what the folder format cannot hold is
//! `Invalid` on `_form`; another user's template is `Forbidden`; deleting a folder template,
//! or one containers were made from, is `Conflict`.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_shared::auth::Actor;
use kiln_shared::catalog::{normalize_template, validate_template};
use kiln_shared::templates::{Finding, Severity, Template, validate_slug};
use kiln_shared::{AppError, FieldErrors};
use serde_json::json;

use crate::app_state::AppState;
use crate::db::audit::Entry;
use crate::db::templates::{self as rows, TemplateFields};
use crate::db::{is_foreign_key_violation, is_unique_violation};
use crate::errors;

const SLUG_TAKEN: &str = "a template with this slug already exists";

/// What a save did (for the audit log).
enum Saved {
    Created,
    Updated { renamed_from: Option<String> },
    Copied { from: String },
}

/// Why a save or delete transaction stopped.
enum Refusal {
    Db(diesel::result::Error),
    SlugTaken,
    NotFound,
    NotCustom { builtin: bool },
    NotOwner,
    InUse(i64),
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        Refusal::Db(e)
    }
}

impl Refusal {
    fn into_app_error(self, slug: &str, what: &str) -> AppError {
        match self {
            Refusal::Db(e) => errors::db(what, e),
            Refusal::SlugTaken => AppError::invalid("slug", SLUG_TAKEN),
            Refusal::NotFound => AppError::NotFound("No such template.".into()),
            Refusal::NotCustom { builtin: false } => AppError::Conflict(format!(
                "`{slug}` comes from a template folder; remove the folder and sync instead."
            )),
            Refusal::NotCustom { builtin: true } => AppError::Conflict(format!(
                "`{slug}` is built into Kiln and cannot be deleted."
            )),
            Refusal::NotOwner => AppError::Forbidden(
                "Only the owner of this template or an administrator can change it; \
                 clone it to make your own."
                    .into(),
            ),
            Refusal::InUse(1) => AppError::Conflict(
                "1 container was made from this template; delete it first.".into(),
            ),
            Refusal::InUse(n) => AppError::Conflict(format!(
                "{n} containers were made from this template; delete them first."
            )),
        }
    }
}

/// Normalizes, validates and saves `template` as a custom template; returns its slug. See
/// the module docs for the cases of `original`.
pub async fn save(
    state: &AppState,
    actor: &Actor,
    original: Option<&str>,
    template: Template,
) -> Result<String, AppError> {
    // Validating, writing and linting a large template is CPU work: off the async threads.
    let (template, findings) = tokio::task::spawn_blocking(move || checked(template))
        .await
        .map_err(|e| errors::internal("checking a template", e))??;
    let model = serde_json::to_value(&template)
        .map_err(|e| errors::internal("serializing a template", e))?;
    let findings_json =
        serde_json::to_value(&findings).map_err(|e| errors::internal("serializing findings", e))?;
    let count = |s: Severity| {
        i32::try_from(findings.iter().filter(|f| f.severity == s).count()).unwrap_or(i32::MAX)
    };
    let fields = TemplateFields {
        slug: &template.slug,
        source: "custom",
        root: None,
        app: &template.app,
        description: &template.description,
        tags: &template.tags,
        model: &model,
        findings: &findings_json,
        error_count: count(Severity::Error),
        warning_count: count(Severity::Warning),
        content_hash: None,
        status: "ok",
    };
    let mut pooled = state.conn().await?;
    let conn: &mut AsyncPgConnection = &mut pooled;
    let saved = conn
        .transaction::<_, Refusal, _>(async |conn| write(conn, actor, original, &fields).await)
        .await
        .map_err(|r| r.into_app_error(&template.slug, "saving a template"))?;
    drop(pooled);
    let (action, detail) = match saved {
        Saved::Created => ("template.create", json!({})),
        Saved::Updated { renamed_from } => {
            ("template.save", json!({ "renamed_from": renamed_from }))
        }
        Saved::Copied { from } => ("template.copy", json!({ "from": from })),
    };
    tracing::info!(template.slug = %template.slug, user.name = ?actor.username, audit.action = action, "template saved");
    state
        .audit(Entry {
            detail,
            ..Entry::by(actor, action).on(&template.slug)
        })
        .await;
    Ok(template.slug)
}

/// The template as it will be stored, and its findings: normalized, checked with the editor's
/// rules (errors name list rows by their position as sent), then put in run order.
fn checked(template: Template) -> Result<(Template, Vec<Finding>), AppError> {
    let mut template = normalize_template(template);
    validate_template(&template).into_result()?;
    template
        .scripts
        .sort_by(|a, b| a.file_name.cmp(&b.file_name));
    template.packages.retain(|b| !b.packages.is_empty());
    let findings = findings_of(&template)?;
    Ok((template, findings))
}

/// Inserts or updates the custom row, inside the caller's transaction.
async fn write(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    original: Option<&str>,
    fields: &TemplateFields<'_>,
) -> Result<Saved, Refusal> {
    let Some(original) = original else {
        insert(conn, fields, actor).await?;
        return Ok(Saved::Created);
    };
    let row = rows::by_slug_for_update(conn, original)
        .await?
        .ok_or(Refusal::NotFound)?;
    if row.source != "custom" {
        insert(conn, fields, actor).await?;
        return Ok(Saved::Copied { from: row.slug });
    }
    if !actor.may_change(row.owner_id) {
        return Err(Refusal::NotOwner);
    }
    match rows::update_custom(conn, row.id, fields).await {
        Ok(_) => Ok(Saved::Updated {
            renamed_from: (row.slug != fields.slug).then_some(row.slug),
        }),
        Err(e) if is_unique_violation(&e) => Err(Refusal::SlugTaken),
        Err(e) => Err(e.into()),
    }
}

async fn insert(
    conn: &mut AsyncPgConnection,
    fields: &TemplateFields<'_>,
    owner: &Actor,
) -> Result<(), Refusal> {
    rows::insert_custom(conn, fields, owner.id())
        .await?
        .map(|_| ())
        .ok_or(Refusal::SlugTaken)
}

/// The findings of `t` as a folder: written to a fresh temporary `<slug>/` and parsed back.
/// A template the folder format cannot hold is `Invalid` on `_form`.
fn findings_of(t: &Template) -> Result<Vec<Finding>, AppError> {
    let tmp = tempfile::tempdir().map_err(|e| errors::internal("creating a temp dir", e))?;
    let dir = tmp.path().join(&t.slug);
    super::write_folder(t, &dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => AppError::invalid(
            FieldErrors::FORM,
            format!("This template cannot be written as a template folder: {e}"),
        ),
        _ => errors::internal("writing a template folder", e),
    })?;
    let (_, findings) = super::parse_folder(&dir);
    Ok(findings)
}

/// Deletes the custom template `slug`; refused for folder and built-in templates, for
/// another user's template and while containers reference it.
pub async fn delete(state: &AppState, actor: &Actor, slug: &str) -> Result<(), AppError> {
    validate_slug(slug).map_err(|_| AppError::NotFound("No such template.".into()))?;
    let mut pooled = state.conn().await?;
    let conn: &mut AsyncPgConnection = &mut pooled;
    conn.transaction::<_, Refusal, _>(async |conn| remove(conn, actor, slug).await)
        .await
        .map_err(|r| r.into_app_error(slug, "deleting a template"))?;
    drop(pooled);
    tracing::info!(template.slug = %slug, user.name = ?actor.username, "template deleted");
    state
        .audit(Entry::by(actor, "template.delete").on(slug))
        .await;
    Ok(())
}

async fn remove(conn: &mut AsyncPgConnection, actor: &Actor, slug: &str) -> Result<(), Refusal> {
    let row = rows::by_slug_for_update(conn, slug)
        .await?
        .ok_or(Refusal::NotFound)?;
    if row.source != "custom" {
        return Err(Refusal::NotCustom {
            builtin: row.source == "builtin",
        });
    }
    if !actor.may_change(row.owner_id) {
        return Err(Refusal::NotOwner);
    }
    // The row lock keeps new containers from referencing it until the delete commits.
    let in_use = rows::count_containers(conn, row.id).await?;
    if in_use > 0 {
        return Err(Refusal::InUse(in_use));
    }
    match rows::delete_custom(conn, row.id).await {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => Err(Refusal::InUse(1)),
        Err(e) => Err(e.into()),
    }
}
