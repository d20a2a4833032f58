//! The helper library (`kiln-helpers.sh`) run by the machine's bash, as template scripts run
//! it: sourced first, under `set -euo pipefail`. Package managers are stand-ins on `PATH`
//! that record how they were called; everything else is real.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_shared::progress::{LogLevel, helper_log};

use super::{HELPERS, parse_env};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

struct Lab {
    dir: tempfile::TempDir,
    lib: PathBuf,
}

impl Lab {
    fn new() -> R<Lab> {
        let dir = tempfile::tempdir()?;
        let lib = dir.path().join("helpers.sh");
        std::fs::write(&lib, HELPERS)?;
        Ok(Lab { dir, lib })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `script` in bash with the library sourced through `BASH_ENV` (as Kiln does),
    /// under `set -euo pipefail`, with the credentials folder inside the lab.
    fn run(&self, script: &str) -> R<Output> {
        self.run_with_path(script, None)
    }

    fn run_with_path(&self, script: &str, path: Option<&Path>) -> R<Output> {
        let body = format!(
            "set -euo pipefail\n_KILN_CREDENTIALS_DIR={}\n{script}",
            self.path("credentials").display()
        );
        let mut cmd = Command::new("/bin/bash");
        cmd.arg("-c")
            .arg(body)
            .env("BASH_ENV", &self.lib)
            .env("LAB", self.dir.path());
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        Ok(cmd.output()?)
    }

    /// A `bin` folder holding `tools` (links to the machine's) and `fakes` (scripts).
    fn bin(&self, name: &str, tools: &[&str], fakes: &[(&str, &str)]) -> R<PathBuf> {
        let bin = self.path(name);
        std::fs::create_dir_all(&bin)?;
        for tool in tools {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists())
                .ok_or_else(|| format!("{tool} not on this machine"))?;
            symlink(real, bin.join(tool))?;
        }
        for (fake, body) in fakes {
            let file = bin.join(fake);
            std::fs::write(&file, format!("#!/bin/bash\n{body}\n"))?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(bin)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sourcing_prints_nothing_and_changes_no_option() -> R {
    let lab = Lab::new()?;
    let out = Command::new("/bin/bash")
        .arg("-c")
        .arg(format!(
            "before=$(set +o; shopt -p); source {}; after=$(set +o; shopt -p); [[ $before == \"$after\" ]]",
            lab.lib.display()
        ))
        .output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!((out.stdout.len(), out.stderr.len()), (0, 0));
    Ok(())
}

#[test]
fn log_lines_are_timestamped_recognisable_and_never_captured() -> R {
    let lab = Lab::new()?;
    let out = lab.run(
        "log_info pre-checks passed on host\nlog_warn 'disk  is small'\nlog_error\n\
         captured=$(log_info inside a substitution)\n[[ -z $captured ]]\necho plain output",
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "plain output\n");
    let lines: Vec<String> = text(&out.stderr).lines().map(str::to_owned).collect();
    let parsed: Vec<_> = lines.iter().map(|l| helper_log(l)).collect();
    assert_eq!(
        parsed,
        [
            Some((LogLevel::Info, "pre-checks passed on host")),
            Some((LogLevel::Warn, "disk  is small")),
            Some((LogLevel::Error, "")),
            Some((LogLevel::Info, "inside a substitution")),
        ],
        "{lines:?}"
    );
    Ok(())
}

#[test]
fn is_installed_looks_for_programs_on_path() -> R {
    let lab = Lab::new()?;
    let out = lab.run(
        "is_installed bash\n! is_installed no-such-program-kiln\nf() { :; }\n! is_installed f\n\
         set +e; is_installed; echo \"usage=$?\"",
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "usage=2\n");
    Ok(())
}

#[test]
fn passwords_are_random_letters_and_digits() -> R {
    let lab = Lab::new()?;
    let out = lab.run(
        "a=$(generate_password)\nb=$(generate_password)\nc=$(generate_password 300)\n\
         echo \"$a\"; echo \"$b\"; echo \"$c\"\n\
         set +e; generate_password 7; echo \"short=$?\"; generate_password x; echo \"word=$?\"",
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!((lines[0].len(), lines[2].len()), (16, 300));
    assert_ne!(lines[0], lines[1]);
    assert!(
        lines[..3]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric()))
    );
    assert_eq!(lines[3..], ["short=2", "word=2"]);
    Ok(())
}

#[test]
fn save_credential_writes_a_private_file_and_updates_keys_in_place() -> R {
    let lab = Lab::new()?;
    let out = lab.run(
        "save_credential postgresql DB_USER app\n\
         save_credential postgresql DB_PASSWORD 'p w \"q\" $(touch $LAB/pwned) `x` ;'\n\
         save_credential postgresql DB_USER owner\n\
         save_credential postgresql EMPTY ''\n\
         save_credential my-app.v2 TOKEN t",
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = lab.path("credentials");
    let file = dir.join("postgresql.env");
    assert_eq!(
        std::fs::read_to_string(&file)?,
        "DB_USER=owner\nDB_PASSWORD=p w \"q\" $(touch $LAB/pwned) `x` ;\nEMPTY=\n"
    );
    assert!(!lab.path("pwned").exists(), "the value was not run");
    assert_eq!(
        std::fs::metadata(&file)?.permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);
    let names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    // Discovery reads back exactly what was saved.
    let (pairs, skipped) = parse_env(&std::fs::read_to_string(&file)?);
    assert_eq!(skipped, 0);
    assert_eq!(pairs[1].1, "p w \"q\" $(touch $LAB/pwned) `x` ;");
    Ok(())
}

#[test]
fn save_credential_refuses_hostile_names_and_values() -> R {
    let lab = Lab::new()?;
    std::fs::create_dir_all(lab.path("credentials"))?;
    std::fs::write(lab.path("target"), "untouched\n")?;
    symlink(lab.path("target"), lab.path("credentials/link.env"))?;
    let calls = [
        ("../evil", "K", "v"),
        ("a/b", "K", "v"),
        ("", "K", "v"),
        (".hidden", "K", "v"),
        ("a b", "K", "v"),
        ("x;touch $LAB/pwned", "K", "v"),
        ("ok", "A-B", "v"),
        ("ok", "1A", "v"),
        ("ok", "A=B", "v"),
        ("ok", "", "v"),
        ("ok", "$(touch $LAB/pwned)", "v"),
        ("ok", "K", "line\nINJECTED=1"),
        ("ok", "K", "carriage\rreturn"),
    ];
    for (service, key, value) in calls {
        let script = "set +e; save_credential \"$1\" \"$2\" \"$3\"; echo \"status=$?\"";
        let out = Command::new("/bin/bash")
            .arg("-c")
            .arg(format!(
                "_KILN_CREDENTIALS_DIR={}\n{script}",
                lab.path("credentials").display()
            ))
            .args(["test", service, key, value])
            .env("BASH_ENV", &lab.lib)
            .env("LAB", lab.dir.path())
            .output()?;
        assert_eq!(
            text(&out.stdout),
            "status=2\n",
            "{service:?} {key:?} {value:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("ERROR: save_credential"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = lab.run("set +e; save_credential link K v; echo \"status=$?\"")?;
    assert_eq!(text(&out.stdout), "status=1\n", "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(lab.path("target"))?, "untouched\n");
    assert!(!lab.path("pwned").exists());
    assert!(!lab.path("evil.env").exists());
    let written: Vec<_> = std::fs::read_dir(lab.path("credentials"))?.collect();
    assert_eq!(written.len(), 1, "only the link: {written:?}");
    let too_many = lab.run("set +e; save_credential a b; echo \"status=$?\"")?;
    assert_eq!(text(&too_many.stdout), "status=2\n");
    Ok(())
}

#[test]
fn wait_for_apt_lock_waits_while_a_process_holds_the_lock() -> R {
    let lab = Lab::new()?;
    let lock = lab.path("lock-frontend");
    std::fs::write(&lock, "")?;
    let lock = lock.display();
    // Free: at once.
    let out = lab.run(&format!(
        "_KILN_APT_LOCK_FILES=({lock})\nSECONDS=0\nwait_for_apt_lock 5\n((SECONDS < 2))"
    ))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Held for good (by this shell): gives up after the timeout, saying why.
    let out = lab.run(&format!(
        "_KILN_APT_LOCK_FILES=({lock})\nexec 9>{lock}\nflock 9\n\
         set +e; wait_for_apt_lock 1; echo \"status=$?\""
    ))?;
    assert_eq!(text(&out.stdout), "status=1\n", "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("still locked"));
    // Released while waiting: goes on.
    let out = lab.run(&format!(
        "_KILN_APT_LOCK_FILES=({lock})\nflock {lock} sleep 1.5 &\nsleep 0.5\n\
         SECONDS=0\nwait_for_apt_lock 20\n((SECONDS >= 1))\necho went on"
    ))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("waiting for another apt/dpkg run"));
    Ok(())
}

const TOOLS: [&str; 7] = ["bash", "grep", "head", "tr", "cat", "sleep", "stat"];

#[test]
fn ensure_installed_uses_apt_non_interactively_for_missing_packages_only() -> R {
    let lab = Lab::new()?;
    let bin = lab.bin(
        "apt-bin",
        &TOOLS,
        &[
            (
                "apt-get",
                "printf 'DEBIAN_FRONTEND=%s %s\\n' \"$DEBIAN_FRONTEND\" \"$*\" >> \"$LAB/calls\"",
            ),
            (
                "dpkg-query",
                "[[ ${@: -1} == present ]] && printf 'install ok installed'; [[ ${@: -1} == present ]]",
            ),
        ],
    )?;
    let out = lab.run_with_path("ensure_installed present missing 'nodejs=24.*'", Some(&bin))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls = std::fs::read_to_string(lab.path("calls"))?;
    let install = calls
        .lines()
        .find(|l| l.contains(" install "))
        .ok_or(calls.clone())?;
    assert!(
        install.starts_with("DEBIAN_FRONTEND=noninteractive -q -y "),
        "{install}"
    );
    assert!(install.contains("--force-confold"), "{install}");
    assert!(
        install.ends_with("install --no-install-recommends -- missing nodejs=24.*"),
        "{install}"
    );
    // Nothing missing: apt is not called.
    std::fs::remove_file(lab.path("calls"))?;
    let out = lab.run_with_path("ensure_installed present", Some(&bin))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!lab.path("calls").exists());
    // Options and shell words are not package names.
    for hostile in ["-o=APT::x", "a;b", "$(id)", "", "--"] {
        let out = lab.run_with_path(
            &format!("set +e; ensure_installed present '{hostile}'; echo \"status=$?\""),
            Some(&bin),
        )?;
        assert_eq!(text(&out.stdout), "status=2\n", "{hostile}");
    }
    assert!(!lab.path("calls").exists(), "nothing installed");
    Ok(())
}

#[test]
fn ensure_installed_uses_apk_or_dnf_where_apt_is_missing() -> R {
    let lab = Lab::new()?;
    let apk = lab.bin(
        "apk-bin",
        &TOOLS,
        &[(
            "apk",
            "[[ $1 == info ]] && { [[ ${@: -1} == present ]]; exit; }; echo \"apk $*\" >> \"$LAB/calls\"",
        )],
    )?;
    let out = lab.run_with_path("ensure_installed present curl", Some(&apk))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dnf = lab.bin(
        "dnf-bin",
        &TOOLS,
        &[
            ("rpm", "[[ ${@: -1} == present ]]"),
            ("dnf", "echo \"dnf $*\" >> \"$LAB/calls\""),
        ],
    )?;
    let out = lab.run_with_path("ensure_installed present httpd", Some(&dnf))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(lab.path("calls"))?,
        "apk add --no-cache -- curl\ndnf install -y -- httpd\n"
    );
    let none = lab.bin("no-bin", &TOOLS, &[])?;
    let out = lab.run_with_path(
        "set +e; ensure_installed curl; echo \"status=$?\"",
        Some(&none),
    )?;
    assert_eq!(text(&out.stdout), "status=1\n");
    assert!(text(&out.stderr).contains("no package manager found"));
    Ok(())
}
