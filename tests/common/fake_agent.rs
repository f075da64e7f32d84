//! Where the scripted fake ACP agent (`examples/fake_agent.rs`) is built: `cargo test` builds
//! examples beside the test binaries.

use std::path::PathBuf;

pub fn path() -> PathBuf {
    super::example("fake_agent")
}

/// The processes a fake agent log names: every agent that started, and every grandchild a
/// stubborn agent (`ITERATR_FAKE_AGENT_STUBBORN`) started, each with what it is.
pub fn processes(log: &[serde_json::Value]) -> Vec<(u32, String)> {
    log.iter()
        .filter_map(|e| match e["event"].as_str()? {
            "start" => Some((e["pid"].as_u64()? as u32, "an agent".to_string())),
            "grandchild" => Some((
                e["grandchild"].as_u64()? as u32,
                format!("the grandchild of agent {}", e["pid"]),
            )),
            _ => None,
        })
        .collect()
}

/// Reads a fake agent log file (lines of JSON; a missing file is an empty log).
pub fn read_log(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until none of the processes `log` names runs (a stubborn agent and its grandchild end
/// only when someone kills them); fails naming those left. With `stubborn`, every agent that
/// started must have logged its grandchild, so the check cannot pass for want of one.
#[track_caller]
pub fn assert_gone(log: &[serde_json::Value], stubborn: bool) {
    if stubborn {
        for start in log.iter().filter(|e| e["event"] == "start") {
            assert!(
                log.iter()
                    .any(|e| e["event"] == "grandchild" && e["pid"] == start["pid"]),
                "the stubborn agent {} started no grandchild: {log:?}",
                start["pid"]
            );
        }
    }
    let named = processes(log);
    let left = || -> Vec<&(u32, String)> {
        named
            .iter()
            .filter(|(pid, _)| super::procs::running(*pid))
            .collect()
    };
    super::wait_until(
        super::PATIENCE,
        || format!("left running: {:?}", left()),
        || left().is_empty(),
    );
}
