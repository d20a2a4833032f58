//! The lab node's SSH side, as a Proxmox VE node has it: Debian's `sshd` (openssh-server) run
//! as the lab's child on loopback, accepting root with a public key only, whose `pct` is
//! `kiln lab pct` on the lab's data directory. Kiln reaches a real node's `pct` this way, so it
//! reaches the lab's the same way: its node key in `authorized_keys`, the host key pinned.
//!
//! The files, in `<data dir>/ssh/` (root, mode 700):
//! - `ssh_host_ed25519_key` (and `.pub`): made once with `ssh-keygen` and kept, so a pinned host
//!   key stays valid across restarts;
//! - `authorized_keys`: created empty (mode 600) and never rewritten by the lab — whoever gives
//!   access appends a line (Kiln does, for the lab node `./kiln.sh up` registers);
//! - `sshd_config`: written at each start (that address, host key and `authorized_keys`,
//!   public keys only, root only, no forwarding, no PAM; `PATH` starts with `bin/`);
//! - `bin/pct`: `KILN_LAB_DATA_DIR=<data dir> exec <kiln> lab pct "$@"`;
//! - `sshd.log`; `sshd.json`, the child's record (`children`), so the next start and
//!   `kiln lab down` stop an sshd a lab killed with `kill -9` left behind.
//!
//! Paths go into `sshd_config` and the wrapper unquoted, so they must be plain (letters,
//! digits and `/._+-:@,`); [`Sshd::start`] refuses others with the reason. Sessions open when
//! sshd stops end when their client disconnects, as on a real node.
//!
//! Architecture Invariant: the lab's sshd listens on a loopback address only, accepts only
//! public keys (tests may add `sshd_config` lines through [`SshdConfig::extra`]; the lab adds
//! none), and only the record in its own directory is ever used to stop one.

use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;

use crate::children::{self, Child, Readiness};
use crate::lxc::probe::installed;

/// Debian's sshd.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd has to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A lab's SSH: where it listens and which `kiln` runs `pct`.
#[derive(Debug, Clone)]
pub struct LabSsh {
    /// A loopback address; port 0 = a free port.
    pub listen: SocketAddr,
    /// The `kiln` binary whose `kiln lab pct` is the node's `pct`.
    pub kiln_binary: PathBuf,
}

/// How to run one sshd: the lab's (`<data dir>/ssh`), or one a test runs beside a lab.
#[derive(Debug, Clone)]
pub struct SshdConfig {
    /// Its host key, configuration, `bin/pct`, log and record.
    pub dir: PathBuf,
    /// A loopback address; port 0 = a free port.
    pub listen: SocketAddr,
    /// The `kiln` binary whose `kiln lab pct` is the node's `pct`.
    pub kiln_binary: PathBuf,
    /// The lab data directory that `pct` works on.
    pub lab_data_dir: PathBuf,
    /// `AuthorizedKeysFile` (created empty when missing).
    pub authorized_keys: PathBuf,
    /// `sshd_config` lines put before the lab's own (sshd keeps the first value of a keyword):
    /// only for tests (e.g. password sign-in for the one-time key install); the lab sets none.
    pub extra: String,
}

impl SshdConfig {
    /// An sshd in `dir` for the lab in `lab_data_dir`, authorizing `dir/authorized_keys`.
    pub fn new(
        dir: impl Into<PathBuf>,
        listen: SocketAddr,
        kiln_binary: impl Into<PathBuf>,
        lab_data_dir: impl Into<PathBuf>,
    ) -> SshdConfig {
        let dir = dir.into();
        SshdConfig {
            authorized_keys: dir.join("authorized_keys"),
            dir,
            listen,
            kiln_binary: kiln_binary.into(),
            lab_data_dir: lab_data_dir.into(),
            extra: String::new(),
        }
    }
}

/// A running sshd (SIGKILLed if dropped; [`Sshd::stop`] stops it cleanly).
pub struct Sshd {
    /// Where it accepts connections.
    addr: SocketAddr,
    /// Its directory (canonical).
    dir: PathBuf,
    /// `AuthorizedKeysFile` (canonical).
    authorized_keys: PathBuf,
    /// Its host key, `ssh-ed25519 AAAA…`.
    host_key: String,
    /// The process.
    child: Option<Child>,
}

impl std::fmt::Debug for Sshd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sshd")
            .field("addr", &self.addr)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// `Ok` when this machine can run the lab's sshd, else why not (one line).
pub fn usable() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("the lab's sshd needs root (it signs in as root, as on Proxmox VE)".to_owned());
    }
    if !installed(SSHD) {
        return Err(format!(
            "{SSHD} is not installed (apt-get install openssh-server, or ./kiln.sh setup)"
        ));
    }
    if !installed("ssh-keygen") {
        return Err(
            "ssh-keygen is not installed (apt-get install openssh-client, or ./kiln.sh setup)"
                .to_owned(),
        );
    }
    Ok(())
}

impl Sshd {
    /// Starts sshd as `config` says (stopping one a killed run of the same directory left
    /// behind first) and waits until it accepts connections. With port 0 it takes a free port
    /// (another one if that was taken meanwhile).
    pub async fn start(config: &SshdConfig) -> anyhow::Result<Sshd> {
        usable().map_err(|reason| anyhow::anyhow!(reason))?;
        anyhow::ensure!(
            config.listen.ip().is_loopback(),
            "the lab's sshd listens on a loopback address only, not {}",
            config.listen.ip()
        );
        let files = Files::prepare(config)?;
        recover(&files.dir).await;
        let tries = if config.listen.port() == 0 { 3 } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            let addr = match config.listen.port() {
                0 => free_port(config.listen)?,
                _ => config.listen,
            };
            match files.spawn(config, addr).await {
                Ok(child) => {
                    return Ok(Sshd {
                        addr,
                        host_key: files.host_key.clone(),
                        authorized_keys: files.authorized_keys.clone(),
                        dir: files.dir,
                        child: Some(child),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
    }

    /// Where it accepts connections.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The authorized keys file: a line added there signs in as root.
    pub fn authorized_keys(&self) -> &Path {
        &self.authorized_keys
    }

    /// The host key, `ssh-ed25519 AAAA…` (what Kiln pins).
    pub fn host_key(&self) -> &str {
        &self.host_key
    }

    /// The host key's fingerprint, `SHA256:…`, as `ssh-keygen -lf` shows it.
    pub fn host_key_fingerprint(&self) -> String {
        fingerprint(&self.host_key).unwrap_or_default()
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Stops sshd (SIGTERM, SIGKILL after 2 s) and removes its record.
    pub async fn stop(mut self) {
        if let Some(child) = self.child.take() {
            children::stop(child).await;
        }
        remove_record(&self.dir);
    }
}

/// Stops the sshd a lab killed with `kill -9` left running in `dir` (only while pid and
/// start time still match its record) and removes the record.
pub async fn recover(dir: &Path) {
    let path = record_path(dir);
    for record in children::read_records(&path) {
        if children::is_running(&record) {
            tracing::info!(pid = record.pid, dir = %dir.display(), "stopping the sshd of a lab that did not stop cleanly");
            children::stop_recorded(&record).await;
        }
    }
    remove_record(dir);
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("sshd.json")
}

fn remove_record(dir: &Path) {
    let path = record_path(dir);
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the sshd record");
    }
}

/// The prepared files of one sshd.
struct Files {
    dir: PathBuf,
    config: PathBuf,
    authorized_keys: PathBuf,
    host_key: String,
    /// The paths written unquoted into the configuration and the wrapper.
    kiln: String,
    lab_data_dir: String,
}

impl Files {
    /// Creates the directory (mode 700), the host key (once), `authorized_keys` (when missing)
    /// and `bin/pct`.
    fn prepare(config: &SshdConfig) -> anyhow::Result<Files> {
        let dir = &config.dir;
        std::fs::create_dir_all(dir.join("bin"))
            .with_context(|| format!("creating {}", dir.display()))?;
        set_mode(dir, 0o700)?;
        let dir = std::fs::canonicalize(dir)?;
        let kiln = std::fs::canonicalize(&config.kiln_binary)
            .with_context(|| format!("finding {}", config.kiln_binary.display()))?;
        let lab_data_dir = std::fs::canonicalize(&config.lab_data_dir)
            .unwrap_or_else(|_| config.lab_data_dir.clone());
        let authorized_keys = &config.authorized_keys;
        if !authorized_keys.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(authorized_keys)
                .with_context(|| format!("creating {}", authorized_keys.display()))?;
        }
        let authorized_keys = std::fs::canonicalize(authorized_keys)?;
        let host_key = host_key(&dir)?;
        let files = Files {
            config: dir.join("sshd_config"),
            kiln: plain(&kiln)?,
            lab_data_dir: plain(&lab_data_dir)?,
            host_key,
            authorized_keys,
            dir,
        };
        plain(&files.dir)?;
        plain(&files.authorized_keys)?;
        let pct = files.dir.join("bin/pct");
        let wrapper = format!(
            "#!/bin/sh\n# The node shell's pct: the lab's containers (written by kiln lab at each start).\n\
             KILN_LAB_DATA_DIR={} exec {} lab pct \"$@\"\n",
            files.lab_data_dir, files.kiln
        );
        write_file(&pct, &wrapper, 0o755)?;
        Ok(files)
    }

    /// Writes the configuration for `addr`, starts sshd, records it and waits until it
    /// accepts connections.
    async fn spawn(&self, config: &SshdConfig, addr: SocketAddr) -> anyhow::Result<Child> {
        let d = plain(&self.dir)?;
        let text = format!(
            "# Written by kiln lab at each start: changes are lost.\n{extra}\
             ListenAddress {addr}\n\
             HostKey {d}/ssh_host_ed25519_key\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {keys}\n\
             AuthenticationMethods publickey\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             AllowUsers root\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitUserEnvironment no\n\
             AllowTcpForwarding no\n\
             AllowStreamLocalForwarding no\n\
             AllowAgentForwarding no\n\
             X11Forwarding no\n\
             PermitTunnel no\n\
             PrintMotd no\n\
             SetEnv PATH={d}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
             LogLevel VERBOSE\n",
            extra = extra_lines(&config.extra),
            keys = plain(&self.authorized_keys)?,
        );
        write_file(&self.config, &text, 0o600)?;
        // sshd's privilege separation directory (Debian's service makes it at boot).
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let mut cmd = tokio::process::Command::new(SSHD);
        cmd.arg("-D").arg("-e").arg("-f").arg(&self.config);
        let log = self.dir.join("sshd.log");
        let mut child = children::spawn("sshd", cmd, &log)?;
        children::write_records(&record_path(&self.dir), std::slice::from_ref(&child.record))?;
        let ready = children::wait_ready(&mut child, READY_TIMEOUT, |_| {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(_) => Readiness::Ready,
                Err(_) => Readiness::NotYet,
            }
        })
        .await;
        match ready {
            Ok(()) => Ok(child),
            Err(e) => {
                children::stop(child).await;
                remove_record(&self.dir);
                Err(e.context(format!("starting the lab's sshd on {addr}")))
            }
        }
    }
}

/// `extra` with a final newline (when not empty).
fn extra_lines(extra: &str) -> String {
    if extra.is_empty() || extra.ends_with('\n') {
        extra.to_owned()
    } else {
        format!("{extra}\n")
    }
}

/// The host key `ssh-ed25519 AAAA…` of `dir`, made with `ssh-keygen` the first time.
fn host_key(dir: &Path) -> anyhow::Result<String> {
    let key = dir.join("ssh_host_ed25519_key");
    let public = dir.join("ssh_host_ed25519_key.pub");
    if !key.exists() {
        let _ = std::fs::remove_file(&public);
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "kiln-lab", "-f"])
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .output()
            .context("running ssh-keygen")?;
        anyhow::ensure!(
            out.status.success(),
            "ssh-keygen could not make the lab's host key: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if !public.exists() {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .output()
            .context("running ssh-keygen")?;
        anyhow::ensure!(
            out.status.success(),
            "ssh-keygen could not read the lab's host key: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        std::fs::write(&public, &out.stdout)
            .with_context(|| format!("writing {}", public.display()))?;
    }
    let text = std::fs::read_to_string(&public)
        .with_context(|| format!("reading {}", public.display()))?;
    let mut fields = text.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(kind), Some(blob)) if fingerprint(&format!("{kind} {blob}")).is_some() => {
            Ok(format!("{kind} {blob}"))
        }
        _ => anyhow::bail!("{} is not an SSH public key", public.display()),
    }
}

/// `SHA256:<base64 without padding>` of the key blob of `TYPE BASE64`.
pub fn fingerprint(key: &str) -> Option<String> {
    let blob = key.split_whitespace().nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    Some(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref())
    ))
}

/// `path` as text when it needs no quoting in `sshd_config` or a shell line, else why not.
fn plain(path: &Path) -> anyhow::Result<String> {
    let text = path.to_str().unwrap_or_default();
    let ok = text.starts_with('/')
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '+' | '-' | ':' | '@' | ',')
        });
    anyhow::ensure!(
        ok,
        "{} cannot be used by the lab's sshd: only letters, digits and /._+-:@, are allowed in its paths",
        path.display()
    );
    Ok(text.to_owned())
}

/// A free port on `listen`'s address (the listener is closed again: sshd binds it next).
fn free_port(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0))
        .with_context(|| format!("finding a free port on {}", listen.ip()))?;
    Ok(probe.local_addr()?)
}

fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_like_ssh_keygen() {
        // `ssh-keygen -lf` of this key prints this fingerprint.
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoSQirgfYY4lGtzyfaPuxCSqVKTBSO/ACl35PBoRYWn";
        assert_eq!(
            fingerprint(key).as_deref(),
            Some("SHA256:gJtl2ulolY9H1J/p2LyEctFd+JVXOtvkiMNrW/89qTQ")
        );
        assert_eq!(fingerprint("ssh-ed25519 !!!"), None);
        assert_eq!(fingerprint("ssh-ed25519"), None);
    }

    #[test]
    fn only_plain_paths_go_unquoted() {
        assert!(plain(Path::new("/var/lib/kiln/lab/ssh")).is_ok());
        assert!(plain(Path::new("/tmp/kiln-e2e_1.x/lab")).is_ok());
        for bad in ["/a b", "/a'b", "/a$b", "relative", "/a\nb", "/a%h", "/a\"b"] {
            assert!(plain(Path::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn extra_lines_end_with_a_newline() {
        assert_eq!(extra_lines(""), "");
        assert_eq!(extra_lines("A b"), "A b\n");
        assert_eq!(extra_lines("A b\n"), "A b\n");
    }
}
