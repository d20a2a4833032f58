//! The dispatcher: a task that sends due deliveries (`alert_deliveries`, state `pending`,
//! `next_at` passed) and records each attempt. A failure is tried again after
//! `base × 2^(attempt − 1)` (capped at `max_delay`), until `max_attempts`; then the delivery is
//! `failed` and the alerts page shows it with its last error.
//!
//! Claims are short (`FOR UPDATE SKIP LOCKED` in one statement, held by `locked_until`): no
//! transaction stays open while a request is on the wire, and a sender that dies leaves the
//! delivery to be claimed again when its claim expires (a receiver may then get it twice; the
//! `delivery_id` in every body lets it tell).

use std::time::Duration;

use chrono::Utc;
use kiln_shared::alerts::ChannelKind;

use super::delivery::{Event, Notice, Sender};
use crate::app_state::AppState;
use crate::db::alert_channels::{self as channels, ChannelRow};
use crate::db::alert_deliveries::{self as deliveries, DueDelivery};
use crate::db::alerts as queries;

/// How the dispatcher paces itself.
#[derive(Debug, Clone, Copy)]
pub struct DispatchOptions {
    /// The first retry's delay; each further one doubles it.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// How often it looks for due deliveries without a wake-up (other replicas', retries).
    pub poll: Duration,
}

impl Default for DispatchOptions {
    /// 30 s, 1 min, 2 min, ... up to 1 h between tries; 10 attempts (about 4 h in all).
    fn default() -> Self {
        DispatchOptions {
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            max_attempts: 10,
            poll: Duration::from_secs(5),
        }
    }
}

impl DispatchOptions {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Deliveries taken per claim.
const BATCH: i64 = 20;
/// How long a claim holds (longer than a send's 10 s timeout).
const HOLD_SECS: i32 = 60;

pub struct Dispatcher {
    state: AppState,
    options: DispatchOptions,
    sender: Option<Sender>,
}

impl Dispatcher {
    pub fn new(state: AppState, options: DispatchOptions) -> Self {
        let sender = Sender::new()
            .inspect_err(|e| tracing::error!(error = %format!("{e:#}"), "alerts: no HTTP client"))
            .ok();
        Dispatcher {
            state,
            options,
            sender,
        }
    }

    /// Sends what is due, then sleeps until woken or the poll interval passes.
    pub async fn run(self) {
        let Some(sender) = self.sender.clone() else {
            return;
        };
        loop {
            let notified = self.state.alerts.notified();
            match self.send_due(&sender).await {
                // A full batch: there may be more.
                Ok(n) if n >= usize::try_from(BATCH).unwrap_or(usize::MAX) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "alerts: sending deliveries failed");
                }
            }
            let _ = tokio::time::timeout(self.options.poll, notified).await;
        }
    }

    /// Claims and sends one batch; returns how many it took.
    pub async fn send_due(&self, sender: &Sender) -> anyhow::Result<usize> {
        let due = {
            let mut conn = self.state.db.get().await?;
            deliveries::claim_due(&mut conn, BATCH, HOLD_SECS).await?
        };
        let n = due.len();
        let sends = due.into_iter().map(|d| self.deliver(sender, d));
        for result in futures::future::join_all(sends).await {
            if let Err(e) = result {
                tracing::warn!(error = %format!("{e:#}"), "alerts: recording a delivery failed");
            }
        }
        Ok(n)
    }

    /// One attempt of one delivery, recorded.
    async fn deliver(&self, sender: &Sender, due: DueDelivery) -> anyhow::Result<()> {
        let mut conn = self.state.db.get().await?;
        let channel = channels::channel(&mut conn, None, due.channel_id).await?;
        let alert = match due.alert_id {
            Some(id) => queries::alert(&mut conn, id).await?,
            None => None,
        };
        drop(conn);
        let outcome = match (channel, Event::parse(&due.event)) {
            // Turned off after the delivery was queued: nothing is sent.
            (Some(channel), Some(event)) if !channel.enabled && event != Event::Test => {
                Err("the channel is turned off".to_owned())
            }
            (Some(channel), Some(event)) => {
                let notice = Notice {
                    delivery_id: due.id,
                    event,
                    alert,
                    at: Utc::now(),
                };
                send_to(&self.state, sender, &channel, &notice).await
            }
            _ => Err("the channel is gone".to_owned()),
        };
        let attempt = u32::try_from(due.attempts).unwrap_or(u32::MAX);
        let give_up = matches!(&outcome, Err(e) if e == "the channel is turned off");
        let mut conn = self.state.db.get().await?;
        match outcome {
            Ok(()) => {
                tracing::info!(
                    delivery.id = due.id,
                    channel.id = due.channel_id,
                    "alert delivered"
                );
                deliveries::record_attempt(&mut conn, due.id, Ok(())).await?;
            }
            Err(error) => {
                let retry_at = (attempt < self.options.max_attempts && !give_up).then(|| {
                    let delay = self.options.delay_after(attempt);
                    Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default()
                });
                tracing::warn!(
                    delivery.id = due.id,
                    channel.id = due.channel_id,
                    attempt,
                    retry = retry_at.is_some(),
                    "alert delivery failed: {error}"
                );
                deliveries::record_attempt(&mut conn, due.id, Err((&error, retry_at))).await?;
            }
        }
        Ok(())
    }
}

/// Opens the channel's sealed URL (and key) and sends `notice`.
pub async fn send_to(
    state: &AppState,
    sender: &Sender,
    channel: &ChannelRow,
    notice: &Notice,
) -> Result<(), String> {
    let kind = channel
        .kind()
        .ok_or_else(|| "unknown channel kind".to_owned())?;
    let key = &state.secret_key;
    let url = key
        .decrypt_string(&channel.url_sealed, &ChannelRow::url_context(channel.id))
        .map_err(|_| "the channel's URL cannot be decrypted (wrong KILN_SECRET_KEY?)".to_owned())?;
    let secret = match (&channel.secret_sealed, kind) {
        (Some(sealed), ChannelKind::Webhook) => Some(
            key.decrypt(sealed, &ChannelRow::secret_context(channel.id))
                .map_err(|_| "the webhook's key cannot be decrypted".to_owned())?,
        ),
        _ => None,
    };
    sender.send(kind, &url, secret.as_deref(), notice).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = DispatchOptions::default();
        assert_eq!(o.delay_after(1), Duration::from_secs(30));
        assert_eq!(o.delay_after(2), Duration::from_secs(60));
        assert_eq!(o.delay_after(4), Duration::from_secs(240));
        assert_eq!(o.delay_after(9), Duration::from_secs(3600));
        assert_eq!(o.delay_after(60), Duration::from_secs(3600));
    }
}
