//! What iteratr survives, part 2 (`RELIABILITY.md`, "A misbehaving agent"): what an agent writes
//! and asks for. The rogue agent (`examples/rogue_agent.rs`, raw JSON-RPC on stdio) writes
//! garbage, a 10 MB line, bytes that are not UTF-8, an answer to a request nobody sent, updates
//! for a session it never opened and a flood of 100,000 updates; it asks for files outside the
//! project and, again and again, for a tool a rule denies. iteratr stays up with bounded memory
//! (the peak resident memory of the iteratr process is measured and printed as `RELIABILITY:`
//! lines), logs what happened, and the run goes on.

use std::path::Path;
use std::time::Duration;

use crate::common::procs::run_measured;
use crate::common::project::*;
use crate::common::rogue;
use serde_json::{Value, json};

use crate::common::fake_agent::script::Script;

/// Generous: a debug build of iteratr idles at a few tens of MiB.
const RSS_LIMIT_MIB: u64 = 300;

/// A project whose rogue agent plans (says a word), then runs `turn` as iteration 1.
fn rogue_project(turn: Value) -> Project {
    let p = Project::new(Script::turns([]));
    rogue::script(&p, json!({"turns": [[{"say": "planning\n"}], turn]}));
    p
}

/// Runs one work iteration (`-i 1`, so exit 3 when it went well) with logs in a file; returns
/// what it printed, the log, and the peak resident memory of iteratr in MiB.
fn run_one_iteration(p: &Project, extra: &[&str]) -> (String, String, u64) {
    let log = p.path().join("iteratr.log");
    let mut args = vec!["--headless", "-i", "1", "--retry-delay", "50ms"];
    args.extend_from_slice(extra);
    let mut cmd = rogue::command(p, &args);
    cmd.env("ITERATR_LOG_FILE", &log);
    let (out, peak_kib) = run_measured(cmd, Duration::from_secs(120));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    let s = p.status();
    assert_eq!(
        outcomes(&s),
        [
            ("end_turn".to_string(), true),
            ("end_turn".to_string(), false)
        ],
        "{s}"
    );
    let peak = peak_kib / 1024;
    assert!(
        peak < RSS_LIMIT_MIB,
        "iteratr's peak resident memory was {peak} MiB"
    );
    (text, std::fs::read_to_string(log).unwrap(), peak)
}

#[test]
fn garbage_a_10_mb_line_and_bad_bytes_are_logged_and_the_run_goes_on() {
    let p = rogue_project(json!([
        {"say": "before\n"},
        {"raw": "this is not json at all"},
        {"raw": "[1, 2, 3]"},
        {"raw_bytes": [123, 255, 254, 125]},
        {"long_line": 10_000_000},
        {"say": "after\n"},
    ]));
    let (text, log, peak) = run_one_iteration(&p, &[]);
    println!("RELIABILITY: agent garbage, invalid UTF-8 and a 10 MB line: peak RSS {peak} MiB");
    assert!(text.contains("before") && text.contains("after"), "{text}");
    for said in [
        "the agent wrote a line that is not JSON-RPC; ignored: this is not json at all",
        "the agent wrote a line that is not JSON-RPC; ignored: [1, 2, 3]",
        "the agent wrote bytes that are not UTF-8; they were replaced: {\u{fffd}\u{fffd}}",
        "the agent wrote a line over 8388608 bytes; it was dropped",
    ] {
        assert!(log.contains(said), "the log does not say {said:?}:\n{log}");
    }
}

#[test]
fn an_answer_to_no_request_and_updates_for_an_unknown_session_are_logged_and_ignored() {
    let p = rogue_project(json!([
        {"answer_unknown_id": true},
        {"say_to": ["ghost-session", "text from a ghost\n"]},
        {"say": "still here\n"},
    ]));
    let (text, log, _) = run_one_iteration(&p, &[]);
    assert!(text.contains("still here"), "{text}");
    assert!(!text.contains("ghost"), "a stray update was shown: {text}");
    assert!(
        log.contains("the agent sent an update for a session it never opened; dropped")
            && log.contains("ghost-session"),
        "{log}"
    );
    assert!(log.contains("received response for unknown id"), "{log}");
}

/// The numbers a numbered flood printed (`000000 000001 ...`, ten a line), in the order printed.
fn numbers_printed(text: &str) -> Vec<u64> {
    text.lines()
        .flat_map(|l| l.split_whitespace())
        .filter(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .map(|w| w.parse().unwrap())
        .collect()
}

#[test]
fn a_flood_of_100000_updates_keeps_memory_bounded() {
    const UPDATES: u64 = 100_000;
    const BASELINE: u64 = 1_000;
    // The same run with a small flood: what iteratr needs anyway.
    let small = rogue_project(json!([{"numbered_flood": BASELINE}, {"say": "\nflood over\n"}]));
    let (text, _, baseline) = run_one_iteration(&small, &[]);
    assert_eq!(numbers_printed(&text), (0..BASELINE).collect::<Vec<_>>());
    let p = rogue_project(json!([{"numbered_flood": UPDATES}, {"say": "\nflood over\n"}]));
    let (text, log, peak) = run_one_iteration(&p, &[]);
    println!(
        "RELIABILITY: agent flood {UPDATES} updates, peak RSS {peak} MiB ({BASELINE} updates: {baseline} MiB)"
    );
    // Every update reached the progress lines, once and in order.
    let printed = numbers_printed(&text);
    assert_eq!(printed.len() as u64, UPDATES, "{log}");
    assert!(
        printed.iter().enumerate().all(|(i, n)| *n == i as u64),
        "the updates were printed out of order"
    );
    assert!(text.contains("flood over"), "{text}");
    // A hundred times the updates cost at most a little more memory than the small flood: the
    // updates pass through, they are not kept (kept, 100,000 updates take well over 100 MiB).
    assert!(
        peak <= baseline + FLOOD_EXTRA_MIB,
        "peak RSS {peak} MiB for {UPDATES} updates, {baseline} MiB for {BASELINE}"
    );
    // Watchers get the same flood from the output stream, coalesced: 7 bytes an update, at most
    // 4 KiB a record (plus a record where a stream of text breaks), every number once, in order.
    let (records, bytes, text) = output_stream(&p);
    println!(
        "RELIABILITY: agent flood {UPDATES} updates, {records} output records, {bytes} bytes kept"
    );
    assert!(records <= UPDATES * 7 / 4096 + 20, "{records} records");
    let kept = numbers_printed(&text);
    assert_eq!(kept, (0..UPDATES).collect::<Vec<_>>());
}

/// The project's output stream as a watcher reads it: records, payload bytes, the agent's text.
fn output_stream(p: &Project) -> (u64, u64, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let log = iteratr::store::SqliteLog::open(&p.path().join(".iteratr")).unwrap();
        let entries = iteratr::store::EventLog::read_output(&log, "demo", 0, usize::MAX)
            .await
            .unwrap();
        let bytes = entries.iter().map(|e| e.payload.len() as u64).sum();
        let text = entries
            .iter()
            .map(|e| iteratr::output::OutputRecord::from_json(&e.payload).unwrap())
            .filter_map(|r| match r.update {
                iteratr::frontend::AgentUpdate::Text { text } => Some(text),
                _ => None,
            })
            .collect();
        (entries.len() as u64, bytes, text)
    })
}

/// What a flood of 100,000 updates may add to the peak memory of a flood of 1,000.
const FLOOD_EXTRA_MIB: u64 = 40;

#[test]
fn file_requests_outside_the_project_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let p = Project::new(Script::turns([]));
    let root = p.path().canonicalize().unwrap();
    std::os::unix::fs::symlink(&secret, root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("linkdir")).unwrap();
    let fifo = root.join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let dotdot = |tail: &str| format!("{}/../{}", root.display(), tail);
    let escapes = [
        // `..` out of the project, to the secret's directory.
        format!(
            "{}/../{}/secret.txt",
            root.display(),
            relative_to(outside.path(), root.parent().unwrap())
        ),
        secret.display().to_string(),
        root.join("link.txt").display().to_string(),
        root.join("linkdir/secret.txt").display().to_string(),
        "/etc/passwd".to_string(),
    ];
    let writes = [
        dotdot("planted.txt"),
        outside.path().join("planted.txt").display().to_string(),
        root.join("linkdir/planted.txt").display().to_string(),
        root.join("link.txt").display().to_string(),
    ];
    let mut turn: Vec<Value> = escapes.iter().map(|path| json!({"read": path})).collect();
    turn.extend([
        json!({"read": "specs/demo.md"}),
        json!({"read": fifo.display().to_string()}),
        json!({"read": root.join("specs/demo.md").display().to_string()}),
    ]);
    turn.extend(
        writes
            .iter()
            .map(|path| json!({"write": {"path": path, "content": "planted"}})),
    );
    turn.push(json!({"write": {"path": root.join("inside.txt"), "content": "fine"}}));
    // iteratr's own data dir, in the project: the session log is not a file the agent may touch.
    let db = root.join(".iteratr/iteratr.db");
    turn.push(json!({"read": db}));
    turn.push(json!({"write": {"path": db, "content": "overwritten"}}));
    rogue::script(&p, json!({"turns": [[{"say": "planning\n"}], turn]}));
    run_one_iteration(&p, &[]);

    let reads = rogue::events(&p, "read");
    let refused = |e: &Value, why: &str| {
        assert_eq!(e["ok"], false, "{e}");
        let error = e["error"].as_str().unwrap();
        assert!(error.contains(why), "{e}");
    };
    for read in &reads[..escapes.len()] {
        refused(read, "outside the project directory");
        assert!(!read.to_string().contains("top secret"), "{read}");
    }
    refused(&reads[escapes.len()], "not an absolute path");
    refused(&reads[escapes.len() + 1], "not a regular file");
    assert_eq!(reads[escapes.len() + 2]["content"], SPEC);
    let written = rogue::events(&p, "write");
    for write in &written[..writes.len()] {
        refused(write, "outside the project directory");
    }
    assert_eq!(written[writes.len()]["ok"], true, "{written:?}");
    refused(&reads[escapes.len() + 3], "is in iteratr's data dir");
    refused(&written[writes.len() + 1], "is in iteratr's data dir");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
    assert!(!outside.path().join("planted.txt").exists());
    assert!(!root.parent().unwrap().join("planted.txt").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("inside.txt")).unwrap(),
        "fine"
    );
    assert_eq!(
        p.status()["tasks"].as_array().unwrap().len(),
        3,
        "the log is intact"
    );
}

/// `path` relative to `base` (which holds it), as text.
fn relative_to(path: &Path, base: &Path) -> String {
    path.canonicalize()
        .unwrap()
        .strip_prefix(base.canonicalize().unwrap())
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn a_denied_tool_asked_for_again_and_again_is_refused_every_time() {
    const ASKS: usize = 300;
    let p = rogue_project(json!([
        {"permission": {"title": "Run rm -rf /", "kind": "execute"}, "times": ASKS},
        {"permission": {"title": "Edit src/lib.rs", "kind": "edit"}},
        {"say": "gave up\n"},
    ]));
    let (text, _, peak) = run_one_iteration(&p, &["--deny-tools", "*rm -rf*"]);
    println!("RELIABILITY: agent asked {ASKS} times for a denied tool, peak RSS {peak} MiB");
    assert!(text.contains("gave up"), "{text}");
    let asked = rogue::events(&p, "permission");
    assert_eq!(asked.len(), ASKS + 1);
    assert!(
        asked[..ASKS].iter().all(|e| e["outcome"] == "reject"),
        "{asked:?}"
    );
    assert_eq!(asked[ASKS]["outcome"], "allow");
    let s = p.status();
    let perms = &s["permissions"];
    assert_eq!(
        (perms["denied"].as_u64(), perms["allowed"].as_u64()),
        (Some(ASKS as u64), Some(1)),
        "every decision is in the log: {s}"
    );
}
