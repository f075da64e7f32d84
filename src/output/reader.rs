//! The watchers' side of the output stream: the agent's updates, as the build's own front end
//! gets them, for a front end in another process or on another machine.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::OutputRecord;
use crate::frontend::BuildEvent;
use crate::session::text::error_chain;
use crate::store::EventLog;

/// How long a watcher that lost the store waits before it follows again.
const AGAIN_AFTER: Duration = Duration::from_secs(1);

/// Follows `session`'s output from the records of iteration `from` on (older ones are skipped;
/// `None`: everything retained), sending each update as the build's front end would get it. A
/// record that cannot be read is said and skipped; a lost store is said, and followed again
/// from where it was.
pub(crate) fn follow_output(
    log: Arc<dyn EventLog>,
    session: String,
    from: Option<u32>,
    events: UnboundedSender<BuildEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut after = 0;
        loop {
            let mut sub = match log.subscribe_output(&session, after).await {
                Ok(sub) => sub,
                Err(e) => {
                    let message = format!(
                        "cannot follow the agent's output: {}; trying again",
                        error_chain(&e)
                    );
                    if events.send(BuildEvent::Warning { message }).is_err() {
                        return;
                    }
                    tokio::time::sleep(AGAIN_AFTER).await;
                    continue;
                }
            };
            while let Some(next) = sub.next().await {
                let entry = match next {
                    Ok(entry) => entry,
                    Err(e) => {
                        let message = format!(
                            "lost the agent's output: {}; following again",
                            error_chain(&e)
                        );
                        if events.send(BuildEvent::Warning { message }).is_err() {
                            return;
                        }
                        break;
                    }
                };
                after = entry.seq;
                let event = match OutputRecord::from_json(&entry.payload) {
                    Ok(record) if from.is_some_and(|f| record.iteration.is_some_and(|i| i < f)) => {
                        continue;
                    }
                    Ok(record) => as_event(record),
                    Err(e) => BuildEvent::Warning {
                        message: format!(
                            "an output record (#{}) is unreadable and was skipped: {e}",
                            entry.seq
                        ),
                    },
                };
                if events.send(event).is_err() {
                    return;
                }
            }
            tokio::time::sleep(AGAIN_AFTER).await;
        }
    })
}

fn as_event(record: OutputRecord) -> BuildEvent {
    let agent = BuildEvent::Agent {
        update: record.update,
    };
    match record.worker {
        Some(worker) => BuildEvent::Worker {
            worker,
            event: Box::new(agent),
        },
        None => agent,
    }
}
