//! The web dashboard over HTTP, as a browser or a script meets it (issue 30): the token and its
//! cookie, what a foreign page or a view-only token may not do, ops recorded with who sent
//! them, and a live stream that resumes after a server restart with nothing lost or repeated.
//! The browser itself is in `web_browser.rs`.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::fake_agent::log;
use crate::common::procs::KillOnDrop;
use crate::common::project::{Project, build_completes, finish, full_script, stdout_and_stderr};
use crate::common::web::{Dashboard, Sse, TOKEN, read_banner, request};
use crate::common::{PATIENCE, as_ana, bin};

/// `iteratr web ARGS` in the project, as ana@laptop.
fn web_command(p: &Project, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(p.path())
        .arg("web")
        .args(args)
        .env_remove("ITERATR_DATA_DIR")
        .env_remove(iteratr_web_token())
        .env("USER", "ana")
        .env("ITERATR_HOST", "laptop")
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn iteratr_web_token() -> &'static str {
    "ITERATR_WEB_TOKEN"
}

/// A started `iteratr web` and where it is.
fn start_web(p: &Project, args: &[&str], token: Option<&str>) -> (KillOnDrop, Dashboard) {
    let mut cmd = web_command(p, args);
    if let Some(token) = token {
        cmd.env(iteratr_web_token(), token);
    }
    let mut child = cmd.spawn().unwrap();
    let view = args.contains(&"--view-token");
    let (dashboard, _rest) = read_banner(&mut child, view, PATIENCE);
    (KillOnDrop::new(child), dashboard)
}

/// A project whose session `demo` was built to completion.
fn built_project() -> Project {
    let p = Project::new(full_script());
    build_completes(&p);
    p
}

fn events_in_log(p: &Project) -> u64 {
    p.status()["events"].as_u64().unwrap()
}

#[test]
fn the_dashboard_asks_for_its_token_and_refuses_foreign_pages_and_viewers() {
    let p = built_project();
    let (_web, d) = start_web(&p, &["--addr", "127.0.0.1:0", "--view-token"], None);
    let (token, view) = (d.token().to_string(), d.view_token().unwrap().to_string());
    assert_eq!(token.len(), 64, "a fresh random token: {}", d.url);
    assert_ne!(token, view);

    // No token: 401, for the API and for the page.
    let api = d.get("/api/sessions", &[]);
    assert_eq!(api.status, 401, "{}", api.body);
    assert_eq!(
        api.header("www-authenticate"),
        Some("Bearer realm=\"iteratr\"")
    );
    assert!(api.body.contains("open the address"), "{}", api.body);
    let page = d.get("/", &[]);
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("needs its access token"),
        "{}",
        page.body
    );
    assert_eq!(d.get("/?token=not-the-token", &[]).status, 401);

    // The token is traded for an HttpOnly, SameSite=Strict cookie, and leaves the address bar.
    let login = d.get(&format!("/?token={token}"), &[]);
    assert_eq!(login.status, 303, "{login:?}");
    assert_eq!(login.header("location"), Some("/"));
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with(&format!("iteratr_{}={token};", d.port)),
        "{cookie}"
    );
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let with_cookie = format!("iteratr_{}={token}", d.port);
    let page = d.get("/", &[("Cookie", &with_cookie)]);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page.body.contains("/assets/app.js"));
    assert!(!page.body.contains("<script>"), "no inline script");
    let sessions = d.get_json("/api/sessions");
    assert_eq!(sessions["sessions"][0]["name"], "demo", "{sessions}");
    assert_eq!(sessions["sessions"][0]["status"], "completed", "{sessions}");
    assert_eq!(sessions["role"], "control");

    // Another Host (DNS rebinding): refused even with the token.
    let rebound = d.get(
        "/api/sessions",
        &[("Host", "rebound.example:80"), ("Cookie", &with_cookie)],
    );
    assert_eq!(rebound.status, 403, "{}", rebound.body);

    let before = events_in_log(&p);
    let message = json!({"op": "message", "text": "from the web"});
    // A page of another origin, with the browser's cookie: refused, nothing stored.
    let ops = "/api/sessions/demo/ops";
    let body = message.to_string();
    for origin in [
        Some("http://evil.example"),
        Some("http://127.0.0.1:1"),
        None,
    ] {
        let mut headers = vec![
            ("Cookie", with_cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(o) = origin {
            headers.push(("Origin", o));
        }
        let r = request(d.port, "POST", ops, &headers, Some(&body));
        assert_eq!(r.status, 403, "{origin:?}: {}", r.body);
        assert!(r.body.contains("another origin"), "{}", r.body);
    }
    // The view-only token sees, and is refused every op.
    let bearer_view = format!("Bearer {view}");
    let seen = d.get("/api/sessions", &[("Authorization", &bearer_view)]);
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("\"role\":\"view\""), "{}", seen.body);
    let refused = d.op("demo", &view, &message);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("view-only"), "{}", refused.body);
    // A bad op says what is wrong; nothing is stored.
    for bad in [
        json!({"op": "explode"}),
        json!({"op": "message", "text": "x", "shell": "rm -rf /"}),
        json!({"op": "set_status", "task": "TAS-1", "status": "nearly"}),
    ] {
        let r = d.op("demo", &token, &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("not an op"), "{}", r.body);
    }
    let r = d.op(
        "demo",
        &token,
        &json!({"op": "set_status", "task": "TAS-99", "status": "completed"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("TAS-99"), "{}", r.body);
    let r = d.op("nosuch", &token, &message);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(events_in_log(&p), before, "nothing stored by a refused op");

    // The page's own origin with the control token: done, as the person at the browser.
    let ok = d.op(
        "demo",
        &token,
        &json!({"op": "add_task", "content": "from the web", "priority": 1}),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let status = p.status();
    let added = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["content"] == "from the web")
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(added["priority"], 1);
    assert_eq!(added["status"], "remaining");
    // A script with the bearer token and no Origin may send ops too.
    let bearer = format!("Bearer {token}");
    let r = request(
        d.port,
        "POST",
        ops,
        &[("Authorization", &bearer)],
        Some(&json!({"op": "pause"}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(p.status()["paused"].is_object(), "{}", p.status());

    // A commit's diff from the repository here; a hash that is not one is refused.
    let commit = status["iterations"][1]["commit"].as_str();
    if let Some(hash) = commit {
        let shown = d.get_json(&format!("/api/sessions/demo/commits/{hash}"));
        assert_eq!(shown["available"], true, "{shown}");
        assert!(
            shown["text"].as_str().unwrap().contains("hello.txt"),
            "{shown}"
        );
    }
    let bad = d.get(
        "/api/sessions/demo/commits/HEAD;ls",
        &[("Authorization", &bearer)],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn web_refuses_an_address_other_than_loopback_without_listen() {
    let p = built_project();
    let out = web_command(&p, &["--addr", "0.0.0.0:0"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let text = stdout_and_stderr(&out);
    assert!(
        text.contains("loopback only") && text.contains("--listen"),
        "{text}"
    );
    let out = web_command(&p, &["--addr", "127.0.0.1:0"])
        .env(iteratr_web_token(), "short")
        .output()
        .unwrap();
    let text = stdout_and_stderr(&out);
    assert!(
        text.contains("the web token (ITERATR_WEB_TOKEN) is too short"),
        "{text}"
    );
    // Build flags that go with --web only.
    let out = p.build(&["--headless", "--view-token"]);
    let text = stdout_and_stderr(&out);
    assert!(text.contains("go with --web"), "{text}");
}

/// Reads a session's stream until the log event with sequence number `last`; returns the log
/// events' and the output records' sequence numbers (until the stream is quiet) and the last id.
fn read_to(sse: &mut Sse, last: u64) -> (Vec<u64>, Vec<u64>, String) {
    let (mut logs, mut outputs, mut id) = (Vec::new(), Vec::new(), String::new());
    sse.until(PATIENCE, |e| {
        if let Some(i) = &e.id {
            id = i.clone();
        }
        match e.event.as_str() {
            "log" => logs.push(e.json()["seq"].as_u64().unwrap()),
            "output" => outputs.push(e.json()["seq"].as_u64().unwrap()),
            _ => {}
        }
        logs.last() == Some(&last)
    });
    // The output comes beside the log, in its own order: take what comes until it is quiet.
    while let Some(e) = sse.next(Duration::from_secs(1)) {
        if e.event == "output" {
            outputs.push(e.json()["seq"].as_u64().unwrap());
            id = e.id.clone().unwrap();
        }
        assert_ne!(e.event, "log", "an event after the last: {e:?}");
    }
    (logs, outputs, id)
}

#[test]
fn a_stream_resumed_after_a_server_restart_has_no_gap_and_no_duplicate() {
    let p = built_project();
    let (web, d) = start_web(&p, &["--addr", "127.0.0.1:0"], Some(TOKEN));
    let last = events_in_log(&p);
    let mut sse = Sse::open(&d, "/api/sessions/demo/live?after=0&output=0", None);
    assert_eq!(sse.status, 200);
    let (logs, outputs, id) = read_to(&mut sse, last);
    assert_eq!(
        logs,
        (1..=last).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert!(!outputs.is_empty(), "the build's output is retained");
    assert!(outputs.windows(2).all(|w| w[0] < w[1]), "{outputs:?}");
    assert_eq!(id, format!("{last}.{}", outputs.last().unwrap()));

    // The server goes away; the session goes on without it.
    drop(sse);
    drop(web);
    for text in ["one", "two", "three"] {
        let out = as_ana(p.path(), &["message", "--session", "demo", text]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    }
    // The same address and token again; the browser resumes with its Last-Event-ID.
    let addr = format!("127.0.0.1:{}", d.port);
    let (_web, again) = start_web(&p, &["--addr", &addr], Some(TOKEN));
    assert_eq!(again.port, d.port);
    let mut sse = Sse::open(&again, "/api/sessions/demo/live", Some(&id));
    let (logs, outputs, _) = read_to(&mut sse, last + 3);
    assert_eq!(
        logs,
        vec![last + 1, last + 2, last + 3],
        "no gap, nothing twice"
    );
    assert!(outputs.is_empty(), "no output record twice: {outputs:?}");
}

#[test]
fn build_web_serves_the_builds_dashboard_and_its_ops_reach_the_agent() {
    use crate::common::fake_agent::script::{Action, Script, Turn};
    use crate::common::project::{planning_turn, summary};
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(&Script::turns([planning_turn()]).repeat(Turn::of([
        Action::say("working\n"),
        Action::wait_file(&go),
        summary("waited"),
    ])));
    let mut build = p
        .command(&["--headless", "--web", "127.0.0.1:0"])
        .env("USER", "ana")
        .env("ITERATR_HOST", "laptop")
        .spawn()
        .unwrap();
    let (d, _rest) = read_banner(&mut build, false, PATIENCE);
    p.wait_for_agent("waiting");
    let token = d.token().to_string();
    let summary = d.get_json("/api/sessions/demo");
    assert_eq!(summary["summary"]["status"], "running", "{summary}");
    let sent = d.op(
        "demo",
        &token,
        &json!({"op": "message", "text": "use tabs, from the web"}),
    );
    assert_eq!(sent.status, 200, "{}", sent.body);
    let status = p.status();
    let recorded = status["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(recorded["text"], "use tabs, from the web", "{status}");
    assert_eq!(recorded["who"], "ana@laptop (web, 127.0.0.1)", "{status}");
    std::fs::write(&go, "").unwrap();
    crate::common::wait_until(
        PATIENCE,
        || format!("{:?}", p.agent_events::<log::Prompt>()),
        || {
            p.agent_events::<log::Prompt>()
                .iter()
                .any(|pr| pr.text.contains("use tabs, from the web"))
        },
    );
    let stop = d.op("demo", &token, &json!({"op": "stop"}));
    assert_eq!(stop.status, 200, "{}", stop.body);
    let status = p.status();
    assert_eq!(
        status["stop"]["who"], "ana@laptop (web, 127.0.0.1)",
        "{status}"
    );
    p.wait_for_agent_times("waiting", 2);
    std::fs::write(&go, "").unwrap();
    let out = finish(build, PATIENCE);
    assert_eq!(out.status.code(), Some(130), "{}", stdout_and_stderr(&out));
    // The build ended: so did its dashboard.
    assert!(std::net::TcpStream::connect(("127.0.0.1", d.port)).is_err());
}

#[test]
fn the_dashboard_follows_a_session_on_jetstream() {
    let nats = crate::common::nats::NatsServer::start();
    let p = Project::new(full_script()).with_env("ITERATR_NATS_URL", &nats.url());
    build_completes(&p);
    let (_web, d) = start_web(&p, &["--addr", "127.0.0.1:0"], None);
    let sessions = d.get_json("/api/sessions");
    assert!(
        sessions["store"].as_str().unwrap().contains("nats"),
        "{sessions}"
    );
    assert_eq!(sessions["sessions"][0]["status"], "completed", "{sessions}");
    let last = events_in_log(&p);
    let mut sse = Sse::open(&d, "/api/sessions/demo/live?after=0&output=0", None);
    let (logs, outputs, _) = read_to(&mut sse, last);
    assert_eq!(logs, (1..=last).collect::<Vec<_>>());
    assert!(!outputs.is_empty(), "the output stream on JetStream");
    // An op through the dashboard lands in the JetStream log, and its stream says so.
    let sent = d.op(
        "demo",
        d.token(),
        &json!({"op": "message", "text": "over jetstream"}),
    );
    assert_eq!(sent.status, 200, "{}", sent.body);
    let seen = sse.until(PATIENCE, |e| e.event == "log");
    let event = seen.last().unwrap().json();
    assert_eq!(event["seq"], last + 1, "{event}");
    assert_eq!(event["event"]["event"]["text"], "over jetstream", "{event}");
}
