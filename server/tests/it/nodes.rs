//! Node management (`NodeService` through its server functions) against a real lab node:
//! certificate probe, adding with a token or a one-time sign-in, secrets at rest, per-user
//! isolation, the default node, health (incl. a changed certificate), and the key check.

use axum::http::StatusCode;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea};
use kiln_server::db::nodes::NodeRow;
use kiln_server::proxmox::{Auth, Client, ProxmoxApi};
use kiln_shared::nodes::{NodeSummary, NodeView, TokenCreated};
use kiln_shared::pve::CertificateInfo;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp, field_error};
use kiln_server::proxmox::tasks::wait_task;

use crate::lab_fixture::{R, TASK_TIMEOUT, TestLab, container, fast, temp_dir};

/// Name, lab address and credentials as the "add node" form sends them.
fn input(lab: &TestLab, name: &str, fingerprint: &str, token_secret: &str) -> Value {
    let (token_id, _) = lab.handle.token.split_once('=').unwrap_or_default();
    json!({
        "name": name,
        "host": lab.handle.addr.ip().to_string(),
        "port": lab.handle.addr.port(),
        "is_cluster": false,
        "fingerprint": fingerprint,
        "token_id": token_id,
        "token_secret": token_secret,
    })
}

/// The lab's own token secret.
fn secret(lab: &TestLab) -> String {
    lab.handle
        .token
        .split_once('=')
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default()
}

async fn add(app: &TestApp, session: &str, lab: &TestLab, name: &str) -> R<NodeSummary> {
    let body = input(lab, name, &lab.handle.fingerprint, &secret(lab));
    let reply = app
        .call_json("add_node", &json!({ "input": body }), Some(session))
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "add {name}: {}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

async fn list(app: &TestApp, session: &str) -> R<Vec<NodeView>> {
    let reply = app.call("list_nodes", &[], Some(session)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

/// An app with one signed-in administrator (`ada`).
async fn app_with_user() -> R<(TestApp, String)> {
    let app = TestApp::new().await?;
    app.create_user("ada", true).await?;
    let session = app.login("ada", PASSWORD).await?;
    Ok((app, session))
}

#[derive(QueryableByName)]
struct StoredSecret {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Bytea)]
    token_secret: Vec<u8>,
}

/// Every row's id and `token_secret` bytes, straight from the table.
async fn stored_secrets(app: &TestApp) -> R<Vec<StoredSecret>> {
    use diesel_async::RunQueryDsl;
    let mut conn = app.state.db.get().await?;
    Ok(
        diesel::sql_query("SELECT id, token_secret FROM nodes ORDER BY id")
            .load(&mut conn)
            .await?,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_probe_add_and_secret_at_rest() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, session) = app_with_user().await?;
    let port = lab.handle.addr.port().to_string();
    let reply = app
        .call(
            "probe_node",
            &[("host", "127.0.0.1"), ("port", &port)],
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cert: CertificateInfo = serde_json::from_str(&reply.body)?;
    assert_eq!(cert.fingerprint, lab.handle.fingerprint);
    assert!(!cert.subject.is_empty() && !cert.not_after.is_empty());
    // Nothing listens on port 1.
    let reply = app
        .call(
            "probe_node",
            &[("host", "127.0.0.1"), ("port", "1")],
            Some(&session),
        )
        .await?;
    assert!(field_error(&reply, "host")?.contains("cannot reach"));

    let node = add(&app, &session, &lab, "lab").await?;
    assert!(node.is_default, "the first node becomes the default");
    assert_eq!(
        (node.fingerprint.as_str(), node.token_id.as_str()),
        (lab.handle.fingerprint.as_str(), "root@pam!kiln")
    );
    let views = list(&app, &session).await?;
    assert_eq!(views.len(), 1);
    let health = &views[0].health;
    assert!(health.online, "{health:?}");
    assert_eq!(health.version.as_deref(), Some("9.0.3"));
    assert_eq!(health.members.len(), 1);
    assert_eq!(health.members[0].name, "pve");
    assert!(health.members[0].online);
    assert!(health.missing_privileges.is_empty(), "{health:?}");
    assert!(health.error.is_none() && health.certificate_changed.is_none());
    let reply = app
        .call("get_node", &[("id", &node.id.to_string())], Some(&session))
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let view: NodeView = serde_json::from_str(&reply.body)?;
    assert_eq!(view.node, node);

    // The secret is encrypted at rest, bound to its row, and never sent back.
    let token_secret = secret(&lab);
    assert!(!reply.body.contains(&token_secret));
    let rows = stored_secrets(&app).await?;
    assert_eq!(rows.len(), 1);
    let stored = &rows[0];
    assert_eq!(stored.id, node.id);
    let clear = token_secret.as_bytes();
    assert!(stored.token_secret.len() > clear.len());
    assert!(
        !stored.token_secret.windows(clear.len()).any(|w| w == clear),
        "secret in clear"
    );
    let key = &app.state.secret_key;
    assert_eq!(
        key.decrypt_string(&stored.token_secret, &NodeRow::secret_context(node.id))?,
        token_secret
    );
    assert!(
        key.decrypt_string(&stored.token_secret, &NodeRow::secret_context(node.id + 1))
            .is_err()
    );

    // A wrong token, a wrong pin, a taken name: each on its field, nothing saved.
    let wrong_token = input(&lab, "other", &lab.handle.fingerprint, "0000-wrong");
    let reply = app
        .call_json("add_node", &json!({ "input": wrong_token }), Some(&session))
        .await?;
    assert!(field_error(&reply, "token_secret")?.contains("refused"));
    let wrong_pin = input(&lab, "other", &"AB:".repeat(32)[..95], &token_secret);
    let reply = app
        .call_json("add_node", &json!({ "input": wrong_pin }), Some(&session))
        .await?;
    assert!(field_error(&reply, "fingerprint")?.contains("different certificate"));
    let taken = input(&lab, "lab", &lab.handle.fingerprint, &token_secret);
    let reply = app
        .call_json("add_node", &json!({ "input": taken }), Some(&session))
        .await?;
    field_error(&reply, "name")?;
    assert_eq!(list(&app, &session).await?.len(), 1);
    app.cleanup().await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_are_private_to_their_owner() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, ada) = app_with_user().await?;
    app.create_user("bob", false).await?;
    let bob = app.login("bob", PASSWORD).await?;
    let node = add(&app, &ada, &lab, "ada's lab").await?;
    let id = node.id.to_string();

    assert!(list(&app, &bob).await?.is_empty());
    for function in ["get_node", "delete_node", "set_default_node"] {
        let reply = app.call(function, &[("id", &id)], Some(&bob)).await?;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{function}: {}",
            reply.body
        );
    }
    let change = input(&lab, "bob's now", &lab.handle.fingerprint, "");
    let reply = app
        .call_json(
            "update_node",
            &json!({ "id": node.id, "input": change }),
            Some(&bob),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    // Bob may use the same name for his own node.
    add(&app, &bob, &lab, "ada's lab").await?;
    assert_eq!(list(&app, &bob).await?.len(), 1);

    let views = list(&app, &ada).await?;
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].node, node, "untouched by bob");
    let reply = app.call("delete_node", &[("id", &id)], Some(&ada)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(list(&app, &ada).await?.is_empty());
    let reply = app.call("get_node", &[("id", &id)], Some(&ada)).await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(list(&app, &bob).await?.len(), 1, "bob's node stays");
    let audit = app.audit().await?;
    assert!(
        audit
            .iter()
            .any(|(action, _, actor)| action == "node.delete" && actor.as_deref() == Some("ada"))
    );
    app.cleanup().await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_default_and_update() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, session) = app_with_user().await?;
    let first = add(&app, &session, &lab, "first").await?;
    let second = add(&app, &session, &lab, "second").await?;
    assert!(first.is_default && !second.is_default);
    let reply = app
        .call(
            "set_default_node",
            &[("id", &second.id.to_string())],
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let defaults: Vec<(String, bool)> = list(&app, &session)
        .await?
        .into_iter()
        .map(|v| (v.node.name, v.node.is_default))
        .collect();
    assert!(defaults.contains(&("first".into(), false)), "{defaults:?}");
    assert!(defaults.contains(&("second".into(), true)), "{defaults:?}");

    // Renaming with an empty secret keeps the stored one (the node stays online).
    let rename = input(&lab, "renamed", &lab.handle.fingerprint, "");
    let reply = app
        .call_json(
            "update_node",
            &json!({ "id": first.id, "input": rename }),
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let renamed: NodeSummary = serde_json::from_str(&reply.body)?;
    assert_eq!(renamed.name, "renamed");
    let reply = app
        .call("get_node", &[("id", &first.id.to_string())], Some(&session))
        .await?;
    let view: NodeView = serde_json::from_str(&reply.body)?;
    assert!(view.health.online, "{:?}", view.health);
    // A wrong new secret is refused and the old one kept.
    let wrong = input(&lab, "renamed", &lab.handle.fingerprint, "wrong-secret");
    let reply = app
        .call_json(
            "update_node",
            &json!({ "id": first.id, "input": wrong }),
            Some(&session),
        )
        .await?;
    field_error(&reply, "token_secret")?;
    assert!(list(&app, &session).await?.iter().all(|v| v.health.online));
    app.cleanup().await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_add_with_login_creates_a_privsep_token() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, session) = app_with_user().await?;
    let form = input(&lab, "signed in", &lab.handle.fingerprint, "");
    let login = |password: &str| json!({"username": "root", "realm": "pam", "password": password, "otp": null});
    let reply = app
        .call_json(
            "add_node_with_login",
            &json!({ "input": form, "login": login("wrong") }),
            Some(&session),
        )
        .await?;
    assert!(field_error(&reply, "pve_password")?.contains("refused"));
    assert!(list(&app, &session).await?.is_empty());

    let reply = app
        .call_json(
            "add_node_with_login",
            &json!({ "input": form, "login": login(&lab.handle.password) }),
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(!reply.body.contains(&lab.handle.password));
    let created: TokenCreated = serde_json::from_str(&reply.body)?;
    assert!(
        created.token_id.starts_with("root@pam!kiln-"),
        "{}",
        created.token_id
    );
    assert_eq!(created.node.token_id, created.token_id);
    assert_eq!(created.grants.len(), 4, "{:?}", created.grants);
    assert!(created.grants.contains(&"PVEVMAdmin on /".to_owned()));

    let views = list(&app, &session).await?;
    assert_eq!(views.len(), 1);
    assert!(views[0].health.online, "{:?}", views[0].health);
    assert!(
        views[0].health.missing_privileges.is_empty(),
        "{:?}",
        views[0].health
    );

    // The stored token is privilege-separated: only the granted roles, nothing more.
    let rows = stored_secrets(&app).await?;
    let row = rows.first().ok_or("no node row")?;
    let token_secret = app
        .state
        .secret_key
        .decrypt_string(&row.token_secret, &NodeRow::secret_context(row.id))?;
    let client = Client::with_tuning(
        lab.config(Auth::Token {
            id: created.token_id.clone(),
            secret: token_secret,
        }),
        fast(),
    )?;
    let perms = client.permissions().await?;
    let root = perms.get("/").ok_or("no / permissions")?;
    for privilege in kiln_shared::nodes::REQUIRED_PRIVILEGES {
        assert!(root.get(*privilege).is_some_and(|f| f.0), "{privilege}");
    }
    for privilege in ["Sys.Modify", "Permissions.Modify", "User.Modify"] {
        assert!(
            root.get(privilege).is_none(),
            "{privilege} must not be granted"
        );
    }
    assert!(matches!(
        client.create_token("root@pam", "escalate", false, "").await,
        Err(kiln_server::proxmox::Error::Forbidden { .. })
    ));
    // Enough to do Kiln's job: a container on vmbr0, started.
    let upid = client.lxc_create(lab.node(), &container(150)).await?;
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    let upid = client.lxc_start(lab.node(), 150).await?;
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    let audit = app.audit().await?;
    assert!(
        audit
            .iter()
            .any(|(action, _, _)| action == "node.token.create")
    );
    app.cleanup().await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_health_reports_a_changed_certificate() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, session) = app_with_user().await?;
    let node = add(&app, &session, &lab, "lab").await?;
    let (addr, token, old) = (
        lab.handle.addr,
        lab.handle.token.clone(),
        lab.handle.fingerprint.clone(),
    );

    // Down: offline with a reason, no certificate news.
    lab.handle.set_unreachable(true);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let views = list(&app, &session).await?;
    assert!(!views[0].health.online);
    assert!(
        views[0]
            .health
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect")),
        "{:?}",
        views[0].health
    );
    assert!(views[0].health.certificate_changed.is_none());

    // Reinstalled: same address and token, a new certificate.
    let old_dir = lab.stop().await?;
    crate::lab_fixture::remove_dir(old_dir);
    let lab = TestLab::start_in(temp_dir(), |o| {
        o.listen = addr;
        o.token = Some(token);
    })
    .await?;
    assert_ne!(lab.handle.fingerprint, old);
    let views = list(&app, &session).await?;
    let health = &views[0].health;
    assert!(!health.online);
    let changed = health
        .certificate_changed
        .as_ref()
        .ok_or("no certificate_changed")?;
    assert_eq!(changed.fingerprint, lab.handle.fingerprint);
    assert!(
        !changed.subject.is_empty(),
        "probed for the details: {changed:?}"
    );
    assert_eq!(
        views[0].node.fingerprint, old,
        "the pin is not changed silently"
    );

    // Confirming the new certificate brings it back.
    let confirm = input(&lab, "lab", &lab.handle.fingerprint, "");
    let reply = app
        .call_json(
            "update_node",
            &json!({ "id": node.id, "input": confirm }),
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let views = list(&app, &session).await?;
    assert!(views[0].health.online && views[0].health.certificate_changed.is_none());
    app.cleanup().await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_key_fails_the_key_check() -> R {
    let app = TestApp::new().await?;
    // The app's key was stored as the check value; it still passes.
    kiln_server::crypto::verify_key(&app.state.db, &app.state.secret_key).await?;
    let other = kiln_server::crypto::SecretKey::generate()?;
    let err = kiln_server::crypto::verify_key(&app.state.db, &other)
        .await
        .err()
        .ok_or("a wrong key passed the check")?;
    let text = format!("{err:#}");
    assert!(text.contains("KILN_SECRET_KEY"), "{text}");
    assert!(text.contains("not the key"), "{text}");
    app.cleanup().await
}

/// The `kiln-…` API tokens the lab holds (from its persisted state).
fn kiln_tokens(lab: &TestLab) -> R<Vec<String>> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(lab.dir.join("lab-state.json"))?)?;
    let tokens = state["tokens"]
        .as_object()
        .ok_or("no tokens in the lab state")?;
    Ok(tokens
        .keys()
        .filter(|k| k.contains("!kiln-"))
        .cloned()
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_once_leaves_no_token_behind_when_the_node_cannot_be_saved() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, session) = app_with_user().await?;
    add(&app, &session, &lab, "taken").await?;
    let login =
        json!({"username": "root", "realm": "pam", "password": lab.handle.password, "otp": null});

    // A name the user already has is refused before anything is created on the node.
    let form = input(&lab, "taken", &lab.handle.fingerprint, "");
    let reply = app
        .call_json(
            "add_node_with_login",
            &json!({ "input": form, "login": login }),
            Some(&session),
        )
        .await?;
    assert!(field_error(&reply, "name")?.contains("already"));
    assert!(kiln_tokens(&lab)?.is_empty(), "{:?}", kiln_tokens(&lab)?);

    // Two sign-ins racing for one new name (the node answers slowly, so both pass the name
    // check): one node is saved, and the loser's token is removed from the node again.
    lab.handle.set_faults(kiln_server::lab::Faults {
        latency_ms: 150,
        ..Default::default()
    });
    let form = input(&lab, "raced", &lab.handle.fingerprint, "");
    let args = json!({ "input": form, "login": login });
    let (a, b) = tokio::join!(
        app.call_json("add_node_with_login", &args, Some(&session)),
        app.call_json("add_node_with_login", &args, Some(&session)),
    );
    let statuses = [a?.status, b?.status];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    let names: Vec<String> = list(&app, &session)
        .await?
        .into_iter()
        .map(|v| v.node.name)
        .collect();
    assert_eq!(names, ["raced", "taken"]);
    let saved: Vec<String> = list(&app, &session)
        .await?
        .into_iter()
        .filter(|v| v.node.name == "raced")
        .map(|v| v.node.token_id)
        .collect();
    assert_eq!(
        kiln_tokens(&lab)?,
        saved,
        "only the saved node's token is left"
    );
    app.cleanup().await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_a_node_to_a_taken_name_changes_nothing() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let (app, session) = app_with_user().await?;
    add(&app, &session, &lab, "one").await?;
    let two = add(&app, &session, &lab, "two").await?;
    let body = input(&lab, "one", &lab.handle.fingerprint, "");
    let reply = app
        .call_json(
            "update_node",
            &json!({ "id": two.id, "input": body }),
            Some(&session),
        )
        .await?;
    assert!(field_error(&reply, "name")?.contains("already"));
    let names: Vec<String> = list(&app, &session)
        .await?
        .into_iter()
        .map(|v| v.node.name)
        .collect();
    assert_eq!(names, ["one", "two"]);
    app.cleanup().await?;
    lab.finish().await
}
