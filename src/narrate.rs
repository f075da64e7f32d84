//! What the session log's events say to people: one narrator for the progress lines of a build
//! and for `watch`'s full-screen transcript, matched with no wildcard arm so that a new kind of
//! event says something (or says that it says nothing) before it compiles.

use crate::frontend::{HookReport, call_label};
use crate::session::text::{by_who, clip, first_line, who_or};
use crate::session::{EventKind, items_line, note_id, permission_id, question_id, task_id};

/// How a told line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Info,
    /// Something that went wrong or needs a look.
    Warning,
    /// The start or end of an iteration.
    Divider,
    /// The agent's own words (Markdown).
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Told {
    pub text: String,
    pub tone: Tone,
}

/// Who listens: a running build's progress lines, which also say the iterations, permissions
/// and hooks as they happen, or a watcher, which has only the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Build,
    Watcher,
}

fn info(text: String) -> Option<Told> {
    Some(Told {
        text,
        tone: Tone::Info,
    })
}

fn warning(text: String) -> Option<Told> {
    Some(Told {
        text,
        tone: Tone::Warning,
    })
}

/// What `kind` says to `listener`, if anything.
pub(crate) fn narrate(kind: &EventKind, listener: Listener) -> Option<Told> {
    let watching = listener == Listener::Watcher;
    match kind {
        EventKind::TaskAdded {
            task,
            content,
            priority,
            ..
        } => info(format!(
            "+ {} [p{priority}] {}",
            task_id(*task),
            clip(first_line(content), 120)
        )),
        EventKind::TaskStatusSet { task, status } => info(format!("{} → {status}", task_id(*task))),
        EventKind::TaskReleased { task, reason } => {
            warning(format!("{} → remaining ({reason})", task_id(*task)))
        }
        EventKind::TaskPrioritySet { task, priority } => {
            info(format!("{} priority {priority}", task_id(*task)))
        }
        EventKind::TaskDependencyAdded { task, depends_on } => {
            info(format!("{} after {}", task_id(*task), task_id(*depends_on)))
        }
        EventKind::TaskDeleted { task } => info(format!("{} deleted", task_id(*task))),
        EventKind::TaskContentEdited { .. }
        | EventKind::NoteContentEdited { .. }
        | EventKind::NoteDeleted { .. } => None,
        EventKind::NoteAdded {
            note,
            note_type,
            content,
        } => info(format!(
            "note {} ({note_type}): {}",
            note_id(*note),
            clip(first_line(content), 120)
        )),
        // A build's own events mark its iterations; a watcher has only these.
        EventKind::IterationStarted {
            iteration,
            planning,
            worker,
        } if watching => Some(Told {
            text: match (planning, worker) {
                (true, _) => format!("iteration {iteration} (planning)"),
                (false, Some(w)) => format!("iteration {iteration} ({w})"),
                (false, None) => format!("iteration {iteration}"),
            },
            tone: Tone::Divider,
        }),
        EventKind::IterationFinished {
            iteration, outcome, ..
        } if watching => Some(Told {
            text: format!("iteration {iteration} ended: {outcome}"),
            tone: Tone::Divider,
        }),
        EventKind::IterationStarted { .. } | EventKind::IterationFinished { .. } => None,
        EventKind::IterationSummarized { summary, .. } if watching => Some(Told {
            text: format!("{summary}\n"),
            tone: Tone::Text,
        }),
        EventKind::IterationSummarized { summary, .. } => {
            info(format!("summary: {}", clip(first_line(summary), 200)))
        }
        EventKind::UserMessage { text, who } => info(format!(
            "message{}: {}",
            if who.trim().is_empty() {
                String::new()
            } else {
                format!(" from {who}")
            },
            clip(first_line(text), 200)
        )),
        EventKind::SessionCompleted { .. } => info("session completed".into()),
        EventKind::SessionPaused { who } => warning(format!(
            "pause requested{}: the build stops after this iteration (`iteratr resume`, or p in the full-screen interface, goes on)",
            by_who(who)
        )),
        EventKind::SessionResumed { who } => info(format!("resumed{}", by_who(who))),
        EventKind::StopRequested { now, who } => {
            let who = who_or(who, "someone");
            warning(if *now {
                format!("stop requested by {who}: the turn is stopped now")
            } else {
                format!("stop requested by {who}: the build stops after this iteration")
            })
        }
        EventKind::SessionReset { .. } => warning("session reset".into()),
        // A build says these as they happen, with what the log does not keep.
        EventKind::HookRan { .. } if watching => {
            let hook = HookReport::from_log(kind)?;
            let tone = if hook.succeeded {
                Tone::Info
            } else {
                Tone::Warning
            };
            Some(Told {
                text: hook.text(10),
                tone,
            })
        }
        EventKind::PermissionDecided {
            tool,
            title,
            decision,
            rule,
        } if watching => Some(Told {
            text: format!(
                "permission: {} → {}",
                call_label(tool, title),
                decision.describe(rule.as_deref())
            ),
            tone: if decision.allowed() {
                Tone::Info
            } else {
                Tone::Warning
            },
        }),
        EventKind::HookRan { .. } | EventKind::PermissionDecided { .. } => None,
        EventKind::QuestionAsked {
            question,
            items,
            worker,
        } => {
            let id = question_id(*question);
            let whose = worker
                .as_deref()
                .map(|w| format!("[{w}] "))
                .unwrap_or_default();
            warning(format!(
                "{whose}question {id} waits: {}; `iteratr answer {id} TEXT` answers from anywhere",
                items_line(items)
            ))
        }
        EventKind::QuestionAnswered {
            question,
            answers,
            who,
        } => {
            let said: Vec<String> = answers.iter().map(|a| clip(&a.said(), 200)).collect();
            let who = if who.is_empty() {
                String::new()
            } else {
                format!(" by {who}")
            };
            info(format!(
                "{} answered{who}: {}",
                question_id(*question),
                said.join("; ")
            ))
        }
        EventKind::QuestionLeftOpen { question } => info(format!(
            "{} left open: the agent goes on without an answer (a later one reaches its next prompt)",
            question_id(*question)
        )),
        EventKind::PermissionRequested {
            request,
            tool,
            title,
            worker,
        } => {
            let id = permission_id(*request);
            let whose = worker
                .as_deref()
                .map(|w| format!("[{w}] "))
                .unwrap_or_default();
            warning(format!(
                "{whose}permission {id} waits: {}; `iteratr approve {id}` or `iteratr deny {id}` answers from anywhere",
                call_label(tool, title)
            ))
        }
        EventKind::PermissionAnswered {
            request,
            decision,
            who,
        } => {
            let who = if who.is_empty() {
                String::new()
            } else {
                format!(" ({who})")
            };
            let text = format!(
                "{} {}{who}",
                permission_id(*request),
                decision.describe(None)
            );
            if decision.allowed() {
                info(text)
            } else {
                warning(text)
            }
        }
        EventKind::AgentStarted { .. }
        | EventKind::LeaseRenewed { .. }
        | EventKind::ClaimsRenewed { .. } => None,
        EventKind::LeaseAcquired {
            holder,
            took_over_from: Some(from),
            ..
        } => warning(format!("{holder} took the session over from {from}")),
        EventKind::LeaseAcquired { holder, .. } => info(format!("build started by {holder}")),
        EventKind::LeaseReleased { .. } => info("build ended".into()),
        EventKind::TaskClaimed { task, worker, .. } => {
            info(format!("{} claimed by {worker}", task_id(*task)))
        }
        EventKind::TaskUnclaimed {
            task,
            worker,
            expired: true,
            ..
        } => warning(format!(
            "{}: {worker}'s claim expired; another worker may take it",
            task_id(*task)
        )),
        EventKind::TaskUnclaimed {
            task,
            worker,
            reason,
            ..
        } => info(format!(
            "{} released by {worker} ({reason})",
            task_id(*task)
        )),
        EventKind::TaskIntegrated { task, commit, .. } => info(format!(
            "{} integrated as {}",
            task_id(*task),
            &commit[..commit.len().min(12)]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{IterationOutcome, PermissionDecision};

    #[test]
    fn a_build_is_told_what_its_own_events_do_not_say_and_a_watcher_everything() {
        let started = EventKind::IterationStarted {
            iteration: 2,
            planning: false,
            worker: Some("w1".into()),
        };
        assert_eq!(narrate(&started, Listener::Build), None);
        assert_eq!(
            narrate(&started, Listener::Watcher),
            Some(Told {
                text: "iteration 2 (w1)".into(),
                tone: Tone::Divider
            })
        );
        let finished = EventKind::interrupted(2, "killed".into());
        assert_eq!(narrate(&finished, Listener::Build), None);
        assert_eq!(
            narrate(&finished, Listener::Watcher).map(|t| t.text),
            Some(format!(
                "iteration 2 ended: {}",
                IterationOutcome::Interrupted
            ))
        );
        let refused = EventKind::PermissionDecided {
            tool: "bash".into(),
            title: "rm -rf /".into(),
            decision: PermissionDecision::DeniedByRule,
            rule: Some("*rm*".into()),
        };
        assert_eq!(narrate(&refused, Listener::Build), None);
        assert_eq!(
            narrate(&refused, Listener::Watcher).map(|t| t.tone),
            Some(Tone::Warning)
        );
        // The rest is told alike, on one line.
        let summary = EventKind::IterationSummarized {
            iteration: 2,
            summary: "Wrote the parser.\nTests pass.".into(),
        };
        assert_eq!(
            narrate(&summary, Listener::Build).map(|t| t.text),
            Some("summary: Wrote the parser.".into())
        );
        let expired = EventKind::TaskUnclaimed {
            task: 3,
            worker: "w1".into(),
            expired: true,
            reason: "lapsed".into(),
        };
        for listener in [Listener::Build, Listener::Watcher] {
            assert_eq!(
                narrate(&expired, listener),
                Some(Told {
                    text: "TAS-3: w1's claim expired; another worker may take it".into(),
                    tone: Tone::Warning
                })
            );
        }
    }

    #[test]
    fn who_sent_a_message_or_paused_is_said_when_the_log_knows() {
        let said = |kind: EventKind| narrate(&kind, Listener::Watcher).map(|t| t.text);
        assert_eq!(
            said(EventKind::UserMessage {
                text: "focus on tests\nplease".into(),
                who: "ana@laptop".into(),
            }),
            Some("message from ana@laptop: focus on tests".into())
        );
        assert_eq!(
            said(EventKind::UserMessage {
                text: "hi".into(),
                who: String::new(),
            }),
            Some("message: hi".into())
        );
        let paused = said(EventKind::SessionPaused {
            who: "web: ana@laptop".into(),
        })
        .unwrap();
        assert!(
            paused.starts_with("pause requested by web: ana@laptop: the build stops"),
            "{paused}"
        );
        let paused = said(EventKind::SessionPaused { who: String::new() }).unwrap();
        assert!(paused.starts_with("pause requested: the build"), "{paused}");
        assert_eq!(
            said(EventKind::SessionResumed {
                who: "ana@laptop".into()
            }),
            Some("resumed by ana@laptop".into())
        );
    }
}
