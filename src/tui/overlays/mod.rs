//! Windows over the dashboard: the keys, a task's details, a note, and the agent's permission
//! requests. An open window takes the keys (the permission window before any other); the mouse
//! still reaches the panes beneath, except while a permission request waits.

pub(super) mod approval;
pub(super) mod help;
pub(super) mod note;
pub(super) mod task;

/// Which of the help, task and note windows is open (the permission window shows whenever a
/// request waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Task(u64),
    Note(u64),
}
