//! The NATS JetStream backend: sessions in a stream on a shared server or cluster.
//!
//! Layout: one stream (`ITERATR` by default, file storage, no age limit: sessions never expire)
//! holding the subjects `iteratr.<session>`. One append is one message: the batch as a JSON array
//! of events, with the per-session sequence number of its last event in the `Iteratr-Seq` header
//! and the batch length in `Iteratr-Count` (event types in `Iteratr-Type`). A batch is therefore
//! all-or-nothing by construction, and a session's sequence numbers stay 1..n without gaps.
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

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{
    self, consumer::DeliverPolicy, consumer::pull::OrderedConfig, context::PublishErrorKind,
    message::PublishMessage, stream::LastRawMessageErrorKind,
};
use async_nats::{HeaderMap, ServerAddr};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{EventLog, SessionInfo, StoreError, StoredEvent, Subscription};
use crate::session::{Event, validate_session_name};

pub const DEFAULT_STREAM: &str = "ITERATR";
const SUBJECT_PREFIX: &str = "iteratr";
const H_SEQ: &str = "Iteratr-Seq";
const H_COUNT: &str = "Iteratr-Count";
const H_TYPE: &str = "Iteratr-Type";
const SUBSCRIPTION_BUFFER: usize = 500;
/// How long a read waits for the next message of a replay before it looks again.
const REPLAY_PATIENCE: Duration = Duration::from_secs(5);

/// How to reach the server and what the stream looks like.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// One URL or several separated by commas (`nats://user:pass@host:4222,nats://host2:4222`).
    pub url: String,
    /// A `.creds` file (JWT + NKey), as `nats` tools take it.
    pub creds: Option<PathBuf>,
    /// A token, when it is not in the URL.
    pub token: Option<String>,
    /// Copies of the stream in a cluster (1 for a single server; 3 or 5 for a cluster).
    pub replicas: usize,
    pub stream: String,
    /// How long an operation keeps retrying while the server is unreachable (restart, leader
    /// election) before it fails.
    pub retry_for: Duration,
}

impl NatsOptions {
    pub fn new(url: impl Into<String>) -> Self {
        NatsOptions {
            url: url.into(),
            creds: None,
            token: None,
            replicas: 1,
            stream: DEFAULT_STREAM.to_string(),
            retry_for: Duration::from_secs(60),
        }
    }
}

pub struct NatsLog {
    inner: Arc<Inner>,
    /// Whatever must live as long as the log (the managed server's registration).
    _keep: Option<Box<dyn Send + Sync>>,
}

struct Inner {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    stream_name: String,
    describe: String,
    retry_for: Duration,
    /// Per session: the last sequence number held by a message -> that message's stream sequence.
    /// Lets a read start near its place instead of at the session's first message. After a reset
    /// (here or elsewhere) an entry can only point too early, never too late: new messages always
    /// get higher stream sequences.
    index: Mutex<HashMap<String, BTreeMap<u64, u64>>>,
}

/// One stored message, decoded.
struct Batch {
    stream_seq: u64,
    /// The per-session sequence number of its last event.
    last: u64,
    events: Vec<Event>,
}

impl Batch {
    fn first(&self) -> u64 {
        self.last + 1 - self.events.len() as u64
    }
}

fn subject(session: &str) -> String {
    format!("{SUBJECT_PREFIX}.{session}")
}

fn nonce() -> String {
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

fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("NATS: {what}: {e}"))
}

/// Parses `a,b,c` into server addresses, with a clear error for a bad one.
pub fn parse_urls(url: &str) -> Result<Vec<ServerAddr>, String> {
    let mut out = Vec::new();
    for part in url.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let addr: ServerAddr = part.parse().map_err(|e| {
            format!("'{part}' is not a NATS URL ({e}); write e.g. nats://127.0.0.1:4222")
        })?;
        out.push(addr);
    }
    if out.is_empty() {
        return Err("the NATS URL is empty; write e.g. nats://127.0.0.1:4222".into());
    }
    Ok(out)
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
        let open_err = |reason: String| StoreError::Open {
            path: PathBuf::from(redact(&opts.url)),
            reason,
        };
        if opts.replicas == 0 || opts.replicas > 5 {
            return Err(open_err(format!(
                "{} replicas asked; JetStream keeps 1 to 5 copies of a stream",
                opts.replicas
            )));
        }
        if opts.stream.is_empty()
            || !opts
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(open_err(format!(
                "'{}' is not a usable stream name (letters, digits, - and _ only)",
                opts.stream
            )));
        }
        let addrs = parse_urls(&opts.url).map_err(open_err)?;
        let mut options = async_nats::ConnectOptions::new()
            .name("iteratr")
            .connection_timeout(Duration::from_secs(5))
            // Reconnect quickly after a server restart: the backend retries meanwhile.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).min(1_000))
            });
        if let Some(creds) = &opts.creds {
            options = options.credentials_file(creds).await.map_err(|e| {
                open_err(format!(
                    "cannot read the credentials file {} ({e}); check --nats-creds / ITERATR_NATS_CREDS",
                    creds.display()
                ))
            })?;
        }
        if let Some(token) = &opts.token {
            options = options.token(token.clone());
        }
        let client = options.connect(addrs).await.map_err(|e| {
            open_err(format!(
                "cannot connect to the NATS server ({e}). Start it (e.g. `nats-server -js`), check --nats-url / ITERATR_NATS_URL and the credentials, or pass --nats-server to let iteratr run a local one"
            ))
        })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client);
        let config = jetstream::stream::Config {
            name: opts.stream.clone(),
            subjects: vec![format!("{SUBJECT_PREFIX}.*")],
            storage: jetstream::stream::StorageType::File,
            num_replicas: opts.replicas,
            // Never expire sessions; keep the duplicate window at its default (2 minutes).
            max_age: Duration::ZERO,
            allow_direct: true,
            ..Default::default()
        };
        let deadline = Instant::now() + opts.retry_for.min(Duration::from_secs(30));
        let stream = loop {
            match js.get_or_create_stream(config.clone()).await {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline && !is_permanent_stream_error(&e) => {
                    tracing::debug!("JetStream not ready yet: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(open_err(format!(
                        "cannot open or create the JetStream stream {} ({e}). Is JetStream enabled on the server (`nats-server -js`, or `jetstream {{}}` in its config) and does the account allow streams{}?",
                        opts.stream,
                        if opts.replicas > 1 {
                            format!(
                                " with {} replicas (the cluster needs that many JetStream servers)",
                                opts.replicas
                            )
                        } else {
                            String::new()
                        }
                    )));
                }
            }
        };
        let subjects = &stream.cached_info().config.subjects;
        let ours = format!("{SUBJECT_PREFIX}.*");
        if !subjects
            .iter()
            .any(|s| s == &ours || s == "iteratr.>" || s == ">")
        {
            return Err(open_err(format!(
                "the stream {} exists but does not hold the subjects {ours} (it has {}); choose another stream name",
                opts.stream,
                subjects.join(", ")
            )));
        }
        Ok(NatsLog {
            inner: Arc::new(Inner {
                js,
                stream,
                stream_name: opts.stream.clone(),
                describe: format!("nats {} (stream {})", redact(&opts.url), opts.stream),
                retry_for: opts.retry_for,
                index: Mutex::new(HashMap::new()),
            }),
            _keep: keep,
        })
    }
}

fn is_permanent_stream_error(e: &jetstream::context::CreateStreamError) -> bool {
    use jetstream::context::CreateStreamErrorKind as K;
    match e.kind() {
        K::EmptyStreamName | K::InvalidStreamName | K::DomainAndExternalSet => true,
        K::JetStreamUnavailable => false,
        K::JetStream(err) => {
            // 10039: JetStream not enabled for the account; 10074: insufficient resources
            // (replicas > cluster size).
            let code = err.error_code().0;
            code == 10039 || code == 10074 || code == 10023
        }
        _ => false,
    }
}

/// The URL without a password or token, for messages.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|part| match (part.find("://"), part.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***@{}", &part[..scheme], &part[at + 1..])
            }
            (None, Some(at)) => format!("***@{}", &part[at + 1..]),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.as_str().parse().ok())
}

fn decode(
    session: &str,
    stream_seq: u64,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<Batch, StoreError> {
    let corrupt = |seq: u64, reason: String| StoreError::Corrupt {
        session: session.to_string(),
        seq,
        reason,
    };
    let (last, count) = match headers {
        Some(h) => (header_u64(h, H_SEQ), header_u64(h, H_COUNT)),
        None => (None, None),
    };
    let (Some(last), Some(count)) = (last, count) else {
        return Err(corrupt(
            0,
            format!(
                "message {stream_seq} of the stream has no {H_SEQ}/{H_COUNT} headers; something other than iteratr wrote to iteratr's subjects"
            ),
        ));
    };
    let values: Vec<serde_json::Value> = serde_json::from_slice(payload)
        .map_err(|e| corrupt(last, format!("the batch is not a JSON array ({e})")))?;
    if values.len() as u64 != count || count == 0 || count > last {
        return Err(corrupt(
            last,
            format!(
                "the batch holds {} events, its headers say {count} ending at #{last}",
                values.len()
            ),
        ));
    }
    let first = last + 1 - count;
    let mut events = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let event =
            Event::from_json(&v.to_string()).map_err(|reason| corrupt(first + i as u64, reason))?;
        events.push(event);
    }
    Ok(Batch {
        stream_seq,
        last,
        events,
    })
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

    fn unreachable(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend(format!(
            "NATS: {what} failed for {}s ({e}); check that the server (or a majority of the cluster) is up and reachable",
            self.retry_for.as_secs()
        ))
    }

    /// The session's last message as stored, or `None` when it has none. Retries while the server
    /// is unreachable.
    async fn last_message(
        &self,
        session: &str,
    ) -> Result<Option<jetstream::message::StreamMessage>, StoreError> {
        let subject = subject(session);
        let deadline = Instant::now() + self.retry_for;
        loop {
            match self.stream.get_last_raw_message_by_subject(&subject).await {
                Ok(msg) => return Ok(Some(msg)),
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("NATS: reading the last message of {subject}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(self.unreachable("reading the session's last event", e)),
            }
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
            Some(msg) => (
                msg.headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_string()),
                header_u64(&msg.headers, H_SEQ).unwrap_or(0),
            ),
            None => (None, 0),
        })
    }

    /// An ordered consumer on the session's subject from `start` (a stream sequence).
    async fn replay(
        &self,
        session: &str,
        start: u64,
    ) -> Result<jetstream::consumer::pull::Ordered, StoreError> {
        let deadline = Instant::now() + self.retry_for;
        loop {
            let config = OrderedConfig {
                filter_subject: subject(session),
                deliver_policy: if start <= 1 {
                    DeliverPolicy::All
                } else {
                    DeliverPolicy::ByStartSequence {
                        start_sequence: start,
                    }
                },
                ..Default::default()
            };
            let attempt = async {
                let consumer = self
                    .stream
                    .create_consumer(config)
                    .await
                    .map_err(|e| e.to_string())?;
                consumer.messages().await.map_err(|e| e.to_string())
            };
            match attempt.await {
                Ok(messages) => return Ok(messages),
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("NATS: creating a consumer: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(self.unreachable("following the session", e)),
            }
        }
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
                        tokio::time::sleep(Duration::from_millis(200)).await;
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
                let stream_seq = next.info().map(|i| i.stream_sequence).map_err(|e| {
                    backend("a replayed message has no stream sequence", e.to_string())
                })?;
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
        let count = events.len() as u64;
        let new_last = actual + count;
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
        let msg_id = format!("{session}:{}:{}", actual + 1, nonce());
        let subject = subject(session);
        let deadline = Instant::now() + self.retry_for;
        loop {
            let msg = PublishMessage::build()
                .payload(payload.clone().into())
                .header(H_SEQ, new_last.to_string().as_str())
                .header(H_COUNT, count.to_string().as_str())
                .header(H_TYPE, types.as_str())
                .message_id(&msg_id)
                .expected_last_subject_sequence(last_stream_seq);
            let result = match self.js.send_publish(subject.clone(), msg).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match result {
                Ok(ack) => {
                    self.remember(session, new_last, ack.sequence);
                    return Ok(new_last);
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Either another writer came first, or an earlier attempt of ours landed
                    // and its ack was lost (outside the duplicate window): the last id says.
                    let (id, now) = self.last_id(session).await?;
                    if id.as_deref() == Some(msg_id.as_str()) {
                        return Ok(new_last);
                    }
                    return Err(StoreError::Conflict {
                        session: session.to_string(),
                        expected: expected_last,
                        actual: now,
                    });
                }
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Err(backend(
                        "the batch is larger than the server's max_payload; raise max_payload in the server config or write fewer events at once",
                        e,
                    ));
                }
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!("NATS: appending to {subject}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(self.unreachable("appending", e)),
            }
        }
    }

    async fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let deadline = Instant::now() + self.retry_for;
        let names = loop {
            let attempt = async {
                let mut names = Vec::new();
                let mut info = self
                    .stream
                    .info_with_subjects(format!("{SUBJECT_PREFIX}.*"))
                    .await
                    .map_err(|e| e.to_string())?;
                while let Some(item) = info.next().await {
                    let (subject, count) = item.map_err(|e| e.to_string())?;
                    if count > 0
                        && let Some(name) = subject.strip_prefix(&format!("{SUBJECT_PREFIX}."))
                        && validate_session_name(name).is_ok()
                    {
                        names.push(name.to_string());
                    }
                }
                Ok::<_, String>(names)
            };
            match attempt.await {
                Ok(names) => break names,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("NATS: listing subjects: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(self.unreachable("listing the sessions", e)),
            }
        };
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
}

/// Feeds a subscription: replays from the start (or the cached place), then follows live.
async fn follow(
    inner: Arc<Inner>,
    session: String,
    after: u64,
    tx: mpsc::Sender<Result<StoredEvent, StoreError>>,
) {
    // What the session holds now: a message at or below this stream sequence with events at or
    // below `after` is replay to skip; a later message that restarts below our cursor is a reset.
    let known = match inner.last_batch(&session).await {
        Ok(last) => last.map(|b| (b.stream_seq, b.last)).unwrap_or((0, 0)),
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    if known.1 < after {
        let _ = tx.send(Err(StoreError::SessionReset(session))).await;
        return;
    }
    let mut cursor = after;
    let mut start = inner.start_for(&session, after);
    loop {
        let mut messages = tokio::select! {
            m = inner.replay(&session, start) => match m {
                Ok(m) => m,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            },
            _ = tx.closed() => return,
        };
        loop {
            let next = tokio::select! {
                n = messages.next() => n,
                _ = tx.closed() => return,
            };
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!("NATS: live feed of {session} interrupted: {e}; resuming");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                None => break,
            };
            let stream_seq = match msg.info() {
                Ok(i) => i.stream_sequence,
                Err(e) => {
                    let _ = tx
                        .send(Err(backend("a message has no stream sequence", e)))
                        .await;
                    return;
                }
            };
            start = stream_seq + 1;
            let batch = match decode(&session, stream_seq, msg.headers.as_ref(), &msg.payload) {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            inner.remember(&session, batch.last, stream_seq);
            let first = batch.first();
            if stream_seq > known.0 && first <= cursor {
                let _ = tx.send(Err(StoreError::SessionReset(session))).await;
                return;
            }
            for (i, event) in batch.events.into_iter().enumerate() {
                let seq = first + i as u64;
                if seq > cursor {
                    cursor = seq;
                    if tx.send(Ok(StoredEvent { seq, event })).await.is_err() {
                        return;
                    }
                }
            }
        }
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
        tokio::spawn(follow(
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
        let inner = &self.inner;
        let deadline = Instant::now() + inner.retry_for;
        loop {
            match inner.stream.purge().filter(subject(session)).await {
                Ok(_) => {
                    inner.forget(session);
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(
                        "NATS: purging {} in {}: {e}; retrying",
                        subject(session),
                        inner.stream_name
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(inner.unreachable("resetting the session", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_redacted() {
        assert_eq!(parse_urls("nats://127.0.0.1:4222").unwrap().len(), 1);
        assert_eq!(parse_urls("nats://a:1, nats://b:2").unwrap().len(), 2);
        assert!(parse_urls(" , ").is_err());
        assert_eq!(
            redact("nats://user:secret@host:4222,nats://h2:1"),
            "nats://***@host:4222,nats://h2:1"
        );
        assert_eq!(redact("nats://host:4222"), "nats://host:4222");
    }
}
