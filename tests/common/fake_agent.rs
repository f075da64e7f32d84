//! The scripted fake ACP agent (`examples/fake_agent/`): where `cargo test` builds it (beside
//! the test binaries), its script and log formats (the agent's own serde types), and what the
//! tests read in its log.

use std::path::{Path, PathBuf};

#[path = "../../examples/fake_agent/log.rs"]
pub mod log;
#[path = "../../examples/fake_agent/script.rs"]
pub mod script;

use log::{Event, Record};

pub fn path() -> PathBuf {
    super::example("fake_agent")
}

/// The processes a fake agent log names: every agent that started, and every grandchild a
/// stubborn agent (`ITERATR_FAKE_AGENT_STUBBORN`) started, each with what it is.
pub fn processes(log: &[Record]) -> Vec<(u32, String)> {
    log.iter()
        .filter_map(|r| match &r.event {
            Event::Start(_) => Some((r.pid, "an agent".to_string())),
            Event::Grandchild(g) => {
                Some((g.grandchild, format!("the grandchild of agent {}", r.pid)))
            }
            _ => None,
        })
        .collect()
}

/// Reads a fake agent log file (its whole lines; a missing file is an empty log).
pub fn read_log(path: &Path) -> Vec<Record> {
    super::project::json_lines(path)
}

/// Waits until none of the processes `log` names runs (a stubborn agent and its grandchild end
/// only when someone kills them); fails naming those left. With `stubborn`, every agent that
/// started must have logged its grandchild, so the check cannot pass for want of one.
#[track_caller]
pub fn assert_gone(log: &[Record], stubborn: bool) {
    if stubborn {
        for start in log.iter().filter(|r| matches!(r.event, Event::Start(_))) {
            assert!(
                log.iter()
                    .any(|r| matches!(r.event, Event::Grandchild(_)) && r.pid == start.pid),
                "the stubborn agent {} started no grandchild: {log:?}",
                start.pid
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
