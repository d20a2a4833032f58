//! Service discovery, the pure part: what Kiln runs in a container (two fixed bash files,
//! embedded — the helper library template scripts get, and the discovery script), and what it
//! makes of their output — systemd units the template added, their TCP ports (`ss -Hltnp`,
//! each listening process's unit from `/proc/<pid>/cgroup`), web URLs, and the credentials
//! scripts saved (`KEY=VALUE` files). The job (`create::discovery`) runs the commands and
//! stores the results.
//!
//! *Which services are the template's.* Before the files phase writes anything, the job
//! records every service unit the container knows (unit files and loaded units) in
//! `/var/lib/kiln/units.baseline` inside the container, once: a repeated or resumed phase
//! keeps the first list. Discovery reports the units that are enabled, running or failed now
//! and whose name (or, for an instance `name@x.service`, whose template `name@.service`) is
//! not in that list. A container without the list (made before Kiln took one) reports the
//! units that listen on a port, and says so.
//!
//! *Web URLs.* For each port of those units that listens beyond loopback, the discovery
//! script sends `HEAD / HTTP/1.0` from inside the container over bash's `/dev/tcp` (no curl
//! needed) and calls the port HTTP when the answer starts with `HTTP/`; where curl exists,
//! a port that is not plain HTTP is tried as HTTPS. The URL uses the container's address.
//!
//! Architecture Invariant: credential values only pass through here (parsed into
//! [`Credential`]); nothing in this module logs, and the notes it returns never hold a value.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use base64::Engine;

/// The helper library template scripts run with (see the file's header).
pub const HELPERS: &str = include_str!("kiln-helpers.sh");
/// Where the helper library lives inside a container.
pub const HELPERS_PATH: &str = "/usr/local/lib/kiln/helpers.sh";
/// Its directory.
pub const HELPERS_DIR: &str = "/usr/local/lib/kiln";
/// The discovery script (run with `bash -c`; see the file's header).
pub const SCRIPT: &str = include_str!("kiln-discover.sh");

/// The most credentials kept per container.
pub const MAX_CREDENTIALS: usize = 256;
/// The longest credential value kept, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The argument list that runs the discovery script's `what` with `args` in a container.
pub fn command(what: &str, args: &[String]) -> Vec<String> {
    let mut argv = vec![
        "bash".to_owned(),
        "-c".to_owned(),
        SCRIPT.to_owned(),
        "kiln-discover".to_owned(),
        what.to_owned(),
    ];
    argv.extend(args.iter().cloned());
    argv
}

/// A credential's service name: a file name of its own (letters, digits, `.`, `_`, `-`; a
/// letter or digit first; at most 64). The same rule as the helper library's.
pub fn valid_service(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.len() <= 64
}

/// A credential's key: an environment-style name (letters, digits, `_`; not a digit first;
/// at most 64). The same rule as the helper library's.
pub fn valid_key(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

// ---- units and ports -----------------------------------------------------------------------

/// One listening TCP socket from `ss -Hltnp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The local address (`None`: every address, `0.0.0.0`, `[::]` or `*`).
    pub address: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// The processes holding it.
    pub pids: Vec<u32>,
}

impl Listener {
    /// Reachable only from inside the container.
    pub fn loopback_only(&self) -> bool {
        self.address.is_some_and(|a| match a {
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
            IpAddr::V4(v4) => v4.is_loopback(),
        })
    }

    /// Where a probe from inside the container reaches it.
    pub fn probe_address(&self) -> IpAddr {
        match self.address {
            Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            Some(a) => a,
            None => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        }
    }
}

/// One line of `ss -Hltnp` (state, queues, local, peer, process); `None` for anything else.
pub fn parse_ss_line(line: &str) -> Option<Listener> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "LISTEN" {
        return None;
    }
    let local = fields.nth(2)?;
    let (host, port) = local.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    // `127.0.0.53%lo`: the interface after `%` is not part of the address.
    let host = host.split('%').next().unwrap_or(host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let address = match host {
        "*" | "0.0.0.0" | "::" => None,
        other => Some(other.parse().ok()?),
    };
    let mut pids = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("pid=") {
        rest = &rest[at + 4..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(pid) = digits.parse::<u32>()
            && !pids.contains(&pid)
        {
            pids.push(pid);
        }
    }
    Some(Listener {
        address,
        port,
        pids,
    })
}

/// The systemd service a process belongs to, from one line of `/proc/<pid>/cgroup`
/// (`0::/system.slice/nginx.service`, v1's `1:name=systemd:/system.slice/...`): the last
/// part of the path that names a `.service`.
pub fn unit_of_cgroup(line: &str) -> Option<&str> {
    let path = line.splitn(3, ':').nth(2)?;
    path.rsplit('/')
        .find(|part| part.ends_with(".service") && part.len() > ".service".len())
}

/// A unit's state as `systemctl list-units` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    /// `loaded`, `not-found`...
    pub load: String,
    /// `active`, `inactive`, `failed`, `activating`...
    pub active: String,
    /// `running`, `exited`, `dead`...
    pub sub: String,
}

/// What the discovery script's `units` printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The container runs systemd.
    pub systemd: bool,
    /// The units known before the template (`None`: no baseline was taken).
    pub baseline: Option<BTreeSet<String>>,
    /// Enabled unit files.
    pub enabled: BTreeSet<String>,
    /// Loaded units and their states.
    pub units: BTreeMap<String, UnitState>,
    /// Listening TCP sockets (`None`: `ss` is missing).
    pub listeners: Option<Vec<Listener>>,
    /// The service unit of each listening process.
    pub unit_of_pid: BTreeMap<u32, String>,
}

/// Parses the output of the discovery script's `units`.
pub fn parse_units(output: &str) -> Snapshot {
    let mut snapshot = Snapshot {
        systemd: true,
        ..Snapshot::default()
    };
    let mut baseline = BTreeSet::new();
    let mut no_baseline = false;
    let mut listeners = Vec::new();
    let mut no_ss = false;
    for line in output.lines() {
        let mut fields = line.split('\t');
        match fields.next().unwrap_or_default() {
            "nosystemd" => snapshot.systemd = false,
            "nobaseline" => no_baseline = true,
            "noss" => no_ss = true,
            "base" => {
                if let Some(unit) = fields.next().filter(|u| !u.is_empty()) {
                    baseline.insert(unit.to_owned());
                }
            }
            "enabled" => {
                if let Some(unit) = fields.next().filter(|u| !u.is_empty()) {
                    snapshot.enabled.insert(unit.to_owned());
                }
            }
            "unit" => {
                let parts: Vec<&str> = fields.collect();
                if let [unit, load, active, sub, ..] = parts.as_slice() {
                    snapshot.units.insert(
                        (*unit).to_owned(),
                        UnitState {
                            load: (*load).to_owned(),
                            active: (*active).to_owned(),
                            sub: (*sub).to_owned(),
                        },
                    );
                }
            }
            "listen" => {
                if let Some(listener) = fields.next().and_then(parse_ss_line) {
                    listeners.push(listener);
                }
            }
            "cgroup" => {
                let pid = fields.next().and_then(|p| p.parse::<u32>().ok());
                let unit = fields.next().and_then(unit_of_cgroup);
                if let (Some(pid), Some(unit)) = (pid, unit) {
                    snapshot.unit_of_pid.entry(pid).or_insert(unit.to_owned());
                }
            }
            _ => {}
        }
    }
    if snapshot.systemd && !no_baseline {
        snapshot.baseline = Some(baseline);
    }
    if !no_ss {
        snapshot.listeners = Some(listeners);
    }
    snapshot
}

/// A service the template added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The unit (`nginx.service`).
    pub unit: String,
    /// Its readable name (`nginx`).
    pub name: String,
    /// Its active state (`active`, `failed`, `inactive`...).
    pub state: String,
    /// Its listening TCP ports, ascending.
    pub ports: Vec<u16>,
    /// Where to probe each port that listens beyond loopback (for a web URL).
    pub reachable: Vec<(IpAddr, u16)>,
}

/// `name@x.service` → `name@.service` (the template unit an instance comes from).
fn template_of(unit: &str) -> Option<String> {
    let (prefix, _) = unit.split_once('@')?;
    Some(format!("{prefix}@.service"))
}

/// The template's services, by unit name (see the module docs for the rule).
pub fn services(snapshot: &Snapshot) -> Vec<Service> {
    if !snapshot.systemd {
        return Vec::new();
    }
    let listeners = snapshot.listeners.as_deref().unwrap_or_default();
    let mut ports: BTreeMap<&str, Vec<&Listener>> = BTreeMap::new();
    for listener in listeners {
        let unit = listener
            .pids
            .iter()
            .find_map(|pid| snapshot.unit_of_pid.get(pid));
        if let Some(unit) = unit {
            ports.entry(unit.as_str()).or_default().push(listener);
        }
    }
    let units: BTreeSet<&str> = match &snapshot.baseline {
        Some(baseline) => {
            let known = |unit: &str| {
                baseline.contains(unit) || template_of(unit).is_some_and(|t| baseline.contains(&t))
            };
            let live = snapshot
                .units
                .iter()
                .filter(|(_, s)| {
                    matches!(
                        s.active.as_str(),
                        "active" | "activating" | "reloading" | "failed"
                    )
                })
                .map(|(u, _)| u.as_str());
            snapshot
                .enabled
                .iter()
                .map(String::as_str)
                .chain(live)
                .filter(|u| u.ends_with(".service") && !known(u))
                // `name@.service` itself is not something that runs.
                .filter(|u| !u.ends_with("@.service"))
                .collect()
        }
        None => ports.keys().copied().collect(),
    };
    units
        .into_iter()
        .map(|unit| {
            let mine = ports.get(unit).map(Vec::as_slice).unwrap_or_default();
            let mut port_list: Vec<u16> = mine.iter().map(|l| l.port).collect();
            port_list.sort_unstable();
            port_list.dedup();
            let mut reachable: Vec<(IpAddr, u16)> = Vec::new();
            for listener in mine.iter().filter(|l| !l.loopback_only()) {
                if !reachable.iter().any(|(_, p)| *p == listener.port) {
                    reachable.push((listener.probe_address(), listener.port));
                }
            }
            reachable.sort_by_key(|(_, p)| *p);
            Service {
                unit: unit.to_owned(),
                name: unit.strip_suffix(".service").unwrap_or(unit).to_owned(),
                state: snapshot
                    .units
                    .get(unit)
                    .map_or_else(|| "inactive".to_owned(), |s| s.active.clone()),
                ports: port_list,
                reachable,
            }
        })
        .collect()
}

/// A found service as an event says it: `service nginx.service: active, port 80, http://…/`.
pub fn describe(service: &Service, web_url: Option<&str>) -> String {
    let mut text = format!("service {}: {}", service.unit, service.state);
    if !service.ports.is_empty() {
        let ports: Vec<String> = service.ports.iter().map(u16::to_string).collect();
        text.push_str(&format!(", port {}", ports.join(", ")));
    }
    if let Some(url) = web_url {
        text.push_str(&format!(", {url}"));
    }
    text
}

/// Listening ports no systemd service holds (a process a script started by hand), for an
/// event (beyond loopback only).
pub fn unowned_ports(snapshot: &Snapshot) -> Vec<u16> {
    let mut ports: Vec<u16> = snapshot
        .listeners
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|l| !l.pids.iter().any(|p| snapshot.unit_of_pid.contains_key(p)))
        .filter(|l| !l.loopback_only())
        .map(|l| l.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The probe's arguments: address, port, address, port...
pub fn probe_args(services: &[Service]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut args = Vec::new();
    for (address, port) in services.iter().flat_map(|s| &s.reachable) {
        if seen.insert((*address, *port)) {
            args.push(address.to_string());
            args.push(port.to_string());
        }
    }
    args
}

/// Web ports from the probe's output: port → `http` or `https`.
pub fn parse_probe(output: &str) -> BTreeMap<u16, &'static str> {
    let mut web = BTreeMap::new();
    for line in output.lines() {
        let mut fields = line.split('\t');
        let scheme = match fields.next() {
            Some("http") => "http",
            Some("https") => "https",
            _ => continue,
        };
        if let Some(port) = fields.nth(1).and_then(|p| p.parse::<u16>().ok()) {
            web.entry(port).or_insert(scheme);
        }
    }
    web
}

/// `http://ADDRESS:PORT/` (the default port left out; an IPv6 address in brackets).
pub fn web_url(scheme: &str, address: &str, port: u16) -> String {
    let host = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_owned()
    };
    match (scheme, port) {
        ("http", 80) | ("https", 443) => format!("{scheme}://{host}/"),
        _ => format!("{scheme}://{host}:{port}/"),
    }
}

// ---- credentials ---------------------------------------------------------------------------

/// A credential a script saved. `Debug` leaves the value out.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The service (`postgresql`).
    pub service: String,
    /// The key (`DB_PASSWORD`).
    pub key: String,
    /// The value (a secret: sealed before it is stored, never logged).
    pub value: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("service", &self.service)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// `KEY=VALUE` lines: the value is everything after the first `=`, as written (no quotes
/// removed, no expansion). Blank lines and `#` comments are skipped; so is a line whose key
/// breaks [`valid_key`] or whose value is longer than [`MAX_VALUE_BYTES`] (counted in the
/// second result). A later line for the same key wins.
pub fn parse_env(text: &str) -> (Vec<(String, String)>, usize) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut skipped = 0;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            skipped += 1;
            continue;
        };
        if !valid_key(key) || value.len() > MAX_VALUE_BYTES {
            skipped += 1;
            continue;
        }
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_owned(),
            None => pairs.push((key.to_owned(), value.to_owned())),
        }
    }
    (pairs, skipped)
}

/// The service a credential file stands for: its name without `.env`, when valid.
pub fn service_of_file(name: &str) -> Option<&str> {
    let service = name.strip_suffix(".env").unwrap_or(name);
    valid_service(service).then_some(service)
}

/// What the discovery script's `credentials` printed: the credentials (Kiln's folder wins
/// over infrahaus' for the same service and key), and notes for the events (never a value).
pub fn parse_credentials(output: &str) -> (Vec<Credential>, Vec<String>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |field: Option<&str>| field.and_then(|f| b64.decode(f).ok());
    let mut found: Vec<Credential> = Vec::new();
    let mut notes = Vec::new();
    let push = |found: &mut Vec<Credential>, credential: Credential| {
        if found
            .iter()
            .any(|c| c.service == credential.service && c.key == credential.key)
        {
            return;
        }
        found.push(credential);
    };
    for line in output.lines() {
        let mut fields = line.split('\t');
        let tag = fields.next().unwrap_or_default();
        let dir = fields.next().unwrap_or_default().to_owned();
        let name = decode(fields.next()).map(|n| String::from_utf8_lossy(&n).into_owned());
        match (tag, name) {
            ("toomany", _) => {
                notes.push("more than 64 credential files: the rest are ignored".to_owned())
            }
            ("toolarge", Some(name)) => {
                notes.push(format!("{dir}/{}: over 64 KiB, ignored", printable(&name)))
            }
            ("file", Some(name)) => {
                let Some(service) = service_of_file(&name) else {
                    notes.push(format!(
                        "{dir}/{}: not a service name (letters, digits, '.', '_', '-'), ignored",
                        printable(&name)
                    ));
                    continue;
                };
                let Some(text) = decode(fields.next()).and_then(|b| String::from_utf8(b).ok())
                else {
                    notes.push(format!("{dir}/{name}: not UTF-8 text, ignored"));
                    continue;
                };
                let (pairs, skipped) = parse_env(&text);
                if skipped > 0 {
                    notes.push(format!(
                        "{dir}/{name}: {skipped} line(s) that are not KEY=VALUE ignored"
                    ));
                }
                for (key, value) in pairs {
                    push(
                        &mut found,
                        Credential {
                            service: service.to_owned(),
                            key,
                            value,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    if found.len() > MAX_CREDENTIALS {
        notes.push(format!(
            "{} credentials found: the first {MAX_CREDENTIALS} are kept",
            found.len()
        ));
        found.truncate(MAX_CREDENTIALS);
    }
    (found, notes)
}

/// A file name as an event may show it: control characters replaced, at most 80 characters.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect()
}

/// Credential counts per service, for an event: `postgresql (5), grafana (1)`.
pub fn summary(credentials: &[Credential]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in credentials {
        *counts.entry(c.service.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(service, n)| format!("{n} for {service}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- what a page shows --------------------------------------------------------------------

/// A stored service as the detail page shows it, before its credentials are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredService {
    /// Readable name (`nginx`).
    pub name: String,
    /// Unit (`nginx.service`).
    pub unit: String,
    /// State at discovery.
    pub state: String,
    /// TCP ports.
    pub ports: Vec<u16>,
    /// Web URL.
    pub web_url: Option<String>,
}

/// Attaches credential keys (service, key; in order) to services: a credential's service
/// belongs to the service of the same name, else to the first whose unit is an instance of
/// it (`postgresql` → `postgresql@15-main`); the rest are returned per service.
pub fn attach(
    services: Vec<StoredService>,
    keys: Vec<(String, String)>,
) -> (
    Vec<kiln_shared::containers::ServiceView>,
    Vec<(String, Vec<String>)>,
) {
    let mut views: Vec<kiln_shared::containers::ServiceView> = services
        .into_iter()
        .map(|s| kiln_shared::containers::ServiceView {
            name: s.name,
            unit: s.unit,
            state: s.state,
            ports: s.ports,
            web_url: s.web_url,
            credentials: Vec::new(),
        })
        .collect();
    let mut other: Vec<(String, Vec<String>)> = Vec::new();
    for (service, key) in keys {
        let exact = views.iter().position(|v| v.name == service);
        let instance = || {
            views.iter().position(|v| {
                v.name
                    .split_once('@')
                    .is_some_and(|(base, _)| base == service)
            })
        };
        match exact.or_else(instance) {
            Some(i) => views[i].credentials.push(key),
            None => match other.iter_mut().find(|(s, _)| *s == service) {
                Some((_, list)) => list.push(key),
                None => other.push((service, vec![key])),
            },
        }
    }
    (views, other)
}

pub mod find;

#[cfg(test)]
mod shell_tests;
#[cfg(test)]
mod tests;
