//! The session tools as one worker sees them (`--workers`): `task-next` claims the task it
//! returns for the worker (a compare-and-set append, so two workers never hold the same task), and
//! a worker may not change the status of a task another worker holds.

use serde_json::json;

use super::tools::{SessionTools, failure, success, task_json};
use crate::clock::now_ms;
use crate::session::display::task_line;
use crate::session::{Command, TaskStatus};

/// The worker an MCP endpoint serves.
#[derive(Debug, Clone)]
pub(super) struct WorkerSeat {
    pub name: String,
    pub ttl_ms: u64,
}

type ToolResult = Result<rmcp::model::CallToolResult, rmcp::model::CallToolResult>;

impl SessionTools {
    /// `task-next` for a worker: the task it holds, or a new claim on the next claimable one.
    pub(super) async fn claim_next(&self, seat: &WorkerSeat) -> ToolResult {
        let done = self
            .exec(Command::ClaimTask {
                worker: seat.name.clone(),
                ttl_ms: seat.ttl_ms,
            })
            .await?;
        let state = done.state;
        if let Some(t) = state.claim_of(&seat.name) {
            let text = if t.status == TaskStatus::Completed {
                format!(
                    "Your task {} is completed. End your turn: iteratr integrates your work and gives you the next task.",
                    t.label()
                )
            } else {
                format!(
                    "Your task (claimed for you, {}): {}. Work only on it; mark it in_progress, then completed when done and tested.",
                    seat.name,
                    task_line(t)
                )
            };
            return Ok(success(text, json!({ "task": task_json(t) })));
        }
        let now = now_ms();
        let others: Vec<String> = state
            .claimed_tasks()
            .filter(|t| t.claim.as_ref().is_some_and(|c| c.is_live(now)))
            .map(|t| {
                let by = t.claim.as_ref().map(|c| c.worker.as_str()).unwrap_or("?");
                format!("  {} (held by {by})", task_line(t))
            })
            .collect();
        let text = if state.unfinished_tasks().is_empty() {
            "No task left to claim. End your turn.".to_string()
        } else if others.is_empty() {
            "Nothing is claimable now: the remaining tasks wait on tasks that are not done and integrated yet. End your turn.".to_string()
        } else {
            format!(
                "Nothing is claimable now; other workers hold:\n{}\nEnd your turn.",
                others.join("\n")
            )
        };
        Ok(success(text, json!({ "task": null })))
    }

    /// Refuses a status change of a task another worker holds (or, for a worker, of one nobody
    /// gave it), so no work is done twice.
    pub(super) async fn check_claim(&self, given: &str) -> Result<(), rmcp::model::CallToolResult> {
        let Some(seat) = &self.worker else {
            return Ok(());
        };
        let state = self.state().await?;
        let Ok(id) = state.resolve_task(given) else {
            return Ok(()); // The command reports the unknown id.
        };
        let holder = state
            .tasks
            .get(&id)
            .and_then(|t| t.claim.as_ref())
            .map(|c| (c.worker.clone(), c.is_live(now_ms())));
        match holder {
            Some((w, true)) if w == seat.name => Ok(()),
            Some((w, false)) if w == seat.name => Err(failure(format!(
                "your claim on {} lapsed (it was not renewed in time) and the task may be another worker's now; call task-next for your task.",
                crate::session::task_id(id)
            ))),
            Some((w, _)) => Err(failure(format!(
                "{} is held by worker {w}; work only on your own task (task-next shows it).",
                crate::session::task_id(id)
            ))),
            None => Err(failure(format!(
                "{} is not your task; call task-next to get your task, and work only on it.",
                crate::session::task_id(id)
            ))),
        }
    }
}
