//! Creating a container, end to end in headless Chromium, on the path a newcomer takes after
//! `./kiln.sh up`: a lab node (real LXC containers, its own sshd for `pct`) that Kiln registers
//! for the first administrator at setup — SSH included — then a built-in template's page →
//! *Create container* → the wizard (the node's choices load; the hostname changed, a package
//! bucket turned off, a script skipped; Review shows all three and the `pct` equivalent) →
//! *Create* → the container's page follows the creation live (phases, bar, log), keeps its log
//! over a reload half-way, and ends `ready` with its services listed and the database
//! password the template generated revealed on click. Then managing: two plain containers
//! made through the server functions; the dashboard filtered and sorted in the URL and through
//! its form; a container stopped (confirmed) and started from its card; two stopped at once
//! with the bulk bar (one confirmation, an outcome each); the database container opened from
//! the dashboard and its password revealed again (the password asked again when the session
//! is older than 10 minutes); one container deleted with its name typed, gone from the list.
//! On the way, the database container's Metrics tab: the last hour's charts, the range
//! picker's links changing the URL and the range shown, a slot's time and values shown as the
//! arrow keys step through a chart.
//!
//! Needs what `nodes.rs` needs, and a machine that can run the lab's LXC runtime and sshd
//! (root, Debian's lxc, dnsmasq-base, apt-cacher-ng, uidmap, openssh-server: `./kiln.sh setup`)
//! with the lab's image (built here when missing, about a minute once) and a reachable Debian
//! archive (PostgreSQL is installed in the container). Elsewhere it is skipped with the lab's reason
//! — except under `CI=true`, where the lab refuses to start without them and the test fails
//! with that one line. Run with `cargo test -p kiln-e2e --test containers -- --nocapture`.

#[expect(
    dead_code,
    reason = "every test binary compiles the whole harness but uses only part of it"
)]
mod common;

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::browser::Browser;
use common::{Harness, Steps, poll};

const ADMIN: &str = "admin";
const PASSWORD: &str = "correct-horse-battery";

const TEMPLATE: &str = "postgresql-server";
const HOSTNAME: &str = "e2e-db";
/// Proxmox tags, typed as a user types them.
const TAGS: &str = "e2e, db";
/// The template's optional bucket (psql's pager), turned off.
const BUCKET: &str = "tools";
/// The script skipped (it restarts PostgreSQL for pending settings and checks the login).
const SKIPPED: &str = "30-verify.sh";
/// The credential revealed: saved by the template's `20-app-database.sh`.
const CREDENTIAL: &str = "DB_PASSWORD";

const NEXT: &str = r#"button[data-test="wizard-next"]"#;
const LOADING: &str = r#"[data-test="choices-loading"]:not([hidden])"#;
const CHOICES_ERROR: &str = r#"[data-test="choices-error"]:not([hidden])"#;
const REVIEW: &str = r#"table[data-test="review"]"#;
const STATUS: &str = r#"[data-test="status"]"#;
const LOG: &str = r#"pre[data-test="log"]"#;
const TOASTS: &str = ".toasts .toast";

/// How long the creation may take: a cold package cache fetches PostgreSQL from the archive.
const CREATION_TIMEOUT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread")]
async fn create_a_container_from_a_template_on_the_lab_node() -> anyhow::Result<()> {
    let harness = Harness::start_with_lab_node("containers").await?;
    if let Some(missing) = harness
        .lab()
        .and_then(common::lab::Lab::missing_capabilities)
    {
        // Under CI=true the lab refuses to start without these, so this is never reached there.
        println!("[e2e] SKIPPED: the lab cannot run real containers with SSH here: {missing}");
        return harness.finish(Ok(())).await;
    }
    let outcome = async {
        build_image(&harness)?;
        let db = walk_through(&harness.browser).await?;
        metrics(&harness.browser, db).await?;
        manage(&harness.browser, db).await
    }
    .await;
    harness.finish(outcome).await
}

/// The lab's Debian image (a no-op when it is built).
fn build_image(h: &Harness) -> anyhow::Result<()> {
    common::lab::build_image(h.binary())
}

/// The walk through creation; answers the new container's id.
async fn walk_through(b: &Browser) -> anyhow::Result<i64> {
    let mut steps = Steps::default();

    steps.step("first-run setup: the administrator gets the lab node, SSH included");
    b.first_run_setup(ADMIN, PASSWORD).await?;
    b.goto("/nodes").await?;
    b.wait_shell_page("/nodes", "Nodes").await?;
    b.wait_text(r#"article[data-test="node-card"]"#, "lab node")
        .await?;

    steps.step(&format!(
        "the {TEMPLATE} template's page → Create container"
    ));
    b.goto(&format!("/templates/{TEMPLATE}")).await?;
    b.wait_for("the template page to hydrate", async |b| {
        let state = b.state().await?;
        ensure!(
            state.path == format!("/templates/{TEMPLATE}") && state.hydrated,
            "saw {state}"
        );
        Ok(())
    })
    .await?;
    b.click(r#"a[data-test="create-from-template"]"#).await?;
    b.wait_page("/containers/new", "Create a container").await?;
    let search = b.state().await?.search;
    ensure!(
        search == format!("?template={TEMPLATE}"),
        "query {search:?}"
    );

    steps.step("Configure: the node's choices load; change the hostname, add tags");
    b.find_visible("#wizard-hostname").await?;
    wait_gone(b, LOADING).await?;
    ensure!(
        !b.exists(CHOICES_ERROR).await?,
        "the node's choices did not load: {}",
        b.text(CHOICES_ERROR).await.unwrap_or_default()
    );
    let os = b.input_value("#wizard-ostemplate").await?;
    ensure!(os.contains("debian-12-standard"), "OS template {os:?}");
    let bridge = b.input_value("#wizard-bridge").await?;
    ensure!(bridge == "vmbr0", "bridge {bridge:?}");
    let storage = b.input_value("#wizard-storage").await?;
    ensure!(!storage.is_empty(), "no root disk storage chosen");
    let node = b.input_value("#wizard-node_id").await?;
    ensure!(!node.is_empty(), "no node chosen");
    b.fill("#wizard-hostname", HOSTNAME).await?;
    b.fill("#wizard-tags", TAGS).await?;
    b.click(NEXT).await?;

    steps.step(&format!("Packages: turn the bucket {BUCKET:?} off"));
    let bucket = format!(r#"fieldset[data-test="bucket"][data-bucket="{BUCKET}"]"#);
    b.find_visible(&bucket).await?;
    b.click(&format!("{bucket} legend input[type=checkbox]"))
        .await?;
    wait_unchecked(b, &format!("{bucket} legend input[type=checkbox]")).await?;
    b.click(NEXT).await?;

    steps.step(&format!("Scripts: skip {SKIPPED}"));
    let script = format!(r#"[data-test="script"][data-script="{SKIPPED}"]"#);
    b.find_visible(&script).await?;
    b.click(&format!("{script} input[type=checkbox]")).await?;
    wait_unchecked(b, &format!("{script} input[type=checkbox]")).await?;
    b.click(NEXT).await?;

    steps.step("Review shows the changes and the pct equivalent");
    b.find_visible(REVIEW).await?;
    let review = b.text(REVIEW).await?;
    for expected in [HOSTNAME, BUCKET, SKIPPED, "vmbr0", TAGS] {
        ensure!(
            review.contains(expected),
            "{expected:?} in the review:\n{review}"
        );
    }
    let pct = b.text(r#"[data-test="pct"]"#).await?;
    ensure!(
        pct.contains(HOSTNAME),
        "the pct equivalent names {HOSTNAME}:\n{pct}"
    );
    ensure!(
        !b.exists(r#"[data-test="review-errors"]"#).await?,
        "Review lists errors: {}",
        b.text(r#"[data-test="review-errors"]"#)
            .await
            .unwrap_or_default()
    );

    steps.step("Create → the container's page");
    b.wait_text(NEXT, "Create").await?;
    b.click(NEXT).await?;
    let path = b
        .wait_for("the container's page", async |b| {
            let state = b.state().await?;
            let id = state.path.strip_prefix("/containers/").unwrap_or_default();
            ensure!(
                !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) && state.hydrated,
                "saw {state}; toasts {:?}",
                b.texts(TOASTS).await.unwrap_or_default()
            );
            Ok(state.path)
        })
        .await?;
    println!("[e2e]     created {path}");
    b.find_visible(r#"[data-test="progress"]"#).await?;
    ensure!(
        b.text("h1").await? == HOSTNAME,
        "the page is about {HOSTNAME}"
    );

    steps.step("the log fills live; the bar moves");
    // A poll answers Ok once its wait is over — here the first phases are logged, or the
    // creation has ended already — so a failure ends the wait at once.
    let before = poll(CREATION_TIMEOUT, Duration::from_millis(250), async || {
        let lines = log_lines(b).await?;
        let ended = b.text(STATUS).await? != "creating";
        ensure!(
            ended || (lines.iter().any(|l| l.starts_with('▸')) && lines.len() >= 3),
            "log so far: {lines:?}"
        );
        Ok(lines)
    })
    .await
    .context("waiting for the first phases in the log")?;
    if b.text(STATUS).await? == "failed" {
        bail!("the creation failed at once: {}", error_text(b).await);
    }
    let percent = b.attr(r#"progress[data-test="percent"]"#, "value").await?;
    ensure!(
        percent
            .as_deref()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| p > 0),
        "the bar shows {percent:?}"
    );
    let step = b.text(r#"[data-test="step"]"#).await?;
    println!(
        "[e2e]     {} log lines, step {step:?}, bar {percent:?}",
        before.len()
    );

    steps.step("reload half-way: the log so far is still there");
    b.reload().await?;
    b.wait_for("the page again, hydrated, with its log", async |b| {
        let state = b.state().await?;
        ensure!(state.path == path && state.hydrated, "saw {state}");
        let after = log_lines(b).await?;
        ensure!(
            after.len() >= before.len() && after[..before.len()] == before[..],
            "before the reload {before:?}, after {after:?}"
        );
        Ok(())
    })
    .await?;

    steps.step("the creation reaches ready; the services show");
    let status = poll(CREATION_TIMEOUT, Duration::from_secs(1), async || {
        let status = b.text(STATUS).await?;
        ensure!(
            status != "creating",
            "status {status:?}, step {:?}",
            b.text(r#"[data-test="step"]"#).await.unwrap_or_default()
        );
        Ok(status)
    })
    .await
    .context("waiting for the creation to end")?;
    if status != "ready" {
        bail!(
            "the creation ended {status}: {}\nlog:\n{}",
            error_text(b).await,
            log_lines(b).await.unwrap_or_default().join("\n")
        );
    }
    let percent = b.attr(r#"progress[data-test="percent"]"#, "value").await?;
    ensure!(
        percent.as_deref() == Some("100"),
        "a ready bar shows {percent:?}"
    );
    b.wait_for("the log scrolled to its end (Follow is on)", async |b| {
        let gap = b
            .eval(
                "const p = document.querySelector(arguments[0]); \
                 return p.scrollHeight - p.scrollTop - p.clientHeight;",
                vec![serde_json::json!(LOG)],
            )
            .await?;
        ensure!(
            gap.as_f64().is_some_and(|g| g < 4.0),
            "{gap} px below the visible part"
        );
        Ok(())
    })
    .await?;
    let log = log_lines(b).await?.join("\n");
    ensure!(
        log.contains(&format!("{SKIPPED}: skipped")),
        "the skipped script in the log:\n{log}"
    );
    // The services and their logins are on the page's Services tab.
    b.click(r#"a[data-test="tab-services"]"#).await?;
    b.find_visible(r#"[data-test="services"]"#).await?;
    let units = b.attrs(r#"[data-test="service"]"#, "data-unit").await?;
    println!("[e2e]     services: {units:?}");
    ensure!(
        units.iter().any(|u| u.starts_with("postgresql")),
        "PostgreSQL among the services {units:?}"
    );

    steps.step(&format!("reveal {CREDENTIAL}: masked until asked"));
    let secret = reveal(b).await?;
    ensure!(
        !log.contains(secret.trim()),
        "the password is in the creation log"
    );
    path.trim_start_matches("/containers/")
        .parse()
        .context("the container's id")
}

/// The container's Metrics tab: the last hour's five charts (once the monitor has polled);
/// each range's link loads its URL with that range shown (a chart for each resource, or the
/// empty state where the rollups hold nothing yet); on the CPU chart, → shows the last slot's
/// time and values in its readout and the rule at that slot.
async fn metrics(b: &Browser, id: i64) -> anyhow::Result<()> {
    let mut steps = Steps::default();
    steps.step("the Metrics tab: ranges from the picker, a chart's values by keyboard");
    // The monitor polls every 10 s: the last hour has the container's samples soon after it
    // was made (its creation took longer than that).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        b.goto(&format!("/containers/{id}?tab=metrics")).await?;
        b.find_visible(r#"[data-test="metrics"][data-range="1h"]"#)
            .await?;
        if b.attrs("figure[data-chart]", "data-test").await?.len() == 5 {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "no chart of the last hour after a minute"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for range in ["24h", "7d", "30d", "1y", "1h"] {
        b.click(&format!(
            r#"[data-test="range-picker"] a[data-test="range-{range}"]"#
        ))
        .await?;
        b.wait_for(
            &format!("the {range} range in the URL and on the page"),
            async |b| {
                let url = b.current_url().await;
                ensure!(
                    url.contains(&format!("tab=metrics&range={range}")),
                    "at {url}"
                );
                b.find_visible(&format!(r#"[data-test="metrics"][data-range="{range}"]"#))
                    .await?;
                let current = b
                    .attr(
                        r#"[data-test="range-picker"] a[aria-current="page"]"#,
                        "data-test",
                    )
                    .await?;
                ensure!(
                    current.as_deref() == Some(format!("range-{range}").as_str()),
                    "marked: {current:?}"
                );
                Ok(())
            },
        )
        .await?;
        // Longer ranges read the monitor's rollups, which may not hold the last minutes yet.
        let charts = b.attrs(r#"figure[data-chart]"#, "data-test").await?;
        let empty = b.exists(r#"[data-test="metrics-empty"]"#).await?;
        println!("[e2e]     {range}: charts {charts:?}, empty state {empty}");
        ensure!(
            empty
                || charts
                    == [
                        "chart-cpu",
                        "chart-mem",
                        "chart-disk",
                        "chart-net",
                        "chart-io"
                    ],
            "five charts or the empty state, saw {charts:?}"
        );
        ensure!(
            b.exists(&format!(
                r#"a[data-test="export-csv"][href$="range={range}"]"#
            ))
            .await?,
            "the CSV link follows the range"
        );
    }
    b.wait_for("the page to hydrate", async |b| {
        ensure!(b.state().await?.hydrated, "not hydrated");
        Ok(())
    })
    .await?;
    let cpu = r#"figure[data-test="chart-cpu"]"#;
    b.eval(
        "const c = document.querySelector(arguments[0]); c.focus(); \
         c.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));",
        vec![serde_json::json!(cpu)],
    )
    .await?;
    b.wait_for("the CPU chart's readout of its last slot", async |b| {
        let text = b.text(&format!("{cpu} [data-readout]")).await?;
        ensure!(text.contains("UTC: "), "readout {text:?}");
        Ok(())
    })
    .await?;
    ensure!(
        b.exists(&format!("{cpu} [data-rule]:not([hidden])"))
            .await?,
        "the rule shows the slot"
    );
    Ok(())
}

/// Reveals the credential on the container's page: masked until asked; answers its value.
async fn reveal(b: &Browser) -> anyhow::Result<String> {
    let credential = format!(r#"[data-test="credential"][data-key="{CREDENTIAL}"]"#);
    b.find_visible(&credential).await?;
    let shown = format!(r#"{credential} [data-test="credential-value"]"#);
    ensure!(!b.exists(&shown).await?, "{CREDENTIAL} shown before Reveal");
    b.click(&format!(r#"{credential} button[data-test="reveal"]"#))
        .await?;
    b.wait_for(
        "the revealed value (or the password asked again)",
        async |b| {
            // A session that proved the password more than 10 minutes ago is asked for it again.
            let reauth = format!(r#"{credential} [data-test="reauth-password"]"#);
            if b.exists(&reauth).await? {
                b.fill(&reauth, PASSWORD).await?;
                b.click(&format!(r#"{credential} [data-test="reauth-confirm"]"#))
                    .await?;
                bail!("the password was asked again; confirmed");
            }
            let value = b.text(&shown).await?;
            ensure!(value.trim().len() >= 16, "shown: {value:?}");
            Ok(value)
        },
    )
    .await
}

/// Two plain containers made through the server functions (as a script would), on the
/// node's first storage, OS template and bridge; answers their ids.
const CREATE_PLAIN_JS: &str = r#"
return (async (names) => {
  const post = async (name, body, json) => {
    const r = await fetch('/api/fn/' + name, {
      method: 'POST',
      headers: {
        'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
        'accept': 'application/json',
      },
      body,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(name + ': ' + r.status + ' ' + text);
    return JSON.parse(text);
  };
  const inventory = await post('load_inventory', '', false);
  const node = inventory.nodes[0].id;
  const offers = await post('node_offers', 'node_id=' + node, false);
  const ids = [];
  for (const hostname of names) {
    const request = {
      template: null, node_id: node, hostname, vmid: null,
      ostemplate: offers.ostemplates.find((t) => t.includes('debian-12')) || offers.ostemplates[0],
      storage: offers.storages[0].id, disk_gib: 2, cores: 1, memory_mib: 256, swap_mib: 0,
      bridge: offers.bridges[0], ipv4: { mode: 'dhcp' }, nameserver: null, unprivileged: true,
      nesting: false, keyctl: false, fuse: false, onboot: false, tags: ['e2e'],
      root_password: 'e2e-plain-password', ssh_public_keys: null, buckets_off: [],
      packages_added: [], packages_removed: [], scripts_skipped: [],
    };
    ids.push(await post('create_container', JSON.stringify({ request }), true));
  }
  return ids;
})(arguments[0]);
"#;

/// The states of the inventory's rows, as `[[id, state], ...]`.
const STATES_JS: &str = r#"
return (async () => {
  const r = await fetch('/api/fn/load_inventory', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept': 'application/json' },
    body: '',
  });
  const inventory = JSON.parse(await r.text());
  return inventory.rows.filter((row) => row.id !== null).map((row) => [row.id, row.state]);
})();
"#;

/// Waits until container `id` is in `state` by the inventory.
async fn wait_state(b: &Browser, id: i64, state: &str) -> anyhow::Result<()> {
    poll(CREATION_TIMEOUT, Duration::from_secs(1), async || {
        let rows = b.eval(STATES_JS, vec![]).await?;
        let now = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r[0] == serde_json::json!(id)))
            .and_then(|r| r[1].as_str().map(str::to_owned));
        ensure!(now.as_deref() == Some(state), "container {id}: {now:?}");
        Ok(())
    })
    .await
    .with_context(|| format!("waiting for container {id} to be {state}"))
}

/// A row's element on the dashboard.
fn row(id: i64) -> String {
    format!(r#"[data-test="guest"][data-id="{id}"]"#)
}

/// The dashboard after the creation: two more containers; filters in the URL; stop and
/// start from a card; bulk stop two; open the first container and reveal its credential;
/// delete one with its name typed.
async fn manage(b: &Browser, db: i64) -> anyhow::Result<()> {
    let mut steps = Steps::default();
    steps.step("two plain containers, through the server functions; both running");
    let ids = b
        .eval(CREATE_PLAIN_JS, vec![serde_json::json!(["e2e-a", "e2e-b"])])
        .await?;
    let ids: Vec<i64> = serde_json::from_value(ids).context("the new containers' ids")?;
    let [a, c] = ids[..] else {
        bail!("expected two ids, got {ids:?}");
    };
    for id in [a, c] {
        wait_state(b, id, "running").await?;
    }

    steps.step("the dashboard filtered in the URL, then through its form");
    b.goto("/containers?q=e2e-&sort=name&view=cards").await?;
    b.wait_shell_page("/containers", "Containers").await?;
    let names = b
        .texts(r#"[data-test="guest"] [data-test="guest-name"]"#)
        .await?;
    ensure!(
        names == ["e2e-a", "e2e-b", HOSTNAME],
        "sorted by name, filtered by q: {names:?}"
    );
    // KILN_E2E_SHOTS=DIR keeps pictures of the dashboard to look at.
    if let Some(dir) = std::env::var_os("KILN_E2E_SHOTS") {
        let dir = std::path::PathBuf::from(dir);
        b.screenshot(&dir.join("dashboard-cards.png")).await?;
        b.goto("/containers?q=e2e-&sort=name&view=table").await?;
        b.wait_shell_page("/containers", "Containers").await?;
        b.screenshot(&dir.join("dashboard-table.png")).await?;
        b.goto("/containers?q=e2e-&sort=name&view=cards").await?;
        b.wait_shell_page("/containers", "Containers").await?;
    }
    b.fill(r#"[data-test="filter-q"]"#, "e2e-a").await?;
    b.click(r#"[data-test="filter-apply"]"#).await?;
    b.wait_for("the filter applied through the URL", async |b| {
        let state = b.state().await?;
        ensure!(
            state.search.contains("q=e2e-a") && state.hydrated,
            "saw {state}"
        );
        let shown = b.texts(r#"[data-test="guest"]"#).await?;
        ensure!(shown.len() == 1, "{} rows", shown.len());
        Ok(())
    })
    .await?;

    steps.step("stop e2e-a from its card (confirmed), then start it");
    b.click(&format!(r#"{} [data-action="stop"]"#, row(a)))
        .await?;
    b.click(r#"[data-test="board-confirm"] [data-test="confirm"]"#)
        .await?;
    b.wait_text(&format!(r#"{} [data-field="state"]"#, row(a)), "Stopped")
        .await?;
    b.wait_for("a toast saying so", async |b| {
        let toasts = b.texts(TOASTS).await?;
        ensure!(
            toasts.iter().any(|t| t.contains("e2e-a stopped")),
            "{toasts:?}"
        );
        Ok(())
    })
    .await?;
    wait_state(b, a, "stopped").await?;
    b.click(&format!(r#"{} [data-action="start"]"#, row(a)))
        .await?;
    b.wait_text(&format!(r#"{} [data-field="state"]"#, row(a)), "Running")
        .await?;
    wait_state(b, a, "running").await?;

    steps.step("bulk: select e2e-a and e2e-b → Stop, one confirmation, two outcomes");
    b.goto("/containers?q=e2e-&sort=name").await?;
    b.wait_shell_page("/containers", "Containers").await?;
    for id in [a, c] {
        b.click(&format!(r#"{} [data-test="select"]"#, row(id)))
            .await?;
    }
    b.wait_text(r#"[data-test="selected-count"]"#, "2 selected")
        .await?;
    // Beyond the two: every row the filter selects (here the database container too).
    b.wait_text(r#"[data-test="select-matching"]"#, "Select all 3 matching")
        .await?;
    b.click(r#"[data-test="bulk-stop"]"#).await?;
    b.click(r#"[data-test="board-confirm"] [data-test="confirm"]"#)
        .await?;
    b.wait_for("two stopped", async |b| {
        let ok = b.attrs(r#"[data-test="bulk-outcome"]"#, "data-ok").await?;
        ensure!(ok == ["true", "true"], "outcomes {ok:?}");
        Ok(())
    })
    .await?;
    for id in [a, c] {
        wait_state(b, id, "stopped").await?;
    }

    steps.step(&format!(
        "open {HOSTNAME} from the dashboard and reveal {CREDENTIAL}"
    ));
    b.click(&format!(r#"{} a[data-test="guest-name"]"#, row(db)))
        .await?;
    b.wait_page(&format!("/containers/{db}"), HOSTNAME).await?;
    b.click(r#"a[data-test="tab-services"]"#).await?;
    b.find_visible(r#"[data-test="services"]"#).await?;
    reveal(b).await?;

    steps.step("delete e2e-b: the name typed before the button works");
    b.goto("/containers?q=e2e-b").await?;
    b.wait_shell_page("/containers", "Containers").await?;
    b.click(&format!(r#"{} [data-action="delete"]"#, row(c)))
        .await?;
    let confirm = r#"[data-test="board-confirm"] [data-test="confirm"]"#;
    ensure!(
        !b.is_enabled(confirm).await?,
        "Delete is enabled before the name is typed"
    );
    b.fill(r#"[data-test="confirm-typed"]"#, "e2e-b").await?;
    b.wait_for("Delete enabled", async |b| {
        ensure!(b.is_enabled(confirm).await?, "still disabled");
        Ok(())
    })
    .await?;
    b.click(confirm).await?;
    poll(CREATION_TIMEOUT, Duration::from_secs(1), async || {
        let rows = b.eval(STATES_JS, vec![]).await?;
        let left = rows
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r[0] == serde_json::json!(c)));
        ensure!(!left, "e2e-b is still listed");
        Ok(())
    })
    .await
    .context("waiting for e2e-b to be deleted")?;
    b.reload().await?;
    b.wait_shell_page("/containers", "Containers").await?;
    ensure!(
        b.exists(r#"[data-test="no-match"]"#).await?,
        "e2e-b is gone from the dashboard"
    );
    Ok(())
}

/// Waits until nothing matches `css`.
async fn wait_gone(b: &Browser, css: &str) -> anyhow::Result<()> {
    b.wait_for(&format!("`{css}` to go"), async |b| {
        ensure!(!b.exists(css).await?, "`{css}` is still there");
        Ok(())
    })
    .await
}

/// Waits until the checkbox `css` is unchecked.
async fn wait_unchecked(b: &Browser, css: &str) -> anyhow::Result<()> {
    b.wait_for(&format!("`{css}` unchecked"), async |b| {
        let checked = b
            .eval(
                "const e = document.querySelector(arguments[0]); return e ? e.checked : null;",
                vec![serde_json::json!(css)],
            )
            .await?;
        ensure!(checked == serde_json::json!(false), "checked: {checked}");
        Ok(())
    })
    .await
}

/// The log's lines as shown.
async fn log_lines(b: &Browser) -> anyhow::Result<Vec<String>> {
    Ok(b.text(LOG)
        .await?
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect())
}

/// The error shown on the container's page, if any.
async fn error_text(b: &Browser) -> String {
    b.text(r#"[data-test="error"]"#)
        .await
        .unwrap_or_else(|_| "(no error shown)".to_owned())
}
