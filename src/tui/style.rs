//! The look shared by panes and overlays: bordered blocks, the colours of task statuses and note
//! types, and where a centred window goes.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

use crate::session::{NoteType, TaskStatus};

/// A bordered block with a bold title; cyan borders when it has the focus.
pub(super) fn block<'a>(title: String, focused: bool) -> Block<'a> {
    let style = if focused {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
}

pub(super) fn status_color(s: TaskStatus) -> Color {
    match s {
        TaskStatus::InProgress => Color::Cyan,
        TaskStatus::Remaining => Color::White,
        TaskStatus::Blocked => Color::Yellow,
        TaskStatus::Completed => Color::Green,
        TaskStatus::Cancelled => Color::DarkGray,
    }
}

pub(super) fn note_color(t: NoteType) -> Color {
    match t {
        NoteType::Learning => Color::Blue,
        NoteType::Stuck => Color::Red,
        NoteType::Tip => Color::Green,
        NoteType::Decision => Color::Magenta,
    }
}

/// A window of at most `width` x `height` in the middle of `area`.
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
