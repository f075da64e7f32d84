//! The logs view: the session's events, newest last, one line each (sequence, author, type, JSON);
//! the last [`LOG_KEEP`] are kept in memory.

use std::collections::VecDeque;

use crate::tui::keys::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::session::Event;
use crate::tui::style::block;

/// Log events kept for the logs view.
pub const LOG_KEEP: usize = 2_000;
/// Lines one turn of the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

#[derive(Debug, Default)]
pub(crate) struct LogsPane {
    log: VecDeque<(u64, Event)>,
    /// Events scrolled up from the newest; 0 = following.
    scroll: usize,
}

impl LogsPane {
    pub(crate) fn push(&mut self, seq: u64, event: Event) {
        self.log.push_back((seq, event));
        while self.log.len() > LOG_KEEP {
            self.log.pop_front();
        }
    }

    /// Scrolling; `page` is a screenful of lines.
    pub(crate) fn on_key(&mut self, action: Action, page: usize) {
        match action {
            Action::Up => self.scroll += 1,
            Action::Down => self.scroll = self.scroll.saturating_sub(1),
            Action::PageUp => self.scroll += page,
            Action::PageDown => self.scroll = self.scroll.saturating_sub(page),
            Action::Follow => self.scroll = 0,
            _ => {}
        }
    }

    pub(crate) fn on_wheel(&mut self, up: bool) {
        self.scroll = if up {
            self.scroll + WHEEL_LINES
        } else {
            self.scroll.saturating_sub(WHEEL_LINES)
        };
    }

    /// `events` is the number of events the session holds (more than are kept).
    pub(crate) fn draw(&self, frame: &mut Frame, area: Rect, events: u64) {
        let b = block(
            format!(" Session log ({events} events; newest last) "),
            true,
        );
        let inner = b.inner(area);
        frame.render_widget(b, area);
        let height = inner.height as usize;
        let end = self
            .log
            .len()
            .saturating_sub(self.scroll.min(self.log.len()));
        let start = end.saturating_sub(height);
        let lines: Vec<Line> = self
            .log
            .iter()
            .skip(start)
            .take(end - start)
            .map(|(seq, e)| {
                let json = serde_json::to_string(&e.kind).unwrap_or_default();
                let json: String = json
                    .chars()
                    .take(inner.width.saturating_sub(30) as usize)
                    .collect();
                Line::from(vec![
                    Span::styled(format!("#{seq:<5} "), Style::default().fg(Color::DarkGray)),
                    Span::styled(
                        format!("{:<7}", e.by.as_str()),
                        Style::default().fg(Color::Cyan),
                    ),
                    Span::styled(
                        format!("{:<22}", e.kind.type_name()),
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(json),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
