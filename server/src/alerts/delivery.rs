//! What a notification looks like on each kind of channel, and sending it.
//!
//! - **webhook**: `POST` of a JSON [`WebhookBody`] with `X-Kiln-Signature: sha256=<hex>`, the
//!   HMAC-SHA256 of the exact body bytes under the channel's key (the secret shown once when
//!   the channel was added, its text as the key), plus `X-Kiln-Event` and `X-Kiln-Delivery`.
//! - **ntfy**: `POST` of the detail as plain text to the topic URL, with `Title`, `Priority`
//!   (4 fired, 3 resolved, 2 test) and `Tags` headers (ASCII: other characters become `?`).
//! - **Discord**: `{"content", "embeds": [{"title", "description", "color", "timestamp"}],
//!   "allowed_mentions": {"parse": []}}` (no one is pinged by a name in a title).
//! - **Slack** and compatible: `{"text", "blocks": [{"type": "section", "text": {"type":
//!   "mrkdwn", ...}}]}`.
//!
//! The client: rustls with the ring provider and the platform's roots, no redirects followed
//! (a redirect would carry the body elsewhere), a 5 s connect and 10 s total timeout, no
//! proxy from the environment. An error is described without the URL ([`describe`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kiln_shared::alerts::ChannelKind;
use ring::hmac;
use serde::Serialize;

use crate::db::alerts::AlertRow;

/// The signature header of a webhook.
pub const SIGNATURE_HEADER: &str = "X-Kiln-Signature";

/// What a delivery tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Fired,
    Resolved,
    Test,
}

impl Event {
    pub fn parse(word: &str) -> Option<Event> {
        match word {
            "fired" => Some(Event::Fired),
            "resolved" => Some(Event::Resolved),
            "test" => Some(Event::Test),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Fired => "fired",
            Event::Resolved => "resolved",
            Event::Test => "test",
        }
    }
}

/// One notification, ready to be formatted for a channel.
#[derive(Debug, Clone)]
pub struct Notice {
    pub delivery_id: i64,
    pub event: Event,
    /// The alert (none for a test).
    pub alert: Option<AlertRow>,
    pub at: DateTime<Utc>,
}

impl Notice {
    /// One line: "🔴 CT 105 (web) on pve1 is down", "✅ Resolved: …", "Kiln test message".
    pub fn title(&self) -> String {
        match (&self.alert, self.event) {
            (Some(a), Event::Resolved) => format!("Resolved: {}", a.title),
            (Some(a), _) => a.title.clone(),
            (None, _) => "Kiln test message".to_owned(),
        }
    }

    /// The text under the title.
    pub fn text(&self) -> String {
        match (&self.alert, self.event) {
            (Some(a), Event::Resolved) => format!(
                "Cleared. It was: {} (fired {} UTC)",
                a.detail,
                a.fired_at.format("%Y-%m-%d %H:%M:%S")
            ),
            (Some(a), _) => a.detail.clone(),
            (None, _) => "This channel works: Kiln will send alerts here.".to_owned(),
        }
    }
}

/// The JSON a webhook receives.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookBody {
    /// `fired`, `resolved` or `test`.
    pub event: &'static str,
    /// The delivery's id (the same in every retry of it: a receiver can drop repeats).
    pub delivery_id: i64,
    pub sent_at: String,
    pub title: String,
    pub text: String,
    pub alert: Option<WebhookAlert>,
}

/// The alert in a webhook's body.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookAlert {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub title: String,
    pub detail: String,
    pub node_id: Option<i64>,
    pub container_id: Option<i64>,
    pub vmid: Option<i32>,
    pub fired_at: String,
    pub resolved_at: Option<String>,
}

pub fn webhook_body(n: &Notice) -> WebhookBody {
    WebhookBody {
        event: n.event.as_str(),
        delivery_id: n.delivery_id,
        sent_at: n.at.to_rfc3339(),
        title: n.title(),
        text: n.text(),
        alert: n.alert.as_ref().map(|a| WebhookAlert {
            id: a.id,
            kind: a.kind.clone(),
            subject: a.subject.clone(),
            title: a.title.clone(),
            detail: a.detail.clone(),
            node_id: a.node_id,
            container_id: a.container_id,
            vmid: a.vmid,
            fired_at: a.fired_at.to_rfc3339(),
            resolved_at: a.resolved_at.map(|t| t.to_rfc3339()),
        }),
    }
}

/// `sha256=<hex of HMAC-SHA256(key, body)>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

pub fn discord_body(n: &Notice) -> serde_json::Value {
    let (mark, color) = match n.event {
        Event::Fired => ("🔴", 0x00E0_3131),
        Event::Resolved => ("✅", 0x002F_9E44),
        Event::Test => ("🧪", 0x0018_64AB),
    };
    serde_json::json!({
        "content": format!("{mark} **{}**", n.title()),
        "embeds": [{
            "title": n.title(),
            "description": n.text(),
            "color": color,
            "timestamp": n.at.to_rfc3339(),
        }],
        "allowed_mentions": { "parse": [] },
    })
}

pub fn slack_body(n: &Notice) -> serde_json::Value {
    let mark = match n.event {
        Event::Fired => ":red_circle:",
        Event::Resolved => ":white_check_mark:",
        Event::Test => ":test_tube:",
    };
    serde_json::json!({
        "text": format!("{mark} {}: {}", n.title(), n.text()),
        "blocks": [{
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("{mark} *{}*\n{}", n.title(), n.text()) },
        }],
    })
}

/// ntfy's headers: (Title, Priority, Tags).
pub fn ntfy_headers(n: &Notice) -> (String, &'static str, String) {
    let (priority, tag) = match n.event {
        Event::Fired => ("4", "rotating_light"),
        Event::Resolved => ("3", "white_check_mark"),
        Event::Test => ("2", "test_tube"),
    };
    let kind = n.alert.as_ref().map_or("test", |a| a.kind.as_str());
    (ascii(&n.title()), priority, format!("{tag},kiln,{kind}"))
}

/// A header-safe copy: printable ASCII, anything else `?`, at most 250 characters.
fn ascii(text: &str) -> String {
    text.chars()
        .take(250)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The HTTP client every delivery goes through.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
}

impl Sender {
    pub fn new() -> anyhow::Result<Sender> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("Kiln/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender { http })
    }

    /// Sends `notice` to a channel of `kind` at `url` (`key`: a webhook's signing key).
    /// `Err` is one line for the page: a status or an error kind, never the URL.
    pub async fn send(
        &self,
        kind: ChannelKind,
        url: &str,
        key: Option<&[u8]>,
        notice: &Notice,
    ) -> Result<(), String> {
        let request = match kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(&webhook_body(notice))
                    .map_err(|e| format!("cannot encode the body: {e}"))?;
                let mut request = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("X-Kiln-Event", notice.event.as_str())
                    .header("X-Kiln-Delivery", notice.delivery_id.to_string());
                if let Some(key) = key {
                    request = request.header(SIGNATURE_HEADER, signature(key, &body));
                }
                request.body(body)
            }
            ChannelKind::Ntfy => {
                let (title, priority, tags) = ntfy_headers(notice);
                self.http
                    .post(url)
                    .header("Title", title)
                    .header("Priority", priority)
                    .header("Tags", tags)
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(notice.text())
            }
            ChannelKind::Discord | ChannelKind::Slack => {
                let body = if kind == ChannelKind::Discord {
                    discord_body(notice)
                } else {
                    slack_body(notice)
                };
                self.http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
            }
        };
        let response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {status}"))
        }
    }
}

/// A reqwest error in a line without its URL.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within 10 s".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_builder() {
        "the URL cannot be used".to_owned()
    } else if e.is_redirect() {
        "redirected (not followed)".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn headers_are_ascii() {
        assert_eq!(ascii("CT 105 (wéb)\n"), "CT 105 (w?b)?");
    }
}
