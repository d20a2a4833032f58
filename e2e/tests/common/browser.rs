//! Chromedriver and a headless Chromium session, with the explicit waits the tests use.
//!
//! Every wait polls every 100 ms for up to 15 s and, on timeout, says what it expected, what it
//! saw last and the current URL. Page checks read one [`PageState`] snapshot per poll (a single
//! script), so a page that changes under the test never leaves a stale element behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::process::{ChildGuard, ScratchDir};
use super::{free_port, poll};

/// How long any wait in the browser may take.
pub const WAIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// `CHROMEDRIVER` or the Debian path.
fn chromedriver_binary() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned())
}

/// `CHROMIUM` or the Debian path.
fn chromium_binary() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// A running chromedriver; stopped when dropped.
pub struct Chromedriver {
    process: ChildGuard,
    url: String,
}

impl Chromedriver {
    pub async fn start(scratch: &ScratchDir) -> anyhow::Result<Self> {
        let binary = chromedriver_binary();
        ensure!(
            Path::new(&binary).is_file(),
            "chromedriver not found at {binary} (install Debian's `chromium-driver` or set \
             CHROMEDRIVER)"
        );
        let port = free_port()?;
        let mut command = Command::new(&binary);
        command.arg(format!("--port={port}"));
        let log = scratch.path().join("chromedriver.log");
        let mut process = ChildGuard::spawn("chromedriver", command, log, Duration::from_secs(5))?;
        let deadline = Instant::now() + WAIT;
        loop {
            process.check_alive()?;
            match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    bail!("chromedriver did not listen on port {port} within 15 s: {e}")
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
        Ok(Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    pub fn print_log_tail(&self, lines: usize) {
        self.process.print_log_tail(lines);
    }
}

/// What a page looks like right now (one script, so the parts agree with each other).
#[derive(Debug, Clone, Default)]
pub struct PageState {
    pub path: String,
    /// The query string, with its `?`.
    pub search: String,
    /// `<html data-hydrated="true">`: the app has hydrated, its event handlers work.
    pub hydrated: bool,
    /// The text of the first `<h1>`.
    pub h1: Option<String>,
    /// `<html data-theme>`.
    pub theme: Option<String>,
    /// The `href`s of the sidebar links marked `aria-current="page"`.
    pub current_nav: Vec<String>,
}

const PAGE_STATE_JS: &str = r#"
    const root = document.documentElement;
    const h1 = document.querySelector('h1');
    return {
        path: location.pathname,
        search: location.search,
        hydrated: root.getAttribute('data-hydrated') === 'true',
        h1: h1 ? h1.textContent.trim() : null,
        theme: root.getAttribute('data-theme'),
        current_nav: Array.from(document.querySelectorAll('nav.nav a[aria-current="page"]'))
            .map(a => a.getAttribute('href')),
    };
"#;

impl PageState {
    fn from_json(value: &Value) -> anyhow::Result<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            path: text("path").context("the page state has no path")?,
            search: text("search").unwrap_or_default(),
            hydrated: value
                .get("hydrated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            h1: text("h1"),
            theme: text("theme"),
            current_nav: value
                .get("current_nav")
                .and_then(Value::as_array)
                .map(|links| {
                    links
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

impl std::fmt::Display for PageState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "path {}{}, <h1> {:?}, hydrated {}, data-theme {:?}, current nav link {:?}",
            self.path, self.search, self.h1, self.hydrated, self.theme, self.current_nav
        )
    }
}

/// A Chromium session pointed at one kiln.
pub struct Browser {
    client: Client,
    base_url: String,
}

impl Browser {
    /// Opens a headless Chromium with a fresh profile in `<scratch>/chrome`.
    pub async fn connect(
        driver: &Chromedriver,
        base_url: &str,
        scratch: &ScratchDir,
    ) -> anyhow::Result<Self> {
        let chromium = chromium_binary();
        ensure!(
            Path::new(&chromium).is_file(),
            "Chromium not found at {chromium} (install Debian's `chromium` or set CHROMIUM)"
        );
        let profile = scratch.subdir("chrome")?;
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            bail!("the capabilities are not a JSON object");
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .context("starting a Chromium session through chromedriver")?;
        Ok(Self {
            client,
            base_url: base_url.to_owned(),
        })
    }

    /// Ends the session (Chromium exits).
    pub async fn close(self) -> anyhow::Result<()> {
        self.client
            .close()
            .await
            .context("closing the WebDriver session")
    }

    /// Loads `path` of the server as a full page load.
    pub async fn goto(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base_url);
        self.client
            .goto(&url)
            .await
            .with_context(|| format!("loading {url}"))
    }

    /// Reloads the current page (a full page load).
    pub async fn reload(&self) -> anyhow::Result<()> {
        self.client.refresh().await.context("reloading the page")
    }

    pub async fn current_url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("<unknown: {e}>"),
        }
    }

    /// Polls `check` until it succeeds; on timeout the error names `what`, the last thing
    /// `check` saw instead, and the current URL.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl AsyncFnMut(&Self) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match poll(WAIT, POLL, async || check(self).await).await {
            Ok(value) => Ok(value),
            Err(last) => {
                let url = self.current_url().await;
                Err(last.context(format!(
                    "timed out after {} s waiting for {what} (current URL: {url})",
                    WAIT.as_secs()
                )))
            }
        }
    }

    /// A snapshot of the page.
    pub async fn state(&self) -> anyhow::Result<PageState> {
        let value = self.client.execute(PAGE_STATE_JS, vec![]).await?;
        PageState::from_json(&value)
    }

    /// Waits until the page at `path` shows `<h1>{title}</h1>` and has hydrated.
    pub async fn wait_page(&self, path: &str, title: &str) -> anyhow::Result<PageState> {
        let what = format!("the hydrated page {path} with <h1>{title}</h1>");
        self.wait_for(&what, async |b| {
            let state = b.state().await?;
            ensure!(
                state.path == path && state.h1.as_deref() == Some(title) && state.hydrated,
                "saw {state}{}",
                if state.path == path && !state.hydrated {
                    " (not hydrated: is the browser bundle built into target/site/pkg, and did \
                     the WebAssembly load?)"
                } else {
                    ""
                }
            );
            Ok(state)
        })
        .await
    }

    /// First-run setup from an empty Kiln: `/` leads to `/setup`; creates the administrator and
    /// waits for the dashboard with the user menu showing `username`.
    pub async fn first_run_setup(&self, username: &str, password: &str) -> anyhow::Result<()> {
        const SETUP_FORM: &str = r#"form[data-test="setup-form"]"#;
        self.goto("/").await?;
        self.wait_page("/setup", "Welcome to Kiln").await?;
        self.fill(&format!("{SETUP_FORM} #field-username"), username)
            .await?;
        self.fill(&format!("{SETUP_FORM} #field-password"), password)
            .await?;
        self.fill(&format!("{SETUP_FORM} #field-confirm"), password)
            .await?;
        self.click(&format!("{SETUP_FORM} button[type=submit]"))
            .await?;
        self.wait_shell_page("/", "Dashboard").await?;
        self.wait_text("details.user-menu .user-name", username)
            .await
    }

    /// [`Self::wait_page`] for a page inside the shell: also, exactly the sidebar link to
    /// `path` is marked `aria-current="page"`.
    pub async fn wait_shell_page(&self, path: &str, title: &str) -> anyhow::Result<PageState> {
        let state = self.wait_page(path, title).await?;
        let what = format!("only the sidebar link {path} to carry aria-current=\"page\"");
        self.wait_for(&what, async |b| {
            let state = b.state().await?;
            ensure!(state.current_nav == [path], "saw {state}");
            Ok(())
        })
        .await?;
        Ok(state)
    }

    /// Waits until `css` matches a displayed element.
    pub async fn find_visible(&self, css: &str) -> anyhow::Result<Element> {
        self.wait_for(&format!("a visible `{css}`"), async |b| {
            let element = b.client.find(Locator::Css(css)).await?;
            ensure!(
                element.is_displayed().await?,
                "`{css}` exists but is hidden"
            );
            Ok(element)
        })
        .await
    }

    /// Scrolls `element` to the middle of the viewport at once. WebDriver scrolls on its own
    /// before a click, but the stylesheet's `scroll-behavior: smooth` makes that scroll
    /// animate, so the click would land where the element was (or under the sticky top bar).
    async fn scroll_into_view(&self, element: &Element) -> anyhow::Result<()> {
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', inline: 'nearest', \
                 behavior: 'instant'});",
                vec![serde_json::to_value(element)?],
            )
            .await
            .context("scrolling an element into view")?;
        Ok(())
    }

    /// Clicks the displayed element `css` (waiting for it first).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find_visible(css).await?;
        self.scroll_into_view(&element).await?;
        element
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Types `value` into the empty(ied) input `css`, as a user would.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let input = self.find_visible(css).await?;
        input
            .clear()
            .await
            .with_context(|| format!("clearing `{css}`"))?;
        input
            .send_keys(value)
            .await
            .with_context(|| format!("typing into `{css}`"))?;
        let typed = input.prop("value").await?.unwrap_or_default();
        ensure!(
            typed == value,
            "typed {value:?} into `{css}`, but it holds {typed:?}"
        );
        Ok(())
    }

    /// Waits until the element `css` shows text containing `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) -> anyhow::Result<()> {
        let what = format!("`{css}` to show {expected:?}");
        self.wait_for(&what, async |b| {
            let element = b.client.find(Locator::Css(css)).await?;
            let text = element.text().await?;
            ensure!(text.contains(expected), "it shows {text:?}");
            Ok(())
        })
        .await
    }

    /// The text of the first element `css` matches right now.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no `{css}`"))?;
        Ok(element.text().await?)
    }

    /// The text of every element `css` matches right now, in document order.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await? {
            texts.push(element.text().await?);
        }
        Ok(texts)
    }

    /// Whether the control `css` is enabled (not `disabled`) right now.
    pub async fn is_enabled(&self, css: &str) -> anyhow::Result<bool> {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no `{css}`"))?;
        Ok(element.is_enabled().await?)
    }

    /// The value of the input `css`.
    pub async fn input_value(&self, css: &str) -> anyhow::Result<String> {
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no `{css}`"))?;
        Ok(input.prop("value").await?.unwrap_or_default())
    }

    /// Whether `css` matches anything right now.
    pub async fn exists(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!self.client.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// The theme in effect: `<html data-theme>`, else what the system prefers.
    pub async fn effective_theme(&self) -> anyhow::Result<String> {
        let js = "return document.documentElement.getAttribute('data-theme') || \
                  (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');";
        let value = self.client.execute(js, vec![]).await?;
        value
            .as_str()
            .map(str::to_owned)
            .context("the effective theme is not a string")
    }

    /// The value of the cookie `name`, if set.
    pub async fn cookie(&self, name: &str) -> anyhow::Result<Option<String>> {
        let cookies = self.client.get_all_cookies().await?;
        Ok(cookies
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned()))
    }

    /// Marks the current document; a full page load forgets the mark, client-side navigation
    /// keeps it.
    pub async fn mark_document(&self) -> anyhow::Result<()> {
        self.client
            .execute("window.__kilnE2eMark = true;", vec![])
            .await?;
        Ok(())
    }

    /// Whether the mark of [`Self::mark_document`] is still there (no full page load since).
    pub async fn document_is_marked(&self) -> anyhow::Result<bool> {
        let value = self
            .client
            .execute("return window.__kilnE2eMark === true;", vec![])
            .await?;
        Ok(value.as_bool().unwrap_or(false))
    }

    /// Chooses `value` in the `<select>` `css` as a user would (the page sees a `change`).
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let element = self.find_visible(css).await?;
        let js = "const s = arguments[0]; s.value = arguments[1]; \
                  s.dispatchEvent(new Event('input', {bubbles: true})); \
                  s.dispatchEvent(new Event('change', {bubbles: true})); return s.value;";
        let chosen = self
            .client
            .execute(js, vec![serde_json::to_value(&element)?, json!(value)])
            .await
            .with_context(|| format!("choosing {value:?} in `{css}`"))?;
        ensure!(
            chosen.as_str() == Some(value),
            "`{css}` has no option {value:?} (it holds {chosen})"
        );
        Ok(())
    }

    /// The attribute `name` of the first element `css` matches.
    pub async fn attr(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        let element = self.find_visible(css).await?;
        Ok(element.attr(name).await?)
    }

    /// The attribute `name` of every element `css` matches right now, in document order.
    pub async fn attrs(&self, css: &str, name: &str) -> anyhow::Result<Vec<String>> {
        let mut values = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await? {
            values.push(element.attr(name).await?.unwrap_or_default());
        }
        Ok(values)
    }

    /// Fetches `path` from the page (same origin, with its cookies) and returns the status,
    /// the content type and the body's bytes.
    pub async fn fetch_bytes(&self, path: &str) -> anyhow::Result<(u16, String, Vec<u8>)> {
        let js = "const done = arguments[arguments.length - 1]; \
                  fetch(arguments[0], {credentials: 'same-origin'}) \
                    .then(async r => done({status: r.status, type: r.headers.get('content-type') || '', \
                                            bytes: Array.from(new Uint8Array(await r.arrayBuffer()))})) \
                    .catch(e => done({error: String(e)}));";
        let value = self
            .client
            .execute_async(js, vec![json!(path)])
            .await
            .with_context(|| format!("fetching {path} in the page"))?;
        if let Some(error) = value.get("error") {
            bail!("fetching {path} failed: {error}");
        }
        let status = value.get("status").and_then(Value::as_u64).unwrap_or(0);
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let bytes = value
            .get("bytes")
            .and_then(Value::as_array)
            .context("the fetch returned no body")?
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()).unwrap_or(0))
            .collect();
        Ok((u16::try_from(status).unwrap_or(0), kind, bytes))
    }

    /// Runs `js` in the page as an async script: it ends by calling
    /// `arguments[arguments.length - 1]` with its result.
    pub async fn eval_async(&self, js: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute_async(js, args)
            .await
            .context("running an async script in the page")
    }

    /// Runs `js` in the page (`arguments[i]` are `args`) and returns what it returns.
    pub async fn eval(&self, js: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute(js, args)
            .await
            .context("running a script in the page")
    }

    /// Resizes the browser window (e.g. to a phone's width).
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.client
            .set_window_size(width, height)
            .await
            .with_context(|| format!("resizing the window to {width}×{height}"))
    }

    /// Saves a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Prints where the browser is and what it shows (for a failure report).
    pub async fn print_page(&self) {
        eprintln!("[e2e] browser at {}", self.current_url().await);
        match self.state().await {
            Ok(state) => eprintln!("[e2e] page: {state}"),
            Err(e) => eprintln!("[e2e] page state unavailable: {e:#}"),
        }
        let text = self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let text: String = text.chars().take(1200).collect();
        eprintln!("[e2e] page text:\n{text}");
    }
}
