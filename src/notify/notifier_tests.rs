//! The notifier against a real log (SQLite in a temporary directory) and a command channel that
//! keeps what it gets: the window, what is still true when it closes, whose requests are told,
//! and the build's end.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Channel, ChannelKind, Notifier, NotifySettings, Scope, Start, Trigger};
use crate::frontend::{BuildEvent, WorkerPhase};
use crate::hooks::HookCommand;
use crate::session::{Author, Event, EventKind, PermissionDecision, TaskStatus, task_added};
use crate::store::{EventLog, SqliteLog};

async fn append(log: &Arc<dyn EventLog>, kinds: Vec<EventKind>) {
    let last = log.last_seq("demo").await.unwrap();
    let events = kinds
        .into_iter()
        .map(|k| Event::new(0, Author::System, k))
        .collect();
    log.append("demo", last, events).await.unwrap();
}

fn requested(request: u64, worker: &str) -> EventKind {
    EventKind::PermissionRequested {
        request,
        tool: "bash".into(),
        title: "cargo test".into(),
        worker: Some(worker.into()),
    }
}

/// The notifications the command channel got, one JSON object each.
fn got(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("got.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn wait_for(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..250 {
        if got(dir).len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    got(dir)
}

fn ids(n: &serde_json::Value) -> Vec<String> {
    n["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("").to_string())
        .collect()
}

fn stopped(worker: &str, why: &str) -> BuildEvent {
    BuildEvent::Worker {
        worker: worker.into(),
        event: Box::new(BuildEvent::Phase {
            phase: WorkerPhase::Stopped,
            message: format!("stopped: {why}"),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_makes_one_notification_of_what_is_still_true_and_the_end_says_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(&dir.path().join("data")).unwrap());
    append(
        &log,
        vec![
            task_added(1, TaskStatus::Remaining),
            task_added(2, TaskStatus::Blocked),
        ],
    )
    .await;
    let settings = NotifySettings {
        channels: vec![Channel {
            kind: ChannelKind::Command(HookCommand::Shell(
                "cat >> got.jsonl; echo >> got.jsonl".into(),
            )),
            on: Trigger::ALL.into_iter().collect(),
        }],
        window: Duration::from_millis(400),
        timeout: Duration::from_secs(5),
        retries: 0,
    };
    let (events, mut warnings) = tokio::sync::mpsc::unbounded_channel();
    let notifier = Notifier::start(Start {
        settings,
        log: Arc::clone(&log),
        session: "demo".into(),
        scope: Scope {
            workers: vec!["w1".into(), "w2".into()],
            builder: true,
        },
        link: Some("http://127.0.0.1:7177/#s/demo".into()),
        cwd: dir.path().to_path_buf(),
        events,
    })
    .await
    .unwrap();
    // What waited before it started (TAS-2 blocked) is no news.
    append(
        &log,
        vec![
            requested(1, "w1"),
            requested(2, "w2"),
            // Another process's worker: its own notifier tells it.
            requested(3, "host-9-w1"),
            EventKind::TaskStatusSet {
                task: 1,
                status: TaskStatus::Blocked,
            },
            requested(4, "w1"),
        ],
    )
    .await;
    // Answered before the window closed: no longer news.
    append(
        &log,
        vec![EventKind::PermissionAnswered {
            request: 4,
            decision: PermissionDecision::AllowedByUser,
            who: "ana@laptop".into(),
        }],
    )
    .await;
    let first = wait_for(dir.path(), 1).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(ids(&first[0]), ["P-1", "P-2", "TAS-1"]);
    assert_eq!(
        first[0]["title"],
        "iteratr demo: 2 permission requests wait; TAS-1 is blocked"
    );
    assert_eq!(first[0]["link"], "http://127.0.0.1:7177/#s/demo");
    // A worker that stops while the build goes on is news after its window...
    let observer = notifier.observer();
    observer.observe(&stopped("w1", "the agent failed 3 times in a row"));
    observer.observe(&BuildEvent::Warning {
        message: "not news".into(),
    });
    let second = wait_for(dir.path(), 2).await;
    assert_eq!(second.len(), 2, "{second:?}");
    assert_eq!(second[1]["title"], "iteratr demo: worker w1 stopped");
    assert!(
        second[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("worker w1 stopped: the agent failed 3 times in a row"),
        "{}",
        second[1]
    );
    // ...but one that stops as the build ends is said by the build's end.
    observer.observe(&stopped("w2", "interrupted"));
    notifier
        .finish(super::BuildEnd {
            completed: false,
            message: "stopped after 2 iterations (-i 2)".into(),
        })
        .await;
    let all = got(dir.path());
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2]["events"], serde_json::json!(["stopped"]));
    assert_eq!(
        all[2]["items"][0]["text"],
        "The build stopped: stopped after 2 iterations (-i 2)"
    );
    assert!(warnings.try_recv().is_err(), "no channel failed");
}
