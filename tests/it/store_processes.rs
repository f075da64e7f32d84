//! The embedded log shared by real OS processes: the other process is `examples/store_worker.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;

use crate::common::conformance::next_event;
use crate::common::output_conformance::next_output;
use iteratr::session::EventKind;
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, SqliteLog, read_all};

pub(crate) const SESSION: &str = "shared";

/// A worker process that is killed if the test fails before it ends, so none is left behind.
pub(crate) struct Worker(pub(crate) Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `store_worker sqlite DIR ARGS..`: a second process writing to the log in `dir`.
pub(crate) fn spawn_worker(dir: &Path, args: &[&str]) -> Worker {
    let child = Process::new(crate::common::example("store_worker"))
        .arg("sqlite")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Worker(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_append_500_each_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    // Create the store first so both workers race on appends, not on creating the schema.
    SqliteLog::open(dir.path()).unwrap();
    let mut a = spawn_worker(dir.path(), &["tasks", "1", "500"]);
    let mut b = spawn_worker(dir.path(), &["tasks", "2", "500"]);
    assert!(a.0.wait().unwrap().success(), "worker 1 failed");
    assert!(b.0.wait().unwrap().success(), "worker 2 failed");

    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path()).unwrap());
    let events = read_all(log.as_ref(), SESSION, 0).await.unwrap();
    assert_eq!(events.len(), 1000);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "sequence numbers are gap-free");
    }
    let mut seen = BTreeMap::new();
    for e in &events {
        let EventKind::TaskAdded { task, content, .. } = &e.event.kind else {
            panic!("unexpected event {:?}", e.event.kind);
        };
        assert!(
            seen.insert(content.clone(), *task).is_none(),
            "duplicate: {content}"
        );
    }
    for p in 1..=2 {
        for i in 0..500 {
            assert!(
                seen.contains_key(&format!("process {p} task {i}")),
                "lost: process {p} task {i}"
            );
        }
    }
    let ids: std::collections::BTreeSet<u64> = seen.values().copied().collect();
    assert_eq!(ids, (1..=1000).collect(), "task ids are unique and dense");
    let state = SessionHandle::open(log, SESSION)
        .await
        .unwrap()
        .refresh()
        .await
        .unwrap();
    assert_eq!(state.tasks.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_another_process_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(dir.path()).unwrap();
    let mut sub = log.subscribe(SESSION, 0).await.unwrap();
    let mut child = spawn_worker(dir.path(), &["tasks", "7", "40"]);
    for i in 1..=40u64 {
        let e = next_event(&mut sub).await;
        assert_eq!(e.seq, i);
        let EventKind::TaskAdded { content, .. } = &e.event.kind else {
            panic!()
        };
        assert_eq!(content, &format!("process 7 task {}", i - 1));
    }
    assert!(child.0.wait().unwrap().success());
}

/// The output stream (issue 29) across processes: two other processes append one session's
/// output at once, and a subscriber here, started before them, sees every record as it lands,
/// each process's in its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_other_processes_output() {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(dir.path()).unwrap();
    log.append_output(SESSION, vec![(1, "before".into())])
        .await
        .unwrap();
    let mut sub = log.subscribe_output(SESSION, 0).await.unwrap();
    assert_eq!(next_output(&mut sub).await.payload, "before");
    let mut a = spawn_worker(dir.path(), &["output", "1", "60"]);
    let mut b = spawn_worker(dir.path(), &["output", "2", "60"]);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last = 0;
    for _ in 0..120 {
        let e = next_output(&mut sub).await;
        assert!(e.seq > last, "in order");
        last = e.seq;
        let process = e.payload.split(" output").next().unwrap().to_string();
        seen.entry(process).or_default().push(e.payload);
    }
    assert!(a.0.wait().unwrap().success(), "worker 1 failed");
    assert!(b.0.wait().unwrap().success(), "worker 2 failed");
    for p in 1..=2 {
        let want: Vec<String> = (0..60).map(|i| format!("process {p} output {i}")).collect();
        assert_eq!(seen[&format!("process {p}")], want);
    }
    assert_eq!(log.last_seq(SESSION).await.unwrap(), 0, "no events written");
}
