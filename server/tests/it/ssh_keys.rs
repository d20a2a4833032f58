//! A key per node, and the address SSH connects to. Two users, one sshd: the key user A
//! authorized on the machine opens nothing for user B, who adds a node with the same host and
//! SSH user (before, every node used one installation-wide key). The host is resolved once
//! and `ssh` is given the address. Uses the private sshd of the `ssh` module (root, `sshd`).

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use kiln_server::lab::{self, LabOptions};
use kiln_server::ssh::host_key;
use kiln_server::ssh::keys::NodeKey;
use kiln_server::ssh::shell::NodeShell;
use kiln_server::ssh::{SshError, Target};
use serde_json::Value;

use crate::harness::{PASSWORD, TestApp};
use crate::ssh::{Sshd, add_lab_node, temp_dir};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `ssh_access` of a node: (public key, authorize command).
async fn access(app: &TestApp, session: &str, id: &str) -> R<(String, String)> {
    let reply = app.call("ssh_access", &[("id", id)], Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body)?;
    Ok((
        body["public_key"].as_str().ok_or("public key")?.to_owned(),
        body["authorize_command"]
            .as_str()
            .ok_or("command")?
            .to_owned(),
    ))
}

/// Pins `sshd`'s host key for the node `id` as root on its port.
async fn pin(app: &TestApp, session: &str, id: &str, sshd: &Sshd) -> R {
    let port = sshd.port.to_string();
    let openssh = sshd.host_key()?.to_openssh();
    let saved = app
        .call(
            "save_ssh",
            &[
                ("id", id),
                ("ssh_user", "root"),
                ("ssh_port", &port),
                ("host_key", &openssh),
            ],
            Some(session),
        )
        .await?;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    Ok(())
}

/// The sealed key in a node's row.
async fn stored_key(app: &TestApp, id: i64) -> R<Vec<u8>> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use kiln_server::db::schema::nodes;
    let mut conn = app.state.db.get().await?;
    let sealed: Option<Vec<u8>> = nodes::table
        .find(id)
        .select(nodes::ssh_key)
        .first(&mut conn)
        .await?;
    Ok(sealed.ok_or("no key stored")?)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_one_user_authorized_opens_nothing_for_another() -> R {
    let app = TestApp::new().await?;
    app.create_user("alice", false).await?;
    app.create_user("bob", false).await?;
    let alice = app.login("alice", PASSWORD).await?;
    let bob = app.login("bob", PASSWORD).await?;
    let lab_dir = temp_dir("ssh-keys-lab");
    let lab = lab::start(LabOptions::new(&lab_dir)).await?;

    // Alice adds the machine and authorizes her node's key on it (only hers).
    let alice_node = add_lab_node(&app, &alice, &lab).await?;
    let (alice_key, alice_command) = access(&app, &alice, &alice_node).await?;
    assert!(alice_command.contains(&alice_key));
    assert_eq!(
        access(&app, &alice, &alice_node).await?.0,
        alice_key,
        "a node's key is made once"
    );
    let sshd = Sshd::start(&[&alice_key], &lab_dir).await?;
    pin(&app, &alice, &alice_node, &sshd).await?;
    let tested = app
        .call("test_ssh", &[("id", &alice_node)], Some(&alice))
        .await?;
    assert_eq!(
        tested.status,
        StatusCode::OK,
        "{} / sshd: {}",
        tested.body,
        sshd.log()
    );

    // Bob adds a node with the same host, confirms the same host key, same SSH user.
    let bob_node = add_lab_node(&app, &bob, &lab).await?;
    let (bob_key, _) = access(&app, &bob, &bob_node).await?;
    assert_ne!(bob_key, alice_key, "each node has its own key");
    pin(&app, &bob, &bob_node, &sshd).await?;
    let refused = app
        .call("test_ssh", &[("id", &bob_node)], Some(&bob))
        .await?;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("authentication failed"),
        "auth refused: {}",
        refused.body
    );
    // Alice's node (and so its key) is not Bob's to use.
    for name in ["ssh_access", "test_ssh"] {
        let other = app.call(name, &[("id", &alice_node)], Some(&bob)).await?;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            other.body
        );
    }

    // Stored sealed, bound to its row: not in clear, and not usable as another node's key.
    let alice_id: i64 = alice_node.parse()?;
    let bob_id: i64 = bob_node.parse()?;
    let sealed = stored_key(&app, alice_id).await?;
    for needle in [
        &b"PRIVATE KEY"[..],
        b"openssh-key-v1",
        b"b3BlbnNzaC1rZXktdjE",
    ] {
        assert!(
            !sealed.windows(needle.len()).any(|w| w == needle),
            "private key in clear"
        );
    }
    let secret = &app.state.secret_key;
    assert_eq!(
        NodeKey::unseal(&sealed, secret, alice_id)?.public_key(),
        alice_key
    );
    assert!(NodeKey::unseal(&sealed, secret, bob_id).is_err());

    // Deleting a node removes its key file from the runtime directory.
    let key_file = app
        .state
        .config
        .data_dir
        .join("run/ssh")
        .join(kiln_server::ssh::keys::key_file_name(alice_id));
    assert!(key_file.exists(), "written for ssh -i");
    let deleted = app
        .call("delete_node", &[("id", &alice_node)], Some(&alice))
        .await?;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(!key_file.exists(), "removed with its node");

    drop(sshd);
    lab.shutdown().await?;
    let _ = std::fs::remove_dir_all(&lab_dir);
    app.cleanup().await
}

/// The arguments of the running `ssh` master whose command line mentions `needle`.
fn master_argv(needle: &str) -> R<Vec<String>> {
    for entry in std::fs::read_dir("/proc")?.filter_map(Result::ok) {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_master =
            argv.first().is_some_and(|a| a.ends_with("ssh")) && argv.iter().any(|a| a == "-M");
        if is_master && argv.iter().any(|a| a.contains(needle)) {
            return Ok(argv);
        }
    }
    Err(format!("no ssh master mentioning {needle}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_is_given_the_address_the_name_resolved_to() -> R {
    let data = tempfile::tempdir()?;
    let key = NodeKey::generate("kiln@test")?;
    let sshd = Sshd::start(&[key.public_key()], Path::new("/nonexistent")).await?;
    let by_name = Target {
        host: "localhost".into(),
        ..sshd.target()
    };
    // The host key is fetched through the resolved address too.
    let pinned = host_key::fetch("localhost", sshd.port).await?;
    assert_eq!(pinned, sshd.host_key()?);

    let shell = NodeShell::connect_pinned(data.path(), by_name, 1, Some(&pinned), &key).await?;
    let address: std::net::IpAddr = shell.address().parse()?;
    assert!(address.is_loopback(), "{address}");
    assert_eq!(shell.target().host, "localhost", "messages keep the name");
    let argv = master_argv(&data.path().display().to_string())?;
    assert_eq!(
        argv.last().map(String::as_str),
        Some(shell.address()),
        "ssh got the address, not the name: {argv:?}"
    );
    assert!(!argv.iter().any(|a| a == "localhost"), "{argv:?}");
    let who = shell.run(&["whoami"]).await?;
    assert_eq!(who.stdout_text(), "root\n");
    shell.close().await?;

    // A name that does not resolve fails before ssh runs.
    let nowhere = Target {
        host: "no-such-node.invalid".into(),
        ..sshd.target()
    };
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        NodeShell::connect_pinned(data.path(), nowhere, 2, Some(&pinned), &key),
    )
    .await?
    .err()
    .ok_or("connected to a name that does not resolve")?;
    assert!(
        matches!(&err, SshError::Unreachable { detail, .. } if detail.contains("resolve")),
        "{err:?}"
    );
    Ok(())
}
