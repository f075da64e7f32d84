//! Windows over the dashboard: the keys, a task's details, a note.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::app::App;
use super::view::{block, note_color, status_color};
use crate::session::{note_id, task_id};

fn centered(frame: &Frame, width: u16, height: u16) -> Rect {
    let a = frame.area();
    let w = width.min(a.width);
    let h = height.min(a.height);
    Rect::new(a.x + (a.width - w) / 2, a.y + (a.height - h) / 2, w, h)
}

pub(super) fn draw_help(frame: &mut Frame) {
    let keys = [
        ("Ctrl+C", "stop the agent and quit (twice: at once)"),
        ("Ctrl+L", "session log view (again: back)"),
        ("Ctrl+S", "show or hide the sidebar"),
        ("Tab", "cycle Agent → Tasks → Notes"),
        ("i", "type a message to the agent; Enter sends, Esc leaves"),
        ("j/k ↑/↓", "scroll the output, move in lists"),
        ("PgUp/PgDn", "scroll a page; End follows the output again"),
        (
            "Enter/space",
            "on Agent: expand tool output and thinking; on a task or note: details",
        ),
        ("a", "on Tasks: add a task; on Notes: add a note"),
        (
            "s + - e",
            "in a task's details: next status, priority up/down, edit",
        ),
        (
            "y a n",
            "when the agent asks permission (--approve ask): allow once, always, deny",
        ),
        ("Esc", "back to the dashboard"),
        (
            "mouse",
            "click a pane or an item, wheel scrolls, footer buttons switch views",
        ),
    ];
    let area = centered(frame, 84, keys.len() as u16 + 4);
    frame.render_widget(Clear, area);
    let lines: Vec<Line> = keys
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<13}"), Style::default().fg(Color::Cyan)),
                Span::raw(*v),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(block(" Keys (any key closes) ".into(), true)),
        area,
    );
}

pub(super) fn draw_task_detail(frame: &mut Frame, app: &App, id: u64) {
    let Some(t) = app.state.tasks.get(&id) else {
        return;
    };
    let area = centered(frame, 76, 14);
    frame.render_widget(Clear, area);
    let deps = if t.depends_on.is_empty() {
        "none".to_string()
    } else {
        t.depends_on
            .iter()
            .map(|d| task_id(*d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let label = |s: &str| Span::styled(format!("{s:<11}"), Style::default().fg(Color::DarkGray));
    let mut lines = vec![
        Line::from(vec![
            label("status"),
            Span::styled(
                t.status.to_string(),
                Style::default().fg(status_color(t.status)),
            ),
        ]),
        Line::from(vec![
            label("priority"),
            Span::raw(format!("p{}", t.priority)),
        ]),
        Line::from(vec![label("after"), Span::raw(deps)]),
        Line::from(vec![
            label("created"),
            Span::raw(format!(
                "{}{}",
                crate::session::display::format_time(t.created_at_ms),
                t.created_iteration
                    .map(|i| format!(" (iteration {i})"))
                    .unwrap_or_default()
            )),
        ]),
        Line::from(vec![
            label("changed"),
            Span::raw(format!(
                "{}{}",
                crate::session::display::format_time(t.updated_at_ms),
                t.updated_iteration
                    .map(|i| format!(" (iteration {i})"))
                    .unwrap_or_default()
            )),
        ]),
        Line::raw(""),
        Line::raw(t.content.clone()),
        Line::raw(""),
    ];
    lines.push(Line::styled(
        if app.read_only {
            "Esc close (watching: read-only)"
        } else {
            "s next status · + / - priority · e edit · Esc close"
        },
        Style::default().fg(Color::DarkGray),
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(format!(" {} ", t.label()), true)),
        area,
    );
}

pub(super) fn draw_note_detail(frame: &mut Frame, app: &App, id: u64) {
    let Some(n) = app.state.notes.get(&id) else {
        return;
    };
    let area = centered(frame, 76, 12);
    frame.render_widget(Clear, area);
    let lines = vec![
        Line::styled(
            format!(
                "{}{}",
                n.note_type,
                n.iteration
                    .map(|i| format!(", iteration {i}"))
                    .unwrap_or_default()
            ),
            Style::default().fg(note_color(n.note_type)),
        ),
        Line::raw(""),
        Line::raw(n.content.clone()),
        Line::raw(""),
        Line::styled("Esc close", Style::default().fg(Color::DarkGray)),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(format!(" {} ", note_id(n.id)), true)),
        area,
    );
}
