//! The real Proxmox client against an in-test HTTPS stub (`pve_stub`): request shapes,
//! authentication, pinning, error classes, retries, quirk tolerance, tasks and the TLS probe.
//! No PostgreSQL or Redis needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::Method;
use kiln_server::proxmox::tasks::wait_task;
use kiln_server::proxmox::{Auth, Client, Error, ProxmoxApi, ShutdownOptions, Tuning, tls};
use kiln_shared::pve::{LxcCreate, Upid};
use serde_json::json;

use crate::pve_stub::{PASSWORD, Reply, Seen, Stub, TOKEN_SECRET, TestResult, decode, token_auth};

const UPID: &str = "UPID:pve:0000A1B2:0012C3D4:6745F0A1:vzcreate:101:root@pam!kiln:";

/// Fast retries so the tests do not wait 200 ms + 800 ms.
fn fast() -> Tuning {
    Tuning {
        retry_base_delay: Duration::from_millis(10),
        ..Tuning::default()
    }
}

fn token_client(stub: &Stub) -> Result<Client, Error> {
    Client::with_tuning(stub.config(token_auth()), fast())
}

fn password_auth() -> Auth {
    Auth::Password {
        username: "root@pam".into(),
        password: PASSWORD.into(),
        otp: None,
    }
}

#[tokio::test]
async fn token_header_and_quirky_answers() -> TestResult {
    let stub = Stub::start(|seen: &Seen| match seen.api_path() {
        "/version" => Reply::data(json!({"version": "9.0.3", "release": "9.0", "repoid": "abc"})),
        "/cluster/nextid" => Reply::data(json!("100")),
        "/nodes" => Reply::data(json!([
            {"node": "pve", "status": "online", "cpu": 0.02, "maxcpu": 8, "mem": "1024", "uptime": 5},
            {"node": "pve2", "status": "offline"}
        ])),
        "/cluster/resources" => Reply::data(json!([
            {"id": "lxc/101", "type": "lxc", "vmid": "101", "node": "pve", "status": "stopped",
             "template": 0, "tags": "web;prod"},
            {"id": "qemu/100", "type": "qemu", "vmid": 100, "template": "1", "tags": "a,b c"}
        ])),
        "/nodes/pve/lxc" => Reply::data(json!([
            {"vmid": "101", "status": "stopped", "template": "0", "name": "web", "maxmem": 536870912},
            {"vmid": 102, "status": "running", "cpu": "0.25", "mem": 1000, "pid": "4242", "uptime": 60}
        ])),
        "/nodes/pve/lxc/101/status/current" => Reply::data(json!(
            {"vmid": "101", "status": "running", "ha": {"managed": 0}, "lock": "backup"}
        )),
        "/nodes/pve/lxc/101/config" => Reply::data(json!(
            {"hostname": "web", "cores": "2", "unprivileged": 1, "digest": "d1", "mp0": "local:1,mp=/x"}
        )),
        "/nodes/pve/lxc/101/rrddata" => Reply::data(json!([
            {"time": 1700000000},
            {"time": "1700000060", "cpu": 0.5, "mem": "100"}
        ])),
        "/nodes/pve/storage" => Reply::data(json!([
            {"storage": "local", "type": "dir", "content": "vztmpl,iso", "active": 1, "enabled": "1"}
        ])),
        "/nodes/pve/storage/local/content" => Reply::data(json!([
            {"volid": "local:vztmpl/debian-12.tar.zst", "content": "vztmpl", "size": "123"}
        ])),
        "/nodes/pve/network" => Reply::data(json!([
            {"iface": "vmbr0", "type": "bridge", "active": 1, "cidr": "10.0.0.2/24"}
        ])),
        "/nodes/pve/lxc/101/interfaces" => Reply::data(json!([
            {"name": "lo", "inet": "127.0.0.1/8"}, {"name": "eth0", "hwaddr": "bc:24:11:00:00:01"}
        ])),
        "/pools" => Reply::data(json!([{"poolid": "kiln"}])),
        "/access/permissions" => Reply::data(json!({"/": {"Sys.Audit": 1, "VM.Allocate": "0"}})),
        _ => Reply::fail(501, "Method not implemented"),
    })
    .await?;
    let client = token_client(&stub)?;

    assert_eq!(client.version().await?.version, "9.0.3");
    assert_eq!(client.cluster_nextid(None).await?, 100);
    let nodes = client.nodes().await?;
    assert_eq!(nodes[0].mem, Some(1024));
    assert_eq!(nodes[1].cpu, None, "missing on an offline node");
    let resources = client.cluster_resources_vm().await?;
    assert_eq!(resources[0].vmid, Some(101));
    assert!(!resources[0].template && resources[1].template);
    assert_eq!(resources[1].tags, vec!["a", "b", "c"]);
    let list = client.lxc_list("pve").await?;
    assert_eq!(
        (list[0].vmid, list[0].mem, list[0].template),
        (101, None, false)
    );
    assert_eq!((list[1].cpu, list[1].pid), (Some(0.25), Some(4242)));
    let status = client.lxc_status("pve", 101).await?;
    assert_eq!(status.lock.as_deref(), Some("backup"));
    assert_eq!(status.ha.map(|h| h.managed), Some(false));
    let config = client.lxc_config("pve", 101).await?;
    assert!(config.unprivileged);
    assert_eq!((config.cores, config.digest.as_str()), (Some(2), "d1"));
    let rrd = client.lxc_rrddata("pve", 101, "hour", "AVERAGE").await?;
    assert_eq!(
        (rrd[0].cpu, rrd[1].time, rrd[1].mem),
        (None, 1_700_000_060, Some(100.0))
    );
    let storage = client.node_storage("pve", Some("vztmpl")).await?;
    assert!(storage[0].active && storage[0].enabled && !storage[0].shared);
    let content = client
        .storage_content("pve", "local", Some("vztmpl"))
        .await?;
    assert_eq!(content[0].size, Some(123));
    assert_eq!(client.node_bridges("pve").await?[0].iface, "vmbr0");
    assert_eq!(client.lxc_interfaces("pve", 101).await?.len(), 2);
    assert_eq!(client.pools().await?[0].poolid, "kiln");
    let perms = client.permissions().await?;
    assert!(!perms["/"]["VM.Allocate"].0);
    assert!(perms["/"]["Sys.Audit"].0);

    for seen in stub.requests() {
        assert_eq!(seen.method, Method::GET);
        assert_eq!(
            seen.header("authorization"),
            Some(format!("PVEAPIToken=root@pam!kiln={TOKEN_SECRET}")),
            "{}",
            seen.path
        );
        assert_eq!(seen.header("csrfpreventiontoken"), None);
        assert_eq!(seen.header("cookie"), None);
    }
    let query = |path: &str| {
        stub.requests()
            .into_iter()
            .find(|s| s.api_path() == path)
            .map(|s| s.params())
            .unwrap_or_default()
    };
    assert_eq!(
        query("/cluster/resources"),
        vec![("type".into(), "vm".into())]
    );
    assert_eq!(
        query("/nodes/pve/network"),
        vec![("type".into(), "any_bridge".into())]
    );
    assert_eq!(
        query("/nodes/pve/lxc/101/rrddata"),
        vec![
            ("timeframe".into(), "hour".into()),
            ("cf".into(), "AVERAGE".into())
        ]
    );
    assert_eq!(
        query("/nodes/pve/storage"),
        vec![("content".into(), "vztmpl".into())]
    );
    Ok(())
}

#[tokio::test]
async fn writes_send_forms_with_0_1_booleans() -> TestResult {
    let stub = Stub::start(
        |seen: &Seen| match (seen.method.as_str(), seen.api_path()) {
            ("POST", "/nodes/pve/lxc")
            | ("POST", "/nodes/pve/lxc/101/status/start")
            | ("POST", "/nodes/pve/lxc/101/status/stop")
            | ("POST", "/nodes/pve/lxc/101/status/reboot")
            | ("POST", "/nodes/pve/lxc/101/status/shutdown")
            | ("DELETE", "/nodes/pve/lxc/101") => Reply::data(json!(UPID)),
            ("PUT", "/nodes/pve/lxc/101/config") | ("PUT", "/access/acl") => {
                Reply::data(json!(null))
            }
            ("POST", "/access/users/kiln%40pve/token/provisioner") => Reply::data(json!({
                "full-tokenid": "kiln@pve!provisioner", "value": "new-secret",
                "info": {"privsep": 0, "comment": "Kiln"}
            })),
            _ => Reply::fail(501, "Method not implemented"),
        },
    )
    .await?;
    let client = token_client(&stub)?;
    let create = LxcCreate {
        vmid: 101,
        ostemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
        hostname: "web".into(),
        cores: Some(2),
        rootfs: "local-lvm:8".into(),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        password: Some("container-root-pw".into()),
        unprivileged: Some(true),
        start: Some(false),
        features: Some("nesting=1".into()),
        ..LxcCreate::default()
    };
    let upid = client.lxc_create("pve", &create).await?;
    assert_eq!(upid.to_string(), UPID);
    for upid in [
        client.lxc_start("pve", 101).await?,
        client.lxc_stop("pve", 101).await?,
        client.lxc_reboot("pve", 101).await?,
        client
            .lxc_shutdown(
                "pve",
                101,
                ShutdownOptions {
                    timeout: Some(30),
                    force_stop: true,
                },
            )
            .await?,
        client.lxc_delete("pve", 101).await?,
    ] {
        assert_eq!(upid.task_type, "vzcreate");
    }
    client
        .lxc_config_update("pve", 101, &[("cores".into(), "4".into())], Some("d1"))
        .await?;
    client
        .grant_token_role("/vms/101", "PVEVMAdmin", "kiln@pve!provisioner")
        .await?;
    let token = client
        .create_token("kiln@pve", "provisioner", false, "Kiln")
        .await?;
    assert_eq!(token.full_tokenid, "kiln@pve!provisioner");

    let seen = stub.requests();
    let find = |method: &str, path: &str| {
        seen.iter()
            .find(|s| s.method.as_str() == method && s.api_path() == path)
            .cloned()
            .ok_or_else(|| format!("no {method} {path}"))
    };
    let create = find("POST", "/nodes/pve/lxc")?;
    assert_eq!(
        create.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(create.query, "");
    assert_eq!(create.param("vmid").as_deref(), Some("101"));
    assert_eq!(create.param("unprivileged").as_deref(), Some("1"));
    assert_eq!(create.param("start").as_deref(), Some("0"));
    assert_eq!(
        create.param("net0").as_deref(),
        Some("name=eth0,bridge=vmbr0,ip=dhcp")
    );
    assert_eq!(create.param("swap"), None, "None is skipped");
    assert_eq!(create.param("onboot"), None);
    let shutdown = find("POST", "/nodes/pve/lxc/101/status/shutdown")?;
    assert_eq!(shutdown.param("forceStop").as_deref(), Some("1"));
    assert_eq!(shutdown.param("timeout").as_deref(), Some("30"));
    let delete = find("DELETE", "/nodes/pve/lxc/101")?;
    assert_eq!(
        delete.params(),
        vec![
            ("purge".into(), "1".into()),
            ("destroy-unreferenced-disks".into(), "1".into())
        ]
    );
    let update = find("PUT", "/nodes/pve/lxc/101/config")?;
    assert_eq!(
        update.params(),
        vec![("cores".into(), "4".into()), ("digest".into(), "d1".into())]
    );
    let acl = find("PUT", "/access/acl")?;
    assert_eq!(acl.param("path").as_deref(), Some("/vms/101"));
    assert_eq!(acl.param("roles").as_deref(), Some("PVEVMAdmin"));
    assert_eq!(acl.param("tokens").as_deref(), Some("kiln@pve!provisioner"));
    let token = find("POST", "/access/users/kiln%40pve/token/provisioner")?;
    assert_eq!(token.param("privsep").as_deref(), Some("0"));
    assert_eq!(token.param("comment").as_deref(), Some("Kiln"));
    for s in &seen {
        assert_eq!(s.header("csrfpreventiontoken"), None, "tokens need no CSRF");
    }
    Ok(())
}

#[tokio::test]
async fn task_paths_are_percent_encoded_and_wait_task_succeeds() -> TestResult {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polls);
    let stub = Stub::start(move |seen: &Seen| {
        if seen.api_path().ends_with("/status") {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let (status, exit) = if n < 2 {
                ("running", None)
            } else {
                ("stopped", Some("OK"))
            };
            Reply::data(json!({
                "upid": UPID, "node": "pve", "status": status, "exitstatus": exit,
                "type": "vzcreate", "id": "101", "user": "root@pam!kiln", "starttime": "1732636833",
                "pid": 41394, "pstart": 1229780
            }))
        } else {
            Reply::fail(404, "Not Found")
        }
    })
    .await?;
    let client = token_client(&stub)?;
    let upid: Upid = UPID.parse()?;
    let status = wait_task(&client, &upid, Duration::from_secs(10)).await?;
    assert_eq!(status.exitstatus.as_deref(), Some("OK"));
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    let path = stub.requests()[0].path.clone();
    assert_eq!(
        path,
        "/api2/json/nodes/pve/tasks/UPID%3Apve%3A0000A1B2%3A0012C3D4%3A6745F0A1%3Avzcreate%3A101%3Aroot%40pam%21kiln%3A/status"
    );
    assert_eq!(decode(&path).split('/').nth(6), Some(UPID));
    Ok(())
}

#[tokio::test]
async fn wait_task_reports_failure_with_log_tail() -> TestResult {
    let stub = Stub::start(|seen: &Seen| {
        if seen.api_path().ends_with("/status") {
            Reply::data(json!({
                "upid": UPID, "node": "pve", "status": "stopped",
                "exitstatus": "command 'lxc-start -n 101' failed: exit code 1",
                "type": "vzstart", "id": "101", "user": "root@pam", "starttime": 1732636833
            }))
        } else if seen.api_path().ends_with("/log") {
            let start: usize = seen
                .param("start")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let lines: Vec<_> = (1..=15)
                .skip(start)
                .map(|n| json!({"n": n, "t": format!("line {n}")}))
                .collect();
            Reply::data(json!(lines))
        } else {
            Reply::fail(404, "Not Found")
        }
    })
    .await?;
    let client = token_client(&stub)?;
    let upid: Upid = UPID.parse()?;
    match wait_task(&client, &upid, Duration::from_secs(10)).await {
        Err(Error::TaskFailed {
            upid: failed,
            exitstatus,
            log_tail,
        }) => {
            assert_eq!(failed, UPID);
            assert!(exitstatus.contains("exit code 1"));
            let expected: Vec<String> = (6..=15).map(|n| format!("line {n}")).collect();
            assert_eq!(log_tail, expected);
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn wait_task_times_out() -> TestResult {
    let stub = Stub::start(|_: &Seen| {
        Reply::data(json!({
            "upid": UPID, "node": "pve", "status": "running",
            "type": "vzcreate", "id": "101", "user": "root@pam", "starttime": 1732636833
        }))
    })
    .await?;
    let client = token_client(&stub)?;
    let started = std::time::Instant::now();
    let result = wait_task(&client, &UPID.parse()?, Duration::from_millis(400)).await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(stub.requests().len() >= 2, "polled more than once");
    Ok(())
}

#[tokio::test]
async fn every_error_class() -> TestResult {
    let stub = Stub::start(|seen: &Seen| match seen.api_path().split('/').nth(2).unwrap_or_default() {
        "a" => Reply::fail(401, "authentication failure"),
        "b" => Reply::fail(403, "Permission check failed (/vms/100, VM.Allocate)"),
        "c" => Reply::fail(400, "Parameter verification failed.").with_body(json!({
            "data": null,
            "errors": {"vmid": "value must have a minimum value of 100\n", "hostname": "invalid format"}
        })),
        "d" => Reply::fail(404, "Not Found"),
        "e" => Reply::fail(500, "CT 101 already exists on node 'pve'"),
        "f" => Reply::fail(596, "Connection timed out"),
        "g" => Reply::data(json!(null)).raw_body("<html>not json</html>"),
        "h" => Reply::data(json!([{"vmid": "abc", "status": "running"}])),
        "i" => Reply::fail(409, "").with_body(json!({"data": null, "message": "locked\n"})),
        _ => Reply::fail(501, "Method not implemented"),
    })
    .await?;
    let client = token_client(&stub)?;

    match client.lxc_list("a").await {
        Err(Error::Unauthorized { message }) => assert_eq!(message, "authentication failure"),
        other => panic!("401: {other:?}"),
    }
    match client.lxc_list("b").await {
        Err(Error::Forbidden {
            message,
            permission,
        }) => {
            assert_eq!(message, "Permission check failed (/vms/100, VM.Allocate)");
            assert_eq!(permission.as_deref(), Some("VM.Allocate"));
        }
        other => panic!("403: {other:?}"),
    }
    match client.lxc_list("c").await {
        Err(Error::BadParameters { message, errors }) => {
            assert_eq!(message, "Parameter verification failed.");
            assert_eq!(
                errors,
                vec![
                    ("hostname".to_owned(), "invalid format".to_owned()),
                    (
                        "vmid".to_owned(),
                        "value must have a minimum value of 100".to_owned()
                    ),
                ]
            );
        }
        other => panic!("400: {other:?}"),
    }
    assert!(matches!(
        client.lxc_list("d").await,
        Err(Error::Client { status: 404, .. })
    ));
    match client.lxc_list("e").await {
        Err(err @ Error::Server { status: 500, .. }) => {
            assert!(!err.is_safe_to_retry());
            assert!(
                err.to_string()
                    .contains("CT 101 already exists on node 'pve'"),
                "{err}"
            );
        }
        other => panic!("500: {other:?}"),
    }
    match client.lxc_list("f").await {
        Err(Error::Server {
            status: 596,
            message,
        }) => assert_eq!(message, "Connection timed out"),
        other => panic!("596: {other:?}"),
    }
    match client.lxc_list("g").await {
        Err(Error::Decode { what, .. }) => assert_eq!(what, "GET /nodes/g/lxc"),
        other => panic!("undecodable: {other:?}"),
    }
    assert!(matches!(
        client.lxc_list("h").await,
        Err(Error::Decode { .. })
    ));
    match client.lxc_list("i").await {
        Err(Error::Client {
            status: 409,
            message,
        }) => assert_eq!(message, "locked"),
        other => panic!("409 without reason: {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn pins_the_certificate_and_detects_a_new_one() -> TestResult {
    let stub = Stub::start(|_: &Seen| {
        Reply::data(json!({"version": "9.0.3", "release": "9.0", "repoid": "abc"}))
    })
    .await?;
    // Right pin, given in another spelling.
    let mut config = stub.config(token_auth());
    config.fingerprint = stub.fingerprint.replace(':', "").to_lowercase();
    let client = Client::with_tuning(config, fast())?;
    client.version().await?;

    // Wrong pin: refused before any HTTP, not retried.
    let mut wrong = stub.config(token_auth());
    wrong.fingerprint = tls::fingerprint(b"another certificate");
    let err = Client::with_tuning(wrong.clone(), fast())?
        .version()
        .await
        .err()
        .ok_or("a wrong pin must fail")?;
    match &err {
        Error::CertificateChanged { expected, actual } => {
            assert_eq!(expected, &wrong.fingerprint);
            assert_eq!(actual, &stub.fingerprint);
        }
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
    assert!(err.is_safe_to_retry(), "nothing was sent");
    assert_eq!(
        stub.requests().len(),
        1,
        "only the pinned client's request arrived"
    );

    // The node is reinstalled: same address, new certificate.
    let old = stub.fingerprint.clone();
    let stub = stub.restart_with_new_cert().await?;
    assert_ne!(stub.fingerprint, old);
    match client.version().await {
        Err(Error::CertificateChanged { expected, actual }) => {
            assert_eq!(expected, old);
            assert_eq!(actual, stub.fingerprint);
        }
        other => panic!("expected CertificateChanged after restart, got {other:?}"),
    }
    assert_eq!(stub.requests().len(), 1, "no request reached the new node");
    Ok(())
}

#[tokio::test]
async fn connect_refused_is_a_retried_connect_error() -> TestResult {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let stub = Stub::start(|_: &Seen| Reply::data(json!(null))).await?;
    let mut config = stub.config(token_auth());
    config.port = port;
    let client = Client::with_tuning(config, fast())?;
    match client.lxc_start("pve", 101).await {
        Err(err @ Error::Connect { .. }) => {
            assert!(err.is_safe_to_retry());
            assert!(err.to_string().contains("refused"), "{err}");
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn handshake_failures_are_retried_with_backoff_even_for_post() -> TestResult {
    // Accepts TCP connections and closes them at once: the TLS handshake never completes, so
    // no request can have been applied.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let stub = Stub::start(|_: &Seen| Reply::data(json!(null))).await?;
    let mut config = stub.config(token_auth());
    config.port = port;
    let tuning = Tuning {
        retry_base_delay: Duration::from_millis(50),
        ..Tuning::default()
    };
    let client = Client::with_tuning(config, tuning)?;
    let started = std::time::Instant::now();
    let result = client.lxc_start("pve", 101).await;
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "three attempts");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "paused 50 ms then 200 ms"
    );
    Ok(())
}

#[tokio::test]
async fn a_stalled_handshake_is_a_connect_timeout() -> TestResult {
    // Accepts TCP connections and never answers the TLS hello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let stub = Stub::start(|_: &Seen| Reply::data(json!(null))).await?;
    let mut config = stub.config(token_auth());
    config.port = port;
    config.connect_timeout = Duration::from_millis(200);
    config.request_timeout = Duration::from_secs(5);
    let tuning = Tuning {
        retry_attempts: 2,
        ..fast()
    };
    let client = Client::with_tuning(config, tuning)?;
    let started = std::time::Instant::now();
    match client.lxc_start("pve", 101).await {
        Err(err @ Error::Connect { .. }) => {
            assert!(err.to_string().contains("no connection within"), "{err}");
        }
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "nothing was sent: retried"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    Ok(())
}

#[tokio::test]
async fn failures_after_sending_are_not_retried() -> TestResult {
    let stub = Stub::start(|seen: &Seen| match seen.api_path() {
        "/nodes/pve/lxc/101/status/start" => Reply::fail(500, "got timeout"),
        "/nodes/pve/lxc/101/status/stop" => {
            Reply::data(json!(UPID)).delayed(Duration::from_secs(3))
        }
        _ => Reply::fail(500, "internal error"),
    })
    .await?;
    let mut config = stub.config(token_auth());
    config.request_timeout = Duration::from_millis(300);
    let client = Client::with_tuning(config, fast())?;

    assert!(matches!(
        client.lxc_start("pve", 101).await,
        Err(Error::Server { status: 500, .. })
    ));
    assert_eq!(
        stub.hits(Method::POST, "/nodes/pve/lxc/101/status/start"),
        1
    );

    match client.lxc_stop("pve", 101).await {
        Err(err @ Error::Timeout { .. }) => assert!(!err.is_safe_to_retry()),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(stub.hits(Method::POST, "/nodes/pve/lxc/101/status/stop"), 1);

    assert!(client.version().await.is_err());
    assert_eq!(
        stub.hits(Method::GET, "/version"),
        1,
        "a 500 GET is not repeated either"
    );
    Ok(())
}

/// A stub that issues tickets `ticket-N` and accepts only tickets it has not revoked.
struct TicketNode {
    issued: AtomicUsize,
    /// Tickets below this number are refused with 401.
    valid_from: AtomicUsize,
    /// Ask for a second factor first.
    tfa: AtomicBool,
}

impl TicketNode {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.api_path() == "/access/ticket" {
            let password = seen.param("password").unwrap_or_default();
            if self.tfa.load(Ordering::SeqCst) && seen.param("tfa-challenge").is_none() {
                return Reply::data(json!({
                    "username": "root@pam", "ticket": "PVE:!tfa!challenge", "NeedTFA": 1
                }));
            }
            let accepted = password == PASSWORD
                || password == "totp:123456"
                || password.starts_with("PVE:root@pam:ticket-");
            if !accepted {
                return Reply::fail(401, "authentication failure");
            }
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::data(json!({
                "username": "root@pam",
                "ticket": format!("PVE:root@pam:ticket-{n}::c2ln/bmF0dXJl+=="),
                "CSRFPreventionToken": format!("csrf-{n}"),
                "clustername": "lab", "cap": {}
            }));
        }
        let cookie = decode(&seen.header("cookie").unwrap_or_default());
        let number: usize = cookie
            .strip_prefix("PVEAuthCookie=PVE:root@pam:ticket-")
            .and_then(|rest| rest.split("::").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if number == 0 || number < self.valid_from.load(Ordering::SeqCst) {
            return Reply::fail(401, "permission denied - invalid PVE ticket");
        }
        if seen.method != Method::GET
            && seen.header("csrfpreventiontoken") != Some(format!("csrf-{number}"))
        {
            return Reply::fail(401, "Permission denied - invalid csrf token");
        }
        if seen.api_path() == "/version" {
            return Reply::data(json!({"version": "9.0.3", "release": "9.0", "repoid": "abc"}));
        }
        Reply::data(json!(UPID))
    }
}

async fn ticket_node(
    tfa: bool,
) -> Result<(Stub, Arc<TicketNode>), Box<dyn std::error::Error + Send + Sync>> {
    let node = Arc::new(TicketNode {
        issued: AtomicUsize::new(0),
        valid_from: AtomicUsize::new(1),
        tfa: AtomicBool::new(tfa),
    });
    let handler = Arc::clone(&node);
    let stub = Stub::start(move |seen: &Seen| handler.answer(seen)).await?;
    Ok((stub, node))
}

#[tokio::test]
async fn ticket_login_cookie_csrf_renewal_and_relogin() -> TestResult {
    let (stub, node) = ticket_node(false).await?;
    let tuning = Tuning {
        ticket_renew_after: Duration::from_millis(300),
        ..fast()
    };
    let client = Client::with_tuning(stub.config(password_auth()), tuning)?;

    // Login, then the cookie on a GET and cookie + CSRF on a POST.
    client.version().await?;
    client.lxc_start("pve", 101).await?;
    let seen = stub.requests();
    assert_eq!(seen[0].api_path(), "/access/ticket");
    assert_eq!(seen[0].param("username").as_deref(), Some("root@pam"));
    assert_eq!(seen[0].param("password").as_deref(), Some(PASSWORD));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[1].method, Method::GET);
    assert_eq!(
        decode(&seen[1].header("cookie").unwrap_or_default()),
        "PVEAuthCookie=PVE:root@pam:ticket-1::c2ln/bmF0dXJl+=="
    );
    assert_eq!(
        seen[1].header("csrfpreventiontoken"),
        None,
        "no CSRF on GET"
    );
    assert_eq!(
        seen[2].header("csrfpreventiontoken").as_deref(),
        Some("csrf-1")
    );
    assert_eq!(stub.hits(Method::POST, "/access/ticket"), 1);

    // Past the renewal age: the current ticket is posted as the password.
    tokio::time::sleep(Duration::from_millis(350)).await;
    client.lxc_start("pve", 101).await?;
    let seen = stub.requests();
    let renewal = &seen[3];
    assert_eq!(renewal.api_path(), "/access/ticket");
    assert_eq!(
        renewal.param("password").as_deref(),
        Some("PVE:root@pam:ticket-1::c2ln/bmF0dXJl+==")
    );
    assert_eq!(
        seen[4].header("csrfpreventiontoken").as_deref(),
        Some("csrf-2")
    );

    // The node forgets every ticket (restart, key rotation): one 401, a fresh login, success.
    node.valid_from.store(3, Ordering::SeqCst);
    client.lxc_start("pve", 101).await?;
    let seen = stub.requests();
    let tail: Vec<_> = seen[5..]
        .iter()
        .map(|s| (s.api_path().to_owned(), s.param("password")))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("/nodes/pve/lxc/101/status/start".to_owned(), None),
            ("/access/ticket".to_owned(), Some(PASSWORD.to_owned())),
            ("/nodes/pve/lxc/101/status/start".to_owned(), None),
        ]
    );
    assert_eq!(
        seen[7].header("csrfpreventiontoken").as_deref(),
        Some("csrf-3")
    );
    Ok(())
}

#[tokio::test]
async fn ticket_login_with_a_second_factor() -> TestResult {
    let (stub, _node) = ticket_node(true).await?;
    let auth = Auth::Password {
        username: "root@pam".into(),
        password: PASSWORD.into(),
        otp: Some("123456".into()),
    };
    let client = Client::with_tuning(stub.config(auth), fast())?;
    client.lxc_start("pve", 101).await?;
    let seen = stub.requests();
    assert_eq!(
        seen[1].param("tfa-challenge").as_deref(),
        Some("PVE:!tfa!challenge")
    );
    assert_eq!(seen[1].param("password").as_deref(), Some("totp:123456"));
    assert_eq!(seen[1].param("username").as_deref(), Some("root@pam"));

    // Without a code, the challenge is an authentication error.
    let client = Client::with_tuning(stub.config(password_auth()), fast())?;
    assert!(matches!(
        client.lxc_start("pve", 101).await,
        Err(Error::Unauthorized { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() -> TestResult {
    let (stub, _node) = ticket_node(false).await?;
    let wrong = Auth::Password {
        username: "root@pam".into(),
        password: "wrong-password-123".into(),
        otp: None,
    };
    let client = Client::with_tuning(stub.config(wrong), fast())?;
    let err = client.version().await.err().ok_or("must fail")?;
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    for text in [format!("{err}"), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains("wrong-password-123"), "{text}");
    }
    let client = Client::with_tuning(stub.config(password_auth()), fast())?;
    client.lxc_start("pve", 101).await?;
    let debug = format!("{client:?}");
    assert!(!debug.contains(PASSWORD) && !debug.contains("ticket-1") && !debug.contains("csrf-1"));
    let token_client = token_client(&stub)?;
    assert!(!format!("{token_client:?}").contains(TOKEN_SECRET));
    Ok(())
}

#[tokio::test]
async fn probe_reports_the_certificate_without_sending_http() -> TestResult {
    let stub = Stub::start(|_: &Seen| Reply::data(json!(null))).await?;
    let info = tls::probe("127.0.0.1", stub.addr.port(), Duration::from_secs(2)).await?;
    assert_eq!(info.fingerprint, stub.fingerprint);
    assert_eq!(info.subject, "CN=rcgen self signed cert");
    assert_eq!(info.issuer, info.subject, "self-signed");
    let before = chrono::DateTime::parse_from_rfc3339(&info.not_before)?;
    let after = chrono::DateTime::parse_from_rfc3339(&info.not_after)?;
    assert!(before < after);
    assert!(info.not_before.ends_with('Z'));
    assert_eq!(tls::describe(&stub.cert_der)?, info);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(stub.requests().is_empty(), "no HTTP request");

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    assert!(matches!(
        tls::probe("127.0.0.1", port, Duration::from_secs(2)).await,
        Err(Error::Connect { .. })
    ));
    Ok(())
}

#[test]
fn bad_configuration_is_refused_up_front() {
    let config = kiln_server::proxmox::ClientConfig {
        host: "127.0.0.1".into(),
        port: 8006,
        fingerprint: "AB:CD".into(),
        auth: token_auth(),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
    };
    assert!(matches!(Client::new(config), Err(Error::Config { .. })));
}
