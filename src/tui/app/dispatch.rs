//! The app's keys: each press is looked up in the key table (`tui/keys.rs`) for where the keys go
//! now, and the action it names is carried out here or by the component it is for.

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use super::{App, Focus, View};
use crate::frontend::{Answer, Op};
use crate::session::NoteType;
use crate::session::text::clip;
use crate::tui::keys::{self, Action, Scope};
use crate::tui::overlays::Overlay;
use crate::tui::overlays::task::{self, TaskKey};
use crate::tui::panes::ListKey;
use crate::tui::panes::input::{InputKey, InputPurpose};

impl App {
    /// Where the keys go now (after those of [`Scope::Anywhere`]).
    pub(super) fn key_scope(&self) -> Scope {
        if self.approval.waiting() && self.focus != Focus::Input {
            return Scope::Approval;
        }
        if self.focus == Focus::Input {
            return Scope::Input;
        }
        if self.question.shown().is_some() {
            return if self.question.typing(&self.state) {
                Scope::QuestionText
            } else {
                Scope::Question
            };
        }
        match self.overlay {
            Overlay::Help => Scope::Help,
            Overlay::Task(_) => Scope::Task,
            Overlay::Note(_) => Scope::Note,
            Overlay::None => Scope::Main,
        }
    }

    /// Handles a key press, as the key table says; returns what the outside world must do.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Op> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let scope = self.key_scope();
        let Some(action) = keys::action(scope, &key) else {
            // Typing: what is not a binding of the input box, or of the question window, is text.
            match scope {
                Scope::Input => self.input.type_key(key),
                Scope::Question | Scope::QuestionText => self.question.type_key(key, &self.state),
                _ => {}
            }
            return None;
        };
        match action {
            Action::Quit => {
                // A watcher (read-only) runs no agent: nothing to stop first.
                if self.quitting || self.info.finished.is_some() || self.read_only {
                    return Some(Op::Leave);
                }
                self.quitting = true;
                self.set_status_message(
                    "stopping the agent… (Ctrl+C again to leave at once)".into(),
                    true,
                );
                return Some(Op::Stop);
            }
            Action::ToggleLogs => {
                self.view = if self.view == View::Logs {
                    View::Dashboard
                } else {
                    View::Logs
                };
            }
            Action::ToggleSidebar => self.sidebar = Some(!self.sidebar_shown()),
            Action::Answer(answer) => return self.answer(answer),
            Action::Send | Action::Cancel | Action::NextNoteType => return self.input_key(action),
            _ => match scope {
                Scope::Question | Scope::QuestionText => {
                    return self.question.on_action(action, &self.state);
                }
                Scope::Help | Scope::Note => self.overlay = Overlay::None,
                Scope::Task => {
                    if let Overlay::Task(id) = self.overlay {
                        return self.task_key(id, action);
                    }
                }
                _ => return self.main_key(action),
            },
        }
        None
    }

    /// A key on the dashboard (or the logs or notes view) with no window open.
    fn main_key(&mut self, action: Action) -> Option<Op> {
        match action {
            Action::ShowHelp => self.overlay = Overlay::Help,
            Action::OpenQuestion => {
                if !self.question.reopen() {
                    self.set_status_message("no question of the agent waits".into(), false);
                }
            }
            Action::NextWorker if self.workers.shown() => self.workers.cycle(&mut self.agent),
            Action::Message => self.start_input(InputPurpose::Message, ""),
            Action::AskStop if self.info.finished.is_none() => {
                return Some(Op::AskStop { now: false });
            }
            Action::Pause if self.info.finished.is_none() => {
                return Some(if self.state.paused.is_some() {
                    Op::Resume
                } else {
                    Op::Pause
                });
            }
            Action::FocusNext => {
                self.focus = match self.focus {
                    Focus::Agent => Focus::Tasks,
                    Focus::Tasks => Focus::Notes,
                    _ => Focus::Agent,
                };
                if self.focus != Focus::Agent && !self.sidebar_shown() {
                    self.sidebar = Some(true);
                }
            }
            Action::FocusPrevious => {
                self.focus = match self.focus {
                    Focus::Agent => Focus::Notes,
                    Focus::Notes => Focus::Tasks,
                    _ => Focus::Agent,
                };
            }
            Action::Close => {
                self.view = View::Dashboard;
                self.focus = Focus::Agent;
            }
            Action::Leave if self.info.finished.is_some() => return Some(Op::Leave),
            Action::Add if self.focus == Focus::Tasks && !self.read_only => {
                self.start_input(InputPurpose::NewTask, "")
            }
            Action::Add if self.focus == Focus::Notes && !self.read_only => {
                self.start_input(InputPurpose::NewNote(NoteType::Learning), "")
            }
            action => self.navigate(action),
        }
        None
    }

    /// Moving keys: in the logs view they scroll the log; on a list they move its selection;
    /// otherwise (and for the keys a list does not take) they scroll the agent output.
    fn navigate(&mut self, action: Action) {
        let page = self.layout.page();
        if self.view == View::Logs {
            self.logs.on_key(action, page);
            return;
        }
        let outcome = match self.focus {
            Focus::Tasks => self.tasks.on_key(action, &self.state),
            Focus::Notes => self.notes.on_key(action, &self.state),
            _ => ListKey::Ignored,
        };
        match (self.focus, outcome) {
            (_, ListKey::Ignored) => {
                self.agent.on_key(action, page, self.focus == Focus::Agent);
            }
            (_, ListKey::Used) => {}
            (Focus::Notes, ListKey::Open(id)) => self.overlay = Overlay::Note(id),
            (_, ListKey::Open(id)) => self.overlay = Overlay::Task(id),
        }
    }

    fn input_key(&mut self, action: Action) -> Option<Op> {
        match self.input.on_action(action) {
            InputKey::Typed => None,
            InputKey::Cancelled => {
                self.focus = Focus::Agent;
                None
            }
            InputKey::Done { purpose, op } => {
                self.focus = match purpose {
                    InputPurpose::NewTask | InputPurpose::EditTask(_) => Focus::Tasks,
                    InputPurpose::NewNote(_) => Focus::Notes,
                    InputPurpose::Message => Focus::Agent,
                };
                let op = op?;
                if matches!(op, Op::Message(_)) && self.info.working {
                    self.set_status_message(
                        "message queued: the agent gets it when its turn ends".into(),
                        false,
                    );
                }
                Some(op)
            }
        }
    }

    fn task_key(&mut self, id: u64, action: Action) -> Option<Op> {
        let Some(t) = self.state.tasks.get(&id) else {
            self.overlay = Overlay::None;
            return None;
        };
        match task::on_action(action, t, self.read_only) {
            TaskKey::Nothing => None,
            TaskKey::Close => {
                self.overlay = Overlay::None;
                None
            }
            TaskKey::Run(command) => Some(Op::Session(command)),
            TaskKey::Edit => {
                let content = t.content.clone();
                self.overlay = Overlay::None;
                self.start_input(InputPurpose::EditTask(id), &content);
                None
            }
        }
    }

    /// Answers the oldest waiting permission request: here, the build's; watching, the one the
    /// session's log holds for it (`P-n`), which its build hands to the agent.
    pub(super) fn answer(&mut self, answer: Answer) -> Option<Op> {
        let ask = self.approval.answer()?;
        if !self.approval.waiting() {
            self.input.set_status(None);
        }
        if !self.read_only {
            return Some(Op::Answer(ask.id, answer));
        }
        let (tool, title) = (clip(&ask.tool, 200), clip(&ask.title, 500));
        let waiting = &self.state.permissions.waiting;
        match waiting
            .iter()
            .find(|(_, w)| w.tool == tool && w.title == title)
        {
            Some((request, _)) => Some(Op::AnswerRequest(*request, answer)),
            None => {
                self.input.set_status(Some((
                    "that request is not in the session log (answered already, or its turn ended)"
                        .into(),
                    true,
                )));
                None
            }
        }
    }
}
