//! Commands are what tools, the loop and people ask for; `decide` checks one against the state and
//! turns it into the events to append. A refused command produces no events at all, and a batch is
//! all or nothing.

use super::add_tasks::{add_tasks, duplicate_of};
use super::claims::validate_worker_name;
use super::error::DomainError;
use super::event::{Author, Event, IterationOutcome, NoteType, PermissionDecision, TaskStatus};
use super::event_kind::EventKind;
use super::hook_point::HookPoint;
use super::lease::LeaseHolder;
use super::limits::{self, check_priority, check_text, check_who, tail_chars};
use super::questions::{ItemAnswer, QuestionItem};
use super::state::{SessionState, task_id};
use super::text::clip;
use super::usage::Usage;

/// The context a command runs in: who asks, and the time (the domain has no clock).
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now_ms: i64,
    pub by: Author,
}

/// A task to add. Dependencies are references as typed (`TAS-3`, `3`, a unique prefix).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub content: String,
    pub status: Option<TaskStatus>,
    pub priority: Option<i64>,
    pub depends_on: Vec<String>,
}

impl NewTask {
    pub fn new(content: impl Into<String>) -> Self {
        NewTask {
            content: content.into(),
            status: None,
            priority: None,
            depends_on: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// One task (task-add) or several at once (task-batch-add).
    AddTasks(Vec<NewTask>),
    SetStatus {
        task: String,
        status: TaskStatus,
    },
    /// A worker's agent sets its own task's status: refused once its claim lapsed.
    SetHeldStatus {
        task: String,
        status: TaskStatus,
        worker: String,
    },
    SetPriority {
        task: String,
        priority: i64,
    },
    AddDependency {
        task: String,
        depends_on: String,
    },
    EditTask {
        task: String,
        content: String,
    },
    DeleteTask {
        task: String,
    },
    AddNote {
        note_type: NoteType,
        content: String,
    },
    EditNote {
        note: String,
        content: String,
    },
    DeleteNote {
        note: String,
    },
    /// Starts iteration `number`; the same worker's one still running is recorded interrupted.
    StartIteration {
        number: u32,
        planning: bool,
        worker: Option<String>,
    },
    /// A build starts after one that stopped without recording its iteration's end (killed,
    /// crashed, the machine went down): that iteration is recorded as interrupted and the tasks
    /// left in progress go back to remaining (`task_released`), in one append; nothing if none.
    CloseAbandonedIteration,
    /// Summary of the running iteration (the worker's, with workers), or of the latest one.
    SummarizeIteration {
        summary: String,
        worker: Option<String>,
    },
    FinishIteration {
        number: u32,
        outcome: IterationOutcome,
        detail: Option<String>,
        /// The commit made of the iteration's changes, when one was.
        commit: Option<String>,
        /// What the agent reported it used.
        usage: Option<Usage>,
        /// Permission requests allowed with no person and no rule involved.
        auto_allowed: u32,
    },
    /// A person's message to the agent; `who` as `user@host` (or as the front end names them).
    UserMessage {
        text: String,
        who: String,
    },
    /// Record a hook's run.
    RecordHook {
        point: HookPoint,
        command: String,
        exit_code: Option<i32>,
        result: String,
        timed_out: bool,
        took_ms: u64,
        output: String,
    },
    /// Pause the loop after the iteration that runs; `who` asks.
    Pause {
        who: String,
    },
    /// Let a paused loop go on; `who` asks.
    Resume {
        who: String,
    },
    /// Ask the build that runs to stop after its iteration, or `now`; `who` as `user@host`.
    RequestStop {
        now: bool,
        who: String,
    },
    CompleteSession {
        summary: Option<String>,
    },
    Reset {
        reason: Option<String>,
    },
    /// Records the agent the loop started.
    AgentStarted {
        name: String,
        version: String,
        http_mcp: bool,
        /// It runs in iteratr's sandbox (`--sandbox`).
        sandboxed: bool,
    },
    /// A build takes charge of the session; refused while another holds a live lease, unless
    /// `takeover` (the caller checked that holder is gone).
    AcquireLease {
        holder: LeaseHolder,
        ttl_ms: u64,
        takeover: bool,
    },
    RenewLease {
        id: String,
    },
    ReleaseLease {
        id: String,
    },
    /// Gives `worker` the next claimable task unless it holds one (lapsed claims expire first).
    ClaimTask {
        worker: String,
        ttl_ms: u64,
    },
    /// The worker is still at work: its claims run for another time to live.
    RenewClaims {
        worker: String,
    },
    /// The worker lets go of its task (done, blocked, given up).
    ReleaseClaim {
        task: u64,
        worker: String,
        reason: String,
    },
    /// The task's work is on the integration branch at `commit`.
    RecordIntegration {
        task: u64,
        commit: String,
        worker: Option<String>,
    },
    /// The agent asks a person (`ask-questions`), numbered by the session (`Q-n`).
    AskQuestions {
        items: Vec<QuestionItem>,
        worker: Option<String>,
    },
    /// A person's answer to question `Q-n`, the first one only.
    AnswerQuestion {
        question: u64,
        answers: Vec<ItemAnswer>,
        who: String,
    },
    /// The agent stops waiting for `Q-n` (nothing when it was answered meanwhile).
    LeaveQuestionOpen {
        question: u64,
    },
    /// A permission request that waits for a person, numbered by the session (`P-n`).
    RequestPermission {
        tool: String,
        title: String,
        worker: Option<String>,
    },
    /// A person's answer to request `P-n`, the first one only (or its end: `Cancelled`).
    AnswerPermission {
        request: u64,
        decision: PermissionDecision,
        who: String,
    },
    /// Records how iteratr answered a permission request of the agent.
    RecordPermission {
        tool: String,
        title: String,
        decision: PermissionDecision,
        rule: Option<String>,
    },
}

/// Checks `cmd` against `state` and returns the events that carry it out. An empty list means the
/// command asks for what is already true (setting a status a task already has, say).
pub fn decide(state: &SessionState, cmd: &Command, ctx: Ctx) -> Result<Vec<Event>, DomainError> {
    let ev = |kind| Event::new(ctx.now_ms, ctx.by, kind);
    Ok(match cmd {
        Command::AddTasks(tasks) => add_tasks(state, tasks)?.into_iter().map(ev).collect(),
        Command::SetStatus { task, status } => {
            let id = state.resolve_task(task)?;
            let Some(current) = state.tasks.get(&id) else {
                return Err(DomainError::UnknownTask(task.clone()));
            };
            if current.status == *status {
                return Ok(Vec::new());
            }
            // Reopening a closed task must not make it a second copy of an open one.
            if !current.status.is_open()
                && status.is_open()
                && let Some(e) = duplicate_of(state, &current.content, Some(id))
            {
                return Err(e);
            }
            vec![ev(EventKind::TaskStatusSet {
                task: id,
                status: *status,
            })]
        }
        Command::SetPriority { task, priority } => {
            let id = state.resolve_task(task)?;
            let priority = check_priority(*priority)?;
            if state.tasks.get(&id).is_some_and(|t| t.priority == priority) {
                return Ok(Vec::new());
            }
            vec![ev(EventKind::TaskPrioritySet { task: id, priority })]
        }
        Command::AddDependency { task, depends_on } => {
            let id = state.resolve_task(task)?;
            let on = state.resolve_task(depends_on)?;
            if id == on {
                return Err(DomainError::SelfDependency(task_id(id)));
            }
            if let Some(path) = state.dependency_path(on, id) {
                return Err(DomainError::DependencyCycle {
                    task: task_id(id),
                    on: task_id(on),
                    path: path
                        .iter()
                        .map(|n| task_id(*n))
                        .collect::<Vec<_>>()
                        .join(" → "),
                });
            }
            let task_ref = state.tasks.get(&id);
            if task_ref.is_some_and(|t| t.depends_on.contains(&on)) {
                return Ok(Vec::new());
            }
            if task_ref.is_some_and(|t| t.depends_on.len() >= limits::DEPENDENCIES_MAX) {
                return Err(DomainError::TooManyDependencies);
            }
            vec![ev(EventKind::TaskDependencyAdded {
                task: id,
                depends_on: on,
            })]
        }
        Command::EditTask { task, content } => {
            let id = state.resolve_task(task)?;
            let content = check_text("task content", content, limits::TASK_CONTENT_MAX)?;
            if let Some(other) = duplicate_of(state, &content, Some(id)) {
                return Err(other);
            }
            if state.tasks.get(&id).is_some_and(|t| t.content == content) {
                return Ok(Vec::new());
            }
            vec![ev(EventKind::TaskContentEdited { task: id, content })]
        }
        Command::DeleteTask { task } => {
            let id = state.resolve_task(task)?;
            vec![ev(EventKind::TaskDeleted { task: id })]
        }
        Command::AddNote { note_type, content } => {
            let content = check_text("note content", content, limits::NOTE_CONTENT_MAX)?;
            vec![ev(EventKind::NoteAdded {
                note: state.next_note_number(),
                note_type: *note_type,
                content,
            })]
        }
        Command::EditNote { note, content } => {
            let id = state.resolve_note(note)?;
            let content = check_text("note content", content, limits::NOTE_CONTENT_MAX)?;
            if state.notes.get(&id).is_some_and(|n| n.content == content) {
                return Ok(Vec::new());
            }
            vec![ev(EventKind::NoteContentEdited { note: id, content })]
        }
        Command::DeleteNote { note } => {
            let id = state.resolve_note(note)?;
            vec![ev(EventKind::NoteDeleted { note: id })]
        }
        Command::StartIteration {
            number,
            planning,
            worker,
        } => {
            if let Some(w) = worker {
                validate_worker_name(w)?;
            }
            if let Some(latest) = state.latest_iteration()
                && latest >= *number
            {
                return Err(DomainError::IterationOutOfOrder {
                    given: *number,
                    latest,
                });
            }
            let mut out = Vec::new();
            if let Some(running) = state.running_iteration_of(worker.as_deref()) {
                out.push(ev(EventKind::interrupted(
                    running,
                    "iteratr stopped before the iteration ended".to_string(),
                )));
            }
            out.push(ev(EventKind::IterationStarted {
                iteration: *number,
                planning: *planning,
                worker: worker.clone(),
            }));
            out
        }
        Command::CloseAbandonedIteration => {
            // A single build's iteration: workers' claims lapse and are taken over instead.
            let Some(running) = state.running_iteration_of(None) else {
                return Ok(Vec::new());
            };
            let reason = format!("iteration {running} never ended");
            let mut out = vec![ev(EventKind::interrupted(
                running,
                format!(
                    "{reason}: the build running it stopped without recording its end (killed or crashed)"
                ),
            ))];
            out.extend(
                state
                    .tasks_with_status(TaskStatus::InProgress)
                    .into_iter()
                    .filter(|t| t.claim.is_none())
                    .map(|t| {
                        ev(EventKind::TaskReleased {
                            task: t.id,
                            reason: reason.clone(),
                        })
                    }),
            );
            out
        }
        Command::SummarizeIteration { summary, worker } => {
            let summary = check_text("summary", summary, limits::SUMMARY_MAX)?;
            let iteration = state.iteration_to_summarize(worker.as_deref());
            vec![ev(EventKind::IterationSummarized { iteration, summary })]
        }
        Command::FinishIteration {
            number,
            outcome,
            detail,
            commit,
            usage,
            auto_allowed,
        } => {
            if !state
                .iterations
                .get(number)
                .is_some_and(|it| it.is_running())
            {
                return Err(DomainError::IterationNotRunning(*number));
            }
            if let IterationOutcome::Other(other) = outcome {
                check_text("outcome", other, 64)?;
            }
            let outcome = outcome.clone();
            let detail = detail
                .as_deref()
                .map(|d| clip(d.trim(), limits::DETAIL_MAX))
                .filter(|d| !d.is_empty());
            let commit = commit
                .as_deref()
                .map(str::trim)
                .filter(|c| {
                    c.len() >= 7 && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_hexdigit())
                })
                .map(str::to_string);
            vec![ev(EventKind::IterationFinished {
                iteration: *number,
                outcome,
                detail,
                commit,
                usage: usage.clone().filter(|u| !u.is_empty()),
                auto_allowed: *auto_allowed,
            })]
        }
        Command::UserMessage { text, who } => {
            let text = check_text("message", text, limits::MESSAGE_MAX)?;
            vec![ev(EventKind::UserMessage {
                text,
                who: check_who(who),
            })]
        }
        Command::RecordHook {
            point,
            command,
            exit_code,
            result,
            timed_out,
            took_ms,
            output,
        } => vec![ev(EventKind::HookRan {
            point: *point,
            command: clip(command.trim(), 200),
            exit_code: *exit_code,
            result: clip(result.trim(), 200),
            timed_out: *timed_out,
            took_ms: *took_ms,
            output: tail_chars(output, limits::HOOK_OUTPUT_MAX),
        })],
        // Asking for what is already so changes nothing.
        Command::Pause { .. } if state.paused.is_some() => Vec::new(),
        Command::Pause { who } => vec![ev(EventKind::SessionPaused {
            who: check_who(who),
        })],
        Command::Resume { .. } if state.paused.is_none() => Vec::new(),
        Command::Resume { who } => vec![ev(EventKind::SessionResumed {
            who: check_who(who),
        })],
        Command::RequestStop { now, who } => super::stop::request(state, ctx.now_ms, *now, who)?
            .into_iter()
            .map(ev)
            .collect(),
        Command::CompleteSession { summary } => {
            let open = state.unfinished_tasks();
            if !open.is_empty() {
                return Err(DomainError::UnfinishedTasks {
                    open: open
                        .iter()
                        .map(|t| format!("{} [{}] {}", t.label(), t.status, clip(&t.content, 80)))
                        .collect(),
                });
            }
            let summary = match summary.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(s) => Some(check_text("summary", s, limits::SUMMARY_MAX)?),
            };
            if state.completed.is_some() {
                return Ok(Vec::new());
            }
            vec![ev(EventKind::SessionCompleted { summary })]
        }
        Command::AgentStarted {
            name,
            version,
            http_mcp,
            sandboxed,
        } => vec![ev(EventKind::AgentStarted {
            name: clip(name.trim(), 200),
            version: clip(version.trim(), 100),
            http_mcp: *http_mcp,
            sandboxed: *sandboxed,
        })],
        Command::AcquireLease {
            holder,
            ttl_ms,
            takeover,
        } => {
            if !(1_000..=3_600_000).contains(ttl_ms) {
                return Err(DomainError::LeaseTtl(*ttl_ms));
            }
            let current = state
                .lease
                .as_ref()
                .filter(|l| l.is_live(ctx.now_ms) && l.holder.id != holder.id);
            if let Some(l) = current
                && !takeover
            {
                return Err(DomainError::SessionHeld {
                    holder: l.holder.to_string(),
                    expires_in_s: (l.expires_at_ms() - ctx.now_ms + 999) / 1000,
                });
            }
            vec![ev(EventKind::LeaseAcquired {
                holder: holder.clone(),
                ttl_ms: *ttl_ms,
                took_over_from: current.map(|l| l.holder.to_string()),
            })]
        }
        Command::RenewLease { id } => match &state.lease {
            Some(l) if l.holder.id == *id && l.released_at_ms.is_none() => {
                vec![ev(EventKind::LeaseRenewed { id: id.clone() })]
            }
            Some(l) if l.holder.id != *id => {
                return Err(DomainError::LeaseLost {
                    now: format!("{} took it over", l.holder),
                });
            }
            _ => {
                return Err(DomainError::LeaseLost {
                    now: "its lease was released".into(),
                });
            }
        },
        Command::ReleaseLease { id } => match &state.lease {
            Some(l) if l.holder.id == *id && l.released_at_ms.is_none() => {
                vec![ev(EventKind::LeaseReleased { id: id.clone() })]
            }
            _ => Vec::new(),
        },
        Command::AskQuestions { items, worker } => {
            vec![ev(super::questions::ask(state, items, worker.as_deref())?)]
        }
        Command::AnswerQuestion {
            question,
            answers,
            who,
        } => vec![ev(super::questions::answer(
            state, *question, answers, who,
        )?)],
        Command::LeaveQuestionOpen { question } => super::questions::leave_open(state, *question)?
            .into_iter()
            .map(ev)
            .collect(),
        Command::RequestPermission {
            tool,
            title,
            worker,
        } => vec![ev(super::permissions::request(
            state,
            tool,
            title,
            worker.as_deref(),
        ))],
        Command::AnswerPermission {
            request,
            decision,
            who,
        } => vec![ev(super::permissions::answer(
            state, *request, *decision, who,
        )?)],
        Command::RecordPermission {
            tool,
            title,
            decision,
            rule,
        } => vec![ev(EventKind::PermissionDecided {
            tool: clip(tool.trim(), 200),
            title: clip(title.trim(), limits::DETAIL_MAX),
            decision: *decision,
            rule: rule
                .as_deref()
                .map(|r| clip(r.trim(), 200))
                .filter(|r| !r.is_empty()),
        })],
        Command::ClaimTask { .. }
        | Command::SetHeldStatus { .. }
        | Command::RenewClaims { .. }
        | Command::ReleaseClaim { .. }
        | Command::RecordIntegration { .. } => state
            .decide_claim(cmd, ctx.now_ms)?
            .into_iter()
            .map(ev)
            .collect(),
        Command::Reset { reason } => vec![ev(EventKind::SessionReset {
            reason: reason
                .as_deref()
                .map(|r| clip(r.trim(), limits::DETAIL_MAX))
                .filter(|r| !r.is_empty()),
        })],
    })
}
