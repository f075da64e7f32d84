//! A session as the dashboard shows it, bounded whatever the session's size: the open tasks (up to
//! a few hundred per status, the most urgent first) and the latest finished ones, the latest
//! notes, iterations and messages, with the totals; and the plots' points, computed here from the
//! whole session and thinned to a few hundred. A session of 100,000 events is a page of the same
//! size as one of 100.

use std::collections::HashMap;

use serde::Serialize;

use crate::session::{
    Iteration, NoteType, Pause, Permissions, Question, SessionState, StopRequest, TaskStatus,
    Usage, UserMessage, note_id,
};

/// Open tasks shown per status (remaining, in progress, blocked).
const OPEN_SHOWN: usize = 300;
/// Finished tasks shown per status (completed, cancelled): the latest.
const DONE_SHOWN: usize = 100;
const NOTES_SHOWN: usize = 100;
const ITERATIONS_SHOWN: usize = 100;
const MESSAGES_SHOWN: usize = 20;
/// Answered questions shown (the open ones are all shown).
const QUESTIONS_SHOWN: usize = 10;
/// Points of the "tasks completed over time" plot at most.
const PLOT_POINTS: usize = 200;

#[derive(Serialize)]
struct Card<'a> {
    #[serde(flatten)]
    task: crate::status::TaskView<'a>,
    /// The commit of the last committed iteration that changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'a str>,
}

#[derive(Serialize)]
struct Column<'a> {
    status: TaskStatus,
    /// How many tasks have this status (more than `tasks` holds when there are many).
    total: usize,
    tasks: Vec<Card<'a>>,
}

#[derive(Serialize)]
struct NoteCard<'a> {
    id: String,
    #[serde(rename = "type")]
    note_type: NoteType,
    content: &'a str,
    iteration: Option<u32>,
}

#[derive(Serialize)]
struct Plots {
    /// (when, how many completed by then).
    completed: Vec<(i64, usize)>,
    /// (iteration, tokens) of the latest finished iterations.
    tokens: Vec<(u32, u64)>,
    /// (iteration, seconds) of the latest finished iterations.
    durations: Vec<(u32, f64)>,
}

#[derive(Serialize)]
struct View<'a> {
    session: &'a str,
    events: u64,
    completed: bool,
    completion_summary: Option<&'a str>,
    agent: Option<String>,
    builder_text: Option<String>,
    paused: Option<&'a Pause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a StopRequest>,
    usage: Usage,
    next_task: Option<String>,
    columns: Vec<Column<'a>>,
    /// The latest notes, newest first, and how many there are.
    notes: Vec<NoteCard<'a>>,
    notes_total: usize,
    /// The latest iterations, oldest first, and how many there are.
    iterations: Vec<&'a Iteration>,
    iterations_total: usize,
    permissions: &'a Permissions,
    /// The agent's questions that wait for an answer, then the latest answered.
    questions: Vec<&'a Question>,
    messages: &'a [UserMessage],
    plots: Plots,
}

/// The session `name` as the page draws it.
pub(crate) fn session_view(name: &str, state: &SessionState) -> serde_json::Value {
    // A task's commit: that of the last committed iteration that changed it.
    let mut commits: HashMap<u64, &str> = HashMap::new();
    for it in state.iterations.values() {
        if let Some(commit) = &it.commit {
            for task in &it.tasks_changed {
                commits.insert(*task, commit);
            }
        }
    }
    let columns = TaskStatus::ALL
        .into_iter()
        .map(|status| column(state, status, &commits))
        .collect();
    let notes_total = state.notes.len();
    let iterations_total = state.iterations.len();
    let view = View {
        session: name,
        events: state.last_seq,
        completed: state.completed.is_some(),
        completion_summary: state.completed.as_ref().and_then(|c| c.summary.as_deref()),
        agent: state
            .agent
            .as_ref()
            .map(|(n, v)| format!("{n} {v}").trim().to_string()),
        builder_text: crate::status::builder_line(state, crate::clock::now_ms()),
        paused: state.paused.as_ref(),
        stop: state.stop.as_ref(),
        usage: state.usage(),
        next_task: state.next_task().map(|t| t.label()),
        columns,
        notes: state
            .notes
            .values()
            .rev()
            .take(NOTES_SHOWN)
            .map(|n| NoteCard {
                id: note_id(n.id),
                note_type: n.note_type,
                content: &n.content,
                iteration: n.iteration,
            })
            .collect(),
        notes_total,
        iterations: state
            .iterations
            .values()
            .skip(iterations_total.saturating_sub(ITERATIONS_SHOWN))
            .map(|it| &**it)
            .collect(),
        iterations_total,
        permissions: &state.permissions,
        questions: state.questions.shown(QUESTIONS_SHOWN),
        messages: &state.messages[state.messages.len().saturating_sub(MESSAGES_SHOWN)..],
        plots: plots(state),
    };
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

fn column<'a>(
    state: &'a SessionState,
    status: TaskStatus,
    commits: &HashMap<u64, &'a str>,
) -> Column<'a> {
    let mut tasks = state.tasks_with_status(status);
    let total = tasks.len();
    if status.is_open() {
        // The most urgent first, then the oldest.
        tasks.sort_by_key(|t| (t.priority, t.id));
        tasks.truncate(OPEN_SHOWN);
    } else {
        // The latest first.
        tasks.sort_by_key(|t| std::cmp::Reverse((t.updated_at_ms, t.id)));
        tasks.truncate(DONE_SHOWN);
    }
    Column {
        status,
        total,
        tasks: tasks
            .into_iter()
            .map(|t| Card {
                task: crate::status::TaskView::of(t),
                commit: commits.get(&t.id).copied(),
            })
            .collect(),
    }
}

fn plots(state: &SessionState) -> Plots {
    let mut done: Vec<i64> = state
        .tasks_with_status(TaskStatus::Completed)
        .into_iter()
        .map(|t| t.updated_at_ms)
        .collect();
    done.sort_unstable();
    let n = done.len();
    let completed = if n <= PLOT_POINTS {
        done.iter()
            .enumerate()
            .map(|(i, at)| (*at, i + 1))
            .collect()
    } else {
        (1..=PLOT_POINTS)
            .map(|k| {
                let i = k * n / PLOT_POINTS - 1;
                (done[i], i + 1)
            })
            .collect()
    };
    let finished: Vec<&Iteration> = state
        .iterations
        .values()
        .filter(|it| it.finished_at_ms.is_some() && it.started_at_ms.is_some())
        .map(|it| &**it)
        .collect();
    let latest = &finished[finished.len().saturating_sub(ITERATIONS_SHOWN)..];
    Plots {
        completed,
        tokens: latest
            .iter()
            .map(|it| (it.number, it.usage.as_ref().map_or(0, |u| u.tokens())))
            .collect(),
        durations: latest
            .iter()
            .map(|it| {
                let took = it.finished_at_ms.unwrap_or(0) - it.started_at_ms.unwrap_or(0);
                (it.number, took as f64 / 1000.0)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Author, Command, Ctx, NewTask, decide};

    fn with_tasks(n: usize, completed_every: usize) -> SessionState {
        let mut state = SessionState::default();
        let mut seq = 0;
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            let tasks = chunk
                .iter()
                .map(|i| {
                    let mut t = NewTask::new(format!("task {i}"));
                    t.priority = Some((*i % 5) as i64);
                    if i % completed_every == 0 {
                        t.status = Some(TaskStatus::Completed);
                    }
                    t
                })
                .collect();
            let ctx = Ctx {
                now_ms: 1_000 + seq as i64,
                by: Author::Agent,
            };
            for e in decide(&state, &Command::AddTasks(tasks), ctx).unwrap() {
                seq += 1;
                state.apply(seq, &e);
            }
        }
        state
    }

    #[test]
    fn a_large_session_is_shown_bounded_with_its_totals() {
        let state = with_tasks(5_000, 2);
        let view = session_view("big", &state);
        let columns = view["columns"].as_array().unwrap();
        let remaining = columns.iter().find(|c| c["status"] == "remaining").unwrap();
        assert_eq!(remaining["total"], 2_500);
        let shown = remaining["tasks"].as_array().unwrap();
        assert_eq!(shown.len(), OPEN_SHOWN);
        // The most urgent first.
        assert!(shown.iter().all(|t| t["priority"] == 0), "{}", shown[0]);
        let completed = columns.iter().find(|c| c["status"] == "completed").unwrap();
        assert_eq!(completed["total"], 2_500);
        assert_eq!(completed["tasks"].as_array().unwrap().len(), DONE_SHOWN);
        let points = view["plots"]["completed"].as_array().unwrap();
        assert_eq!(points.len(), PLOT_POINTS);
        assert_eq!(
            points.last().unwrap()[1],
            2_500,
            "the last point counts them all"
        );
        assert!(
            view.to_string().len() < 200_000,
            "{} bytes",
            view.to_string().len()
        );
    }

    #[test]
    fn a_small_session_is_shown_whole() {
        let state = with_tasks(7, 3);
        let view = session_view("small", &state);
        let total: usize = view["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["tasks"].as_array().unwrap().len())
            .sum();
        assert_eq!(total, 7);
        assert_eq!(view["plots"]["completed"].as_array().unwrap().len(), 3);
    }
}
