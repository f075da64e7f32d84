//! Why a command was refused. The messages are read by a model (as tool results) and by people, so
//! each one says what was wrong and what to do instead.

use thiserror::Error;

use super::limits;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{0} does not exist in this session; task-list shows the ids (they look like TAS-12)")]
    UnknownTask(String),
    #[error("'{given}' matches several tasks ({}); give the full id", .candidates.join(", "))]
    AmbiguousTask {
        given: String,
        candidates: Vec<String>,
    },
    #[error(
        "'{0}' is not a worker name; use 1-64 letters, digits, '-' or '_', starting with a letter or digit"
    )]
    BadWorkerName(String),
    #[error("'{0}' is not a git commit id (7-64 hexadecimal digits)")]
    BadCommit(String),
    #[error("{0} does not exist in this session; note-list shows the ids (they look like NOT-3)")]
    UnknownNote(String),
    #[error("'{0}' is not a task id; task ids look like TAS-12")]
    MalformedTaskId(String),
    #[error("{0} cannot depend on itself")]
    SelfDependency(String),
    #[error(
        "{task} cannot depend on {on}: {on} already depends on {task} ({path}), so this would make a cycle"
    )]
    DependencyCycle {
        task: String,
        on: String,
        path: String,
    },
    #[error("a task may have at most {} dependencies", limits::DEPENDENCIES_MAX)]
    TooManyDependencies,
    #[error("priority {0} is outside 0-4; use 0 (lowest) to 4 (highest), 2 is the default")]
    PriorityOutOfRange(i64),
    #[error(
        "unknown status '{0}'; use one of remaining, in_progress, completed, blocked, cancelled"
    )]
    UnknownStatus(String),
    #[error("unknown note type '{0}'; use one of learning, stuck, tip, decision")]
    UnknownNoteType(String),
    #[error("{0} is empty; write it out in words")]
    Empty(&'static str),
    #[error(
        "{what} is {len} characters, over the limit of {max}; shorten it (split a big task into several)"
    )]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "an open task already says this: {existing} ({status}); update it with task-status instead of adding it again"
    )]
    DuplicateTask { existing: String, status: String },
    #[error("the batch holds the same task twice (items {first} and {second})")]
    DuplicateInBatch { first: usize, second: usize },
    #[error("the batch is empty; give at least one task")]
    EmptyBatch,
    #[error(
        "the batch holds {0} tasks, over the limit of {max}; send it in parts",
        max = limits::BATCH_MAX
    )]
    BatchTooLarge(usize),
    #[error("task {index} of the batch: {source}; nothing from the batch was added")]
    BatchItem {
        index: usize,
        #[source]
        source: Box<DomainError>,
    },
    #[error(
        "the session cannot complete: {} task(s) not done: {}. Finish them, or set them to completed, blocked or cancelled with task-status, then call session-complete again",
        .open.len(),
        .open.join("; ")
    )]
    UnfinishedTasks { open: Vec<String> },
    #[error(
        "no build runs this session now, so there is nothing to stop (`iteratr status` shows the last one)"
    )]
    NoBuildRunning,
    #[error(
        "{0} is not waiting for an answer: it was answered already, or its turn ended (`iteratr status` shows what waits)"
    )]
    NotWaiting(String),
    #[error("'{0}' is not a person's answer to a permission request")]
    NotAnAnswer(String),
    #[error(
        "{0} still waits for an answer; one question at a time: wait for it, or decide what seems best, record it with note-add (decision) and go on"
    )]
    QuestionWaits(String),
    #[error(
        "'{0}' is not a question of this session; they look like Q-3 (`iteratr status` lists those that wait)"
    )]
    NotAQuestion(String),
    #[error("{question} was already answered (by {who})")]
    AlreadyAnswered { question: String, who: String },
    #[error("{0}")]
    BadAnswer(String),
    #[error("{got} {what}, over the limit of {max}; ask fewer at a time")]
    TooMany {
        what: &'static str,
        max: usize,
        got: usize,
    },
    #[error(
        "iteration {given} cannot start: iteration {latest} already started; the next one is {}",
        .latest + 1
    )]
    IterationOutOfOrder { given: u32, latest: u32 },
    #[error("iteration {0} is not running; only the iteration in progress can be finished")]
    IterationNotRunning(u32),
    #[error(
        "invalid session name '{0}': use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidSessionName(String),
    #[error(
        "the session is being built by {holder}; its lease runs {expires_in_s}s more unless renewed"
    )]
    SessionHeld { holder: String, expires_in_s: i64 },
    #[error("this build no longer holds the session: {now}")]
    LeaseLost { now: String },
    #[error("a lease's time to live must be 1 s to 1 h, not {0} ms")]
    LeaseTtl(u64),
    #[error(
        "worker {worker} no longer holds {task}: its claim lapsed or another worker took it; call task-next for a task"
    )]
    ClaimLost { task: String, worker: String },
}
