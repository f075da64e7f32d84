//! The agent's output: the transcript of what the agent says, thinks and does, followed at the
//! bottom or scrolled up by lines. Enter (with the focus) expands tool output and thinking.

mod cell;
mod narrate;
pub(crate) mod transcript;

use crate::tui::keys::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use self::transcript::Transcript;
use crate::frontend::AgentUpdate;
use crate::session::EventKind;
use crate::tui::style::block;

/// Lines one turn of the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

#[derive(Debug, Default)]
pub struct AgentPane {
    transcript: Transcript,
    /// Lines scrolled up from the bottom; 0 = following the output.
    scroll: usize,
    /// The lines in view, rendered by [`AgentPane::lay_out`] for [`AgentPane::draw`].
    visible: Vec<Line<'static>>,
}

impl AgentPane {
    pub fn update(&mut self, update: &AgentUpdate) {
        self.transcript.agent(update);
    }

    pub fn divider(&mut self, text: String) {
        self.transcript.divider(text);
    }

    pub fn info(&mut self, text: String, warn: bool) {
        self.transcript.info(text, warn);
    }

    /// Watching another process's build: tells what its log records.
    pub fn narrate(&mut self, kind: &EventKind) {
        narrate::narrate(&mut self.transcript, kind);
    }

    pub fn scroll(&self) -> usize {
        self.scroll
    }

    pub fn expanded(&self) -> bool {
        self.transcript.expanded()
    }

    /// Scrolling and expanding; `page` is a screenful of lines. Returns whether the key was used.
    pub fn on_key(&mut self, action: Action, page: usize, focused: bool) -> bool {
        match action {
            Action::Up => self.scroll += 1,
            Action::Down => self.scroll = self.scroll.saturating_sub(1),
            Action::PageUp => self.scroll += page,
            Action::PageDown => self.scroll = self.scroll.saturating_sub(page),
            Action::Follow => self.scroll = 0,
            Action::Top => self.scroll = usize::MAX / 2,
            Action::Open if focused => self.transcript.toggle_expanded(),
            _ => return false,
        }
        true
    }

    pub fn on_wheel(&mut self, up: bool) {
        self.scroll = if up {
            self.scroll + WHEEL_LINES
        } else {
            self.scroll.saturating_sub(WHEEL_LINES)
        };
    }

    /// Renders the lines in view of a pane at `area` (complete Markdown blocks come from the
    /// cache; only the open block is parsed again).
    pub fn lay_out(&mut self, area: Rect) {
        let inner = block(String::new(), false).inner(area);
        self.visible = if inner.height == 0 {
            Vec::new()
        } else {
            self.transcript
                .bottom_lines(inner.width, inner.height as usize, self.scroll)
        };
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, focused: bool) {
        let title = if self.scroll == 0 {
            " Agent ".to_string()
        } else {
            format!(" Agent (scrolled up {}; End follows) ", self.scroll)
        };
        let b = block(title, focused);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        for (row, line) in (inner.y..inner.bottom()).zip(&self.visible) {
            frame.render_widget(line, Rect::new(inner.x, row, inner.width, 1));
        }
    }
}
