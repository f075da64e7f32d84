//! The bottom line: the view buttons (Dashboard, Logs, Notes) and a reminder of the keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The buttons, in the order of the views they switch to.
const BUTTONS: [&str; 3] = ["Dashboard", "Logs", "Notes"];

/// Where the buttons are on the footer line at `area`.
pub(super) fn buttons(area: Rect) -> [Rect; 3] {
    let mut buttons = [Rect::default(); 3];
    let mut x = area.x;
    for (i, label) in BUTTONS.iter().enumerate() {
        let w = label.chars().count() as u16 + 2;
        buttons[i] = Rect::new(x, area.y, w.min(area.width.saturating_sub(x - area.x)), 1);
        x += w + 1;
    }
    buttons
}

/// `current` is the index of the view shown; `finished`: the build is over.
pub(super) fn draw(frame: &mut Frame, area: Rect, current: usize, finished: bool) {
    let mut spans = Vec::new();
    for (i, label) in BUTTONS.iter().enumerate() {
        let style = if i == current {
            Style::default().bg(Color::Cyan).fg(Color::Black)
        } else {
            Style::default().bg(Color::DarkGray).fg(Color::White)
        };
        spans.push(Span::styled(format!(" {label} "), style));
        spans.push(Span::raw(" "));
    }
    let hint = if finished {
        "q or Ctrl+C leave"
    } else {
        "Tab pane · i type · Ctrl+L logs · Ctrl+S sidebar · ? keys · Ctrl+C quit"
    };
    spans.push(Span::styled(hint, Style::default().fg(Color::DarkGray)));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
