//! The built-in templates in `server/builtin-templates/`: each lints clean, has scripts,
//! packages and files, its scripts parse with `bash -n`, and a script that generates a
//! password saves it with `save_credential`. None of these need PostgreSQL or Redis.

use std::io::Result;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_server::templates::{lint_path, parse_folder};
use kiln_shared::templates::{Severity, Template};

/// The built-in templates every release ships; more may be added.
const EXPECTED: [&str; 4] = [
    "debian-base",
    "docker-host",
    "nginx-web",
    "postgresql-server",
];

fn builtins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("builtin-templates")
}

/// Every built-in template folder, parsed; panics with the findings when one does not parse.
fn builtins() -> Result<Vec<(PathBuf, Template)>> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(builtins_dir())?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    let mut parsed = Vec::new();
    for folder in folders {
        let (template, findings) = parse_folder(&folder);
        let Some(template) = template else {
            panic!("{} does not parse: {findings:?}", folder.display());
        };
        parsed.push((folder, template));
    }
    Ok(parsed)
}

#[test]
fn builtins_are_all_there() -> Result<()> {
    let slugs: Vec<String> = builtins()?.into_iter().map(|(_, t)| t.slug).collect();
    for expected in EXPECTED {
        assert!(
            slugs.iter().any(|s| s == expected),
            "{expected} missing: {slugs:?}"
        );
    }
    Ok(())
}

#[test]
fn builtins_lint_without_findings() {
    let results = lint_path(&builtins_dir());
    assert!(results.len() >= EXPECTED.len(), "{results:?}");
    for (folder, findings) in results {
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        assert_eq!(errors, 0, "{}: {findings:?}", folder.display());
        // No warnings either.
        assert!(findings.is_empty(), "{}: {findings:?}", folder.display());
    }
}

#[test]
fn builtins_have_scripts_packages_and_files() -> Result<()> {
    for (folder, template) in builtins()? {
        let name = folder.display();
        assert!(!template.scripts.is_empty(), "{name}: no scripts");
        assert!(
            template.packages.iter().any(|b| !b.packages.is_empty()),
            "{name}: no package bucket"
        );
        assert!(!template.files.is_empty(), "{name}: no files");
        for file in &template.files {
            let policy = folder
                .join("container-configs/files")
                .join(format!("{}.policy", file.name));
            assert!(policy.is_file(), "{name}: {} has no .policy", file.name);
            assert!(file.target_dir.starts_with('/'), "{name}: {}", file.name);
        }
        assert_eq!(template.os, "debian", "{name}");
        assert_eq!(template.os_version, "12", "{name}");
        assert!(template.unprivileged, "{name}");
        assert!(!template.description.is_empty(), "{name}: no description");
        assert!(!template.tags.is_empty(), "{name}: no tags");
        assert!(template.readme.is_some(), "{name}: no README.md");
        for script in &template.scripts {
            let file = &script.file_name;
            assert!(
                !script.order_key.is_empty(),
                "{name}: {file} not NN-name.sh"
            );
            assert!(
                script.content.contains("set -euo pipefail"),
                "{name}: {file} lacks `set -euo pipefail`"
            );
        }
    }
    Ok(())
}

#[test]
fn docker_host_has_nesting_and_keyctl() -> Result<()> {
    let docker = builtins()?
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| t.slug == "docker-host");
    let Some(docker) = docker else {
        panic!("docker-host is missing");
    };
    assert!(docker.nesting && docker.keyctl);
    assert!(
        docker.tags.iter().any(|t| t == "docker"),
        "{:?}",
        docker.tags
    );
    Ok(())
}

#[test]
fn builtin_scripts_pass_bash_n() -> Result<()> {
    for (folder, template) in builtins()? {
        for script in &template.scripts {
            let path = folder
                .join("container-configs/scripts")
                .join(&script.file_name);
            let out = Command::new("bash").arg("-n").arg(&path).output()?;
            assert!(
                out.status.success(),
                "bash -n {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

#[test]
fn generated_passwords_are_saved() -> Result<()> {
    let mut generating = 0;
    for (folder, template) in builtins()? {
        for script in &template.scripts {
            if script.content.contains("generate_password") {
                generating += 1;
                assert!(
                    script.content.contains("save_credential "),
                    "{}: {} generates a password but never calls save_credential",
                    folder.display(),
                    script.file_name
                );
            }
        }
    }
    // postgresql-server generates its app password.
    assert!(generating >= 1);
    Ok(())
}

#[test]
fn builtins_lint_with_the_cli() -> Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["template", "lint"])
        .arg(builtins_dir())
        // Nothing here may need the configuration, PostgreSQL or Redis.
        .env("KILN_DATA_DIR", "/nonexistent/kiln-data")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(stderr.ends_with("templates, no errors\n"), "{stderr}");
    Ok(())
}
