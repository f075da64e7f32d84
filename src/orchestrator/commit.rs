//! A commit per iteration: iteratr stages what the iteration changed (and nothing that was
//! already dirty or untracked before it, nor its data dir) and commits it with a message for
//! people: a subject that says what the iteration did, its summary and tasks in the body, and
//! trailers that let tools find it. It never pushes.

use super::{Orchestrator, Turn};
use crate::frontend::BuildEvent;
use crate::git::{Repo, Snapshot};
use crate::session::text::{clip, first_line};
use crate::session::{SessionState, TaskStatus, task_id};

/// Git's advice for a subject line.
const SUBJECT_MAX: usize = 72;

/// At most `max` characters, `…` included when cut.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        clip(s, max.saturating_sub(1))
    }
}

/// The commit message of iteration `number`: the subject names the task it worked on
/// (`TAS-3: Print the log`, `… (+2 more)` for several; the completed first), else the first line
/// of its summary; the body has the summary and the tasks; trailers name the session, the
/// iteration and the worker. A worker's commit (`task`: the task it holds) is about that task
/// alone, whatever else changed meanwhile, and names it in an `Iteratr-Task` trailer: how a
/// later holder of the task finds its work on the integration branch.
pub(super) fn message(
    session: &str,
    number: u32,
    worker: Option<&str>,
    task: Option<u64>,
    state: &SessionState,
) -> String {
    let it = state.iterations.get(&number);
    let summary = it.and_then(|it| it.summary.as_deref()).map(str::trim);
    let mut tasks: Vec<_> = match task {
        Some(id) => state.tasks.get(&id).into_iter().collect(),
        None => it
            .map(|it| {
                it.tasks_changed
                    .iter()
                    .filter_map(|id| state.tasks.get(id))
                    .collect()
            })
            .unwrap_or_default(),
    };
    tasks.sort_by_key(|t| (t.status != TaskStatus::Completed, t.id));
    let subject = match tasks.as_slice() {
        [] => summary
            .map(first_line)
            .filter(|l| !l.trim().is_empty())
            .map(|l| fit(l, SUBJECT_MAX))
            .unwrap_or_else(|| format!("iteratr: {session} iteration {number}")),
        [first, rest @ ..] => {
            let more = match rest.len() {
                0 => String::new(),
                n => format!(" (+{n} more)"),
            };
            let label = format!("{}: ", task_id(first.id));
            let room = SUBJECT_MAX.saturating_sub(label.len() + more.chars().count());
            format!("{label}{}{more}", fit(first_line(&first.content), room))
        }
    };
    let mut out = subject;
    if let Some(summary) = summary.filter(|s| !s.is_empty()) {
        out.push_str(&format!("\n\n{summary}"));
    }
    if !tasks.is_empty() {
        let lines: Vec<String> = tasks
            .iter()
            .map(|t| {
                format!(
                    "- {} {}: {}",
                    task_id(t.id),
                    t.status,
                    clip(&t.content, 100)
                )
            })
            .collect();
        out.push_str(&format!("\n\nTasks:\n{}", lines.join("\n")));
    }
    out.push_str(&format!(
        "\n\nIteratr-Session: {session}\nIteratr-Iteration: {number}\n"
    ));
    if let Some(worker) = worker {
        out.push_str(&format!("Iteratr-Worker: {worker}\n"));
    }
    if let Some(task) = task {
        out.push_str(&format!("Iteratr-Task: {}\n", task_id(task)));
    }
    out
}

impl Orchestrator {
    /// Finds the project's repository: to commit in (auto-commit), and to tell whether an
    /// iteration changed files (idle iterations).
    pub(super) async fn discover_repo(&mut self) {
        let data_dir = std::slice::from_ref(&self.opts.data_dir);
        self.repo = Repo::discover(&self.opts.project_dir, data_dir).await;
        if let Some(repo) = self.repo.as_ref().filter(|_| self.opts.auto_commit) {
            self.info(format!(
                "each iteration's changes are committed in {} (--no-auto-commit to turn off)",
                repo.top.display()
            ));
        }
    }

    /// The working tree before an iteration, to tell what it changes.
    pub(super) async fn snapshot(&self) -> Option<Snapshot> {
        let repo = self.repo.as_ref()?;
        match repo.snapshot().await {
            Ok(s) => Some(s),
            Err(e) => {
                self.emit(BuildEvent::Warning {
                    message: format!("cannot read the repository's status, so this iteration is not committed: {e}"),
                });
                None
            }
        }
    }

    /// After a turn that ended normally: whether iteration `number` changed files (`None`: cannot
    /// tell, outside a repository), and the commit of them (auto-commit).
    pub(super) async fn commit_iteration(
        &self,
        number: u32,
        before: Option<Snapshot>,
        turn: &Turn,
    ) -> (Option<bool>, Option<String>) {
        let (Some(repo), Some(before)) = (self.repo.as_ref(), before) else {
            return (None, None);
        };
        if !matches!(turn, Turn::Done(_)) {
            return (None, None);
        }
        let Some(after) = self.snapshot().await else {
            return (None, None);
        };
        let paths = repo.changed(&before, &after);
        if self.opts.sandbox.is_some() {
            for path in paths.iter().filter(|p| crate::sandbox::is_persons_file(p)) {
                self.emit(BuildEvent::Warning {
                    message: format!(
                        "the agent wrote {path}, which iteratr reads as your settings (hooks declared there run outside the sandbox): review it before the next build"
                    ),
                });
            }
        }
        if paths.is_empty() || !self.opts.auto_commit {
            return (Some(!paths.is_empty()), None);
        }
        (Some(true), self.commit(repo, number, &paths).await)
    }

    async fn commit(&self, repo: &Repo, number: u32, paths: &[String]) -> Option<String> {
        if let Some(operation) = repo.operation_in_progress().await {
            self.emit(BuildEvent::Warning {
                message: format!(
                    "the repository is in the middle of {operation}: iteration {number}'s changes are left uncommitted"
                ),
            });
            return None;
        }
        let message = self.commit_message(number).await;
        match repo.commit(paths, &message).await {
            Ok(hash) => {
                self.info(format!(
                    "committed {} file(s) of iteration {number} as {}",
                    paths.len(),
                    &hash[..hash.len().min(12)]
                ));
                Some(hash)
            }
            Err(e) => {
                self.emit(BuildEvent::Warning {
                    message: format!("could not commit iteration {number}'s changes: {e}"),
                });
                None
            }
        }
    }

    async fn commit_message(&self, number: u32) -> String {
        let worker = self.opts.role.worker().map(|w| w.name.as_str());
        let task = worker.and(self.current_task);
        match self.session.refresh().await {
            Ok(state) => {
                // The task it holds now (its agent's task-next may have claimed another one).
                let task = worker
                    .and_then(|w| state.claim_of(w))
                    .map(|t| t.id)
                    .or(task);
                message(self.opts.session.as_str(), number, worker, task, &state)
            }
            Err(_) => message(
                self.opts.session.as_str(),
                number,
                worker,
                task,
                &SessionState::default(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::EventKind;

    fn session(kinds: Vec<EventKind>) -> SessionState {
        crate::session::folded(&kinds)
    }

    fn task(task: u64, content: &str) -> EventKind {
        EventKind::TaskAdded {
            task,
            content: content.into(),
            status: TaskStatus::Remaining,
            priority: 2,
            depends_on: Vec::new(),
        }
    }

    fn status(task: u64, status: TaskStatus) -> EventKind {
        EventKind::TaskStatusSet { task, status }
    }

    fn started() -> EventKind {
        EventKind::IterationStarted {
            iteration: 3,
            planning: false,
            worker: None,
        }
    }

    fn summarized(summary: &str) -> EventKind {
        EventKind::IterationSummarized {
            iteration: 3,
            summary: summary.into(),
        }
    }

    #[test]
    fn the_subject_names_the_task_the_body_keeps_the_summary_and_trailers_find_it() {
        let state = session(vec![
            task(1, "Set up the project"),
            task(3, "Print the log of the night"),
            started(),
            status(3, TaskStatus::Completed),
            summarized("Printed the log.\nTests pass."),
        ]);
        assert_eq!(
            message("lighthouse", 3, None, None, &state),
            "TAS-3: Print the log of the night\n\nPrinted the log.\nTests pass.\n\nTasks:\n- TAS-3 completed: Print the log of the night\n\nIteratr-Session: lighthouse\nIteratr-Iteration: 3\n"
        );
        assert!(
            message("lighthouse", 3, Some("w2"), None, &state)
                .ends_with("Iteratr-Iteration: 3\nIteratr-Worker: w2\n")
        );
    }

    /// A worker's commit is about the task it holds, even when another task's change was counted
    /// in its iteration (a claim that lapsed elsewhere meanwhile), and names it in a trailer: a
    /// later holder found TAS-1 "on the branch" in a commit holding TAS-3's work, and recorded
    /// TAS-1 as integrated without its work (found by the chaos run, seed 35).
    #[test]
    fn a_workers_commit_names_its_own_task_alone_in_the_subject_and_a_trailer() {
        let state = session(vec![
            task(1, "Set up the project"),
            task(3, "Print the log of the night"),
            started(),
            status(1, TaskStatus::Completed),
            status(3, TaskStatus::Completed),
        ]);
        let m = message("lighthouse", 3, Some("w2"), Some(3), &state);
        assert!(m.starts_with("TAS-3: Print the log of the night\n"), "{m}");
        assert!(!m.contains("TAS-1"), "{m}");
        assert!(
            m.ends_with("Iteratr-Worker: w2\nIteratr-Task: TAS-3\n"),
            "{m}"
        );
    }

    #[test]
    fn several_tasks_name_the_completed_first_and_count_the_rest() {
        let state = session(vec![
            task(1, "Set up the project"),
            task(2, "Write the parser"),
            task(
                4,
                "A task whose description is far too long to fit in the subject line of a commit",
            ),
            started(),
            status(1, TaskStatus::InProgress),
            status(4, TaskStatus::Completed),
            status(2, TaskStatus::Blocked),
        ]);
        let m = message("demo", 3, None, None, &state);
        let subject = m.lines().next().unwrap();
        assert!(
            subject.starts_with("TAS-4: A task whose description"),
            "{subject}"
        );
        assert!(subject.ends_with("… (+2 more)"), "{subject}");
        assert!(subject.chars().count() <= SUBJECT_MAX, "{subject}");
        assert!(m.contains("- TAS-1 in_progress: Set up the project"), "{m}");
    }

    #[test]
    fn without_tasks_the_summary_says_what_it_did_and_without_one_the_iteration_does() {
        let state = session(vec![started(), summarized("Refactored the CLI\nand more")]);
        assert!(message("demo", 3, None, None, &state).starts_with(
            "Refactored the CLI\n\nRefactored the CLI\nand more\n\nIteratr-Session: demo\n"
        ));
        let state = session(vec![started()]);
        assert_eq!(
            message("demo", 3, None, None, &state),
            "iteratr: demo iteration 3\n\nIteratr-Session: demo\nIteratr-Iteration: 3\n"
        );
    }
}
