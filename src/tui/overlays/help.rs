//! The keys, over the dashboard; any key closes it.

use ratatui::Frame;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::style::{block, centered};

pub fn draw(frame: &mut Frame) {
    let keys = [
        ("Ctrl+C", "stop the agent and quit (twice: at once)"),
        ("Ctrl+L", "session log view (again: back)"),
        ("Ctrl+S", "show or hide the sidebar"),
        ("w", "with --workers: show the next worker's output"),
        ("Tab", "cycle Agent → Tasks → Notes"),
        ("i", "type a message to the agent; Enter sends, Esc leaves"),
        (
            "p",
            "pause after this iteration (again: go on); iteratr pause/resume do the same",
        ),
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
    let area = centered(frame.area(), 84, keys.len() as u16 + 4);
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
