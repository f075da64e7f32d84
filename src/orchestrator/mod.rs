//! The build loop: import the spec's checklist, plan, then one iteration after another (a fresh ACP
//! session each time) until the agent completes the session, the iteration limit is reached, the
//! agent keeps failing, or the user interrupts. Everything it does is recorded in the session log,
//! so a later run resumes where this one stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod commit;
mod integrate;
pub(crate) mod lease;
mod mcp_server;
mod next;
mod permission_log;
mod permissions;
mod prompt;
mod rate_limit;
mod recover;
mod retry;
mod run_hooks;
pub(crate) mod spec;
mod summary;
mod sweep;
mod takeover;
mod task_budget;
mod team;
mod turn;
mod worker;

pub(crate) use lease::LeaseGuard;
pub(crate) use permissions::agent_env;
pub(crate) use summary::{Outcome, RunSummary};
pub(crate) use team::{Team, run_team, worker_branch};
pub(crate) use worker::Role;

use crate::acp::permissions::policy::Policy;
use crate::acp::permissions::{Approvals, ApproveMode};
use crate::acp::{Agent, AgentUpdate, UpdateSink};
use crate::frontend::BuildEvent;
use crate::mcp::HttpServer;
use crate::session::SessionName;
use crate::session::{Author, Command, IterationOutcome, Usage};
use crate::session_handle::{Executed, SessionHandle};
use crate::store::EventLog;
use crate::template::PromptTemplate;

/// Exit codes of `iteratr build`.
pub(crate) mod exit {
    pub(crate) const COMPLETED: u8 = 0;
    pub(crate) const FAILED: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const ITERATION_LIMIT: u8 = 3;
    /// Iterations in a row changed no task and no file (`--max-idle-iterations`).
    pub(crate) const IDLE: u8 = 5;
    /// `--max-tokens` or `--max-cost` was reached.
    pub(crate) const BUDGET: u8 = 6;
    /// Another build holds the session.
    pub(crate) const HELD: u8 = 4;
    pub(crate) const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Clone)]
pub(crate) struct BuildOptions {
    pub session: SessionName,
    pub spec_path: PathBuf,
    pub project_dir: PathBuf,
    pub data_dir: PathBuf,
    pub agent: Vec<String>,
    pub model: Option<String>,
    /// Iterations to run in this invocation (not counting the planning iteration); None = until done.
    pub iterations: Option<u32>,
    pub extra: Option<String>,
    /// The `--deny-tools` rules, checked once where the flags are read.
    pub policy: Policy,
    /// What to do with a permission request no rule refuses.
    pub approve: ApproveMode,
    /// A person is at the full-screen interface to answer permission requests.
    pub interactive: bool,
    /// `--approve-wait`: without the full-screen interface, how long a request waits for an
    /// answer from anywhere before it is refused.
    pub approve_wait: Duration,
    /// How long the agent's `ask-questions` waits for an answer.
    pub question_wait: Duration,
    pub iteration_timeout: Duration,
    pub max_failures: u32,
    /// First delay before restarting a failed agent; doubles each time, up to 30 s.
    pub retry_delay: Duration,
    pub reset: bool,
    pub init_timeout: Duration,
    /// Global arguments (data dir, store choice) for the `iteratr mcp serve` an agent may launch.
    pub store_args: Vec<String>,
    /// Environment for it (the NATS connection, when one is used).
    pub store_env: Vec<(String, String)>,
    /// Hooks declared in the settings files, one a point at most.
    pub hooks: Vec<crate::hooks::Hook>,
    /// Commit each iteration's changes when the project is in a git repository.
    pub auto_commit: bool,
    /// Stop after this many work iterations in a row that changed no task and no file (0: never).
    pub max_idle_iterations: u32,
    /// Stop at the end of the iteration where this run's tokens reach this.
    pub max_tokens: Option<u64>,
    /// Stop at the end of the iteration where this run's cost reaches this.
    pub max_cost: Option<f64>,
    /// Block a task once the tokens attributed to it reach this.
    pub max_tokens_per_task: Option<u64>,
    /// Block a task once the cost attributed to it reaches this.
    pub max_cost_per_task: Option<f64>,
    /// Alone, the planner of a build with workers, or one of its workers.
    pub role: Role,
    /// Permission answers shared with other loops (a team's workers, and the front end that
    /// answers for all of them); None: this loop's own.
    pub approvals: Option<Arc<Approvals>>,
    /// `--sandbox`: the agent runs in it.
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
}

impl BuildOptions {
    /// Where this build's permission requests are decided and answered.
    pub(crate) fn new_approvals(&self) -> Approvals {
        Approvals::new(self.policy.clone(), self.approve, self.interactive)
            .with_unattended_wait(self.approve_wait)
    }
}

enum Turn {
    /// The agent's stop reason.
    Done(IterationOutcome),
    /// The agent failed: `Error` or `Timeout`, and what happened.
    Failed(IterationOutcome, String),
    /// A failure retrying cannot fix (the agent refuses the requested model, say).
    Fatal(String),
    Interrupted,
}

pub(crate) struct Orchestrator {
    opts: BuildOptions,
    session: Arc<SessionHandle>,
    template: PromptTemplate,
    events: mpsc::UnboundedSender<BuildEvent>,
    http: Option<HttpServer>,
    agent: Option<Agent>,
    updates: UpdateSink,
    approvals: Arc<Approvals>,
    /// Where permission decisions go to be recorded, and the task recording them.
    recorder: Option<(
        mpsc::UnboundedSender<AgentUpdate>,
        tokio::task::JoinHandle<()>,
    )>,
    /// The environment that makes the agent ask (opencode), worked out at the first start.
    agent_env: Option<Vec<(String, String)>>,
    interrupt: CancellationToken,
    model_reported: bool,
    asking_reported: bool,
    /// Messages from people already put in a prompt (count of `state.messages`).
    messages_prompted: usize,
    /// Late answers to the agent's questions already put in a prompt (count of
    /// `state.questions.late_answers`).
    answers_prompted: usize,
    binary: String,
    /// This build's hold on the session, released when the run ends.
    lease: Option<LeaseGuard>,
    /// The repository each iteration is committed in (auto-commit).
    repo: Option<crate::git::Repo>,
    /// Whether the last iteration changed nothing: no task, no file (`None`: cannot tell).
    last_idle: Option<bool>,
    /// What the running iteration used so far (tokens from prompt replies, cost from updates)
    /// and the permission requests allowed quietly in it.
    iteration_usage: Arc<std::sync::Mutex<IterationTally>>,
    /// What this run used, for `--max-tokens` and `--max-cost` (with workers: all of them).
    run_usage: Arc<std::sync::Mutex<Usage>>,
    /// The ACP session of the latest iteration (follow-ups after its turn go there).
    acp_session: Option<String>,
    /// What the running iteration's agent opened on the MCP server, closed when it ends.
    mcp_scope: Option<crate::mcp::McpScope>,
    /// The task a worker works on.
    current_task: Option<u64>,
}

/// What an iteration used and how many permission requests were allowed quietly in it.
#[derive(Debug, Default)]
struct IterationTally {
    usage: Usage,
    auto_allowed: u32,
}

impl Orchestrator {
    pub(crate) async fn new(
        opts: BuildOptions,
        log: Arc<dyn EventLog>,
        template: PromptTemplate,
        events: mpsc::UnboundedSender<BuildEvent>,
        interrupt: CancellationToken,
    ) -> anyhow::Result<Self> {
        let session = Arc::new(SessionHandle::open(log, &opts.session).await?);
        let forward = events.clone();
        let approvals = match &opts.approvals {
            Some(shared) => Arc::clone(shared),
            None => Arc::new(opts.new_approvals()),
        };
        let (record, recording) = permission_log::spawn(
            Arc::clone(&session),
            events.clone(),
            Arc::clone(&approvals),
            opts.role.worker().map(|w| w.name.clone()),
        );
        let to_record = record.clone();
        let iteration_usage: Arc<std::sync::Mutex<IterationTally>> = Arc::default();
        let cost_seen = Arc::clone(&iteration_usage);
        let updates: UpdateSink = Arc::new(move |update: AgentUpdate| {
            match &update {
                AgentUpdate::Permission { .. } | AgentUpdate::PermissionAsked { .. } => {
                    let _ = to_record.send(update.clone());
                }
                AgentUpdate::AllowedQuietly { .. } => {
                    let mut t = cost_seen.lock().unwrap_or_else(|p| p.into_inner());
                    t.auto_allowed = t.auto_allowed.saturating_add(1);
                    return;
                }
                _ => {}
            }
            // The cost an agent reports is its ACP session's so far: one iteration's.
            if let AgentUpdate::Usage {
                cost: Some(cost),
                currency,
                ..
            } = &update
            {
                let mut t = cost_seen.lock().unwrap_or_else(|p| p.into_inner());
                t.usage.cost = Some(*cost);
                t.usage.currency.clone_from(currency);
            }
            let _ = forward.send(BuildEvent::Agent { update });
        });
        let run_usage = opts
            .role
            .worker()
            .map(|w| Arc::clone(&w.usage))
            .unwrap_or_default();
        let binary = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "iteratr".into());
        Ok(Orchestrator {
            opts,
            session,
            template,
            events,
            http: None,
            agent: None,
            updates,
            approvals,
            recorder: Some((record, recording)),
            agent_env: None,
            interrupt,
            model_reported: false,
            asking_reported: false,
            messages_prompted: 0,
            answers_prompted: 0,
            binary,
            lease: None,
            repo: None,
            last_idle: None,
            iteration_usage,
            run_usage,
            acp_session: None,
            mcp_scope: None,
            current_task: None,
        })
    }

    /// The run holds `lease` and releases it when it ends; losing it stops the run.
    pub(crate) fn with_lease(mut self, lease: LeaseGuard) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Where a front end answers the agent's permission requests.
    pub(crate) fn approvals(&self) -> Arc<Approvals> {
        Arc::clone(&self.approvals)
    }

    fn emit(&self, event: BuildEvent) {
        let _ = self.events.send(event);
    }

    fn info(&self, message: impl Into<String>) {
        self.emit(BuildEvent::Info {
            message: message.into(),
        });
    }

    /// A worker's step in its loop, typed for the front ends, in words for people.
    fn phase(&self, phase: crate::frontend::WorkerPhase, message: impl Into<String>) {
        self.emit(BuildEvent::Phase {
            phase,
            message: message.into(),
        });
    }

    async fn exec(&self, cmd: Command) -> anyhow::Result<()> {
        self.exec_as(cmd, Author::System).await.map(drop)
    }

    async fn exec_as(&self, cmd: Command, by: Author) -> anyhow::Result<Executed> {
        self.session
            .execute(&cmd, by)
            .await
            .with_context(|| format!("cannot record {cmd} in the session log"))
    }

    fn spec_text(&self) -> anyhow::Result<String> {
        std::fs::read_to_string(&self.opts.spec_path)
            .with_context(|| format!("cannot read the spec {}", self.opts.spec_path.display()))
    }

    /// Runs the loop to its end, cleans up (agent stopped, MCP server closed, lease released),
    /// then returns how it ended: the caller tells the front end ([`RunSummary::finished`]) once
    /// everything the run appended to the log has reached it.
    pub(crate) async fn run(mut self) -> RunSummary {
        let result = if self.opts.role.worker().is_some() {
            self.worker_loop().await
        } else {
            self.run_loop().await
        };
        let mut summary = result.unwrap_or_else(|e| RunSummary::failed(format!("{e:#}")));
        if let Some(agent) = self.agent.take() {
            agent.shutdown(Duration::from_secs(2)).await;
        }
        if matches!(self.opts.role, Role::Single) {
            let input = run_hooks::session_end_input(&self.opts, &summary);
            self.run_hook(crate::hooks::HookPoint::SessionEnd, input)
                .await;
        }
        if let Some(http) = self.http.take() {
            http.shutdown().await;
        }
        // Every decision is in the log before the run reports its end.
        self.updates = Arc::new(|_| {});
        if let Some((record, recording)) = self.recorder.take() {
            drop(record);
            let _ = tokio::time::timeout(Duration::from_secs(10), recording).await;
        }
        if let Some(lease) = self.lease.take() {
            summary.release(lease).await;
        }
        summary
    }

    async fn run_loop(&mut self) -> anyhow::Result<RunSummary> {
        if self.opts.reset {
            self.exec(Command::Reset {
                reason: Some("iteratr build --reset".into()),
            })
            .await?;
            self.info(format!(
                "session {} reset; its history stays in the log",
                self.opts.session
            ));
        }
        let spec = self.spec_text()?;
        self.start_server().await?;

        let state = self.close_abandoned_iteration().await?;
        self.leave_abandoned_questions_open().await?;
        if let Some(latest) = state.latest_iteration() {
            self.info(format!(
                "resuming session {} after iteration {latest}",
                self.opts.session
            ));
        }
        self.sync_spec(&spec, &state).await?;
        self.run_hook(crate::hooks::HookPoint::SessionStart, self.hook_input(None))
            .await;
        self.discover_repo().await;
        let state = self.session.refresh().await?;
        self.messages_prompted = state.messages.len();
        // Answers that came after the last iteration started were not in any prompt yet.
        let last_start = state
            .iterations
            .values()
            .filter_map(|it| it.started_at_ms)
            .max()
            .unwrap_or(0);
        self.answers_prompted = state
            .questions
            .late_answers
            .iter()
            .take_while(|q| {
                state
                    .questions
                    .all
                    .get(q)
                    .and_then(|q| q.answer.as_ref())
                    .is_some_and(|a| a.at_ms < last_start)
            })
            .count();
        if state.completed.is_some() {
            return Ok(self.finish(
                Outcome::Completed,
                0,
                "the session is already complete; add checklist lines to the spec for more work, or use --reset to start it over",
            ));
        }

        if matches!(self.opts.role, Role::Planner) && state.planning_done() {
            return Ok(self.finish(Outcome::IterationLimit, 0, "planning done"));
        }
        self.start_agent().await?;
        self.drive().await
    }

    /// The loop of every kind of build (single, planner, worker): each step is decided by
    /// `next`, from the state and the last turn; only claiming and a worker's bookkeeping after
    /// a turn are its own.
    async fn drive(&mut self) -> anyhow::Result<RunSummary> {
        let kind = match &self.opts.role {
            Role::Single => next::Kind::Single,
            Role::Planner => next::Kind::Planner,
            Role::Worker(_) => next::Kind::Worker,
        };
        let limits = next::Limits {
            iterations: self.opts.iterations,
            max_idle: self.opts.max_idle_iterations,
        };
        let mut counters = next::Counters::default();
        let mut failures = retry::Failures::default();
        let mut waiting = false;
        let mut tries = 0u32;
        loop {
            let state = self.session.refresh().await?;
            let step = next::before_turn(&state, kind, counters, limits);
            // Not held through the iteration: each append would copy the whole state.
            drop(state);
            let (number, planning) = match step {
                next::Step::Stop(outcome, message) => {
                    return Ok(self.finish(outcome, counters.ran, &message));
                }
                next::Step::Paused(by) => {
                    if !self.wait_while_paused(&by).await? {
                        return Ok(self.finish(
                            Outcome::Interrupted,
                            counters.ran,
                            next::INTERRUPTED_WHILE_PAUSED,
                        ));
                    }
                    continue;
                }
                next::Step::CompleteSession(summary) => {
                    self.exec(Command::CompleteSession {
                        summary: Some(summary.clone()),
                    })
                    .await?;
                    return Ok(self.finish(Outcome::Completed, counters.ran, &summary));
                }
                next::Step::Wait(why) => {
                    if !self.wait_a_moment(&mut waiting, why).await {
                        return Ok(self.interrupted(counters.ran));
                    }
                    continue;
                }
                next::Step::Claim { number } => match self.claim(&mut waiting, &mut tries).await? {
                    worker::Claimed::Task => (number, false),
                    worker::Claimed::Wait => continue,
                    worker::Claimed::Stop(outcome, message) => {
                        return Ok(self.finish(outcome, counters.ran, &message));
                    }
                },
                next::Step::Iterate { number, planning } => (number, planning),
            };
            let turn = self.iteration(number, planning).await?;
            let over_budget = self.over_budget();
            let state = self.session.refresh().await?;
            let ended = next::Ended {
                turn: &turn,
                planning,
                over_budget: over_budget.as_deref(),
                last_idle: self.last_idle,
            };
            let after = next::after_turn(ended, kind, &mut counters, limits, &state);
            drop(state);
            match after {
                next::After::Next => {
                    failures = retry::Failures::default();
                    if kind == next::Kind::Worker {
                        tries += 1;
                        self.after_task_turn(tries).await?;
                    }
                }
                next::After::Stop(outcome, message) => {
                    return Ok(self.finish(outcome, counters.ran, &message));
                }
                next::After::Failed(reason) => {
                    if let Some(end) = self
                        .after_failed_turn(&mut failures, counters.ran, reason)
                        .await?
                    {
                        return Ok(end);
                    }
                }
            }
        }
    }

    /// Which budget this run has reached, if any.
    fn over_budget(&self) -> Option<String> {
        let used = self
            .run_usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let used = &used;
        if let Some(max) = self.opts.max_tokens.filter(|m| used.tokens() >= *m) {
            return Some(format!(
                "this run used {} tokens, the budget is {max} (--max-tokens)",
                used.tokens()
            ));
        }
        let (cost, max) = (used.cost?, self.opts.max_cost?);
        (cost >= max).then(|| {
            format!(
                "this run cost {cost:.2} {}, the budget is {max:.2} (--max-cost)",
                used.currency.as_deref().unwrap_or("")
            )
        })
    }

    /// Waits while the session is paused; false when Ctrl+C came first. The agent stays up.
    async fn wait_while_paused(&self, by: &str) -> anyhow::Result<bool> {
        self.info(format!(
            "paused (asked by {by}); `iteratr resume`, or p in the full-screen interface, goes on"
        ));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = self.interrupt.cancelled() => return Ok(false),
            }
            let state = self.session.refresh().await?;
            if state.paused.is_none() {
                self.info("resumed");
                return Ok(true);
            }
            // Asked to stop while paused: the next step says so.
            if state.stop.is_some() {
                return Ok(true);
            }
        }
    }

    fn too_many_failures(&self, failures: u32, ran: u32, last: &str) -> RunSummary {
        let message =
            format!("the agent failed {failures} times in a row; stopping. Last failure: {last}");
        self.finish(Outcome::Failed(message.clone()), ran, &message)
    }

    /// Ctrl+C ended the run.
    fn interrupted(&self, iterations: u32) -> RunSummary {
        self.finish(Outcome::Interrupted, iterations, next::INTERRUPTED)
    }

    fn finish(&self, outcome: Outcome, iterations: u32, message: &str) -> RunSummary {
        RunSummary {
            outcome,
            message: message.to_string(),
            iterations,
        }
    }
}
