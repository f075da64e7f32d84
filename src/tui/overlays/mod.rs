//! Windows over the dashboard: the keys, a task's details, a note, the agent's questions and its
//! permission requests. An open window takes the keys (the permission window before any other,
//! then the question window); the mouse still reaches the panes beneath, except while a
//! permission request or a question's window is open.

pub(super) mod approval;
pub(super) mod help;
pub(super) mod note;
pub(super) mod question;
pub(super) mod task;

/// Which of the help, task and note windows is open (the permission window shows whenever a
/// request waits, the question window whenever a question waits and is not put aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Task(u64),
    Note(u64),
}
