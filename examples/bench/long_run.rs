//! A long build (issue 26): `iteratr build --headless` with the fake agent calling one read-only
//! tool (`task-next`) every iteration, so iterations add nothing to the session but their own
//! start and end. The build's open fds, RSS, threads and tokio tasks, read from outside as
//! iterations finish, with an MCP client that never closes its connection (the fake agent's
//! default: one connection and one MCP session per ACP session, left open) and with one that
//! closes it (`ITERATR_FAKE_AGENT_MCP_CLOSE=1`: DELETE of the MCP session at the end of each turn).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::footprint::{self, Footprint};

#[derive(Debug, Clone, Copy)]
pub enum Client {
    NeverCloses,
    Closes,
}

impl Client {
    pub fn label(self) -> &'static str {
        match self {
            Client::NeverCloses => "never closes",
            Client::Closes => "closes",
        }
    }
}

pub struct LongRun {
    pub samples: Vec<Footprint>,
    /// Iterations per second up to the last sample.
    pub rate: f64,
}

/// Runs one build past the last of `at` and samples it there.
pub fn run(
    iteratr: &Path,
    fake_agent: &Path,
    at: &[u32],
    client: Client,
) -> anyhow::Result<LongRun> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("specs"))?;
    std::fs::write(
        dir.path().join("specs/bench.md"),
        "# Bench\n\n- [ ] One\n- [ ] Two\n- [ ] Three\n",
    )?;
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        json!({"turns": [], "repeat": {"actions": [{"tool": "task-next", "args": {}}]}})
            .to_string(),
    )?;
    let last = at.iter().copied().max().unwrap_or(0);
    let log = dir.path().join("iteratr.log");
    let mut cmd = Command::new(iteratr);
    cmd.current_dir(dir.path())
        // Past the last sample: the end of a build closes everything, which would hide a leak.
        .args([
            "build",
            "--headless",
            "--json",
            "-i",
            &(last + 5).to_string(),
        ])
        .env("ITERATR_AGENT", fake_agent)
        .env("ITERATR_FAKE_AGENT_SCRIPT", &script)
        .env("ITERATR_LOG_FILE", &log)
        .env_remove("ITERATR_LOG_LEVEL")
        .env_remove("ITERATR_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if matches!(client, Client::Closes) {
        cmd.env("ITERATR_FAKE_AGENT_MCP_CLOSE", "1");
    }
    let started = Instant::now();
    let mut child = crate::util::Running(cmd.spawn()?);
    let stdout = child
        .0
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("the build's stdout is not piped"))?;
    let samples = footprint::sample_build(child.0.id(), stdout, at, Some(&log));
    let took = started.elapsed();
    anyhow::ensure!(
        samples.len() == at.len(),
        "the build ended after {} of the {} samples; its log: {}",
        samples.len(),
        at.len(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Let it finish its last iterations and exit (exit 3: iteration limit).
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.0.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(LongRun {
        samples,
        rate: f64::from(last) / took.as_secs_f64().max(1e-9),
    })
}

/// Prints the table of both clients, and the growth from the middle sample to the last.
pub fn report(iteratr: &Path, fake_agent: &Path, at: &[u32]) -> anyhow::Result<()> {
    println!(
        "| MCP client | iterations | open fds | RSS | threads | tokio tasks |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut growth = Vec::new();
    for client in [Client::NeverCloses, Client::Closes] {
        let r = run(iteratr, fake_agent, at, client)?;
        for s in &r.samples {
            println!(
                "| {} | {} | {} | {:.1} MiB | {} | {} |",
                client.label(),
                s.iteration,
                s.fds,
                s.rss_kib as f64 / 1024.0,
                s.threads,
                s.tasks.map_or("-".into(), |t| t.to_string())
            );
        }
        let n = r.samples.len();
        if n >= 2 {
            let (a, b) = (&r.samples[n - 2], &r.samples[n - 1]);
            let per_iteration =
                (b.rss_kib as f64 - a.rss_kib as f64) / f64::from(b.iteration - a.iteration);
            growth.push(format!(
                "{}: fds {:.2}x, RSS {:.2}x ({per_iteration:+.1} KiB an iteration) from {} to {} iterations; {:.0} iterations/s",
                client.label(),
                b.fds as f64 / a.fds.max(1) as f64,
                b.rss_kib as f64 / a.rss_kib.max(1) as f64,
                a.iteration,
                b.iteration,
                r.rate
            ));
        }
    }
    println!();
    for g in growth {
        println!("- {g}");
    }
    Ok(())
}
