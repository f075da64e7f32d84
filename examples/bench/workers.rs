//! Workers (`build --workers N`) against one agent: nine independent tasks, a fake agent that
//! takes one second over each, in a real git repository. Wall time of a single build and of three
//! workers, and what coordination (claims, commits, rebases, integration) costs per task.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

pub const TASKS: usize = 9;
/// How long the fake agent works on a task.
pub const TASK_TIME: Duration = Duration::from_secs(1);

pub struct WorkerFigures {
    pub single: Duration,
    pub three: Duration,
}

impl WorkerFigures {
    /// Worker time per task beyond the agent's own second, for `workers` workers taking `wall`.
    pub fn overhead_per_task(wall: Duration, workers: u32) -> Duration {
        (wall * workers).saturating_sub(TASK_TIME * TASKS as u32) / TASKS as u32
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()?
        .success();
    anyhow::ensure!(ok, "git {args:?} failed");
    Ok(())
}

/// One run on a fresh repository; its wall time.
fn run(iteratr: &Path, fake_agent: &Path, workers: u32) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::create_dir_all(d.join("specs"))?;
    let spec: String = (1..=TASKS)
        .map(|n| format!("- [ ] write t{n}.txt: {n}\n"))
        .collect();
    std::fs::write(d.join("specs/bench.md"), format!("# Bench\n\n{spec}"))?;
    std::fs::write(d.join(".gitignore"), "script.json*\n.iteratr/\n")?;
    git(d, &["init", "--quiet", "--initial-branch=main"])?;
    git(d, &["config", "user.name", "Bench"])?;
    git(d, &["config", "user.email", "bench@example.invalid"])?;
    git(d, &["config", "commit.gpgsign", "false"])?;
    git(d, &["add", "."])?;
    git(d, &["commit", "--quiet", "-m", "initial"])?;
    let script = d.join("script.json");
    let ms = TASK_TIME.as_millis() as u64;
    std::fs::write(
        &script,
        json!({"turns": [{"actions": []}], "repeat": {"actions": [{"work": {"sleep_ms": ms}}]}})
            .to_string(),
    )?;
    let started = Instant::now();
    let status = Command::new(iteratr)
        .current_dir(d)
        .args(["build", "--headless", "--workers", &workers.to_string()])
        .env("ITERATR_AGENT", fake_agent)
        .env("ITERATR_FAKE_AGENT_SCRIPT", &script)
        .env_remove("ITERATR_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let took = started.elapsed();
    anyhow::ensure!(
        status.success(),
        "iteratr build --workers {workers} failed ({status})"
    );
    Ok(took)
}

pub fn measure(iteratr: &Path, fake_agent: &Path) -> anyhow::Result<WorkerFigures> {
    Ok(WorkerFigures {
        single: run(iteratr, fake_agent, 1)?,
        three: run(iteratr, fake_agent, 3)?,
    })
}
