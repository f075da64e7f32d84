//! The spec's Markdown checklists and the session's tasks: what a start of `build` imports (new
//! lines) and completes (lines the user ticked). A line that disappeared never deletes or reopens
//! anything, and a task someone deleted is not brought back.

use super::Orchestrator;
use crate::session::{
    Author, Command, EventKind, NewTask, SessionState, TaskStatus, normalize_content, task_id,
};

/// Tasks from the spec's Markdown checklists: `- [ ] todo` and `- [x] done` (also `*` and `+`),
/// with a leading priority tag (`[high]`, `[p3]`, ...; see `spec::priority_tag`) as the task's
/// priority.
pub(crate) fn checklist_tasks(spec: &str) -> Vec<NewTask> {
    let mut tasks: Vec<NewTask> = Vec::new();
    for line in spec.lines() {
        let Some((done, content)) = crate::spec::checklist_item(line) else {
            continue;
        };
        let (priority, content) = crate::spec::priority_tag(content);
        let content: String = content
            .trim()
            .chars()
            .take(crate::session::limits::TASK_CONTENT_MAX)
            .collect();
        if content.is_empty()
            || tasks
                .iter()
                .any(|t| normalize_content(&t.content) == normalize_content(&content))
        {
            continue;
        }
        let mut task = NewTask::new(content);
        task.priority = priority.map(i64::from);
        if done {
            task.status = Some(TaskStatus::Completed);
        }
        tasks.push(task);
    }
    tasks
}

/// What the spec asks of the session now.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SpecSync {
    /// Checklist lines that are not tasks yet (ticked ones arrive completed).
    pub new: Vec<NewTask>,
    /// Open tasks whose line the user ticked: the user completed them.
    pub ticked: Vec<u64>,
}

impl SpecSync {
    pub(crate) fn plan(state: &SessionState, spec: &str) -> SpecSync {
        let mut sync = SpecSync::default();
        for item in checklist_tasks(spec) {
            let done = item.status == Some(TaskStatus::Completed);
            match state.task_with_content(&item.content) {
                Some(task) if done && task.status.is_open() => sync.ticked.push(task.id),
                Some(_) => {}
                None if state
                    .deleted_contents
                    .contains(&normalize_content(&item.content)) => {}
                None => sync.new.push(item),
            }
        }
        sync
    }
}

impl Orchestrator {
    /// Imports the spec's checklist lines that are not tasks yet and completes, as the user, open
    /// tasks whose line was ticked since; says what it did.
    pub(super) async fn sync_spec(&self, spec: &str, state: &SessionState) -> anyhow::Result<()> {
        let sync = SpecSync::plan(state, spec);
        let fresh = state.tasks.is_empty() && state.deleted_contents.is_empty();
        let mut added = Vec::new();
        for chunk in sync.new.chunks(crate::session::limits::BATCH_MAX) {
            let done = self
                .exec_as(Command::AddTasks(chunk.to_vec()), Author::System)
                .await?;
            added.extend(done.events.iter().filter_map(|e| match e.event.kind {
                EventKind::TaskAdded { task, .. } => Some(task_id(task)),
                _ => None,
            }));
        }
        match added.len() {
            0 => {}
            n if fresh => self.info(format!(
                "imported {n} task{} from the spec's checklists",
                if n == 1 { "" } else { "s" }
            )),
            1 => self.info(format!("imported 1 new task from the spec, {}", added[0])),
            n => self.info(format!(
                "imported {n} new tasks from the spec, {}",
                added.join(", ")
            )),
        }
        for task in sync.ticked {
            let id = task_id(task);
            self.exec_as(
                Command::SetStatus {
                    task: id.clone(),
                    status: TaskStatus::Completed,
                },
                Author::User,
            )
            .await?;
            self.info(format!("{id} completed in the spec"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Author, Command, Ctx, decide};

    #[test]
    fn checklists_become_tasks() {
        let spec = "# Spec\n- [ ] First\n  * [x] Done already\n- [ ]   \n- [ ] first\n+ [X] Third\n- not a task\n- [y] nope\n";
        let tasks = checklist_tasks(spec);
        let got: Vec<(&str, Option<TaskStatus>)> = tasks
            .iter()
            .map(|t| (t.content.as_str(), t.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("First", None),
                ("Done already", Some(TaskStatus::Completed)),
                ("Third", Some(TaskStatus::Completed)),
            ]
        );
    }

    #[test]
    fn priority_tags_become_priorities() {
        let spec = "- [ ] [critical] Now\n- [ ] [P1] Later\n- [ ] Plain\n- [ ] [note] Kept as is\n";
        let tasks = checklist_tasks(spec);
        let got: Vec<(&str, Option<i64>)> = tasks
            .iter()
            .map(|t| (t.content.as_str(), t.priority))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Now", Some(4)),
                ("Later", Some(1)),
                ("Plain", None),
                ("[note] Kept as is", None)
            ]
        );
    }

    fn run(state: &mut SessionState, cmd: Command) {
        let ctx = Ctx {
            now_ms: 1,
            by: Author::User,
        };
        for e in decide(state, &cmd, ctx).unwrap() {
            let seq = state.last_seq + 1;
            state.apply(seq, &e);
        }
    }

    #[test]
    fn new_lines_are_imported_ticked_ones_complete_and_nothing_comes_back() {
        let mut s = SessionState::default();
        let first = "- [ ] One\n- [ ] Two\n- [ ] Three\n";
        let sync = SpecSync::plan(&s, first);
        assert_eq!(sync.new.len(), 3);
        run(&mut s, Command::AddTasks(sync.new));
        run(
            &mut s,
            Command::DeleteTask {
                task: "TAS-3".into(),
            },
        );
        run(
            &mut s,
            Command::SetStatus {
                task: "TAS-2".into(),
                status: TaskStatus::Cancelled,
            },
        );
        // Edited: one ticked, a new line (in another case and spacing than an old one: still
        // the old one), a deleted task's line kept, a cancelled one ticked, one line removed.
        let edited = "- [x] one\n- [x]  TWO.\n- [ ] Three\n- [ ] Four\n";
        let sync = SpecSync::plan(&s, edited);
        assert_eq!(sync.ticked, vec![1]);
        let new: Vec<&str> = sync.new.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(new, ["Four"]);
        // Carried out, the same spec asks for nothing more.
        run(&mut s, Command::AddTasks(sync.new));
        run(
            &mut s,
            Command::SetStatus {
                task: "TAS-1".into(),
                status: TaskStatus::Completed,
            },
        );
        assert_eq!(SpecSync::plan(&s, edited), SpecSync::default());
        // A line that disappeared changes nothing.
        assert_eq!(SpecSync::plan(&s, "- [ ] Four\n"), SpecSync::default());
    }
}
