//! A Markdown table as lines: columns as wide as their widest cell (the widest shrunk first when
//! the table is wider than the screen; cut cells end in `…`), aligned as the delimiter row says,
//! with box-drawing borders and the header in bold.

use pulldown_cmark::Alignment;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::render::wrap::{clip, width_of};

type Cell = Vec<Span<'static>>;

#[derive(Debug, Default)]
pub(super) struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Cell>>,
    head_rows: usize,
    row: Vec<Cell>,
    cell: Cell,
}

impl Table {
    pub(super) fn new(aligns: Vec<Alignment>) -> Table {
        Table {
            aligns,
            ..Table::default()
        }
    }

    pub(super) fn push(&mut self, span: Span<'static>) {
        self.cell.push(span);
    }

    /// The cell being written.
    pub(super) fn cell(&self) -> &Vec<Span<'static>> {
        &self.cell
    }

    pub(super) fn end_cell(&mut self) {
        let cell = std::mem::take(&mut self.cell);
        self.row.push(cell);
    }

    pub(super) fn end_row(&mut self, head: bool) {
        let row = std::mem::take(&mut self.row);
        self.rows.push(row);
        if head {
            self.head_rows = self.rows.len();
        }
    }

    /// The table in at most `width` columns.
    pub(super) fn lines(&self, width: usize) -> Vec<Line<'static>> {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.aligns.len());
        if columns == 0 {
            return Vec::new();
        }
        let mut widths = vec![1; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width_of(cell));
            }
        }
        // Borders and padding: "│ " before each column, " │" after the last.
        let room = width.saturating_sub(3 * columns + 1);
        while widths.iter().sum::<usize>() > room {
            let Some((widest, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w)
            else {
                break;
            };
            if w <= 3 {
                break;
            }
            widths[widest] -= 1;
        }
        let border = Style::default().fg(Color::DarkGray);
        let rule = |left: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            Line::styled(format!("{left}{}{right}", parts.join(mid)), border)
        };
        let mut out = vec![rule("┌", "┬", "┐")];
        for (r, row) in self.rows.iter().enumerate() {
            if r == self.head_rows && r > 0 {
                out.push(rule("├", "┼", "┤"));
            }
            let mut spans = vec![Span::styled("│", border)];
            for (i, w) in widths.iter().enumerate() {
                let empty = Vec::new();
                let cell = row.get(i).unwrap_or(&empty);
                let (mut content, used) = clip(cell, *w);
                if r < self.head_rows {
                    for s in &mut content {
                        s.style = s.style.add_modifier(Modifier::BOLD);
                    }
                }
                let pad = w - used.min(*w);
                let (before, after) = match self.aligns.get(i) {
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                spans.push(Span::raw(" ".repeat(before + 1)));
                spans.extend(content);
                spans.push(Span::raw(" ".repeat(after + 1)));
                spans.push(Span::styled("│", border));
            }
            out.push(Line::from(spans));
        }
        out.push(rule("└", "┴", "┘"));
        // A screen narrower than the narrowest table: cut every line.
        if widths.iter().sum::<usize>() + 3 * columns + 1 > width {
            out = out
                .into_iter()
                .map(|l| Line::from(clip(&l.spans, width).0))
                .collect();
        }
        out
    }
}
