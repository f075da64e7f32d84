//! The domain: what a session records, the state those records fold into, and the rules a command
//! must pass before it becomes events. Pure code: no I/O, no clock (the caller passes the time).

mod add_tasks;
mod claims;
mod command;
mod command_display;
pub mod display;
mod error;
mod event;
mod event_kind;
mod hook_point;
mod index;
mod lease;
pub mod limits;
mod name;
pub mod names;
mod parts;
mod permissions;
mod queries;
mod questions;
mod state;
mod stop;
pub mod text;
pub mod tools;
mod usage;

pub use claims::{CLAIM_TTL_MS, Claim, validate_worker_name};
pub use command::{Command, Ctx, NewTask, decide};
pub use error::DomainError;
pub use event::{
    Author, DecodeError, EVENT_VERSION, Event, IterationOutcome, NoteType, PermissionDecision,
    TaskStatus,
};
pub use event_kind::{EventKind, EventType};
pub use hook_point::HookPoint;
pub use lease::{Lease, LeaseHolder};
pub use name::{SessionName, session_name_from, validate_session_name};
pub use parts::Part;
pub use permissions::{PermissionRecord, Permissions, WaitingPermission, permission_id};
pub use questions::{
    ANSWER_MAX, CHOICES_PER_QUESTION, Choice, GivenAnswer, ItemAnswer, QUESTIONS_PER_CALL,
    Question, QuestionItem, Questions, items_line, parse_question_id, question_id, question_line,
};
pub use state::{
    Completion, Iteration, Note, Pause, SessionState, StopRequest, Task, UserMessage,
    normalize_content, note_id, task_id,
};
pub use usage::Usage;

/// `TAS-n` added as "task n", priority 2, with `status` (for tests of the layers above).
#[cfg(test)]
pub(crate) fn task_added(task: u64, status: TaskStatus) -> EventKind {
    EventKind::TaskAdded {
        task,
        content: format!("task {task}"),
        status,
        priority: 2,
        depends_on: Vec::new(),
    }
}

/// A session folded from `kinds`, in order (for tests of the layers above).
#[cfg(test)]
pub(crate) fn folded(kinds: &[EventKind]) -> SessionState {
    let mut state = SessionState::default();
    for (i, kind) in kinds.iter().enumerate() {
        state.apply(i as u64 + 1, &Event::new(0, Author::System, kind.clone()));
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names() {
        for ok in ["a", "feature-x", "Feature_2", "x".repeat(64).as_str()] {
            assert!(validate_session_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "_x", "a b", "a.b", "a/b", "ä", &"x".repeat(65)] {
            let err = validate_session_name(bad).unwrap_err().to_string();
            assert!(err.contains("letters, digits"), "{bad}: {err}");
        }
        assert_eq!(session_name_from("my feature.md").as_str(), "my-feature-md");
        assert_eq!(session_name_from("...").as_str(), "session");
        assert!(validate_session_name(&session_name_from("ünï côde")).is_ok());
    }
}

#[cfg(test)]
mod claim_tests;
#[cfg(test)]
mod release_tests;
#[cfg(test)]
mod rules_tests;
