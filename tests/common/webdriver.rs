//! A real browser for the web tests: headless Chromium driven over the W3C WebDriver protocol by
//! a chromedriver of the test's own (a child process on a loopback port it picks itself, killed
//! with the browser when the [`Browser`] is dropped, or by iteratr's process group watcher should
//! the test binary be killed). A small client over `reqwest`; the bodies are JSON written with
//! `serde_json`.
//!
//! `./test.sh` finds Chromium and chromedriver (and says how to install them when they are
//! missing) and exports `ITERATR_TEST_CHROMIUM` / `ITERATR_TEST_CHROMEDRIVER`; without them the
//! client looks for `chromium` / `chromedriver` on the PATH.
//!
//! ```ignore
//! let b = Browser::start(DESKTOP).await?;
//! b.goto(&format!("http://{addr}/")).await?;
//! b.find("#go").await?.click().await?;
//! b.wait_until("document.querySelector('#out').textContent === 'done'", PATIENCE).await?;
//! b.screenshot("dashboard_desktop").await?;
//! ```

// A toolkit for the dashboard's tests: not every method has a caller yet.
#![allow(dead_code)]

mod element;
mod launch;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::process::Child;

pub use element::Element;
use element::{elements, locator};
use launch::{Watcher, base64_decode, delete_blocking, program, start_driver};

/// A desktop viewport, in CSS pixels (see [`Browser::set_window_size`]).
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone-sized viewport (an iPhone 12 to 15): the narrow layout, without touch or mobile emulation.
pub const PHONE: (u32, u32) = (390, 844);
/// The Enter key, for [`Element::send_keys`].
pub const ENTER: &str = "\u{E007}";

/// How long one WebDriver command may take (a page load included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// An error the WebDriver endpoint returned (`{"value":{"error":..,"message":..}}`), reachable
/// with `err.downcast_ref::<WebDriverError>()`.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The error code: "no such element", "no such alert", "javascript error", ...
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

/// Whether `err` is the WebDriver error `code` ("no such alert", ...).
pub fn is_error(err: &anyhow::Error, code: &str) -> bool {
    err.downcast_ref::<WebDriverError>()
        .is_some_and(|e| e.error == code)
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub http_only: bool,
    pub same_site: Option<String>,
    /// Seconds since the epoch; none for a session cookie.
    pub expiry: Option<u64>,
}

/// One headless Chromium (fresh profile) and its chromedriver.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of chromedriver.
    driver_url: String,
    session: String,
    driver: Child,
    /// Kills chromedriver's group should this process die without dropping the `Browser`.
    watcher: Option<Watcher>,
    deleted: AtomicBool,
    /// Every browser log line read so far (the endpoint hands each line out once).
    log: Mutex<Vec<String>>,
    startup: Duration,
    /// The profile (`--user-data-dir`); removed after the processes are gone.
    profile: tempfile::TempDir,
}

/// Where screenshots go: `target/screenshots` (`$CARGO_TARGET_DIR/screenshots` when set).
pub fn screenshots_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map(|t| manifest.join(t))
        .unwrap_or_else(|| manifest.join("target"));
    target.join("screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (fresh profile, every console message
    /// recorded) whose viewport is `window`: [`DESKTOP`], [`PHONE`] or any `(width, height)`.
    pub async fn start(window: (u32, u32)) -> Result<Browser> {
        let started = Instant::now();
        let chromium = program("ITERATR_TEST_CHROMIUM", &["chromium", "chromium-browser"])?;
        let chromedriver = program(
            "ITERATR_TEST_CHROMEDRIVER",
            &["chromedriver", "chromium.chromedriver"],
        )?;
        let profile = tempfile::Builder::new()
            .prefix("iteratr-chromium-")
            .tempdir()?;
        let (mut driver, port) = start_driver(&chromedriver).await?;
        let watcher = match driver.id().map(Watcher::start) {
            Some(Ok(watcher)) => watcher,
            Some(Err(e)) => {
                let _ = driver.kill().await;
                return Err(e);
            }
            None => bail!("{} ended at once", chromedriver.display()),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()?;
        let mut browser = Browser {
            http,
            driver_url: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            driver,
            watcher: Some(watcher),
            deleted: AtomicBool::new(true),
            log: Mutex::new(Vec::new()),
            startup: Duration::ZERO,
            profile,
        };
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            &format!("--user-data-dir={}", browser.profile.path().display()),
            &format!("--window-size={},{}", window.0, window.1),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "dismiss and notify",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let url = format!("{}/session", browser.driver_url);
        let created = browser
            .send(reqwest::Method::POST, &url, Some(capabilities))
            .await
            .with_context(|| format!("starting {} through chromedriver", chromium.display()))?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session id in {created}"))?
            .to_string();
        browser.deleted.store(false, Ordering::SeqCst);
        // The window size flag sets the outer window; make the viewport itself that size.
        browser.set_window_size(window).await?;
        browser.startup = started.elapsed();
        Ok(browser)
    }

    /// The browser's profile (`--user-data-dir`): every Chromium process has it on its command line.
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// chromedriver's process id (none once it has been reaped).
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.id()
    }

    /// How long [`Browser::start`] took (chromedriver, Chromium, the first window).
    pub fn startup(&self) -> Duration {
        self.startup
    }

    async fn send(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&body)?);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let reply: Value = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{method} {url}: {status}, not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        })?;
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let message = value["message"].as_str().unwrap_or_default();
            // chromedriver appends "\n  (Session info: chrome=...)"; the first lines say it all.
            let message = message.split("\n  (Session info").next().unwrap_or(message);
            let path = url.strip_prefix(&self.driver_url).unwrap_or(url);
            return Err(anyhow::Error::new(WebDriverError {
                error: error.to_string(),
                message: message.trim().to_string(),
            })
            .context(format!("WebDriver {method} {path}")));
        }
        Ok(value)
    }

    /// A command of this session: `path` below `/session/{id}`.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/session/{}{path}", self.driver_url, self.session);
        self.send(method, &url, body).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    /// Loads `url` and waits until the page has loaded (its `load` event).
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({"url": url})).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<String> {
        Ok(self.get("/url").await?.as_str().unwrap_or_default().into())
    }

    pub async fn title(&self) -> Result<String> {
        Ok(self
            .get("/title")
            .await?
            .as_str()
            .unwrap_or_default()
            .into())
    }

    pub async fn refresh(&self) -> Result<()> {
        self.post("/refresh", json!({})).await.map(drop)
    }

    /// The first element matching the CSS selector; fails ("no such element") when none does.
    pub async fn find(&self, css: &str) -> Result<Element<'_>> {
        let found = self.post("/element", locator(css)).await?;
        Element::from_json(self, &found)
    }

    /// Every element matching the CSS selector, in document order (maybe none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let found = self.post("/elements", locator(css)).await?;
        elements(self, &found)
    }

    /// Polls until an element matches `css` (present, not necessarily visible); after `timeout`
    /// fails saying what it awaited and what the page shows.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.find_all(css).await?.into_iter().next() {
                return Ok(element);
            }
            if Instant::now() >= deadline {
                bail!(
                    "waited {timeout:?} for an element `{css}` on {}; the page shows:\n{}",
                    self.current_url().await.unwrap_or_default(),
                    self.page_text()
                        .await
                        .unwrap_or_else(|e| format!("({e:#})"))
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until the JavaScript expression `js` is truthy; after `timeout` fails saying what
    /// it awaited, the last exception it threw (if any) and what the page shows.
    pub async fn wait_until(&self, js: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        // On lines of their own: `js` may end with a `//` comment.
        let script = format!("return !!(\n{js}\n);");
        loop {
            let last_error = match self.execute(&script, &[]).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => None,
                Err(e) if is_error(&e, "javascript error") => Some(format!("{e:#}")),
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                let threw = last_error
                    .map(|e| format!(" (it threw: {e})"))
                    .unwrap_or_default();
                bail!(
                    "waited {timeout:?} until `{js}`{threw} on {}; the page shows:\n{}",
                    self.current_url().await.unwrap_or_default(),
                    self.page_text()
                        .await
                        .unwrap_or_else(|e| format!("({e:#})"))
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` (a function body: `return ...`; `arguments[i]` are `args`, an element as
    /// [`Element::as_arg`]) in the page and returns what it returned.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Like [`Browser::execute`], but the script ends by calling its last argument with the
    /// result: `const done = arguments[arguments.length - 1]; fetch(..).then(r => done(r.status))`.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Result<Value> {
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
    }

    /// The page's visible text (`document.body.innerText`), cut at 4000 characters.
    pub async fn page_text(&self) -> Result<String> {
        let text = self
            .execute(
                "return document.body ? document.body.innerText : document.documentElement.outerHTML;",
                &[],
            )
            .await?;
        let text = text.as_str().unwrap_or_default();
        Ok(match text.char_indices().nth(4000) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        })
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let data = self.get("/screenshot").await?;
        let png = base64_decode(data.as_str().unwrap_or_default())?;
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// The text of the open alert, confirm or prompt; none when no dialog is open.
    pub async fn alert_text(&self) -> Result<Option<String>> {
        match self.get("/alert/text").await {
            Ok(text) => Ok(Some(text.as_str().unwrap_or_default().to_string())),
            Err(e) if is_error(&e, "no such alert") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn accept_alert(&self) -> Result<()> {
        self.post("/alert/accept", json!({})).await.map(drop)
    }

    pub async fn dismiss_alert(&self) -> Result<()> {
        self.post("/alert/dismiss", json!({})).await.map(drop)
    }

    /// The cookies the browser holds for the current page.
    pub async fn cookies(&self) -> Result<Vec<Cookie>> {
        Ok(serde_json::from_value(self.get("/cookie").await?)?)
    }

    /// Every browser log line since the session started, as `LEVEL message` (`SEVERE`,
    /// `WARNING`, `INFO`, ...): console messages (`console-api 12:8 "text"`), uncaught
    /// exceptions, failed loads and Content-Security-Policy violations. chromedriver's
    /// legacy `/se/log` endpoint, which it still answers in W3C mode.
    pub async fn browser_log(&self) -> Result<Vec<String>> {
        let entries = self.post("/se/log", json!({"type": "browser"})).await?;
        let mut log = self.log.lock().unwrap();
        for entry in entries.as_array().into_iter().flatten() {
            log.push(format!(
                "{} {}",
                entry["level"].as_str().unwrap_or("?"),
                entry["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(log.clone())
    }

    /// Makes the viewport (`innerWidth` x `innerHeight`, what a page lays out in and a screenshot
    /// shows) `width` x `height` CSS pixels: [`DESKTOP`], [`PHONE`] or any size. Headless
    /// Chromium draws no browser interface yet counts one in the window's height, so the window
    /// is made larger by that much.
    pub async fn set_window_size(&self, (width, height): (u32, u32)) -> Result<()> {
        let mut window = (width, height);
        for _ in 0..3 {
            self.post(
                "/window/rect",
                json!({"width": window.0, "height": window.1}),
            )
            .await?;
            let viewport = self
                .execute("return [innerWidth, innerHeight];", &[])
                .await?;
            let (w, h) = (viewport[0].as_u64(), viewport[1].as_u64());
            let (Some(w), Some(h)) = (w, h) else {
                bail!("no viewport size: {viewport}");
            };
            if (w, h) == (u64::from(width), u64::from(height)) {
                return Ok(());
            }
            let grow = |window: u32, got: u64, want: u32| {
                (i64::from(window) + i64::from(want) - got as i64).max(1) as u32
            };
            window = (grow(window.0, w, width), grow(window.1, h, height));
        }
        bail!("could not make the viewport {width}x{height}")
    }

    /// Ends the session: Chromium quits. Dropping the `Browser` does this too (best effort) and
    /// then kills chromedriver and whatever is left of the browser.
    pub async fn delete_session(&self) -> Result<()> {
        if self.deleted.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.cmd(reqwest::Method::DELETE, "", None).await.map(drop)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.deleted.swap(true, Ordering::SeqCst) {
            // Drop cannot await: a plain HTTP request lets Chromium quit cleanly.
            let _ = delete_blocking(&self.driver_url, &self.session);
        }
        // chromedriver leads a process group of its own, Chromium's processes included.
        if let Some(pid) = self.driver.id() {
            iteratr::process::signal_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.driver.start_kill();
        drop(self.watcher.take());
    }
}
