//! One cell of the agent's output (text, thinking, a tool call, a divider, a notice) and how it
//! renders to lines at a width. Text is Markdown, rendered as it streams in
//! ([`MarkdownStream`]); a tool call's file changes are diffed once, when they arrive.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::frontend::ToolStatus;
use crate::render::diff::{self, FileDiff};
use crate::render::markdown::MarkdownStream;
use crate::render::wrap::wrap_line;

/// Output lines of a collapsed tool call.
const COLLAPSED_LINES: usize = 3;

#[derive(Debug)]
pub(crate) enum Cell {
    Divider(String),
    Text(MarkdownStream),
    Thought(String),
    Tool {
        id: String,
        title: String,
        status: ToolStatus,
        output: String,
        diffs: Vec<FileDiff>,
    },
    Info {
        text: String,
        warn: bool,
    },
}

impl Cell {
    pub(super) fn stored_lines(&self) -> usize {
        match self {
            Cell::Text(stream) => stream.lines() + 1,
            Cell::Thought(t) => t.lines().count().max(1),
            Cell::Tool { output, diffs, .. } => {
                1 + output.lines().count() + diffs.iter().map(|d| d.len() + 1).sum::<usize>()
            }
            _ => 1,
        }
    }
}

impl Cell {
    /// The cell's lines at `width`; `expanded` shows tool output and thinking in full.
    /// Text renders its last lines only, at least `need` of them.
    pub(super) fn render(
        &mut self,
        width: usize,
        expanded: bool,
        need: usize,
    ) -> Vec<Line<'static>> {
        let dim = Style::default().fg(Color::DarkGray);
        let mut out = Vec::new();
        match self {
            Cell::Divider(text) => {
                let fill = width.saturating_sub(text.chars().count() + 4);
                out.push(Line::styled(
                    format!("── {text} {}", "─".repeat(fill)),
                    Style::default().fg(Color::Blue),
                ));
            }
            Cell::Info { text, warn } => {
                let style = if *warn {
                    Style::default().fg(Color::Yellow)
                } else {
                    dim
                };
                for l in text.lines() {
                    wrap_line(&mut out, vec![Span::styled(l.to_string(), style)], width);
                }
            }
            Cell::Text(stream) => return stream.tail(width, need),
            Cell::Thought(text) => {
                let style = dim.add_modifier(Modifier::ITALIC);
                if expanded {
                    for l in text.lines() {
                        wrap_line(&mut out, vec![Span::styled(format!("  {l}"), style)], width);
                    }
                } else {
                    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    let more = if text.lines().count() > 1 { " …" } else { "" };
                    wrap_line(
                        &mut out,
                        vec![Span::styled(format!("(thinking) {first}{more}"), style)],
                        width,
                    );
                }
            }
            Cell::Tool {
                title,
                status,
                output,
                diffs,
                ..
            } => {
                let (mark, color) = match status {
                    ToolStatus::Completed => ("✓", Color::Green),
                    ToolStatus::Failed => ("✗", Color::Red),
                    ToolStatus::InProgress => ("▶", Color::Cyan),
                    ToolStatus::Pending => ("▸", Color::Yellow),
                };
                wrap_line(
                    &mut out,
                    vec![
                        Span::styled(format!("{mark} "), Style::default().fg(color)),
                        Span::styled(title.clone(), Style::default().add_modifier(Modifier::BOLD)),
                        Span::styled(format!(" [{status}]"), Style::default().fg(color)),
                    ],
                    width,
                );
                let limit = if expanded { 200 } else { COLLAPSED_LINES };
                let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
                for l in lines.iter().take(limit) {
                    wrap_line(&mut out, vec![Span::styled(format!("  │ {l}"), dim)], width);
                }
                if lines.len() > limit {
                    out.push(Line::styled(
                        format!("  │ … {} more line(s) (Enter expands)", lines.len() - limit),
                        dim,
                    ));
                }
                for d in diffs.iter() {
                    diff::styled(&mut out, d, width, 400, !expanded);
                }
            }
        }
        out
    }
}
