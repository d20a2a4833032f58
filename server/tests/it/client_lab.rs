//! The real `proxmox::Client` against a real lab node (`kiln_server::lab`): every
//! `ProxmoxApi` method over pinned HTTPS, token and ticket authentication (CSRF, renewal,
//! re-login). The error classes and privilege-separated tokens are in `client_lab_errors`.
//! No PostgreSQL or Redis needed.

use std::time::Duration;

use kiln_server::lab::{Faults, RuntimeKind};
use kiln_server::proxmox::tasks::wait_task;
use kiln_server::proxmox::{Client, Error, ProxmoxApi, ShutdownOptions, Tuning};

use crate::lab_fixture::{DEBIAN, R, TASK_TIMEOUT, TestLab, container, fast};

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_reads_the_cluster_and_the_catalogue() -> R {
    let lab = TestLab::start(|o| o.nodes = Some(2)).await?;
    let client = lab.client()?;

    let version = client.version().await?;
    assert_eq!(
        (version.version.as_str(), version.release.as_str()),
        ("9.0.3", "9.0")
    );
    let nodes = client.nodes().await?;
    let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["pve1", "pve2"]);
    assert!(nodes.iter().all(|n| n.status == "online"), "{nodes:?}");
    assert_eq!(
        nodes[0].ssl_fingerprint.as_deref(),
        Some(lab.handle.fingerprint.as_str())
    );
    assert!(nodes[0].maxcpu.is_some_and(|c| c > 0) && nodes[0].maxmem.is_some());
    assert!(client.cluster_resources_vm().await?.is_empty());
    assert_eq!(client.cluster_nextid(None).await?, 100);
    assert_eq!(client.cluster_nextid(Some(4242)).await?, 4242, "a free id");
    assert!(client.lxc_list("pve2").await?.is_empty());

    // Storage, with and without content filters.
    let all = client.node_storage("pve1", None).await?;
    let mut names: Vec<&str> = all.iter().map(|s| s.storage.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["local", "local-lvm"]);
    assert!(all.iter().all(|s| s.active && s.enabled), "{all:?}");
    let rootdir = client.node_storage("pve1", Some("rootdir")).await?;
    assert_eq!(rootdir.len(), 1);
    assert_eq!(rootdir[0].storage, "local-lvm");
    let templates = client.node_storage("pve1", Some("vztmpl")).await?;
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].storage, "local");
    assert!(
        client
            .node_storage("pve1", Some("iso,rootdir"))
            .await?
            .is_empty()
    );

    let content = client
        .storage_content("pve1", "local", Some("vztmpl"))
        .await?;
    assert!(content.iter().all(|c| c.content == "vztmpl"), "{content:?}");
    assert!(
        content
            .iter()
            .any(|c| c.volid == DEBIAN && c.volid.contains("debian-12")),
        "{content:?}"
    );
    assert!(
        client
            .storage_content("pve1", "local-lvm", Some("rootdir"))
            .await?
            .is_empty(),
        "no disks yet"
    );

    let bridges = client.node_bridges("pve1").await?;
    assert!(
        bridges
            .iter()
            .any(|b| b.iface == "vmbr0" && b.kind == "bridge")
    );
    let pools = client.pools().await?;
    assert!(pools.iter().any(|p| p.poolid == "lab"), "{pools:?}");
    let perms = client.permissions().await?;
    let root = perms
        .get("/")
        .ok_or("no / in the root token's permissions")?;
    for privilege in kiln_shared::nodes::REQUIRED_PRIVILEGES {
        assert!(root.get(*privilege).is_some_and(|f| f.0), "{privilege}");
    }
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_container_lifecycle() -> R {
    container_lifecycle(RuntimeKind::Scratch).await
}

/// The same calls and answers with real LXC containers.
#[tokio::test(flavor = "multi_thread")]
async fn client_lab_container_lifecycle_on_lxc() -> R {
    if !crate::lab_lxc::lxc_ready().await? {
        return Ok(());
    }
    container_lifecycle(RuntimeKind::Lxc).await
}

async fn container_lifecycle(runtime: RuntimeKind) -> R {
    let lab = TestLab::start(|o| o.runtime = runtime).await?;
    let _cleanup = crate::lab_lxc::Cleanup(lab.dir.clone());
    let client = lab.client()?;
    let node = lab.node().to_owned();
    // Real containers take real seconds.
    let task_timeout = match runtime {
        RuntimeKind::Lxc => Duration::from_secs(90),
        RuntimeKind::Scratch => TASK_TIMEOUT,
    };

    let upid = client.lxc_create(&node, &container(101)).await?;
    assert_eq!(
        (
            upid.node.as_str(),
            upid.task_type.as_str(),
            upid.id.as_str()
        ),
        (node.as_str(), "vzcreate", "101")
    );
    let done = wait_task(&client, &upid, task_timeout).await?;
    assert_eq!(done.exitstatus.as_deref(), Some("OK"));
    assert_eq!(done.upid, upid);
    assert!(!done.is_running());
    let status = client.task_status(&upid).await?;
    assert_eq!(
        (status.status.as_str(), status.task_type.as_str()),
        ("stopped", "vzcreate")
    );
    assert!(status.user.starts_with("root@pam"), "{status:?}");
    let log = client.task_log(&upid, 0, 2).await?;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].n, 1);
    let whole = client.task_log(&upid, 0, 500).await?;
    assert_eq!(whole.last().map(|l| l.t.as_str()), Some("TASK OK"));

    // A taken id is a parameter error on `vmid`; the next free one moves on.
    match client.cluster_nextid(Some(101)).await {
        Err(Error::BadParameters { errors, .. }) => {
            assert!(
                errors
                    .iter()
                    .any(|(k, v)| k == "vmid" && v.contains("already exists"))
            );
        }
        other => panic!("expected BadParameters, got {other:?}"),
    }
    assert_eq!(client.cluster_nextid(None).await?, 100);
    assert_eq!(client.cluster_nextid(Some(102)).await?, 102);

    let list = client.lxc_list(&node).await?;
    let item = list
        .iter()
        .find(|c| c.vmid == 101)
        .ok_or("101 not listed")?;
    assert_eq!(
        (item.status.as_str(), item.name.as_deref()),
        ("stopped", Some("ct101"))
    );
    assert_eq!(item.tags, ["kiln", "test"]);
    let resources = client.cluster_resources_vm().await?;
    assert_eq!(resources.len(), 1);
    assert_eq!(
        (resources[0].id.as_str(), resources[0].vmid),
        ("lxc/101", Some(101))
    );
    assert_eq!(resources[0].node.as_deref(), Some(node.as_str()));

    // Config, and updates guarded by the digest.
    let config = client.lxc_config(&node, 101).await?;
    assert_eq!(config.hostname.as_deref(), Some("ct101"));
    assert!(config.unprivileged && config.lock.is_none());
    assert!(!config.digest.is_empty());
    let cores = vec![("cores".to_owned(), "2".to_owned())];
    client
        .lxc_config_update(&node, 101, &cores, Some(&config.digest))
        .await?;
    let updated = client.lxc_config(&node, 101).await?;
    assert_eq!(updated.cores, Some(2));
    assert_ne!(
        updated.digest, config.digest,
        "the digest follows the config"
    );
    let memory = vec![("memory".to_owned(), "1024".to_owned())];
    match client
        .lxc_config_update(&node, 101, &memory, Some(&config.digest))
        .await
    {
        Err(Error::Server {
            status: 500,
            message,
        }) => {
            assert!(
                message.contains("detected modified configuration"),
                "{message}"
            );
        }
        other => panic!("a stale digest must fail, got {other:?}"),
    }
    assert_eq!(client.lxc_config(&node, 101).await?.memory, updated.memory);
    client.lxc_config_update(&node, 101, &memory, None).await?;
    assert_eq!(client.lxc_config(&node, 101).await?.memory, Some(1024));

    // Power: no interfaces while stopped; a DHCP address once running.
    assert_eq!(client.lxc_status(&node, 101).await?.status, "stopped");
    assert!(matches!(
        client.lxc_interfaces(&node, 101).await,
        Err(Error::Server { status: 500, .. })
    ));
    let started = client.lxc_start(&node, 101).await?;
    assert_eq!(started.task_type, "vzstart");
    wait_task(&client, &started, task_timeout).await?;
    let status = client.lxc_status(&node, 101).await?;
    assert_eq!((status.vmid, status.status.as_str()), (101, "running"));
    let subnet = match lab.handle.bridge() {
        // The lab's DHCP server answers on its bridge's /24.
        Some(bridge) => crate::lab_lxc::address(&client, &node, 101)
            .await
            .map(|_| {
                let net = bridge.rsplit_once('.').map_or("", |(net, _)| net);
                format!("{net}.")
            })?,
        None => "10.77.".to_owned(),
    };
    let ifaces = client.lxc_interfaces(&node, 101).await?;
    let eth0 = ifaces.iter().find(|i| i.name == "eth0").ok_or("no eth0")?;
    assert!(
        eth0.inet
            .as_deref()
            .is_some_and(|ip| ip.starts_with(&subnet)),
        "{ifaces:?} on {subnet}"
    );
    assert!(eth0.hwaddr.is_some());
    let rrd = client.lxc_rrddata(&node, 101, "hour", "AVERAGE").await?;
    assert!(rrd.len() >= 60, "{} points", rrd.len());
    assert!(rrd.windows(2).all(|w| w[0].time < w[1].time));

    // A running container is not deleted.
    match client.lxc_delete(&node, 101).await {
        Err(Error::Server {
            status: 500,
            message,
        }) => {
            assert_eq!(message, "CT 101 is running - destroy failed");
        }
        other => panic!("delete of a running container must fail, got {other:?}"),
    }
    let reboot = client.lxc_reboot(&node, 101).await?;
    assert_eq!(reboot.task_type, "vzreboot");
    wait_task(&client, &reboot, task_timeout).await?;
    assert_eq!(client.lxc_status(&node, 101).await?.status, "running");
    let shutdown = client
        .lxc_shutdown(
            &node,
            101,
            ShutdownOptions {
                timeout: Some(10),
                force_stop: true,
            },
        )
        .await?;
    assert_eq!(shutdown.task_type, "vzshutdown");
    wait_task(&client, &shutdown, task_timeout).await?;
    assert_eq!(client.lxc_status(&node, 101).await?.status, "stopped");
    match client.lxc_stop(&node, 101).await {
        Err(Error::Server { message, .. }) => assert_eq!(message, "CT 101 not running"),
        other => panic!("stop of a stopped container must fail, got {other:?}"),
    }
    wait_task(&client, &client.lxc_start(&node, 101).await?, task_timeout).await?;
    let stop = client.lxc_stop(&node, 101).await?;
    assert_eq!(stop.task_type, "vzstop");
    wait_task(&client, &stop, task_timeout).await?;
    assert_eq!(client.lxc_status(&node, 101).await?.status, "stopped");

    let delete = client.lxc_delete(&node, 101).await?;
    assert_eq!(delete.task_type, "vzdestroy");
    wait_task(&client, &delete, task_timeout).await?;
    assert!(client.lxc_list(&node).await?.is_empty());
    match client.lxc_config(&node, 101).await {
        Err(Error::Server { message, .. }) => assert!(message.contains("does not exist")),
        other => panic!("a deleted container has no config, got {other:?}"),
    }
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_failed_task_reports_its_log_tail() -> R {
    const TEXT: &str = "command 'lxc-start -n 110' failed: exit code 1";
    let mut faults = Faults::default();
    faults.apply_spec(&format!("task-fail=vzstart:{TEXT}"))?;
    let lab = TestLab::start(|o| o.faults = faults).await?;
    let client = lab.client()?;
    let node = lab.node().to_owned();
    let created = client.lxc_create(&node, &container(110)).await?;
    wait_task(&client, &created, TASK_TIMEOUT).await?;
    let upid = client.lxc_start(&node, 110).await?;
    match wait_task(&client, &upid, TASK_TIMEOUT).await {
        Err(Error::TaskFailed {
            upid: failed,
            exitstatus,
            log_tail,
        }) => {
            assert_eq!(failed, upid.to_string());
            assert_eq!(exitstatus, TEXT);
            assert!(!log_tail.is_empty() && log_tail.len() <= 10, "{log_tail:?}");
            assert_eq!(
                log_tail.last().map(String::as_str),
                Some(format!("TASK ERROR: {TEXT}").as_str())
            );
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert_eq!(client.lxc_status(&node, 110).await?.status, "stopped");
    // Without the fault the same start succeeds.
    lab.handle.set_faults(Faults::default());
    let upid = client.lxc_start(&node, 110).await?;
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_ticket_auth_with_csrf() -> R {
    let lab = TestLab::start(|o| o.password = Some("hunter2".into())).await?;
    let client = Client::with_tuning(lab.config(lab.root_password()), fast())?;
    assert_eq!(client.version().await?.version, "9.0.3");
    // Writes need the CSRF token: POST and PUT through the ticket session.
    let token = client
        .create_token("root@pam", "viaticket", false, "")
        .await?;
    assert_eq!(token.full_tokenid, "root@pam!viaticket");
    client
        .grant_token_role("/", "PVEAuditor", &token.full_tokenid)
        .await?;
    let upid = client.lxc_create(lab.node(), &container(130)).await?;
    assert_eq!(upid.user, "root@pam");
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    let config = client.lxc_config(lab.node(), 130).await?;
    let changes = vec![("cores".to_owned(), "3".to_owned())];
    client
        .lxc_config_update(lab.node(), 130, &changes, Some(&config.digest))
        .await?;
    let delete = client.lxc_delete(lab.node(), 130).await?;
    wait_task(&client, &delete, TASK_TIMEOUT).await?;

    // access_ticket itself: a ticket for the password, a refusal for a wrong one.
    let ticket = client.access_ticket("root@pam", "hunter2", None).await?;
    assert_eq!(ticket.username, "root@pam");
    assert!(
        ticket
            .ticket
            .as_deref()
            .is_some_and(|t| t.starts_with("PVE:root@pam:"))
    );
    assert!(ticket.csrf_prevention_token.is_some() && !ticket.need_tfa);
    assert_eq!(ticket.clustername.as_deref(), Some("kiln-lab"));
    let renewed = client
        .access_ticket(
            "root@pam",
            ticket.ticket.as_deref().unwrap_or_default(),
            None,
        )
        .await?;
    assert!(renewed.ticket.is_some());
    assert!(matches!(
        client.access_ticket("root@pam", "nope", None).await,
        Err(Error::Unauthorized { .. })
    ));
    let wrong = Client::with_tuning(
        lab.config(kiln_server::proxmox::Auth::Password {
            username: "root@pam".into(),
            password: "nope".into(),
            otp: None,
        }),
        fast(),
    )?;
    match wrong.version().await {
        Err(Error::Unauthorized { message }) => assert_eq!(message, "authentication failure"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_renews_tickets_before_they_expire() -> R {
    // Tickets live 3 s; the client renews them once 1 s old. The lab is then restarted with
    // another password (same data dir and ticket key): only a renewal — the ticket posted as
    // the password — can keep the client signed in, a fresh login would be refused.
    let lab = TestLab::start(|o| {
        o.password = Some("first".into());
        o.ticket_lifetime = 3;
    })
    .await?;
    let tuning = Tuning {
        ticket_renew_after: Duration::from_secs(1),
        ..fast()
    };
    let client = Client::with_tuning(lab.config(lab.root_password()), tuning)?;
    client.version().await?;
    let addr = lab.handle.addr;
    let dir = lab.stop().await?;
    let lab = TestLab::start_in(dir, |o| {
        o.listen = addr;
        o.password = Some("second".into());
        o.ticket_lifetime = 3;
    })
    .await?;
    assert_eq!(lab.handle.addr, addr);
    for _ in 0..4 {
        // 4 × 1.2 s: well past the first ticket's 3 s.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(client.version().await?.version, "9.0.3");
    }
    // A client that must log in with the old password is refused.
    let stale = Client::with_tuning(
        lab.config(kiln_server::proxmox::Auth::Password {
            username: "root@pam".into(),
            password: "first".into(),
            otp: None,
        }),
        fast(),
    )?;
    assert!(matches!(
        stale.version().await,
        Err(Error::Unauthorized { .. })
    ));
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_signs_in_again_after_an_expired_ticket() -> R {
    // Renewal is far off (default 90 min) but tickets live 1 s: the 401 makes the client
    // sign in again, once, and the call succeeds.
    let lab = TestLab::start(|o| o.ticket_lifetime = 1).await?;
    let client = Client::with_tuning(lab.config(lab.root_password()), fast())?;
    client.version().await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(client.version().await?.version, "9.0.3");
    let upid = client.lxc_create(lab.node(), &container(140)).await?;
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    lab.finish().await
}
