//! The browser harness itself (`tests/common/webdriver.rs`), against a tiny page served here
//! under the dashboard's Content-Security-Policy (`default-src 'self'`: scripts from files only):
//! its script runs, text from JSON stays text, inline script is refused and the browser log says
//! so, screenshots at both window sizes, and no Chromium is left behind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::common::PATIENCE;
use crate::common::webdriver::{Browser, DESKTOP, ENTER, PHONE, is_error, screenshots_dir};

const CSP: &str = "default-src 'self'";
/// What the page's JSON carries and its script puts in with `textContent`.
const INJECTED: &str = "<img src=x onerror=alert(1)>";

const INDEX: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Browser smoke</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head><body>
<h1>Browser smoke</h1>
<button id="go">Go</button> <button id="warn">Warn</button>
<p id="out">idle</p>
<div id="msg"></div>
<form id="form"><input id="name" name="name"></form>
<p id="greeting"></p>
<p id="hidden">not shown</p>
</body></html>"#;

const APP_JS: &str = r#"
document.getElementById('go').addEventListener('click', async () => {
  const data = await (await fetch('/data.json')).json();
  document.getElementById('msg').textContent = data.message;
  document.getElementById('out').textContent = 'clicked';
  console.log('smoke: clicked');
});
document.getElementById('warn').addEventListener('click', () => alert('smoke alert'));
document.getElementById('form').addEventListener('submit', (e) => {
  e.preventDefault();
  document.getElementById('greeting').textContent = 'hello ' + document.getElementById('name').value;
});
document.body.dataset.ready = 'yes';
"#;

const APP_CSS: &str = "body { font-family: sans-serif; margin: 2rem; } #hidden { display: none; }
@media (max-width: 600px) { body { margin: 0.5rem; background: #eef; } }";

const INLINE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Inline</title></head><body>
<p id="out">untouched</p>
<script>document.getElementById('out').textContent = 'ran';</script>
<script src="/ready.js"></script>
</body></html>"#;

/// Serves the test pages on a loopback port, every response under [`CSP`].
async fn serve() -> SocketAddr {
    fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_SECURITY_POLICY, CSP),
            ],
            body,
        )
    }
    let index = (
        [(
            header::SET_COOKIE,
            "smoke=1; Path=/; HttpOnly; SameSite=Strict",
        )],
        file("text/html; charset=utf-8", INDEX),
    );
    let data = json!({ "message": INJECTED }).to_string();
    let routes = Router::new()
        .route("/", get(move || async move { index }))
        .route("/app.js", get(|| async { file("text/javascript", APP_JS) }))
        .route("/app.css", get(|| async { file("text/css", APP_CSS) }))
        .route(
            "/data.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], data) }),
        )
        .route(
            "/inline",
            get(|| async { file("text/html; charset=utf-8", INLINE) }),
        )
        .route(
            "/ready.js",
            get(|| async { file("text/javascript", "document.body.dataset.ready = 'yes';") }),
        )
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    addr
}

/// The width and height of a PNG (its IHDR chunk).
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_runs_its_script_and_json_text_stays_inert() -> Result<()> {
    let addr = serve().await;
    let b = Browser::start(DESKTOP).await?;
    eprintln!("Chromium session ready in {:?}", b.startup());
    b.goto(&format!("http://{addr}/")).await?;
    ensure!(b.title().await? == "Browser smoke");
    ensure!(b.current_url().await? == format!("http://{addr}/"));
    b.wait_until("document.body.dataset.ready === 'yes'", PATIENCE)
        .await?;
    ensure!(b.find("#out").await?.text().await? == "idle");

    // The button's handler fetches JSON and puts its string in with textContent.
    b.find("#go").await?.click().await?;
    b.wait_until(
        "document.querySelector('#out').textContent === 'clicked'",
        PATIENCE,
    )
    .await?;
    let msg = b.wait_for("#msg", PATIENCE).await?;
    ensure!(msg.text().await? == INJECTED, "{:?}", msg.text().await?);
    ensure!(msg.find_all("img").await?.is_empty());
    ensure!(b.find_all("img").await?.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(b.alert_text().await?.is_none());

    // An alert the page does raise is seen, so the check above is not vacuous.
    b.find("#warn").await?.click().await?;
    ensure!(b.alert_text().await?.as_deref() == Some("smoke alert"));
    b.accept_alert().await?;
    ensure!(b.alert_text().await?.is_none());

    // Typing, a form, properties and attributes.
    let name = b.find("#name").await?;
    name.send_keys("Ada").await?;
    ensure!(name.prop("value").await? == json!("Ada"));
    name.send_keys(ENTER).await?;
    b.wait_until(
        "document.querySelector('#greeting').textContent === 'hello Ada'",
        PATIENCE,
    )
    .await?;
    name.clear().await?;
    ensure!(name.prop("value").await? == json!(""));
    ensure!(name.attr("name").await?.as_deref() == Some("name"));
    ensure!(name.attr("placeholder").await?.is_none());
    ensure!(b.find("#go").await?.is_displayed().await?);
    ensure!(!b.find("#hidden").await?.is_displayed().await?);
    let out = b.find("#out").await?;
    ensure!(
        b.execute("return arguments[0].id;", &[out.as_arg()])
            .await?
            == json!("out")
    );
    let status = b
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch('/data.json').then(r => done(r.status));",
            &[],
        )
        .await?;
    ensure!(status == json!(200), "{status}");
    let cookies = b.cookies().await?;
    let smoke = cookies.iter().find(|c| c.name == "smoke");
    ensure!(
        smoke.is_some_and(|c| c.value == "1" && c.http_only),
        "{cookies:?}"
    );

    // Screenshots: the viewport is the window, at both sizes.
    let viewport = b.execute("return [innerWidth, innerHeight];", &[]).await?;
    ensure!(viewport == json!([1280, 900]), "{viewport}");
    let desktop = b.screenshot("browser_smoke_desktop").await?;
    ensure!(desktop.starts_with(screenshots_dir()));
    ensure!(png_size(&desktop) == DESKTOP, "{:?}", png_size(&desktop));
    b.set_window_size(PHONE).await?;
    let viewport = b.execute("return [innerWidth, innerHeight];", &[]).await?;
    ensure!(viewport == json!([390, 844]), "{viewport}");
    let phone = b.screenshot("browser_smoke_phone").await?;
    ensure!(png_size(&phone) == PHONE, "{:?}", png_size(&phone));

    // The console message arrived; nothing went wrong on the page.
    let log = b.browser_log().await?;
    ensure!(log.iter().any(|l| l.contains("smoke: clicked")), "{log:#?}");
    ensure!(!log.iter().any(|l| l.starts_with("SEVERE")), "{log:#?}");
    b.delete_session().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_script_is_refused_and_logged() -> Result<()> {
    let addr = serve().await;
    let b = Browser::start(PHONE).await?;
    b.goto(&format!("http://{addr}/inline")).await?;
    b.wait_until("document.body.dataset.ready === 'yes'", PATIENCE)
        .await?;
    ensure!(b.find("#out").await?.text().await? == "untouched");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = b.browser_log().await?;
        if log.iter().any(|l| {
            l.starts_with("SEVERE")
                && l.contains("inline script")
                && l.contains("Content Security Policy")
        }) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no CSP violation in the log: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_what_was_awaited_and_nothing_is_left_running() -> Result<()> {
    let addr = serve().await;
    let b = Browser::start(DESKTOP).await?;
    b.goto(&format!("http://{addr}/")).await?;
    let missing = b.find("#nowhere").await.unwrap_err();
    ensure!(is_error(&missing, "no such element"), "{missing:#}");

    let short = Duration::from_millis(300);
    let waited = format!("{:#}", b.wait_for("#nowhere", short).await.unwrap_err());
    ensure!(
        waited.contains("`#nowhere`")
            && waited.contains("Browser smoke")
            && waited.contains("idle"),
        "{waited}"
    );
    let waited = format!(
        "{:#}",
        b.wait_until("document.querySelector('#nowhere').id === 'x'", short)
            .await
            .unwrap_err()
    );
    ensure!(
        waited.contains("#nowhere") && waited.contains("it threw") && waited.contains("idle"),
        "{waited}"
    );
    let thrown = b
        .execute("throw new Error('boom');", &[])
        .await
        .unwrap_err();
    ensure!(is_error(&thrown, "javascript error") && format!("{thrown:#}").contains("boom"));

    // Dropping the browser (no delete_session) ends Chromium and chromedriver.
    let profile = b.profile_dir().display().to_string();
    let driver = b.driver_pid().expect("chromedriver runs");
    ensure!(!crate::common::procs::with_cmdline(&profile).is_empty());
    drop(b);
    crate::common::procs::wait_gone(driver, "chromedriver", PATIENCE);
    crate::common::wait_until(
        PATIENCE,
        || format!("{:#?}", crate::common::procs::with_cmdline(&profile)),
        || crate::common::procs::with_cmdline(&profile).is_empty(),
    );
    Ok(())
}

/// Run by [`a_killed_test_leaves_no_browser`] (with `ITERATR_TEST_BROWSER_TO_KILL` set): starts a
/// browser, says where its profile is, and waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process of a_killed_test_leaves_no_browser"]
async fn browser_to_be_killed() -> Result<()> {
    if std::env::var_os("ITERATR_TEST_BROWSER_TO_KILL").is_none() {
        return Ok(());
    }
    let b = Browser::start(DESKTOP).await?;
    b.goto("about:blank").await?;
    println!("PROFILE {}", b.profile_dir().display());
    println!("DRIVER {}", b.driver_pid().unwrap_or_default());
    tokio::time::sleep(Duration::from_secs(600)).await;
    Ok(())
}

/// A test binary killed outright (SIGKILL: no unwinding, no `Drop`) leaves no Chromium and no
/// chromedriver running: the kernel kills chromedriver, iteratr's group watcher the rest.
#[test]
fn a_killed_test_leaves_no_browser() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    use crate::common::procs;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "browser_smoke::browser_to_be_killed"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env("ITERATR_TEST_BROWSER_TO_KILL", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut profile, mut driver) = (None, None);
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest's "test browser_smoke::browser_to_be_killed ... " comes first on the line.
        if let Some((_, p)) = line.split_once("PROFILE ") {
            profile = Some(p.to_string());
        } else if let Some(pid) = line.strip_prefix("DRIVER ") {
            driver = Some(pid.parse::<u32>().unwrap());
            break;
        }
    }
    let (Some(profile), Some(driver)) = (profile, driver) else {
        let _ = child.kill();
        panic!("the helper test said no profile: {:?}", child.wait());
    };
    assert!(
        !procs::with_cmdline(&profile).is_empty(),
        "no Chromium runs with {profile}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    procs::wait_gone(driver, "chromedriver", PATIENCE);
    crate::common::wait_until(
        PATIENCE,
        || format!("left running: {:#?}", procs::with_cmdline(&profile)),
        || procs::with_cmdline(&profile).is_empty(),
    );
    // Its temporary profile is the one thing a killed test leaves (its Drop never ran).
    let _ = std::fs::remove_dir_all(&profile);
}
