//! The domain: what a session records, the state those records fold into, and the rules a command
//! must pass before it becomes events. Pure code: no I/O, no clock (the caller passes the time).

mod command;
pub mod display;
mod error;
mod event;
pub mod limits;
mod queries;
mod state;

pub use command::{Command, Ctx, NewTask, decide};
pub use error::DomainError;
pub use event::{
    Author, DecodeError, EVENT_VERSION, Event, EventKind, IterationOutcome, LeaseHolder, NoteType,
    PermissionDecision, TaskStatus,
};
pub use state::{
    Completion, Iteration, Lease, Note, PermissionRecord, Permissions, SessionState, Task,
    UserMessage, normalize_content, note_id, task_id,
};

/// Checks a session name: it names a stream in every backend (a SQLite key, a NATS subject token),
/// so it is kept to characters that are safe everywhere.
pub fn validate_session_name(name: &str) -> Result<(), DomainError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > limits::SESSION_NAME_MAX || !ok_chars || !first_ok {
        return Err(DomainError::InvalidSessionName(name.to_string()));
    }
    Ok(())
}

/// Turns any text (a spec's file stem, say) into a valid session name.
pub fn session_name_from(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out
        .trim_matches(|c: char| c == '-' || c == '_')
        .chars()
        .take(limits::SESSION_NAME_MAX)
        .collect();
    if trimmed.is_empty() {
        "session".to_string()
    } else {
        trimmed
    }
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
        assert_eq!(session_name_from("my feature.md"), "my-feature-md");
        assert_eq!(session_name_from("..."), "session");
        assert!(validate_session_name(&session_name_from("ünï côde")).is_ok());
    }
}

#[cfg(test)]
mod rules_tests;
