//! The real binary, as a person runs it: `status` and `version`, good and bad input.

use std::path::Path;
use std::process::{Command as Process, Output};
use std::sync::Arc;

use iteratr::session::{Author, Command, NewTask, NoteType, TaskStatus};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, SqliteLog};

use crate::common::project::{stderr, stdout};

fn iteratr(dir: &Path, args: &[&str]) -> Output {
    Process::new(crate::common::bin())
        .args(args)
        .env("ITERATR_DATA_DIR", dir)
        .env_remove("ITERATR_LOG_FILE")
        .env_remove("ITERATR_LOG_LEVEL")
        .output()
        .unwrap()
}

async fn populate(dir: &Path, session: &str) {
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir).unwrap());
    let h = SessionHandle::open(log, session).await.unwrap();
    let run = |cmd: Command| {
        let h = &h;
        async move { h.execute(&cmd, Author::Agent).await.unwrap() }
    };
    run(Command::StartIteration {
        number: 1,
        planning: false,
        worker: None,
    })
    .await;
    let mut parser = NewTask::new("Write the parser");
    parser.priority = Some(4);
    run(Command::AddTasks(vec![
        parser,
        NewTask::new("Write the docs"),
        NewTask::new("Drop the old CLI"),
    ]))
    .await;
    let mut tests = NewTask::new("Test the parser");
    tests.depends_on = vec!["TAS-1".into()];
    tests.priority = Some(0);
    run(Command::AddTasks(vec![tests])).await;
    run(Command::SetStatus {
        task: "TAS-1".into(),
        status: TaskStatus::Completed,
    })
    .await;
    run(Command::SetStatus {
        task: "TAS-2".into(),
        status: TaskStatus::InProgress,
    })
    .await;
    run(Command::SetStatus {
        task: "TAS-3".into(),
        status: TaskStatus::Cancelled,
    })
    .await;
    run(Command::AddNote {
        note_type: NoteType::Decision,
        content: "Hand-written recursive descent".into(),
    })
    .await;
    run(Command::AddNote {
        note_type: NoteType::Learning,
        content: "The grammar is LL(1)".into(),
    })
    .await;
    run(Command::SummarizeIteration {
        summary: "Parser written and committed".into(),
        worker: None,
    })
    .await;
    run(Command::FinishIteration {
        number: 1,
        outcome: "end_turn".into(),
        detail: None,
        commit: None,
        usage: None,
        auto_allowed: 0,
    })
    .await;
}

#[test]
fn version_names_commit_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = iteratr(dir.path(), &["version"]);
    assert!(out.status.success());
    let line = stdout(&out);
    assert!(
        line.starts_with(&format!("iteratr {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.contains(", built 20"), "{line}");
    let flag = iteratr(dir.path(), &["--version"]);
    assert_eq!(stdout(&flag), line);
}

#[test]
fn status_on_an_empty_data_dir_explains_and_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".iteratr");
    let out = iteratr(&dir, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("No sessions in"), "{}", stdout(&out));
    assert!(!dir.exists(), "status must not create the data dir");
    let json = iteratr(&dir, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["sessions"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_populated_session() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), "parser").await;
    let out = iteratr(dir.path(), &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Tasks grouped by status, in a fixed order, with priority and dependencies.
    let order = [
        "In progress (1)",
        "Remaining (1)",
        "Completed (1)",
        "Cancelled (1)",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|h| {
            text.find(h)
                .unwrap_or_else(|| panic!("{h} missing:\n{text}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains("TAS-2   p2  Write the docs"), "{text}");
    assert!(
        text.contains("TAS-4   p0  Test the parser  (after TAS-1)"),
        "{text}"
    );
    assert!(text.contains("TAS-1   p4  Write the parser"), "{text}");
    assert!(
        text.contains("Tasks: 4 tasks: 1 in progress, 1 remaining, 1 completed, 1 cancelled"),
        "{text}"
    );
    assert!(text.contains("Next: TAS-4 Test the parser"), "{text}");
    // Notes by type; iterations with summaries.
    assert!(
        text.contains("  learning\n    NOT-2   The grammar is LL(1) (iteration 1)"),
        "{text}"
    );
    assert!(
        text.contains("  decision\n    NOT-1   Hand-written recursive descent"),
        "{text}"
    );
    assert!(text.contains("Iterations: 1 iteration\n  #1 "), "{text}");
    assert!(text.contains("end_turn, 4 task(s) changed"), "{text}");
    assert!(text.contains("Parser written and committed"), "{text}");

    let json = iteratr(dir.path(), &["status", "--session", "parser", "--json"]);
    assert!(json.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["session"], "parser");
    assert_eq!(v["counts"]["completed"], 1);
    assert_eq!(v["next_task"], "TAS-4");
    assert_eq!(v["tasks"][3]["depends_on"], serde_json::json!(["TAS-1"]));
    assert_eq!(v["tasks"][3]["priority"], 0);
    assert_eq!(v["notes"][0]["type"], "decision");
    assert_eq!(
        v["iterations"][0]["summary"],
        "Parser written and committed"
    );
    assert_eq!(v["completed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sessions_are_listed_and_chosen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), "alpha").await;
    populate(dir.path(), "beta").await;
    let out = iteratr(dir.path(), &["status"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("2 sessions in") && text.contains("alpha") && text.contains("beta"),
        "{text}"
    );
    assert!(text.contains("iteratr status --session NAME"), "{text}");
    let one = iteratr(dir.path(), &["status", "-n", "beta"]);
    assert!(
        stdout(&one).starts_with("Session beta ("),
        "{}",
        stdout(&one)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_invalid_session_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), "alpha").await;
    let out = iteratr(dir.path(), &["status", "--session", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("there is no session 'nope'") && err.contains("sessions there: alpha"),
        "{err}"
    );
    let out = iteratr(dir.path(), &["status", "--session", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid session name '../etc'"),
        "{}",
        stderr(&out)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = iteratr(
        &empty.path().join("none"),
        &["status", "--session", "alpha"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("holds no iteratr data yet"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), "alpha").await;
    let db = dir.path().join("iteratr.db");
    // Checkpoint-free corruption: overwrite the header, as a bad disk or a stray write would.
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..16].copy_from_slice(b"NOT A DATABASE!!");
    std::fs::write(&db, &bytes).unwrap();
    std::fs::remove_file(dir.path().join("iteratr.db-wal")).ok();
    std::fs::remove_file(dir.path().join("iteratr.db-shm")).ok();
    let out = iteratr(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("damaged or not an iteratr database") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(
        std::fs::read(&db).unwrap() == bytes,
        "the damaged file was modified"
    );
    assert!(!dir.path().join("iteratr.db-wal").exists());
}

#[test]
fn a_data_dir_that_is_a_file_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("file");
    std::fs::write(&file, "keep me").unwrap();
    let out = iteratr(&file, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn an_unwritable_data_dir_is_a_clear_error() {
    // Root may write anywhere a mode allows nothing, so use places nobody can create in.
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("file");
    std::fs::write(&file, "x").unwrap();
    for dir in [
        file.join("sub"),
        Path::new("/proc/iteratr-cannot-be-here").to_path_buf(),
    ] {
        let err = SqliteLog::open(&dir).err().unwrap().to_string();
        assert!(
            err.contains("cannot create the data directory") && err.contains("--data-dir"),
            "{err}"
        );
    }
}

#[test]
fn logging_goes_to_the_log_file_and_a_bad_level_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("iteratr.log");
    let out = Process::new(crate::common::bin())
        .args(["status"])
        .env("ITERATR_DATA_DIR", dir.path().join("d"))
        .env("ITERATR_LOG_FILE", &log)
        .env("ITERATR_LOG_LEVEL", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&log).unwrap().contains("status"));
    assert!(
        stderr(&out).is_empty(),
        "logs went to stderr: {}",
        stderr(&out)
    );
    let out = Process::new(crate::common::bin())
        .args(["status"])
        .env("ITERATR_DATA_DIR", dir.path().join("d"))
        .env("ITERATR_LOG_LEVEL", "loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ITERATR_LOG_LEVEL='loud' is not a log level"));
}

#[test]
fn every_commands_help_lists_the_store_options_under_their_own_heading() {
    let heading = "Store options (where sessions are kept):";
    let store = [
        "--data-dir",
        "--nats-url",
        "--nats-creds",
        "--nats-token",
        "--nats-replicas",
        "--nats-server",
    ];
    for command in [
        &["build"][..],
        &["worker"],
        &["status"],
        &["watch"],
        &["mcp", "serve"],
        &["pause"],
        &["resume"],
        &["config"],
        &["doctor"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = Process::new(crate::common::bin())
            .args(&args)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command:?}: {help}");
        let (before, after) = help
            .split_once(heading)
            .unwrap_or_else(|| panic!("{command:?}: no store heading in\n{help}"));
        for flag in store {
            let listed = |text: &str| text.lines().any(|l| l.trim_start().starts_with(flag));
            assert!(
                listed(after),
                "{command:?}: {flag} not under the heading:\n{help}"
            );
            assert!(
                !listed(before),
                "{command:?}: {flag} among the others:\n{help}"
            );
        }
    }
}
