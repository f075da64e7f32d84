//! Size limits on what a session stores. They keep prompts (which include tasks and notes) and the
//! log small enough to stay fast, and they are documented in the README. Also the checks of values
//! against them.

use super::error::DomainError;

/// Characters in a task's content: a task is one line of work, not a document.
pub const TASK_CONTENT_MAX: usize = 1_000;
/// Characters in a note's content.
pub const NOTE_CONTENT_MAX: usize = 4_000;
/// Characters in an iteration summary or a completion summary.
pub const SUMMARY_MAX: usize = 4_000;
/// Characters in a message a person sends to the agent.
pub const MESSAGE_MAX: usize = 8_000;
/// Characters in an iteration's outcome detail (an error message, say).
pub const DETAIL_MAX: usize = 2_000;
/// Tasks in one task-batch-add.
pub const BATCH_MAX: usize = 100;
/// Dependencies of one task.
pub const DEPENDENCIES_MAX: usize = 32;
/// Characters in a session name.
pub const SESSION_NAME_MAX: usize = 64;
/// Characters of a hook's output kept in the log (its end).
pub const HOOK_OUTPUT_MAX: usize = 4_000;
/// Characters of who asked for something (`user@host`, `web: user@host`).
pub const WHO_MAX: usize = 100;

/// Who asked, as recorded: trimmed and clipped, never refused (it is for people to read).
pub(super) fn check_who(who: &str) -> String {
    super::text::clip(who.trim(), WHO_MAX)
}

/// The last `max` characters of `text`.
pub(super) fn tail_chars(text: &str, max: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(max)).collect()
}

pub(super) fn check_priority(p: i64) -> Result<u8, DomainError> {
    u8::try_from(p)
        .ok()
        .filter(|p| *p <= 4)
        .ok_or(DomainError::PriorityOutOfRange(p))
}

/// Trims `text` and checks it is neither empty nor over `max` characters.
pub(super) fn check_text(
    what: &'static str,
    text: &str,
    max: usize,
) -> Result<String, DomainError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DomainError::Empty(what));
    }
    let len = text.chars().count();
    if len > max {
        return Err(DomainError::TooLong { what, len, max });
    }
    Ok(text.to_string())
}
