//! The keys, over the dashboard: the key table, a line for each of its entries, and the mouse.

use ratatui::Frame;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::keys::{MOUSE, TABLE};
use crate::tui::style::{block, centered};

/// The width of the keys' column.
const KEYS_WIDTH: usize = 13;

/// The help's lines: the keys and what they do.
pub(crate) fn lines() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().map(|e| (e.keys, e.help)).chain([MOUSE])
}

pub(crate) fn draw(frame: &mut Frame) {
    let widest = lines().map(|(_, v)| v.chars().count()).max().unwrap_or(0);
    let area = centered(
        frame.area(),
        (KEYS_WIDTH + widest + 2) as u16,
        lines().count() as u16 + 4,
    );
    frame.render_widget(Clear, area);
    let lines: Vec<Line> = lines()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<KEYS_WIDTH$}"),
                    Style::default().fg(Color::Cyan),
                ),
                Span::raw(v),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(block(" Keys (any key closes) ".into(), true)),
        area,
    );
}
