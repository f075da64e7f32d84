//! What front ends (the headless printer now, the TUI later) are told while a build runs: the
//! loop's own milestones, the agent's updates, and every event the session log records.

use serde::Serialize;

use crate::acp::AgentUpdate;
use crate::session::Event;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BuildEvent {
    Started {
        session: String,
        spec: String,
        data_dir: String,
        agent: String,
        mcp_url: String,
    },
    Info {
        message: String,
    },
    Warning {
        message: String,
    },
    AgentReady {
        name: String,
        version: String,
        http_mcp: bool,
    },
    IterationStarted {
        iteration: u32,
        planning: bool,
    },
    Agent {
        update: AgentUpdate,
    },
    /// An event appended to the session log (by the agent's tool calls, the loop, or anyone else).
    Log {
        seq: u64,
        event: Event,
    },
    IterationFinished {
        iteration: u32,
        outcome: String,
        seconds: f64,
        tasks: String,
    },
    Retrying {
        failures: u32,
        max_failures: u32,
        delay_ms: u64,
        reason: String,
    },
    Finished {
        /// `completed`, `iteration_limit`, `failed` or `interrupted`.
        outcome: String,
        iterations: u32,
        message: String,
    },
}
