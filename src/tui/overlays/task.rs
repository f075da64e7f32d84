//! A task's details: status, priority, dependencies, when it was made and changed, its text; `s`
//! moves it to the next status, `+`/`-` change its priority, `e` edits its text (not when
//! watching).

use ratatui::Frame;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::session::text::format_time;
use crate::session::{Command, Task, TaskStatus, task_id};
use crate::tui::keys::Action;
use crate::tui::style::{block, centered, status_color};

/// What a key asks for in a task's details.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TaskKey {
    Nothing,
    Close,
    Run(Command),
    /// Close, and edit the task's text.
    Edit,
}

/// The statuses `s` steps through, in order.
const STATUS_CYCLE: [TaskStatus; 5] = [
    TaskStatus::Remaining,
    TaskStatus::InProgress,
    TaskStatus::Completed,
    TaskStatus::Blocked,
    TaskStatus::Cancelled,
];

/// What a key of the task window (the key table's) does to `task`.
pub(crate) fn on_action(action: Action, task: &Task, read_only: bool) -> TaskKey {
    let label = task.label();
    match action {
        Action::Close => TaskKey::Close,
        _ if read_only => TaskKey::Nothing,
        Action::NextStatus => {
            let i = STATUS_CYCLE
                .iter()
                .position(|s| *s == task.status)
                .unwrap_or(0);
            TaskKey::Run(Command::SetStatus {
                task: label,
                status: STATUS_CYCLE[(i + 1) % STATUS_CYCLE.len()],
            })
        }
        Action::PriorityUp if task.priority < 4 => TaskKey::Run(Command::SetPriority {
            task: label,
            priority: i64::from(task.priority) + 1,
        }),
        Action::PriorityDown if task.priority > 0 => TaskKey::Run(Command::SetPriority {
            task: label,
            priority: i64::from(task.priority) - 1,
        }),
        Action::Edit => TaskKey::Edit,
        _ => TaskKey::Nothing,
    }
}

pub(crate) fn draw(frame: &mut Frame, t: &Task, read_only: bool) {
    let area = centered(frame.area(), 76, if t.usage.is_empty() { 14 } else { 15 });
    frame.render_widget(Clear, area);
    let deps = if t.depends_on.is_empty() {
        "none".to_string()
    } else {
        t.depends_on
            .iter()
            .map(|d| task_id(*d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let label = |s: &str| Span::styled(format!("{s:<11}"), Style::default().fg(Color::DarkGray));
    let mut lines = vec![
        Line::from(vec![
            label("status"),
            Span::styled(
                t.status.to_string(),
                Style::default().fg(status_color(t.status)),
            ),
        ]),
        Line::from(vec![
            label("priority"),
            Span::raw(format!("p{}", t.priority)),
        ]),
        Line::from(vec![label("after"), Span::raw(deps)]),
        Line::from(vec![
            label("created"),
            Span::raw(format!(
                "{}{}",
                format_time(t.created_at_ms),
                t.created_iteration
                    .map(|i| format!(" (iteration {i})"))
                    .unwrap_or_default()
            )),
        ]),
        Line::from(vec![
            label("changed"),
            Span::raw(format!(
                "{}{}",
                format_time(t.updated_at_ms),
                t.updated_iteration
                    .map(|i| format!(" (iteration {i})"))
                    .unwrap_or_default()
            )),
        ]),
    ];
    if !t.usage.is_empty() {
        // Its share of the iterations that worked on it, retries and fix rounds included.
        lines.push(Line::from(vec![
            label("spent"),
            Span::raw(t.usage.to_string()),
        ]));
    }
    lines.extend([Line::raw(""), Line::raw(t.content.clone()), Line::raw("")]);
    lines.push(Line::styled(
        if read_only {
            "Esc close (watching: read-only)"
        } else {
            "s next status · + / - priority · e edit · Esc close"
        },
        Style::default().fg(Color::DarkGray),
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(format!(" {} ", t.label()), true)),
        area,
    );
}
