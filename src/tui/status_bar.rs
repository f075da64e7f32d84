//! The top line and what it tells of the build: session, iteration, elapsed time, task counts, git
//! branch, agent and model, and whether the agent works or the session is complete.

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::session::{SessionState, TaskStatus};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// What the app knows of the build beyond the session's log.
#[derive(Debug)]
pub(super) struct BuildInfo {
    pub session: String,
    pub iteration: Option<u32>,
    /// The agent is in a turn (the spinner turns).
    pub working: bool,
    /// The agent's name and version.
    pub agent: String,
    pub model: Option<String>,
    /// The git branch and whether the tree has changes.
    pub git: Option<(String, bool)>,
    /// The build's last word, once it ended.
    pub finished: Option<String>,
    pub started: Instant,
    /// A fixed elapsed time (for snapshots); None = the real clock.
    pub clock: Option<Duration>,
    pub spinner: usize,
}

impl BuildInfo {
    pub(super) fn new(session: &str) -> Self {
        BuildInfo {
            session: session.to_string(),
            iteration: None,
            working: false,
            agent: String::new(),
            model: None,
            git: None,
            finished: None,
            started: Instant::now(),
            clock: None,
            spinner: 0,
        }
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.clock.unwrap_or_else(|| self.started.elapsed())
    }

    /// `question`: the agent's question that waits while its window is put aside.
    pub(super) fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        state: &SessionState,
        question: Option<u64>,
    ) {
        let secs = self.elapsed().as_secs();
        let sep = Span::styled(" │ ", Style::default().fg(Color::DarkGray));
        let mut spans = vec![
            Span::styled(
                " iteratr",
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
            sep.clone(),
            Span::styled(
                self.session.clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            sep.clone(),
            Span::raw(match self.iteration {
                Some(n) => format!("iteration {n}"),
                None => "not started".into(),
            }),
            sep.clone(),
            Span::raw(format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )),
            sep.clone(),
            Span::styled(
                format!("✓{}", state.count(TaskStatus::Completed)),
                Style::default().fg(Color::Green),
            ),
            Span::raw(" "),
            Span::styled(
                format!("▶{}", state.count(TaskStatus::InProgress)),
                Style::default().fg(Color::Cyan),
            ),
            Span::raw(" "),
            Span::raw(format!("○{}", state.count(TaskStatus::Remaining))),
            Span::raw(" "),
            Span::styled(
                format!("■{}", state.count(TaskStatus::Blocked)),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(" "),
            Span::styled(
                format!("✗{}", state.count(TaskStatus::Cancelled)),
                Style::default().fg(Color::DarkGray),
            ),
        ];
        // A question put aside, early in the line so that a narrow terminal still shows it.
        if let Some(q) = question {
            spans.push(sep.clone());
            spans.push(Span::styled(
                format!(
                    "{} waits ({} answers)",
                    crate::session::question_id(q),
                    super::keys::name_of(
                        super::keys::Scope::Main,
                        super::keys::Action::OpenQuestion
                    )
                ),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ));
        }
        // Tokens and cost of the session's iterations, as the agent reported them.
        let usage = state.usage();
        if !usage.is_empty() {
            spans.push(sep.clone());
            spans.push(Span::raw(usage.to_string()));
        }
        if let Some((branch, dirty)) = &self.git {
            spans.push(sep.clone());
            spans.push(Span::styled(
                format!("{branch}{}", if *dirty { "*" } else { "" }),
                Style::default().fg(Color::Magenta),
            ));
        }
        if !self.agent.is_empty() {
            spans.push(sep.clone());
            let model = self
                .model
                .as_deref()
                .map(|m| format!(" · {m}"))
                .unwrap_or_default();
            spans.push(Span::raw(format!("{}{model}", self.agent)));
        }
        if state.completed.is_some() {
            spans.push(sep);
            spans.push(Span::styled(
                "complete",
                Style::default()
                    .fg(Color::Green)
                    .add_modifier(Modifier::BOLD),
            ));
        } else if state.paused.is_some() {
            spans.push(sep);
            spans.push(Span::styled(
                if self.working {
                    "pausing after this iteration"
                } else {
                    "paused (p goes on)"
                },
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ));
        } else if self.working {
            spans.push(sep);
            spans.push(Span::styled(
                format!("{} working", SPINNER[self.spinner % SPINNER.len()]),
                Style::default().fg(Color::Cyan),
            ));
        }
        frame.render_widget(
            Paragraph::new(Line::from(spans)).style(Style::default().bg(Color::Black)),
            area,
        );
    }
}
