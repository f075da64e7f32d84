//! The web dashboard (issue 30), measured from outside: an agent update from the build's own
//! progress lines to the page in headless Chromium (a MutationObserver in the page stamps each
//! mark as it appears), how soon the page of a 100k-event session is ready, and a build serving
//! 20 watchers (Server-Sent Event connections, read as a browser reads them) against none: its
//! loop time and its memory.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::browser::webdriver::{Browser, DESKTOP};
use crate::util::{Running, Stats, ms};
use crate::watch_latency::{MARKS, arrivals, collect, marks_script, timed_lines};
use crate::webpage::{Dashboard, Sse};

/// Watchers of the loaded build.
const WATCHERS: usize = 20;
/// Iterations of the loaded build, each with this many text chunks and a tool call.
const LOOP_ITERATIONS: usize = 20;
const CHUNKS: usize = 50;

fn epoch_ms(at: Instant, base: (Instant, SystemTime)) -> f64 {
    let wall = base.1 + at.saturating_duration_since(base.0);
    wall.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// A project with a spec and the fake agent's `script`, and the command that runs iteratr in it.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new(turns: serde_json::Value) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("specs"))?;
        std::fs::write(dir.path().join("specs/bench.md"), "# Bench\n\n- [ ] One\n")?;
        std::fs::write(dir.path().join("script.json"), turns.to_string())?;
        Ok(Bench { dir })
    }

    fn command(&self, iteratr: &Path, fake_agent: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(iteratr);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("ITERATR_AGENT", fake_agent)
            .env(
                "ITERATR_FAKE_AGENT_SCRIPT",
                self.dir.path().join("script.json"),
            )
            .env_remove("ITERATR_DATA_DIR")
            .env("ITERATR_LOG_FILE", self.dir.path().join("iteratr.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }
}

fn dashboard_of(lines: &[(Instant, String)]) -> anyhow::Result<Dashboard> {
    let line = lines
        .iter()
        .find(|(_, l)| l.contains("dashboard: http://"))
        .ok_or_else(|| anyhow::anyhow!("the build printed no dashboard address"))?;
    let url = line.1[line.1.find("http://").unwrap_or(0)..]
        .trim()
        .to_string();
    let port = url
        .trim_start_matches("http://")
        .split(['/', '?'])
        .next()
        .and_then(|h| h.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no port in {url}"))?;
    Ok(Dashboard {
        port,
        url,
        view_url: None,
    })
}

/// Agent update → the page in Chromium, per mark.
pub async fn update_to_browser(iteratr: &Path, fake_agent: &Path) -> anyhow::Result<Stats> {
    let bench = Bench::new(json!({}))?;
    let go = bench.dir.path().join("go");
    let done = bench.dir.path().join("done");
    std::fs::write(
        bench.dir.path().join("script.json"),
        marks_script(&go, &done).to_string(),
    )?;
    let base = (Instant::now(), SystemTime::now());
    let mut build = Running(
        bench
            .command(
                iteratr,
                fake_agent,
                &["build", "--headless", "-i", "1", "--web", "127.0.0.1:0"],
            )
            .spawn()?,
    );
    let lines = timed_lines(&mut build.0)?;
    let started = collect(&lines, "iteration 1", Duration::from_secs(60));
    let d = dashboard_of(&started)?;
    let b = Browser::start(DESKTOP).await?;
    b.goto(&format!("{}#/s/bench", d.url)).await?;
    b.wait_for("#output", Duration::from_secs(30)).await?;
    b.execute(
        "window.marks = {};
         const out = document.getElementById('output');
         const scan = () => { const now = performance.timeOrigin + performance.now();
           for (const m of out.innerText.matchAll(/mark-(\\d+)/g)) if (!(m[1] in window.marks)) window.marks[m[1]] = now; };
         new MutationObserver(scan).observe(out, {childList: true, subtree: true, characterData: true});
         return 1;",
        &[],
    )
    .await?;
    std::fs::write(&go, "")?;
    let last = format!("mark-{}", MARKS - 1);
    let built = collect(&lines, &last, Duration::from_secs(60));
    b.wait_until(
        &format!(
            "window.marks && window.marks['{}'] !== undefined",
            MARKS - 1
        ),
        Duration::from_secs(30),
    )
    .await?;
    let seen: HashMap<String, f64> =
        serde_json::from_value(b.execute("return window.marks;", &[]).await?)?;
    let at_build = arrivals(&built, "mark-");
    let samples: Vec<Duration> = (0..MARKS)
        .filter_map(|i| {
            let browser = seen.get(&i.to_string())?;
            let build = epoch_ms(*at_build.get(&i)?, base);
            Some(Duration::from_secs_f64((browser - build).max(0.0) / 1000.0))
        })
        .collect();
    anyhow::ensure!(
        samples.len() == MARKS,
        "the page showed {} of {MARKS} marks",
        samples.len()
    );
    std::fs::write(&done, "")?;
    Ok(Stats::new(samples))
}

/// The page of a session of `events` events: ready (first drawn, from the navigation's start)
/// the first time (the server folds the session) and again; and the bytes of its snapshot.
pub async fn page_ready(iteratr: &Path, events: usize) -> anyhow::Result<(f64, f64, usize)> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join(".iteratr");
    let log = crate::sessions::Store::Embedded.open(&data).await?;
    crate::sessions::fill(log, "big", events).await?;
    let mut web = Running(
        Command::new(iteratr)
            .current_dir(dir.path())
            .args(["web", "--addr", "127.0.0.1:0"])
            .env_remove("ITERATR_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let lines = timed_lines(&mut web.0)?;
    let printed = collect(&lines, "dashboard:", Duration::from_secs(30));
    let d = dashboard_of(&printed)?;
    let b = Browser::start(DESKTOP).await?;
    let ready = "window.iteratrSeen && window.iteratrSeen.readyMs !== undefined";
    b.goto(&format!("{}#/s/big", d.url)).await?;
    b.wait_until(ready, Duration::from_secs(60)).await?;
    let cold = b.execute("return window.iteratrSeen.readyMs;", &[]).await?;
    b.refresh().await?;
    b.wait_until(ready, Duration::from_secs(60)).await?;
    let warm = b.execute("return window.iteratrSeen.readyMs;", &[]).await?;
    let snapshot = d.get_json("/api/sessions/big").to_string().len();
    Ok((
        cold.as_f64().unwrap_or(f64::NAN),
        warm.as_f64().unwrap_or(f64::NAN),
        snapshot,
    ))
}

/// A build of `LOOP_ITERATIONS` iterations with `watchers` SSE connections on its dashboard: how
/// long its loop took (first iteration to the last's end) and its peak RSS.
fn loaded_build(
    iteratr: &Path,
    fake_agent: &Path,
    watchers: usize,
) -> anyhow::Result<(Duration, f64)> {
    let mut actions = Vec::new();
    for i in 0..CHUNKS {
        actions.push(json!({"say": format!("chunk {i} of the agent's answer, with some words. ")}));
    }
    actions.push(json!({"tool": "note-add", "args": {"type": "tip", "content": "noted"}}));
    let bench = Bench::new(json!({}))?;
    let go = bench.dir.path().join("go");
    std::fs::write(
        bench.dir.path().join("script.json"),
        json!({"turns": [
            {"actions": [{"tool": "iteration-summary", "args": {"summary": "planned"}}]},
            {"actions": [{"wait_file": go}]},
        ], "repeat": {"actions": actions}})
        .to_string(),
    )?;
    let iterations = (LOOP_ITERATIONS + 1).to_string();
    let mut build = Running(
        bench
            .command(
                iteratr,
                fake_agent,
                &[
                    "build",
                    "--headless",
                    "-i",
                    &iterations,
                    "--web",
                    "127.0.0.1:0",
                    "--no-auto-commit",
                ],
            )
            .spawn()?,
    );
    let pid = build.0.id();
    let lines = timed_lines(&mut build.0)?;
    let started = collect(&lines, "iteration 1", Duration::from_secs(60));
    let d = dashboard_of(&started)?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..watchers)
        .map(|_| {
            let (d, stop, received) = (d.clone(), Arc::clone(&stop), Arc::clone(&received));
            std::thread::spawn(move || {
                let mut sse = Sse::open(&d, "/api/sessions/bench/live", None);
                while !stop.load(Ordering::Relaxed) {
                    if sse.next(Duration::from_millis(200)).is_some() {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let begun = Instant::now();
    std::fs::write(&go, "")?;
    let last = format!("iteration {} ended", LOOP_ITERATIONS + 1);
    collect(&lines, &last, Duration::from_secs(300));
    let took = begun.elapsed();
    let rss = crate::util::peak_rss_mib(pid);
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    if watchers > 0 {
        anyhow::ensure!(
            received.load(Ordering::Relaxed) > 0,
            "the watchers got nothing"
        );
    }
    Ok((took, rss))
}

pub async fn report(iteratr: &Path, fake_agent: &Path) -> anyhow::Result<()> {
    let latency = update_to_browser(iteratr, fake_agent).await?;
    println!("| agent update → Chromium page (SQLite), p50 | p99 | marks |\n|---:|---:|---:|");
    println!(
        "| {} | {} | {} |",
        ms(latency.p50()),
        ms(latency.p99()),
        latency.count()
    );
    println!(
        "\n| session | page ready, first load | again | snapshot bytes |\n|---|---:|---:|---:|"
    );
    for events in [1_000, 100_000] {
        let (cold, warm, bytes) = page_ready(iteratr, events).await?;
        println!("| {events} events | {cold:.0} ms | {warm:.0} ms | {bytes} |");
    }
    println!(
        "\n| build of {LOOP_ITERATIONS} iterations ({CHUNKS} text chunks and a tool call each) | loop time | peak RSS |\n|---|---:|---:|"
    );
    for watchers in [0, WATCHERS] {
        let (took, rss) = loaded_build(iteratr, fake_agent, watchers)?;
        println!(
            "| {watchers} dashboard watchers | {} | {rss:.1} MiB |",
            ms(took)
        );
    }
    Ok(())
}
