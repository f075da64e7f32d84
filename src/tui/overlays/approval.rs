//! Permission requests waiting for the person at the terminal (`--approve ask`): a window with the
//! tool, what the call does and its arguments or diff, answered with `y` (allow once), `a` (allow
//! this tool always, for the rest of the build) or `n` (deny), or by clicking the buttons.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use serde_json::Value;

use crate::frontend::{AgentUpdate, Answer, ToolKind};
use crate::render::diff::{self, FileDiff};
use crate::tui::keys::{self, Action, Scope};

/// Argument lines shown at most.
const INPUT_LINES: usize = 14;

/// A request the agent waits on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingAsk {
    pub id: u64,
    pub tool: String,
    pub title: String,
    pub kind: ToolKind,
    pub input: Option<Value>,
    /// The file changes it would make, diffed once when it arrives.
    pub diffs: Vec<FileDiff>,
}

/// The buttons, in order; their keys are the key table's.
const BUTTONS: [(&str, Answer); 3] = [
    ("Allow once", Answer::AllowOnce),
    ("Allow always", Answer::AllowAlways),
    ("Deny", Answer::Deny),
];

/// The key that gives `answer`, as the buttons name it.
fn key_of(answer: Answer) -> String {
    keys::name_of(Scope::Approval, Action::Answer(answer))
}

/// What an agent update did to the waiting requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AskChange {
    None,
    /// A new request waits.
    Asked,
}

/// The requests waiting for an answer, oldest first; the window shows the oldest.
#[derive(Debug, Default)]
pub(crate) struct Approval {
    asks: VecDeque<PendingAsk>,
}

/// The window of the oldest request at a screen size: where it goes, its lines, its buttons.
struct Window {
    area: Rect,
    lines: Vec<Line<'static>>,
    buttons: [Rect; 3],
}

impl Approval {
    /// Whether a request waits for an answer.
    pub(crate) fn waiting(&self) -> bool {
        !self.asks.is_empty()
    }

    /// Takes note of what the agent's updates say about permission requests.
    pub(crate) fn on_update(&mut self, update: &AgentUpdate) -> AskChange {
        match update {
            AgentUpdate::PermissionAsked {
                id,
                tool,
                title,
                kind,
                input,
                diffs,
            } => {
                self.asks.push_back(PendingAsk {
                    id: *id,
                    tool: tool.clone(),
                    title: title.clone(),
                    kind: *kind,
                    input: input.clone(),
                    diffs: diffs
                        .iter()
                        .map(|d| FileDiff::new(&d.path, d.old.as_deref(), &d.new))
                        .collect(),
                });
                return AskChange::Asked;
            }
            // Answered (here, or cancelled with the turn): the window goes.
            AgentUpdate::Permission { id, .. } => self.asks.retain(|a| a.id != *id),
            AgentUpdate::Exited { .. } => self.asks.clear(),
            _ => {}
        }
        AskChange::None
    }

    /// A click while a request waits: on one of the `buttons` laid out it is that answer.
    pub(crate) fn on_click(&self, buttons: &[Rect; 3], at: Position) -> Option<Answer> {
        let i = buttons.iter().position(|b| b.contains(at))?;
        Some(BUTTONS[i].1)
    }

    /// Answers the oldest request: the request, for the agent.
    pub(crate) fn answer(&mut self) -> Option<PendingAsk> {
        self.asks.pop_front()
    }

    /// Where the buttons of the oldest request's window are on a screen of `area` (nowhere when
    /// nothing waits).
    pub(crate) fn lay_out(&self, area: Rect) -> [Rect; 3] {
        self.window(area)
            .map_or([Rect::default(); 3], |w| w.buttons)
    }

    /// Draws the oldest waiting request on top of everything.
    pub(crate) fn draw(&self, frame: &mut Frame) {
        let Some(window) = self.window(frame.area()) else {
            return;
        };
        let more = if self.asks.len() > 1 {
            format!(" (1 of {})", self.asks.len())
        } else {
            String::new()
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(Color::Yellow))
            .title(Span::styled(
                format!(" The agent asks permission{more} "),
                Style::default().add_modifier(Modifier::BOLD),
            ));
        frame.render_widget(Clear, window.area);
        frame.render_widget(
            Paragraph::new(window.lines)
                .wrap(Wrap { trim: false })
                .block(block),
            window.area,
        );
    }

    fn window(&self, area: Rect) -> Option<Window> {
        let ask = self.asks.front()?;
        let width = area.width.saturating_sub(4).min(100);
        let inner_width = width.saturating_sub(2) as usize;
        let label = |s: &str| Span::styled(format!("{s:<7}"), Style::default().fg(Color::DarkGray));
        let mut lines = Vec::new();
        if !ask.tool.is_empty() {
            lines.push(Line::from(vec![
                label("tool"),
                Span::styled(
                    ask.tool.clone(),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
            ]));
        }
        lines.push(Line::from(vec![
            label("call"),
            Span::raw(ask.title.clone()),
        ]));
        if ask.kind != ToolKind::Other {
            lines.push(Line::from(vec![
                label("kind"),
                Span::raw(ask.kind.as_str()),
            ]));
        }
        lines.push(Line::raw(""));
        if !ask.diffs.is_empty() {
            for d in &ask.diffs {
                diff::styled(&mut lines, d, inner_width, INPUT_LINES, false);
            }
        } else if let Some(input) = &ask.input {
            lines.extend(
                arguments(input)
                    .into_iter()
                    .map(|l| Line::styled(l, Style::default().fg(Color::Gray))),
            );
        }
        lines.push(Line::raw(""));
        let always = format!(
            "Allow always ({})",
            if ask.tool.is_empty() {
                "this tool"
            } else {
                ask.tool.as_str()
            }
        );
        let texts = [
            format!(" {} {} ", key_of(BUTTONS[0].1), BUTTONS[0].0),
            format!(" {} {always} ", key_of(BUTTONS[1].1)),
            format!(" {} {} ", key_of(BUTTONS[2].1), BUTTONS[2].0),
        ];
        let mut spans = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let style = match i {
                2 => Style::default().bg(Color::Red).fg(Color::White),
                _ => Style::default().bg(Color::Green).fg(Color::Black),
            };
            spans.push(Span::styled(t.clone(), style));
            spans.push(Span::raw("  "));
        }
        lines.push(Line::from(spans));
        let height = (lines.len() as u16 + 2).min(area.height);
        let x = area.x + (area.width - width) / 2;
        let y = area.y + (area.height - height) / 2;
        let window = Rect::new(x, y, width, height);
        // The buttons are on the last inner row (wrapping above can only push them off the
        // bottom, in which case they are not clickable but the keys still work).
        let row = window.y + window.height.saturating_sub(2);
        let mut buttons = [Rect::default(); 3];
        let mut bx = window.x + 1;
        for (i, t) in texts.iter().enumerate() {
            let w = t.chars().count() as u16;
            buttons[i] = Rect::new(bx, row, w.min(window.width.saturating_sub(2)), 1);
            bx += w + 2;
        }
        Some(Window {
            area: window,
            lines,
            buttons,
        })
    }
}

fn arguments(input: &Value) -> Vec<String> {
    let text = serde_json::to_string_pretty(input).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() > INPUT_LINES {
        let more = lines.len() - INPUT_LINES;
        lines.truncate(INPUT_LINES);
        lines.push(format!("… {more} more line(s)"));
    }
    lines
}
