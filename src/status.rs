//! `iteratr status`: a session's tasks, notes and iterations as text for people or JSON for tools.

use std::fmt::Write as _;

use serde::Serialize;

use crate::session::display::{held_by, iteration_counts, task_counts};
use crate::session::text::{clip, first_line, format_duration, format_time, who_or};
use crate::session::{NoteType, SessionState, TaskStatus, note_id, task_id};
use crate::store::SessionInfo;

/// A task as `status --json` and the web dashboard show it.
#[derive(Serialize)]
pub(crate) struct TaskView<'a> {
    id: String,
    content: &'a str,
    status: TaskStatus,
    priority: u8,
    depends_on: Vec<String>,
    created_iteration: Option<u32>,
    /// When it last changed (its status, priority, content).
    updated_at_ms: i64,
    /// The worker holding it now, and until when (`--workers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    claim: Option<&'a crate::session::Claim>,
    /// The integration branch's commit that brought its work in.
    #[serde(skip_serializing_if = "Option::is_none")]
    integrated: Option<&'a str>,
    /// Why it was last given back to remaining (`task_released`).
    #[serde(skip_serializing_if = "Option::is_none")]
    released: Option<&'a str>,
    /// Its share of the tokens and cost of the iterations that worked on it.
    #[serde(skip_serializing_if = "crate::session::Usage::is_empty")]
    usage: &'a crate::session::Usage,
}

impl<'a> TaskView<'a> {
    pub(crate) fn of(t: &'a crate::session::Task) -> Self {
        TaskView {
            id: t.label(),
            content: &t.content,
            status: t.status,
            priority: t.priority,
            depends_on: t.depends_on.iter().map(|d| task_id(*d)).collect(),
            created_iteration: t.created_iteration,
            updated_at_ms: t.updated_at_ms,
            claim: t.claim.as_ref(),
            integrated: t.integrated.as_deref(),
            released: t.released.as_deref(),
            usage: &t.usage,
        }
    }
}

#[derive(Serialize)]
struct NoteView<'a> {
    id: String,
    #[serde(rename = "type")]
    note_type: NoteType,
    content: &'a str,
    iteration: Option<u32>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    session: &'a str,
    events: u64,
    completed: bool,
    agent: Option<String>,
    /// That agent runs in iteratr's sandbox (`--sandbox`).
    agent_sandboxed: bool,
    completed_at: Option<String>,
    completion_summary: Option<&'a str>,
    counts: std::collections::BTreeMap<&'static str, usize>,
    next_task: Option<String>,
    tasks: Vec<TaskView<'a>>,
    notes: Vec<NoteView<'a>>,
    iterations: Vec<&'a crate::session::Iteration>,
    messages: &'a [crate::session::UserMessage],
    /// The build holding the session now (null when none does).
    builder: Option<&'a crate::session::LeaseHolder>,
    builder_text: Option<String>,
    permissions: &'a crate::session::Permissions,
    /// The agent's questions that wait for an answer, and the last ones answered.
    questions: Vec<&'a crate::session::Question>,
    /// Set while the session's build is asked to pause: who asked, and when.
    paused: Option<&'a crate::session::Pause>,
    /// Set once the session's build is asked to stop (until the next build starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a crate::session::StopRequest>,
    /// Tokens and cost of all iterations, as the agent reported them.
    usage: crate::session::Usage,
    /// The part of `usage` no task was given (iterations that worked on none, e.g. planning).
    unattributed_usage: crate::session::Usage,
}

pub(crate) fn session_json(name: &str, state: &SessionState) -> serde_json::Value {
    let mut counts = std::collections::BTreeMap::new();
    for s in TaskStatus::ALL {
        counts.insert(s.as_str(), state.count(s));
    }
    let view = StatusJson {
        session: name,
        events: state.last_seq,
        completed: state.completed.is_some(),
        agent: state
            .agent
            .as_ref()
            .map(|(n, v)| format!("{n} {v}").trim().to_string()),
        agent_sandboxed: state.agent_sandboxed,
        completed_at: state.completed.as_ref().map(|c| format_time(c.at_ms)),
        completion_summary: state.completed.as_ref().and_then(|c| c.summary.as_deref()),
        paused: state.paused.as_ref(),
        stop: state.stop.as_ref(),
        usage: state.usage(),
        unattributed_usage: state.unattributed_usage(),
        counts,
        next_task: state.next_task().map(|t| t.label()),
        tasks: state.tasks.values().map(TaskView::of).collect(),
        notes: state
            .notes
            .values()
            .map(|n| NoteView {
                id: note_id(n.id),
                note_type: n.note_type,
                content: &n.content,
                iteration: n.iteration,
            })
            .collect(),
        iterations: state.iterations.values().map(|it| &**it).collect(),
        messages: &state.messages,
        builder: state
            .lease
            .as_ref()
            .filter(|l| l.is_live(crate::clock::now_ms()))
            .map(|l| &l.holder),
        builder_text: builder_line(state, crate::clock::now_ms()),
        permissions: &state.permissions,
        questions: state.questions.shown(20),
    };
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

/// The build that drives the session, for people.
pub(crate) fn builder_line(state: &SessionState, now_ms: i64) -> Option<String> {
    let lease = state.lease.as_ref()?;
    Some(match lease.released_at_ms {
        _ if lease.is_live(now_ms) => format!(
            "{} (renewed {} ago)",
            held_by(lease, now_ms),
            format_duration(now_ms - lease.renewed_at_ms)
        ),
        Some(at) => format!(
            "none; the last one, {}, ended at {}",
            lease.holder,
            format_time(at)
        ),
        None => format!(
            "none; the last one, {}, stopped renewing its lease at {} (it lapsed)",
            lease.holder,
            format_time(lease.renewed_at_ms)
        ),
    })
}

pub(crate) fn render_session(name: &str, state: &SessionState) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Session {name} ({} events)", state.last_seq);
    let progress = match (&state.completed, state.running_iteration()) {
        (Some(c), _) => format!("completed at {}", format_time(c.at_ms)),
        (None, Some(n)) => format!("iteration {n} running"),
        (None, None) if state.iterations.is_empty() => "not started".to_string(),
        (None, None) => "in progress, no iteration running".to_string(),
    };
    let _ = writeln!(out, "Status: {progress}");
    if let Some((name, version)) = &state.agent {
        let sandboxed = if state.agent_sandboxed {
            " (sandboxed: --sandbox)"
        } else {
            ""
        };
        let _ = writeln!(out, "Agent: {name} {version}{sandboxed}");
    }
    if let Some(builder) = builder_line(state, crate::clock::now_ms()) {
        let _ = writeln!(out, "Builder: {builder}");
    }
    if let Some(summary) = state.completed.as_ref().and_then(|c| c.summary.as_deref()) {
        let _ = writeln!(out, "Summary: {summary}");
    }
    if let Some(pause) = &state.paused {
        let _ = writeln!(
            out,
            "Paused: since {} (asked by {}); `iteratr resume` goes on",
            format_time(pause.at_ms),
            pause.asked_by()
        );
    }
    for (request, w) in &state.permissions.waiting {
        let id = crate::session::permission_id(*request);
        let _ = writeln!(
            out,
            "Waiting: {id} {}{}; `iteratr approve {id}` or `iteratr deny {id}` answers",
            w.worker
                .as_deref()
                .map(|w| format!("[{w}] "))
                .unwrap_or_default(),
            crate::frontend::call_label(&w.tool, &w.title)
        );
    }
    for q in state.questions.open() {
        let id = crate::session::question_id(q.id);
        let _ = writeln!(
            out,
            "Question: {}; `iteratr answer {id} TEXT` answers",
            crate::session::question_line(q)
        );
    }
    if let Some(stop) = &state.stop {
        let _ = writeln!(
            out,
            "Stop: asked {}by {} at {}",
            if stop.now { "now " } else { "" },
            who_or(&stop.who, "someone"),
            format_time(stop.at_ms)
        );
    }
    let _ = writeln!(out, "Tasks: {}", task_counts(state));
    let now = crate::clock::now_ms();
    for t in state.claimed_tasks() {
        if let Some(c) = &t.claim {
            let when = if c.is_live(now) {
                format!("expires in {}", format_duration(c.expires_at_ms() - now))
            } else {
                "expired; the next worker to ask takes it".to_string()
            };
            let _ = writeln!(
                out,
                "Claim: {} held by {} since {} ({when})",
                t.label(),
                c.worker,
                format_time(c.claimed_at_ms)
            );
        }
    }
    let usage = state.usage();
    if !usage.is_empty() {
        let unattributed = state.unattributed_usage();
        let rest = if unattributed.is_empty() {
            String::new()
        } else {
            format!("; {unattributed} not spent on a task")
        };
        let _ = writeln!(out, "Usage: {usage} (as the agent reported it{rest})");
    }
    if let Some(next) = state.next_task() {
        let _ = writeln!(out, "Next: {} {}", next.label(), first_line(&next.content));
    }

    for status in TaskStatus::ALL {
        let tasks = state.tasks_with_status(status);
        if tasks.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{} ({})",
            capitalize(&status.as_str().replace('_', " ")),
            tasks.len()
        );
        for t in tasks {
            let deps = if t.depends_on.is_empty() {
                String::new()
            } else {
                let ids: Vec<String> = t.depends_on.iter().map(|d| task_id(*d)).collect();
                format!("  (after {})", ids.join(", "))
            };
            let integrated = t
                .integrated
                .as_deref()
                .map(|c| format!("  [integrated {}]", &c[..c.len().min(12)]))
                .unwrap_or_default();
            let released = t
                .released
                .as_deref()
                .map_or(String::new(), |r| format!("  (given back: {r})"));
            let usage = if t.usage.is_empty() {
                String::new()
            } else {
                format!("  [{}]", t.usage)
            };
            let _ = writeln!(
                out,
                "  {:<7} p{}  {}{deps}{integrated}{released}{usage}",
                t.label(),
                t.priority,
                first_line(&t.content)
            );
        }
    }

    let _ = writeln!(out, "\nNotes: {}", state.notes.len());
    for (note_type, notes) in state.notes_by_type() {
        let _ = writeln!(out, "  {note_type}");
        for n in notes {
            let when = n
                .iteration
                .map(|i| format!(" (iteration {i})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {:<7} {}{when}",
                note_id(n.id),
                first_line(&n.content)
            );
        }
    }

    let _ = writeln!(out, "\nIterations: {}", iteration_counts(state));
    for it in state.iterations.values() {
        let when = match (it.started_at_ms, it.finished_at_ms) {
            (Some(s), Some(f)) => format!(
                "{}, {}, {}",
                format_time(s),
                format_duration(f - s),
                it.outcome.as_ref().map_or("finished", |o| o.as_str())
            ),
            (Some(s), None) => format!("{}, running", format_time(s)),
            _ => "not started by the loop".to_string(),
        };
        let changed = if it.tasks_changed.is_empty() {
            String::new()
        } else {
            format!(", {} task(s) changed", it.tasks_changed.len())
        };
        let planning = if it.planning { ", planning" } else { "" };
        let worker = it
            .worker
            .as_deref()
            .map_or(String::new(), |w| format!(", worker {w}"));
        let commit = it.commit.as_deref().map_or(String::new(), |c| {
            format!(", commit {}", &c[..c.len().min(12)])
        });
        let usage = it
            .usage
            .as_ref()
            .map_or(String::new(), |u| format!(", {u}"));
        let _ = writeln!(
            out,
            "  #{:<3} {when}{planning}{worker}{changed}{commit}{usage}",
            it.number
        );
        if let Some(summary) = &it.summary {
            let _ = writeln!(out, "        {}", first_line(summary));
        }
    }
    render_messages(&mut out, &state.messages);
    render_permissions(&mut out, &state.permissions);
    out
}

/// Messages listed in the text view, at most (the last ones).
const MESSAGES_SHOWN: usize = 3;

fn render_messages(out: &mut String, messages: &[crate::session::UserMessage]) {
    if messages.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nMessages from people: {}", messages.len());
    for m in &messages[messages.len().saturating_sub(MESSAGES_SHOWN)..] {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            format_time(m.at_ms),
            who_or(&m.who, "someone"),
            clip(first_line(&m.text), 100)
        );
    }
}

/// Decisions listed in the text view, at most.
const PERMISSIONS_SHOWN: usize = 5;

fn render_permissions(out: &mut String, p: &crate::session::Permissions) {
    if p.recent.is_empty() {
        return;
    }
    let cancelled = if p.cancelled > 0 {
        format!(", {} not answered", p.cancelled)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\nPermission requests: {} allowed, {} denied{cancelled}",
        p.allowed, p.denied
    );
    let from = p.recent.len().saturating_sub(PERMISSIONS_SHOWN);
    for r in p.recent.iter().skip(from) {
        let when = r
            .iteration
            .map(|i| format!("#{i:<3} "))
            .unwrap_or_else(|| "     ".into());
        let _ = writeln!(
            out,
            "  {when}{} → {}",
            first_line(&crate::frontend::call_label(&r.tool, &r.title)),
            r.decision.describe(r.rule.as_deref())
        );
    }
}

pub(crate) fn render_sessions(data_dir: &str, sessions: &[SessionInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} sessions in {data_dir}:", sessions.len());
    for s in sessions {
        let _ = writeln!(
            out,
            "  {:<24} {:>6} events, last change {}",
            s.name,
            s.events,
            format_time(s.last_at_ms)
        );
    }
    let _ = writeln!(out, "\nShow one with: iteratr status --session NAME");
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
