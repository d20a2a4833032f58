//! Folders that try to make Kiln read what is not theirs: symbolic links (to `/etc/passwd`,
//! to folders outside), FIFOs (which would block a reader forever), oversize files and
//! folders with too many entries. Each is a finding; nothing behind it is read.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use kiln_server::templates::read::{MAX_ENTRIES, MAX_FILE_BYTES, MAX_TOTAL_BYTES};
use kiln_server::templates::{lint_path, parse_folder};
use kiln_shared::templates::{FileContent, Finding, Severity, Template};

use super::summary;

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;
const S: &str = "container-configs/scripts";
const F: &str = "container-configs/files";

/// A template folder `<tmp>/<slug>` with `template.conf` and empty content folders.
fn new_folder(tmp: &Path, slug: &str) -> std::io::Result<PathBuf> {
    let dir = tmp.join(slug);
    for sub in ["scripts", "packages", "files"] {
        std::fs::create_dir_all(dir.join("container-configs").join(sub))?;
    }
    std::fs::write(dir.join("template.conf"), "TEMPLATE_APP=x\n")?;
    Ok(dir)
}

/// `parse_folder` on another thread: a reader blocked on a FIFO fails the test instead of
/// hanging it.
fn parse_within_10s(dir: &Path) -> (Option<Template>, Vec<Finding>) {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(parse_folder(&dir));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("parse_folder did not return within 10 s (blocked?)"))
}

fn at(path: &str, severity: Severity) -> (String, Option<u32>, Severity) {
    (path.to_owned(), None, severity)
}

fn mkfifo(path: &Path) -> nix::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
}

fn no_passwd(t: &Template) {
    let json = serde_json::to_string(t).unwrap_or_default();
    assert!(!json.contains("root:"), "/etc/passwd was read: {json}");
}

#[test]
fn symlinks_to_files_are_findings_and_never_read() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = new_folder(tmp.path(), "links")?;
    let configs = dir.join("container-configs");
    let passwd = Path::new("/etc/passwd");
    std::os::unix::fs::symlink(passwd, configs.join("scripts/10-passwd.sh"))?;
    std::fs::write(configs.join("scripts/20-ok.sh"), "echo ok\n")?;
    std::os::unix::fs::symlink(passwd, configs.join("packages/base.apt"))?;
    std::os::unix::fs::symlink(passwd, configs.join("files/passwd"))?;
    std::fs::write(configs.join("files/passwd.path"), "/etc\n")?;
    // A sidecar that is a link: the file it describes is not pushed.
    std::fs::write(configs.join("files/motd"), "hello\n")?;
    std::os::unix::fs::symlink(passwd, configs.join("files/motd.path"))?;
    std::os::unix::fs::symlink(passwd, dir.join("README.md"))?;
    let (template, findings) = parse_within_10s(&dir);
    assert_eq!(
        summary(&findings),
        [
            at("README.md", W),
            at(&format!("{S}/10-passwd.sh"), E),
            at("container-configs/packages/base.apt", E),
            at(&format!("{F}/motd.path"), E),
            at(&format!("{F}/passwd"), E),
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.path == "README.md" || f.message.contains("symbolic link")),
        "{findings:?}"
    );
    let t = template.ok_or("not parsed")?;
    no_passwd(&t);
    assert!(t.readme.is_none() && t.packages.is_empty() && t.files.is_empty());
    assert_eq!(t.scripts.len(), 1, "the regular script is still read");

    // A linked template.conf: the folder cannot be read at all.
    let conf = new_folder(tmp.path(), "linked-conf")?;
    std::fs::remove_file(conf.join("template.conf"))?;
    std::os::unix::fs::symlink(passwd, conf.join("template.conf"))?;
    let (none, findings) = parse_within_10s(&conf);
    assert!(none.is_none());
    assert_eq!(summary(&findings), [at("template.conf", E)]);
    assert!(findings[0].message.contains("symbolic link"));
    Ok(())
}

#[test]
fn symlinked_folders_are_not_followed() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("scripts"))?;
    std::fs::write(outside.join("scripts/10-evil.sh"), "echo evil\n")?;
    std::fs::write(outside.join("10-evil.sh"), "echo evil\n")?;

    // `scripts/` itself a link to a folder outside the template.
    let dir = new_folder(tmp.path(), "linked-scripts")?;
    let scripts = dir.join("container-configs/scripts");
    std::fs::remove_dir(&scripts)?;
    std::os::unix::fs::symlink(&outside, &scripts)?;
    let (template_a, findings) = parse_within_10s(&dir);
    assert_eq!(summary(&findings), [at(S, E)]);
    assert!(findings[0].message.contains("symbolic link"));
    assert_eq!(template_a.map(|t| t.scripts.len()), Some(0));

    // `container-configs` a link.
    let dir = tmp.path().join("linked-configs");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("template.conf"), "TEMPLATE_APP=x\n")?;
    std::os::unix::fs::symlink(&outside, dir.join("container-configs"))?;
    let (template_b, findings) = parse_within_10s(&dir);
    assert_eq!(summary(&findings), [at("container-configs", E)]);
    assert_eq!(template_b.map(|t| t.scripts.len()), Some(0));

    // A link to a folder inside `scripts/`: reported, not a subfolder warning.
    let dir = new_folder(tmp.path(), "linked-subfolder")?;
    std::os::unix::fs::symlink(&outside, dir.join("container-configs/scripts/more"))?;
    let (_, findings) = parse_within_10s(&dir);
    assert_eq!(summary(&findings), [at(&format!("{S}/more"), E)]);
    Ok(())
}

#[test]
fn fifos_are_findings_and_do_not_block() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = new_folder(tmp.path(), "fifos")?;
    let configs = dir.join("container-configs");
    mkfifo(&configs.join("scripts/10-fifo.sh"))?;
    mkfifo(&configs.join("packages/base.apt"))?;
    mkfifo(&configs.join("files/pipe"))?;
    std::fs::write(configs.join("files/pipe.path"), "/etc\n")?;
    mkfifo(&dir.join("README.md"))?;
    let (template, findings) = parse_within_10s(&dir);
    assert_eq!(
        summary(&findings),
        [
            at("README.md", W),
            at(&format!("{S}/10-fifo.sh"), E),
            at("container-configs/packages/base.apt", E),
            at(&format!("{F}/pipe"), E),
        ]
    );
    assert!(
        findings.iter().all(|f| f.message.contains("a FIFO")),
        "{findings:?}"
    );
    let t = template.ok_or("not parsed")?;
    assert!(t.scripts.is_empty() && t.packages.is_empty() && t.files.is_empty());

    // A FIFO as template.conf.
    let conf = new_folder(tmp.path(), "fifo-conf")?;
    std::fs::remove_file(conf.join("template.conf"))?;
    mkfifo(&conf.join("template.conf"))?;
    let (none, findings) = parse_within_10s(&conf);
    assert!(none.is_none());
    assert_eq!(summary(&findings), [at("template.conf", E)]);
    Ok(())
}

#[test]
fn oversize_files_and_templates_are_findings() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = new_folder(tmp.path(), "big")?;
    let configs = dir.join("container-configs");
    let cap = usize::try_from(MAX_FILE_BYTES)?;
    std::fs::write(configs.join("scripts/10-big.sh"), "#".repeat(cap + 1))?;
    std::fs::write(configs.join("scripts/20-at-cap.sh"), "#".repeat(cap))?;
    let (template, findings) = parse_within_10s(&dir);
    assert_eq!(summary(&findings), [at(&format!("{S}/10-big.sh"), E)]);
    assert!(findings[0].message.contains("too large"), "{findings:?}");
    let names: Vec<_> = template
        .iter()
        .flat_map(|t| t.scripts.iter().map(|s| s.file_name.clone()))
        .collect();
    assert_eq!(names, ["20-at-cap.sh"]);

    // Files each under the cap, together over the template's total (by the last one).
    let dir = new_folder(tmp.path(), "many-big")?;
    let files = dir.join("container-configs/files");
    let count = MAX_TOTAL_BYTES / MAX_FILE_BYTES + 1;
    for i in 0..count {
        std::fs::write(files.join(format!("f{i:02}")), vec![b'x'; cap - 1024])?;
        std::fs::write(files.join(format!("f{i:02}.path")), "/srv\n")?;
    }
    let (template, findings) = parse_within_10s(&dir);
    let last = format!("{F}/f{:02}", count - 1);
    assert_eq!(summary(&findings), [at(&last, E)]);
    assert!(findings[0].message.contains("together"), "{findings:?}");
    let t = template.ok_or("not parsed")?;
    assert_eq!(t.files.len() as u64, count - 1);
    assert!(matches!(t.files[0].content, FileContent::Utf8(_)));
    Ok(())
}

#[test]
fn too_many_entries_is_one_finding() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = new_folder(tmp.path(), "crowded")?;
    let scripts = dir.join("container-configs/scripts");
    for i in 0..=MAX_ENTRIES {
        std::fs::write(scripts.join(format!("{i:04}-s.sh")), "true\n")?;
    }
    let (template, findings) = parse_within_10s(&dir);
    assert_eq!(summary(&findings), [at(S, E)]);
    assert!(findings[0].message.contains("entries"), "{findings:?}");
    assert_eq!(template.map(|t| t.scripts.len()), Some(0));

    // At the cap, every script is read.
    std::fs::remove_file(scripts.join(format!("{MAX_ENTRIES:04}-s.sh")))?;
    let (template, findings) = parse_within_10s(&dir);
    assert_eq!(findings, vec![]);
    assert_eq!(template.map(|t| t.scripts.len()), Some(MAX_ENTRIES));
    Ok(())
}

#[test]
fn lint_reports_linked_template_folders() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let elsewhere = tempfile::tempdir()?;
    let real = new_folder(elsewhere.path(), "real")?;
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root)?;
    new_folder(&root, "plain")?;
    std::os::unix::fs::symlink(&real, root.join("linked"))?;
    let results = lint_path(&root);
    let names: Vec<_> = results
        .iter()
        .map(|(p, f)| (p.file_name().map(|n| n.to_owned()), summary(f)))
        .collect();
    assert_eq!(
        names,
        [
            (Some("linked".into()), vec![at(".", E)]),
            (Some("plain".into()), vec![])
        ]
    );
    Ok(())
}
