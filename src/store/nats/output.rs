//! The agent's output in JetStream: its own stream, `<stream>_OUTPUT` (`ITERATR_OUTPUT` by
//! default), subjects `iteratr-output.<session>` (disjoint from the events' `iteratr.*`), file
//! storage, as many replicas as the events stream. Created on first use, so a store that never
//! sees output has no such stream.
//!
//! Bounds: `max_age` is the retention's age (the server deletes expired messages itself). JetStream
//! has no per-subject byte limit, only a per-subject message count, so the byte bound is made of
//! a count: no message holds more than `MAX_OUTPUT_PAYLOAD` bytes of payload (see
//! [`output_codec`](super::output_codec)), and `max_msgs_per_subject = max_bytes / that`, with
//! `discard old`. A session therefore never holds more than `max_bytes` of payload. The price:
//! a session of small messages keeps fewer bytes than the bound. One message holds one append's
//! records (packed up to 64 KiB), and the caller appends what it coalesced every 50 ms or 4 KiB,
//! so the window is the last `max_bytes / 64 KiB` appends (1,024 at 64 MiB): under a flood
//! that is the whole byte bound, when the agent is quiet it is a long stretch of its work.
//!
//! Why a batch per message and not a message per record: the byte bound above would otherwise
//! hold only `max_bytes / 64 KiB` *records* (1,024 text chunks), and a flood of small records
//! would cost one acknowledged publish each. Records keep their own sequence numbers
//! (`stream_seq << 16 | index`), so readers do not see the difference.
//!
//! Writers need no coordination: publishes to one subject are ordered by the server, and no
//! expected-sequence header is sent. A lost ack is retried with the same `Nats-Msg-Id`, which the
//! server's duplicate window (2 minutes, or the retention's age if shorter) turns into one copy.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{
    self, ErrorCode, context::GetStreamErrorKind, context::PublishErrorKind,
    stream::LastRawMessageErrorKind,
};
use futures_util::StreamExt;
use tokio::sync::{OnceCell, mpsc};

use super::Inner;
use super::connect::is_permanent_stream_error;
use super::output_codec::{
    OUTPUT_SUBJECTS, decode, end_of_message, message_of, output_subject, pack, record_seq,
};
use super::retry::{Outage, never, pause_before_resuming, retry};
use super::url::NatsUrl;
use crate::store::{
    Cause, MAX_OUTPUT_PAYLOAD, NatsError, OutputEntry, OutputRetention, StoreError,
};

const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long a read waits for the next message of a replay before it looks again.
const REPLAY_PATIENCE: Duration = Duration::from_secs(5);

/// The output stream of one log: its name and limits, and the stream once opened.
pub(super) struct OutputStream {
    name: String,
    url: NatsUrl,
    retention: OutputRetention,
    stream: OnceCell<jetstream::stream::Stream>,
}

impl OutputStream {
    pub(super) fn new(events_stream: &str, url: NatsUrl, retention: OutputRetention) -> Self {
        OutputStream {
            name: format!("{events_stream}_OUTPUT"),
            url,
            retention,
            stream: OnceCell::new(),
        }
    }

    /// Messages a subject keeps: each holds at most [`MAX_OUTPUT_PAYLOAD`] bytes of payload.
    fn max_messages(&self) -> i64 {
        let n = (self.retention.max_bytes / MAX_OUTPUT_PAYLOAD as u64).max(1);
        i64::try_from(n).unwrap_or(i64::MAX)
    }
}

impl Inner {
    /// The output stream, created (or its limits brought to this log's retention) on first use.
    async fn output_stream(&self) -> Result<&jetstream::stream::Stream, StoreError> {
        self.output
            .stream
            .get_or_try_init(|| self.open_output())
            .await
    }

    async fn open_output(&self) -> Result<jetstream::stream::Stream, StoreError> {
        let out = &self.output;
        let config = jetstream::stream::Config {
            name: out.name.clone(),
            subjects: vec![OUTPUT_SUBJECTS.to_string()],
            storage: jetstream::stream::StorageType::File,
            num_replicas: self.stream.cached_info().config.num_replicas.max(1),
            max_age: out.retention.max_age,
            max_messages_per_subject: out.max_messages(),
            discard: jetstream::stream::DiscardPolicy::Old,
            duplicate_window: DUPLICATE_WINDOW.min(out.retention.max_age),
            allow_direct: true,
            ..Default::default()
        };
        let stream = retry(
            "opening the output stream",
            self.retry_for.min(Duration::from_secs(30)),
            is_permanent_stream_error,
            || self.js.get_or_create_stream(config.clone()),
        )
        .await
        .map_err(|source| NatsError::Stream {
            url: out.url.clone(),
            stream: out.name.clone(),
            replicas: config.num_replicas,
            source: Cause(source),
        })?;
        let have = &stream.cached_info().config;
        if !have
            .subjects
            .iter()
            .any(|s| s == OUTPUT_SUBJECTS || s == "iteratr-output.>" || s == ">")
        {
            return Err(NatsError::ForeignStream {
                url: out.url.clone(),
                stream: out.name.clone(),
                ours: OUTPUT_SUBJECTS,
                subjects: have.subjects.clone(),
            }
            .into());
        }
        // Another iteratr created it with other limits: the last one opened sets them (the
        // settings are per store, so they normally agree).
        if have.max_age != config.max_age
            || have.max_messages_per_subject != config.max_messages_per_subject
            || have.discard != config.discard
        {
            let mut wanted = have.clone();
            wanted.max_age = config.max_age;
            wanted.max_messages_per_subject = config.max_messages_per_subject;
            wanted.discard = config.discard;
            wanted.duplicate_window = config.duplicate_window;
            match self.js.update_stream(wanted).await {
                Ok(_) => tracing::info!(
                    "NATS: output stream {} now keeps {} per session",
                    out.name,
                    out.retention
                ),
                Err(e) => tracing::warn!(
                    "NATS: cannot change the limits of the output stream {} to {}: {e}; it keeps its own",
                    out.name,
                    out.retention
                ),
            }
        }
        Ok(stream)
    }

    pub(super) async fn append_output(
        &self,
        session: &str,
        records: Vec<(i64, String)>,
    ) -> Result<u64, StoreError> {
        let stream = self.output_stream().await?;
        if records.is_empty() {
            return Ok(self.last_output(stream, session).await?.unwrap_or(0));
        }
        let subject = output_subject(session);
        let mut last = 0;
        for packed in pack(&records) {
            debug_assert!(packed.count > 0);
            let too_large = |e: &jetstream::context::PublishError| {
                e.kind() == PublishErrorKind::MaxPayloadExceeded
            };
            let ack = retry(
                &format!("appending output to {subject}"),
                self.retry_for,
                too_large,
                || async {
                    let ack = self
                        .js
                        .send_publish(subject.clone(), packed.message())
                        .await?;
                    ack.await
                },
            )
            .await
            .map_err(|e| {
                if too_large(&e) {
                    NatsError::TooLarge { source: Cause(e) }.into()
                } else {
                    self.unreachable("appending output", e)
                }
            })?;
            last = record_seq(ack.sequence, packed.count.saturating_sub(1));
        }
        Ok(last)
    }

    /// The sequence number of the session's newest retained record.
    async fn last_output(
        &self,
        stream: &jetstream::stream::Stream,
        session: &str,
    ) -> Result<Option<u64>, StoreError> {
        let subject = output_subject(session);
        let no_message = |e: &jetstream::stream::LastRawMessageError| {
            e.kind() == LastRawMessageErrorKind::NoMessageFound
        };
        match retry(
            &format!("reading the last message of {subject}"),
            self.retry_for,
            no_message,
            || stream.get_last_raw_message_by_subject(&subject),
        )
        .await
        {
            Ok(msg) => Ok(Some(
                match decode(msg.sequence, Some(&msg.headers), &msg.payload) {
                    Ok(entries) => record_seq(msg.sequence, entries.len().saturating_sub(1)),
                    Err(_) => record_seq(msg.sequence, 0),
                },
            )),
            Err(e) if no_message(&e) => Ok(None),
            Err(e) => Err(self.unreachable("reading the session's last output", e)),
        }
    }

    /// An ordered consumer on the session's output from the message that may hold the record
    /// after `after`.
    async fn replay_output(
        &self,
        stream: &jetstream::stream::Stream,
        session: &str,
        after: u64,
    ) -> Result<jetstream::consumer::pull::Ordered, StoreError> {
        let start = message_of(after.saturating_add(1));
        self.ordered(stream, output_subject(session), start)
            .await
            .map_err(|e| self.unreachable("following the session's output", e))
    }

    pub(super) async fn read_output(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutputEntry>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let stream = self.output_stream().await?;
        let Some(target) = self.last_output(stream, session).await? else {
            return Ok(out);
        };
        if target <= after {
            return Ok(out);
        }
        let mut cursor = after;
        'outer: loop {
            let mut messages = self.replay_output(stream, session, cursor).await?;
            loop {
                let msg = match tokio::time::timeout(REPLAY_PATIENCE, messages.next()).await {
                    Ok(Some(Ok(m))) => m,
                    Ok(Some(Err(e))) => {
                        tracing::debug!("NATS: output replay interrupted: {e}; resuming");
                        pause_before_resuming().await;
                        continue 'outer;
                    }
                    Ok(None) => continue 'outer,
                    // The newest message may have been pruned or the session reset meanwhile.
                    Err(_) => match self.last_output(stream, session).await? {
                        Some(last) if last > cursor => continue,
                        _ => return Ok(out),
                    },
                };
                let stream_seq = msg
                    .info()
                    .map_err(|e| NatsError::NoStreamSequence { source: Cause(e) })?
                    .stream_sequence;
                for entry in entries_of(session, stream_seq, &msg) {
                    if entry.seq > cursor {
                        cursor = entry.seq;
                        out.push(entry);
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
                cursor = cursor.max(end_of_message(stream_seq));
                if message_of(target) <= stream_seq {
                    return Ok(out);
                }
            }
        }
    }

    /// Purges the session's output. Creates nothing: with no output stream (nothing ever wrote
    /// output, or the account may not create it) there is nothing to drop.
    pub(super) async fn reset_output(&self, session: &str) -> Result<(), StoreError> {
        let subject = output_subject(session);
        let opened;
        let stream = match self.output.stream.get() {
            Some(stream) => stream,
            None => {
                let not_found = |e: &jetstream::context::GetStreamError| {
                    matches!(e.kind(), GetStreamErrorKind::JetStream(j)
                        if j.error_code() == ErrorCode::STREAM_NOT_FOUND)
                };
                match retry(
                    &format!("looking up the stream {}", self.output.name),
                    self.retry_for,
                    not_found,
                    || self.js.get_stream(&self.output.name),
                )
                .await
                {
                    Ok(stream) => {
                        opened = stream;
                        &opened
                    }
                    Err(e) if not_found(&e) => return Ok(()),
                    Err(e) => return Err(self.unreachable("resetting the session's output", e)),
                }
            }
        };
        retry(
            &format!("purging {subject}"),
            self.retry_for,
            never,
            || async { stream.purge().filter(subject.clone()).await },
        )
        .await
        .map_err(|e| self.unreachable("resetting the session's output", e))?;
        Ok(())
    }
}

/// A message's records; one that cannot be decoded is skipped with a warning.
fn entries_of(session: &str, stream_seq: u64, msg: &jetstream::Message) -> Vec<OutputEntry> {
    match decode(stream_seq, msg.headers.as_ref(), &msg.payload) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!("NATS: output message {stream_seq} of session {session} skipped: {e}");
            Vec::new()
        }
    }
}

type Feed = mpsc::Sender<Result<OutputEntry, StoreError>>;

/// Feeds an output subscription until the reader goes away or an error has been sent.
pub(super) async fn follow_output(inner: Arc<Inner>, session: String, after: u64, tx: Feed) {
    if let Err(e) = feed(&inner, &session, after, &tx).await {
        let _ = tx.send(Err(e)).await;
    }
}

/// `Ok` when the reader went away; the error to send otherwise.
async fn feed(inner: &Inner, session: &str, after: u64, tx: &Feed) -> Result<(), StoreError> {
    let stream = tokio::select! {
        s = inner.output_stream() => s?,
        _ = tx.closed() => return Ok(()),
    };
    let mut cursor = after;
    let mut outage = Outage::new(inner.link.clone());
    loop {
        let mut messages = tokio::select! {
            m = inner.replay_output(stream, session, cursor) => m?,
            _ = tx.closed() => return Ok(()),
        };
        loop {
            let next = tokio::select! {
                n = messages.next() => n,
                _ = tx.closed() => return Ok(()),
                _ = outage.lasted(inner.retry_for) => {
                    return Err(inner.unreachable("following the session's output", "disconnected from the server"));
                }
            };
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!("NATS: output feed of {session} interrupted: {e}; resuming");
                    pause_before_resuming().await;
                    break;
                }
                None => break,
            };
            let stream_seq = msg
                .info()
                .map_err(|e| NatsError::NoStreamSequence { source: Cause(e) })?
                .stream_sequence;
            for entry in entries_of(session, stream_seq, &msg) {
                if entry.seq > cursor {
                    cursor = entry.seq;
                    if tx.send(Ok(entry)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            // Past this message, even if it held nothing readable: a resumed consumer starts at
            // the message holding `cursor`, and must not deliver it again.
            cursor = cursor.max(end_of_message(stream_seq));
        }
    }
}
