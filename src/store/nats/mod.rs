//! The NATS JetStream backend: sessions in a stream on a shared server or cluster.
//!
//! Layout: one stream (`ITERATR` by default, file storage, no age limit: sessions never expire)
//! holding the subjects `iteratr.<session>`. One append is one message holding the whole batch
//! ([`codec`]), so a batch is all-or-nothing by construction, and a session's sequence numbers
//! stay 1..n without gaps.
//!
//! Why one subject per session (and not per event type): optimistic concurrency uses JetStream's
//! `Nats-Expected-Last-Subject-Sequence`, which the server checks against the last stream sequence
//! of the *exact* subject the message is published to, under the stream's own lock (replicated
//! through the stream's Raft group in a cluster). With a single subject per session, "the last
//! message of the session" is exactly what the server checks, so two writers (in any processes or
//! machines) that read the same last message can never both succeed: the second one's expected
//! sequence is stale and the server refuses it (error 10071). With per-type subjects the check
//! would only cover one type and two writers of different types could both pass.
//!
//! Idempotent retries: every append carries `Nats-Msg-Id` = `<session>:<first seq>:<nonce>`, the
//! nonce unique to this append call (a reset restarts numbering, so `<session>:<seq>` alone could
//! collide with an earlier write inside the duplicate window and be dropped). When an ack is lost
//! (timeout, server restart, leader change) the same message is published again: the server either
//! answers "duplicate" or, once the window is gone, refuses it as a stale expectation, and then the
//! last message's id tells whether it was ours. Either way nothing is written twice.
//!
//! Files: [`connect`] (options, connection, stream), [`codec`] (messages), [`follow`] (live
//! subscriptions), [`retry`] (waiting out an unreachable server), [`url`] (server addresses),
//! [`managed`] (the local nats-server of `--nats-server`); the agent's output stream beside the
//! sessions in [`output`] (stream, limits, follow) and [`output_codec`] (messages).

mod codec;
mod connect;
mod follow;
pub mod managed;
mod output;
mod output_codec;
mod retry;
mod url;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{
    self, consumer::DeliverPolicy, consumer::pull::OrderedConfig, context::PublishErrorKind,
    stream::LastRawMessageErrorKind,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use self::codec::{ALL_SUBJECTS, Batch, Encoded, decode, session_of, subject};
use self::retry::{never, pause_before_resuming, retry};
use super::{AnyError, Cause};
use super::{
    EventLog, NatsError, OutputEntry, OutputSubscription, SessionInfo, StoreError, StoredEvent,
    Subscription,
};
use crate::session::{Event, validate_session_name};

pub use self::connect::{DEFAULT_STREAM, NatsOptions};
pub use self::url::{NatsUrl, NatsUrlError, redact};

const SUBSCRIPTION_BUFFER: usize = 500;
/// How long a read waits for the next message of a replay before it looks again.
const REPLAY_PATIENCE: Duration = Duration::from_secs(5);

pub struct NatsLog {
    inner: Arc<Inner>,
    /// Whatever must live as long as the log (the managed server's registration).
    _keep: Option<Box<dyn Send + Sync>>,
}

struct Inner {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    describe: String,
    retry_for: Duration,
    /// Whether the client is connected to a server now.
    link: watch::Receiver<bool>,
    /// Per session: the last sequence number held by a message -> that message's stream sequence.
    /// Lets a read start near its place instead of at the session's first message. After a reset
    /// (here or elsewhere) an entry can only point too early, never too late: new messages always
    /// get higher stream sequences.
    index: Mutex<HashMap<String, BTreeMap<u64, u64>>>,
    output: output::OutputStream,
}

impl NatsLog {
    /// Connects, and creates the stream if it does not exist yet.
    pub async fn connect(opts: &NatsOptions) -> Result<Self, StoreError> {
        Self::connect_keeping(opts, None).await
    }

    /// Like [`NatsLog::connect`], holding `keep` until the log is dropped.
    pub async fn connect_keeping(
        opts: &NatsOptions,
        keep: Option<Box<dyn Send + Sync>>,
    ) -> Result<Self, StoreError> {
        let connected = connect::connect(opts).await?;
        Ok(NatsLog {
            inner: Arc::new(Inner {
                js: connected.js,
                stream: connected.stream,
                describe: format!("nats {} (stream {})", connected.url, opts.stream),
                retry_for: opts.retry_for,
                link: connected.link,
                index: Mutex::new(HashMap::new()),
                output: output::OutputStream::new(
                    &opts.stream,
                    connected.url.clone(),
                    opts.output_retention,
                ),
            }),
            _keep: keep,
        })
    }
}

impl Inner {
    fn remember(&self, session: &str, last: u64, stream_seq: u64) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index
            .entry(session.to_string())
            .or_default()
            .insert(last, stream_seq);
    }

    fn forget(&self, session: &str) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.remove(session);
    }

    /// The stream sequence to start at to see every event above `after`.
    fn start_for(&self, session: &str, after: u64) -> u64 {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index
            .get(session)
            .and_then(|m| m.range(..=after).next_back())
            .map(|(_, stream_seq)| stream_seq + 1)
            .unwrap_or(1)
    }

    fn unreachable(&self, what: &'static str, e: impl Into<AnyError>) -> StoreError {
        NatsError::Unreachable {
            what,
            patience: self.retry_for,
            source: Cause(e.into()),
        }
        .into()
    }

    /// The session's last message as stored, or `None` when it has none.
    async fn last_message(
        &self,
        session: &str,
    ) -> Result<Option<jetstream::message::StreamMessage>, StoreError> {
        let subject = subject(session);
        let no_message = |e: &jetstream::stream::LastRawMessageError| {
            e.kind() == LastRawMessageErrorKind::NoMessageFound
        };
        match retry(
            &format!("reading the last message of {subject}"),
            self.retry_for,
            no_message,
            || self.stream.get_last_raw_message_by_subject(&subject),
        )
        .await
        {
            Ok(msg) => Ok(Some(msg)),
            Err(e) if no_message(&e) => Ok(None),
            Err(e) => Err(self.unreachable("reading the session's last event", e)),
        }
    }

    /// The session's last message (decoded), or `None` when it has none.
    async fn last_batch(&self, session: &str) -> Result<Option<Batch>, StoreError> {
        let Some(msg) = self.last_message(session).await? else {
            return Ok(None);
        };
        let batch = decode(session, msg.sequence, Some(&msg.headers), &msg.payload)?;
        self.remember(session, batch.last, batch.stream_seq);
        Ok(Some(batch))
    }

    /// The last message's `Nats-Msg-Id` and per-session sequence.
    async fn last_id(&self, session: &str) -> Result<(Option<String>, u64), StoreError> {
        Ok(match self.last_message(session).await? {
            Some(msg) => codec::id_and_last(&msg.headers),
            None => (None, 0),
        })
    }

    /// An ordered consumer on the session's subject from `start` (a stream sequence).
    async fn replay(
        &self,
        session: &str,
        start: u64,
    ) -> Result<jetstream::consumer::pull::Ordered, StoreError> {
        self.ordered(&self.stream, subject(session), start)
            .await
            .map_err(|e| self.unreachable("following the session", e))
    }

    /// An ordered consumer on `subject` of `stream` from `start` (a stream sequence; 0 or 1:
    /// from the first message), created again while the server is away.
    async fn ordered(
        &self,
        stream: &jetstream::stream::Stream,
        subject: String,
        start: u64,
    ) -> Result<jetstream::consumer::pull::Ordered, AnyError> {
        retry(
            &format!("creating a consumer on {subject}"),
            self.retry_for,
            never,
            || {
                let config = OrderedConfig {
                    filter_subject: subject.clone(),
                    deliver_policy: if start <= 1 {
                        DeliverPolicy::All
                    } else {
                        DeliverPolicy::ByStartSequence {
                            start_sequence: start,
                        }
                    },
                    ..Default::default()
                };
                async move {
                    let consumer = stream.create_consumer(config).await?;
                    Ok::<_, AnyError>(consumer.messages().await?)
                }
            },
        )
        .await
    }

    async fn read(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let Some(last) = self.last_batch(session).await? else {
            return Ok(out);
        };
        if last.last <= after {
            return Ok(out);
        }
        let target = last.stream_seq;
        let mut start = self.start_for(session, after);
        'outer: loop {
            let mut messages = self.replay(session, start).await?;
            loop {
                let next = match tokio::time::timeout(REPLAY_PATIENCE, messages.next()).await {
                    Ok(Some(Ok(m))) => m,
                    Ok(Some(Err(e))) => {
                        tracing::debug!("NATS: replay interrupted: {e}; resuming");
                        pause_before_resuming().await;
                        continue 'outer;
                    }
                    Ok(None) => continue 'outer,
                    Err(_) => {
                        // The session may have been reset under us: then it ends before `target`.
                        match self.last_batch(session).await? {
                            Some(b) if b.stream_seq >= target => continue,
                            _ => return Ok(out),
                        }
                    }
                };
                let stream_seq = next
                    .info()
                    .map_err(|e| NatsError::NoStreamSequence { source: Cause(e) })?
                    .stream_sequence;
                start = stream_seq + 1;
                let batch = decode(session, stream_seq, next.headers.as_ref(), &next.payload)?;
                self.remember(session, batch.last, stream_seq);
                let first = batch.first();
                for (i, event) in batch.events.into_iter().enumerate() {
                    let seq = first + i as u64;
                    if seq > after && out.len() < limit {
                        out.push(StoredEvent { seq, event });
                    }
                }
                if out.len() >= limit || stream_seq >= target {
                    return Ok(out);
                }
            }
        }
    }

    async fn append(
        &self,
        session: &str,
        expected_last: u64,
        events: Vec<Event>,
    ) -> Result<u64, StoreError> {
        let last = self.last_batch(session).await?;
        let (last_stream_seq, actual) = last
            .as_ref()
            .map(|b| (b.stream_seq, b.last))
            .unwrap_or((0, 0));
        if actual != expected_last {
            return Err(StoreError::Conflict {
                session: session.to_string(),
                expected: expected_last,
                actual,
            });
        }
        if events.is_empty() {
            return Ok(actual);
        }
        let batch = Encoded::new(session, actual, &events);
        let subject = subject(session);
        // A refused expectation and an oversize batch are answers, not outages.
        let answered = |e: &jetstream::context::PublishError| {
            matches!(
                e.kind(),
                PublishErrorKind::WrongLastSequence | PublishErrorKind::MaxPayloadExceeded
            )
        };
        let published = retry(
            &format!("appending to {subject}"),
            self.retry_for,
            answered,
            || async {
                let ack = self
                    .js
                    .send_publish(subject.clone(), batch.message(last_stream_seq))
                    .await?;
                ack.await
            },
        )
        .await;
        match published {
            Ok(ack) => {
                for event in &events {
                    crate::fault::reached("appended", event.kind.type_name());
                }
                self.remember(session, batch.new_last(), ack.sequence);
                Ok(batch.new_last())
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                // Either another writer came first, or an earlier attempt of ours landed
                // and its ack was lost (outside the duplicate window): the last id says.
                let (id, now) = self.last_id(session).await?;
                if id.as_deref() == Some(batch.msg_id.as_str()) {
                    return Ok(batch.new_last());
                }
                Err(StoreError::Conflict {
                    session: session.to_string(),
                    expected: expected_last,
                    actual: now,
                })
            }
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                Err(NatsError::TooLarge { source: Cause(e) }.into())
            }
            Err(e) => Err(self.unreachable("appending", e)),
        }
    }

    async fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let names = retry("listing subjects", self.retry_for, never, || async {
            let mut names = Vec::new();
            let mut info = self.stream.info_with_subjects(ALL_SUBJECTS).await?;
            while let Some(item) = info.next().await {
                let (subject, count) = item?;
                if count > 0
                    && let Some(name) = session_of(&subject)
                    && validate_session_name(name).is_ok()
                {
                    names.push(name.to_string());
                }
            }
            Ok::<_, AnyError>(names)
        })
        .await
        .map_err(|e| self.unreachable("listing the sessions", e))?;
        let mut out = Vec::new();
        for name in names {
            let Some(last) = self.last_batch(&name).await? else {
                continue; // reset meanwhile
            };
            let first_at_ms = match self
                .stream
                .get_first_raw_message_by_subject(subject(&name), 1)
                .await
            {
                Ok(msg) => decode(&name, msg.sequence, Some(&msg.headers), &msg.payload)?
                    .events
                    .first()
                    .map(|e| e.at_ms),
                Err(_) => None,
            };
            let last_at_ms = last.events.last().map(|e| e.at_ms).unwrap_or(0);
            out.push(SessionInfo {
                name,
                events: last.last,
                last_seq: last.last,
                first_at_ms: first_at_ms.unwrap_or(last_at_ms),
                last_at_ms,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn reset(&self, session: &str) -> Result<(), StoreError> {
        let subject = subject(session);
        retry(
            &format!("purging {subject}"),
            self.retry_for,
            never,
            || async { self.stream.purge().filter(subject.clone()).await },
        )
        .await
        .map_err(|e| self.unreachable("resetting the session", e))?;
        self.forget(session);
        self.reset_output(session).await
    }
}

#[async_trait]
impl EventLog for NatsLog {
    fn describe(&self) -> String {
        self.inner.describe.clone()
    }

    async fn append(
        &self,
        session: &str,
        expected_last: u64,
        events: Vec<Event>,
    ) -> Result<u64, StoreError> {
        validate_session_name(session)?;
        self.inner.append(session, expected_last, events).await
    }

    async fn read(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        validate_session_name(session)?;
        self.inner.read(session, after, limit).await
    }

    async fn last_seq(&self, session: &str) -> Result<u64, StoreError> {
        validate_session_name(session)?;
        Ok(self
            .inner
            .last_batch(session)
            .await?
            .map(|b| b.last)
            .unwrap_or(0))
    }

    async fn subscribe(&self, session: &str, after: u64) -> Result<Subscription, StoreError> {
        validate_session_name(session)?;
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_BUFFER);
        tokio::spawn(follow::follow(
            Arc::clone(&self.inner),
            session.to_string(),
            after,
            tx,
        ));
        Ok(Subscription::from_channel(rx))
    }

    async fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.sessions().await
    }

    async fn reset(&self, session: &str) -> Result<(), StoreError> {
        validate_session_name(session)?;
        self.inner.reset(session).await
    }

    async fn append_output(
        &self,
        session: &str,
        records: Vec<(i64, String)>,
    ) -> Result<u64, StoreError> {
        validate_session_name(session)?;
        super::output::validate_output(session, &records)?;
        self.inner.append_output(session, records).await
    }

    async fn read_output(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutputEntry>, StoreError> {
        validate_session_name(session)?;
        self.inner.read_output(session, after, limit).await
    }

    async fn subscribe_output(
        &self,
        session: &str,
        after: u64,
    ) -> Result<OutputSubscription, StoreError> {
        validate_session_name(session)?;
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_BUFFER);
        tokio::spawn(output::follow_output(
            Arc::clone(&self.inner),
            session.to_string(),
            after,
            tx,
        ));
        Ok(OutputSubscription::from_channel(rx))
    }
}
