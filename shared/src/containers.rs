//! Containers (one kind of guest): what the creation wizard sends and the rules it must
//! follow — the same functions run in the browser form and on the server, which re-validates
//! everything — and the readable hostname Kiln suggests.
//!
//! Architecture invariant: no I/O here (builds for wasm32). What depends on a node (free
//! VMIDs, storages, bridges, OS templates) or on a template (its buckets and scripts) is
//! checked by the server against what it loaded.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::templates::{CPU_RANGE, DISK_GIB_RANGE, RAM_MIB_RANGE, validate_resource};
use crate::validate::FieldErrors;

/// What kind of guest a row is. Only containers today; VMs will be the second kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// An LXC container.
    #[default]
    Lxc,
}

/// How the container's first interface gets its IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Ipv4Setting {
    /// From the bridge's DHCP server.
    Dhcp,
    /// A fixed address (`192.168.1.20/24`) and an optional gateway.
    Static {
        /// Address with prefix length.
        address: String,
        /// The default gateway, inside the address's subnet.
        gateway: Option<String>,
    },
}

/// The wizard's answer: everything needed to create one container. Template values are
/// defaults the user may change; the server re-validates all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRequest {
    /// The template's slug; `None` for a plain OS container.
    pub template: Option<String>,
    /// The node (one of the user's).
    pub node_id: i64,
    /// The container's hostname (DNS name).
    pub hostname: String,
    /// A chosen VMID; `None` lets Kiln allocate the next free one.
    pub vmid: Option<u32>,
    /// The OS template volume (`local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`).
    pub ostemplate: String,
    /// The storage for the root disk (content `rootdir`).
    pub storage: String,
    /// Root disk size in GiB.
    pub disk_gib: u32,
    /// Cores.
    pub cores: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// Swap in MiB.
    pub swap_mib: u32,
    /// The bridge of `net0` (`vmbr0`).
    pub bridge: String,
    /// `net0`'s IPv4.
    pub ipv4: Ipv4Setting,
    /// DNS servers (space separated); `None` uses the node's.
    pub nameserver: Option<String>,
    /// Unprivileged container (ids mapped on the host).
    pub unprivileged: bool,
    /// Feature `nesting`.
    pub nesting: bool,
    /// Feature `keyctl`.
    pub keyctl: bool,
    /// Feature `fuse`.
    pub fuse: bool,
    /// Start when the node boots.
    pub onboot: bool,
    /// Proxmox tags. Optional in JSON (none).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The root password (shown once; never stored in a job or an event).
    pub root_password: Option<String>,
    /// SSH public keys for root, one per line.
    pub ssh_public_keys: Option<String>,
    /// Package buckets of the template left out (by name). Optional in JSON (none).
    #[serde(default)]
    pub buckets_off: Vec<String>,
    /// Packages added to the template's lists (installed with the OS's manager). Optional in JSON (none).
    #[serde(default)]
    pub packages_added: Vec<String>,
    /// Packages of the template left out. Optional in JSON (none).
    #[serde(default)]
    pub packages_removed: Vec<String>,
    /// Scripts of the template that are skipped (by file name). Optional in JSON (none).
    #[serde(default)]
    pub scripts_skipped: Vec<String>,
}

/// VMIDs Proxmox accepts.
pub const VMID_RANGE: std::ops::RangeInclusive<u32> = 100..=999_999_999;
/// Swap in MiB.
pub const SWAP_MIB_RANGE: std::ops::RangeInclusive<u32> = 0..=4_194_304;
/// Root password length in characters (PVE needs 5; Kiln asks for more).
pub const ROOT_PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
/// At most this many tags.
pub const MAX_TAGS: usize = 32;
/// At most this many packages added, removed, buckets off or scripts skipped.
pub const MAX_CHOICES: usize = 256;
/// The SSH keys field, in bytes.
pub const MAX_SSH_KEYS_BYTES: usize = 16 * 1024;

/// A hostname: DNS labels of `a-z`, `0-9` and `-` (not at either end), 1–63 characters
/// each, 253 in all; lower case (normalize with [`normalize_hostname`] first).
pub fn validate_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the hostname is empty".to_owned());
    }
    if name.len() > 253 {
        return Err("the hostname is longer than 253 characters".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(
                "each part of the hostname (between dots) has 1 to 63 characters".to_owned(),
            );
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(
                "the hostname may contain only lower-case letters, digits, '-' and '.'".to_owned(),
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a part of the hostname cannot start or end with '-'".to_owned());
        }
    }
    if name
        .split('.')
        .next_back()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the hostname cannot end in a number-only part".to_owned());
    }
    Ok(())
}

/// Trims and lower-cases a typed hostname.
pub fn normalize_hostname(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// A VMID in [`VMID_RANGE`].
pub fn validate_vmid(vmid: u32) -> Result<(), String> {
    if VMID_RANGE.contains(&vmid) {
        Ok(())
    } else {
        Err(format!(
            "the VMID must be between {} and {}",
            VMID_RANGE.start(),
            VMID_RANGE.end()
        ))
    }
}

/// A Proxmox storage or bridge id: a letter, then letters, digits, `-`, `_`, `.`; at most
/// `max` characters.
fn validate_id(what: &str, value: &str, max: usize) -> Result<(), String> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !first_ok || !rest_ok || value.len() > max {
        return Err(format!(
            "{what} must start with a letter and contain only letters, digits, '-', '_' and '.' \
             (at most {max})"
        ));
    }
    Ok(())
}

/// A storage id (`local-lvm`).
pub fn validate_storage(value: &str) -> Result<(), String> {
    validate_id("the storage", value, 64)
}

/// A bridge name (`vmbr0`; Linux allows 15 characters).
pub fn validate_bridge(value: &str) -> Result<(), String> {
    validate_id("the bridge", value, 15)
}

/// An OS template volume: `storage:vztmpl/file` with a plain file name.
pub fn validate_ostemplate(value: &str) -> Result<(), String> {
    let Some((storage, file)) = value
        .split_once(':')
        .and_then(|(s, rest)| Some((s, rest.strip_prefix("vztmpl/")?)))
    else {
        return Err("choose an OS template (storage:vztmpl/file)".to_owned());
    };
    validate_storage(storage)?;
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if !plain {
        return Err("the OS template's file name has characters Proxmox does not use".to_owned());
    }
    Ok(())
}

/// An IPv4 address with prefix length (`10.0.0.5/24`); returns both.
pub fn parse_cidr(value: &str) -> Result<(Ipv4Addr, u8), String> {
    let (address, prefix) = value.split_once('/').ok_or_else(|| {
        "write the address with its prefix length, e.g. 192.168.1.20/24".to_owned()
    })?;
    let address: Ipv4Addr = address
        .parse()
        .map_err(|_| format!("`{address}` is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or_else(|| "the prefix length is a number from 1 to 32".to_owned())?;
    if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
        return Err(format!("`{address}` cannot be a container's address"));
    }
    Ok((address, prefix))
}

fn in_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

/// A static IPv4 setting: a valid address, and a gateway inside its subnet that is not the
/// address itself. Errors by field (`address`, `gateway`).
pub fn validate_static_ipv4(
    address: &str,
    gateway: Option<&str>,
) -> Result<(), (&'static str, String)> {
    let (ip, prefix) = parse_cidr(address).map_err(|e| ("address", e))?;
    if let Some(gw) = gateway.filter(|g| !g.trim().is_empty()) {
        let gw: Ipv4Addr = gw
            .trim()
            .parse()
            .map_err(|_| ("gateway", format!("`{gw}` is not an IPv4 address")))?;
        if gw == ip {
            return Err((
                "gateway",
                "the gateway cannot be the container's own address".to_owned(),
            ));
        }
        if !in_subnet(ip, gw, prefix) {
            return Err((
                "gateway",
                format!("the gateway {gw} is not in {ip}/{prefix}'s subnet"),
            ));
        }
    }
    Ok(())
}

/// DNS servers: up to three IPv4 or IPv6 addresses separated by spaces or commas.
pub fn validate_nameserver(value: &str) -> Result<(), String> {
    let servers: Vec<&str> = value.split([' ', ',']).filter(|s| !s.is_empty()).collect();
    if servers.is_empty() || servers.len() > 3 {
        return Err("give one to three DNS server addresses".to_owned());
    }
    for s in servers {
        if s.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("`{s}` is not an IP address"));
        }
    }
    Ok(())
}

/// A root password: 8–128 characters, no control characters.
pub fn validate_root_password(value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if !ROOT_PASSWORD_CHARS.contains(&n) {
        return Err(format!(
            "the root password has {} to {} characters",
            ROOT_PASSWORD_CHARS.start(),
            ROOT_PASSWORD_CHARS.end()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("the root password cannot contain control characters".to_owned());
    }
    Ok(())
}

/// SSH public keys, one per line (`ssh-ed25519 AAAA… comment`); blank lines and `#`
/// comments allowed.
pub fn validate_ssh_keys(value: &str) -> Result<(), String> {
    if value.len() > MAX_SSH_KEYS_BYTES {
        return Err(format!(
            "at most {} KiB of SSH keys",
            MAX_SSH_KEYS_BYTES / 1024
        ));
    }
    const TYPES: [&str; 6] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
    ];
    let mut any = false;
    for (i, line) in value.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        any = true;
        let mut parts = line.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        let body = parts.next().unwrap_or_default();
        let base64 = body.len() >= 16
            && body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
        if !TYPES.contains(&kind) || !base64 {
            return Err(format!(
                "line {} is not an SSH public key (type, then the key, e.g. `ssh-ed25519 AAAA…`)",
                i + 1
            ));
        }
    }
    if !any {
        return Err("no SSH public key given".to_owned());
    }
    Ok(())
}

/// A Proxmox tag: lower-case letters, digits and `_`, then also `-`, `+`, `.`; 1–64.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let rest = chars.all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '+' | '.')
    });
    if !first || !rest || tag.len() > 64 {
        return Err(format!(
            "`{tag}` is not a Proxmox tag (lower-case letters, digits, '_', '-', '+', '.')"
        ));
    }
    Ok(())
}

/// Normalizes what a user typed (hostname case, blank optional fields to `None`, trimmed
/// lists without duplicates).
pub fn normalize(mut request: CreateRequest) -> CreateRequest {
    request.hostname = normalize_hostname(&request.hostname);
    let blank_to_none =
        |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    request.nameserver = blank_to_none(request.nameserver);
    request.ssh_public_keys = blank_to_none(request.ssh_public_keys);
    request.root_password = request.root_password.filter(|p| !p.is_empty());
    request.template = blank_to_none(request.template);
    if let Ipv4Setting::Static { address, gateway } = &mut request.ipv4 {
        *address = address.trim().to_owned();
        *gateway = blank_to_none(gateway.take());
    }
    for tag in &mut request.tags {
        *tag = tag.to_ascii_lowercase();
    }
    for list in [
        &mut request.tags,
        &mut request.buckets_off,
        &mut request.packages_added,
        &mut request.packages_removed,
        &mut request.scripts_skipped,
    ] {
        let mut seen = std::collections::BTreeSet::new();
        list.retain_mut(|item| {
            *item = item.trim().to_owned();
            !item.is_empty() && seen.insert(item.clone())
        });
    }
    request
}

/// Every rule of a create request that needs no node or template, one message per field
/// (`hostname`, `vmid`, `ipv4.address`, `tags.2`, ...). Call on a [`normalize`]d request.
pub fn validate_create(request: &CreateRequest) -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.check("hostname", validate_hostname(&request.hostname));
    if let Some(vmid) = request.vmid {
        errors.check("vmid", validate_vmid(vmid));
    }
    errors.check("ostemplate", validate_ostemplate(&request.ostemplate));
    errors.check("storage", validate_storage(&request.storage));
    errors.check(
        "disk_gib",
        validate_resource("the disk (GiB)", request.disk_gib, DISK_GIB_RANGE),
    );
    errors.check(
        "cores",
        validate_resource("cores", request.cores, CPU_RANGE),
    );
    errors.check(
        "memory_mib",
        validate_resource("memory (MiB)", request.memory_mib, RAM_MIB_RANGE),
    );
    errors.check(
        "swap_mib",
        validate_resource("swap (MiB)", request.swap_mib, SWAP_MIB_RANGE),
    );
    errors.check("bridge", validate_bridge(&request.bridge));
    if let Ipv4Setting::Static { address, gateway } = &request.ipv4
        && let Err((field, message)) = validate_static_ipv4(address, gateway.as_deref())
    {
        errors.add(&format!("ipv4.{field}"), message);
    }
    if let Some(ns) = &request.nameserver {
        errors.check("nameserver", validate_nameserver(ns));
    }
    if let Some(pw) = &request.root_password {
        errors.check("root_password", validate_root_password(pw));
    }
    if let Some(keys) = &request.ssh_public_keys {
        errors.check("ssh_public_keys", validate_ssh_keys(keys));
    }
    if request.tags.len() > MAX_TAGS {
        errors.add("tags", format!("at most {MAX_TAGS} tags"));
    }
    for (i, tag) in request.tags.iter().enumerate().take(MAX_TAGS) {
        errors.check(&format!("tags.{i}"), validate_tag(tag));
    }
    let lists = [
        ("buckets_off", &request.buckets_off),
        ("packages_added", &request.packages_added),
        ("packages_removed", &request.packages_removed),
        ("scripts_skipped", &request.scripts_skipped),
    ];
    for (field, list) in lists {
        if list.len() > MAX_CHOICES {
            errors.add(field, format!("at most {MAX_CHOICES} entries"));
        }
    }
    for (i, name) in request.packages_added.iter().enumerate().take(MAX_CHOICES) {
        errors.check(
            &format!("packages_added.{i}"),
            crate::templates::validate_package_name(name),
        );
    }
    errors
}

/// The wizard's five steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WizardStep {
    /// Pick a template (or none).
    Template,
    /// Node, name, resources, network, access.
    Configure,
    /// The template's package buckets.
    Packages,
    /// The template's scripts.
    Scripts,
    /// Everything at once, then *Create*.
    Review,
}

impl WizardStep {
    /// All steps in order.
    pub const ALL: [WizardStep; 5] = [
        WizardStep::Template,
        WizardStep::Configure,
        WizardStep::Packages,
        WizardStep::Scripts,
        WizardStep::Review,
    ];

    /// Its position, 0-based.
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The step's title.
    pub fn title(self) -> &'static str {
        match self {
            WizardStep::Template => "Template",
            WizardStep::Configure => "Configure",
            WizardStep::Packages => "Packages",
            WizardStep::Scripts => "Scripts",
            WizardStep::Review => "Review",
        }
    }

    /// Whether a field error (`hostname`, `tags.2`, `ipv4.gateway`) belongs to this step.
    pub fn owns(self, field: &str) -> bool {
        let root = field.split('.').next().unwrap_or(field);
        match self {
            WizardStep::Template => root == "template",
            WizardStep::Configure => !matches!(
                root,
                "template"
                    | "buckets_off"
                    | "packages_added"
                    | "packages_removed"
                    | "scripts_skipped"
            ),
            WizardStep::Packages => {
                matches!(root, "buckets_off" | "packages_added" | "packages_removed")
            }
            WizardStep::Scripts => root == "scripts_skipped",
            WizardStep::Review => true,
        }
    }
}

/// The errors of [`validate_create`] that belong to `step` (Next is refused while there are
/// any; Review shows them all). Call on a [`normalize`]d request.
pub fn validate_step(step: WizardStep, request: &CreateRequest) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for (field, message) in validate_create(request).iter() {
        if step.owns(field) {
            errors.add(field, message);
        }
    }
    errors
}

/// The `pct create` command a request corresponds to (what the review step shows): the
/// parameters Kiln sends to `POST /nodes/{node}/lxc`, secrets masked. `vmid` is the chosen
/// one or `<next free>`.
pub fn pct_equivalent(request: &CreateRequest) -> String {
    let mut parts = vec![
        "pct create".to_owned(),
        request
            .vmid
            .map_or_else(|| "<next free>".to_owned(), |v| v.to_string()),
        request.ostemplate.clone(),
        format!("--hostname {}", request.hostname),
        format!("--rootfs {}:{}", request.storage, request.disk_gib),
        format!("--cores {}", request.cores),
        format!("--memory {}", request.memory_mib),
        format!("--swap {}", request.swap_mib),
    ];
    let ip = match &request.ipv4 {
        Ipv4Setting::Dhcp => "ip=dhcp".to_owned(),
        Ipv4Setting::Static { address, gateway } => match gateway {
            Some(gw) => format!("ip={address},gw={gw}"),
            None => format!("ip={address}"),
        },
    };
    parts.push(format!("--net0 name=eth0,bridge={},{ip}", request.bridge));
    if let Some(ns) = &request.nameserver {
        parts.push(format!("--nameserver '{ns}'"));
    }
    parts.push(format!("--unprivileged {}", u8::from(request.unprivileged)));
    let features: Vec<&str> = [
        ("nesting=1", request.nesting),
        ("keyctl=1", request.keyctl),
        ("fuse=1", request.fuse),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    if !features.is_empty() {
        parts.push(format!("--features {}", features.join(",")));
    }
    if request.onboot {
        parts.push("--onboot 1".to_owned());
    }
    if !request.tags.is_empty() {
        parts.push(format!("--tags '{}'", request.tags.join(";")));
    }
    if request.root_password.is_some() {
        parts.push("--password ********".to_owned());
    }
    if request.ssh_public_keys.is_some() {
        parts.push("--ssh-public-keys <keys>".to_owned());
    }
    parts.push("--description 'kiln-job-<id>'".to_owned());
    parts.join(" \\\n    ")
}

/// A container's status in Kiln.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// The creation job is queued or running.
    Creating,
    /// Created and provisioned.
    Ready,
    /// The creation failed (or was cancelled); it can be retried or deleted.
    Failed,
    /// Being destroyed on its node.
    Deleting,
}

impl ContainerStatus {
    /// From the database's word; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "creating" => Some(Self::Creating),
            "ready" => Some(Self::Ready),
            "failed" => Some(Self::Failed),
            "deleting" => Some(Self::Deleting),
            _ => None,
        }
    }

    /// The database's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
        }
    }
}

/// One container as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerSummary {
    /// Kiln's id (its pages: `/containers/{id}`).
    pub id: i64,
    /// The hostname.
    pub hostname: String,
    /// Its node.
    pub node_id: i64,
    /// The node's name in Kiln.
    pub node_name: String,
    /// The VMID, once allocated.
    pub vmid: Option<u32>,
    /// The template's slug (`None`: a plain OS container).
    pub template: Option<String>,
    /// Kiln's status.
    pub status: ContainerStatus,
    /// Its IPv4 address, once known.
    pub address: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was asked for (RFC 3339, UTC).
    pub created_at: String,
    /// Its power state on the node when Kiln last saw it (`running`, `stopped`).
    #[serde(default)]
    pub power: Option<String>,
}

/// A service found in a container: a systemd unit the template installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceView {
    /// A readable name (`nginx`).
    pub name: String,
    /// The unit (`nginx.service`).
    pub unit: String,
    /// `active`, `failed`, `inactive`...
    pub state: String,
    /// TCP ports it listens on.
    pub ports: Vec<u16>,
    /// `http://<address>:<port>` for an HTTP port.
    pub web_url: Option<String>,
    /// Keys of the credentials saved for this service (values are revealed on request).
    pub credentials: Vec<String>,
}

/// A container with what its pages show beyond the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDetail {
    /// The summary.
    pub summary: ContainerSummary,
    /// What was asked for (never a secret).
    pub request: CreateRequest,
    /// The current phase of a creation, or the one it failed in.
    pub phase: Option<String>,
    /// Seconds since it was asked for (creating), or that its creation took (finished).
    pub elapsed_secs: u64,
    /// Services found at creation.
    pub services: Vec<ServiceView>,
    /// Credentials not tied to a found service (`service` -> keys).
    pub other_credentials: Vec<(String, Vec<String>)>,
    /// What the monitor knows of its node's reachability.
    #[serde(default)]
    pub node_watch: Option<crate::metrics::NodeWatch>,
}

/// A node as the wizard offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WizardNode {
    /// Its id.
    pub id: i64,
    /// Its name in Kiln.
    pub name: String,
    /// The user's default node.
    pub default: bool,
    /// Why it cannot be chosen (offline, ...); `None` when it can.
    pub unavailable: Option<String>,
}

/// A storage the wizard offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageChoice {
    /// Its id (`local-lvm`).
    pub id: String,
    /// Free bytes, when the node says.
    pub avail: Option<u64>,
}

/// What a node offers the wizard's Configure step (and `GET /api/v1/nodes/{id}/choices`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeChoices {
    /// Storages for root disks (content `rootdir`).
    pub storages: Vec<StorageChoice>,
    /// OS template volumes (`local:vztmpl/...`).
    pub ostemplates: Vec<String>,
    /// Bridges.
    pub bridges: Vec<String>,
    /// The next free VMID.
    pub next_vmid: Option<u32>,
}

impl NodeChoices {
    /// Fills the request's storage, OS template and bridge with this node's best match where
    /// the node does not offer the current value: `local-lvm` (else the first root-disk
    /// storage), the newest OS template named like `os_hint` (`debian-12`; else the first),
    /// `vmbr0` (else the first bridge). The wizard and a template's test run share it.
    pub fn fill(&self, request: &mut CreateRequest, os_hint: &str) {
        if !self.storages.iter().any(|s| s.id == request.storage) {
            request.storage = self
                .storages
                .iter()
                .find(|s| s.id == "local-lvm")
                .or(self.storages.first())
                .map(|s| s.id.clone())
                .unwrap_or_default();
        }
        if !self.ostemplates.contains(&request.ostemplate) {
            request.ostemplate = self
                .ostemplates
                .iter()
                .rev()
                .find(|t| t.contains(os_hint))
                .or(self.ostemplates.first())
                .cloned()
                .unwrap_or_default();
        }
        if !self.bridges.contains(&request.bridge) {
            request.bridge = self
                .bridges
                .iter()
                .find(|b| *b == "vmbr0")
                .or(self.bridges.first())
                .cloned()
                .unwrap_or_default();
        }
    }
}

/// What the wizard starts from (rendered into its island's props by the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WizardStart {
    /// The user's nodes, the default first.
    pub nodes: Vec<WizardNode>,
    /// The template catalog.
    pub templates: Vec<crate::catalog::TemplateSummary>,
    /// The template chosen by the link that opened the wizard (`?template=`).
    pub template: Option<crate::templates::Template>,
    /// Hostnames the user's containers already have (the suggestion avoids them).
    pub taken_hostnames: Vec<String>,
    /// A suggested, free, readable hostname.
    pub hostname: String,
    /// A generated root password (shown once; the user may change it).
    pub root_password: String,
}

/// The wizard island's props. The server renders every step's controls itself, so the
/// island gets only what it keeps and checks: the starting request, the first step, the nodes
/// (for the review and the unavailable ones), the template's name for the review, the OS
/// to prefer among the node's templates, and the hostnames a suggestion avoids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WizardSetup {
    /// The template's defaults on the first available node, a free hostname and a generated
    /// root password.
    pub request: CreateRequest,
    /// Template when none was chosen yet, else Configure.
    pub first: WizardStep,
    /// The user's nodes, the default first.
    pub nodes: Vec<WizardNode>,
    /// `PostgreSQL 15 (postgresql-server)`; `None` for a plain OS container.
    pub template: Option<String>,
    /// What the node's OS template should be named like (`debian-12`).
    pub os_hint: String,
    /// Hostnames the user's containers already have.
    pub taken_hostnames: Vec<String>,
}

/// A request with another template's defaults (`fresh`) that keeps what the user answered
/// about the node and access: node, hostname, VMID, storages, bridge, network, start on boot,
/// root password and SSH keys.
pub fn keep_choices(old: &CreateRequest, fresh: CreateRequest) -> CreateRequest {
    CreateRequest {
        node_id: old.node_id,
        hostname: old.hostname.clone(),
        vmid: old.vmid,
        ostemplate: old.ostemplate.clone(),
        storage: old.storage.clone(),
        bridge: old.bridge.clone(),
        ipv4: old.ipv4.clone(),
        nameserver: old.nameserver.clone(),
        onboot: old.onboot,
        root_password: old.root_password.clone(),
        ssh_public_keys: old.ssh_public_keys.clone(),
        ..fresh
    }
}

/// A request's starting values: the template's defaults (or a plain Debian container's),
/// on `node_id`.
pub fn request_defaults(
    template: Option<&crate::templates::Template>,
    node_id: i64,
    hostname: String,
    root_password: Option<String>,
) -> CreateRequest {
    let plain = crate::templates::Template::new("plain");
    let t = template.unwrap_or(&plain);
    CreateRequest {
        template: template.map(|t| t.slug.clone()),
        node_id,
        hostname,
        vmid: None,
        ostemplate: String::new(),
        storage: String::new(),
        disk_gib: t.disk_gib,
        cores: t.cpu,
        memory_mib: t.ram_mib,
        swap_mib: 512,
        bridge: String::new(),
        ipv4: Ipv4Setting::Dhcp,
        nameserver: None,
        unprivileged: t.unprivileged,
        nesting: t.nesting,
        keyctl: t.keyctl,
        fuse: t.fuse,
        onboot: false,
        tags: template.map(|t| t.tags.clone()).unwrap_or_default(),
        root_password,
        ssh_public_keys: None,
        buckets_off: Vec::new(),
        packages_added: Vec::new(),
        packages_removed: Vec::new(),
        scripts_skipped: Vec::new(),
    }
}

const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "clever", "cosy", "crisp", "eager", "fancy", "gentle", "glad",
    "happy", "jolly", "keen", "kind", "lively", "lucky", "merry", "mellow", "nimble", "noble",
    "proud", "quick", "quiet", "rapid", "shiny", "smart", "snug", "steady", "sunny", "swift",
    "tidy", "witty",
];
const ANIMALS: [&str; 32] = [
    "badger", "beaver", "bison", "crane", "dingo", "eagle", "falcon", "ferret", "gecko", "heron",
    "ibis", "koala", "lemur", "lynx", "marten", "moose", "newt", "ocelot", "otter", "panda",
    "puffin", "quail", "raven", "robin", "seal", "stoat", "tapir", "tern", "toucan", "walrus",
    "wombat", "yak",
];

/// A readable hostname (`swift-otter-42`) from any random number; [`free_hostname`] picks
/// one not taken.
pub fn suggest_hostname(random: u64) -> String {
    let adjective = ADJECTIVES[(random % 32) as usize];
    let animal = ANIMALS[((random >> 5) % 32) as usize];
    let number = (random >> 10) % 90 + 10;
    format!("{adjective}-{animal}-{number}")
}

/// A readable hostname not in `taken` (the user's containers' names): the first of up to 64
/// suggestions from `random` that is free, else the last one with the first free `-2`, `-3`,
/// … suffix — so the answer is never taken, however full the list.
pub fn free_hostname<S: AsRef<str>>(random: u64, taken: &[S]) -> String {
    let is_taken = |name: &str| taken.iter().any(|t| t.as_ref() == name);
    let mut state = random;
    for _ in 0..64 {
        let name = suggest_hostname(state);
        if !is_taken(&name) {
            return name;
        }
        // xorshift: the next candidate.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
    }
    let base = suggest_hostname(state);
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !is_taken(name))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CreateRequest {
        CreateRequest {
            template: Some("nginx".into()),
            node_id: 1,
            hostname: "web-1".into(),
            vmid: None,
            ostemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
            storage: "local-lvm".into(),
            disk_gib: 8,
            cores: 2,
            memory_mib: 1024,
            swap_mib: 512,
            bridge: "vmbr0".into(),
            ipv4: Ipv4Setting::Dhcp,
            nameserver: None,
            unprivileged: true,
            nesting: false,
            keyctl: false,
            fuse: false,
            onboot: false,
            tags: vec![],
            root_password: None,
            ssh_public_keys: None,
            buckets_off: vec![],
            packages_added: vec![],
            packages_removed: vec![],
            scripts_skipped: vec![],
        }
    }

    #[test]
    fn hostnames() {
        for ok in ["web", "web-1", "a.b.example", "x1"] {
            assert_eq!(validate_hostname(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-web",
            "web-",
            "We b",
            "web_1",
            "a..b",
            "web;rm -rf /",
            "1.2.3.4",
            &"a".repeat(64),
        ] {
            assert!(validate_hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_hostname("  Web-1 "), "web-1");
    }

    #[test]
    fn static_addresses_and_gateways() {
        assert_eq!(
            validate_static_ipv4("192.168.1.20/24", Some("192.168.1.1")),
            Ok(())
        );
        assert_eq!(validate_static_ipv4("10.0.0.5/32", None), Ok(()));
        assert!(matches!(
            validate_static_ipv4("192.168.1.20", None),
            Err(("address", _))
        ));
        assert!(matches!(
            validate_static_ipv4("192.168.1.20/33", None),
            Err(("address", _))
        ));
        assert!(matches!(
            validate_static_ipv4("192.168.1.20/24", Some("10.0.0.1")),
            Err(("gateway", _))
        ));
        assert!(matches!(
            validate_static_ipv4("192.168.1.20/24", Some("192.168.1.20")),
            Err(("gateway", _))
        ));
    }

    #[test]
    fn a_whole_request_gets_one_message_per_field() {
        assert!(validate_create(&request()).is_empty());
        let mut bad = request();
        bad.hostname = "Bad Host".into();
        bad.vmid = Some(5);
        bad.cores = 0;
        bad.ipv4 = Ipv4Setting::Static {
            address: "10.0.0.5/24".into(),
            gateway: Some("10.0.1.1".into()),
        };
        bad.tags = vec!["ok".into(), "Not OK".into()];
        bad.root_password = Some("short".into());
        bad.ssh_public_keys = Some("not a key".into());
        bad.packages_added = vec!["curl".into(), "two words".into()];
        let errors = validate_create(&bad);
        for field in [
            "hostname",
            "vmid",
            "cores",
            "ipv4.gateway",
            "tags.1",
            "root_password",
            "ssh_public_keys",
            "packages_added.1",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        assert!(errors.get("tags.0").is_none());
    }

    #[test]
    fn normalizing_trims_and_dedups() {
        let mut r = request();
        r.hostname = " WEB ".into();
        r.tags = vec![" Kiln ".into(), "kiln".into(), "".into()];
        r.nameserver = Some("  ".into());
        let n = normalize(r);
        assert_eq!(n.hostname, "web");
        assert_eq!(n.tags, ["kiln"]);
        assert_eq!(n.nameserver, None);
    }

    #[test]
    fn a_free_hostname_is_never_taken_even_when_every_suggestion_is() {
        // Every name the generator can make (32 × 32 × 90), taken.
        let mut all = Vec::new();
        for seed in 0..(32 * 32 * 90u64) {
            all.push(suggest_hostname(
                (seed % 32) | ((seed / 32 % 32) << 5) | ((seed / 1024) << 10),
            ));
        }
        let name = free_hostname(7, &all);
        assert!(!all.contains(&name), "{name}");
        assert_eq!(validate_hostname(&name), Ok(()));
        let again = free_hostname(7, std::slice::from_ref(&name));
        assert_ne!(again, name);
    }

    #[test]
    fn suggested_hostnames_are_valid_and_free() {
        for seed in [0u64, 1, 42, u64::MAX, 0xDEAD_BEEF] {
            assert_eq!(validate_hostname(&suggest_hostname(seed)), Ok(()));
        }
        let taken = [suggest_hostname(7)];
        let free = free_hostname(7, &taken);
        assert_ne!(free, taken[0]);
        assert_eq!(validate_hostname(&free), Ok(()));
    }

    #[test]
    fn other_fields() {
        assert!(
            validate_ostemplate("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst").is_ok()
        );
        assert!(validate_ostemplate("local:iso/x.iso").is_err());
        assert!(validate_ostemplate("local:vztmpl/../etc/passwd").is_err());
        assert!(validate_bridge("vmbr0").is_ok());
        assert!(validate_bridge("vmbr0;reboot").is_err());
        assert!(validate_nameserver("1.1.1.1 9.9.9.9").is_ok());
        assert!(validate_nameserver("dns.example").is_err());
        assert!(
            validate_ssh_keys("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@host\n").is_ok()
        );
        assert!(validate_tag("web+prod").is_ok());
        assert!(validate_tag("Web").is_err());
    }

    #[test]
    fn each_step_checks_only_its_own_fields() {
        let mut r = request();
        r.hostname = "Bad_Name".into();
        r.packages_added = vec!["ok".into(), "bad name;rm".into()];
        r.tags = vec!["fine".into(), "Not Fine".into()];
        let r = normalize(r);
        let configure = validate_step(WizardStep::Configure, &r);
        assert!(configure.get("hostname").is_some());
        assert!(configure.get("tags.1").is_some());
        assert!(configure.get("packages_added.1").is_none());
        let packages = validate_step(WizardStep::Packages, &r);
        assert!(packages.get("packages_added.1").is_some());
        assert!(packages.get("hostname").is_none());
        assert!(validate_step(WizardStep::Template, &r).is_empty());
        assert!(validate_step(WizardStep::Scripts, &r).is_empty());
        let review = validate_step(WizardStep::Review, &r);
        assert_eq!(
            review.iter().count(),
            validate_create(&r).iter().count(),
            "review shows everything"
        );
        assert!(validate_step(WizardStep::Configure, &normalize(request())).is_empty());
    }

    #[test]
    fn steps_are_ordered_and_own_their_error_fields() {
        assert_eq!(WizardStep::ALL.map(WizardStep::index), [0, 1, 2, 3, 4]);
        assert!(WizardStep::Configure.owns("ipv4.gateway"));
        assert!(WizardStep::Packages.owns("buckets_off"));
        assert!(WizardStep::Scripts.owns("scripts_skipped"));
        assert!(!WizardStep::Configure.owns("scripts_skipped"));
        assert!(WizardStep::Template.owns("template"));
    }

    #[test]
    fn the_pct_equivalent_masks_secrets_and_follows_the_request() {
        let mut r = request();
        r.root_password = Some("hunter2-secret".into());
        r.ssh_public_keys = Some("ssh-ed25519 AAAA me".into());
        r.nesting = true;
        r.keyctl = true;
        r.tags = vec!["a".into(), "b".into()];
        r.vmid = Some(123);
        r.ipv4 = Ipv4Setting::Static {
            address: "10.0.0.5/24".into(),
            gateway: Some("10.0.0.1".into()),
        };
        let pct = pct_equivalent(&r);
        assert!(!pct.contains("hunter2"), "{pct}");
        assert!(!pct.contains("AAAA"), "{pct}");
        for part in [
            "pct create",
            " 123 ",
            "--hostname web-1",
            "--rootfs local-lvm:8",
            "--net0 name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1",
            "--features nesting=1,keyctl=1",
            "--tags 'a;b'",
            "--password ********",
        ] {
            assert!(pct.contains(part), "{part} in {pct}");
        }
        r.vmid = None;
        r.ipv4 = Ipv4Setting::Dhcp;
        let pct = pct_equivalent(&r);
        assert!(
            pct.contains("<next free>") && pct.contains("ip=dhcp"),
            "{pct}"
        );
    }

    #[test]
    fn defaults_come_from_the_template() {
        let mut t = crate::templates::Template::new("docker");
        t.cpu = 2;
        t.ram_mib = 2048;
        t.disk_gib = 32;
        t.nesting = true;
        t.keyctl = true;
        t.tags = vec!["docker".into()];
        let r = request_defaults(Some(&t), 7, "a-b-12".into(), Some("pw-pw-pw-pw".into()));
        assert_eq!(r.template.as_deref(), Some("docker"));
        assert_eq!(
            (r.node_id, r.cores, r.memory_mib, r.disk_gib),
            (7, 2, 2048, 32)
        );
        assert!(r.nesting && r.keyctl && r.unprivileged);
        assert_eq!(r.tags, vec!["docker".to_owned()]);
        let plain = request_defaults(None, 7, "a-b-12".into(), None);
        assert_eq!(plain.template, None);
        assert_eq!((plain.cores, plain.memory_mib), (1, 512));
        assert!(plain.tags.is_empty());
    }

    #[test]
    fn a_nodes_choices_fill_what_it_does_not_offer() {
        let choices = NodeChoices {
            storages: vec![
                StorageChoice {
                    id: "big".into(),
                    avail: None,
                },
                StorageChoice {
                    id: "local-lvm".into(),
                    avail: None,
                },
            ],
            ostemplates: vec![
                "local:vztmpl/alpine-3.19.tar.xz".into(),
                "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst".into(),
                "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
            ],
            bridges: vec!["vmbr1".into(), "vmbr0".into()],
            next_vmid: Some(100),
        };
        let mut r = request();
        r.storage = "gone".into();
        r.ostemplate = String::new();
        r.bridge = "vmbr1".into();
        choices.fill(&mut r, "debian-12");
        assert_eq!(r.storage, "local-lvm");
        assert_eq!(
            r.ostemplate,
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
        );
        assert_eq!(r.bridge, "vmbr1", "an offered bridge is kept");
        choices.fill(&mut r, "ubuntu-24");
        assert!(
            r.ostemplate.contains("debian-12-standard_12.7"),
            "an offered template is kept"
        );
        let mut fresh = request();
        fresh.ostemplate = String::new();
        choices.fill(&mut fresh, "ubuntu-24");
        assert_eq!(
            fresh.ostemplate, "local:vztmpl/alpine-3.19.tar.xz",
            "else the first"
        );
    }
}
