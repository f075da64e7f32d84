//! One worker of `--workers` (or of `iteratr worker`): the same loop as a single build, in its own
//! git worktree with its own agent. Before each iteration it claims a task (a compare-and-set
//! append in the session log), renews the claim while it works, and once the agent completes the
//! task, integrates the work (see `integrate.rs`) and lets the claim go.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use super::integrate::IntegrationError;
use super::{Orchestrator, Outcome, RunSummary};
use crate::frontend::BuildEvent;
use crate::git::Integration;
use crate::session::text::clip;
use crate::session::{Command, NoteType, SessionState, TaskStatus, task_id};
use crate::session_handle::SessionHandle;

/// What claiming gave a worker.
pub(super) enum Claimed {
    /// A task to work on in the next iteration.
    Task,
    /// Nothing yet: look again.
    Wait,
    Stop(Outcome, String),
}

/// Iterations a worker spends on one task before it lets another worker try.
const TRIES_PER_TASK: u32 = 3;

/// How long a worker keeps trying to integrate while the remote cannot be reached, and how
/// long it waits between tries.
const UNREACHABLE_PATIENCE: Duration = Duration::from_secs(120);
const UNREACHABLE_PAUSE: Duration = Duration::from_secs(2);

/// What makes a build loop a worker.
#[derive(Debug, Clone)]
pub(crate) struct WorkerOptions {
    pub name: String,
    pub claim_ttl: Duration,
    pub integration: Integration,
    /// Held while moving the integration branch and following it in the main checkout, so the
    /// workers of one process do it one at a time (git's compare-and-set covers the others).
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// What the workers of this process used together, for `--max-tokens` and `--max-cost`.
    pub usage: Arc<std::sync::Mutex<crate::session::Usage>>,
}

/// The loop's place in a build: alone, the planner before the workers, or one of them.
#[derive(Debug, Clone, Default)]
pub(crate) enum Role {
    #[default]
    Single,
    /// Imports the spec and runs the planning iteration, then stops.
    Planner,
    Worker(WorkerOptions),
}

impl Role {
    pub(crate) fn worker(&self) -> Option<&WorkerOptions> {
        match self {
            Role::Worker(w) => Some(w),
            _ => None,
        }
    }
}

/// Renews `worker`'s claims every third of their time to live until dropped.
struct Renewer(tokio::task::JoinHandle<()>);

impl Renewer {
    fn start(session: Arc<SessionHandle>, worker: String, ttl: Duration) -> Self {
        Renewer(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let renew = Command::RenewClaims {
                    worker: worker.clone(),
                };
                if let Err(e) = session
                    .execute(&renew, crate::session::Author::System)
                    .await
                {
                    tracing::warn!("worker {worker} could not renew its claim: {e}");
                }
            }
        }))
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Remaining tasks that can never be claimed: nobody holds a task and none is claimable.
fn stuck(state: &SessionState, now_ms: i64) -> Option<String> {
    if state.claimed_tasks().next().is_some() || state.claimable_task(now_ms).is_some() {
        return None;
    }
    let open = state.unfinished_tasks();
    (!open.is_empty()).then(|| {
        let ids: Vec<String> = open.iter().take(10).map(|t| t.label()).collect();
        format!(
            "no task can be claimed: {} wait on tasks that are blocked or not integrated; unblock them (task-status) or cancel them, then run again",
            ids.join(", ")
        )
    })
}

impl Orchestrator {
    pub(super) fn worker_name(&self) -> Option<String> {
        self.opts.role.worker().map(|w| w.name.clone())
    }

    /// What the prompt of a worker's iteration adds: who it is and which task is its own.
    pub(super) fn worker_brief(&self, state: &SessionState) -> Option<String> {
        let w = self.opts.role.worker()?;
        let task = state.claim_of(&w.name)?;
        Some(format!(
            "\n\n## You are worker {name}\nSeveral agents build this spec at once, each in its own git worktree. iteratr gave you task {id}: {content}\n\
             Work only on {id}: mark it in_progress, do it, test it, then mark it completed (or blocked, with a note saying why) and call iteration-summary. \
             Do not work on other tasks and do not call session-complete; do not commit, rebase or push: iteratr commits your work, integrates it and gives you the next task.\n",
            name = w.name,
            id = task.label(),
            content = clip(&task.content, 2000),
        ))
    }

    pub(super) async fn worker_loop(&mut self) -> anyhow::Result<RunSummary> {
        let Some(w) = self.opts.role.worker().cloned() else {
            bail!("not a worker");
        };
        self.start_server().await?;
        self.discover_repo().await;
        if self.repo.is_none() {
            bail!(
                "worker {}: {} is not a git worktree",
                w.name,
                self.opts.project_dir.display()
            );
        }
        if let Some(repo) = self.repo.clone() {
            match repo.recover_after_kill().await {
                Ok(done) => {
                    for what in done {
                        self.info(format!("worker {}: {what}", w.name));
                    }
                }
                Err(e) => bail!(
                    "worker {}: its worktree {} is in a state git cannot undo ({e}); remove it (git worktree remove --force) and run again",
                    w.name,
                    self.opts.project_dir.display()
                ),
            }
        }
        self.start_agent().await?;
        let _renewer = Renewer::start(Arc::clone(&self.session), w.name.clone(), w.claim_ttl);
        let result = self.drive().await;
        // A task this worker still holds goes back to the others.
        if let Ok(state) = self.session.refresh().await
            && let Some(t) = state.claim_of(&w.name)
        {
            let reason = match &result {
                Ok(s) if s.outcome == Outcome::Interrupted => {
                    "the worker was interrupted".to_string()
                }
                Ok(s) => format!("the worker stopped: {}", clip(&s.message, 200)),
                Err(e) => format!("the worker failed: {}", clip(&format!("{e:#}"), 200)),
            };
            let release = Command::ReleaseClaim {
                task: t.id,
                worker: w.name.clone(),
                reason,
            };
            if let Err(e) = self.exec(release).await {
                self.emit(BuildEvent::Warning {
                    message: format!("{e:#}"),
                });
            }
        }
        result
    }

    /// Claims a task for the next iteration (the one it holds, or the next claimable one).
    pub(super) async fn claim(
        &mut self,
        waiting: &mut bool,
        tries: &mut u32,
    ) -> anyhow::Result<Claimed> {
        let Some(w) = self.opts.role.worker().cloned() else {
            bail!("only a worker claims tasks");
        };
        let ttl_ms = u64::try_from(w.claim_ttl.as_millis()).unwrap_or(u64::MAX);
        let claimed = self
            .exec_as(
                Command::ClaimTask {
                    worker: w.name.clone(),
                    ttl_ms,
                },
                crate::session::Author::System,
            )
            .await?;
        let Some(task) = claimed.state.claim_of(&w.name).map(|t| t.id) else {
            let now = crate::clock::now_ms();
            if let Some(why) = stuck(&claimed.state, now) {
                return Ok(Claimed::Stop(Outcome::Failed(why.clone()), why));
            }
            let why = "waiting for a task: the others are held by other workers or wait on work not integrated yet";
            if !self.wait_a_moment(waiting, why).await {
                return Ok(Claimed::Stop(
                    Outcome::Interrupted,
                    super::next::INTERRUPTED.into(),
                ));
            }
            return Ok(Claimed::Wait);
        };
        *waiting = false;
        if self.current_task != Some(task) {
            self.current_task = Some(task);
            *tries = 0;
            self.info(format!("claimed {}", task_id(task)));
            if self.take_up(&w, task).await? {
                return Ok(Claimed::Wait);
            }
            self.start_from_tip(&w).await;
        }
        Ok(Claimed::Task)
    }

    /// Says `why` the worker waits (once, until it stops waiting), then waits a moment (200 ms)
    /// before looking again; false when Ctrl+C came first.
    pub(super) async fn wait_a_moment(&self, waiting: &mut bool, why: &str) -> bool {
        if !*waiting {
            *waiting = true;
            self.phase(crate::frontend::WorkerPhase::Waiting, why);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => true,
            _ = self.interrupt.cancelled() => false,
        }
    }

    /// After an iteration that ended normally but left the task open: after a few tries the
    /// worker lets another one have it.
    pub(super) async fn after_task_turn(&mut self, tries: u32) -> anyhow::Result<()> {
        let (Some(w), Some(task)) = (self.opts.role.worker().cloned(), self.current_task) else {
            return Ok(());
        };
        let state = self.session.refresh().await?;
        let still_mine = state.claim_of(&w.name).is_some_and(|t| t.id == task);
        if still_mine && tries >= TRIES_PER_TASK {
            self.exec(Command::ReleaseClaim {
                task,
                worker: w.name.clone(),
                reason: format!("not done after {tries} iterations; another worker may try"),
            })
            .await?;
        }
        if !still_mine || tries >= TRIES_PER_TASK {
            self.current_task = None;
        }
        Ok(())
    }

    /// Sets aside the work of a task that will not be integrated: its commits go to a branch of
    /// their own (`iteratr/<session>/<worker>-TAS-n`), the worker's branch goes back to the
    /// integration branch's tip. Says where the work is.
    async fn park(&self, w: &WorkerOptions, task: u64) -> String {
        let Some(repo) = self.repo.as_ref() else {
            return String::new();
        };
        let keep = format!(
            "{}-{}",
            super::worker_branch(&self.opts.session, &w.name),
            task_id(task)
        );
        // Kept on the worker's branch, this work would go out with the next task it claims (the
        // same one again, or another's that its rebase carries along).
        let parked = self
            .patiently(
                &format!("setting aside the work on {}", task_id(task)),
                crate::git::GitError::is_fetch,
                || async {
                    let tip = w.integration.tip(&repo.top).await?;
                    repo.park(&keep, &tip).await
                },
            )
            .await;
        match parked {
            Ok(()) => format!("; its work is kept on branch {keep}"),
            Err(e) => format!("; its work stays on the worker's branch ({e})"),
        }
    }

    /// Before a newly claimed task is worked on, what an earlier holder left is sorted out (see
    /// `takeover.rs`); true when the task turned out to be integrated already, or was let go
    /// because nobody could tell (the remote out of reach for minutes).
    async fn take_up(&mut self, w: &WorkerOptions, task: u64) -> anyhow::Result<bool> {
        let Some(repo) = self.repo.clone() else {
            return Ok(false);
        };
        let state = self.session.refresh().await?;
        let Some(t) = state.tasks.get(&task).cloned() else {
            return Ok(false);
        };
        let (repo, session, t) = (&repo, self.opts.session.as_str(), &t);
        let looked = self
            .patiently(
                &format!("{}: looking at what earlier holders left", t.label()),
                crate::git::GitError::is_fetch,
                || super::takeover::sort_out(repo, w, session, t),
            )
            .await;
        match looked {
            Ok(found) => self.act_on(w, t, found).await,
            Err(e) => {
                // Going on blind once "integrated" a task another worker had completed from a
                // worktree without its work: the task goes back instead, for a later look.
                let why = format!(
                    "could not look at what earlier holders of {} left ({e})",
                    t.label()
                );
                self.emit(BuildEvent::Warning {
                    message: format!("worker {}: {why}; letting the task go", w.name),
                });
                self.exec(Command::ReleaseClaim {
                    task,
                    worker: w.name.clone(),
                    reason: why,
                })
                .await?;
                self.current_task = None;
                tokio::select! {
                    _ = tokio::time::sleep(UNREACHABLE_PAUSE) => {}
                    _ = self.interrupt.cancelled() => {}
                }
                Ok(true)
            }
        }
    }

    /// Integrates, trying again for a while when the remote cannot be reached (a network cut, a
    /// remote being restarted) rather than blocking the task at once.
    async fn integrate_patiently(
        &self,
        w: &WorkerOptions,
        task: &crate::session::Task,
        number: u32,
    ) -> Result<String, IntegrationError> {
        self.patiently(&task.label(), IntegrationError::unreachable, || {
            self.integrate(w, task, number)
        })
        .await
    }

    /// Runs `op` again, every couple of seconds and for up to two minutes, while it fails in a
    /// way worth retrying (`again`: the remote could not be reached), saying so each time; its
    /// last result otherwise, or at Ctrl+C.
    async fn patiently<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
        &self,
        what: &str,
        again: impl Fn(&E) -> bool,
        mut op: impl FnMut() -> F,
    ) -> Result<T, E> {
        let since = std::time::Instant::now();
        loop {
            match op().await {
                Err(why) if again(&why) && since.elapsed() < UNREACHABLE_PATIENCE => {
                    self.info(format!(
                        "{what}: {why}; trying again in {} s",
                        UNREACHABLE_PAUSE.as_secs()
                    ));
                    tokio::select! {
                        _ = tokio::time::sleep(UNREACHABLE_PAUSE) => {}
                        _ = self.interrupt.cancelled() => return Err(why),
                    }
                }
                other => return other,
            }
        }
    }

    /// A new task starts from the integration branch as it is now.
    async fn start_from_tip(&self, w: &WorkerOptions) {
        let Some(repo) = self.repo.as_ref() else {
            return;
        };
        let moved = async {
            let tip = w.integration.tip(&repo.top).await?;
            repo.stash_leftovers(&format!(
                "iteratr {}: uncommitted changes left in worker {}'s worktree",
                self.opts.session, w.name
            ))
            .await?;
            if repo.contains(&tip).await {
                return Ok(());
            }
            match repo.rebase(&tip).await? {
                crate::git::Rebase::Done => Ok(()),
                crate::git::Rebase::Conflict(files) => {
                    repo.abort_rebase().await?;
                    Err(crate::git::GitError::Failed {
                        args: "rebase".into(),
                        message: format!("conflicts in {}", files.join(", ")),
                    })
                }
            }
        };
        if let Err(e) = moved.await {
            self.emit(BuildEvent::Warning {
                message: format!(
                    "worker {}: could not bring its worktree up to {}: {e}; it goes on from where it is",
                    w.name, w.integration.branch
                ),
            });
        }
    }

    /// After a worker's iteration: integrate a completed task and let the claim go, or let go of
    /// a blocked or cancelled one. Returns the integrated commit.
    pub(super) async fn settle(&mut self, number: u32) -> anyhow::Result<Option<String>> {
        let Some(w) = self.opts.role.worker().cloned() else {
            return Ok(None);
        };
        let state = self.session.refresh().await?;
        let Some(task) = state.claim_of(&w.name).cloned() else {
            if let Some(lost) = self.current_task.take() {
                let kept = self.park(&w, lost).await;
                self.emit(BuildEvent::Warning {
                    message: format!(
                        "worker {}: its claim on {} ended while it worked (it lapsed and another worker took it); this work is not integrated{kept}",
                        w.name,
                        task_id(lost)
                    ),
                });
            }
            return Ok(None);
        };
        let task = if self.current_task == Some(task.id) {
            task
        } else {
            // The agent's task-next claimed it during the iteration (the claim on the task this
            // worker had lapsed): taken up now, as a claim between iterations is. Without this,
            // a task another worker completed was "integrated" from a worktree without its work.
            self.current_task = Some(task.id);
            if self.take_up(&w, task.id).await? {
                return Ok(None);
            }
            let state = self.session.refresh().await?;
            match state.claim_of(&w.name) {
                Some(t) if t.id == task.id => t.clone(),
                _ => return Ok(None),
            }
        };
        let release = |reason: String| Command::ReleaseClaim {
            task: task.id,
            worker: w.name.clone(),
            reason,
        };
        match task.status {
            TaskStatus::Completed => match self.integrate_patiently(&w, &task, number).await {
                Ok(commit) => {
                    let recorded = self
                        .exec(Command::RecordIntegration {
                            task: task.id,
                            commit: commit.clone(),
                            worker: Some(w.name.clone()),
                        })
                        .await;
                    if let Err(e) = recorded {
                        // The claim lapsed between the push and now: the task's next holder
                        // finds the commit on the branch and records it.
                        self.current_task = None;
                        self.emit(BuildEvent::Warning {
                            message: format!(
                                "worker {}: {} reached {} but could not be recorded ({e:#}); its next holder records it",
                                w.name,
                                task.label(),
                                w.integration.branch
                            ),
                        });
                        return Ok(None);
                    }
                    self.exec(release(format!(
                        "integrated as {}",
                        &commit[..12.min(commit.len())]
                    )))
                    .await?;
                    self.current_task = None;
                    Ok(Some(commit))
                }
                Err(IntegrationError::ClaimLost) => {
                    let kept = self.park(&w, task.id).await;
                    self.current_task = None;
                    self.emit(BuildEvent::Warning {
                        message: format!(
                            "worker {}: its claim on {} ended before it could integrate it; this work is not integrated{kept}",
                            w.name,
                            task.label()
                        ),
                    });
                    Ok(None)
                }
                Err(why) => {
                    let kept = self.park(&w, task.id).await;
                    self.emit(BuildEvent::Warning {
                        message: format!(
                            "worker {}: {} is blocked: {why}{kept}",
                            w.name,
                            task.label()
                        ),
                    });
                    self.exec(Command::SetStatus {
                        task: task.label(),
                        status: TaskStatus::Blocked,
                    })
                    .await?;
                    self.exec(Command::AddNote {
                        note_type: NoteType::Stuck,
                        content: format!(
                            "{} could not be integrated into {}: {why}{kept}.",
                            task.label(),
                            w.integration.branch,
                        ),
                    })
                    .await?;
                    self.exec(release(format!("blocked: {}", clip(&why.to_string(), 200))))
                        .await?;
                    self.current_task = None;
                    Ok(None)
                }
            },
            TaskStatus::Blocked | TaskStatus::Cancelled => {
                self.exec(release(format!("{}", task.status))).await?;
                self.current_task = None;
                Ok(None)
            }
            TaskStatus::Remaining | TaskStatus::InProgress => Ok(None),
        }
    }
}
