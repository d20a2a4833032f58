//! The creation job (`container.create`): allocate a VMID, create the container on its node,
//! start it, wait for its address, mark it ready. Each phase records events and is safe to
//! run again after a crash: it first looks at what is already done (the VMID reserved in the
//! row, a container on the node carrying this job's marker in its description, a running
//! status, an address).
//!
//! Then, over the node's SSH (`provision`): Kiln's helper library and the template's files
//! (by policy), its packages and its scripts, each script run once with the helper library
//! sourced (a resumed job skips the scripts whose `done` event exists; one that a crash
//! interrupted stops the job, since scripts are not assumed idempotent — a retry runs it
//! again, or skips it when the user chose so, see `ContainerService::retry_skipping_script`);
//! then discovery (`discovery`): the services the template added, their ports and web URLs,
//! and the credentials its scripts saved, sealed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kiln_shared::containers::{CreateRequest, Ipv4Setting};
use kiln_shared::pve::{LxcCreate, Upid};
use kiln_shared::templates::Template;
use serde::Deserialize;

use super::events::EventHub;
use super::vmids::VmidCache;
use crate::app_state::AppState;
use crate::db::containers::{self, ContainerRow};
use crate::jobs::{JobError, JobHandler, JobRun};
use crate::proxmox::{Client, Error as PveError, ProxmoxApi};
use crate::ssh::shell::NodeShell;

use super::{fenced, provision};

/// The phases, in order: the names of `kiln_shared::progress::PHASES` (which also give each
/// its share of the progress bar).
pub const PHASES: [&str; kiln_shared::progress::PHASES.len()] = {
    let mut names = [""; kiln_shared::progress::PHASES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = kiln_shared::progress::PHASES[i].name;
        i += 1;
    }
    names
};

/// How long the container may take to report an address.
/// How often the container's lock is tried again while another action holds it.
const LOCK_POLL: Duration = Duration::from_millis(250);
/// How long a creation waits for another action on its container to end.
const LOCK_WAIT: Duration = Duration::from_secs(5 * 60);
const NETWORK_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a Proxmox task (create, start) may take.
const TASK_TIMEOUT: Duration = Duration::from_secs(600);
/// The first pause between two looks at a task or at the address; it doubles up to the
/// limits below, so a quick task costs milliseconds and a long one a look every few
/// hundred.
const FIRST_POLL: Duration = Duration::from_millis(2);
/// While the pauses are shorter than this (the first ~60 ms of a wait), a look does not also
/// read the cancel flag: entering the phase just did.
const CANCEL_CHECK_PAUSE: Duration = Duration::from_millis(32);
/// The longest pause between two looks at a running task (its log lines arrive this late
/// at most).
const TASK_POLL: Duration = Duration::from_millis(300);
/// The longest pause between two looks at the container's address.
const NETWORK_POLL: Duration = Duration::from_millis(500);
/// Where the search for a free VMID starts (Proxmox's own first id).
const FIRST_VMID: u32 = 100;
/// Candidates tried before the allocation gives up.
const MAX_CANDIDATES: usize = 1000;
/// How often the create phase picks a new VMID when the node says its id already exists.
const MAX_REALLOCATIONS: usize = 5;

/// The job's input: only the row's id (the request, without secrets, is in the row).
#[derive(Debug, Deserialize)]
struct Payload {
    container_id: i64,
}

/// The handler registered for [`super::CREATE_JOB`].
#[derive(Debug, Clone)]
pub struct CreateContainer {
    state: AppState,
}

impl CreateContainer {
    /// The handler over the app's pools, key and event hub.
    pub fn new(state: AppState) -> Self {
        CreateContainer { state }
    }
}

fn failed(message: impl Into<String>) -> JobError {
    JobError::Failed {
        phase: None,
        message: message.into(),
    }
}

/// The marker in the description by which a resumed job recognises its own container.
pub fn marker(job_id: i64) -> String {
    format!("kiln-job-{job_id}")
}

/// Whether `description` carries the marker of job `job_id` as a whole word: `kiln-job-1`
/// is not found in `kiln-job-12`. What a resumed creation and a deletion go by.
pub fn has_marker(description: Option<&str>, job_id: i64) -> bool {
    let Some(text) = description else {
        return false;
    };
    let wanted = marker(job_id);
    text.match_indices(&wanted).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + wanted.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
        !word(before) && !word(after)
    })
}

// After `fenced!`: a macro is seen only by the modules declared below it.
mod discovery;
mod test_report;

/// One run of the job over one container.
struct Run<'a> {
    state: &'a AppState,
    hub: &'a EventHub,
    job: &'a mut JobRun,
    row: ContainerRow,
    request: CreateRequest,
    client: std::sync::Arc<Client>,
    /// The Proxmox node the container lives on.
    pve_node: String,
    /// The Kiln node row (for SSH).
    node: crate::db::nodes::NodeRow,
    /// The template's model, when the container has one.
    template: Option<Template>,
    /// The node's shell, connected on first use.
    shell: Option<NodeShell>,
}

impl Run<'_> {
    /// Enters `phase`: the job's phase and its `phase` event in one statement through the
    /// lease; whether cancelling was requested.
    async fn enter(&mut self, phase: &str) -> Result<bool, JobError> {
        let mut conn = self.state.db.get().await?;
        let lease = self.job.lease();
        let entered =
            containers::enter_phase_fenced(&mut conn, lease.holder()?, self.row.id, phase).await?;
        let (cancel, seq) = entered.ok_or_else(|| lease.lost_lease())?;
        drop(conn);
        self.job.entered(phase);
        self.hub.notify(self.row.id, seq);
        Ok(cancel)
    }

    /// Whether `phase` has anything to do for this container: a plain OS container (no
    /// template, no packages added, no script) goes from its network to ready.
    fn has_work(&self, phase: &str) -> bool {
        match phase {
            "files" | "discover" => self.template.is_some(),
            "packages" => {
                self.template.is_some()
                    || !provision::plan(self.template.as_ref(), &self.request).is_empty()
            }
            "scripts" => {
                !self.request.scripts_skipped.is_empty()
                    || !provision::scripts(self.template.as_ref(), &self.request).is_empty()
            }
            _ => true,
        }
    }

    /// Writes through the job's lease: the write happens only while this worker holds it.
    async fn event(&mut self, phase: &str, kind: &str, text: &str) -> Result<(), JobError> {
        self.events(phase, kind, &[text.to_owned()]).await
    }

    /// Log events, one per line, in one statement (a task's new log lines).
    async fn log_lines(&mut self, phase: &str, lines: &[String]) -> Result<(), JobError> {
        self.events(phase, "log", lines).await
    }

    /// Events of one kind, in one statement through the job's lease.
    async fn events(&mut self, phase: &str, kind: &str, texts: &[String]) -> Result<(), JobError> {
        if texts.is_empty() {
            return Ok(());
        }
        let mut conn = self.state.db.get().await?;
        let lease = self.job.lease();
        let seq = containers::append_events_fenced(
            &mut conn,
            lease.holder()?,
            self.row.id,
            phase,
            kind,
            texts,
        )
        .await?
        .ok_or_else(|| lease.lost_lease())?;
        drop(conn);
        self.hub.notify(self.row.id, seq);
        Ok(())
    }

    /// Sets the row's status, unless a deletion has begun (then `deleting` stays).
    async fn set_status(&mut self, status: &str, error: Option<&str>) -> Result<(), JobError> {
        fenced!(self, |conn, id| containers::set_status_unless_deleting(
            conn, id, status, error
        ))?;
        self.hub.notify(self.row.id, 0);
        Ok(())
    }

    /// Records that the template's content `hash` is what this run uses, with an event.
    async fn use_template_hash(&mut self, phase: &str, hash: Option<&str>) -> Result<(), JobError> {
        fenced!(self, |conn, id| containers::set_template_hash(
            conn, id, hash
        ))?;
        self.row.template_hash = hash.map(str::to_owned);
        self.event(
            phase,
            "log",
            &format!(
                "the template changed since the request; its current content ({}) is used",
                hash.unwrap_or("no hash")
            ),
        )
        .await
    }

    fn vmid(&self) -> Result<u32, JobError> {
        self.row
            .vmid
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| failed("no VMID was allocated"))
    }

    /// Phase 1: a VMID free on the node's cluster and in Kiln, reserved in the row (the
    /// unique index on (node, vmid) makes the reservation atomic across workers), confirmed
    /// by `/cluster/nextid?vmid=`. The cluster's guests come from the VMID cache
    /// (`vmids`, Redis, a few seconds old at most) or `/cluster/resources`; an id Proxmox
    /// calls taken is skipped (and added to the cache), never a failure — unless the user
    /// chose it.
    async fn allocate(&mut self) -> Result<(), JobError> {
        self.allocate_avoiding(&BTreeSet::new()).await
    }

    /// [`Run::allocate`], never choosing one of `avoid` (ids found taken on the node).
    async fn allocate_avoiding(&mut self, avoid: &BTreeSet<u32>) -> Result<(), JobError> {
        let cache = VmidCache::new(self.state);
        let node_id = self.row.node_id;
        let (mut used, _) = cache
            .used(node_id, &*self.client)
            .await
            .map_err(|e| failed(format!("cannot list the node's guests: {e}")))?;
        used.extend(avoid);
        let mut conn = self.state.db.get().await?;
        let reserved = containers::vmids_on(&mut conn, node_id).await?;
        drop(conn);
        used.extend(
            reserved
                .into_iter()
                .filter(|v| Some(*v) != self.row.vmid)
                .filter_map(|v| u32::try_from(v).ok()),
        );
        let wanted = self.request.vmid;
        // A resumed or retried run keeps its reservation if Proxmox agrees (the cache may
        // hold it because this run added it).
        let own = self.vmid().ok().filter(|v| !avoid.contains(v));
        let mut candidate = wanted.or(own).unwrap_or(FIRST_VMID);
        for _ in 0..MAX_CANDIDATES {
            let taken = |c: u32| used.contains(&c) && Some(c) != own;
            if taken(candidate) || (wanted.is_none() && avoid.contains(&candidate)) {
                if wanted.is_some() {
                    return Err(failed(format!(
                        "VMID {candidate} is already in use on the node"
                    )));
                }
                candidate += 1;
                continue;
            }
            if !self.reserve(candidate).await? {
                // Another creation reserved it a moment ago.
                used.insert(candidate);
                continue;
            }
            match self.client.cluster_nextid(Some(candidate)).await {
                Ok(_) => {
                    cache.add(node_id, candidate).await;
                    self.event("allocate", "log", &format!("VMID {candidate}"))
                        .await?;
                    return Ok(());
                }
                Err(PveError::BadParameters { .. }) => {
                    // Proxmox knows it (a guest the cache did not show yet): take another.
                    cache.add(node_id, candidate).await;
                    if wanted.is_some() {
                        return Err(failed(format!(
                            "VMID {candidate} is already in use on the node"
                        )));
                    }
                    self.event(
                        "allocate",
                        "log",
                        &format!("VMID {candidate} is taken on the node; trying another"),
                    )
                    .await?;
                    used.insert(candidate);
                    candidate += 1;
                }
                Err(e) => return Err(failed(format!("cannot check VMID {candidate}: {e}"))),
            }
        }
        Err(failed("no free VMID found"))
    }

    async fn reserve(&mut self, vmid: u32) -> Result<bool, JobError> {
        let value = i32::try_from(vmid).map_err(|_| failed("VMID out of range"))?;
        let ok = fenced!(self, |conn, id| containers::reserve_vmid(conn, id, value))?;
        if ok {
            self.row.vmid = Some(value);
        }
        Ok(ok)
    }

    /// The `POST /nodes/{node}/lxc` parameters (the password decrypted from the row).
    fn params(&self, vmid: u32) -> Result<LxcCreate, JobError> {
        let r = &self.request;
        let password = match &self.row.root_password {
            Some(sealed) => Some(
                self.state
                    .secret_key
                    .decrypt_string(sealed, &ContainerRow::secret_context(self.row.id))
                    .map_err(|e| JobError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let ip = match &r.ipv4 {
            Ipv4Setting::Dhcp => "ip=dhcp".to_owned(),
            Ipv4Setting::Static { address, gateway } => match gateway {
                Some(gw) => format!("ip={address},gw={gw}"),
                None => format!("ip={address}"),
            },
        };
        let features: Vec<&str> = [
            ("nesting=1", r.nesting),
            ("keyctl=1", r.keyctl),
            ("fuse=1", r.fuse),
        ]
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect();
        let mut tags = r.tags.clone();
        tags.push("kiln".to_owned());
        tags.sort();
        tags.dedup();
        Ok(LxcCreate {
            vmid,
            ostemplate: r.ostemplate.clone(),
            hostname: r.hostname.clone(),
            cores: Some(r.cores),
            memory: Some(u64::from(r.memory_mib)),
            swap: Some(u64::from(r.swap_mib)),
            rootfs: format!("{}:{}", r.storage, r.disk_gib),
            net0: Some(format!("name=eth0,bridge={},{ip}", r.bridge)),
            nameserver: r.nameserver.clone(),
            password,
            ssh_public_keys: r.ssh_public_keys.clone(),
            unprivileged: Some(r.unprivileged),
            features: (!features.is_empty()).then(|| features.join(",")),
            tags: Some(tags.join(";")),
            pool: None,
            onboot: Some(r.onboot),
            start: Some(false),
            description: Some(format!(
                "Created by Kiln{}. {}",
                r.template
                    .as_ref()
                    .map(|t| format!(" from template {t}"))
                    .unwrap_or_default(),
                marker(self.job.id())
            )),
        })
    }

    /// Phase 2: creates the container unless this job already did (its marker is in the
    /// description), following the task's log as events. When the node already has another
    /// guest under the reserved VMID (made meanwhile by someone else), a new VMID is
    /// allocated and the creation goes on — unless the user chose that VMID.
    async fn create(&mut self) -> Result<(), JobError> {
        let mut taken = BTreeSet::new();
        for _ in 0..MAX_REALLOCATIONS {
            let vmid = self.vmid()?;
            match self.client.lxc_config(&self.pve_node, vmid).await {
                Ok(config) => {
                    if has_marker(config.description.as_deref(), self.job.id()) {
                        self.event(
                            "create",
                            "log",
                            &format!("CT {vmid} exists already (this job made it)"),
                        )
                        .await?;
                        return self.forget_password().await;
                    }
                    taken.insert(vmid);
                    self.reallocate(vmid, &taken).await?;
                    continue;
                }
                Err(e) if super::pve_says_missing(&e) => {}
                Err(e) => return Err(failed(format!("cannot read CT {vmid} on the node: {e}"))),
            }
            let params = self.params(vmid)?;
            match self.client.lxc_create(&self.pve_node, &params).await {
                Ok(upid) => {
                    self.follow("create", &upid).await?;
                    return self.forget_password().await;
                }
                Err(e) if super::pve_says_exists(&e) => {
                    taken.insert(vmid);
                    self.reallocate(vmid, &taken).await?;
                }
                Err(e) => return Err(failed(format!("the node refused the container: {e}"))),
            }
        }
        Err(failed(
            "the node kept answering that the chosen VMIDs already exist",
        ))
    }

    /// The node has another guest under `vmid`: a new VMID (none of `taken`), unless the
    /// user chose this one.
    async fn reallocate(&mut self, vmid: u32, taken: &BTreeSet<u32>) -> Result<(), JobError> {
        if self.request.vmid.is_some() {
            return Err(failed(format!(
                "VMID {vmid} was taken on the node by another guest; choose another"
            )));
        }
        VmidCache::new(self.state).add(self.row.node_id, vmid).await;
        self.event(
            "create",
            "log",
            &format!("VMID {vmid} was taken on the node meanwhile; choosing another"),
        )
        .await?;
        self.allocate_avoiding(taken).await
    }

    /// The node has the root password: Kiln no longer keeps it.
    async fn forget_password(&mut self) -> Result<(), JobError> {
        if self.row.root_password.is_none() {
            return Ok(());
        }
        fenced!(self, |conn, id| containers::set_root_password(
            conn, id, None
        ))?;
        self.row.root_password = None;
        Ok(())
    }

    /// Follows a Proxmox task to its end, its log lines becoming events.
    async fn follow(&mut self, phase: &str, upid: &Upid) -> Result<(), JobError> {
        let deadline = Instant::now() + TASK_TIMEOUT;
        let mut seen = 0u64;
        let mut pause = FIRST_POLL;
        // The task's id goes out with its first log lines (one write for both).
        let mut texts = vec![format!("task {upid}")];
        loop {
            let status = self.client.task_status(upid).await;
            let lines = self
                .client
                .task_log(upid, seen, 500)
                .await
                .unwrap_or_default();
            for line in lines {
                seen = seen.max(line.n);
                if line.t != "TASK OK" {
                    texts.push(line.t);
                }
            }
            self.log_lines(phase, &texts).await?;
            texts.clear();
            match status {
                Ok(s) if s.status == "stopped" => {
                    return match s.exitstatus.as_deref() {
                        Some("OK") => Ok(()),
                        other => Err(failed(format!(
                            "the node's task ended: {}",
                            other.unwrap_or("without a status")
                        ))),
                    };
                }
                Ok(_) => {}
                Err(e) if e.is_safe_to_retry() => {}
                Err(e) => return Err(failed(format!("cannot follow the node's task: {e}"))),
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "the node's task did not end within {} s",
                    TASK_TIMEOUT.as_secs()
                )));
            }
            if pause >= CANCEL_CHECK_PAUSE && self.job.cancel_requested().await? {
                return Err(JobError::Cancelled);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(TASK_POLL);
        }
    }

    /// Phase 3: starts the container unless it runs.
    async fn start(&mut self) -> Result<(), JobError> {
        let vmid = self.vmid()?;
        let status = self
            .client
            .lxc_status(&self.pve_node, vmid)
            .await
            .map_err(|e| failed(format!("cannot read CT {vmid}'s status: {e}")))?;
        if status.status == "running" {
            return Ok(());
        }
        let upid = self
            .client
            .lxc_start(&self.pve_node, vmid)
            .await
            .map_err(|e| failed(format!("the node did not start CT {vmid}: {e}")))?;
        self.follow("start", &upid).await
    }

    /// Phase 4: waits until `eth0` has an IPv4 address; records it.
    async fn network(&mut self) -> Result<(), JobError> {
        let vmid = self.vmid()?;
        let deadline = Instant::now() + NETWORK_TIMEOUT;
        let mut pause = FIRST_POLL;
        loop {
            let found = self
                .client
                .lxc_interfaces(&self.pve_node, vmid)
                .await
                .ok()
                .and_then(|list| {
                    list.into_iter()
                        .find(|i| i.name == "eth0")
                        .and_then(|i| i.inet)
                });
            if let Some(inet) = found {
                let address = inet.split('/').next().unwrap_or(&inet).to_owned();
                let text = format!("address {inet}");
                let seq = fenced!(self, |conn, id| async {
                    containers::set_address(conn, id, &address).await?;
                    containers::append_event(conn, id, "network", "log", &text).await
                })?;
                self.hub.notify(self.row.id, seq);
                self.row.address = Some(address);
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "CT {vmid} got no IPv4 address on eth0 within {} s (is DHCP answering on its bridge?)",
                    NETWORK_TIMEOUT.as_secs()
                )));
            }
            if pause >= CANCEL_CHECK_PAUSE && self.job.cancel_requested().await? {
                return Err(JobError::Cancelled);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(NETWORK_POLL);
        }
    }
}

impl Run<'_> {
    /// The node's shell (connected once per run).
    async fn shell(&mut self) -> Result<&NodeShell, JobError> {
        if self.shell.is_none() {
            let shell = crate::nodes::shell_for(self.state, &self.node)
                .await
                .map_err(failed)?;
            self.shell = Some(shell);
        }
        self.shell
            .as_ref()
            .ok_or_else(|| JobError::Internal("no shell".into()))
    }

    /// Runs `argv` in the container; its output becomes events. `Ok(output)` whatever its
    /// exit status.
    async fn exec(
        &mut self,
        phase: &str,
        argv: &[String],
    ) -> Result<crate::ssh::shell::Output, JobError> {
        let output = self.run_quiet(argv).await?;
        for line in provision::output_lines(&output) {
            self.event(phase, "log", &line).await?;
        }
        Ok(output)
    }

    /// Phase 5: with a template, the list of units before it (for discovery) and Kiln's
    /// helper library; then the template's files, by policy (`default`: only where absent;
    /// `replace`: where the content differs; `backup`: the old file moved aside first). A
    /// file already holding the content is left alone, so the phase is safe to run again.
    /// A plain OS container needs nothing of the node's SSH.
    async fn files(&mut self) -> Result<(), JobError> {
        if self.template.is_none() {
            return Ok(());
        }
        self.baseline().await?;
        self.push_helpers().await?;
        let files = self
            .template
            .as_ref()
            .map(|t| t.files.clone())
            .unwrap_or_default();
        let vmid = self.vmid()?;
        for file in files {
            let path = provision::file_path(&file).map_err(failed)?;
            let bytes = provision::file_bytes(&file).map_err(failed)?;
            let existing = self.sha256_in(&path).await?;
            let action = provision::file_action(file.policy, existing.as_deref(), &bytes);
            match action {
                provision::FileAction::Keep(why) => {
                    self.event("files", "log", &format!("{path}: {why}"))
                        .await?;
                    continue;
                }
                provision::FileAction::BackUpThenWrite => {
                    let backup = format!(
                        "{path}.backup-{}",
                        chrono::Utc::now().format("%Y%m%d-%H%M%S")
                    );
                    let moved = self
                        .exec(
                            "files",
                            &["mv".into(), "--".into(), path.clone(), backup.clone()],
                        )
                        .await?;
                    if !moved.success() {
                        return Err(failed(format!(
                            "backing up {path}: {}",
                            provision::tail(&moved, 2)
                        )));
                    }
                    self.event(
                        "files",
                        "log",
                        &format!("{path}: the old file is now {backup}"),
                    )
                    .await?;
                }
                provision::FileAction::Write => {}
            }
            let dir = file.target_dir.clone();
            let made = self
                .exec("files", &["mkdir".into(), "-p".into(), "--".into(), dir])
                .await?;
            if !made.success() {
                return Err(failed(format!(
                    "making {}: {}",
                    file.target_dir,
                    provision::tail(&made, 2)
                )));
            }
            self.shell()
                .await?
                .pct_push_bytes(vmid, &bytes, &path, Some(0o644))
                .await
                .map_err(|e| failed(format!("pushing {path}: {e}")))?;
            self.event(
                "files",
                "log",
                &format!("{path}: written ({})", file.policy.word()),
            )
            .await?;
        }
        Ok(())
    }

    /// Phase 6: the template's packages (and the user's additions), per manager.
    async fn packages(&mut self) -> Result<(), JobError> {
        let steps = provision::plan(self.template.as_ref(), &self.request);
        if steps.is_empty() {
            return self
                .event("packages", "log", "no packages to install")
                .await;
        }
        for step in steps {
            if let provision::Step::Custom { name, check, .. } = &step {
                let probe = self
                    .exec("packages", &["sh".into(), "-c".into(), check.clone()])
                    .await?;
                if probe.success() {
                    self.event("packages", "log", &format!("{name}: already installed"))
                        .await?;
                    continue;
                }
            }
            for argv in provision::commands(&step) {
                self.event("packages", "log", &format!("$ {}", argv.join(" ")))
                    .await?;
                let output = self.exec("packages", &argv).await?;
                if !output.success() {
                    let what = match &step {
                        provision::Step::Install { packages, .. } => packages.join(" "),
                        provision::Step::Custom { name, .. } => name.clone(),
                    };
                    return Err(failed(format!(
                        "installing {what} failed (exit status {}): {}",
                        output.status,
                        provision::tail(&output, 3)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Phase 7: the scripts, in order, each once, with the helper library sourced.
    async fn scripts(&mut self) -> Result<(), JobError> {
        let scripts: Vec<_> = provision::scripts(self.template.as_ref(), &self.request)
            .into_iter()
            .cloned()
            .collect();
        let skipped = self.request.scripts_skipped.clone();
        for name in skipped {
            self.event("scripts", "log", &format!("{name}: skipped"))
                .await?;
        }
        if scripts.is_empty() {
            return Ok(());
        }
        let mut conn = self.state.db.get().await?;
        let history = containers::events_after(&mut conn, self.row.id, 0, 100_000).await?;
        drop(conn);
        let said = |text: &str| {
            history
                .iter()
                .any(|e| e.phase == "scripts" && e.text == text)
        };
        let vmid = self.vmid()?;
        let env = provision::ScriptEnv::new(self.template.as_ref(), &self.request, vmid);
        // `pct push` writes into an existing directory only.
        let made = self
            .shell()
            .await?
            .pct_exec(vmid, &["mkdir", "-p", "-m", "0700", provision::SCRIPT_DIR])
            .await
            .map_err(|e| failed(format!("pct exec in CT {vmid} failed: {e}")))?;
        if !made.success() {
            return Err(failed(format!(
                "cannot make {} in CT {vmid}: {}",
                provision::SCRIPT_DIR,
                provision::tail(&made, 3)
            )));
        }
        for script in scripts {
            let started = provision::script_started(&script.file_name);
            let done = provision::script_done(&script.file_name);
            if said(&done) || said(&provision::script_skipped_on_retry(&script.file_name)) {
                continue;
            }
            if said(&started) && self.job.resumed() {
                return Err(failed(format!(
                    "{} was interrupted; scripts are not assumed safe to run twice: retry to run it again, retry skipping it, or delete the container",
                    script.file_name
                )));
            }
            let path = provision::script_path(&script);
            self.shell()
                .await?
                .pct_push_bytes(vmid, script.content.as_bytes(), &path, Some(0o700))
                .await
                .map_err(|e| failed(format!("pushing {}: {e}", script.file_name)))?;
            self.event("scripts", "log", &started).await?;
            let output = self
                .exec("scripts", &provision::script_command(&env, &path))
                .await?;
            if !output.success() {
                return Err(failed(format!(
                    "{} exited with status {}: {}",
                    script.file_name,
                    output.status,
                    provision::tail(&output, 3)
                )));
            }
            self.event("scripts", "log", &done).await?;
        }
        Ok(())
    }
}

/// The Proxmox node to create on: the first online member of the node's cluster.
pub(crate) async fn pve_node(client: &Client) -> Result<String, JobError> {
    let members = client
        .nodes()
        .await
        .map_err(|e| failed(format!("cannot reach the node: {e}")))?;
    members
        .into_iter()
        .find(|m| m.status == "online")
        .map(|m| m.node)
        .ok_or_else(|| failed("no member of the node's cluster is online"))
}

#[async_trait]
impl JobHandler for CreateContainer {
    async fn given_up(&self, job: &crate::jobs::GivenUp, message: &str) -> anyhow::Result<()> {
        let payload: Payload = serde_json::from_value(job.payload.clone())?;
        let phase = job.phase.as_deref().unwrap_or("allocate");
        let text = format!("failed in {phase}: {message}");
        super::record_given_up(
            &self.state,
            payload.container_id,
            phase,
            ("creating", "failed"),
            &text,
        )
        .await?;
        let mut conn = self.state.db.get().await?;
        let row = containers::get(&mut conn, None, payload.container_id).await?;
        drop(conn);
        if let Some(row) = row.filter(|r| !r.test_run && r.status == "failed")
            && let Some(owner_id) = row.owner_id
        {
            let failed = crate::alerts::hooks::FailedCreation {
                container_id: row.id,
                owner_id,
                node_id: row.node_id,
                hostname: &row.hostname,
                vmid: row.vmid,
                error: &text,
            };
            crate::alerts::hooks::creation_failed(&self.state, &failed).await;
        }
        Ok(())
    }

    async fn run(&self, job: &mut JobRun) -> Result<(), JobError> {
        let payload: Payload = job.payload_as()?;
        let mut conn = self.state.db.get().await?;
        let row = containers::get(&mut conn, None, payload.container_id)
            .await?
            .ok_or_else(|| failed(format!("container {} is gone", payload.container_id)))?;
        let owner = row.owner_id.unwrap_or_default();
        let node = crate::db::nodes::get(&mut conn, owner, row.node_id)
            .await?
            .ok_or_else(|| failed("the container's node is gone"))?;
        let asked_by = crate::db::users::by_id(&mut conn, owner)
            .await?
            .map_or_else(|| "Kiln".to_owned(), |u| u.username);
        let (template, used_hash) = match &row.template_slug {
            Some(slug) => {
                let t = crate::db::templates::by_slug(&mut conn, slug)
                    .await?
                    .ok_or_else(|| failed(format!("the template {slug} is gone")))?;
                let model = serde_json::from_value::<Template>(t.model)
                    .map_err(|e| JobError::Internal(format!("template {slug}: {e}")))?;
                (Some(model), t.content_hash)
            }
            None => (None, None),
        };
        drop(conn);
        let request: CreateRequest = serde_json::from_value(row.request.clone()).map_err(|e| {
            JobError::Internal(format!("container {}: stored request: {e}", row.id))
        })?;
        let client = self
            .state
            .node_clients
            .client(&node, &self.state.secret_key)
            .map_err(|e| JobError::Internal(format!("{e:#}")))?;
        let start = job
            .start_phase()
            .and_then(|p| PHASES.iter().position(|x| *x == p))
            .unwrap_or(0);
        let hub = self.state.container_events.clone();
        // The member a burst of creations goes to is asked once (`nodes::MEMBER_TTL`).
        let pve = match self.state.node_clients.member(node.id) {
            Some(name) => Ok(name),
            None => pve_node(&client).await.inspect(|name| {
                self.state.node_clients.set_member(node.id, name);
            }),
        };
        let mut run = Run {
            state: &self.state,
            hub: &hub,
            job,
            row,
            request,
            client,
            pve_node: String::new(),
            node,
            template,
            shell: None,
        };
        let pve = match pve {
            Ok(name) => name,
            Err(e) => return run.finish(PHASES[start], Err(e)).await,
        };
        run.pve_node = pve;
        if run.row.status != "creating" {
            // A retry of a failed creation.
            run.set_status("creating", None).await?;
        }
        if run.template.is_some() && used_hash != run.row.template_hash {
            // The template was edited or re-synced since the request: the row records the
            // content this run really uses.
            run.use_template_hash(PHASES[start], used_hash.as_deref())
                .await?;
        }
        // The container's lock for the whole run: no lifecycle action reaches the node while
        // it is being made (the deletion that cancels a creation waits for the run's end).
        let held = match super::lock::GuestLocks::new(&self.state)
            .acquire_waiting(
                run.row.id,
                ("create", &asked_by, run.job.id()),
                LOCK_POLL,
                LOCK_WAIT,
            )
            .await
        {
            Ok(held) => held.keep_alive(),
            Err(super::lock::LockError::Busy(busy)) => {
                let text = format!("the container stayed {busy}");
                return run.finish(PHASES[start], Err(failed(text))).await;
            }
            Err(e) => return Err(JobError::Interrupted(e.to_string())),
        };
        let result = run.phases(start).await;
        held.release().await;
        result
    }
}

impl Run<'_> {
    /// The phases from `start` on, then the outcome.
    async fn phases(&mut self, start: usize) -> Result<(), JobError> {
        let run = self;
        for phase in &PHASES[start..] {
            if !run.has_work(phase) {
                continue;
            }
            if run.enter(phase).await? {
                return run.finish(phase, Err(JobError::Cancelled)).await;
            }
            let result = match *phase {
                "allocate" => run.allocate().await,
                "create" => run.create().await,
                "start" => run.start().await,
                "network" => run.network().await,
                "files" => run.files().await,
                "packages" => run.packages().await,
                "scripts" => run.scripts().await,
                "discover" => run.discover().await,
                _ => Ok(()),
            };
            if result.is_err() {
                return run.finish(phase, result).await;
            }
        }
        run.finish("ready", Ok(())).await
    }
}

impl Run<'_> {
    /// Records the outcome as the last event (for a test run, then its report), then on the
    /// row — events before the terminal status, so a watcher that reads the status has them
    /// all —, and deletes a test run not kept; passes the result on.
    async fn finish(&mut self, phase: &str, result: Result<(), JobError>) -> Result<(), JobError> {
        let (outcome, status, error) = match &result {
            Ok(()) => ("ready".to_owned(), "ready", None),
            Err(JobError::Failed { message, .. }) => {
                let text = format!("failed in {phase}: {message}");
                (text.clone(), "failed", Some(text))
            }
            Err(JobError::Cancelled) => {
                ("cancelled".to_owned(), "failed", Some("cancelled".into()))
            }
            // Lost lease, shutdown: another run picks the job up and goes on.
            Err(_) => return result,
        };
        if self.row.test_run {
            self.event(phase, "outcome", &outcome).await?;
            self.test_report(phase, &result).await?;
            self.set_status(status, error.as_deref()).await?;
        } else {
            // The outcome and the status in one write (events first, as a watcher reads them).
            let seq = fenced!(self, |conn, id| async {
                let seq = containers::append_event(conn, id, phase, "outcome", &outcome).await?;
                containers::set_status_unless_deleting(conn, id, status, error.as_deref()).await?;
                Ok::<_, diesel::result::Error>(seq)
            })?;
            self.hub.notify(self.row.id, 0);
            self.hub.notify(self.row.id, seq);
        }
        self.tell_alerts(phase, &result).await;
        self.end_test_run().await?;
        result
    }

    /// A creation that ended failed (not cancelled) fires the owner's "creation failed"
    /// alerts; one that ended ready resolves an earlier failure's. Test runs report on their
    /// own and are left out.
    async fn tell_alerts(&self, phase: &str, result: &Result<(), JobError>) {
        if self.row.test_run {
            return;
        }
        match result {
            Ok(()) => crate::alerts::hooks::creation_ready(self.state, self.row.id).await,
            Err(JobError::Failed { message, .. }) => {
                let Some(owner_id) = self.row.owner_id else {
                    return;
                };
                let error = format!("failed in {phase}: {message}");
                let failed = crate::alerts::hooks::FailedCreation {
                    container_id: self.row.id,
                    owner_id,
                    node_id: self.row.node_id,
                    hostname: &self.row.hostname,
                    vmid: self.row.vmid,
                    error: &error,
                };
                crate::alerts::hooks::creation_failed(self.state, &failed).await;
            }
            Err(_) => {}
        }
    }
}
