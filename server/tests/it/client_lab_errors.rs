//! The real `proxmox::Client`'s error classes, provoked on a real lab node: credentials,
//! privilege-separated tokens (403 until granted), parameters, faults (unreachable, 500s, 596,
//! latency) and certificate pinning.

use std::time::{Duration, Instant};

use kiln_server::lab::Faults;
use kiln_server::proxmox::tasks::wait_task;
use kiln_server::proxmox::{Auth, Client, ClientConfig, Error, ProxmoxApi, Tuning, tls};

use crate::lab_fixture::{R, TASK_TIMEOUT, TestLab, container, fast, remove_dir, temp_dir};

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_wrong_token_is_unauthorized() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let Auth::Token { id, .. } = lab.root_token() else {
        return Err("the lab's root credentials are a token".into());
    };
    for (id, secret) in [
        (id.as_str(), "00000000-0000-0000-0000-000000000000"),
        ("root@pam!nosuch", "x"),
    ] {
        let client = Client::with_tuning(
            lab.config(Auth::Token {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            fast(),
        )?;
        match client.version().await {
            Err(err @ Error::Unauthorized { .. }) => {
                assert!(!err.is_safe_to_retry());
                assert!(!err.to_string().contains(secret) || secret == "x", "{err}");
            }
            other => panic!("{id}: expected Unauthorized, got {other:?}"),
        }
        // Writes are refused the same way, before anything is done.
        assert!(matches!(
            client.lxc_create(lab.node(), &container(101)).await,
            Err(Error::Unauthorized { .. })
        ));
    }
    assert!(lab.client()?.lxc_list(lab.node()).await?.is_empty());
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_privsep_token_sees_only_its_grants() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let root = lab.client()?;
    let created = root
        .create_token("root@pam", "limited", true, "integration test")
        .await?;
    assert_eq!(created.full_tokenid, "root@pam!limited");
    assert!(!created.value.is_empty());
    let limited = Client::with_tuning(
        lab.config(Auth::Token {
            id: created.full_tokenid.clone(),
            secret: created.value.clone(),
        }),
        fast(),
    )?;
    // Authenticated, but without any ACL entry.
    assert_eq!(limited.version().await?.version, "9.0.3");
    assert!(limited.permissions().await?.is_empty());
    match limited.lxc_create(lab.node(), &container(120)).await {
        Err(Error::Forbidden {
            message,
            permission,
        }) => {
            assert_eq!(message, "Permission check failed (/vms/120, VM.Allocate)");
            assert_eq!(permission.as_deref(), Some("VM.Allocate"));
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    // Only root manages tokens and ACLs.
    assert!(matches!(
        limited.create_token("root@pam", "more", true, "").await,
        Err(Error::Forbidden { .. })
    ));

    root.grant_token_role("/", "PVEAuditor", &created.full_tokenid)
        .await?;
    root.grant_token_role("/storage", "PVEDatastoreUser", &created.full_tokenid)
        .await?;
    match root
        .grant_token_role("/", "Wizard", &created.full_tokenid)
        .await
    {
        Err(Error::BadParameters { errors, .. }) => {
            assert!(errors.iter().any(|(k, _)| k == "roles"), "{errors:?}");
        }
        other => panic!("an unknown role must fail, got {other:?}"),
    }
    let perms = limited.permissions().await?;
    let granted = |path: &str, privilege: &str| {
        perms
            .get(path)
            .and_then(|p| p.get(privilege))
            .is_some_and(|f| f.0)
    };
    assert!(
        granted("/", "Sys.Audit") && granted("/", "VM.Audit"),
        "{perms:?}"
    );
    assert!(granted("/storage", "Datastore.AllocateSpace"), "{perms:?}");
    assert!(!granted("/", "VM.Allocate") && !granted("/", "Datastore.AllocateSpace"));
    let mut paths: Vec<&str> = perms.keys().map(String::as_str).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/", "/storage"]);
    // Still not allowed to create; allowed once granted.
    assert!(matches!(
        limited.lxc_create(lab.node(), &container(120)).await,
        Err(Error::Forbidden { .. })
    ));
    root.grant_token_role("/vms", "PVEVMAdmin", &created.full_tokenid)
        .await?;
    // PVE 8 also checks SDN.Use on the bridge the container is attached to.
    match limited.lxc_create(lab.node(), &container(120)).await {
        Err(Error::Forbidden { permission, .. }) => {
            assert_eq!(permission.as_deref(), Some("SDN.Use"));
        }
        other => panic!("expected Forbidden (SDN.Use), got {other:?}"),
    }
    root.grant_token_role("/sdn", "PVESDNUser", &created.full_tokenid)
        .await?;
    let upid = limited.lxc_create(lab.node(), &container(120)).await?;
    assert_eq!(upid.user, "root@pam!limited");
    wait_task(&limited, &upid, TASK_TIMEOUT).await?;
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_invalid_parameters_name_each_field() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let client = lab.client()?;
    let mut bad = container(99);
    bad.cores = Some(0);
    bad.hostname = "bad_host!".into();
    bad.net0 = Some("name=eth0,bridge=vmbr0,ip=10.0.0.5".into());
    match client.lxc_create(lab.node(), &bad).await {
        Err(Error::BadParameters { message, errors }) => {
            assert_eq!(message, "Parameter verification failed.");
            let field = |name: &str| {
                errors
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default()
            };
            assert!(field("vmid").contains("minimum"), "{errors:?}");
            assert!(field("cores").contains("minimum value of 1"), "{errors:?}");
            assert!(field("hostname").contains("DNS name"), "{errors:?}");
            assert!(field("net0").contains("net0.ip"), "{errors:?}");
            assert_eq!(errors.len(), 4, "{errors:?}");
        }
        other => panic!("expected BadParameters, got {other:?}"),
    }
    match client
        .lxc_rrddata(lab.node(), 101, "century", "AVERAGE")
        .await
    {
        Err(Error::BadParameters { errors, .. }) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].0, "timeframe");
        }
        other => panic!("expected BadParameters, got {other:?}"),
    }
    // A well-formed request for something that does not exist is another class.
    assert!(matches!(
        client.storage_content(lab.node(), "nowhere", None).await,
        Err(Error::Server { status: 500, .. })
    ));
    assert!(
        client.lxc_list(lab.node()).await?.is_empty(),
        "nothing created"
    );
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_unreachable_node_is_connect_and_retried() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let client = lab.client()?;
    client.version().await?;
    lab.handle.set_unreachable(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let began = Instant::now();
    match client.version().await {
        Err(err @ Error::Connect { .. }) => {
            assert!(err.is_safe_to_retry());
            assert!(
                err.to_string().contains(&lab.handle.addr.to_string()),
                "{err}"
            );
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    // Three attempts, 10 ms then 40 ms apart.
    assert!(
        began.elapsed() >= Duration::from_millis(50),
        "{:?}",
        began.elapsed()
    );

    // The node comes back while the client is retrying: the call succeeds.
    let patient = Client::with_tuning(
        lab.config(lab.root_token()),
        Tuning {
            retry_attempts: 4,
            retry_base_delay: Duration::from_millis(150),
            ..Tuning::default()
        },
    )?;
    let began = Instant::now();
    let reopen = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        lab.handle.set_unreachable(false);
    };
    let (answer, ()) = tokio::join!(patient.version(), reopen);
    assert_eq!(answer?.version, "9.0.3");
    assert!(began.elapsed() >= Duration::from_millis(300), "it retried");

    // Connection failures while polling a task are tolerated until the deadline.
    let upid = client.lxc_create(lab.node(), &container(101)).await?;
    lab.handle.set_unreachable(true);
    let reopen = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        lab.handle.set_unreachable(false);
    };
    let (done, ()) = tokio::join!(wait_task(&client, &upid, TASK_TIMEOUT), reopen);
    assert_eq!(done?.exitstatus.as_deref(), Some("OK"));
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_server_faults_500_and_596() -> R {
    let lab = TestLab::start(|o| o.nodes = Some(2)).await?;
    let client = lab.client()?;
    lab.handle.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    match client.version().await {
        Err(err @ Error::Server { status: 500, .. }) => assert!(!err.is_safe_to_retry()),
        other => panic!("expected Server 500, got {other:?}"),
    }
    match client.lxc_create("pve1", &container(101)).await {
        Err(Error::Server { status, message }) => {
            assert_eq!(status, 500);
            assert!(message.contains("lab fault"), "{message}");
        }
        other => panic!("expected Server 500, got {other:?}"),
    }
    lab.handle.set_faults(Faults {
        node_596: ["pve2".to_owned()].into(),
        ..Faults::default()
    });
    match client.lxc_list("pve2").await {
        Err(Error::Server { status: 596, .. }) => {}
        other => panic!("expected Server 596, got {other:?}"),
    }
    assert!(matches!(
        client.lxc_create("pve2", &container(101)).await,
        Err(Error::Server { status: 596, .. })
    ));
    assert!(client.lxc_list("pve1").await?.is_empty());
    let nodes = client.nodes().await?;
    let pve2 = nodes.iter().find(|n| n.node == "pve2").ok_or("no pve2")?;
    assert_eq!(pve2.status, "offline");
    lab.handle.set_faults(Faults::default());
    assert!(client.lxc_list("pve2").await?.is_empty());
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_slow_node_times_out() -> R {
    let lab = TestLab::start(|_| {}).await?;
    lab.handle.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    let impatient = Client::with_tuning(
        ClientConfig {
            request_timeout: Duration::from_millis(300),
            ..lab.config(lab.root_token())
        },
        fast(),
    )?;
    let began = Instant::now();
    match impatient.version().await {
        Err(err @ Error::Timeout { .. }) => {
            assert!(!err.is_safe_to_retry(), "may have been applied");
            assert!(err.to_string().contains("GET /version"), "{err}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(began.elapsed() < Duration::from_millis(1400), "not retried");
    // A patient client gets the answer.
    assert_eq!(lab.client()?.version().await?.version, "9.0.3");
    lab.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_lab_pins_the_certificate() -> R {
    let lab = TestLab::start(|_| {}).await?;
    // The probe sees the certificate the lab reports; the right pin works, in any spelling.
    let seen = tls::probe("127.0.0.1", lab.handle.addr.port(), Duration::from_secs(2)).await?;
    assert_eq!(seen.fingerprint, lab.handle.fingerprint);
    let lower = lab.handle.fingerprint.replace(':', "").to_lowercase();
    let pinned = Client::with_tuning(
        ClientConfig {
            fingerprint: lower,
            ..lab.config(lab.root_token())
        },
        fast(),
    )?;
    assert_eq!(pinned.version().await?.version, "9.0.3");

    let wrong_pin = tls::fingerprint(b"another certificate");
    let wrong = Client::with_tuning(
        ClientConfig {
            fingerprint: wrong_pin.clone(),
            ..lab.config(lab.root_token())
        },
        fast(),
    )?;
    let err = wrong
        .version()
        .await
        .err()
        .ok_or("the wrong pin was accepted")?;
    assert!(err.is_safe_to_retry(), "nothing was sent");
    match err {
        Error::CertificateChanged { expected, actual } => {
            assert_eq!(expected, wrong_pin);
            assert_eq!(actual, lab.handle.fingerprint);
        }
        other => panic!("expected CertificateChanged, got {other:?}"),
    }

    // The same address with a new data directory: a new certificate.
    let client = lab.client()?;
    let old = lab.handle.fingerprint.clone();
    let addr = lab.handle.addr;
    remove_dir(lab.stop().await?);
    let fresh = TestLab::start_in(temp_dir(), |o| o.listen = addr).await?;
    assert_ne!(fresh.handle.fingerprint, old);
    match client.version().await {
        Err(Error::CertificateChanged { expected, actual }) => {
            assert_eq!(expected, old);
            assert_eq!(actual, fresh.handle.fingerprint);
        }
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
    // POSTs are refused before anything is sent, too.
    assert!(matches!(
        client.lxc_create(fresh.node(), &container(101)).await,
        Err(Error::CertificateChanged { .. })
    ));
    assert!(fresh.client()?.lxc_list(fresh.node()).await?.is_empty());
    let seen = tls::probe("127.0.0.1", addr.port(), Duration::from_secs(2)).await?;
    assert_eq!(seen.fingerprint, fresh.handle.fingerprint);
    fresh.finish().await
}
