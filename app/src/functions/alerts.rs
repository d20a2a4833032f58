//! Alerts: the pages' reads, acknowledge, rules and channels, *Send test*.
//!
//! The forms post their fields as text (a plain form post works without JavaScript; the
//! page's island sends the same fields); the rules of `kiln_shared::alerts` turn them into a
//! `RuleInput`/`ChannelInput`, field by field, on the server.

use kiln_shared::AppError;
use kiln_shared::alerts::{
    Alert, AlertSettings, AlertsOverview, Channel, ChannelCreated, Delivery, Rule,
};
#[cfg(feature = "ssr")]
use kiln_shared::alerts::{ChannelInput, RuleInput};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr;

/// The active alerts, the history and the deliveries in trouble.
#[server(prefix = "/api/fn", endpoint = "load_alerts", output = kiln_shared::wire::JsonText)]
pub async fn load_alerts() -> Result<AlertsOverview, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.overview(&actor).await
        }
        .await,
    )
}

/// How many active alerts nobody acknowledged (the top bar's badge).
#[server(prefix = "/api/fn", endpoint = "unacknowledged_alerts", output = kiln_shared::wire::JsonText)]
pub async fn unacknowledged_alerts() -> Result<u32, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.unacknowledged(&actor).await
        }
        .await,
    )
}

#[server(prefix = "/api/fn", endpoint = "acknowledge_alert", output = kiln_shared::wire::JsonText)]
pub async fn acknowledge_alert(id: i64) -> Result<Alert, AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.acknowledge(&actor, id).await
        }
        .await,
        "acknowledged",
    )
}

/// Rules, channels and the scopes a rule may have.
#[server(prefix = "/api/fn", endpoint = "load_alert_settings", output = kiln_shared::wire::JsonText)]
pub async fn load_alert_settings() -> Result<AlertSettings, AppError> {
    ssr::respond(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.settings(&actor).await
        }
        .await,
    )
}

/// Adds a rule (`id` empty) or changes rule `id`.
#[server(prefix = "/api/fn", endpoint = "save_alert_rule", output = kiln_shared::wire::JsonText)]
pub async fn save_alert_rule(
    id: Option<String>,
    kind: String,
    enabled: Option<String>,
    threshold: Option<String>,
    minutes: Option<String>,
    scope: Option<String>,
) -> Result<Rule, AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            let id = match id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(text) => Some(
                    text.parse::<i64>()
                        .map_err(|_| AppError::NotFound("No such rule.".into()))?,
                ),
                None => None,
            };
            let input = RuleInput::from_form(
                &kind,
                enabled.as_deref(),
                threshold.as_deref().unwrap_or_default(),
                minutes.as_deref().unwrap_or_default(),
                scope.as_deref().unwrap_or_default(),
            )?;
            ssr::alerts_backend()?.save_rule(&actor, id, input).await
        }
        .await,
        "rule_saved",
    )
}

#[server(prefix = "/api/fn", endpoint = "delete_alert_rule", output = kiln_shared::wire::JsonText)]
pub async fn delete_alert_rule(id: i64) -> Result<(), AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.delete_rule(&actor, id).await
        }
        .await,
        "rule_deleted",
    )
}

/// Adds a channel; a webhook's signing secret is in the answer, this once.
#[server(prefix = "/api/fn", endpoint = "add_alert_channel", output = kiln_shared::wire::JsonText)]
pub async fn add_alert_channel(
    name: String,
    kind: String,
    url: String,
) -> Result<ChannelCreated, AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            let input = ChannelInput::from_form(&name, &kind, &url)?;
            ssr::alerts_backend()?.add_channel(&actor, input).await
        }
        .await,
        "channel_added",
    )
}

#[server(prefix = "/api/fn", endpoint = "set_alert_channel_enabled", output = kiln_shared::wire::JsonText)]
pub async fn set_alert_channel_enabled(id: i64, enabled: bool) -> Result<Channel, AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?
                .set_channel_enabled(&actor, id, enabled)
                .await
        }
        .await,
        "channel_saved",
    )
}

#[server(prefix = "/api/fn", endpoint = "delete_alert_channel", output = kiln_shared::wire::JsonText)]
pub async fn delete_alert_channel(id: i64) -> Result<(), AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.delete_channel(&actor, id).await
        }
        .await,
        "channel_deleted",
    )
}

/// Sends a test message now; the answer is the delivery (sent, or failed with why).
#[server(prefix = "/api/fn", endpoint = "test_alert_channel", output = kiln_shared::wire::JsonText)]
pub async fn test_alert_channel(id: i64) -> Result<Delivery, AppError> {
    ssr::respond_noticed(
        async {
            let actor = ssr::require_user()?;
            ssr::alerts_backend()?.test_channel(&actor, id).await
        }
        .await,
        "test_done",
    )
}
