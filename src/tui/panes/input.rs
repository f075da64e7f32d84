//! The input box: a message to the agent, a new task, a task's new text or a new note while it has
//! the focus; otherwise the last status message (or a hint), and the messages queued for the agent.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::frontend::Op;
use crate::session::{Command, NewTask, NoteType, limits, task_id};
use crate::tui::keys::Action;
use crate::tui::style::block;

/// What the text typed becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    Message,
    NewTask,
    EditTask(u64),
    NewNote(NoteType),
}

/// What a key did to the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InputKey {
    /// Still typing.
    Typed,
    /// Esc: the text is dropped.
    Cancelled,
    /// Enter: typing is over; `op` is what to ask (None when nothing was typed).
    Done {
        purpose: InputPurpose,
        op: Option<Op>,
    },
}

#[derive(Debug)]
pub(crate) struct InputPane {
    text: String,
    purpose: InputPurpose,
    /// The last thing worth telling the user, and whether it is a warning.
    status: Option<(String, bool)>,
    /// Messages people sent (and who) that the agent gets when its turn ends.
    queued: Vec<(String, String)>,
}

impl Default for InputPane {
    fn default() -> Self {
        InputPane {
            text: String::new(),
            purpose: InputPurpose::Message,
            status: None,
            queued: Vec::new(),
        }
    }
}

impl InputPane {
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn purpose(&self) -> InputPurpose {
        self.purpose
    }

    /// Starts typing for `purpose`, with `initial` text.
    pub(crate) fn start(&mut self, purpose: InputPurpose, initial: &str) {
        self.purpose = purpose;
        self.text = initial.to_string();
    }

    pub(crate) fn set_status(&mut self, status: Option<(String, bool)>) {
        self.status = status;
    }

    /// A user message reached the log: it is queued while the agent works, delivered otherwise.
    pub(crate) fn message_logged(&mut self, text: &str, who: &str, working: bool) {
        self.queued.retain(|(q, _)| q != text);
        if working {
            self.queued.push((text.to_string(), who.to_string()));
        }
    }

    /// A new iteration started: the agent got every queued message.
    pub(crate) fn messages_delivered(&mut self) {
        self.queued.clear();
    }

    /// A binding of the input box (the key table's): send, cancel, the next note type.
    pub(crate) fn on_action(&mut self, action: Action) -> InputKey {
        match action {
            Action::Cancel => {
                self.text.clear();
                return InputKey::Cancelled;
            }
            Action::Send => {
                let text = std::mem::take(&mut self.text).trim().to_string();
                let op = (!text.is_empty()).then(|| match self.purpose {
                    InputPurpose::Message => Op::Message(text),
                    InputPurpose::NewTask => {
                        Op::Session(Command::AddTasks(vec![NewTask::new(text)]))
                    }
                    InputPurpose::EditTask(id) => Op::Session(Command::EditTask {
                        task: task_id(id),
                        content: text,
                    }),
                    InputPurpose::NewNote(note_type) => Op::Session(Command::AddNote {
                        note_type,
                        content: text,
                    }),
                });
                return InputKey::Done {
                    purpose: self.purpose,
                    op,
                };
            }
            Action::NextNoteType => {
                if let InputPurpose::NewNote(t) = self.purpose {
                    let i = NoteType::ALL.iter().position(|x| *x == t).unwrap_or(0);
                    self.purpose =
                        InputPurpose::NewNote(NoteType::ALL[(i + 1) % NoteType::ALL.len()]);
                }
            }
            _ => {}
        }
        InputKey::Typed
    }

    /// Any other key while typing: text, or Backspace.
    pub(crate) fn type_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Char(c) if self.text.chars().count() < limits::MESSAGE_MAX => {
                self.text.push(c);
            }
            _ => {}
        }
    }

    pub(crate) fn draw(&self, frame: &mut Frame, area: Rect, focused: bool, read_only: bool) {
        let title = match self.purpose {
            _ if !focused => " Message ".to_string(),
            InputPurpose::Message => " Message to the agent (Enter sends, Esc leaves) ".to_string(),
            InputPurpose::NewTask => " New task (Enter adds, Esc cancels) ".to_string(),
            InputPurpose::EditTask(id) => {
                format!(" Edit {} (Enter saves, Esc cancels) ", task_id(id))
            }
            InputPurpose::NewNote(t) => {
                format!(" New {t} note (Tab changes the type, Enter adds) ")
            }
        };
        let b = block(title, focused);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        let hint = |text: &'static str| Line::styled(text, Style::default().fg(Color::DarkGray));
        let line = if !self.queued.is_empty() {
            let queued: Vec<String> = self
                .queued
                .iter()
                .map(|(text, who)| match who.trim() {
                    "" => text.clone(),
                    who => format!("{text} ({who})"),
                })
                .collect();
            Line::styled(
                format!("queued for the agent: {}", queued.join(" · ")),
                Style::default().fg(Color::Yellow),
            )
        } else if focused {
            let width = inner.width.saturating_sub(3) as usize;
            let chars: Vec<char> = self.text.chars().collect();
            let shown: String = chars[chars.len().saturating_sub(width)..].iter().collect();
            Line::from(vec![
                Span::styled("> ", Style::default().fg(Color::Cyan)),
                Span::raw(shown),
                Span::styled("▏", Style::default().fg(Color::Cyan)),
            ])
        } else if let Some((msg, warn)) = &self.status {
            Line::styled(
                msg.clone(),
                Style::default().fg(if *warn {
                    Color::Yellow
                } else {
                    Color::DarkGray
                }),
            )
        } else if read_only {
            hint("watching; press i to send the agent a message")
        } else {
            hint("press i to type to the agent, ? for keys")
        };
        frame.render_widget(Paragraph::new(vec![line]), inner);
    }
}
