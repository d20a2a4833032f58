//! Reading `container-configs/`: `scripts/`, `packages/` and `files/`.
//!
//! In each of the three folders a `README*` file and dot-files are documentation, not content.

use std::path::Path;

use base64::Engine as _;
use kiln_shared::templates::{
    FileContent, Finding, Manager, PackageBucket, Policy, Script, Template, TemplateFile,
    validate_target_dir,
};

use super::packages;
use super::parse::{error, warning};

/// Fills scripts, packages and files of `template` from `dir`; `prefix` is how findings name
/// `dir` relative to the template folder.
pub fn read(dir: &Path, prefix: &str, template: &mut Template, findings: &mut Vec<Finding>) {
    read_scripts(dir, &format!("{prefix}/scripts"), template, findings);
    read_packages(dir, &format!("{prefix}/packages"), template, findings);
    read_files(dir, &format!("{prefix}/files"), template, findings);
}

/// The content entries of `dir/sub`, sorted by name: regular files only (a subfolder is a
/// warning), documentation skipped. A missing folder has no entries.
fn entries(dir: &Path, sub: &str, prefix: &str, findings: &mut Vec<Finding>) -> Vec<String> {
    let read_dir = match std::fs::read_dir(dir.join(sub)) {
        Ok(read_dir) => read_dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            findings.push(error(prefix, None, &format!("cannot read: {e}")));
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for entry in read_dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with("README") {
            continue;
        }
        if entry.path().is_dir() {
            findings.push(warning(
                &format!("{prefix}/{name}"),
                None,
                "subfolders are not read; ignored",
            ));
            continue;
        }
        names.push(name);
    }
    names.sort();
    names
}

fn read_scripts(dir: &Path, prefix: &str, template: &mut Template, findings: &mut Vec<Finding>) {
    for name in entries(dir, "scripts", prefix, findings) {
        let path = format!("{prefix}/{name}");
        if !name.ends_with(".sh") {
            findings.push(warning(&path, None, "not a `.sh` file; not run"));
            continue;
        }
        let order_key: String = name.chars().take_while(char::is_ascii_digit).collect();
        if order_key.is_empty() || !name[order_key.len()..].starts_with('-') {
            findings.push(warning(
                &path,
                None,
                "not named `NN-name.sh`; runs in lexical order of its name",
            ));
        }
        match std::fs::read(dir.join("scripts").join(&name)) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(content) => template.scripts.push(Script {
                    file_name: name,
                    order_key,
                    content,
                }),
                Err(_) => findings.push(error(&path, None, "not valid UTF-8")),
            },
            Err(e) => findings.push(error(&path, None, &format!("cannot read: {e}"))),
        }
    }
}

fn read_packages(dir: &Path, prefix: &str, template: &mut Template, findings: &mut Vec<Finding>) {
    for name in entries(dir, "packages", prefix, findings) {
        let path = format!("{prefix}/{name}");
        let Some((bucket, manager)) = name
            .rsplit_once('.')
            .and_then(|(bucket, ext)| Some((bucket, Manager::from_extension(ext)?)))
        else {
            findings.push(error(
                &path,
                None,
                "unknown package manager (the extension must be apt, apk, dnf, npm, pip or custom)",
            ));
            continue;
        };
        let text = match std::fs::read(dir.join("packages").join(&name)).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                findings.push(error(&path, None, "not valid UTF-8"));
                continue;
            }
            Err(e) => {
                findings.push(error(&path, None, &format!("cannot read: {e}")));
                continue;
            }
        };
        let (packages, errors) = packages::parse_file(manager, &text);
        for (line, message) in errors {
            findings.push(error(&path, Some(line), &message));
        }
        template.packages.push(PackageBucket {
            name: bucket.to_owned(),
            manager,
            packages,
        });
    }
}

fn read_files(dir: &Path, prefix: &str, template: &mut Template, findings: &mut Vec<Finding>) {
    let names = entries(dir, "files", prefix, findings);
    let files_dir = dir.join("files");
    for name in &names {
        let path = format!("{prefix}/{name}");
        if let Some(owner) = name
            .strip_suffix(".path")
            .or_else(|| name.strip_suffix(".policy"))
        {
            if !names.iter().any(|n| n == owner) {
                findings.push(warning(
                    &path,
                    None,
                    &format!("no file `{owner}` beside it"),
                ));
            }
            continue;
        }
        let target_dir = match read_sidecar(&files_dir, &format!("{name}.path")) {
            Ok(Some(dir)) => dir,
            Ok(None) => {
                findings.push(error(
                    &path,
                    None,
                    &format!("no `{name}.path` naming its target directory"),
                ));
                continue;
            }
            Err(message) => {
                findings.push(error(&format!("{path}.path"), None, &message));
                continue;
            }
        };
        if let Err(message) = validate_target_dir(&target_dir) {
            findings.push(error(&format!("{path}.path"), Some(1), &message));
            continue;
        }
        let policy = match read_sidecar(&files_dir, &format!("{name}.policy")) {
            Ok(None) => Policy::Default,
            Ok(Some(word)) => match Policy::from_word(&word) {
                Some(policy) => policy,
                None => {
                    findings.push(error(
                        &format!("{path}.policy"),
                        Some(1),
                        &format!("unknown policy `{word}` (replace, default or backup)"),
                    ));
                    continue;
                }
            },
            Err(message) => {
                findings.push(error(&format!("{path}.policy"), None, &message));
                continue;
            }
        };
        let content = match std::fs::read(files_dir.join(name)) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => FileContent::Utf8(text),
                Err(e) => FileContent::Base64(
                    base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                ),
            },
            Err(e) => {
                findings.push(error(&path, None, &format!("cannot read: {e}")));
                continue;
            }
        };
        template.files.push(TemplateFile {
            name: name.clone(),
            target_dir,
            policy,
            content,
        });
    }
}

/// The first line of a sidecar, trimmed; `Ok(None)` when the sidecar does not exist.
fn read_sidecar(files_dir: &Path, name: &str) -> Result<Option<String>, String> {
    match std::fs::read(files_dir.join(name)) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_owned())?;
            Ok(Some(
                text.lines().next().unwrap_or_default().trim().to_owned(),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}
