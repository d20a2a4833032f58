//! Alerts: what the alerts pages' server functions need.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_shared::AppError;
use kiln_shared::alerts::{
    Alert, AlertSettings, AlertsOverview, Channel, ChannelCreated, ChannelInput, Delivery, Rule,
    RuleInput,
};
use kiln_shared::auth::Actor;

/// Implemented by the server's `AlertService`. Alerts, rules and channels belong to one user:
/// every method is scoped to the actor, and another user's object is "not found" (404),
/// administrators included. Inputs are checked with the `kiln_shared::alerts` rules (422 by
/// field); every change to a rule or channel is audited.
#[async_trait]
pub trait AlertsBackend: Send + Sync + 'static {
    /// The active alerts, the recent history, and the deliveries in trouble.
    async fn overview(&self, actor: &Actor) -> Result<AlertsOverview, AppError>;
    /// How many active alerts nobody acknowledged (the top bar's badge).
    async fn unacknowledged(&self, actor: &Actor) -> Result<u32, AppError>;
    /// Acknowledges an alert (it stays active until it resolves).
    async fn acknowledge(&self, actor: &Actor, id: i64) -> Result<Alert, AppError>;
    /// Rules, channels, and what a rule may be scoped to.
    async fn settings(&self, actor: &Actor) -> Result<AlertSettings, AppError>;
    /// Adds (`id` `None`) or changes a rule; changing one closes its open alerts.
    async fn save_rule(
        &self,
        actor: &Actor,
        id: Option<i64>,
        input: RuleInput,
    ) -> Result<Rule, AppError>;
    async fn delete_rule(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
    /// Adds a channel; a webhook's signing secret is in the answer, this once.
    async fn add_channel(
        &self,
        actor: &Actor,
        input: ChannelInput,
    ) -> Result<ChannelCreated, AppError>;
    async fn set_channel_enabled(
        &self,
        actor: &Actor,
        id: i64,
        enabled: bool,
    ) -> Result<Channel, AppError>;
    async fn delete_channel(&self, actor: &Actor, id: i64) -> Result<(), AppError>;
    /// Sends a test message now and answers how it went (recorded as a delivery).
    async fn test_channel(&self, actor: &Actor, id: i64) -> Result<Delivery, AppError>;
}

/// The alerts backend as provided in context.
pub type SharedAlerts = Arc<dyn AlertsBackend>;

/// The alerts backend, or `Internal` when the server forgot to provide it.
pub fn alerts_backend() -> Result<SharedAlerts, AppError> {
    super::provided::<SharedAlerts>()
}
