//! The event log: one ordered, append-only stream of events per session. Several processes may
//! share one log; optimistic concurrency (append with the expected last sequence number) makes a
//! race an error the writer retries, never a lost or duplicated event.

pub mod config;
mod error;
pub mod nats;
mod output;
mod sqlite;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::session::Event;

pub use config::{ConfigError, NatsChoice, StoreConfig, open_store};
pub use error::{AnyError, Cause, CorruptReason, NatsError, SqliteError, StoreError};
pub use nats::{NatsLog, NatsOptions, NatsUrl, NatsUrlError, managed};
pub use output::{
    MAX_OUTPUT_PAYLOAD, OutputEntry, OutputRetention, OutputSetting, OutputSubscription,
    RetentionError,
};
pub use sqlite::SqliteLog;

/// An event with its place in the session's stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// 1 for the first event of a session, then gap-free.
    pub seq: u64,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    pub name: String,
    pub events: u64,
    pub last_seq: u64,
    pub first_at_ms: i64,
    pub last_at_ms: i64,
}

/// A live view of a session's stream: first the stored events after the starting point, then new
/// ones as they are appended, by this process or any other. Dropping it stops the feed.
pub struct Subscription {
    rx: mpsc::Receiver<Result<StoredEvent, StoreError>>,
}

impl Subscription {
    /// Builds a subscription fed by a backend task through `rx`; the task should stop when the
    /// channel closes.
    pub fn from_channel(rx: mpsc::Receiver<Result<StoredEvent, StoreError>>) -> Self {
        Subscription { rx }
    }

    /// The next event, or an error after which the subscription ends, or `None` when the log
    /// is closed. Both backends send the error that stops a feed before ending it: a reader
    /// that sees `None` knows the log went away, not that something failed unsaid.
    pub async fn next(&mut self) -> Option<Result<StoredEvent, StoreError>> {
        self.rx.recv().await
    }
}

/// The contract every backend keeps (and `tests/common/conformance.rs` checks).
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Where the log lives, for people ("sqlite .iteratr/iteratr.db").
    fn describe(&self) -> String;

    /// Appends `events` atomically (all or none) if the session's last sequence number is
    /// `expected_last` (0 for an empty session), and returns the new last sequence number.
    /// Otherwise nothing is written and the error is [`StoreError::Conflict`].
    async fn append(
        &self,
        session: &str,
        expected_last: u64,
        events: Vec<Event>,
    ) -> Result<u64, StoreError>;

    /// Up to `limit` events with a sequence number above `after`, in order.
    async fn read(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The session's last sequence number (0 when it has no events).
    async fn last_seq(&self, session: &str) -> Result<u64, StoreError>;

    /// Every stored event above `after`, then new ones as they are appended.
    async fn subscribe(&self, session: &str, after: u64) -> Result<Subscription, StoreError>;

    /// The sessions that hold at least one event, by name.
    async fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError>;

    /// Deletes one session's events and its output; other sessions are untouched. Its event
    /// numbering starts over (output numbers keep increasing).
    async fn reset(&self, session: &str) -> Result<(), StoreError>;

    /// Appends output records `(at_ms, payload)` to the session's output stream (never to its
    /// event log), in order, and returns the sequence number of the last one (for an empty batch,
    /// of the session's newest retained record, or 0). Any number of writers may append at once;
    /// there is no expected-sequence check. A payload over [`MAX_OUTPUT_PAYLOAD`] bytes is
    /// refused ([`StoreError::OutputTooLarge`]) and nothing of the batch is written. The stream
    /// is pruned to the store's [`OutputRetention`].
    async fn append_output(
        &self,
        session: &str,
        records: Vec<(i64, String)>,
    ) -> Result<u64, StoreError>;

    /// Up to `limit` retained output records with a sequence number above `after`, in order.
    async fn read_output(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutputEntry>, StoreError>;

    /// Every retained output record above `after`, then new ones as any process appends them.
    /// A record pruned before the subscriber reached it is skipped.
    async fn subscribe_output(
        &self,
        session: &str,
        after: u64,
    ) -> Result<OutputSubscription, StoreError>;
}

/// Events a reader asks for at once: large enough that a JetStream replay (one consumer a page)
/// is not paid for too often, small enough to bound what a page holds in memory.
pub const READ_PAGE: usize = 10_000;

/// Reads a whole session (in pages, so a long log does not need one huge query).
pub async fn read_all(
    log: &dyn EventLog,
    session: &str,
    after: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    const PAGE: usize = READ_PAGE;
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = log.read(session, cursor, PAGE).await?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            cursor = last.seq;
        }
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}
