//! Template test runs (`ContainerService::test_run`): a throwaway container from a template's
//! defaults, a pass/fail report as its last `outcome` event, then deleted unless kept. The
//! scratch runtime (no systemd) for a passing and a failing run; the lab's real LXC runtime
//! for a unit that fails and for each built-in template, which must pass.

use std::time::{Duration, Instant};

use kiln_server::db::containers as rows;
use kiln_server::lab::RuntimeKind;
use kiln_shared::templates::Template;

use crate::containers::{Setup, actor, node_ssh, setup};
use crate::discovery::{builtin, script, store};
use crate::lab_fixture::R;

/// How a test run ended: its events (read until the report), and its row unless deleted.
struct Ended {
    texts: Vec<String>,
    report: String,
    row: Option<rows::ContainerRow>,
}

/// Follows test run `id` until its report is written and, when not `keep`, its row is gone
/// (events are read often: the deletion removes them with the row).
async fn ended(s: &Setup, id: i64, keep: bool, secs: u64) -> R<Ended> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut texts: Vec<String> = Vec::new();
    loop {
        let mut conn = s.app.state.db.get().await?;
        let row = rows::get(&mut conn, None, id).await?;
        let events = rows::events_after(&mut conn, id, 0, 100_000).await?;
        drop(conn);
        if !events.is_empty() {
            texts = events.into_iter().map(|e| e.text).collect();
        }
        let report = texts
            .iter()
            .find(|t| t.starts_with("test passed") || t.starts_with("test failed"))
            .cloned();
        let settled = match &row {
            None => true,
            Some(row) => keep && matches!(row.status.as_str(), "ready" | "failed"),
        };
        if let (Some(report), true) = (&report, settled) {
            return Ok(Ended {
                report: report.clone(),
                texts,
                row,
            });
        }
        if row.is_none() {
            return Err(format!(
                "test run {id} deleted without a report:\n{}",
                texts.join("\n")
            )
            .into());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "test run {id} not over after {secs} s:\n{}",
                texts.join("\n")
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_run_reports_then_deletes_its_container() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("passes");
    t.scripts = vec![script("10-ok.sh", "echo all good\n")];
    let slug = store(&s, &t).await?;
    let id = s.service().test_run(&s.actor, &slug, None, false).await?;
    let end = ended(&s, id, false, 120).await?;
    assert_eq!(
        end.report,
        "test passed: ready, no service added by the template",
        "{}",
        end.texts.join("\n")
    );
    assert!(end.row.is_none(), "deleted after the report");
    // The verdict outlives the container: in the audit log.
    let mut conn = s.app.state.db.get().await?;
    let entry = kiln_server::db::audit::latest(
        &mut conn,
        "template.test",
        &format!("passes (container {id})"),
    )
    .await?
    .ok_or("audited")?;
    assert_eq!(entry.outcome, "ok");
    assert_eq!(entry.detail["passed"], true);
    assert_eq!(entry.detail["report"], end.report.as_str());
    drop(conn);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_reports_the_failed_step_and_is_kept_when_asked() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("fails");
    t.scripts = vec![script(
        "10-boom.sh",
        "echo getting ready\necho boom >&2\nexit 3\n",
    )];
    let slug = store(&s, &t).await?;
    let id = s.service().test_run(&s.actor, &slug, None, true).await?;
    let end = ended(&s, id, true, 120).await?;
    let row = end.row.ok_or("kept")?;
    assert_eq!(row.status, "failed");
    assert!(row.test_run && row.keep_after_test);
    assert_eq!(row.hostname, "test-fails-01");
    let tags = row.request["tags"].as_array().ok_or("tags")?;
    assert!(tags.iter().any(|t| t == "kiln-test"), "{tags:?}");
    assert!(
        end.report
            .starts_with("test failed in scripts: 10-boom.sh exited with status 3"),
        "{}",
        end.texts.join("\n")
    );
    assert!(end.report.contains("\nlast output:\n"), "{}", end.report);
    assert!(end.report.contains("  boom"), "{}", end.report);
    assert_eq!(end.texts.last(), Some(&end.report), "the report comes last");
    // A second run of the same template gets the next name.
    let second = s.service().test_run(&s.actor, &slug, None, true).await?;
    let row = s.service().get(&s.actor, second).await?;
    assert_eq!(row.hostname, "test-fails-02");
    ended(&s, second, true, 120).await?;
    s.finish().await
}

/// A unit enabled by the script that cannot start.
const FAILING_UNIT: &str = r#"set -euo pipefail
cat > /etc/systemd/system/kiln-broken.service <<'UNIT'
[Unit]
Description=A unit that fails
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo broken on purpose; exit 7'
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable kiln-broken.service
systemctl start kiln-broken.service || true
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_unit_that_fails_fails_the_run_with_its_status() -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let _sshd = node_ssh(&s).await?;
    let mut t = Template::new("broken-unit");
    t.scripts = vec![script("10-unit.sh", FAILING_UNIT)];
    let slug = store(&s, &t).await?;
    let id = s.service().test_run(&s.actor, &slug, None, false).await?;
    let end = ended(&s, id, false, 600).await?;
    assert!(
        end.report
            .starts_with("test failed: 1 of 1 services not active: kiln-broken.service is failed"),
        "{}",
        end.texts.join("\n")
    );
    assert!(end.report.contains("broken on purpose"), "{}", end.report);
    assert!(end.row.is_none(), "deleted: the run was not kept");
    s.finish().await
}

/// Test-runs built-in template `slug` on a real LXC lab; it must pass, and be deleted.
async fn builtin_passes(slug: &str) -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let _sshd = node_ssh(&s).await?;
    let slug = builtin(&s, slug).await?;
    let id = s.service().test_run(&s.actor, &slug, None, false).await?;
    let end = ended(&s, id, false, 900).await?;
    eprintln!("{slug}: {}", end.report);
    assert!(
        end.report.starts_with("test passed"),
        "{}",
        end.texts.join("\n")
    );
    assert!(end.row.is_none(), "deleted after the report");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_debian_base_passes() -> R {
    builtin_passes("debian-base").await
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_nginx_web_passes() -> R {
    builtin_passes("nginx-web").await
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_postgresql_server_passes() -> R {
    builtin_passes("postgresql-server").await
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_docker_host_passes() -> R {
    builtin_passes("docker-host").await
}

/// A scratch lab and an app whose secret key a `kiln` child can be given; the env it needs.
async fn cli_setup() -> R<(Setup, Vec<(&'static str, String)>)> {
    use base64::Engine;
    let key_text = {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| "no random bytes")?;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let key = kiln_server::crypto::SecretKey::from_base64(&key_text)?;
    let app = crate::harness::TestApp::with_key(
        &crate::harness::database_url(),
        &crate::harness::redis_url(),
        |_| {},
        key,
    )
    .await?;
    let lab = crate::lab_fixture::TestLab::start(|o| o.runtime = RuntimeKind::Scratch).await?;
    let actor = actor(&app, "tester").await?;
    let node_id = crate::containers::register_lab(&app, &actor, &lab).await?;
    let env = vec![
        (
            "DATABASE_URL",
            app.state.config.database_url.clone().ok_or("url")?,
        ),
        ("REDIS_URL", crate::harness::redis_url()),
        ("KILN_REDIS_PREFIX", app.state.config.redis_prefix.clone()),
        ("KILN_SECRET_KEY", key_text),
    ];
    let s = Setup {
        app,
        lab,
        actor,
        node_id,
        workers: None,
    };
    Ok((s, env))
}

/// Runs `kiln template test ARGS` with `env`; its exit code and standard output.
async fn kiln_test(env: &[(&'static str, String)], args: &[&str]) -> R<(Option<i32>, String)> {
    let data = crate::processes::TempDir(
        std::env::temp_dir().join(format!("kiln-template-test-{}", crate::harness::unique())),
    );
    let mut command = std::process::Command::new(crate::processes::KILN);
    command
        .args(["template", "test"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("KILN_DATA_DIR", &data.0)
        .env("RUST_LOG", "warn");
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    drop(data);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok((
        output.status.code(),
        format!("{stdout}\n--- stderr\n{stderr}"),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_runs_the_jobs_prints_the_events_and_exits_by_the_verdict() -> R {
    let (s, env) = cli_setup().await?;
    let _sshd = node_ssh(&s).await?;
    let mut good = Template::new("cli-passes");
    good.scripts = vec![script("10-ok.sh", "echo fine\n")];
    store(&s, &good).await?;
    let mut bad = Template::new("cli-fails");
    bad.scripts = vec![script("10-no.sh", "echo nope\nexit 4\n")];
    store(&s, &bad).await?;

    let (code, out) = kiln_test(&env, &["cli-passes", "--user", "tester", "--node", "lab"]).await?;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("[scripts] fine"), "{out}");
    assert!(
        out.contains("test passed: ready, no service added by the template"),
        "{out}"
    );
    assert!(out.contains(" deleted"), "{out}");

    let (code, out) = kiln_test(&env, &["cli-fails", "--user", "tester", "--keep"]).await?;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("test failed in scripts: 10-no.sh exited with status 4"),
        "{out}"
    );
    assert!(out.contains("kept (test-cli-fails-01)"), "{out}");
    let mut conn = s.app.state.db.get().await?;
    let kept = rows::list(&mut conn, Some(s.actor.user_id)).await?;
    assert_eq!(kept.len(), 1, "only the kept run is left");
    drop(conn);

    let (code, out) = kiln_test(&env, &["no-such-template", "--user", "tester"]).await?;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no-such-template"), "{out}");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_imports_a_template_folder_then_tests_it() -> R {
    let (s, env) = cli_setup().await?;
    let _sshd = node_ssh(&s).await?;
    let root = crate::processes::TempDir(
        std::env::temp_dir().join(format!("kiln-test-folders-{}", crate::harness::unique())),
    );
    let dir = root.0.join("folder-app");
    let mut t = Template::new("folder-app");
    t.scripts = vec![script("10-ok.sh", "echo from the folder\n")];
    kiln_server::templates::write_folder(&t, &dir)?;
    let path = dir.to_string_lossy().into_owned();

    let (code, out) = kiln_test(&env, &[&path, "--user", "tester"]).await?;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("template folder-app: imported from"), "{out}");
    assert!(out.contains("[scripts] from the folder"), "{out}");
    assert!(out.contains("test passed"), "{out}");

    // Edited in the folder: the next run updates the user's template and runs the new script.
    t.scripts = vec![script("10-ok.sh", "echo edited\nexit 3\n")];
    kiln_server::templates::write_folder(&t, &dir)?;
    let (code, out) = kiln_test(&env, &[&path, "--user", "tester"]).await?;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("template folder-app: updated from"), "{out}");
    assert!(
        out.contains("test failed in scripts: 10-ok.sh exited with status 3"),
        "{out}"
    );

    // A folder with errors: its findings, and nothing created.
    let broken = root.0.join("broken-app");
    std::fs::create_dir_all(&broken)?;
    std::fs::write(broken.join("template.conf"), "TEMPLATE_CPU=lots\n")?;
    let (code, out) = kiln_test(&env, &[&broken.to_string_lossy(), "--user", "tester"]).await?;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("nothing was created"), "{out}");

    // A folder named like a built-in template does not replace it.
    let shadow = root.0.join("nginx-web");
    let mut copy = Template::new("nginx-web");
    copy.scripts = vec![script("10-ok.sh", "echo mine\n")];
    kiln_server::templates::write_folder(&copy, &shadow)?;
    let (code, out) = kiln_test(&env, &[&shadow.to_string_lossy(), "--user", "tester"]).await?;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`nginx-web` is a built-in template already"),
        "{out}"
    );
    let mut conn = s.app.state.db.get().await?;
    assert!(
        rows::list(&mut conn, Some(s.actor.user_id))
            .await?
            .is_empty(),
        "every run was deleted and the refused ones created nothing"
    );
    drop(conn);
    s.finish().await
}
