//! The build under `tui_stress`'s flood with the output stream on and off (issue 29), from
//! outside: `iteratr build --headless -i 1` whose fake agent streams 100,000 chunks as fast as it
//! can over real ACP, with the default retention (24 h, 64 MiB) and with `--output-retention off`,
//! alternately, on SQLite and on a local nats-server. Prints the build's wall time and iteratr's
//! own CPU time (medians), how much slower it is with the stream on, and, with it on, the appends
//! per 100k agent updates (the build's log says what its writer did) and what the session keeps.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{Running, Stats};
use iteratr::store::{EventLog, NatsLog, NatsOptions, SqliteLog};

/// The chunks the agent streams: `tui_stress`'s flood.
const CHUNKS: usize = 100_000;

/// Planning, then the flood.
fn flood_script() -> serde_json::Value {
    json!({"turns": [
        {"actions": [{"tool": "iteration-summary", "args": {"summary": "planned"}}]},
        {"actions": crate::chunks::flood(CHUNKS)},
    ], "repeat": {"actions": []}})
}

/// One build's figures.
struct Run {
    wall: Duration,
    cpu: Duration,
    /// From the build's log, with the stream on: agent updates, records, appends.
    written: Option<(u64, u64, u64)>,
    /// What the session keeps afterwards: records, payload bytes.
    kept: (usize, u64),
}

/// utime + stime of a running process (clock ticks of 10 ms).
fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// `output stream of S: U agent updates written as R records in A appends (B bytes)`.
fn written_from_log(log: &str) -> Option<(u64, u64, u64)> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("agent updates written as"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let before = |word: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == word)?;
        words.get(i.checked_sub(1)?)?.parse().ok()
    };
    Some((before("agent")?, before("records")?, before("appends")?))
}

/// One build in a fresh project; `global` names the store, `shared` is that store when it is
/// not the project's own SQLite store.
async fn build(
    iteratr: &Path,
    fake_agent: &Path,
    global: &[String],
    shared: Option<&dyn EventLog>,
    name: &str,
    off: bool,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("specs"))?;
    std::fs::write(dir.path().join("specs/bench.md"), "# Bench\n\n- [ ] One\n")?;
    let script = dir.path().join("script.json");
    std::fs::write(&script, flood_script().to_string())?;
    let log_file = dir.path().join("iteratr.log");
    let mut cmd = Command::new(iteratr);
    cmd.current_dir(dir.path())
        .args(global)
        .args(["build", "--headless", "-i", "1", "-n", name])
        .env("ITERATR_AGENT", fake_agent)
        .env("ITERATR_FAKE_AGENT_SCRIPT", &script)
        .env_remove("ITERATR_DATA_DIR")
        .env("ITERATR_LOG_FILE", &log_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if off {
        cmd.args(["--output-retention", "off"]);
    }
    let started = Instant::now();
    let mut child = Running(cmd.spawn()?);
    let mut cpu = Duration::ZERO;
    let status = loop {
        if let Some(c) = cpu_of(child.0.id()) {
            cpu = c;
        }
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the build did not end within 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    anyhow::ensure!(
        status.code() == Some(3),
        "the build ended with {status} (3 expected: its one iteration ran); see {}",
        log_file.display()
    );
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    let kept = match shared {
        Some(store) => crate::output::retained(store, name).await?,
        None => {
            let own = SqliteLog::open(&dir.path().join(".iteratr"))?;
            crate::output::retained(&own, name).await?
        }
    };
    Ok(Run {
        wall,
        cpu,
        written: written_from_log(&log),
        kept,
    })
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `on` over `off`, as a percentage more.
fn slower(on: Duration, off: Duration) -> String {
    format!(
        "{:+.1}%",
        (on.as_secs_f64() / off.as_secs_f64().max(1e-9) - 1.0) * 100.0
    )
}

/// Prints one row per store: `runs` builds with the stream on and as many off, alternately.
pub async fn report(
    iteratr: &Path,
    fake_agent: &Path,
    nats: bool,
    runs: usize,
) -> anyhow::Result<()> {
    println!(
        "\n### The build under the flood ({CHUNKS} chunks), output stream on and off ({runs} builds each, alternately; medians, and the fastest-slowest)\n"
    );
    println!(
        "| store | wall, on | wall, off | on vs off | iteratr CPU, on | CPU, off | on vs off | agent updates | records | appends | appends per 100k updates | records kept | bytes kept |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let work = tempfile::tempdir()?;
    type Store = (
        &'static str,
        Vec<String>,
        Option<Box<dyn EventLog>>,
        Option<Running>,
    );
    let mut stores: Vec<Store> = vec![("SQLite", Vec::new(), None, None)];
    if nats {
        let (server, url) = crate::util::start_nats(&work.path().join("nats"))?;
        let log = NatsLog::connect(&NatsOptions::new(&url)).await?;
        stores.push((
            "JetStream (local nats-server)",
            vec!["--nats-url".into(), url],
            Some(Box::new(log)),
            Some(server),
        ));
    }
    for (label, global, shared, _server) in &stores {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for i in 0..runs {
            // Alternately, so a machine that gets busier or quieter weighs on both alike.
            for stream_off in [i % 2 == 1, i % 2 == 0] {
                let name = format!("flood-{i}-{}", if stream_off { "off" } else { "on" });
                let run = build(
                    iteratr,
                    fake_agent,
                    global,
                    shared.as_deref(),
                    &name,
                    stream_off,
                )
                .await?;
                if stream_off {
                    anyhow::ensure!(
                        run.kept.0 == 0,
                        "with the stream off the session kept {} records",
                        run.kept.0
                    );
                    off.push(run);
                } else {
                    on.push(run);
                }
            }
        }
        let figure = |runs: &[Run], f: fn(&Run) -> Duration| {
            let s = Stats::new(runs.iter().map(f).collect());
            let range = format!(
                "{} ({:.2}-{:.2})",
                secs(s.p50()),
                s.min().as_secs_f64(),
                s.max().as_secs_f64()
            );
            (s.p50(), range)
        };
        let ((wall_on, wall_on_s), (wall_off, wall_off_s)) =
            (figure(&on, |r| r.wall), figure(&off, |r| r.wall));
        let ((cpu_on, cpu_on_s), (cpu_off, cpu_off_s)) =
            (figure(&on, |r| r.cpu), figure(&off, |r| r.cpu));
        let last = on.last().ok_or_else(|| anyhow::anyhow!("no run"))?;
        let (updates, records, appends) = last.written.unwrap_or_default();
        println!(
            "| {label} | {wall_on_s} | {wall_off_s} | {} | {cpu_on_s} | {cpu_off_s} | {} | {updates} | {records} | {appends} | {:.0} | {} | {:.1} KiB |",
            slower(wall_on, wall_off),
            slower(cpu_on, cpu_off),
            appends as f64 * 100_000.0 / (updates.max(1) as f64),
            last.kept.0,
            last.kept.1 as f64 / 1024.0
        );
    }
    Ok(())
}
