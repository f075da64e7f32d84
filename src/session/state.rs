//! The fold of events into the state that tools answer from and front ends show.
//!
//! The fold is total: an event that does not fit the state (it names a task that is gone, say) is
//! skipped, never a panic, so a log written by another process or version can always be read.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::claims::Claim;
use super::event::{Author, Event, IterationOutcome, NoteType, TaskStatus};
use super::event_kind::EventKind;
use super::index::TaskIndex;
use super::lease::Lease;
use super::permissions::{PermissionRecord, Permissions};
use super::questions::{GivenAnswer, Question, Questions};
use super::usage::Usage;

pub fn task_id(n: u64) -> String {
    format!("TAS-{n}")
}

pub fn note_id(n: u64) -> String {
    format!("NOT-{n}")
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: u64,
    pub content: String,
    pub status: TaskStatus,
    pub priority: u8,
    pub depends_on: BTreeSet<u64>,
    pub created_iteration: Option<u32>,
    pub created_at_ms: i64,
    pub updated_iteration: Option<u32>,
    pub updated_at_ms: i64,
    /// The worker holding it now (`--workers`).
    pub claim: Option<Claim>,
    /// The worker that last claimed it; its work counts as done for dependents only once
    /// integrated.
    pub worker: Option<String>,
    /// The commit of the integration branch that brought its work in.
    pub integrated: Option<String>,
    /// Why the task was last given back to `remaining` (`task_released`), until its status
    /// changes again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
    /// Tokens and cost of the iterations that worked on it (its share of each).
    #[serde(skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
}

impl Task {
    pub fn label(&self) -> String {
        task_id(self.id)
    }

    /// No longer holds its dependents back: cancelled, or completed (and integrated, when a
    /// worker did it).
    pub fn releases_dependents(&self) -> bool {
        self.status == TaskStatus::Cancelled
            || (self.status == TaskStatus::Completed
                && (self.worker.is_none() || self.integrated.is_some()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub id: u64,
    pub note_type: NoteType,
    pub content: String,
    pub iteration: Option<u32>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Iteration {
    pub number: u32,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub outcome: Option<IterationOutcome>,
    pub detail: Option<String>,
    pub summary: Option<String>,
    /// A planning iteration (no code; the task list is reviewed).
    pub planning: bool,
    /// Tasks added or changed while this iteration ran.
    pub tasks_changed: BTreeSet<u64>,
    /// Tasks it worked on (claimed, set in progress or completed): its usage is theirs.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub worked_on: BTreeSet<u64>,
    /// The commit iteratr made of its changes.
    pub commit: Option<String>,
    /// The worker that ran it (`--workers`).
    pub worker: Option<String>,
    /// Tokens and cost, as the agent reported them.
    pub usage: Option<Box<Usage>>,
    /// Permission requests allowed with no person and no rule involved.
    #[serde(skip_serializing_if = "super::event::is_zero")]
    pub auto_allowed: u32,
}

impl Iteration {
    pub fn is_running(&self) -> bool {
        self.started_at_ms.is_some() && self.finished_at_ms.is_none()
    }

    /// Ended because the agent failed (crashed, errored, timed out), not by its own stop or the user.
    pub fn failed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(IterationOutcome::is_failure)
    }

    /// Ended with the agent's own stop reason (`end_turn`, `max_tokens`, ...).
    pub fn succeeded(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(IterationOutcome::is_agents_stop)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserMessage {
    pub at_ms: i64,
    pub text: String,
    pub iteration: Option<u32>,
    /// Who wrote it (`user@host`); empty when the log did not record it.
    pub who: String,
}

/// Who asked the build that runs to stop, when, and whether at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopRequest {
    pub at_ms: i64,
    pub now: bool,
    pub who: String,
}

/// Who asked the loop to pause, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pause {
    pub at_ms: i64,
    pub by: Author,
    /// `user@host`; empty when the log did not record it.
    pub who: String,
}

impl Pause {
    /// Who asked, for people: `ana@laptop`, or `the user` when the log did not record it.
    pub fn asked_by(&self) -> String {
        match self.who.trim() {
            "" => format!("the {}", self.by.as_str()),
            who => who.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    pub at_ms: i64,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SessionState {
    pub tasks: BTreeMap<u64, Task>,
    pub notes: BTreeMap<u64, Note>,
    /// Boxed: inline, a ~300-byte `Iteration` took twice that in half-full `BTreeMap` nodes.
    pub iterations: BTreeMap<u32, Box<Iteration>>,
    pub messages: Vec<UserMessage>,
    /// Set when the session was completed and no unfinished work appeared since.
    pub completed: Option<Completion>,
    /// Sequence number of the last event folded in (0 before any).
    pub last_seq: u64,
    /// How many times the session was reset (the state holds only what came after the last reset).
    pub resets: u32,
    /// The agent the loop last started: name, version.
    pub agent: Option<(String, String)>,
    /// That agent runs in iteratr's sandbox (`--sandbox`).
    pub agent_sandboxed: bool,
    /// The build that holds (or last held) the session; a reset does not change it.
    pub lease: Option<Lease>,
    /// Contents (normalized) of deleted tasks, so that an import does not bring one back.
    #[serde(skip)]
    pub deleted_contents: BTreeSet<String>,
    pub permissions: Permissions,
    /// The agent's questions to a person (`Q-n`) and their answers.
    pub questions: Questions,
    /// Set while the loop is asked to pause (after the iteration that runs).
    pub paused: Option<Pause>,
    /// A stop asked of the build that runs, and of its workers anywhere (cleared when the next
    /// build takes the lease).
    pub stop: Option<StopRequest>,
    #[serde(skip)]
    pub(super) index: TaskIndex,
    /// Tasks a worker holds a claim on.
    #[serde(skip)]
    pub(super) claimed: BTreeSet<u64>,
    /// Iterations started and not finished (several when workers run).
    #[serde(skip)]
    pub(super) running: BTreeSet<u32>,
    next_task: u64,
    next_note: u64,
}

/// Case, spacing and trailing punctuation do not make two tasks different.
pub fn normalize_content(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['.', '!', ';', ':'])
        .to_lowercase()
}

impl SessionState {
    pub fn from_events<'a>(events: impl IntoIterator<Item = (u64, &'a Event)>) -> Self {
        let mut state = SessionState::default();
        for (seq, event) in events {
            state.apply(seq, event);
        }
        state
    }

    /// Number the next added task will get.
    pub fn next_task_number(&self) -> u64 {
        self.next_task.max(1)
    }

    pub fn next_note_number(&self) -> u64 {
        self.next_note.max(1)
    }

    pub fn apply(&mut self, seq: u64, event: &Event) {
        self.last_seq = seq;
        let at = event.at_ms;
        let running = self.running_iteration();
        let mut touched: Option<u64> = None;
        let mut worked = false;
        match &event.kind {
            EventKind::TaskAdded {
                task,
                content,
                status,
                priority,
                depends_on,
            } => {
                if self.tasks.contains_key(task) || *task == 0 {
                    return;
                }
                self.next_task = self.next_task.max(task + 1);
                let depends_on = depends_on
                    .iter()
                    .copied()
                    .filter(|d| self.tasks.contains_key(d))
                    .collect();
                self.tasks.insert(
                    *task,
                    Task {
                        id: *task,
                        content: content.clone(),
                        status: *status,
                        priority: (*priority).min(4),
                        depends_on,
                        created_iteration: running,
                        created_at_ms: at,
                        updated_iteration: running,
                        updated_at_ms: at,
                        claim: None,
                        worker: None,
                        integrated: None,
                        released: None,
                        usage: Usage::default(),
                    },
                );
                if status.is_unfinished() {
                    self.completed = None;
                }
                for d in self.tasks[task].depends_on.clone() {
                    self.index_dependency(*task, d);
                }
                self.reindex(*task);
                touched = Some(*task);
            }
            EventKind::TaskStatusSet { task, status } => {
                self.unindex(*task);
                if let Some(t) = self.tasks.get_mut(task) {
                    t.status = *status;
                    t.released = None;
                    touched = Some(*task);
                    worked = matches!(status, TaskStatus::InProgress | TaskStatus::Completed);
                    if status.is_unfinished() {
                        self.completed = None;
                    }
                }
                self.reindex(*task);
                self.reindex_dependents(*task);
            }
            EventKind::TaskReleased { task, reason } => {
                // Only work someone had taken is given back; anything else stays as it is.
                if self
                    .tasks
                    .get(task)
                    .is_some_and(|t| t.status == TaskStatus::InProgress)
                {
                    self.unindex(*task);
                    if let Some(t) = self.tasks.get_mut(task) {
                        t.status = TaskStatus::Remaining;
                        t.released = Some(reason.clone());
                        touched = Some(*task);
                    }
                    self.reindex(*task);
                    self.reindex_dependents(*task);
                }
            }
            EventKind::TaskPrioritySet { task, priority } => {
                self.unindex(*task);
                if let Some(t) = self.tasks.get_mut(task) {
                    t.priority = (*priority).min(4);
                    touched = Some(*task);
                }
                self.reindex(*task);
            }
            EventKind::TaskDependencyAdded { task, depends_on } => {
                if task != depends_on
                    && self.tasks.contains_key(depends_on)
                    && self.tasks.contains_key(task)
                    && !self.depends_transitively(*depends_on, *task)
                {
                    self.unindex(*task);
                    if let Some(t) = self.tasks.get_mut(task) {
                        t.depends_on.insert(*depends_on);
                    }
                    self.index_dependency(*task, *depends_on);
                    self.reindex(*task);
                    touched = Some(*task);
                }
            }
            EventKind::TaskContentEdited { task, content } => {
                self.unindex(*task);
                if let Some(t) = self.tasks.get_mut(task) {
                    t.content = content.clone();
                    touched = Some(*task);
                }
                self.reindex(*task);
            }
            EventKind::TaskDeleted { task } => {
                self.unindex(*task);
                self.claimed.remove(task);
                if let Some(gone) = self.tasks.remove(task) {
                    self.deleted_contents
                        .insert(normalize_content(&gone.content));
                    for d in self.unindex_dependencies(&gone) {
                        if let Some(t) = self.tasks.get_mut(&d) {
                            t.depends_on.remove(task);
                        }
                        self.unindex(d);
                        self.reindex(d);
                    }
                    if let Some(n) = running
                        && let Some(it) = self.iterations.get_mut(&n)
                    {
                        it.tasks_changed.insert(*task);
                    }
                }
            }
            EventKind::NoteAdded {
                note,
                note_type,
                content,
            } => {
                if self.notes.contains_key(note) || *note == 0 {
                    return;
                }
                self.next_note = self.next_note.max(note + 1);
                self.notes.insert(
                    *note,
                    Note {
                        id: *note,
                        note_type: *note_type,
                        content: content.clone(),
                        iteration: running,
                        created_at_ms: at,
                        updated_at_ms: at,
                    },
                );
            }
            EventKind::NoteContentEdited { note, content } => {
                if let Some(n) = self.notes.get_mut(note) {
                    n.content = content.clone();
                    n.updated_at_ms = at;
                }
            }
            EventKind::NoteDeleted { note } => {
                self.notes.remove(note);
            }
            EventKind::IterationStarted {
                iteration,
                planning,
                worker,
            } => {
                if self.latest_iteration().is_some_and(|l| l >= *iteration) {
                    return;
                }
                self.iterations.insert(
                    *iteration,
                    Box::new(Iteration {
                        number: *iteration,
                        started_at_ms: Some(at),
                        // Logs written before the flag existed planned only in iteration 0.
                        planning: *planning || *iteration == 0,
                        worker: worker.clone(),
                        ..Iteration::default()
                    }),
                );
                self.running.insert(*iteration);
                self.work_on_start(*iteration);
            }
            EventKind::IterationSummarized { iteration, summary } => {
                let it = self.iterations.entry(*iteration).or_insert_with(|| {
                    Box::new(Iteration {
                        number: *iteration,
                        ..Iteration::default()
                    })
                });
                it.summary = Some(summary.clone());
            }
            EventKind::IterationFinished {
                iteration,
                outcome,
                detail,
                commit,
                usage,
                auto_allowed,
            } => {
                if let Some(it) = self.iterations.get_mut(iteration)
                    && it.finished_at_ms.is_none()
                {
                    it.auto_allowed = *auto_allowed;
                    self.permissions.allowed += u64::from(*auto_allowed);
                    it.finished_at_ms = Some(at);
                    self.running.remove(iteration);
                    it.outcome = Some(outcome.clone());
                    it.detail = detail.clone();
                    it.commit = commit.clone();
                    it.usage = usage.clone().map(Box::new);
                    self.attribute_usage(*iteration);
                }
            }
            EventKind::UserMessage { text, who } => self.messages.push(UserMessage {
                at_ms: at,
                text: text.clone(),
                iteration: running,
                who: who.clone(),
            }),
            EventKind::SessionPaused { who } => {
                self.paused = Some(Pause {
                    at_ms: at,
                    by: event.by,
                    who: who.clone(),
                });
            }
            EventKind::SessionResumed { .. } => self.paused = None,
            EventKind::StopRequested { now, who } => {
                let now = *now || self.stop.as_ref().is_some_and(|s| s.now);
                self.stop = Some(StopRequest {
                    at_ms: at,
                    now,
                    who: who.clone(),
                });
            }
            // For the log and who follows it; nothing in the state depends on it.
            EventKind::HookRan { .. } => {}
            EventKind::SessionCompleted { summary } => {
                self.completed = Some(Completion {
                    at_ms: at,
                    summary: summary.clone(),
                });
            }
            EventKind::AgentStarted {
                name,
                version,
                sandboxed,
                ..
            } => {
                self.agent = Some((name.clone(), version.clone()));
                self.agent_sandboxed = *sandboxed;
            }
            EventKind::PermissionDecided {
                tool,
                title,
                decision,
                rule,
            } => self.permissions.record(PermissionRecord {
                at_ms: at,
                by: event.by,
                tool: tool.clone(),
                title: title.clone(),
                decision: *decision,
                rule: rule.clone(),
                iteration: running,
            }),
            EventKind::PermissionRequested {
                request,
                tool,
                title,
                worker,
            } => self
                .permissions
                .requested(*request, tool, title, worker.as_deref(), at),
            EventKind::PermissionAnswered {
                request,
                decision,
                who,
            } => self
                .permissions
                .answered(*request, *decision, who, at, running),
            EventKind::QuestionAsked {
                question,
                items,
                worker,
            } => self.questions.asked(Question {
                id: *question,
                items: items.clone(),
                worker: worker.clone(),
                asked_at_ms: at,
                iteration: self.running_iteration_of(worker.as_deref()),
                left_open: false,
                answer: None,
            }),
            EventKind::QuestionAnswered {
                question,
                answers,
                who,
            } => self.questions.answered(
                *question,
                GivenAnswer {
                    answers: answers.clone(),
                    who: who.clone(),
                    at_ms: at,
                },
            ),
            EventKind::QuestionLeftOpen { question } => self.questions.left_open(*question),
            EventKind::SessionReset { .. } => {
                *self = SessionState {
                    last_seq: seq,
                    resets: self.resets + 1,
                    lease: self.lease.take(),
                    ..SessionState::default()
                };
            }
            EventKind::LeaseAcquired { holder, ttl_ms, .. } => {
                // A new build: a stop asked of the one before, and its open questions, are void.
                self.stop = None;
                self.permissions.waiting.clear();
                self.lease = Some(Lease {
                    holder: holder.clone(),
                    acquired_at_ms: at,
                    renewed_at_ms: at,
                    ttl_ms: *ttl_ms,
                    released_at_ms: None,
                });
            }
            EventKind::LeaseRenewed { id } => {
                if let Some(l) = self.lease.as_mut().filter(|l| l.holder.id == *id) {
                    l.renewed_at_ms = at;
                }
            }
            EventKind::LeaseReleased { id } => {
                if let Some(l) = self.lease.as_mut().filter(|l| l.holder.id == *id) {
                    l.released_at_ms = Some(at);
                }
            }
            EventKind::TaskClaimed { .. }
            | EventKind::ClaimsRenewed { .. }
            | EventKind::TaskUnclaimed { .. }
            | EventKind::TaskIntegrated { .. } => self.apply_claim(at, &event.kind),
        }
        if let Some(id) = touched {
            // A task a worker holds changes in its iteration, one nobody holds in the build's.
            let holder = self.tasks.get(&id).and_then(|t| t.claim.as_ref());
            let running = holder
                .and_then(|c| self.running_iteration_of(Some(&c.worker)))
                .or_else(|| self.running_iteration_of(None));
            if let Some(t) = self.tasks.get_mut(&id) {
                t.updated_at_ms = at;
                t.updated_iteration = running;
            }
            if let Some(n) = running
                && let Some(it) = self.iterations.get_mut(&n)
            {
                it.tasks_changed.insert(id);
                if worked {
                    it.worked_on.insert(id);
                }
            }
        }
    }
}
