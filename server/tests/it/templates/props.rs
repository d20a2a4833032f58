//! Properties: the line parsers never panic; generated templates survive export and import.

use base64::Engine as _;
use kiln_server::templates::{conf, packages, parse_folder, write_folder};
use kiln_shared::templates::{
    FileContent, Manager, Package, PackageBucket, Policy, Script, Template, TemplateFile,
};
use proptest::prelude::*;

fn manager() -> impl Strategy<Value = Manager> {
    prop::sample::select(Manager::ALL.to_vec())
}

/// One line of text without line breaks (any other character, `$`, quotes and `#` included).
fn one_line() -> impl Strategy<Value = String> {
    "[^\r\n]{0,24}"
}

fn package(manager: Manager) -> BoxedStrategy<Package> {
    if manager == Manager::Custom {
        let field = "[a-z][a-z0-9 ./&>-]{0,12}[a-z0-9]";
        (field, field, field, prop::option::of(0u32..100_000))
            .prop_map(|(name, check, install, timeout_secs)| Package::Custom {
                name,
                check,
                install,
                timeout_secs,
            })
            .boxed()
    } else {
        "[a-z0-9][a-z0-9.=@<>,*~+-]{0,15}"
            .prop_map(Package::Plain)
            .boxed()
    }
}

fn bucket() -> impl Strategy<Value = PackageBucket> {
    ("[a-z][a-z0-9-]{0,7}", manager()).prop_flat_map(|(name, manager)| {
        prop::collection::vec(package(manager), 0..5).prop_map(move |packages| PackageBucket {
            name: name.clone(),
            manager,
            packages,
        })
    })
}

fn file() -> impl Strategy<Value = TemplateFile> {
    let content = prop_oneof![
        ".{0,40}".prop_map(FileContent::Utf8),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|mut bytes| {
            bytes.insert(0, 0xff); // never valid UTF-8, so it reads back as base64
            FileContent::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }),
    ];
    let policy = prop::sample::select(vec![Policy::Replace, Policy::Default, Policy::Backup]);
    (
        "[a-z][a-z0-9_-]{0,8}\\.(conf|txt|bin)",
        "(/[a-z0-9_-][a-z0-9._-]{0,7}){0,3}",
        policy,
        content,
    )
        .prop_map(|(name, dir, policy, content)| TemplateFile {
            name,
            target_dir: if dir.is_empty() { "/".to_owned() } else { dir },
            policy,
            content,
        })
}

fn template() -> impl Strategy<Value = Template> {
    let meta = (
        one_line(),
        one_line(),
        prop::collection::vec("[a-z0-9_-]{1,8}", 0..4),
    );
    let resources = (1u32..=64, 16u32..=65_536, 1u32..=2048, any::<[bool; 4]>());
    let extra = prop::collection::btree_map("X_[A-Z0-9_]{1,6}", one_line(), 0..4);
    let scripts = prop::collection::btree_map("[0-9]{2}-[a-z]{1,6}\\.sh", ".{0,60}", 0..4);
    let configs = (
        scripts,
        prop::collection::vec(bucket(), 0..4),
        prop::collection::vec(file(), 0..4),
        prop::option::of(".{0,40}"),
    );
    (meta, resources, extra, configs).prop_map(
        |(
            (app, description, tags),
            (cpu, ram, disk, flags),
            extra,
            (scripts, buckets, files, readme),
        )| {
            let mut t = Template::new("generated");
            t.app = app;
            t.description = description;
            t.tags = tags;
            (t.cpu, t.ram_mib, t.disk_gib) = (cpu, ram, disk);
            [t.unprivileged, t.nesting, t.keyctl, t.fuse] = flags;
            t.extra = extra.into_iter().collect();
            t.readme = readme;
            t.scripts = scripts
                .into_iter()
                .map(|(file_name, content)| Script {
                    order_key: file_name[..2].to_owned(),
                    file_name,
                    content,
                })
                .collect();
            // Folder order: by file name, one entry per file name.
            let mut buckets = buckets;
            buckets.sort_by_key(|b| format!("{}.{}", b.name, b.manager.extension()));
            buckets.dedup_by_key(|b| format!("{}.{}", b.name, b.manager.extension()));
            t.packages = buckets;
            let mut files = files;
            files.sort_by(|a, b| a.name.cmp(&b.name));
            files.dedup_by(|a, b| a.name == b.name);
            t.files = files;
            t
        },
    )
}

/// An I/O error of the test's own setup, as a failed case.
fn io(e: std::io::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #[test]
    fn conf_line_parser_never_panics(line in "\\PC*") {
        let _ = conf::parse_line(&line);
    }

    #[test]
    fn package_line_parser_never_panics(line in "\\PC*", manager in manager()) {
        let _ = packages::parse_line(manager, &line);
    }

    #[test]
    fn folder_parser_never_panics(conf in "(\\PC{0,30}\n){0,6}", packages in ".{0,60}", manager in manager()) {
        let tmp = tempfile::tempdir().map_err(io)?;
        let dir = tmp.path().join("any");
        let packages_dir = dir.join("container-configs/packages");
        std::fs::create_dir_all(&packages_dir).map_err(io)?;
        std::fs::write(dir.join("template.conf"), conf).map_err(io)?;
        let file = packages_dir.join(format!("b.{}", manager.extension()));
        std::fs::write(file, packages).map_err(io)?;
        let (template, _) = parse_folder(&dir);
        prop_assert!(template.is_some());
    }

    #[test]
    fn conf_values_round_trip(value in one_line()) {
        let line = conf::format_line("KEY", &value);
        prop_assert_eq!(conf::parse_line(&line), Ok(Some(("KEY".to_owned(), value))));
    }

    #[test]
    fn templates_round_trip(t in template()) {
        let tmp = tempfile::tempdir().map_err(io)?;
        let dir = tmp.path().join("generated");
        write_folder(&t, &dir).map_err(io)?;
        let (again, findings) = parse_folder(&dir);
        prop_assert_eq!(findings, vec![]);
        prop_assert_eq!(again, Some(t));
    }
}
