//! Picking up after a build that was killed or crashed: the iteration it left running, the tasks
//! it had in progress, and its agent's question that nobody waits for any more.

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

    /// A question of this loop's agent that still waits in the log was asked in a turn that ended,
    /// or in a build that stopped (killed, crashed), without its answer: its call went with it.
    /// It is left open, so the agent may ask again and a later answer reaches its next prompt.
    pub(super) async fn leave_abandoned_questions_open(&self) -> anyhow::Result<()> {
        let state = self.session.refresh().await?;
        let mine = self.opts.role.worker().map(|w| w.name.as_str());
        let abandoned: Vec<u64> = state
            .questions
            .all
            .values()
            .filter(|q| q.is_waiting() && q.worker.as_deref() == mine)
            .map(|q| q.id)
            .collect();
        for question in abandoned {
            self.exec_as(Command::LeaveQuestionOpen { question }, Author::System)
                .await?;
        }
        Ok(())
    }
}
