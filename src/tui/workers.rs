//! The strip of workers (`--workers`): one line with each worker's task, state and time in that
//! state; `w` moves the focus. The agent pane shows the focused worker's output; the others'
//! output goes on into their own panes, kept here until they get the focus.

use std::collections::BTreeMap;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::panes::agent::AgentPane;
use crate::frontend::BuildEvent;
use crate::session::{SessionState, task_id};

fn dim() -> Style {
    Style::default().add_modifier(Modifier::DIM)
}

/// One worker as the strip shows it.
#[derive(Debug, Clone)]
pub struct WorkerView {
    pub task: Option<String>,
    pub state: &'static str,
    pub since: Instant,
}

#[derive(Default)]
pub struct WorkerStrip {
    workers: BTreeMap<String, WorkerView>,
    /// The worker whose output the agent pane shows.
    focus: Option<String>,
    /// The other workers' output.
    panes: BTreeMap<String, AgentPane>,
}

impl WorkerStrip {
    pub fn shown(&self) -> bool {
        !self.workers.is_empty()
    }

    pub fn focus(&self) -> Option<&str> {
        self.focus.as_deref()
    }

    pub fn view(&self, worker: &str) -> Option<&WorkerView> {
        self.workers.get(worker)
    }

    fn entry(&mut self, worker: &str) -> &mut WorkerView {
        if self.focus.is_none() {
            self.focus = Some(worker.to_string());
        }
        self.workers
            .entry(worker.to_string())
            .or_insert_with(|| WorkerView {
                task: None,
                state: "starting",
                since: Instant::now(),
            })
    }

    fn set_state(&mut self, worker: &str, state: &'static str) {
        let view = self.entry(worker);
        if view.state != state {
            view.state = state;
            view.since = Instant::now();
        }
    }

    /// Follows what a worker's loop says about itself.
    pub fn on_worker_event(&mut self, worker: &str, event: &BuildEvent) {
        match event {
            BuildEvent::IterationStarted { .. } => self.set_state(worker, "working"),
            BuildEvent::Phase { phase, .. } => self.set_state(worker, phase.as_str()),
            BuildEvent::Retrying { .. } => self.set_state(worker, "restarting"),
            _ => {
                self.entry(worker);
            }
        }
    }

    /// Follows the session's claims (also those of workers in other processes): each worker
    /// shows the task it holds; one that held a task and holds none is idle.
    pub fn on_claims(&mut self, state: &SessionState) {
        let held: BTreeMap<&str, String> = state
            .claimed_tasks()
            .filter_map(|t| Some((t.claim.as_ref()?.worker.as_str(), task_id(t.id))))
            .collect();
        for (worker, task) in &held {
            let view = self.entry(worker);
            view.task = Some(task.clone());
        }
        for (worker, view) in &mut self.workers {
            if view.task.is_some() && !held.contains_key(worker.as_str()) {
                view.task = None;
                if view.state != "stopped" {
                    view.state = "idle";
                    view.since = Instant::now();
                }
            }
        }
    }

    pub fn is_focused(&self, worker: &str) -> bool {
        self.focus.as_deref() == Some(worker)
    }

    /// The pane holding `worker`'s output while it is not in focus.
    pub fn pane(&mut self, worker: &str) -> &mut AgentPane {
        self.panes.entry(worker.to_string()).or_default()
    }

    /// Moves the focus to the next worker: its pane comes out, `current` (the focused one's)
    /// goes in.
    pub fn cycle(&mut self, current: &mut AgentPane) {
        let names: Vec<&String> = self.workers.keys().collect();
        let Some(at) = self
            .focus
            .as_ref()
            .and_then(|f| names.iter().position(|n| *n == f))
        else {
            return;
        };
        let next = names[(at + 1) % names.len()].clone();
        let Some(old) = self.focus.replace(next.clone()) else {
            return;
        };
        let mut incoming = self.panes.remove(&next).unwrap_or_default();
        std::mem::swap(current, &mut incoming);
        self.panes.insert(old, incoming);
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let mut spans = Vec::new();
        for (name, w) in &self.workers {
            if !spans.is_empty() {
                spans.push(Span::styled(" │ ", dim()));
            }
            let secs = w.since.elapsed().as_secs();
            let text = format!(
                "{name} {}{} {}:{:02}",
                w.task
                    .as_deref()
                    .map(|t| format!("{t} "))
                    .unwrap_or_default(),
                w.state,
                secs / 60,
                secs % 60
            );
            let mut s = Style::default();
            if self.is_focused(name) {
                s = s.add_modifier(Modifier::REVERSED | Modifier::BOLD);
            }
            spans.push(Span::styled(text, s));
        }
        spans.push(Span::styled("  (w: next worker)", dim()));
        frame.render_widget(Line::from(spans), area);
    }
}
