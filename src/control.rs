//! Carrying out what people ask of a build ([`Op`]): the one place that turns a front end's
//! request into a session command (as the person), a permission answer or a stop. Every front
//! end (the full-screen interface of a build or of `watch`, and the next ones) hands its ops to
//! a [`Control`] and never touches the session, the approvals or the build's stop itself.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::acp::permissions::Approvals;
use crate::frontend::Op;
use crate::session::{Author, Command};
use crate::session_handle::SessionHandle;

pub(crate) struct Control {
    session: Arc<SessionHandle>,
    /// Who the person at this front end is, as recorded with what they ask (`user@host`).
    who: String,
    /// Stops the build this front end runs (none when watching another process's build).
    stop: Option<CancellationToken>,
    /// Where the agent's permission requests are answered (none when watching).
    approvals: Option<Arc<Approvals>>,
}

impl Control {
    pub(crate) fn new(
        session: Arc<SessionHandle>,
        stop: Option<CancellationToken>,
        approvals: Option<Arc<Approvals>>,
    ) -> Self {
        Control {
            session,
            who: crate::process::who(),
            stop,
            approvals,
        }
    }

    /// The same, for a person the front end names itself (a browser of the dashboard).
    pub(crate) fn acting_for(mut self, who: String) -> Self {
        self.who = who;
        self
    }

    /// Carries `op` out; what went wrong, in words for people.
    pub(crate) async fn apply(&self, op: Op) -> Result<(), String> {
        match op {
            Op::Stop | Op::Leave => {
                if let Some(stop) = &self.stop {
                    stop.cancel();
                }
                Ok(())
            }
            Op::Answer(id, answer) => {
                match &self.approvals {
                    // A request in the log is answered there: the first answer from anywhere
                    // wins, and the build hands it to the agent.
                    Some(approvals) => match approvals.number_of(id) {
                        Some(request) => {
                            let cmd = Command::AnswerPermission {
                                request,
                                decision: answer.decision(),
                                who: self.who.clone(),
                            };
                            Box::pin(self.apply(Op::Session(cmd))).await
                        }
                        // An answer to a request that no longer waits (its turn ended) changes
                        // nothing.
                        None => {
                            approvals.answer(id, answer);
                            Ok(())
                        }
                    },
                    None => {
                        Err("this build's permission requests are answered where it runs".into())
                    }
                }
            }
            Op::AnswerRequest(request, answer) => {
                let cmd = Command::AnswerPermission {
                    request,
                    decision: answer.decision(),
                    who: self.who.clone(),
                };
                Box::pin(self.apply(Op::Session(cmd))).await
            }
            Op::AskStop { now } => {
                let cmd = Command::RequestStop {
                    now,
                    who: self.who.clone(),
                };
                Box::pin(self.apply(Op::Session(cmd))).await
            }
            Op::AnswerQuestion(question, answers) => {
                let cmd = Command::AnswerQuestion {
                    question,
                    answers,
                    who: self.who.clone(),
                };
                Box::pin(self.apply(Op::Session(cmd))).await
            }
            Op::Message(text) => {
                let cmd = Command::UserMessage {
                    text,
                    who: self.who.clone(),
                };
                Box::pin(self.apply(Op::Session(cmd))).await
            }
            Op::Pause => {
                let cmd = Command::Pause {
                    who: self.who.clone(),
                };
                Box::pin(self.apply(Op::Session(cmd))).await
            }
            Op::Resume => {
                let cmd = Command::Resume {
                    who: self.who.clone(),
                };
                Box::pin(self.apply(Op::Session(cmd))).await
            }
            Op::Session(cmd) => self
                .session
                .execute(&cmd, Author::User)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::Answer;
    use crate::session::TaskStatus;
    use crate::store::{EventLog, SqliteLog, read_all};

    #[tokio::test]
    async fn ops_become_the_persons_commands_answers_and_a_stop() {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path()).unwrap());
        let session = Arc::new(SessionHandle::open(Arc::clone(&log), "demo").await.unwrap());
        let stop = CancellationToken::new();
        let control = Control::new(Arc::clone(&session), Some(stop.clone()), None);
        control.apply(Op::Message("hi".into())).await.unwrap();
        let events = read_all(log.as_ref(), "demo", 0).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.by, Author::User);
        // Messages, pauses and resumptions are recorded with who asked.
        let me = crate::process::who();
        assert_eq!(
            events[0].event.kind,
            crate::session::EventKind::UserMessage {
                text: "hi".into(),
                who: me.clone()
            }
        );
        control.apply(Op::Pause).await.unwrap();
        let state = session.refresh().await.unwrap();
        let paused = state.paused.as_ref().unwrap();
        assert_eq!(
            (paused.who.as_str(), paused.by),
            (me.as_str(), Author::User)
        );
        control.apply(Op::Resume).await.unwrap();
        let events = read_all(log.as_ref(), "demo", 0).await.unwrap();
        assert_eq!(
            events[2].event.kind,
            crate::session::EventKind::SessionResumed { who: me.clone() }
        );
        // Another front end names its person itself.
        control
            .apply(Op::Session(Command::UserMessage {
                text: "from the web".into(),
                who: format!("web: {me}"),
            }))
            .await
            .unwrap();
        let state = session.refresh().await.unwrap();
        assert_eq!(state.messages[1].who, format!("web: {me}"));
        // A command the session refuses says why; nothing is stored.
        let refused = control
            .apply(Op::Session(Command::SetStatus {
                task: "TAS-9".into(),
                status: TaskStatus::Completed,
            }))
            .await
            .unwrap_err();
        assert!(refused.contains("TAS-9"), "{refused}");
        // Watching, nobody here answers the agent.
        let e = control
            .apply(Op::Answer(1, Answer::AllowOnce))
            .await
            .unwrap_err();
        assert!(e.contains("answered where it runs"), "{e}");
        assert!(!stop.is_cancelled());
        control.apply(Op::Stop).await.unwrap();
        assert!(stop.is_cancelled());
        assert_eq!(read_all(log.as_ref(), "demo", 0).await.unwrap().len(), 4);
        // Asking a build to stop: refused while none runs, then recorded with who asked.
        let none = control.apply(Op::AskStop { now: false }).await.unwrap_err();
        assert!(none.contains("no build runs"), "{none}");
        let holder = crate::session::LeaseHolder {
            id: "b1".into(),
            ..Default::default()
        };
        let lease = Command::AcquireLease {
            holder,
            ttl_ms: 60_000,
            takeover: false,
        };
        session.execute(&lease, Author::System).await.unwrap();
        control.apply(Op::AskStop { now: true }).await.unwrap();
        let state = session.refresh().await.unwrap();
        let asked = state.stop.as_ref().unwrap();
        assert!(asked.now);
        assert_eq!(asked.who, crate::process::who());
    }
}
