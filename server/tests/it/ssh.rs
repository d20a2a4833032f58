//! `pct` over real SSH: a private `sshd` (Debian `openssh-server`) on a free loopback port —
//! the lab's own (`kiln_server::lab::sshd`), in a directory of its own — whose `pct` is a
//! wrapper running `kiln lab pct` against a running lab. Kiln connects with the node's key and
//! the pinned host key, as it does with real nodes. Needs root (sshd), `sshd`, `ssh`,
//! `ssh-keyscan` and `bwrap`. `ssh_keys` reuses the sshd and the helpers here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kiln_server::lab::{self, LabHandle, LabOptions};
use kiln_server::proxmox::tasks::wait_task;
use kiln_server::proxmox::{Auth, Client, ClientConfig, ProxmoxApi};
use kiln_server::ssh::host_key::{self, HostKey};
use kiln_server::ssh::keys::NodeKey;
use kiln_server::ssh::shell::NodeShell;
use kiln_server::ssh::{SshError, Target};
use kiln_shared::pve::LxcCreate;

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn temp_dir(what: &str) -> PathBuf {
    let suffix = crate::harness::unique();
    std::env::temp_dir().join(format!("kiln-{what}-{}", &suffix[..8.min(suffix.len())]))
}

fn free_port() -> R<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A private sshd in front of a lab: the lab's own (`kiln_server::lab::sshd`) in a directory of
/// its own, authorizing the given keys; killed on drop.
pub(crate) struct Sshd {
    /// Its loopback port.
    pub(crate) port: u16,
    /// Its configuration, keys and log.
    pub(crate) dir: PathBuf,
    inner: Option<lab::sshd::Sshd>,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        drop(self.inner.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Sshd {
    /// Starts sshd accepting `authorized` keys for root, with `pct` = `kiln lab pct` on the lab
    /// in `lab_dir`.
    pub(crate) async fn start(authorized: &[&str], lab_dir: &Path) -> R<Sshd> {
        Self::start_with(authorized, lab_dir, "").await
    }

    /// [`Sshd::start`] with `sshd_config` lines that come before the lab's (sshd keeps the
    /// first value of a keyword).
    async fn start_with(authorized: &[&str], lab_dir: &Path, extra: &str) -> R<Sshd> {
        let dir = temp_dir("sshd");
        std::fs::create_dir_all(&dir)?;
        let mut config = lab::sshd::SshdConfig::new(
            &dir,
            "127.0.0.1:0".parse()?,
            env!("CARGO_BIN_EXE_kiln"),
            lab_dir,
        );
        config.extra = extra.to_owned();
        std::fs::write(&config.authorized_keys, authorized.join("\n") + "\n")?;
        let inner = lab::sshd::Sshd::start(&config).await?;
        Ok(Sshd {
            port: inner.addr().port(),
            dir,
            inner: Some(inner),
        })
    }

    pub(crate) fn host_key(&self) -> R<HostKey> {
        let text = std::fs::read_to_string(self.dir.join("ssh_host_ed25519_key.pub"))?;
        Ok(HostKey::parse(&text)?)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    pub(crate) fn target(&self) -> Target {
        Target {
            user: "root".into(),
            host: "127.0.0.1".into(),
            port: self.port,
        }
    }
}

/// A lab with CT 101 (running, `web`) and CT 102 (stopped, `db`), an sshd in front of it,
/// a node key (authorized) and Kiln's data directory.
struct Fixture {
    lab: Option<LabHandle>,
    lab_dir: PathBuf,
    sshd: Sshd,
    key: NodeKey,
    data_dir: PathBuf,
}

impl Fixture {
    async fn start() -> R<Fixture> {
        let lab_dir = temp_dir("ssh-lab");
        let lab = lab::start(LabOptions::new(&lab_dir)).await?;
        let (id, secret) = lab.token.split_once('=').ok_or("token")?;
        let client = Client::new(ClientConfig {
            host: "127.0.0.1".into(),
            port: lab.addr.port(),
            fingerprint: lab.fingerprint.clone(),
            auth: Auth::Token {
                id: id.into(),
                secret: secret.into(),
            },
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        })?;
        for (vmid, name, start) in [(101, "web", true), (102, "db", false)] {
            let create = LxcCreate {
                vmid,
                ostemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
                hostname: name.into(),
                rootfs: "local-lvm:8".into(),
                start: Some(start),
                ..LxcCreate::default()
            };
            let upid = client.lxc_create("pve", &create).await?;
            let done = wait_task(&client, &upid, Duration::from_secs(10)).await?;
            assert_eq!(done.exitstatus.as_deref(), Some("OK"));
        }
        let key = NodeKey::generate("kiln@test")?;
        let sshd = Sshd::start(&[key.public_key()], &lab_dir).await?;
        Ok(Fixture {
            lab: Some(lab),
            lab_dir,
            sshd,
            key,
            data_dir: temp_dir("ssh-data"),
        })
    }

    async fn shell(&self) -> R<NodeShell> {
        let pinned = host_key::fetch("127.0.0.1", self.sshd.port).await?;
        Ok(NodeShell::connect_pinned(
            &self.data_dir,
            self.sshd.target(),
            1,
            Some(&pinned),
            &self.key,
        )
        .await?)
    }

    async fn stop(mut self) -> R {
        if let Some(lab) = self.lab.take() {
            lab.shutdown().await?;
        }
        let _ = std::fs::remove_dir_all(&self.lab_dir);
        let _ = std::fs::remove_dir_all(&self.data_dir);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn host_key_is_fetched_pinned_and_pct_list_works() -> R {
    let fx = Fixture::start().await?;
    let fetched = host_key::fetch("127.0.0.1", fx.sshd.port).await?;
    assert_eq!(fetched, fx.sshd.host_key()?, "keyscan returns sshd's key");
    assert_eq!(fetched.algorithm(), "ssh-ed25519");
    let keygen = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(fx.sshd.dir.join("ssh_host_ed25519_key.pub"))
        .output()?;
    assert!(
        String::from_utf8(keygen.stdout)?.contains(fetched.fingerprint()),
        "same fingerprint as ssh-keygen -lf"
    );
    assert_eq!(
        HostKey::parse(&fetched.to_openssh())?,
        fetched,
        "stored form"
    );

    let shell = fx.shell().await?;
    let list = shell.pct_list().await?;
    let summary: Vec<(u32, &str, &str)> = list
        .iter()
        .map(|e| (e.vmid, e.status.as_str(), e.name.as_str()))
        .collect();
    assert_eq!(summary, [(101, "running", "web"), (102, "stopped", "db")]);
    assert_eq!(shell.pct_status(101).await?, "running");
    assert_eq!(shell.pct_status(102).await?, "stopped");
    // Several commands share the master connection.
    let who = shell.run(&["whoami"]).await?;
    assert_eq!(who.stdout_text(), "root\n");
    shell.close().await?;

    let count = kiln_server::ssh::shell::test_access(
        &fx.data_dir,
        fx.sshd.target(),
        1,
        Some(&fetched),
        &fx.key,
    )
    .await?;
    assert_eq!(count, 2);
    fx.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_host_key_fails_clearly() -> R {
    let fx = Fixture::start().await?;
    let other = NodeKey::generate("impostor")?;
    let wrong = HostKey::parse(other.public_key())?;
    let err = NodeShell::connect_pinned(&fx.data_dir, fx.sshd.target(), 1, Some(&wrong), &fx.key)
        .await
        .err()
        .ok_or("connected despite a wrong host key")?;
    assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err:?}");
    assert!(err.to_string().contains("host key changed"), "{err}");

    let unpinned =
        NodeShell::connect_pinned(&fx.data_dir, fx.sshd.target(), 1, None, &fx.key).await;
    assert!(matches!(unpinned, Err(SshError::HostKeyNotPinned { .. })));
    fx.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthorized_key_and_a_closed_port_fail_clearly() -> R {
    let fx = Fixture::start().await?;
    let pinned = host_key::fetch("127.0.0.1", fx.sshd.port).await?;
    let stranger = NodeKey::generate("stranger")?;
    let err =
        NodeShell::connect_pinned(&fx.data_dir, fx.sshd.target(), 1, Some(&pinned), &stranger)
            .await
            .err()
            .ok_or("connected with an unauthorized key")?;
    assert!(matches!(err, SshError::AuthRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("authorized_keys"), "{err}");

    let closed = Target {
        port: free_port()?,
        ..fx.sshd.target()
    };
    let err = NodeShell::connect_pinned(&fx.data_dir, closed.clone(), 2, Some(&pinned), &fx.key)
        .await
        .err()
        .ok_or("connected to a closed port")?;
    assert!(matches!(err, SshError::Refused { .. }), "{err:?}");
    assert!(host_key::fetch("127.0.0.1", closed.port).await.is_err());
    fx.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_files_are_real_and_read_back() -> R {
    let fx = Fixture::start().await?;
    let shell = fx.shell().await?;
    let content = b"hello from kiln\nline two with 'quotes' and $(subshell)\n";
    shell
        .pct_push_bytes(101, content, "/root/greeting.txt", Some(0o600))
        .await?;
    let cat = shell.pct_exec(101, &["cat", "/root/greeting.txt"]).await?;
    assert_eq!(cat.status, 0, "{}", cat.stderr_text());
    assert_eq!(cat.stdout, content);
    let mode = shell
        .pct_exec(101, &["stat", "-c", "%a", "/root/greeting.txt"])
        .await?;
    assert_eq!(mode.stdout_text(), "600\n");
    assert_eq!(
        shell.pct_pull_bytes(101, "/root/greeting.txt").await?,
        content
    );
    // The file is on disk in the container's scratch root, not on the host's /root.
    let on_disk = std::fs::read(fx.lab_dir.join("rootfs/101/root/greeting.txt"))?;
    assert_eq!(on_disk, content);

    // A local file, pushed and pulled through local paths.
    let local = fx.data_dir.join("local.conf");
    std::fs::write(&local, "key = value\n")?;
    shell.pct_push(101, &local, "/etc/app.conf", None).await?;
    let back = fx.data_dir.join("back.conf");
    shell.pct_pull(101, "/etc/app.conf", &back).await?;
    assert_eq!(std::fs::read_to_string(&back)?, "key = value\n");
    let mode = shell
        .pct_exec(101, &["stat", "-c", "%a", "/etc/app.conf"])
        .await?;
    assert_eq!(mode.stdout_text(), "644\n", "default perms");

    // Containers are separate; staging files on the node are cleaned up.
    let missing = shell
        .pct_exec(101, &["test", "-e", "/tmp/kiln-transfer.x"])
        .await?;
    assert_eq!(missing.status, 1);
    // (Other tests stage files on the same host concurrently: look for this test's content.)
    let staged = shell
        .run(&[
            "sh",
            "-c",
            "grep -lF \"$1\" /tmp/kiln-transfer.* 2>/dev/null | wc -l",
            "sh",
            "hello from kiln",
        ])
        .await?;
    assert_eq!(staged.stdout_text().trim(), "0");
    let err = shell.pct_pull_bytes(101, "/nonexistent").await;
    assert!(matches!(err, Err(SshError::Command { .. })), "{err:?}");
    shell.close().await?;
    fx.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_give_their_real_status_and_output() -> R {
    let fx = Fixture::start().await?;
    let shell = fx.shell().await?;
    let script = "#!/bin/sh\necho starting\necho 'a warning' >&2\n\
                  echo \"made by $(hostname)\" > /var/tmp/made\nexit 7\n";
    shell
        .pct_push_bytes(101, script.as_bytes(), "/root/provision.sh", Some(0o755))
        .await?;
    let run = shell.pct_exec(101, &["/root/provision.sh"]).await?;
    assert_eq!(run.status, 7);
    assert_eq!(run.stdout_text(), "starting\n");
    assert_eq!(run.stderr_text(), "a warning");
    let made = shell.pct_exec(101, &["cat", "/var/tmp/made"]).await?;
    assert_eq!(
        made.stdout_text(),
        "made by web\n",
        "the container's hostname"
    );
    // 255 and 127 are real statuses too, not connection errors.
    let s255 = shell.pct_exec(101, &["sh", "-c", "exit 255"]).await?;
    assert_eq!(s255.status, 255);
    let s127 = shell.pct_exec(101, &["no-such-program"]).await?;
    assert!(s127.status != 0, "{s127:?}");
    // Stopped and unknown containers are refused like pct does.
    let stopped = shell.pct_exec(102, &["true"]).await?;
    assert_eq!(stopped.status, 255);
    assert_eq!(stopped.stderr_text(), "CT 102 not running");
    let unknown = shell.pct_exec(999, &["true"]).await?;
    assert_eq!(unknown.status, 255);
    assert!(
        unknown.stderr_text().contains("does not exist"),
        "{unknown:?}"
    );
    let push = shell.pct_push_bytes(102, b"x", "/root/x", None).await;
    assert!(
        matches!(&push, Err(SshError::Command { stderr, .. }) if stderr == "CT 102 not running"),
        "{push:?}"
    );
    shell.close().await?;
    fx.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_arrive_verbatim() -> R {
    let fx = Fixture::start().await?;
    let shell = fx.shell().await?;
    let words = [
        "with space",
        "single ' quote",
        "double \" quote",
        "$(touch /root/pwned)",
        "`touch /root/pwned`",
        "$HOME ${PATH}",
        "; touch /root/pwned &",
        "two\nlines",
        "*",
        "--",
        "-n",
        "",
        "ünïcødé",
    ];
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend_from_slice(&words);
    let out = shell.pct_exec(101, &argv).await?;
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let expected: String = words.iter().map(|w| format!("[{w}]\n")).collect();
    assert_eq!(out.stdout_text(), expected);
    // Nothing ran on the node or in the container.
    let pwned = shell.pct_exec(101, &["test", "-e", "/root/pwned"]).await?;
    assert_eq!(pwned.status, 1);
    assert!(!Path::new("/root/pwned").exists());
    // The same on the node's own shell.
    let node = shell.run(&["printf", "[%s]", "$(id)", "a b"]).await?;
    assert_eq!(node.stdout_text(), "[$(id)][a b]");
    // A path with spaces and quotes survives push and exec.
    shell
        .pct_push_bytes(101, b"odd\n", "/root/it's a file", None)
        .await?;
    let odd = shell.pct_exec(101, &["cat", "/root/it's a file"]).await?;
    assert_eq!(odd.stdout_text(), "odd\n");
    shell.close().await?;
    fx.stop().await
}

/// The node pages' SSH flow through the server functions: the node's key, the host key
/// fetched, confirmed and pinned, `pct list` over SSH; another user can do none of it.
#[tokio::test(flavor = "multi_thread")]
async fn ssh_setup_through_the_server_functions() -> R {
    use crate::harness::{PASSWORD, TestApp};
    use axum::http::StatusCode;

    let app = TestApp::new().await?;
    app.create_user("owner", false).await?;
    app.create_user("other", false).await?;
    let session = app.login("owner", PASSWORD).await?;
    let other = app.login("other", PASSWORD).await?;

    let lab_dir = temp_dir("ssh-ui-lab");
    let lab = lab::start(LabOptions::new(&lab_dir)).await?;
    let id = add_lab_node(&app, &session, &lab).await?;
    let access = app
        .call("ssh_access", &[("id", &id)], Some(&session))
        .await?;
    assert_eq!(access.status, StatusCode::OK, "{}", access.body);
    let access: serde_json::Value = serde_json::from_str(&access.body)?;
    let public_key = access["public_key"]
        .as_str()
        .ok_or("public key")?
        .to_owned();
    assert!(public_key.starts_with("ssh-ed25519 "));
    assert!(
        access["authorize_command"]
            .as_str()
            .is_some_and(|c| c.contains(&public_key))
    );
    assert!(
        !access.to_string().contains("PRIVATE"),
        "no private key on the wire"
    );

    let sshd = Sshd::start(&[&public_key], &lab_dir).await?;
    let port = sshd.port.to_string();

    let untested = app.call("test_ssh", &[("id", &id)], Some(&session)).await?;
    assert_eq!(
        untested.status,
        StatusCode::CONFLICT,
        "no host key pinned yet"
    );
    let fetched = app
        .call(
            "fetch_host_key",
            &[("id", &id), ("ssh_port", &port)],
            Some(&session),
        )
        .await?;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
    let fetched: serde_json::Value = serde_json::from_str(&fetched.body)?;
    assert_eq!(
        fetched["fingerprint"].as_str(),
        Some(sshd.host_key()?.fingerprint())
    );
    let openssh = fetched["openssh"].as_str().ok_or("openssh")?.to_owned();

    for (name, form) in [
        ("ssh_access", vec![("id", id.as_str())]),
        (
            "fetch_host_key",
            vec![("id", id.as_str()), ("ssh_port", port.as_str())],
        ),
        (
            "save_ssh",
            vec![
                ("id", id.as_str()),
                ("ssh_user", "root"),
                ("ssh_port", port.as_str()),
                ("host_key", openssh.as_str()),
            ],
        ),
        ("test_ssh", vec![("id", id.as_str())]),
    ] {
        let r = app.call(name, &form, Some(&other)).await?;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{name} by another user: {}",
            r.body
        );
    }
    let bad_user = app
        .call(
            "save_ssh",
            &[
                ("id", &id),
                ("ssh_user", "-oProxyCommand=x"),
                ("ssh_port", &port),
                ("host_key", &openssh),
            ],
            Some(&session),
        )
        .await?;
    assert_eq!(bad_user.status, StatusCode::UNPROCESSABLE_ENTITY);

    let saved = app
        .call(
            "save_ssh",
            &[
                ("id", &id),
                ("ssh_user", "root"),
                ("ssh_port", &port),
                ("host_key", &openssh),
            ],
            Some(&session),
        )
        .await?;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let tested = app.call("test_ssh", &[("id", &id)], Some(&session)).await?;
    assert_eq!(
        tested.status,
        StatusCode::OK,
        "{} / sshd: {}",
        tested.body,
        sshd.log()
    );
    assert!(tested.body.contains("pct list"), "{}", tested.body);

    drop(sshd);
    lab.shutdown().await?;
    let _ = std::fs::remove_dir_all(&lab_dir);
    app.cleanup().await?;
    Ok(())
}

/// A Linux user made for one test (removed with its home on drop).
struct TempUser(String);

impl TempUser {
    fn create(password: &str) -> R<TempUser> {
        let name = format!("kt{}", &crate::harness::unique()[..8]);
        let ok = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()?
            .success();
        if !ok {
            return Err("useradd failed".into());
        }
        let user = TempUser(name);
        let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn()?;
        use std::io::Write;
        chpasswd
            .stdin
            .take()
            .ok_or("chpasswd stdin")?
            .write_all(format!("{}:{password}\n", user.0).as_bytes())?;
        if !chpasswd.wait()?.success() {
            return Err("chpasswd failed".into());
        }
        Ok(user)
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", &self.0]).output();
    }
}

/// "Install the key with a password": a wrong password is refused clearly, the right one puts
/// Kiln's key into the user's authorized_keys; the password is kept nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_installed_with_a_password_once() -> R {
    use crate::harness::{PASSWORD, TestApp};
    use axum::http::StatusCode;

    let password = "install-once-pw-1";
    let node_user = TempUser::create(password)?;
    let app = TestApp::new().await?;
    app.create_user("owner", false).await?;
    let session = app.login("owner", PASSWORD).await?;
    let lab_dir = temp_dir("ssh-install-lab");
    let lab = lab::start(LabOptions::new(&lab_dir)).await?;
    let sshd = Sshd::start_with(
        &[],
        &lab_dir,
        "PasswordAuthentication yes\nAuthenticationMethods any\nAllowUsers *\n\
         AuthorizedKeysFile %h/.ssh/authorized_keys\n",
    )
    .await?;
    let id = add_lab_node(&app, &session, &lab).await?;
    let port = sshd.port.to_string();
    let early = app
        .call(
            "install_ssh_key",
            &[("id", &id), ("password", password)],
            Some(&session),
        )
        .await?;
    assert_eq!(early.status, StatusCode::CONFLICT, "host key first");
    let openssh = sshd.host_key()?.to_openssh();
    let saved = app
        .call(
            "save_ssh",
            &[
                ("id", &id),
                ("ssh_user", &node_user.0),
                ("ssh_port", &port),
                ("host_key", &openssh),
            ],
            Some(&session),
        )
        .await?;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);

    let wrong = app
        .call(
            "install_ssh_key",
            &[("id", &id), ("password", "not-it")],
            Some(&session),
        )
        .await?;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains("refused the password"),
        "{}",
        wrong.body
    );
    let ok = app
        .call(
            "install_ssh_key",
            &[("id", &id), ("password", password)],
            Some(&session),
        )
        .await?;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "{} / sshd: {}",
        ok.body,
        sshd.log()
    );

    let access: serde_json::Value = serde_json::from_str(
        &app.call("ssh_access", &[("id", &id)], Some(&session))
            .await?
            .body,
    )?;
    let public_key = access["public_key"].as_str().ok_or("public key")?;
    let authorized =
        std::fs::read_to_string(format!("/home/{}/.ssh/authorized_keys", node_user.0))?;
    assert!(
        authorized.contains(public_key),
        "the key was installed: {authorized}"
    );
    let again = app
        .call(
            "install_ssh_key",
            &[("id", &id), ("password", password)],
            Some(&session),
        )
        .await?;
    assert_eq!(again.status, StatusCode::OK);
    let authorized =
        std::fs::read_to_string(format!("/home/{}/.ssh/authorized_keys", node_user.0))?;
    assert_eq!(authorized.matches(public_key).count(), 1, "installed once");

    // The password is in no table and no log line Kiln wrote.
    let mut conn = app.state.db.get().await?;
    let audit = kiln_server::db::audit::recent(&mut conn, 50).await?;
    assert!(!format!("{audit:?}").contains(password));
    drop(conn);
    drop(sshd);
    lab.shutdown().await?;
    let _ = std::fs::remove_dir_all(&lab_dir);
    app.cleanup().await?;
    Ok(())
}

/// Adds `lab` as a node of the signed-in user through the server function; returns its id.
pub(crate) async fn add_lab_node(
    app: &crate::harness::TestApp,
    session: &str,
    lab: &LabHandle,
) -> R<String> {
    let (token_id, secret) = lab.token.split_once('=').ok_or("token")?;
    let added = app
        .call_json(
            "add_node",
            &serde_json::json!({ "input": {
                "name": "lab", "host": "127.0.0.1", "port": lab.addr.port(), "is_cluster": false,
                "fingerprint": lab.fingerprint, "token_id": token_id, "token_secret": secret,
            }}),
            Some(session),
        )
        .await?;
    assert_eq!(added.status, axum::http::StatusCode::OK, "{}", added.body);
    Ok(
        serde_json::from_str::<serde_json::Value>(&added.body)?["id"]
            .as_i64()
            .ok_or("node id")?
            .to_string(),
    )
}
