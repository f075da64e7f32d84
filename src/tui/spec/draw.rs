//! The wizard drawn: a header with the steps, the step's body, a line of keys at the bottom, and
//! over the interview the question window.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Step, Wizard};
use crate::render::diff::{FileDiff, styled};
use crate::render::markdown;

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

const STEPS: [(Step, &str); 5] = [
    (Step::Title, "title"),
    (Step::Description, "description"),
    (Step::Interview, "interview"),
    (Step::Review, "review"),
    (Step::Done, "done"),
];

impl Wizard {
    /// The review's lines at `width`: the spec as Markdown, or a refined spec's changes.
    pub(super) fn review_lines(&self, width: usize) -> Vec<Line<'static>> {
        let spec = self.spec.as_deref().unwrap_or_default();
        match &self.existing {
            Some(old) => {
                let diff = FileDiff::new(&self.path, Some(old), spec);
                let mut out = Vec::new();
                if diff.is_empty() {
                    out.push(Line::from("The agent changed nothing."));
                } else {
                    styled(&mut out, &diff, width, usize::MAX, false);
                }
                out
            }
            None => markdown::render(spec, width),
        }
    }

    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.height < 5 {
            return;
        }
        let header = Rect { height: 1, ..area };
        let footer = Rect {
            y: area.bottom() - 1,
            height: 1,
            ..area
        };
        let message = Rect {
            y: area.bottom() - 2,
            height: 1,
            ..area
        };
        let body = Rect {
            y: area.y + 1,
            height: area.height - 3,
            ..area
        };
        frame.render_widget(Paragraph::new(self.header()), header);
        if let Some(m) = &self.message {
            frame.render_widget(
                Paragraph::new(Span::styled(m.clone(), Style::default().fg(Color::Yellow))),
                message,
            );
        }
        frame.render_widget(Paragraph::new(Span::styled(self.keys(), dim())), footer);
        match self.step {
            Step::Title => self.draw_input(
                frame,
                body,
                "Title",
                &self.title,
                "What is the spec called? (Enter: next, Esc: leave)",
            ),
            Step::Description => self.draw_input(
                frame,
                body,
                "Description",
                &self.description,
                "What should it do, in a sentence or two? (Enter: start the interview, Esc: back)",
            ),
            Step::Interview => {
                let mut lines = vec![
                    Line::from(Span::styled(
                        format!("Interview for {}", self.title),
                        Style::default().add_modifier(Modifier::BOLD),
                    )),
                    Line::from(Span::styled(self.activity.clone(), dim())),
                    Line::from(""),
                ];
                let inner = body.width.saturating_sub(2) as usize;
                lines.extend(markdown::render(&self.transcript, inner.max(1)));
                let room = body.height.saturating_sub(2) as usize;
                let skip = lines.len().saturating_sub(room);
                let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
                frame.render_widget(
                    Paragraph::new(lines).block(Block::default().borders(Borders::ALL)),
                    body,
                );
                self.question.draw(frame, &self.state);
            }
            Step::Review | Step::Overwrite => {
                let inner = body.width.saturating_sub(2) as usize;
                let lines = self.review_lines(inner.max(1));
                let room = body.height.saturating_sub(2) as usize;
                let top = self.scroll.min(lines.len().saturating_sub(room));
                let title = match &self.existing {
                    Some(_) => format!(" Changes to {} ", self.path),
                    None => format!(" The spec: {} ", self.title),
                };
                let lines: Vec<Line> = lines.into_iter().skip(top).take(room).collect();
                frame.render_widget(
                    Paragraph::new(lines)
                        .block(Block::default().borders(Borders::ALL).title(title)),
                    body,
                );
                if self.step == Step::Overwrite {
                    let ask = format!(
                        "{} exists already. Overwrite it? (y: yes, n: no)",
                        self.path
                    );
                    let w = (ask.chars().count() as u16 + 4).min(area.width);
                    let r = Rect {
                        x: area.x + (area.width - w) / 2,
                        y: area.y + area.height / 2 - 1,
                        width: w,
                        height: 3,
                    };
                    frame.render_widget(ratatui::widgets::Clear, r);
                    frame.render_widget(
                        Paragraph::new(ask).block(Block::default().borders(Borders::ALL)),
                        r,
                    );
                }
            }
            Step::Done => {
                let path = self.saved.clone().unwrap_or_default();
                let lines = vec![
                    Line::from(Span::styled(
                        format!("Saved {path}"),
                        Style::default().add_modifier(Modifier::BOLD),
                    )),
                    Line::from(""),
                    Line::from(format!("b: build it now (iteratr build --spec {path})")),
                    Line::from("q: leave"),
                ];
                frame.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .block(Block::default().borders(Borders::ALL)),
                    body,
                );
            }
        }
    }

    fn header(&self) -> Line<'static> {
        let mut spans = vec![Span::styled(
            "iteratr spec  ",
            Style::default().add_modifier(Modifier::BOLD),
        )];
        let now = match self.step {
            Step::Overwrite => Step::Review,
            s => s,
        };
        for (i, (step, name)) in STEPS.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" › ", dim()));
            }
            let style = if *step == now {
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD)
            } else {
                dim()
            };
            spans.push(Span::styled(name.to_string(), style));
        }
        Line::from(spans)
    }

    fn keys(&self) -> String {
        match self.step {
            Step::Title => "Enter next · Esc leave · Ctrl+C leave",
            Step::Description => "Enter start the interview · Esc back · Ctrl+C leave",
            Step::Interview if self.question.shown().is_some() => {
                "↑/↓ move · 1-9 pick · Tab next question · Enter send · Esc back · Ctrl+C leave"
            }
            Step::Interview => "Esc back · Ctrl+C leave",
            Step::Review => {
                "s save · e edit in $EDITOR · r restart · ↑/↓ scroll · Esc back · Ctrl+C leave"
            }
            Step::Overwrite => "y overwrite · n keep the file",
            Step::Done => "b build it · q leave",
        }
        .to_string()
    }

    fn draw_input(&self, frame: &mut Frame, area: Rect, name: &str, text: &str, help: &str) {
        let lines = vec![
            Line::from(Span::styled(help.to_string(), dim())),
            Line::from(""),
            Line::from(vec![Span::raw(text.to_string()), Span::raw("█")]),
        ];
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {name} ")),
            ),
            area,
        );
    }
}
