//! Several workers on one session (`build --workers N`, `iteratr worker`): the planning iteration
//! first (a build only), then one loop per worker, each with its own agent in its own git
//! worktree on its own branch (`iteratr/<session>/<worker>`), all claiming tasks from the same log.
//! Their events reach the front end tagged with the worker's name. At the end the worktrees that
//! hold nothing unsaved are removed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::worker::{Role, WorkerOptions};
use super::{BuildOptions, LeaseGuard, Orchestrator, Outcome};
use crate::git::{Integration, Repo};
use crate::protocol::BuildEvent;
use crate::store::EventLog;
use crate::template::PromptTemplate;

/// A team of workers.
#[derive(Debug, Clone)]
pub struct Team {
    /// Names of the workers this process runs (`w1`, `w2`, ... for a build).
    pub names: Vec<String>,
    pub integration: Integration,
    pub claim_ttl: std::time::Duration,
    /// Run the planning iteration first (a build does; `iteratr worker` joins after it).
    pub plan: bool,
}

/// The branch a worker works on.
pub fn worker_branch(session: &str, worker: &str) -> String {
    format!("iteratr/{session}/{worker}")
}

/// Runs the team to its end; returns how it ended and the last event to send.
pub async fn run_team(
    base: BuildOptions,
    team: Team,
    log: Arc<dyn EventLog>,
    template: PromptTemplate,
    events: mpsc::UnboundedSender<BuildEvent>,
    interrupt: CancellationToken,
    lease: Option<LeaseGuard>,
) -> (Outcome, BuildEvent) {
    let (mut outcome, mut message, iterations) =
        match run(&base, &team, &log, &template, &events, &interrupt).await {
            Ok(done) => done,
            Err(e) => {
                let message = format!("{e:#}");
                (Outcome::Failed(message.clone()), message, 0)
            }
        };
    // The build's `session_end` hook, once for the whole team (a worker that joined has none).
    if team.plan
        && base
            .hooks
            .iter()
            .any(|h| h.point == crate::hooks::HookPoint::SessionEnd)
    {
        let closer = BuildOptions {
            role: Role::Planner,
            ..base.clone()
        };
        if let Ok(closer) =
            Orchestrator::new(closer, log, template, events.clone(), interrupt.clone()).await
        {
            let mut input = closer.hook_input(None);
            input.summary = Some(message.clone());
            if let Outcome::Failed(e) = &outcome {
                input.error = Some(e.clone());
            }
            closer
                .run_hook(crate::hooks::HookPoint::SessionEnd, input)
                .await;
        }
    }
    if let Some(lease) = lease {
        if let Some(why) = lease.lost() {
            message = format!(
                "this build stopped because {why}; `iteratr status` shows who holds the session now"
            );
            outcome = Outcome::Failed(message.clone());
        }
        lease.release().await;
    }
    let finished = BuildEvent::Finished {
        outcome: outcome.run_outcome(),
        iterations,
        message,
    };
    (outcome, finished)
}

async fn run(
    base: &BuildOptions,
    team: &Team,
    log: &Arc<dyn EventLog>,
    template: &PromptTemplate,
    events: &mpsc::UnboundedSender<BuildEvent>,
    interrupt: &CancellationToken,
) -> anyhow::Result<(Outcome, String, u32)> {
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
        let (outcome, _) = orchestrator.run().await;
        match outcome {
            Outcome::IterationLimit => {}
            other => {
                let message = match &other {
                    Outcome::Completed => "the session is already complete".to_string(),
                    Outcome::Failed(m) => m.clone(),
                    _ => "interrupted during planning; run the same command again to resume"
                        .to_string(),
                };
                return Ok((other, message, 0));
            }
        }
    }
    if team.plan {
        give_back_unclaimed(log, base, events).await?;
    }
    let start = team.integration.tip(&main.top).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot read the integration branch {}: {e}",
            team.integration.branch
        )
    })?;
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let usage = Arc::default();
    let mut places: Vec<(String, PathBuf, String)> = Vec::new();
    let mut running = Vec::new();
    for name in &team.names {
        let path = worktree_dir(&base.data_dir, &base.project_dir, &base.session, name);
        let branch = worker_branch(&base.session, name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // The worktrees sit in the project's tree: git there must not list them as untracked
        // (nor `git add -A` take them as embedded repositories).
        let root = worktrees_root(&base.data_dir, &base.project_dir);
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(
                &ignore,
                "# iteratr's worker worktrees: not part of the project\n*\n",
            )?;
        }
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
            let (outcome, finished) = orchestrator.run().await;
            let BuildEvent::Finished {
                iterations,
                message,
                ..
            } = finished
            else {
                return (outcome, 0);
            };
            // The build's own end is said once, by the team; a worker's end is news about it.
            let _ = tx.send(BuildEvent::Phase {
                phase: crate::protocol::WorkerPhase::Stopped,
                message: format!("stopped: {message}"),
            });
            (outcome, iterations)
        }));
    }
    let mut outcomes = Vec::new();
    let mut iterations = 0;
    for handle in running {
        let (outcome, ran) = handle.await?;
        iterations += ran;
        outcomes.push(outcome);
    }
    let tip = team.integration.tip(&main.top).await.unwrap_or(start);
    for (name, path, branch) in &places {
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
    let session = crate::service::SessionHandle::open(Arc::clone(log), &base.session).await?;
    let state = session.refresh().await?;
    let counts = crate::session::display::task_counts(&state);
    if state.completed.is_some() {
        let integrated = state
            .tasks
            .values()
            .filter(|t| t.integrated.is_some())
            .count();
        return Ok((
            Outcome::Completed,
            format!(
                "session complete: {integrated} task(s) integrated into {} by {} worker(s) · {counts}",
                team.integration.branch,
                team.names.len()
            ),
            iterations,
        ));
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
    Ok((outcome, message, iterations))
}

/// Tasks a single build left `in_progress` (its agent stopped mid-task) would never be claimed:
/// workers take remaining tasks. They go back to `remaining` for the workers.
async fn give_back_unclaimed(
    log: &Arc<dyn EventLog>,
    base: &BuildOptions,
    events: &mpsc::UnboundedSender<BuildEvent>,
) -> anyhow::Result<()> {
    let session = crate::service::SessionHandle::open(Arc::clone(log), &base.session).await?;
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

fn worktree_dir(
    data_dir: &std::path::Path,
    project_dir: &std::path::Path,
    session: &str,
    worker: &str,
) -> PathBuf {
    worktrees_root(data_dir, project_dir)
        .join(session)
        .join(worker)
}
