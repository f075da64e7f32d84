//! The agent's live output for watchers (issue 29): a build in one process writes what its agent
//! does to the session's output stream; `iteratr watch --json` in another process, started late,
//! first gets what the current iteration already said, then the rest as it comes, and ends when
//! the build ends. On SQLite and on a real nats-server.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::{Project, finish, planning_turn, stdout_and_stderr, summary, tool};
use crate::common::{PATIENCE, bin};

/// Planning, then one iteration that says something, calls a tool and waits for `go`, then says
/// more and completes the session.
fn script(go: &std::path::Path) -> Script {
    Script::turns([
        planning_turn(),
        Turn::of([
            Action::say("hello from the agent\n"),
            tool("note-add", json!({"type": "tip", "content": "watched"})),
            Action::wait_file(go),
            Action::say("after the wait\n"),
            tool("task-batch-add", json!({"tasks": [{"content": "x"}]})),
            tool("task-status", json!({"id": "TAS-4", "status": "completed"})),
            tool("task-status", json!({"id": "TAS-1", "status": "completed"})),
            tool("task-status", json!({"id": "TAS-2", "status": "completed"})),
            tool("task-status", json!({"id": "TAS-3", "status": "completed"})),
            summary("watched"),
            tool("session-complete", json!({"summary": "done"})),
        ]),
    ])
}

/// `iteratr watch --json` on the project's session, in another process.
fn watch_json(p: &Project, global: &[&str]) -> std::process::Child {
    Command::new(bin())
        .current_dir(p.path())
        .args(global)
        .args(["watch", "--json", "--session", "demo"])
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .env_remove("ITERATR_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads a child's stdout lines on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Lines until one contains `needle` (all of them, that one included).
fn until(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!(
        "no line with {needle:?} within {PATIENCE:?}:\n{}",
        seen.join("\n")
    );
}

/// The watcher ends by itself when the build ends, both cleanly; `seen` gets its last lines.
fn both_end(
    watch: std::process::Child,
    build: std::process::Child,
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
) {
    let rest = finish(watch, PATIENCE);
    assert_eq!(
        rest.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rest.stderr)
    );
    seen.extend(rx.try_iter());
    let built = finish(build, PATIENCE);
    assert_eq!(built.status.code(), Some(0));
}

/// The agent's text as the watcher printed it (`--json` lines of type `agent`).
fn agent_texts(lines: &[String]) -> String {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "agent" && v["update"]["type"] == "text")
        .filter_map(|v| v["update"]["text"].as_str().map(str::to_string))
        .collect()
}

fn watched(p: &Project, global: &[&str]) {
    let go = p.path().join("go");
    p.script(&script(&go));
    let build = p.command(&["--headless"]).spawn().unwrap();
    // The watcher starts late: the agent has already spoken and waits.
    p.wait_for_agent("waiting");
    let mut watch = watch_json(p, global);
    let rx = lines_of(&mut watch);
    let mut seen = Vec::new();
    until(&rx, "hello from the agent", &mut seen);
    // The retained tool call, with its result, comes before anything new happens.
    until(&rx, "\"status\":\"completed\"", &mut seen);
    assert!(
        seen.iter().any(|l| l.contains("\"tool_call\"")),
        "{}",
        seen.join("\n")
    );
    std::fs::write(&go, "").unwrap();
    until(&rx, "after the wait", &mut seen);
    both_end(watch, build, &rx, &mut seen);
    let text = agent_texts(&seen);
    assert!(
        text.contains("hello from the agent\n") && text.contains("after the wait\n"),
        "{text}"
    );
    // Planning's words belong to an earlier iteration: a late watcher starts at the current one.
    assert!(!text.contains("Planning."), "{text}");
    // Each line once: nothing doubled between the retained part and the live one.
    assert_eq!(text.matches("hello from the agent").count(), 1, "{text}");
    assert_eq!(p.status()["completed"], true);
}

#[test]
fn a_late_watcher_on_sqlite_sees_the_current_iterations_output_then_the_rest() {
    let p = Project::new(Script::turns([]));
    watched(&p, &[]);
}

#[test]
fn a_late_watcher_on_jetstream_sees_the_current_iterations_output_then_the_rest() {
    let server = crate::common::nats::NatsServer::start();
    let p = Project::new(Script::turns([])).with_env("ITERATR_NATS_URL", &server.url());
    watched(&p, &[]);
    assert!(
        !p.path().join(".iteratr/iteratr.db").exists(),
        "build and watcher used JetStream"
    );
}

/// A record the watcher cannot read (damaged, or from a newer iteratr) is said and skipped; the
/// records after it are shown.
#[test]
fn an_unreadable_output_record_is_skipped_with_a_notice() {
    use iteratr::frontend::AgentUpdate;
    use iteratr::output::OutputRecord;
    use iteratr::session::{Author, Event, EventKind};
    use iteratr::store::{EventLog, SqliteLog};
    let p = Project::new(Script::turns([]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let log = SqliteLog::open(&p.path().join(".iteratr")).unwrap();
        let hello = Event::new(
            1,
            Author::User,
            EventKind::UserMessage {
                text: "hi".into(),
                who: String::new(),
            },
        );
        log.append("demo", 0, vec![hello]).await.unwrap();
        let good = |text: &str| {
            OutputRecord::new(None, None, AgentUpdate::Text { text: text.into() }).to_json()
        };
        let newer = good("from the future").replace("\"v\":1", "\"v\":7");
        log.append_output(
            "demo",
            vec![
                (1, good("before\n")),
                (2, "{not json".into()),
                (3, newer),
                (4, good("after\n")),
            ],
        )
        .await
        .unwrap();
    });
    let mut watch = watch_json(&p, &[]);
    let rx = lines_of(&mut watch);
    let mut seen = Vec::new();
    until(&rx, "after", &mut seen);
    let _ = watch.kill();
    let _ = watch.wait();
    let notices: Vec<&String> = seen.iter().filter(|l| l.contains("unreadable")).collect();
    assert_eq!(notices.len(), 2, "{}", seen.join("\n"));
    assert!(notices[1].contains("newer iteratr"), "{}", notices[1]);
    assert_eq!(agent_texts(&seen), "before\nafter\n");
}

/// `--output-retention off`: the build writes no output records at all, and a watcher says once
/// that this build keeps no live output (the session log it still shows).
#[test]
fn with_the_output_stream_off_nothing_is_written_and_a_watcher_says_so() {
    use iteratr::store::{EventLog, SqliteLog};
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(&script(&go));
    let build = p
        .command(&["--headless", "--output-retention", "off"])
        .spawn()
        .unwrap();
    p.wait_for_agent("waiting");
    let mut watch = watch_json(&p, &[]);
    let rx = lines_of(&mut watch);
    let mut seen = Vec::new();
    until(&rx, "keeps no live output", &mut seen);
    std::fs::write(&go, "").unwrap();
    both_end(watch, build, &rx, &mut seen);
    let said = seen
        .iter()
        .filter(|l| l.contains("keeps no live output (--output-retention off)"))
        .count();
    assert_eq!(said, 1, "{}", seen.join("\n"));
    // The log is followed as ever; the agent's words are nowhere.
    assert!(
        seen.iter().any(|l| l.contains("session_completed")),
        "{}",
        seen.join("\n")
    );
    assert_eq!(agent_texts(&seen), "");
    let status = p.status();
    assert_eq!(status["completed"], true);
    assert_eq!(status["builder"], Value::Null);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let records = rt.block_on(async {
        let log = SqliteLog::open(&p.path().join(".iteratr")).unwrap();
        log.read_output("demo", 0, 1000).await.unwrap()
    });
    assert!(records.is_empty(), "{records:?}");
}

/// The bound of the builds that flood it: 64 KiB of output a session.
const RETENTION: &str = "1h,64KiB";

/// The numbers of the agent's records the project's store keeps now (the writer's, in order):
/// its SQLite store, or the JetStream at `nats`.
fn kept_numbers(p: &Project, nats: Option<&str>) -> Vec<u64> {
    use iteratr::store::{EventLog, NatsLog, NatsOptions, SqliteLog};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let entries = rt.block_on(async {
        let log: Box<dyn EventLog> = match nats {
            // With the build's bound: on JetStream the last process to open the output stream
            // sets its limits.
            Some(url) => {
                let mut opts = NatsOptions::new(url);
                opts.output_retention = RETENTION.parse().unwrap();
                Box::new(NatsLog::connect(&opts).await.unwrap())
            }
            None => Box::new(SqliteLog::open(&p.path().join(".iteratr")).unwrap()),
        };
        log.read_output("demo", 0, 10_000).await.unwrap()
    });
    entries
        .iter()
        .map(|e| {
            iteratr::output::OutputRecord::from_json(&e.payload)
                .unwrap()
                .n
        })
        .collect()
}

fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

/// A watcher whose process is stopped while the build floods a 64 KiB bound: when it fell behind
/// (`behind`, when the test knows it will), it says how many of the agent's records were pruned before it read them, and goes
/// on with the retained ones; what it shows and what it says it missed add up to what was written.
fn falls_behind(p: &Project, nats: Option<&str>, behind: Option<bool>) {
    let go = p.path().join("go");
    let mut flood = vec![Action::say("flood-start\n"), Action::wait_file(&go)];
    for i in 0..60 {
        flood.push(Action::say(format!("block-{i} {}\n", "x".repeat(4000))));
    }
    flood.extend([Action::say("last words\n"), summary("flooded")]);
    p.script(&Script::turns([planning_turn(), Turn::of(flood)]));
    let retention = ["--output-retention", RETENTION];
    let build = p
        .command(&[&["--headless", "-i", "1"][..], &retention].concat())
        .spawn()
        .unwrap();
    p.wait_for_agent("waiting");
    let mut watch = watch_json(p, &retention);
    let rx = lines_of(&mut watch);
    let mut seen = Vec::new();
    until(&rx, "flood-start", &mut seen);
    // The watcher read everything written so far; then it stops reading.
    signal(&watch, "STOP");
    let read_up_to = *kept_numbers(p, nats).last().unwrap();
    std::fs::write(&go, "").unwrap();
    let built = finish(build, PATIENCE);
    assert_eq!(
        built.status.code(),
        Some(3),
        "{}",
        stdout_and_stderr(&built)
    );
    let first_kept = kept_numbers(p, nats)[0];
    assert!(first_kept > read_up_to + 1, "nothing was pruned");
    signal(&watch, "CONT");
    until(&rx, "last words", &mut seen);
    let rest = finish(watch, PATIENCE);
    assert_eq!(rest.status.code(), Some(0), "{}", stdout_and_stderr(&rest));
    seen.extend(rx.try_iter());
    let last_kept = *kept_numbers(p, nats).last().unwrap();
    let told: Vec<&String> = seen.iter().filter(|l| l.contains("fell behind")).collect();
    let short: Vec<String> = seen.iter().map(|l| l.chars().take(100).collect()).collect();
    let context = format!(
        "read up to {read_up_to}, kept {first_kept} to {last_kept}:\n{}",
        short.join("\n")
    );
    assert!(told.len() <= 1, "{context}");
    let missed: u64 = told.first().map_or(0, |t| {
        let n = t.split("fell behind: ").nth(1).unwrap().split(' ').next();
        n.unwrap().parse().unwrap()
    });
    if let Some(told) = told.first() {
        assert!(
            told.contains("output records of the agent were pruned (the store's output retention) before it read them; going on from the oldest retained"),
            "{told}"
        );
    }
    if let Some(behind) = behind {
        assert_eq!(missed > 0, behind, "{context}");
    }
    // Every record after `flood-start` was either shown or counted as missed, none twice.
    let start = seen.iter().position(|l| l.contains("flood-start")).unwrap();
    let shown = seen[start + 1..]
        .iter()
        .filter(|l| l.contains("\"type\":\"agent\""))
        .count() as u64;
    assert_eq!(shown + missed, last_kept - read_up_to, "{context}");
    let text = agent_texts(&seen);
    assert!(
        text.starts_with("flood-start\n") && text.ends_with("last words\n"),
        "{context}"
    );
}

#[test]
fn a_watcher_that_falls_behind_on_sqlite_says_how_many_records_it_missed() {
    falls_behind(&Project::new(Script::turns([])), None, Some(true));
}

/// JetStream keeps a session's output as a count of messages (64 KiB here: one) and numbers
/// records by its stream's sequence, shared by every session. A stopped watcher still gets what
/// the server had sent to its connection before it stopped (here, so far, the whole flood, which
/// the store pruned meanwhile): whatever it missed it counts, and what it shows adds up.
#[test]
fn a_stopped_watcher_on_jetstream_counts_what_it_missed_or_says_nothing() {
    let server = crate::common::nats::NatsServer::start();
    let url = server.url();
    let p = Project::new(Script::turns([])).with_env("ITERATR_NATS_URL", &url);
    falls_behind(&p, Some(&url), None);
}
