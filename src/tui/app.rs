//! The TUI's state and what keys and mouse clicks do to it. Pure: no terminal, no I/O. It takes
//! build events in and hands [`Action`]s out; the event loop in `mod.rs` does the rest.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::transcript::Transcript;
use crate::protocol::{BuildEvent, iteration_ended};
use crate::session::{Command, Event, EventKind, NoteType, SessionState, TaskStatus};

/// Log events kept for the logs view.
pub const LOG_KEEP: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Agent,
    Tasks,
    Notes,
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Logs,
    Notes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Task(u64),
    Note(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    Message,
    NewTask,
    EditTask(u64),
    NewNote(NoteType),
}

/// What the app asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Stop the build cleanly (first Ctrl+C) and leave once it has stopped.
    Quit,
    /// Leave now (second Ctrl+C, or after the build ended).
    ForceQuit,
    /// Record a command in the session as the user.
    Run(Command),
    /// Answer the agent's permission request with this id.
    Approve(u64, crate::protocol::Answer),
}

/// Where things are on screen, computed from the terminal size (shared by drawing and the mouse).
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    pub status: Rect,
    pub agent: Rect,
    pub input: Rect,
    pub tasks: Rect,
    pub notes: Rect,
    pub footer: Rect,
    pub buttons: [Rect; 3],
    /// The buttons of a waiting permission request: allow once, allow always, deny.
    pub approval: [Rect; 3],
}

pub struct App {
    pub session: String,
    pub read_only: bool,
    pub state: SessionState,
    pub log: VecDeque<(u64, Event)>,
    pub transcript: Transcript,
    /// Permission requests waiting for an answer, oldest first.
    pub asks: VecDeque<super::approval::PendingAsk>,
    pub focus: Focus,
    pub view: View,
    pub overlay: Overlay,
    pub input: String,
    pub purpose: InputPurpose,
    /// None: automatic (hidden in compact mode); Some(shown) after Ctrl+S.
    pub sidebar: Option<bool>,
    pub task_sel: usize,
    pub note_sel: usize,
    /// Lines scrolled up from the bottom of the agent output; 0 = following.
    pub scroll: usize,
    pub log_scroll: usize,
    pub working: bool,
    pub iteration: Option<u32>,
    pub started: Instant,
    pub agent: String,
    pub model: Option<String>,
    pub git: Option<(String, bool)>,
    pub status_message: Option<(String, bool)>,
    pub finished: Option<String>,
    pub quitting: bool,
    pub queued: Vec<String>,
    pub spinner: usize,
    pub areas: Areas,
    /// A fixed elapsed time (for snapshots); None = the real clock.
    pub clock: Option<Duration>,
}

impl App {
    pub fn new(session: &str, read_only: bool) -> Self {
        App {
            session: session.to_string(),
            read_only,
            state: SessionState::default(),
            log: VecDeque::new(),
            transcript: Transcript::default(),
            asks: VecDeque::new(),
            focus: Focus::Agent,
            view: View::Dashboard,
            overlay: Overlay::None,
            input: String::new(),
            purpose: InputPurpose::Message,
            sidebar: None,
            task_sel: 0,
            note_sel: 0,
            scroll: 0,
            log_scroll: 0,
            working: false,
            iteration: None,
            started: Instant::now(),
            agent: String::new(),
            model: None,
            git: None,
            status_message: None,
            finished: None,
            quitting: false,
            queued: Vec::new(),
            spinner: 0,
            areas: Areas::default(),
            clock: None,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.clock.unwrap_or_else(|| self.started.elapsed())
    }

    /// Tasks in the order the sidebar lists them.
    pub fn task_order(&self) -> Vec<u64> {
        TaskStatus::ALL
            .iter()
            .flat_map(|s| self.state.tasks_with_status(*s))
            .map(|t| t.id)
            .collect()
    }

    pub fn note_order(&self) -> Vec<u64> {
        self.state
            .notes_by_type()
            .into_iter()
            .flat_map(|(_, notes)| notes.into_iter().map(|n| n.id))
            .collect()
    }

    pub fn on_build_event(&mut self, event: BuildEvent) {
        match event {
            BuildEvent::Started { agent, .. } => self.agent = agent,
            BuildEvent::AgentReady { name, version, .. } => {
                self.agent = format!("{name} {version}").trim().to_string();
            }
            BuildEvent::Info { message } => self.transcript.info(message, false),
            BuildEvent::ModelSelected { model } => {
                self.transcript.info(format!("model {model}"), false);
                self.model = Some(model);
            }
            BuildEvent::Warning { message } => {
                self.transcript.info(message.clone(), true);
                self.status_message = Some((message, true));
            }
            BuildEvent::IterationStarted {
                iteration,
                planning,
            } => {
                self.iteration = Some(iteration);
                self.working = true;
                let label = if planning {
                    format!("iteration {iteration} (planning)")
                } else {
                    format!("iteration {iteration}")
                };
                self.transcript.divider(label);
            }
            BuildEvent::Agent { update } => {
                self.on_permission_update(&update);
                self.transcript.agent(&update);
            }
            BuildEvent::Log { seq, event } => self.on_log(seq, event),
            BuildEvent::IterationFinished {
                iteration,
                outcome,
                took,
                tasks,
            } => {
                self.working = false;
                self.transcript
                    .divider(iteration_ended(iteration, &outcome, took, &tasks));
            }
            BuildEvent::Retrying {
                failures,
                max_failures,
                reason,
                ..
            } => {
                self.transcript.info(
                    format!(
                        "the agent failed ({failures}/{max_failures}): {reason}; restarting it"
                    ),
                    true,
                );
            }
            BuildEvent::Finished { message, .. } => {
                self.working = false;
                self.transcript.info(message.clone(), false);
                self.finished = Some(message);
            }
        }
    }

    fn on_log(&mut self, seq: u64, event: Event) {
        if seq <= self.state.last_seq {
            return;
        }
        if let EventKind::UserMessage { text } = &event.kind {
            self.queued.retain(|q| q != text);
            if self.working {
                self.queued.push(text.clone());
            }
        }
        if matches!(event.kind, EventKind::IterationStarted { .. }) {
            self.queued.clear();
        }
        if let EventKind::IterationStarted { iteration, .. } = &event.kind {
            self.iteration = Some(*iteration);
        }
        if self.read_only {
            self.narrate(&event.kind);
        }
        self.state.apply(seq, &event);
        // A build renews its lease every half minute: not news for the logs view.
        if matches!(event.kind, EventKind::LeaseRenewed { .. }) {
            return;
        }
        self.log.push_back((seq, event));
        while self.log.len() > LOG_KEEP {
            self.log.pop_front();
        }
        self.task_sel = self.task_sel.min(self.state.tasks.len().saturating_sub(1));
        self.note_sel = self.note_sel.min(self.state.notes.len().saturating_sub(1));
    }

    pub fn tick(&mut self) {
        self.spinner = self.spinner.wrapping_add(1);
    }

    fn start_input(&mut self, purpose: InputPurpose, initial: &str) {
        self.purpose = purpose;
        self.input = initial.to_string();
        self.focus = Focus::Input;
    }

    /// Handles a key press; returns what the outside world must do.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            // A watcher (read-only) runs no agent: nothing to stop first.
            if self.quitting || self.finished.is_some() || self.read_only {
                return Some(Action::ForceQuit);
            }
            self.quitting = true;
            self.status_message = Some((
                "stopping the agent… (Ctrl+C again to leave at once)".into(),
                true,
            ));
            return Some(Action::Quit);
        }
        if ctrl && key.code == KeyCode::Char('l') {
            self.view = if self.view == View::Logs {
                View::Dashboard
            } else {
                View::Logs
            };
            return None;
        }
        if ctrl && key.code == KeyCode::Char('s') {
            let shown = self.sidebar.unwrap_or(!self.compact());
            self.sidebar = Some(!shown);
            return None;
        }
        if !self.asks.is_empty() && self.focus != Focus::Input {
            return self.approval_key(key);
        }
        if self.focus == Focus::Input {
            return self.input_key(key);
        }
        match self.overlay {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return None;
            }
            Overlay::Task(id) => return self.task_detail_key(id, key),
            Overlay::Note(_) => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                    self.overlay = Overlay::None;
                }
                return None;
            }
            Overlay::None => {}
        }
        match key.code {
            KeyCode::Char('?') => self.overlay = Overlay::Help,
            KeyCode::Char('i') => self.start_input(InputPurpose::Message, ""),
            KeyCode::Tab => {
                self.focus = match self.focus {
                    Focus::Agent => Focus::Tasks,
                    Focus::Tasks => Focus::Notes,
                    _ => Focus::Agent,
                };
                if self.focus != Focus::Agent && !self.sidebar_shown() {
                    self.sidebar = Some(true);
                }
            }
            KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Agent => Focus::Notes,
                    Focus::Notes => Focus::Tasks,
                    _ => Focus::Agent,
                };
            }
            KeyCode::Esc => {
                self.view = View::Dashboard;
                self.focus = Focus::Agent;
            }
            KeyCode::Char('q') if self.finished.is_some() => return Some(Action::ForceQuit),
            KeyCode::Char('a') if self.focus == Focus::Tasks && !self.read_only => {
                self.start_input(InputPurpose::NewTask, "")
            }
            KeyCode::Char('a') if self.focus == Focus::Notes && !self.read_only => {
                self.start_input(InputPurpose::NewNote(NoteType::Learning), "")
            }
            code => self.move_key(code),
        }
        None
    }

    fn move_key(&mut self, code: KeyCode) {
        let page = self.areas.agent.height.saturating_sub(2).max(1) as usize;
        if self.view == View::Logs {
            match code {
                KeyCode::Char('k') | KeyCode::Up => self.log_scroll += 1,
                KeyCode::Char('j') | KeyCode::Down => {
                    self.log_scroll = self.log_scroll.saturating_sub(1)
                }
                KeyCode::PageUp => self.log_scroll += page,
                KeyCode::PageDown => self.log_scroll = self.log_scroll.saturating_sub(page),
                KeyCode::End => self.log_scroll = 0,
                _ => {}
            }
            return;
        }
        match (self.focus, code) {
            (Focus::Tasks, KeyCode::Char('j') | KeyCode::Down) => {
                self.task_sel = (self.task_sel + 1).min(self.state.tasks.len().saturating_sub(1))
            }
            (Focus::Tasks, KeyCode::Char('k') | KeyCode::Up) => {
                self.task_sel = self.task_sel.saturating_sub(1)
            }
            (Focus::Tasks, KeyCode::Enter | KeyCode::Char(' ')) => {
                if let Some(id) = self.task_order().get(self.task_sel) {
                    self.overlay = Overlay::Task(*id);
                }
            }
            (Focus::Notes, KeyCode::Char('j') | KeyCode::Down) => {
                self.note_sel = (self.note_sel + 1).min(self.state.notes.len().saturating_sub(1))
            }
            (Focus::Notes, KeyCode::Char('k') | KeyCode::Up) => {
                self.note_sel = self.note_sel.saturating_sub(1)
            }
            (Focus::Notes, KeyCode::Enter | KeyCode::Char(' ')) => {
                if let Some(id) = self.note_order().get(self.note_sel) {
                    self.overlay = Overlay::Note(*id);
                }
            }
            (_, KeyCode::Char('k') | KeyCode::Up) => self.scroll += 1,
            (_, KeyCode::Char('j') | KeyCode::Down) => self.scroll = self.scroll.saturating_sub(1),
            (_, KeyCode::PageUp) => self.scroll += page,
            (_, KeyCode::PageDown) => self.scroll = self.scroll.saturating_sub(page),
            (_, KeyCode::End) => self.scroll = 0,
            (_, KeyCode::Home) => self.scroll = usize::MAX / 2,
            (Focus::Agent, KeyCode::Enter | KeyCode::Char(' ')) => {
                self.transcript.expanded = !self.transcript.expanded
            }
            _ => {}
        }
    }

    fn input_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Esc => {
                self.input.clear();
                self.focus = Focus::Agent;
                None
            }
            KeyCode::Enter => {
                let text = std::mem::take(&mut self.input).trim().to_string();
                self.focus = match self.purpose {
                    InputPurpose::NewTask | InputPurpose::EditTask(_) => Focus::Tasks,
                    InputPurpose::NewNote(_) => Focus::Notes,
                    InputPurpose::Message => Focus::Agent,
                };
                if text.is_empty() {
                    return None;
                }
                Some(Action::Run(match self.purpose {
                    InputPurpose::Message => {
                        if self.working {
                            self.status_message = Some((
                                "message queued: the agent gets it when its turn ends".into(),
                                false,
                            ));
                        }
                        Command::UserMessage { text }
                    }
                    InputPurpose::NewTask => {
                        Command::AddTasks(vec![crate::session::NewTask::new(text)])
                    }
                    InputPurpose::EditTask(id) => Command::EditTask {
                        task: crate::session::task_id(id),
                        content: text,
                    },
                    InputPurpose::NewNote(note_type) => Command::AddNote {
                        note_type,
                        content: text,
                    },
                }))
            }
            KeyCode::Tab => {
                if let InputPurpose::NewNote(t) = self.purpose {
                    let i = NoteType::ALL.iter().position(|x| *x == t).unwrap_or(0);
                    self.purpose =
                        InputPurpose::NewNote(NoteType::ALL[(i + 1) % NoteType::ALL.len()]);
                }
                None
            }
            KeyCode::Backspace => {
                self.input.pop();
                None
            }
            KeyCode::Char(c) => {
                if self.input.chars().count() < crate::session::limits::MESSAGE_MAX {
                    self.input.push(c);
                }
                None
            }
            _ => None,
        }
    }

    fn task_detail_key(&mut self, id: u64, key: KeyEvent) -> Option<Action> {
        let Some(task) = self.state.tasks.get(&id) else {
            self.overlay = Overlay::None;
            return None;
        };
        let label = task.label();
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => {
                self.overlay = Overlay::None;
                None
            }
            _ if self.read_only => None,
            KeyCode::Char('s') => {
                let order = [
                    TaskStatus::Remaining,
                    TaskStatus::InProgress,
                    TaskStatus::Completed,
                    TaskStatus::Blocked,
                    TaskStatus::Cancelled,
                ];
                let i = order.iter().position(|s| *s == task.status).unwrap_or(0);
                Some(Action::Run(Command::SetStatus {
                    task: label,
                    status: order[(i + 1) % order.len()],
                }))
            }
            KeyCode::Char('+') | KeyCode::Char('=') if task.priority < 4 => {
                Some(Action::Run(Command::SetPriority {
                    task: label,
                    priority: i64::from(task.priority) + 1,
                }))
            }
            KeyCode::Char('-') if task.priority > 0 => Some(Action::Run(Command::SetPriority {
                task: label,
                priority: i64::from(task.priority) - 1,
            })),
            KeyCode::Char('e') => {
                let content = task.content.clone();
                self.overlay = Overlay::None;
                self.start_input(InputPurpose::EditTask(id), &content);
                None
            }
            _ => None,
        }
    }

    pub fn compact(&self) -> bool {
        let full = self.areas_full();
        full.width < 100 || full.height < 25
    }

    fn areas_full(&self) -> Rect {
        let a = self.areas;
        Rect::new(
            0,
            0,
            a.footer.width.max(a.status.width),
            a.footer.y + a.footer.height,
        )
    }

    pub fn sidebar_shown(&self) -> bool {
        self.sidebar.unwrap_or(!self.compact())
    }

    /// Handles a mouse event: focus, open, scroll, footer buttons.
    pub fn on_mouse(&mut self, m: MouseEvent) -> Option<Action> {
        let at = Position::new(m.column, m.row);
        let a = self.areas;
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = m.kind == MouseEventKind::ScrollUp;
                if self.view == View::Logs {
                    self.log_scroll = if up {
                        self.log_scroll + 3
                    } else {
                        self.log_scroll.saturating_sub(3)
                    };
                } else if a.tasks.contains(at) {
                    self.task_sel = if up {
                        self.task_sel.saturating_sub(1)
                    } else {
                        (self.task_sel + 1).min(self.state.tasks.len().saturating_sub(1))
                    };
                } else if a.notes.contains(at) {
                    self.note_sel = if up {
                        self.note_sel.saturating_sub(1)
                    } else {
                        (self.note_sel + 1).min(self.state.notes.len().saturating_sub(1))
                    };
                } else {
                    self.scroll = if up {
                        self.scroll + 3
                    } else {
                        self.scroll.saturating_sub(3)
                    };
                }
            }
            MouseEventKind::Down(MouseButton::Left) if !self.asks.is_empty() => {
                return self.approval_click(at);
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if let Some(i) = a.buttons.iter().position(|b| b.contains(at)) {
                    self.view = [View::Dashboard, View::Logs, View::Notes][i];
                    self.overlay = Overlay::None;
                } else if a.input.contains(at) {
                    self.start_input(InputPurpose::Message, "");
                } else if a.tasks.contains(at) {
                    self.focus = Focus::Tasks;
                    // Rows after the title: find which task the row shows.
                    if let Some(id) = super::view::task_at_row(self, at.y) {
                        if let Some(i) = self.task_order().iter().position(|t| *t == id) {
                            self.task_sel = i;
                        }
                        self.overlay = Overlay::Task(id);
                    }
                } else if a.notes.contains(at) {
                    self.focus = Focus::Notes;
                    if let Some(id) = super::view::note_at_row(self, at.y) {
                        if let Some(i) = self.note_order().iter().position(|n| *n == id) {
                            self.note_sel = i;
                        }
                        self.overlay = Overlay::Note(id);
                    }
                } else if a.agent.contains(at) {
                    self.focus = Focus::Agent;
                }
            }
            _ => {}
        }
        None
    }
}
