//! Permission requests waiting for the person at the terminal (`--approve ask`): a window with the
//! tool, what the call does and its arguments or diff, answered with `y` (allow once), `a` (allow
//! this tool always, for the rest of the build) or `n` (deny), or by clicking the buttons.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use serde_json::Value;

use super::app::{Action, App};
use crate::protocol::{AgentUpdate, Answer, Diff, ToolKind};

/// Argument lines shown at most.
const INPUT_LINES: usize = 14;

/// A request the agent waits on.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAsk {
    pub id: u64,
    pub tool: String,
    pub title: String,
    pub kind: ToolKind,
    pub input: Option<Value>,
    pub diffs: Vec<Diff>,
}

const BUTTONS: [(char, &str, Answer); 3] = [
    ('y', "Allow once", Answer::AllowOnce),
    ('a', "Allow always", Answer::AllowAlways),
    ('n', "Deny", Answer::Deny),
];

impl App {
    /// Takes note of what the agent's updates say about permission requests.
    pub(super) fn on_permission_update(&mut self, update: &AgentUpdate) {
        match update {
            AgentUpdate::PermissionAsked {
                id,
                tool,
                title,
                kind,
                input,
                diffs,
            } => {
                self.asks.push_back(PendingAsk {
                    id: *id,
                    tool: tool.clone(),
                    title: title.clone(),
                    kind: *kind,
                    input: input.clone(),
                    diffs: diffs.clone(),
                });
                let hint = if self.focus == super::app::Focus::Input {
                    "the agent asks permission: Esc leaves the message box, then y allow · a always · n deny"
                } else {
                    "the agent asks permission: y allow once · a allow always · n deny"
                };
                self.status_message = Some((hint.into(), true));
            }
            // Answered (here, or cancelled with the turn): the window goes.
            AgentUpdate::Permission { id, .. } => self.asks.retain(|a| a.id != *id),
            AgentUpdate::Exited { .. } => self.asks.clear(),
            _ => {}
        }
    }

    fn answer_first(&mut self, answer: Answer) -> Option<Action> {
        let ask = self.asks.pop_front()?;
        if self.asks.is_empty() {
            self.status_message = None;
        }
        Some(Action::Approve(ask.id, answer))
    }

    /// A key while a request waits: `y`, `a` or `n` answer it; other keys do nothing.
    pub(super) fn approval_key(&mut self, key: KeyEvent) -> Option<Action> {
        let KeyCode::Char(c) = key.code else {
            return None;
        };
        let c = c.to_ascii_lowercase();
        let answer = BUTTONS.iter().find(|(k, ..)| *k == c).map(|(.., a)| *a)?;
        self.answer_first(answer)
    }

    /// A click while a request waits: on a button it answers; elsewhere nothing happens.
    pub(super) fn approval_click(&mut self, at: Position) -> Option<Action> {
        let i = self.areas.approval.iter().position(|b| b.contains(at))?;
        self.answer_first(BUTTONS[i].2)
    }
}

fn arguments(input: &Value) -> Vec<String> {
    let text = serde_json::to_string_pretty(input).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() > INPUT_LINES {
        let more = lines.len() - INPUT_LINES;
        lines.truncate(INPUT_LINES);
        lines.push(format!("… {more} more line(s)"));
    }
    lines
}

/// Draws the first waiting request on top of everything, and records where its buttons are.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let Some(ask) = app.asks.front().cloned() else {
        app.areas.approval = [Rect::default(); 3];
        return;
    };
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(100);
    let inner_width = width.saturating_sub(2) as usize;
    let label = |s: &str| Span::styled(format!("{s:<7}"), Style::default().fg(Color::DarkGray));
    let mut lines = Vec::new();
    if !ask.tool.is_empty() {
        lines.push(Line::from(vec![
            label("tool"),
            Span::styled(
                ask.tool.clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
        ]));
    }
    lines.push(Line::from(vec![
        label("call"),
        Span::raw(ask.title.clone()),
    ]));
    if ask.kind != ToolKind::Other {
        lines.push(Line::from(vec![
            label("kind"),
            Span::raw(ask.kind.as_str()),
        ]));
    }
    lines.push(Line::raw(""));
    if !ask.diffs.is_empty() {
        for d in &ask.diffs {
            super::diff::render_diff(&mut lines, d, inner_width, INPUT_LINES);
        }
    } else if let Some(input) = &ask.input {
        lines.extend(
            arguments(input)
                .into_iter()
                .map(|l| Line::styled(l, Style::default().fg(Color::Gray))),
        );
    }
    lines.push(Line::raw(""));
    let always = format!(
        "Allow always ({})",
        if ask.tool.is_empty() {
            "this tool"
        } else {
            ask.tool.as_str()
        }
    );
    let texts = [
        format!(" y {} ", BUTTONS[0].1),
        format!(" a {always} "),
        format!(" n {} ", BUTTONS[2].1),
    ];
    let mut spans = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let style = match i {
            2 => Style::default().bg(Color::Red).fg(Color::White),
            _ => Style::default().bg(Color::Green).fg(Color::Black),
        };
        spans.push(Span::styled(t.clone(), style));
        spans.push(Span::raw("  "));
    }
    lines.push(Line::from(spans));
    let height = (lines.len() as u16 + 2).min(area.height);
    let x = area.x + (area.width - width) / 2;
    let y = area.y + (area.height - height) / 2;
    let window = Rect::new(x, y, width, height);
    let more = if app.asks.len() > 1 {
        format!(" (1 of {})", app.asks.len())
    } else {
        String::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Yellow))
        .title(Span::styled(
            format!(" The agent asks permission{more} "),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    frame.render_widget(Clear, window);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        window,
    );
    // The buttons are on the last inner row (wrapping above can only push them off the bottom,
    // in which case they are not clickable but the keys still work).
    let row = window.y + window.height.saturating_sub(2);
    let mut bx = window.x + 1;
    for (i, t) in texts.iter().enumerate() {
        let w = t.chars().count() as u16;
        app.areas.approval[i] = Rect::new(bx, row, w.min(window.width.saturating_sub(2)), 1);
        bx += w + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    use serde_json::json;

    fn asked(id: u64) -> AgentUpdate {
        AgentUpdate::PermissionAsked {
            id,
            tool: "bash".into(),
            title: "rm -rf build".into(),
            kind: ToolKind::Execute,
            input: Some(json!({"command": "rm -rf build"})),
            diffs: vec![],
        }
    }

    fn screen(app: &mut App) -> String {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(110, 36)).unwrap();
        terminal.draw(|f| super::super::view::draw(f, app)).unwrap();
        let buf = terminal.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }

    #[test]
    fn the_window_shows_the_tool_its_arguments_or_its_diff() {
        let mut app = App::new("s", false);
        app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(1) });
        let s = screen(&mut app);
        assert!(s.contains("The agent asks permission"), "{s}");
        assert!(s.contains("tool   bash"), "{s}");
        assert!(s.contains("call   rm -rf build"), "{s}");
        assert!(s.contains(r#""command": "rm -rf build""#), "{s}");
        assert!(s.contains("a Allow always (bash)"), "{s}");
        app.on_build_event(crate::protocol::BuildEvent::Agent {
            update: AgentUpdate::PermissionAsked {
                id: 2,
                tool: "edit".into(),
                title: "src/lib.rs".into(),
                kind: ToolKind::Edit,
                input: Some(json!({"filePath": "src/lib.rs"})),
                diffs: vec![Diff {
                    path: "src/lib.rs".into(),
                    old: Some("fn a() {}\nfn b() {}\n".into()),
                    new: "fn a() {}\nfn c() {}\n".into(),
                }],
            },
        });
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(
            app.on_key(key('A')),
            Some(Action::Approve(1, Answer::AllowAlways))
        );
        let s = screen(&mut app);
        assert!(
            s.contains("~ src/lib.rs") && s.contains("- fn b() {}") && s.contains("+ fn c() {}"),
            "{s}"
        );
        // The diff is shown instead of the arguments.
        assert!(!s.contains("filePath"), "{s}");
    }

    #[test]
    fn keys_and_clicks_answer_in_order() {
        let mut app = App::new("s", false);
        app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(1) });
        app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(2) });
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        // Typing a message: the keys are the message's, not answers.
        app.focus = super::super::app::Focus::Input;
        assert_eq!(app.on_key(key('n')), None);
        assert_eq!(app.input, "n");
        app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(app.on_key(key('x')), None);
        assert_eq!(
            app.on_key(key('y')),
            Some(Action::Approve(1, Answer::AllowOnce))
        );
        // The second is drawn; its "Deny" button answers it.
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
        terminal
            .draw(|f| super::super::view::draw(f, &mut app))
            .unwrap();
        let deny = app.areas.approval[2];
        let click = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: deny.x + 1,
            row: deny.y,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(app.on_mouse(click), Some(Action::Approve(2, Answer::Deny)));
        assert!(app.asks.is_empty());
        // A request cancelled with the turn goes away by itself.
        app.on_build_event(crate::protocol::BuildEvent::Agent { update: asked(3) });
        app.on_build_event(crate::protocol::BuildEvent::Agent {
            update: AgentUpdate::Permission {
                id: 3,
                tool: "bash".into(),
                title: "rm -rf build".into(),
                decision: crate::session::PermissionDecision::Cancelled,
                rule: None,
                by_user: false,
            },
        });
        assert!(app.asks.is_empty());
    }
}
