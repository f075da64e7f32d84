//! Steering from anywhere (issue 29), measured from outside: a headless build with the fake
//! agent in one process, `iteratr watch --headless` in another. How long an agent update takes
//! from the build's own progress lines to the watcher's, and how long a control (a message)
//! appended by another process takes to reach the build, on SQLite and on a local nats-server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{Running, Stats, ms};

/// Marked lines the agent says, 20 ms apart.
pub(crate) const MARKS: usize = 200;
/// Messages appended by another process, 100 ms apart.
const MESSAGES: usize = 20;

/// Each stdout line of `child` with the moment it arrived.
pub(crate) fn timed_lines(child: &mut Child) -> anyhow::Result<mpsc::Receiver<(Instant, String)>> {
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdout is not piped"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// When each `mark-N` (or `m-N`) first showed, by N.
pub(crate) fn arrivals(lines: &[(Instant, String)], prefix: &str) -> HashMap<usize, Instant> {
    let mut out = HashMap::new();
    for (at, line) in lines {
        for word in line.split(|c: char| !c.is_ascii_alphanumeric() && c != '-') {
            if let Some(n) = word.strip_prefix(prefix).and_then(|n| n.parse().ok()) {
                out.entry(n).or_insert(*at);
            }
        }
    }
    out
}

pub(crate) fn collect(
    rx: &mpsc::Receiver<(Instant, String)>,
    until: &str,
    within: Duration,
) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.1.contains(until);
                out.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    out
}

/// The fake agent's script: planning, then an iteration that waits for `go`, says `mark-0` to
/// `mark-199` 20 ms apart, and waits for `done`.
pub(crate) fn marks_script(go: &Path, done: &Path) -> serde_json::Value {
    let mut says: Vec<serde_json::Value> = vec![json!({"wait_file": go})];
    for i in 0..MARKS {
        says.push(json!({"say": format!("mark-{i}\n")}));
        says.push(json!({"sleep_ms": 20}));
    }
    says.push(json!({"wait_file": done}));
    json!({"turns": [
        {"actions": [{"tool": "iteration-summary", "args": {"summary": "planned"}}]},
        {"actions": says},
    ], "repeat": {"actions": []}})
}

pub struct Figures {
    pub output: Stats,
    pub control: Stats,
}

/// One run: the build, a late watcher, the marks, then messages from another process.
pub fn measure(iteratr: &Path, fake_agent: &Path, global: &[String]) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("specs"))?;
    std::fs::write(dir.path().join("specs/bench.md"), "# Bench\n\n- [ ] One\n")?;
    let go = dir.path().join("go");
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        marks_script(&go, &dir.path().join("done")).to_string(),
    )?;
    let command = |args: &[&str]| {
        let mut cmd = Command::new(iteratr);
        cmd.current_dir(dir.path())
            .args(global)
            .args(args)
            .env("ITERATR_AGENT", fake_agent)
            .env("ITERATR_FAKE_AGENT_SCRIPT", &script)
            .env_remove("ITERATR_DATA_DIR")
            .env("ITERATR_LOG_FILE", dir.path().join("iteratr.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    };
    let mut build = Running(command(&["build", "--headless", "-i", "1"]).spawn()?);
    let build_lines = timed_lines(&mut build.0)?;
    // Wait for the work iteration, then start the watcher.
    collect(&build_lines, "iteration 1", Duration::from_secs(60));
    let mut watch = Running(command(&["watch", "--headless", "--session", "bench"]).spawn()?);
    let watch_lines = timed_lines(&mut watch.0)?;
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&go, "")?;
    let last = format!("mark-{}", MARKS - 1);
    let built = collect(&build_lines, &last, Duration::from_secs(60));
    let watched = collect(&watch_lines, &last, Duration::from_secs(60));
    let (b, w) = (arrivals(&built, "mark-"), arrivals(&watched, "mark-"));
    let output: Vec<Duration> = (0..MARKS)
        .filter_map(|i| Some(w.get(&i)?.saturating_duration_since(*b.get(&i)?)))
        .collect();
    anyhow::ensure!(
        output.len() == MARKS,
        "the watcher showed {} of {MARKS} marks",
        output.len()
    );

    // Messages from a third process's point of view: appended to the store, narrated by the build.
    let mut sent = HashMap::new();
    for i in 0..MESSAGES {
        // From the moment a person runs the command: its start-up and connection included.
        sent.insert(i, Instant::now());
        let status = command(&["message", "--session", "bench", &format!("m-{i}")])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "iteratr message failed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let heard = collect(
        &build_lines,
        &format!("m-{}", MESSAGES - 1),
        Duration::from_secs(30),
    );
    let h = arrivals(&heard, "m-");
    let control: Vec<Duration> = (0..MESSAGES)
        .filter_map(|i| Some(h.get(&i)?.saturating_duration_since(*sent.get(&i)?)))
        .collect();
    anyhow::ensure!(
        control.len() == MESSAGES,
        "the build told {} of {MESSAGES} messages",
        control.len()
    );
    std::fs::write(dir.path().join("done"), "")?;
    Ok(Figures {
        output: Stats::new(output),
        control: Stats::new(control),
    })
}

/// Prints one row per store.
pub fn report(iteratr: &Path, fake_agent: &Path, nats: bool) -> anyhow::Result<()> {
    println!(
        "| store | agent update: build → watcher, p50 | p99 | `iteratr message` run → build, p50 | p99 |\n|---|---:|---:|---:|---:|"
    );
    let mut stores: Vec<(String, Vec<String>, Option<Running>)> =
        vec![("SQLite".into(), Vec::new(), None)];
    let nats_dir = tempfile::tempdir()?;
    if nats {
        let (server, url) = crate::util::start_nats(nats_dir.path())?;
        stores.push((
            "JetStream (local nats-server)".into(),
            vec!["--nats-url".into(), url],
            Some(server),
        ));
    }
    for (name, global, _server) in &stores {
        let f = measure(iteratr, fake_agent, global)?;
        println!(
            "| {name} | {} | {} | {} | {} |",
            ms(f.output.p50()),
            ms(f.output.p99()),
            ms(f.control.p50()),
            ms(f.control.p99())
        );
    }
    Ok(())
}
