//! The Debian package (`./kiln.sh package`), installed into a throwaway root and started the way
//! its systemd unit starts it: the control fields and files are checked, the unit passes
//! `systemd-analyze verify`, and the unit's own `ExecStart=` command line (paths mapped into the
//! throwaway root, a fresh data directory, a free loopback port, as `nobody` when the test runs
//! as root, with systemd's empty environment) serves `/readyz` and stops cleanly on SIGTERM.
//!
//! Needs `KILN_DEB`, the package to test (`./kiln.sh test` builds one from the debug binary),
//! Debian's `dpkg-deb` and `systemd-analyze`. Without them the test is skipped with a line
//! saying why, except under `CI=true`, where it fails.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::process::{ChildGuard, ScratchDir};
use common::{Steps, free_port};

/// A debug build's first start runs `initdb` and extracts the built-in templates.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The package's unit, as installed.
const UNIT: &str = "lib/systemd/system/kiln.service";

#[tokio::test(flavor = "multi_thread")]
async fn the_package_installs_and_its_unit_starts_kiln() -> anyhow::Result<()> {
    let Some(deb) = needed(
        "KILN_DEB (the .deb to test; ./kiln.sh test builds it)",
        || {
            std::env::var_os("KILN_DEB")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        },
    )?
    else {
        return Ok(());
    };
    for tool in ["dpkg-deb", "systemd-analyze"] {
        if needed(&format!("`{tool}` on PATH"), || on_path(tool))?.is_none() {
            return Ok(());
        }
    }
    ensure!(
        deb.is_file(),
        "KILN_DEB names {}, which does not exist",
        deb.display()
    );
    let mut steps = Steps::default();

    steps.step("the control fields");
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(
            output(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(name))?
                .trim()
                .to_owned(),
        )
    };
    ensure!(field("Package")? == "kiln", "Package is not kiln");
    ensure!(
        field("Version")? == env!("CARGO_PKG_VERSION"),
        "Version {} is not the workspace's {}",
        field("Version")?,
        env!("CARGO_PKG_VERSION")
    );
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    ensure!(field("Architecture")? == arch.trim(), "wrong Architecture");
    let depends = field("Depends")?;
    for needed in ["postgresql", "redis-server", "openssh-client", "libc6"] {
        ensure!(
            depends.split(',').any(|d| d.trim().starts_with(needed)),
            "Depends ({depends}) lacks {needed}"
        );
    }

    steps.step("unpacked into a throwaway root");
    let mut scratch = ScratchDir::create("deb")?;
    scratch.keep_if_requested();
    let root = scratch.path().join("root");
    let control = scratch.path().join("control");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control))?;
    for path in [
        "usr/bin/kiln",
        UNIT,
        "etc/kiln/kiln.toml",
        "usr/share/doc/kiln/copyright",
    ] {
        ensure!(root.join(path).is_file(), "the package has no /{path}");
    }
    let conffiles = std::fs::read_to_string(control.join("conffiles"))?;
    ensure!(
        conffiles.lines().any(|l| l == "/etc/kiln/kiln.toml"),
        "/etc/kiln/kiln.toml is not a conffile"
    );
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)))
            .with_context(|| format!("the {script} script"))?;
    }
    let config = std::fs::read_to_string(root.join("etc/kiln/kiln.toml"))?;
    ensure!(
        config
            .lines()
            .any(|l| l.trim() == "listen = \"127.0.0.1:8080\""),
        "the default configuration does not listen on 127.0.0.1:8080"
    );
    let version = output(Command::new(root.join("usr/bin/kiln")).arg("--version"))?;
    ensure!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "kiln --version: {version}"
    );

    steps.step("the unit");
    let unit = std::fs::read_to_string(root.join(UNIT))?;
    let key = |name: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::trim)
    };
    ensure!(key("User") == Some("kiln"), "the unit does not run as kiln");
    for hardening in [
        "NoNewPrivileges",
        "ProtectSystem",
        "PrivateTmp",
        "ProtectHome",
    ] {
        ensure!(key(hardening).is_some(), "the unit lacks {hardening}=");
    }
    let exec: Vec<&str> = key("ExecStart")
        .context("the unit has no ExecStart=")?
        .split_whitespace()
        .collect();
    // systemd-analyze checks that ExecStart's binary exists: the unit pointed at the root's.
    let verify_copy = scratch.path().join("kiln.service");
    std::fs::write(
        &verify_copy,
        unit.replace(
            &format!("ExecStart={}", exec.first().copied().unwrap_or_default()),
            &format!("ExecStart={}", root.join("usr/bin/kiln").display()),
        ),
    )?;
    run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(&verify_copy))
    .context("systemd-analyze verify")?;

    steps.step("the unit's ExecStart, in the throwaway root");
    let data = scratch.subdir("data")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mut command = mapped_command(&exec, &root, &data)?;
    // As under systemd: an empty environment, the port moved off 8080 by the one variable that
    // wins over the file.
    command
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", &data)
        .env("KILN_LISTEN", addr.to_string());
    if let Some((uid, gid)) = unprivileged_user()? {
        // The private PostgreSQL refuses root, as the unit's `kiln` user is not.
        std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
        // std drops the supplementary groups when root sets a uid.
        command.uid(uid).gid(gid);
    }
    let mut kiln = ChildGuard::spawn(
        "kiln (packaged)",
        command,
        scratch.path().join("kiln.log"),
        Duration::from_secs(30),
    )?;
    common::kiln::wait_ready(&mut kiln, addr, READY_TIMEOUT).await?;
    ensure!(
        data.join("secret.key").is_file() && data.join("postgres/PG_VERSION").is_file(),
        "the data (secret key, private PostgreSQL) is not in the --data-dir the unit names"
    );

    steps.step("stopped with SIGTERM");
    kiln.stop_cleanly()?;
    Ok(())
}

/// The unit's command line with its paths in the throwaway root and `--data-dir` replaced.
fn mapped_command(exec: &[&str], root: &Path, data: &Path) -> anyhow::Result<Command> {
    let (program, args) = exec.split_first().context("ExecStart= is empty")?;
    let in_root = |path: &str| root.join(path.trim_start_matches('/'));
    let program = in_root(program);
    let mut command = Command::new(&program);
    let mut saw_data_dir = false;
    let mut previous = "";
    for arg in args {
        if previous == "--data-dir" {
            command.arg(data);
            saw_data_dir = true;
        } else if arg.starts_with('/') {
            let mapped = in_root(arg);
            ensure!(
                mapped.exists(),
                "ExecStart= names {arg}, which the package does not install"
            );
            command.arg(mapped);
        } else {
            command.arg(arg);
        }
        previous = arg;
    }
    ensure!(saw_data_dir, "ExecStart= has no --data-dir");
    Ok(command)
}

/// `nobody`'s ids when the test runs as root (kiln's private PostgreSQL refuses root).
fn unprivileged_user() -> anyhow::Result<Option<(u32, u32)>> {
    let me = output(Command::new("id").arg("-u"))?;
    if me.trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let ids = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"nobody") && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)));
    match ids {
        Some(ids) => Ok(Some(ids)),
        None => {
            bail!("running as root needs a `nobody` user to start kiln as (none in /etc/passwd)")
        }
    }
}

/// `Some(value)`, or — when missing — a failure under `CI=true` and a skip otherwise.
fn needed<T>(what: &str, get: impl FnOnce() -> Option<T>) -> anyhow::Result<Option<T>> {
    if let Some(value) = get() {
        return Ok(Some(value));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        bail!("the package test needs {what}");
    }
    eprintln!("[e2e] skipped: the package test needs {what}");
    Ok(None)
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    })
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    output(command).map(|_| ())
}

/// Runs `command`; its standard output, or an error with its standard error.
fn output(command: &mut Command) -> anyhow::Result<String> {
    let out = command
        .output()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            command.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
