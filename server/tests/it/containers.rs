//! Creating containers end to end: `ContainerService::create` (rules, ownership, the row and
//! its job in one transaction) and the durable creation job on real job workers, against a
//! lab node — the scratch runtime for rules, failures and concurrency, real LXC for a real
//! container.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kiln_server::containers::service::ContainerService;
use kiln_server::db::containers as rows;
use kiln_server::jobs::{self, Options, Workers};
use kiln_server::lab::{Faults, RuntimeKind};
use kiln_server::nodes::NodeService;
use kiln_server::proxmox::ProxmoxApi;
use kiln_shared::AppError;
use kiln_shared::auth::Actor;
use kiln_shared::containers::{CreateRequest, Ipv4Setting};
use kiln_shared::nodes::NodeInput;

use crate::harness::TestApp;
use crate::lab_fixture::{R, TestLab};

const PASSWORD: &str = "correct horse battery";

/// An app, a lab registered as the user's node, and job workers.
pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) lab: TestLab,
    pub(crate) actor: Actor,
    pub(crate) node_id: i64,
    pub(crate) workers: Option<Workers>,
}

pub(crate) async fn actor(app: &TestApp, name: &str) -> R<Actor> {
    app.create_user(name, false).await?;
    let mut conn = app.state.db.get().await?;
    let user = kiln_server::db::users::by_username(&mut conn, name)
        .await?
        .ok_or("user")?;
    Ok(Actor {
        user_id: user.id,
        username: name.to_owned(),
        is_admin: false,
        address: "127.0.0.1".into(),
        // Signed in just now: reveals do not ask for the password again.
        password_proved_at: Some(chrono::Utc::now().timestamp()),
        via_token: None,
    })
}

pub(crate) async fn setup(runtime: RuntimeKind) -> R<Setup> {
    let mut s = setup_paused(runtime).await?;
    s.start_workers();
    Ok(s)
}

/// [`setup`] without job workers (start them with [`Setup::start_workers`]).
pub(crate) async fn setup_paused(runtime: RuntimeKind) -> R<Setup> {
    setup_paused_with(|o| o.runtime = runtime).await
}

/// [`setup_paused`] with the lab's options set by `configure` (runtime, speed...).
pub(crate) async fn setup_paused_with(
    configure: impl FnOnce(&mut kiln_server::lab::LabOptions),
) -> R<Setup> {
    let app = TestApp::new().await?;
    let lab = TestLab::start(configure).await?;
    let actor = actor(&app, "creator").await?;
    let node_id = register_lab(&app, &actor, &lab).await?;
    Ok(Setup {
        app,
        lab,
        actor,
        node_id,
        workers: None,
    })
}

/// Registers `lab` as `actor`'s node named `lab` (as Kiln registers its lab node); its id.
pub(crate) async fn register_lab(app: &TestApp, actor: &Actor, lab: &TestLab) -> R<i64> {
    register_lab_as(app, actor, lab, "lab").await
}

/// Registers `lab` as `actor`'s node named `name`; its id.
pub(crate) async fn register_lab_as(
    app: &TestApp,
    actor: &Actor,
    lab: &TestLab,
    name: &str,
) -> R<i64> {
    let (token_id, secret) = lab.handle.token.split_once('=').ok_or("token")?;
    let node = NodeService::new(app.state.clone())
        .add_lab_node(
            actor,
            NodeInput {
                name: name.into(),
                host: "127.0.0.1".into(),
                port: lab.handle.addr.port(),
                is_cluster: false,
                fingerprint: lab.handle.fingerprint.clone(),
                token_id: token_id.into(),
                token_secret: secret.into(),
            },
        )
        .await?;
    Ok(node.id)
}

impl Setup {
    pub(crate) fn start_workers(&mut self) {
        self.workers = Some(Workers::start(
            &self.app.state,
            jobs::handlers(&self.app.state),
            Options {
                workers: 4,
                per_node: 4,
                lease: Duration::from_secs(5),
                poll_interval: Duration::from_millis(100),
                max_attempts: 5,
                shutdown_deadline: Duration::from_secs(5),
            },
        ));
    }

    pub(crate) async fn finish(self) -> R {
        if let Some(workers) = self.workers {
            workers.shutdown().await;
        }
        self.app.cleanup().await?;
        self.lab.finish().await
    }

    pub(crate) fn service(&self) -> ContainerService {
        ContainerService::new(self.app.state.clone())
    }

    /// Waits until container `id` is `ready` or `failed`; returns its row.
    pub(crate) async fn settled(&self, id: i64, secs: u64) -> R<rows::ContainerRow> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut conn = self.app.state.db.get().await?;
            let row = rows::get(&mut conn, None, id).await?.ok_or("row")?;
            if row.status == "ready" || row.status == "failed" {
                return Ok(row);
            }
            if Instant::now() > deadline {
                return Err(format!("container {id} still {} after {secs} s", row.status).into());
            }
            drop(conn);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn events(&self, id: i64) -> R<Vec<rows::EventRow>> {
        let mut conn = self.app.state.db.get().await?;
        Ok(rows::events_after(&mut conn, id, 0, 10_000).await?)
    }
}

pub(crate) fn request(node_id: i64, hostname: &str) -> CreateRequest {
    CreateRequest {
        template: None,
        node_id,
        hostname: hostname.into(),
        vmid: None,
        ostemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
        storage: "local-lvm".into(),
        disk_gib: 4,
        cores: 1,
        memory_mib: 256,
        swap_mib: 0,
        bridge: "vmbr0".into(),
        ipv4: Ipv4Setting::Dhcp,
        nameserver: None,
        unprivileged: true,
        nesting: false,
        keyctl: false,
        fuse: false,
        onboot: false,
        tags: vec!["web".into()],
        root_password: Some(PASSWORD.into()),
        ssh_public_keys: None,
        buckets_off: vec![],
        packages_added: vec![],
        packages_removed: vec![],
        scripts_skipped: vec![],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_is_allocated_created_started_and_ready() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "Web-1"))
        .await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    assert_eq!(row.hostname, "web-1", "normalized");
    assert_eq!(row.vmid, Some(100));
    assert!(
        row.address
            .as_deref()
            .is_some_and(|a| a.starts_with("10.77."))
    );
    assert!(
        row.root_password.is_none(),
        "Kiln forgets the password once the node has it"
    );

    let events = s.events(created.id).await?;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "numbered 1, 2, 3..."
    );
    let phases: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "phase")
        .map(|e| e.text.as_str())
        .collect();
    // A plain OS container has no files, packages, scripts or services to find.
    assert_eq!(phases, ["allocate", "create", "start", "network", "ready"]);
    let last = events.last().ok_or("events")?;
    assert_eq!(
        (last.kind.as_str(), last.text.as_str()),
        ("outcome", "ready")
    );
    assert!(
        events.iter().any(|e| e.text.contains("extracting archive")),
        "task log lines"
    );
    assert!(
        events.iter().all(|e| !e.text.contains(PASSWORD)),
        "no secret in an event"
    );
    let mut conn = s.app.state.db.get().await?;
    let job = s
        .app
        .state
        .jobs
        .get(&mut conn, created.job_id)
        .await?
        .ok_or("job")?;
    assert!(
        !job.payload.to_string().contains(PASSWORD),
        "no secret in the job"
    );
    assert!(
        !row.request.to_string().contains(PASSWORD),
        "nor in the stored request"
    );
    drop(conn);

    // On the node: running, tagged, carrying the job's marker.
    let client = s.lab.client()?;
    let config = client.lxc_config(s.lab.node(), 100).await?;
    assert!(
        config
            .description
            .as_deref()
            .is_some_and(|d| d.contains(&format!("kiln-job-{}", created.job_id)))
    );
    assert_eq!(config.tags.as_deref(), Some("kiln;web"));
    assert_eq!(
        client.lxc_status(s.lab.node(), 100).await?.status,
        "running"
    );
    assert!(
        s.app
            .audit()
            .await?
            .iter()
            .any(|(action, _, _)| action == "container.create"),
        "audited"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_by_field_and_nothing_is_written_or_sent() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let other = actor(&s.app, "someone-else").await?;
    let mut hostile = request(s.node_id, "web;reboot");
    hostile.packages_added = vec!["curl; rm -rf /".into()];
    hostile.ipv4 = Ipv4Setting::Static {
        address: "10.0.0.5/24".into(),
        gateway: Some("192.168.0.1".into()),
    };
    match s.service().create(&s.actor, hostile).await {
        Err(AppError::Invalid(errors)) => {
            for field in ["hostname", "packages_added.0", "ipv4.gateway"] {
                assert!(errors.get(field).is_some(), "{field}: {errors:?}");
            }
        }
        other => panic!("expected field errors, got {other:?}"),
    }
    match s.service().create(&other, request(s.node_id, "web")).await {
        Err(AppError::Invalid(errors)) => assert!(errors.get("node_id").is_some(), "{errors:?}"),
        other => panic!("another user's node must be refused, got {other:?}"),
    }
    let mut unknown = request(s.node_id, "web");
    unknown.template = Some("no-such-template".into());
    assert!(matches!(
        s.service().create(&s.actor, unknown).await,
        Err(AppError::Invalid(e)) if e.get("template").is_some()
    ));
    let mut conn = s.app.state.db.get().await?;
    assert!(
        rows::list(&mut conn, None).await?.is_empty(),
        "no row written"
    );
    drop(conn);
    assert!(
        s.lab.client()?.lxc_list(s.lab.node()).await?.is_empty(),
        "nothing sent"
    );
    // A taken hostname on the same node.
    s.service()
        .create(&s.actor, request(s.node_id, "web"))
        .await?;
    assert!(matches!(
        s.service().create(&s.actor, request(s.node_id, "web")).await,
        Err(AppError::Invalid(e)) if e.get("hostname").is_some()
    ));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_task_fails_its_phase_and_a_retry_finishes_the_creation() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let mut faults = Faults::default();
    faults.task_failures.insert(
        "vzstart".into(),
        "startup for container '100' failed".into(),
    );
    s.lab.handle.set_faults(faults);
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "flaky"))
        .await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(row.status, "failed");
    let error = row.error.unwrap_or_default();
    assert!(
        error.starts_with("failed in start:") && error.contains("startup for container"),
        "{error}"
    );

    s.lab.handle.set_faults(Faults::default());
    s.service().retry(&s.actor, created.id).await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let lxc = s.lab.client()?.lxc_list(s.lab.node()).await?;
    assert_eq!(
        lxc.len(),
        1,
        "the retry did not create a second container: {lxc:?}"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_creations_get_twenty_distinct_vmids() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    // A guest Kiln does not know, in the middle of the range the creations take.
    let client = s.lab.client()?;
    let upid = client
        .lxc_create(s.lab.node(), &crate::lab_fixture::container(105))
        .await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, crate::lab_fixture::TASK_TIMEOUT)
        .await?;
    let service = s.service();
    let mut handles = Vec::new();
    for i in 0..20 {
        let service = service.clone();
        let actor = s.actor.clone();
        let req = request(s.node_id, &format!("web-{i}"));
        handles.push(tokio::spawn(
            async move { service.create(&actor, req).await },
        ));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await??.id);
    }
    let mut vmids = BTreeSet::new();
    for id in ids {
        let row = s.settled(id, 60).await?;
        assert_eq!(row.status, "ready", "{:?}", row.error);
        let vmid = row.vmid.ok_or("vmid")?;
        vmids.insert(vmid);
        // On the node, each carries its own creation's marker.
        let config = client
            .lxc_config(s.lab.node(), u32::try_from(vmid)?)
            .await?;
        let job = row.job_id.ok_or("job")?;
        assert!(
            kiln_server::containers::create::has_marker(config.description.as_deref(), job),
            "CT {vmid}: {:?}",
            config.description
        );
    }
    assert_eq!(vmids.len(), 20, "{vmids:?}");
    assert!(
        !vmids.contains(&105),
        "the unknown guest's VMID was skipped"
    );
    assert_eq!(client.lxc_list(s.lab.node()).await?.len(), 21);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_container_is_created_from_a_request() -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    let s = setup(RuntimeKind::Lxc).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "real-1"))
        .await?;
    let row = s.settled(created.id, 120).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    let bridge = s.lab.handle.bridge().ok_or("bridge")?;
    let net = bridge.rsplit_once('.').map_or("", |(n, _)| n);
    assert!(
        row.address
            .as_deref()
            .is_some_and(|a| a.starts_with(&format!("{net}."))),
        "{:?}",
        row.address
    );
    s.finish().await
}

/// A custom template with a custom package (already present), an apt bucket when `apt`, and
/// two scripts, the second skipped by the request.
pub(crate) async fn template(s: &Setup, apt: bool) -> R<String> {
    use kiln_shared::templates::{
        FileContent, Manager, Package, PackageBucket, Policy, Script, Template, TemplateFile,
    };
    let mut t = Template::new("provisioned");
    t.files = vec![
        TemplateFile {
            name: "app.conf".into(),
            target_dir: "/opt/kiln-test".into(),
            policy: Policy::Default,
            content: FileContent::Utf8("port = 8080\n".into()),
        },
        TemplateFile {
            name: "hosts".into(),
            target_dir: "/etc".into(),
            policy: Policy::Backup,
            content: FileContent::Utf8("127.0.0.1 localhost kiln-test\n".into()),
        },
    ];
    t.packages.push(PackageBucket {
        name: "tools".into(),
        manager: Manager::Custom,
        packages: vec![Package::Custom {
            name: "a shell".into(),
            check: "command -v sh".into(),
            install: "false".into(),
            timeout_secs: None,
        }],
    });
    if apt {
        t.packages.push(PackageBucket {
            name: "base".into(),
            manager: Manager::Apt,
            packages: vec![Package::Plain("jq".into())],
        });
    }
    t.scripts = vec![
        Script {
            file_name: "10-hello.sh".into(),
            order_key: "10".into(),
            content: "set -e\necho \"hello from $(hostname)\" > /root/hello\necho wrote hello\n"
                .into(),
        },
        Script {
            file_name: "20-never.sh".into(),
            order_key: "20".into(),
            content: "touch /root/never\n".into(),
        },
    ];
    let model = serde_json::to_value(&t)?;
    let mut conn = s.app.state.db.get().await?;
    kiln_server::db::templates::insert_custom(
        &mut conn,
        &kiln_server::db::templates::TemplateFields {
            slug: "provisioned",
            source: "custom",
            root: None,
            app: "Provisioned",
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
    Ok("provisioned".into())
}

/// An sshd in front of the lab whose `pct` is the lab's, authorized for the node's own key,
/// its host key pinned on the node row.
pub(crate) async fn node_ssh(s: &Setup) -> R<crate::ssh::Sshd> {
    let key = kiln_server::ssh::keys::for_node(
        &s.app.state.db,
        &s.app.state.secret_key,
        s.actor.user_id,
        s.node_id,
    )
    .await?
    .ok_or("node")?;
    let sshd = crate::ssh::Sshd::start(&[key.public_key()], &s.lab.dir).await?;
    let host = kiln_server::ssh::host_key::fetch("127.0.0.1", sshd.port).await?;
    let mut conn = s.app.state.db.get().await?;
    kiln_server::db::nodes::set_ssh(
        &mut conn,
        s.actor.user_id,
        s.node_id,
        "root",
        i32::from(sshd.port),
        &host.to_openssh(),
    )
    .await?;
    Ok(sshd)
}

async fn provisioned(runtime: RuntimeKind) -> R {
    let s = setup(runtime).await?;
    let _cleanup = crate::lab_lxc::Cleanup(s.lab.dir.clone());
    let _sshd = node_ssh(&s).await?;
    let slug = template(&s, runtime == RuntimeKind::Lxc).await?;
    let mut req = request(s.node_id, "prov-1");
    req.template = Some(slug);
    req.scripts_skipped = vec!["20-never.sh".into()];
    let created = s.service().create(&s.actor, req).await?;
    let row = s.settled(created.id, 240).await?;
    let events = s.events(created.id).await?;
    let texts: Vec<&str> = events.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(row.status, "ready", "{:?}\n{}", row.error, texts.join("\n"));
    assert_eq!(row.template_hash.as_deref(), Some("test-hash"));
    for expected in [
        "a shell: already installed",
        "10-hello.sh: started",
        "wrote hello",
        "10-hello.sh: done",
        "20-never.sh: skipped",
    ] {
        assert!(
            texts.contains(&expected),
            "{expected} in\n{}",
            texts.join("\n")
        );
    }
    if runtime == RuntimeKind::Lxc {
        assert!(
            texts.iter().any(|t| t.contains("Setting up jq")),
            "apt installed jq"
        );
    }
    // The script ran inside, once; the skipped one never.
    let vmid = row.vmid.ok_or("vmid")?.to_string();
    let inside = |argv: &[&str]| -> std::io::Result<std::process::Output> {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["lab", "pct", "exec", &vmid, "--"])
            .args(argv)
            .env("KILN_LAB_DATA_DIR", &s.lab.dir)
            .output()
    };
    let hello = inside(&["cat", "/root/hello"])?;
    assert_eq!(
        String::from_utf8_lossy(&hello.stdout).trim(),
        "hello from prov-1"
    );
    let never = inside(&["test", "-e", "/root/never"])?;
    assert!(!never.status.success(), "the skipped script did not run");
    let files = inside(&[
        "sh",
        "-c",
        "cat /opt/kiln-test/app.conf /etc/hosts; ls /etc | grep -c '^hosts.backup-'",
    ])?;
    assert_eq!(
        String::from_utf8_lossy(&files.stdout),
        "port = 8080\n127.0.0.1 localhost kiln-test\n1\n",
        "files pushed by policy, the old /etc/hosts backed up once"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_templates_packages_and_scripts_run_over_the_nodes_ssh() -> R {
    provisioned(RuntimeKind::Scratch).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_container_installs_its_packages_and_runs_its_scripts() -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    provisioned(RuntimeKind::Lxc).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_create_server_function_is_a_thin_adapter() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let session = s.app.login("creator", crate::harness::PASSWORD).await?;
    let ok = s
        .app
        .call_json(
            "create_container",
            &serde_json::json!({ "request": request(s.node_id, "api-1") }),
            Some(&session),
        )
        .await?;
    assert_eq!(ok.status, axum::http::StatusCode::OK, "{}", ok.body);
    let id: i64 = serde_json::from_str(&ok.body)?;
    assert_eq!(s.settled(id, 30).await?.status, "ready");

    let bad = s
        .app
        .call_json(
            "create_container",
            &serde_json::json!({ "request": request(s.node_id, "-bad-") }),
            Some(&session),
        )
        .await?;
    assert_eq!(
        bad.status,
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.body
    );
    assert!(bad.body.contains("hostname"), "{}", bad.body);
    let anonymous = s
        .app
        .call_json(
            "create_container",
            &serde_json::json!({ "request": request(s.node_id, "api-2") }),
            None,
        )
        .await?;
    assert_eq!(anonymous.status, axum::http::StatusCode::UNAUTHORIZED);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_changed_after_the_request_is_recorded_as_used() -> R {
    use diesel_async::RunQueryDsl;
    let mut s = setup_paused(RuntimeKind::Scratch).await?;
    let slug = template(&s, false).await?;
    let _sshd = node_ssh(&s).await?;
    let mut req = request(s.node_id, "changed-1");
    req.template = Some(slug.clone());
    req.scripts_skipped = vec!["10-hello.sh".into(), "20-never.sh".into()];
    let created = s.service().create(&s.actor, req).await?;
    // Edited before any worker ran the job.
    let mut conn = s.app.state.db.get().await?;
    diesel::sql_query("UPDATE templates SET content_hash = 'newer-hash' WHERE slug = $1")
        .bind::<diesel::sql_types::Text, _>(&slug)
        .execute(&mut conn)
        .await?;
    drop(conn);
    s.start_workers();
    let row = s.settled(created.id, 60).await?;
    assert_eq!(row.status, "ready", "{:?}", row.error);
    assert_eq!(row.template_hash.as_deref(), Some("newer-hash"));
    let events = s.events(created.id).await?;
    assert!(
        events
            .iter()
            .any(|e| e.text.contains("the template changed since the request")),
        "said in the events"
    );
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creation_cancelled_before_it_ran_sends_nothing_to_the_node() -> R {
    let mut s = setup_paused(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "cancel-1"))
        .await?;
    assert!(
        s.service().cancel(&s.actor, created.id).await?,
        "cancelled at once"
    );
    let other = actor(&s.app, "not-the-owner").await?;
    assert!(matches!(
        s.service().cancel(&other, created.id).await,
        Err(AppError::NotFound(_))
    ));
    s.start_workers();
    let row = s.settled(created.id, 5).await?;
    assert_eq!(
        (row.status.as_str(), row.error.as_deref()),
        ("failed", Some("cancelled"))
    );
    let events = s.events(created.id).await?;
    assert_eq!(events.last().map(|e| e.text.as_str()), Some("cancelled"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        s.lab.client()?.lxc_list(s.lab.node()).await?.is_empty(),
        "nothing sent"
    );
    assert!(matches!(
        s.service().cancel(&s.actor, created.id).await,
        Err(AppError::Conflict(_))
    ));
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creation_given_up_after_interrupted_runs_is_failed_not_left_creating() -> R {
    let mut s = setup_paused(RuntimeKind::Scratch).await?;
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "given-up"))
        .await?;
    let handlers = jobs::handlers(&s.app.state);
    let options = Options {
        workers: 1,
        per_node: 4,
        lease: Duration::from_secs(1),
        poll_interval: Duration::from_millis(100),
        max_attempts: 2,
        shutdown_deadline: Duration::from_secs(5),
    };
    // Two runs claimed and abandoned, as by two servers killed in turn.
    for attempt in 1..=2 {
        let run = jobs::claim(&s.app.state.db, &handlers, &options)
            .await?
            .ok_or("nothing claimed")?;
        assert_eq!(run.attempts(), attempt);
        drop(run);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // The sweep gives the job up, and the container with it.
    s.workers = Some(Workers::start(&s.app.state, handlers, options));
    let row = s.settled(created.id, 10).await?;
    assert_eq!(row.status, "failed");
    assert_eq!(
        row.error.as_deref(),
        Some("failed in allocate: gave up after 2 interrupted runs")
    );
    let events = s.events(created.id).await?;
    let last = events.last().ok_or("no event")?;
    assert_eq!(
        (last.kind.as_str(), last.text.as_str()),
        (
            "outcome",
            "failed in allocate: gave up after 2 interrupted runs"
        )
    );
    // And it can be retried like any failed creation.
    s.service().retry(&s.actor, created.id).await?;
    s.finish().await
}
