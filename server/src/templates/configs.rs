//! Reading `container-configs/`: `scripts/`, `packages/` and `files/`.
//!
//! In each of the three folders a `README*` file and dot-files are documentation, not content.
//! Only regular files are read, through [`super::read`]: a symbolic link, FIFO, socket or
//! device is an error finding and is never opened, a subfolder is a warning.

use std::collections::HashSet;
use std::path::Path;

use base64::Engine as _;
use kiln_shared::templates::{
    FileContent, Finding, Manager, PackageBucket, Policy, Script, Template, TemplateFile,
    validate_target_dir,
};

use super::packages;
use super::parse::{error, warning};
use super::read::{self, Budget, Refused};

/// Fills scripts, packages and files of `template` from `dir`; `prefix` is how findings name
/// `dir` relative to the template folder. Reads count against `budget`.
pub fn read(
    dir: &Path,
    prefix: &str,
    template: &mut Template,
    findings: &mut Vec<Finding>,
    budget: &mut Budget,
) {
    match read::check_dir(dir) {
        Ok(()) => {}
        Err(Refused::Missing) => return,
        Err(refused) => {
            findings.push(error(prefix, None, &refused.message()));
            return;
        }
    }
    let mut ctx = Ctx {
        dir,
        findings,
        budget,
    };
    read_scripts(&mut ctx, &format!("{prefix}/scripts"), template);
    read_packages(&mut ctx, &format!("{prefix}/packages"), template);
    read_files(&mut ctx, &format!("{prefix}/files"), template);
}

/// What every reader of a sub-folder needs.
struct Ctx<'a> {
    /// The `container-configs` folder.
    dir: &'a Path,
    findings: &'a mut Vec<Finding>,
    budget: &'a mut Budget,
}

impl Ctx<'_> {
    /// The bytes of `dir/sub/name`, or a finding on `path`.
    fn read(&mut self, sub: &str, name: &str, path: &str) -> Option<Vec<u8>> {
        match read::read_file(&self.dir.join(sub).join(name), self.budget) {
            Ok(bytes) => Some(bytes),
            Err(refused) => {
                self.findings.push(error(path, None, &refused.message()));
                None
            }
        }
    }
}

/// The content entries of `dir/sub`.
struct Entries {
    /// Regular files, sorted by name, documentation skipped.
    names: Vec<String>,
    /// Entries refused with a finding already (links, FIFOs, devices...).
    refused: HashSet<String>,
}

/// The entries of `ctx.dir/sub` (see [`Entries`]); a subfolder is a warning, anything but a
/// regular file an error. A missing folder has no entries.
fn entries(ctx: &mut Ctx<'_>, sub: &str, prefix: &str) -> Entries {
    let mut out = Entries {
        names: Vec::new(),
        refused: HashSet::new(),
    };
    let listed = match read::list_dir(&ctx.dir.join(sub), read::MAX_ENTRIES) {
        Ok(listed) => listed,
        Err(Refused::Missing) => return out,
        Err(refused) => {
            ctx.findings.push(error(prefix, None, &refused.message()));
            return out;
        }
    };
    for (name, kind) in listed {
        if name.starts_with('.') || name.starts_with("README") {
            continue;
        }
        let path = format!("{prefix}/{name}");
        if kind.is_dir() {
            ctx.findings
                .push(warning(&path, None, "subfolders are not read; ignored"));
        } else if kind.is_file() {
            out.names.push(name);
            continue;
        } else if kind.is_symlink() {
            ctx.findings
                .push(error(&path, None, &Refused::Symlink.message()));
        } else {
            ctx.findings.push(error(
                &path,
                None,
                &Refused::Kind(read::describe(&kind)).message(),
            ));
        }
        out.refused.insert(name);
    }
    out
}

fn read_scripts(ctx: &mut Ctx<'_>, prefix: &str, template: &mut Template) {
    for name in entries(ctx, "scripts", prefix).names {
        let path = format!("{prefix}/{name}");
        if !name.ends_with(".sh") {
            ctx.findings
                .push(warning(&path, None, "not a `.sh` file; not run"));
            continue;
        }
        let order_key: String = name.chars().take_while(char::is_ascii_digit).collect();
        if order_key.is_empty() || !name[order_key.len()..].starts_with('-') {
            ctx.findings.push(warning(
                &path,
                None,
                "not named `NN-name.sh`; runs in lexical order of its name",
            ));
        }
        let Some(bytes) = ctx.read("scripts", &name, &path) else {
            continue;
        };
        match String::from_utf8(bytes) {
            Ok(content) => template.scripts.push(Script {
                file_name: name,
                order_key,
                content,
            }),
            Err(_) => ctx.findings.push(error(&path, None, "not valid UTF-8")),
        }
    }
}

fn read_packages(ctx: &mut Ctx<'_>, prefix: &str, template: &mut Template) {
    for name in entries(ctx, "packages", prefix).names {
        let path = format!("{prefix}/{name}");
        let Some((bucket, manager)) = name
            .rsplit_once('.')
            .and_then(|(bucket, ext)| Some((bucket, Manager::from_extension(ext)?)))
        else {
            ctx.findings.push(error(
                &path,
                None,
                "unknown package manager (the extension must be apt, apk, dnf, npm, pip or custom)",
            ));
            continue;
        };
        let Some(bytes) = ctx.read("packages", &name, &path) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            ctx.findings.push(error(&path, None, "not valid UTF-8"));
            continue;
        };
        let (packages, errors) = packages::parse_file(manager, &text);
        for (line, message) in errors {
            ctx.findings.push(error(&path, Some(line), &message));
        }
        template.packages.push(PackageBucket {
            name: bucket.to_owned(),
            manager,
            packages,
        });
    }
}

fn read_files(ctx: &mut Ctx<'_>, prefix: &str, template: &mut Template) {
    let Entries { names, refused } = entries(ctx, "files", prefix);
    let present: HashSet<&str> = names.iter().map(String::as_str).collect();
    for name in &names {
        let path = format!("{prefix}/{name}");
        if let Some(owner) = name
            .strip_suffix(".path")
            .or_else(|| name.strip_suffix(".policy"))
        {
            if !present.contains(owner) && !refused.contains(owner) {
                ctx.findings.push(warning(
                    &path,
                    None,
                    &format!("no file `{owner}` beside it"),
                ));
            }
            continue;
        }
        let path_sidecar = format!("{name}.path");
        if refused.contains(&path_sidecar) {
            // Its sidecar already has a finding; the file cannot be placed.
            continue;
        }
        if !present.contains(path_sidecar.as_str()) {
            ctx.findings.push(error(
                &path,
                None,
                &format!("no `{path_sidecar}` naming its target directory"),
            ));
            continue;
        }
        let Some(target_dir) =
            read_sidecar(ctx, &format!("{prefix}/{path_sidecar}"), &path_sidecar)
        else {
            continue;
        };
        if let Err(message) = validate_target_dir(&target_dir) {
            ctx.findings
                .push(error(&format!("{path}.path"), Some(1), &message));
            continue;
        }
        let policy_sidecar = format!("{name}.policy");
        let policy = if refused.contains(&policy_sidecar) {
            continue;
        } else if present.contains(policy_sidecar.as_str()) {
            let Some(word) =
                read_sidecar(ctx, &format!("{prefix}/{policy_sidecar}"), &policy_sidecar)
            else {
                continue;
            };
            match Policy::from_word(&word) {
                Some(policy) => policy,
                None => {
                    ctx.findings.push(error(
                        &format!("{path}.policy"),
                        Some(1),
                        &format!("unknown policy `{word}` (replace, default or backup)"),
                    ));
                    continue;
                }
            }
        } else {
            Policy::Default
        };
        let Some(bytes) = ctx.read("files", name, &path) else {
            continue;
        };
        let content = match String::from_utf8(bytes) {
            Ok(text) => FileContent::Utf8(text),
            Err(e) => FileContent::Base64(
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            ),
        };
        template.files.push(TemplateFile {
            name: name.clone(),
            target_dir,
            policy,
            content,
        });
    }
}

/// The first line of the sidecar `files/<name>`, trimmed; `None` after a finding on `path`.
fn read_sidecar(ctx: &mut Ctx<'_>, path: &str, name: &str) -> Option<String> {
    let bytes = ctx.read("files", name, path)?;
    match String::from_utf8(bytes) {
        Ok(text) => Some(text.lines().next().unwrap_or_default().trim().to_owned()),
        Err(_) => {
            ctx.findings.push(error(path, None, "not valid UTF-8"));
            None
        }
    }
}
