//! The event log conformance suite against a real nats-server, and what only a server can do
//! wrong: restarts, a cluster losing a node.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::conformance::{self, Harness, next_event};
use common::message;
use common::nats::{Cluster, NatsServer};
use iteratr::session::EventKind;
use iteratr::store::{EventLog, NatsLog, NatsOptions, StoreError, read_all};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let h = Nats {
        server: NatsServer::start(),
    };
    conformance::run_all(&h).await;
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
    let port = common::nats::free_port();
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

fn texts(events: &[iteratr::store::StoredEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.event.kind {
            EventKind::UserMessage { text } => text.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Appends `count` numbered messages one at a time, as a build would, and returns their texts.
async fn append_numbered(log: &dyn EventLog, session: &str, from: usize, count: usize) {
    for i in from..from + count {
        let last = log.last_seq(session).await.unwrap();
        assert_eq!(last, i as u64, "appends resume where the log ends");
        log.append(session, last, vec![message(format!("m{i}"))])
            .await
            .unwrap();
    }
}

fn check_whole(events: &[iteratr::store::StoredEvent], n: usize) {
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
async fn appends_resume_after_the_server_is_killed_and_restarted() {
    let mut server = NatsServer::start();
    let log = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(log);
    append_numbered(log.as_ref(), "crash", 0, 50).await;
    let mut sub = log.subscribe("crash", 0).await.unwrap();
    for _ in 0..50 {
        next_event(&mut sub).await;
    }

    // Kill the server while a writer keeps appending; bring it back a moment later.
    let writer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { append_numbered(log.as_ref(), "crash", 50, 50).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    tokio::time::timeout(Duration::from_secs(90), writer)
        .await
        .expect("appends did not resume after the restart")
        .unwrap();

    let events = read_all(log.as_ref(), "crash", 0).await.unwrap();
    check_whole(&events, 100);
    // A fresh connection sees the same, and the live feed went on across the restart.
    let other = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    check_whole(&read_all(&other, "crash", 0).await.unwrap(), 100);
    for i in 51..=100u64 {
        assert_eq!(next_event(&mut sub).await.seq, i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_loses_a_node_and_nothing_else() {
    let mut cluster = Cluster::start();
    let mut opts = NatsOptions::new(cluster.url());
    opts.replicas = 3;
    let log: Arc<dyn EventLog> = Arc::new(NatsLog::connect(&opts).await.unwrap());
    append_numbered(log.as_ref(), "clustered", 0, 30).await;
    let writer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { append_numbered(log.as_ref(), "clustered", 30, 70).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Stop a node (the first: the one a client most likely talks to) without warning.
    cluster.nodes[0].kill();
    tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("appends stalled after a node stopped")
        .unwrap();
    let events = read_all(log.as_ref(), "clustered", 0).await.unwrap();
    check_whole(&events, 100);
    // A new client through the surviving nodes sees every event.
    let survivors = format!("{},{}", cluster.nodes[1].url(), cluster.nodes[2].url());
    let mut opts = NatsOptions::new(survivors);
    opts.replicas = 3;
    let other = NatsLog::connect(&opts).await.unwrap();
    check_whole(&read_all(&other, "clustered", 0).await.unwrap(), 100);
}

/// The worker process of the race below: the test binary re-runs itself with
/// `ITERATR_TEST_NATS_WORKER` set. Run normally it only checks its arguments' defaults.
#[test]
fn nats_worker() {
    let Ok(url) = std::env::var("ITERATR_TEST_NATS_WORKER") else {
        return;
    };
    let id: usize = std::env::var("ITERATR_TEST_ID").unwrap().parse().unwrap();
    let count: usize = std::env::var("ITERATR_TEST_COUNT")
        .unwrap()
        .parse()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let log: Arc<dyn EventLog> =
            Arc::new(NatsLog::connect(&NatsOptions::new(url)).await.unwrap());
        let handle = iteratr::service::SessionHandle::open(log, "shared")
            .await
            .unwrap();
        for i in 0..count {
            let cmd = iteratr::session::Command::AddTasks(vec![iteratr::session::NewTask::new(
                format!("process {id} task {i}"),
            )]);
            handle
                .execute(&cmd, iteratr::session::Author::Agent)
                .await
                .unwrap();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_on_one_session_without_loss_or_duplicates() {
    let server = NatsServer::start();
    // Create the stream first so the workers race on appends.
    let log = NatsLog::connect(&NatsOptions::new(server.url()))
        .await
        .unwrap();
    let spawn = |id: usize| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["nats_worker", "--exact", "--nocapture", "--test-threads=1"])
            .env("ITERATR_TEST_NATS_WORKER", server.url())
            .env("ITERATR_TEST_ID", id.to_string())
            .env("ITERATR_TEST_COUNT", "200")
            .stdout(std::process::Stdio::null())
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
