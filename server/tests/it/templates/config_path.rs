//! `TEMPLATE_CONFIG_PATH` is relative to the repository the template is kept in, which can be
//! several levels above the template root (`infra/lxc/templates/<name>`), or the folder may
//! have been copied out on its own.

use std::path::{Path, PathBuf};

use kiln_server::templates::parse_folder;
use kiln_shared::templates::Severity;

use super::summary;

const CONF: &str =
    "TEMPLATE_APP=Web\nTEMPLATE_CONFIG_PATH=infra/lxc/templates/web/container-configs\n";

/// `<base>/web` holding `template.conf` with the config path above and a script in its own
/// `container-configs` (where the path points inside the repository).
fn folder(base: &Path) -> std::io::Result<PathBuf> {
    let dir = base.join("web");
    let scripts = dir.join("container-configs/scripts");
    std::fs::create_dir_all(&scripts)?;
    std::fs::write(dir.join("template.conf"), CONF)?;
    std::fs::write(scripts.join("10-setup.sh"), "echo setup\n")?;
    Ok(dir)
}

fn script_names(dir: &Path) -> Vec<String> {
    parse_folder(dir)
        .0
        .iter()
        .flat_map(|t| t.scripts.iter().map(|s| s.file_name.clone()))
        .collect()
}

#[test]
fn resolved_against_the_repository_several_levels_up() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git"))?;
    let dir = folder(&repo.join("infra/lxc/templates"))?;
    let (template, findings) = parse_folder(&dir);
    assert_eq!(findings, vec![]);
    assert_eq!(template.map(|t| t.scripts.len()), Some(1));
    assert_eq!(script_names(&dir), ["10-setup.sh"]);
    Ok(())
}

#[test]
fn a_folder_copied_on_its_own_uses_its_container_configs() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = folder(&tmp.path().join("copied"))?;
    let (_, findings) = parse_folder(&dir);
    assert_eq!(findings, vec![]);
    assert_eq!(script_names(&dir), ["10-setup.sh"]);
    Ok(())
}

#[test]
fn the_finding_names_every_candidate() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git"))?;
    let dir = folder(&repo.join("templates"))?;
    std::fs::write(
        dir.join("template.conf"),
        "TEMPLATE_CONFIG_PATH=infra/other/container-configs\n",
    )?;
    let (template, findings) = parse_folder(&dir);
    assert_eq!(
        summary(&findings),
        [("template.conf".to_owned(), None, Severity::Error)]
    );
    let message = &findings[0].message;
    // The template root, then the repository root (`.git`), where the walk stops.
    assert!(
        message.contains(
            "(tried ../infra/other/container-configs, ../../infra/other/container-configs)"
        ),
        "{message}"
    );
    assert_eq!(template.map(|t| t.scripts.len()), Some(0));

    // A path ending in `<name>/container-configs` also tries the folder's own.
    std::fs::remove_dir_all(dir.join("container-configs"))?;
    std::fs::write(dir.join("template.conf"), CONF)?;
    let (_, findings) = parse_folder(&dir);
    let message = &findings[0].message;
    assert!(
        message.ends_with(", ../../infra/lxc/templates/web/container-configs, container-configs)"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_config_path_through_a_symbolic_link_is_not_followed() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("scripts"))?;
    std::fs::write(outside.join("scripts/10-evil.sh"), "echo evil\n")?;
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git"))?;
    std::os::unix::fs::symlink(&outside, repo.join("shared"))?;
    let dir = repo.join("templates/web");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("template.conf"), "TEMPLATE_CONFIG_PATH=shared\n")?;
    let (template, findings) = parse_folder(&dir);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0]
            .message
            .contains("symbolic links are not followed: ../../shared"),
        "{}",
        findings[0].message
    );
    assert_eq!(template.map(|t| t.scripts.len()), Some(0));
    Ok(())
}
