//! `iteratr watch`: the transcript of a build another process runs, told from its session log.

use super::transcript::Transcript;
use crate::session::{EventKind, note_id, task_id};

/// Watching another process's build: the agent's output is not in the log, so the transcript
/// tells what the log records instead.
pub fn narrate(transcript: &mut Transcript, kind: &EventKind) {
    match kind {
        EventKind::IterationStarted {
            iteration,
            planning,
            worker,
        } => transcript.divider(match (planning, worker) {
            (true, _) => format!("iteration {iteration} (planning)"),
            (false, Some(w)) => format!("iteration {iteration} ({w})"),
            (false, None) => format!("iteration {iteration}"),
        }),
        EventKind::IterationFinished {
            iteration, outcome, ..
        } => transcript.divider(format!("iteration {iteration} ended: {outcome}")),
        EventKind::TaskAdded { task, content, .. } => {
            transcript.info(format!("+ {} {content}", task_id(*task)), false)
        }
        EventKind::TaskStatusSet { task, status } => {
            transcript.info(format!("{} → {status}", task_id(*task)), false)
        }
        EventKind::TaskReleased { task, reason } => {
            transcript.info(format!("{} → remaining ({reason})", task_id(*task)), true)
        }
        EventKind::NoteAdded {
            note,
            note_type,
            content,
        } => transcript.info(
            format!("note {} ({note_type}): {content}", note_id(*note)),
            false,
        ),
        EventKind::IterationSummarized { summary, .. } => transcript.text(&format!("{summary}\n")),
        EventKind::UserMessage { text } => transcript.info(format!("message: {text}"), false),
        EventKind::PermissionDecided {
            tool,
            title,
            decision,
            rule,
        } => transcript.info(
            format!(
                "permission: {} → {}",
                crate::protocol::call_label(tool, title),
                decision.describe(rule.as_deref())
            ),
            !decision.allowed(),
        ),
        EventKind::SessionCompleted { .. } => transcript.info("session completed".into(), false),
        EventKind::SessionPaused => transcript.info(
            "pause requested: the build stops after this iteration (p or iteratr resume goes on)"
                .into(),
            true,
        ),
        EventKind::SessionResumed => transcript.info("resumed".into(), false),
        EventKind::HookRan { .. } => {
            if let Some(hook) = crate::protocol::HookReport::from_log(kind) {
                transcript.info(hook.text(10), !hook.succeeded);
            }
        }
        EventKind::LeaseAcquired { holder, .. } => {
            transcript.info(format!("build started by {holder}"), false)
        }
        EventKind::LeaseReleased { .. } => transcript.info("build ended".into(), false),
        other => {
            if let Some(line) = crate::session::display::claim_line(other) {
                let expired = matches!(other, EventKind::TaskUnclaimed { expired: true, .. });
                transcript.info(line, expired);
            }
        }
    }
}
