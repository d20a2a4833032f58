//! What a container's page (`/containers/{id}`) exchanges beyond the creation: its tabs, the
//! overview with the node's live figures, the Proxmox config as the node sends it, a page of
//! events, a refresh of the services and a unit's journal — and the rules for what the URL
//! query and the buttons may ask (a unit's name, an event filter word).

use serde::{Deserialize, Serialize};

use crate::containers::ContainerDetail;
use crate::progress::ContainerEvent;

/// The tabs of a container's page, from `?tab=` (plain links, so they work without
/// JavaScript).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageTab {
    /// Status, node, addresses, resources with live usage, config summary, notes.
    Overview,
    /// The services found, their logins and logs; *Refresh*.
    Services,
    /// The creation's events and every later action, newest first.
    Events,
    /// Charts of its history (`&range=`), with CSV/JSON exports.
    Metrics,
    /// The Proxmox config, every key as the node sends it.
    Config,
}

impl PageTab {
    /// Every tab, in the order the page shows them.
    pub const ALL: [PageTab; 5] = [
        PageTab::Overview,
        PageTab::Services,
        PageTab::Events,
        PageTab::Metrics,
        PageTab::Config,
    ];

    /// The tab `?tab=` names; the overview for anything else.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("services") => PageTab::Services,
            Some("events") => PageTab::Events,
            Some("metrics") => PageTab::Metrics,
            Some("config") => PageTab::Config,
            _ => PageTab::Overview,
        }
    }

    /// Its word in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            PageTab::Overview => "overview",
            PageTab::Services => "services",
            PageTab::Events => "events",
            PageTab::Metrics => "metrics",
            PageTab::Config => "config",
        }
    }

    /// Its label.
    pub fn label(self) -> &'static str {
        match self {
            PageTab::Overview => "Overview",
            PageTab::Services => "Services",
            PageTab::Events => "Events",
            PageTab::Metrics => "Metrics",
            PageTab::Config => "Config",
        }
    }
}

/// The longest systemd unit name (systemd's own limit).
pub const UNIT_NAME_MAX: usize = 256;

/// A systemd service unit's name as Kiln passes it to `journalctl -u`: `name.service` or
/// `name@instance.service`, letters, digits and `:_.@-\` only, not starting with `-` or `.`
/// (so it can never be read as an option), at most 256 bytes.
pub fn validate_unit_name(unit: &str) -> Result<(), String> {
    if unit.is_empty() {
        return Err("name a service unit".into());
    }
    if unit.len() > UNIT_NAME_MAX {
        return Err(format!(
            "a unit name has at most {UNIT_NAME_MAX} characters"
        ));
    }
    if unit.starts_with(['-', '.', '@']) {
        return Err("a unit name starts with a letter or digit".into());
    }
    if !unit
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '-' | '\\'))
    {
        return Err("a unit name has only letters, digits and : _ . @ - \\".into());
    }
    let Some(stem) = unit.strip_suffix(".service") else {
        return Err("only service units (`name.service`) have logs here".into());
    };
    if stem.is_empty() {
        return Err("name a service unit".into());
    }
    if stem.matches('@').count() > 1 {
        return Err("a unit name has at most one @".into());
    }
    Ok(())
}

/// The longest filter word ([`validate_filter_word`]).
pub const FILTER_WORD_MAX: usize = 32;

/// An events filter value (`?kind=`, `?phase=`): a word of lower-case letters, digits, `-`,
/// `_` and `.`, at most 32.
pub fn validate_filter_word(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > FILTER_WORD_MAX {
        return Err(format!("a filter is 1 to {FILTER_WORD_MAX} characters"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err("a filter has only lower-case letters, digits, - _ .".into());
    }
    Ok(())
}

/// How long after the session last proved the user's password (sign-in, or the password
/// asked again) a credential is revealed without asking for it again: 10 minutes.
pub const REAUTH_AFTER_SECS: i64 = 600;

/// The field of the `Invalid` answer that asks for the password again before a reveal (the
/// reveal island shows a password field when it sees it).
pub const REAUTH_FIELD: &str = "password";

/// The message asking for the password again.
pub const REAUTH_MESSAGE: &str = "Enter your password again to reveal credentials.";

/// The node's live figures of a container (`status/current`); `None` where the node does not
/// say (a stopped container has no usage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// `running` or `stopped`.
    pub status: String,
    /// CPU use, as a share of its CPUs (0.0–1.0).
    pub cpu: Option<f64>,
    /// Its CPUs.
    pub cpus: Option<f64>,
    /// Memory in use and the limit, bytes.
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
    /// Root disk in use and its size, bytes.
    pub disk: Option<u64>,
    pub maxdisk: Option<u64>,
    /// Swap in use and the limit, bytes.
    pub swap: Option<u64>,
    pub maxswap: Option<u64>,
    /// Seconds since it started.
    pub uptime: Option<u64>,
}

/// The config keys the overview summarizes (the Config tab has them all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSummary {
    /// `debian`, `ubuntu`, ...
    pub ostype: Option<String>,
    pub cores: Option<u32>,
    /// MiB.
    pub memory: Option<u64>,
    /// MiB.
    pub swap: Option<u64>,
    pub rootfs: Option<String>,
    pub net0: Option<String>,
    pub features: Option<String>,
    pub onboot: bool,
    pub unprivileged: bool,
    /// The node's tags.
    pub tags: Vec<String>,
    /// The description without Kiln's `kiln-job-<id>` marker; `None` when nothing is left.
    pub notes: Option<String>,
}

/// What the node says about a container right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveState {
    /// The cluster member it is on.
    pub member: String,
    /// The live figures.
    pub usage: Usage,
    /// The config summary.
    pub config: ConfigSummary,
    /// Its addresses (`eth0 10.0.0.5/24`), from the node's `interfaces` (empty while stopped).
    pub addresses: Vec<String>,
}

/// The Overview tab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerOverview {
    /// What Kiln knows (summary, request, services...).
    pub detail: ContainerDetail,
    /// The template version (content hash) the container was made from.
    pub template_hash: Option<String>,
    /// Whether the template is still at that version (`None`: no template, or it is gone).
    pub template_current: Option<bool>,
    /// The node's view; `None` when it was not asked (no VMID yet) or did not answer.
    pub live: Option<LiveState>,
    /// Why there is no live view ("the node is not answering: …").
    pub node_note: Option<String>,
}

/// The Config tab: the container's config exactly as Proxmox returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PveConfig {
    /// The cluster member it is on.
    pub member: String,
    /// The VMID.
    pub vmid: u32,
    /// Every key with its value as sent (a string as is, a number as written), sorted by key;
    /// `digest` included.
    pub entries: Vec<(String, String)>,
    /// The config's `digest`.
    pub digest: Option<String>,
}

/// Which events to show (from the URL query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFilter {
    /// Only this kind (`phase`, `log`, `outcome`, ...).
    pub kind: Option<String>,
    /// Only this phase (`create`, `discover`, ...).
    pub phase: Option<String>,
    /// Only events numbered below this one (the next page).
    pub before: Option<i64>,
}

/// The most events one page of the Events tab shows.
pub const EVENTS_PAGE: i64 = 100;

/// A page of the Events tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<ContainerEvent>,
    /// The kinds and phases the container's events have (the filter's choices).
    pub kinds: Vec<String>,
    pub phases: Vec<String>,
    /// `before` of the next (older) page, when there is one.
    pub older: Option<i64>,
}

/// What a *Refresh* of the services found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refreshed {
    /// Services found.
    pub services: usize,
    /// Credentials found.
    pub credentials: usize,
}

/// The most lines of a unit's journal shown.
pub const LOG_LINES: usize = 200;

/// The last lines of a unit's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLogs {
    /// The unit.
    pub unit: String,
    /// Its last lines (ANSI stripped, each bounded), oldest first.
    pub lines: Vec<String>,
    /// Whether lines or bytes were cut.
    pub truncated: bool,
}

/// A description without Kiln's marker word `kiln-job-<digits>` (and the blank lines it
/// leaves); `None` when nothing else is in it.
pub fn notes_without_marker(description: &str) -> Option<String> {
    let cleaned: Vec<String> = description
        .lines()
        .map(|line| {
            line.split(' ')
                .filter(|word| !is_marker(word))
                .collect::<Vec<_>>()
                .join(" ")
                .trim_end()
                .to_owned()
        })
        .collect();
    let text = cleaned.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `kiln-job-<digits>`.
fn is_marker(word: &str) -> bool {
    word.strip_prefix("kiln-job-")
        .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_come_from_the_query() {
        assert_eq!(PageTab::parse(Some("services")), PageTab::Services);
        assert_eq!(PageTab::parse(Some("config")), PageTab::Config);
        assert_eq!(PageTab::parse(Some("nope")), PageTab::Overview);
        assert_eq!(PageTab::parse(None), PageTab::Overview);
        for tab in PageTab::ALL {
            assert_eq!(PageTab::parse(Some(tab.as_str())), tab);
        }
    }

    #[test]
    fn unit_names() {
        for ok in [
            "nginx.service",
            "postgresql@15-main.service",
            "systemd-networkd.service",
            "a:b_c.service",
            "dev-disk-by\\x2duuid.service",
        ] {
            assert_eq!(validate_unit_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-nginx.service",
            "--since=1.service",
            ".service",
            "@x.service",
            "nginx",
            "nginx.socket",
            "nginx service.service",
            "nginx;reboot.service",
            "$(id).service",
            "a'b.service",
            "a@b@c.service",
            "ngïnx.service",
        ] {
            assert!(validate_unit_name(bad).is_err(), "{bad}");
        }
        assert!(validate_unit_name(&format!("{}.service", "a".repeat(256))).is_err());
    }

    #[test]
    fn filter_words() {
        assert_eq!(validate_filter_word("outcome"), Ok(()));
        assert_eq!(validate_filter_word("cancel-creation"), Ok(()));
        for bad in ["", "Log", "a b", "x;y", &"a".repeat(33)] {
            assert!(validate_filter_word(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_marker_is_not_a_note() {
        assert_eq!(notes_without_marker("kiln-job-17"), None);
        assert_eq!(
            notes_without_marker("Made by Kiln kiln-job-17\n\nmy notes"),
            Some("Made by Kiln\n\nmy notes".into())
        );
        assert_eq!(
            notes_without_marker("kiln-job-x stays"),
            Some("kiln-job-x stays".into())
        );
    }
}
