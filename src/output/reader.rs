//! The watchers' side of the output stream: the agent's updates, as the build's own front end
//! gets them, for a front end in another process or on another machine.
//!
//! A watcher that falls behind (its process was stopped, the machine slept, the store was away)
//! may find that the store pruned records it had not read yet. It tells by the writers' numbers
//! ([`OutputRecord::n`]), not by the store's sequence numbers: those count every session's records
//! (SQLite's AUTOINCREMENT rowid is store-wide, a JetStream sequence is the stream's), so a jump
//! between two of a session's records is normally another session's records, and nothing in
//! either store says how many of this session's were pruned. A writer numbers what it stored
//! without gaps, so a jump in one writer's numbers is exactly what was pruned in between.

use std::collections::HashMap;
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
        let mut behind = Behind::default();
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
                let record = OutputRecord::from_json(&entry.payload);
                let pruned = match &record {
                    Ok(record) => behind.missed(record),
                    Err(_) => {
                        behind.lost_track();
                        0
                    }
                };
                if pruned > 0 {
                    let message = format!(
                        "this watcher fell behind: {pruned} output record{} of the agent {} pruned (the store's output retention) before it read {}; going on from the oldest retained",
                        if pruned == 1 { "" } else { "s" },
                        if pruned == 1 { "was" } else { "were" },
                        if pruned == 1 { "it" } else { "them" },
                    );
                    if events.send(BuildEvent::Warning { message }).is_err() {
                        return;
                    }
                }
                let event = match record {
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

/// The last number read of each writer of the session.
#[derive(Debug, Default)]
struct Behind {
    last: HashMap<String, u64>,
}

impl Behind {
    /// How many of `record`'s writer's records were pruned between the last one this watcher read
    /// and this one: 0 when none were, for a writer's first record read (a late watcher starts
    /// where the store's retained records start), and for records without numbers.
    fn missed(&mut self, record: &OutputRecord) -> u64 {
        if record.writer.is_empty() || record.n == 0 {
            return 0;
        }
        let last = self.last.entry(record.writer.clone()).or_insert(record.n);
        let missed = record.n.saturating_sub(*last).saturating_sub(1);
        *last = (*last).max(record.n);
        missed
    }

    /// A record that cannot be read may be any writer's: the next jump is not counted.
    fn lost_track(&mut self) {
        self.last.clear();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::AgentUpdate;

    fn record(writer: &str, n: u64) -> OutputRecord {
        let mut r = OutputRecord::new(None, Some(1), AgentUpdate::Text { text: "x".into() });
        r.writer = writer.into();
        r.n = n;
        r
    }

    #[test]
    fn only_a_jump_in_one_writers_numbers_counts_as_pruned() {
        let mut b = Behind::default();
        // A late watcher starts where the retained records start: nothing missed.
        assert_eq!(b.missed(&record("a", 40)), 0);
        assert_eq!(b.missed(&record("a", 41)), 0);
        // Another writer's records in between are not this writer's gap.
        assert_eq!(b.missed(&record("b", 7)), 0);
        assert_eq!(b.missed(&record("a", 42)), 0);
        // Pruned before this watcher read them: 43 to 51.
        assert_eq!(b.missed(&record("a", 52)), 9);
        assert_eq!(b.missed(&record("b", 9)), 1);
        // A record read again (a follow resumed) is no gap, nor a way back.
        assert_eq!(b.missed(&record("a", 50)), 0);
        assert_eq!(b.missed(&record("a", 53)), 0);
        // Records of older builds carry no numbers.
        assert_eq!(
            b.missed(&OutputRecord::new(
                None,
                None,
                AgentUpdate::Text { text: "x".into() }
            )),
            0
        );
        // After an unreadable record, whose it was is unknown: the next jump is not counted.
        b.lost_track();
        assert_eq!(b.missed(&record("a", 55)), 0);
        assert_eq!(b.missed(&record("a", 58)), 2);
    }

    /// Pruned records a watcher never could have read are no news: a late watcher starts where
    /// the retained records start, between other sessions' records.
    #[tokio::test]
    async fn a_late_watcher_is_not_told_of_records_pruned_before_it_came() {
        use crate::store::{EventLog, OutputRetention, SqliteLog};
        let dir = tempfile::tempdir().unwrap();
        let bound = OutputRetention::MIN_MAX_BYTES;
        let retention = OutputRetention::new(std::time::Duration::from_secs(3600), bound).unwrap();
        let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open_with(dir.path(), retention).unwrap());
        let text = |n: u64| {
            let mut r = record("w1", n);
            r.update = AgentUpdate::Text {
                text: format!("record {n} {}\n", "x".repeat(4000)),
            };
            (n as i64, r.to_json())
        };
        for n in 1..=40 {
            log.append_output("demo", vec![text(n)]).await.unwrap();
            log.append_output("other", vec![text(n)]).await.unwrap();
        }
        let retained = log.read_output("demo", 0, 100).await.unwrap();
        assert!(retained.len() < 20, "nothing was pruned");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let follower = follow_output(Arc::clone(&log), "demo".into(), None, tx);
        for _ in &retained {
            let event = rx.recv().await.unwrap();
            assert!(matches!(event, BuildEvent::Agent { .. }), "{event:?}");
        }
        follower.abort();
    }
}
