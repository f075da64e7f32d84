//! Where everything goes on screen. Computed once per frame, before anything is drawn, from the
//! terminal size and what is shown; the app keeps it, so a mouse event is tested against what the
//! last frame drew and drawing never changes the app.

use ratatui::layout::{Constraint, Rect};

use super::footer;

/// Width of the tasks and notes sidebar (at most half the screen).
const SIDEBAR_WIDTH: u16 = 44;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    pub status: Rect,
    /// The workers' strip above the agent output (`--workers`); empty otherwise.
    pub strip: Rect,
    pub agent: Rect,
    pub input: Rect,
    /// The sidebar's panes; empty when it is hidden.
    pub tasks: Rect,
    pub notes: Rect,
    /// The logs and notes views: everything between the status bar and the footer.
    pub main: Rect,
    pub footer: Rect,
    /// The footer's view buttons: dashboard, logs, notes.
    pub buttons: [Rect; 3],
    /// The buttons of a waiting permission request: allow once, allow always, deny.
    pub approval: [Rect; 3],
    /// The parts of the question window (tabs, choices, words, buttons).
    pub question: super::overlays::question::Hits,
}

/// Whether a screen of `area` is small: the sidebar is then hidden unless asked for.
fn compact(area: Rect) -> bool {
    area.width < 100 || area.height < 25
}

impl Layout {
    /// `sidebar` is the user's choice (Ctrl+S; None: automatic); the sidebar shows only on the
    /// dashboard.
    pub fn new(area: Rect, sidebar: Option<bool>, dashboard: bool) -> Self {
        let [status, main, footer] = ratatui::layout::Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        let sidebar = sidebar.unwrap_or(!compact(area)) && dashboard;
        let (left, right) = if sidebar {
            let [l, r] = ratatui::layout::Layout::horizontal([
                Constraint::Min(20),
                Constraint::Length(SIDEBAR_WIDTH.min(area.width / 2)),
            ])
            .areas(main);
            (l, r)
        } else {
            (main, Rect::default())
        };
        let [agent, input] =
            ratatui::layout::Layout::vertical([Constraint::Min(3), Constraint::Length(3)])
                .areas(left);
        let (tasks, notes) = if sidebar {
            let [t, n] = ratatui::layout::Layout::vertical([
                Constraint::Percentage(60),
                Constraint::Percentage(40),
            ])
            .areas(right);
            (t, n)
        } else {
            (Rect::default(), Rect::default())
        };
        Layout {
            status,
            strip: Rect::default(),
            agent,
            input,
            tasks,
            notes,
            main: Rect::new(agent.x, agent.y, area.width, agent.height + input.height),
            footer,
            buttons: footer::buttons(footer),
            approval: [Rect::default(); 3],
            question: Default::default(),
        }
    }

    /// Whether the last frame was small (nothing drawn yet counts as small).
    pub fn compact(&self) -> bool {
        compact(Rect::new(
            0,
            0,
            self.footer.width.max(self.status.width),
            self.footer.y + self.footer.height,
        ))
    }

    /// Lines in a page of the agent output (for PgUp/PgDn).
    pub fn page(&self) -> usize {
        self.agent.height.saturating_sub(2).max(1) as usize
    }
}
