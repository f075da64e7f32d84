//! The agent's permission requests and iteratr's decisions in the session log. Every decision is
//! recorded (`permission_decided`); a request that waits for a person is put in the log as `P-n`
//! (`permission_requested`), so that anyone who reaches the log can answer it (`iteratr approve`,
//! the full-screen interface here, `watch` anywhere): the first answer appended wins
//! (`permission_answered`), and this build hands it to the agent.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::acp::AgentUpdate;
use crate::acp::permissions::Approvals;
use crate::frontend::{Answer, BuildEvent};
use crate::session::{Author, Command, EventKind, PermissionDecision};
use crate::session_handle::SessionHandle;

/// Records what is sent to it, in order: requests that wait for a person, and decisions. A
/// second task hands the agent the answers appended to the log. Both end when every sender is
/// gone.
pub(super) fn spawn(
    session: Arc<SessionHandle>,
    events: mpsc::UnboundedSender<BuildEvent>,
    approvals: Arc<Approvals>,
    worker: Option<String>,
) -> (mpsc::UnboundedSender<AgentUpdate>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<AgentUpdate>();
    let answers = spawn_answers(Arc::clone(&session), Arc::clone(&approvals));
    let task = tokio::spawn(async move {
        let warn = |what: &str, e: &dyn std::fmt::Display| {
            let _ = events.send(BuildEvent::Warning {
                message: format!("cannot record {what} in the session: {e}"),
            });
        };
        while let Some(update) = rx.recv().await {
            match update {
                AgentUpdate::PermissionAsked {
                    id, tool, title, ..
                } => {
                    let cmd = Command::RequestPermission {
                        tool,
                        title,
                        worker: worker.clone(),
                    };
                    match session.execute(&cmd, Author::System).await {
                        Ok(done) => {
                            for e in &done.events {
                                if let EventKind::PermissionRequested { request, .. } = e.event.kind
                                {
                                    approvals.link(id, request);
                                }
                            }
                        }
                        Err(e) => warn("a permission request", &e),
                    }
                }
                AgentUpdate::Permission {
                    id,
                    tool,
                    title,
                    decision,
                    rule,
                    by_user,
                } => {
                    // A request in the log: its answer is the log's (recorded by whoever gave
                    // it), unless it ended here without one.
                    if let Some(request) = approvals.number_of(id) {
                        approvals.unlink(id);
                        let waits = session
                            .refresh()
                            .await
                            .is_ok_and(|s| s.permissions.waiting.contains_key(&request));
                        if waits {
                            let cmd = Command::AnswerPermission {
                                request,
                                decision: if by_user
                                    || decision == PermissionDecision::DeniedUnattended
                                {
                                    decision
                                } else {
                                    PermissionDecision::Cancelled
                                },
                                who: if by_user {
                                    crate::process::who()
                                } else {
                                    String::new()
                                },
                            };
                            // Someone may have answered meanwhile: theirs is the record.
                            let _ = session.execute(&cmd, Author::System).await;
                        }
                        continue;
                    }
                    let by = if by_user {
                        Author::User
                    } else {
                        Author::System
                    };
                    let cmd = Command::RecordPermission {
                        tool,
                        title,
                        decision,
                        rule,
                    };
                    if let Err(e) = session.execute(&cmd, by).await {
                        warn("a permission decision", &e);
                    }
                }
                _ => {}
            }
        }
        answers.abort();
    });
    (tx, task)
}

/// Hands this build's agent the answers appended to the log for its requests.
fn spawn_answers(session: Arc<SessionHandle>, approvals: Arc<Approvals>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let log = Arc::clone(session.log());
        let after = log.last_seq(session.name()).await.unwrap_or(0);
        let Ok(mut sub) = log.subscribe(session.name(), after).await else {
            tracing::warn!("cannot follow the session log for answers to permission requests");
            return;
        };
        while let Some(Ok(stored)) = sub.next().await {
            if let EventKind::PermissionAnswered {
                request, decision, ..
            } = stored.event.kind
                && let Some(id) = approvals.id_of(request)
            {
                approvals.answer(id, Answer::of(decision));
            }
        }
    })
}
