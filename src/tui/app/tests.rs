//! The permission window through the app: what it shows, and keys and clicks answering in order.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use serde_json::json;

use super::{App, Focus};
use crate::frontend::{AgentUpdate, Answer, Diff, Op, ToolKind};

fn asked(id: u64) -> AgentUpdate {
    AgentUpdate::PermissionAsked {
        id,
        tool: "bash".into(),
        title: "rm -rf build".into(),
        kind: ToolKind::Execute,
        input: Some(json!({"command": "rm -rf build"})),
        diffs: vec![],
    }
}

/// What a 110x36 terminal shows of the app.
pub(crate) fn screen(app: &mut App) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(110, 36)).unwrap();
    terminal.draw(|f| crate::tui::draw(f, app)).unwrap();
    let buf = terminal.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

#[test]
fn the_window_shows_the_tool_its_arguments_or_its_diff() {
    let mut app = App::new("s", false);
    app.on_build_event(crate::frontend::BuildEvent::Agent { update: asked(1) });
    let s = screen(&mut app);
    assert!(s.contains("The agent asks permission"), "{s}");
    assert!(s.contains("tool   bash"), "{s}");
    assert!(s.contains("call   rm -rf build"), "{s}");
    assert!(s.contains(r#""command": "rm -rf build""#), "{s}");
    assert!(s.contains("a Allow always (bash)"), "{s}");
    app.on_build_event(crate::frontend::BuildEvent::Agent {
        update: AgentUpdate::PermissionAsked {
            id: 2,
            tool: "edit".into(),
            title: "src/lib.rs".into(),
            kind: ToolKind::Edit,
            input: Some(json!({"filePath": "src/lib.rs"})),
            diffs: vec![Diff {
                path: "src/lib.rs".into(),
                old: Some("fn a() {}\nfn b() {}\n".into()),
                new: "fn a() {}\nfn c() {}\n".into(),
            }],
        },
    });
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(
        app.on_key(key('A')),
        Some(Op::Answer(1, Answer::AllowAlways))
    );
    let s = screen(&mut app);
    assert!(
        s.contains("~ src/lib.rs") && s.contains("- fn b() {}") && s.contains("+ fn c() {}"),
        "{s}"
    );
    // The diff is shown instead of the arguments.
    assert!(!s.contains("filePath"), "{s}");
}

#[test]
fn keys_and_clicks_answer_in_order() {
    let mut app = App::new("s", false);
    app.on_build_event(crate::frontend::BuildEvent::Agent { update: asked(1) });
    app.on_build_event(crate::frontend::BuildEvent::Agent { update: asked(2) });
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    // Typing a message: the keys are the message's, not answers.
    app.focus = Focus::Input;
    assert_eq!(app.on_key(key('n')), None);
    assert_eq!(app.input(), "n");
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.on_key(key('x')), None);
    assert_eq!(app.on_key(key('y')), Some(Op::Answer(1, Answer::AllowOnce)));
    // The second is drawn; its "Deny" button answers it.
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| crate::tui::draw(f, &mut app)).unwrap();
    let deny = app.layout().approval[2];
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: deny.x + 1,
        row: deny.y,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(app.on_mouse(click), Some(Op::Answer(2, Answer::Deny)));
    assert!(!app.approval.waiting());
    // A request cancelled with the turn goes away by itself.
    app.on_build_event(crate::frontend::BuildEvent::Agent { update: asked(3) });
    app.on_build_event(crate::frontend::BuildEvent::Agent {
        update: AgentUpdate::Permission {
            id: 3,
            tool: "bash".into(),
            title: "rm -rf build".into(),
            decision: crate::session::PermissionDecision::Cancelled,
            rule: None,
            by_user: false,
        },
    });
    assert!(!app.approval.waiting());
}

/// Every binding of the key table: the app gets into its scope, the key there does the binding's
/// action (no binding shadows it), and the help window shows its line, which names the key.
#[test]
fn every_key_binding_is_reachable_and_told_in_the_help() {
    use crate::tui::keys::{self, Key, Scope};
    use crate::tui::overlays::Overlay;

    let in_scope = |scope: Scope| {
        let mut app = App::new("s", false);
        match scope {
            Scope::Anywhere | Scope::Main => {}
            Scope::Approval => {
                app.on_build_event(crate::frontend::BuildEvent::Agent { update: asked(1) })
            }
            Scope::Input => app.focus = Focus::Input,
            Scope::Question | Scope::QuestionText => {
                let ask = crate::tui::overlays::question::tests::asked(1, &["Postgres"], false);
                app.on_build_event(ask);
                if scope == Scope::QuestionText {
                    app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
                }
            }
            Scope::Help => app.overlay = Overlay::Help,
            Scope::Task => app.overlay = Overlay::Task(1),
            Scope::Note => app.overlay = Overlay::Note(1),
        }
        app
    };
    let mut help = App::new("s", false);
    help.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    assert_eq!(help.overlay(), Overlay::Help);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| crate::tui::draw(f, &mut help)).unwrap();
    let buf = terminal.backend().buffer().clone();
    let shown: Vec<String> = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect();
    let mut count = 0;
    for entry in keys::TABLE {
        assert!(!entry.bindings.is_empty(), "{entry:?}");
        let line = format!("{:<13}{}", entry.keys, entry.help);
        assert!(
            shown.iter().any(|l| l.contains(&line)),
            "the help shows {line:?}:\n{}",
            shown.join("\n")
        );
        let mut words: Vec<String> = line
            .split(|c: char| c.is_whitespace() || "/,;:()".contains(c))
            .map(str::to_string)
            .collect();
        // A range of keys ("1-9") names each of them.
        for range in words.clone() {
            if let [from, '-', to] = range.chars().collect::<Vec<_>>()[..] {
                words.extend((from..=to).map(String::from));
            }
        }
        for binding in entry.bindings {
            let app = in_scope(binding.scope);
            let scope = match binding.scope {
                Scope::Anywhere => app.key_scope(),
                s => {
                    assert_eq!(app.key_scope(), s);
                    s
                }
            };
            assert_eq!(
                keys::action(scope, &binding.key.event()),
                Some(binding.action),
                "{binding:?} is reachable"
            );
            let name = binding.key.name();
            assert!(
                words.contains(&name),
                "{binding:?}: the help line {line:?} names {name}"
            );
            if binding.key != Key::Any {
                count += 1;
            }
        }
    }
    assert!(count >= 30, "{count} bindings");
    assert!(shown.iter().any(|l| l.contains(keys::MOUSE.1)));
}

#[test]
fn the_status_bar_says_the_agent_runs_sandboxed() {
    let mut app = App::new("s", false);
    let ready = |sandboxed| crate::frontend::BuildEvent::AgentReady {
        name: "OpenCode".into(),
        version: "1.18.34".into(),
        http_mcp: true,
        sandboxed,
    };
    app.on_build_event(ready(false));
    let s = screen(&mut app);
    assert!(s.contains("OpenCode 1.18.34"), "{s}");
    assert!(!s.contains("sandboxed"), "{s}");
    app.on_build_event(ready(true));
    let s = screen(&mut app);
    assert!(s.contains("OpenCode 1.18.34 (sandboxed)"), "{s}");
    // A watcher knows it from the log.
    let mut watcher = App::new("s", true);
    let started = crate::session::Event::new(
        0,
        crate::session::Author::System,
        crate::session::EventKind::AgentStarted {
            name: "OpenCode".into(),
            version: "1.18.34".into(),
            http_mcp: true,
            sandboxed: true,
        },
    );
    watcher.on_build_event(crate::frontend::BuildEvent::Log {
        seq: 1,
        event: started,
    });
    let s = screen(&mut watcher);
    assert!(s.contains("OpenCode 1.18.34 (sandboxed)"), "{s}");
}
