//! The session tools: one MCP tool per thing an agent records or asks about. Arguments are typed
//! structs whose JSON schema clients see; results are short text for the model (ids it needs next)
//! plus the same facts as structured content. Every refusal is a tool result with `isError` and a
//! message that says what to do, never a protocol error or a panic.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use serde_json::{Value, json};

use super::args::*;
use super::prompts::PromptSource;
use super::subscriptions::Subscriptions;
use crate::session::display::{all_counts, task_line};
use crate::session::text::{error_chain, one_line};
use crate::session::{
    Author, Command, DomainError, EventKind, NoteType, SessionState, Task, TaskStatus, note_id,
    task_id,
};
use crate::session_handle::{ExecError, Executed, SessionHandle};

pub(super) const INSTRUCTIONS: &str = "Session memory for an agent working through a spec over several iterations. \
Keep the task list true: add tasks (task-add, task-batch-add), mark the one you work on in_progress and \
completed when done (task-status), ask task-next what to do. Record learnings, decisions and where you are \
stuck with note-add. End every iteration with iteration-summary. Call session-complete only when every task \
is completed, blocked or cancelled.";

/// The MCP server for one session: its tools, resources and prompt (see `server.rs`).
#[derive(Clone)]
pub struct SessionTools {
    pub(super) session: Arc<SessionHandle>,
    by: Author,
    pub(super) tool_router: ToolRouter<Self>,
    pub(super) source: PromptSource,
    /// What this connection follows; each connection has its own.
    pub(super) subscriptions: Arc<Subscriptions>,
    /// The worker this endpoint serves (`--workers`): `task-next` claims for it.
    pub(super) worker: Option<super::claims::WorkerSeat>,
    /// How long `ask-questions` waits for a person's answer.
    pub(super) question_wait: std::time::Duration,
    /// `iteratr spec`'s interview: where `finish-spec` hands an accepted spec.
    pub(super) spec_sink: Option<super::spec_tools::SpecSink>,
    pub(super) instructions: &'static str,
}

impl SessionTools {
    pub fn new(session: Arc<SessionHandle>) -> Self {
        SessionTools {
            session,
            by: Author::Agent,
            tool_router: Self::tool_router() + Self::question_router(),
            source: PromptSource::default(),
            subscriptions: Arc::default(),
            worker: None,
            question_wait: std::time::Duration::ZERO,
            spec_sink: None,
            instructions: INSTRUCTIONS,
        }
    }

    /// The endpoint of `iteratr spec`'s interview: only `ask-questions` and `finish-spec`, which
    /// hands accepted specs to `sink`.
    pub fn for_spec_interview(
        session: Arc<SessionHandle>,
        sink: super::spec_tools::SpecSink,
        question_wait: std::time::Duration,
    ) -> Self {
        SessionTools {
            tool_router: Self::question_router() + Self::spec_router(),
            spec_sink: Some(sink),
            instructions: super::spec_tools::SPEC_INSTRUCTIONS,
            question_wait,
            ..Self::new(session)
        }
    }

    /// How long `ask-questions` waits for an answer before it tells the agent to go on.
    pub fn with_question_wait(mut self, wait: std::time::Duration) -> Self {
        self.question_wait = wait;
        self
    }

    /// An endpoint for one worker: `task-next` claims the task it returns for this worker.
    pub fn for_worker(mut self, name: &str, claim_ttl_ms: u64) -> Self {
        self.worker = Some(super::claims::WorkerSeat {
            name: name.to_string(),
            ttl_ms: claim_ttl_ms,
        });
        self
    }

    /// Where the `iteration` prompt and the `spec` resource find the spec, template and extra
    /// instructions.
    pub fn with_prompt_source(mut self, source: PromptSource) -> Self {
        self.source = source;
        self
    }

    /// A server for one more connection: the same session and sources, no subscriptions.
    pub fn for_connection(&self) -> Self {
        SessionTools {
            subscriptions: Arc::default(),
            ..self.clone()
        }
    }

    /// The tools as clients list them (for the schema files in `mcp/`).
    pub fn tool_definitions() -> Vec<rmcp::model::Tool> {
        (Self::tool_router() + Self::question_router()).list_all()
    }

    pub(super) async fn exec(&self, cmd: Command) -> Result<Executed, CallToolResult> {
        self.session
            .execute(&cmd, self.by)
            .await
            .map_err(|e| match e {
                ExecError::Rejected(e) => failure(e.to_string()),
                ExecError::Store(e) => {
                    let e = error_chain(&e);
                    tracing::error!("session tool could not use the event log: {e}");
                    failure(format!(
                        "iteratr could not record this ({e}); nothing was changed, try again"
                    ))
                }
            })
    }

    pub(super) async fn state(&self) -> Result<Arc<SessionState>, CallToolResult> {
        self.session.refresh().await.map_err(|e| {
            tracing::error!("session tool could not read the event log: {e}");
            failure(format!(
                "iteratr could not read the session ({e}); try again"
            ))
        })
    }
}

/// A tool's answer: an error is a result with `isError` for the model, never a protocol error.
type ToolResult = Result<CallToolResult, CallToolResult>;

/// A result: the text for the model, and the same facts as structured content. The structured
/// object carries the text too, under `message`: some clients (Claude Code) hand the model the
/// structured content instead of the text.
pub(super) fn success(text: String, structured: Value) -> CallToolResult {
    let structured = match structured {
        Value::Object(fields) => {
            let mut with_message = serde_json::Map::new();
            with_message.insert("message".into(), Value::String(text.clone()));
            with_message.extend(fields);
            Value::Object(with_message)
        }
        other => other,
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    result
}

pub(super) fn failure(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

pub fn task_json(t: &Task) -> Value {
    json!({
        "id": t.label(),
        "content": t.content,
        "status": t.status,
        "priority": t.priority,
        "depends_on": t.depends_on.iter().map(|d| task_id(*d)).collect::<Vec<_>>(),
    })
}

/// The task a command changed, as it is now.
fn changed_task<'a>(done: &'a Executed, given: &str) -> Result<&'a Task, DomainError> {
    let id = done.state.resolve_task(given)?;
    done.state
        .tasks
        .get(&id)
        .ok_or_else(|| DomainError::UnknownTask(given.to_string()))
}

fn added_tasks(done: &Executed) -> Vec<&Task> {
    done.events
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::TaskAdded { task, .. } => done.state.tasks.get(task),
            _ => None,
        })
        .collect()
}

#[tool_router]
impl SessionTools {
    #[tool(
        name = "task-add",
        description = "Add a task. Returns its id (TAS-n); refused when an open task says the same."
    )]
    async fn task_add(&self, Parameters(args): Parameters<TaskAddArgs>) -> ToolResult {
        let done = self.exec(Command::AddTasks(vec![args.into()])).await?;
        let t = added_tasks(&done)
            .into_iter()
            .next()
            .ok_or_else(|| failure("the task was not recorded; try again".into()))?;
        Ok(success(
            format!(
                "Added {} ({}, priority {})",
                task_line(t),
                t.status,
                t.priority
            ),
            task_json(t),
        ))
    }

    #[tool(
        name = "task-batch-add",
        description = "Add up to 100 tasks at once, all or none (the error names an invalid one)."
    )]
    async fn task_batch_add(&self, Parameters(args): Parameters<TaskBatchAddArgs>) -> ToolResult {
        let tasks = args.tasks.into_iter().map(Into::into).collect();
        let done = self.exec(Command::AddTasks(tasks)).await?;
        let added = added_tasks(&done);
        let lines: Vec<String> = added
            .iter()
            .map(|t| format!("  {}", task_line(t)))
            .collect();
        Ok(success(
            format!("Added {} tasks:\n{}", added.len(), lines.join("\n")),
            json!({ "tasks": added.iter().map(|t| task_json(t)).collect::<Vec<_>>() }),
        ))
    }

    #[tool(
        name = "task-status",
        description = "Set a task's status: remaining, in_progress (when you start it), completed (when it is done and tested), blocked (cannot go on; add a note saying why) or cancelled (no longer needed)."
    )]
    async fn task_status(&self, Parameters(args): Parameters<TaskStatusArgs>) -> ToolResult {
        let status: TaskStatus = args.status.into();
        self.check_claim(&args.id).await?;
        let task = args.id.clone();
        let done = self
            .exec(match &self.worker {
                Some(seat) => Command::SetHeldStatus {
                    task,
                    status,
                    worker: seat.name.clone(),
                },
                None => Command::SetStatus { task, status },
            })
            .await?;
        let t = changed_task(&done, &args.id).map_err(|e| failure(e.to_string()))?;
        let verb = if done.events.is_empty() {
            "was already"
        } else {
            "is now"
        };
        Ok(success(
            format!(
                "{} {verb} {status}. Tasks: {}",
                t.label(),
                all_counts(&done.state)
            ),
            task_json(t),
        ))
    }

    #[tool(
        name = "task-priority",
        description = "Set a task's priority: 0 (lowest) to 4 (highest). task-next picks higher priorities first."
    )]
    async fn task_priority(&self, Parameters(args): Parameters<TaskPriorityArgs>) -> ToolResult {
        let done = self
            .exec(Command::SetPriority {
                task: args.id.clone(),
                priority: args.priority,
            })
            .await?;
        let t = changed_task(&done, &args.id).map_err(|e| failure(e.to_string()))?;
        Ok(success(
            format!("{} has priority {}", t.label(), t.priority),
            task_json(t),
        ))
    }

    #[tool(
        name = "task-depends",
        description = "Make a task wait until another is completed (or cancelled). Refused if it makes a cycle."
    )]
    async fn task_depends(&self, Parameters(args): Parameters<TaskDependsArgs>) -> ToolResult {
        let done = self
            .exec(Command::AddDependency {
                task: args.id.clone(),
                depends_on: args.depends_on.clone(),
            })
            .await?;
        let t = changed_task(&done, &args.id).map_err(|e| failure(e.to_string()))?;
        Ok(success(format!("Now {}", task_line(t)), task_json(t)))
    }

    #[tool(
        name = "task-list",
        description = "List tasks by status, with ids, priorities (p0-p4) and dependencies; optionally one status only."
    )]
    async fn task_list(&self, Parameters(args): Parameters<TaskListArgs>) -> ToolResult {
        let state = self.state().await?;
        let filter: Option<TaskStatus> = args.status.map(Into::into);
        let mut text = String::new();
        let mut listed = Vec::new();
        for status in TaskStatus::ALL {
            if filter.is_some_and(|f| f != status) {
                continue;
            }
            let tasks = state.tasks_with_status(status);
            if tasks.is_empty() {
                continue;
            }
            text.push_str(&format!("{status} ({}):\n", tasks.len()));
            for t in tasks {
                text.push_str(&format!("  {}\n", task_line(t)));
                listed.push(task_json(t));
            }
        }
        if listed.is_empty() {
            text = match filter {
                Some(f) => format!("No {f} tasks. Tasks: {}", all_counts(&state)),
                None => "No tasks yet. Add them with task-add or task-batch-add.".into(),
            };
        }
        Ok(success(
            text.trim_end().to_string(),
            json!({ "tasks": listed }),
        ))
    }

    #[tool(
        name = "task-next",
        description = "The task to work on next: the highest-priority remaining task whose dependencies are all done (oldest first on ties). Mark it in_progress when you start."
    )]
    async fn task_next(&self) -> ToolResult {
        if let Some(seat) = &self.worker {
            return self.claim_next(seat).await;
        }
        let state = self.state().await?;
        // A task a worker holds is not offered to anyone else.
        if let Some(t) = state.claimable_task(crate::clock::now_ms()) {
            return Ok(success(
                format!("Next: {}", task_line(t)),
                json!({ "task": task_json(t) }),
            ));
        }
        let in_progress = state.tasks_with_status(TaskStatus::InProgress);
        let waiting: Vec<&Task> = state.tasks_with_status(TaskStatus::Remaining);
        let text = if !waiting.is_empty() {
            let lines: Vec<String> = waiting
                .iter()
                .map(|t| format!("  {}", task_line(t)))
                .collect();
            format!(
                "Nothing is unblocked: every remaining task waits on a task that is not done yet:\n{}\nFinish (or cancel) what they wait for.",
                lines.join("\n")
            )
        } else if !in_progress.is_empty() {
            let lines: Vec<String> = in_progress
                .iter()
                .map(|t| format!("  {}", task_line(t)))
                .collect();
            format!("No remaining tasks; in progress:\n{}", lines.join("\n"))
        } else if state.tasks.is_empty() {
            "No tasks yet. Read the spec and add tasks with task-batch-add.".into()
        } else {
            "No remaining tasks. If the spec is fully built and tested, call session-complete."
                .into()
        };
        Ok(success(text, json!({ "task": null })))
    }

    #[tool(
        name = "note-add",
        description = "Record a note for later iterations: learning (what you found out), stuck (what blocks you and why), tip (advice for the next iteration) or decision (a choice and its reason)."
    )]
    async fn note_add(&self, Parameters(args): Parameters<NoteAddArgs>) -> ToolResult {
        let note_type: NoteType = args.note_type.into();
        let done = self
            .exec(Command::AddNote {
                note_type,
                content: args.content,
            })
            .await?;
        let id = done
            .events
            .iter()
            .find_map(|e| match &e.event.kind {
                EventKind::NoteAdded { note, .. } => Some(*note),
                _ => None,
            })
            .ok_or_else(|| failure("the note was not recorded; try again".into()))?;
        Ok(success(
            format!("Added {} ({note_type})", note_id(id)),
            json!({ "id": note_id(id), "type": note_type }),
        ))
    }

    #[tool(
        name = "note-list",
        description = "List notes by type; optionally one type only."
    )]
    async fn note_list(&self, Parameters(args): Parameters<NoteListArgs>) -> ToolResult {
        let state = self.state().await?;
        let filter: Option<NoteType> = args.note_type.map(Into::into);
        let mut text = String::new();
        let mut listed = Vec::new();
        for (note_type, notes) in state.notes_by_type() {
            if filter.is_some_and(|f| f != note_type) {
                continue;
            }
            text.push_str(&format!("{note_type} ({}):\n", notes.len()));
            for n in notes {
                let when = n
                    .iteration
                    .map(|i| format!(" (iteration {i})"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "  {} {}{when}\n",
                    note_id(n.id),
                    one_line(&n.content)
                ));
                listed.push(json!({
                    "id": note_id(n.id),
                    "type": n.note_type,
                    "content": n.content,
                    "iteration": n.iteration,
                }));
            }
        }
        if listed.is_empty() {
            text = match filter {
                Some(f) => format!("No {f} notes."),
                None => "No notes yet. Add them with note-add.".into(),
            };
        }
        Ok(success(
            text.trim_end().to_string(),
            json!({ "notes": listed }),
        ))
    }

    #[tool(
        name = "iteration-summary",
        description = "Record what this iteration did and what the next one should know. Call it once at the end of every iteration."
    )]
    async fn iteration_summary(
        &self,
        Parameters(args): Parameters<IterationSummaryArgs>,
    ) -> ToolResult {
        let done = self
            .exec(Command::SummarizeIteration {
                summary: args.summary,
                worker: self.worker.as_ref().map(|w| w.name.clone()),
            })
            .await?;
        let number = done.events.iter().find_map(|e| match &e.event.kind {
            EventKind::IterationSummarized { iteration, .. } => Some(*iteration),
            _ => None,
        });
        let number = number.unwrap_or_default();
        Ok(success(
            format!("Recorded the summary of iteration {number}"),
            json!({ "iteration": number }),
        ))
    }

    #[tool(
        name = "session-complete",
        description = "Declare the whole spec built. Refused while any task is remaining or in_progress (the error lists them); blocked and cancelled tasks do not prevent it."
    )]
    async fn session_complete(
        &self,
        Parameters(args): Parameters<SessionCompleteArgs>,
    ) -> ToolResult {
        if self.worker.is_some() {
            return Err(failure("You are one of several workers: iteratr completes the session once every task is integrated. End your turn instead.".into()));
        }
        let done = self
            .exec(Command::CompleteSession {
                summary: args.summary,
            })
            .await?;
        let text = if done.events.is_empty() {
            "The session was already complete.".to_string()
        } else {
            format!("Session complete. Tasks: {}", all_counts(&done.state))
        };
        Ok(success(text, json!({ "completed": true })))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_session_knows_every_tool_the_server_serves() {
        let mut served: Vec<String> = super::SessionTools::tool_definitions()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        served.sort();
        let mut known = crate::session::tools::TOOLS.map(String::from).to_vec();
        known.sort();
        assert_eq!(served, known);
    }
}
