//! What workers that are gone left in a clone, swept when a team ends: the worktrees of
//! `iteratr worker` processes of this machine that were killed (their names hold their pids), the
//! branches work was set aside on (`<worker>-TAS-n`) once TAS-n is integrated (by this worker or
//! another, done again after its worker was lost), and worker branches whose every commit not on
//! the integration branch is the work of a task integrated since. Uncommitted changes in such a worktree go to git's stash first; a branch holding
//! the work of a task not integrated is kept.

use std::path::Path;

use crate::git::{Integration, Repo};
use crate::session::{SessionState, task_id};

/// Sweeps `session_dir` (the session's worktrees) and the session's branches of `main`, against
/// the integration branch's `tip` and the session's `state`; says what it removed.
pub(super) async fn sweep(
    main: &Repo,
    session_dir: &Path,
    session: &str,
    tip: &str,
    state: &SessionState,
) -> Vec<String> {
    let mut said = Vec::new();
    if let Ok(true) = main.drop_stale_shared_locks().await {
        said.push("removed the packed-refs.lock a killed git left".to_string());
    }
    let dirs = std::fs::read_dir(session_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in dirs {
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !crate::process::worker_gone(&name) || !dir.join(".git").exists() {
            continue;
        }
        // Its worker is gone, so nothing else uses it: what a killed git left there (a lock, a
        // rebase halfway) is undone first, its uncommitted files go to the stash.
        let left = Repo::at(dir.clone());
        let _ = left.recover_after_kill().await;
        let _ = left
            .stash_leftovers(&format!(
                "iteratr {session}: uncommitted work of worker {name}, gone"
            ))
            .await;
        let branch = super::worker_branch(session, &name);
        match main.remove_worktree_if_clean(&dir, &branch, tip).await {
            Ok(true) => said.push(format!("removed the worktree of worker {name}, gone")),
            Ok(false) | Err(_) => match main.set_worktree_aside(&dir).await {
                Ok(aside) => said.push(format!(
                    "moved the worktree of worker {name}, gone, to {} (it held changes git could not stash)",
                    aside.display()
                )),
                Err(e) => said.push(format!(
                    "could not remove the worktree of worker {name}, gone: {e}"
                )),
            },
        }
    }
    let prefix = format!("refs/heads/{}/", super::worker_branch(session, ""))
        .trim_end_matches('/')
        .to_string();
    let integrated = |task: &str| {
        state
            .tasks
            .values()
            .any(|t| t.integrated.is_some() && task_id(t.id) == task)
    };
    for branch in main.branches(&prefix).await.unwrap_or_default() {
        // Work set aside for a task (`<worker>-TAS-n`) is superseded once the task is integrated;
        // a worker's own branch once every commit it has beyond the integration branch is.
        let parked_for = branch.rsplit_once("-TAS-").map(|(_, n)| format!("TAS-{n}"));
        let superseded = match parked_for {
            Some(task) => integrated(&task),
            None => match main.commits(&format!("{tip}..{branch}"), None).await {
                Ok(own) => own
                    .iter()
                    .all(|c| c.task.as_deref().is_some_and(integrated)),
                Err(_) => false,
            },
        };
        if superseded && main.delete_branch(&branch).await.is_ok() {
            said.push(format!(
                "deleted branch {branch}: its work is on the integration branch"
            ));
        }
    }
    said
}

/// A build that finds its session complete (an earlier run of it was killed after the other
/// workers finished): the worktrees of its workers (`names`) that run left, their uncommitted
/// changes put in git's stash first, then what [`sweep`] finds.
pub(super) async fn after_earlier_runs(
    main: &Repo,
    session_dir: &Path,
    names: &[String],
    integration: &Integration,
    session: &str,
    state: &SessionState,
) -> Vec<String> {
    let Ok(tip) = integration.tip(&main.top).await else {
        return Vec::new();
    };
    let mut said = Vec::new();
    for name in names {
        let dir = session_dir.join(name);
        if !dir.join(".git").exists() {
            continue;
        }
        let _ = Repo::at(dir.clone())
            .stash_leftovers(&format!(
                "iteratr {session}: uncommitted work of worker {name} from a run that was stopped"
            ))
            .await;
        let branch = super::worker_branch(session, name);
        if let Ok(true) = main.remove_worktree_if_clean(&dir, &branch, &tip).await {
            said.push(format!(
                "removed the worktree worker {name} left in an earlier run"
            ));
        }
    }
    said.extend(sweep(main, session_dir, session, &tip, state).await);
    said
}
