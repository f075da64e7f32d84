//! What the tasks and notes panes share: rows grouped under headers, one selected item, kept in
//! ratatui's `ListState` (`selected`: the index among the items, headers are not selectable;
//! `offset`: the first row shown). The offset and the rows are set when a frame is laid out, so
//! drawing only reads them and a click finds the item that frame drew under the pointer.

use ratatui::layout::Rect;
use ratatui::widgets::ListState;

use crate::tui::keys::Action;

/// What a key did to a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKey {
    /// Not a list key: someone else may take it.
    Ignored,
    /// Handled (the selection moved, or there was nothing to open).
    Used,
    /// Open the details of this item.
    Open(u64),
}

#[derive(Debug)]
pub(super) struct ItemList {
    state: ListState,
    /// The item of every row laid out in the last frame (None: a header).
    rows: Vec<Option<u64>>,
    /// Where the pane (with its border) was laid out in the last frame.
    area: Rect,
}

impl Default for ItemList {
    fn default() -> Self {
        ItemList {
            state: ListState::default().with_selected(Some(0)),
            rows: Vec::new(),
            area: Rect::default(),
        }
    }
}

impl ItemList {
    pub(super) fn selected(&self) -> usize {
        self.state.selected().unwrap_or(0)
    }

    pub(super) fn select(&mut self, index: usize) {
        self.state.select(Some(index));
    }

    /// The next item, staying on the last of `len`.
    pub(super) fn next(&mut self, len: usize) {
        self.state.select_next();
        self.clamp(len);
    }

    pub(super) fn previous(&mut self) {
        self.state.select_previous();
    }

    /// Keeps the selection among `len` items (after some went away).
    /// j/k, arrows and Enter/space over items shown in `order` (their ids, top to bottom).
    pub(super) fn on_key(&mut self, action: Action, order: &[u64]) -> ListKey {
        match action {
            Action::Down => self.next(order.len()),
            Action::Up => self.previous(),
            Action::Open => {
                if let Some(id) = order.get(self.selected()) {
                    return ListKey::Open(*id);
                }
            }
            _ => return ListKey::Ignored,
        }
        ListKey::Used
    }

    /// The wheel moves the selection among `len` items.
    pub(super) fn on_wheel(&mut self, up: bool, len: usize) {
        if up {
            self.previous();
        } else {
            self.next(len);
        }
    }

    pub(super) fn clamp(&mut self, len: usize) {
        self.select(self.selected().min(len.saturating_sub(1)));
    }

    /// The first row drawn.
    pub(super) fn offset(&self) -> usize {
        self.state.offset()
    }

    /// Lays the list out for a frame: `rows` holds the item of each row (None for a header),
    /// `area` is the pane with its border. The offset is the smallest that shows the selected
    /// item on the last visible row or above.
    pub(super) fn lay_out(&mut self, rows: Vec<Option<u64>>, area: Rect) {
        let height = area.height.saturating_sub(2) as usize;
        let selected = self.selected();
        let pos = rows
            .iter()
            .enumerate()
            .filter(|(_, id)| id.is_some())
            .nth(selected)
            .map_or(0, |(row, _)| row);
        *self.state.offset_mut() = pos.saturating_sub(height.saturating_sub(1));
        self.rows = rows;
        self.area = area;
    }

    /// The item the last frame drew on screen row `y` (inside the border), now selected.
    pub(super) fn click(&mut self, y: u16) -> Option<u64> {
        let inner_top = self.area.y + 1;
        let height = self.area.height.saturating_sub(2);
        if y < inner_top || y >= inner_top + height {
            return None;
        }
        let row = self.offset() + (y - inner_top) as usize;
        let id = (*self.rows.get(row)?)?;
        let index = self.rows[..row].iter().filter(|r| r.is_some()).count();
        self.select(index);
        Some(id)
    }
}
