//! Provisioning inside a new container, over the node's SSH (`pct exec`/`pct push`): the
//! template's packages (per manager, non-interactive) and its scripts (in order, each once).
//! Every command is a list of arguments the SSH layer quotes (`ssh::quote::command_line`);
//! nothing a user typed is pasted into a shell line — package names were validated as one
//! word each, scripts are pushed as files and run with `bash FILE` (the helper library
//! sourced first, the container's facts as `NAME=value` arguments of `env`).

use kiln_shared::containers::CreateRequest;
use kiln_shared::templates::{
    FileContent, Manager, Package, Policy, Script, Template, TemplateFile, validate_target_dir,
};

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

/// A template file's path inside the container (its rules checked again: the template may
/// come from a folder Kiln only read).
pub fn file_path(file: &TemplateFile) -> Result<String, String> {
    validate_target_dir(&file.target_dir)?;
    if file.name.is_empty()
        || file.name.contains(['/', '\0'])
        || file.name == "."
        || file.name == ".."
    {
        return Err(format!("`{}` is not a file name", file.name));
    }
    Ok(format!(
        "{}/{}",
        file.target_dir.trim_end_matches('/'),
        file.name
    ))
}

/// A template file's bytes.
pub fn file_bytes(file: &TemplateFile) -> Result<Vec<u8>, String> {
    use base64::Engine;
    match &file.content {
        FileContent::Utf8(text) => Ok(text.as_bytes().to_vec()),
        FileContent::Base64(data) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("{}: its content is not valid base64: {e}", file.name)),
    }
}

/// What to do with a template file, given the SHA-256 (hex) of what is at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Leave the file (the reason, for the events).
    Keep(&'static str),
    /// Write it.
    Write,
    /// Move the old file aside, then write.
    BackUpThenWrite,
}

/// The policy decision for one file.
pub fn file_action(policy: Policy, existing_sha256: Option<&str>, content: &[u8]) -> FileAction {
    let Some(existing) = existing_sha256 else {
        return FileAction::Write;
    };
    let ours = hex::encode(ring::digest::digest(&ring::digest::SHA256, content).as_ref());
    if existing.eq_ignore_ascii_case(&ours) {
        return FileAction::Keep("already has this content");
    }
    match policy {
        Policy::Default => FileAction::Keep("exists; kept (policy default)"),
        Policy::Replace => FileAction::Write,
        Policy::Backup => FileAction::BackUpThenWrite,
    }
}

/// Where scripts are pushed inside the container.
pub const SCRIPT_DIR: &str = "/root/.kiln/scripts";

/// Where a script is pushed inside the container.
pub fn script_path(script: &Script) -> String {
    format!("{SCRIPT_DIR}/{}", script.file_name)
}

/// The event that says a script began (its absence with a `done` means it never ran).
pub fn script_started(name: &str) -> String {
    format!("{name}: started")
}

/// The event that says a script finished with status 0.
pub fn script_done(name: &str) -> String {
    format!("{name}: done")
}

/// The event a retry writes when the user chose not to run an unfinished script again; the
/// job then treats the script as finished.
pub fn script_skipped_on_retry(name: &str) -> String {
    format!("{name}: skipped on retry (it had not finished)")
}

/// The script that started and did not finish (interrupted, or failed), given the texts of
/// the `scripts` phase's events in order and the names of the scripts that run (a line of a
/// script's output that looks like a marker names no script); `None` when every started
/// script finished or was skipped on a retry.
pub fn unfinished_script<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    scripts: &[&str],
) -> Option<String> {
    let mut open: Option<String> = None;
    for text in texts {
        if let Some(name) = text
            .strip_suffix(": started")
            .filter(|name| scripts.contains(name))
        {
            open = Some(name.to_owned());
        } else if let Some(name) = &open
            && (text == script_done(name) || text == script_skipped_on_retry(name))
        {
            open = None;
        }
    }
    open
}

/// What a template script is told about its container (`CONTAINER_*`, `KILN_FIRST_RUN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEnv {
    /// `CONTAINER_OS` (`debian`).
    pub os: String,
    /// `CONTAINER_OS_VERSION` (`12`).
    pub os_version: String,
    /// `CONTAINER_HOSTNAME` (validated by the request's rules).
    pub hostname: String,
    /// `CONTAINER_VMID`.
    pub vmid: u32,
    /// `KILN_FIRST_RUN`: the first provisioning (a later re-apply says 0).
    pub first_run: bool,
}

/// An OS name or version as the environment gets it: letters, digits, `.`, `_`, `-`, at
/// most 32; anything else is left empty.
fn os_word(value: &str) -> String {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { value.to_owned() } else { String::new() }
}

/// The OS and version an OS template volume names (`local:vztmpl/debian-12-standard_…`
/// → `debian`, `12`), as Proxmox names its templates.
pub fn os_of_ostemplate(volume: &str) -> Option<(String, String)> {
    let file = volume.rsplit('/').next()?;
    let mut parts = file.split(['-', '_']);
    let os = parts.next().filter(|s| !s.is_empty())?;
    let version = parts
        .next()
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))?;
    Some((os.to_ascii_lowercase(), version.to_owned()))
}

impl ScriptEnv {
    /// The environment of a creation's scripts: the OS from the OS template it was made
    /// from (the template's `TEMPLATE_OS`/`TEMPLATE_VERSION` when the name says nothing).
    pub fn new(template: Option<&Template>, request: &CreateRequest, vmid: u32) -> ScriptEnv {
        let (os, os_version) = os_of_ostemplate(&request.ostemplate).unwrap_or_else(|| {
            template
                .map(|t| (t.os.clone(), t.os_version.clone()))
                .unwrap_or_default()
        });
        ScriptEnv {
            os: os_word(&os),
            os_version: os_word(&os_version),
            hostname: request.hostname.clone(),
            vmid,
            first_run: true,
        }
    }
}

/// Runs the script at `path` with the helper library sourced first (`BASH_ENV`) and the
/// environment of `env`; its stderr joins its stdout, so log lines and output keep their
/// order. Every value is its own argument (quoted by the SSH layer).
pub fn script_command(env: &ScriptEnv, path: &str) -> Vec<String> {
    vec![
        "env".to_owned(),
        format!("BASH_ENV={}", super::discover::HELPERS_PATH),
        format!("CONTAINER_OS={}", env.os),
        format!("CONTAINER_OS_VERSION={}", env.os_version),
        format!("CONTAINER_HOSTNAME={}", env.hostname),
        format!("CONTAINER_VMID={}", env.vmid),
        format!("KILN_FIRST_RUN={}", u8::from(env.first_run)),
        "bash".to_owned(),
        "-c".to_owned(),
        "exec bash -- \"$0\" 2>&1".to_owned(),
        path.to_owned(),
    ]
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
    fn file_policies() {
        let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, b"x").as_ref());
        assert_eq!(file_action(Policy::Default, None, b"x"), FileAction::Write);
        assert!(matches!(
            file_action(Policy::Default, Some("00"), b"x"),
            FileAction::Keep(_)
        ));
        assert!(matches!(
            file_action(Policy::Backup, Some(&sha), b"x"),
            FileAction::Keep(_)
        ));
        assert_eq!(
            file_action(Policy::Replace, Some("00"), b"x"),
            FileAction::Write
        );
        assert_eq!(
            file_action(Policy::Backup, Some("00"), b"x"),
            FileAction::BackUpThenWrite
        );
        let file = TemplateFile {
            name: "../x".into(),
            target_dir: "/etc".into(),
            policy: Policy::Default,
            content: FileContent::Utf8(String::new()),
        };
        assert!(file_path(&file).is_err());
    }

    #[test]
    fn scripts_run_with_the_helpers_and_the_containers_facts() {
        let mut req = request();
        req.hostname = "web-1".into();
        req.ostemplate = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into();
        let env = ScriptEnv::new(None, &req, 105);
        assert_eq!((env.os.as_str(), env.os_version.as_str()), ("debian", "12"));
        let argv = script_command(&env, "/root/.kiln/scripts/10-a.sh");
        assert_eq!(
            argv,
            [
                "env",
                "BASH_ENV=/usr/local/lib/kiln/helpers.sh",
                "CONTAINER_OS=debian",
                "CONTAINER_OS_VERSION=12",
                "CONTAINER_HOSTNAME=web-1",
                "CONTAINER_VMID=105",
                "KILN_FIRST_RUN=1",
                "bash",
                "-c",
                "exec bash -- \"$0\" 2>&1",
                "/root/.kiln/scripts/10-a.sh",
            ]
        );
        assert_eq!(
            os_of_ostemplate("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"),
            Some(("ubuntu".into(), "24.04".into()))
        );
        assert_eq!(
            os_of_ostemplate("local:vztmpl/alpine-3.19-default_20240207_amd64.tar.xz"),
            Some(("alpine".into(), "3.19".into()))
        );
        assert_eq!(os_of_ostemplate("local:vztmpl/custom.tar.zst"), None);
        // An odd template value never reaches the environment.
        let mut t = Template::new("t");
        t.os = "deb ian;reboot".into();
        req.ostemplate = "local:vztmpl/custom.tar.zst".into();
        assert_eq!(ScriptEnv::new(Some(&t), &req, 1).os, "");
    }

    #[test]
    fn the_unfinished_script_is_found_in_the_events() {
        let names = ["10-a.sh", "20-b.sh"];
        let done = script_done("10-a.sh");
        let started_a = script_started("10-a.sh");
        let started_b = script_started("20-b.sh");
        let skipped_b = script_skipped_on_retry("20-b.sh");
        let unfinished = |texts: &[&str]| unfinished_script(texts.iter().copied(), &names);
        assert_eq!(unfinished(&[&started_a, "output", &done]), None);
        assert_eq!(
            unfinished(&[&started_a, &done, &started_b, "x"]),
            Some("20-b.sh".into())
        );
        assert_eq!(unfinished(&[&started_b, &skipped_b]), None);
        // Run again after a retry, then interrupted again.
        assert_eq!(
            unfinished(&[&started_b, &started_b]),
            Some("20-b.sh".into())
        );
        // A script's output that looks like a marker is not one.
        assert_eq!(unfinished(&[&started_a, &done, "fake.sh: started"]), None);
    }

    #[test]
    fn ansi_and_carriage_returns_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[1;32mok\u{1b}[0m done\r"), "ok done");
    }
}
