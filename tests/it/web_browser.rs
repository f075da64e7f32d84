//! The web dashboard in a real browser (headless Chromium through WebDriver; issue 30): sessions
//! and a build moving live, the controls reaching the build, agent output that tries to run
//! script staying inert, and a page that resumes after a server restart with no event lost or
//! doubled. Screenshots go to `target/screenshots/web-*.png`.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::procs::KillOnDrop;
use crate::common::project::{
    Project, build_completes, full_script, planning_turn, status_of, stdout_and_stderr, summary,
    tool,
};
use crate::common::web::{Dashboard, TOKEN, read_banner};
use crate::common::webdriver::{Browser, DESKTOP, PHONE};
use crate::common::{PATIENCE, as_ana, bin, wait_until};

/// A build of the project with `--web` on a free port (and a view-only token), where its
/// dashboard is, and what it printed after the address (kept as it comes).
struct WebBuild {
    child: std::process::Child,
    printed: Arc<Mutex<Vec<String>>>,
}

fn web_build(p: &Project, args: &[&str], view: bool) -> (WebBuild, Dashboard) {
    let mut all = vec!["--headless", "--web", "127.0.0.1:0"];
    if view {
        all.push("--view-token");
    }
    all.extend_from_slice(args);
    let mut child = p
        .command(&all)
        .env("USER", "ana")
        .env("ITERATR_HOST", "laptop")
        .spawn()
        .unwrap();
    let (d, rest) = read_banner(&mut child, view, PATIENCE);
    let printed = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&printed);
    std::thread::spawn(move || {
        while let Ok(line) = rest.recv() {
            keep.lock().unwrap().push(line);
        }
    });
    (WebBuild { child, printed }, d)
}

impl WebBuild {
    /// Waits for the build to end and returns its exit code; after `PATIENCE`, kills it and
    /// fails with what it printed.
    fn end(mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the build did not end within {PATIENCE:?}; it printed:\n{}\n{}",
                    self.printed.lock().unwrap().join("\n"),
                    stdout_and_stderr(&self.child.wait_with_output().unwrap())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Opens the printed address (the token becomes a cookie) at `#/s/NAME` or the sessions page.
async fn open(b: &Browser, d: &Dashboard, url: &str, page: &str) {
    b.goto(&format!("{url}{page}")).await.unwrap();
    assert_eq!(
        b.current_url().await.unwrap(),
        format!("{}/{page}", d.base()),
        "the token left the address bar"
    );
}

async fn text_of(b: &Browser, css: &str) -> String {
    let js = format!("return (document.querySelector({css:?}) || {{}}).innerText || '';");
    b.execute(&js, &[])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_text(b: &Browser, css: &str, needle: &str) {
    let js = format!(
        "(document.querySelector({css:?}) || {{}}).innerText && document.querySelector({css:?}).innerText.includes({needle:?})"
    );
    b.wait_until(&js, PATIENCE).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_a_build_moving_live_in_the_browser() {
    let p = Project::new(full_script());
    let other = p.build(&["--headless", "-n", "other"]);
    assert_eq!(
        other.status.code(),
        Some(0),
        "{}",
        stdout_and_stderr(&other)
    );
    let go = p.path().join("go");
    p.script(&Script::turns([
        planning_turn(),
        Turn::of([
            Action::say("Starting on **TAS-1**: mark-start\n"),
            Action::wait_file(&go),
            status_of("TAS-1", "completed"),
            Action::say("TAS-1 is done: mark-after\n"),
            Action::wait_file(&go),
            summary("two steps"),
        ]),
    ]));
    let (build, d) = web_build(&p, &["-i", "1"], false);
    p.wait_for_agent("waiting");
    let b = Browser::start(DESKTOP).await.unwrap();
    open(&b, &d, &d.url, "#/").await;
    b.wait_until(
        "document.querySelectorAll('#sessions [data-session]').length == 2",
        PATIENCE,
    )
    .await
    .unwrap();
    let list = text_of(&b, "#sessions").await;
    assert!(list.contains("demo") && list.contains("other"), "{list}");
    assert!(
        list.contains("running") && list.contains("completed"),
        "{list}"
    );
    b.screenshot("web-sessions").await.unwrap();

    b.find("[data-session=demo]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&b, "#output", "mark-start").await;
    // Markdown rendered: the bold task id is an element, not asterisks.
    let bold = b
        .execute(
            "return [...document.querySelectorAll('#output strong')].map(e => e.textContent);",
            &[],
        )
        .await
        .unwrap();
    assert!(bold.to_string().contains("TAS-1"), "{bold}");
    b.execute("window.sameDocument = true; return 1;", &[])
        .await
        .unwrap();
    // The agent goes on: the task moves to completed and its words appear, with no reload.
    std::fs::write(&go, "").unwrap();
    b.wait_until(
        "document.querySelector('[data-status=completed] [data-task=\"TAS-1\"]') !== null",
        PATIENCE,
    )
    .await
    .unwrap();
    wait_text(&b, "#output", "mark-after").await;
    wait_text(&b, "#count", "1 of 3 tasks completed").await;
    assert_eq!(
        b.execute("return window.sameDocument === true;", &[])
            .await
            .unwrap(),
        true
    );
    b.screenshot("web-session-desktop").await.unwrap();
    b.set_window_size(PHONE).await.unwrap();
    // The page fits 390 px: nothing wider than the screen, so no sideways scrolling.
    b.wait_until("window.innerWidth == 390", PATIENCE)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wide = b
        .execute(
            "return [document.documentElement.scrollWidth - window.innerWidth,
               [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                 .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)];",
            &[],
        )
        .await
        .unwrap();
    assert!(
        wide[0].as_i64().unwrap() <= 0,
        "the page fits 390 px: {wide}"
    );
    assert_eq!(wide[1], json!([]), "nothing wider than the screen");
    b.screenshot("web-session-phone").await.unwrap();
    std::fs::write(&go, "").unwrap();
    assert_eq!(build.end(), Some(3), "the iteration limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_controls_reach_the_build_and_a_viewer_has_none() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(
        &Script::turns([
            planning_turn(),
            Turn::of([
                Action::say("asking\n"),
                Action::permission("Edit src/lib.rs", "edit"),
                Action::say("allowed: mark-edited\n"),
                Action::wait_file(&go),
                summary("first"),
            ]),
            Turn::of([Action::wait_file(&go), summary("second")]),
        ])
        .repeat(Turn::of([Action::wait_file(&go), summary("more")])),
    );
    let (build, d) = web_build(&p, &["--approve", "ask", "--approve-wait", "10m"], true);
    let b = Browser::start(DESKTOP).await.unwrap();
    open(&b, &d, &d.url, "#/s/demo").await;
    // The agent's request waits; the page allows it, and the tool runs.
    b.wait_for("#requests .approve", PATIENCE).await.unwrap();
    wait_text(&b, "#requests", "Edit src/lib.rs").await;
    b.screenshot("web-approval").await.unwrap();
    b.find("#requests .approve")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&b, "#output", "mark-edited").await;
    let status = p.status();
    assert_eq!(
        status["permissions"]["recent"][0]["decision"], "allowed_by_user",
        "{status}"
    );
    // A message typed on the page reaches the agent's next prompt.
    let input = b.find("#message").await.unwrap();
    input.send_keys("prefer small commits").await.unwrap();
    b.find("#send").await.unwrap().click().await.unwrap();
    wait_until(
        PATIENCE,
        || p.status().to_string(),
        || {
            p.status()["messages"]
                .as_array()
                .is_some_and(|m| !m.is_empty())
        },
    );
    assert_eq!(
        p.status()["messages"][0]["who"],
        "ana@laptop (web, 127.0.0.1)"
    );
    // Pause: the build holds after this iteration.
    b.find("#pause").await.unwrap().click().await.unwrap();
    wait_text(&b, "#status", "paused").await;
    assert_eq!(text_of(&b, "#pause").await, "Resume");
    // The turn ends; the message goes to the agent in a follow-up prompt, which ends too.
    std::fs::write(&go, "").unwrap();
    wait_until(
        PATIENCE,
        || format!("{:?}", p.agent_events::<log::Prompt>()),
        || {
            let prompts = p.agent_events::<log::Prompt>();
            prompts
                .iter()
                .any(|pr| pr.text.contains("prefer small commits"))
        },
    );
    p.wait_for_agent_times("waiting", 2);
    std::fs::write(&go, "").unwrap();
    // Paused after the iteration: no next one starts until the page resumes it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        p.status()["iterations"].as_array().unwrap().len(),
        2,
        "{}",
        p.status()
    );
    b.find("#pause").await.unwrap().click().await.unwrap();
    p.wait_for_agent_times("waiting", 3);
    assert!(p.status()["paused"].is_null());
    // A view-only token: no controls, and a POST from its page is refused.
    let viewer = Browser::start(DESKTOP).await.unwrap();
    open(&viewer, &d, d.view_url.as_ref().unwrap(), "#/s/demo").await;
    viewer.wait_for("#view-only", PATIENCE).await.unwrap();
    let controls = viewer
        .execute("return document.querySelectorAll('#controls, #add-task, .task select, #requests button').length;", &[])
        .await
        .unwrap();
    assert_eq!(controls, 0);
    let refused = viewer
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/sessions/demo/ops', {method: 'POST', headers: {'Content-Type': 'application/json'},
               body: JSON.stringify({op: 'stop'})}).then(r => r.text().then(t => done([r.status, t])));",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(refused[0], 403, "{refused}");
    assert!(p.status()["stop"].is_null(), "nothing recorded");
    viewer.screenshot("web-view-only").await.unwrap();
    // A page of another origin, open in the same browser, tries to stop the build through the
    // browser's cookie: refused (the cookie is SameSite=Strict, and the Origin is not the
    // dashboard's), nothing recorded.
    let evil = evil_page(&d).await;
    b.goto(&evil).await.unwrap();
    b.wait_until("window.tried !== undefined", PATIENCE)
        .await
        .unwrap();
    let tried = b.execute("return window.tried;", &[]).await.unwrap();
    assert!(
        p.status()["stop"].is_null(),
        "a foreign page stopped the build: {tried}"
    );
    assert!(
        p.status()["messages"].as_array().unwrap().len() == 1,
        "{}",
        p.status()
    );
    b.goto(&format!("{}/#/s/demo", d.base())).await.unwrap();
    b.wait_for("#stop", PATIENCE).await.unwrap();
    // Stop after the iteration, from the page.
    b.find("#stop").await.unwrap().click().await.unwrap();
    wait_until(
        PATIENCE,
        || p.status().to_string(),
        || p.status()["stop"].is_object(),
    );
    std::fs::write(&go, "").unwrap();
    assert_eq!(build.end(), Some(130));
}

/// A page on another loopback port whose script sends ops to the dashboard the way an attacker's
/// site would: a simple POST (no preflight) with the browser's cookies, and a JSON one.
async fn evil_page(d: &Dashboard) -> String {
    use axum::routing::get;
    let target = format!("{}/api/sessions/demo/ops", d.base());
    let script = format!(
        "const target = {target:?};
         Promise.allSettled([
           fetch(target, {{method: 'POST', mode: 'no-cors', credentials: 'include',
             headers: {{'Content-Type': 'text/plain'}}, body: JSON.stringify({{op: 'stop'}})}}),
           fetch(target, {{method: 'POST', credentials: 'include',
             headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify({{op: 'message', text: 'evil'}})}}),
         ]).then(r => {{ window.tried = r.map(x => x.status + ' ' + (x.value ? x.value.status : x.reason)); }});"
    );
    let routes = axum::Router::new()
        .route(
            "/",
            get(|| async {
                axum::response::Html(
                    "<!doctype html><title>evil</title><script src=\"/evil.js\"></script>",
                )
            }),
        )
        .route(
            "/evil.js",
            get(move || async move { ([("content-type", "text/javascript")], script) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    format!("http://{addr}/")
}

/// What a prompt-injected agent might print to attack the person's browser.
const ATTACKS: &str = "Look: <img src=x onerror=\"window.pwned=1;alert(1)\"> and <script>window.pwned=2;alert(2)</script> \
and [click me](javascript:window.pwned=3) and [docs](https://example.com/docs) \
<a href=\"javascript:window.pwned=4\">raw link</a> <iframe src=\"javascript:alert(5)\"></iframe>\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_output_that_tries_to_run_script_stays_inert() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(&Script::turns([
        planning_turn(),
        Turn::of([
            Action::say(ATTACKS),
            tool(
                "task-add",
                json!({"content": "<img src=y onerror=\"window.pwned=6\"> task"}),
            ),
            tool(
                "note-add",
                json!({"type": "tip", "content": "<script>window.pwned=7</script> note"}),
            ),
            Action::say("mark-end\n"),
            Action::wait_file(&go),
            summary("<b onmouseover=\"window.pwned=8\">summary</b>"),
        ]),
    ]));
    let (build, d) = web_build(&p, &["-i", "1"], false);
    let b = Browser::start(DESKTOP).await.unwrap();
    open(&b, &d, &d.url, "#/s/demo").await;
    wait_text(&b, "#output", "mark-end").await;
    wait_text(&b, "#board", "task").await;
    wait_text(&b, "#notes", "note").await;
    // Shown as the text it is; nothing of it became an element or ran.
    let output = text_of(&b, "#output").await;
    assert!(output.contains("<img src=x onerror="), "{output}");
    assert!(output.contains("<script>window.pwned=2"), "{output}");
    let found = b
        .execute(
            "return {
               pwned: window.pwned === undefined ? null : window.pwned,
               elements: document.querySelectorAll('main img, main script, main iframe').length,
               js_links: [...document.querySelectorAll('a')].filter(a => (a.getAttribute('href') || '').startsWith('javascript')).length,
               https: [...document.querySelectorAll('#output a')].map(a => [a.href, a.rel, a.target]),
             };",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(found["pwned"], serde_json::Value::Null, "{found}");
    assert_eq!(found["elements"], 0, "{found}");
    assert_eq!(found["js_links"], 0, "{found}");
    assert_eq!(
        found["https"],
        json!([["https://example.com/docs", "noopener noreferrer", "_blank"]]),
        "{found}"
    );
    // Clicking where the javascript: link would be does nothing either.
    b.execute(
        "for (const e of document.querySelectorAll('#output *')) if (e.textContent === 'click me') e.click(); return 1;",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(b.alert_text().await.unwrap(), None, "no dialog opened");
    assert_eq!(
        b.execute("return window.pwned === undefined;", &[])
            .await
            .unwrap(),
        true
    );
    b.screenshot("web-inert").await.unwrap();
    std::fs::write(&go, "").unwrap();
    assert_eq!(build.end(), Some(3), "the iteration limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_resumes_after_a_server_restart_with_no_event_lost_or_doubled() {
    let p = Project::new(full_script());
    build_completes(&p);
    let web = |port: u16| {
        let mut child = Command::new(bin())
            .current_dir(p.path())
            .args(["web", "--addr", &format!("127.0.0.1:{port}")])
            .env_remove("ITERATR_DATA_DIR")
            .env("ITERATR_WEB_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (d, _) = read_banner(&mut child, false, PATIENCE);
        (KillOnDrop::new(child), d)
    };
    let (server, d) = web(0);
    let b = Browser::start(DESKTOP).await.unwrap();
    open(&b, &d, &d.url, "#/s/demo").await;
    let last = p.status()["events"].as_u64().unwrap();
    // The page starts from its snapshot's tail, then follows.
    b.wait_until(
        &format!("window.iteratrSeen.log.includes({last})"),
        PATIENCE,
    )
    .await
    .unwrap();
    drop(server);
    b.wait_until(
        "document.getElementById('conn').classList.contains('lost')",
        PATIENCE,
    )
    .await
    .unwrap();
    for text in ["one", "two", "three"] {
        let out = as_ana(p.path(), &["message", "--session", "demo", text]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    }
    let (_server, again) = web(d.port);
    assert_eq!(again.port, d.port);
    b.wait_until(
        &format!("window.iteratrSeen.log.includes({})", last + 3),
        PATIENCE,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = b
        .execute("return window.iteratrSeen.log;", &[])
        .await
        .unwrap();
    let seen: Vec<u64> = serde_json::from_value(seen).unwrap();
    let first = seen[0];
    assert_eq!(
        seen,
        (first..=last + 3).collect::<Vec<_>>(),
        "every event once, in order, across the restart"
    );
    wait_text(&b, "#activity", "three").await;
    assert!(
        b.execute(
            "return document.getElementById('conn').classList.contains('live');",
            &[]
        )
        .await
        .unwrap()
            == true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_of_the_agent_is_answered_on_the_page() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    let question = json!({"questions": [{
        "header": "Database",
        "question": "Which database should the service use?",
        "options": [{"label": "PostgreSQL", "description": "as in production"}, {"label": "SQLite"}],
    }]});
    p.script(&Script::turns([
        planning_turn(),
        Turn::of([
            tool("ask-questions", question),
            Action::say("mark-asked\n"),
            Action::wait_file(&go),
            summary("asked"),
        ]),
    ]));
    let (build, d) = web_build(&p, &["-i", "1", "--question-wait", "2m"], false);
    let b = Browser::start(DESKTOP).await.unwrap();
    open(&b, &d, &d.url, "#/s/demo").await;
    b.wait_for("#questions [data-question='1']", PATIENCE)
        .await
        .unwrap();
    wait_text(&b, "#questions", "Which database should the service use?").await;
    b.screenshot("web-question").await.unwrap();
    // The second choice, and a few words.
    b.find("#questions input[data-choice='2']")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find("#questions .answer-text")
        .await
        .unwrap()
        .send_keys("small, for now")
        .await
        .unwrap();
    b.find("#questions .answer")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The agent's call returns with the answer, and goes on.
    wait_text(&b, "#output", "mark-asked").await;
    let results = p.agent_events::<log::Tool>();
    let asked = results
        .iter()
        .find(|t| t.name.ends_with("ask-questions"))
        .unwrap_or_else(|| panic!("{results:?}"));
    assert!(!asked.is_error, "{asked:?}");
    assert!(
        asked.text.contains("Database: SQLite — small, for now"),
        "{}",
        asked.text
    );
    assert!(
        asked.text.contains("ana@laptop (web, 127.0.0.1)"),
        "{}",
        asked.text
    );
    // Answered: the page no longer offers it.
    b.wait_until(
        "document.querySelector('#questions [data-question]') === null",
        PATIENCE,
    )
    .await
    .unwrap();
    std::fs::write(&go, "").unwrap();
    assert_eq!(build.end(), Some(3), "the iteration limit");
}
