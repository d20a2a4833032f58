//! Reading a template folder: `template.conf` into the model's metadata, then
//! `container-configs/` (see [`super::configs`]). Every problem becomes a [`Finding`].

use std::collections::HashMap;
use std::path::Path;

use kiln_shared::templates::{
    CPU_RANGE, DISK_GIB_RANGE, Finding, RAM_MIB_RANGE, Severity, Template, validate_config_path,
    validate_resource, validate_slug,
};

use super::packages::line_number;
use super::read::{self, Budget, Refused};
use super::{conf, config_path, configs};

/// The template in `dir` (a folder holding `template.conf`) and what is wrong with it.
/// `None` only when `template.conf` cannot be read at all. Only regular files are read, with
/// the caps of [`super::read`]; `TEMPLATE_CONFIG_PATH` is found by [`config_path::resolve`].
pub fn parse_folder(dir: &Path) -> (Option<Template>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut budget = Budget::default();
    // `kiln template lint .` names the folder by its real name.
    let slug = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            let real = dir.canonicalize().ok()?;
            Some(real.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let text = match read::read_file(&dir.join("template.conf"), &mut budget) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                findings.push(error("template.conf", None, "not valid UTF-8"));
                return (None, findings);
            }
        },
        Err(refused) => {
            findings.push(error("template.conf", None, &refused.message()));
            return (None, findings);
        }
    };
    if let Err(message) = validate_slug(&slug) {
        findings.push(Finding {
            path: ".".to_owned(),
            line: None,
            severity: Severity::Warning,
            message: format!("folder name `{slug}` is not a valid slug: {message}"),
        });
    }
    let mut template = Template::new(&slug);
    apply_conf(&mut template, &text, &mut findings);
    match read::read_file(&dir.join("README.md"), &mut budget) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(readme) => template.readme = Some(readme),
            Err(_) => findings.push(warning("README.md", None, "not valid UTF-8; not shown")),
        },
        Err(Refused::Missing) => {}
        Err(refused) => findings.push(warning("README.md", None, &refused.message())),
    }
    let (configs_dir, prefix) = match &template.config_path {
        Some(path) if validate_config_path(path).is_ok() => match config_path::resolve(dir, path) {
            Ok(resolved) => (resolved.dir, resolved.prefix),
            Err(message) => {
                findings.push(error("template.conf", None, &message));
                return (Some(template), findings);
            }
        },
        Some(_) => return (Some(template), findings),
        None => (
            dir.join("container-configs"),
            "container-configs".to_owned(),
        ),
    };
    configs::read(
        &configs_dir,
        &prefix,
        &mut template,
        &mut findings,
        &mut budget,
    );
    (Some(template), findings)
}

/// Applies each assignment of `template.conf`; the last assignment of a key wins.
fn apply_conf(template: &mut Template, text: &str, findings: &mut Vec<Finding>) {
    // Where each unknown key sits in `template.extra` (linear in the number of lines).
    let mut extra_index: HashMap<String, usize> = HashMap::new();
    // Editors on some systems start files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = Some(line_number(index));
        let (key, value) = match conf::parse_line(raw) {
            Ok(Some(pair)) => pair,
            Ok(None) => continue,
            Err(message) => {
                findings.push(error("template.conf", line, &message));
                continue;
            }
        };
        let mut resource = |what: &str, range, target: &mut u32| match value.trim().parse::<u32>() {
            Ok(n) => match validate_resource(what, n, range) {
                Ok(()) => *target = n,
                Err(message) => {
                    findings.push(error("template.conf", line, &format!("{key}: {message}")))
                }
            },
            Err(_) => findings.push(error(
                "template.conf",
                line,
                &format!("{key} `{value}` is not a number"),
            )),
        };
        match key.as_str() {
            "TEMPLATE_CPU" => resource("cores", CPU_RANGE, &mut template.cpu),
            "TEMPLATE_RAM" => resource("memory (MiB)", RAM_MIB_RANGE, &mut template.ram_mib),
            "TEMPLATE_DISK" => resource("disk (GiB)", DISK_GIB_RANGE, &mut template.disk_gib),
            "TEMPLATE_APP" => template.app = value,
            "TEMPLATE_DESCRIPTION" => template.description = value,
            "TEMPLATE_TAGS" => {
                template.tags = value
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "TEMPLATE_CONFIG_PATH" => {
                if let Err(message) = validate_config_path(&value) {
                    findings.push(error("template.conf", line, &message));
                }
                template.config_path = Some(value);
            }
            "TEMPLATE_OS" => template.os = value,
            "TEMPLATE_VERSION" => template.os_version = value,
            "TEMPLATE_UNPRIVILEGED" | "TEMPLATE_NESTING" | "TEMPLATE_KEYCTL" | "TEMPLATE_FUSE" => {
                let flag = match key.as_str() {
                    "TEMPLATE_UNPRIVILEGED" => &mut template.unprivileged,
                    "TEMPLATE_NESTING" => &mut template.nesting,
                    "TEMPLATE_KEYCTL" => &mut template.keyctl,
                    _ => &mut template.fuse,
                };
                match value.trim() {
                    "1" | "true" | "yes" => *flag = true,
                    "0" | "false" | "no" => *flag = false,
                    other => findings.push(error(
                        "template.conf",
                        line,
                        &format!("{key} `{other}` is not 0 or 1"),
                    )),
                }
            }
            _ => match extra_index
                .get(&key)
                .and_then(|&i| template.extra.get_mut(i))
            {
                Some(entry) => entry.1 = value,
                None => {
                    extra_index.insert(key.clone(), template.extra.len());
                    template.extra.push((key, value));
                }
            },
        }
    }
}

pub(super) fn error(path: &str, line: Option<u32>, message: &str) -> Finding {
    finding(Severity::Error, path, line, message)
}

pub(super) fn warning(path: &str, line: Option<u32>, message: &str) -> Finding {
    finding(Severity::Warning, path, line, message)
}

fn finding(severity: Severity, path: &str, line: Option<u32>, message: &str) -> Finding {
    Finding {
        path: path.to_owned(),
        line,
        severity,
        message: message.to_owned(),
    }
}
