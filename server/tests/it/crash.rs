//! `kill -9` of the real `kiln serve` in the middle of creations, and again in the middle of a
//! deletion: after a restart the jobs resume (each phase checks what is already done) and
//! finish; the node then has exactly the containers Kiln lists, each once, each carrying its
//! own creation's marker.
//!
//! The test process owns the database schema, Redis prefix, user, node and a lab node; the
//! `kiln` children share them (`DATABASE_URL` with the schema, `KILN_REDIS_PREFIX`,
//! `KILN_SECRET_KEY` — the node's token is sealed with it) and run the job workers. The lab
//! uses the scratch runtime at speed 1 (creating takes 2 s, starting 1 s, stopping 0.5 s,
//! destroying 1 s), so a kill right after the job recorded a task's UPID lands while that
//! task runs on the node: deterministic, without real LXC's variable timings. A killed
//! run's jobs are resumed once their lease (30 s) has run out.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use kiln_server::containers::service::ContainerService;
use kiln_server::db::containers as rows;
use kiln_server::lab::RuntimeKind;
use kiln_server::proxmox::ProxmoxApi;

use crate::harness::{TestApp, database_url, redis_url, unique};
use crate::lab_fixture::{R, TestLab};
use crate::processes::{KILN, Server, TempDir, free_port};

/// Everything a `kiln serve` child needs to share the test's state.
struct Child {
    env: Vec<(String, String)>,
    data: TempDir,
}

impl Child {
    /// Starts `kiln serve` and waits until it answers `/readyz`.
    async fn start(&self) -> R<Server> {
        let port = free_port()?;
        let mut server = Server(
            Command::new(KILN)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("KILN_DATA_DIR", &self.data.0)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()?,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.0.try_wait()? {
                return Err(format!("kiln exited early: {status}").into());
            }
            if ready(port).await {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("kiln did not become ready within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether `GET /readyz` answers 200 (plain HTTP/1.0 over loopback).
async fn ready(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = format!("GET /readyz HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b" 200")
}

/// SIGKILL, and reap it.
fn kill_9(mut server: Server) -> R {
    server.0.kill()?;
    server.0.wait()?;
    Ok(())
}

/// Waits until `done` holds for the rows of `ids` (checked every 200 ms).
async fn until(
    app: &TestApp,
    ids: &[i64],
    secs: u64,
    what: &str,
    done: impl Fn(&[Option<rows::ContainerRow>]) -> bool,
) -> R<Vec<Option<rows::ContainerRow>>> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut conn = app.state.db.get().await?;
        let mut found = Vec::new();
        for id in ids {
            found.push(rows::get(&mut conn, None, *id).await?);
        }
        drop(conn);
        if done(&found) {
            return Ok(found);
        }
        if Instant::now() > deadline {
            let states: Vec<_> = found
                .iter()
                .map(|r| {
                    r.as_ref()
                        .map(|r| (r.id, r.status.clone(), r.error.clone()))
                })
                .collect();
            return Err(format!("not {what} within {secs} s: {states:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until container `id` has an event in `phase` whose text starts with `prefix`.
async fn event(app: &TestApp, id: i64, phase: &str, prefix: &str) -> R {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut conn = app.state.db.get().await?;
        let events = rows::events_after(&mut conn, id, 0, 10_000).await?;
        drop(conn);
        if events
            .iter()
            .any(|e| e.phase == phase && e.text.starts_with(prefix))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("container {id}: no {phase} event {prefix:?} within 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node's containers are exactly Kiln's `rows`, once each, each with its own marker.
async fn node_matches_kiln(lab: &TestLab, rows: &[rows::ContainerRow]) -> R {
    let client = lab.client()?;
    let on_node: Vec<u32> = client
        .lxc_list(lab.node())
        .await?
        .iter()
        .map(|ct| ct.vmid)
        .collect();
    let unique_on_node: BTreeSet<u32> = on_node.iter().copied().collect();
    assert_eq!(
        unique_on_node.len(),
        on_node.len(),
        "none twice: {on_node:?}"
    );
    let kiln: BTreeSet<u32> = rows
        .iter()
        .map(|r| r.vmid.and_then(|v| u32::try_from(v).ok()).ok_or("no VMID"))
        .collect::<Result<_, _>>()?;
    assert_eq!(kiln.len(), rows.len(), "Kiln's VMIDs are distinct");
    assert_eq!(
        unique_on_node, kiln,
        "the node has exactly the containers Kiln lists"
    );
    for row in rows {
        let vmid = row.vmid.and_then(|v| u32::try_from(v).ok()).ok_or("vmid")?;
        let config = client.lxc_config(lab.node(), vmid).await?;
        let job = row.job_id.ok_or("job")?;
        assert!(
            kiln_server::containers::create::has_marker(config.description.as_deref(), job),
            "CT {vmid} carries its creation's marker: {:?}",
            config.description
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn creations_and_a_deletion_survive_kill_9_of_the_server() -> R {
    let key_text = {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| "no random bytes")?;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let key = kiln_server::crypto::SecretKey::from_base64(&key_text)?;
    let app = TestApp::with_key(&database_url(), &redis_url(), |_| {}, key).await?;
    let lab = TestLab::start(|o| {
        o.runtime = RuntimeKind::Scratch;
        o.speed = 1.0;
    })
    .await?;
    let actor = crate::containers::actor(&app, "survivor").await?;
    let node_id = crate::containers::register_lab(&app, &actor, &lab).await?;
    let child = Child {
        env: vec![
            (
                "DATABASE_URL".into(),
                app.state.config.database_url.clone().ok_or("url")?,
            ),
            ("REDIS_URL".into(), redis_url()),
            (
                "KILN_REDIS_PREFIX".into(),
                app.state.config.redis_prefix.clone(),
            ),
            ("KILN_SECRET_KEY".into(), key_text),
        ],
        data: TempDir(std::env::temp_dir().join(format!("kiln-crash-{}", unique()))),
    };

    // Three creations; two run at once on the node (its limit), the third waits.
    let server = child.start().await?;
    let service = ContainerService::new(app.state.clone());
    let mut ids = Vec::new();
    for name in ["crash-1", "crash-2", "crash-3"] {
        let request = crate::containers::request(node_id, name);
        ids.push(service.create(&actor, request).await?.id);
    }
    // Killed while the first one's create task runs on the node.
    event(&app, ids[0], "create", "task UPID:").await?;
    kill_9(server)?;

    let server = child.start().await?;
    let ready = until(&app, &ids, 150, "all ready", |rows| {
        rows.iter()
            .all(|r| r.as_ref().is_some_and(|r| r.status == "ready"))
    })
    .await?;
    let ready: Vec<rows::ContainerRow> = ready.into_iter().flatten().collect();
    node_matches_kiln(&lab, &ready).await?;
    let mut conn = app.state.db.get().await?;
    let first = app
        .state
        .jobs
        .get(&mut conn, ready[0].job_id.ok_or("job")?)
        .await?
        .ok_or("job row")?;
    drop(conn);
    assert!(
        first.attempts >= 2,
        "the first creation was resumed (attempts {})",
        first.attempts
    );

    // Killed while a deletion destroys its container; the restarted server finishes it.
    service.delete(&actor, ids[1]).await?;
    event(&app, ids[1], "destroy", "destroying CT").await?;
    kill_9(server)?;
    let server = child.start().await?;
    until(&app, &ids[1..2], 150, "deleted", |rows| rows[0].is_none()).await?;
    let left: Vec<rows::ContainerRow> = until(&app, &[ids[0], ids[2]], 5, "kept", |rows| {
        rows.iter().all(Option::is_some)
    })
    .await?
    .into_iter()
    .flatten()
    .collect();
    node_matches_kiln(&lab, &left).await?;

    kill_9(server)?;
    app.cleanup().await?;
    lab.finish().await
}
