//! `kiln api` / `kiln ct`: the real `kiln` binary as a client of the real router, served over
//! loopback TCP, with a lab node and job workers behind it. `HOME` and `XDG_CONFIG_HOME` point
//! into a temporary directory, so the configuration file the login writes is this test's.
//! Checks the documented exit codes (0, 1, 2, 3, 4, 6, 7), the file's mode, `--wait` over SSE
//! and that logout revokes the token.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kiln_server::lab::RuntimeKind;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::containers::{Setup, setup};
use crate::harness::PASSWORD;
use crate::lab_fixture::{DEBIAN, R};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");
/// How long one command may take (a creation with `--wait` on the lab takes seconds).
const PATIENCE: Duration = Duration::from_secs(120);

/// What a command printed and how it ended.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The test's client side: a private config home, and the server it talks to.
struct Client {
    home: tempfile::TempDir,
    url: String,
}

impl Client {
    fn config_file(&self) -> PathBuf {
        self.home.path().join("xdg").join("kiln").join("cli.toml")
    }

    /// Runs `kiln args…` with `stdin` (not a terminal) and `env` on top of a clean one.
    async fn run(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> R<Ran> {
        let mut command = tokio::process::Command::new(KILN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("xdg"))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).await?;
        }
        let out = tokio::time::timeout(PATIENCE, child.wait_with_output()).await??;
        Ok(Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    async fn kiln(&self, args: &[&str]) -> R<Ran> {
        self.run(args, "", &[]).await
    }

    /// `kiln args…` with `KILN_URL` and `KILN_TOKEN` set (over any file).
    async fn with_token(&self, args: &[&str], token: &str) -> R<Ran> {
        self.run(args, "", &[("KILN_URL", &self.url), ("KILN_TOKEN", token)])
            .await
    }
}

/// Serves the app's router on a loopback port, as `kiln serve` does (client addresses
/// included); the task ends with the test.
async fn serve(s: &Setup) -> R<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = s.app.router.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok((format!("http://{addr}"), task))
}

fn mode(path: &Path) -> R<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

fn expect(ran: &Ran, code: i32) {
    assert_eq!(ran.code, code, "{ran}");
}

/// The options a creation on the lab needs besides the node (what it serves).
fn on_the_lab<'a>(node: &'a str, hostname: &'a str) -> Vec<&'a str> {
    vec![
        "ct",
        "create",
        "--node",
        node,
        "--hostname",
        hostname,
        "--storage",
        "local-lvm",
        "--bridge",
        "vmbr0",
        "--ostemplate",
        DEBIAN,
        "--disk",
        "4",
        "--memory",
        "256",
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn login_create_wait_act_delete_and_logout_with_exit_codes() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let (url, server) = serve(&s).await?;
    let c = Client {
        home: tempfile::tempdir()?,
        url,
    };
    let node = s.node_id.to_string();

    // Not signed in yet: 3.
    expect(&c.kiln(&["ct", "list"]).await?, 3);
    // A wrong password: 3, and no file.
    let wrong = c
        .run(
            &["api", "login", &c.url, "--user", "creator"],
            "not the password\n",
            &[],
        )
        .await?;
    expect(&wrong, 3);
    assert!(!wrong.stderr.contains("not the password"), "{wrong}");
    assert!(!c.config_file().exists());

    // Login: the file is the owner's only.
    let login = c
        .run(
            &[
                "api",
                "login",
                &c.url,
                "--user",
                "creator",
                "--token-name",
                "laptop",
            ],
            &format!("{PASSWORD}\n"),
            &[],
        )
        .await?;
    expect(&login, 0);
    assert!(login.stdout.contains("creator"), "{login}");
    let file = c.config_file();
    assert_eq!(mode(&file)?, 0o600);
    assert_eq!(mode(file.parent().ok_or("dir")?)?, 0o700);
    let stored = std::fs::read_to_string(&file)?;
    assert!(stored.contains("kiln_"), "the token is stored");
    let token = stored
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .and_then(|l| l.strip_suffix('"'))
        .ok_or("token line")?
        .to_owned();
    assert!(!login.stdout.contains(&token) && !login.stderr.contains(&token));

    let whoami = c.kiln(&["api", "whoami"]).await?;
    expect(&whoami, 0);
    assert!(
        whoami.stdout.contains("creator") && whoami.stdout.contains("laptop"),
        "{whoami}"
    );

    // An empty list: the header only.
    let list = c.kiln(&["ct", "list"]).await?;
    expect(&list, 0);
    assert!(list.stdout.starts_with("ID"), "{list}");
    assert_eq!(list.stdout.lines().count(), 1, "{list}");

    // Invalid input: 6, each field named.
    let mut bad = on_the_lab(&node, "bad_host!");
    bad.extend(["--cores", "0"]);
    let invalid = c.kiln(&bad).await?;
    expect(&invalid, 6);
    assert!(
        invalid.stderr.contains("hostname:") && invalid.stderr.contains("cores:"),
        "{invalid}"
    );

    // Create and follow it to the end: each event, then the final line. The storage, OS
    // template and bridge come from the node's choices.
    let created = c
        .kiln(&[
            "ct",
            "create",
            "--node",
            &node,
            "--hostname",
            "cli-web",
            "--disk",
            "4",
            "--wait",
        ])
        .await?;
    expect(&created, 0);
    assert!(created.stdout.contains("being created"), "{created}");
    for part in ["allocate", "create", "start", "ready"] {
        assert!(created.stdout.contains(part), "{part}: {created}");
    }
    assert_eq!(
        created.stdout.lines().last().map(str::trim),
        Some("ready"),
        "{created}"
    );

    let listed = c.kiln(&["ct", "list", "--json"]).await?;
    expect(&listed, 0);
    let items: Vec<Value> = serde_json::from_str(&listed.stdout)?;
    let web = items
        .iter()
        .find(|i| i["hostname"] == "cli-web" || i["summary"]["hostname"] == "cli-web")
        .ok_or_else(|| format!("cli-web in {}", listed.stdout))?;
    let id = web
        .get("id")
        .or_else(|| web["summary"].get("id"))
        .and_then(Value::as_i64)
        .ok_or("id")?
        .to_string();
    let human = c.kiln(&["ct", "list", "--status", "ready"]).await?;
    expect(&human, 0);
    assert!(human.stdout.contains("cli-web"), "{human}");
    let none = c.kiln(&["ct", "list", "--status", "failed"]).await?;
    assert!(!none.stdout.contains("cli-web"), "{none}");

    let shown = c.kiln(&["ct", "show", &id]).await?;
    expect(&shown, 0);
    assert!(shown.stdout.contains("hostname: cli-web"), "{shown}");
    expect(&c.kiln(&["ct", "services", &id]).await?, 0);

    // The same hostname again: refused (6), nothing created.
    let again = c.kiln(&on_the_lab(&node, "cli-web")).await?;
    expect(&again, 6);
    assert!(again.stderr.contains("hostname"), "{again}");

    // Not found: 4.
    expect(&c.kiln(&["ct", "show", "987654"]).await?, 4);
    expect(&c.kiln(&["ct", "stop", "987654"]).await?, 4);

    // Power actions answer when done.
    let stopped = c.kiln(&["ct", "stop", &id, "--wait"]).await?;
    expect(&stopped, 0);
    let started = c.kiln(&["ct", "start", &id]).await?;
    expect(&started, 0);

    // Deleting without --yes and without a terminal: refused (2), still there.
    let refused = c.kiln(&["ct", "delete", &id]).await?;
    expect(&refused, 2);
    expect(&c.kiln(&["ct", "show", &id]).await?, 0);
    let deleted = c.kiln(&["ct", "delete", &id, "--yes", "--wait"]).await?;
    expect(&deleted, 0);
    expect(&c.kiln(&["ct", "show", &id]).await?, 4);

    // Usage errors are clap's: 2.
    expect(&c.kiln(&["ct", "show", "not-a-number"]).await?, 2);

    // Logout revokes the token and removes the file.
    let logout = c.kiln(&["api", "logout"]).await?;
    expect(&logout, 0);
    assert!(!file.exists());
    let revoked = c.with_token(&["api", "whoami"], &token).await?;
    expect(&revoked, 3);

    // Kiln away: 7.
    server.abort();
    let _ = server.await;
    let away = c.with_token(&["ct", "list"], &token).await?;
    expect(&away, 7);
    assert!(away.stderr.contains("cannot reach Kiln"), "{away}");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_stdin_and_the_environment_over_the_file() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let (url, server) = serve(&s).await?;
    let c = Client {
        home: tempfile::tempdir()?,
        url,
    };
    let token = crate::api::token_of(&s.app, "creator", "settings", true).await?;
    // Not a token: a usage error before any request.
    let junk = c
        .run(&["api", "login", &c.url, "--token-stdin"], "hello\n", &[])
        .await?;
    expect(&junk, 2);
    let login = c
        .run(
            &["api", "login", &c.url, "--token-stdin"],
            &format!("{token}\n"),
            &[],
        )
        .await?;
    expect(&login, 0);
    assert!(login.stdout.contains("read-only"), "{login}");
    assert_eq!(mode(&c.config_file())?, 0o600);
    // A read-only token may not write: 3.
    let refused = c.kiln(&on_the_lab(&s.node_id.to_string(), "ro")).await?;
    expect(&refused, 3);
    // KILN_TOKEN wins over the file: a refused one is 3 even though the file's works.
    let other = format!("kiln_{}", "A".repeat(43));
    expect(
        &c.run(&["api", "whoami"], "", &[("KILN_TOKEN", &other)])
            .await?,
        3,
    );
    expect(&c.kiln(&["api", "whoami"]).await?, 0);
    server.abort();
    s.finish().await
}
