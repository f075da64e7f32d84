//! The full-screen interface on ratatui's TestBackend: snapshots of the dashboard (wide and
//! compact), the logs view and a task's details, and what every key does.

use std::time::Duration;

use iteratr::frontend::BuildEvent;
use iteratr::frontend::Op;
use iteratr::frontend::{AgentUpdate, Diff, ToolKind, ToolStatus};
use iteratr::session::{Author, Command, Ctx, NewTask, NoteType, SessionState, TaskStatus, decide};
use iteratr::tui::{App, Focus, InputPurpose, Overlay, View, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

/// Feeds the app the log events a short session produces, and some agent output.
fn app() -> App {
    let mut app = App::new("parser", false);
    app.set_clock(Duration::from_secs(754));
    app.set_git(Some(("main".into(), true)));
    let mut state = SessionState::default();
    let mut seq = 0;
    let mut run = |app: &mut App, cmd: Command| {
        for event in decide(
            &state,
            &cmd,
            Ctx {
                now_ms: 1_764_000_000_000,
                by: Author::Agent,
            },
        )
        .unwrap()
        {
            seq += 1;
            state.apply(seq, &event);
            app.on_build_event(BuildEvent::Log { seq, event });
        }
    };
    app.on_build_event(BuildEvent::AgentReady {
        name: "OpenCode".into(),
        version: "1.18.34".into(),
        http_mcp: true,
        sandboxed: false,
    });
    app.on_build_event(BuildEvent::ModelSelected {
        model: "fake/large".into(),
    });
    run(
        &mut app,
        Command::StartIteration {
            number: 1,
            planning: false,
            worker: None,
        },
    );
    app.on_build_event(BuildEvent::IterationStarted {
        iteration: 1,
        planning: false,
    });
    let mut lexer = NewTask::new("Write the lexer");
    lexer.priority = Some(4);
    let mut parser = NewTask::new("Write the parser");
    parser.depends_on = vec!["TAS-1".into()];
    run(
        &mut app,
        Command::AddTasks(vec![
            lexer,
            parser,
            NewTask::new("Document the grammar"),
            NewTask::new("Benchmark"),
        ]),
    );
    run(
        &mut app,
        Command::SetStatus {
            task: "TAS-1".into(),
            status: TaskStatus::InProgress,
        },
    );
    run(
        &mut app,
        Command::SetStatus {
            task: "TAS-4".into(),
            status: TaskStatus::Blocked,
        },
    );
    run(
        &mut app,
        Command::AddNote {
            note_type: NoteType::Decision,
            content: "Hand-written lexer, no generator".into(),
        },
    );
    run(
        &mut app,
        Command::AddNote {
            note_type: NoteType::Tip,
            content: "Run cargo test -q before committing".into(),
        },
    );
    for chunk in [
        "# Lexer\nI will start with **tokens** and `Span`s.\n",
        "- identifiers\n- numbers\n",
        "Now writing the fi",
    ] {
        app.on_build_event(BuildEvent::Agent {
            update: AgentUpdate::Text { text: chunk.into() },
        });
    }
    app.on_build_event(BuildEvent::Agent {
        update: AgentUpdate::Thought {
            text: "The grammar is LL(1).\nSo one token of lookahead.".into(),
        },
    });
    app.on_build_event(BuildEvent::Agent {
        update: AgentUpdate::ToolCall {
            id: "t1".into(),
            title: "iteratr_task-status".into(),
            kind: ToolKind::Other,
            status: ToolStatus::Pending,
            input: None,
        },
    });
    app.on_build_event(BuildEvent::Agent {
        update: AgentUpdate::ToolUpdate {
            id: "t1".into(),
            title: None,
            status: Some(ToolStatus::Completed),
            output: "TAS-1 is now in_progress.".into(),
            diffs: vec![],
        },
    });
    app.on_build_event(BuildEvent::Agent {
        update: AgentUpdate::ToolCall {
            id: "t2".into(),
            title: "Edit src/lexer.rs".into(),
            kind: ToolKind::Edit,
            status: ToolStatus::InProgress,
            input: None,
        },
    });
    app.on_build_event(BuildEvent::Agent {
        update: AgentUpdate::ToolUpdate {
            id: "t2".into(),
            title: None,
            status: Some(ToolStatus::Completed),
            output: String::new(),
            diffs: vec![Diff {
                path: "src/lexer.rs".into(),
                old: Some("fn lex() {}\n// end\n".into()),
                new: "fn lex() {\n    todo!()\n}\n// end\n".into(),
            }],
        },
    });
    app
}

pub(crate) fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, app)).unwrap();
    terminal.backend().to_string()
}

pub(crate) fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

#[test]
fn dashboard_wide() {
    let mut app = app();
    insta::assert_snapshot!(render(&mut app, 120, 40));
}

#[test]
fn dashboard_compact() {
    let mut app = app();
    let screen = render(&mut app, 80, 24);
    assert!(
        !screen.contains("Tasks ("),
        "the sidebar is hidden below 100x25"
    );
    insta::assert_snapshot!(screen);
    // Ctrl+S shows it anyway.
    app.on_key(ctrl('s'));
    assert!(render(&mut app, 80, 24).contains("Tasks (4)"));
}

#[test]
fn logs_view() {
    let mut app = app();
    // A permission decision is an event of the log like any other.
    let seq = app.state().last_seq + 1;
    app.on_build_event(BuildEvent::Log {
        seq,
        event: iteratr::session::Event::new(
            1_764_000_000_000,
            Author::System,
            iteratr::session::EventKind::PermissionDecided {
                tool: "bash".into(),
                title: "rm -rf target".into(),
                decision: iteratr::session::PermissionDecision::DeniedByRule,
                rule: Some("bash*".into()),
            },
        ),
    });
    app.on_key(ctrl('l'));
    assert_eq!(app.view(), View::Logs);
    insta::assert_snapshot!(render(&mut app, 120, 30));
    app.on_key(ctrl('l'));
    assert_eq!(app.view(), View::Dashboard);
}

#[test]
fn task_detail() {
    let mut app = app();
    render(&mut app, 120, 40);
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Tasks);
    app.on_key(key(KeyCode::Enter));
    assert_eq!(
        app.overlay(),
        Overlay::Task(1),
        "the first listed task is the one in progress"
    );
    insta::assert_snapshot!(render(&mut app, 120, 40));
}

#[test]
fn keys_do_what_the_help_says() {
    let mut app = app();
    render(&mut app, 120, 40);

    // Typing a message produces the user-message command.
    assert_eq!(app.on_key(key(KeyCode::Char('i'))), None);
    assert_eq!(app.focus(), Focus::Input);
    for c in "use tabs".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    app.on_key(key(KeyCode::Backspace));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Op::Message("use tab".into()))
    );
    assert_eq!(app.focus(), Focus::Agent);
    // Esc leaves the input without sending.
    app.on_key(key(KeyCode::Char('i')));
    app.on_key(key(KeyCode::Char('x')));
    assert_eq!(app.on_key(key(KeyCode::Esc)), None);
    assert_eq!((app.focus(), app.input()), (Focus::Agent, ""));

    // Scrolling pauses following; End resumes it.
    app.on_key(key(KeyCode::Char('k')));
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.scroll(), 2);
    app.on_key(key(KeyCode::Char('j')));
    assert_eq!(app.scroll(), 1);
    app.on_key(key(KeyCode::PageUp));
    assert!(app.scroll() > 10);
    app.on_key(key(KeyCode::PageDown));
    app.on_key(key(KeyCode::End));
    assert_eq!(app.scroll(), 0);
    // Enter on the agent output expands tool output and thinking.
    app.on_key(key(KeyCode::Enter));
    assert!(app.expanded());

    // Tab cycles Agent → Tasks → Notes → Agent.
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Tasks);
    app.on_key(key(KeyCode::Char('j')));
    assert_eq!(app.task_selected(), 1);
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Char('k')));
    assert_eq!(app.task_selected(), 1);
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Notes);
    app.on_key(key(KeyCode::Enter));
    assert!(matches!(app.overlay(), Overlay::Note(_)));
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.overlay(), Overlay::None);
    // `a` on Notes adds a note; Tab changes its type.
    app.on_key(key(KeyCode::Char('a')));
    assert_eq!(app.purpose(), InputPurpose::NewNote(NoteType::Learning));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.purpose(), InputPurpose::NewNote(NoteType::Stuck));
    app.on_key(key(KeyCode::Char('x')));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Op::Session(Command::AddNote {
            note_type: NoteType::Stuck,
            content: "x".into()
        }))
    );
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Agent);

    // A task's details: next status, priority up and down, edit; `a` adds a task.
    app.on_key(key(KeyCode::Tab));
    app.select_task(0);
    app.on_key(key(KeyCode::Enter));
    assert_eq!(
        app.on_key(key(KeyCode::Char('s'))),
        Some(Op::Session(Command::SetStatus {
            task: "TAS-1".into(),
            status: TaskStatus::Completed
        }))
    );
    assert_eq!(
        app.on_key(key(KeyCode::Char('-'))),
        Some(Op::Session(Command::SetPriority {
            task: "TAS-1".into(),
            priority: 3
        }))
    );
    assert_eq!(
        app.on_key(key(KeyCode::Char('+'))),
        None,
        "already at the top priority"
    );
    app.on_key(key(KeyCode::Char('e')));
    assert_eq!(
        (app.focus(), app.input()),
        (Focus::Input, "Write the lexer")
    );
    app.on_key(key(KeyCode::Char('!')));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Op::Session(Command::EditTask {
            task: "TAS-1".into(),
            content: "Write the lexer!".into()
        }))
    );
    app.on_key(key(KeyCode::Char('a')));
    app.on_key(key(KeyCode::Char('z')));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Op::Session(Command::AddTasks(vec![NewTask::new("z")])))
    );

    // ? shows the keys; any key closes them.
    app.on_key(key(KeyCode::Char('?')));
    assert_eq!(app.overlay(), Overlay::Help);
    assert!(render(&mut app, 120, 40).contains("Keys (any key closes)"));
    app.on_key(key(KeyCode::Char('x')));
    assert_eq!(app.overlay(), Overlay::None);

    // Ctrl+S hides the sidebar at full size; Ctrl+L switches to the logs.
    app.on_key(ctrl('s'));
    assert!(!render(&mut app, 120, 40).contains("Tasks (4)"));
    app.on_key(ctrl('s'));

    // Ctrl+C stops the build first, then leaves.
    assert_eq!(app.on_key(ctrl('c')), Some(Op::Stop));
    assert_eq!(app.on_key(ctrl('c')), Some(Op::Leave));
}

#[test]
fn a_watcher_cannot_change_tasks_but_can_send_messages() {
    let mut app = App::new("s", true);
    let mut state = SessionState::default();
    for (seq, event) in decide(
        &state,
        &Command::AddTasks(vec![NewTask::new("t")]),
        Ctx {
            now_ms: 0,
            by: Author::Agent,
        },
    )
    .unwrap()
    .into_iter()
    .enumerate()
    {
        state.apply(seq as u64 + 1, &event);
        app.on_build_event(BuildEvent::Log {
            seq: seq as u64 + 1,
            event,
        });
    }
    render(&mut app, 120, 40);
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.on_key(key(KeyCode::Char('s'))), None);
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.on_key(key(KeyCode::Char('a'))), None);
    assert_ne!(app.focus(), Focus::Input);
    app.on_key(key(KeyCode::Char('i')));
    app.on_key(key(KeyCode::Char('h')));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Op::Message("h".into()))
    );
    // What the log records is narrated in the output, in the progress lines' words.
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("+ TAS-1 [p2] t"), "{screen}");
    // It runs no agent: Ctrl+C leaves at once.
    assert_eq!(app.on_key(ctrl('c')), Some(Op::Leave));
}

#[test]
fn the_mouse_focuses_opens_scrolls_and_switches_views() {
    let mut app = app();
    render(&mut app, 120, 40);
    let click = |app: &mut App, x: u16, y: u16| {
        app.on_mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Footer buttons.
    let logs = app.layout().buttons[1];
    click(&mut app, logs.x + 1, logs.y);
    assert_eq!(app.view(), View::Logs);
    let notes = app.layout().buttons[2];
    click(&mut app, notes.x + 1, notes.y);
    assert_eq!(app.view(), View::Notes);
    let dash = app.layout().buttons[0];
    click(&mut app, dash.x + 1, dash.y);
    assert_eq!(app.view(), View::Dashboard);
    render(&mut app, 120, 40);
    // A click on a task row opens it (row 0 is the "in progress" header, row 1 the task).
    let tasks = app.layout().tasks;
    click(&mut app, tasks.x + 2, tasks.y + 2);
    assert_eq!(
        (app.focus(), app.overlay()),
        (Focus::Tasks, Overlay::Task(1))
    );
    app.on_key(key(KeyCode::Esc));
    // A click on a note opens it (row 0 is the "tip" header, row 1 NOT-2).
    let notes = app.layout().notes;
    click(&mut app, notes.x + 2, notes.y + 2);
    assert_eq!(
        (app.focus(), app.overlay()),
        (Focus::Notes, Overlay::Note(2))
    );
    app.on_key(key(KeyCode::Esc));
    // The wheel scrolls what is under the pointer.
    let agent = app.layout().agent;
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: agent.x + 2,
        row: agent.y + 2,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.scroll(), 3);
    // A click on the input starts typing.
    let input = app.layout().input;
    click(&mut app, input.x + 2, input.y + 1);
    assert_eq!(app.focus(), Focus::Input);
}

#[test]
fn the_selected_note_stays_visible_in_a_long_list() {
    let mut app = App::new("many", false);
    let mut state = SessionState::default();
    let mut seq = 0;
    for i in 0..40 {
        let cmd = Command::AddNote {
            note_type: NoteType::Learning,
            content: format!("learned thing {i}"),
        };
        for event in decide(
            &state,
            &cmd,
            Ctx {
                now_ms: 0,
                by: Author::Agent,
            },
        )
        .unwrap()
        {
            seq += 1;
            state.apply(seq, &event);
            app.on_build_event(BuildEvent::Log { seq, event });
        }
    }
    render(&mut app, 120, 40);
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Notes);
    for _ in 0..39 {
        app.on_key(key(KeyCode::Char('j')));
    }
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("NOT-40 learned thing 39"), "{screen}");
    assert!(!screen.contains("NOT-1 learned thing 0 "), "{screen}");
}

#[test]
fn p_asks_for_a_pause_and_then_for_the_resumption() {
    let mut app = app();
    render(&mut app, 120, 40);
    assert_eq!(app.on_key(key(KeyCode::Char('p'))), Some(Op::Pause));
    // The pause comes back through the log, as from `iteratr pause` in another terminal.
    let seq = app.state().last_seq + 1;
    app.on_build_event(BuildEvent::Log {
        seq,
        event: iteratr::session::Event::new(
            0,
            Author::User,
            iteratr::session::EventKind::SessionPaused {
                who: "ana@laptop".into(),
            },
        ),
    });
    let screen = render(&mut app, 120, 40);
    // An iteration runs in this fixture: the loop stops after it. Who asked is shown.
    assert!(screen.contains("pausing after this"), "{screen}");
    assert!(
        screen.contains("pause requested by ana@laptop; p goes on"),
        "{screen}"
    );
    // A message from someone else while the agent works waits for the turn's end, with who.
    app.on_build_event(BuildEvent::Log {
        seq: seq + 1,
        event: iteratr::session::Event::new(
            0,
            Author::User,
            iteratr::session::EventKind::UserMessage {
                text: "use tabs".into(),
                who: "bo@desk".into(),
            },
        ),
    });
    let screen = render(&mut app, 120, 40);
    assert!(
        screen.contains("queued for the agent: use tabs (bo@desk)"),
        "{screen}"
    );
    assert_eq!(app.on_key(key(KeyCode::Char('p'))), Some(Op::Resume));
}

#[test]
fn the_status_bar_shows_what_the_agent_reported_it_used() {
    let mut app = app();
    let running = app.state().running_iteration().unwrap();
    let seq = app.state().last_seq + 1;
    app.on_build_event(BuildEvent::Log {
        seq,
        event: iteratr::session::Event::new(
            0,
            Author::System,
            iteratr::session::EventKind::IterationFinished {
                iteration: running,
                outcome: "end_turn".into(),
                detail: None,
                commit: None,
                usage: Some(iteratr::session::Usage {
                    input_tokens: 12_000,
                    output_tokens: 300,
                    cost: Some(0.42),
                    currency: Some("USD".into()),
                    ..Default::default()
                }),
                auto_allowed: 0,
            },
        ),
    });
    let screen = render(&mut app, 160, 40);
    assert!(screen.contains("12.3k tokens, 0.42 USD"), "{screen}");
}
