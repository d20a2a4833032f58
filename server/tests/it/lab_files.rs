//! The lab's files on the host: `lab-state.json` (it holds token secrets and the root
//! password) is private, and a container's scratch root never makes the lab write through a
//! symbolic link the container planted. The scratch tests need `bwrap` (Debian `bubblewrap`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kiln_server::lab::runtime::ContainerShell;
use kiln_server::lab::scratch::{ScratchShell, root_of};
use kiln_server::lab::{self, LabOptions};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0)
}

fn entries(dir: &Path) -> R<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_file_is_mode_600() -> R {
    let dir = tempfile::tempdir()?;
    // A state file an older lab left readable by everyone is replaced by a private one.
    let lab = lab::start(LabOptions::new(dir.path())).await?;
    lab.shutdown().await?;
    let state = dir.path().join("lab-state.json");
    assert_eq!(mode(&state), 0o600, "first start");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644))?;
    let lab = lab::start(LabOptions::new(dir.path())).await?;
    assert_eq!(mode(&state), 0o600, "after a restart");
    let text = std::fs::read_to_string(&state)?;
    assert!(text.contains(&lab.password), "the state holds the password");
    lab.shutdown().await?;
    let leftovers: Vec<String> = entries(dir.path())?
        .into_iter()
        .filter(|n| n.starts_with("lab-state.json."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

/// A scratch root whose `/etc`, `/root` and `/tmp` are links to "host" directories (stand-ins
/// for the host's `/etc`, `/root/.ssh`, ...): running a command, pushing and pulling leave
/// the link targets exactly as they were.
#[test]
fn the_scratch_setup_never_writes_through_a_containers_links() -> R {
    let data = tempfile::tempdir()?;
    let host = tempfile::tempdir()?;
    let shell = ScratchShell::new(data.path());
    // A first command makes the skeleton; then the container replaces parts with links.
    assert_eq!(shell.exec(101, "web", &["true".into()])?, 0);
    let root = root_of(data.path(), 101);
    let mut victims = Vec::new();
    for name in ["etc", "root", "tmp", "home"] {
        let victim = host.path().join(format!("host-{name}"));
        std::fs::create_dir(&victim)?;
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755))?;
        std::fs::remove_dir_all(root.join(name))?;
        std::os::unix::fs::symlink(&victim, root.join(name))?;
        victims.push(victim);
    }
    // `var` becomes a link too, so `var/tmp` would be made on the host.
    std::fs::remove_dir_all(root.join("var"))?;
    std::os::unix::fs::symlink(host.path(), root.join("var"))?;

    // (The command itself may fail: its `/root` no longer leads anywhere inside.)
    let _ = shell.exec(101, "web", &["true".into()]);
    // Push and pull run inside the sandbox: the links' targets are not the host's there.
    let _ = shell.push(101, "web", b"planted\n", "/etc/planted", 0o644, None);
    let _ = shell.push(101, "web", b"ssh-ed25519 AAAA\n", "/root/.ssh", 0o600, None);
    let _ = shell.pull(101, "web", "/etc/passwd");
    for victim in &victims {
        assert!(entries(victim)?.is_empty(), "{} written", victim.display());
        assert_eq!(mode(victim), 0o755, "{} chmod-ed", victim.display());
    }
    let mut host_names = entries(host.path())?;
    host_names.retain(|n| !n.starts_with("host-"));
    assert!(host_names.is_empty(), "made on the host: {host_names:?}");

    // A link in place of a directory the sandbox mounts over refuses the command.
    std::fs::remove_dir_all(root.join("dev"))?;
    std::os::unix::fs::symlink(&victims[0], root.join("dev"))?;
    let refused = shell.exec(101, "web", &["true".into()]);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("/dev is a symbolic link")),
        "{refused:?}"
    );
    assert!(entries(&victims[0])?.is_empty());
    Ok(())
}

/// Seed files the container replaced with links are left alone (not written through).
#[test]
fn seed_files_that_are_links_are_not_followed() -> R {
    let data = tempfile::tempdir()?;
    let host = tempfile::tempdir()?;
    let shell = ScratchShell::new(data.path());
    let root = root_of(data.path(), 102);
    std::fs::create_dir_all(root.join("etc"))?;
    let target = host.path().join("authorized_keys");
    for name in ["passwd", "hostname", "hosts"] {
        std::os::unix::fs::symlink(&target, root.join("etc").join(name))?;
    }
    assert_eq!(shell.exec(102, "db", &["true".into()])?, 0);
    assert!(!target.exists(), "a seed file was written through a link");
    assert!(
        root.join("etc/group").is_file(),
        "the other seed files are made"
    );
    Ok(())
}
