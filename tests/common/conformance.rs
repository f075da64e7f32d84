//! The contract of the event log, written once and run against every backend. A backend's test
//! file provides a [`Harness`] and calls [`run_all`] (or single checks, to name failures).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use iteratr::session::{Author, Command, NewTask};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, StoreError, StoredEvent, Subscription, read_all};

use super::message;

/// Opens the store under test. Every call to `open` must give an independent handle on the same
/// stored data (a new connection), the way a second process would see it.
#[async_trait]
pub trait Harness: Send + Sync {
    async fn open(&self) -> Arc<dyn EventLog>;
}

/// Guards against a hang: a broken feed fails the test instead of blocking CI. Not a speed check.
const PATIENCE: Duration = Duration::from_secs(20);

pub async fn next_event(sub: &mut Subscription) -> StoredEvent {
    match tokio::time::timeout(PATIENCE, sub.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(Some(Err(e))) => panic!("subscription failed: {e}"),
        Ok(None) => panic!("subscription ended"),
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

fn texts(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.event.kind {
            iteratr::session::EventKind::UserMessage { text, .. } => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

pub async fn run_all(h: &dyn Harness) {
    empty_session(h).await;
    append_and_read_in_order(h).await;
    batch_is_atomic_and_contiguous(h).await;
    conflict_writes_nothing(h).await;
    read_pages(h).await;
    subscribe_replays_then_follows(h).await;
    subscriber_sees_other_handles_appends(h).await;
    sessions_are_listed_and_isolated(h).await;
    reset_touches_one_session(h).await;
    concurrent_writers_lose_nothing(h).await;
    invalid_session_names_are_refused(h).await;
    payloads_round_trip(h).await;
}

pub async fn empty_session(h: &dyn Harness) {
    let log = h.open().await;
    assert_eq!(log.last_seq("empty").await.unwrap(), 0);
    assert!(log.read("empty", 0, 100).await.unwrap().is_empty());
    assert!(
        !log.sessions()
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == "empty")
    );
}

pub async fn append_and_read_in_order(h: &dyn Harness) {
    let log = h.open().await;
    let s = "order";
    assert_eq!(log.append(s, 0, vec![message("a")]).await.unwrap(), 1);
    assert_eq!(log.append(s, 1, vec![message("b")]).await.unwrap(), 2);
    assert_eq!(log.append(s, 2, vec![message("c")]).await.unwrap(), 3);
    let all = log.read(s, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(texts(&all), vec!["a", "b", "c"]);
    assert_eq!(all[0].event, message("a"));
    assert_eq!(log.last_seq(s).await.unwrap(), 3);
    // A second handle reads the same.
    let other = h.open().await;
    assert_eq!(other.read(s, 0, 100).await.unwrap(), all);
}

pub async fn batch_is_atomic_and_contiguous(h: &dyn Harness) {
    let log = h.open().await;
    let s = "batch";
    let last = log
        .append(s, 0, (0..50).map(|i| message(format!("m{i}"))).collect())
        .await
        .unwrap();
    assert_eq!(last, 50);
    let all = read_all(log.as_ref(), s, 0).await.unwrap();
    assert_eq!(all.len(), 50);
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
}

pub async fn conflict_writes_nothing(h: &dyn Harness) {
    let log = h.open().await;
    let s = "conflict";
    log.append(s, 0, vec![message("first")]).await.unwrap();
    for wrong in [0, 2, 7] {
        let err = log
            .append(s, wrong, vec![message("x"), message("y")])
            .await
            .unwrap_err();
        match err {
            StoreError::Conflict {
                expected, actual, ..
            } => {
                assert_eq!((expected, actual), (wrong, 1));
            }
            other => panic!("expected a conflict, got {other}"),
        }
    }
    assert_eq!(log.last_seq(s).await.unwrap(), 1);
    assert_eq!(texts(&log.read(s, 0, 10).await.unwrap()), vec!["first"]);
}

pub async fn read_pages(h: &dyn Harness) {
    let log = h.open().await;
    let s = "pages";
    log.append(s, 0, (1..=10).map(|i| message(format!("{i}"))).collect())
        .await
        .unwrap();
    let page = log.read(s, 3, 4).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    assert!(log.read(s, 10, 4).await.unwrap().is_empty());
    assert!(log.read(s, 99, 4).await.unwrap().is_empty());
    assert_eq!(read_all(log.as_ref(), s, 8).await.unwrap().len(), 2);
}

pub async fn subscribe_replays_then_follows(h: &dyn Harness) {
    let log = h.open().await;
    let s = "follow";
    log.append(s, 0, vec![message("old1"), message("old2")])
        .await
        .unwrap();
    let mut from_start = log.subscribe(s, 0).await.unwrap();
    let mut from_middle = log.subscribe(s, 1).await.unwrap();
    assert_eq!(next_event(&mut from_start).await.seq, 1);
    assert_eq!(next_event(&mut from_start).await.seq, 2);
    assert_eq!(next_event(&mut from_middle).await.seq, 2);
    log.append(s, 2, vec![message("new")]).await.unwrap();
    let e = next_event(&mut from_start).await;
    assert_eq!(
        (e.seq, texts(std::slice::from_ref(&e))[0].as_str()),
        (3, "new")
    );
    assert_eq!(next_event(&mut from_middle).await.seq, 3);
    // No duplicates of what was delivered: what comes next is the next append.
    log.append(s, 3, vec![message("after")]).await.unwrap();
    assert_eq!(next_event(&mut from_start).await.seq, 4);
    assert_eq!(next_event(&mut from_middle).await.seq, 4);
    // A subscription to a session that does not exist yet waits for its first event.
    let mut fresh = log.subscribe("follow-later", 0).await.unwrap();
    log.append("follow-later", 0, vec![message("hello")])
        .await
        .unwrap();
    assert_eq!(next_event(&mut fresh).await.seq, 1);
}

pub async fn subscriber_sees_other_handles_appends(h: &dyn Harness) {
    let reader = h.open().await;
    let writer = h.open().await;
    let s = "cross";
    let mut sub = reader.subscribe(s, 0).await.unwrap();
    for i in 0..20u64 {
        writer
            .append(s, i, vec![message(format!("w{i}"))])
            .await
            .unwrap();
        let e = next_event(&mut sub).await;
        assert_eq!(e.seq, i + 1);
    }
}

pub async fn sessions_are_listed_and_isolated(h: &dyn Harness) {
    let log = h.open().await;
    log.append("iso-a", 0, vec![message("a1"), message("a2")])
        .await
        .unwrap();
    log.append("iso-b", 0, vec![message("b1")]).await.unwrap();
    // Each session numbers its own events.
    assert_eq!(log.last_seq("iso-a").await.unwrap(), 2);
    assert_eq!(log.last_seq("iso-b").await.unwrap(), 1);
    assert_eq!(texts(&log.read("iso-b", 0, 10).await.unwrap()), vec!["b1"]);
    let sessions = log.sessions().await.unwrap();
    let a = sessions.iter().find(|s| s.name == "iso-a").unwrap();
    let b = sessions.iter().find(|s| s.name == "iso-b").unwrap();
    assert_eq!((a.events, a.last_seq), (2, 2));
    assert_eq!((b.events, b.last_seq), (1, 1));
    let names: Vec<&str> = sessions.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sessions are listed by name");
}

pub async fn reset_touches_one_session(h: &dyn Harness) {
    let log = h.open().await;
    log.append("reset-a", 0, vec![message("a1"), message("a2")])
        .await
        .unwrap();
    log.append("reset-b", 0, vec![message("b1")]).await.unwrap();
    log.reset("reset-a").await.unwrap();
    assert_eq!(log.last_seq("reset-a").await.unwrap(), 0);
    assert!(log.read("reset-a", 0, 10).await.unwrap().is_empty());
    assert!(
        !log.sessions()
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == "reset-a")
    );
    assert_eq!(
        texts(&log.read("reset-b", 0, 10).await.unwrap()),
        vec!["b1"]
    );
    // Numbering starts over; an old expectation is a conflict, not a silent write.
    assert!(
        log.append("reset-a", 2, vec![message("x")])
            .await
            .unwrap_err()
            .is_conflict()
    );
    assert_eq!(
        log.append("reset-a", 0, vec![message("again")])
            .await
            .unwrap(),
        1
    );
    // Resetting a session that does not exist is fine.
    log.reset("never-was").await.unwrap();
}

/// Several handles (connections) run commands on one session at once through the service, which
/// retries conflicts: every command lands exactly once and the numbering has no gaps.
pub async fn concurrent_writers_lose_nothing(h: &dyn Harness) {
    const WRITERS: usize = 6;
    const EACH: usize = 25;
    let s = "race";
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let log = h.open().await;
        tasks.push(tokio::spawn(async move {
            let handle = SessionHandle::open(log, s).await.unwrap();
            for i in 0..EACH {
                let cmd = Command::AddTasks(vec![NewTask::new(format!("writer {w} task {i}"))]);
                handle.execute(&cmd, Author::Agent).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = h.open().await;
    let all = read_all(log.as_ref(), s, 0).await.unwrap();
    assert_eq!(all.len(), WRITERS * EACH);
    assert!(
        all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1),
        "gap-free"
    );
    let handle = SessionHandle::open(log, s).await.unwrap();
    let state = handle.refresh().await.unwrap();
    assert_eq!(state.tasks.len(), WRITERS * EACH);
    let ids: std::collections::BTreeSet<u64> = state.tasks.keys().copied().collect();
    assert_eq!(ids, (1..=(WRITERS * EACH) as u64).collect());
}

pub async fn invalid_session_names_are_refused(h: &dyn Harness) {
    let log = h.open().await;
    for bad in ["", "a b", "../x", "x.y", "*", ">"] {
        let err = log.append(bad, 0, vec![message("x")]).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidSession(_)), "{bad}: {err}");
        assert!(log.read(bad, 0, 1).await.is_err());
        assert!(log.subscribe(bad, 0).await.is_err());
        assert!(log.reset(bad).await.is_err());
    }
}

pub async fn payloads_round_trip(h: &dyn Harness) {
    let log = h.open().await;
    let text = "ünïcödé ✓ \"quotes\" \\ back\nslash\ttab 🦀 ".repeat(200);
    log.append("payload", 0, vec![message(text.clone())])
        .await
        .unwrap();
    let back = log.read("payload", 0, 1).await.unwrap();
    assert_eq!(texts(&back), vec![text]);
}
