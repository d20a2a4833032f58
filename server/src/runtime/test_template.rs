//! `kiln template test SLUG`: a thin adapter over `ContainerService::test_run` on the same
//! configuration and database as `kiln serve` and `kiln user create`. It syncs the templates
//! (so the built-in ones are there), starts job workers in this process (they run this run
//! and any other due job, like a `kiln serve` would), prints the run's events as they come,
//! and answers whether the template passed. Ctrl-C stops waiting: the workers release the
//! job, and the next `kiln serve` resumes it.

use std::time::Duration;

use anyhow::{Context, anyhow};
use kiln_shared::auth::Actor;

use super::{Services, load_key, sync_templates};
use crate::app_state::AppState;
use crate::containers::service::ContainerService;
use crate::containers::test_run;
use crate::db::{self, audit, containers, nodes, users};
use crate::routes::assets::built_assets;

/// How often the run's events are read when no notice came.
const POLL: Duration = Duration::from_millis(500);

/// Runs the test; `Ok(true)` when the template passed.
pub async fn test_template(
    config: crate::config::Config,
    slug: &str,
    user: Option<&str>,
    node: Option<&str>,
    keep: bool,
) -> anyhow::Result<bool> {
    let services = Services::start(&config).await?;
    let result = run(config, &services, slug, user, node, keep).await;
    services.stop().await;
    result
}

async fn run(
    config: crate::config::Config,
    services: &Services,
    slug: &str,
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
