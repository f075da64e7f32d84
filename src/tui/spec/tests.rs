//! The wizard's steps, driven by keys and by what the command layer tells it.

use std::sync::Arc;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::session::{Author, Command, Ctx, QuestionItem, decide};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn typed(w: &mut Wizard, text: &str) {
    for c in text.chars() {
        assert_eq!(w.on_key(key(KeyCode::Char(c))), None);
    }
}

fn screen(w: &Wizard) -> String {
    let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
    t.draw(|f| w.draw(f)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn asked(state: &mut SessionState) -> EventKind {
    let cmd = Command::AskQuestions {
        items: vec![QuestionItem {
            header: "Storage".into(),
            question: "Where do todos live?".into(),
            choices: vec![
                crate::session::Choice {
                    label: "A file".into(),
                    description: String::new(),
                },
                crate::session::Choice {
                    label: "SQLite".into(),
                    description: String::new(),
                },
            ],
            multiple: false,
        }],
        worker: None,
    };
    let events = decide(
        state,
        &cmd,
        Ctx {
            now_ms: 1,
            by: Author::Agent,
        },
    )
    .unwrap();
    let kind = events[0].kind.clone();
    for e in events {
        let seq = state.last_seq + 1;
        state.apply(seq, &e);
    }
    kind
}

#[test]
fn title_description_interview_review_and_back() {
    let (mut w, first) = Wizard::new(WizardSetup::default());
    assert_eq!(first, None);
    assert!(screen(&w).contains("What is the spec called?"));
    // No title: Enter says so.
    assert_eq!(w.on_key(key(KeyCode::Enter)), None);
    assert_eq!(w.message.as_deref(), Some("the spec needs a title"));
    typed(&mut w, "Todo CLI");
    assert_eq!(w.on_key(key(KeyCode::Enter)), None);
    assert_eq!(w.step(), Step::Description);
    // Esc goes back a step, and forward again keeps what was typed.
    w.on_key(key(KeyCode::Esc));
    assert_eq!(w.step(), Step::Title);
    w.on_key(key(KeyCode::Enter));
    typed(&mut w, "Keep todos");
    assert_eq!(
        w.on_key(key(KeyCode::Enter)),
        Some(WizardOut::Interview {
            title: "Todo CLI".into(),
            description: "Keep todos".into()
        })
    );
    assert_eq!(w.step(), Step::Interview);

    // The agent asks: the question window shows, and picking a choice answers it.
    let mut state = SessionState::default();
    let kind = asked(&mut state);
    w.on_in(WizardIn::State(Arc::new(state), Some(kind)));
    let s = screen(&w);
    assert!(s.contains("Where do todos live?"), "{s}");
    assert_eq!(w.on_key(key(KeyCode::Char('2'))), None);
    match w.on_key(key(KeyCode::Enter)) {
        Some(WizardOut::Answer(1, answers)) => assert_eq!(answers[0].chosen, ["SQLite"]),
        other => panic!("{other:?}"),
    }

    // The spec arrives: the review shows it; s saves; an existing file is asked about.
    w.on_in(WizardIn::Spec(
        "# Todo CLI\n\n## Tasks\n- [ ] [high] Parse\n".into(),
    ));
    assert_eq!(w.step(), Step::Review);
    assert!(screen(&w).contains("Parse"));
    // r starts the interview over, with the same title and description.
    assert!(matches!(
        w.on_key(key(KeyCode::Char('r'))),
        Some(WizardOut::Interview { .. })
    ));
    assert_eq!(w.step(), Step::Interview);
    w.on_in(WizardIn::Spec(
        "# Todo CLI\n\n## Tasks\n- [ ] [high] Parse\n".into(),
    ));
    let save = w.on_key(key(KeyCode::Char('s')));
    assert!(
        matches!(
            save,
            Some(WizardOut::Save {
                overwrite: false,
                ..
            })
        ),
        "{save:?}"
    );
    w.on_in(WizardIn::Exists("specs/todo-cli.md".into()));
    assert!(screen(&w).contains("specs/todo-cli.md exists already. Overwrite it?"));
    assert_eq!(w.on_key(key(KeyCode::Char('n'))), None);
    assert_eq!(w.step(), Step::Review);
    w.on_key(key(KeyCode::Char('s')));
    w.on_in(WizardIn::Exists("specs/todo-cli.md".into()));
    assert!(matches!(
        w.on_key(key(KeyCode::Char('y'))),
        Some(WizardOut::Save {
            overwrite: true,
            ..
        })
    ));
    w.on_in(WizardIn::Saved("saved".into(), "specs/todo-cli.md".into()));
    assert_eq!(w.step(), Step::Done);
    assert!(screen(&w).contains("b: build it now (iteratr build --spec specs/todo-cli.md)"));
    assert_eq!(w.on_key(key(KeyCode::Char('b'))), Some(WizardOut::Build));
}

#[test]
fn esc_in_the_interview_stops_it_and_ctrl_c_leaves() {
    let (mut w, first) = Wizard::new(WizardSetup {
        title: "Todo".into(),
        description: "todos".into(),
        ..WizardSetup::default()
    });
    assert!(matches!(first, Some(WizardOut::Interview { .. })));
    assert_eq!(w.on_key(key(KeyCode::Esc)), Some(WizardOut::StopInterview));
    assert_eq!(w.step(), Step::Description);
    assert_eq!(
        w.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(WizardOut::Quit)
    );
}

#[test]
fn a_refined_spec_is_reviewed_as_its_changes() {
    let (mut w, first) = Wizard::new(WizardSetup {
        title: "Todo".into(),
        existing: Some("# Todo\n\n- [ ] [high] Parse\n".into()),
        path: "specs/todo.md".into(),
        ..WizardSetup::default()
    });
    assert!(matches!(first, Some(WizardOut::Interview { .. })));
    w.on_in(WizardIn::Spec(
        "# Todo\n\n- [ ] [high] Parse\n- [ ] [low] Colours\n".into(),
    ));
    let s = screen(&w);
    assert!(s.contains("Changes to specs/todo.md"), "{s}");
    assert!(s.contains("+1 -0"), "{s}");
    assert!(s.contains("Colours"), "{s}");
    // Saving a refined spec overwrites it: that is what the review was for.
    assert!(matches!(
        w.on_key(key(KeyCode::Char('s'))),
        Some(WizardOut::Save {
            overwrite: true,
            ..
        })
    ));
}
