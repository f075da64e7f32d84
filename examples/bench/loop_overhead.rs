//! What the loop itself costs: `iteratr build --headless` with the fake agent ending every turn
//! at once, timed from the fake agent's log (microsecond stamps of what it received).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::Stats;

pub struct LoopFigures {
    pub iterations: usize,
    /// From the agent's answer to a prompt to the next prompt it receives.
    pub between_prompts: Stats,
    /// From starting `iteratr build` to the first prompt the agent receives.
    pub first_prompt: Duration,
    /// From the agent's `session/new` to that first prompt.
    pub first_prompt_after_ready: Duration,
    /// The whole run, start to exit.
    pub total: Duration,
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn us(d: u128) -> Duration {
    Duration::from_micros(u64::try_from(d).unwrap_or(u64::MAX))
}

pub fn run(iteratr: &Path, fake_agent: &Path, iterations: usize) -> anyhow::Result<LoopFigures> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("specs"))?;
    std::fs::write(
        dir.path().join("specs/bench.md"),
        "# Bench\n\n- [ ] One\n- [ ] Two\n- [ ] Three\n",
    )?;
    let turns: Vec<Value> = (0..iterations + 1)
        .map(|_| json!({"actions": [], "stop": "end_turn"}))
        .collect();
    let script = dir.path().join("script.json");
    std::fs::write(&script, json!({ "turns": turns }).to_string())?;
    let log = dir.path().join("agent.log");
    let started = now_us();
    let status = Command::new(iteratr)
        .current_dir(dir.path())
        .args(["build", "--headless", "-i", &iterations.to_string()])
        .env("ITERATR_AGENT", fake_agent)
        .env("ITERATR_FAKE_AGENT_SCRIPT", &script)
        .env("ITERATR_FAKE_AGENT_LOG", &log)
        .env_remove("ITERATR_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let total = us(now_us() - started);
    // The agent never completes the session: the run ends at its iteration limit (exit 3).
    anyhow::ensure!(
        status.code() == Some(3),
        "iteratr build should stop at its iteration limit (exit 3), not with {status}"
    );
    let entries: Vec<Value> = std::fs::read_to_string(&log)?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |e: &Value| e["at_us"].as_u64().map(u128::from);
    let stamps = |kind: &str| -> Vec<u128> {
        entries
            .iter()
            .filter(|e| e["event"] == kind)
            .filter_map(at)
            .collect()
    };
    let prompts = stamps("prompt");
    let done = stamps("prompt_done");
    let ready = stamps("new_session");
    anyhow::ensure!(
        !prompts.is_empty() && !ready.is_empty(),
        "the fake agent logged no prompt"
    );
    let between = done
        .iter()
        .zip(prompts.iter().skip(1))
        .map(|(d, p)| us(p.saturating_sub(*d)))
        .collect();
    Ok(LoopFigures {
        iterations: prompts.len(),
        between_prompts: Stats::new(between),
        first_prompt: us(prompts[0].saturating_sub(started)),
        first_prompt_after_ready: us(prompts[0].saturating_sub(ready[0])),
        total,
    })
}
