//! Every key binding of the interface, once: which keys, where they apply, what they do and the
//! line of help that tells it. The app dispatches a key press by looking it up here
//! ([`action`]) and the help window (`?`) draws the same table, so a binding cannot exist in one
//! and be missing from the other (a unit test checks that every binding is reachable and told).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::frontend::Answer;

/// Where a binding applies. Keys of [`Scope::Anywhere`] come first, whatever has the keys;
/// otherwise the one scope that has them now: a waiting permission request (unless typing), the
/// input box while typing, the agent's question (unless put aside), an open window, or the
/// dashboard and its views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Anywhere,
    /// A permission request waits (and the user is not typing).
    Approval,
    /// Typing in the input box.
    Input,
    /// The question window is open, its cursor on a choice.
    Question,
    /// The question window is open, its cursor on the answer in words (what is not a binding is
    /// typed there).
    QuestionText,
    /// The keys window is open.
    Help,
    /// A task's details are open.
    Task,
    /// A note is open.
    Note,
    /// The dashboard, the logs and notes views, with no window open.
    Main,
}

/// What a key asks for; the app (and the component it is for) carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ctrl+C: stop the agent, then leave.
    Quit,
    /// After the build ended: leave.
    Leave,
    ToggleLogs,
    ToggleSidebar,
    ShowHelp,
    NextWorker,
    FocusNext,
    FocusPrevious,
    /// Start typing a message to the agent.
    Message,
    Pause,
    /// Ask the build to end after the iteration that runs.
    AskStop,
    /// Add a task (on Tasks) or a note (on Notes).
    Add,
    Up,
    Down,
    PageUp,
    PageDown,
    /// Scroll to the top of the output.
    Top,
    /// Follow the output again.
    Follow,
    /// Expand the output, or open the selected task or note.
    Open,
    /// Back to the dashboard, or close a window.
    Close,
    // In a task's details.
    NextStatus,
    PriorityUp,
    PriorityDown,
    Edit,
    // In the input box.
    Send,
    Cancel,
    NextNoteType,
    /// A permission request's answer.
    Answer(Answer),
    // In the question window (↑/↓ move with `Up`/`Down`).
    /// Pick choice N (1-9) of the question shown.
    PickNumber(u8),
    /// Pick the choice under the cursor.
    Pick,
    NextItem,
    PreviousItem,
    /// Send the answer.
    SendAnswer,
    /// Put the window aside (the question still waits).
    PutAside,
    /// Open the window of the waiting question again.
    OpenQuestion,
}

/// A key as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    /// A key with Ctrl held.
    Ctrl(char),
    /// A key, whatever modifiers are held (as a terminal reports them).
    Code(KeyCode),
    /// Any key at all.
    Any,
}

impl Key {
    fn matches(self, event: &KeyEvent) -> bool {
        match self {
            Key::Ctrl(c) => {
                event.modifiers.contains(KeyModifiers::CONTROL) && event.code == KeyCode::Char(c)
            }
            Key::Code(code) => event.code == code,
            Key::Any => true,
        }
    }

    /// How the help names the key.
    pub(super) fn name(self) -> String {
        match self {
            Key::Ctrl(c) => format!("Ctrl+{}", c.to_ascii_uppercase()),
            Key::Code(KeyCode::Char(' ')) => "space".into(),
            Key::Code(KeyCode::Char(c)) => c.to_string(),
            Key::Code(KeyCode::Up) => "↑".into(),
            Key::Code(KeyCode::Down) => "↓".into(),
            Key::Code(KeyCode::PageUp) => "PgUp".into(),
            Key::Code(KeyCode::PageDown) => "PgDn".into(),
            Key::Code(KeyCode::BackTab) => "Shift+Tab".into(),
            Key::Code(KeyCode::Tab) => "Tab".into(),
            Key::Code(KeyCode::Enter) => "Enter".into(),
            Key::Code(KeyCode::Esc) => "Esc".into(),
            Key::Code(KeyCode::Home) => "Home".into(),
            Key::Code(KeyCode::End) => "End".into(),
            Key::Code(code) => code.to_string(),
            Key::Any => "any".into(),
        }
    }

    /// A press of the key (for tests).
    #[cfg(test)]
    pub(crate) fn event(self) -> KeyEvent {
        match self {
            Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            Key::Code(code) => KeyEvent::new(code, KeyModifiers::NONE),
            Key::Any => KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE),
        }
    }
}

/// One key doing one thing in one scope.
#[derive(Debug, Clone, Copy)]
pub(super) struct Binding {
    pub key: Key,
    pub scope: Scope,
    pub action: Action,
}

/// One line of the help and the bindings it tells about (each key is named in the line).
#[derive(Debug)]
pub(super) struct Entry {
    pub keys: &'static str,
    pub help: &'static str,
    pub bindings: &'static [Binding],
}

const fn b(key: Key, scope: Scope, action: Action) -> Binding {
    Binding { key, scope, action }
}

const fn ch(c: char) -> Key {
    Key::Code(KeyCode::Char(c))
}

use Action as A;
use Key::Code as K;
use Scope as S;

/// The bindings, in the order the help shows them. Within a scope the first match wins.
pub(super) const TABLE: &[Entry] = &[
    Entry {
        keys: "Ctrl+C",
        help: "stop the agent and quit (twice: at once); after the end q leaves too",
        bindings: &[
            b(Key::Ctrl('c'), S::Anywhere, A::Quit),
            b(ch('q'), S::Main, A::Leave),
        ],
    },
    Entry {
        keys: "Ctrl+L",
        help: "session log view (again: back)",
        bindings: &[b(Key::Ctrl('l'), S::Anywhere, A::ToggleLogs)],
    },
    Entry {
        keys: "Ctrl+S",
        help: "show or hide the sidebar",
        bindings: &[b(Key::Ctrl('s'), S::Anywhere, A::ToggleSidebar)],
    },
    Entry {
        keys: "w",
        help: "with --workers: show the next worker's output",
        bindings: &[b(ch('w'), S::Main, A::NextWorker)],
    },
    Entry {
        keys: "Tab",
        help: "cycle Agent → Tasks → Notes (Shift+Tab: backwards)",
        bindings: &[
            b(K(KeyCode::Tab), S::Main, A::FocusNext),
            b(K(KeyCode::BackTab), S::Main, A::FocusPrevious),
        ],
    },
    Entry {
        keys: "i",
        help: "type a message to the agent; Enter sends, Esc leaves",
        bindings: &[
            b(ch('i'), S::Main, A::Message),
            b(K(KeyCode::Enter), S::Input, A::Send),
            b(K(KeyCode::Esc), S::Input, A::Cancel),
        ],
    },
    Entry {
        keys: "p",
        help: "pause after this iteration (again: go on); iteratr pause/resume do the same",
        bindings: &[b(ch('p'), S::Main, A::Pause)],
    },
    Entry {
        keys: "S",
        help: "end the build after this iteration (also when watching); iteratr stop does the same",
        bindings: &[b(ch('S'), S::Main, A::AskStop)],
    },
    Entry {
        keys: "j/k ↑/↓",
        help: "scroll the output, move in lists",
        bindings: &[
            b(ch('j'), S::Main, A::Down),
            b(K(KeyCode::Down), S::Main, A::Down),
            b(ch('k'), S::Main, A::Up),
            b(K(KeyCode::Up), S::Main, A::Up),
        ],
    },
    Entry {
        keys: "PgUp/PgDn",
        help: "scroll a page; End follows the output again, Home goes to its top",
        bindings: &[
            b(K(KeyCode::PageUp), S::Main, A::PageUp),
            b(K(KeyCode::PageDown), S::Main, A::PageDown),
            b(K(KeyCode::End), S::Main, A::Follow),
            b(K(KeyCode::Home), S::Main, A::Top),
        ],
    },
    Entry {
        keys: "Enter/space",
        help: "on Agent: expand tool output and thinking; on a task or note: details",
        bindings: &[
            b(K(KeyCode::Enter), S::Main, A::Open),
            b(ch(' '), S::Main, A::Open),
        ],
    },
    Entry {
        keys: "a",
        help: "on Tasks: add a task; on Notes: add a note (Tab: its type)",
        bindings: &[
            b(ch('a'), S::Main, A::Add),
            b(K(KeyCode::Tab), S::Input, A::NextNoteType),
        ],
    },
    Entry {
        keys: "s + - e",
        help: "in a task's details: next status, priority up/down (= is + too), edit",
        bindings: &[
            b(ch('s'), S::Task, A::NextStatus),
            b(ch('+'), S::Task, A::PriorityUp),
            b(ch('='), S::Task, A::PriorityUp),
            b(ch('-'), S::Task, A::PriorityDown),
            b(ch('e'), S::Task, A::Edit),
        ],
    },
    Entry {
        keys: "y a n",
        help: "when the agent asks permission (--approve ask): allow once, always, deny",
        bindings: &[
            b(ch('y'), S::Approval, A::Answer(Answer::AllowOnce)),
            b(ch('a'), S::Approval, A::Answer(Answer::AllowAlways)),
            b(ch('n'), S::Approval, A::Answer(Answer::Deny)),
        ],
    },
    Entry {
        keys: "Q",
        help: "when the agent's question waits: open its window again (after Esc put it aside)",
        bindings: &[b(ch('Q'), S::Main, A::OpenQuestion)],
    },
    Entry {
        keys: "↑/↓ 1-9",
        help: "in a question: move, pick a choice (number or space; several if asked), type words",
        bindings: &[
            b(K(KeyCode::Up), S::Question, A::Up),
            b(K(KeyCode::Down), S::Question, A::Down),
            b(K(KeyCode::Up), S::QuestionText, A::Up),
            b(K(KeyCode::Down), S::QuestionText, A::Down),
            b(ch('1'), S::Question, A::PickNumber(1)),
            b(ch('2'), S::Question, A::PickNumber(2)),
            b(ch('3'), S::Question, A::PickNumber(3)),
            b(ch('4'), S::Question, A::PickNumber(4)),
            b(ch('5'), S::Question, A::PickNumber(5)),
            b(ch('6'), S::Question, A::PickNumber(6)),
            b(ch('7'), S::Question, A::PickNumber(7)),
            b(ch('8'), S::Question, A::PickNumber(8)),
            b(ch('9'), S::Question, A::PickNumber(9)),
            b(ch(' '), S::Question, A::Pick),
        ],
    },
    Entry {
        keys: "Enter Tab",
        help: "in a question: Enter sends; Tab the next question, Shift+Tab back; Esc puts it aside",
        bindings: &[
            b(K(KeyCode::Enter), S::Question, A::SendAnswer),
            b(K(KeyCode::Enter), S::QuestionText, A::SendAnswer),
            b(K(KeyCode::Tab), S::Question, A::NextItem),
            b(K(KeyCode::Tab), S::QuestionText, A::NextItem),
            b(K(KeyCode::BackTab), S::Question, A::PreviousItem),
            b(K(KeyCode::BackTab), S::QuestionText, A::PreviousItem),
            b(K(KeyCode::Esc), S::Question, A::PutAside),
            b(K(KeyCode::Esc), S::QuestionText, A::PutAside),
        ],
    },
    Entry {
        keys: "Esc",
        help: "back to the dashboard; closes a task or note (Enter and q too)",
        bindings: &[
            b(K(KeyCode::Esc), S::Main, A::Close),
            b(K(KeyCode::Esc), S::Task, A::Close),
            b(ch('q'), S::Task, A::Close),
            b(K(KeyCode::Enter), S::Task, A::Close),
            b(K(KeyCode::Esc), S::Note, A::Close),
            b(ch('q'), S::Note, A::Close),
            b(K(KeyCode::Enter), S::Note, A::Close),
        ],
    },
    Entry {
        keys: "?",
        help: "these keys (any key closes them)",
        bindings: &[
            b(ch('?'), S::Main, A::ShowHelp),
            b(Key::Any, S::Help, A::Close),
        ],
    },
];

/// The mouse, told after the keys.
pub(super) const MOUSE: (&str, &str) = (
    "mouse",
    "click a pane or an item, wheel scrolls, footer buttons switch views",
);

/// What `key` does in `scope`: a key of [`Scope::Anywhere`] first, then the scope's own. A
/// permission request's answers take upper case too.
pub(super) fn action(scope: Scope, key: &KeyEvent) -> Option<Action> {
    let mut key = *key;
    if scope == Scope::Approval
        && let KeyCode::Char(c) = key.code
    {
        key.code = KeyCode::Char(c.to_ascii_lowercase());
    }
    [Scope::Anywhere, scope].into_iter().find_map(|s| {
        bindings()
            .find(|b| b.scope == s && b.key.matches(&key))
            .map(|b| b.action)
    })
}

/// Every binding of the table.
pub(super) fn bindings() -> impl Iterator<Item = &'static Binding> {
    TABLE.iter().flat_map(|e| e.bindings.iter())
}

/// The name of the key that does `action` in `scope` (empty when none does).
pub(super) fn name_of(scope: Scope, action: Action) -> String {
    key_for(scope, action).map_or(String::new(), Key::name)
}

/// The key that does `action` in `scope` (how a window names its buttons).
pub(super) fn key_for(scope: Scope, action: Action) -> Option<Key> {
    bindings()
        .find(|b| b.scope == scope && b.action == action)
        .map(|b| b.key)
}
