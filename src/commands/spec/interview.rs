//! The interview: a throwaway session store for its questions, the endpoint the agent gets
//! (`ask-questions`, `finish-spec`), the agent itself, and the prompts until a spec is accepted.
//! It runs as a task of its own; stopping it (Ctrl+C, going back, leaving) cancels the turn and
//! ends the agent's process group before the task ends, so no agent outlives the interview.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::acp::permissions::Approvals;
use crate::acp::{Agent, AgentSpec, McpEntry, ModelChoice, UpdateSink};
use crate::mcp::{HttpOptions, SessionTools, serve_http};
use crate::session_handle::SessionHandle;
use crate::store::{EventLog, SqliteLog};

/// Prompts sent when the agent ends its turn without a spec accepted, before giving up.
const REMINDERS: usize = 2;
const REMINDER: &str = "You ended your turn without handing over the spec. Finish the interview \
if questions remain (ask-questions), then call finish-spec with the whole spec; if it was refused, \
fix what it said and call it again.";
/// How long the agent may take to end its turn once the spec was accepted.
const TURN_END: Duration = Duration::from_secs(5);
/// How long the agent may take to end when the interview is over.
const GRACE: Duration = Duration::from_secs(2);

/// What an interview needs.
#[derive(Clone)]
pub(super) struct InterviewOpts {
    pub agent: Vec<String>,
    pub model: Option<String>,
    pub approvals: Arc<Approvals>,
    pub init_timeout: Duration,
    pub question_wait: Duration,
    pub project_dir: PathBuf,
    /// The agent's environment (opencode's settings; see `orchestrator::agent_env`).
    pub env: Vec<(String, String)>,
}

/// An interview under way.
pub(super) struct Running {
    /// Its session: the questions asked and their answers.
    pub session: Arc<SessionHandle>,
    /// The accepted spec, or why there is none.
    pub done: JoinHandle<anyhow::Result<String>>,
    pub stop: CancellationToken,
}

impl Running {
    /// Stops the interview and waits until its agent is gone.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        // Awaited already when it ended by itself (a handle must not be polled again).
        if !self.done.is_finished() {
            let _ = self.done.await;
        }
    }
}

/// Starts an interview with this prompt; the agent's updates go to `updates`.
pub(super) async fn start(
    opts: InterviewOpts,
    prompt: String,
    updates: UpdateSink,
) -> anyhow::Result<Running> {
    // The questions need a log the tools and the front end share; nothing of the interview is
    // worth keeping after it, so it is a store of its own, removed with the interview.
    let dir = tempfile::Builder::new()
        .prefix("iteratr-spec-")
        .tempdir()
        .context("cannot make a temporary directory for the interview")?;
    let log: Arc<dyn EventLog> = Arc::new(
        SqliteLog::open(dir.path()).context("cannot open the interview's temporary store")?,
    );
    let session = Arc::new(SessionHandle::open(log, "spec").await?);
    let stop = CancellationToken::new();
    let done = tokio::spawn(drive(
        opts,
        prompt,
        Arc::clone(&session),
        updates,
        stop.clone(),
        dir,
    ));
    Ok(Running {
        session,
        done,
        stop,
    })
}

async fn drive(
    opts: InterviewOpts,
    prompt: String,
    session: Arc<SessionHandle>,
    updates: UpdateSink,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
) -> anyhow::Result<String> {
    let (specs_tx, mut specs) = mpsc::unbounded_channel();
    let tools = SessionTools::for_spec_interview(session, specs_tx, opts.question_wait);
    let http = serve_http(tools, HttpOptions::loopback()).await?;
    let spec = AgentSpec {
        argv: opts.agent.clone(),
        cwd: opts.project_dir.clone(),
        env: opts.env.clone(),
        approvals: Arc::clone(&opts.approvals),
        init_timeout: opts.init_timeout,
        private: Vec::new(),
        // The interview's agent writes nothing itself (`finish-spec` hands iteratr the spec).
        sandbox: None,
    };
    let agent = tokio::select! {
        agent = Agent::start(spec, updates) => agent,
        () = stop.cancelled() => {
            http.shutdown().await;
            bail!("interrupted while starting the agent");
        }
    };
    let agent = match agent {
        Ok(agent) => agent,
        Err(e) => {
            http.shutdown().await;
            return Err(e.into());
        }
    };
    let result = converse(&agent, &opts, prompt, &http, &mut specs, &stop).await;
    agent.shutdown(GRACE).await;
    http.shutdown().await;
    result
}

async fn converse(
    agent: &Agent,
    opts: &InterviewOpts,
    prompt: String,
    http: &crate::mcp::HttpServer,
    specs: &mut mpsc::UnboundedReceiver<String>,
    stop: &CancellationToken,
) -> anyhow::Result<String> {
    if !agent.info.http_mcp {
        bail!(
            "{} does not take MCP servers over HTTP, which the interview needs (its tools hand the spec back to this process); use an agent that does (opencode acp, claude-code-acp)",
            agent.info.name
        );
    }
    let entry = McpEntry::Http {
        name: crate::session::tools::SERVER.into(),
        url: http.url(),
        token: http.token.clone(),
    };
    let id = agent.new_session(&opts.project_dir, vec![entry]).await?;
    if let Some(model) = &opts.model
        && let ModelChoice::Unsupported(why) = agent.set_model(&id, model).await?
    {
        tracing::warn!("{why}");
    }
    let mut prompt = prompt;
    for _ in 0..=REMINDERS {
        let turn = agent.prompt(&id, prompt);
        tokio::pin!(turn);
        tokio::select! {
            spec = specs.recv() => {
                let spec = spec.context("the interview's endpoint stopped")?;
                // The agent was told to end its turn: it may, briefly, so its call ends cleanly.
                tokio::select! {
                    _ = tokio::time::timeout(TURN_END, &mut turn) => {}
                    () = stop.cancelled() => {}
                }
                return Ok(spec);
            }
            turn = &mut turn => {
                turn?;
                if let Ok(spec) = specs.try_recv() {
                    return Ok(spec);
                }
            }
            () = stop.cancelled() => {
                agent.cancel(&id);
                bail!("interrupted");
            }
        }
        prompt = REMINDER.to_string();
    }
    bail!(
        "the agent ended its turn {} times without handing over a spec with finish-spec; try again, or another model (-m)",
        REMINDERS + 1
    )
}
