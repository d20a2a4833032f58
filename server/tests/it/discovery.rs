//! Template scripts with Kiln's helper library, and what discovery finds afterwards: the
//! services a template added (state, ports, web URL) and the credentials its scripts saved —
//! sealed, shown as keys, revealed to the owner or an admin only, never in an event. Also
//! the retry that skips an unfinished script. The scratch runtime (no systemd) for the
//! library, credentials and retries; a real LXC container for services, ports and web URLs.

use std::io::{Read, Write};
use std::time::Duration;

use kiln_server::db::containers as rows;
use kiln_server::lab::RuntimeKind;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::progress::{LogLevel, helper_log};
use kiln_shared::templates::{Manager, Package, PackageBucket, Script, Template};

use crate::containers::{Setup, actor, node_ssh, request, setup, setup_paused};
use crate::lab_fixture::R;

/// Stores `t` as a custom template of the actor; returns its slug.
pub(crate) async fn store(s: &Setup, t: &Template) -> R<String> {
    let model = serde_json::to_value(t)?;
    let mut conn = s.app.state.db.get().await?;
    kiln_server::db::templates::insert_custom(
        &mut conn,
        &kiln_server::db::templates::TemplateFields {
            slug: &t.slug,
            source: "custom",
            root: None,
            app: &t.app,
            description: "",
            tags: &[],
            model: &model,
            findings: &serde_json::json!([]),
            error_count: 0,
            warning_count: 0,
            content_hash: Some("test-hash"),
            status: "ok",
        },
        Some(s.actor.user_id),
    )
    .await?
    .ok_or("slug taken")?;
    Ok(t.slug.clone())
}

pub(crate) fn script(name: &str, content: &str) -> Script {
    Script {
        file_name: name.into(),
        order_key: name[..2].into(),
        content: content.into(),
    }
}

/// Runs `argv` inside container `vmid` of the lab (as the node's `pct exec` would).
fn inside(s: &Setup, vmid: i32, argv: &[&str]) -> R<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["lab", "pct", "exec", &vmid.to_string(), "--"])
        .args(argv)
        .env("KILN_LAB_DATA_DIR", &s.lab.dir)
        .output()?;
    if !out.status.success() {
        return Err(format!("{argv:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn admin(s: &Setup) -> R<Actor> {
    s.app.create_user("the-admin", true).await?;
    let mut conn = s.app.state.db.get().await?;
    let user = kiln_server::db::users::by_username(&mut conn, "the-admin")
        .await?
        .ok_or("admin")?;
    Ok(Actor {
        user_id: user.id,
        username: "the-admin".into(),
        is_admin: true,
        address: "127.0.0.1".into(),
        // Signed in just now: reveals do not ask for the password again.
        password_proved_at: Some(chrono::Utc::now().timestamp()),
        via_token: None,
    })
}

/// A script using every helper, and the environment Kiln gives scripts.
const HELPERS_SCRIPT: &str = r#"set -euo pipefail
log_info "os=$CONTAINER_OS $CONTAINER_OS_VERSION host=$CONTAINER_HOSTNAME vmid=$CONTAINER_VMID first=$KILN_FIRST_RUN"
is_installed bash
! is_installed no-such-program
wait_for_apt_lock 5
password="$(generate_password 24)"
save_credential app ADMIN_PASSWORD "$password"
save_credential app ADMIN_USER admin
save_credential app ADMIN_PASSWORD "$password"
if save_credential ../evil KEY value; then exit 10; fi
if save_credential app 'BAD;KEY' value; then exit 11; fi
if save_credential app KEY $'two\nlines'; then exit 12; fi
install -d -m 700 /etc/infrahaus/credentials
printf 'TOKEN=legacy-secret-value\n' > /etc/infrahaus/credentials/legacy
log_warn "a warning"
echo "plain output"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn scripts_use_the_helpers_and_their_credentials_are_sealed_and_revealed_on_request() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("with-helpers");
    t.scripts = vec![script("10-helpers.sh", HELPERS_SCRIPT)];
    let mut req = request(s.node_id, "helped-1");
    req.template = Some(store(&s, &t).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 60).await?;
    let events = s.events(created.id).await?;
    let texts: Vec<&str> = events.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(row.status, "ready", "{:?}\n{}", row.error, texts.join("\n"));
    let vmid = row.vmid.ok_or("vmid")?;

    // The helper library is in the container, and its log lines are in the stream, in order
    // with the script's output.
    let library = inside(&s, vmid, &["cat", "/usr/local/lib/kiln/helpers.sh"])?;
    assert_eq!(library, kiln_server::containers::discover::HELPERS);
    let logs: Vec<(LogLevel, &str)> = texts.iter().filter_map(|t| helper_log(t)).collect();
    assert!(
        logs.contains(&(
            LogLevel::Info,
            &*format!("os=debian 12 host=helped-1 vmid={vmid} first=1")
        )),
        "{logs:?}"
    );
    let warn = texts.iter().position(|t| t.ends_with("WARN: a warning"));
    let plain = texts.iter().position(|t| *t == "plain output");
    assert!(
        warn.is_some() && warn < plain,
        "in order:\n{}",
        texts.join("\n")
    );
    assert!(
        logs.iter()
            .filter(|(level, _)| *level == LogLevel::Error)
            .count()
            >= 3,
        "the refused save_credential calls said why: {logs:?}"
    );
    assert!(
        texts.contains(&"no systemd in the container: services are not discovered"),
        "{}",
        texts.join("\n")
    );
    assert!(texts.contains(&"found credentials: 2 for app, 1 for legacy"));

    // What the script saved, as the container has it.
    let saved = inside(&s, vmid, &["cat", "/etc/kiln/credentials/app.env"])?;
    let password = saved
        .lines()
        .find_map(|l| l.strip_prefix("ADMIN_PASSWORD="))
        .ok_or("saved")?
        .to_owned();
    assert_eq!(password.len(), 24);
    assert_eq!(saved.lines().count(), 2, "updated in place: {saved}");
    let modes = inside(
        &s,
        vmid,
        &[
            "stat",
            "-c",
            "%a",
            "/etc/kiln/credentials",
            "/etc/kiln/credentials/app.env",
        ],
    )?;
    assert_eq!(modes, "700\n600\n");
    assert!(inside(&s, vmid, &["test", "-e", "/etc/kiln/evil.env"]).is_err());

    // Stored sealed; the detail shows keys only.
    let detail = s.service().detail(&s.actor, created.id).await?;
    assert!(detail.services.is_empty());
    assert_eq!(
        detail.other_credentials,
        [
            (
                "app".to_owned(),
                vec!["ADMIN_PASSWORD".to_owned(), "ADMIN_USER".to_owned()]
            ),
            ("legacy".to_owned(), vec!["TOKEN".to_owned()]),
        ]
    );
    assert_eq!(detail.phase.as_deref(), Some("ready"));
    assert_eq!(detail.summary.vmid, u32::try_from(vmid).ok());
    assert!(detail.request.root_password.is_none());
    let mut conn = s.app.state.db.get().await?;
    let sealed = rows::credential_value(&mut conn, created.id, "app", "ADMIN_PASSWORD")
        .await?
        .ok_or("stored")?;
    drop(conn);
    assert!(
        !sealed
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "not stored in clear"
    );

    // Revealed to the owner and an admin; 404 for anyone else and for unknown keys.
    let service = s.service();
    assert_eq!(
        service
            .reveal_credential(&s.actor, created.id, "app", "ADMIN_PASSWORD")
            .await?,
        password
    );
    let admin = admin(&s).await?;
    assert_eq!(
        service
            .reveal_credential(&admin, created.id, "legacy", "TOKEN")
            .await?,
        "legacy-secret-value"
    );
    let stranger = actor(&s.app, "stranger").await?;
    for (who, service_name, key) in [
        (&stranger, "app", "ADMIN_PASSWORD"),
        (&s.actor, "app", "NO_SUCH_KEY"),
        (&s.actor, "../app", "ADMIN_PASSWORD"),
    ] {
        assert!(
            matches!(
                service
                    .reveal_credential(who, created.id, service_name, key)
                    .await,
                Err(AppError::NotFound(_))
            ),
            "{} {service_name}/{key}",
            who.username
        );
    }
    assert!(matches!(
        service.detail(&stranger, created.id).await,
        Err(AppError::NotFound(_))
    ));

    // A value moved to another key does not open.
    let mut conn = s.app.state.db.get().await?;
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use kiln_server::db::schema::container_credentials as cc;
        diesel::update(
            cc::table
                .filter(cc::container_id.eq(created.id))
                .filter(cc::key.eq("ADMIN_USER")),
        )
        .set(cc::value.eq(&sealed))
        .execute(&mut conn)
        .await?;
    }
    drop(conn);
    assert!(matches!(
        service
            .reveal_credential(&s.actor, created.id, "app", "ADMIN_USER")
            .await,
        Err(AppError::Internal)
    ));

    // Never in an event, nor in the audit log, which records each reveal.
    let events = s.events(created.id).await?;
    for secret in [password.as_str(), "legacy-secret-value"] {
        assert!(
            events.iter().all(|e| !e.text.contains(secret)),
            "a credential value in an event"
        );
    }
    let mut conn = s.app.state.db.get().await?;
    let audit = kiln_server::db::audit::recent(&mut conn, 100).await?;
    drop(conn);
    let reveals: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "container.credential.reveal")
        .collect();
    assert_eq!(reveals.len(), 2, "one per reveal");
    assert!(reveals.iter().any(|a| {
        a.target
            .as_deref()
            .is_some_and(|t| t.ends_with("app/ADMIN_PASSWORD"))
    }));
    assert!(
        audit
            .iter()
            .all(|a| !format!("{a:?}").contains(password.as_str()))
    );

    // Over HTTP: the server functions.
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    let id = created.id.to_string();
    let reply = s
        .app
        .call(
            "reveal_credential",
            &[("id", &id), ("service", "legacy"), ("key", "TOKEN")],
            Some(&session),
        )
        .await?;
    assert_eq!(reply.status, axum::http::StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, "\"legacy-secret-value\"");
    let detail = s
        .app
        .call("get_container", &[("id", &id)], Some(&session))
        .await?;
    assert_eq!(detail.status, axum::http::StatusCode::OK, "{}", detail.body);
    assert!(detail.body.contains("ADMIN_PASSWORD") && !detail.body.contains(&password));
    let stranger_session = s.app.login("stranger", crate::harness::PASSWORD).await?;
    let refused = s
        .app
        .call(
            "reveal_credential",
            &[("id", &id), ("service", "legacy"), ("key", "TOKEN")],
            Some(&stranger_session),
        )
        .await?;
    assert_eq!(refused.status, axum::http::StatusCode::NOT_FOUND);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_is_safe_to_repeat() -> R {
    use diesel_async::RunQueryDsl;
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("repeat");
    t.scripts = vec![script(
        "10-save.sh",
        "save_credential app KEY \"$(generate_password)\"\nsave_credential other K v\n",
    )];
    let mut req = request(s.node_id, "repeat-1");
    req.template = Some(store(&s, &t).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let vmid = row.vmid.ok_or("vmid")?;
    let first = s.service().detail(&s.actor, created.id).await?;
    let value = s
        .service()
        .reveal_credential(&s.actor, created.id, "app", "KEY")
        .await?;

    // As if the discover phase had failed: a retry runs it again. One credential file is
    // gone meanwhile, and one value changed.
    inside(&s, vmid, &["rm", "/etc/kiln/credentials/other.env"])?;
    inside(
        &s,
        vmid,
        &[
            "bash",
            "-c",
            "printf 'KEY=changed\\n' > /etc/kiln/credentials/app.env",
        ],
    )?;
    let mut conn = s.app.state.db.get().await?;
    diesel::sql_query(
        "UPDATE jobs SET state = 'failed', phase = 'discover', error = 'x', \
         finished_at = now() WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(created.job_id)
    .execute(&mut conn)
    .await?;
    rows::set_status(
        &mut conn,
        created.id,
        "failed",
        Some("failed in discover: x"),
    )
    .await?;
    drop(conn);
    s.service().retry(&s.actor, created.id).await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let again = s.service().detail(&s.actor, created.id).await?;
    assert_eq!(
        first.other_credentials,
        [
            ("app".to_owned(), vec!["KEY".to_owned()]),
            ("other".to_owned(), vec!["K".to_owned()])
        ]
    );
    assert_eq!(
        again.other_credentials,
        [("app".to_owned(), vec!["KEY".to_owned()])],
        "what the container has now"
    );
    assert_ne!(value, "changed");
    assert_eq!(
        s.service()
            .reveal_credential(&s.actor, created.id, "app", "KEY")
            .await?,
        "changed"
    );
    let events = s.events(created.id).await?;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "phase" && e.text == "discover")
            .count(),
        2
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.text.ends_with("Kiln's helper library, written"))
            .count(),
        1,
        "pushed once"
    );
    s.finish().await
}

/// Waits until the creation job of container `id` has failed too (the row says `failed` a
/// moment before the job engine records the job's outcome).
async fn failed_job(s: &Setup, job_id: i64) -> R {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = s.app.state.db.get().await?;
        let job = s
            .app
            .state
            .jobs
            .get(&mut conn, job_id)
            .await?
            .ok_or("job")?;
        if job.state == kiln_server::db::jobs::JobState::Failed {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("job {job_id} still {:?}", job.state).into());
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A template whose second script does not finish: `20-stuck.sh` fails (exit 3) or, with
/// `hang`, sleeps until the job is interrupted.
fn stuck_template(hang: bool) -> Template {
    let mut t = Template::new(if hang { "hangs" } else { "fails" });
    let stuck = if hang {
        "touch /root/stuck-started\nsleep 60\ntouch /root/stuck-finished\n"
    } else {
        "echo failing\nexit 3\n"
    };
    t.scripts = vec![
        script("10-first.sh", "echo first >> /root/runs\n"),
        script("20-stuck.sh", stuck),
        script("30-after.sh", "echo after >> /root/runs\n"),
    ];
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_script_can_be_skipped_on_retry() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut req = request(s.node_id, "skip-1");
    req.template = Some(store(&s, &stuck_template(false)).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "failed");
    assert!(
        row.error
            .as_deref()
            .is_some_and(|e| e.contains("20-stuck.sh exited with status 3")),
        "{:?}",
        row.error
    );
    failed_job(&s, created.job_id).await?;
    let stranger = actor(&s.app, "stranger").await?;
    assert!(matches!(
        s.service()
            .retry_skipping_script(&stranger, created.id)
            .await,
        Err(AppError::NotFound(_))
    ));
    assert_eq!(
        s.service()
            .retry_skipping_script(&s.actor, created.id)
            .await?,
        "20-stuck.sh"
    );
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let vmid = row.vmid.ok_or("vmid")?;
    assert_eq!(inside(&s, vmid, &["cat", "/root/runs"])?, "first\nafter\n");
    let events = s.events(created.id).await?;
    let count = |text: &str| events.iter().filter(|e| e.text == text).count();
    assert_eq!(count("20-stuck.sh: started"), 1, "not run again");
    assert_eq!(
        count("20-stuck.sh: skipped on retry (it had not finished)"),
        1
    );
    assert_eq!(count("10-first.sh: started"), 1);
    assert!(
        s.app
            .audit()
            .await?
            .iter()
            .any(|(action, _, _)| action == "container.retry_skipping_script")
    );
    // Ready: nothing to skip.
    assert!(matches!(
        s.service()
            .retry_skipping_script(&s.actor, created.id)
            .await,
        Err(AppError::Conflict(_))
    ));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_interrupted_by_a_crash_stops_the_job_then_is_skipped() -> R {
    let mut s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut req = request(s.node_id, "skip-2");
    req.template = Some(store(&s, &stuck_template(true)).await?);
    let created = s.service().create(&s.actor, req).await?;
    // Wait until the stuck script runs, then stop the workers (the job is dropped at the
    // shutdown deadline, mid-script, as a crash would leave it).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !s
        .events(created.id)
        .await?
        .iter()
        .any(|e| e.text == "20-stuck.sh: started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the script never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(workers) = s.workers.take() {
        workers.shutdown().await;
    }
    s.start_workers();
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "failed");
    assert!(
        row.error
            .as_deref()
            .is_some_and(|e| e.contains("20-stuck.sh was interrupted")),
        "{:?}",
        row.error
    );
    failed_job(&s, created.job_id).await?;
    assert_eq!(
        s.service()
            .retry_skipping_script(&s.actor, created.id)
            .await?,
        "20-stuck.sh"
    );
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let vmid = row.vmid.ok_or("vmid")?;
    assert_eq!(inside(&s, vmid, &["cat", "/root/runs"])?, "first\nafter\n");
    assert!(inside(&s, vmid, &["test", "-e", "/root/stuck-finished"]).is_err());
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_skip_server_function_is_a_thin_adapter() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "adapter-1"))
        .await?;
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    let id = created.id.to_string();
    let reply = s
        .app
        .call("skip_interrupted_script", &[("id", &id)], Some(&session))
        .await?;
    assert_eq!(
        reply.status,
        axum::http::StatusCode::CONFLICT,
        "{}",
        reply.body
    );
    let anonymous = s
        .app
        .call("skip_interrupted_script", &[("id", &id)], None)
        .await?;
    assert_eq!(anonymous.status, axum::http::StatusCode::UNAUTHORIZED);
    s.finish().await
}

/// Two services the script adds as systemd units (busybox httpd from the lab's apt proxy):
/// one on all addresses (a web URL), one on loopback only (none).
const SERVICES_SCRIPT: &str = r#"set -euo pipefail
wait_for_apt_lock
ensure_installed busybox
is_installed busybox
install -d /srv/www
printf 'hello from %s\n' "$CONTAINER_HOSTNAME" > /srv/www/index.html
cat > /etc/systemd/system/kiln-web.service <<'UNIT'
[Unit]
Description=Kiln test web server
[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www
[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/kiln-local.service <<'UNIT'
[Unit]
Description=Kiln test loopback server
[Service]
ExecStart=/bin/busybox httpd -f -p 127.0.0.1:9090 -h /srv/www
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now kiln-web.service kiln-local.service
for _ in $(seq 1 50); do
    ss -Hltn | grep -q ':8080 ' && ss -Hltn | grep -q ':9090 ' && break
    sleep 0.1
done
save_credential kiln-web ADMIN_USER admin
save_credential kiln-web ADMIN_PASSWORD "$(generate_password 20)"
log_info "services enabled"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_real_container_reports_the_services_ports_web_urls_and_credentials_its_template_added()
-> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("services");
    t.scripts = vec![script("10-services.sh", SERVICES_SCRIPT)];
    // A package the image lacks, so that the packages phase runs too.
    t.packages = vec![PackageBucket {
        name: "base".into(),
        manager: Manager::Apt,
        packages: vec![Package::Plain("jq".into())],
    }];
    let mut req = request(s.node_id, "services-1");
    req.template = Some(store(&s, &t).await?);
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 300).await?;
    let events = s.events(created.id).await?;
    let texts: Vec<&str> = events.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(row.status, "ready", "{:?}\n{}", row.error, texts.join("\n"));
    let address = row.address.clone().ok_or("address")?;
    assert!(
        texts
            .iter()
            .filter_map(|t| helper_log(t))
            .any(|(level, text)| level == LogLevel::Info && text.starts_with("installing busybox")),
        "ensure_installed said what it installs:\n{}",
        texts.join("\n")
    );

    let detail = s.service().detail(&s.actor, created.id).await?;
    let summary: Vec<(&str, &str, &[u16], Option<&str>)> = detail
        .services
        .iter()
        .map(|v| {
            (
                v.unit.as_str(),
                v.state.as_str(),
                v.ports.as_slice(),
                v.web_url.as_deref(),
            )
        })
        .collect();
    let url = format!("http://{address}:8080/");
    assert_eq!(
        summary,
        [
            ("kiln-local.service", "active", &[9090u16][..], None),
            (
                "kiln-web.service",
                "active",
                &[8080u16][..],
                Some(url.as_str())
            ),
        ],
        "only the template's services (not ssh, cron...):\n{}",
        texts.join("\n")
    );
    assert_eq!(
        detail.services[1].credentials,
        ["ADMIN_USER", "ADMIN_PASSWORD"],
        "shown with their service"
    );
    assert!(detail.other_credentials.is_empty());
    assert!(texts.contains(&&*format!(
        "service kiln-web.service: active, port 8080, {url}"
    )));
    assert!(texts.contains(&"found credentials: 2 for kiln-web"));

    // The URL answers from outside the container.
    let mut stream = std::net::TcpStream::connect((address.as_str(), 8080))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut page = String::new();
    stream.read_to_string(&mut page)?;
    assert!(page.contains("hello from services-1"), "{page}");

    // The credential: revealed to the owner, never in an event.
    let vmid = row.vmid.ok_or("vmid")?.to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["lab", "pct", "exec", &vmid, "--", "cat"])
        .arg("/etc/kiln/credentials/kiln-web.env")
        .env("KILN_LAB_DATA_DIR", &s.lab.dir)
        .output()?;
    let saved = String::from_utf8_lossy(&out.stdout).into_owned();
    let password = saved
        .lines()
        .find_map(|l| l.strip_prefix("ADMIN_PASSWORD="))
        .ok_or("saved")?;
    assert_eq!(
        s.service()
            .reveal_credential(&s.actor, created.id, "kiln-web", "ADMIN_PASSWORD")
            .await?,
        password
    );
    let stranger = actor(&s.app, "stranger").await?;
    assert!(matches!(
        s.service()
            .reveal_credential(&stranger, created.id, "kiln-web", "ADMIN_PASSWORD")
            .await,
        Err(AppError::NotFound(_))
    ));
    assert!(texts.iter().all(|t| !t.contains(password)));
    s.finish().await
}

/// A built-in template from `server/builtin-templates/`, stored as the actor's.
pub(crate) async fn builtin(s: &Setup, slug: &str) -> R<String> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("builtin-templates")
        .join(slug);
    let (template, findings) = kiln_server::templates::parse_folder(&folder);
    let template = template.ok_or_else(|| format!("{slug}: {findings:?}"))?;
    store(s, &template).await
}

/// A container made from a built-in template on a real LXC lab.
struct Built {
    s: Setup,
    row: rows::ContainerRow,
    texts: Vec<String>,
    _sshd: crate::ssh::Sshd,
    _cleanup: crate::lab_lxc::Cleanup,
}

/// Creates a container from built-in template `slug` on a real LXC lab and waits until it
/// is ready; `None` where the LXC runtime cannot run.
async fn from_builtin(slug: &str) -> R<Option<Built>> {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(None);
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let sshd = node_ssh(&s).await?;
    let mut req = request(s.node_id, &format!("{slug}-1"));
    req.template = Some(builtin(&s, slug).await?);
    req.memory_mib = 512;
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 600).await?;
    let texts: Vec<String> = s
        .events(created.id)
        .await?
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(row.status, "ready", "{:?}\n{}", row.error, texts.join("\n"));
    Ok(Some(Built {
        s,
        row,
        texts,
        _sshd: sshd,
        _cleanup: cleanup,
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builtin_nginx_template_runs_with_the_helpers_and_its_site_is_discovered() -> R {
    let Some(built) = from_builtin("nginx-web").await? else {
        return Ok(());
    };
    let texts = &built.texts;
    let address = built.row.address.clone().ok_or("address")?;
    assert!(
        texts
            .iter()
            .filter_map(|t| helper_log(t))
            .any(|(_, text)| text == "nginx -t: configuration is valid"),
        "{}",
        texts.join("\n")
    );
    let detail = built
        .s
        .service()
        .detail(&built.s.actor, built.row.id)
        .await?;
    let units: Vec<&str> = detail.services.iter().map(|v| v.unit.as_str()).collect();
    assert_eq!(units, ["nginx.service"], "{}", texts.join("\n"));
    let nginx = detail
        .services
        .iter()
        .find(|v| v.unit == "nginx.service")
        .ok_or_else(|| format!("{units:?}\n{}", texts.join("\n")))?;
    assert_eq!(nginx.state, "active");
    assert_eq!(nginx.ports, [80]);
    assert_eq!(
        nginx.web_url.as_deref(),
        Some(&*format!("http://{address}/"))
    );
    built.s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builtin_postgresql_template_saves_its_login_for_the_postgresql_service() -> R {
    let Some(built) = from_builtin("postgresql-server").await? else {
        return Ok(());
    };
    let texts = &built.texts;
    let (s, id) = (&built.s, built.row.id);
    let detail = s.service().detail(&s.actor, id).await?;
    let units: Vec<&str> = detail.services.iter().map(|v| v.unit.as_str()).collect();
    assert_eq!(
        units,
        ["postgresql.service", "postgresql@15-main.service"],
        "{}",
        texts.join("\n")
    );
    let cluster = detail
        .services
        .iter()
        .find(|v| v.unit == "postgresql@15-main.service")
        .ok_or_else(|| format!("{units:?}\n{}", texts.join("\n")))?;
    assert_eq!(
        (cluster.state.as_str(), cluster.ports.as_slice()),
        ("active", &[5432u16][..])
    );
    assert_eq!(cluster.web_url, None, "PostgreSQL does not speak HTTP");
    let service = detail
        .services
        .iter()
        .find(|v| v.name == "postgresql")
        .ok_or("postgresql.service")?;
    assert_eq!(
        service.credentials,
        ["DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"]
    );
    let password = s
        .service()
        .reveal_credential(&s.actor, id, "postgresql", "DB_PASSWORD")
        .await?;
    assert_eq!(password.len(), 24);
    assert!(
        texts
            .iter()
            .any(|t| t == "found credentials: 5 for postgresql")
    );
    assert!(texts.iter().all(|t| !t.contains(&password)));
    built.s.finish().await
}
