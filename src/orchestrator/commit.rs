//! A commit per iteration: iteratr stages what the iteration changed (and nothing that was
//! already dirty or untracked before it, nor its data dir) and commits it with a message made
//! of the iteration's number, the tasks it changed and its summary. It never pushes.

use super::{Orchestrator, Turn};
use crate::git::{Repo, Snapshot};
use crate::protocol::BuildEvent;
use crate::session::display::clip;
use crate::session::task_id;

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
        let mut message = format!("iteratr: {} iteration {number}", self.opts.session);
        let Ok(state) = self.session.refresh().await else {
            return message;
        };
        let Some(it) = state.iterations.get(&number) else {
            return message;
        };
        if let Some(summary) = &it.summary {
            message.push_str(&format!("\n\n{}", summary.trim()));
        }
        let tasks: Vec<String> = it
            .tasks_changed
            .iter()
            .filter_map(|id| state.tasks.get(id))
            .map(|t| {
                format!(
                    "- {} {}: {}",
                    task_id(t.id),
                    t.status,
                    clip(&t.content, 100)
                )
            })
            .collect();
        if !tasks.is_empty() {
            message.push_str(&format!("\n\nTasks:\n{}", tasks.join("\n")));
        }
        message.push('\n');
        message
    }
}
