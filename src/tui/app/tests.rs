//! The permission window through the app: what it shows, and keys and clicks answering in order.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use serde_json::json;

use super::{App, Focus};
use crate::protocol::{AgentUpdate, Answer, Diff, Op, ToolKind};

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

fn screen(app: &mut App) -> String {
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
    app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(1) });
    let s = screen(&mut app);
    assert!(s.contains("The agent asks permission"), "{s}");
    assert!(s.contains("tool   bash"), "{s}");
    assert!(s.contains("call   rm -rf build"), "{s}");
    assert!(s.contains(r#""command": "rm -rf build""#), "{s}");
    assert!(s.contains("a Allow always (bash)"), "{s}");
    app.on_build_event(crate::protocol::BuildEvent::Agent {
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
    app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(1) });
    app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(2) });
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
    app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(3) });
    app.on_build_event(crate::protocol::BuildEvent::Agent {
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
