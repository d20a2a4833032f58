//! Alerts: what the alerts pages exchange (rules, channels, alerts, deliveries) and the rules
//! their forms are held to, in the browser and on the server alike.
//!
//! A rule watches one kind of trouble for its owner ([`RuleKind`]); when it holds (for
//! `minutes` where that applies) an [`Alert`] fires once, and it resolves once when the trouble
//! has cleared. Each enabled [`Channel`] of the owner is told of both.

use serde::{Deserialize, Serialize};

use crate::validate::FieldErrors;

/// Threshold bounds, in percent.
pub const THRESHOLD_MIN: u32 = 1;
pub const THRESHOLD_MAX: u32 = 100;
/// "For N minutes" bounds (one day at most).
pub const MINUTES_MIN: u32 = 1;
pub const MINUTES_MAX: u32 = 1440;
/// A channel's name length bounds, in characters.
pub const NAME_MAX: usize = 64;
/// The longest channel URL, in bytes.
pub const URL_MAX: usize = 2048;
/// A threshold alert resolves once its value is this many points below the threshold (and
/// stays there for [`CLEAR_SECS`]); between the two it neither fires nor resolves.
pub const MARGIN: f64 = 5.0;
/// How long a condition must have cleared before its alert resolves, in seconds.
pub const CLEAR_SECS: i64 = 60;
/// How many rules and channels one user may keep.
pub const MAX_RULES: usize = 100;
pub const MAX_CHANNELS: usize = 20;

/// The kinds of trouble a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A container was running and is now stopped, without an action from Kiln and without a
    /// PVE lock (a backup, a migration) explaining it.
    ContainerDown,
    /// A node does not answer (for `minutes`, or at once).
    NodeUnreachable,
    /// A running guest's CPU is at or above `threshold` % for `minutes`.
    Cpu,
    /// A running guest's memory use is at or above `threshold` % of its limit for `minutes`.
    Memory,
    /// A guest's root disk is at or above `threshold` % full for `minutes`.
    Disk,
    /// A creation job ended failed.
    JobFailed,
}

impl RuleKind {
    pub const ALL: [RuleKind; 6] = [
        RuleKind::ContainerDown,
        RuleKind::NodeUnreachable,
        RuleKind::Cpu,
        RuleKind::Memory,
        RuleKind::Disk,
        RuleKind::JobFailed,
    ];

    /// The word stored and posted (`container_down`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::ContainerDown => "container_down",
            RuleKind::NodeUnreachable => "node_unreachable",
            RuleKind::Cpu => "cpu",
            RuleKind::Memory => "memory",
            RuleKind::Disk => "disk",
            RuleKind::JobFailed => "job_failed",
        }
    }

    pub fn parse(word: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// What a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            RuleKind::ContainerDown => "Container down",
            RuleKind::NodeUnreachable => "Node unreachable",
            RuleKind::Cpu => "CPU above threshold",
            RuleKind::Memory => "Memory above threshold",
            RuleKind::Disk => "Disk above threshold",
            RuleKind::JobFailed => "Creation failed",
        }
    }

    /// Whether the rule has a threshold (and then needs `minutes` too).
    pub fn has_threshold(self) -> bool {
        matches!(self, RuleKind::Cpu | RuleKind::Memory | RuleKind::Disk)
    }

    /// Whether `minutes` means anything for it.
    pub fn uses_minutes(self) -> bool {
        self.has_threshold() || self == RuleKind::NodeUnreachable
    }

    /// Whether it may be scoped to one container (a node scope suits every kind).
    pub fn per_container(self) -> bool {
        self != RuleKind::NodeUnreachable
    }
}

/// What a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// Everything of the owner's.
    #[default]
    All,
    /// One of the owner's nodes (and its guests).
    Node(i64),
    /// One of the owner's containers.
    Container(i64),
}

impl Scope {
    /// The form's word: empty, `node:<id>` or `container:<id>`.
    pub fn to_form(self) -> String {
        match self {
            Scope::All => String::new(),
            Scope::Node(id) => format!("node:{id}"),
            Scope::Container(id) => format!("container:{id}"),
        }
    }

    /// Parses [`Scope::to_form`]'s words.
    pub fn from_form(word: &str) -> Option<Scope> {
        let word = word.trim();
        if word.is_empty() || word == "all" {
            return Some(Scope::All);
        }
        let (kind, id) = word.split_once(':')?;
        let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
        match kind {
            "node" => Some(Scope::Node(id)),
            "container" => Some(Scope::Container(id)),
            _ => None,
        }
    }
}

/// A rule as its form sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInput {
    pub kind: RuleKind,
    pub enabled: bool,
    /// Percent (thresholds only).
    pub threshold: Option<u32>,
    /// For how long (thresholds: required; node unreachable: `None` is at once).
    pub minutes: Option<u32>,
    pub scope: Scope,
}

impl RuleInput {
    /// The rule from its form's fields (`kind`, `enabled`, `threshold`, `minutes`, `scope`),
    /// each field's mistake under its name.
    pub fn from_form(
        kind: &str,
        enabled: Option<&str>,
        threshold: &str,
        minutes: &str,
        scope: &str,
    ) -> Result<RuleInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let kind = RuleKind::parse(kind.trim());
        if kind.is_none() {
            errors.add("kind", "Choose what the rule watches.");
        }
        let number = |field: &str, text: &str, errors: &mut FieldErrors| {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            match text.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.add(field, "Enter a whole number.");
                    None
                }
            }
        };
        let threshold = number("threshold", threshold, &mut errors);
        let minutes = number("minutes", minutes, &mut errors);
        let scope = Scope::from_form(scope).unwrap_or_else(|| {
            errors.add("scope", "Choose what the rule applies to.");
            Scope::All
        });
        let enabled = enabled.is_some_and(|v| matches!(v, "on" | "true" | "1"));
        let input = RuleInput {
            kind: kind.unwrap_or(RuleKind::ContainerDown),
            enabled,
            threshold,
            minutes,
            scope,
        };
        if let Err(more) = input.validate() {
            for (field, message) in more.iter() {
                errors.add(field, message);
            }
        }
        errors.into_result().map(|()| input)
    }

    /// Drops what the kind does not use (a threshold on a node rule...).
    pub fn normalized(mut self) -> RuleInput {
        if !self.kind.has_threshold() {
            self.threshold = None;
        }
        if !self.kind.uses_minutes() {
            self.minutes = None;
        }
        if !self.kind.per_container() && matches!(self.scope, Scope::Container(_)) {
            self.scope = Scope::All;
        }
        self
    }

    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.kind.has_threshold() {
            match self.threshold {
                Some(t) => errors.check("threshold", threshold(t)),
                None => errors.add("threshold", "Enter a threshold in percent."),
            }
            match self.minutes {
                Some(m) => errors.check("minutes", minutes(m)),
                None => errors.add("minutes", "Enter for how many minutes."),
            }
        } else if self.kind.uses_minutes()
            && let Some(m) = self.minutes
        {
            errors.check("minutes", minutes(m));
        }
        if !self.kind.per_container() && matches!(self.scope, Scope::Container(_)) {
            errors.add("scope", "A node rule applies to a node.");
        }
        errors.into_result()
    }
}

/// A threshold: 1 to 100 percent.
pub fn threshold(value: u32) -> Result<(), String> {
    if (THRESHOLD_MIN..=THRESHOLD_MAX).contains(&value) {
        Ok(())
    } else {
        Err(format!("Use {THRESHOLD_MIN} to {THRESHOLD_MAX} percent."))
    }
}

/// A duration: 1 to 1440 minutes.
pub fn minutes(value: u32) -> Result<(), String> {
    if (MINUTES_MIN..=MINUTES_MAX).contains(&value) {
        Ok(())
    } else {
        Err(format!("Use {MINUTES_MIN} to {MINUTES_MAX} minutes."))
    }
}

/// A threshold as typed (for the form's live check).
pub fn threshold_text(value: &str) -> Result<(), String> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| "Enter a whole number.".to_owned())
        .and_then(threshold)
}

/// Minutes as typed (empty allowed: "at once" where the kind allows it; the server decides).
pub fn minutes_text(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Ok(());
    }
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| "Enter a whole number.".to_owned())
        .and_then(minutes)
}

/// A rule as the pages show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    pub id: i64,
    pub kind: RuleKind,
    pub enabled: bool,
    pub threshold: Option<u32>,
    pub minutes: Option<u32>,
    pub scope: Scope,
    /// The scope's name (node or container), when scoped.
    pub scope_name: Option<String>,
}

impl Rule {
    /// One line: "CPU ≥ 90 % for 5 min on pve1".
    pub fn summary(&self) -> String {
        let mut text = match self.kind {
            RuleKind::Cpu | RuleKind::Memory | RuleKind::Disk => format!(
                "{} ≥ {} % for {} min",
                match self.kind {
                    RuleKind::Cpu => "CPU",
                    RuleKind::Memory => "Memory",
                    _ => "Disk",
                },
                self.threshold.unwrap_or_default(),
                self.minutes.unwrap_or_default()
            ),
            RuleKind::NodeUnreachable => match self.minutes {
                Some(m) => format!("Node unreachable for {m} min"),
                None => "Node unreachable".to_owned(),
            },
            other => other.label().to_owned(),
        };
        match (&self.scope, &self.scope_name) {
            (Scope::All, _) => text.push_str(", everywhere"),
            (_, Some(name)) => {
                text.push_str(" on ");
                text.push_str(name);
            }
            (_, None) => text.push_str(" on a deleted object"),
        }
        text
    }
}

/// Where notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A JSON POST signed with `X-Kiln-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    Webhook,
    /// An ntfy topic URL (`https://ntfy.sh/<topic>`): the text as the body, with `Title`,
    /// `Priority` and `Tags` headers.
    Ntfy,
    /// A Discord webhook URL (`{"content": ..., "embeds": [...]}`).
    Discord,
    /// A Slack-compatible incoming webhook (`{"text": ..., "blocks": [...]}`; Mattermost and
    /// Rocket.Chat read it too).
    Slack,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Webhook,
        ChannelKind::Ntfy,
        ChannelKind::Discord,
        ChannelKind::Slack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Discord => "discord",
            ChannelKind::Slack => "slack",
        }
    }

    pub fn parse(word: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == word)
    }

    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "Webhook (signed JSON)",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Discord => "Discord",
            ChannelKind::Slack => "Slack-compatible",
        }
    }
}

/// A new channel as its form sends it. `url` is a secret of sorts (Discord's and Slack's
/// URLs carry their token): it is sealed at rest and never shown again whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInput {
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
}

impl ChannelInput {
    /// The channel from its form's fields, each mistake under its field's name.
    pub fn from_form(name: &str, kind: &str, url: &str) -> Result<ChannelInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let kind = ChannelKind::parse(kind.trim());
        if kind.is_none() {
            errors.add("kind", "Choose the kind of channel.");
        }
        let input = ChannelInput {
            name: name.trim().to_owned(),
            kind: kind.unwrap_or(ChannelKind::Webhook),
            url: url.trim().to_owned(),
        };
        if let Err(more) = input.validate() {
            for (field, message) in more.iter() {
                errors.add(field, message);
            }
        }
        errors.into_result().map(|()| input)
    }

    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        errors.check("name", channel_name(&self.name));
        errors.check("url", channel_url(&self.url));
        errors.into_result()
    }
}

/// A channel's name: 1–64 characters, no control characters.
pub fn channel_name(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > NAME_MAX {
        return Err(format!("Use 1 to {NAME_MAX} characters."));
    }
    if value.chars().any(char::is_control) {
        return Err("Use printable characters only.".into());
    }
    Ok(())
}

/// A channel's URL: `http://` or `https://`, a host, at most 2,048 bytes, no spaces, no
/// user name or password in it.
pub fn channel_url(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the URL to post to.".into());
    }
    if value.len() > URL_MAX {
        return Err(format!("Use at most {URL_MAX} characters."));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("A URL has no spaces.".into());
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| "Use an http:// or https:// URL.".to_owned())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("Put no user name or password in the URL.".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("The URL needs a host.".into());
    }
    Ok(())
}

/// What the page shows of a channel's URL: its scheme and host (the path may hold a token).
pub fn url_hint(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let more = rest.len() > authority.len();
    format!("{scheme}://{authority}{}", if more { "/…" } else { "" })
}

/// A channel as the pages show it (never its URL whole, never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// Scheme and host of its URL.
    pub url_hint: String,
    pub enabled: bool,
    /// Its last delivery, for "last sent 10:02" or "failing: 500".
    pub last: Option<Delivery>,
}

/// The answer to adding a webhook: its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelCreated {
    pub channel: Channel,
    /// The HMAC key (webhooks only), hex; Kiln never shows it again.
    pub secret: Option<String>,
}

/// An alert, fired and perhaps resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: i64,
    pub kind: RuleKind,
    /// One line: "CT 105 (web) on pve1 is down".
    pub title: String,
    /// What was seen: "was running, now stopped", "CPU 97 % for 5 min"...
    pub detail: String,
    pub container_id: Option<i64>,
    /// RFC 3339 times.
    pub fired_at: String,
    pub resolved_at: Option<String>,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
}

impl Alert {
    pub fn is_active(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not sent yet, or to be tried again at `next_at`.
    Pending,
    Sent,
    /// Gave up after the last attempt.
    Failed,
}

/// One notification to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    /// `fired`, `resolved` or `test`.
    pub event: String,
    /// The alert's title (none for a test).
    pub alert: Option<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    /// RFC 3339: the next try of a pending delivery.
    pub next_at: Option<String>,
    /// Why the last attempt failed (status or error; never the URL).
    pub last_error: Option<String>,
    pub created_at: String,
}

/// The alerts page: the active alerts, the recent history, and the deliveries that failed or
/// are being retried.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertsOverview {
    pub active: Vec<Alert>,
    pub history: Vec<Alert>,
    pub troubled: Vec<Delivery>,
}

/// A choice for a rule's scope: (form word, label).
pub type ScopeChoice = (String, String);

/// The settings page: rules, channels, and what a rule may be scoped to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertSettings {
    pub rules: Vec<Rule>,
    pub channels: Vec<Channel>,
    pub scopes: Vec<ScopeChoice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_with_a_host() {
        assert!(channel_url("https://ntfy.sh/kiln-alerts").is_ok());
        assert!(channel_url("http://127.0.0.1:8080/hook?x=1").is_ok());
        assert!(channel_url("http://[::1]:9/x").is_ok());
        assert!(channel_url("ftp://example.com").is_err());
        assert!(channel_url("javascript:alert(1)").is_err());
        assert!(channel_url("https://").is_err());
        assert!(channel_url("https://user:pw@example.com/").is_err());
        assert!(channel_url("https://exa mple.com/").is_err());
        assert!(channel_url(&format!("https://e.com/{}", "a".repeat(URL_MAX))).is_err());
    }

    #[test]
    fn hints_hide_the_path() {
        assert_eq!(
            url_hint("https://discord.com/api/webhooks/1/secret"),
            "https://discord.com/…"
        );
        assert_eq!(url_hint("https://ntfy.sh"), "https://ntfy.sh");
    }

    #[test]
    fn rules_check_their_numbers() {
        let ok = RuleInput::from_form("cpu", Some("on"), "90", "5", "");
        assert_eq!(
            ok,
            Ok(RuleInput {
                kind: RuleKind::Cpu,
                enabled: true,
                threshold: Some(90),
                minutes: Some(5),
                scope: Scope::All,
            })
        );
        let err = RuleInput::from_form("cpu", None, "0", "1441", "node:x").err();
        let err = err.unwrap_or_default();
        assert!(err.get("threshold").is_some());
        assert!(err.get("minutes").is_some());
        assert!(err.get("scope").is_some());
        assert!(
            RuleInput::from_form("memory", None, "", "5", "")
                .err()
                .is_some_and(|e| e.get("threshold").is_some())
        );
        assert!(RuleInput::from_form("node_unreachable", None, "", "", "node:3").is_ok());
        assert!(RuleInput::from_form("node_unreachable", None, "", "", "container:3").is_err());
        assert!(RuleInput::from_form("nope", None, "", "", "").is_err());
    }

    #[test]
    fn scopes_round_trip() {
        for scope in [Scope::All, Scope::Node(3), Scope::Container(42)] {
            assert_eq!(Scope::from_form(&scope.to_form()), Some(scope));
        }
        assert_eq!(Scope::from_form("node:-1"), None);
    }
}
