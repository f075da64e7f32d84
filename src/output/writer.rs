//! The build's side of the output stream: every agent update the loop emits (of the single
//! build or of each worker) goes, coalesced, to the session's output stream in the store, so
//! watchers anywhere can show it. Writing never holds the build up: records wait in a channel,
//! and a store that refuses them is said once in the log file and the records are dropped (the
//! session log, which is what the build needs, is not affected). Records are numbered as they
//! are stored, so watchers can tell the ones pruned before they read them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Coalescer, OutputRecord};
use crate::frontend::BuildEvent;
use crate::store::EventLog;

/// Watches the build's events and writes the agent's updates to the output stream.
pub(crate) struct OutputWriter {
    tx: mpsc::UnboundedSender<OutputRecord>,
    task: JoinHandle<()>,
    /// The iteration each worker (`None`: the single build) is in.
    iterations: HashMap<Option<String>, u32>,
}

impl OutputWriter {
    pub(crate) fn start(log: Arc<dyn EventLog>, session: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write(log, session, rx));
        OutputWriter {
            tx,
            task,
            iterations: HashMap::new(),
        }
    }

    /// Takes note of one event of the build: an agent update becomes a record.
    pub(crate) fn observe(&mut self, event: &BuildEvent) {
        self.observe_as(None, event);
    }

    fn observe_as(&mut self, worker: Option<&str>, event: &BuildEvent) {
        match event {
            BuildEvent::Worker { worker, event } => self.observe_as(Some(worker), event),
            BuildEvent::IterationStarted { iteration, .. } => {
                self.iterations
                    .insert(worker.map(str::to_string), *iteration);
            }
            BuildEvent::Agent { update } => {
                let worker = worker.map(str::to_string);
                let iteration = self.iterations.get(&worker).copied();
                let _ = self
                    .tx
                    .send(OutputRecord::new(worker, iteration, update.clone()));
            }
            _ => {}
        }
    }

    /// Writes what is still waiting and ends.
    pub(crate) async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

async fn write(
    log: Arc<dyn EventLog>,
    session: String,
    mut rx: mpsc::UnboundedReceiver<OutputRecord>,
) {
    let mut coalescer = Coalescer::default();
    let mut told = false;
    let mut open = true;
    let mut written = Written::default();
    // Records are numbered as stored: those of a refused append are numbered again.
    let id = writer_id();
    while open {
        let mut out = Vec::new();
        let due = coalescer.due();
        tokio::select! {
            next = rx.recv() => match next {
                Some(record) => {
                    written.updates += 1;
                    out.extend(coalescer.push(record, Instant::now()));
                }
                None => open = false,
            },
            _ = sleep_until(due), if due.is_some() => {}
        }
        // Everything that came meanwhile goes in the same append.
        while let Ok(record) = rx.try_recv() {
            written.updates += 1;
            out.extend(coalescer.push(record, Instant::now()));
        }
        if open {
            out.extend(coalescer.flush_due(Instant::now()));
        } else {
            out.extend(coalescer.flush());
        }
        if out.is_empty() {
            continue;
        }
        let now = crate::clock::now_ms();
        let numbered = written.records as u64;
        let payloads: Vec<(i64, String)> = out
            .into_iter()
            .flat_map(OutputRecord::bounded)
            .zip(numbered + 1..)
            .map(|(mut r, n)| {
                r.writer.clone_from(&id);
                r.n = n;
                (now, r.to_json())
            })
            .collect();
        let (records, bytes) = (
            payloads.len(),
            payloads.iter().map(|(_, p)| p.len()).sum::<usize>(),
        );
        match log.append_output(&session, payloads).await {
            Ok(_) => {
                written.appends += 1;
                written.records += records;
                written.bytes += bytes;
            }
            Err(e) if !std::mem::replace(&mut told, true) => tracing::warn!(
                "cannot write the agent's output for watchers: {}; the build goes on without it",
                crate::session::text::error_chain(&e)
            ),
            Err(_) => {}
        }
    }
    // What the stream cost, for the log file (and the benchmark that reads it).
    tracing::info!(
        "output stream of {session}: {} agent updates written as {} records in {} appends ({} bytes)",
        written.updates,
        written.records,
        written.appends,
        written.bytes
    );
}

/// A name for this writer among the session's others (other builds, workers elsewhere): 32
/// random bits, from the randomly seeded hasher std gives each process, with the time and pid.
fn writer_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(crate::clock::now_ms());
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

/// What the writer did, counted.
#[derive(Debug, Default)]
struct Written {
    updates: usize,
    records: usize,
    appends: usize,
    bytes: usize,
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}
