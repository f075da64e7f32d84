//! Drawing the app: status bar, agent output and input on the left, tasks and notes on the
//! right, footer with view buttons; the logs and notes views; help and detail overlays.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::{App, Areas, Focus, InputPurpose, Overlay, View};
use crate::session::{NoteType, TaskStatus, note_id, task_id};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const SIDEBAR_WIDTH: u16 = 44;

pub fn layout(area: Rect, app: &App) -> Areas {
    let [status, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let compact = area.width < 100 || area.height < 25;
    let sidebar = app.sidebar.unwrap_or(!compact) && app.view == View::Dashboard;
    let (left, right) = if sidebar {
        let [l, r] = Layout::horizontal([
            Constraint::Min(20),
            Constraint::Length(SIDEBAR_WIDTH.min(area.width / 2)),
        ])
        .areas(main);
        (l, r)
    } else {
        (main, Rect::default())
    };
    let [agent, input] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(left);
    let (tasks, notes) = if sidebar {
        let [t, n] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
        (t, n)
    } else {
        (Rect::default(), Rect::default())
    };
    let mut buttons = [Rect::default(); 3];
    let mut x = footer.x;
    for (i, label) in BUTTONS.iter().enumerate() {
        let w = label.chars().count() as u16 + 2;
        buttons[i] = Rect::new(
            x,
            footer.y,
            w.min(footer.width.saturating_sub(x - footer.x)),
            1,
        );
        x += w + 1;
    }
    Areas {
        status,
        agent,
        input,
        tasks,
        notes,
        footer,
        buttons,
        approval: [Rect::default(); 3],
    }
}

const BUTTONS: [&str; 3] = ["Dashboard", "Logs", "Notes"];

pub(super) fn block<'a>(title: String, focused: bool) -> Block<'a> {
    let style = if focused {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
}

pub fn draw(frame: &mut Frame, app: &mut App) {
    let areas = layout(frame.area(), app);
    app.areas = areas;
    frame.render_widget(status_bar(app), areas.status);
    match app.view {
        View::Dashboard => {
            draw_agent(frame, app, areas.agent);
            draw_input(frame, app, areas.input);
            if areas.tasks.width > 0 {
                draw_tasks(frame, app, areas.tasks);
                draw_notes(frame, app, areas.notes, false);
            }
        }
        View::Logs => {
            let main = Rect::new(
                areas.agent.x,
                areas.agent.y,
                frame.area().width,
                areas.agent.height + areas.input.height,
            );
            draw_logs(frame, app, main);
        }
        View::Notes => {
            let main = Rect::new(
                areas.agent.x,
                areas.agent.y,
                frame.area().width,
                areas.agent.height + areas.input.height,
            );
            draw_notes(frame, app, main, true);
        }
    }
    frame.render_widget(footer(app), areas.footer);
    match app.overlay {
        Overlay::None => {}
        Overlay::Help => super::overlays::draw_help(frame),
        Overlay::Task(id) => super::overlays::draw_task_detail(frame, app, id),
        Overlay::Note(id) => super::overlays::draw_note_detail(frame, app, id),
    }
    super::approval::draw(frame, app);
}

fn status_bar(app: &App) -> Paragraph<'static> {
    let secs = app.elapsed().as_secs();
    let s = &app.state;
    let sep = Span::styled(" │ ", Style::default().fg(Color::DarkGray));
    let mut spans = vec![
        Span::styled(
            " iteratr",
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::styled(
            app.session.clone(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::raw(match app.iteration {
            Some(n) => format!("iteration {n}"),
            None => "not started".into(),
        }),
        sep.clone(),
        Span::raw(format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )),
        sep.clone(),
        Span::styled(
            format!("✓{}", s.count(TaskStatus::Completed)),
            Style::default().fg(Color::Green),
        ),
        Span::raw(" "),
        Span::styled(
            format!("▶{}", s.count(TaskStatus::InProgress)),
            Style::default().fg(Color::Cyan),
        ),
        Span::raw(" "),
        Span::raw(format!("○{}", s.count(TaskStatus::Remaining))),
        Span::raw(" "),
        Span::styled(
            format!("■{}", s.count(TaskStatus::Blocked)),
            Style::default().fg(Color::Yellow),
        ),
        Span::raw(" "),
        Span::styled(
            format!("✗{}", s.count(TaskStatus::Cancelled)),
            Style::default().fg(Color::DarkGray),
        ),
    ];
    if let Some((branch, dirty)) = &app.git {
        spans.push(sep.clone());
        spans.push(Span::styled(
            format!("{branch}{}", if *dirty { "*" } else { "" }),
            Style::default().fg(Color::Magenta),
        ));
    }
    if !app.agent.is_empty() {
        spans.push(sep.clone());
        let model = app
            .model
            .as_deref()
            .map(|m| format!(" · {m}"))
            .unwrap_or_default();
        spans.push(Span::raw(format!("{}{model}", app.agent)));
    }
    if s.completed.is_some() {
        spans.push(sep);
        spans.push(Span::styled(
            "complete",
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
        ));
    } else if app.working {
        spans.push(sep);
        spans.push(Span::styled(
            format!("{} working", SPINNER[app.spinner % SPINNER.len()]),
            Style::default().fg(Color::Cyan),
        ));
    }
    Paragraph::new(Line::from(spans)).style(Style::default().bg(Color::Black))
}

fn draw_agent(frame: &mut Frame, app: &App, area: Rect) {
    let following = app.scroll == 0;
    let title = if following {
        " Agent ".to_string()
    } else {
        format!(" Agent (scrolled up {}; End follows) ", app.scroll)
    };
    let b = block(title, app.focus == Focus::Agent);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let lines = app
        .transcript
        .bottom_lines(inner.width, inner.height as usize, app.scroll);
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_input(frame: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Input;
    let title = match app.purpose {
        _ if !focused => " Message ".to_string(),
        InputPurpose::Message => " Message to the agent (Enter sends, Esc leaves) ".to_string(),
        InputPurpose::NewTask => " New task (Enter adds, Esc cancels) ".to_string(),
        InputPurpose::EditTask(id) => format!(" Edit {} (Enter saves, Esc cancels) ", task_id(id)),
        InputPurpose::NewNote(t) => format!(" New {t} note (Tab changes the type, Enter adds) "),
    };
    let b = block(title, focused);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let line = if focused {
        let width = inner.width.saturating_sub(3) as usize;
        let chars: Vec<char> = app.input.chars().collect();
        let shown: String = chars[chars.len().saturating_sub(width)..].iter().collect();
        Line::from(vec![
            Span::styled("> ", Style::default().fg(Color::Cyan)),
            Span::raw(shown),
            Span::styled("▏", Style::default().fg(Color::Cyan)),
        ])
    } else if let Some((msg, warn)) = &app.status_message {
        Line::styled(
            msg.clone(),
            Style::default().fg(if *warn {
                Color::Yellow
            } else {
                Color::DarkGray
            }),
        )
    } else if app.read_only {
        Line::styled(
            "watching; press i to send the agent a message",
            Style::default().fg(Color::DarkGray),
        )
    } else {
        Line::styled(
            "press i to type to the agent, ? for keys",
            Style::default().fg(Color::DarkGray),
        )
    };
    let mut lines = vec![line];
    if !app.queued.is_empty() {
        lines = vec![Line::styled(
            format!("queued for the agent: {}", app.queued.join(" · ")),
            Style::default().fg(Color::Yellow),
        )];
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The tasks pane's rows: status headers and tasks (with their ids).
fn task_rows(app: &App, width: usize) -> Vec<(Option<u64>, Line<'static>)> {
    let mut rows = Vec::new();
    let order = app.task_order();
    for status in TaskStatus::ALL {
        let tasks = app.state.tasks_with_status(status);
        if tasks.is_empty() {
            continue;
        }
        let color = status_color(status);
        rows.push((
            None,
            Line::styled(
                format!("{} ({})", status.as_str().replace('_', " "), tasks.len()),
                Style::default().fg(color).add_modifier(Modifier::BOLD),
            ),
        ));
        for t in tasks {
            let selected = app.focus == Focus::Tasks && order.get(app.task_sel) == Some(&t.id);
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
            let text: String = format!(
                "{} p{} {}{deps}",
                t.label(),
                t.priority,
                t.content.replace('\n', " ")
            );
            let clipped: String = text.chars().take(width.saturating_sub(1)).collect();
            let style = if selected {
                Style::default().bg(Color::DarkGray).fg(Color::White)
            } else {
                Style::default()
            };
            rows.push((Some(t.id), Line::styled(clipped, style)));
        }
    }
    rows
}

pub(super) fn status_color(s: TaskStatus) -> Color {
    match s {
        TaskStatus::InProgress => Color::Cyan,
        TaskStatus::Remaining => Color::White,
        TaskStatus::Blocked => Color::Yellow,
        TaskStatus::Completed => Color::Green,
        TaskStatus::Cancelled => Color::DarkGray,
    }
}

/// First row shown, so that the selected task stays visible.
/// First row shown, so that the selected item (a task or a note) stays visible.
fn offset_for(rows: &[(Option<u64>, Line)], selected: Option<u64>, height: usize) -> usize {
    let pos = rows
        .iter()
        .position(|(id, _)| *id == selected && selected.is_some())
        .unwrap_or(0);
    pos.saturating_sub(height.saturating_sub(1))
}

fn task_offset(app: &App, rows: &[(Option<u64>, Line)], height: usize) -> usize {
    offset_for(rows, app.task_order().get(app.task_sel).copied(), height)
}

fn note_offset(app: &App, rows: &[(Option<u64>, Line)], height: usize) -> usize {
    offset_for(rows, app.note_order().get(app.note_sel).copied(), height)
}

/// The notes pane's rows: type headers and notes (with their ids), one line each.
fn note_rows(app: &App, width: usize) -> Vec<(Option<u64>, Line<'static>)> {
    let order = app.note_order();
    let mut rows = Vec::new();
    for (note_type, notes) in app.state.notes_by_type() {
        rows.push((
            None,
            Line::styled(
                note_type.to_string(),
                Style::default()
                    .fg(note_color(note_type))
                    .add_modifier(Modifier::BOLD),
            ),
        ));
        for n in notes {
            let selected = app.focus == Focus::Notes && order.get(app.note_sel) == Some(&n.id);
            let style = if selected {
                Style::default().bg(Color::DarkGray)
            } else {
                Style::default()
            };
            let text = format!("{} {}", note_id(n.id), n.content.replace('\n', " "));
            rows.push((
                Some(n.id),
                Line::styled(text.chars().take(width).collect::<String>(), style),
            ));
        }
    }
    rows
}

/// The item shown on screen row `y` of a list pane at `area` (inside its border), given the
/// pane's rows and the selected item that decides its scroll offset.
fn item_at_row(
    area: Rect,
    y: u16,
    rows: &[(Option<u64>, Line)],
    selected: Option<u64>,
) -> Option<u64> {
    let inner_top = area.y + 1;
    let height = area.height.saturating_sub(2) as usize;
    if y < inner_top || y >= inner_top + height as u16 {
        return None;
    }
    let offset = offset_for(rows, selected, height);
    rows.get(offset + (y - inner_top) as usize)
        .and_then(|(id, _)| *id)
}

/// The note shown on screen row `y` of the notes pane, if any (for mouse clicks).
pub fn note_at_row(app: &App, y: u16) -> Option<u64> {
    let area = app.areas.notes;
    let rows = note_rows(app, area.width.saturating_sub(2) as usize);
    item_at_row(area, y, &rows, app.note_order().get(app.note_sel).copied())
}

/// The task shown on screen row `y`, if any (for mouse clicks).
pub fn task_at_row(app: &App, y: u16) -> Option<u64> {
    let area = app.areas.tasks;
    let rows = task_rows(app, area.width.saturating_sub(2) as usize);
    item_at_row(area, y, &rows, app.task_order().get(app.task_sel).copied())
}

fn draw_tasks(frame: &mut Frame, app: &App, area: Rect) {
    let b = block(
        format!(" Tasks ({}) ", app.state.tasks.len()),
        app.focus == Focus::Tasks,
    );
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let rows = task_rows(app, inner.width as usize);
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "no tasks yet",
                Style::default().fg(Color::DarkGray),
            )),
            inner,
        );
        return;
    }
    let offset = task_offset(app, &rows, inner.height as usize);
    let lines: Vec<Line> = rows
        .into_iter()
        .skip(offset)
        .take(inner.height as usize)
        .map(|(_, l)| l)
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_notes(frame: &mut Frame, app: &App, area: Rect, full: bool) {
    let b = block(
        format!(" Notes ({}) ", app.state.notes.len()),
        app.focus == Focus::Notes || full,
    );
    let inner = b.inner(area);
    frame.render_widget(b, area);
    if app.state.notes.is_empty() {
        let empty = Line::styled("no notes yet", Style::default().fg(Color::DarkGray));
        frame.render_widget(Paragraph::new(empty), inner);
        return;
    }
    if full {
        // The notes view: every note in full, wrapped.
        let mut lines: Vec<Line> = Vec::new();
        for (note_type, notes) in app.state.notes_by_type() {
            lines.push(Line::styled(
                note_type.to_string(),
                Style::default()
                    .fg(note_color(note_type))
                    .add_modifier(Modifier::BOLD),
            ));
            for n in notes {
                lines.push(Line::raw(format!("{} {}", note_id(n.id), n.content)));
            }
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }
    let rows = note_rows(app, inner.width as usize);
    let offset = note_offset(app, &rows, inner.height as usize);
    let lines: Vec<Line> = rows
        .into_iter()
        .skip(offset)
        .take(inner.height as usize)
        .map(|(_, l)| l)
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn note_color(t: NoteType) -> Color {
    match t {
        NoteType::Learning => Color::Blue,
        NoteType::Stuck => Color::Red,
        NoteType::Tip => Color::Green,
        NoteType::Decision => Color::Magenta,
    }
}

fn draw_logs(frame: &mut Frame, app: &App, area: Rect) {
    let b = block(
        format!(" Session log ({} events; newest last) ", app.state.last_seq),
        true,
    );
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let height = inner.height as usize;
    let end = app
        .log
        .len()
        .saturating_sub(app.log_scroll.min(app.log.len()));
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = app
        .log
        .iter()
        .skip(start)
        .take(end - start)
        .map(|(seq, e)| {
            let json = serde_json::to_string(&e.kind).unwrap_or_default();
            let json: String = json
                .chars()
                .take(inner.width.saturating_sub(30) as usize)
                .collect();
            Line::from(vec![
                Span::styled(format!("#{seq:<5} "), Style::default().fg(Color::DarkGray)),
                Span::styled(
                    format!("{:<7}", e.by.as_str()),
                    Style::default().fg(Color::Cyan),
                ),
                Span::styled(
                    format!("{:<22}", e.kind.type_name()),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(json),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn footer(app: &App) -> Paragraph<'static> {
    let mut spans = Vec::new();
    let current = [View::Dashboard, View::Logs, View::Notes];
    for (i, label) in BUTTONS.iter().enumerate() {
        let style = if app.view == current[i] {
            Style::default().bg(Color::Cyan).fg(Color::Black)
        } else {
            Style::default().bg(Color::DarkGray).fg(Color::White)
        };
        spans.push(Span::styled(format!(" {label} "), style));
        spans.push(Span::raw(" "));
    }
    let hint = if app.finished.is_some() {
        "q or Ctrl+C leave"
    } else {
        "Tab pane · i type · Ctrl+L logs · Ctrl+S sidebar · ? keys · Ctrl+C quit"
    };
    spans.push(Span::styled(hint, Style::default().fg(Color::DarkGray)));
    Paragraph::new(Line::from(spans))
}
