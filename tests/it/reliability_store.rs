//! A failing store under a running build: the disk fills up, the data dir turns read-only, the
//! database is truncated or damaged, another process holds the write lock, the JetStream server
//! stops and comes back, or stays away longer than the retry window. Each time: a clear error
//! (what failed, what to do), no partial events, stored events never rewritten, and the build
//! either goes on or stops so that running it again completes the session.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_agent::log::{self, Event};
use crate::common::fake_agent::script::{Action, Script, Turn};

use crate::common::nats::NatsServer;
use crate::common::project::*;
use crate::common::reliability::{Tmpfs, assert_prefix, report, sqlite_log, stored_rows};
use crate::common::{PATIENCE, conformance::next_event, wait_until};
use crate::store_nats::{Writer, append_numbered, check_whole, record_retries, retrying};
use iteratr::store::{EventLog, NatsLog, NatsOptions, read_all};

/// A work turn that takes TAS-1 and then waits for the test's `go` before finishing it.
fn held_turn() -> Turn {
    Turn::of([
        status_of("TAS-1", "in_progress"),
        Action::say("working\n"),
        Action::wait_file("go"),
        Action::write("hello.txt", "done\n"),
        status_of("TAS-1", "completed"),
        summary("TAS-1 done"),
    ])
}

/// Runs the same command again (it takes over by itself the lease the stopped build could not
/// release) with the agent finishing everything: it completes, and the events stored before are
/// unchanged.
fn rerun_completes(p: &Project, data_dir: &std::path::Path, before: &[(i64, String)]) {
    p.script(&catch_up_script());
    let out = p.build(&["--headless"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(p.status()["completed"], true);
    sqlite_log(data_dir);
    assert_prefix(before, &stored_rows(data_dir, "demo"));
}

fn failed_saying(out: &std::process::Output, what: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", stdout(out));
    for w in what {
        assert!(err.contains(w), "the error does not say {w:?}:\n{err}");
    }
}

#[test]
fn reliability_store_disk_full_mid_build_stops_clearly_and_a_rerun_completes() {
    let fs = Tmpfs::mount("96k");
    let data = fs.path().display().to_string();
    let p = Project::new(full_script()).with_env("ITERATR_DATA_DIR", &data);
    let out = p.build(&["--headless"]);
    failed_saying(
        &out,
        &[
            "the disk is full",
            "free some space",
            "run the same command again",
        ],
    );
    let events = sqlite_log(fs.path())["demo"].len();
    report(format!(
        "disk full (tmpfs 96k): stopped after {events} whole events, none partial"
    ));
    let before = stored_rows(fs.path(), "demo");
    fs.remount("size=16m");
    rerun_completes(&p, fs.path(), &before);
}

#[test]
fn reliability_store_data_dir_made_read_only_mid_run_stops_clearly_and_a_rerun_completes() {
    let p = Project::new(Script::turns([planning_turn(), held_turn()]));
    let data = p.path().join(".iteratr");
    let child = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let before = stored_rows(&data, "demo");
    // Immutable: refused even to root and to files already open (a read-only remount is refused
    // while SQLite holds them open for writing).
    let files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| !f.display().to_string().ends_with("-shm"))
        .collect();
    let chattr = |flag: &str| {
        let ok = std::process::Command::new("chattr")
            .arg(flag)
            .args(&files)
            .arg(&data)
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "chattr {flag} failed (needs root on ext4, xfs or btrfs)"
        );
    };
    chattr("+i");
    std::fs::write(p.path().join("go"), "").unwrap();
    let out = finish(child, PATIENCE);
    chattr("-i");
    failed_saying(&out, &["read-only", "run the same command again"]);
    // The agent was told its change could not be recorded.
    let refused = p
        .agent_events::<log::Tool>()
        .into_iter()
        .find(|e| e.args["status"] == "completed")
        .unwrap();
    assert!(refused.is_error, "{refused:?}");
    sqlite_log(&data);
    assert_prefix(&before, &stored_rows(&data, "demo"));
    let before = stored_rows(&data, "demo");
    rerun_completes(&p, &data, &before);
    report(
        "data dir made read-only mid-run: stopped with a clear error, nothing rewritten, rerun completed",
    );
}

#[test]
fn reliability_store_a_truncated_or_damaged_database_is_refused_and_left_untouched() {
    let p = Project::new(full_script());
    let out = p.build(&["--headless", "-i", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let db = p.path().join(".iteratr/iteratr.db");
    // Everything into the database file itself (a killed process leaves it in the WAL).
    rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let whole = std::fs::read(&db).unwrap();
    assert!(whole.len() >= 3 * 4096, "{} bytes", whole.len());
    let damaged = |bytes: Vec<u8>, what: &str| {
        std::fs::write(&db, &bytes).unwrap();
        for args in [&["--headless"][..], &["--headless", "--takeover"][..]] {
            let out = p.build(args);
            assert_ne!(out.status.code(), Some(0), "{what}: {}", stdout(&out));
            let err = stderr(&out);
            assert!(
                err.contains("damaged") && err.contains("nothing was changed"),
                "{what}: {err}"
            );
        }
        assert_eq!(
            std::fs::read(&db).unwrap(),
            bytes,
            "{what}: the file was changed"
        );
    };
    damaged(whole[..whole.len() / 2].to_vec(), "truncated to half");
    let mut garbage = whole.clone();
    for b in &mut garbage[4096..8192] {
        *b = 0xA5;
    }
    damaged(garbage, "a page overwritten");
    // A row changed outside iteratr: the event it holds cannot be read, and says where.
    std::fs::write(&db, &whole).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE events SET payload = '{\"v\":1,' WHERE session = 'demo' AND seq = 3",
        [],
    )
    .unwrap();
    drop(conn);
    let out = p.build(&["--headless"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("event #3 of session 'demo' cannot be read") && err.contains("-n"),
        "{err}"
    );
    report(
        "database truncated or a page overwritten: refused, file left byte for byte; a row changed outside iteratr: named (#3)",
    );
}

/// Another process holds the write lock past the store's 10 s busy timeout while the agent
/// works: its tool call is refused with the reason (nothing written) once it has waited the 10 s,
/// and the build goes on once the lock is free. The lock is held until the refusal came, and
/// the agent tries again only once it is free: no outcome depends on the machine's speed.
#[test]
fn reliability_store_a_write_lock_held_by_another_process() {
    let held = Turn::of([
        status_of("TAS-1", "in_progress"),
        Action::wait_file("go"),
        // Refused after 10 s of waiting for the lock.
        status_of("TAS-1", "completed"),
        Action::wait_file("unlocked"),
        status_of("TAS-1", "completed"),
        summary("TAS-1 done after the lock"),
    ]);
    let p = Project::new(Script::turns([planning_turn(), held, finishing_turn_all()]));
    let data = p.path().join(".iteratr");
    let child = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let before = stored_rows(&data, "demo");
    let release = p.path().join("release");
    let mut locker = crate::common::procs::KillOnDrop::new(
        std::process::Command::new("python3")
            .args([
                "-c",
                "import os,sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\nwhile not os.path.exists(sys.argv[2]): time.sleep(0.05)",
            ])
            .arg(data.join("iteratr.db"))
            .arg(&release)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.child_mut().stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    std::fs::write(p.path().join("go"), "").unwrap();
    let completing = |args: &Value| args["id"] == "TAS-1" && args["status"] == "completed";
    wait_until(
        PATIENCE,
        || "the call made while the lock was held was never answered",
        || {
            p.agent_events::<log::Tool>()
                .iter()
                .any(|e| completing(&e.args))
        },
    );
    std::fs::write(&release, "").unwrap();
    let status = locker.into_inner().wait().unwrap();
    assert!(status.success(), "the locker failed: {status}");
    std::fs::write(p.path().join("unlocked"), "").unwrap();
    let out = finish(child, PATIENCE * 2);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // The records (with their times) of the calls completing TAS-1: sent, and answered.
    let agent_log = p.agent_log();
    let (mut calls, mut sent) = (Vec::new(), Vec::new());
    for r in &agent_log {
        match &r.event {
            Event::Tool(t) if completing(&t.args) => calls.push((t, r.at_us)),
            Event::ToolCall(c) if completing(&c.args) => sent.push(r.at_us),
            _ => {}
        }
    }
    assert!(calls[0].0.is_error, "{calls:?}");
    let refusal = &calls[0].0.text;
    assert!(
        refusal.contains("is locked") && refusal.contains("another process held it"),
        "{refusal}"
    );
    // It was refused only after waiting the busy timeout (a lower bound: a slow machine only
    // makes the wait longer).
    let waited_ms = (calls[0].1 - sent[0]) / 1000;
    println!("the refused call waited {waited_ms} ms for the lock");
    assert!(waited_ms >= 10_000, "refused after {waited_ms} ms");
    assert!(!calls[1].0.is_error, "{calls:?}");
    assert_eq!(p.status()["completed"], true);
    sqlite_log(&data);
    assert_prefix(&before, &stored_rows(&data, "demo"));
    report(format!(
        "write lock held by another process: the tool call refused after {:.1} s (busy timeout 10 s) with the reason, the build went on and completed",
        waited_ms as f64 / 1000.0
    ));
}

#[test]
fn reliability_store_jetstream_restarted_mid_iteration_the_build_goes_on() {
    let mut server = NatsServer::start();
    let p = Project::new(Script::turns([
        planning_turn(),
        held_turn(),
        finishing_turn_all(),
    ]))
    .with_env("ITERATR_NATS_URL", &server.url());
    let log = p.path().join("iteratr.log");
    let child = p
        .command(&["--headless"])
        .env("ITERATR_LOG_FILE", &log)
        .spawn()
        .unwrap();
    p.wait_for_agent("waiting");
    let events = p.status()["events"].as_u64().unwrap();
    server.kill();
    // The agent goes on while the server is down: its call to complete TAS-1 is sent, and the
    // store retries (the log says so) until the server is back.
    std::fs::write(p.path().join("go"), "").unwrap();
    let completing = |name: &str, args: &Value| {
        name == "task-status" && *args == json!({"id": "TAS-1", "status": "completed"})
    };
    wait_until(
        PATIENCE,
        || "the agent never sent its call while the server was down",
        || {
            p.agent_events::<log::ToolCall>()
                .iter()
                .any(|c| completing(&c.name, &c.args))
        },
    );
    wait_until(
        PATIENCE,
        || "the store never retried while the server was down",
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("; retrying for up to")
        },
    );
    assert!(
        !p.agent_events::<log::Tool>()
            .iter()
            .any(|t| completing(&t.name, &t.args)),
        "the call was answered while the server was down"
    );
    server.restart();
    let out = finish(child, PATIENCE * 2);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // The call that hit the outage succeeded once the server was back.
    let answered: Vec<log::Tool> = p
        .agent_events::<log::Tool>()
        .into_iter()
        .filter(|t| completing(&t.name, &t.args))
        .collect();
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert!(!answered[0].is_error, "{answered:?}");
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    assert!(s["events"].as_u64().unwrap() > events);
    assert_eq!(s["tasks"][0]["status"], "completed", "{s}");
    report(
        "JetStream server killed and restarted mid-iteration: the tool call sent during the outage was retried and succeeded after the restart, the build completed",
    );
}

/// The last turn of a run that went on: finish TAS-2 and TAS-3 and complete.
fn finishing_turn_all() -> Turn {
    Turn::of([
        status_of("TAS-2", "completed"),
        status_of("TAS-3", "completed"),
        tool("session-complete", json!({"summary": "done"})),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_store_jetstream_unreachable_past_the_retry_window_is_a_clear_error() {
    let mut server = NatsServer::start();
    let mut opts = NatsOptions::new(server.url());
    opts.retry_for = Duration::from_secs(2);
    let log: Arc<dyn EventLog> = Arc::new(NatsLog::connect(&opts).await.unwrap());
    append_numbered(log.as_ref(), "away", 0, 10).await;
    server.kill();
    let err = log
        .append("away", 10, vec![crate::common::message("lost?")])
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("kept failing for 2s") && text.contains("is up and reachable"),
        "{text}"
    );
    server.restart();
    // Nothing half written, and the writer goes on where the log ends.
    let deadline = std::time::Instant::now() + PATIENCE;
    let events = loop {
        match read_all(log.as_ref(), "away", 0).await {
            Ok(events) => break events,
            Err(e) => assert!(std::time::Instant::now() < deadline, "{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    check_whole(&events, 10);
    append_numbered(log.as_ref(), "away", 10, 5).await;
    check_whole(&read_all(log.as_ref(), "away", 0).await.unwrap(), 15);
    report(
        "JetStream away past the retry window: clear error, nothing half written, appends resumed",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_store_jetstream_killed_mid_append_and_restarted_appends_resume() {
    record_retries();
    let mut server = NatsServer::start();
    let log = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(log);
    append_numbered(log.as_ref(), "crash", 0, 50).await;
    let mut sub = log.subscribe("crash", 0).await.unwrap();
    for _ in 0..50 {
        next_event(&mut sub).await;
    }

    // A writer appends 50 more; the server dies (SIGKILL) after 20 of them are acknowledged, and
    // comes back once the 21st append has failed on the dead server and is being retried: the
    // other 30 are acknowledged only after the restart.
    let mut writer = Writer::spawn(&log, "crash", 50, 50, 20);
    writer.paused().await;
    server.kill();
    writer.resume().await;
    retrying("iteratr.crash").await;
    assert_eq!(writer.acked(), 20);
    server.restart();
    let acked = writer
        .finish(
            Duration::from_secs(90),
            "appends did not resume after the restart",
        )
        .await;
    assert_eq!(acked, 50, "30 appends acknowledged after the restart");

    let events = read_all(log.as_ref(), "crash", 0).await.unwrap();
    check_whole(&events, 100);
    // A fresh connection sees the same, and the live feed went on across the restart.
    let other = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    check_whole(&read_all(&other, "crash", 0).await.unwrap(), 100);
    for i in 51..=100u64 {
        assert_eq!(next_event(&mut sub).await.seq, i);
    }
}
