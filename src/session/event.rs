//! The events a session records. They are stored as JSON and read back by later versions of
//! iteratr, so every change here is deliberate: the golden file `tests/golden/events.jsonl` fails
//! when the encoding drifts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::event_kind::EventKind;

/// Version of the event encoding this build reads and writes. Readers refuse events from a newer
/// one with a message that says to upgrade. An event carries the lowest version that knows its
/// kind ([`EventKind::version`]), so a log without new kinds stays readable by older builds.
pub const EVENT_VERSION: u32 = 4;

crate::named!(TaskStatus, NoteType, Author, PermissionDecision);

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

/// How an iteration ended, stored as the same strings logs have always held (`end_turn`,
/// `error`, ...); a stop reason a newer agent invents is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    #[serde(untagged)]
    Other(String),
}

impl IterationOutcome {
    /// The name stored in the log (serde's), or the stop reason as the agent gave it.
    pub fn as_str(&self) -> &str {
        match self {
            IterationOutcome::Other(s) => s,
            known => super::names::name_of(known),
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
        super::names::from_name(s).unwrap_or_else(|| IterationOutcome::Other(s.to_string()))
    }
}

impl fmt::Display for IterationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(super) fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
