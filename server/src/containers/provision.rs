//! Provisioning inside a new container, over the node's SSH (`pct exec`/`pct push`): the
//! template's packages (per manager, non-interactive) and its scripts (in order, each once).
//! Every command is a list of arguments the SSH layer quotes (`ssh::quote::command_line`);
//! nothing a user typed is pasted into a shell line — package names were validated as one
//! word each, scripts are pushed as files and run with `bash FILE`.

use kiln_shared::containers::CreateRequest;
use kiln_shared::templates::{Manager, Package, Script, Template};

use crate::ssh::shell::Output;

/// How many output lines of one command become events (the rest is summarized).
pub const MAX_LINES: usize = 200;

/// One install step: the manager's install command for plain packages, or a custom line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `manager` installs `packages` (one command).
    Install {
        /// The manager.
        manager: Manager,
        /// Package names as the manager spells them.
        packages: Vec<String>,
    },
    /// A `custom` package: `install` runs only when `check` fails.
    Custom {
        /// Its name.
        name: String,
        /// The check command (a shell line from the reviewed template).
        check: String,
        /// The install command (a shell line from the reviewed template).
        install: String,
    },
}

/// The packages to install: the template's buckets the user kept, without the packages they
/// removed, plus the ones they added (installed with apt, the lab's and Debian's manager).
pub fn plan(template: Option<&Template>, request: &CreateRequest) -> Vec<Step> {
    let mut by_manager: Vec<(Manager, Vec<String>)> = Vec::new();
    let mut customs = Vec::new();
    let mut add = |manager: Manager, name: &str| {
        if request.packages_removed.iter().any(|r| r == name) {
            return;
        }
        match by_manager.iter_mut().find(|(m, _)| *m == manager) {
            Some((_, list)) if list.iter().any(|p| p == name) => {}
            Some((_, list)) => list.push(name.to_owned()),
            None => by_manager.push((manager, vec![name.to_owned()])),
        }
    };
    for bucket in template.map(|t| t.packages.as_slice()).unwrap_or_default() {
        if request.buckets_off.contains(&bucket.name) {
            continue;
        }
        for package in &bucket.packages {
            match package {
                Package::Plain(name) => add(bucket.manager, name),
                Package::Custom {
                    name,
                    check,
                    install,
                    ..
                } if !request.packages_removed.iter().any(|r| r == name) => {
                    customs.push(Step::Custom {
                        name: name.clone(),
                        check: check.clone(),
                        install: install.clone(),
                    });
                }
                Package::Custom { .. } => {}
            }
        }
    }
    for name in &request.packages_added {
        add(Manager::Apt, name);
    }
    let mut steps: Vec<Step> = by_manager
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(manager, packages)| Step::Install { manager, packages })
        .collect();
    steps.extend(customs);
    steps
}

/// The commands (argument lists, run in order inside the container) of an install step.
pub fn commands(step: &Step) -> Vec<Vec<String>> {
    let owned = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    match step {
        Step::Install { manager, packages } => {
            let with = |mut base: Vec<String>| {
                base.extend(packages.iter().cloned());
                base
            };
            match manager {
                Manager::Apt => vec![
                    owned(&[
                        "env",
                        "DEBIAN_FRONTEND=noninteractive",
                        "apt-get",
                        "update",
                        "-q",
                    ]),
                    with(owned(&[
                        "env",
                        "DEBIAN_FRONTEND=noninteractive",
                        "apt-get",
                        "install",
                        "-y",
                        "-q",
                        "--no-install-recommends",
                    ])),
                ],
                Manager::Apk => vec![with(owned(&["apk", "add", "--no-cache"]))],
                Manager::Dnf => vec![with(owned(&["dnf", "install", "-y"]))],
                Manager::Pip => vec![with(owned(&["python3", "-m", "pip", "install"]))],
                Manager::Npm => vec![with(owned(&["npm", "install", "-g"]))],
                Manager::Custom => Vec::new(),
            }
        }
        Step::Custom { install, .. } => vec![owned(&["sh", "-c", install])],
    }
}

/// The scripts to run, in order, without the skipped ones.
pub fn scripts<'a>(template: Option<&'a Template>, request: &CreateRequest) -> Vec<&'a Script> {
    let mut list: Vec<&Script> = template
        .map(|t| t.scripts.iter().collect())
        .unwrap_or_default();
    list.retain(|s| !request.scripts_skipped.contains(&s.file_name));
    list.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    list
}

/// Where scripts are pushed inside the container.
pub const SCRIPT_DIR: &str = "/root/.kiln/scripts";

/// Where a script is pushed inside the container.
pub fn script_path(script: &Script) -> String {
    format!("{SCRIPT_DIR}/{}", script.file_name)
}

/// A command's output as event lines: stdout then stderr, the last [`MAX_LINES`].
pub fn output_lines(output: &Output) -> Vec<String> {
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    let lines: Vec<String> = text
        .lines()
        .map(|l| strip_ansi(l).trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let skip = lines.len().saturating_sub(MAX_LINES);
    let mut out = Vec::new();
    if skip > 0 {
        out.push(format!("… {skip} earlier lines"));
    }
    out.extend(lines.into_iter().skip(skip));
    out
}

/// The last `n` lines of an output, for an error message.
pub fn tail(output: &Output, n: usize) -> String {
    let lines = output_lines(output);
    let start = lines.len().saturating_sub(n);
    lines[start..].join(" / ")
}

/// Removes ANSI escape sequences (colours, cursor moves) from a line.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\r' || (c.is_control() && c != '\t') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_shared::templates::PackageBucket;

    fn request() -> CreateRequest {
        serde_json::from_value(serde_json::json!({
            "template": "t", "node_id": 1, "hostname": "h", "vmid": null,
            "ostemplate": "local:vztmpl/x.tar.zst", "storage": "local-lvm", "disk_gib": 4,
            "cores": 1, "memory_mib": 256, "swap_mib": 0, "bridge": "vmbr0",
            "ipv4": {"mode": "dhcp"}, "nameserver": null, "unprivileged": true,
            "nesting": false, "keyctl": false, "fuse": false, "onboot": false, "tags": [],
            "root_password": null, "ssh_public_keys": null,
            "buckets_off": ["extras"], "packages_added": ["jq"],
            "packages_removed": ["vim"], "scripts_skipped": ["20-skip.sh"]
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_plan_follows_the_users_choices() {
        let mut t = Template::new("t");
        t.packages = vec![
            PackageBucket {
                name: "base".into(),
                manager: Manager::Apt,
                packages: vec![
                    Package::Plain("curl".into()),
                    Package::Plain("vim".into()),
                    Package::Custom {
                        name: "tool".into(),
                        check: "command -v tool".into(),
                        install: "echo install".into(),
                        timeout_secs: None,
                    },
                ],
            },
            PackageBucket {
                name: "extras".into(),
                manager: Manager::Apt,
                packages: vec![Package::Plain("htop".into())],
            },
        ];
        let steps = plan(Some(&t), &request());
        assert_eq!(
            steps,
            [
                Step::Install {
                    manager: Manager::Apt,
                    packages: vec!["curl".into(), "jq".into()]
                },
                Step::Custom {
                    name: "tool".into(),
                    check: "command -v tool".into(),
                    install: "echo install".into()
                }
            ]
        );
        let cmds = commands(&steps[0]);
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[1].last().map(String::as_str), Some("jq"));
        t.scripts = vec![
            Script {
                file_name: "20-skip.sh".into(),
                order_key: "20".into(),
                content: String::new(),
            },
            Script {
                file_name: "10-first.sh".into(),
                order_key: "10".into(),
                content: String::new(),
            },
        ];
        let names: Vec<&str> = scripts(Some(&t), &request())
            .iter()
            .map(|s| s.file_name.as_str())
            .collect();
        assert_eq!(names, ["10-first.sh"]);
    }

    #[test]
    fn ansi_and_carriage_returns_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[1;32mok\u{1b}[0m done\r"), "ok done");
    }
}
