//! `kiln template test SLUG|DIR`: a thin adapter over `ContainerService::test_run` on the
//! same configuration and database as `kiln serve` and `kiln user create`. It syncs the
//! templates (so the built-in ones are there); a template folder is linted and imported as
//! the user's custom template first (nothing is created when it has errors). It starts job
//! workers in this process (they run this run and any other due job, like a `kiln serve`
//! would), prints the run's events as they come, and answers whether the template passed.
//! Ctrl-C stops waiting: the workers release the job, and the next `kiln serve` resumes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use kiln_shared::auth::Actor;
use kiln_shared::templates::Severity;

use super::{Services, load_key, sync_templates};
use crate::app_state::AppState;
use crate::containers::service::ContainerService;
use crate::containers::test_run;
use crate::db::{self, audit, containers, nodes, templates, users};
use crate::routes::assets::built_assets;

/// What `kiln template test` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestTarget {
    /// A template of the catalog.
    Slug(String),
    /// A template folder on this machine.
    Folder(PathBuf),
}

impl TestTarget {
    /// A path holding `template.conf` is a folder; anything else a slug (a slug has no `/`,
    /// so `./NAME` names a folder in the current directory).
    pub fn of(arg: &str) -> TestTarget {
        let path = Path::new(arg);
        if path.join("template.conf").is_file() {
            TestTarget::Folder(path.to_path_buf())
        } else {
            TestTarget::Slug(arg.to_owned())
        }
    }
}

/// How often the run's events are read when no notice came.
const POLL: Duration = Duration::from_millis(500);

/// Runs the test; `Ok(true)` when the template passed.
pub async fn test_template(
    config: crate::config::Config,
    target: TestTarget,
    user: Option<&str>,
    node: Option<&str>,
    keep: bool,
) -> anyhow::Result<bool> {
    let services = Services::start(&config).await?;
    let result = run(config, &services, target, user, node, keep).await;
    services.stop().await;
    result
}

async fn run(
    config: crate::config::Config,
    services: &Services,
    target: TestTarget,
    user: Option<&str>,
    node: Option<&str>,
    keep: bool,
) -> anyhow::Result<bool> {
    db::migrate(&services.db).await?;
    let key = load_key(&config, &services.db).await?;
    sync_templates(config.clone(), services.db.clone()).await;
    let options = crate::jobs::Options::from_config(&config);
    let state = AppState::new(
        config,
        services.db.clone(),
        services.redis.clone(),
        built_assets(),
        key,
    );
    let (actor, node_id) = who(&state, user, node).await?;
    let slug = match target {
        TestTarget::Slug(slug) => slug,
        TestTarget::Folder(dir) => import(&state, &actor, &dir).await?,
    };
    let slug = slug.as_str();
    let workers = crate::jobs::Workers::start(&state, crate::jobs::handlers(&state), options);
    let outcome = async {
        let id = ContainerService::new(state.clone())
            .test_run(&actor, slug, node_id, keep)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        println!("test run of {slug}: container {id}");
        tokio::select! {
            passed = follow(&state, slug, id, keep) => passed,
            _ = tokio::signal::ctrl_c() => Err(anyhow!(
                "interrupted: container {id}'s run goes on at the next `kiln serve`"
            )),
        }
    }
    .await;
    workers.shutdown().await;
    outcome
}

/// Lints the template folder `dir` (its findings printed) and, without errors, makes it the
/// catalog's template of its name: the one the sync read when `dir` is inside a template
/// root, else the actor's custom template (created, or updated when it is theirs). A built-in
/// or folder template of the same name elsewhere is not replaced. Returns the slug.
async fn import(state: &AppState, actor: &Actor, dir: &Path) -> anyhow::Result<String> {
    let folder = dir.to_path_buf();
    let (template, findings) =
        tokio::task::spawn_blocking(move || crate::templates::parse_folder(&folder)).await?;
    for finding in &findings {
        println!("{}", crate::templates::lint::format_finding(dir, finding));
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let template = match template {
        Some(t) if errors == 0 => t,
        _ => bail!(
            "{}: {errors} error(s) in the template; nothing was created",
            dir.display()
        ),
    };
    let slug = template.slug.clone();
    let existing = {
        let mut conn = state.conn().await.map_err(|e| anyhow!("{e}"))?;
        templates::by_slug(&mut conn, &slug).await?
    };
    let original = match &existing {
        Some(row) if row.source != "custom" => {
            let synced = row.root.as_deref().map(|root| Path::new(root).join(&slug));
            if same_folder(synced.as_deref(), dir) {
                println!("template {slug}: the synced copy of {}", dir.display());
                return Ok(slug);
            }
            bail!(
                "`{slug}` is a {} template already; rename the folder to test it as your own",
                if row.source == "builtin" {
                    "built-in"
                } else {
                    "synced folder"
                }
            );
        }
        Some(_) => Some(slug.as_str()),
        None => None,
    };
    crate::templates::custom::save(state, actor, original, template)
        .await
        .map_err(|e| anyhow!("importing {}: {e}", dir.display()))?;
    let how = if original.is_some() {
        "updated"
    } else {
        "imported"
    };
    println!("template {slug}: {how} from {}", dir.display());
    Ok(slug)
}

/// Whether `a` and `b` are the same folder.
fn same_folder(a: Option<&Path>, b: &Path) -> bool {
    match (a.and_then(|a| a.canonicalize().ok()), b.canonicalize().ok()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The acting user (by name, else the first administrator) and the node by name.
async fn who(
    state: &AppState,
    user: Option<&str>,
    node: Option<&str>,
) -> anyhow::Result<(Actor, Option<i64>)> {
    let mut conn = state.conn().await.map_err(|e| anyhow!("{e}"))?;
    let row = match user {
        Some(name) => users::by_username(&mut conn, name)
            .await?
            .with_context(|| format!("there is no user {name}"))?,
        None => users::list(&mut conn)
            .await?
            .into_iter()
            .find(|u| u.is_admin && !u.disabled)
            .context("no administrator: create one with `kiln user create --admin`")?,
    };
    let actor = Actor {
        user_id: row.id,
        username: row.username.clone(),
        is_admin: row.is_admin,
        address: "local".to_owned(),
        password_proved_at: None,
        via_token: None,
    };
    let node_id = match node {
        Some(name) => Some(
            nodes::list(&mut conn, row.id)
                .await?
                .into_iter()
                .find(|n| n.name == name)
                .map(|n| n.id)
                .with_context(|| format!("{} has no node named {name}", row.username))?,
        ),
        None => None,
    };
    Ok((actor, node_id))
}

/// Prints container `id`'s events until its report and, unless kept, its deletion; whether
/// it passed. Events are read as this process's workers write them (the event hub); a
/// deletion that removed them before they were read leaves the verdict in the audit log.
async fn follow(state: &AppState, slug: &str, id: i64, keep: bool) -> anyhow::Result<bool> {
    let mut notices = state.container_events.subscribe();
    let mut last = 0;
    let mut passed = None;
    loop {
        let mut conn = state.conn().await.map_err(|e| anyhow!("{e}"))?;
        let events = containers::events_after(&mut conn, id, last, 1000).await?;
        let row = containers::get(&mut conn, None, id).await?;
        for event in events {
            last = event.seq;
            println!("[{}] {}", event.phase, event.text);
            if event.kind == "outcome" && test_run::is_report(&event.text) {
                passed = Some(event.text.starts_with(test_run::PASSED));
            }
        }
        match (&row, passed) {
            (None, Some(passed)) => {
                println!("container {id} deleted");
                return Ok(passed);
            }
            (None, None) => {
                let target = test_run::audit_target(Some(slug), id);
                let entry = audit::latest(&mut conn, test_run::AUDIT_ACTION, &target)
                    .await?
                    .with_context(|| format!("container {id} was deleted before its report"))?;
                let report = entry.detail["report"].as_str().unwrap_or_default();
                println!("[report] {report}");
                println!("container {id} deleted");
                return Ok(entry.detail["passed"].as_bool() == Some(true));
            }
            (Some(row), Some(passed))
                if keep && matches!(row.status.as_str(), "ready" | "failed") =>
            {
                println!("container {id} kept ({})", row.hostname);
                return Ok(passed);
            }
            _ => {}
        }
        drop(conn);
        tokio::select! {
            _ = notices.recv() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
