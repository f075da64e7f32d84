//! The agent's output as a list of cells (text, thinking, tool calls, iteration dividers) that
//! render to lines for any width. Memory is bounded: past [`MAX_LINES`] stored lines the oldest
//! cells are dropped (from memory only; the session log keeps everything).

use std::collections::VecDeque;

use ratatui::style::{Color, Style};
use ratatui::text::Line;

use super::cell::Cell;
use crate::frontend::AgentUpdate;
use crate::render::diff::FileDiff;
use crate::render::markdown::MarkdownStream;

/// Lines kept in memory across all cells.
pub const MAX_LINES: usize = 10_000;
/// Characters kept of thinking and of a tool's output.
const MAX_CHARS: usize = 16_000;

#[derive(Debug, Default)]
pub(crate) struct Transcript {
    cells: VecDeque<Cell>,
    stored: usize,
    /// Cells dropped from memory so far.
    dropped: usize,
    /// Show tool output and thinking in full.
    expanded: bool,
}

impl Transcript {
    pub(crate) fn expanded(&self) -> bool {
        self.expanded
    }

    /// Shows tool output and thinking in full, or not.
    pub(crate) fn toggle_expanded(&mut self) {
        self.expanded = !self.expanded;
    }

    pub(crate) fn push(&mut self, cell: Cell) {
        self.stored += cell.stored_lines();
        self.cells.push_back(cell);
        self.trim();
    }

    fn trim(&mut self) {
        while self.stored > MAX_LINES && self.cells.len() > 1 {
            if let Some(old) = self.cells.pop_front() {
                self.stored = self.stored.saturating_sub(old.stored_lines());
                self.dropped += 1;
            }
        }
        // One enormous text cell: drop its oldest blocks, a tenth of the limit at least at a
        // time, so a long stream does not shift the lines on every append.
        if self.stored > MAX_LINES
            && let Some(Cell::Text(stream)) = self.cells.front_mut()
        {
            let excess = (self.stored - MAX_LINES).max(MAX_LINES / 10);
            let dropped = stream.drop_front(excess);
            if dropped > 0 {
                self.stored -= dropped;
                self.dropped += 1;
            }
        }
    }

    /// The cell of tool call `id` in the current iteration. Ids are unique only within an ACP
    /// session (an agent may use `call-1` again in the next one), and every iteration opens a new
    /// session, so the search stops at the iteration's divider.
    fn current_tool(&mut self, id: &str) -> Option<&mut Cell> {
        self.cells
            .iter_mut()
            .rev()
            .take(200)
            .take_while(|c| !matches!(c, Cell::Divider(_)))
            .find(|c| matches!(c, Cell::Tool { id: cid, .. } if cid == id))
    }

    pub(crate) fn divider(&mut self, text: String) {
        self.push(Cell::Divider(text));
    }

    pub(crate) fn info(&mut self, text: String, warn: bool) {
        self.push(Cell::Info { text, warn });
    }

    /// Streamed text: Markdown rendered block by block as it completes.
    pub(crate) fn text(&mut self, chunk: &str) {
        if let Some(Cell::Text(stream)) = self.cells.back_mut() {
            self.stored += stream.push(chunk);
            self.trim();
        } else {
            let mut stream = MarkdownStream::default();
            stream.push(chunk);
            self.push(Cell::Text(stream));
        }
    }

    pub(crate) fn thought(&mut self, chunk: &str) {
        if let Some(Cell::Thought(t)) = self.cells.back_mut() {
            let before = t.lines().count();
            t.push_str(chunk);
            if t.len() > MAX_CHARS {
                let keep = t.len() - MAX_CHARS;
                let cut = t
                    .char_indices()
                    .find(|(i, _)| *i >= keep)
                    .map_or(0, |(i, _)| i);
                t.drain(..cut);
            }
            self.stored += t.lines().count().saturating_sub(before);
            self.trim();
        } else {
            self.push(Cell::Thought(chunk.to_string()));
        }
    }

    pub(crate) fn agent(&mut self, update: &AgentUpdate) {
        match update {
            AgentUpdate::Text { text } => self.text(text),
            // Shown in the status bar and at the iteration's end, not in the transcript.
            AgentUpdate::Usage { .. } => {}
            AgentUpdate::Thought { text } => self.thought(text),
            // Some agents announce the same call twice (claude-code-acp): the second is an update.
            AgentUpdate::ToolCall {
                id, title, status, ..
            } if self.current_tool(id).is_some() => self.agent(&AgentUpdate::ToolUpdate {
                id: id.clone(),
                title: Some(title.clone()),
                status: Some(*status),
                output: String::new(),
                diffs: Vec::new(),
            }),
            AgentUpdate::ToolCall {
                id, title, status, ..
            } => self.push(Cell::Tool {
                id: id.clone(),
                title: if title.is_empty() {
                    "tool".into()
                } else {
                    title.clone()
                },
                status: *status,
                output: String::new(),
                diffs: Vec::new(),
            }),
            AgentUpdate::ToolUpdate {
                id,
                title: new_title,
                status: new_status,
                output: new_output,
                diffs: new_diffs,
            } => {
                if let Some(Cell::Tool {
                    title,
                    status,
                    output,
                    diffs,
                    ..
                }) = self.current_tool(id)
                {
                    if let Some(t) = new_title.as_ref().filter(|t| !t.is_empty()) {
                        *title = t.clone();
                    }
                    if let Some(s) = new_status {
                        *status = *s;
                    }
                    if !new_output.is_empty() {
                        *output = new_output.chars().take(MAX_CHARS).collect();
                    }
                    if !new_diffs.is_empty() {
                        *diffs = new_diffs
                            .iter()
                            .map(|d| FileDiff::new(&d.path, d.old.as_deref(), &d.new))
                            .collect();
                    }
                }
            }
            AgentUpdate::Plan { entries } => {
                let text = entries
                    .iter()
                    .map(|e| format!("[{}] {}", e.status, e.content))
                    .collect::<Vec<_>>()
                    .join("\n");
                self.info(format!("plan:\n{text}"), false);
            }
            // The request itself is shown in its own window until it is answered; quiet
            // allowances are counted in the iteration's end line.
            AgentUpdate::PermissionAsked { .. } | AgentUpdate::AllowedQuietly { .. } => {}
            AgentUpdate::Permission {
                tool,
                title,
                decision,
                rule,
                ..
            } => self.info(
                format!(
                    "permission: {} → {}",
                    crate::frontend::call_label(tool, title),
                    decision.describe(rule.as_deref())
                ),
                !decision.allowed(),
            ),
            AgentUpdate::File {
                op,
                path,
                allowed,
                error,
            } => {
                if !allowed {
                    self.info(
                        format!(
                            "file {op} {path} refused: {}",
                            error.as_deref().unwrap_or("")
                        ),
                        true,
                    );
                }
            }
            AgentUpdate::Exited { status } => {
                if status.is_news() {
                    self.info(format!("agent exited ({status})"), true);
                }
            }
        }
    }

    /// The last `height` lines (after skipping `offset` lines from the bottom) at `width`.
    /// Complete Markdown blocks are rendered once per width and kept.
    pub(crate) fn bottom_lines(
        &mut self,
        width: u16,
        height: usize,
        offset: usize,
    ) -> Vec<Line<'static>> {
        let width = width.max(10) as usize;
        let need = height + offset;
        let mut out: Vec<Line<'static>> = Vec::new();
        for cell in self.cells.iter_mut().rev() {
            let mut lines = cell.render(width, self.expanded, need - out.len());
            lines.reverse();
            out.extend(lines);
            if out.len() >= need {
                break;
            }
        }
        if out.len() < need && self.dropped > 0 {
            out.push(Line::styled(
                format!("(older output was dropped from memory after {MAX_LINES} lines; the session log keeps it)"),
                Style::default().fg(Color::DarkGray),
            ));
        }
        let start = offset.min(out.len());
        let end = (offset + height).min(out.len());
        let mut visible: Vec<Line<'static>> = out[start..end].to_vec();
        visible.reverse();
        visible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::render::texts as plain;

    #[test]
    fn streaming_text_keeps_a_live_line() {
        let mut t = Transcript::default();
        t.text("Hello wor");
        assert_eq!(plain(&t.bottom_lines(40, 5, 0)), ["Hello wor"]);
        t.text("ld\n- item `x`\n```\ncode\n```\nnext");
        assert_eq!(
            plain(&t.bottom_lines(40, 10, 0)),
            ["Hello world", "• item x", "  code", "next"]
        );
    }

    #[test]
    fn wraps_and_scrolls() {
        let mut t = Transcript::default();
        t.text(&format!("{}\nlast\n", "x".repeat(25)));
        assert_eq!(
            plain(&t.bottom_lines(10, 10, 0)),
            ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "last"]
        );
        assert_eq!(plain(&t.bottom_lines(10, 2, 1)), ["xxxxxxxxxx", "xxxxx"]);
    }

    #[test]
    fn a_call_id_reused_in_the_next_iteration_is_a_new_call() {
        let call = |title: &str| AgentUpdate::ToolCall {
            id: "call-1".into(),
            title: title.into(),
            kind: crate::frontend::ToolKind::Other,
            status: crate::frontend::ToolStatus::Completed,
            input: None,
        };
        let mut t = Transcript::default();
        t.divider("iteration 1".into());
        t.agent(&call("task-list"));
        t.agent(&call("task-list"));
        t.divider("iteration 2".into());
        t.agent(&call("task-next"));
        let titles: Vec<&str> = t
            .cells
            .iter()
            .filter_map(|c| match c {
                Cell::Tool { title, .. } => Some(title.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(titles, ["task-list", "task-next"]);
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Transcript::default();
        for i in 0..(MAX_LINES * 3) {
            t.text(&format!("line {i}\n"));
            if i % 100 == 0 {
                t.push(Cell::Divider(format!("d{i}")));
            }
        }
        assert!(t.stored <= MAX_LINES + 1, "{}", t.stored);
        assert!(t.dropped > 0);
        // A line without end is cut too.
        t.text(&"y".repeat(12_000));
        let shown: usize = plain(&t.bottom_lines(200, 100, 0))
            .iter()
            .map(|l| l.chars().filter(|c| *c == 'y').count())
            .sum();
        assert!(shown <= 4_000, "{shown}");
    }

    #[test]
    fn one_endless_text_is_bounded_too() {
        let mut t = Transcript::default();
        for i in 0..(MAX_LINES * 3) {
            t.text(&format!("line {i} of one long answer\n"));
        }
        assert!(t.stored <= MAX_LINES + 1, "{}", t.stored);
        assert_eq!(t.cells.len(), 1);
        assert_eq!(
            plain(&t.bottom_lines(80, 1, 0)),
            [format!("line {} of one long answer", MAX_LINES * 3 - 1)]
        );
    }
}
