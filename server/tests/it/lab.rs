//! The lab node over real HTTPS: schema validation, authentication, the container
//! lifecycle, faults, persistence and determinism. No PostgreSQL or Redis needed.
//!
//! The client pins the lab's certificate by its SHA-256 fingerprint (as Kiln does with real
//! nodes) and still verifies the handshake signatures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kiln_server::lab::{self, Faults, LabHandle, LabOptions};
use serde_json::Value;

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A validator case: extra parameters, the parameter that must be reported, a message part.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

/// A reqwest client that trusts only `fingerprint` (Kiln's own pinning verifier).
fn pinned_client(fingerprint: &str) -> R<reqwest::Client> {
    let config = kiln_server::proxmox::tls::pinned_client_config(fingerprint)?;
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// An answer: status, reason phrase, JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    reason: String,
    body: Value,
}

impl Answer {
    fn data(&self) -> &Value {
        &self.body["data"]
    }
}

/// A lab in a private directory plus a pinned client.
struct TestLab {
    handle: LabHandle,
    client: reqwest::Client,
    dir: PathBuf,
    /// Extra headers (ticket cookie, CSRF) instead of the token.
    session: Option<(String, String)>,
}

fn temp_dir() -> PathBuf {
    let suffix = hex_suffix();
    std::env::temp_dir().join(format!("kiln-lab-test-{suffix}"))
}

fn hex_suffix() -> String {
    let token = kiln_server::auth::tokens::random_token().unwrap_or_default();
    token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect()
}

impl TestLab {
    async fn start(configure: impl FnOnce(&mut LabOptions)) -> R<TestLab> {
        Self::start_in(temp_dir(), configure).await
    }

    async fn start_in(dir: PathBuf, configure: impl FnOnce(&mut LabOptions)) -> R<TestLab> {
        let mut opts = LabOptions::new(&dir);
        configure(&mut opts);
        let handle = lab::start(opts).await?;
        let client = pinned_client(&handle.fingerprint)?;
        Ok(TestLab {
            handle,
            client,
            dir,
            session: None,
        })
    }

    async fn call(&self, method: &str, path: &str, params: &[(&str, &str)]) -> R<Answer> {
        let url = format!("{}{path}", self.handle.base_url());
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            self.client.request(method, url).query(params)
        } else {
            self.client.request(method, url).form(params)
        };
        request = match &self.session {
            Some((ticket, csrf)) => request
                .header("Cookie", format!("PVEAuthCookie={ticket}"))
                .header("CSRFPreventionToken", csrf),
            None => request.header("Authorization", self.handle.token_header()),
        };
        answer(request.send().await?).await
    }

    async fn get(&self, path: &str) -> R<Answer> {
        self.call("GET", path, &[]).await
    }

    /// Polls a task until it stops; returns its status object.
    async fn wait_task(&self, upid: &str) -> R<Value> {
        let node = upid.split(':').nth(1).unwrap_or("pve").to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let a = self
                .get(&format!("/nodes/{node}/tasks/{upid}/status"))
                .await?;
            if a.data()["status"] == "stopped" {
                return Ok(a.data().clone());
            }
            if Instant::now() > deadline {
                return Err(format!("task {upid} still running").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Creates a DHCP container and waits for the task; returns the create task status.
    async fn create(&self, vmid: u32) -> R<Value> {
        let id = vmid.to_string();
        let node = self.handle.nodes[0].clone();
        let a = self
            .call(
                "POST",
                &format!("/nodes/{node}/lxc"),
                &[
                    ("vmid", id.as_str()),
                    ("ostemplate", DEBIAN),
                    ("hostname", "web"),
                    ("rootfs", "local-lvm:8"),
                    ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
                    ("unprivileged", "1"),
                    ("features", "nesting=1"),
                    ("tags", "kiln;web"),
                ],
            )
            .await?;
        assert_eq!(a.status, 200, "create: {a:?}");
        let upid = a.data().as_str().ok_or("no UPID")?.to_owned();
        self.wait_task(&upid).await
    }

    async fn action(&self, vmid: u32, action: &str) -> R<Value> {
        let a = self
            .call(
                "POST",
                &format!("/nodes/{}/lxc/{vmid}/status/{action}", self.handle.nodes[0]),
                &[],
            )
            .await?;
        assert_eq!(a.status, 200, "{action}: {a:?}");
        self.wait_task(a.data().as_str().ok_or("no UPID")?).await
    }

    async fn stop(self) -> R<PathBuf> {
        self.handle.shutdown().await?;
        Ok(self.dir)
    }
}

async fn answer(response: reqwest::Response) -> R<Answer> {
    let status = response.status().as_u16();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| response.status().canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        reason,
        body,
    })
}

fn cleanup(dir: PathBuf) {
    let _ = std::fs::remove_dir_all(dir);
}

/// Fills a schema path's variables with values that exist in a fresh lab.
fn concrete(path: &str) -> String {
    path.replace("{node}", "pve")
        .replace("{vmid}", "101")
        .replace("{storage}", "local")
        .replace(
            "{upid}",
            "UPID:pve:00100001:00000001:6745F0A1:vzstart:101:root@pam:",
        )
        .replace("{userid}", "root@pam")
        .replace("{tokenid}", "t1")
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_validator_rejects_what_the_schema_rejects() -> R {
    let lab = TestLab::start(|_| {}).await?;
    // Derived from the schema: every served method rejects an unknown parameter, every
    // integer/boolean parameter of container creation rejects a non-number, every enum
    // rejects a value outside it.
    let schema: Value = serde_json::from_str(include_str!("../../lab/src/pve-schema.json"))?;
    let mut checked = 0;
    for endpoint in schema["endpoints"].as_array().ok_or("no endpoints")? {
        let path = concrete(endpoint["path"].as_str().ok_or("no path")?);
        for (method, _) in endpoint["methods"].as_object().ok_or("no methods")? {
            let a = lab.call(method, &path, &[("kiln-bogus", "1")]).await?;
            assert_eq!(a.status, 400, "{method} {path}: {a:?}");
            assert_eq!(a.reason, "Parameter verification failed.");
            assert!(
                a.body["errors"]["kiln-bogus"]
                    .as_str()
                    .is_some_and(|m| m.contains("not defined in schema")),
                "{method} {path}: {a:?}"
            );
            assert!(a.body["data"].is_null());
            checked += 1;
        }
    }
    assert!(checked >= 25, "checked {checked}");
    let create = &schema["endpoints"]
        .as_array()
        .ok_or("no endpoints")?
        .iter()
        .find(|e| e["path"] == "/nodes/{node}/lxc")
        .ok_or("no lxc")?["methods"]["POST"]["parameters"]["properties"];
    for (name, prop) in create.as_object().ok_or("no properties")? {
        if name.contains("[n]") || name == "vmid" || name == "ostemplate" {
            continue;
        }
        let bad = match (prop["type"].as_str(), prop.get("enum")) {
            (_, Some(_)) => "not-in-enum",
            (Some("integer"), _) => "1.5x",
            (Some("number"), _) => "abc",
            (Some("boolean"), _) => "maybe",
            _ => continue,
        };
        let a = lab
            .call(
                "POST",
                "/nodes/pve/lxc",
                &[
                    ("vmid", "101"),
                    ("ostemplate", DEBIAN),
                    (name.as_str(), bad),
                ],
            )
            .await?;
        assert_eq!(a.status, 400, "{name}={bad}: {a:?}");
        assert!(a.body["errors"][name.as_str()].is_string(), "{name}: {a:?}");
    }
    // Hand-picked classes: (params, the parameter that must be reported, message part).
    let base = [("vmid", "150"), ("ostemplate", DEBIAN)];
    let cases: &[Case] = &[
        (&[("cores", "0")], "cores", "minimum value of 1"),
        (&[("cores", "9000")], "cores", "maximum value of 8192"),
        (&[("vmid", "99")], "vmid", "minimum"),
        (&[("cmode", "serial")], "cmode", "enumeration"),
        (&[("hostname", "bad_host!")], "hostname", "DNS name"),
        (&[("tags", "a$b")], "tags", "invalid tag"),
        (
            &[("net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5")],
            "net0",
            "net0.ip",
        ),
        (&[("net0", "name=eth0,bogus=1")], "net0", "net0.bogus"),
        (&[("net0", "name=eth0,vmbr0")], "net0", "default key"),
        (&[("net0", "bridge=vmbr0")], "net0", "net0.name"),
        (&[("net0", "name=eth0,mtu=10")], "net0", "net0.mtu"),
        (
            &[("net0", "name=eth0,hwaddr=01:00:00:00:00:01")],
            "net0",
            "MAC",
        ),
        (&[("net0", "name=eth0,firewall=maybe")], "net0", "boolean"),
        (&[("net0", "name=eth 0")], "net0", "regex"),
        (
            &[("features", "nesting=1,warp=1")],
            "features",
            "features.warp",
        ),
        (&[("features", "nesting=2")], "features", "features.nesting"),
        (
            &[("rootfs", "local-lvm:8,size=big")],
            "rootfs",
            "rootfs.size",
        ),
        (
            &[("rootfs", "local-lvm:8,local-lvm:9")],
            "rootfs",
            "duplicate",
        ),
        (
            &[("description", &"x".repeat(9000))],
            "description",
            "characters long",
        ),
        (&[("net40000", "name=eth0")], "net40000", "not defined"),
    ];
    for (extra, key, message) in cases {
        let mut params: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .collect();
        params.extend(extra.iter().copied());
        let a = lab.call("POST", "/nodes/pve/lxc", &params).await?;
        assert_eq!(a.status, 400, "{extra:?}: {a:?}");
        let got = a.body["errors"][*key].as_str().unwrap_or_default();
        assert!(
            got.contains(message),
            "{extra:?}: {key} = {got:?}, want {message:?}"
        );
    }
    // Missing required parameters.
    let a = lab
        .call("POST", "/nodes/pve/lxc", &[("hostname", "x")])
        .await?;
    assert_eq!(a.status, 400);
    for key in ["vmid", "ostemplate"] {
        assert!(
            a.body["errors"][key]
                .as_str()
                .is_some_and(|m| m.contains("not optional")),
            "{a:?}"
        );
    }
    // Valid requests pass validation.
    let a = lab
        .call(
            "GET",
            "/nodes/pve/lxc/101/rrddata",
            &[("timeframe", "hour"), ("cf", "AVERAGE")],
        )
        .await?;
    assert_ne!(a.status, 400, "{a:?}");
    let a = lab
        .call("GET", "/cluster/resources", &[("type", "vmx")])
        .await?;
    assert_eq!(a.status, 400);
    assert!(a.body["errors"]["type"].is_string());
    let a = lab.call("GET", "/nodes/pve/nothing", &[]).await?;
    assert_eq!(a.status, 501, "{a:?}");
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_authentication_tokens_tickets_csrf() -> R {
    let mut lab = TestLab::start(|o| o.password = Some("hunter2".into())).await?;
    assert!(lab.handle.token.starts_with("root@pam!kiln="));
    // No credentials, bad token.
    let url = format!("{}/version", lab.handle.base_url());
    let a = answer(lab.client.get(&url).send().await?).await?;
    assert_eq!((a.status, a.reason.as_str()), (401, "No ticket"));
    assert!(a.body["data"].is_null());
    let a = answer(
        lab.client
            .get(&url)
            .header("Authorization", "PVEAPIToken=root@pam!kiln=wrong")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(a.status, 401);
    // Wrong password.
    let a = lab
        .call(
            "POST",
            "/access/ticket",
            &[("username", "root@pam"), ("password", "nope")],
        )
        .await?;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (401, "authentication failure")
    );
    // Ticket flow.
    let a = lab
        .call(
            "POST",
            "/access/ticket",
            &[
                ("username", "root"),
                ("realm", "pam"),
                ("password", "hunter2"),
            ],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    for key in [
        "ticket",
        "CSRFPreventionToken",
        "username",
        "cap",
        "clustername",
    ] {
        assert!(!a.data()[key].is_null(), "{key}: {a:?}");
    }
    let ticket = a.data()["ticket"].as_str().ok_or("ticket")?.to_owned();
    let csrf = a.data()["CSRFPreventionToken"]
        .as_str()
        .ok_or("csrf")?
        .to_owned();
    lab.session = Some((ticket.clone(), String::new()));
    assert_eq!(lab.get("/version").await?.status, 200);
    // Writes need the CSRF token.
    let a = lab
        .call(
            "POST",
            "/access/users/root@pam/token/t1",
            &[("privsep", "0")],
        )
        .await?;
    assert_eq!(a.status, 401, "{a:?}");
    lab.session = Some((ticket.clone(), csrf));
    let a = lab
        .call(
            "POST",
            "/access/users/root@pam/token/t1",
            &[("privsep", "0")],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.data()["full-tokenid"], "root@pam!t1");
    // Renewal: the ticket as the password.
    let a = lab
        .call(
            "POST",
            "/access/ticket",
            &[("username", "root@pam"), ("password", &ticket)],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    // The new token works.
    let secret = a.data()["ticket"].as_str().map(str::to_owned);
    assert!(secret.is_some());
    cleanup(lab.stop().await?);

    // Expiry with a short lifetime.
    let mut lab = TestLab::start(|o| {
        o.password = Some("pw".into());
        o.ticket_lifetime = 2;
    })
    .await?;
    let a = lab
        .call(
            "POST",
            "/access/ticket",
            &[("username", "root@pam"), ("password", "pw")],
        )
        .await?;
    let ticket = a.data()["ticket"].as_str().ok_or("ticket")?.to_owned();
    lab.session = Some((ticket, String::new()));
    assert_eq!(lab.get("/version").await?.status, 200);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let a = lab.get("/version").await?;
    assert_eq!(a.status, 401, "expired: {a:?}");
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_privsep_tokens_have_only_acl_privileges() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let a = lab
        .call(
            "POST",
            "/access/users/root@pam/token/limited",
            &[("privsep", "1")],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    let limited = format!(
        "PVEAPIToken={}={}",
        a.data()["full-tokenid"].as_str().ok_or("id")?,
        a.data()["value"].as_str().ok_or("value")?
    );
    let as_limited = |path: &str| {
        lab.client
            .get(format!("{}{path}", lab.handle.base_url()))
            .header("Authorization", limited.clone())
            .send()
    };
    let a = answer(as_limited("/access/permissions").await?).await?;
    assert_eq!(a.data(), &serde_json::json!({}));
    let create = |vmid: &'static str| {
        lab.client
            .post(format!("{}/nodes/pve/lxc", lab.handle.base_url()))
            .header("Authorization", limited.clone())
            .form(&[
                ("vmid", vmid),
                ("ostemplate", DEBIAN),
                ("rootfs", "local-lvm:4"),
                ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
            ])
            .send()
    };
    let a = answer(create("120").await?).await?;
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.reason, "Permission check failed (/vms/120, VM.Allocate)");
    for (path, role) in [
        ("/vms", "PVEVMAdmin"),
        ("/storage", "PVEDatastoreUser"),
        ("/sdn", "PVESDNUser"),
    ] {
        let a = lab
            .call(
                "PUT",
                "/access/acl",
                &[
                    ("path", path),
                    ("roles", role),
                    ("tokens", "root@pam!limited"),
                ],
            )
            .await?;
        assert_eq!(a.status, 200, "{a:?}");
    }
    let a = lab
        .call(
            "PUT",
            "/access/acl",
            &[
                ("path", "/"),
                ("roles", "Wizard"),
                ("tokens", "root@pam!limited"),
            ],
        )
        .await?;
    assert_eq!(a.status, 400);
    assert!(a.body["errors"]["roles"].is_string());
    let a = answer(as_limited("/access/permissions").await?).await?;
    assert_eq!(a.data()["/vms"]["VM.Allocate"], 1, "{a:?}");
    assert_eq!(a.data()["/storage"]["Datastore.AllocateSpace"], 1);
    assert_eq!(a.data()["/sdn"]["SDN.Use"], 1);
    assert!(a.data()["/vms"].get("Sys.Modify").is_none());
    let a = answer(create("120").await?).await?;
    assert_eq!(a.status, 200, "{a:?}");
    let upid = a.data().as_str().ok_or("upid")?;
    assert!(upid.ends_with(":vzcreate:120:root@pam!limited:"), "{upid}");
    lab.wait_task(upid).await?;
    // A privsep token may not manage tokens.
    let a = answer(
        lab.client
            .post(format!(
                "{}/access/users/root@pam/token/xy",
                lab.handle.base_url()
            ))
            .header("Authorization", limited.clone())
            .send()
            .await?,
    )
    .await?;
    assert_eq!(a.status, 403);
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_container_lifecycle() -> R {
    // Slow enough to see the create lock, fast enough for a test (create = 0.2 s).
    let lab = TestLab::start(|o| o.speed = 0.1).await?;
    let a = lab.get("/cluster/nextid").await?;
    assert_eq!(a.data(), &Value::String("100".into()), "nextid is a string");
    let a = lab
        .call(
            "POST",
            "/nodes/pve/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("hostname", "web"),
                ("rootfs", "local-lvm:8"),
                ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
            ],
        )
        .await?;
    let upid = a.data().as_str().ok_or("upid")?.to_owned();
    let parsed: kiln_shared::pve::Upid = upid.parse()?;
    assert_eq!(
        (parsed.node.as_str(), parsed.task_type.as_str()),
        ("pve", "vzcreate")
    );
    let status = lab.get("/nodes/pve/lxc/100/status/current").await?;
    assert_eq!(status.data()["lock"], "create", "{status:?}");
    let a = lab
        .call("POST", "/nodes/pve/lxc/100/status/start", &[])
        .await?;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (500, "CT is locked (create)")
    );
    let a = lab
        .call("GET", "/cluster/nextid", &[("vmid", "100")])
        .await?;
    assert_eq!(a.status, 400);
    assert!(a.body["errors"]["vmid"].is_string());
    assert_eq!(lab.get("/cluster/nextid").await?.data(), "101");
    let task = lab.wait_task(&upid).await?;
    assert_eq!(task["exitstatus"], "OK", "{task:?}");
    let log = lab
        .call(
            "GET",
            &format!("/nodes/pve/tasks/{upid}/log"),
            &[("start", "0"), ("limit", "2")],
        )
        .await?;
    assert_eq!(log.data().as_array().map(Vec::len), Some(2));
    assert_eq!(log.data()[0]["n"], 1);
    assert!(log.body["total"].as_u64().is_some_and(|t| t > 2));
    let config = lab.get("/nodes/pve/lxc/100/config").await?;
    assert!(config.data().get("lock").is_none(), "{config:?}");
    assert_eq!(config.data()["hostname"], "web");
    assert!(
        config.data()["net0"]
            .as_str()
            .is_some_and(|n| n.contains("hwaddr=BC:24:11:"))
    );
    // Config update with digest.
    let digest = config.data()["digest"].as_str().ok_or("digest")?.to_owned();
    let a = lab
        .call(
            "PUT",
            "/nodes/pve/lxc/100/config",
            &[("cores", "2"), ("digest", "0000")],
        )
        .await?;
    assert_eq!(a.status, 500);
    assert!(
        a.reason.contains("detected modified configuration"),
        "{a:?}"
    );
    let a = lab
        .call(
            "PUT",
            "/nodes/pve/lxc/100/config",
            &[("cores", "2"), ("digest", &digest)],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        lab.get("/nodes/pve/lxc/100/config").await?.data()["cores"],
        2
    );
    // Start, interfaces, stop, delete.
    let a = lab.get("/nodes/pve/lxc/100/interfaces").await?;
    assert_eq!(a.status, 500, "stopped: {a:?}");
    assert_eq!(lab.action(100, "start").await?["exitstatus"], "OK");
    let a = lab
        .call("POST", "/nodes/pve/lxc/100/status/start", &[])
        .await?;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (500, "CT 100 already running")
    );
    let a = lab.get("/nodes/pve/lxc/100/interfaces").await?;
    let eth0 = a
        .data()
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name"] == "eth0"))
        .ok_or("no eth0")?;
    assert!(
        eth0["inet"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.77.")),
        "{a:?}"
    );
    let rrd = lab
        .call(
            "GET",
            "/nodes/pve/lxc/100/rrddata",
            &[("timeframe", "hour"), ("cf", "AVERAGE")],
        )
        .await?;
    let rows = rrd.data().as_array().ok_or("rows")?;
    assert!(rows.len() >= 60);
    assert!(
        rows.first().is_some_and(|r| r.get("cpu").is_none()),
        "before start"
    );
    let resources = lab
        .call("GET", "/cluster/resources", &[("type", "vm")])
        .await?;
    assert_eq!(resources.data()[0]["id"], "lxc/100");
    assert_eq!(resources.data()[0]["status"], "running");
    let a = lab
        .call("DELETE", "/nodes/pve/lxc/100", &[("purge", "1")])
        .await?;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (500, "CT 100 is running - destroy failed")
    );
    let a = lab
        .call(
            "POST",
            "/nodes/pve/lxc/100/status/shutdown",
            &[("timeout", "10"), ("forceStop", "1")],
        )
        .await?;
    assert_eq!(
        lab.wait_task(a.data().as_str().ok_or("upid")?).await?["exitstatus"],
        "OK"
    );
    let a = lab
        .call("POST", "/nodes/pve/lxc/100/status/stop", &[])
        .await?;
    assert_eq!((a.status, a.reason.as_str()), (500, "CT 100 not running"));
    let a = lab
        .call(
            "DELETE",
            "/nodes/pve/lxc/100",
            &[("purge", "1"), ("destroy-unreferenced-disks", "1")],
        )
        .await?;
    assert_eq!(
        lab.wait_task(a.data().as_str().ok_or("upid")?).await?["exitstatus"],
        "OK"
    );
    let a = lab.get("/nodes/pve/lxc/100/config").await?;
    assert_eq!(a.status, 500);
    assert!(a.reason.contains("does not exist"));
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_enforces_pve_rules_and_serves_the_catalogue() -> R {
    let lab = TestLab::start(|o| o.nodes = Some(2)).await?;
    let nodes = lab.get("/nodes").await?;
    let names: Vec<&str> = nodes
        .data()
        .as_array()
        .ok_or("nodes")?
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(names, ["pve1", "pve2"]);
    assert_eq!(
        nodes.data()[0]["ssl_fingerprint"],
        lab.handle.fingerprint.as_str()
    );
    let content = lab
        .call(
            "GET",
            "/nodes/pve1/storage/local/content",
            &[("content", "vztmpl")],
        )
        .await?;
    let volids: Vec<&str> = content
        .data()
        .as_array()
        .ok_or("content")?
        .iter()
        .filter_map(|c| c["volid"].as_str())
        .collect();
    for t in [
        DEBIAN,
        "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz",
    ] {
        assert!(volids.contains(&t), "{t}");
    }
    let rootdir = lab
        .call("GET", "/nodes/pve1/storage", &[("content", "rootdir")])
        .await?;
    assert_eq!(rootdir.data().as_array().map(Vec::len), Some(1));
    assert_eq!(rootdir.data()[0]["storage"], "local-lvm");
    let bridges = lab
        .call("GET", "/nodes/pve1/network", &[("type", "any_bridge")])
        .await?;
    assert_eq!(bridges.data()[0]["iface"], "vmbr0");
    assert_eq!(lab.get("/pools").await?.status, 200);
    let shared = &lab;
    let create = |params: Vec<(&'static str, &'static str)>| async move {
        let mut all = vec![
            ("vmid", "130"),
            ("ostemplate", DEBIAN),
            ("rootfs", "local-lvm:4"),
        ];
        all.retain(|(k, _)| !params.iter().any(|(p, _)| p == k));
        all.extend(params);
        shared.call("POST", "/nodes/pve1/lxc", &all).await
    };
    let a = create(vec![("ostemplate", "local:vztmpl/nope.tar.zst")]).await?;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (500, "volume 'local:vztmpl/nope.tar.zst' does not exist")
    );
    let a = create(vec![("rootfs", "local:4")]).await?;
    assert_eq!(a.status, 500);
    assert!(
        a.reason.contains("does not support container directories"),
        "{a:?}"
    );
    let a = create(vec![("rootfs", "nowhere:4")]).await?;
    assert_eq!(a.reason, "storage 'nowhere' does not exist");
    let a = create(vec![]).await?;
    lab.wait_task(a.data().as_str().ok_or("upid")?).await?;
    let a = lab
        .call(
            "POST",
            "/nodes/pve2/lxc",
            &[
                ("vmid", "130"),
                ("ostemplate", DEBIAN),
                ("rootfs", "local-lvm:4"),
            ],
        )
        .await?;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (500, "CT 130 already exists on node 'pve1'")
    );
    let a = lab.get("/nodes/pve3/lxc").await?;
    assert_eq!(a.status, 500);
    let a = lab.get("/nodes/pve2/lxc/130/status/current").await?;
    assert_eq!(a.status, 500, "lives on pve1: {a:?}");
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_faults() -> R {
    let mut start_faults = Faults::default();
    start_faults.apply_spec("task-fail=vzstart:command 'lxc-start -n 140' failed: exit code 1")?;
    let lab = TestLab::start(|o| {
        o.nodes = Some(2);
        o.faults = start_faults;
    })
    .await?;
    // A task type that fails.
    lab.create(140).await?;
    let task = lab.action(140, "start").await?;
    assert_eq!(
        task["exitstatus"],
        "command 'lxc-start -n 140' failed: exit code 1"
    );
    let status = lab.get("/nodes/pve1/lxc/140/status/current").await?;
    assert_eq!(status.data()["status"], "stopped");
    // Latency.
    lab.handle.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let began = Instant::now();
    assert_eq!(lab.get("/version").await?.status, 200);
    assert!(began.elapsed() >= Duration::from_millis(300));
    // Every request answered 500 (set through the admin endpoint, with the token).
    let admin = format!("https://{}/lab/faults", lab.handle.addr);
    let r = lab
        .client
        .post(&admin)
        .header("Authorization", lab.handle.token_header())
        .json(&serde_json::json!({"error_rate": 1.0}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let a = lab.get("/version").await?;
    assert_eq!(a.status, 500, "{a:?}");
    // The admin endpoint needs credentials.
    let r = lab.client.delete(&admin).send().await?;
    assert_eq!(r.status().as_u16(), 401);
    let r = lab
        .client
        .delete(&admin)
        .header("Authorization", lab.handle.token_header())
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(lab.get("/version").await?.status, 200);
    // 596 for one node.
    lab.handle.set_faults(Faults {
        node_596: ["pve2".to_owned()].into(),
        ..Faults::default()
    });
    assert_eq!(lab.get("/nodes/pve2/lxc").await?.status, 596);
    assert_eq!(lab.get("/nodes/pve1/lxc").await?.status, 200);
    let nodes = lab.get("/nodes").await?;
    assert_eq!(nodes.data()[1]["status"], "offline");
    // Unreachable: connections refused, then back.
    lab.handle.set_faults(Faults::default());
    lab.handle.set_unreachable(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = lab.get("/version").await;
    assert!(err.is_err(), "should be unreachable: {err:?}");
    let refused = std::net::TcpStream::connect(lab.handle.addr);
    assert!(refused.is_err(), "connection should be refused");
    lab.handle.set_unreachable(false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(lab.get("/version").await?.status, 200);
    // Unreachable for a while, through the admin endpoint.
    let r = lab
        .client
        .post(&admin)
        .header("Authorization", lab.handle.token_header())
        .json(&serde_json::json!({"unreachable": true, "unreachable_for_ms": 500}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(std::net::TcpStream::connect(lab.handle.addr).is_err());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(lab.get("/version").await?.status, 200);
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_state_survives_a_restart() -> R {
    let lab = TestLab::start(|_| {}).await?;
    lab.create(150).await?;
    lab.action(150, "start").await?;
    let (fingerprint, token) = (lab.handle.fingerprint.clone(), lab.handle.token.clone());
    let dir = lab.stop().await?;
    let lab = TestLab::start_in(dir, |_| {}).await?;
    assert_eq!(lab.handle.fingerprint, fingerprint, "certificate reused");
    assert_eq!(lab.handle.token, token, "token kept");
    let a = lab.get("/nodes/pve/lxc/150/status/current").await?;
    assert_eq!(a.data()["status"], "running", "{a:?}");
    assert_eq!(lab.get("/cluster/nextid").await?.data(), "100");
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_is_deterministic_with_a_seed() -> R {
    let mut seen: Vec<BTreeMap<&str, Value>> = Vec::new();
    for seed in [42, 42, 43] {
        let lab = TestLab::start(|o| o.seed = seed).await?;
        lab.create(160).await?;
        lab.action(160, "start").await?;
        let config = lab.get("/nodes/pve/lxc/160/config").await?;
        let ifaces = lab.get("/nodes/pve/lxc/160/interfaces").await?;
        let mut m = BTreeMap::new();
        m.insert("net0", config.data()["net0"].clone());
        m.insert("ifaces", ifaces.data().clone());
        seen.push(m);
        cleanup(lab.stop().await?);
    }
    assert_eq!(seen[0], seen[1], "same seed, same answers");
    assert_ne!(seen[0], seen[2], "another seed, other answers");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_preload_lists_and_powers_the_containers() -> R {
    let lab = TestLab::start(|o| {
        o.nodes = Some(3);
        o.seed = 11;
        o.preload = 60;
    })
    .await?;
    assert_eq!(lab.handle.preloaded, 60);
    let a = lab
        .call("GET", "/cluster/resources", &[("type", "vm")])
        .await?;
    let cts = a.data().as_array().ok_or("a list")?.clone();
    let vmids: Vec<u64> = cts.iter().filter_map(|c| c["vmid"].as_u64()).collect();
    assert_eq!(vmids, (100..160).collect::<Vec<u64>>(), "{a:?}");
    assert!(
        cts.iter()
            .all(|c| c["type"] == "lxc" && c["id"] == format!("lxc/{}", c["vmid"]))
    );
    let running: Vec<&Value> = cts.iter().filter(|c| c["status"] == "running").collect();
    assert!((25..=55).contains(&running.len()), "{}", running.len());
    assert!(
        running
            .iter()
            .all(|c| c["uptime"].as_u64() > Some(0) && c["mem"].as_u64() > Some(0))
    );
    assert!(
        cts.iter()
            .any(|c| c["status"] == "stopped" && c["mem"] == 0)
    );
    assert!(cts.iter().any(|c| c["tags"].is_string()));
    assert!(
        cts.iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.starts_with("ct-")))
    );

    // Each member lists its own, and together they are all.
    let mut listed = 0;
    for node in ["pve1", "pve2", "pve3"] {
        let a = lab.get(&format!("/nodes/{node}/lxc")).await?;
        let here = a.data().as_array().map(Vec::len).unwrap_or_default();
        assert!(here > 0, "{node} has containers");
        listed += here;
    }
    assert_eq!(listed, 60);
    assert_eq!(lab.get("/cluster/nextid").await?.data(), "160");

    // Power actions work on them like on any other.
    let node_of = |c: &Value| c["node"].as_str().unwrap_or_default().to_owned();
    let stopped = cts
        .iter()
        .find(|c| c["status"] == "stopped")
        .ok_or("a stopped one")?;
    let (node, vmid) = (node_of(stopped), stopped["vmid"].clone());
    let a = lab
        .call(
            "POST",
            &format!("/nodes/{node}/lxc/{vmid}/status/start"),
            &[],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    lab.wait_task(a.data().as_str().ok_or("upid")?).await?;
    let status = lab
        .get(&format!("/nodes/{node}/lxc/{vmid}/status/current"))
        .await?;
    assert_eq!(status.data()["status"], "running");
    let up = running.first().ok_or("a running one")?;
    let (node, vmid) = (node_of(up), up["vmid"].clone());
    let a = lab
        .call(
            "POST",
            &format!("/nodes/{node}/lxc/{vmid}/status/stop"),
            &[],
        )
        .await?;
    assert_eq!(a.status, 200, "{a:?}");
    lab.wait_task(a.data().as_str().ok_or("upid")?).await?;
    let status = lab
        .get(&format!("/nodes/{node}/lxc/{vmid}/status/current"))
        .await?;
    assert_eq!(status.data()["status"], "stopped");

    // A restart with --preload keeps the state as it is.
    let dir = lab.stop().await?;
    let lab = TestLab::start_in(dir, |o| {
        o.nodes = Some(3);
        o.seed = 12;
        o.preload = 10;
    })
    .await?;
    assert_eq!(lab.handle.preloaded, 0);
    let a = lab
        .call("GET", "/cluster/resources", &[("type", "vm")])
        .await?;
    assert_eq!(a.data().as_array().map(Vec::len), Some(60));
    let status = lab
        .get(&format!("/nodes/{node}/lxc/{vmid}/status/current"))
        .await?;
    assert_eq!(status.data()["status"], "stopped");
    cleanup(lab.stop().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_counts_the_calls_it_receives() -> R {
    let lab = TestLab::start(|_| {}).await?;
    let counts = |client: reqwest::Client, url: String| async move {
        let r = client.get(url).send().await?;
        assert_eq!(r.status().as_u16(), 200);
        Ok::<Value, Box<dyn std::error::Error + Send + Sync>>(
            r.json::<Value>().await?["data"].clone(),
        )
    };
    let url = format!("https://{}/lab/requests", lab.handle.addr);
    // On loopback without credentials; reading the counts is not counted.
    let before = counts(lab.client.clone(), url.clone()).await?;
    assert_eq!(before["total"], 0, "{before}");
    lab.get("/version").await?;
    lab.get("/nodes/pve/lxc").await?;
    lab.get("/nodes/pve/lxc").await?;
    lab.get("/nodes/pve/nothing-here").await?;
    let unauthorized = lab
        .client
        .get(format!("{}/cluster/resources", lab.handle.base_url()))
        .send()
        .await?;
    assert_eq!(unauthorized.status().as_u16(), 401);
    let after = counts(lab.client.clone(), url).await?;
    assert_eq!(after["total"], 5, "{after}");
    assert_eq!(after["paths"]["GET /version"], 1);
    assert_eq!(after["paths"]["GET /nodes/{node}/lxc"], 2);
    assert_eq!(after["paths"]["GET /cluster/resources"], 1);
    assert_eq!(after["paths"]["GET (unknown)"], 1);
    assert_eq!(lab.handle.requests(), after);
    cleanup(lab.stop().await?);
    Ok(())
}
