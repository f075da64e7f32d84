//! `iteratr watch`: the transcript of a build another process runs, told from its session log.

use super::app::App;
use crate::session::EventKind;

impl App {
    /// Watching another process's build: the agent's output is not in the log, so the transcript
    /// tells what the log records instead.
    pub(super) fn narrate(&mut self, kind: &EventKind) {
        use crate::session::{note_id, task_id};
        match kind {
            EventKind::IterationStarted {
                iteration,
                planning,
            } => {
                self.working = true;
                self.transcript.divider(if *planning {
                    format!("iteration {iteration} (planning)")
                } else {
                    format!("iteration {iteration}")
                });
            }
            EventKind::IterationFinished {
                iteration, outcome, ..
            } => {
                self.working = false;
                self.transcript
                    .divider(format!("iteration {iteration} ended: {outcome}"));
            }
            EventKind::TaskAdded { task, content, .. } => self
                .transcript
                .info(format!("+ {} {content}", task_id(*task)), false),
            EventKind::TaskStatusSet { task, status } => self
                .transcript
                .info(format!("{} → {status}", task_id(*task)), false),
            EventKind::NoteAdded {
                note,
                note_type,
                content,
            } => self.transcript.info(
                format!("note {} ({note_type}): {content}", note_id(*note)),
                false,
            ),
            EventKind::IterationSummarized { summary, .. } => {
                self.transcript.text(&format!("{summary}\n"))
            }
            EventKind::UserMessage { text } => {
                self.transcript.info(format!("message: {text}"), false)
            }
            EventKind::PermissionDecided {
                tool,
                title,
                decision,
                rule,
            } => self.transcript.info(
                format!(
                    "permission: {} → {}",
                    crate::protocol::call_label(tool, title),
                    decision.describe(rule.as_deref())
                ),
                !decision.allowed(),
            ),
            EventKind::SessionCompleted { .. } => {
                self.transcript.info("session completed".into(), false)
            }
            EventKind::LeaseAcquired { holder, .. } => self
                .transcript
                .info(format!("build started by {holder}"), false),
            EventKind::LeaseReleased { .. } => self.transcript.info("build ended".into(), false),
            _ => {}
        }
    }
}
