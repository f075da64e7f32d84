//! The session tools' arguments: typed structs whose JSON schemas clients see (doc comments are
//! the field descriptions). Optional arguments are absent-or-typed (see `schema.rs`).

use rmcp::schemars;
use serde::{Deserialize, Deserializer};

use super::schema::absent_or_typed;
use crate::session::{NewTask, NoteType, TaskStatus};

/// Status of a task.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum StatusArg {
    Remaining,
    #[serde(alias = "in-progress")]
    InProgress,
    #[serde(alias = "done")]
    Completed,
    Blocked,
    #[serde(alias = "canceled")]
    Cancelled,
}

impl From<StatusArg> for TaskStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Remaining => TaskStatus::Remaining,
            StatusArg::InProgress => TaskStatus::InProgress,
            StatusArg::Completed => TaskStatus::Completed,
            StatusArg::Blocked => TaskStatus::Blocked,
            StatusArg::Cancelled => TaskStatus::Cancelled,
        }
    }
}

/// Kind of note.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum NoteTypeArg {
    // No doc comments on the variants: with them schemars writes a `oneOf` of described
    // constants (about 400 bytes in each tool that takes a type); the tools say what each means.
    Learning,
    Stuck,
    Tip,
    Decision,
}

impl From<NoteTypeArg> for NoteType {
    fn from(t: NoteTypeArg) -> Self {
        match t {
            NoteTypeArg::Learning => NoteType::Learning,
            NoteTypeArg::Stuck => NoteType::Stuck,
            NoteTypeArg::Tip => NoteType::Tip,
            NoteTypeArg::Decision => NoteType::Decision,
        }
    }
}

/// Accepts `"TAS-1"` as well as `["TAS-1"]`: models often send one id without the list.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_or_typed)]
#[schemars(inline)]
pub struct TaskAddArgs {
    /// What has to be done, in one or two sentences (at most 1000 characters).
    pub content: String,
    /// Initial status; `remaining` when left out.
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// 0 (lowest) to 4 (highest); 2 when left out.
    #[serde(default)]
    #[schemars(range(min = 0, max = 4))]
    pub priority: Option<i64>,
    /// Ids of tasks that must be completed first, e.g. ["TAS-1", "TAS-3"]. In a batch, a task may
    /// also name one added earlier in the same batch (the batch takes the next ids in order).
    #[serde(default, deserialize_with = "one_or_many")]
    pub depends_on: Vec<String>,
}

impl From<TaskAddArgs> for NewTask {
    fn from(a: TaskAddArgs) -> Self {
        NewTask {
            content: a.content,
            status: a.status.map(Into::into),
            priority: a.priority,
            depends_on: a.depends_on,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskBatchAddArgs {
    /// The tasks to add (at most 100). All are added, or none when one is invalid.
    pub tasks: Vec<TaskAddArgs>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskStatusArgs {
    /// Task id, e.g. "TAS-4".
    pub id: String,
    /// The new status.
    pub status: StatusArg,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskPriorityArgs {
    /// Task id, e.g. "TAS-4".
    pub id: String,
    /// 0 (lowest) to 4 (highest).
    #[schemars(range(min = 0, max = 4))]
    pub priority: i64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskDependsArgs {
    /// The task that has to wait, e.g. "TAS-5".
    pub id: String,
    /// The task it waits for, e.g. "TAS-4".
    pub depends_on: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_or_typed)]
pub(super) struct TaskListArgs {
    /// Only tasks with this status; all tasks when left out.
    #[serde(default)]
    pub status: Option<StatusArg>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteAddArgs {
    /// learning, stuck, tip or decision.
    #[serde(rename = "type")]
    pub note_type: NoteTypeArg,
    /// The note (at most 4000 characters).
    pub content: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_or_typed)]
pub(super) struct NoteListArgs {
    /// Only notes of this type (learning, stuck, tip or decision); all when left out.
    #[serde(default, rename = "type")]
    pub note_type: Option<NoteTypeArg>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IterationSummaryArgs {
    /// What this iteration did and what the next one should know (at most 4000 characters).
    pub summary: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_or_typed)]
pub(super) struct SessionCompleteArgs {
    /// Optional closing summary of the whole session.
    #[serde(default)]
    pub summary: Option<String>,
}
