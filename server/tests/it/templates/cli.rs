//! `kiln template lint` and `kiln template show --json`, run as the real binary.

use std::process::{Command, Output};

use kiln_server::templates::parse_folder;
use kiln_shared::templates::Template;

use super::fixture;

fn kiln(args: &[&str]) -> std::io::Result<Output> {
    kiln_in(&fixture(""), args)
}

fn kiln_in(cwd: &std::path::Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(cwd)
        .args(args)
        // Nothing here may need the configuration, PostgreSQL or Redis.
        .env("KILN_DATA_DIR", "/nonexistent/kiln-data")
        .output()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn lint_good_template() -> std::io::Result<()> {
    let dir = fixture("web-basic");
    let out = kiln(&["template", "lint", &dir.to_string_lossy()])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "1 template, no errors\n");
    Ok(())
}

#[test]
fn lint_bad_template() -> std::io::Result<()> {
    let dir = fixture("bad-resources");
    let shown = dir.to_string_lossy();
    let out = kiln(&["template", "lint", &shown])?;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(
        lines[0],
        format!("{shown}/template.conf:2: error: TEMPLATE_CPU `two` is not a number")
    );
    assert!(lines[2].starts_with(&format!("{shown}/template.conf:4: error: TEMPLATE_DISK")));
    let dir = fixture("missing-path");
    let out = kiln(&["template", "lint", &dir.to_string_lossy()])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with(&format!(
        "{}/container-configs/files/app.env: error: ",
        dir.to_string_lossy()
    )));
    Ok(())
}

#[test]
fn lint_folder_of_templates() -> std::io::Result<()> {
    let root = fixture("");
    let root = root.to_string_lossy();
    let root = root.trim_end_matches('/');
    let out = kiln(&["template", "lint", root])?;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    // 4 + 1 + 1 + 2 + 1 + 3 findings, all errors; the good templates add none.
    assert_eq!(stdout.lines().count(), 12, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with(root) && l.contains(": error: "))
    );
    assert_eq!(text(&out.stderr), "8 templates, 12 error(s)\n");
    Ok(())
}

#[test]
fn show_json_parses_back() -> std::io::Result<()> {
    let dir = fixture("web-basic");
    let out = kiln(&["template", "show", &dir.to_string_lossy(), "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: Template = serde_json::from_slice(&out.stdout)?;
    assert_eq!(Some(shown), parse_folder(&dir).0);
    Ok(())
}

#[test]
fn lint_dot_and_relative_paths() -> std::io::Result<()> {
    // `.` is the template folder itself: its real name is the slug, so no slug warning.
    let out = kiln_in(&fixture("web-basic"), &["template", "lint", "."])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    // TEMPLATE_CONFIG_PATH is found from `.` too.
    let out = kiln_in(
        &fixture("shared-configs"),
        &["template", "show", ".", "--json"],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: Template = serde_json::from_slice(&out.stdout)?;
    assert_eq!(shown.scripts.len(), 1);
    assert_eq!(shown.slug, "shared-configs");
    // A relative DIR stays relative in the output, so the lines stay clickable.
    let out = kiln(&["template", "lint", "bad-policy"])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "bad-policy/container-configs/files/app.conf.policy:1: error: \
         unknown policy `overwrite` (replace, default or backup)\n"
    );
    Ok(())
}

#[test]
fn no_template_here() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_string_lossy().into_owned();
    let out = kiln(&["template", "lint", &dir])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        format!("{dir}: error: no template.conf here or in any subfolder\n")
    );
    let out = kiln(&["template", "show", &dir, "--json"])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("template.conf: error: cannot read"));
    Ok(())
}
