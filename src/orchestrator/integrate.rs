//! Integration through compare-and-set: a worker's finished task is rebased onto the integration
//! branch's tip, checked there (the `post_iteration` hook), and the branch is moved only if it
//! still points where the rebase started (`git update-ref` with the old value, or a push without
//! force). Whoever loses the race fetches, rebases, checks and tries again. A conflict or a failing
//! check goes back to the same agent, in the same ACP session, `fix_rounds` times at most.

use super::worker::WorkerOptions;
use super::{Orchestrator, Turn};
use crate::git::{GitError, Rebase, Repo};
use crate::hooks::{DEFAULT_FIX_ROUNDS, HookPoint};
use crate::session::Task;

/// Times a worker tries again after another worker moved the branch first.
const RACES: u32 = 20;

/// Why a finished task could not be integrated (the task is then blocked with this as its note).
#[derive(Debug, thiserror::Error)]
pub(super) enum IntegrationError {
    #[error("cannot read {branch}: {source}")]
    ReadTip { branch: String, source: GitError },
    #[error("cannot move {branch}: {source}")]
    MoveBranch { branch: String, source: GitError },
    #[error("{branch} kept moving: {RACES} attempts to integrate lost the race")]
    Races { branch: String },
    #[error("rebasing onto {base} conflicts in {}", files.join(", "))]
    Conflict { base: String, files: Vec<String> },
    #[error("the agent stopped while resolving a rebase conflict")]
    StoppedResolving,
    #[error("the check `{command}` fails after rebasing ({result})")]
    CheckFails { command: String, result: String },
    #[error("the agent stopped while fixing the check")]
    StoppedFixing,
    #[error("the worker's worktree is not a git repository")]
    NoRepository,
    #[error(
        "the worker's claim on the task ended (it lapsed while the worker was frozen or cut off)"
    )]
    ClaimLost,
    #[error(transparent)]
    Git(#[from] GitError),
}

impl IntegrationError {
    /// The remote could not be reached (fetch or push failed): worth trying again shortly.
    pub(super) fn unreachable(&self) -> bool {
        matches!(
            self,
            IntegrationError::ReadTip { .. } | IntegrationError::MoveBranch { .. }
        )
    }
}

impl Orchestrator {
    /// Puts `task`'s work on the integration branch; the commit it points at afterwards, or why
    /// it could not.
    pub(super) async fn integrate(
        &self,
        w: &WorkerOptions,
        task: &Task,
        number: u32,
    ) -> Result<String, IntegrationError> {
        let repo = self.repo.clone().ok_or(IntegrationError::NoRepository)?;
        let mut rounds = self
            .opts
            .hooks
            .iter()
            .find(|h| h.point == HookPoint::PostIteration)
            .map_or(DEFAULT_FIX_ROUNDS, |h| h.fix_rounds);
        let branch = &w.integration.branch;
        for _ in 0..RACES {
            let base =
                w.integration
                    .tip(&repo.top)
                    .await
                    .map_err(|source| IntegrationError::ReadTip {
                        branch: branch.clone(),
                        source,
                    })?;
            self.commit_uncommitted_work(&repo, &base, task, number)
                .await?;
            if !repo.contains(&base).await {
                self.phase(
                    crate::frontend::WorkerPhase::Integrating,
                    format!(
                        "{}: rebasing onto {branch} ({})",
                        task.label(),
                        &base[..12.min(base.len())]
                    ),
                );
                self.rebase(&repo, &base, task, &mut rounds).await?;
                self.check_rebased(&repo, task, number, &mut rounds).await?;
            }
            let new = repo.head().await?;
            let _one_at_a_time = w.lock.lock().await;
            // A worker frozen past its claim's time to live must not push a task another worker
            // may hold by now.
            if !self.holds_live(w, task.id).await {
                return Err(IntegrationError::ClaimLost);
            }
            let moved = w
                .integration
                .advance(&repo.top, &base, &new)
                .await
                .map_err(|source| IntegrationError::MoveBranch {
                    branch: branch.clone(),
                    source,
                })?;
            if moved {
                if let Err(e) = w.integration.follow_in_checkout(&base, &new).await {
                    self.emit(crate::frontend::BuildEvent::Warning {
                        message: format!(
                            "{branch} moved to {} but the main checkout's files could not follow ({e}); run `git reset --keep {branch}` there",
                            &new[..12.min(new.len())]
                        ),
                    });
                }
                return Ok(new);
            }
            self.info(format!(
                "{}: another worker moved {branch} first; trying again",
                task.label()
            ));
        }
        Err(IntegrationError::Races {
            branch: branch.clone(),
        })
    }

    /// The task's work left uncommitted (its iteration's commit saw no change: a killed run had
    /// written the same file) is committed now as the task's, so that it is integrated rather
    /// than carried along uncommitted while the branch is "integrated" without it.
    async fn commit_uncommitted_work(
        &self,
        repo: &Repo,
        base: &str,
        task: &Task,
        number: u32,
    ) -> Result<(), IntegrationError> {
        let label = task.label();
        let ours = repo.commits(&format!("{base}..HEAD"), None).await?;
        if ours.iter().any(|c| c.is_for(&label)) {
            return Ok(());
        }
        let paths = repo.uncommitted().await?;
        if paths.is_empty() {
            return Ok(());
        }
        let worker = self.opts.role.worker().map(|w| w.name.as_str());
        let state = self.session.refresh().await.unwrap_or_default();
        let message = super::commit::message(
            self.opts.session.as_str(),
            number,
            worker,
            Some(task.id),
            &state,
        );
        repo.commit(&paths, &message).await?;
        Ok(())
    }

    /// Whether this worker still holds a live claim on `task`, as the log says now.
    async fn holds_live(&self, w: &WorkerOptions, task: u64) -> bool {
        self.session.refresh().await.is_ok_and(|state| {
            state.claim_of(&w.name).is_some_and(|t| {
                t.id == task
                    && t.claim
                        .as_ref()
                        .is_some_and(|c| c.is_live(crate::clock::now_ms()))
            })
        })
    }

    /// Rebases onto `base`; conflicts go to the agent to resolve.
    async fn rebase(
        &self,
        repo: &Repo,
        base: &str,
        task: &Task,
        rounds: &mut u32,
    ) -> Result<(), IntegrationError> {
        let mut step = repo.rebase(base).await?;
        while let Rebase::Conflict(files) = step {
            let acp = self.acp_session.clone();
            let (Some(acp), true) = (acp, *rounds > 0) else {
                let _ = repo.abort_rebase().await;
                return Err(IntegrationError::Conflict {
                    base: base.to_string(),
                    files,
                });
            };
            *rounds -= 1;
            self.info(format!(
                "{}: the rebase conflicts in {}; asking the agent to resolve it",
                task.label(),
                files.join(", ")
            ));
            let ask = format!(
                "Your work on {id} conflicts with what other workers integrated meanwhile. iteratr is rebasing it onto the integration branch, and the rebase stopped with conflicts in these files:\n{list}\n\
                 Resolve them now: edit each file so that it keeps both your change and theirs, and remove every conflict marker (<<<<<<<, =======, >>>>>>>). \
                 Do not run git commands; iteratr goes on with the rebase when you stop.",
                id = task.label(),
                list = files
                    .iter()
                    .map(|f| format!("- {f}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            if !matches!(self.prompt(&acp, ask).await, Turn::Done(_)) {
                let _ = repo.abort_rebase().await;
                return Err(IntegrationError::StoppedResolving);
            }
            let marked = repo.still_marked(&files);
            if !marked.is_empty() {
                step = Rebase::Conflict(files);
                continue;
            }
            step = repo.continue_rebase(&files).await?;
        }
        Ok(())
    }

    /// The `post_iteration` check on the rebased work; a failure goes to the agent to fix and
    /// its fix is committed.
    async fn check_rebased(
        &self,
        repo: &Repo,
        task: &Task,
        number: u32,
        rounds: &mut u32,
    ) -> Result<(), IntegrationError> {
        loop {
            let Some(run) = self
                .run_hook(HookPoint::PostIteration, self.hook_input(Some(number)))
                .await
            else {
                return Ok(());
            };
            if run.succeeded() {
                return Ok(());
            }
            let acp = self.acp_session.clone();
            let (Some(acp), true) = (acp, *rounds > 0) else {
                return Err(IntegrationError::CheckFails {
                    command: run.command.clone(),
                    result: run.describe(),
                });
            };
            *rounds -= 1;
            let before = repo.snapshot().await?;
            let ask = format!(
                "After rebasing your work on {} onto what other workers integrated, the check `{}` fails ({}). Its output:\n{}\nFix it now; iteratr commits your fix and runs the check again when you stop.",
                task.label(),
                run.command,
                run.describe(),
                super::run_hooks::fenced(&run)
            );
            if !matches!(self.prompt(&acp, ask).await, Turn::Done(_)) {
                return Err(IntegrationError::StoppedFixing);
            }
            let after = repo.snapshot().await?;
            let paths = repo.changed(&before, &after);
            if !paths.is_empty() {
                let worker = self.opts.role.worker().map_or("", |w| w.name.as_str());
                let message = format!(
                    "{}: make `{}` pass after the rebase\n\nIteratr-Session: {}\nIteratr-Worker: {worker}\nIteratr-Task: {}\n",
                    task.label(),
                    run.command,
                    self.opts.session,
                    task.label(),
                );
                repo.commit(&paths, &message).await?;
            }
        }
    }
}
