//! The notes pane: notes grouped by type, one line each in the sidebar (j/k move, Enter opens a
//! note), or every note in full in the notes view.

use crate::tui::keys::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::list::{ItemList, ListKey};
use crate::session::{NoteType, SessionState, note_id};
use crate::tui::style::{block, note_color};

#[derive(Debug, Default)]
pub(crate) struct NotesPane {
    list: ItemList,
}

/// Notes in the order the pane lists them.
fn order(state: &SessionState) -> Vec<u64> {
    state
        .notes_by_type()
        .into_iter()
        .flat_map(|(_, notes)| notes.into_iter().map(|n| n.id))
        .collect()
}

/// The pane's rows: a header per note type that has notes, then its notes.
fn row_ids(state: &SessionState) -> Vec<Option<u64>> {
    let mut rows = Vec::new();
    for (_, notes) in state.notes_by_type() {
        rows.push(None);
        rows.extend(notes.iter().map(|n| Some(n.id)));
    }
    rows
}

fn header(note_type: NoteType) -> Line<'static> {
    Line::styled(
        note_type.to_string(),
        Style::default()
            .fg(note_color(note_type))
            .add_modifier(Modifier::BOLD),
    )
}

impl NotesPane {
    /// Keeps the selection on a note that exists.
    pub(crate) fn clamp(&mut self, state: &SessionState) {
        self.list.clamp(state.notes.len());
    }

    pub(crate) fn lay_out(&mut self, state: &SessionState, area: Rect) {
        // Hidden (no sidebar): nothing to lay out, nothing to click.
        let rows = if area.is_empty() {
            Vec::new()
        } else {
            row_ids(state)
        };
        self.list.lay_out(rows, area);
    }

    pub(crate) fn on_key(&mut self, action: Action, state: &SessionState) -> ListKey {
        self.list.on_key(action, &order(state))
    }

    /// The wheel moves the selection.
    pub(crate) fn on_wheel(&mut self, up: bool, state: &SessionState) {
        self.list.on_wheel(up, state.notes.len());
    }

    /// A click on screen row `y`: the note drawn there, now selected.
    pub(crate) fn on_click(&mut self, y: u16) -> Option<u64> {
        self.list.click(y)
    }

    /// The sidebar pane: one line a note.
    pub(crate) fn draw(&self, frame: &mut Frame, area: Rect, state: &SessionState, focused: bool) {
        let Some(inner) = Self::frame(frame, area, state, focused) else {
            return;
        };
        let width = inner.width as usize;
        let selected = focused.then(|| self.list.selected());
        let mut lines = Vec::new();
        let mut index = 0;
        for (note_type, notes) in state.notes_by_type() {
            lines.push(header(note_type));
            for n in notes {
                let style = if selected == Some(index) {
                    Style::default().bg(Color::DarkGray)
                } else {
                    Style::default()
                };
                let text = format!("{} {}", note_id(n.id), n.content.replace('\n', " "));
                lines.push(Line::styled(
                    text.chars().take(width).collect::<String>(),
                    style,
                ));
                index += 1;
            }
        }
        let shown: Vec<Line> = lines
            .into_iter()
            .skip(self.list.offset())
            .take(inner.height as usize)
            .collect();
        frame.render_widget(Paragraph::new(shown), inner);
    }

    /// The notes view: every note in full, wrapped.
    pub(crate) fn draw_all(&self, frame: &mut Frame, area: Rect, state: &SessionState) {
        let Some(inner) = Self::frame(frame, area, state, true) else {
            return;
        };
        let mut lines: Vec<Line> = Vec::new();
        for (note_type, notes) in state.notes_by_type() {
            lines.push(header(note_type));
            for n in notes {
                lines.push(Line::raw(format!("{} {}", note_id(n.id), n.content)));
            }
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }

    /// The border and title; None (after saying so) when there are no notes.
    fn frame(frame: &mut Frame, area: Rect, state: &SessionState, focused: bool) -> Option<Rect> {
        let b = block(format!(" Notes ({}) ", state.notes.len()), focused);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        if state.notes.is_empty() {
            let empty = Line::styled("no notes yet", Style::default().fg(Color::DarkGray));
            frame.render_widget(Paragraph::new(empty), inner);
            return None;
        }
        Some(inner)
    }
}
