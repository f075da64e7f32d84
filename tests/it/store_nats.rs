//! The event log conformance suite against a real nats-server, and what only a server can do
//! wrong: restarts, a cluster losing a node.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::common::conformance::{self, Harness, next_event};
use crate::common::message;
use crate::common::nats::{Cluster, NatsServer};
use crate::common::output_conformance::{self, OutputHarness};
use async_trait::async_trait;
use iteratr::session::EventKind;
use iteratr::store::{EventLog, NatsLog, NatsOptions, OutputRetention, StoreError, read_all};

struct Nats {
    server: NatsServer,
}

#[async_trait]
impl Harness for Nats {
    async fn open(&self) -> Arc<dyn EventLog> {
        Arc::new(
            NatsLog::connect(&NatsOptions::new(self.server.url()))
                .await
                .unwrap(),
        )
    }
}

#[async_trait]
impl OutputHarness for Nats {
    async fn open_with(&self, retention: OutputRetention) -> Arc<dyn EventLog> {
        let mut opts = NatsOptions::new(self.server.url());
        opts.output_retention = retention;
        Arc::new(NatsLog::connect(&opts).await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let h = Nats {
        server: NatsServer::start(),
    };
    conformance::run_all(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_conformance_suite() {
    let h = Nats {
        server: NatsServer::start(),
    };
    output_conformance::run_all(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_learns_of_a_reset() {
    let h = Nats {
        server: NatsServer::start(),
    };
    let log = h.open().await;
    log.append("r", 0, vec![message("a"), message("b")])
        .await
        .unwrap();
    let mut sub = log.subscribe("r", 0).await.unwrap();
    next_event(&mut sub).await;
    next_event(&mut sub).await;
    log.reset("r").await.unwrap();
    log.append("r", 0, vec![message("new")]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .unwrap();
    assert!(
        matches!(got, Some(Err(StoreError::SessionReset(_)))),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_clear_error() {
    let port = crate::common::nats::free_port();
    let err = NatsLog::connect(&NatsOptions::new(format!("nats://127.0.0.1:{port}")))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot connect to the NATS server"), "{err}");
    assert!(err.contains("--nats-server"), "{err}");
    let err = NatsLog::connect(&NatsOptions::new("http://x y"))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a NATS URL"), "{err}");
}

/// The store's log messages about retries ("NATS: … iteratr.SESSION: …; retrying"), seen
/// by a global tracing subscriber: how a test knows an operation failed once and is retrying.
static RETRIES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct RecordRetries;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RecordRetries {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains("retrying") {
            RETRIES.lock().unwrap().push(m.0);
        }
    }
}

pub(crate) fn record_retries() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(RecordRetries);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// Waits until the store has said it retries an operation whose message contains `what`.
pub(crate) async fn retrying(what: &str) {
    let deadline = Instant::now() + crate::common::PATIENCE;
    while !RETRIES.lock().unwrap().iter().any(|m| m.contains(what)) {
        assert!(
            Instant::now() < deadline,
            "no retry of {what:?}: {:?}",
            RETRIES.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn texts(events: &[iteratr::store::StoredEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.event.kind {
            EventKind::UserMessage { text, .. } => text.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Appends numbered messages `m{from}`.. one at a time, as a build would.
pub(crate) async fn append_numbered(log: &dyn EventLog, session: &str, from: usize, count: usize) {
    for i in from..from + count {
        let last = log.last_seq(session).await.unwrap();
        assert_eq!(last, i as u64, "appends resume where the log ends");
        log.append(session, last, vec![message(format!("m{i}"))])
            .await
            .unwrap();
    }
}

/// A writer that appends `count` numbered messages from `from` (as [`append_numbered`]), and
/// holds still after `pause` of them are acknowledged, just before appending the next, until the
/// test lets it go on: the test breaks the server at that known point of the stream, so that
/// append is under way while the server is down, and then sees how many appends were begun and
/// acknowledged.
pub(crate) struct Writer {
    started: Arc<AtomicUsize>,
    acked: Arc<AtomicUsize>,
    paused: Option<tokio::sync::oneshot::Receiver<()>>,
    go: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    pub(crate) fn spawn(
        log: &Arc<dyn EventLog>,
        session: &str,
        from: usize,
        count: usize,
        pause: usize,
    ) -> Writer {
        let (started, acked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (paused_tx, paused) = tokio::sync::oneshot::channel();
        let (go, go_rx) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let (log, session) = (Arc::clone(log), session.to_string());
            let (started, acked) = (Arc::clone(&started), Arc::clone(&acked));
            tokio::spawn(async move {
                let (mut paused_tx, mut go_rx) = (Some(paused_tx), Some(go_rx));
                for n in 0..count {
                    let i = from + n;
                    let last = log.last_seq(&session).await.unwrap();
                    assert_eq!(last, i as u64, "appends resume where the log ends");
                    if n == pause {
                        // Hold still between reading the last sequence and appending.
                        paused_tx.take().unwrap().send(()).unwrap();
                        go_rx.take().unwrap().await.unwrap();
                    }
                    started.fetch_add(1, Ordering::SeqCst);
                    log.append(&session, last, vec![message(format!("m{i}"))])
                        .await
                        .unwrap();
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        Writer {
            started,
            acked,
            paused: Some(paused),
            go: Some(go),
            task,
        }
    }

    /// Waits until the writer holds still after its first `pause` acknowledged appends.
    pub(crate) async fn paused(&mut self) {
        tokio::time::timeout(crate::common::PATIENCE, self.paused.take().unwrap())
            .await
            .expect("the writer never reached its pause")
            .unwrap();
    }

    pub(crate) fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Lets the writer go on, and waits until its next append is under way.
    pub(crate) async fn resume(&mut self) {
        let before = self.started.load(Ordering::SeqCst);
        self.go.take().unwrap().send(()).unwrap();
        let deadline = Instant::now() + crate::common::PATIENCE;
        while self.started.load(Ordering::SeqCst) == before {
            assert!(Instant::now() < deadline, "the writer did not go on");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn finish(self, limit: Duration, what: &str) -> usize {
        tokio::time::timeout(limit, self.task)
            .await
            .unwrap_or_else(|_| panic!("{what}"))
            .unwrap();
        self.acked.load(Ordering::SeqCst)
    }
}

pub(crate) fn check_whole(events: &[iteratr::store::StoredEvent], n: usize) {
    assert_eq!(events.len(), n, "nothing lost, nothing written twice");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    assert_eq!(
        texts(events),
        (0..n).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_loses_a_node_and_nothing_else() {
    let mut cluster = Cluster::start();
    let mut opts = NatsOptions::new(cluster.url());
    opts.replicas = 3;
    let log: Arc<dyn EventLog> = Arc::new(NatsLog::connect(&opts).await.unwrap());
    append_numbered(log.as_ref(), "clustered", 0, 30).await;
    // A writer appends 70 more; after 20 of them are acknowledged a node (the first: the one a
    // client most likely talks to) stops without warning, and the other 50 go on without it.
    let mut writer = Writer::spawn(&log, "clustered", 30, 70, 20);
    writer.paused().await;
    cluster.nodes[0].kill();
    writer.resume().await;
    let acked = writer
        .finish(
            Duration::from_secs(120),
            "appends stalled after a node stopped",
        )
        .await;
    assert_eq!(acked, 70, "50 appends acknowledged after the node stopped");
    let events = read_all(log.as_ref(), "clustered", 0).await.unwrap();
    check_whole(&events, 100);
    // A new client through the surviving nodes sees every event.
    let survivors = format!("{},{}", cluster.nodes[1].url(), cluster.nodes[2].url());
    let mut opts = NatsOptions::new(survivors);
    opts.replicas = 3;
    let other = NatsLog::connect(&opts).await.unwrap();
    check_whole(&read_all(&other, "clustered", 0).await.unwrap(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_on_one_session_without_loss_or_duplicates() {
    let server = NatsServer::start();
    // Create the stream first so the workers race on appends.
    let log = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    // Two processes (`examples/store_worker.rs`) add 200 tasks each to one session.
    let spawn = |id: usize| {
        std::process::Command::new(crate::common::example("store_worker"))
            .args(["nats".to_string(), server.url(), "tasks".to_string()])
            .args([id.to_string(), "200".to_string()])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(1), spawn(2));
    assert!(a.wait().unwrap().success(), "worker 1 failed");
    assert!(b.wait().unwrap().success(), "worker 2 failed");
    let events = read_all(&log, "shared", 0).await.unwrap();
    assert_eq!(events.len(), 400);
    let mut seen = std::collections::BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gap-free");
        let EventKind::TaskAdded { content, .. } = &e.event.kind else {
            panic!("unexpected {:?}", e.event.kind);
        };
        assert!(seen.insert(content.clone()), "duplicate: {content}");
    }
    for p in 1..=2 {
        for i in 0..200 {
            assert!(seen.contains(&format!("process {p} task {i}")), "lost");
        }
    }
}

/// The output stream is created on first use: a store that only resets sessions (or never sees
/// output) has no `ITERATR_OUTPUT`, and an account that may not create it can still reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_stream_is_created_on_first_use_only() {
    let server = NatsServer::start();
    let log = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    log.append("s", 0, vec![message("e")]).await.unwrap();
    log.reset("s").await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    assert!(
        js.get_stream("ITERATR_OUTPUT").await.is_err(),
        "not created"
    );
    log.append_output("s", vec![(1, "x".into())]).await.unwrap();
    let mut stream = js.get_stream("ITERATR_OUTPUT").await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    assert_eq!(config.subjects, vec!["iteratr-output.*".to_string()]);
    assert_eq!(config.max_age, Duration::from_secs(24 * 3600));
    assert_eq!(config.max_messages_per_subject, 1024, "64 MiB / 64 KiB");
    assert_eq!(
        config.storage,
        async_nats::jetstream::stream::StorageType::File
    );
    log.reset("s").await.unwrap();
    assert!(log.read_output("s", 0, 10).await.unwrap().is_empty());
}
