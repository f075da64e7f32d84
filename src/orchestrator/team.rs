//! Several workers on one session (`build --workers N`, `iteratr worker`): the planning iteration
//! first (a build only), then one loop per worker, each with its own agent in its own git
//! worktree on its own branch (`iteratr/<session>/<worker>`), all claiming tasks from the same log.
//! Their events reach the front end tagged with the worker's name. At the end the worktrees that
//! hold nothing unsaved are removed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::run_hooks::{HookSite, session_end_input};
use super::worker::{Role, WorkerOptions};
use super::{BuildOptions, LeaseGuard, Orchestrator, Outcome, RunSummary};
use crate::frontend::BuildEvent;
use crate::git::{Integration, Repo};
use crate::session_handle::SessionHandle;
use crate::store::EventLog;
use crate::template::PromptTemplate;

/// A team of workers.
#[derive(Debug, Clone)]
pub(crate) struct Team {
    /// Names of the workers this process runs (`w1`, `w2`, ... for a build).
    pub names: Vec<String>,
    pub integration: Integration,
    pub claim_ttl: std::time::Duration,
    /// Run the planning iteration first (a build does; `iteratr worker` joins after it).
    pub plan: bool,
}

/// The branch a worker works on.
pub(crate) fn worker_branch(session: &str, worker: &str) -> String {
    format!("iteratr/{session}/{worker}")
}

/// Runs the team to its end; returns how it ended (its workers' runs combined).
pub(crate) async fn run_team(
    base: BuildOptions,
    team: Team,
    log: Arc<dyn EventLog>,
    template: PromptTemplate,
    events: mpsc::UnboundedSender<BuildEvent>,
    interrupt: CancellationToken,
    lease: Option<LeaseGuard>,
) -> RunSummary {
    let mut summary = run(&base, &team, &log, &template, &events, &interrupt)
        .await
        .unwrap_or_else(|e| RunSummary::failed(format!("{e:#}")));
    // The build's `session_end` hook, once for the whole team (a worker that joined has none).
    if team.plan
        && base
            .hooks
            .iter()
            .any(|h| h.point == crate::hooks::HookPoint::SessionEnd)
        && let Ok(session) = SessionHandle::open(Arc::clone(&log), &base.session).await
    {
        let site = HookSite {
            hooks: &base.hooks,
            project_dir: &base.project_dir,
            session: &session,
            events: &events,
            interrupt: &interrupt,
        };
        site.run(
            crate::hooks::HookPoint::SessionEnd,
            session_end_input(&base, &summary),
        )
        .await;
    }
    if let Some(lease) = lease {
        summary.release(lease).await;
    }
    summary
}

async fn run(
    base: &BuildOptions,
    team: &Team,
    log: &Arc<dyn EventLog>,
    template: &PromptTemplate,
    events: &mpsc::UnboundedSender<BuildEvent>,
    interrupt: &CancellationToken,
) -> anyhow::Result<RunSummary> {
    let info = |message: String| {
        let _ = events.send(BuildEvent::Info { message });
    };
    let main = Repo::discover(&base.project_dir, &[])
        .await
        .ok_or_else(|| anyhow::anyhow!("--workers needs the project in a git repository: each worker works in its own git worktree; run `git init` and commit first"))?;
    if team.plan {
        let planner = BuildOptions {
            role: Role::Planner,
            ..base.clone()
        };
        let orchestrator = Orchestrator::new(
            planner,
            Arc::clone(log),
            template.clone(),
            events.clone(),
            interrupt.clone(),
        )
        .await?;
        let planned = orchestrator.run().await;
        if planned.outcome == Outcome::Completed {
            // An earlier run of this build was killed after the others finished the session:
            // what its workers left goes now.
            let root = worktrees_root(&base.data_dir, &base.project_dir);
            let session = SessionHandle::open(Arc::clone(log), &base.session).await?;
            let state = session.refresh().await?;
            for line in super::sweep::after_earlier_runs(
                &main,
                &root.join(base.session.as_str()),
                &team.names,
                &team.integration,
                &base.session,
                &state,
            )
            .await
            {
                info(line);
            }
        }
        match planned.outcome {
            Outcome::IterationLimit => {}
            other => {
                let message = match &other {
                    Outcome::Completed => "the session is already complete".to_string(),
                    Outcome::Failed(m) => m.clone(),
                    _ => "interrupted during planning; run the same command again to resume"
                        .to_string(),
                };
                return Ok(RunSummary {
                    outcome: other,
                    message,
                    iterations: 0,
                });
            }
        }
    }
    if team.plan {
        give_back_unclaimed(log, base, events).await?;
    }
    // A remote cut off for a moment is waited for (a minute at most), not a reason to stop.
    let since = std::time::Instant::now();
    let start = loop {
        match team.integration.tip(&main.top).await {
            Ok(tip) => break tip,
            Err(e) if since.elapsed() < std::time::Duration::from_secs(60) => {
                tracing::warn!("cannot read the integration branch yet ({e}); trying again");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                    _ = interrupt.cancelled() => return Err(anyhow::anyhow!("interrupted while waiting for the integration branch {}: {e}", team.integration.branch)),
                }
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "cannot read the integration branch {}: {e}",
                    team.integration.branch
                ));
            }
        }
    };
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let usage = Arc::default();
    let mut places: Vec<(String, PathBuf, String)> = Vec::new();
    let mut running = Vec::new();
    // The worktrees sit in the project's tree, under the data dir.
    let root = worktrees_root(&base.data_dir, &base.project_dir);
    let session_dir = crate::git::prepare_worktrees_root(&root, &base.session)?;
    for name in &team.names {
        let path = session_dir.join(name);
        let branch = worker_branch(&base.session, name);
        main.add_worktree(&path, &branch, &start)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot create the worktree of worker {name} at {}: {e}",
                    path.display()
                )
            })?;
        info(format!(
            "worker {name}: worktree {} on branch {branch}",
            path.display()
        ));
        places.push((name.clone(), path.clone(), branch));
        let opts = BuildOptions {
            project_dir: path,
            role: Role::Worker(WorkerOptions {
                name: name.clone(),
                claim_ttl: team.claim_ttl,
                integration: team.integration.clone(),
                lock: Arc::clone(&lock),
                usage: Arc::clone(&usage),
            }),
            auto_commit: true,
            max_idle_iterations: 0,
            reset: false,
            ..base.clone()
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<BuildEvent>();
        let forward = events.clone();
        let worker = name.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = forward.send(BuildEvent::Worker {
                    worker: worker.clone(),
                    event: Box::new(event),
                });
            }
        });
        let orchestrator = Orchestrator::new(
            opts,
            Arc::clone(log),
            template.clone(),
            tx.clone(),
            interrupt.clone(),
        )
        .await?;
        running.push(tokio::spawn(async move {
            let summary = orchestrator.run().await;
            // The build's own end is said once, by the team; a worker's end is news about it.
            let _ = tx.send(BuildEvent::Phase {
                phase: crate::frontend::WorkerPhase::Stopped,
                message: format!("stopped: {}", summary.message),
            });
            summary
        }));
    }
    let mut outcomes = Vec::new();
    let mut iterations = 0;
    for handle in running {
        let summary = handle.await?;
        iterations += summary.iterations;
        outcomes.push(summary.outcome);
    }
    let tip = team.integration.tip(&main.top).await.unwrap_or(start);
    let session = SessionHandle::open(Arc::clone(log), &base.session).await?;
    let state = session.refresh().await?;
    for (name, path, branch) in &places {
        if state.completed.is_some() {
            // Every task is integrated: what an agent wrote and no commit holds (after its
            // claim ended) is of no task; it goes to git's stash rather than keep the worktree.
            let _ = Repo::at(path.clone())
                .stash_leftovers(&format!(
                    "iteratr {}: uncommitted changes left in worker {name}'s worktree at the end",
                    base.session
                ))
                .await;
        }
        match main.remove_worktree_if_clean(path, branch, &tip).await {
            Ok(true) => {}
            Ok(false) => info(format!(
                "worker {name}: kept its worktree {} (it holds changes or untracked files)",
                path.display()
            )),
            Err(e) => info(format!(
                "worker {name}: could not remove its worktree {}: {e}",
                path.display()
            )),
        }
    }
    for line in super::sweep::sweep(&main, &session_dir, &base.session, &tip, &state).await {
        info(line);
    }
    let counts = crate::session::display::task_counts(&state);
    if state.completed.is_some() {
        let integrated = state
            .tasks
            .values()
            .filter(|t| t.integrated.is_some())
            .count();
        return Ok(RunSummary {
            outcome: Outcome::Completed,
            message: format!(
                "session complete: {integrated} task(s) integrated into {} by {} worker(s) · {counts}",
                team.integration.branch,
                team.names.len()
            ),
            iterations,
        });
    }
    let first = |wanted: fn(&Outcome) -> bool| outcomes.iter().find(|o| wanted(o)).cloned();
    let outcome = first(|o| matches!(o, Outcome::Interrupted))
        .or_else(|| first(|o| matches!(o, Outcome::Budget)))
        .or_else(|| first(|o| matches!(o, Outcome::Failed(_))))
        .unwrap_or(Outcome::IterationLimit);
    let message = match &outcome {
        Outcome::Interrupted => {
            format!("interrupted · {counts}; run the same command again to resume")
        }
        Outcome::Failed(m) => m.clone(),
        Outcome::Budget => format!(
            "stopping: the workers reached the budget (--max-tokens / --max-cost, counted for all of them) · {counts}; raise it to go on"
        ),
        _ => format!("the workers stopped · {counts}; run again to continue"),
    };
    Ok(RunSummary {
        outcome,
        message,
        iterations,
    })
}

/// Tasks a single build left `in_progress` (its agent stopped mid-task) would never be claimed:
/// workers take remaining tasks. They go back to `remaining` for the workers.
async fn give_back_unclaimed(
    log: &Arc<dyn EventLog>,
    base: &BuildOptions,
    events: &mpsc::UnboundedSender<BuildEvent>,
) -> anyhow::Result<()> {
    let session =
        crate::session_handle::SessionHandle::open(Arc::clone(log), &base.session).await?;
    let state = session.refresh().await?;
    let left: Vec<String> = state
        .tasks_with_status(crate::session::TaskStatus::InProgress)
        .into_iter()
        .filter(|t| t.claim.is_none())
        .map(|t| t.label())
        .collect();
    for task in &left {
        let back = crate::session::Command::SetStatus {
            task: task.clone(),
            status: crate::session::TaskStatus::Remaining,
        };
        session
            .execute(&back, crate::session::Author::System)
            .await?;
    }
    if !left.is_empty() {
        let _ = events.send(BuildEvent::Info {
            message: format!(
                "{} in progress without a worker: back to remaining for the workers",
                left.join(", ")
            ),
        });
    }
    Ok(())
}

/// Where workers' worktrees go: under the data dir, beside the session's data.
fn worktrees_root(data_dir: &std::path::Path, project_dir: &std::path::Path) -> PathBuf {
    let data = if data_dir.is_absolute() {
        data_dir.to_path_buf()
    } else {
        project_dir.join(data_dir)
    };
    data.join("worktrees")
}
