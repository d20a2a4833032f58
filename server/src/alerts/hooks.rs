//! What other domains tell the alerts: a creation ended failed (the creation job's `finish`
//! and its give-up), or a creation — a retry — ended ready, which resolves the earlier
//! failure's alert. Failures here are logged, never passed on: the job's outcome stands.

use chrono::Utc;
use kiln_shared::alerts::RuleKind;

use crate::app_state::AppState;
use crate::db::alerts::{self as queries, NewAlert};

/// What the alert says of the failed creation.
#[derive(Debug, Clone)]
pub struct FailedCreation<'a> {
    pub container_id: i64,
    pub owner_id: i64,
    pub node_id: i64,
    pub hostname: &'a str,
    pub vmid: Option<i32>,
    /// "failed in PHASE: message" (the job's error, which holds no secret).
    pub error: &'a str,
}

/// The subject of a container's creation.
pub fn creation_subject(container_id: i64) -> String {
    format!("container:{container_id}")
}

/// Fires the owner's enabled "creation failed" rules that cover the container (once per
/// rule while the alert is open: a resumed run that fails again adds nothing).
pub async fn creation_failed(state: &AppState, failed: &FailedCreation<'_>) {
    if let Err(e) = fire_failed(state, failed).await {
        tracing::warn!(
            ct.id = failed.container_id,
            error = %format!("{e:#}"),
            "alerts: recording a failed creation failed"
        );
    }
}

async fn fire_failed(state: &AppState, f: &FailedCreation<'_>) -> anyhow::Result<()> {
    let mut conn = state.db.get().await?;
    queries::ensure_defaults(&mut conn, f.owner_id).await?;
    let rules = queries::enabled_rules_of(&mut conn, f.owner_id, RuleKind::JobFailed).await?;
    let mut fired = false;
    for rule in rules {
        if rule.node_id.is_some_and(|n| n != f.node_id)
            || rule.container_id.is_some_and(|c| c != f.container_id)
        {
            continue;
        }
        let alert = NewAlert {
            owner_id: f.owner_id,
            rule_id: Some(rule.id),
            kind: RuleKind::JobFailed.as_str().to_owned(),
            subject: creation_subject(f.container_id),
            title: format!("Creating {} failed", f.hostname),
            detail: crate::db::audit::clean(f.error).into_owned(),
            node_id: Some(f.node_id),
            container_id: Some(f.container_id),
            vmid: f.vmid,
            fired_at: Utc::now(),
        };
        if let Some(row) = queries::fire(&mut conn, &alert).await? {
            tracing::info!(
                alert.id = row.id,
                ct.id = f.container_id,
                "alert fired: creation failed"
            );
            fired = true;
        }
    }
    if fired {
        state.alerts.wake();
    }
    Ok(())
}

/// Resolves the open "creation failed" alerts of a container whose creation is now ready.
pub async fn creation_ready(state: &AppState, container_id: i64) {
    let result = async {
        let mut conn = state.db.get().await?;
        let open = queries::open_alert_on(
            &mut conn,
            RuleKind::JobFailed,
            &creation_subject(container_id),
        )
        .await?;
        let mut resolved = false;
        for alert in open {
            resolved |= queries::resolve(&mut conn, alert.id, Utc::now())
                .await?
                .is_some();
        }
        if resolved {
            state.alerts.wake();
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(ct.id = container_id, error = %format!("{e:#}"), "alerts: resolving a creation's alert failed");
    }
}
