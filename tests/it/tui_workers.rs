//! The full-screen interface with `--workers`: a strip of workers (task, state, time), the focused
//! worker's output in the agent pane, and `w` to move the focus, on ratatui's TestBackend.

use iteratr::frontend::{AgentUpdate, BuildEvent, WorkerPhase};
use iteratr::session::{Author, Event, EventKind, TaskStatus};
use iteratr::tui::App;
use ratatui::crossterm::event::KeyCode;

use super::tui::{key, render};

fn from(worker: &str, event: BuildEvent) -> BuildEvent {
    BuildEvent::Worker {
        worker: worker.into(),
        event: Box::new(event),
    }
}

fn said(worker: &str, text: &str) -> BuildEvent {
    from(
        worker,
        BuildEvent::Agent {
            update: AgentUpdate::Text {
                text: format!("{text}\n"),
            },
        },
    )
}

#[test]
fn the_strip_shows_every_worker_and_w_moves_the_focus() {
    let mut app = App::new("demo", false);
    let mut seq = 0;
    let mut log = |app: &mut App, kind: EventKind| {
        seq += 1;
        app.on_build_event(BuildEvent::Log {
            seq,
            event: Event::new(1_764_000_000_000, Author::System, kind),
        });
    };
    // The strip reads claims from the session, so the tasks exist first, as in any real log.
    for task in [1, 2] {
        log(
            &mut app,
            EventKind::TaskAdded {
                task,
                content: format!("task {task}"),
                status: TaskStatus::Remaining,
                priority: 2,
                depends_on: vec![],
            },
        );
    }
    for (worker, task) in [("w1", 1), ("w2", 2)] {
        app.on_build_event(from(
            worker,
            BuildEvent::IterationStarted {
                iteration: task as u32,
                planning: false,
            },
        ));
        log(
            &mut app,
            EventKind::TaskClaimed {
                task,
                worker: worker.into(),
                ttl_ms: 120_000,
            },
        );
    }
    app.on_build_event(said("w1", "first worker writes the lexer"));
    app.on_build_event(said("w2", "second worker writes the parser"));
    app.on_build_event(from(
        "w2",
        BuildEvent::Phase {
            phase: WorkerPhase::Integrating,
            message: "TAS-2: rebasing onto main (0123456789ab)".into(),
        },
    ));
    // The strip follows the typed phase, never the wording of what a worker says.
    app.on_build_event(from(
        "w1",
        BuildEvent::Info {
            message: "waiting for a task; stopped: rebasing onto main".into(),
        },
    ));
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("w1 TAS-1 working 0:00"), "{screen}");
    assert!(screen.contains("w2 TAS-2 integrating 0:00"), "{screen}");
    assert!(screen.contains("first worker writes the lexer"), "{screen}");
    assert!(!screen.contains("second worker"), "{screen}");
    assert_eq!(app.workers().focus(), Some("w1"));

    app.on_key(key(KeyCode::Char('w')));
    let screen = render(&mut app, 120, 30);
    assert_eq!(app.workers().focus(), Some("w2"));
    assert!(
        screen.contains("second worker writes the parser"),
        "{screen}"
    );
    assert!(!screen.contains("first worker"), "{screen}");
    // Output that arrives for the worker out of focus is kept for when it comes back.
    app.on_build_event(said("w1", "lexer done"));
    app.on_key(key(KeyCode::Char('w')));
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("lexer done"), "{screen}");
    // A released claim clears the worker's task.
    log(
        &mut app,
        EventKind::TaskUnclaimed {
            task: 1,
            worker: "w1".into(),
            expired: false,
            reason: "integrated as 0123456789ab".into(),
        },
    );
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("w1 idle"), "{screen}");
    // A worker's end shows in the strip; the build itself goes on.
    app.on_build_event(from(
        "w2",
        BuildEvent::Phase {
            phase: WorkerPhase::Stopped,
            message: "stopped: every task is integrated".into(),
        },
    ));
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("w2 TAS-2 stopped"), "{screen}");
    let status_bar = screen.lines().find(|l| l.contains("iteratr │")).unwrap();
    assert!(
        status_bar.contains("working") && !status_bar.contains("complete"),
        "{screen}"
    );
}
