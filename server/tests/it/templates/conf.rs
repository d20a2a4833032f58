//! `template.conf` lines and package lines.

use kiln_server::templates::{conf, packages};
use kiln_shared::templates::{Manager, Package};

fn value(line: &str) -> String {
    match conf::parse_line(line) {
        Ok(Some((_, value))) => value,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn quoting_defaults_and_comments() {
    assert_eq!(value("A=plain"), "plain");
    assert_eq!(value("A=\"two words\""), "two words");
    assert_eq!(value("A='single $HOME \"x\"'"), "single $HOME \"x\"");
    assert_eq!(value(r#"A="esc \" \\ \$ \` \n""#), "esc \" \\ $ ` \\n");
    assert_eq!(value("A=${A:-4}"), "4");
    assert_eq!(value("A=\"${A:-two words}\""), "two words");
    assert_eq!(value("A=${A:-\"quoted\"}"), "quoted");
    assert_eq!(value("A=${OTHER}"), "${OTHER}");
    assert_eq!(value("A=\\${A:-4}"), "${A:-4}");
    assert_eq!(value("A=x   # a comment"), "x");
    assert_eq!(
        value("A=\"x # not a comment\" # but this is"),
        "x # not a comment"
    );
    assert_eq!(value("A=url#frag"), "url#frag");
    assert_eq!(value("A="), "");
    assert_eq!(value("A=\"a\"'b'c"), "abc");
    assert_eq!(value("export   A=1"), "1");
    assert_eq!(
        conf::parse_line("  export A=1")
            .ok()
            .flatten()
            .map(|(k, _)| k),
        Some("A".to_owned())
    );
    assert_eq!(conf::parse_line("   # comment"), Ok(None));
    assert_eq!(conf::parse_line(""), Ok(None));
}

#[test]
fn bad_lines_are_errors() {
    for line in [
        "just words",
        "1A=x",
        "A=\"open",
        "A='open",
        "A=two words",
        "A=${A:-x",
        "A=trailing\\",
    ] {
        assert!(conf::parse_line(line).is_err(), "{line}");
    }
}

#[test]
fn format_reads_back() {
    for v in ["", "a b", "$HOME ${X:-y} `cmd` \"q\" \\ 'x' # y"] {
        assert_eq!(value(&conf::format_line("K", v)), v);
    }
}

#[test]
fn package_lines() {
    let plain = |l: &str| packages::parse_line(Manager::Apt, l);
    assert_eq!(
        plain("nodejs=24.*"),
        Ok(Some(Package::Plain("nodejs=24.*".into())))
    );
    assert_eq!(
        plain("  curl  # why"),
        Ok(Some(Package::Plain("curl".into())))
    );
    assert_eq!(plain("# c"), Ok(None));
    assert_eq!(plain("   "), Ok(None));
    assert!(plain("apt install x").is_err());
    let custom = |l: &str| packages::parse_line(Manager::Custom, l);
    assert_eq!(
        custom("bun|command -v bun|curl x|120"),
        Ok(Some(Package::Custom {
            name: "bun".into(),
            check: "command -v bun".into(),
            install: "curl x".into(),
            timeout_secs: Some(120),
        }))
    );
    assert!(matches!(
        custom("a|b|c"),
        Ok(Some(Package::Custom {
            timeout_secs: None,
            ..
        }))
    ));
    assert!(custom("a|b").is_err());
    assert!(custom("a||c").is_err());
    assert!(custom("a|b|c|soon").is_err());
}
