//! The question window through the app, as the person uses it: what it shows, the keys and
//! clicks that answer, putting it aside, several questions in turn, an answer refused.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::frontend::{BuildEvent, Op};
use crate::session::{Author, Choice, Event, EventKind, ItemAnswer, QuestionItem};
use crate::tui::App;
use crate::tui::app::tests::screen;

fn item(header: &str, choices: &[&str], multiple: bool) -> QuestionItem {
    QuestionItem {
        header: header.into(),
        question: format!("Which {header} should the service use?"),
        choices: choices
            .iter()
            .map(|c| Choice {
                label: c.to_string(),
                description: format!("{c} it is"),
            })
            .collect(),
        multiple,
    }
}

thread_local! {
    /// The last sequence number of this test's log.
    static SEQ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The next event of the session log.
fn log(kind: EventKind) -> BuildEvent {
    let seq = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    BuildEvent::Log {
        seq,
        event: Event::new(1_000 + seq as i64, Author::Agent, kind),
    }
}

/// The log event of question `id`, one item with these choices.
pub(crate) fn asked(id: u64, choices: &[&str], multiple: bool) -> BuildEvent {
    ask(id, vec![item("Database", choices, multiple)], None)
}

fn ask(id: u64, items: Vec<QuestionItem>, worker: Option<&str>) -> BuildEvent {
    let worker = worker.map(str::to_string);
    let kind = EventKind::QuestionAsked {
        question: id,
        items,
        worker,
    };
    log(kind)
}

fn answered(id: u64, answers: Vec<ItemAnswer>) -> BuildEvent {
    let who = "ana@laptop".to_string();
    let kind = EventKind::QuestionAnswered {
        question: id,
        answers,
        who,
    };
    log(kind)
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, code: KeyCode) -> Option<Op> {
    app.on_key(key(code))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(press(app, KeyCode::Char(c)), None, "{c}");
    }
}

fn chose(labels: &[&str], text: &str) -> ItemAnswer {
    ItemAnswer {
        chosen: labels.iter().map(|l| l.to_string()).collect(),
        text: text.into(),
    }
}

#[test]
fn the_window_shows_the_question_and_a_choice_and_words_answer_it() {
    let mut app = App::new("s", false);
    app.on_build_event(asked(1, &["Postgres", "SQLite"], false));
    let s = screen(&mut app);
    assert!(s.contains("The agent asks · Q-1"), "{s}");
    assert!(s.contains("Which Database should the service use?"), "{s}");
    assert!(s.contains("› 1 ( ) Postgres — Postgres it is"), "{s}");
    assert!(s.contains("  2 ( ) SQLite"), "{s}");
    assert!(
        s.contains("Your words: type to answer in your own words"),
        "{s}"
    );
    assert!(s.contains("Enter Send") && s.contains("Esc Later"), "{s}");
    // 2 picks the second choice; letters write the words (a digit there is a word's).
    assert_eq!(press(&mut app, KeyCode::Char('2')), None);
    assert!(screen(&mut app).contains("› 2 (•) SQLite"));
    typed(&mut app, "keep it small, 2 files");
    press(&mut app, KeyCode::Backspace);
    let s = screen(&mut app);
    assert!(s.contains("› Your words: keep it small, 2 file▏"), "{s}");
    assert!(s.contains("  2 (•) SQLite"), "{s}");
    // Enter sends both; the window goes at once, and the log's answer is told.
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Op::AnswerQuestion(
            1,
            vec![chose(&["SQLite"], "keep it small, 2 file")]
        ))
    );
    assert_eq!(app.question_shown(), None);
    assert!(!screen(&mut app).contains("The agent asks"));
    app.on_build_event(answered(1, vec![chose(&["SQLite"], "x")]));
    assert!(screen(&mut app).contains("Q-1 answered by ana@laptop"));
    // The keys are the dashboard's again.
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay(), crate::tui::Overlay::Help);
}

#[test]
fn enter_on_a_choice_picks_it_and_several_questions_need_an_answer_each() {
    let mut app = App::new("s", false);
    app.on_build_event(asked(1, &["Postgres", "SQLite"], false));
    press(&mut app, KeyCode::Down);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Op::AnswerQuestion(1, vec![chose(&["SQLite"], "")]))
    );
    // Two questions: their headers as tabs, one of them taking several choices.
    let items = vec![
        item("Database", &["Postgres", "SQLite"], false),
        item("Extras", &["Redis", "S3", "Kafka"], true),
    ];
    app.on_build_event(ask(2, items, Some("w2")));
    let s = screen(&mut app);
    assert!(s.contains("w2 asks · Q-2"), "{s}");
    assert!(s.contains(" Database   Extras "), "{s}");
    press(&mut app, KeyCode::Char('1'));
    press(&mut app, KeyCode::Tab);
    let s = screen(&mut app);
    assert!(s.contains(" Database ✓   Extras "), "{s}");
    assert!(s.contains("› 1 [ ] Redis"), "{s}");
    // Several picked with numbers and space; picking again takes one back.
    press(&mut app, KeyCode::Char('1'));
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('1'));
    let s = screen(&mut app);
    assert!(s.contains("1 [ ] Redis") && s.contains("[x] S3") && s.contains("[x] Kafka"));
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Op::AnswerQuestion(
            2,
            vec![chose(&["Postgres"], ""), chose(&["S3", "Kafka"], "")]
        ))
    );
    // An item left without an answer is shown, and nothing is sent.
    app.on_build_event(ask(
        3,
        vec![item("A", &[], false), item("B", &[], false)],
        None,
    ));
    typed(&mut app, "first");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(press(&mut app, KeyCode::Down), None);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    let s = screen(&mut app);
    assert!(s.contains("\"B\" needs an answer"), "{s}");
    typed(&mut app, "second");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Op::AnswerQuestion(
            3,
            vec![chose(&[], "first"), chose(&[], "second")]
        ))
    );
}

#[test]
fn esc_puts_it_aside_q_and_a_new_question_bring_it_back_oldest_first() {
    let mut app = App::new("s", false);
    app.on_build_event(ask(
        1,
        vec![item("Database", &["Postgres"], false)],
        Some("w1"),
    ));
    app.on_build_event(ask(2, vec![item("Port", &[], false)], Some("w2")));
    let s = screen(&mut app);
    assert!(s.contains("w1 asks · Q-1 · 1 more waiting"), "{s}");
    press(&mut app, KeyCode::Esc);
    let s = screen(&mut app);
    assert!(!s.contains("w1 asks"), "{s}");
    assert!(s.contains("Q-1 waits (Q answers)"), "{s}");
    // The dashboard has the keys meanwhile.
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay(), crate::tui::Overlay::Help);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('Q'));
    let s = screen(&mut app);
    assert!(s.contains("w1 asks · Q-1"), "{s}");
    assert!(!s.contains("Q-1 waits (Q answers)"), "{s}");
    // Answered elsewhere: the next one shows.
    press(&mut app, KeyCode::Esc);
    app.on_build_event(answered(1, vec![chose(&["Postgres"], "")]));
    assert_eq!(app.question_shown(), None, "still aside");
    assert!(screen(&mut app).contains("Q-2 waits (Q answers)"));
    // A new question brings the window back, with the oldest.
    app.on_build_event(ask(3, vec![item("Name", &[], false)], None));
    let s = screen(&mut app);
    assert!(s.contains("w2 asks · Q-2 · 1 more waiting"), "{s}");
    // Nothing waits: Q says so.
    let mut app = App::new("s", false);
    press(&mut app, KeyCode::Char('Q'));
    assert!(screen(&mut app).contains("no question of the agent waits"));
}

#[test]
fn an_answer_refused_comes_back_and_clicks_answer_too() {
    let mut app = App::new("s", true);
    app.on_build_event(asked(1, &["Postgres", "SQLite"], false));
    typed(&mut app, "why not");
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Op::AnswerQuestion(1, _))
    ));
    assert_eq!(app.question_shown(), None);
    app.refused("session demo: the store is read-only".into());
    assert_eq!(app.question_shown(), Some(1));
    let s = screen(&mut app);
    assert!(s.contains("Your words: why not"), "{s}");
    assert!(s.contains("the store is read-only"), "{s}");
    // A click on a choice picks it; on Send sends.
    let l = *app.layout();
    let click = |r: ratatui::layout::Rect| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: r.x + 2,
        row: r.y,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(app.on_mouse(click(l.question.rows[0])), None);
    assert_eq!(
        app.on_mouse(click(l.question.send)),
        Some(Op::AnswerQuestion(1, vec![chose(&["Postgres"], "why not")]))
    );
    // Clicks beneath the window do nothing while it shows; its Later button puts it aside.
    app.refused("again".into());
    screen(&mut app);
    let l = *app.layout();
    app.on_mouse(click(l.buttons[1]));
    assert_eq!(app.view(), crate::tui::View::Dashboard);
    app.on_mouse(click(l.question.aside));
    assert_eq!(app.question_shown(), None);
}
