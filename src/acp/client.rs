//! The connection to one agent process. Everything protocol-facing runs on a dedicated thread; the
//! orchestrator sends it operations (new session, model, prompt, cancel, shut down) and receives
//! the agent's updates on a channel.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, ClientCapabilities, ContentBlock, EnvVariable, FileSystemCapabilities,
    HttpHeader, Implementation, InitializeRequest, McpServer, McpServerHttp, McpServerStdio,
    NewSessionRequest, PermissionOptionKind, PromptRequest, ReadTextFileRequest,
    ReadTextFileResponse, RequestPermissionOutcome, RequestPermissionRequest,
    RequestPermissionResponse, SelectedPermissionOutcome, SessionId, SessionNotification,
    SetSessionConfigOptionRequest, TextContent, WriteTextFileRequest, WriteTextFileResponse,
};
use agent_client_protocol::{
    Agent as AgentRole, ByteStreams, Client, ErrorCode, on_receive_notification, on_receive_request,
};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::policy::{Policy, Sandbox, slice_lines};
use super::{AgentInfo, AgentUpdate, convert_updates};
use crate::process;

/// Lines of the agent's stderr kept for error messages.
const STDERR_TAIL: usize = 20;

#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The agent command and its arguments (`["opencode", "acp"]`).
    pub argv: Vec<String>,
    /// The project directory: the agent runs there, and file requests stay inside it.
    pub cwd: PathBuf,
    pub policy: Policy,
    /// How long `initialize` may take before the agent is deemed not to speak ACP.
    pub init_timeout: Duration,
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

#[derive(Debug, Clone, Error)]
pub enum AgentError {
    #[error("{0}")]
    Start(String),
    #[error("the agent exited: {0}")]
    Exited(String),
    #[error("the agent answered with an error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Refused(String),
}

type Reply<T> = oneshot::Sender<Result<T, AgentError>>;

/// Where the agent's updates go (called on the agent's thread, in the order they arrive).
pub type UpdateSink = Arc<dyn Fn(AgentUpdate) + Send + Sync>;

enum Op {
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
    Prompt {
        session: String,
        text: String,
        reply: Reply<String>,
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
    /// Options of the last session, to choose a model from.
    last_config: Mutex<Value>,
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
                        let _ = init_tx.send(Err(AgentError::Start(format!(
                            "cannot start the ACP runtime: {e}"
                        ))));
                    }
                }
            })
            .map_err(|e| AgentError::Start(format!("cannot start the ACP thread: {e}")))?;
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
            last_config: Mutex::new(Value::Null),
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
                Err(AgentError::Start(format!(
                    "the agent `{command_line}` ended before answering `initialize`: {why}"
                )))
            }
            Err(_) => {
                agent.shutdown(Duration::from_millis(500)).await;
                Err(AgentError::Start(format!(
                    "the agent `{command_line}` did not answer `initialize` within {}s; is it an ACP agent? (opencode needs `opencode acp`)",
                    init_timeout.as_secs()
                )))
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
        if let Ok(mut last) = self.last_config.lock() {
            *last = config;
        }
        Ok(id)
    }

    /// Selects `model` for `session` through the agent's `model` config option.
    pub async fn set_model(&self, session: &str, model: &str) -> Result<ModelChoice, AgentError> {
        let config = self
            .last_config
            .lock()
            .map(|c| c.clone())
            .unwrap_or(Value::Null);
        let option = config.as_array().into_iter().flatten().find(|o| {
            o.get("id").and_then(Value::as_str) == Some("model")
                || o.get("category").and_then(Value::as_str) == Some("model")
        });
        let Some(option) = option else {
            return Ok(ModelChoice::Unsupported(format!(
                "{} offers no model choice over ACP (no `model` session option), so -m {model} has no effect; choose the model in the agent's own configuration",
                self.info.name
            )));
        };
        let mut values = Vec::new();
        collect_values(&option["options"], &mut values);
        if !values.is_empty() && !values.iter().any(|v| v == model) {
            return Err(AgentError::Refused(format!(
                "{} does not offer the model '{model}'; it offers: {}",
                self.info.name,
                values.join(", ")
            )));
        }
        let config_id = option["id"].as_str().unwrap_or("model").to_string();
        self.call(|reply| Op::SetConfig {
            session: session.to_string(),
            config_id,
            value: model.to_string(),
            reply,
        })
        .await?;
        Ok(ModelChoice::Set(model.to_string()))
    }

    /// Sends one prompt and waits for the turn to end; returns the stop reason.
    pub async fn prompt(&self, session: &str, text: String) -> Result<String, AgentError> {
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

fn collect_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_values(i, out)),
        Value::Object(map) => {
            if let Some(value) = map.get("value").and_then(Value::as_str) {
                out.push(value.to_string());
            }
            if let Some(nested) = map.get("options") {
                collect_values(nested, out);
            }
        }
        _ => {}
    }
}

fn session_id(s: &str) -> SessionId {
    SessionId::new(s.to_string())
}

fn mcp_server(entry: McpEntry) -> McpServer {
    match entry {
        McpEntry::Http { name, url, token } => {
            McpServer::Http(McpServerHttp::new(name, url).headers(vec![HttpHeader::new(
                "Authorization",
                format!("Bearer {token}"),
            )]))
        }
        McpEntry::Stdio {
            name,
            command,
            args,
            env,
        } => McpServer::Stdio(
            McpServerStdio::new(name, command).args(args).env(
                env.into_iter()
                    .map(|(k, v)| EnvVariable::new(k, v))
                    .collect(),
            ),
        ),
    }
}

fn rpc_error(e: agent_client_protocol::Error) -> AgentError {
    if agent_client_protocol::is_incoming_transport_closed(&e)
        || agent_client_protocol::is_connection_terminated(&e)
    {
        // The agent closed its end: it is exiting. `Agent::call` says how it ended.
        return AgentError::Exited(String::new());
    }
    AgentError::Protocol(format!("{} ({})", e.message, i32::from(e.code)))
}

/// The agent thread: the child process, the connection, and the operations loop.
async fn run(
    spec: AgentSpec,
    mut ops: mpsc::UnboundedReceiver<Op>,
    mut stop: watch::Receiver<Option<Duration>>,
    updates: UpdateSink,
    init_tx: oneshot::Sender<Result<(AgentInfo, Option<u32>), AgentError>>,
    exit_tx: watch::Sender<Option<String>>,
) {
    let command_line = spec.argv.join(" ");
    let sandbox = match Sandbox::new(&spec.cwd) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let _ = init_tx.send(Err(AgentError::Start(format!(
                "cannot use the project directory {}: {e}",
                spec.cwd.display()
            ))));
            return;
        }
    };
    let Some(mut cmd) = process::command(&spec.argv, sandbox.root()) else {
        let _ = init_tx.send(Err(AgentError::Start("the agent command is empty".into())));
        return;
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "it is not installed or not on PATH; install it, or choose another agent with --agent \"CMD ARGS\" (or ITERATR_AGENT)"
            } else {
                "check the command given with --agent or ITERATR_AGENT"
            };
            let _ = init_tx.send(Err(AgentError::Start(format!(
                "cannot start the agent `{command_line}`: {e}; {hint}"
            ))));
            return;
        }
    };
    let pid = child.id();
    tracing::info!(agent = %command_line, pid = ?pid, "agent started");
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = init_tx.send(Err(AgentError::Start(
            "cannot open the agent's stdio".into(),
        )));
        return;
    };
    let tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
    let tail_writer = Arc::clone(&tail);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(target: "iteratr::agent_stderr", "{line}");
            if let Ok(mut t) = tail_writer.lock() {
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    });

    let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());
    let policy = Arc::new(spec.policy.clone());
    let (grace_tx, grace_rx) = oneshot::channel::<Duration>();
    let on_update = Arc::clone(&updates);
    let on_permission = Arc::clone(&updates);
    let (on_read, on_write) = (Arc::clone(&updates), Arc::clone(&updates));
    let (read_box, write_box) = (Arc::clone(&sandbox), Arc::clone(&sandbox));

    let connection = Client
        .v1()
        .name("iteratr")
        .on_receive_notification(
            async move |n: SessionNotification, _cx| {
                if let Ok(v) = serde_json::to_value(&n.update) {
                    tracing::trace!(target: "iteratr::acp", update = %v);
                    for u in convert_updates(&v) {
                        on_update(u);
                    }
                }
                Ok(())
            },
            on_receive_notification!(),
        )
        .on_receive_request(
            async move |req: RequestPermissionRequest, responder, _cx| {
                let call = serde_json::to_value(&req.tool_call).unwrap_or(Value::Null);
                let field = |k: &str| call.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let (title, name, kind) = (field("title"), field("name"), field("kind"));
                let denied = policy.denies(&[&title, &name, &kind]).map(|p| p.as_str().to_string());
                let wanted: &[PermissionOptionKind] = if denied.is_none() {
                    &[PermissionOptionKind::AllowOnce, PermissionOptionKind::AllowAlways]
                } else {
                    &[PermissionOptionKind::RejectOnce, PermissionOptionKind::RejectAlways]
                };
                let option = wanted.iter().find_map(|k| {
                    req.options.iter().find(|o| o.kind == *k).map(|o| o.option_id.clone())
                });
                let allowed = denied.is_none() && option.is_some();
                let shown = [&title, &name, &kind]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "a tool call".into());
                tracing::info!(title = %shown, allowed, denied_by = ?denied, "permission request");
                on_permission(AgentUpdate::Permission { title: shown, allowed, denied_by: denied });
                let outcome = match option {
                    Some(id) => RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(id)),
                    None => RequestPermissionOutcome::Cancelled,
                };
                responder.respond(RequestPermissionResponse::new(outcome))
            },
            on_receive_request!(),
        )
        .on_receive_request(
            async move |req: ReadTextFileRequest, responder, _cx| {
                let result = read_box.readable(&req.path).and_then(|p| {
                    std::fs::read_to_string(&p)
                        .map_err(|e| format!("cannot read {}: {e}", req.path.display()))
                });
                on_read(AgentUpdate::File {
                    op: "read".into(),
                    path: req.path.display().to_string(),
                    allowed: result.is_ok(),
                    error: result.as_ref().err().cloned(),
                });
                match result {
                    Ok(text) => responder.respond(ReadTextFileResponse::new(slice_lines(&text, req.line, req.limit))),
                    Err(msg) => responder.respond_with_error(agent_client_protocol::Error::new(ErrorCode::INVALID_PARAMS, msg)),
                }
            },
            on_receive_request!(),
        )
        .on_receive_request(
            async move |req: WriteTextFileRequest, responder, _cx| {
                let result = write_box.writable(&req.path).and_then(|p| {
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                    }
                    std::fs::write(&p, &req.content)
                        .map_err(|e| format!("cannot write {}: {e}", req.path.display()))
                });
                on_write(AgentUpdate::File {
                    op: "write".into(),
                    path: req.path.display().to_string(),
                    allowed: result.is_ok(),
                    error: result.as_ref().err().cloned(),
                });
                match result {
                    Ok(()) => responder.respond(WriteTextFileResponse::new()),
                    Err(msg) => responder.respond_with_error(agent_client_protocol::Error::new(ErrorCode::INVALID_PARAMS, msg)),
                }
            },
            on_receive_request!(),
        )
        .connect_with(transport, async move |cx: ConnectionTo<AgentRole>| {
            let init = InitializeRequest::new(ProtocolVersion::V1)
                .client_capabilities(
                    ClientCapabilities::new().fs(
                        FileSystemCapabilities::new()
                            .read_text_file(true)
                            .write_text_file(true),
                    ),
                )
                .client_info(Implementation::new("iteratr", env!("CARGO_PKG_VERSION")));
            let response = match cx.send_request(init).block_task().await {
                Ok(r) => r,
                Err(e) => {
                    let _ = init_tx.send(Err(AgentError::Start(format!(
                        "the agent refused `initialize` ({}); is it an ACP agent? (opencode needs `opencode acp`)",
                        e.message
                    ))));
                    return Err(e);
                }
            };
            let version = serde_json::to_value(response.protocol_version)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let (name, agent_version) = response
                .agent_info
                .as_ref()
                .map(|i| (i.name.clone(), i.version.clone()))
                .unwrap_or_else(|| ("unknown agent".into(), String::new()));
            let info = AgentInfo {
                name,
                version: agent_version,
                http_mcp: response.agent_capabilities.mcp_capabilities.http,
                load_session: response.agent_capabilities.load_session,
                protocol_version: version,
            };
            tracing::info!(?info, "agent initialized");
            let _ = init_tx.send(Ok((info, pid)));

            while let Some(op) = ops.recv().await {
                match op {
                    Op::Shutdown { grace } => {
                        let _ = grace_tx.send(grace);
                        break;
                    }
                    Op::Cancel { session } => {
                        tracing::info!(%session, "cancelling the turn");
                        let _ = cx.send_notification(CancelNotification::new(session_id(&session)));
                    }
                    Op::NewSession { cwd, servers, reply } => {
                        let request = NewSessionRequest::new(cwd)
                            .mcp_servers(servers.into_iter().map(mcp_server).collect());
                        let cx = cx.clone();
                        tokio::spawn(async move {
                            let result = cx.send_request(request).block_task().await;
                            let _ = reply.send(result.map_err(rpc_error).map(|r| {
                                let id = r.session_id.0.to_string();
                                let config = serde_json::to_value(&r.config_options).unwrap_or(Value::Null);
                                (id, config)
                            }));
                        });
                    }
                    Op::SetConfig { session, config_id, value, reply } => {
                        let request: Result<SetSessionConfigOptionRequest, _> = serde_json::from_value(
                            json!({"sessionId": session, "configId": config_id, "value": value}),
                        );
                        let cx = cx.clone();
                        tokio::spawn(async move {
                            let result = match request {
                                Ok(request) => cx.send_request(request).block_task().await.map(|_| ()).map_err(rpc_error),
                                Err(e) => Err(AgentError::Protocol(format!("cannot build the model request: {e}"))),
                            };
                            let _ = reply.send(result);
                        });
                    }
                    Op::Prompt { session, text, reply } => {
                        let request = PromptRequest::new(
                            session_id(&session),
                            vec![ContentBlock::Text(TextContent::new(text))],
                        );
                        let cx = cx.clone();
                        tokio::spawn(async move {
                            let result = cx.send_request(request).block_task().await;
                            let _ = reply.send(result.map_err(rpc_error).map(|r| {
                                serde_json::to_value(r.stop_reason)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_else(|| "unknown".into())
                            }));
                        });
                    }
                }
            }
            Ok(())
        });

    let status = tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!("the ACP connection ended with an error: {}", e.message);
            }
            // Our side closed (shutdown) or the agent closed stdout: give it the grace to exit.
            let grace = grace_rx.await.unwrap_or(Duration::from_secs(2));
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(Ok(status)) => status.to_string(),
                _ => "stopped by iteratr".to_string(),
            }
        }
        status = child.wait() => match status {
            Ok(status) => status.to_string(),
            Err(e) => format!("lost track of it: {e}"),
        },
        // Asked to stop before the connection got going (initialize hangs, say): dropping the
        // connection closes the agent's stdin.
        grace = stop.wait_for(|g| g.is_some()) => {
            let grace = grace.ok().and_then(|g| *g).unwrap_or(Duration::from_millis(200));
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(Ok(status)) => status.to_string(),
                _ => "stopped by iteratr".to_string(),
            }
        }
    };
    process::terminate(&mut child, Duration::from_millis(500)).await;
    let stderr_tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    let description = if stderr_tail.is_empty() {
        status.clone()
    } else {
        format!("{status}; its last output:\n{stderr_tail}")
    };
    tracing::info!(agent = %command_line, %status, "agent ended");
    updates(AgentUpdate::Exited { status });
    let _ = exit_tx.send(Some(description));
}
