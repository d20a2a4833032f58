use super::*;
use base64::engine::general_purpose::STANDARD;

#[test]
fn ss_lines_give_address_port_and_pids() {
    let l = parse_ss_line(
        "LISTEN 0      511          0.0.0.0:80        0.0.0.0:*    users:((\"nginx\",pid=123,fd=6),(\"nginx\",pid=122,fd=6),(\"nginx\",pid=123,fd=7))",
    )
    .unwrap_or_else(|| panic!("parsed"));
    assert_eq!(
        (l.address, l.port, l.pids.as_slice()),
        (None, 80, &[123, 122][..])
    );
    assert!(!l.loopback_only());
    assert_eq!(l.probe_address().to_string(), "127.0.0.1");

    let v6 = parse_ss_line("LISTEN 0 4096 [::]:22 [::]:* users:((\"sshd\",pid=55,fd=4))");
    assert_eq!(v6.map(|l| (l.address, l.port)), Some((None, 22)));
    let star = parse_ss_line("LISTEN 0 511 *:8080 *:*");
    assert_eq!(star.map(|l| (l.address, l.pids.len())), Some((None, 0)));

    let local =
        parse_ss_line("LISTEN 0 244 127.0.0.1:5432 0.0.0.0:* users:((\"postgres\",pid=77,fd=6))")
            .unwrap_or_else(|| panic!("parsed"));
    assert!(local.loopback_only());
    let resolver = parse_ss_line("LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*")
        .unwrap_or_else(|| panic!("parsed"));
    assert!(resolver.loopback_only());
    let v6_local =
        parse_ss_line("LISTEN 0 244 [::1]:5432 [::]:*").unwrap_or_else(|| panic!("parsed"));
    assert!(v6_local.loopback_only());
    let mapped = parse_ss_line("LISTEN 0 4096 [::ffff:127.0.0.1]:9000 *:*")
        .unwrap_or_else(|| panic!("parsed"));
    assert!(mapped.loopback_only());
    let bound =
        parse_ss_line("LISTEN 0 5 10.77.0.5:8000 0.0.0.0:*").unwrap_or_else(|| panic!("parsed"));
    assert_eq!(bound.probe_address().to_string(), "10.77.0.5");

    for junk in [
        "",
        "State Recv-Q",
        "ESTAB 0 0 1.2.3.4:5 6.7.8.9:10",
        "LISTEN 0 1 nonsense 0.0.0.0:*",
        "LISTEN 0 1 1.2.3.4:99999 x",
    ] {
        assert_eq!(parse_ss_line(junk), None, "{junk}");
    }
}

#[test]
fn a_process_belongs_to_the_service_in_its_cgroup() {
    assert_eq!(
        unit_of_cgroup("0::/system.slice/nginx.service"),
        Some("nginx.service")
    );
    assert_eq!(
        unit_of_cgroup("1:name=systemd:/lxc/100/system.slice/postgresql@15-main.service"),
        Some("postgresql@15-main.service")
    );
    assert_eq!(
        unit_of_cgroup("0::/system.slice/docker.service/init"),
        Some("docker.service")
    );
    assert_eq!(
        unit_of_cgroup("0::/user.slice/user-0.slice/session-1.scope"),
        None
    );
    assert_eq!(unit_of_cgroup("0::/"), None);
    assert_eq!(unit_of_cgroup("garbage"), None);
}

const UNITS: &str = "base\tssh.service
base\tcron.service
base\tgetty@.service
base\tapt-daily.service
enabled\tssh.service
enabled\tcron.service
enabled\tnginx.service
enabled\tpostgresql.service
unit\tssh.service\tloaded\tactive\trunning\tOpenBSD Secure Shell server
unit\tnginx.service\tloaded\tactive\trunning\tA high performance web server
unit\tpostgresql.service\tloaded\tactive\texited\tPostgreSQL RDBMS
unit\tpostgresql@15-main.service\tloaded\tactive\trunning\tPostgreSQL Cluster 15-main
unit\tgetty@tty1.service\tloaded\tactive\trunning\tGetty on tty1
unit\tapt-daily.service\tloaded\tactivating\tstart\tDaily apt download activities
unit\tbroken.service\tloaded\tfailed\tfailed\tA unit a script added
unit\tstatic-helper.service\tloaded\tinactive\tdead\tNot running, not enabled
listen\tLISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:((\"nginx\",pid=200,fd=6),(\"nginx\",pid=201,fd=6))
listen\tLISTEN 0 511 [::]:80 [::]:* users:((\"nginx\",pid=200,fd=7))
listen\tLISTEN 0 244 127.0.0.1:5432 0.0.0.0:* users:((\"postgres\",pid=300,fd=6))
listen\tLISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=50,fd=3))
listen\tLISTEN 0 5 0.0.0.0:8000 0.0.0.0:* users:((\"python3\",pid=400,fd=3))
cgroup\t200\t0::/system.slice/nginx.service
cgroup\t201\t0::/system.slice/nginx.service
cgroup\t300\t0::/system.slice/system-postgresql.slice/postgresql@15-main.service
cgroup\t50\t0::/system.slice/ssh.service
cgroup\t400\t0::/user.slice/session-3.scope
something new\tignored
";

#[test]
fn the_templates_services_are_the_units_it_added() {
    let snapshot = parse_units(UNITS);
    assert!(snapshot.systemd);
    let found = services(&snapshot);
    let summary: Vec<(&str, &str, &str, Vec<u16>)> = found
        .iter()
        .map(|s| {
            (
                s.unit.as_str(),
                s.name.as_str(),
                s.state.as_str(),
                s.ports.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("broken.service", "broken", "failed", vec![]),
            ("nginx.service", "nginx", "active", vec![80]),
            ("postgresql.service", "postgresql", "active", vec![]),
            (
                "postgresql@15-main.service",
                "postgresql@15-main",
                "active",
                vec![5432]
            ),
        ],
        "ssh and cron were there before; getty@tty1 is an instance of a known template; \
         apt-daily is known; an inactive, disabled unit is not a service"
    );
    let nginx = &found[1];
    assert_eq!(nginx.reachable.len(), 1, "port 80 once, over v4 and v6");
    assert_eq!(
        found[3].reachable,
        [],
        "5432 listens on loopback only: no web URL"
    );
    assert_eq!(probe_args(&found), ["127.0.0.1", "80"]);
    assert_eq!(
        describe(nginx, Some("http://10.0.0.5/")),
        "service nginx.service: active, port 80, http://10.0.0.5/"
    );
    assert_eq!(describe(&found[0], None), "service broken.service: failed");
    assert_eq!(unowned_ports(&snapshot), [8000]);
}

#[test]
fn without_a_baseline_the_units_holding_ports_are_reported() {
    let without: String = UNITS
        .lines()
        .filter(|l| !l.starts_with("base\t"))
        .chain(["nobaseline"])
        .collect::<Vec<_>>()
        .join("\n");
    let names: Vec<String> = services(&parse_units(&without))
        .into_iter()
        .map(|s| s.unit)
        .collect();
    assert_eq!(
        names,
        ["nginx.service", "postgresql@15-main.service", "ssh.service"]
    );
}

#[test]
fn no_systemd_means_no_services() {
    let snapshot = parse_units("nosystemd\n");
    assert!(!snapshot.systemd);
    assert!(services(&snapshot).is_empty());
    let no_ss = parse_units("enabled\tx.service\nnoss\n");
    assert_eq!(no_ss.listeners, None);
    assert_eq!(services(&no_ss).len(), 1);
}

#[test]
fn probes_become_web_urls() {
    let web = parse_probe("http\t127.0.0.1\t80\nhttps\t127.0.0.1\t8443\nnoise\nhttp\t::1\tx\n");
    assert_eq!(web.get(&80), Some(&"http"));
    assert_eq!(web.get(&8443), Some(&"https"));
    assert_eq!(web.len(), 2);
    assert_eq!(web_url("http", "10.0.0.5", 80), "http://10.0.0.5/");
    assert_eq!(web_url("http", "10.0.0.5", 8080), "http://10.0.0.5:8080/");
    assert_eq!(web_url("https", "10.0.0.5", 443), "https://10.0.0.5/");
    assert_eq!(web_url("https", "fd00::5", 8443), "https://[fd00::5]:8443/");
}

#[test]
fn credential_files_are_key_value_lines() {
    let (pairs, skipped) = parse_env(
        "# made by a script\n\nDB_USER=app\nDB_PASSWORD=a=b c \"d\"\nDB_USER=later\n\
         not a pair\n1BAD=x\nexport X=1\nEMPTY=\r\n",
    );
    assert_eq!(
        pairs,
        [
            ("DB_USER".to_owned(), "later".to_owned()),
            ("DB_PASSWORD".to_owned(), "a=b c \"d\"".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]
    );
    assert_eq!(skipped, 3);
    let long = format!("K={}\n", "x".repeat(MAX_VALUE_BYTES + 1));
    assert_eq!(parse_env(&long), (vec![], 1));
}

#[test]
fn names_follow_the_helper_librarys_rules() {
    for ok in ["postgresql", "my-app.v2", "A_1"] {
        assert!(valid_service(ok), "{ok}");
    }
    for bad in [
        "",
        ".",
        "..",
        ".hidden",
        "../etc",
        "a/b",
        "a b",
        "a;b",
        "é",
        &"a".repeat(65),
    ] {
        assert!(!valid_service(bad), "{bad}");
    }
    for ok in ["DB_PASSWORD", "_x", "k1"] {
        assert!(valid_key(ok), "{ok}");
    }
    for bad in ["", "1x", "A-B", "A B", "A=B", "$(x)", &"K".repeat(65)] {
        assert!(!valid_key(bad), "{bad}");
    }
    assert_eq!(service_of_file("postgresql.env"), Some("postgresql"));
    assert_eq!(service_of_file("grafana"), Some("grafana"));
    assert_eq!(service_of_file(".env"), None);
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

#[test]
fn credentials_come_from_both_folders_kilns_first() {
    let output = format!(
        "file\t/etc/kiln/credentials\t{}\t{}\n\
         file\t/etc/infrahaus/credentials\t{}\t{}\n\
         file\t/etc/infrahaus/credentials\t{}\t{}\n\
         toolarge\t/etc/kiln/credentials\t{}\n\
         file\t/etc/kiln/credentials\t{}\t{}\n\
         file\t/etc/kiln/credentials\t{}\t%%%\n",
        b64("postgresql.env"),
        b64("DB_USER=app\nDB_PASSWORD=s3cret\n"),
        b64("postgresql"),
        b64("DB_PASSWORD=older\nDB_PORT=5432\n"),
        b64("grafana"),
        b64("ADMIN_PASSWORD=hunter2\n"),
        b64("huge.env"),
        b64("bad name\n.env"),
        b64("X=1\n"),
        b64("undecodable.env"),
    );
    let (found, notes) = parse_credentials(&output);
    let keys: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|c| (c.service.as_str(), c.key.as_str(), c.value.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("postgresql", "DB_USER", "app"),
            ("postgresql", "DB_PASSWORD", "s3cret"),
            ("postgresql", "DB_PORT", "5432"),
            ("grafana", "ADMIN_PASSWORD", "hunter2"),
        ]
    );
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("huge.env")));
    assert!(
        notes.iter().any(|n| n.contains("bad name?.env")),
        "{notes:?}"
    );
    for secret in ["s3cret", "hunter2", "older"] {
        assert!(notes.iter().all(|n| !n.contains(secret)));
        assert!(!format!("{found:?}").contains(secret), "Debug hides values");
    }
    assert_eq!(summary(&found), "1 for grafana, 3 for postgresql");
}

#[test]
fn the_command_carries_the_script_and_checked_arguments() {
    let argv = command("probe", &["127.0.0.1".into(), "80".into()]);
    assert_eq!(argv[..2], ["bash", "-c"]);
    assert_eq!(argv[2], SCRIPT);
    assert_eq!(argv[3..], ["kiln-discover", "probe", "127.0.0.1", "80"]);
}

#[test]
fn credentials_are_shown_with_their_service() {
    let service = |name: &str| StoredService {
        name: name.into(),
        unit: format!("{name}.service"),
        state: "active".into(),
        ports: vec![],
        web_url: None,
    };
    let keys = [
        ("postgresql", "DB_USER"),
        ("postgresql", "DB_PASSWORD"),
        ("grafana", "ADMIN_PASSWORD"),
        ("nginx", "HTPASSWD"),
        ("grafana", "ADMIN_USER"),
    ]
    .map(|(s, k)| (s.to_owned(), k.to_owned()))
    .to_vec();
    let (views, other) = attach(vec![service("nginx"), service("postgresql@15-main")], keys);
    assert_eq!(views[0].credentials, ["HTPASSWD"]);
    assert_eq!(
        views[1].credentials,
        ["DB_USER", "DB_PASSWORD"],
        "an instance of postgresql"
    );
    assert_eq!(
        other,
        [(
            "grafana".to_owned(),
            vec!["ADMIN_PASSWORD".to_owned(), "ADMIN_USER".to_owned()]
        )]
    );
    // The exact name wins over an instance.
    let (views, _) = attach(
        vec![service("postgresql"), service("postgresql@15-main")],
        vec![("postgresql".into(), "K".into())],
    );
    assert_eq!(
        (views[0].credentials.len(), views[1].credentials.len()),
        (1, 0)
    );
}
