//! The tasks pane: tasks grouped by status (in progress first), one line each with its id,
//! priority and dependencies; j/k move, Enter opens a task's details.

use crate::tui::keys::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::list::{ItemList, ListKey};
use crate::session::{SessionState, TaskStatus, task_id};
use crate::tui::style::{block, status_color};

#[derive(Debug, Default)]
pub(crate) struct TasksPane {
    list: ItemList,
}

/// Tasks in the order the pane lists them.
fn order(state: &SessionState) -> Vec<u64> {
    TaskStatus::ALL
        .iter()
        .flat_map(|s| state.tasks_with_status(*s))
        .map(|t| t.id)
        .collect()
}

/// The pane's rows: a header per status that has tasks, then its tasks.
fn row_ids(state: &SessionState) -> Vec<Option<u64>> {
    let mut rows = Vec::new();
    for status in TaskStatus::ALL {
        let tasks = state.tasks_with_status(status);
        if !tasks.is_empty() {
            rows.push(None);
            rows.extend(tasks.iter().map(|t| Some(t.id)));
        }
    }
    rows
}

impl TasksPane {
    /// The index of the selected task in the pane's order.
    pub(crate) fn selected(&self) -> usize {
        self.list.selected()
    }

    pub(crate) fn select(&mut self, index: usize) {
        self.list.select(index);
    }

    /// Keeps the selection on a task that exists.
    pub(crate) fn clamp(&mut self, state: &SessionState) {
        self.list.clamp(state.tasks.len());
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
        self.list.on_wheel(up, state.tasks.len());
    }

    /// A click on screen row `y`: the task drawn there, now selected.
    pub(crate) fn on_click(&mut self, y: u16) -> Option<u64> {
        self.list.click(y)
    }

    pub(crate) fn draw(&self, frame: &mut Frame, area: Rect, state: &SessionState, focused: bool) {
        let b = block(format!(" Tasks ({}) ", state.tasks.len()), focused);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        if state.tasks.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    "no tasks yet",
                    Style::default().fg(Color::DarkGray),
                )),
                inner,
            );
            return;
        }
        let width = inner.width as usize;
        let selected = focused.then(|| self.selected());
        let mut lines = Vec::new();
        let mut index = 0;
        for status in TaskStatus::ALL {
            let tasks = state.tasks_with_status(status);
            if tasks.is_empty() {
                continue;
            }
            lines.push(Line::styled(
                format!("{} ({})", status.as_str().replace('_', " "), tasks.len()),
                Style::default()
                    .fg(status_color(status))
                    .add_modifier(Modifier::BOLD),
            ));
            for t in tasks {
                let deps = if t.depends_on.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ←{}",
                        t.depends_on
                            .iter()
                            .map(|d| task_id(*d))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                };
                let text = format!(
                    "{} p{} {}{deps}",
                    t.label(),
                    t.priority,
                    t.content.replace('\n', " ")
                );
                let clipped: String = text.chars().take(width.saturating_sub(1)).collect();
                let style = if selected == Some(index) {
                    Style::default().bg(Color::DarkGray).fg(Color::White)
                } else {
                    Style::default()
                };
                lines.push(Line::styled(clipped, style));
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
}
