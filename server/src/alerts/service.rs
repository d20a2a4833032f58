//! [`AlertService`]: the app's `AlertsBackend`. Every method is scoped to the acting user
//! (another user's alert, rule or channel is 404, administrators included: alerts are one
//! person's notifications), checks its input with the `kiln_shared::alerts` rules, and audits
//! each change to a rule or channel (`alert.rule.add|update|delete`,
//! `alert.channel.add|enable|disable|delete|test`, `alert.acknowledge`) — never with a URL or
//! a secret in it.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use kiln_app::ssr::AlertsBackend;
use kiln_shared::AppError;
use kiln_shared::alerts::{
    Alert, AlertSettings, AlertsOverview, Channel, ChannelCreated, ChannelInput, ChannelKind,
    Delivery, MAX_CHANNELS, MAX_RULES, Rule, RuleInput, Scope, url_hint,
};
use kiln_shared::auth::Actor;
use serde_json::json;

use super::delivery::{Event, Notice, Sender};
use crate::app_state::AppState;
use crate::db::alert_channels::{self as channels, ChannelRow};
use crate::db::alert_deliveries as deliveries;
use crate::db::alerts::{self as queries, RuleFields, RuleRow};
use crate::db::audit::Entry;
use crate::errors::{self, TxError};

/// How many resolved alerts the page lists.
const HISTORY: i64 = 100;

#[derive(Debug, Clone)]
pub struct AlertService {
    state: AppState,
}

impl AlertService {
    pub fn new(state: AppState) -> Self {
        AlertService { state }
    }

    async fn conn(&self) -> Result<crate::db::DbConn, AppError> {
        self.state.conn().await
    }

    async fn audit(&self, actor: &Actor, action: &str, target: &str, detail: serde_json::Value) {
        let mut entry = Entry::by(actor, action).on(target);
        entry.detail = detail;
        self.state.audit(entry).await;
    }

    /// The actor's nodes and containers by id: the names a rule's scope shows, and the
    /// choices of its form.
    async fn scope_names(
        &self,
        conn: &mut AsyncPgConnection,
        actor: &Actor,
    ) -> Result<(HashMap<i64, String>, HashMap<i64, String>), AppError> {
        let nodes = crate::db::nodes::list(conn, actor.user_id)
            .await
            .map_err(|e| errors::db("listing nodes", e))?;
        let containers = crate::db::containers::list(conn, Some(actor.user_id))
            .await
            .map_err(|e| errors::db("listing containers", e))?;
        Ok((
            nodes.into_iter().map(|n| (n.id, n.name)).collect(),
            containers
                .into_iter()
                .map(|(c, node)| {
                    let vmid = c.vmid.map(|v| format!("CT {v} ")).unwrap_or_default();
                    (c.id, format!("{vmid}{} on {node}", c.hostname))
                })
                .collect(),
        ))
    }

    /// The rule's scope must be the actor's node or container.
    async fn check_scope(
        &self,
        conn: &mut AsyncPgConnection,
        actor: &Actor,
        scope: Scope,
    ) -> Result<(), AppError> {
        let found = match scope {
            Scope::All => true,
            Scope::Node(id) => crate::db::nodes::get(conn, actor.user_id, id)
                .await
                .map_err(|e| errors::db("reading a node", e))?
                .is_some(),
            Scope::Container(id) => crate::db::containers::get(conn, Some(actor.user_id), id)
                .await
                .map_err(|e| errors::db("reading a container", e))?
                .is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(AppError::invalid(
                "scope",
                "Choose one of your nodes or containers.",
            ))
        }
    }

    fn rule_view(
        row: &RuleRow,
        names: &(HashMap<i64, String>, HashMap<i64, String>),
    ) -> Option<Rule> {
        let name = match row.scope() {
            Scope::All => None,
            Scope::Node(id) => names.0.get(&id).cloned(),
            Scope::Container(id) => names.1.get(&id).cloned(),
        };
        row.to_rule(name)
    }

    async fn ensure_defaults(
        &self,
        conn: &mut AsyncPgConnection,
        actor: &Actor,
    ) -> Result<(), AppError> {
        queries::ensure_defaults(conn, actor.user_id)
            .await
            .map(drop)
            .map_err(|e| errors::db("making the default alert rules", e))
    }

    fn channel_not_found() -> AppError {
        AppError::NotFound("No such channel.".into())
    }
}

#[async_trait]
impl AlertsBackend for AlertService {
    async fn overview(&self, actor: &Actor) -> Result<AlertsOverview, AppError> {
        let mut conn = self.conn().await?;
        self.ensure_defaults(&mut conn, actor).await?;
        let (active, history) = queries::for_page(&mut conn, actor.user_id, HISTORY)
            .await
            .map_err(|e| errors::db("listing alerts", e))?;
        let troubled = deliveries::troubled(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("listing deliveries", e))?;
        Ok(AlertsOverview {
            active: active.iter().filter_map(|a| a.to_alert()).collect(),
            history: history.iter().filter_map(|a| a.to_alert()).collect(),
            troubled,
        })
    }

    async fn unacknowledged(&self, actor: &Actor) -> Result<u32, AppError> {
        let mut conn = self.conn().await?;
        let n = queries::count_unacknowledged(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("counting alerts", e))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn acknowledge(&self, actor: &Actor, id: i64) -> Result<Alert, AppError> {
        let mut conn = self.conn().await?;
        let row = queries::acknowledge(&mut conn, actor.user_id, id, &actor.username)
            .await
            .map_err(|e| errors::db("acknowledging an alert", e))?
            .ok_or_else(|| AppError::NotFound("No such alert.".into()))?;
        self.audit(
            actor,
            "alert.acknowledge",
            &row.title,
            json!({ "alert_id": id }),
        )
        .await;
        row.to_alert().ok_or(AppError::Internal)
    }

    async fn settings(&self, actor: &Actor) -> Result<AlertSettings, AppError> {
        let mut conn = self.conn().await?;
        self.ensure_defaults(&mut conn, actor).await?;
        let names = self.scope_names(&mut conn, actor).await?;
        let rules = queries::rules(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("listing alert rules", e))?;
        let channels = channels::channels(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("listing alert channels", e))?;
        let mut last = deliveries::last_per_channel(&mut conn, actor.user_id)
            .await
            .map_err(|e| errors::db("listing deliveries", e))?;
        let mut scopes: Vec<(String, String)> = names
            .0
            .iter()
            .map(|(id, name)| (Scope::Node(*id).to_form(), format!("Node {name}")))
            .collect();
        scopes.sort_by(|a, b| a.1.cmp(&b.1));
        let mut containers: Vec<(String, String)> = names
            .1
            .iter()
            .map(|(id, name)| (Scope::Container(*id).to_form(), name.clone()))
            .collect();
        containers.sort_by(|a, b| a.1.cmp(&b.1));
        scopes.extend(containers);
        Ok(AlertSettings {
            rules: rules
                .iter()
                .filter_map(|r| Self::rule_view(r, &names))
                .collect(),
            channels: channels
                .iter()
                .filter_map(|c| c.to_channel(last.remove(&c.id)))
                .collect(),
            scopes,
        })
    }

    async fn save_rule(
        &self,
        actor: &Actor,
        id: Option<i64>,
        input: RuleInput,
    ) -> Result<Rule, AppError> {
        let input = input.normalized();
        input.validate()?;
        let mut conn = self.conn().await?;
        self.ensure_defaults(&mut conn, actor).await?;
        self.check_scope(&mut conn, actor, input.scope).await?;
        let row = match id {
            None => {
                let count = queries::count_rules(&mut conn, actor.user_id)
                    .await
                    .map_err(|e| errors::db("counting alert rules", e))?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_RULES {
                    return Err(AppError::Conflict(format!(
                        "You have {MAX_RULES} rules already; delete one first."
                    )));
                }
                queries::insert_rule(&mut conn, actor.user_id, RuleFields::of(&input))
                    .await
                    .map_err(|e| errors::db("adding an alert rule", e))?
            }
            Some(id) => {
                let owner = actor.user_id;
                let fields = RuleFields::of(&input);
                conn.transaction::<_, TxError, _>(async |conn| {
                    let row = queries::update_rule(conn, owner, id, fields)
                        .await?
                        .ok_or_else(|| AppError::NotFound("No such rule.".into()))?;
                    // What it fired under the old terms is closed (quietly).
                    queries::close_rule_alerts(conn, id).await?;
                    Ok(row)
                })
                .await
                .map_err(|e| e.into_app("changing an alert rule"))?
            }
        };
        let names = self.scope_names(&mut conn, actor).await?;
        let rule = Self::rule_view(&row, &names).ok_or(AppError::Internal)?;
        let action = if id.is_some() {
            "alert.rule.update"
        } else {
            "alert.rule.add"
        };
        self.audit(
            actor,
            action,
            &rule.summary(),
            json!({ "rule_id": row.id, "kind": row.kind, "enabled": row.enabled,
                    "threshold": row.threshold, "minutes": row.minutes,
                    "node_id": row.node_id, "container_id": row.container_id }),
        )
        .await;
        Ok(rule)
    }

    async fn delete_rule(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let mut conn = self.conn().await?;
        let row = queries::delete_rule(&mut conn, actor.user_id, id)
            .await
            .map_err(|e| errors::db("deleting an alert rule", e))?
            .ok_or_else(|| AppError::NotFound("No such rule.".into()))?;
        self.audit(
            actor,
            "alert.rule.delete",
            &row.kind,
            json!({ "rule_id": row.id, "kind": row.kind }),
        )
        .await;
        Ok(())
    }

    async fn add_channel(
        &self,
        actor: &Actor,
        input: ChannelInput,
    ) -> Result<ChannelCreated, AppError> {
        let input = ChannelInput {
            name: input.name.trim().to_owned(),
            url: input.url.trim().to_owned(),
            kind: input.kind,
        };
        input.validate()?;
        let secret = (input.kind == ChannelKind::Webhook)
            .then(|| random_hex(32).map_err(|e| errors::internal("making a webhook secret", e)))
            .transpose()?;
        let hint = url_hint(&input.url);
        let key = self.state.secret_key.clone();
        let owner = actor.user_id;
        let mut pooled = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let count = channels::count_channels(conn, owner).await?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_CHANNELS {
                    return Err(AppError::Conflict(format!(
                        "You have {MAX_CHANNELS} channels already; delete one first."
                    ))
                    .into());
                }
                let row = channels::insert_channel(conn, owner, input.kind, &input.name, &hint)
                    .await?
                    .ok_or_else(|| {
                        AppError::invalid("name", "You have a channel of that name already.")
                    })?;
                let url_sealed = key
                    .encrypt(input.url.as_bytes(), &ChannelRow::url_context(row.id))
                    .map_err(|e| errors::internal("sealing a channel's URL", e))?;
                let secret_sealed = match &secret {
                    Some(s) => Some(
                        key.encrypt(s.as_bytes(), &ChannelRow::secret_context(row.id))
                            .map_err(|e| errors::internal("sealing a webhook secret", e))?,
                    ),
                    None => None,
                };
                channels::set_channel_secrets(conn, row.id, &url_sealed, secret_sealed.as_deref())
                    .await?;
                Ok(row)
            })
            .await
            .map_err(|e| e.into_app("adding an alert channel"))?;
        self.audit(
            actor,
            "alert.channel.add",
            &row.name,
            json!({ "channel_id": row.id, "kind": row.kind, "host": row.url_hint }),
        )
        .await;
        Ok(ChannelCreated {
            channel: row.to_channel(None).ok_or(AppError::Internal)?,
            secret,
        })
    }

    async fn set_channel_enabled(
        &self,
        actor: &Actor,
        id: i64,
        enabled: bool,
    ) -> Result<Channel, AppError> {
        let mut conn = self.conn().await?;
        let row = channels::set_channel_enabled(&mut conn, actor.user_id, id, enabled)
            .await
            .map_err(|e| errors::db("changing an alert channel", e))?
            .ok_or_else(Self::channel_not_found)?;
        let action = if enabled {
            "alert.channel.enable"
        } else {
            "alert.channel.disable"
        };
        self.audit(actor, action, &row.name, json!({ "channel_id": id }))
            .await;
        row.to_channel(None).ok_or(AppError::Internal)
    }

    async fn delete_channel(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let mut conn = self.conn().await?;
        let row = channels::delete_channel(&mut conn, actor.user_id, id)
            .await
            .map_err(|e| errors::db("deleting an alert channel", e))?
            .ok_or_else(Self::channel_not_found)?;
        self.audit(
            actor,
            "alert.channel.delete",
            &row.name,
            json!({ "channel_id": id, "kind": row.kind }),
        )
        .await;
        Ok(())
    }

    async fn test_channel(&self, actor: &Actor, id: i64) -> Result<Delivery, AppError> {
        let mut conn = self.conn().await?;
        let channel = channels::channel(&mut conn, Some(actor.user_id), id)
            .await
            .map_err(|e| errors::db("reading an alert channel", e))?
            .ok_or_else(Self::channel_not_found)?;
        // Recorded first (claimed for a minute so the dispatcher leaves it alone), then sent
        // here, so the answer says how it went.
        let delivery_id = deliveries::queue_test(&mut conn, channel.id)
            .await
            .map_err(|e| errors::db("recording a test delivery", e))?;
        drop(conn);
        let sender = Sender::new().map_err(|e| errors::internal("building the HTTP client", e))?;
        let notice = Notice {
            delivery_id,
            event: Event::Test,
            alert: None,
            at: Utc::now(),
        };
        let outcome = super::dispatch::send_to(&self.state, &sender, &channel, &notice).await;
        let mut conn = self.conn().await?;
        // A test is tried once: its answer is the point.
        let recorded = match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err((e.as_str(), None)),
        };
        deliveries::record_attempt(&mut conn, delivery_id, recorded)
            .await
            .map_err(|e| errors::db("recording a test delivery", e))?;
        deliveries::count_attempt(&mut conn, delivery_id)
            .await
            .map_err(|e| errors::db("recording a test delivery", e))?;
        self.audit(
            actor,
            "alert.channel.test",
            &channel.name,
            json!({ "channel_id": id, "ok": outcome.is_ok() }),
        )
        .await;
        let delivery = deliveries::delivery(&mut conn, actor.user_id, delivery_id)
            .await
            .map_err(|e| errors::db("reading a delivery", e))?
            .ok_or(AppError::Internal)?;
        Ok(delivery)
    }
}

/// `n` random bytes from the system's generator, as hex (a webhook's signing secret).
fn random_hex(n: usize) -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(hex::encode(bytes))
}
