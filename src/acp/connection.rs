//! The agent's side of the thread: the child process, the ACP connection with its handlers
//! (updates, permission requests, file requests), and the loop that carries out the operations
//! [`super::Agent`] sends.

use std::collections::VecDeque;
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
    Agent as AgentRole, ByteStreams, Client, ErrorCode, UntypedMessage, on_receive_notification,
    on_receive_request,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::client::{AgentError, AgentSpec, McpEntry, Op, UpdateSink};
use super::permissions::policy::{Sandbox, slice_lines};
use super::permissions::{CallInfo, Decided, ToolCalls};
use super::updates::{Taken, take_updates};
use super::{AgentInfo, AgentUpdate, convert_updates};
use crate::frontend::AgentExit;
use crate::process;

/// Lines of the agent's stderr kept for error messages.
const STDERR_TAIL: usize = 20;

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

/// The answer to a permission request for `decided`, told to the front ends first. Allowing picks
/// the agent's "once" option (iteratr remembers "always" itself, so it keeps seeing the tool).
fn answer_permission(
    id: u64,
    info: &CallInfo,
    mut decided: Decided,
    options: &[(PermissionOptionKind, String)],
    updates: &UpdateSink,
) -> RequestPermissionResponse {
    use crate::session::PermissionDecision;
    let wanted: &[PermissionOptionKind] = if decided.decision.allowed() {
        &[
            PermissionOptionKind::AllowOnce,
            PermissionOptionKind::AllowAlways,
        ]
    } else {
        &[
            PermissionOptionKind::RejectOnce,
            PermissionOptionKind::RejectAlways,
        ]
    };
    let option = if decided.decision == PermissionDecision::Cancelled {
        None
    } else {
        wanted
            .iter()
            .find_map(|k| options.iter().find(|(kind, _)| kind == k))
            .map(|(_, id)| id.clone())
    };
    if option.is_none() && decided.decision.allowed() {
        // Nothing to choose that allows it: the request ends unanswered.
        decided.decision = PermissionDecision::Cancelled;
    }
    if decided.quiet() {
        // Counted per iteration, not shown or recorded one by one.
        tracing::debug!(tool = %info.tool, title = %info.title, "permission allowed");
        updates(AgentUpdate::AllowedQuietly {
            tool: info.tool.clone(),
        });
    } else {
        tracing::info!(
            tool = %info.tool,
            title = %info.title,
            decision = decided.decision.as_str(),
            rule = decided.rule.as_deref().unwrap_or(""),
            "permission request"
        );
        updates(AgentUpdate::Permission {
            id,
            tool: info.tool.clone(),
            title: info.title.clone(),
            decision: decided.decision,
            rule: decided.rule,
            by_user: decided.by_user,
        });
    }
    let outcome = match option {
        Some(id) => RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(id)),
        None => RequestPermissionOutcome::Cancelled,
    };
    RequestPermissionResponse::new(outcome)
}

/// What to call an agent whose `initialize` answer has no `agentInfo`: its command as typed, with
/// paths shortened to their file names (`node /opt/agents/agent.js` is `node agent.js`).
fn command_name(argv: &[String]) -> String {
    argv.iter()
        .map(|word| match word.rsplit_once('/') {
            Some((_, file)) if !file.is_empty() => file,
            _ => word.as_str(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn rpc_error(e: agent_client_protocol::Error) -> AgentError {
    if agent_client_protocol::is_incoming_transport_closed(&e)
        || agent_client_protocol::is_connection_terminated(&e)
    {
        // The agent closed its end: it is exiting. `Agent::call` says how it ended.
        return AgentError::Exited(String::new());
    }
    AgentError::Protocol {
        message: e.message,
        code: i32::from(e.code),
    }
}

/// The agent thread: the child process, the connection, and the operations loop.
pub(super) async fn run(
    spec: AgentSpec,
    mut ops: mpsc::UnboundedReceiver<Op>,
    mut stop: watch::Receiver<Option<Duration>>,
    updates: UpdateSink,
    init_tx: oneshot::Sender<Result<(AgentInfo, Option<u32>), AgentError>>,
    exit_tx: watch::Sender<Option<String>>,
) {
    let command_line = spec.argv.join(" ");
    let fallback_name = command_name(&spec.argv);
    let sandbox = match Sandbox::new(&spec.cwd).map(|s| s.with_private(&spec.private)) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let _ = init_tx.send(Err(AgentError::ProjectDir {
                dir: spec.cwd.clone(),
                cause: Arc::new(e),
            }));
            return;
        }
    };
    if spec.argv.is_empty() {
        let _ = init_tx.send(Err(AgentError::EmptyCommand));
        return;
    }
    // Under `--sandbox`, bubblewrap starts the agent.
    let wrapped = match &spec.sandbox {
        Some(s) => match s.wrap(&spec.argv, sandbox.root(), &spec.private, &spec.env) {
            Ok(w) => Some(w),
            Err(e) => {
                let _ = init_tx.send(Err(AgentError::Sandbox(e)));
                return;
            }
        },
        None => None,
    };
    let argv = wrapped.as_ref().map_or(&spec.argv, |w| &w.argv);
    let Some(mut guarded) = process::guarded_command(argv, sandbox.root()) else {
        let _ = init_tx.send(Err(AgentError::EmptyCommand));
        return;
    };
    guarded
        .cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    for name in wrapped.iter().flat_map(|w| &w.env_removed) {
        guarded.cmd.env_remove(name);
    }
    // Whatever the agent starts (shell commands, servers) goes with it if iteratr dies.
    let (mut child, _group) = match guarded.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = init_tx.send(Err(AgentError::Spawn {
                command: command_line,
                cause: Arc::new(e),
            }));
            return;
        }
    };
    let pid = child.id();
    tracing::info!(agent = %command_line, pid = ?pid, "agent started");
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = init_tx.send(Err(AgentError::Stdio));
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

    let approvals = Arc::clone(&spec.approvals);
    let cancel_approvals = Arc::clone(&spec.approvals);
    // This connection's number: a stopped turn or a gone agent ends only its own requests.
    let asker = spec.approvals.next_id();
    let tool_calls = Arc::new(ToolCalls::default());
    let asked_calls = Arc::clone(&tool_calls);
    let (taken_calls, on_taken) = (Arc::clone(&tool_calls), Arc::clone(&updates));
    let handle_update = move |calls: &ToolCalls, on_update: &UpdateSink, v: &Value| {
        tracing::trace!(target: "iteratr::acp", update = %v);
        calls.observe(v);
        for u in convert_updates(v) {
            on_update(u);
        }
    };
    let stdout = take_updates(stdout, move |taken| match taken {
        Taken::Text(text) => on_taken(AgentUpdate::Text { text }),
        Taken::Thought(text) => on_taken(AgentUpdate::Thought { text }),
        Taken::Other(v) => handle_update(&taken_calls, &on_taken, &v),
    });
    let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());
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
                // Only what `take_updates` did not understand arrives here.
                if let Ok(v) = serde_json::to_value(&n.update) {
                    handle_update(&tool_calls, &on_update, &v);
                }
                Ok(())
            },
            on_receive_notification!(),
        )
        .on_receive_request(
            async move |req: RequestPermissionRequest, responder, _cx| {
                let call = serde_json::to_value(&req.tool_call).unwrap_or(Value::Null);
                let info = asked_calls.describe(&call);
                let id = approvals.next_id();
                let options: Vec<(PermissionOptionKind, String)> = req
                    .options
                    .iter()
                    .map(|o| (o.kind, o.option_id.0.to_string()))
                    .collect();
                match approvals.decide_now(&info) {
                    Some(decided) => {
                        let response = answer_permission(id, &info, decided, &options, &on_permission);
                        responder.respond(response)
                    }
                    None => {
                        // A person answers: wait for them off the dispatch loop.
                        let (approvals, on_permission) = (Arc::clone(&approvals), Arc::clone(&on_permission));
                        tokio::spawn(async move {
                            let decided = approvals.ask(id, asker, &info, on_permission.as_ref()).await;
                            let response = answer_permission(id, &info, decided, &options, &on_permission);
                            if let Err(e) = responder.respond(response) {
                                tracing::debug!("cannot answer the permission request: {}", e.message);
                            }
                        });
                        Ok(())
                    }
                }
            },
            on_receive_request!(),
        )
        .on_receive_request(
            async move |req: ReadTextFileRequest, responder, _cx| {
                let result = read_box.readable(&req.path).map_err(|e| e.to_string()).and_then(|p| {
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
                let result = write_box.writable(&req.path).map_err(|e| e.to_string()).and_then(|p| {
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
                    let _ = init_tx.send(Err(AgentError::InitRefused {
                        message: e.message.clone(),
                    }));
                    return Err(e);
                }
            };
            let version = serde_json::to_value(response.protocol_version)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let (name, agent_version) = match response.agent_info.as_ref() {
                Some(i) if !i.name.trim().is_empty() => (i.name.clone(), i.version.clone()),
                _ => (fallback_name.clone(), String::new()),
            };
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
                        // Requests waiting for a person end with the turn.
                        cancel_approvals.cancel_from(asker);
                        let _ = cx.send_notification(CancelNotification::new(session_id(&session)));
                    }
                    Op::NewSession { cwd, servers, reply } => {
                        let request = NewSessionRequest::new(cwd)
                            .mcp_servers(servers.into_iter().map(mcp_server).collect());
                        // Sent untyped to keep the whole reply: the typed one drops `models`.
                        let request = UntypedMessage::new("session/new", request);
                        let cx = cx.clone();
                        tokio::spawn(async move {
                            let result = match request {
                                Ok(request) => cx.send_request(request).block_task().await.map_err(rpc_error),
                                Err(e) => Err(rpc_error(e)),
                            };
                            let _ = reply.send(result.and_then(|r| {
                                match r.get("sessionId").and_then(Value::as_str) {
                                    Some(id) => Ok((id.to_string(), r.clone())),
                                    None => Err(AgentError::Protocol {
                                        message: format!("the session/new reply has no sessionId: {r}"),
                                        code: i32::from(ErrorCode::INVALID_PARAMS),
                                    }),
                                }
                            }));
                        });
                    }
                    Op::SetModel { session, model_id, reply } => {
                        let request = UntypedMessage::new(
                            "session/set_model",
                            json!({"sessionId": session, "modelId": model_id}),
                        );
                        let cx = cx.clone();
                        tokio::spawn(async move {
                            let result = match request {
                                Ok(request) => cx.send_request(request).block_task().await.map(|_| ()).map_err(rpc_error),
                                Err(e) => Err(AgentError::ModelRequest(e.message)),
                            };
                            let _ = reply.send(result);
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
                                Err(e) => Err(AgentError::ModelRequest(e.to_string())),
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
                                let stop = serde_json::to_value(r.stop_reason)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_else(|| "unknown".into());
                                let usage = r.usage.map(|u| crate::frontend::Usage {
                                    input_tokens: u.input_tokens,
                                    output_tokens: u.output_tokens,
                                    cache_read_tokens: u.cached_read_tokens.unwrap_or(0),
                                    cache_write_tokens: u.cached_write_tokens.unwrap_or(0),
                                    cost: None,
                                    currency: None,
                                });
                                super::client::PromptDone { stop, usage }
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
                Ok(Ok(status)) => AgentExit::from(status),
                _ => AgentExit::StoppedByIteratr,
            }
        }
        status = child.wait() => match status {
            Ok(status) => AgentExit::from(status),
            Err(e) => AgentExit::Lost(e.to_string()),
        },
        // Asked to stop before the connection got going (initialize hangs, say): dropping the
        // connection closes the agent's stdin.
        grace = stop.wait_for(|g| g.is_some()) => {
            let grace = grace.ok().and_then(|g| *g).unwrap_or(Duration::from_millis(200));
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(Ok(status)) => AgentExit::from(status),
                _ => AgentExit::StoppedByIteratr,
            }
        }
    };
    process::terminate(&mut child, Duration::from_millis(500)).await;
    spec.approvals.cancel_from(asker);
    let stderr_tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    let description = if stderr_tail.is_empty() {
        status.to_string()
    } else {
        format!("{status}; its last output:\n{stderr_tail}")
    };
    tracing::info!(agent = %command_line, %status, "agent ended");
    updates(AgentUpdate::Exited { status });
    let _ = exit_tx.send(Some(description));
}

#[cfg(test)]
mod tests {
    use super::command_name;

    #[test]
    fn an_agent_without_info_is_named_by_its_command() {
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            command_name(&argv(&["node", "/opt/agents/agent.js"])),
            "node agent.js"
        );
        assert_eq!(command_name(&argv(&["opencode", "acp"])), "opencode acp");
        assert_eq!(command_name(&argv(&["./run/", "--x=a/b"])), "./run/ b");
    }
}
