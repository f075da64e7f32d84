//! Commands in words for people: what failed to be recorded ("cannot record the end of iteration
//! 3 (end_turn) in the session log"), never the Rust debug form.

use super::command::Command;
use super::state::task_id;

impl std::fmt::Display for Command {
    /// What the command does, in words for people (never the Rust debug form).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::AddTasks(tasks) if tasks.len() == 1 => write!(f, "add a task"),
            Command::AddTasks(tasks) => write!(f, "add {} tasks", tasks.len()),
            Command::SetStatus { task, status } => write!(f, "set {task} to {status}"),
            Command::SetHeldStatus {
                task,
                status,
                worker,
            } => write!(f, "set {task} to {status} for worker {worker}"),
            Command::SetPriority { task, priority } => {
                write!(f, "set the priority of {task} to {priority}")
            }
            Command::AddDependency { task, depends_on } => {
                write!(f, "make {task} depend on {depends_on}")
            }
            Command::EditTask { task, .. } => write!(f, "edit {task}"),
            Command::DeleteTask { task } => write!(f, "delete {task}"),
            Command::AddNote { note_type, .. } => write!(f, "add a {note_type} note"),
            Command::EditNote { note, .. } => write!(f, "edit {note}"),
            Command::DeleteNote { note } => write!(f, "delete {note}"),
            Command::StartIteration {
                number,
                planning: true,
                ..
            } => write!(f, "the start of iteration {number} (planning)"),
            Command::StartIteration { number, .. } => write!(f, "the start of iteration {number}"),
            Command::CloseAbandonedIteration => {
                write!(f, "the end of the iteration a stopped build left running")
            }
            Command::SummarizeIteration { .. } => write!(f, "the iteration's summary"),
            Command::FinishIteration {
                number, outcome, ..
            } => write!(f, "the end of iteration {number} ({outcome})"),
            Command::UserMessage { .. } => write!(f, "a message from the user"),
            Command::RecordHook { point, .. } => write!(f, "the run of the {point} hook"),
            Command::Pause { .. } => write!(f, "the pause of the session"),
            Command::Resume { .. } => write!(f, "the resumption of the session"),
            Command::RequestStop { now: false, .. } => write!(f, "the stop of the build"),
            Command::RequestStop { now: true, .. } => write!(f, "the stop of the build, now"),
            Command::CompleteSession { .. } => write!(f, "the completion of the session"),
            Command::Reset { .. } => write!(f, "the reset of the session"),
            Command::AgentStarted { name, .. } => write!(f, "the start of the agent {name}"),
            Command::AcquireLease { .. } => write!(f, "this build taking charge of the session"),
            Command::RenewLease { .. } => write!(f, "the renewal of this build's lease"),
            Command::ReleaseLease { .. } => write!(f, "the end of this build's lease"),
            Command::AskQuestions { .. } => write!(f, "the agent's question"),
            Command::AnswerQuestion { question, .. } => {
                write!(f, "the answer to {}", super::question_id(*question))
            }
            Command::LeaveQuestionOpen { question } => {
                write!(f, "leaving {} open", super::question_id(*question))
            }
            Command::RequestPermission { tool, .. } => {
                write!(f, "the permission request for {tool}")
            }
            Command::AnswerPermission { request, .. } => {
                write!(f, "the answer to {}", super::permission_id(*request))
            }
            Command::RecordPermission { tool, .. } => {
                write!(f, "the answer to a permission request for {tool}")
            }
            Command::ClaimTask { worker, .. } => write!(f, "a task claim by {worker}"),
            Command::RenewClaims { worker } => write!(f, "the renewal of {worker}'s claims"),
            Command::ReleaseClaim { task, worker, .. } => {
                write!(f, "the release of {} by {worker}", task_id(*task))
            }
            Command::RecordIntegration { task, .. } => {
                write!(f, "the integration of {}", task_id(*task))
            }
        }
    }
}
