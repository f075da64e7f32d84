//! The events a session records. They are stored as JSON and read back by later versions of
//! iteratr, so every change here is deliberate: the golden file `tests/golden/events.jsonl` fails
//! when the encoding drifts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::hook_point::HookPoint;
use super::lease::LeaseHolder;

/// Version of the event encoding this build reads and writes. Readers refuse events from a newer
/// one with a message that says to upgrade. An event carries the lowest version that knows its
/// kind ([`EventKind::version`]), so a log without new kinds stays readable by older builds.
pub const EVENT_VERSION: u32 = 2;

/// Status of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Remaining,
    InProgress,
    Completed,
    Blocked,
    Cancelled,
}

impl TaskStatus {
    /// In the order a person reads them: what is being worked on first.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::InProgress,
        TaskStatus::Remaining,
        TaskStatus::Blocked,
        TaskStatus::Completed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Remaining => "remaining",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Completed => "completed",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Work that still has to happen before the session may complete.
    pub fn is_unfinished(self) -> bool {
        matches!(self, TaskStatus::Remaining | TaskStatus::InProgress)
    }

    /// Not closed: a new task with the same content would be a duplicate of it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            TaskStatus::Remaining | TaskStatus::InProgress | TaskStatus::Blocked
        )
    }

    /// A dependency in this status no longer holds its dependents back.
    pub fn releases_dependents(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Cancelled)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = DomainError;

    /// Accepts the canonical names and the spellings models commonly use for them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Ok(match norm.as_str() {
            "remaining" | "todo" | "pending" | "open" => TaskStatus::Remaining,
            "in_progress" | "inprogress" | "doing" | "started" => TaskStatus::InProgress,
            "completed" | "complete" | "done" => TaskStatus::Completed,
            "blocked" => TaskStatus::Blocked,
            "cancelled" | "canceled" => TaskStatus::Cancelled,
            _ => return Err(DomainError::UnknownStatus(s.to_string())),
        })
    }
}

/// Kind of a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteType {
    Learning,
    Stuck,
    Tip,
    Decision,
}

impl NoteType {
    pub const ALL: [NoteType; 4] = [
        NoteType::Learning,
        NoteType::Stuck,
        NoteType::Tip,
        NoteType::Decision,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoteType::Learning => "learning",
            NoteType::Stuck => "stuck",
            NoteType::Tip => "tip",
            NoteType::Decision => "decision",
        }
    }
}

impl fmt::Display for NoteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoteType {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase();
        NoteType::ALL
            .into_iter()
            .find(|t| t.as_str() == norm)
            .ok_or_else(|| DomainError::UnknownNoteType(s.to_string()))
    }
}

use super::usage::Usage;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The coding agent, through the session tools.
    Agent,
    /// A person, through the TUI or the command line.
    User,
    /// iteratr itself (the iteration loop).
    System,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Agent => "agent",
            Author::User => "user",
            Author::System => "system",
        }
    }
}

/// How iteratr answered an agent that asked permission to run a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionDecision {
    /// Allowed by the policy (`--approve auto`: no deny rule matched).
    Allowed,
    /// Allowed once by a person who was asked (`--approve ask`).
    AllowedByUser,
    /// Allowed because a person chose "always" for this tool earlier in the build.
    AllowedAlways,
    /// Refused: a `--deny-tools` pattern matched.
    DeniedByRule,
    /// Refused by a person who was asked.
    DeniedByUser,
    /// Refused because `--approve ask` was given and nobody could answer (`--headless`).
    DeniedUnattended,
    /// Not answered: the turn was stopped meanwhile, or the agent offered no option that fits.
    Cancelled,
}

impl PermissionDecision {
    pub fn allowed(self) -> bool {
        matches!(
            self,
            PermissionDecision::Allowed
                | PermissionDecision::AllowedByUser
                | PermissionDecision::AllowedAlways
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PermissionDecision::Allowed => "allowed",
            PermissionDecision::AllowedByUser => "allowed_by_user",
            PermissionDecision::AllowedAlways => "allowed_always",
            PermissionDecision::DeniedByRule => "denied_by_rule",
            PermissionDecision::DeniedByUser => "denied_by_user",
            PermissionDecision::DeniedUnattended => "denied_unattended",
            PermissionDecision::Cancelled => "cancelled",
        }
    }

    /// For people: what happened, e.g. "denied by --deny-tools 'bash*'".
    pub fn describe(self, rule: Option<&str>) -> String {
        match self {
            PermissionDecision::Allowed => "allowed".into(),
            PermissionDecision::AllowedByUser => "allowed once by you".into(),
            PermissionDecision::AllowedAlways => "allowed (you allowed this tool always)".into(),
            PermissionDecision::DeniedByRule => match rule {
                Some(r) => format!("denied by --deny-tools '{r}'"),
                None => "denied by a --deny-tools rule".into(),
            },
            PermissionDecision::DeniedByUser => "denied by you".into(),
            PermissionDecision::DeniedUnattended => {
                "denied: --approve ask, and nobody can answer (--headless)".into()
            }
            PermissionDecision::Cancelled => "not answered (the turn was stopped)".into(),
        }
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Encoding version ([`EVENT_VERSION`] when written by this build).
    pub v: u32,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub by: Author,
    #[serde(rename = "event")]
    pub kind: EventKind,
}

impl Event {
    pub fn new(at_ms: i64, by: Author, kind: EventKind) -> Self {
        Event {
            v: kind.version(),
            at_ms,
            by,
            kind,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these plain types cannot fail: no maps with non-string keys, no custom impls.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Decodes a stored event, refusing one written by a newer iteratr.
    pub fn from_json(json: &str) -> Result<Self, DecodeError> {
        let event: Event = serde_json::from_str(json).map_err(DecodeError::Json)?;
        if event.v > EVENT_VERSION {
            return Err(DecodeError::Newer(event.v));
        }
        Ok(event)
    }
}

/// Why a stored event cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("it is not an event this iteratr knows ({0})")]
    Json(#[source] serde_json::Error),
    #[error(
        "written by a newer iteratr (event version {0}, this build reads up to {EVENT_VERSION}); upgrade iteratr"
    )]
    Newer(u32),
}

/// What happened. Task and note ids are the numbers behind `TAS-n` and `NOT-n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    TaskAdded {
        task: u64,
        content: String,
        status: TaskStatus,
        priority: u8,
        depends_on: Vec<u64>,
    },
    TaskStatusSet {
        task: u64,
        status: TaskStatus,
    },
    TaskPrioritySet {
        task: u64,
        priority: u8,
    },
    TaskDependencyAdded {
        task: u64,
        depends_on: u64,
    },
    TaskContentEdited {
        task: u64,
        content: String,
    },
    TaskDeleted {
        task: u64,
    },
    /// A task someone took is given back (in progress → remaining), so `task-next` offers it
    /// again: whoever worked on it stopped without saying how far it got (an iteration that
    /// never ended; later, a worker's lease that lapsed).
    TaskReleased {
        task: u64,
        /// Why, for people: "iteration 3 never ended".
        reason: String,
    },
    NoteAdded {
        note: u64,
        note_type: NoteType,
        content: String,
    },
    NoteContentEdited {
        note: u64,
        content: String,
    },
    NoteDeleted {
        note: u64,
    },
    IterationStarted {
        iteration: u32,
        /// The planning iteration (review the task list, no code). Iteration 0 always is; a failed
        /// planning iteration is retried as planning under the next number.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        planning: bool,
        /// The worker that runs it (`--workers`); none for a single build.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    },
    IterationSummarized {
        iteration: u32,
        summary: String,
    },
    IterationFinished {
        iteration: u32,
        /// Why the turn ended: the agent's stop reason (`end_turn`, `cancelled`, ...) or what went
        /// wrong (`error`, `timeout`, `interrupted`).
        outcome: IterationOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The commit iteratr made of what the iteration changed (a full hash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        /// Tokens and cost as the agent reported them for the iteration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// Permission requests allowed with no person and no rule involved (not logged singly).
        #[serde(default, skip_serializing_if = "is_zero")]
        auto_allowed: u32,
    },
    UserMessage {
        text: String,
    },
    SessionCompleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// A hook declared in a settings file ran (`iteratr config` lists them).
    HookRan {
        point: HookPoint,
        /// The command as declared (it holds no values: those go to the environment).
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// "exit 1", "timed out after 5m", "could not start: ...".
        result: String,
        /// It ran past its timeout and was stopped.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
        took_ms: u64,
        /// The end of its output.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output: String,
    },
    /// Someone asked the loop to pause after the iteration that runs (`iteratr pause`, `p`).
    SessionPaused,
    /// And to go on.
    SessionResumed,
    /// The loop started an agent: what it said it is in `initialize`.
    AgentStarted {
        name: String,
        version: String,
        /// It takes MCP servers over HTTP.
        http_mcp: bool,
    },
    /// iteratr answered an agent's permission request (`session/request_permission`).
    PermissionDecided {
        /// The tool as the agent names it (`bash`, `mcp__acp__Write`); empty when it names none.
        tool: String,
        /// What the call does, as the agent describes it (a command, a file path).
        title: String,
        decision: PermissionDecision,
        /// The `--deny-tools` pattern that refused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    /// Starts the session over: the fold forgets everything before it. The history stays in the log.
    SessionReset {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A build took charge of the session: one builder at a time. The lease lapses `ttl_ms`
    /// after its last renewal.
    LeaseAcquired {
        holder: LeaseHolder,
        ttl_ms: u64,
        /// The holder it replaced while that one's lease still ran (`--takeover`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_over_from: Option<String>,
    },
    /// The holder is still at work.
    LeaseRenewed {
        id: String,
    },
    /// The holder's build ended.
    LeaseReleased {
        id: String,
    },
    /// A worker took the task: no other worker works on it until the claim ends or lapses
    /// `ttl_ms` after its last renewal.
    TaskClaimed {
        task: u64,
        worker: String,
        ttl_ms: u64,
    },
    /// The worker is still at work: its claims run for another time to live.
    ClaimsRenewed {
        worker: String,
    },
    /// A claim ended: released by its worker (done, blocked, given up) or `expired`. A task
    /// still in progress goes back to remaining.
    TaskUnclaimed {
        task: u64,
        worker: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        expired: bool,
        reason: String,
    },
    /// The task's work reached the integration branch at `commit`.
    TaskIntegrated {
        task: u64,
        commit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    },
}

/// How an iteration ended, stored as the same strings logs have always held (`end_turn`,
/// `error`, ...); a stop reason a newer agent invents is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IterationOutcome {
    /// The agent's own stop reasons.
    EndTurn,
    MaxTokens,
    MaxTurnRequests,
    Refusal,
    Cancelled,
    /// The agent crashed or answered with an error.
    Error,
    /// The turn ran past `--iteration-timeout`.
    Timeout,
    /// Stopped by the user, or iteratr stopped before the iteration ended.
    Interrupted,
    Other(String),
}

impl IterationOutcome {
    pub fn as_str(&self) -> &str {
        match self {
            IterationOutcome::EndTurn => "end_turn",
            IterationOutcome::MaxTokens => "max_tokens",
            IterationOutcome::MaxTurnRequests => "max_turn_requests",
            IterationOutcome::Refusal => "refusal",
            IterationOutcome::Cancelled => "cancelled",
            IterationOutcome::Error => "error",
            IterationOutcome::Timeout => "timeout",
            IterationOutcome::Interrupted => "interrupted",
            IterationOutcome::Other(s) => s,
        }
    }

    /// The agent failed (crashed, errored, timed out), as opposed to stopping by itself or being
    /// stopped by the user.
    pub fn is_failure(&self) -> bool {
        matches!(self, IterationOutcome::Error | IterationOutcome::Timeout)
    }

    /// The agent ended the turn by itself.
    pub fn is_agents_stop(&self) -> bool {
        !matches!(
            self,
            IterationOutcome::Error | IterationOutcome::Timeout | IterationOutcome::Interrupted
        )
    }
}

impl From<&str> for IterationOutcome {
    fn from(s: &str) -> Self {
        match s {
            "end_turn" => IterationOutcome::EndTurn,
            "max_tokens" => IterationOutcome::MaxTokens,
            "max_turn_requests" => IterationOutcome::MaxTurnRequests,
            "refusal" => IterationOutcome::Refusal,
            "cancelled" => IterationOutcome::Cancelled,
            "error" => IterationOutcome::Error,
            "timeout" => IterationOutcome::Timeout,
            "interrupted" => IterationOutcome::Interrupted,
            other => IterationOutcome::Other(other.to_string()),
        }
    }
}

impl fmt::Display for IterationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for IterationOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IterationOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(IterationOutcome::from(s.as_str()))
    }
}

pub(super) fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl EventKind {
    /// The end of an iteration that did not end by itself, and why.
    pub fn interrupted(iteration: u32, detail: String) -> EventKind {
        EventKind::IterationFinished {
            iteration,
            outcome: IterationOutcome::Interrupted,
            detail: Some(detail),
            commit: None,
            usage: None,
            auto_allowed: 0,
        }
    }

    /// The first encoding version that knows this kind: 2 for the workers' claims and for
    /// `task_released`, 1 for the rest.
    pub fn version(&self) -> u32 {
        match self {
            EventKind::TaskClaimed { .. }
            | EventKind::ClaimsRenewed { .. }
            | EventKind::TaskUnclaimed { .. }
            | EventKind::TaskIntegrated { .. }
            | EventKind::TaskReleased { .. } => 2,
            _ => 1,
        }
    }

    /// The `type` tag, also stored beside the payload for people reading the database.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::TaskAdded { .. } => "task_added",
            EventKind::TaskStatusSet { .. } => "task_status_set",
            EventKind::TaskPrioritySet { .. } => "task_priority_set",
            EventKind::TaskDependencyAdded { .. } => "task_dependency_added",
            EventKind::TaskContentEdited { .. } => "task_content_edited",
            EventKind::TaskDeleted { .. } => "task_deleted",
            EventKind::TaskReleased { .. } => "task_released",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::NoteContentEdited { .. } => "note_content_edited",
            EventKind::NoteDeleted { .. } => "note_deleted",
            EventKind::IterationStarted { .. } => "iteration_started",
            EventKind::IterationSummarized { .. } => "iteration_summarized",
            EventKind::IterationFinished { .. } => "iteration_finished",
            EventKind::UserMessage { .. } => "user_message",
            EventKind::SessionCompleted { .. } => "session_completed",
            EventKind::HookRan { .. } => "hook_ran",
            EventKind::SessionPaused => "session_paused",
            EventKind::SessionResumed => "session_resumed",
            EventKind::AgentStarted { .. } => "agent_started",
            EventKind::PermissionDecided { .. } => "permission_decided",
            EventKind::SessionReset { .. } => "session_reset",
            EventKind::LeaseAcquired { .. } => "lease_acquired",
            EventKind::LeaseRenewed { .. } => "lease_renewed",
            EventKind::LeaseReleased { .. } => "lease_released",
            EventKind::TaskClaimed { .. } => "task_claimed",
            EventKind::ClaimsRenewed { .. } => "claims_renewed",
            EventKind::TaskUnclaimed { .. } => "task_unclaimed",
            EventKind::TaskIntegrated { .. } => "task_integrated",
        }
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
