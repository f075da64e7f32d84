//! The hooks of a build, at their points: `session_start` before the first iteration,
//! `pre_iteration` (its output joins the prompt), `post_iteration` (a failure goes back to the agent
//! in the same ACP session, at most `fix_rounds` times), `on_task_complete` for each task an
//! iteration completed, `on_error` when an iteration fails, `session_end` when the run ends. Every
//! run is a [`BuildEvent::Hook`].

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{BuildOptions, Orchestrator, Outcome, RunSummary, Turn};
use crate::frontend::{BuildEvent, HookReport};
use crate::hooks::{Hook, HookInput, HookPoint, HookRun};
use crate::session::{Author, Command, SessionState, TaskStatus, task_id};
use crate::session_handle::SessionHandle;

/// Lines of a hook's output sent to the agent at most (its end: where test runners summarise).
const OUTPUT_TO_AGENT_LINES: usize = 80;

fn report(run: &HookRun) -> HookReport {
    HookReport {
        point: run.point,
        command: run.command.clone(),
        exit_code: run.ran.exit_code,
        timed_out: run.ran.timed_out,
        succeeded: run.succeeded(),
        result: run.describe(),
        took: run.ran.took,
        output: run.ran.output.clone(),
    }
}

/// The end of a hook's output, fenced, for a prompt.
pub(super) fn fenced(run: &HookRun) -> String {
    let tail = crate::frontend::last_lines(&run.ran.output, OUTPUT_TO_AGENT_LINES);
    // A fence longer than any backtick run in the output, so the output cannot close it.
    let longest = run
        .ran
        .output
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}\n{}\n{fence}", tail.join("\n"))
}

/// What every hook is told: the session, the data dir, and the iteration it runs in.
fn hook_input(opts: &BuildOptions, iteration: Option<u32>) -> HookInput {
    HookInput {
        session: opts.session.to_string(),
        iteration,
        data_dir: opts.data_dir.display().to_string(),
        ..HookInput::default()
    }
}

/// The `session_end` hook's input: how the run ended.
pub(super) fn session_end_input(opts: &BuildOptions, summary: &RunSummary) -> HookInput {
    let mut input = hook_input(opts, None);
    input.summary = Some(summary.message.clone());
    if let Outcome::Failed(e) = &summary.outcome {
        input.error = Some(e.clone());
    }
    input
}

/// Where hooks run, and where their runs are told and recorded: an orchestrator's, or a team's
/// for its `session_end`.
pub(super) struct HookSite<'a> {
    pub hooks: &'a [Hook],
    pub project_dir: &'a Path,
    pub session: &'a SessionHandle,
    pub events: &'a mpsc::UnboundedSender<BuildEvent>,
    pub interrupt: &'a CancellationToken,
}

impl HookSite<'_> {
    /// Runs the hook declared for `point`, if any, and reports it. Ctrl+C stops it.
    pub(super) async fn run(&self, point: HookPoint, input: HookInput) -> Option<HookRun> {
        let hook = self.hooks.iter().find(|h| h.point == point)?;
        let run = tokio::select! {
            run = crate::hooks::run(hook, &input, self.project_dir) => run,
            _ = self.interrupt.cancelled() => return None,
        };
        let _ = self.events.send(BuildEvent::Hook { hook: report(&run) });
        let record = Command::RecordHook {
            point: run.point,
            command: run.command.clone(),
            exit_code: run.ran.exit_code,
            result: run.describe(),
            timed_out: run.ran.timed_out,
            took_ms: u64::try_from(run.ran.took.as_millis()).unwrap_or(u64::MAX),
            output: run.ran.output.clone(),
        };
        let recorded = self
            .session
            .execute(&record, Author::System)
            .await
            .with_context(|| format!("cannot record {record} in the session log"));
        if let Err(e) = recorded {
            let _ = self.events.send(BuildEvent::Warning {
                message: format!("{e:#}"),
            });
        }
        Some(run)
    }
}

impl Orchestrator {
    fn declared(&self, point: HookPoint) -> Option<Hook> {
        self.opts.hooks.iter().find(|h| h.point == point).cloned()
    }

    pub(super) fn hook_input(&self, iteration: Option<u32>) -> HookInput {
        hook_input(&self.opts, iteration)
    }

    /// Runs the hook declared for `point`, if any, and reports it. Ctrl+C stops it.
    pub(super) async fn run_hook(&self, point: HookPoint, input: HookInput) -> Option<HookRun> {
        HookSite {
            hooks: &self.opts.hooks,
            project_dir: &self.opts.project_dir,
            session: &self.session,
            events: &self.events,
            interrupt: &self.interrupt,
        }
        .run(point, input)
        .await
    }

    /// The `pre_iteration` hook; what it says for the prompt (when it goes to the agent).
    pub(super) async fn pre_iteration(&self, number: u32) -> Option<String> {
        let run = self
            .run_hook(HookPoint::PreIteration, self.hook_input(Some(number)))
            .await?;
        let to_agent = self.declared(HookPoint::PreIteration)?.to_agent;
        (to_agent && !run.ran.output.trim().is_empty()).then(|| {
            format!(
                "\n\n## Output of the pre_iteration check `{}` ({})\n{}\n",
                run.command,
                run.describe(),
                fenced(&run)
            )
        })
    }

    /// After the agent's turn: the `post_iteration` check; while it fails (and its output goes to
    /// the agent), the agent is asked to fix it in the same session, `fix_rounds` times at most.
    pub(super) async fn post_iteration(&self, acp_session: &str, number: u32) -> Option<Turn> {
        let hook = self.declared(HookPoint::PostIteration)?;
        let mut round = 0;
        loop {
            let mut input = self.hook_input(Some(number));
            if let Ok(state) = self.session.refresh().await {
                input.summary = state
                    .iterations
                    .get(&number)
                    .and_then(|it| it.summary.clone());
            }
            let run = self.run_hook(HookPoint::PostIteration, input).await?;
            if run.succeeded() || !hook.to_agent {
                return None;
            }
            if round >= hook.fix_rounds {
                self.emit(BuildEvent::Warning {
                    message: format!(
                        "the post_iteration check still fails after {round} round(s) of fixes; going on with the next iteration"
                    ),
                });
                return None;
            }
            round += 1;
            self.info(format!(
                "the post_iteration check failed; asking the agent to fix it (round {round} of {})",
                hook.fix_rounds
            ));
            let follow_up = format!(
                "The check iteratr runs after each iteration failed: `{}` ({}). Its output:\n{}\n\
                 Fix what it reports first (it will run again when you stop), then update the tasks \
                 and call iteration-summary again.",
                run.command,
                run.describe(),
                fenced(&run)
            );
            match self.prompt(acp_session, follow_up).await {
                Turn::Done(_) => {}
                other => return Some(other),
            }
        }
    }

    /// After an iteration: `on_task_complete` for each task it completed, `on_error` if it failed.
    pub(super) async fn after_iteration(
        &self,
        number: u32,
        before: &BTreeSet<u64>,
        state: &SessionState,
        turn: &Turn,
    ) {
        if self.declared(HookPoint::OnTaskComplete).is_some() {
            let completed = state
                .tasks_with_status(TaskStatus::Completed)
                .into_iter()
                .filter(|t| !before.contains(&t.id));
            for task in completed {
                let mut input = self.hook_input(Some(number));
                input.task_id = Some(task_id(task.id));
                input.task_content = Some(task.content.clone());
                self.run_hook(HookPoint::OnTaskComplete, input).await;
            }
        }
        let error = match turn {
            Turn::Failed(_, reason) | Turn::Fatal(reason) => Some(reason.clone()),
            _ => None,
        };
        if let Some(error) = error {
            let mut input = self.hook_input(Some(number));
            input.error = Some(error);
            self.run_hook(HookPoint::OnError, input).await;
        }
    }
}

impl Orchestrator {
    /// The ids of the completed tasks, to tell which ones an iteration completes; only read when
    /// an `on_task_complete` hook needs them.
    pub(super) fn completed_ids(&self, state: &SessionState) -> BTreeSet<u64> {
        if self.declared(HookPoint::OnTaskComplete).is_none() {
            return BTreeSet::new();
        }
        state
            .tasks_with_status(TaskStatus::Completed)
            .into_iter()
            .map(|t| t.id)
            .collect()
    }
}
