//! The TUI's state and the dispatch of what happens to it. Pure: no terminal, no I/O. Build events,
//! keys and mouse events come in; the app hands each to the component it is for (the panes, the
//! overlays, the status bar), acts on what they ask for (focus, open a window, start typing) and
//! hands [`Op`]s out; the event loop in `mod.rs` does the rest. Keys are dispatched in
//! `app/dispatch.rs`, as the key table (`keys.rs`) says.
//!
//! A frame is two steps: [`App::lay_out`] computes where everything goes and keeps it (the mouse
//! is tested against it), then [`App::render`] draws from `&self`.

use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::footer;
use super::keys::{self, Action, Scope};
use super::layout::Layout;
use super::overlays::approval::{Approval, AskChange};
use super::overlays::question::QuestionWindow;
use super::overlays::{Overlay, help, note, task};
use super::panes::agent::AgentPane;
use super::panes::input::{InputPane, InputPurpose};
use super::panes::logs::LogsPane;
use super::panes::notes::NotesPane;
use super::panes::tasks::TasksPane;
use super::status_bar::BuildInfo;
use crate::frontend::{BuildEvent, Op, iteration_ended};
use crate::session::text::by_who;
use crate::session::{Event, EventKind, Part, SessionState, question_id};

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

/// The views in the order of the footer's buttons.
const VIEWS: [View; 3] = [View::Dashboard, View::Logs, View::Notes];

pub struct App {
    read_only: bool,
    /// The session as its log tells it.
    state: SessionState,
    /// The status bar's view of the build.
    info: BuildInfo,
    agent: AgentPane,
    tasks: TasksPane,
    notes: NotesPane,
    logs: LogsPane,
    input: InputPane,
    /// Permission requests waiting for an answer (the window over everything).
    approval: Approval,
    /// The agent's questions waiting for an answer (the window under the permission one).
    question: QuestionWindow,
    focus: Focus,
    view: View,
    overlay: Overlay,
    /// None: automatic (hidden in compact mode); Some(shown) after Ctrl+S.
    sidebar: Option<bool>,
    /// The user asked to stop (first Ctrl+C).
    quitting: bool,
    /// Where things were in the last frame.
    layout: Layout,
    /// The workers of `--workers`, when there are.
    workers: super::workers::WorkerStrip,
}

/// The agent as the status bar names it, and whether it runs in iteratr's sandbox.
fn agent_label(name: &str, version: &str, sandboxed: bool) -> String {
    let label = format!("{name} {version}").trim().to_string();
    if sandboxed {
        format!("{label} (sandboxed)")
    } else {
        label
    }
}

impl App {
    pub fn new(session: &str, read_only: bool) -> Self {
        App {
            read_only,
            state: SessionState::default(),
            info: BuildInfo::new(session),
            agent: AgentPane::default(),
            tasks: TasksPane::default(),
            notes: NotesPane::default(),
            logs: LogsPane::default(),
            input: InputPane::default(),
            approval: Approval::default(),
            question: QuestionWindow::default(),
            focus: Focus::Agent,
            view: View::Dashboard,
            overlay: Overlay::None,
            sidebar: None,
            quitting: false,
            layout: Layout::default(),
            workers: Default::default(),
        }
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    pub fn view(&self) -> View {
        self.view
    }

    pub fn overlay(&self) -> Overlay {
        self.overlay
    }

    /// The text in the input box.
    pub fn input(&self) -> &str {
        self.input.text()
    }

    pub fn purpose(&self) -> InputPurpose {
        self.input.purpose()
    }

    /// Lines the agent output is scrolled up from the bottom; 0 = following.
    pub fn scroll(&self) -> usize {
        self.agent.scroll()
    }

    /// Whether tool output and thinking show in full.
    pub fn expanded(&self) -> bool {
        self.agent.expanded()
    }

    /// The index of the selected task, in the order the tasks pane lists them.
    pub fn task_selected(&self) -> usize {
        self.tasks.selected()
    }

    pub fn select_task(&mut self, index: usize) {
        self.tasks.select(index);
    }

    /// Where things were in the last frame.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The agent is in a turn (the spinner needs ticks).
    pub fn working(&self) -> bool {
        self.info.working
    }

    /// The user asked to stop.
    pub fn quitting(&self) -> bool {
        self.quitting
    }

    /// Shows this elapsed time instead of the real one (for snapshots).
    pub fn set_clock(&mut self, elapsed: Duration) {
        self.info.clock = Some(elapsed);
    }

    pub fn set_git(&mut self, git: Option<(String, bool)>) {
        self.info.git = git;
    }

    /// Says something in the input box (a warning in yellow).
    pub fn set_status_message(&mut self, text: String, warn: bool) {
        self.input.set_status(Some((text, warn)));
    }

    /// What the person asked was refused (the words say why): an answer to a question that was
    /// sent is given back to the window.
    pub fn refused(&mut self, text: String) {
        self.set_status_message(text, true);
        self.question.refused(&self.state);
    }

    /// The question the window shows (None when none waits or it is put aside).
    pub fn question_shown(&self) -> Option<u64> {
        self.question.shown()
    }

    pub fn tick(&mut self) {
        self.info.spinner = self.info.spinner.wrapping_add(1);
    }

    pub fn on_build_event(&mut self, event: BuildEvent) {
        match event {
            BuildEvent::Started { agent, .. } => self.info.agent = agent,
            BuildEvent::AgentReady {
                name,
                version,
                sandboxed,
                ..
            } => {
                self.info.agent = agent_label(&name, &version, sandboxed);
            }
            BuildEvent::Info { message } | BuildEvent::Phase { message, .. } => {
                self.agent.info(message, false)
            }
            BuildEvent::ModelSelected { model } => {
                self.agent.info(format!("model {model}"), false);
                self.info.model = Some(model);
            }
            BuildEvent::Warning { message } => {
                self.agent.info(message.clone(), true);
                self.set_status_message(message, true);
            }
            BuildEvent::IterationStarted {
                iteration,
                planning,
            } => {
                self.info.iteration = Some(iteration);
                self.info.working = true;
                let label = if planning {
                    format!("iteration {iteration} (planning)")
                } else {
                    format!("iteration {iteration}")
                };
                self.agent.divider(label);
            }
            BuildEvent::Agent { update } => {
                if self.approval.on_update(&update) == AskChange::Asked {
                    let hint = if self.focus == Focus::Input {
                        "the agent asks permission: Esc leaves the message box, then y allow · a always · n deny"
                    } else {
                        "the agent asks permission: y allow once · a allow always · n deny"
                    };
                    self.set_status_message(hint.into(), true);
                }
                self.agent.update(&update);
            }
            BuildEvent::Log { seq, event } => self.on_log(seq, event),
            BuildEvent::Worker { worker, event } => self.on_worker_event(&worker, *event),
            BuildEvent::IterationFinished {
                iteration,
                outcome,
                took,
                tasks,
                usage,
                auto_allowed,
            } => {
                self.info.working = false;
                self.agent.divider(iteration_ended(
                    iteration,
                    &outcome,
                    took,
                    &tasks,
                    usage.as_ref(),
                    auto_allowed,
                ));
            }
            BuildEvent::Hook { hook } => {
                if !hook.succeeded {
                    self.set_status_message(hook.line(), true);
                }
                self.agent.info(hook.text(10), !hook.succeeded);
            }
            BuildEvent::Retrying {
                failures,
                max_failures,
                reason,
                ..
            } => {
                self.agent.info(
                    format!(
                        "the agent failed ({failures}/{max_failures}): {reason}; restarting it"
                    ),
                    true,
                );
            }
            BuildEvent::Finished { message, .. } => {
                self.info.working = false;
                self.agent.info(message.clone(), false);
                self.info.finished = Some(message);
            }
        }
    }

    fn on_log(&mut self, seq: u64, event: Event) {
        if seq <= self.state.last_seq {
            return;
        }
        match &event.kind {
            EventKind::UserMessage { text, who } => {
                self.input.message_logged(text, who, self.info.working)
            }
            EventKind::IterationStarted { iteration, .. } => {
                self.input.messages_delivered();
                self.info.iteration = Some(*iteration);
            }
            // Who asked, wherever they are (the status bar says what it means for the loop).
            EventKind::SessionPaused { who } => {
                self.set_status_message(format!("pause requested{}; p goes on", by_who(who)), true)
            }
            EventKind::SessionResumed { who } => {
                self.set_status_message(format!("resumed{}", by_who(who)), false)
            }
            _ => {}
        }
        if self.read_only {
            // Watching: the agent's turns are known from the log only.
            match &event.kind {
                EventKind::IterationStarted { .. } => self.info.working = true,
                EventKind::IterationFinished { .. } => self.info.working = false,
                EventKind::AgentStarted {
                    name,
                    version,
                    sandboxed,
                    ..
                } => self.info.agent = agent_label(name, version, *sandboxed),
                _ => {}
            }
            self.agent.narrate(&event.kind);
        }
        self.state.apply(seq, &event);
        if event.kind.changes().contains(&Part::Tasks) {
            self.workers.on_claims(&self.state);
        }
        if event.kind.changes().contains(&Part::Questions) {
            self.on_question(&event.kind);
        }
        // A build renews its lease every half minute: not news for the logs view.
        if matches!(event.kind, EventKind::LeaseRenewed { .. }) {
            return;
        }
        self.logs.push(seq, event);
        self.tasks.clamp(&self.state);
        self.notes.clamp(&self.state);
    }

    /// A question asked or answered: the window follows, and the input box says what happened.
    fn on_question(&mut self, kind: &EventKind) {
        self.question.sync(&self.state);
        match kind {
            EventKind::QuestionAsked { question, .. } if self.question.waiting().is_some() => {
                self.question.asked();
                let id = question_id(*question);
                let hint = if self.focus == Focus::Input {
                    let leave = keys::name_of(Scope::Input, Action::Cancel);
                    format!(
                        "the agent asks a question ({id}): {leave} leaves the message box to answer it"
                    )
                } else {
                    let aside = keys::name_of(Scope::Question, Action::PutAside);
                    let open = keys::name_of(Scope::Main, Action::OpenQuestion);
                    format!(
                        "the agent asks a question ({id}): {aside} puts it aside, {open} opens it again"
                    )
                };
                self.set_status_message(hint, true);
            }
            EventKind::QuestionAnswered { question, who, .. } => self.set_status_message(
                format!("{} answered{}", question_id(*question), by_who(who)),
                false,
            ),
            _ => {}
        }
    }

    fn start_input(&mut self, purpose: InputPurpose, initial: &str) {
        self.input.start(purpose, initial);
        self.focus = Focus::Input;
    }

    fn sidebar_shown(&self) -> bool {
        self.sidebar.unwrap_or(!self.layout.compact())
    }

    /// Handles a mouse event against the last frame's layout: focus, open, scroll, buttons.
    pub fn on_mouse(&mut self, m: MouseEvent) -> Option<Op> {
        let at = Position::new(m.column, m.row);
        let l = self.layout;
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = m.kind == MouseEventKind::ScrollUp;
                if self.view == View::Logs {
                    self.logs.on_wheel(up);
                } else if l.tasks.contains(at) {
                    self.tasks.on_wheel(up, &self.state);
                } else if l.notes.contains(at) {
                    self.notes.on_wheel(up, &self.state);
                } else {
                    self.agent.on_wheel(up);
                }
            }
            MouseEventKind::Down(MouseButton::Left) if self.approval.waiting() => {
                let answer = self.approval.on_click(&l.approval, at)?;
                return self.answer(answer);
            }
            MouseEventKind::Down(MouseButton::Left) if self.question.shown().is_some() => {
                return self.question.on_click(&l.question, at, &self.state);
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if let Some(i) = l.buttons.iter().position(|b| b.contains(at)) {
                    self.view = VIEWS[i];
                    self.overlay = Overlay::None;
                } else if l.input.contains(at) {
                    self.start_input(InputPurpose::Message, "");
                } else if l.tasks.contains(at) {
                    self.focus = Focus::Tasks;
                    if let Some(id) = self.tasks.on_click(at.y) {
                        self.overlay = Overlay::Task(id);
                    }
                } else if l.notes.contains(at) {
                    self.focus = Focus::Notes;
                    if let Some(id) = self.notes.on_click(at.y) {
                        self.overlay = Overlay::Note(id);
                    }
                } else if l.agent.contains(at) {
                    self.focus = Focus::Agent;
                }
            }
            _ => {}
        }
        None
    }

    /// The first step of a frame: where everything goes on a screen of `area`, kept for the
    /// mouse (and the lists' scroll offsets, so the selection stays visible).
    pub fn lay_out(&mut self, area: Rect) {
        let mut layout = Layout::new(area, self.sidebar, self.view == View::Dashboard);
        if self.workers.shown() && self.view == View::Dashboard {
            layout.strip = Rect::new(layout.agent.x, layout.agent.y, layout.agent.width, 1);
            layout.agent.y += 1;
            layout.agent.height = layout.agent.height.saturating_sub(1);
        }
        layout.approval = self.approval.lay_out(area);
        layout.question = self.question.lay_out(area, &self.state);
        self.tasks.lay_out(&self.state, layout.tasks);
        self.notes.lay_out(&self.state, layout.notes);
        if self.view == View::Dashboard {
            self.agent.lay_out(layout.agent);
        }
        self.layout = layout;
    }

    /// The second step: draws everything where the last [`App::lay_out`] put it.
    pub fn render(&self, frame: &mut Frame) {
        let l = &self.layout;
        let aside = self
            .question
            .waiting()
            .filter(|_| self.question.shown().is_none());
        self.info.draw(frame, l.status, &self.state, aside);
        match self.view {
            View::Dashboard => {
                if l.strip.height > 0 {
                    self.workers.draw(frame, l.strip);
                }
                self.agent.draw(frame, l.agent, self.focus == Focus::Agent);
                let focused = self.focus == Focus::Input;
                self.input.draw(frame, l.input, focused, self.read_only);
                if l.tasks.width > 0 {
                    let focused = self.focus == Focus::Tasks;
                    self.tasks.draw(frame, l.tasks, &self.state, focused);
                    let focused = self.focus == Focus::Notes;
                    self.notes.draw(frame, l.notes, &self.state, focused);
                }
            }
            View::Logs => self.logs.draw(frame, l.main, self.state.last_seq),
            View::Notes => self.notes.draw_all(frame, l.main, &self.state),
        }
        let current = VIEWS.iter().position(|v| *v == self.view).unwrap_or(0);
        footer::draw(frame, l.footer, current, self.info.finished.is_some());
        match self.overlay {
            Overlay::None => {}
            Overlay::Help => help::draw(frame),
            Overlay::Task(id) => {
                if let Some(t) = self.state.tasks.get(&id) {
                    task::draw(frame, t, self.read_only);
                }
            }
            Overlay::Note(id) => {
                if let Some(n) = self.state.notes.get(&id) {
                    note::draw(frame, n);
                }
            }
        }
        self.question.draw(frame, &self.state);
        self.approval.draw(frame);
    }
}

mod dispatch;
mod workers;

#[cfg(test)]
pub(in crate::tui) mod tests;
