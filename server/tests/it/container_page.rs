//! A container's page (`/containers/{id}`): the Config tab (the PVE config as the lab sends
//! it, digest included), the Overview's live figures (and what it shows when the node does
//! not answer), the Events tab (newest first, filtered), the Services tab's *Refresh* and a
//! unit's journal (real LXC: systemd, services, journald), and a credential reveal that asks
//! for the password again once the session's sign-in is older than 10 minutes. Every read and
//! action is for the owner (or an admin): another user gets 404 from each server function.

use axum::http::StatusCode;
use deadpool_redis::redis::AsyncCommands;
use kiln_server::db::containers as rows;
use kiln_server::lab::RuntimeKind;
use kiln_server::proxmox::ProxmoxApi;
use kiln_shared::AppError;
use kiln_shared::container_page::{EventFilter, REAUTH_FIELD, REAUTH_MESSAGE};
use kiln_shared::templates::Template;

use crate::containers::{Setup, actor, node_ssh, request, setup};
use crate::discovery::{script, store};
use crate::harness::{PASSWORD, field_error};
use crate::lab_fixture::R;

/// A ready plain container of the setup's actor; its id and VMID.
async fn ready(s: &Setup, hostname: &str) -> R<(i64, u32)> {
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, hostname))
        .await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let vmid = u32::try_from(row.vmid.ok_or("vmid")?)?;
    Ok((created.id, vmid))
}

/// The answer's status of server function `name` called by `session` with `form`.
async fn status_of(s: &Setup, name: &str, form: &[(&str, &str)], session: &str) -> R<StatusCode> {
    Ok(s.app.call(name, form, Some(session)).await?.status)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_tab_shows_every_key_the_node_sends_with_its_digest() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let (id, vmid) = ready(&s, "config-1").await?;
    let config = s.service().pve_config(&s.actor, id).await?;
    let raw = s.lab.client()?.lxc_config_raw(s.lab.node(), vmid).await?;
    assert_eq!(config.vmid, vmid);
    assert_eq!(config.member, s.lab.node());
    let keys: Vec<&str> = config.entries.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<&str> = raw.keys().map(String::as_str).collect();
    assert_eq!(keys, expected, "every key, sorted");
    for key in ["hostname", "digest", "memory", "net0", "rootfs", "ostype"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    let digest = raw.get("digest").and_then(|d| d.as_str()).ok_or("digest")?;
    assert_eq!(config.digest.as_deref(), Some(digest));
    let value = |key: &str| {
        config
            .entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(value("hostname").as_deref(), Some("config-1"));
    assert_eq!(
        value("memory").as_deref(),
        Some("256"),
        "a number as written"
    );

    // Through the server function and the page.
    let session = s.app.login("creator", PASSWORD).await?;
    let reply = s
        .app
        .call(
            "container_config",
            &[("id", &id.to_string())],
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains(digest));
    let page = s
        .app
        .get(&format!("/containers/{id}?tab=config"), Some(&session))
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(r#"data-test="pve-config""#),
        "{}",
        page.body
    );
    assert!(page.body.contains(digest));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overview_shows_live_figures_and_what_kiln_knows_when_the_node_is_silent() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let (id, _) = ready(&s, "overview-1").await?;
    let o = s.service().overview(&s.actor, id).await?;
    assert_eq!(o.node_note, None);
    let live = o.live.ok_or("live view")?;
    assert_eq!(live.member, s.lab.node());
    assert_eq!(live.usage.status, "running");
    assert_eq!(live.usage.maxmem, Some(256 << 20));
    assert!(live.usage.mem.is_some_and(|m| m > 0), "{:?}", live.usage);
    assert!(live.usage.maxdisk.is_some_and(|d| d > 0));
    assert!(live.usage.cpu.is_some() && live.usage.uptime.is_some());
    assert_eq!(live.usage.maxswap, Some(0), "asked for no swap");
    assert_eq!(live.config.cores, Some(1));
    assert_eq!(live.config.memory, Some(256));
    assert_eq!(live.config.ostype.as_deref(), Some("debian"));
    assert!(live.config.unprivileged);
    assert_eq!(live.config.tags, ["kiln", "web"]);
    assert_eq!(
        live.config.notes.as_deref(),
        Some("Created by Kiln."),
        "the description without the marker"
    );
    assert!(
        live.addresses.iter().any(|a| a.starts_with("eth0 10.77.")),
        "{:?}",
        live.addresses
    );
    let session = s.app.login("creator", PASSWORD).await?;
    let page = s
        .app
        .get(&format!("/containers/{id}"), Some(&session))
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    for part in [
        r#"data-test="resources""#,
        "<meter",
        r#"data-test="config-summary""#,
        r#"class="code-block notes">Created by Kiln.<"#,
    ] {
        assert!(page.body.contains(part), "{part} in the page");
    }

    // The node stops answering: the page shows what Kiln knows, and says so.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = s.app.state.db.get().await?;
        diesel::sql_query("UPDATE nodes SET port = 1")
            .execute(&mut conn)
            .await?;
    }
    let o = s.service().overview(&s.actor, id).await?;
    assert!(o.live.is_none());
    let note = o.node_note.ok_or("a note")?;
    assert!(note.contains("not answering"), "{note}");
    assert_eq!(o.detail.summary.hostname, "overview-1");
    let page = s
        .app
        .get(&format!("/containers/{id}"), Some(&session))
        .await?;
    assert_eq!(page.status, StatusCode::OK, "never an error page");
    assert!(page.body.contains(r#"data-test="node-note""#));
    let config = s
        .app
        .get(&format!("/containers/{id}?tab=config"), Some(&session))
        .await?;
    assert_eq!(config.status, StatusCode::OK);
    assert!(config.body.contains(r#"data-test="config-error""#));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn events_come_newest_first_and_filter_by_kind_and_phase() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let (id, _) = ready(&s, "events-1").await?;
    let all = s.events(id).await?;
    let page = s
        .service()
        .event_page(&s.actor, id, EventFilter::default())
        .await?;
    let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
    let mut expected: Vec<i64> = all.iter().map(|e| e.seq).collect();
    expected.reverse();
    assert_eq!(seqs, expected, "newest first");
    assert_eq!(page.older, None);
    assert!(page.kinds.contains(&"phase".to_owned()) && page.kinds.contains(&"outcome".to_owned()));
    assert!(page.phases.contains(&"create".to_owned()));

    let phases = s
        .service()
        .event_page(
            &s.actor,
            id,
            EventFilter {
                kind: Some("phase".into()),
                ..EventFilter::default()
            },
        )
        .await?;
    assert!(!phases.events.is_empty());
    assert!(phases.events.iter().all(|e| e.kind == "phase"));
    assert_eq!(
        phases.events.len(),
        all.iter().filter(|e| e.kind == "phase").count()
    );
    let create = s
        .service()
        .event_page(
            &s.actor,
            id,
            EventFilter {
                phase: Some("create".into()),
                before: Some(seqs[0]),
                ..EventFilter::default()
            },
        )
        .await?;
    assert!(!create.events.is_empty());
    assert!(create.events.iter().all(|e| e.phase == "create"));
    assert!(create.events.windows(2).all(|w| w[0].seq > w[1].seq));

    // Pages of 100: 150 more events, then the first page holds the newest 100.
    {
        let mut conn = s.app.state.db.get().await?;
        for i in 0..150 {
            rows::append_event(&mut conn, id, "refresh", "log", &format!("line {i}")).await?;
        }
    }
    let first = s
        .service()
        .event_page(&s.actor, id, EventFilter::default())
        .await?;
    assert_eq!(first.events.len(), 100);
    assert_eq!(first.events[0].text, "line 149");
    let older = first.older.ok_or("an older page")?;
    let second = s
        .service()
        .event_page(
            &s.actor,
            id,
            EventFilter {
                before: Some(older),
                ..EventFilter::default()
            },
        )
        .await?;
    assert_eq!(second.events[0].seq, older - 1);

    // Refused filters; the page without JavaScript.
    assert!(matches!(
        s.service()
            .event_page(
                &s.actor,
                id,
                EventFilter {
                    kind: Some("Bad;kind".into()),
                    ..EventFilter::default()
                }
            )
            .await,
        Err(AppError::Invalid(e)) if e.get("kind").is_some()
    ));
    let session = s.app.login("creator", PASSWORD).await?;
    let page = s
        .app
        .get(
            &format!("/containers/{id}?tab=events&kind=outcome"),
            Some(&session),
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-kind="outcome""#));
    assert!(!page.body.contains(r#"data-kind="log""#), "filtered");
    s.finish().await
}

/// A template whose script saves two credentials.
fn saving_template() -> Template {
    let mut t = Template::new("saves-logins");
    t.scripts = vec![script(
        "10-save.sh",
        "save_credential app ADMIN_USER admin\nsave_credential app ADMIN_PASSWORD \"$(generate_password 20)\"\n",
    )];
    t
}

/// Makes session `session`'s sign-in `secs` seconds older (as if signed in long ago).
async fn age_session(s: &Setup, session: &str, secs: i64) -> R {
    let key = format!(
        "{}session:{}",
        s.app.state.config.redis_prefix,
        kiln_server::auth::tokens::digest(session)
    );
    let mut conn = s.app.state.redis.get().await?;
    let raw: String = conn.get(&key).await?;
    let mut data: serde_json::Value = serde_json::from_str(&raw)?;
    let created = data["created_at"].as_i64().ok_or("created_at")?;
    data["created_at"] = (created - secs).into();
    let _: () = deadpool_redis::redis::cmd("SET")
        .arg(&key)
        .arg(data.to_string())
        .arg("KEEPTTL")
        .query_async(&mut conn)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reveal_asks_for_the_password_again_after_ten_minutes() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut req = request(s.node_id, "reveal-1");
    req.template = Some(store(&s, &saving_template()).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let id = created.id.to_string();
    let ask = [
        ("id", id.as_str()),
        ("service", "app"),
        ("key", "ADMIN_PASSWORD"),
    ];

    // A fresh sign-in reveals at once.
    let session = s.app.login("creator", PASSWORD).await?;
    let fresh = s
        .app
        .call("reveal_credential", &ask, Some(&session))
        .await?;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let value: String = serde_json::from_str(&fresh.body)?;
    assert_eq!(value.len(), 20);

    // Signed in 11 minutes ago: the password is asked for again.
    age_session(&s, &session, 11 * 60).await?;
    let asked = s
        .app
        .call("reveal_credential", &ask, Some(&session))
        .await?;
    assert_eq!(field_error(&asked, REAUTH_FIELD)?, REAUTH_MESSAGE);
    assert!(!asked.body.contains(&value));

    // A wrong one is refused, counted against the sign-in limit, and audited.
    let mut wrong = ask.to_vec();
    wrong.push(("password", "not the password"));
    let refused = s
        .app
        .call("reveal_credential", &wrong, Some(&session))
        .await?;
    assert!(
        field_error(&refused, REAUTH_FIELD)?.contains("wrong"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains(&value));
    assert!(s.app.state.limiter.ttl("creator").await? > 0, "counted");
    let audit = s.app.audit().await?;
    assert!(
        audit
            .iter()
            .any(|(action, outcome, _)| action == "user.reauth" && outcome == "failed"),
        "{audit:?}"
    );

    // The right one reveals, is audited, and is remembered for the next reveals.
    let mut right = ask.to_vec();
    right.push(("password", PASSWORD));
    let shown = s
        .app
        .call("reveal_credential", &right, Some(&session))
        .await?;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(serde_json::from_str::<String>(&shown.body)?, value);
    let audit = s.app.audit().await?;
    assert!(
        audit
            .iter()
            .any(|(action, outcome, _)| action == "user.reauth" && outcome == "ok")
    );
    assert!(
        audit
            .iter()
            .filter(|(action, _, _)| action == "container.credential.reveal")
            .count()
            >= 2
    );
    let again = s
        .app
        .call("reveal_credential", &ask, Some(&session))
        .await?;
    assert_eq!(again.status, StatusCode::OK, "confirmed: {}", again.body);

    // Another user: 404 even with their own password.
    s.app.create_user("stranger", false).await?;
    let other = s.app.login("stranger", PASSWORD).await?;
    assert_eq!(
        status_of(&s, "reveal_credential", &right, &other).await?,
        StatusCode::NOT_FOUND
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_finds_the_credentials_again_and_logs_are_only_for_its_services() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut req = request(s.node_id, "refresh-1");
    req.template = Some(store(&s, &saving_template()).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let id = created.id;
    let before = s.service().detail(&s.actor, id).await?;
    assert_eq!(
        before.other_credentials,
        [(
            "app".to_owned(),
            vec!["ADMIN_USER".to_owned(), "ADMIN_PASSWORD".to_owned()]
        )]
    );

    // Forgotten (as if discovery had missed them), then found again by a refresh.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = s.app.state.db.get().await?;
        diesel::sql_query("DELETE FROM container_credentials")
            .execute(&mut conn)
            .await?;
    }
    let refreshed = s.service().refresh_services(&s.actor, id).await?;
    assert_eq!(refreshed.credentials, 2);
    let after = s.service().detail(&s.actor, id).await?;
    assert_eq!(after.other_credentials, before.other_credentials);
    let events = s.events(id).await?;
    let last = events.last().ok_or("events")?;
    assert_eq!(
        (last.phase.as_str(), last.kind.as_str()),
        ("refresh", "outcome")
    );
    assert!(last.text.contains("2 credential(s)"), "{}", last.text);
    assert!(
        events
            .iter()
            .any(|e| e.text == "found credentials: 2 for app")
    );
    assert!(
        s.app
            .audit()
            .await?
            .iter()
            .any(|(action, _, _)| action == "container.services.refresh")
    );
    let revealed = s
        .service()
        .reveal_credential(&s.actor, id, "app", "ADMIN_USER")
        .await?;
    assert_eq!(revealed, "admin", "sealed to its row again");

    // Logs: only of the container's services, and only names the rule allows.
    for unit in ["ssh.service", "-f.service", "nginx"] {
        assert!(
            matches!(
                s.service().service_logs(&s.actor, id, unit).await,
                Err(AppError::Invalid(ref e)) if e.get("unit").is_some()
            ),
            "{unit}"
        );
    }
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn another_user_gets_404_from_every_part_of_the_page() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let (id, _) = ready(&s, "private-1").await?;
    let id = id.to_string();
    let stranger = actor(&s.app, "stranger").await?;
    let session = s.app.login("stranger", PASSWORD).await?;
    let calls: [(&str, Vec<(&str, &str)>); 6] = [
        ("container_overview", vec![("id", &id)]),
        ("container_config", vec![("id", &id)]),
        ("container_event_page", vec![("id", &id)]),
        ("refresh_services", vec![("id", &id)]),
        ("service_logs", vec![("id", &id), ("unit", "nginx.service")]),
        (
            "reveal_credential",
            vec![
                ("id", &id),
                ("service", "app"),
                ("key", "ADMIN_PASSWORD"),
                ("password", PASSWORD),
            ],
        ),
    ];
    for (name, form) in &calls {
        assert_eq!(
            status_of(&s, name, form, &session).await?,
            StatusCode::NOT_FOUND,
            "{name}"
        );
    }
    let page = s
        .app
        .get(&format!("/containers/{id}?tab=config"), Some(&session))
        .await?;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let owner = s.app.login("creator", PASSWORD).await?;
    for (name, form) in &calls[..3] {
        assert_eq!(
            status_of(&s, name, form, &owner).await?,
            StatusCode::OK,
            "{name} for the owner"
        );
    }
    let id: i64 = id.parse()?;
    assert!(matches!(
        s.service().service_logs(&stranger, id, "x.service").await,
        Err(AppError::NotFound(_))
    ));
    s.finish().await
}

/// Units that serve and log, for the real-LXC test.
const SERVICES_SCRIPT: &str = r#"set -euo pipefail
ensure_installed busybox
mkdir -p /srv/www && echo "hello" > /srv/www/index.html
cat > /etc/systemd/system/kiln-web.service <<'UNIT'
[Unit]
Description=Kiln test web server
[Service]
ExecStartPre=/bin/echo kiln-web says hello to the journal
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now kiln-web.service
for _ in $(seq 1 50); do
    ss -Hltn | grep -q ':8080 ' && break
    sleep 0.1
done
save_credential kiln-web ADMIN_PASSWORD "$(generate_password 20)"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_real_container_refreshes_its_services_and_shows_a_units_journal() -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("serves");
    t.scripts = vec![script("10-services.sh", SERVICES_SCRIPT)];
    let mut req = request(s.node_id, "serves-1");
    req.template = Some(store(&s, &t).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 300).await?;
    let texts: Vec<String> = s
        .events(created.id)
        .await?
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(row.status, "ready", "{:?}\n{}", row.error, texts.join("\n"));
    let id = created.id;
    let before = s.service().detail(&s.actor, id).await?;
    assert_eq!(
        before
            .services
            .iter()
            .map(|v| v.unit.as_str())
            .collect::<Vec<_>>(),
        ["kiln-web.service"],
        "{}",
        texts.join("\n")
    );

    // The stored services are lost (and the address is stale): a refresh finds them again on
    // the address the node reports for the DHCP container.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = s.app.state.db.get().await?;
        diesel::sql_query("DELETE FROM container_services")
            .execute(&mut conn)
            .await?;
        diesel::sql_query("UPDATE containers SET address = '192.0.2.99'")
            .execute(&mut conn)
            .await?;
    }
    let refreshed = s.service().refresh_services(&s.actor, id).await?;
    assert_eq!((refreshed.services, refreshed.credentials), (1, 1));
    let after = s.service().detail(&s.actor, id).await?;
    assert_eq!(after.services, before.services, "found again, same web URL");
    assert_eq!(after.summary.address, before.summary.address);

    // The unit's journal.
    let logs = s
        .service()
        .service_logs(&s.actor, id, "kiln-web.service")
        .await?;
    assert!(!logs.lines.is_empty() && logs.lines.len() <= 200);
    assert!(
        logs.lines
            .iter()
            .any(|l| l.contains("kiln-web says hello to the journal")),
        "{:?}",
        logs.lines
    );
    assert!(matches!(
        s.service().service_logs(&s.actor, id, "ssh.service").await,
        Err(AppError::Invalid(_))
    ));
    let session = s.app.login("creator", PASSWORD).await?;
    let page = s
        .app
        .get(
            &format!("/containers/{id}?tab=services&logs=kiln-web.service"),
            Some(&session),
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-test="service-logs""#));
    assert!(page.body.contains("kiln-web says hello to the journal"));
    assert!(page.body.contains(r#"rel="noopener noreferrer""#));
    s.finish().await
}
