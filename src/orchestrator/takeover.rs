//! Taking up a task an earlier holder left. Workers are killed, frozen and cut off; a worker
//! that claims a task first looks at what such a holder may have left:
//! - the task's commit already on the integration branch (its holder pushed, then stopped before
//!   recording the integration): the integration is recorded, and the task is not done twice;
//! - uncommitted changes or commits of another task in the worktree (a killed run of a worker of
//!   the same name left them): put aside, in git's stash or on a branch of their own, so they
//!   never reach the integration branch under this task;
//! - a task completed by a worker that stopped before integrating it: done again, unless this
//!   worktree holds its commits.

use super::Orchestrator;
use super::worker::WorkerOptions;
use crate::git::{GitError, Repo};
use crate::session::{Command, Task, TaskStatus};

/// What a worker found before working on its new task.
pub(super) enum Found {
    /// The task's commit is on the integration branch already.
    Integrated(String),
    /// Not on the branch yet.
    Open {
        /// The task was completed by a worker whose work is not here: do it again.
        redo: bool,
        /// Commits of another task were set aside on this branch.
        parked: Option<String>,
        /// Uncommitted changes were put in git's stash.
        stashed: bool,
    },
}

/// Looks at the integration branch and the worktree for `task`, and sets aside what belongs to
/// other work.
pub(super) async fn sort_out(
    repo: &Repo,
    w: &WorkerOptions,
    session: &str,
    task: &Task,
) -> Result<Found, GitError> {
    let label = task.label();
    let tip = w.integration.tip(&repo.top).await?;
    let integrated = repo.commits(&tip, Some(session)).await?;
    if let Some(c) = integrated.iter().find(|c| c.is_for(&label)) {
        return Ok(Found::Integrated(c.id.clone()));
    }
    let stashed = repo
        .stash_leftovers(&format!(
            "iteratr {session}: uncommitted work left in worker {}'s worktree before it took {label}",
            w.name
        ))
        .await?;
    let own = repo.commits(&format!("{tip}..HEAD"), None).await?;
    let mine = !own.is_empty() && own.iter().all(|c| c.is_for(&label));
    let mut parked = None;
    if !own.is_empty() && !mine {
        let of = own
            .iter()
            .rev()
            .find_map(|c| c.task.clone())
            .unwrap_or_else(|| "work".into());
        let keep = format!("{}-{of}", super::worker_branch(session, &w.name));
        repo.park(&keep, &tip).await?;
        parked = Some(keep);
    }
    Ok(Found::Open {
        redo: task.status == TaskStatus::Completed && !mine,
        parked,
        stashed,
    })
}

impl Orchestrator {
    /// Records or says what `sort_out` found; true when the task is integrated already (and
    /// the claim let go).
    pub(super) async fn act_on(
        &self,
        w: &WorkerOptions,
        task: &Task,
        found: Found,
    ) -> anyhow::Result<bool> {
        let label = task.label();
        match found {
            Found::Integrated(commit) => {
                if task.status != TaskStatus::Completed {
                    self.exec(Command::SetStatus {
                        task: label.clone(),
                        status: TaskStatus::Completed,
                    })
                    .await?;
                }
                let short = &commit[..12.min(commit.len())];
                self.exec(Command::RecordIntegration {
                    task: task.id,
                    commit: commit.clone(),
                    worker: Some(w.name.clone()),
                })
                .await?;
                self.exec(Command::ReleaseClaim {
                    task: task.id,
                    worker: w.name.clone(),
                    reason: format!("already integrated as {short}"),
                })
                .await?;
                self.info(format!(
                    "{label} is on {} already ({short}): an earlier holder integrated it and stopped before recording it; recorded, not done again",
                    w.integration.branch
                ));
                Ok(true)
            }
            Found::Open {
                redo,
                parked,
                stashed,
            } => {
                if stashed {
                    self.info(format!(
                        "put the uncommitted changes an earlier run of {} left into git's stash (git stash list)",
                        w.name
                    ));
                }
                if let Some(branch) = parked {
                    self.info(format!(
                        "set aside the commits an earlier run of {} left, on branch {branch}",
                        w.name
                    ));
                }
                if redo {
                    self.exec(Command::SetStatus {
                        task: label.clone(),
                        status: TaskStatus::Remaining,
                    })
                    .await?;
                    self.info(format!(
                        "{label} was completed by a worker that stopped before integrating it, and its work is not here: doing it again"
                    ));
                }
                Ok(false)
            }
        }
    }
}
