//! One cell of the agent's output (text, thinking, a tool call, a divider, a notice) and how it
//! renders to lines at a width. Streamed text is classified line by line as it completes (headings,
//! bullets, code) and styled with inline markdown (`code`, **bold**) when drawn.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::protocol::{Diff, ToolStatus};
use crate::tui::text::{render_diff, wrap_into};

/// Output lines of a collapsed tool call.
const COLLAPSED_LINES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Plain,
    Heading,
    Bullet,
    Code,
    Fence,
}

#[derive(Debug, Clone)]
pub enum Cell {
    Divider(String),
    Text {
        lines: Vec<(LineKind, String)>,
        live: String,
        in_code: bool,
    },
    Thought(String),
    Tool {
        id: String,
        title: String,
        status: ToolStatus,
        output: String,
        diffs: Vec<Diff>,
    },
    Info {
        text: String,
        warn: bool,
    },
}

impl Cell {
    pub(super) fn stored_lines(&self) -> usize {
        match self {
            Cell::Text { lines, .. } => lines.len() + 1,
            Cell::Thought(t) => t.lines().count().max(1),
            Cell::Tool { output, diffs, .. } => {
                1 + output.lines().count()
                    + diffs
                        .iter()
                        .map(|d| d.new.lines().count() + 1)
                        .sum::<usize>()
            }
            _ => 1,
        }
    }
}

pub(super) fn classify(line: &str, in_code: &mut bool) -> LineKind {
    let t = line.trim_start();
    if t.starts_with("```") {
        *in_code = !*in_code;
        return LineKind::Fence;
    }
    if *in_code {
        LineKind::Code
    } else if t.starts_with('#') {
        LineKind::Heading
    } else if t.starts_with("- ") || t.starts_with("* ") {
        LineKind::Bullet
    } else {
        LineKind::Plain
    }
}

/// The last lines of a text cell, wrapped, at least `need` of them when it has that many.
pub(super) fn text_tail(
    lines: &[(LineKind, String)],
    live: &str,
    width: usize,
    need: usize,
) -> Vec<Line<'static>> {
    let mut tail: Vec<Vec<Line<'static>>> = Vec::new();
    let mut count = 0;
    if !live.is_empty() {
        let mut in_code = false;
        let kind = classify(live, &mut in_code);
        let mut wrapped = Vec::new();
        wrap_into(&mut wrapped, styled(kind, live), width);
        count += wrapped.len();
        tail.push(wrapped);
    }
    for (kind, text) in lines.iter().rev() {
        if count >= need {
            break;
        }
        let mut wrapped = Vec::new();
        wrap_into(&mut wrapped, styled(*kind, text), width);
        count += wrapped.len();
        tail.push(wrapped);
    }
    tail.into_iter().rev().flatten().collect()
}

impl Cell {
    /// The cell's lines at `width`; `expanded` shows tool output and thinking in full.
    pub(super) fn render(&self, width: usize, expanded: bool) -> Vec<Line<'static>> {
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
                    wrap_into(&mut out, vec![Span::styled(l.to_string(), style)], width);
                }
            }
            Cell::Text { lines, live, .. } => {
                for (kind, text) in lines {
                    wrap_into(&mut out, styled(*kind, text), width);
                }
                if !live.is_empty() {
                    let mut in_code = false;
                    let kind = classify(live, &mut in_code);
                    wrap_into(&mut out, styled(kind, live), width);
                }
            }
            Cell::Thought(text) => {
                let style = dim.add_modifier(Modifier::ITALIC);
                if expanded {
                    for l in text.lines() {
                        wrap_into(&mut out, vec![Span::styled(format!("  {l}"), style)], width);
                    }
                } else {
                    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    let more = if text.lines().count() > 1 { " …" } else { "" };
                    wrap_into(
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
                wrap_into(
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
                    wrap_into(&mut out, vec![Span::styled(format!("  │ {l}"), dim)], width);
                }
                if lines.len() > limit {
                    out.push(Line::styled(
                        format!("  │ … {} more line(s) (Enter expands)", lines.len() - limit),
                        dim,
                    ));
                }
                for d in diffs {
                    render_diff(&mut out, d, width, if expanded { 400 } else { 8 });
                }
            }
        }
        out
    }
}

/// Inline markdown: `code` and **bold**.
fn styled(kind: LineKind, text: &str) -> Vec<Span<'static>> {
    match kind {
        LineKind::Heading => vec![Span::styled(
            text.trim_start_matches('#').trim().to_string(),
            Style::default()
                .fg(Color::Magenta)
                .add_modifier(Modifier::BOLD),
        )],
        LineKind::Code => vec![Span::styled(
            format!("  {text}"),
            Style::default().fg(Color::Cyan),
        )],
        LineKind::Fence => vec![Span::styled(
            text.to_string(),
            Style::default().fg(Color::DarkGray),
        )],
        LineKind::Bullet | LineKind::Plain => {
            let (lead, body) = if kind == LineKind::Bullet {
                let indent = text.len() - text.trim_start().len();
                (format!("{}• ", " ".repeat(indent)), &text.trim_start()[2..])
            } else {
                (String::new(), text)
            };
            let mut spans = vec![Span::raw(lead)];
            let mut rest = body;
            while !rest.is_empty() {
                let next_code = rest.find('`');
                let next_bold = rest.find("**");
                match (next_code, next_bold) {
                    (Some(c), b) if b.is_none_or(|b| c < b) => {
                        if let Some(end) = rest[c + 1..].find('`') {
                            spans.push(Span::raw(rest[..c].to_string()));
                            spans.push(Span::styled(
                                rest[c + 1..c + 1 + end].to_string(),
                                Style::default().fg(Color::Cyan),
                            ));
                            rest = &rest[c + end + 2..];
                            continue;
                        }
                        spans.push(Span::raw(rest.to_string()));
                        break;
                    }
                    (_, Some(b)) => {
                        if let Some(end) = rest[b + 2..].find("**") {
                            spans.push(Span::raw(rest[..b].to_string()));
                            spans.push(Span::styled(
                                rest[b + 2..b + 2 + end].to_string(),
                                Style::default().add_modifier(Modifier::BOLD),
                            ));
                            rest = &rest[b + end + 4..];
                            continue;
                        }
                        spans.push(Span::raw(rest.to_string()));
                        break;
                    }
                    _ => {
                        spans.push(Span::raw(rest.to_string()));
                        break;
                    }
                }
            }
            spans
        }
    }
}
