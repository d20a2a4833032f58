//! Whole folders: the good fixture in detail, each bad fixture's exact findings, round-trips.

use kiln_server::templates::{parse_folder, write_folder};
use kiln_shared::templates::{FileContent, Manager, Package, Policy, Severity, Template};

use super::{fixture, summary};

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

fn parse_ok(name: &str) -> Template {
    let (template, findings) = parse_folder(&fixture(name));
    assert_eq!(findings, vec![], "{name}");
    template.unwrap_or_else(|| panic!("{name} did not parse"))
}

fn findings_of(name: &str) -> Vec<(String, Option<u32>, Severity)> {
    let (template, findings) = parse_folder(&fixture(name));
    assert!(template.is_some(), "{name}: the template is still shown");
    summary(&findings)
}

fn at(path: &str, line: Option<u32>, severity: Severity) -> (String, Option<u32>, Severity) {
    (path.to_owned(), line, severity)
}

#[test]
fn good_template_uses_every_feature() {
    let t = parse_ok("web-basic");
    assert_eq!(t.slug, "web-basic");
    assert_eq!(t.app, "Web (basic)");
    assert_eq!(t.description, "nginx + Node.js; \"quoted\" words");
    assert_eq!(t.tags, ["web", "node", "demo"]);
    assert_eq!((t.cpu, t.ram_mib, t.disk_gib), (2, 2048, 16));
    assert_eq!((t.os.as_str(), t.os_version.as_str()), ("debian", "12"));
    assert!(t.unprivileged && t.nesting && t.keyctl && !t.fuse);
    assert_eq!(t.config_path, None);
    assert_eq!(
        t.extra,
        [
            ("TEMPLATE_SWAP".to_owned(), "512".to_owned()),
            (
                "TEMPLATE_HOMEPAGE".to_owned(),
                "https://example.invalid/#top".to_owned()
            ),
        ]
    );
    assert!(
        t.readme
            .as_deref()
            .is_some_and(|r| r.starts_with("# Web (basic)"))
    );
    let scripts: Vec<_> = t
        .scripts
        .iter()
        .map(|s| (s.file_name.as_str(), s.order_key.as_str()))
        .collect();
    assert_eq!(
        scripts,
        [
            ("00-pre-checks.sh", "00"),
            ("10-install-node.sh", "10"),
            ("99-post-setup.sh", "99")
        ]
    );
    let buckets: Vec<_> = t
        .packages
        .iter()
        .map(|b| (b.name.as_str(), b.manager))
        .collect();
    assert_eq!(
        buckets,
        [
            ("base", Manager::Apt),
            ("extras", Manager::Custom),
            ("python", Manager::Pip),
            ("tools", Manager::Npm)
        ]
    );
    let plain = |s: &str| Package::Plain(s.to_owned());
    assert_eq!(
        t.packages[0].packages,
        [plain("curl"), plain("nginx"), plain("nodejs=24.*")]
    );
    assert_eq!(t.packages[2].packages, [plain("requests>=2.28,<3.0")]);
    assert!(matches!(
        &t.packages[1].packages[..],
        [
            Package::Custom { name, timeout_secs: Some(300), .. },
            Package::Custom { timeout_secs: None, .. }
        ] if name == "bun"
    ));
    let files: Vec<_> = t
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.target_dir.as_str(), f.policy))
        .collect();
    assert_eq!(
        files,
        [
            ("logo.png", "/var/www/html", Policy::Backup),
            ("motd", "/etc", Policy::Default),
            ("site.conf", "/etc/nginx/conf.d", Policy::Replace)
        ]
    );
    assert!(matches!(t.files[0].content, FileContent::Base64(_)));
    assert_eq!(
        t.files[1].content,
        FileContent::Utf8("Welcome to Kiln.\n".into())
    );
}

#[test]
fn defaults_and_config_path() {
    let t = parse_ok("shared-configs");
    assert_eq!(t.app, "shared-configs");
    assert_eq!((t.cpu, t.ram_mib, t.disk_gib), (1, 512, 8));
    assert!(t.unprivileged && !t.nesting && !t.keyctl && !t.fuse);
    assert_eq!(t.config_path.as_deref(), Some("common/from-shared"));
    assert_eq!(t.scripts.len(), 1);
    assert_eq!(t.scripts[0].file_name, "00-hello.sh");
    assert_eq!(t.scripts[0].content, "echo shared\n");
}

#[test]
fn bad_resources() {
    let c = "template.conf";
    assert_eq!(
        findings_of("bad-resources"),
        [
            at(c, Some(2), E),
            at(c, Some(3), E),
            at(c, Some(4), E),
            at(c, Some(5), E)
        ]
    );
    let (template, findings) = parse_folder(&fixture("bad-resources"));
    assert!(findings[0].message.contains("`two` is not a number"));
    assert!(findings[1].message.contains("`lots` is not a number"));
    assert!(template.is_some_and(|t| t.cpu == 1 && t.ram_mib == 512 && t.disk_gib == 8));
}

#[test]
fn file_rules() {
    let f = "container-configs/files";
    assert_eq!(
        findings_of("missing-path"),
        [at(&format!("{f}/app.env"), None, E)]
    );
    assert_eq!(
        findings_of("bad-policy"),
        [at(&format!("{f}/app.conf.policy"), Some(1), E)]
    );
    assert_eq!(
        findings_of("traversal"),
        [
            at(&format!("{f}/escape.path"), Some(1), E),
            at(&format!("{f}/relative.path"), Some(1), E)
        ]
    );
    for name in ["missing-path", "bad-policy", "traversal"] {
        let files = parse_folder(&fixture(name)).0.map(|t| t.files.len());
        assert_eq!(files, Some(0), "{name}: a file with an error is not pushed");
    }
}

#[test]
fn package_rules() {
    let p = "container-configs/packages";
    assert_eq!(
        findings_of("unknown-manager"),
        [at(&format!("{p}/base.yum"), None, E)]
    );
    let t = parse_folder(&fixture("unknown-manager")).0;
    assert_eq!(t.map(|t| t.packages.len()), Some(1));
    let custom = format!("{p}/tools.custom");
    assert_eq!(
        findings_of("bad-custom-line"),
        [
            at(&custom, Some(3), E),
            at(&custom, Some(4), E),
            at(&custom, Some(5), E)
        ]
    );
}

#[test]
fn script_rules() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("non-utf8-script");
    let scripts = dir.join("container-configs/scripts");
    std::fs::create_dir_all(&scripts)?;
    std::fs::write(dir.join("template.conf"), "TEMPLATE_APP=x\n")?;
    std::fs::write(scripts.join("20-bad.sh"), [0xff, 0xfe, b'\n'])?;
    std::fs::write(scripts.join("10-good.sh"), "echo ok\n")?;
    std::fs::write(scripts.join("notes.txt"), "not a script")?;
    std::fs::write(scripts.join("setup.sh"), "echo late\n")?;
    std::fs::write(scripts.join("README.md"), "docs")?;
    let (template, findings) = parse_folder(&dir);
    let s = "container-configs/scripts";
    assert_eq!(
        summary(&findings),
        [
            at(&format!("{s}/20-bad.sh"), None, E),
            at(&format!("{s}/notes.txt"), None, W),
            at(&format!("{s}/setup.sh"), None, W)
        ]
    );
    let names: Vec<_> = template
        .iter()
        .flat_map(|t| t.scripts.iter().map(|s| s.file_name.clone()))
        .collect();
    assert_eq!(names, ["10-good.sh", "setup.sh"]);
    Ok(())
}

#[test]
fn missing_template_conf() {
    let (template, findings) = parse_folder(&fixture("common"));
    assert!(template.is_none());
    assert_eq!(summary(&findings), [at("template.conf", None, E)]);
}

#[test]
fn export_round_trips() -> std::io::Result<()> {
    for name in ["web-basic", "shared-configs"] {
        let original = parse_ok(name);
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join(name);
        write_folder(&original, &dir)?;
        let (again, findings) = parse_folder(&dir);
        assert_eq!(findings, vec![], "{name}");
        assert_eq!(again, Some(original), "{name}");
    }
    Ok(())
}

#[test]
fn export_refuses_what_cannot_round_trip() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut t = Template::new("x");
    t.description = "two\nlines".to_owned();
    assert!(write_folder(&t, &tmp.path().join("x")).is_err());
    let mut t = Template::new("x");
    t.extra.push(("TEMPLATE_CPU".to_owned(), "3".to_owned()));
    assert!(write_folder(&t, &tmp.path().join("x")).is_err());
    Ok(())
}

#[test]
fn warnings_and_documentation() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("Not_A_Slug");
    let configs = dir.join("container-configs");
    std::fs::create_dir_all(configs.join("files/nested"))?;
    std::fs::create_dir_all(configs.join("packages"))?;
    std::fs::write(
        dir.join("template.conf"),
        "\u{feff}TEMPLATE_CPU=2\nTEMPLATE_X=1\n",
    )?;
    std::fs::write(dir.join("README.md"), [0xff])?;
    std::fs::write(configs.join("files/orphan.path"), "/etc\n")?;
    std::fs::write(configs.join("files/.gitkeep"), "")?;
    std::fs::write(configs.join("files/README.txt"), "docs")?;
    std::fs::write(configs.join("packages/README.md"), "docs")?;
    std::fs::write(configs.join("packages/.hidden.apt"), "x")?;
    let (template, findings) = parse_folder(&dir);
    let f = "container-configs/files";
    assert_eq!(
        summary(&findings),
        [
            at(".", None, W),
            at("README.md", None, W),
            at(&format!("{f}/nested"), None, W),
            at(&format!("{f}/orphan.path"), None, W)
        ]
    );
    let t = template.unwrap_or_else(|| panic!("not parsed"));
    assert_eq!(t.cpu, 2, "a byte-order mark is not part of the first key");
    assert_eq!(t.extra, [("TEMPLATE_X".to_owned(), "1".to_owned())]);
    assert!(t.readme.is_none() && t.files.is_empty() && t.packages.is_empty());
    Ok(())
}

#[test]
fn non_utf8_template_conf_is_unreadable() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("binary");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("template.conf"), [b'A', b'=', 0xff])?;
    let (template, findings) = parse_folder(&dir);
    assert!(template.is_none());
    assert_eq!(summary(&findings), [at("template.conf", None, E)]);
    Ok(())
}

#[test]
fn conf_line_errors_and_last_assignment_wins() -> std::io::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("lines");
    std::fs::create_dir_all(&dir)?;
    let conf = "TEMPLATE_CPU=2\nrm -rf /\nTEMPLATE_CPU=3\nTEMPLATE_APP=\"open\nTEMPLATE_X=a\nTEMPLATE_X=b\n";
    std::fs::write(dir.join("template.conf"), conf)?;
    let (template, findings) = parse_folder(&dir);
    assert_eq!(
        summary(&findings),
        [
            at("template.conf", Some(2), E),
            at("template.conf", Some(4), E)
        ]
    );
    let t = template.unwrap_or_else(|| panic!("not parsed"));
    assert_eq!((t.cpu, t.app.as_str()), (3, "lines"));
    assert_eq!(t.extra, [("TEMPLATE_X".to_owned(), "b".to_owned())]);
    Ok(())
}
