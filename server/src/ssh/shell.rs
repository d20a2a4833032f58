//! [`NodeShell`]: a command channel to one node over SSH.
//!
//! The `openssh` crate starts the system `ssh` as a multiplexed master (`-M -f -N`, key auth
//! only: `BatchMode=yes`, `IdentitiesOnly=yes`) with the node's pinned host key and strict
//! checking; each command then runs over that master's control socket (`ssh -S SOCKET`), so a
//! job's many commands share one TCP connection and one authentication. Commands are run
//! through `ssh` directly rather than `openssh::Command::output` because the latter turns exit
//! statuses 127 and 255 into errors and drops the output; a real 255 is told apart from a lost
//! connection by checking the master afterwards.
//!
//! The node's host is resolved once per connection and `ssh` is given the address (see
//! [`super::address`]): the host key is checked on the very connection that carries the
//! commands, with no second name look-up in between.
//!
//! Limits: no password authentication (install the key first), no interactive sessions, and
//! the master exits after [`IDLE_EXIT`] without commands.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::io::AsyncWriteExt;

use super::host_key::{self, HostKey};
use super::keys::{self, NodeKey};
pub use super::pct::{PctEntry, parse_pct_list};
use super::quote::command_line;
use super::{SshError, Target};

/// How long an unused master connection stays up.
pub const IDLE_EXIT: Duration = Duration::from_secs(900);

/// The client options every connection uses (written to a config file given with `-F`, so
/// neither `~/.ssh/config` nor `/etc/ssh/ssh_config` changes how Kiln connects).
const SSH_CONFIG: &str = "\
# Written by Kiln; every connection to a node uses these options.
Host *
  HostKeyAlias kiln-pinned-node
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  CheckHostIP no
  UpdateHostKeys no
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  PubkeyAuthentication yes
  IdentitiesOnly yes
  ForwardAgent no
  ForwardX11 no
  ClearAllForwardings yes
  LogLevel ERROR
";

/// How to reach a node.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// User, host, port.
    pub target: Target,
    /// The node's private key file (from [`NodeKey::materialise`]).
    pub key_file: PathBuf,
    /// The pinned known_hosts file (from [`host_key::write_known_hosts`]).
    pub known_hosts: PathBuf,
    /// The client config file (from [`write_client_config`]).
    pub config_file: PathBuf,
    /// Where the master's control socket goes (a short path: sockets are limited to ~100
    /// bytes).
    pub control_dir: PathBuf,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
}

/// What a remote command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its exit status (`-1` when it died from a signal).
    pub status: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Standard error as text (lossy), trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// Writes the client config file into `dir` (mode 600) and returns its path.
pub fn write_client_config(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("ssh_config");
    if std::fs::read_to_string(&path).is_ok_and(|t| t == SSH_CONFIG) {
        return Ok(path);
    }
    let tmp = dir.join("ssh_config.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(SSH_CONFIG.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// A directory for control sockets: `preferred` when the socket's path fits (openssh makes
/// `.ssh-connectionXXXXXX/master` in it, and ssh appends 17 bytes while binding), else a
/// private temporary directory (random name, mode 0700) that lives as long as the connection.
fn control_dir(preferred: &Path) -> Result<(PathBuf, Option<tempfile::TempDir>), SshError> {
    if crate::run_dir::fits(preferred, ".ssh-connectionXXXXXX/master", 17) {
        return Ok((preferred.to_path_buf(), None));
    }
    let temp = tempfile::Builder::new()
        .prefix("kiln-ssh-")
        .tempdir()
        .map_err(|e| SshError::Local(format!("creating a directory for the SSH socket: {e}")))?;
    Ok((temp.path().to_owned(), Some(temp)))
}

/// An open SSH connection to a node.
#[derive(Debug)]
pub struct NodeShell {
    /// The master connection.
    session: Session,
    /// Where, as the user gave it (for messages).
    target: Target,
    /// The IP address `ssh` connected to (the host resolved once).
    address: String,
    /// A temporary directory holding the control socket, when the data directory's path is
    /// too long for it (dropped after the session).
    _control_dir: Option<tempfile::TempDir>,
}

impl NodeShell {
    /// Connects with explicit files (see [`NodeShell::connect_pinned`] for the usual way):
    /// resolves the host once, then tries its addresses in order.
    pub async fn connect(opts: &ConnectOptions) -> Result<NodeShell, SshError> {
        let target = opts.target.clone();
        host_key::check_host(&target.host).map_err(SshError::Local)?;
        if target.user.is_empty()
            || target.user.starts_with('-')
            || target
                .user
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(SshError::Local(format!(
                "`{}` is not a usable SSH user name",
                target.user
            )));
        }
        super::address::each_address(&target, |address| Self::connect_to(opts, address)).await
    }

    /// Connects `ssh` to one address.
    async fn connect_to(opts: &ConnectOptions, address: String) -> Result<NodeShell, SshError> {
        let target = opts.target.clone();
        let (control_dir, temp) = control_dir(&opts.control_dir)?;
        let mut builder = SessionBuilder::default();
        builder
            .user(target.user.clone())
            .port(target.port)
            .keyfile(&opts.key_file)
            .known_hosts_check(KnownHosts::Strict)
            .user_known_hosts_file(&opts.known_hosts)
            .config_file(&opts.config_file)
            .connect_timeout(opts.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(&control_dir)
            .control_persist(ControlPersist::IdleFor(
                std::num::NonZeroUsize::new(usize::try_from(IDLE_EXIT.as_secs()).unwrap_or(900))
                    .unwrap_or(std::num::NonZeroUsize::MIN),
            ));
        let session = builder
            .connect(&address)
            .await
            .map_err(|e| map_openssh_error(&target, e))?;
        tracing::debug!(ssh.target = %target, ssh.address = %address, "SSH master connected");
        Ok(NodeShell {
            session,
            target,
            address,
            _control_dir: temp,
        })
    }

    /// The usual way in: writes the node's key, its pinned known_hosts file and the client
    /// config under `<data_dir>/run/ssh/`, then connects. `node_id` keeps the files of
    /// different nodes apart. `pinned` is the confirmed host key; `None` refuses to connect.
    pub async fn connect_pinned(
        data_dir: &Path,
        target: Target,
        node_id: i64,
        pinned: Option<&HostKey>,
        key: &NodeKey,
    ) -> Result<NodeShell, SshError> {
        let pinned = pinned.ok_or_else(|| SshError::HostKeyNotPinned {
            target: target.clone(),
        })?;
        let local = |e: anyhow::Error| SshError::Local(format!("{e:#}"));
        let dir = keys::runtime_dir(data_dir).map_err(local)?;
        let opts = ConnectOptions {
            key_file: key.materialise(data_dir, node_id).map_err(local)?,
            known_hosts: host_key::write_known_hosts(&dir, &node_id.to_string(), pinned)
                .map_err(local)?,
            config_file: write_client_config(&dir).map_err(local)?,
            control_dir: dir,
            connect_timeout: Duration::from_secs(10),
            target,
        };
        Self::connect(&opts).await
    }

    /// Where this shell is connected.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The IP address `ssh` connected to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs `args` (program first; each argument quoted for the remote shell) and returns its
    /// status and output. A non-zero status is not an error here.
    pub async fn run(&self, args: &[&str]) -> Result<Output, SshError> {
        self.run_with_input(args, None).await
    }

    /// [`run`](Self::run) with `input` on the command's standard input.
    pub async fn run_with_input(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Output, SshError> {
        let line = command_line(args).map_err(|e| SshError::Local(e.to_string()))?;
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.arg("-S")
            .arg(self.session.control_socket())
            .args(["-o", "BatchMode=yes", "-T", "-p", "9", "none", "--"])
            .arg(&line)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| SshError::Local(format!("cannot run ssh: {e}")))?;
        let writer = match (input, child.stdin.take()) {
            (Some(data), Some(mut stdin)) => {
                let data = data.to_vec();
                Some(tokio::spawn(async move {
                    let result = stdin.write_all(&data).await;
                    drop(stdin);
                    result
                }))
            }
            _ => None,
        };
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| SshError::Local(format!("waiting for ssh: {e}")))?;
        if let Some(writer) = writer {
            // A command that does not read all its input is not an error (like a pipe).
            let _ = writer.await;
        }
        let status = out.status.code().unwrap_or(-1);
        if status == 255 && self.session.check().await.is_err() {
            return Err(SshError::Disconnected {
                target: self.target.clone(),
            });
        }
        Ok(Output {
            status,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// Runs `args` and fails unless it exits 0; returns its standard output.
    pub(super) async fn run_ok(
        &self,
        what: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Vec<u8>, SshError> {
        let out = self.run_with_input(args, input).await?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(SshError::Command {
                command: what.to_owned(),
                status: out.status,
                stderr: out.stderr_text(),
            })
        }
    }

    /// Closes the master connection.
    pub async fn close(self) -> Result<(), SshError> {
        let target = self.target.clone();
        self.session
            .close()
            .await
            .map_err(|e| map_openssh_error(&target, e))
    }
}

/// Checks SSH access to a node the way Kiln uses it: connects with the pinned host key and
/// the node's key, then runs `pct list`. Returns the number of containers `pct` reports.
pub async fn test_access(
    data_dir: &Path,
    target: Target,
    node_id: i64,
    pinned: Option<&HostKey>,
    key: &NodeKey,
) -> Result<usize, SshError> {
    let shell = NodeShell::connect_pinned(data_dir, target, node_id, pinned, key).await?;
    let result = shell.pct_list().await;
    let _ = shell.close().await;
    result.map(|list| list.len())
}

/// An `openssh` error as an [`SshError`], from ssh's own words where there are some.
fn map_openssh_error(target: &Target, err: openssh::Error) -> SshError {
    match err {
        openssh::Error::Connect(io) => SshError::from_ssh_text(target, &io.to_string()),
        openssh::Error::Disconnected | openssh::Error::RemoteProcessTerminated => {
            SshError::Disconnected {
                target: target.clone(),
            }
        }
        openssh::Error::Master(io) => SshError::Local(format!(
            "cannot start the ssh master connection (is the `ssh` client installed?): {io}"
        )),
        other => SshError::Other {
            target: target.clone(),
            detail: other.to_string(),
        },
    }
}
