//! The lab node: a Proxmox-VE-compatible HTTPS API on loopback, for development and tests
//! (`kiln lab`). It behaves like a PVE node (or a small cluster) closely enough that a client
//! bug shows up here as it would against a real one.
//!
//! Code map:
//! - `mod.rs` — options ([`LabArgs`], [`LabOptions`]), [`start`] / [`LabHandle`], [`run`].
//! - `tls` — the self-signed certificate (rcgen), kept in the data directory.
//! - `listener` — TLS accept loop; closes the socket for the "unreachable" fault.
//! - `api/` — request entry point (faults, parameters, auth, validation) and one handler
//!   module per API area (`cluster`, `lxc`, `node`, `access`).
//! - `schema` / `formats` — validation against PVE's own schema (`pve-schema.json`).
//! - `auth` — tokens, tickets, CSRF, roles, ACL privileges.
//! - `state` — persisted JSON state; `tasks` — UPID tasks; `faults` — injected failures;
//!   `runtime` — the [`runtime::ContainerRuntime`] seam (in-memory today) and the
//!   [`runtime::ContainerShell`] seam (the inside of containers); `rng` — seeded values.
//! - `preload` — `--preload N`: containers written into a fresh state at start (scratch).
//! - `pct` — `kiln lab pct`: the node shell's `pct` (list, status, exec, push, pull);
//!   `scratch` — per-container scratch roots under `<data dir>/rootfs/` run with bubblewrap.
//! - `sshd` — the node's SSH: a private Debian sshd whose `pct` is `kiln lab pct`;
//!   `children` — the lab's child processes, recorded so a killed lab's are found again.
//!
//! Architecture Invariant: the lab never touches PostgreSQL, Redis or the console's state;
//! it shares only `kiln_shared::pve` types (UPID) and the TLS fingerprint helper.

mod api;
mod auth;
mod children;
mod core;
pub mod faults;
mod formats;
mod listener;
pub mod lxc;
mod nofollow;
pub mod pct;
mod preload;
mod reply;
mod rng;
mod rrd;
pub mod runtime;
mod schema;
pub mod scratch;
pub mod sshd;
mod state;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::Faults;

use self::core::{Lab, LabParts};
pub use self::runtime::RuntimeKind;
use self::runtime::{ContainerRuntime, InMemoryRuntime};
use self::state::{State, Token};

/// `kiln lab`: serve a simulated Proxmox VE node over HTTPS.
#[derive(Debug, Clone, clap::Args)]
pub struct LabArgs {
    /// Instead of serving: a node-shell command against the lab in the data directory.
    #[command(subcommand)]
    pub command: Option<LabCommand>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8006")]
    pub listen: SocketAddr,
    /// Where the lab keeps its certificate and state (required).
    #[arg(long, value_name = "DIR", env = "KILN_LAB_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Simulate a cluster of N nodes named pve1..pveN (default: one node named `pve`).
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// Fix the API token (`root@pam!kiln=SECRET`); random (then kept) otherwise.
    #[arg(long, value_name = "ID=SECRET")]
    pub token: Option<String>,
    /// Fix the root@pam password; random (then kept) otherwise.
    #[arg(long, value_name = "PW")]
    pub password: Option<String>,
    /// Task duration factor: 1 = PVE-like (create 2 s), 0.1 = ten times faster, 0 = instant.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub speed: f64,
    /// Seed of every simulated value (addresses, MACs, load series, fault draws).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// A fault: latency=MS, error-rate=F, unreachable, node-596=NODE, task-fail=TYPE:TEXT.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Ticket lifetime in seconds (PVE: 7200).
    #[arg(long, value_name = "SECS", default_value_t = 7200)]
    pub ticket_lifetime: u64,
    /// What runs containers: `lxc` (real LXC containers; the default where this machine can
    /// run them) or `scratch` (simulated, `pct exec` in a bubblewrap scratch root).
    #[arg(long, value_name = "RUNTIME", value_enum)]
    pub runtime: Option<RuntimeKind>,
    /// Where the node's sshd listens (loopback; `pct` over SSH, as on Proxmox VE). By
    /// default a free port on `--listen`'s address, where this machine can run it (root,
    /// openssh-server).
    #[arg(long, value_name = "ADDR", conflicts_with = "no_ssh")]
    pub ssh_listen: Option<SocketAddr>,
    /// Run no sshd: the node then has no `pct` over SSH (Kiln cannot provision on it).
    #[arg(long)]
    pub no_ssh: bool,
    /// Start with N containers (VMIDs from 100, about 2/3 running, names, tags and members
    /// drawn from --seed) when the state has none yet; scratch runtime only.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preload: u32,
}

/// `kiln lab <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LabCommand {
    /// The node shell's `pct` for the lab's containers (list, status, exec, push, pull).
    #[command(subcommand)]
    Pct(pct::PctCommand),
    /// The OS templates containers are created from (build, list); kept outside the data
    /// directory, in $KILN_LAB_IMAGE_DIR or /var/cache/kiln/lab-images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Clean up after a lab on the data directory that is not running (killed): stop its
    /// containers, its dnsmasq and package proxy, remove its bridge and veths.
    Down,
}

/// `kiln lab image <command>`: the lab's OS templates ([`lxc::image`]).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ImageCommand {
    /// Build the Debian 12 template with debootstrap from the host's Debian archive (needs
    /// root; about a minute); does nothing when it is built.
    Build {
        /// Build it again even when it is built.
        #[arg(long)]
        force: bool,
    },
    /// List the templates the lab knows, built or not, with their size and path.
    List,
}

/// `kiln lab image build|list`: progress on stderr; `build` prints the image's path on stdout.
pub async fn image_command(command: ImageCommand) -> anyhow::Result<()> {
    use lxc::image;
    match command {
        ImageCommand::Build { force } => {
            let mut progress = |line: &str| eprintln!("{line}");
            let path = image::build(force, &mut progress).await?;
            println!("{}", path.display());
        }
        ImageCommand::List => {
            for name in image::TEMPLATES {
                match image::built(name) {
                    Some(path) => {
                        let size = std::fs::metadata(&path)
                            .with_context(|| format!("reading {}", path.display()))?
                            .len();
                        println!("{name}  {}  {}", image::megabytes(size), path.display());
                    }
                    None => println!(
                        "{name}  not built  {} (kiln lab image build)",
                        image::cache_dir().join(name).display()
                    ),
                }
            }
        }
    }
    Ok(())
}

/// How to start a lab (from tests, or built from [`LabArgs`]).
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Address to listen on (port 0 = any free port).
    pub listen: SocketAddr,
    /// Where certificate and state live.
    pub data_dir: PathBuf,
    /// Node count; `None` = one node named `pve`.
    pub nodes: Option<u32>,
    /// `root@pam!kiln=SECRET` to fix the token.
    pub token: Option<String>,
    /// The root@pam password to fix.
    pub password: Option<String>,
    /// Task duration factor.
    pub speed: f64,
    /// Seed.
    pub seed: u64,
    /// Faults in force from the start.
    pub faults: Faults,
    /// Ticket lifetime in seconds.
    pub ticket_lifetime: u64,
    /// What runs the containers.
    pub runtime: RuntimeKind,
    /// The node's sshd (`pct` over SSH); `None`: none.
    pub ssh: Option<sshd::LabSsh>,
    /// Containers to write into a state that has none (scratch runtime only; 0: none).
    pub preload: u32,
}

impl LabOptions {
    /// Defaults for tests: any free loopback port, one node, instant tasks, seed 0.
    pub fn new(data_dir: impl Into<PathBuf>) -> LabOptions {
        LabOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            nodes: None,
            token: None,
            password: None,
            speed: 0.0,
            seed: 0,
            faults: Faults::default(),
            ticket_lifetime: 7200,
            runtime: RuntimeKind::Scratch,
            ssh: None,
            preload: 0,
        }
    }
}

impl TryFrom<LabArgs> for LabOptions {
    type Error = anyhow::Error;
    fn try_from(args: LabArgs) -> anyhow::Result<LabOptions> {
        let mut faults = Faults::default();
        for spec in &args.faults {
            faults
                .apply_spec(spec)
                .with_context(|| format!("--fault {spec}"))?;
        }
        anyhow::ensure!(
            args.speed >= 0.0 && args.speed.is_finite(),
            "--speed must be >= 0"
        );
        let runtime = choose_runtime(args.runtime)?;
        check_preload(args.preload, runtime)?;
        let ssh = choose_ssh(args.ssh_listen, args.no_ssh, args.listen)?;
        Ok(LabOptions {
            ssh,
            listen: args.listen,
            data_dir: args
                .data_dir
                .context("--data-dir (or KILN_LAB_DATA_DIR) is required")?,
            nodes: args.nodes,
            token: args.token,
            password: args.password,
            speed: args.speed,
            seed: args.seed,
            faults,
            ticket_lifetime: args.ticket_lifetime,
            runtime,
            preload: args.preload,
        })
    }
}

/// A running lab.
#[derive(Debug)]
pub struct LabHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// SHA-256 fingerprint of the certificate (`AB:CD:...`).
    pub fingerprint: String,
    /// The certificate as PEM.
    pub cert_pem: String,
    /// The root API token, `root@pam!kiln=SECRET`.
    pub token: String,
    /// The root@pam password.
    pub password: String,
    /// The node names.
    pub nodes: Vec<String>,
    /// How many containers `--preload` wrote at this start (0 when the state had some).
    pub preloaded: u32,
    /// Shared lab state (faults).
    lab: Arc<Lab>,
    /// Tells the listener to stop.
    shutdown: watch::Sender<bool>,
    /// The listener task.
    server: JoinHandle<()>,
    /// The figures sampler (LXC runtime).
    sampler: Option<JoinHandle<()>>,
    /// The node's sshd, if it has one.
    sshd: Option<sshd::Sshd>,
}

impl LabHandle {
    /// `https://ADDR/api2/json`.
    pub fn base_url(&self) -> String {
        format!("https://{}/api2/json", self.addr)
    }
    /// The `Authorization` header value for the root token.
    pub fn token_header(&self) -> String {
        format!("PVEAPIToken={}", self.token)
    }
    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.lab.faults()
    }
    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        self.lab.set_faults(faults);
    }
    /// Closes (true) or reopens (false) the listener.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.lab.set_unreachable(unreachable);
    }
    /// The runtime in use.
    pub fn runtime(&self) -> RuntimeKind {
        self.lab.runtime.kind()
    }
    /// `vmbr0`'s real address (`10.x.y.1/24`) with the LXC runtime.
    pub fn bridge(&self) -> Option<String> {
        self.lab.runtime.bridge_cidr().map(|(cidr, _)| cidr)
    }
    /// The API calls received so far (what `GET /lab/requests` answers): `{"total": N,
    /// "paths": {"GET /cluster/resources": N, ...}}`.
    pub fn requests(&self) -> serde_json::Value {
        api::request_counts(&self.lab)
    }
    /// The node's sshd (address, host key, `authorized_keys`), if it has one.
    pub fn sshd(&self) -> Option<&sshd::Sshd> {
        self.sshd.as_ref()
    }
    /// Stops serving and waits for the listener to close; stops the sshd; the LXC runtime
    /// stops its containers and takes its network down.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(sshd) = self.sshd.take() {
            sshd.stop().await;
        }
        self.shutdown.send_replace(true);
        self.server.await.context("lab listener task")?;
        if let Some(sampler) = self.sampler {
            sampler.abort();
        }
        self.lab.runtime.shutdown().await;
        if self.lab.runtime.kind() == RuntimeKind::Lxc {
            self.lab
                .mutate(|s| {
                    mark_stopped(s);
                    Ok(())
                })
                .map_err(|e| anyhow::anyhow!("saving the lab state: {}", e.message()))?;
        }
        Ok(())
    }
}

fn node_names(nodes: Option<u32>) -> Vec<String> {
    match nodes {
        None | Some(0) => vec!["pve".to_owned()],
        Some(n) => (1..=n).map(|i| format!("pve{i}")).collect(),
    }
}

/// Starts a lab with the runtime its options name.
pub async fn start(opts: LabOptions) -> anyhow::Result<LabHandle> {
    check_preload(opts.preload, opts.runtime)?;
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let runtime: Arc<dyn ContainerRuntime> = match opts.runtime {
        RuntimeKind::Scratch => Arc::new(InMemoryRuntime::new(&opts.data_dir)),
        RuntimeKind::Lxc => Arc::new(
            lxc::LxcRuntime::start(&opts.data_dir)
                .await
                .context("starting the LXC runtime")?,
        ),
    };
    start_with_runtime(opts, runtime).await
}

/// `--preload` writes simulated containers into the state: only the scratch runtime has
/// nothing real behind a container.
fn check_preload(preload: u32, runtime: RuntimeKind) -> anyhow::Result<()> {
    anyhow::ensure!(
        preload == 0 || runtime == RuntimeKind::Scratch,
        "--preload works with the scratch runtime only (add --runtime scratch)"
    );
    Ok(())
}

/// Whether this runs under CI (`CI=true`), where a missing capability is an error.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The node's SSH: at `--ssh-listen`, none with `--no-ssh`, else on a free port of
/// `--listen`'s address (loopback) where this machine can run sshd — where it cannot, the lab
/// says why and runs without, except under `CI=true`, where that is an error.
fn choose_ssh(
    asked: Option<SocketAddr>,
    off: bool,
    api: SocketAddr,
) -> anyhow::Result<Option<sshd::LabSsh>> {
    if off {
        return Ok(None);
    }
    let kiln_binary = || std::env::current_exe().context("finding the kiln binary (for pct)");
    if let Some(listen) = asked {
        sshd::usable().map_err(|reason| anyhow::anyhow!("--ssh-listen: {reason}"))?;
        return Ok(Some(sshd::LabSsh {
            listen,
            kiln_binary: kiln_binary()?,
        }));
    }
    match sshd::usable() {
        Ok(()) => {
            let ip = if api.ip().is_loopback() {
                api.ip()
            } else {
                std::net::Ipv4Addr::LOCALHOST.into()
            };
            Ok(Some(sshd::LabSsh {
                listen: SocketAddr::new(ip, 0),
                kiln_binary: kiln_binary()?,
            }))
        }
        Err(reason) if under_ci() => anyhow::bail!(
            "the lab's SSH cannot run here: {reason} (CI=true: no fallback; --no-ssh runs without)"
        ),
        Err(reason) => {
            eprintln!("kiln lab: no SSH (pct over SSH): {reason}");
            Ok(None)
        }
    }
}

/// The runtime to use: the one asked for, else LXC where this machine can run it. Under
/// `CI=true` a fallback is an error, not a silent downgrade.
fn choose_runtime(asked: Option<RuntimeKind>) -> anyhow::Result<RuntimeKind> {
    if let Some(kind) = asked {
        return Ok(kind);
    }
    match lxc::probe::usable() {
        Ok(()) => Ok(RuntimeKind::Lxc),
        Err(reason) if under_ci() => {
            anyhow::bail!("the LXC runtime cannot run here: {reason} (CI=true: no fallback)")
        }
        Err(reason) => {
            eprintln!("kiln lab: using the scratch runtime: {reason}");
            Ok(RuntimeKind::Scratch)
        }
    }
}

/// After the LXC runtime stopped (or a previous run died), nothing of the lab runs.
fn mark_stopped(state: &mut State) {
    for ct in state.containers.values_mut() {
        ct.status = "stopped".to_owned();
        ct.started_at = None;
    }
}

/// Every few seconds: reconciles "running" with what really runs (a container can power
/// itself off) and feeds the resource history; the root file systems' use every minute.
async fn sample(lab: Arc<Lab>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        if rounds.is_multiple_of(12) {
            lab.runtime.refresh().await;
        }
        rounds += 1;
        let running: Vec<state::Container> = lab.read(|s| {
            s.containers
                .values()
                .filter(|c| c.running() && c.lock().is_none())
                .cloned()
                .collect()
        });
        for ct in running {
            if lab.runtime.is_running(ct.vmid).await == Some(false) {
                let _ = api::set_stopped(&lab, ct.vmid);
                lab.pause_history(ct.vmid);
                continue;
            }
            if let Some(usage) = lab.runtime.usage(&ct) {
                lab.record(ct.vmid, &usage);
            }
        }
    }
}

/// Starts a lab on a given container runtime.
pub async fn start_with_runtime(
    opts: LabOptions,
    runtime: Arc<dyn ContainerRuntime>,
) -> anyhow::Result<LabHandle> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let kind = runtime.kind();
    let nodes = node_names(opts.nodes);
    let cert = tls::load_or_create(&opts.data_dir, &nodes)?;
    let fingerprint = tls::fingerprint(&cert.cert);
    let mut state = state::load(&opts.data_dir)?.unwrap_or_default();
    tasks::reap_interrupted(&mut state);
    state.runtime = kind;
    if kind == RuntimeKind::Lxc {
        mark_stopped(&mut state);
    }
    check_preload(opts.preload, kind)?;
    let preloaded = preload::preload(
        &mut state,
        &nodes,
        opts.seed,
        opts.preload,
        self::core::now(),
    );
    let token = prepare_credentials(&mut state, &opts)?;
    let password = state.root_password.clone();
    state::save(&opts.data_dir, &state)?;
    let lab = Lab::new(LabParts {
        nodes: nodes.clone(),
        seed: opts.seed,
        speed: opts.speed,
        ticket_lifetime: i64::try_from(opts.ticket_lifetime).unwrap_or(i64::MAX),
        data_dir: opts.data_dir.clone(),
        fingerprint: fingerprint.clone(),
        state,
        faults: opts.faults.clone(),
        runtime,
        loopback: opts.listen.ip().is_loopback(),
    })?;
    let sshd = match &opts.ssh {
        None => None,
        Some(ssh) => {
            let config = sshd::SshdConfig::new(
                opts.data_dir.join("ssh"),
                ssh.listen,
                &ssh.kiln_binary,
                &opts.data_dir,
            );
            match sshd::Sshd::start(&config).await {
                Ok(sshd) => Some(sshd),
                Err(e) => {
                    lab.runtime.shutdown().await;
                    return Err(e);
                }
            }
        }
    };
    let listener = match tokio::net::TcpListener::bind(opts.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            if let Some(sshd) = sshd {
                sshd.stop().await;
            }
            lab.runtime.shutdown().await;
            return Err(anyhow::Error::from(e).context(format!("binding {}", opts.listen)));
        }
    };
    let addr = listener.local_addr()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&cert)?);
    let router = axum::Router::new()
        .fallback(api::handle)
        .with_state(Arc::clone(&lab));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let server = tokio::spawn(listener::serve(
        listener,
        acceptor,
        router,
        Arc::clone(&lab),
        shutdown_rx,
    ));
    let sampler = (kind == RuntimeKind::Lxc).then(|| tokio::spawn(sample(Arc::clone(&lab))));
    Ok(LabHandle {
        preloaded,
        sampler,
        sshd,
        addr,
        fingerprint,
        cert_pem: cert.pem,
        token,
        password,
        nodes,
        lab,
        shutdown,
        server,
    })
}

/// Sets the root password, ticket key and root token (from options, else kept, else new);
/// returns `root@pam!kiln=SECRET`.
fn prepare_credentials(state: &mut State, opts: &LabOptions) -> anyhow::Result<String> {
    if let Some(pw) = &opts.password {
        state.root_password = pw.clone();
    } else if state.root_password.is_empty() {
        state.root_password = hex::encode(rng::secret_bytes(9)?);
    }
    if state.ticket_key.is_empty() {
        state.ticket_key = hex::encode(rng::secret_bytes(32)?);
    }
    let (id, secret) = match &opts.token {
        Some(t) => {
            let (id, secret) = t
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--token must be USER@REALM!TOKENID=SECRET"))?;
            anyhow::ensure!(
                id.starts_with("root@pam!") && id.len() > 9 && !secret.is_empty(),
                "--token must be root@pam!TOKENID=SECRET"
            );
            (id.to_owned(), secret.to_owned())
        }
        None => match state.tokens.get("root@pam!kiln") {
            Some(t) => ("root@pam!kiln".to_owned(), t.secret.clone()),
            None => ("root@pam!kiln".to_owned(), rng::secret_uuid()?),
        },
    };
    state.tokens.insert(
        id.clone(),
        Token {
            secret: secret.clone(),
            privsep: false,
            comment: "lab root token".to_owned(),
        },
    );
    Ok(format!("{id}={secret}"))
}

/// `kiln lab down`: cleans up what a lab on `data_dir` that is not running left behind (the
/// next start does the same); the state then shows its containers stopped.
pub async fn down(data_dir: &std::path::Path) -> anyhow::Result<()> {
    sshd::recover(&data_dir.join("ssh")).await;
    lxc::cleanup(data_dir).await?;
    if let Some(mut state) = state::load(data_dir)? {
        mark_stopped(&mut state);
        state::save(data_dir, &state)?;
    }
    Ok(())
}

/// `kiln lab`: starts, prints how to connect, serves until Ctrl-C or SIGTERM.
pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    let opts = LabOptions::try_from(args)?;
    let handle = start(opts).await?;
    println!("Kiln lab node (Proxmox VE API) on https://{}", handle.addr);
    println!("  nodes:        {}", handle.nodes.join(", "));
    println!("  runtime:      {}", handle.runtime().as_str());
    if handle.preloaded > 0 {
        println!("  preloaded:    {} containers", handle.preloaded);
    }
    if let Some(bridge) = handle.bridge() {
        println!("  vmbr0:        {bridge} (containers get addresses by DHCP)");
        if lxc::image::built(lxc::image::DEBIAN_12).is_none() {
            println!("  images:       none built yet: run `kiln lab image build` (about a minute)");
        }
    }
    match handle.sshd() {
        Some(sshd) => {
            println!(
                "  SSH:          {} (root, public keys only; pct = kiln lab pct)",
                sshd.addr()
            );
            println!("  SSH host key: {}", sshd.host_key());
            println!(
                "                {} (as ssh-keygen -lf shows it)",
                sshd.host_key_fingerprint()
            );
            println!("  authorized_keys: {}", sshd.authorized_keys().display());
        }
        None => println!("  SSH:          off (no pct over SSH: Kiln cannot provision here)"),
    }
    println!("  fingerprint:  {}", handle.fingerprint);
    println!("  API token:    {}", handle.token);
    println!("  root@pam password: {}", handle.password);
    println!(
        "  API calls:    GET https://{}/lab/requests (counted by path; printed at exit)",
        handle.addr
    );
    wait_for_signal().await?;
    print_requests(&handle.requests());
    handle.shutdown().await
}

/// The API calls a lab received, one line per path, at exit.
fn print_requests(counts: &serde_json::Value) {
    println!("API calls received: {}", counts["total"]);
    for (path, n) in counts["paths"].as_object().into_iter().flatten() {
        println!("  {n:>8}  {path}");
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        lab: LabArgs,
    }

    fn options(args: &[&str]) -> anyhow::Result<LabOptions> {
        let cli = Cli::try_parse_from(
            ["kiln", "--data-dir", "/nonexistent/lab", "--no-ssh"]
                .iter()
                .chain(args),
        )?;
        LabOptions::try_from(cli.lab)
    }

    #[test]
    fn preload_is_refused_with_the_lxc_runtime() -> anyhow::Result<()> {
        let err = options(&["--runtime", "lxc", "--preload", "5"])
            .err()
            .context("refused")?;
        assert_eq!(
            err.to_string(),
            "--preload works with the scratch runtime only (add --runtime scratch)"
        );
        assert!(options(&["--runtime", "lxc"]).is_ok());
        assert_eq!(
            options(&["--runtime", "scratch", "--preload", "5"])?.preload,
            5
        );
        Ok(())
    }

    #[tokio::test]
    async fn preload_is_refused_with_the_lxc_runtime_from_options() {
        let mut opts = LabOptions::new("/nonexistent/lab");
        opts.runtime = RuntimeKind::Lxc;
        opts.preload = 1;
        let err = start(opts).await.err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--preload works with the scratch runtime only (add --runtime scratch)")
        );
    }
}
