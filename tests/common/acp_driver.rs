//! A client for the scripted fake ACP agent (`examples/fake_agent/`) built on the
//! `agent-client-protocol` crate's own client, independent of iteratr's: spawning the agent,
//! running a client that records what it sees, the agent's log, and reading the updates.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio as ProcessStdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::PATIENCE;
use super::fake_agent::script::Script;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    ClientCapabilities, ContentBlock, FileSystemCapabilities, InitializeRequest,
    InitializeResponse, McpServer, NewSessionRequest, NewSessionResponse, PromptRequest,
    PromptResponse, ReadTextFileRequest, ReadTextFileResponse, RequestPermissionOutcome,
    RequestPermissionRequest, RequestPermissionResponse, SelectedPermissionOutcome,
    SessionConfigKind, SessionConfigOption, SessionConfigSelectOptions, SessionId,
    SessionNotification, SessionUpdate, ToolCallContent, ToolCallStatus, WriteTextFileRequest,
    WriteTextFileResponse,
};
use agent_client_protocol::{Agent, Client, Error, ErrorCode, Lines};
use futures_util::{Sink, Stream};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub type Transport = Lines<
    Pin<Box<dyn Sink<String, Error = io::Error> + Send>>,
    Pin<Box<dyn Stream<Item = io::Result<String>> + Send>>,
>;

pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

/// Starts the fake agent with its pipes wrapped as an ACP line transport.
pub fn spawn_agent(script: &Path, log: &Path, env: &[(&str, &str)]) -> (Child, Transport) {
    let mut child = Command::new(super::fake_agent::path())
        .arg("--script")
        .arg(script)
        .env("ITERATR_FAKE_AGENT_LOG", log)
        .env_remove("ITERATR_FAKE_AGENT_NO_HTTP")
        .env_remove("ITERATR_FAKE_AGENT_SCRIPT")
        .envs(env.iter().copied())
        .stdin(ProcessStdio::piped())
        .stdout(ProcessStdio::piped())
        .stderr(ProcessStdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let outgoing = futures_util::sink::unfold(stdin, async |mut w, line: String| {
        w.write_all(line.as_bytes()).await?;
        w.write_all(b"\n").await?;
        w.flush().await?;
        Ok::<_, io::Error>(w)
    });
    let incoming = futures_util::stream::unfold(BufReader::new(stdout).lines(), async |mut l| {
        match l.next_line().await {
            Ok(Some(line)) => Some((Ok(line), l)),
            Ok(None) => None,
            Err(e) => Some((Err(e), l)),
        }
    });
    let transport: Transport = Lines::new(Box::pin(outgoing), Box::pin(incoming));
    (child, transport)
}

pub async fn exit_code(child: &mut Child) -> Option<i32> {
    within("agent exit", child.wait()).await.unwrap().code()
}

/// What the client saw coming from the agent.
#[derive(Default)]
pub struct Seen {
    pub updates: Vec<SessionUpdate>,
    pub permissions: Vec<RequestPermissionRequest>,
}

pub type Shared = Arc<Mutex<Seen>>;

/// Runs a client over `transport`: it records updates and permission requests (answered with
/// `allow_always`) and serves `fs/*` from the real file system.
pub async fn with_client<R>(
    transport: Transport,
    seen: Shared,
    body: impl AsyncFnOnce(ConnectionTo<Agent>) -> Result<R, Error>,
) -> Result<R, Error> {
    let (s1, s2) = (seen.clone(), seen);
    Client
        .v1()
        .name("smoke-client")
        .on_receive_notification(
            async move |n: SessionNotification, _cx| {
                s1.lock().unwrap().updates.push(n.update);
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |req: RequestPermissionRequest, responder, _cx| {
                s2.lock().unwrap().permissions.push(req);
                responder.respond(RequestPermissionResponse::new(
                    RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(
                        "allow_always",
                    )),
                ))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: ReadTextFileRequest, responder, _cx| match std::fs::read_to_string(
                &req.path,
            ) {
                Ok(content) => responder.respond(ReadTextFileResponse::new(content)),
                Err(e) => responder.respond_with_error(Error::new(
                    ErrorCode::RESOURCE_NOT_FOUND,
                    format!("{}: {e}", req.path.display()),
                )),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: WriteTextFileRequest, responder, _cx| {
                let written = req
                    .path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&req.path, &req.content));
                match written {
                    Ok(()) => responder.respond(WriteTextFileResponse::new()),
                    Err(e) => responder.respond_with_error(Error::new(
                        ErrorCode::INTERNAL_ERROR,
                        format!("{}: {e}", req.path.display()),
                    )),
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, body)
        .await
}

pub async fn initialize(cx: &ConnectionTo<Agent>) -> InitializeResponse {
    let caps = ClientCapabilities::new().fs(FileSystemCapabilities::new()
        .read_text_file(true)
        .write_text_file(true));
    within(
        "initialize",
        cx.send_request(InitializeRequest::new(ProtocolVersion::V1).client_capabilities(caps))
            .block_task(),
    )
    .await
    .unwrap()
}

pub async fn new_session(
    cx: &ConnectionTo<Agent>,
    cwd: &Path,
    servers: Vec<McpServer>,
) -> NewSessionResponse {
    within(
        "session/new",
        cx.send_request(NewSessionRequest::new(cwd).mcp_servers(servers))
            .block_task(),
    )
    .await
    .unwrap()
}

pub async fn prompt(
    cx: &ConnectionTo<Agent>,
    session: &SessionId,
    text: &str,
) -> Result<PromptResponse, Error> {
    within(
        "session/prompt",
        cx.send_request(PromptRequest::new(session.clone(), vec![text.into()]))
            .block_task(),
    )
    .await
}

pub fn write_script(dir: &Path, script: &Script) -> PathBuf {
    let path = dir.join("script.json");
    std::fs::write(&path, script.to_json()).unwrap();
    path
}

/// Waits until the agent has logged `n` prompts: it has taken the turn, and a cancel finds it.
pub async fn prompts_logged(log: &Path, n: usize) {
    within("the agent's prompt", async {
        while std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches(r#""event":"prompt""#)
            .count()
            < n
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

pub fn block_text(b: &ContentBlock) -> String {
    match b {
        ContentBlock::Text(t) => t.text.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

pub fn message_chunks(updates: &[SessionUpdate]) -> Vec<String> {
    updates
        .iter()
        .filter_map(|u| match u {
            SessionUpdate::AgentMessageChunk(c) => Some(block_text(&c.content)),
            _ => None,
        })
        .collect()
}

pub fn tool_content_text(content: &[ToolCallContent]) -> String {
    content
        .iter()
        .filter_map(|c| match c {
            ToolCallContent::Content(c) => Some(block_text(&c.content)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The final status and text of the tool call titled `title`.
pub fn tool_result(updates: &[SessionUpdate], title: &str) -> (Value, ToolCallStatus, String) {
    let call = updates
        .iter()
        .find_map(|u| match u {
            SessionUpdate::ToolCall(c) if c.title == title => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no tool_call titled {title}"));
    let mut status = call.status;
    let mut text = tool_content_text(&call.content);
    for u in updates {
        if let SessionUpdate::ToolCallUpdate(up) = u
            && up.tool_call_id == call.tool_call_id
        {
            if let Some(s) = up.fields.status {
                status = s;
            }
            if let Some(c) = &up.fields.content {
                text = tool_content_text(c);
            }
        }
    }
    (call.raw_input.unwrap_or(Value::Null), status, text)
}

pub fn model_option(options: &[SessionConfigOption]) -> (String, Vec<String>) {
    let model = options
        .iter()
        .find(|o| &*o.id.0 == "model")
        .expect("a model config option");
    let SessionConfigKind::Select(select) = &model.kind else {
        panic!("model is not a select: {model:?}")
    };
    let SessionConfigSelectOptions::Ungrouped(list) = &select.options else {
        panic!("grouped options: {model:?}")
    };
    (
        select.current_value.0.to_string(),
        list.iter().map(|o| o.value.0.to_string()).collect(),
    )
}

pub fn iteratr_status(data_dir: &Path, session: &str) -> Value {
    let mut cmd = std::process::Command::new(super::bin());
    cmd.arg("--data-dir").arg(data_dir);
    super::status_json(cmd, session)
}
