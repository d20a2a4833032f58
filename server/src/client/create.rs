//! `kiln ct create`: a full `CreateRequest` built the way the wizard builds it — the
//! template's defaults (`GET /api/v1/templates/{slug}`), the node's storage, OS template and
//! bridge (its choices, unless given), a free readable hostname —, then what the command line
//! says on top; sent with an `Idempotency-Key` (generated unless given) so that a retry after
//! a network error creates one container, not two.

use clap::Args;
use kiln_shared::containers::{
    CreateRequest, Ipv4Setting, NodeChoices, free_hostname, request_defaults,
};
use kiln_shared::templates::Template;
use reqwest::Method;
use serde_json::Value;

use super::error::CliError;
use super::http::Api;
use super::{follow, nodes};

/// `kiln ct create`'s options.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The template's slug (`kiln` lists them on its Templates page); without it, a plain
    /// OS container.
    #[arg(long, value_name = "SLUG")]
    pub template: Option<String>,
    /// The node, by name or id.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// The hostname [default: a free readable one, e.g. swift-otter-42].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// The VMID [default: the next free one].
    #[arg(long)]
    pub vmid: Option<u32>,
    /// Cores [default: the template's].
    #[arg(long, value_name = "N")]
    pub cores: Option<u32>,
    /// Memory in MiB [default: the template's].
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// Swap in MiB [default: 512].
    #[arg(long, value_name = "MIB")]
    pub swap: Option<u32>,
    /// Root disk in GiB [default: the template's].
    #[arg(long, value_name = "GIB")]
    pub disk: Option<u32>,
    /// Storage of the root disk [default: the node's local-lvm, else its first].
    #[arg(long, value_name = "ID")]
    pub storage: Option<String>,
    /// Bridge of net0 [default: vmbr0, else the node's first].
    #[arg(long, value_name = "NAME")]
    pub bridge: Option<String>,
    /// OS template volume (storage:vztmpl/file) [default: the node's newest for the
    /// template's OS].
    #[arg(long, value_name = "VOLUME")]
    pub ostemplate: Option<String>,
    /// IPv4 of net0: `dhcp` or an address with prefix length (10.0.0.5/24).
    #[arg(long, value_name = "dhcp|CIDR", default_value = "dhcp")]
    pub ip: String,
    /// Gateway of a static address.
    #[arg(long, value_name = "ADDRESS", requires = "ip")]
    pub gateway: Option<String>,
    /// DNS servers (space or comma separated) [default: the node's].
    #[arg(long, value_name = "ADDRESSES")]
    pub nameserver: Option<String>,
    /// A Proxmox tag (repeat for more), added to the template's.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Start the container when the node boots.
    #[arg(long)]
    pub onboot: bool,
    /// A file of SSH public keys for root (one per line).
    #[arg(long, value_name = "FILE")]
    pub ssh_public_keys: Option<std::path::PathBuf>,
    /// A package bucket of the template to leave out (repeatable).
    #[arg(long = "without-bucket", value_name = "NAME")]
    pub buckets_off: Vec<String>,
    /// A package to install on top of the template's (repeatable).
    #[arg(long = "add-package", value_name = "NAME")]
    pub packages_added: Vec<String>,
    /// A package of the template to leave out (repeatable).
    #[arg(long = "remove-package", value_name = "NAME")]
    pub packages_removed: Vec<String>,
    /// A script of the template to skip, by file name (repeatable).
    #[arg(long = "skip-script", value_name = "FILE")]
    pub scripts_skipped: Vec<String>,
    /// The request's Idempotency-Key [default: a random one]: the same key and request
    /// again answer the first container instead of creating a second.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Follow the creation to its end (exit 0 ready, 1 failed).
    #[arg(long)]
    pub wait: bool,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// A random `u64` (hostname suggestions) from the system's generator.
fn random_u64() -> Result<u64, CliError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CliError::failed("the system random generator failed"))?;
    Ok(u64::from_le_bytes(bytes))
}

/// The template's defaults, read leniently from `GET /templates/{slug}` (a `TemplateDetail`
/// whose `template` holds them): a field it lacks keeps `Template::new`'s value.
async fn template(api: &Api, slug: &str) -> Result<Template, CliError> {
    let path = format!(
        "/templates/{}",
        percent_encoding::utf8_percent_encode(slug, percent_encoding::NON_ALPHANUMERIC)
    );
    let detail = api.get(&path).await?;
    let model = detail.get("template").unwrap_or(&detail);
    let mut t = Template::new(slug);
    let number = |key: &str, into: &mut u32| {
        if let Some(n) = model
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
        {
            *into = n;
        }
    };
    number("cpu", &mut t.cpu);
    number("ram_mib", &mut t.ram_mib);
    number("disk_gib", &mut t.disk_gib);
    let flag = |key: &str, into: &mut bool| {
        if let Some(b) = model.get(key).and_then(Value::as_bool) {
            *into = b;
        }
    };
    flag("unprivileged", &mut t.unprivileged);
    flag("nesting", &mut t.nesting);
    flag("keyctl", &mut t.keyctl);
    flag("fuse", &mut t.fuse);
    let text = |key: &str, into: &mut String| {
        if let Some(s) = model.get(key).and_then(Value::as_str) {
            *into = s.to_owned();
        }
    };
    text("os", &mut t.os);
    text("os_version", &mut t.os_version);
    if let Some(tags) = model.get("tags").and_then(Value::as_array) {
        t.tags = tags
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    Ok(t)
}

/// The request the command line asks for: defaults (template, node, free hostname), then
/// every option given.
pub async fn build(api: &Api, args: &CreateArgs) -> Result<CreateRequest, CliError> {
    let node_id = nodes::resolve(api, &args.node).await?;
    let template = match &args.template {
        Some(slug) => Some(template(api, slug).await?),
        None => None,
    };
    let hostname = match &args.hostname {
        Some(name) => name.clone(),
        None => {
            let taken: Vec<String> = api
                .all_pages("/containers")
                .await?
                .iter()
                .filter_map(|c| c.get("hostname").and_then(Value::as_str))
                .map(str::to_owned)
                .collect();
            free_hostname(random_u64()?, &taken)
        }
    };
    let mut request = request_defaults(template.as_ref(), node_id, hostname, None);
    request.storage = args.storage.clone().unwrap_or_default();
    request.bridge = args.bridge.clone().unwrap_or_default();
    request.ostemplate = args.ostemplate.clone().unwrap_or_default();
    if args.storage.is_none() || args.bridge.is_none() || args.ostemplate.is_none() {
        let choices = nodes::choices(api, node_id).await?;
        let os = template.as_ref().map_or_else(
            || "debian-12".to_owned(),
            |t| format!("{}-{}", t.os, t.os_version),
        );
        fill_missing(&choices, &mut request, &os);
    }
    request.vmid = args.vmid;
    request.cores = args.cores.unwrap_or(request.cores);
    request.memory_mib = args.memory.unwrap_or(request.memory_mib);
    request.swap_mib = args.swap.unwrap_or(request.swap_mib);
    request.disk_gib = args.disk.unwrap_or(request.disk_gib);
    request.ipv4 = if args.ip.eq_ignore_ascii_case("dhcp") {
        Ipv4Setting::Dhcp
    } else {
        Ipv4Setting::Static {
            address: args.ip.clone(),
            gateway: args.gateway.clone(),
        }
    };
    request.nameserver = args.nameserver.clone();
    request.tags.extend(args.tags.iter().cloned());
    request.onboot = args.onboot;
    if let Some(file) = &args.ssh_public_keys {
        request.ssh_public_keys = Some(
            std::fs::read_to_string(file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?,
        );
    }
    request.buckets_off = args.buckets_off.clone();
    request.packages_added = args.packages_added.clone();
    request.packages_removed = args.packages_removed.clone();
    request.scripts_skipped = args.scripts_skipped.clone();
    Ok(request)
}

/// Fills what the command line left empty with the node's best match (the wizard's rule,
/// `NodeChoices::fill`), keeping what it gave even when the node does not list it (the
/// server says why if that is wrong).
fn fill_missing(choices: &NodeChoices, request: &mut CreateRequest, os: &str) {
    let given = (
        request.storage.clone(),
        request.bridge.clone(),
        request.ostemplate.clone(),
    );
    choices.fill(request, os);
    if !given.0.is_empty() {
        request.storage = given.0;
    }
    if !given.1.is_empty() {
        request.bridge = given.1;
    }
    if !given.2.is_empty() {
        request.ostemplate = given.2;
    }
}

/// The job an answer names: `job.id`, `job_id` or a bare `job` number.
pub fn job_of(answer: &Value) -> Option<i64> {
    answer
        .get("job")
        .and_then(|job| {
            job.get("id")
                .and_then(Value::as_i64)
                .or_else(|| job.as_i64())
        })
        .or_else(|| answer.get("job_id").and_then(Value::as_i64))
}

/// `kiln ct create`.
pub async fn create(api: &Api, args: CreateArgs) -> Result<(), CliError> {
    let request = build(api, &args).await?;
    let key = match &args.idempotency_key {
        Some(key) => key.clone(),
        None => crate::auth::tokens::random_token()
            .map_err(|e| CliError::failed(format!("cannot make an idempotency key: {e}")))?,
    };
    let body = serde_json::to_value(&request)
        .map_err(|e| CliError::failed(format!("cannot encode the request: {e}")))?;
    let answer = api
        .call(Method::POST, "/containers", Some(&body), Some(&key))
        .await?
        .body;
    let container = answer.get("container").unwrap_or(&answer);
    let id = container.get("id").and_then(Value::as_i64);
    if args.json {
        println!("{answer}");
    } else {
        println!(
            "container {} ({}) is being created; job {}",
            id.map_or_else(|| "?".to_owned(), |id| id.to_string()),
            container
                .get("hostname")
                .and_then(Value::as_str)
                .unwrap_or(&request.hostname),
            job_of(&answer).map_or_else(|| "?".to_owned(), |id| id.to_string()),
        );
    }
    if !args.wait {
        return Ok(());
    }
    let job =
        job_of(&answer).ok_or_else(|| CliError::failed("Kiln's answer names no job to follow"))?;
    let ended = follow::follow(api, job, args.json).await?;
    if ended.succeeded() {
        Ok(())
    } else {
        Err(CliError::failed(format!("the creation {}", ended.line())))
    }
}

#[cfg(test)]
mod tests {
    use kiln_shared::containers::StorageChoice;

    use super::*;

    #[test]
    fn the_node_fills_only_what_was_not_given() {
        let choices = NodeChoices {
            storages: vec![StorageChoice {
                id: "local-lvm".into(),
                avail: None,
            }],
            ostemplates: vec!["local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into()],
            bridges: vec!["vmbr0".into()],
            next_vmid: None,
        };
        let mut request = request_defaults(None, 1, "web".into(), None);
        request.bridge = "vmbr9".into();
        fill_missing(&choices, &mut request, "debian-12");
        assert_eq!(request.storage, "local-lvm");
        assert_eq!(request.bridge, "vmbr9");
        assert!(request.ostemplate.contains("debian-12-standard"));
        assert_eq!(job_of(&serde_json::json!({"job": {"id": 7}})), Some(7));
        assert_eq!(job_of(&serde_json::json!({"job_id": 8})), Some(8));
        assert_eq!(job_of(&serde_json::json!({"container": {}})), None);
    }
}
