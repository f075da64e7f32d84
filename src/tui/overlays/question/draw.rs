//! The question window drawn, and where its parts are for the mouse: the questions' headers as
//! tabs (several questions), the question shown, its numbered choices, the answer in words and
//! the buttons. Lines are wrapped here, so every row's place is known; a window taller than the
//! screen scrolls to keep the cursor in view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::QuestionWindow;
use crate::render::wrap::{width_of, wrap_prefixed};
use crate::session::{CHOICES_PER_QUESTION, QUESTIONS_PER_CALL, SessionState};
use crate::tui::keys::{self, Action, Scope};

/// Where the window's parts were in the last frame (nothing when it is not shown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    /// The choices of the question shown, then its answer in words (by row).
    pub rows: [Rect; CHOICES_PER_QUESTION + 1],
    /// The questions' tabs (several questions in one).
    pub tabs: [Rect; QUESTIONS_PER_CALL],
    pub send: Rect,
    pub aside: Rect,
}

/// The window of a question at a screen size.
struct Window {
    area: Rect,
    lines: Vec<Line<'static>>,
    scroll: u16,
    hits: Hits,
}

/// The key that does `action` in the window, as its buttons and hint name it.
fn key_of(action: Action) -> String {
    keys::name_of(Scope::Question, action)
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

impl QuestionWindow {
    /// Where the window's parts go on a screen of `area`.
    pub(crate) fn lay_out(&self, area: Rect, state: &SessionState) -> Hits {
        self.window(area, state)
            .map_or_else(Hits::default, |w| w.hits)
    }

    /// Draws the question shown over everything (under a permission request).
    pub(crate) fn draw(&self, frame: &mut Frame, state: &SessionState) {
        let Some(w) = self.window(frame.area(), state) else {
            return;
        };
        let Some((d, q)) = self.current(state) else {
            return;
        };
        let asks = q.worker.as_deref().unwrap_or("The agent");
        let others = state.questions.open().count().saturating_sub(1);
        let more = if others > 0 {
            format!(" · {others} more waiting")
        } else {
            String::new()
        };
        let title = format!(
            " {asks} asks · {}{more} ",
            crate::session::question_id(d.question)
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(Color::Yellow))
            .title(Span::styled(
                title,
                Style::default().add_modifier(Modifier::BOLD),
            ));
        frame.render_widget(Clear, w.area);
        frame.render_widget(
            Paragraph::new(w.lines).scroll((w.scroll, 0)).block(block),
            w.area,
        );
    }

    fn window(&self, area: Rect, state: &SessionState) -> Option<Window> {
        self.shown()?;
        let (d, q) = self.current(state)?;
        let width = area.width.saturating_sub(4).min(90);
        let inner = width.saturating_sub(2) as usize;
        let mut lines: Vec<Line<'static>> = Vec::new();
        // Several questions: their headers as tabs, answered ones ticked.
        let mut tabs = Vec::new();
        if q.items.len() > 1 {
            let mut spans = Vec::new();
            let mut x = 0u16;
            for (i, item) in q.items.iter().enumerate() {
                let tick = if d.answered(i) { " ✓" } else { "" };
                let text = format!(" {}{tick} ", item.header);
                let style = if i == d.item {
                    Style::default().fg(Color::Black).bg(Color::Cyan)
                } else {
                    Style::default().fg(Color::Cyan)
                };
                let w = width_of(&[Span::raw(text.as_str())]) as u16;
                tabs.push((x, w));
                spans.push(Span::styled(text, style));
                spans.push(Span::raw(" "));
                x += w + 1;
            }
            lines.push(Line::from(spans));
        }
        let item = &q.items[d.item.min(q.items.len().saturating_sub(1))];
        lines.push(Line::styled(
            item.header.clone(),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ));
        for l in item.question.lines() {
            wrap_prefixed(&mut lines, vec![Span::raw(l.to_string())], inner, &[], &[]);
        }
        lines.push(Line::raw(""));
        // The rows: each choice, then the answer in words; where each starts and ends.
        let mut rows: Vec<(usize, usize)> = Vec::new();
        for (i, c) in item.choices.iter().enumerate() {
            let start = lines.len();
            let picked = d.picked[d.item].contains(&i);
            let mark = match (item.multiple, picked) {
                (true, true) => "[x]",
                (true, false) => "[ ]",
                (false, true) => "(•)",
                (false, false) => "( )",
            };
            let number = if i < 9 {
                format!("{} ", i + 1)
            } else {
                "  ".into()
            };
            let label = if picked {
                Style::default()
                    .fg(Color::Green)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().add_modifier(Modifier::BOLD)
            };
            let mut body = vec![Span::styled(c.label.clone(), label)];
            if !c.description.is_empty() {
                body.push(Span::styled(format!(" — {}", c.description), dim()));
            }
            let first = cursor(d.row == i, &format!("{number}{mark} "));
            let rest = vec![Span::raw(" ".repeat(width_of(&first)))];
            wrap_prefixed(&mut lines, body, inner, &first, &rest);
            rows.push((start, lines.len()));
        }
        let start = lines.len();
        let on_words = d.row == d.text_row(q);
        let words = &d.text[d.item];
        let body = if words.is_empty() && !on_words {
            vec![Span::styled("type to answer in your own words", dim())]
        } else {
            let mut body = vec![Span::raw(words.clone())];
            if on_words {
                body.push(Span::styled("▏", Style::default().fg(Color::Cyan)));
            }
            body
        };
        let first = cursor(on_words, "Your words: ");
        let rest = vec![Span::raw(" ".repeat(width_of(&first)))];
        wrap_prefixed(&mut lines, body, inner, &first, &rest);
        rows.push((start, lines.len()));
        lines.push(Line::raw(""));
        if q.left_open {
            lines.push(Line::styled(
                "The agent went on without an answer; yours reaches its next prompt.",
                dim(),
            ));
        }
        if let Some(problem) = &d.problem {
            lines.push(Line::styled(
                problem.clone(),
                Style::default().fg(Color::Red),
            ));
        }
        let several = if item.multiple { " (several)" } else { "" };
        let tab = if q.items.len() > 1 {
            format!(" · {} next question", key_of(Action::NextItem))
        } else {
            String::new()
        };
        lines.push(Line::styled(
            format!("↑/↓ move · 1-9 or space pick{several}{tab} · type to answer in words"),
            dim(),
        ));
        let send = format!(" {} Send ", key_of(Action::SendAnswer));
        let aside = format!(" {} Later ", key_of(Action::PutAside));
        lines.push(Line::from(vec![
            Span::styled(
                send.clone(),
                Style::default().bg(Color::Green).fg(Color::Black),
            ),
            Span::raw("  "),
            Span::styled(
                aside.clone(),
                Style::default().bg(Color::DarkGray).fg(Color::White),
            ),
        ]));

        let total = lines.len() as u16;
        let height = (total + 2).min(area.height);
        let window = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        let room = height.saturating_sub(2);
        // Scrolled as little as keeps the cursor's row in view.
        let (cursor_start, cursor_end) = rows[d.row.min(rows.len() - 1)];
        let scroll = (cursor_end as u16)
            .saturating_sub(room)
            .min(cursor_start as u16)
            .min(total.saturating_sub(room));
        let (top, bottom) = (window.y + 1, window.y + 1 + room);
        // A line of the content on screen: its row, if it is in view.
        let at = |line: usize| {
            let y = top + (line as u16).checked_sub(scroll)?;
            (y < bottom).then_some(y)
        };
        let mut hits = Hits::default();
        for (i, (start, end)) in rows.iter().enumerate() {
            let slot = if i + 1 == rows.len() {
                CHOICES_PER_QUESTION
            } else {
                i
            };
            let visible: Vec<u16> = (*start..*end).filter_map(at).collect();
            if let (Some(first), Some(last), Some(hit)) =
                (visible.first(), visible.last(), hits.rows.get_mut(slot))
            {
                *hit = Rect::new(
                    window.x + 1,
                    *first,
                    width.saturating_sub(2),
                    last - first + 1,
                );
            }
        }
        if let Some(y) = at(0).filter(|_| !tabs.is_empty()) {
            for (hit, (x, w)) in hits.tabs.iter_mut().zip(tabs) {
                *hit = Rect::new(window.x + 1 + x, y, w, 1);
            }
        }
        if let Some(y) = at(lines.len() - 1) {
            let w = |s: &str| width_of(&[Span::raw(s)]) as u16;
            hits.send = Rect::new(window.x + 1, y, w(&send), 1);
            hits.aside = Rect::new(window.x + 1 + w(&send) + 2, y, w(&aside), 1);
        }
        Some(Window {
            area: window,
            lines,
            scroll,
            hits,
        })
    }
}

/// A row's first spans: the cursor (`›`) when it is on the row, then `text`.
fn cursor(here: bool, text: &str) -> Vec<Span<'static>> {
    let style = if here {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    vec![
        Span::styled(if here { "› " } else { "  " }, style),
        Span::styled(text.to_string(), style),
    ]
}
