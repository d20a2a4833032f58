//! The lab's LXC runtime, for real: containers boot from the lab's Debian image, get an
//! address from the lab's DHCP server on its bridge, run `pct exec` through sshd, install a
//! package through the lab's proxy, stop and vanish without a trace; a killed lab cleans up
//! at its next start, and two labs run side by side.
//!
//! Needs root, `lxc`, `dnsmasq`, `apt-cacher-ng` and the Debian archive (for the first image
//! build and package installs; both are cached under /var/cache/kiln). Under `CI=true` a
//! missing capability fails the test with its one-line reason; elsewhere the test says why
//! it does not run and passes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_server::lab::RuntimeKind;
use kiln_server::lab::lxc::{image, names::Names, probe};
use kiln_server::proxmox::tasks::wait_task;
use kiln_server::proxmox::{Auth, Client, ClientConfig, ProxmoxApi};
use kiln_server::ssh::host_key;
use kiln_server::ssh::keys::NodeKey;
use kiln_server::ssh::shell::NodeShell;
use kiln_shared::pve::LxcCreate;

use crate::lab_fixture::{DEBIAN, R, TestLab, temp_dir};
use crate::ssh::Sshd;

/// Whether the LXC runtime can run here; `false` (after saying why) when it cannot and
/// this is not CI. Builds the lab's image once (cached for every later run).
pub(crate) async fn lxc_ready() -> R<bool> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Err(reason) = probe::usable() {
        if ci {
            return Err(format!("the LXC runtime cannot run here: {reason}").into());
        }
        eprintln!("not run: the LXC runtime cannot run here: {reason}");
        return Ok(false);
    }
    image::build(false, &mut |line: &str| eprintln!("image: {line}")).await?;
    Ok(true)
}

async fn lxc_lab() -> R<(TestLab, Cleanup)> {
    let lab = TestLab::start(|o| o.runtime = RuntimeKind::Lxc).await?;
    let cleanup = Cleanup(lab.dir.clone());
    Ok((lab, cleanup))
}

/// Runs `kiln lab down` on a lab's data directory when dropped, so a failing test leaves no
/// container, bridge or child behind (a clean finish has nothing left for it to do).
pub(crate) struct Cleanup(pub(crate) PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.0.join("lxc").exists() {
            return;
        }
        let _ = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["lab", "down", "--data-dir"])
            .arg(&self.0)
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether process `pid` runs (a zombie does not: this machine's init may not reap).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnLabTestKeyOnlyForTestsXXXXXXXXXXXXXX kiln@test";

fn small(vmid: u32) -> LxcCreate {
    LxcCreate {
        vmid,
        ostemplate: DEBIAN.into(),
        hostname: format!("ct{vmid}"),
        rootfs: "local-lvm:4".into(),
        memory: Some(256),
        swap: Some(0),
        net0: Some("name=eth0,bridge=vmbr0,ip=dhcp".into()),
        unprivileged: Some(true),
        start: Some(true),
        ..LxcCreate::default()
    }
}

/// Creates (and starts) a container; the task must end OK.
async fn create(client: &Client, node: &str, params: &LxcCreate) -> R {
    let upid = client.lxc_create(node, params).await?;
    let done = wait_task(client, &upid, Duration::from_secs(120)).await?;
    if done.exitstatus.as_deref() != Some("OK") {
        let log = client.task_log(&upid, 0, 500).await?;
        let lines: Vec<String> = log.into_iter().map(|l| l.t).collect();
        return Err(format!("create ended {:?}: {}", done.exitstatus, lines.join("\n")).into());
    }
    Ok(())
}

/// Waits until `eth0` of `vmid` has an IPv4 address; returns it.
pub(crate) async fn address(client: &Client, node: &str, vmid: u32) -> R<String> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ifaces = client.lxc_interfaces(node, vmid).await?;
        if let Some(inet) = ifaces
            .iter()
            .find(|i| i.name == "eth0")
            .and_then(|i| i.inet.clone())
        {
            return Ok(inet);
        }
        if Instant::now() > deadline {
            return Err(format!("no DHCP address on eth0 of CT {vmid}: {ifaces:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Host processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_container_boots_gets_an_address_runs_commands_and_installs_packages() -> R {
    if !lxc_ready().await? {
        return Ok(());
    }
    let (lab, _cleanup) = lxc_lab().await?;
    let names = Names::for_data_dir(&lab.dir)?;
    let client = lab.client()?;
    let node = lab.node().to_owned();
    let bridge = lab.handle.bridge().ok_or("the LXC lab shows its bridge")?;

    let mut first = small(201);
    first.password = Some("lab-root-secret".into());
    first.ssh_public_keys = Some(KEY.into());
    create(&client, &node, &first).await?;
    let inet = address(&client, &node, 201).await?;
    let subnet = bridge
        .rsplit_once('.')
        .map(|(net, _)| net)
        .unwrap_or_default();
    assert!(
        inet.starts_with(&format!("{subnet}.")),
        "{inet} is on {bridge}"
    );
    // A static address outside the DHCP range, applied by the container's networkd.
    let mut fixed = small(202);
    fixed.net0 = Some(format!(
        "name=eth0,bridge=vmbr0,ip={subnet}.5/24,gw={subnet}.1"
    ));
    create(&client, &node, &fixed).await?;
    assert_eq!(
        address(&client, &node, 202).await?,
        format!("{subnet}.5/24")
    );
    // Listed but not built: PVE's answer for a missing volume.
    let mut alpine = small(203);
    alpine.ostemplate = "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz".into();
    let refused = client.lxc_create(&node, &alpine).await;
    assert!(
        matches!(&refused, Err(kiln_server::proxmox::Error::Server { message, .. })
            if message == "volume 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz' does not exist"),
        "{refused:?}"
    );
    let status = client.lxc_status(&node, 201).await?;
    assert_eq!(status.status, "running");
    assert!(
        status.mem.unwrap_or(0) > 0,
        "real memory figure: {status:?}"
    );
    assert_eq!(status.maxmem, Some(256 << 20));

    // pct through a real sshd, as Kiln reaches a node.
    let key = NodeKey::generate("kiln@lxc-test")?;
    let sshd = Sshd::start(&[key.public_key()], &lab.dir).await?;
    let pinned = host_key::fetch("127.0.0.1", sshd.port).await?;
    let shell_dir = temp_dir();
    let shell =
        NodeShell::connect_pinned(&shell_dir, sshd.target(), 1, Some(&pinned), &key).await?;
    let hostname = shell.run(&["pct", "exec", "201", "--", "hostname"]).await?;
    assert_eq!(hostname.stdout_text().trim(), "ct201");
    // The root password and SSH keys of the create call are set inside, as PVE does.
    let shadow = shell
        .run(&[
            "pct",
            "exec",
            "201",
            "--",
            "sh",
            "-c",
            "getent shadow root | cut -d: -f2",
        ])
        .await?;
    assert!(
        shadow.stdout_text().starts_with("$"),
        "root has a password hash: {}",
        shadow.stdout_text()
    );
    let keys = shell
        .run(&[
            "pct",
            "exec",
            "201",
            "--",
            "cat",
            "/root/.ssh/authorized_keys",
        ])
        .await?;
    assert_eq!(keys.stdout_text().trim(), KEY);
    let limit = shell
        .run(&[
            "pct",
            "exec",
            "201",
            "--",
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ])
        .await?;
    let limit = limit.stdout_text();
    assert_eq!(
        limit.trim(),
        (256u64 << 20).to_string(),
        "the memory limit inside"
    );
    let ids = shell
        .run(&["pct", "exec", "201", "--", "cat", "/proc/self/uid_map"])
        .await?;
    assert!(
        ids.stdout_text().split_whitespace().nth(1) == Some("100000"),
        "unprivileged: root inside is 100000 outside ({})",
        ids.stdout_text().trim()
    );
    let failing = shell
        .run(&["pct", "exec", "201", "--", "sh", "-c", "exit 7"])
        .await?;
    assert_eq!(failing.status, 7, "exit status passes through");
    let install = shell
        .run(&[
            "pct", "exec", "201", "--", "sh", "-c",
            "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl && curl --version",
        ])
        .await?;
    assert!(
        install.success() && install.stdout_text().contains("curl 7"),
        "apt-get install through the lab's proxy: {}\n{}",
        install.stdout_text(),
        install.stderr_text()
    );
    // Nothing but the proxy leads out: no route, no DNS.
    let direct = shell
        .run(&[
            "pct",
            "exec",
            "201",
            "--",
            "curl",
            "-sS",
            "-m",
            "3",
            "http://deb.debian.org/debian/",
        ])
        .await?;
    assert!(
        !direct.success(),
        "a container reaches the outside only through the proxy"
    );
    // push/pull with owner and mode.
    let pushed = shell
        .run_with_input(
            &[
                "pct",
                "push",
                "201",
                "-",
                "/etc/kiln-note",
                "--perms",
                "0640",
                "--user",
                "nobody",
            ],
            Some(b"hello from the host\n".as_slice()),
        )
        .await?;
    assert!(pushed.success(), "{}", pushed.stderr_text());
    let stat = shell
        .run(&[
            "pct",
            "exec",
            "201",
            "--",
            "stat",
            "-c",
            "%U %a",
            "/etc/kiln-note",
        ])
        .await?;
    assert_eq!(stat.stdout_text().trim(), "nobody 640");
    let pulled = shell
        .run(&["pct", "pull", "201", "/etc/kiln-note", "-"])
        .await?;
    assert_eq!(pulled.stdout_text(), "hello from the host\n");
    shell.close().await?;

    // Memory changes apply to the running container's cgroup.
    client
        .lxc_config_update(&node, 201, &[("memory".into(), "384".into())], None)
        .await?;
    let cgroup_limit = lxc_tool("lxc-cgroup", &names, 201)
        .arg("memory.limit_in_bytes")
        .output()?;
    assert_eq!(
        String::from_utf8_lossy(&cgroup_limit.stdout).trim(),
        (384u64 << 20).to_string()
    );

    // Stop kills; delete leaves nothing behind.
    let upid = client.lxc_stop(&node, 201).await?;
    assert_eq!(
        wait_task(&client, &upid, Duration::from_secs(30))
            .await?
            .exitstatus
            .as_deref(),
        Some("OK")
    );
    assert_eq!(client.lxc_status(&node, 201).await?.status, "stopped");
    assert!(
        !link_exists(&names.veth(201, 0)),
        "the veth went with the container"
    );
    let upid = client.lxc_delete(&node, 201).await?;
    assert_eq!(
        wait_task(&client, &upid, Duration::from_secs(30))
            .await?
            .exitstatus
            .as_deref(),
        Some("OK")
    );
    assert!(
        !names.container_dir(201).exists(),
        "no root file system left"
    );
    assert!(
        processes_mentioning(&names.container(201)).is_empty(),
        "no process left"
    );

    drop(sshd);
    let _ = std::fs::remove_dir_all(shell_dir);
    lab.finish().await?;
    assert!(!link_exists(&names.bridge), "the bridge goes with the lab");
    Ok(())
}

/// `kiln lab` as a child process (so it can be killed with SIGKILL).
struct LabProcess {
    child: Child,
    client: Client,
}

fn spawn_lab(dir: &Path) -> R<LabProcess> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "lab",
            "--runtime",
            "lxc",
            "--speed",
            "0",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.with_extension("log"))?)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let (mut addr, mut fingerprint, mut token) = (None, None, None);
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("https://").nth(1) {
            addr = Some(rest.trim().to_owned());
        } else if let Some(f) = line.trim().strip_prefix("fingerprint:") {
            fingerprint = Some(f.trim().to_owned());
        } else if let Some(t) = line.trim().strip_prefix("API token:") {
            token = Some(t.trim().to_owned());
        }
        if addr.is_some() && fingerprint.is_some() && token.is_some() {
            break;
        }
    }
    // Keep reading its output so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let (Some(addr), Some(fingerprint), Some(token)) = (addr, fingerprint, token) else {
        let _ = child.kill();
        return Err("kiln lab did not print its address".into());
    };
    let (host, port) = addr.rsplit_once(':').ok_or("address")?;
    let (id, secret) = token.split_once('=').ok_or("token")?;
    let client = Client::new(ClientConfig {
        host: host.to_owned(),
        port: port.parse()?,
        fingerprint,
        auth: Auth::Token {
            id: id.to_owned(),
            secret: secret.to_owned(),
        },
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
    })?;
    Ok(LabProcess { child, client })
}

/// An `lxc-*` tool aimed at container `vmid` of the lab named by `names`.
fn lxc_tool(tool: &str, names: &Names, vmid: u32) -> Command {
    let mut cmd = Command::new(tool);
    cmd.arg("-n")
        .arg(names.container(vmid))
        .arg("-P")
        .arg(&names.lxcpath);
    cmd
}

fn running_in(names: &Names, vmid: u32) -> bool {
    lxc_tool("lxc-info", names, vmid)
        .args(["-s", "-H"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "RUNNING")
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_labs_side_by_side_and_a_killed_lab_cleans_up_at_its_next_start() -> R {
    if !lxc_ready().await? {
        return Ok(());
    }
    // Lab A in this process, lab B a `kiln lab` child.
    let (a, _a_cleanup) = lxc_lab().await?;
    let a_names = Names::for_data_dir(&a.dir)?;
    let b_dir: PathBuf = temp_dir();
    std::fs::create_dir_all(&b_dir)?;
    let _b_cleanup = Cleanup(b_dir.clone());
    let b_names = Names::for_data_dir(&b_dir)?;
    let mut b = spawn_lab(&b_dir)?;
    assert_ne!(a_names.bridge, b_names.bridge);
    assert!(link_exists(&a_names.bridge) && link_exists(&b_names.bridge));

    let mut params = small(301);
    params.net0 = Some("name=eth0,bridge=vmbr0,ip=dhcp".into());
    create(&b.client, "pve", &params).await?;
    create(&a.client()?, a.node(), &small(301)).await?;
    address(&b.client, "pve", 301).await?;
    assert!(running_in(&b_names, 301) && running_in(&a_names, 301));

    // kill -9: the container, the bridge and the children outlive the lab...
    b.child.kill()?;
    b.child.wait()?;
    assert!(
        running_in(&b_names, 301),
        "a killed lab leaves its container running"
    );
    let leftovers = processes_mentioning(&b_names.run_dir.display().to_string());
    assert!(!leftovers.is_empty(), "and its dnsmasq/proxy");

    // ...and the next start cleans them up.
    let mut b = spawn_lab(&b_dir)?;
    assert!(
        !running_in(&b_names, 301),
        "the leftover container was stopped"
    );
    for pid in leftovers {
        assert!(!alive(pid), "old child {pid} is gone");
    }
    let status = b.client.lxc_status("pve", 301).await?;
    assert_eq!(status.status, "stopped");
    // Lab A never noticed.
    assert!(
        running_in(&a_names, 301),
        "the other lab's container is untouched"
    );

    // The container starts again under the new run.
    let upid = b.client.lxc_start("pve", 301).await?;
    assert_eq!(
        wait_task(&b.client, &upid, Duration::from_secs(60))
            .await?
            .exitstatus
            .as_deref(),
        Some("OK")
    );
    address(&b.client, "pve", 301).await?;

    // SIGTERM: a clean stop takes everything down.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(b.child.id())?),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    b.child.wait()?;
    assert!(!running_in(&b_names, 301));
    assert!(!link_exists(&b_names.bridge));
    assert!(processes_mentioning(&b_names.run_dir.display().to_string()).is_empty());
    let _ = std::fs::remove_dir_all(&b_dir);
    let _ = std::fs::remove_file(b_dir.with_extension("log"));
    a.finish().await?;
    assert!(!link_exists(&a_names.bridge));
    Ok(())
}
