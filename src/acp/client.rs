//! The connection to one agent process. Everything protocol-facing runs on a dedicated thread; the
//! orchestrator sends it operations (new session, model, prompt, cancel, shut down) and receives
//! the agent's updates on a channel.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

use super::connection::run;
use super::models::{self, Route};
use super::permissions::Approvals;
use super::{AgentInfo, AgentUpdate};

/// How a prompt's turn ended: the agent's stop reason, and the tokens it says the turn used.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptDone {
    pub stop: String,
    pub usage: Option<crate::frontend::Usage>,
}

#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The agent command and its arguments (`["opencode", "acp"]`).
    pub argv: Vec<String>,
    /// The project directory: the agent runs there, and file requests stay inside it.
    pub cwd: PathBuf,
    /// Environment variables set for the agent on top of iteratr's own (values may be secret:
    /// never logged).
    pub env: Vec<(String, String)>,
    /// Who answers its permission requests, and how.
    pub approvals: Arc<Approvals>,
    /// How long `initialize` may take before the agent is deemed not to speak ACP.
    pub init_timeout: Duration,
    /// Directories inside the project that the agent's file requests may not touch: iteratr's
    /// data dir (the session log is changed through the session tools, never as a file).
    pub private: Vec<PathBuf>,
    /// Run the agent under this sandbox (`--sandbox`).
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
}

/// An MCP server offered to the agent in `session/new`.
#[derive(Debug, Clone)]
pub enum McpEntry {
    Http {
        name: String,
        url: String,
        token: String,
    },
    Stdio {
        name: String,
        command: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
}

/// What became of `-m/--model`.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    Set(String),
    /// The agent offers no way to choose over ACP; the text says so for people.
    Unsupported(String),
}

/// What went wrong with the agent, said so that people know what to do. I/O causes are kept
/// (shared, so the error stays cloneable for every waiter) and written into the message.
#[derive(Debug, Clone, Error)]
pub enum AgentError {
    #[error("cannot start the ACP {what}: {cause}")]
    Runtime {
        what: &'static str,
        cause: Arc<std::io::Error>,
    },
    #[error("cannot use the project directory {}: {cause}", .dir.display())]
    ProjectDir {
        dir: PathBuf,
        cause: Arc<std::io::Error>,
    },
    #[error("the agent command is empty")]
    EmptyCommand,
    #[error("cannot set up the agent's sandbox (--sandbox): {0}")]
    Sandbox(String),
    #[error("cannot start the agent `{command}`: {cause}; {}", spawn_hint(cause))]
    Spawn {
        command: String,
        cause: Arc<std::io::Error>,
    },
    #[error("cannot open the agent's stdio")]
    Stdio,
    #[error("the agent `{command}` ended before answering `initialize`: {why}")]
    EndedBeforeInit { command: String, why: String },
    #[error(
        "the agent `{command}` did not answer `initialize` within {secs}s; is it an ACP agent? (opencode needs `opencode acp`)"
    )]
    InitTimeout { command: String, secs: u64 },
    #[error(
        "the agent refused `initialize` ({message}); is it an ACP agent? (opencode needs `opencode acp`)"
    )]
    InitRefused { message: String },
    #[error("the agent exited: {0}")]
    Exited(String),
    #[error("the agent answered with an error: {message} ({code})")]
    Protocol { message: String, code: i32 },
    #[error("the agent answered with an error: cannot build the model request: {0}")]
    ModelRequest(String),
    #[error("{agent} does not offer the model '{model}'; it offers: {}", .offered.join(", "))]
    ModelRefused {
        agent: String,
        model: String,
        offered: Vec<String>,
    },
}

fn spawn_hint(cause: &std::io::Error) -> &'static str {
    if matches!(cause.raw_os_error(), Some(23 | 24)) {
        "iteratr ran out of file descriptors; raise the open-files limit (`ulimit -n 65536`) and run the same command again to resume"
    } else if cause.kind() == std::io::ErrorKind::NotFound {
        "it is not installed or not on PATH; install it, or choose another agent with --agent \"CMD ARGS\" (or ITERATR_AGENT)"
    } else {
        "check the command given with --agent or ITERATR_AGENT"
    }
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, AgentError>>;

/// Where the agent's updates go (called on the agent's thread, in the order they arrive).
pub type UpdateSink = Arc<dyn Fn(AgentUpdate) + Send + Sync>;

pub(super) enum Op {
    NewSession {
        cwd: PathBuf,
        servers: Vec<McpEntry>,
        reply: Reply<(String, Value)>,
    },
    SetConfig {
        session: String,
        config_id: String,
        value: String,
        reply: Reply<()>,
    },
    SetModel {
        session: String,
        model_id: String,
        reply: Reply<()>,
    },
    Prompt {
        session: String,
        text: String,
        reply: Reply<PromptDone>,
    },
    Cancel {
        session: String,
    },
    Shutdown {
        grace: Duration,
    },
}

/// A running agent.
pub struct Agent {
    ops: mpsc::UnboundedSender<Op>,
    /// Stops the agent even while the connection is still being set up.
    stop: watch::Sender<Option<Duration>>,
    pub info: AgentInfo,
    pub pid: Option<u32>,
    exited: watch::Receiver<Option<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The last `session/new` reply (raw), to choose a model from.
    last_session: Mutex<Value>,
}

impl Agent {
    /// Starts the agent and completes `initialize`.
    pub async fn start(spec: AgentSpec, updates: UpdateSink) -> Result<Agent, AgentError> {
        let (ops_tx, ops_rx) = mpsc::unbounded_channel();
        let (init_tx, init_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(None);
        let command_line = spec.argv.join(" ");
        let init_timeout = spec.init_timeout;
        let thread = std::thread::Builder::new()
            .name("iteratr-acp".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(run(spec, ops_rx, stop_rx, updates, init_tx, exit_tx)),
                    Err(e) => {
                        let _ = init_tx.send(Err(AgentError::Runtime {
                            what: "runtime",
                            cause: Arc::new(e),
                        }));
                    }
                }
            })
            .map_err(|e| AgentError::Runtime {
                what: "thread",
                cause: Arc::new(e),
            })?;
        let mut agent = Agent {
            ops: ops_tx,
            stop: stop_tx,
            info: AgentInfo {
                name: String::new(),
                version: String::new(),
                http_mcp: false,
                load_session: false,
                protocol_version: String::new(),
            },
            pid: None,
            exited: exit_rx,
            thread: Some(thread),
            last_session: Mutex::new(Value::Null),
        };
        let outcome = tokio::time::timeout(init_timeout, init_rx).await;
        match outcome {
            Ok(Ok(Ok((info, pid)))) => {
                agent.info = info;
                agent.pid = pid;
                Ok(agent)
            }
            Ok(Ok(Err(e))) => {
                agent.shutdown(Duration::from_millis(500)).await;
                Err(e)
            }
            Ok(Err(_)) => {
                let why = agent.exit_reason().await;
                agent.shutdown(Duration::from_millis(500)).await;
                Err(AgentError::EndedBeforeInit {
                    command: command_line,
                    why,
                })
            }
            Err(_) => {
                agent.shutdown(Duration::from_millis(500)).await;
                Err(AgentError::InitTimeout {
                    command: command_line,
                    secs: init_timeout.as_secs(),
                })
            }
        }
    }

    async fn exit_reason(&mut self) -> String {
        let mut rx = self.exited.clone();
        let waited =
            tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|v| v.is_some())).await;
        match waited {
            Ok(Ok(v)) => v.clone().unwrap_or_default(),
            _ => "no reason given".to_string(),
        }
    }

    /// Why the agent process ended, once it has.
    pub fn exited(&self) -> Option<String> {
        self.exited.borrow().clone()
    }

    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, AgentError> {
        let (tx, rx) = oneshot::channel();
        if self.ops.send(op(tx)).is_err() {
            return Err(AgentError::Exited(
                self.exited()
                    .unwrap_or_else(|| "the connection is closed".into()),
            ));
        }
        let mut exited = self.exited.clone();
        let reply = tokio::select! {
            reply = rx => Some(reply),
            _ = exited.wait_for(|v| v.is_some()) => None,
        };
        match reply {
            // The connection closed before the answer (the agent is going away): say how the
            // process ended, which is known a moment later, rather than that the pipe closed.
            Some(Ok(Err(AgentError::Exited(_))) | Err(_)) => {
                let mut rx = self.exited.clone();
                let ended = async { rx.wait_for(|v| v.is_some()).await.map(|_| ()) };
                let _ = tokio::time::timeout(Duration::from_secs(2), ended).await;
                Err(AgentError::Exited(
                    self.exited()
                        .unwrap_or_else(|| "the connection closed".into()),
                ))
            }
            Some(Ok(r)) => r,
            None => Err(AgentError::Exited(self.exited().unwrap_or_default())),
        }
    }

    /// Opens a fresh ACP session in `cwd` with these MCP servers; returns its id.
    pub async fn new_session(
        &self,
        cwd: &Path,
        servers: Vec<McpEntry>,
    ) -> Result<String, AgentError> {
        let (id, config) = self
            .call(|reply| Op::NewSession {
                cwd: cwd.to_path_buf(),
                servers,
                reply,
            })
            .await?;
        if let Ok(mut last) = self.last_session.lock() {
            *last = config;
        }
        Ok(id)
    }

    /// Selects `model` for `session` the way the agent offers it (see `models.rs`).
    pub async fn set_model(&self, session: &str, model: &str) -> Result<ModelChoice, AgentError> {
        let reply = self
            .last_session
            .lock()
            .map(|c| c.clone())
            .unwrap_or(Value::Null);
        let route = match models::route(&reply, model, &self.info.name)? {
            Some(route) => route,
            None => {
                return Ok(ModelChoice::Unsupported(format!(
                    "{} offers no model choice over ACP (neither a `model` session option nor `models`), so -m {model} has no effect; choose the model in the agent's own configuration",
                    self.info.name
                )));
            }
        };
        let session = session.to_string();
        let model_id = model.to_string();
        match route {
            Route::ConfigOption(config_id) => {
                self.call(|reply| Op::SetConfig {
                    session,
                    config_id,
                    value: model_id,
                    reply,
                })
                .await?
            }
            Route::SetModel => {
                self.call(|reply| Op::SetModel {
                    session,
                    model_id,
                    reply,
                })
                .await?
            }
        }
        Ok(ModelChoice::Set(model.to_string()))
    }

    /// Sends one prompt and waits for the turn to end; returns the stop reason.
    pub async fn prompt(&self, session: &str, text: String) -> Result<PromptDone, AgentError> {
        self.call(|reply| Op::Prompt {
            session: session.to_string(),
            text,
            reply,
        })
        .await
    }

    /// Asks the agent to stop the running turn (`session/cancel`).
    pub fn cancel(&self, session: &str) {
        let _ = self.ops.send(Op::Cancel {
            session: session.to_string(),
        });
    }

    /// Closes the connection, gives the agent `grace` to exit, then kills its process group.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.ops.send(Op::Shutdown { grace });
        let _ = self.stop.send(Some(grace));
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The thread's runtime kills the child when it ends; make sure it ends.
        let _ = self.ops.send(Op::Shutdown {
            grace: Duration::from_millis(200),
        });
        let _ = self.stop.send(Some(Duration::from_millis(200)));
    }
}
