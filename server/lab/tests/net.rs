//! The lab's network on the real host: bridge, dnsmasq and apt-cacher-ng; a DHCP client in a
//! network namespace of the test's own; a download through the proxy; two labs side by side;
//! recovery after the lab process was killed with SIGKILL.
//!
//! Needs root and the Debian packages iproute2, dnsmasq-base, apt-cacher-ng, util-linux
//! (`setpriv`), busybox (its `udhcpc` is the DHCP client) and curl; the proxy test also needs
//! HTTP access to the archive. A missing capability fails the test when `CI=true` and skips
//! it (with the reason printed) otherwise.

use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use kiln_lab::lxc::names::Names;
use kiln_lab::lxc::net::{self, Network};

/// The Debian archive the proxy fetches from.
const ARCHIVE: &str = "http://deb.debian.org/debian";

/// The MAC of the test's DHCP client (upper case: `lease_of` ignores case).
const MAC: &str = "BC:24:11:4E:E7:01";

/// Tells the helper test which data directory to bring a network up in.
const HELPER_ENV: &str = "KILN_NET_TEST_HELPER_DATA_DIR";

/// Whether the host can run these tests; panics with the reason when it cannot and
/// `CI=true`, prints it and says no otherwise.
fn capable(needs_archive: bool) -> bool {
    let Some(reason) = missing(needs_archive) else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("lab network test cannot run: {reason}");
    }
    // Straight to stderr: libtest would swallow eprintln! of a passing test.
    let _ = writeln!(std::io::stderr(), "skipped (lab network test): {reason}");
    false
}

fn missing(needs_archive: bool) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root".into());
    }
    for (program, package) in [
        ("ip", "iproute2"),
        ("dnsmasq", "dnsmasq-base"),
        ("apt-cacher-ng", "apt-cacher-ng"),
        ("setpriv", "util-linux"),
        ("busybox", "busybox"),
        ("curl", "curl"),
    ] {
        if !on_path(program) {
            return Some(format!("{program} not found (apt-get install {package})"));
        }
    }
    if !matches!(nix::unistd::User::from_name("apt-cacher-ng"), Ok(Some(_))) {
        return Some("no user apt-cacher-ng (apt-get install apt-cacher-ng)".into());
    }
    let release = format!("{ARCHIVE}/dists/bookworm/Release");
    if needs_archive
        && run(
            "curl",
            &["-sSf", "-o", "/dev/null", "--max-time", "20", &release],
        )
        .is_err()
    {
        return Some(format!("{release} is not reachable from this host"));
    }
    None
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(program).is_file())
}

/// Runs a program to completion; its trimmed stdout, or a one-line error.
fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    Ok(run_output(program, args)?.0)
}

/// Runs a program to completion; its trimmed stdout and stderr, or a one-line error.
fn run_output(program: &str, args: &[&str]) -> anyhow::Result<(String, String)> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    Ok((text(&out.stdout), text(&out.stderr)))
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Deletes what a test made on the host even when it fails: its network namespace and links
/// (children die with their `Network`).
struct Cleanup {
    netns: Option<String>,
    links: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(ns) = &self.netns
            && Path::new("/run/netns").join(ns).exists()
        {
            let _ = run("ip", &["netns", "del", ns]);
        }
        for link in &self.links {
            if link_exists(link) {
                let _ = run("ip", &["link", "del", link]);
            }
        }
    }
}

/// The live processes whose command line names the lab's run directory: `(pid, program)`.
fn lab_processes(names: &Names) -> Vec<(u32, String)> {
    let run_dir = names.run_dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let program = Path::new(args.first()?)
                .file_name()?
                .to_string_lossy()
                .into_owned();
            (alive(pid) && args.iter().any(|a| a.contains(&run_dir))).then_some((pid, program))
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 1..].split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

fn programs(procs: &[(u32, String)]) -> Vec<&str> {
    let mut names: Vec<&str> = procs.iter().map(|(_, p)| p.as_str()).collect();
    names.sort_unstable();
    names
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.octets()[..3] == b.octets()[..3]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_dhcp_and_the_proxy_and_down_removes_everything() -> anyhow::Result<()> {
    if !capable(true) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    let names = Names::for_data_dir(dir.path())?;
    let ns = format!("kiln-test-{}", names.tag);
    let veth = names.veth(100, 0);
    let _cleanup = Cleanup {
        netns: Some(ns.clone()),
        links: vec![veth.clone(), names.bridge.clone()],
    };

    let started = Instant::now();
    let mut network = Network::up(&names, ARCHIVE).await?;
    eprintln!("up: {} ms", started.elapsed().as_millis());
    let gw = network.gateway;
    assert_eq!(network.bridge, names.bridge);
    assert_eq!(network.prefix, 24);
    assert_eq!(network.proxy, format!("http://{gw}:3142"));
    assert_eq!(gw.octets()[0], 10);
    assert_eq!(gw.octets()[3], 1);
    let addrs = run("ip", &["-j", "-4", "addr", "show", "dev", &network.bridge])?;
    assert!(
        addrs.contains(&format!(r#""local":"{gw}","prefixlen":24"#)),
        "{addrs}"
    );
    let children = lab_processes(&names);
    assert_eq!(
        programs(&children),
        ["apt-cacher-ng", "dnsmasq"],
        "{children:?}"
    );
    let data_mode = std::fs::metadata(&names.data_dir)?.permissions().mode() & 0o7777;
    assert_eq!(data_mode, 0o701, "a 0700 temporary directory gets o+x only");
    let run_mode = std::fs::metadata(&names.run_dir)?.permissions().mode() & 0o7777;
    assert_eq!(run_mode, 0o711);

    // A DHCP client in a network namespace, its veth on the lab's bridge.
    run("ip", &["netns", "add", &ns])?;
    run(
        "ip",
        &[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ],
    )?;
    run("ip", &["-n", &ns, "link", "set", "eth0", "address", MAC])?;
    run(
        "ip",
        &["link", "set", &veth, "master", &network.bridge, "up"],
    )?;
    run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
    run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
    let started = Instant::now();
    let (_, udhcpc) = run_output(
        "ip",
        &[
            "netns",
            "exec",
            &ns,
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-s",
            "/bin/true",
            "-t",
            "20",
            "-T",
            "1",
        ],
    )?;
    eprintln!("DHCP lease: {} ms", started.elapsed().as_millis());
    let mut leased = None;
    for _ in 0..100 {
        leased = network.lease_of(MAC);
        if leased.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let leased = leased.context("no lease for the client's MAC in dnsmasq's lease file")?;
    assert!(same_subnet(leased, gw), "{leased} outside {gw}/24");
    assert!((10..=250).contains(&leased.octets()[3]), "{leased}");
    assert!(
        udhcpc.contains(&format!("lease of {leased} obtained")),
        "{udhcpc}"
    );
    assert_eq!(network.lease_of(&MAC.to_lowercase()), Some(leased));
    assert_eq!(network.lease_of("bc:24:11:00:00:00"), None);

    // Through the proxy, from the namespace (which has no other way out).
    run(
        "ip",
        &[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{leased}/24"),
            "dev",
            "eth0",
        ],
    )?;
    let url = format!("{ARCHIVE}/dists/bookworm/Release");
    let started = Instant::now();
    let code = run(
        "ip",
        &[
            "netns",
            "exec",
            &ns,
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "60",
            "-x",
            &network.proxy,
            &url,
        ],
    )?;
    eprintln!(
        "Release through the proxy: {} ms (shared cache: {})",
        started.elapsed().as_millis(),
        network.shared_cache()
    );
    assert_eq!(code, "200");
    let (rx, tx) = net::veth_counters(&veth).context("no counters for the veth")?;
    assert!(
        rx > 0 && tx > 100_000,
        "host rx {rx}, tx {tx}: the Release file went out"
    );

    let started = Instant::now();
    network.down().await;
    eprintln!("down: {} ms", started.elapsed().as_millis());
    assert!(!link_exists(&names.bridge), "bridge left");
    assert!(!link_exists(&veth), "veth left");
    for (pid, program) in &children {
        assert!(!alive(*pid), "{program} ({pid}) still runs");
    }
    assert!(lab_processes(&names).is_empty());
    assert!(!names.run_dir.join("net-children.json").exists());
    network.down().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_labs_side_by_side_get_their_own_bridges_and_subnets() -> anyhow::Result<()> {
    if !capable(false) {
        return Ok(());
    }
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (names_a, names_b) = (
        Names::for_data_dir(dir_a.path())?,
        Names::for_data_dir(dir_b.path())?,
    );
    let _cleanup = Cleanup {
        netns: None,
        links: vec![names_a.bridge.clone(), names_b.bridge.clone()],
    };
    let mut a = Network::up(&names_a, ARCHIVE).await?;
    let mut b = Network::up(&names_b, ARCHIVE).await?;
    assert_ne!(a.bridge, b.bridge);
    assert!(
        !same_subnet(a.gateway, b.gateway),
        "{} and {}",
        a.gateway,
        b.gateway
    );
    assert!(link_exists(&a.bridge) && link_exists(&b.bridge));
    assert_eq!(
        programs(&lab_processes(&names_a)),
        ["apt-cacher-ng", "dnsmasq"]
    );
    assert_eq!(
        programs(&lab_processes(&names_b)),
        ["apt-cacher-ng", "dnsmasq"]
    );
    assert!(
        !(a.shared_cache() && b.shared_cache()),
        "one proxy at a time in the shared cache"
    );

    a.down().await;
    assert!(!link_exists(&names_a.bridge));
    assert!(lab_processes(&names_a).is_empty());
    assert!(
        link_exists(&b.bridge),
        "the other lab's bridge is not touched"
    );
    assert_eq!(
        programs(&lab_processes(&names_b)),
        ["apt-cacher-ng", "dnsmasq"]
    );
    b.down().await;
    assert!(!link_exists(&names_b.bridge));
    assert!(lab_processes(&names_b).is_empty());
    Ok(())
}

/// Kills the helper process if the test fails before it does.
struct Helper(std::process::Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_stops_what_a_killed_lab_left() -> anyhow::Result<()> {
    if !capable(false) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let names = Names::for_data_dir(dir.path())?;
    let _cleanup = Cleanup {
        netns: None,
        links: vec![names.bridge.clone()],
    };

    // A lab process brings its network up and is killed with SIGKILL.
    let mut helper = Helper(
        Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "helper_brings_a_network_up_and_waits",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = helper.0.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("the helper did not bring its network up within 60 s")?;
        anyhow::ensure!(!line.contains("NET-FAILED"), "helper: {line}");
        if line.contains("NET-UP") {
            break;
        }
    }
    let left = lab_processes(&names);
    assert_eq!(programs(&left), ["apt-cacher-ng", "dnsmasq"], "{left:?}");
    helper.0.kill()?;
    helper.0.wait()?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (pid, program) in &left {
        assert!(
            alive(*pid),
            "{program} died with the lab: nothing left to recover"
        );
    }
    assert!(link_exists(&names.bridge));

    let started = Instant::now();
    net::recover(&names).await;
    eprintln!("recover: {} ms", started.elapsed().as_millis());
    for (pid, program) in &left {
        assert!(!alive(*pid), "{program} ({pid}) still runs after recover");
    }
    assert!(!link_exists(&names.bridge), "bridge left after recover");
    assert!(!names.run_dir.join("net-children.json").exists());
    net::recover(&names).await;
    Ok(())
}

/// Run by `recover_stops_what_a_killed_lab_left` in a subprocess, which it then kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper: recover_stops_what_a_killed_lab_left runs it in a subprocess"]
async fn helper_brings_a_network_up_and_waits() {
    let Some(dir) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let names = match Names::for_data_dir(Path::new(&dir)) {
        Ok(names) => names,
        Err(e) => return println!("NET-FAILED {e}"),
    };
    match Network::up(&names, ARCHIVE).await {
        Ok(network) => {
            println!("NET-UP {}", network.bridge);
            tokio::time::sleep(Duration::from_secs(600)).await;
            drop(network);
        }
        Err(e) => println!("NET-FAILED {e:#}"),
    }
}
