//! Picking up after a build that was killed or crashed: the iteration it left running, and the
//! tasks it had in progress.

use std::sync::Arc;

use super::Orchestrator;
use crate::frontend::BuildEvent;
use crate::session::{Author, Command, EventKind, SessionState, task_id};

impl Orchestrator {
    /// This build holds the session, so an iteration still running in the log was left by a
    /// build that stopped without recording its end (killed, crashed): it is recorded as
    /// interrupted and the tasks it had in progress go back to remaining, so `task-next`
    /// offers them again. Returns the state after that.
    pub(super) async fn close_abandoned_iteration(&self) -> anyhow::Result<Arc<SessionState>> {
        let state = self.session.refresh().await?;
        let Some(number) = state.running_iteration() else {
            return Ok(state);
        };
        let done = self
            .exec_as(Command::CloseAbandonedIteration, Author::System)
            .await?;
        let released: Vec<String> = done
            .events
            .iter()
            .filter_map(|e| match &e.event.kind {
                EventKind::TaskReleased { task, .. } => Some(task_id(*task)),
                _ => None,
            })
            .collect();
        let given_back = match released.len() {
            0 => String::new(),
            1 => format!("; {} is remaining again", released[0]),
            _ => format!("; {} are remaining again", released.join(", ")),
        };
        self.emit(BuildEvent::Warning {
            message: format!(
                "iteration {number} never ended (the build running it was killed or crashed); recorded as interrupted{given_back}"
            ),
        });
        Ok(done.state)
    }
}
