//! The lab node's own SSH (`kiln lab` runs a private sshd, as a PVE node has one) and Kiln's
//! registration of it (`KILN_LAB_SSH`, `KILN_LAB_SSH_HOST_KEY`, `KILN_LAB_AUTHORIZED_KEYS`, as
//! `./kiln.sh up` sets them): the first administrator's lab node comes with its key
//! authorized and the host key pinned, `pct` works over SSH, a restart changes nothing, and a
//! lab killed with `kill -9` leaves an sshd that `kiln lab down` stops. Needs root and
//! Debian's openssh-server, like `ssh`.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use kiln_server::config::{LabNode, LabSsh, Redacted};
use kiln_server::lab::{self, LabOptions, sshd};
use kiln_server::ssh::host_key::HostKey;

use crate::harness::{PASSWORD, TestApp};
use crate::ssh::temp_dir;

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A lab with SSH on a free loopback port, `pct` run by the built `kiln`.
async fn lab_with_ssh(dir: &Path) -> R<lab::LabHandle> {
    let mut opts = LabOptions::new(dir);
    opts.ssh = Some(sshd::LabSsh {
        listen: "127.0.0.1:0".parse()?,
        kiln_binary: env!("CARGO_BIN_EXE_kiln").into(),
    });
    Ok(lab::start(opts).await?)
}

/// The configuration `./kiln.sh up` gives Kiln for `lab`.
fn lab_config(lab: &lab::LabHandle) -> R<LabNode> {
    let sshd = lab.sshd().ok_or("the lab has no sshd")?;
    let (token_id, secret) = lab.token.split_once('=').ok_or("token")?;
    Ok(LabNode {
        host: "127.0.0.1".into(),
        port: lab.addr.port(),
        token_id: token_id.into(),
        token_secret: Redacted(secret.into()),
        fingerprint: lab.fingerprint.clone(),
        ssh: Some(LabSsh {
            port: sshd.addr().port(),
            host_key: HostKey::parse(sshd.host_key())?,
            authorized_keys: sshd.authorized_keys().to_owned(),
        }),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lab_has_its_own_sshd_with_a_stable_host_key() -> R {
    let dir = temp_dir("lab-sshd");
    let lab = lab_with_ssh(&dir).await?;
    let sshd = lab.sshd().ok_or("no sshd")?;
    let (addr, key) = (sshd.addr(), sshd.host_key().to_owned());
    assert!(addr.ip().is_loopback());
    assert_eq!(
        sshd.authorized_keys(),
        std::fs::canonicalize(&dir)?.join("ssh/authorized_keys")
    );
    let keygen = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(dir.join("ssh/ssh_host_ed25519_key.pub"))
        .output()?;
    assert!(String::from_utf8(keygen.stdout)?.contains(&sshd.host_key_fingerprint()));
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &str| -> R<u32> { Ok(std::fs::metadata(dir.join(p))?.permissions().mode() & 0o777) };
    assert_eq!(mode("ssh")?, 0o700);
    assert_eq!(mode("ssh/authorized_keys")?, 0o600);
    let config = std::fs::read_to_string(dir.join("ssh/sshd_config"))?;
    for line in [
        "AuthenticationMethods publickey",
        "PasswordAuthentication no",
        "AllowUsers root",
        "AllowTcpForwarding no",
    ] {
        assert!(config.contains(line), "{line} in\n{config}");
    }
    assert!(dir.join("ssh/sshd.json").exists(), "recorded");
    // A password is refused outright: no password prompt is even offered.
    let out = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PreferredAuthentications=password",
        ])
        .args(["-p", &addr.port().to_string(), "root@127.0.0.1", "true"])
        .stdin(Stdio::null())
        .output()?;
    assert!(!out.status.success());

    lab.shutdown().await?;
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "sshd stopped with the lab"
    );
    assert!(!dir.join("ssh/sshd.json").exists(), "record removed");
    let again = lab_with_ssh(&dir).await?;
    assert_eq!(
        again.sshd().ok_or("no sshd")?.host_key(),
        key,
        "the same host key after a restart"
    );
    again.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The first administrator gets the lab node with SSH ready; `pct` runs over it; Kiln's start
/// (reconcile) adds nothing twice; a node whose SSH was never set up gets it at start.
#[tokio::test(flavor = "multi_thread")]
async fn the_registered_lab_node_comes_with_ssh() -> R {
    let dir = temp_dir("lab-ssh-reg");
    let lab = lab_with_ssh(&dir).await?;
    let config = lab_config(&lab)?;
    let app = TestApp::with_config(|c| c.lab_node = Some(config.clone())).await?;
    let setup = app
        .call(
            "setup_admin",
            &[
                ("username", "admin"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            None,
        )
        .await?;
    assert!(
        setup.status.is_redirection() || setup.status == StatusCode::OK,
        "{}",
        setup.body
    );

    let mut conn = app.state.db.get().await?;
    let rows =
        kiln_server::db::nodes::lab_nodes(&mut conn, "127.0.0.1", i32::from(lab.addr.port()))
            .await?;
    drop(conn);
    let [row] = rows.as_slice() else {
        return Err(format!("one lab node, not {rows:?}").into());
    };
    let sshd = lab.sshd().ok_or("no sshd")?;
    assert_eq!(row.ssh_user, "root");
    assert_eq!(row.ssh_port, i32::from(sshd.addr().port()));
    assert_eq!(row.ssh_host_key.as_deref(), Some(sshd.host_key()), "pinned");
    let key = kiln_server::ssh::keys::for_node(
        &app.state.db,
        &app.state.secret_key,
        row.owner_id,
        row.id,
    )
    .await?
    .ok_or("node key")?;
    let authorized = std::fs::read_to_string(sshd.authorized_keys())?;
    assert_eq!(
        authorized.matches(key.public_key()).count(),
        1,
        "{authorized}"
    );

    // What the creation job uses: the node's shell, `pct` over SSH.
    let shell = kiln_server::nodes::shell_for(&app.state, row).await?;
    assert!(shell.pct_list().await?.is_empty());
    let path = shell.run(&["sh", "-c", "command -v pct"]).await?;
    assert!(
        path.stdout_text().trim().ends_with("/ssh/bin/pct"),
        "{path:?}"
    );
    shell.close().await?;

    // Kiln's next start: nothing changes, nothing is added twice.
    kiln_server::nodes::lab::reconcile(&app.state).await;
    let again = std::fs::read_to_string(sshd.authorized_keys())?;
    assert_eq!(again, authorized);

    // A lab node registered without SSH (an older Kiln) gets it at the next start; the
    // authorized key is found again even when the file lost it.
    let mut conn = app.state.db.get().await?;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE nodes SET ssh_host_key = NULL, ssh_port = 22"),
        &mut conn,
    )
    .await?;
    drop(conn);
    std::fs::write(sshd.authorized_keys(), "")?;
    kiln_server::nodes::lab::reconcile(&app.state).await;
    let mut conn = app.state.db.get().await?;
    let row = kiln_server::db::nodes::get(&mut conn, row.owner_id, row.id)
        .await?
        .ok_or("node")?;
    drop(conn);
    assert_eq!(row.ssh_host_key.as_deref(), Some(sshd.host_key()));
    assert_eq!(row.ssh_port, i32::from(sshd.addr().port()));
    assert!(std::fs::read_to_string(sshd.authorized_keys())?.contains(key.public_key()));

    // Another host key already pinned is left alone (the owner reviews it).
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoSQirgfYY4lGtzyfaPuxCSqVKTBSO/ACl35PBoRYWn";
    let mut conn = app.state.db.get().await?;
    kiln_server::db::nodes::set_ssh(&mut conn, row.owner_id, row.id, "root", row.ssh_port, other)
        .await?;
    drop(conn);
    let actor = kiln_shared::auth::Actor::system("test");
    let outcome =
        kiln_server::nodes::lab::setup_ssh(&app.state, &actor, row.owner_id, row.id, &config)
            .await?;
    assert_eq!(outcome, kiln_server::nodes::lab::SshSetup::PinnedKeyDiffers);

    // A configured host key the sshd does not present is refused.
    let mut wrong = config.clone();
    if let Some(ssh) = wrong.ssh.as_mut() {
        ssh.host_key = HostKey::parse(other)?;
    }
    let err = kiln_server::nodes::lab::setup_ssh(&app.state, &actor, row.owner_id, row.id, &wrong)
        .await
        .err()
        .ok_or("accepted a host key the lab does not present")?;
    assert!(
        format!("{err:#}").contains("KILN_LAB_SSH_HOST_KEY"),
        "{err:#}"
    );

    lab.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    app.cleanup().await?;
    Ok(())
}

/// `kiln lab` (the command): prints its SSH; after `kill -9` its sshd stays until
/// `kiln lab down` (or the next start) stops it.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_labs_sshd_is_stopped_by_lab_down() -> R {
    let dir = temp_dir("lab-ssh-kill");
    std::fs::create_dir_all(&dir)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "lab",
            "--runtime",
            "scratch",
            "--listen",
            "127.0.0.1:0",
            "--ssh-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let (mut ssh, mut host_key, mut keys) = (None, None, None);
    for line in lines.by_ref() {
        let line = line?;
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("SSH:") {
            ssh = rest.split_whitespace().next().map(str::to_owned);
        } else if let Some(rest) = line.strip_prefix("SSH host key:") {
            host_key = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("authorized_keys:") {
            keys = Some(PathBuf::from(rest.trim()));
        } else if line.starts_with("fingerprint:") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let (Some(ssh), Some(host_key), Some(keys)) = (ssh, host_key, keys) else {
        let _ = child.kill();
        return Err("kiln lab did not print its SSH".into());
    };
    let addr: SocketAddr = ssh.parse()?;
    assert!(HostKey::parse(&host_key).is_ok(), "{host_key}");
    assert_eq!(
        keys,
        std::fs::canonicalize(&dir)?.join("ssh/authorized_keys")
    );

    child.kill()?; // SIGKILL: no clean-up
    child.wait()?;
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "a killed lab's sshd stays"
    );
    let down = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["lab", "down", "--data-dir"])
        .arg(&dir)
        .status()?;
    assert!(down.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "kiln lab down stopped the sshd");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!dir.join("ssh/sshd.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
