//! Notifications (`[notify]`, issue 31): real builds with the fake agent, and webhooks received by
//! a local server in this process (`tests/common/webhook.rs`; nothing leaves 127.0.0.1). What
//! needs a person is told once, in the shape each channel takes; a channel that fails or never
//! answers is retried and reported, and holds up nothing; nothing of the log reaches a shell; the
//! secret in a webhook's address is never shown.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::*;
use crate::common::webhook::{Answer, Received, Receiver, certificates};
use crate::common::{PATIENCE, bin};

fn settings(p: &Project, toml: &str) {
    std::fs::write(p.path().join("iteratr.toml"), toml).unwrap();
}

/// `iteratr ARGS` in the project, as a person at another terminal runs it.
fn iteratr(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .current_dir(p.path())
        .args(args)
        .env_remove("ITERATR_DATA_DIR")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Every file under `dir`, read as bytes, holds none of `secrets`.
fn assert_nowhere_in(dir: &Path, secrets: &[&str]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_nowhere_in(&path, secrets);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} is in {}",
                path.display()
            );
        }
    }
}

fn by_path<'a>(got: &'a [Received], prefix: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.target.starts_with(prefix))
        .collect()
}

const SECRETS: [&str; 4] = [
    "SECRETPATH1",
    "SECRETQUERY2",
    "SECRETTOPIC3",
    "SECRETSLACK4",
];

#[test]
fn webhooks_in_json_ntfy_and_slack_shapes_hear_of_a_waiting_request_and_of_the_completion() {
    let hook = Receiver::start(Answer::Ok);
    let p = Project::new(Script::turns([
        planning_turn(),
        Turn::of([
            Action::permission("Edit src/lib.rs", "edit"),
            status_of("TAS-1", "completed"),
            status_of("TAS-2", "completed"),
            status_of("TAS-3", "completed"),
            summary("all done"),
            tool("session-complete", json!({"summary": "all done"})),
        ]),
    ]));
    let log_file = p.path().join("run.log");
    let p = p
        .with_env("ITERATR_LOG_FILE", log_file.to_str().unwrap())
        .with_env("ITERATR_LOG_LEVEL", "debug");
    settings(
        &p,
        &format!(
            r#"[notify]
window = "300ms"

[[notify.webhook]]
url = "{}"
on = ["permission", "completed"]

[[notify.webhook]]
url = "{}"
format = "ntfy"
on = ["permission", "completed"]

[[notify.webhook]]
url = "{}"
format = "slack"
on = ["permission", "completed"]
"#,
            hook.url("http", "/json/SECRETPATH1?token=SECRETQUERY2"),
            hook.url("http", "/ntfy/SECRETTOPIC3"),
            hook.url("http", "/slack/T0/B0/SECRETSLACK4"),
        ),
    );
    let build = p
        .command(&["--headless", "--approve", "ask", "--approve-wait", "2m"])
        .spawn()
        .unwrap();
    let got = hook.wait_for(3, PATIENCE);
    assert_eq!(got.len(), 3, "one notification a channel: {got:#?}");
    // iteratr's JSON.
    let json = by_path(&got, "/json/")[0];
    assert_eq!(json.target, "/json/SECRETPATH1?token=SECRETQUERY2");
    assert_eq!(json.header("content-type"), Some("application/json"));
    let j = json.json();
    assert_eq!(j["session"], "demo");
    assert_eq!(j["events"], json!(["permission"]));
    assert_eq!(j["title"], "iteratr demo: permission request P-1 waits");
    assert_eq!(j["items"][0]["id"], "P-1");
    assert!(
        j["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Edit src/lib.rs"),
        "{j}"
    );
    assert_eq!(
        j["items"][0]["action"],
        "iteratr approve --session demo P-1 (or iteratr deny --session demo P-1)"
    );
    // ntfy's: the message as the body, the title and the rest as headers.
    let ntfy = by_path(&got, "/ntfy/")[0];
    assert_eq!(
        ntfy.header("title"),
        Some("iteratr demo: permission request P-1 waits")
    );
    assert_eq!(ntfy.header("priority"), Some("high"));
    assert_eq!(ntfy.header("tags"), Some("iteratr,permission"));
    assert!(ntfy.body.contains("Edit src/lib.rs"), "{}", ntfy.body);
    assert!(
        ntfy.body.contains("→ iteratr approve --session demo P-1"),
        "{}",
        ntfy.body
    );
    // Slack's incoming webhook: {"text": ...}.
    let slack = by_path(&got, "/slack/")[0].json();
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.starts_with("*iteratr demo: permission request P-1 waits*\n"),
        "{text}"
    );
    assert!(
        text.contains("`iteratr approve --session demo P-1"),
        "{text}"
    );

    let approved = iteratr(&p, &["approve", "P-1", "--session", "demo"], &[]);
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        stdout_and_stderr(&approved)
    );
    let out = finish(build, PATIENCE);
    let shown = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let got = hook.wait_for(6, PATIENCE);
    assert_eq!(got.len(), 6, "{got:#?}");
    let done = by_path(&got, "/json/")[1].json();
    assert_eq!(done["events"], json!(["completed"]));
    assert_eq!(done["title"], "iteratr demo: the session is complete");
    assert_eq!(
        by_path(&got, "/ntfy/")[1].header("title"),
        Some("iteratr demo: the session is complete")
    );
    assert_eq!(
        by_path(&got, "/ntfy/")[1].header("priority"),
        Some("default")
    );
    let slack = by_path(&got, "/slack/")[1].json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("*iteratr demo: the session is complete*"),
        "{slack}"
    );

    // The secret parts of the addresses are nowhere but in the settings file: not in the
    // build's output, its log file, the session store, or what `iteratr config` shows.
    let config = iteratr(&p, &["config"], &[]);
    let config = stdout_and_stderr(&config);
    let shown_url = format!("webhook http://{}/… (json)", hook.addr);
    assert!(config.contains(&shown_url), "{config}");
    assert!(
        config.contains("on completed, permission") || config.contains("on permission, completed"),
        "{config}"
    );
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("notified webhook"), "{log}");
    for s in SECRETS {
        assert!(!shown.contains(s), "{s} in the build's output:\n{shown}");
        assert!(!config.contains(s), "{s} in iteratr config:\n{config}");
        assert!(!log.contains(s), "{s} in the log file:\n{log}");
    }
    assert_nowhere_in(&p.path().join(".iteratr"), &SECRETS);
}

/// The loop's span (planning's start to the last iteration's end), from the session's record.
fn loop_span(p: &Project) -> Duration {
    let s = p.status();
    let its = s["iterations"].as_array().unwrap();
    let start = its[0]["started_at_ms"].as_i64().unwrap();
    let end = its.last().unwrap()["finished_at_ms"].as_i64().unwrap();
    Duration::from_millis((end - start) as u64)
}

/// A build of planning and `n` iterations whose agent asks permission each time (refused after
/// 300 ms): how long its loop took, and the whole process.
fn asking_iterations(toml: Option<&str>, n: usize) -> (Duration, Duration, String) {
    let p = Project::new(Script::turns([planning_turn()]).repeat(Turn::of([
        Action::permission("Edit src/lib.rs", "edit"),
        summary("asked"),
    ])));
    if let Some(toml) = toml {
        settings(&p, toml);
    }
    let started = Instant::now();
    let out = p.build(&[
        "--headless",
        "-i",
        &n.to_string(),
        "--approve",
        "ask",
        "--approve-wait",
        "300ms",
    ]);
    let took = started.elapsed();
    let shown = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    (loop_span(&p), took, shown)
}

#[test]
fn a_webhook_that_never_answers_does_not_delay_the_loop() {
    let dead = Receiver::start(Answer::Never);
    let toml = format!(
        "[notify]\nwindow = \"0s\"\ntimeout = \"2s\"\nretries = 1\n\n[[notify.webhook]]\nurl = \"{}\"\non = [\"permission\", \"stopped\"]\n",
        dead.url("http", "/never/SECRETPATH1")
    );
    let n = 6;
    let (quiet_loop, quiet_took, _) = asking_iterations(None, n);
    let (loop_with, took_with, shown) = asking_iterations(Some(&toml), n);
    let asked = dead.received().len();
    println!(
        "loop of planning + {n} iterations that each wait for a person: {:.2} s without notifications, {:.2} s with a webhook that never answers ({asked} requests it held); the whole build {:.2} s and {:.2} s",
        quiet_loop.as_secs_f64(),
        loop_with.as_secs_f64(),
        quiet_took.as_secs_f64(),
        took_with.as_secs_f64(),
    );
    assert!(asked >= 1, "the webhook was never called:\n{shown}");
    // Generous: the notifications' 2 s timeouts and retries would add far more than this if
    // the loop waited for them.
    assert!(
        loop_with < quiet_loop + Duration::from_secs(4),
        "the loop took {loop_with:?} with the dead webhook, {quiet_loop:?} without"
    );
    assert!(!shown.contains("SECRETPATH1"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_asking_within_the_window_make_one_notification() {
    let hook = Receiver::start(Answer::Ok);
    let tasks = ["write a.txt: a", "write b.txt: b", "write c.txt: c"];
    let p = crate::workers::team_project(&tasks, vec![summary("Planned")], 0);
    let gate = p.path().join("gate");
    // Each worker's agent waits at the gate, then asks, then works: the three ask at once.
    p.script(
        &Script::turns([Turn::of([summary("Planned")])]).repeat(Turn::of([
            Action::wait_file(&gate),
            Action::permission("Edit shared.rs", "edit"),
            Action::work(0),
        ])),
    );
    settings(
        &p,
        &format!(
            "[notify]\nwindow = \"2s\"\n\n[[notify.webhook]]\nurl = \"{}\"\non = [\"permission\"]\n",
            hook.url("http", "/team")
        ),
    );
    let build = crate::common::procs::KillOnDrop::new(
        p.command(&[
            "--headless",
            "--workers",
            "3",
            "--approve",
            "ask",
            "--approve-wait",
            "5s",
        ])
        .spawn()
        .unwrap(),
    );
    p.wait_for_agent_times("waiting", 3);
    std::fs::write(&gate, "").unwrap();
    let out = finish(build.into_inner(), Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let got = hook.received();
    assert_eq!(got.len(), 1, "one notification for the three: {got:#?}");
    let j = got[0].json();
    assert_eq!(
        j["title"], "iteratr demo: 3 permission requests wait",
        "{j}"
    );
    let ids: Vec<&str> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["P-1", "P-2", "P-3"], "{j}");
    let text = j["message"].as_str().unwrap();
    for w in ["w1", "w2", "w3"] {
        assert!(text.contains(&format!("worker {w}'s agent")), "{text}");
    }
}

#[test]
fn a_command_channel_gets_the_task_text_as_a_value_and_nothing_of_it_runs() {
    let p = Project::new(Script::turns([
        planning_turn(),
        Turn::of([status_of("TAS-1", "blocked"), summary("blocked it")]),
    ]));
    std::fs::write(
        p.path().join("specs/demo.md"),
        "# Demo\n\n- [ ] Print $(touch pwned) and `touch pwned2`; touch pwned3\n- [ ] Another\n",
    )
    .unwrap();
    settings(
        &p,
        r#"[notify]
window = "200ms"

[[notify.command]]
command = "printf '%s' \"$ITERATR_NOTIFY_MESSAGE\" > notified.txt; cat > notified.json"
on = ["blocked"]

[[notify.command]]
command = ["sh", "-c", "printf '%s' \"$ITERATR_NOTIFY_TITLE\" > stopped.txt"]
on = ["stopped"]
"#,
    );
    let out = p.build(&["--headless", "-i", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    let said = std::fs::read_to_string(p.path().join("notified.txt")).unwrap();
    assert!(
        said.starts_with("TAS-1 is blocked: Print $(touch pwned) and `touch pwned2`; touch pwned3\n→ iteratr status --session demo"),
        "{said}"
    );
    let stdin: Value =
        serde_json::from_slice(&std::fs::read(p.path().join("notified.json")).unwrap()).unwrap();
    assert_eq!(stdin["items"][0]["id"], "TAS-1");
    assert_eq!(stdin["events"], json!(["blocked"]));
    assert_eq!(
        std::fs::read_to_string(p.path().join("stopped.txt")).unwrap(),
        "iteratr demo: the build stopped"
    );
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!p.path().join(f).exists(), "{f} was created: the text ran");
    }
}

#[test]
fn bad_notify_settings_are_refused_with_the_place_and_what_to_write() {
    let p = Project::new(Script::turns([planning_turn()]));
    settings(
        &p,
        "[notify]\nwindow = \"1s\"\n\n[[notify.webhook]]\nurl = \"https://ntfy.sh/t\"\non = [\"permission\", \"blockd\"]\n",
    );
    for args in [vec!["config"], vec!["build", "--headless"]] {
        let out = iteratr(&p, &args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("iteratr.toml:6:") && err.contains("notify.webhook.on: \"blockd\" is not an event to notify; write one of question, permission, blocked, completed, stopped, worker_stopped"),
            "{err}"
        );
    }
    assert!(!p.path().join(".iteratr").exists(), "the build started");
    settings(
        &p,
        "[[notify.webhook]]\nformat = \"ntfy\"\nurl = \"ntfy.sh/SECRETTOPIC3\"\n",
    );
    let out = iteratr(&p, &["notify", "--test"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("iteratr.toml:3:7: notify.webhook.url: not a URL (no http:// or https:// in front); write the whole address, e.g. url = \"https://ntfy.sh/your-topic\""),
        "{err}"
    );
    assert!(!err.contains("SECRETTOPIC3"), "{err}");
}

#[test]
fn notify_test_reaches_every_channel_retries_a_failing_one_and_reports_each() {
    let ok = Receiver::start(Answer::Ok);
    let flaky = Receiver::start(Answer::FailFirst(2));
    let dead = Receiver::start(Answer::FailFirst(usize::MAX));
    let p = Project::new(Script::turns([planning_turn()]));
    // A desktop notifier of our own on PATH, which records what it was given.
    let bin_dir = p.path().join("fake-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let notify_send = bin_dir.join("notify-send");
    std::fs::write(
        &notify_send,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_NOTIFY_SEND_LOG\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &notify_send,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    settings(
        &p,
        &format!(
            r#"[notify]
retries = 2
timeout = "5s"

[[notify.webhook]]
url = "{}"

[[notify.webhook]]
url = "{}"
format = "ntfy"

[[notify.webhook]]
url = "{}"
format = "slack"

[[notify.webhook]]
url = "{}"

[[notify.webhook]]
url = "{}"

[[notify.command]]
command = ["sh", "-c", "cat > test.json"]

[notify.desktop]
"#,
            ok.url("http", "/json/SECRETPATH1"),
            ok.url("http", "/ntfy/SECRETTOPIC3"),
            ok.url("http", "/slack/SECRETSLACK4"),
            flaky.url("http", "/flaky/SECRETPATH1"),
            dead.url("http", "/dead/SECRETQUERY2"),
        ),
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let desktop_log = p.path().join("desktop.log");
    let out = iteratr(
        &p,
        &["notify", "--test", "--session", "demo"],
        &[
            ("PATH", &path),
            ("FAKE_NOTIFY_SEND_LOG", desktop_log.to_str().unwrap()),
        ],
    );
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(1), "one channel failed:\n{text}");
    let line = |r: &Receiver, format: &str| format!("webhook http://{}/… ({format}): ", r.addr);
    assert!(
        text.contains(&format!("{}sent (HTTP 200)\n", line(&ok, "json"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}sent (HTTP 200)\n", line(&ok, "ntfy"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}sent (HTTP 200)\n", line(&ok, "slack"))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}sent (HTTP 200) on attempt 3; before: HTTP 500 Internal Server Error; HTTP 500 Internal Server Error",
            line(&flaky, "json")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}NOT sent after 3 attempts: HTTP 500 Internal Server Error",
            line(&dead, "json")
        )),
        "{text}"
    );
    assert!(
        text.contains("command sh -c cat > test.json: sent (exit 0)"),
        "{text}"
    );
    assert!(text.contains("desktop with "), "{text}");
    assert!(text.contains("desktop: sent (exit 0)"), "{text}");
    for s in SECRETS {
        assert!(!text.contains(s), "{s}: {text}");
    }
    assert_eq!(ok.received().len(), 3);
    assert_eq!(flaky.received().len(), 3);
    assert_eq!(dead.received().len(), 3);
    let j = by_path(&ok.received(), "/json/")[0].json();
    assert_eq!(j["test"], true);
    assert_eq!(j["title"], "iteratr demo: test notification");
    let cmd: Value =
        serde_json::from_slice(&std::fs::read(p.path().join("test.json")).unwrap()).unwrap();
    assert_eq!(cmd["test"], true);
    let desktop = std::fs::read_to_string(&desktop_log).unwrap();
    assert!(
        desktop.starts_with("--app-name=iteratr\n--\niteratr demo: test notification\n"),
        "{desktop}"
    );

    // A build whose only channel keeps failing still does its work, and says so.
    settings(
        &p,
        &format!(
            "[notify]\nretries = 2\n\n[[notify.webhook]]\nurl = \"{}\"\non = [\"completed\"]\n",
            dead.url("http", "/dead/SECRETQUERY2")
        ),
    );
    p.script(&full_script());
    let out = p.build(&["--headless"]);
    let shown = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains(&format!(
            "iteratr: warning: notification to webhook http://{}/… (json) not sent (3 attempts): HTTP 500 Internal Server Error",
            dead.addr
        )),
        "{shown}"
    );
    assert_eq!(dead.received().len(), 6);
    assert!(!shown.contains("SECRETQUERY2"), "{shown}");
}

#[test]
fn https_webhooks_are_sent_only_to_a_certificate_the_platform_trusts() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path());
    let hook = Receiver::start_tls(Answer::Ok, &cert, &key);
    let p = Project::new(Script::turns([planning_turn()]));
    settings(
        &p,
        &format!(
            "[notify]\nretries = 0\n\n[[notify.webhook]]\nurl = \"{}\"\n",
            hook.url("https", "/tls/SECRETPATH1")
        ),
    );
    // Our own CA is not among the machine's roots: refused, certificate checked.
    let out = iteratr(&p, &["notify", "--test", "--session", "demo"], &[]);
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("webhook https://{}/… (json): NOT sent", hook.addr)),
        "{text}"
    );
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(hook.received().is_empty(), "{:#?}", hook.received());
    // Trusted through the platform's own way to add roots (SSL_CERT_FILE): sent over TLS.
    let out = iteratr(
        &p,
        &["notify", "--test", "--session", "demo"],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(": sent (HTTP 200)"), "{text}");
    let got = hook.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].target, "/tls/SECRETPATH1");
    assert_eq!(got[0].json()["test"], true);
    assert!(!text.contains("SECRETPATH1"), "{text}");
}
