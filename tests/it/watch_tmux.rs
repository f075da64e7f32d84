//! `iteratr watch` in a real terminal (tmux), following a session that another process (this
//! test, through the library) writes, on SQLite and on JetStream: what is in the log when it
//! starts, what is appended while it runs, a message typed in it and a pause and resumption asked
//! in it reaching the log with who asked, and a clean exit on Ctrl+C.

use std::path::Path;
use std::sync::Arc;

use crate::common::PATIENCE;
use crate::common::tmux::Tmux;
use iteratr::session::{Author, Command, NewTask, NoteType, TaskStatus};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, NatsLog, NatsOptions, SqliteLog};

/// The other process's side: commands appended to the session through the library.
struct Writer {
    rt: tokio::runtime::Runtime,
    session: SessionHandle,
}

impl Writer {
    fn open(rt: tokio::runtime::Runtime, log: Arc<dyn EventLog>) -> Writer {
        let session = rt.block_on(SessionHandle::open(log, "demo")).unwrap();
        Writer { rt, session }
    }

    fn run(&self, cmd: Command) {
        self.rt
            .block_on(self.session.execute(&cmd, Author::Agent))
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    }

    fn state(&self) -> Arc<iteratr::session::SessionState> {
        self.rt.block_on(self.session.refresh()).unwrap()
    }

    /// The messages in the log, and who sent them.
    fn messages(&self) -> Vec<(String, String)> {
        let state = self.state();
        state
            .messages
            .iter()
            .map(|m| (m.text.clone(), m.who.clone()))
            .collect()
    }
}

fn status(task: &str, status: TaskStatus) -> Command {
    Command::SetStatus {
        task: task.into(),
        status,
    }
}

/// The whole scenario, whatever the store: `watch` is `iteratr [store args] watch` as a shell
/// command run in `dir`.
fn follow(name: &str, writer: &Writer, dir: &Path, watch: &str) {
    // What is in the log before the watcher starts.
    writer.run(Command::AddTasks(vec![
        NewTask::new("Write the parser"),
        NewTask::new("Test the parser"),
    ]));
    writer.run(Command::AddNote {
        note_type: NoteType::Decision,
        content: "Hand-written parser, no generator".into(),
    });
    let tmux = Tmux::start(
        name,
        dir,
        &["USER=ana".into(), "ITERATR_HOST=laptop".into()],
        &format!("{watch}; echo EXITED $?; sleep 600"),
    );
    let screen = tmux.wait_for("TAS-2 p2 Test the parser", PATIENCE);
    assert!(screen.contains("Tasks (2)"), "{screen}");
    assert!(screen.contains("TAS-1 p2 Write the parser"), "{screen}");
    assert!(screen.contains("demo"), "{screen}");

    // What the other process appends while the watcher runs shows up.
    writer.run(status("TAS-1", TaskStatus::InProgress));
    writer.run(Command::AddTasks(vec![NewTask::new(
        "Document the grammar",
    )]));
    let screen = tmux.wait_for("TAS-3 p2 Document the grammar", PATIENCE);
    assert!(screen.contains("Tasks (3)"), "{screen}");
    writer.run(status("TAS-1", TaskStatus::Completed));
    writer.run(Command::SummarizeIteration {
        summary: "Parser written".into(),
        worker: None,
    });
    tmux.wait_for("Parser written", PATIENCE);

    // A message typed in the watcher lands in the log, for the build to deliver.
    tmux.keys(&["i"]);
    tmux.wait_for("Message to the agent", PATIENCE);
    tmux.keys(&["-l", "Please keep the grammar in one file"]);
    tmux.keys(&["Enter"]);
    crate::common::wait_until(
        PATIENCE,
        || format!("the message never reached the log:\n{}", tmux.screen()),
        || {
            writer.messages().contains(&(
                "Please keep the grammar in one file".to_string(),
                "ana@laptop".to_string(),
            ))
        },
    );

    // p asks for a pause, and again for the resumption, as the person at the watcher.
    tmux.keys(&["p"]);
    tmux.wait_for("pause requested by ana@laptop", PATIENCE);
    let paused = writer.state().paused.clone();
    assert_eq!(paused.map(|p| p.who).as_deref(), Some("ana@laptop"));
    tmux.keys(&["p"]);
    tmux.wait_for("resumed by ana@laptop", PATIENCE);
    assert!(writer.state().paused.is_none());

    // The session completes in the other process: the watcher shows it.
    writer.run(status("TAS-2", TaskStatus::Completed));
    writer.run(status("TAS-3", TaskStatus::Completed));
    writer.run(Command::CompleteSession {
        summary: Some("Parser done".into()),
    });
    let screen = tmux.wait_for("session completed", PATIENCE);
    assert!(screen.contains("│ complete"), "{screen}");
    assert!(screen.contains("completed (3)"), "{screen}");
    assert!(
        screen.contains("message from ana@laptop: Please keep the grammar in one file"),
        "{screen}"
    );

    // One Ctrl+C (a watcher has no agent to stop) leaves a clean terminal.
    tmux.keys(&["C-c"]);
    let screen = tmux.wait_for("EXITED 0", PATIENCE);
    assert!(
        !screen.contains("Tasks ("),
        "the interface is still on screen:\n{screen}"
    );
}

#[test]
fn watch_follows_a_sqlite_session_written_by_another_process() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(&dir.join(".iteratr")).unwrap());
    let writer = Writer::open(rt, log);
    let watch = format!("{} watch --session demo", crate::common::bin());
    follow("watch-sqlite", &writer, dir, &watch);
}

#[test]
fn watch_follows_a_jetstream_session_written_by_another_process() {
    let server = crate::common::nats::NatsServer::start();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = rt
        .block_on(NatsLog::connect(&NatsOptions::new(server.url())))
        .unwrap();
    let writer = Writer::open(rt, Arc::new(log));
    let watch = format!(
        "{} --nats-url {} watch --session demo",
        crate::common::bin(),
        server.url()
    );
    follow("watch-jetstream", &writer, dir, &watch);
    assert!(
        !dir.join(".iteratr/iteratr.db").exists(),
        "the watcher read JetStream, not a local SQLite store"
    );
}

#[test]
fn watch_answers_the_question_of_a_headless_build() {
    use crate::common::fake_agent::script::{Script, Turn};
    use crate::common::project::{self, Project};

    let p = Project::new(Script::turns([
        Turn::of([project::ask_database(), project::summary("planned")]),
        project::complete_all(),
    ]));
    let build = p
        .command(&["--headless", "--question-wait", "1m"])
        .spawn()
        .unwrap();
    p.wait_for_question(1);
    let tmux = Tmux::start(
        "watch-question",
        p.path(),
        &["USER=ana".into(), "ITERATR_HOST=laptop".into()],
        &format!(
            "{} watch --session demo; echo EXITED $?; sleep 600",
            crate::common::bin()
        ),
    );
    let screen = tmux.wait_for("The agent asks · Q-1", PATIENCE);
    assert!(screen.contains("› 1 ( ) Postgres"), "{screen}");
    assert!(p.questions_asked().is_empty(), "the agent waits");
    // The cursor to the second choice, space picks it, then the person's words; Enter sends.
    tmux.keys(&["Down"]);
    tmux.wait_for("› 2 ( ) SQLite", PATIENCE);
    tmux.keys(&["Space"]);
    tmux.wait_for("› 2 (•) SQLite", PATIENCE);
    tmux.keys(&["-l", "from the watcher"]);
    tmux.wait_for("› Your words: from the watcher", PATIENCE);
    tmux.keys(&["Enter"]);

    // The build's agent gets it as its tool's result; the log says who answered.
    let out = project::finish(build, std::time::Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", project::stdout(&out));
    let asked = p.questions_asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        asked[0].text,
        "Q-1 answered by ana@laptop:\n- Database: SQLite — from the watcher"
    );
    assert_eq!(p.status()["questions"][0]["answer"]["who"], "ana@laptop");
    let screen = tmux.wait_for(
        "Q-1 answered by ana@laptop: SQLite — from the watcher",
        PATIENCE,
    );
    assert!(!screen.contains("The agent asks"), "{screen}");
    tmux.keys(&["C-c"]);
    tmux.wait_for("EXITED 0", PATIENCE);
}
