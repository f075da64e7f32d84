//! The agent's permission requests as the session records them: how iteratr answered (counts and
//! the latest decisions), and the requests that wait for a person, who may answer from anywhere
//! that reaches the log (`iteratr approve P-3`, the full-screen interface, `watch`). The first
//! answer appended wins; a second one is refused.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::error::DomainError;
use super::event::{Author, PermissionDecision};
use super::event_kind::EventKind;
use super::state::SessionState;
use super::text::clip;

/// Decisions kept for `status`.
pub(super) const PERMISSIONS_KEPT: usize = 20;

/// One permission decision, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionRecord {
    pub at_ms: i64,
    pub by: Author,
    pub tool: String,
    pub title: String,
    pub decision: PermissionDecision,
    pub rule: Option<String>,
    pub iteration: Option<u32>,
}

/// A request that waits for a person's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingPermission {
    pub tool: String,
    pub title: String,
    /// The worker whose agent asks (none for a single build).
    pub worker: Option<String>,
    pub at_ms: i64,
}

/// How iteratr answered the agent's permission requests: counts, the latest decisions, and what
/// waits for an answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Permissions {
    pub allowed: u64,
    pub denied: u64,
    pub cancelled: u64,
    /// The last [`PERMISSIONS_KEPT`] decisions, oldest first.
    pub recent: VecDeque<PermissionRecord>,
    /// By request number (`P-3`): the requests that wait for a person.
    pub waiting: BTreeMap<u64, WaitingPermission>,
    /// The last request number given.
    pub last_request: u64,
}

/// `P-3`.
pub fn permission_id(request: u64) -> String {
    format!("P-{request}")
}

impl Permissions {
    pub(super) fn record(&mut self, record: PermissionRecord) {
        match record.decision {
            d if d.allowed() => self.allowed += 1,
            PermissionDecision::Cancelled => self.cancelled += 1,
            _ => self.denied += 1,
        }
        if self.recent.len() == PERMISSIONS_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }

    pub(super) fn requested(
        &mut self,
        request: u64,
        tool: &str,
        title: &str,
        worker: Option<&str>,
        at_ms: i64,
    ) {
        self.last_request = self.last_request.max(request);
        self.waiting.insert(
            request,
            WaitingPermission {
                tool: tool.to_string(),
                title: title.to_string(),
                worker: worker.map(str::to_string),
                at_ms,
            },
        );
    }

    pub(super) fn answered(
        &mut self,
        request: u64,
        decision: PermissionDecision,
        _who: &str,
        at_ms: i64,
        iteration: Option<u32>,
    ) {
        if let Some(w) = self.waiting.remove(&request) {
            self.record(PermissionRecord {
                at_ms,
                by: if matches!(
                    decision,
                    PermissionDecision::Cancelled | PermissionDecision::DeniedUnattended
                ) {
                    Author::System
                } else {
                    Author::User
                },
                tool: w.tool,
                title: w.title,
                decision,
                rule: None,
                iteration,
            });
        }
    }
}

/// A request for a person's answer, numbered after the last one.
pub(super) fn request(
    state: &SessionState,
    tool: &str,
    title: &str,
    worker: Option<&str>,
) -> EventKind {
    EventKind::PermissionRequested {
        request: state.permissions.last_request + 1,
        tool: clip(tool, 200),
        title: clip(title, 500),
        worker: worker.map(str::to_string),
    }
}

/// A person's answer to a waiting request, or its end without one (`cancelled` when its turn
/// ended, `denied_unattended` when nobody answered in time).
pub(super) fn answer(
    state: &SessionState,
    request: u64,
    decision: PermissionDecision,
    who: &str,
) -> Result<EventKind, DomainError> {
    let by_person = matches!(
        decision,
        PermissionDecision::AllowedByUser
            | PermissionDecision::AllowedAlways
            | PermissionDecision::DeniedByUser
            | PermissionDecision::DeniedUnattended
            | PermissionDecision::Cancelled
    );
    if !by_person {
        return Err(DomainError::NotAnAnswer(decision.as_str().to_string()));
    }
    if !state.permissions.waiting.contains_key(&request) {
        return Err(DomainError::NotWaiting(permission_id(request)));
    }
    Ok(EventKind::PermissionAnswered {
        request,
        decision,
        who: super::limits::check_who(who),
    })
}
