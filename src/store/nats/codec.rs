//! How a batch of events is stored as one JetStream message, and read back.
//!
//! One append is one message on `iteratr.<session>`: the batch as a JSON array of events, with
//! the per-session sequence number of its last event in the `Iteratr-Seq` header, the batch
//! length in `Iteratr-Count` and the event types in `Iteratr-Type`.

use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;

use crate::session::Event;
use crate::store::{CorruptReason, StoreError};

pub(super) const SUBJECT_PREFIX: &str = "iteratr";
/// The subjects of every session, as the stream holds them.
pub(super) const ALL_SUBJECTS: &str = "iteratr.*";
const H_SEQ: &str = "Iteratr-Seq";
const H_COUNT: &str = "Iteratr-Count";
const H_TYPE: &str = "Iteratr-Type";
const H_MSG_ID: &str = "Nats-Msg-Id";

pub(super) fn subject(session: &str) -> String {
    format!("{SUBJECT_PREFIX}.{session}")
}

/// The session a subject belongs to, if it is one of ours.
pub(super) fn session_of(subject: &str) -> Option<&str> {
    subject
        .strip_prefix(SUBJECT_PREFIX)
        .and_then(|s| s.strip_prefix('.'))
}

/// Unique to one append call in this process and across processes.
pub(super) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// One stored message, decoded.
pub(super) struct Batch {
    pub stream_seq: u64,
    /// The per-session sequence number of its last event.
    pub last: u64,
    pub events: Vec<Event>,
}

impl Batch {
    pub(super) fn first(&self) -> u64 {
        self.last + 1 - self.events.len() as u64
    }
}

/// A batch ready to publish (again, when an ack is lost: the message id stays the same).
pub(super) struct Encoded {
    payload: String,
    new_last: u64,
    count: u64,
    types: String,
    pub msg_id: String,
}

impl Encoded {
    /// `events` (not empty) to follow the session's event #`actual`.
    pub(super) fn new(session: &str, actual: u64, events: &[Event]) -> Self {
        let count = events.len() as u64;
        let mut payload = String::from("[");
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                payload.push(',');
            }
            payload.push_str(&e.to_json());
        }
        payload.push(']');
        let types: Vec<&str> = events.iter().map(|e| e.kind.type_name()).collect();
        let mut types = types.join(",");
        types.truncate(1024);
        Encoded {
            payload,
            new_last: actual + count,
            count,
            types,
            msg_id: format!("{session}:{}:{}", actual + 1, nonce()),
        }
    }

    pub(super) fn new_last(&self) -> u64 {
        self.new_last
    }

    /// The message, accepted by the server only if the subject's last message is still
    /// `last_stream_seq` (0: none).
    pub(super) fn message(&self, last_stream_seq: u64) -> PublishMessage {
        PublishMessage::build()
            .payload(self.payload.clone().into())
            .header(H_SEQ, self.new_last.to_string().as_str())
            .header(H_COUNT, self.count.to_string().as_str())
            .header(H_TYPE, self.types.as_str())
            .message_id(&self.msg_id)
            .expected_last_subject_sequence(last_stream_seq)
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.as_str().parse().ok())
}

/// A stored message's `Nats-Msg-Id` and the per-session sequence of its last event.
pub(super) fn id_and_last(headers: &HeaderMap) -> (Option<String>, u64) {
    (
        headers.get(H_MSG_ID).map(|v| v.as_str().to_string()),
        header_u64(headers, H_SEQ).unwrap_or(0),
    )
}

pub(super) fn decode(
    session: &str,
    stream_seq: u64,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<Batch, StoreError> {
    let corrupt = |seq: u64, reason: CorruptReason| StoreError::Corrupt {
        session: session.to_string(),
        seq,
        reason,
    };
    let (last, count) = match headers {
        Some(h) => (header_u64(h, H_SEQ), header_u64(h, H_COUNT)),
        None => (None, None),
    };
    let (Some(last), Some(count)) = (last, count) else {
        return Err(corrupt(0, CorruptReason::NoHeaders(stream_seq)));
    };
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(payload).map_err(|e| corrupt(last, CorruptReason::NotAnArray(e)))?;
    if values.len() as u64 != count || count == 0 || count > last {
        return Err(corrupt(
            last,
            CorruptReason::CountMismatch {
                held: values.len(),
                count,
                last,
            },
        ));
    }
    let first = last + 1 - count;
    let mut events = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let event = Event::from_json(&v.to_string())
            .map_err(|e| corrupt(first + i as u64, CorruptReason::Event(e)))?;
        events.push(event);
    }
    Ok(Batch {
        stream_seq,
        last,
        events,
    })
}
