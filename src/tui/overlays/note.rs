//! A note in full, with its type and iteration (the key table says what closes it).

use ratatui::Frame;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::session::{Note, note_id};
use crate::tui::style::{block, centered, note_color};

pub(crate) fn draw(frame: &mut Frame, n: &Note) {
    let area = centered(frame.area(), 76, 12);
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
