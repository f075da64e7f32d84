//! The misbehaving agent (`examples/rogue_agent.rs`: raw JSON-RPC on stdio) in a [`Project`]:
//! its script, the command that runs a build with it, and what it logged.

use std::process::Command;

use serde_json::Value;

use super::project::Project;

pub fn path() -> std::path::PathBuf {
    super::example("rogue_agent")
}

/// Writes the rogue agent's script (`{"init": ..., "turns": [[actions], ...]}`) and starts it
/// over from its first turn.
pub fn script(p: &Project, script: Value) {
    std::fs::write(p.path().join("rogue.json"), script.to_string()).unwrap();
    let _ = std::fs::remove_file(p.path().join("rogue.json.state"));
    let _ = std::fs::remove_file(p.path().join("rogue.json.inits"));
}

/// `iteratr build ARGS` in the project, with the rogue agent as the agent.
pub fn command(p: &Project, args: &[&str]) -> Command {
    let mut cmd = p.command(args);
    cmd.env("ITERATR_AGENT", path())
        .env("ITERATR_ROGUE_SCRIPT", p.path().join("rogue.json"))
        .env("ITERATR_ROGUE_LOG", p.path().join("rogue.log"));
    cmd
}

/// What the rogue agent logged (every process of it, in order), one JSON object each.
pub fn log(p: &Project) -> Vec<Value> {
    super::project::json_lines(&p.path().join("rogue.log"))
}

pub fn events(p: &Project, kind: &str) -> Vec<Value> {
    log(p).into_iter().filter(|e| e["event"] == kind).collect()
}
