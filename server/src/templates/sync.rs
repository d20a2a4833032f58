//! Template discovery and sync to the database.
//!
//! A template root is a directory whose immediate sub-folders holding a `template.conf` are
//! templates (slug = folder name; a symbolic link to one is an error, never followed).
//! [`sync`] parses each one on a thread of its own (see [`super::read`] for what is read),
//! hashes the result, and writes it to `templates` in one transaction per template: a new
//! slug is added, a changed hash (or a template coming back after it went missing) is
//! updated, the same hash is left alone.
//! Synced rows whose folder disappeared are marked `missing`, never deleted (containers will
//! reference them). Rows of source `custom` are never touched: a folder with the slug of a
//! custom template is reported as an error and skipped. Every run is recorded in
//! `template_sync_runs`.
//!
//! Errors: a database failure fails the whole sync; problems with single folders are
//! per-template [`SyncError`]s in the report. Lint findings are not errors: the template is
//! stored with its findings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_shared::templates::{Finding, Severity, Template};
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::db::DbPool;
use crate::db::templates::{self as rows, NewSyncRun, TemplateFields};

use super::read::{self, Candidate};

/// Where a root's templates come from (the `source` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSource {
    /// A directory of `KILN_TEMPLATE_DIRS`.
    Folder,
    /// The built-in set shipped with Kiln.
    Builtin,
}

impl TemplateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateSource::Folder => "folder",
            TemplateSource::Builtin => "builtin",
        }
    }
}

/// A directory of template folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRoot {
    pub path: PathBuf,
    pub source: TemplateSource,
}

impl TemplateRoot {
    /// The configured roots: the built-in set first, then `KILN_TEMPLATE_DIRS` in order
    /// (when two roots hold the same slug, the first wins).
    pub fn from_config(config: &Config) -> Vec<TemplateRoot> {
        let builtin = config
            .builtin_templates_dir
            .iter()
            .map(|path| TemplateRoot {
                path: path.clone(),
                source: TemplateSource::Builtin,
            });
        let folders = config.template_dirs.iter().map(|path| TemplateRoot {
            path: path.clone(),
            source: TemplateSource::Folder,
        });
        builtin.chain(folders).collect()
    }
}

/// The configured roots ([`TemplateRoot::from_config`]); when no built-in directory is
/// configured, the embedded set is written out to `<data dir>/builtin-templates` first.
pub fn configured_roots(config: &Config) -> anyhow::Result<Vec<TemplateRoot>> {
    if config.builtin_templates_dir.is_some() {
        return Ok(TemplateRoot::from_config(config));
    }
    let mut config = config.clone();
    config.builtin_templates_dir = Some(super::builtin::extract(&config.data_dir)?);
    Ok(TemplateRoot::from_config(&config))
}

/// A template folder the sync could not store (or a root it could not read: `slug` empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    pub slug: String,
    /// The folder (or root) concerned.
    pub path: String,
    pub message: String,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub missing: usize,
    pub unchanged: usize,
    pub errors: Vec<SyncError>,
}

/// A recorded sync run (`template_sync_runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub report: SyncReport,
}

/// A template folder found under a root, read and hashed.
struct Found {
    slug: String,
    dir: PathBuf,
    root: String,
    source: TemplateSource,
    parsed: Result<(Template, Vec<Finding>, String), String>,
}

enum Outcome {
    Added,
    Updated,
    Unchanged,
    TakenByCustom,
}

/// Discovers the templates under `roots` and syncs them to the database (see the module docs).
pub async fn sync(db: &DbPool, roots: &[TemplateRoot]) -> anyhow::Result<SyncReport> {
    let started_at = Utc::now();
    let (found, mut errors, unreadable) = discover_in_thread(roots.to_vec()).await?;
    let mut conn = db.get().await?;
    let conn: &mut AsyncPgConnection = &mut conn;
    let mut report = SyncReport::default();
    let mut first_root: HashMap<String, String> = HashMap::new();
    for f in found {
        let error = |message: String| SyncError {
            slug: f.slug.clone(),
            path: f.dir.display().to_string(),
            message,
        };
        if let Some(first) = first_root.get(&f.slug) {
            errors.push(error(format!(
                "the slug is already taken by the template in {first}; skipped"
            )));
            continue;
        }
        first_root.insert(f.slug.clone(), f.root.clone());
        let (template, findings, hash) = match &f.parsed {
            Ok(parsed) => parsed,
            Err(message) => {
                errors.push(error(message.clone()));
                continue;
            }
        };
        match sync_one(conn, &f, template, findings, hash).await {
            Ok(Outcome::Added) => report.added += 1,
            Ok(Outcome::Updated) => report.updated += 1,
            Ok(Outcome::Unchanged) => report.unchanged += 1,
            Ok(Outcome::TakenByCustom) => errors.push(error(
                "the slug is taken by a custom template; the folder is skipped".to_owned(),
            )),
            Err(e) => errors.push(error(format!("storing the template: {e}"))),
        }
    }
    let seen: Vec<String> = first_root.into_keys().collect();
    report.missing = rows::mark_missing(conn, &seen, &unreadable).await?;
    report.errors = errors;
    let errors_json = serde_json::to_value(&report.errors)?;
    rows::insert_run(
        conn,
        &NewSyncRun {
            started_at,
            added: count(report.added),
            updated: count(report.updated),
            missing: count(report.missing),
            unchanged: count(report.unchanged),
            errors: &errors_json,
        },
    )
    .await?;
    Ok(report)
}

/// [`discover`] on a thread of its own: reading folders blocks, and a root on a hung network
/// mount must neither hold an async worker nor (as a `spawn_blocking` task would) keep the
/// runtime from shutting down.
async fn discover_in_thread(
    roots: Vec<TemplateRoot>,
) -> anyhow::Result<(Vec<Found>, Vec<SyncError>, Vec<String>)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("template-sync".to_owned())
        .spawn(move || {
            let _ = tx.send(discover(&roots));
        })?;
    Ok(rx.await?)
}

/// The latest recorded sync run, if any.
pub async fn last_run(db: &DbPool) -> anyhow::Result<Option<SyncRun>> {
    let mut conn = db.get().await?;
    let Some(row) = rows::last_run(&mut conn).await? else {
        return Ok(None);
    };
    let size = |n: i32| usize::try_from(n).unwrap_or(0);
    Ok(Some(SyncRun {
        id: row.id,
        started_at: row.started_at,
        finished_at: row.finished_at,
        report: SyncReport {
            added: size(row.added),
            updated: size(row.updated),
            missing: size(row.missing),
            unchanged: size(row.unchanged),
            errors: serde_json::from_value(row.errors)?,
        },
    }))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Writes one template in its own transaction.
async fn sync_one(
    conn: &mut AsyncPgConnection,
    f: &Found,
    template: &Template,
    findings: &[Finding],
    hash: &str,
) -> anyhow::Result<Outcome> {
    let model = serde_json::to_value(template)?;
    let findings_json = serde_json::to_value(findings)?;
    let severity_count = |s: Severity| count(findings.iter().filter(|x| x.severity == s).count());
    let source = f.source.as_str();
    let fields = TemplateFields {
        slug: &f.slug,
        source,
        root: Some(&f.root),
        app: &template.app,
        description: &template.description,
        tags: &template.tags,
        model: &model,
        findings: &findings_json,
        error_count: severity_count(Severity::Error),
        warning_count: severity_count(Severity::Warning),
        content_hash: Some(hash),
        status: "ok",
    };
    let outcome = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let existing = match rows::by_slug_for_update(conn, &f.slug).await? {
                Some(row) => row,
                None => match rows::insert(conn, &fields).await? {
                    Some(_) => return Ok(Outcome::Added),
                    // A concurrent sync inserted it since: compare with its row.
                    None => rows::by_slug_for_update(conn, &f.slug)
                        .await?
                        .ok_or(diesel::result::Error::NotFound)?,
                },
            };
            if existing.source == "custom" {
                return Ok(Outcome::TakenByCustom);
            }
            let same = existing.content_hash.as_deref() == Some(hash)
                && existing.status == "ok"
                && existing.source == source
                && existing.root.as_deref() == Some(f.root.as_str());
            if same {
                rows::touch_synced(conn, existing.id).await?;
                Ok(Outcome::Unchanged)
            } else {
                rows::update(conn, existing.id, &fields).await?;
                Ok(Outcome::Updated)
            }
        })
        .await?;
    Ok(outcome)
}

/// The template folders directly under each root (in name order), plus errors for roots
/// that cannot be read (and for links to template folders, never followed) and the list of
/// the unreadable roots.
fn discover(roots: &[TemplateRoot]) -> (Vec<Found>, Vec<SyncError>, Vec<String>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut unreadable = Vec::new();
    for root in roots {
        let root_name = root.path.display().to_string();
        let dirs = match read::template_folders(&root.path) {
            Ok(dirs) => dirs,
            Err(e) => {
                errors.push(SyncError {
                    slug: String::new(),
                    path: root_name.clone(),
                    message: format!("cannot read the template root: {e}"),
                });
                unreadable.push(root_name);
                continue;
            }
        };
        for (dir, candidate) in dirs {
            let slug = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parsed = match candidate {
                Candidate::Symlink => Err(read::Refused::Symlink.message()),
                _ => read_template(&dir),
            };
            found.push(Found {
                slug,
                dir,
                root: root_name.clone(),
                source: root.source,
                parsed,
            });
        }
    }
    (found, errors, unreadable)
}

/// Parses and hashes one folder; `Err` when there is nothing to store.
fn read_template(dir: &Path) -> Result<(Template, Vec<Finding>, String), String> {
    let (template, findings) = super::parse_folder(dir);
    let Some(template) = template else {
        let messages: Vec<String> = findings
            .iter()
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect();
        return Err(messages.join("; "));
    };
    let hash =
        content_hash(&template, &findings).map_err(|e| format!("cannot hash the template: {e}"))?;
    Ok((template, findings, hash))
}

/// SHA-256 (hex) over what was read: the parsed model and its findings (as JSON). The folder
/// is read once, by the parser and under its rules (regular files only, size caps); a
/// change to anything the row stores changes the hash.
pub fn content_hash(template: &Template, findings: &[Finding]) -> serde_json::Result<String> {
    let bytes = serde_json::to_vec(&(template, findings))?;
    Ok(hex::encode(
        digest::digest(&digest::SHA256, &bytes).as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn roots_are_the_builtin_set_then_the_template_dirs() -> anyhow::Result<()> {
        let no_env = |_: &str| None::<String>;
        let mut config = Config::load_from(&Overrides::default(), &no_env)?;
        config.builtin_templates_dir = Some(PathBuf::from("/b"));
        config.template_dirs = vec![PathBuf::from("/f1"), PathBuf::from("/f2")];
        let roots: Vec<_> = TemplateRoot::from_config(&config)
            .into_iter()
            .map(|r| (r.path, r.source.as_str()))
            .collect();
        let expected = [("/b", "builtin"), ("/f1", "folder"), ("/f2", "folder")]
            .map(|(p, s)| (PathBuf::from(p), s));
        assert_eq!(roots, expected);
        Ok(())
    }
}
