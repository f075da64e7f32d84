//! A turn of the script, run: its actions one by one, each sending the client what it would
//! see from a real agent (message chunks, tool calls, permission requests, file requests), until
//! the last, a cancel, or an `exit`.

use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    ContentChunk, Cost, Diff, PermissionOption, PermissionOptionKind, Plan, PlanEntry,
    PlanEntryPriority, PlanEntryStatus, ReadTextFileRequest, RequestPermissionOutcome,
    RequestPermissionRequest, SessionId, SessionNotification, SessionUpdate, StopReason, ToolCall,
    ToolCallContent, ToolCallLocation, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields,
    ToolKind, UsageUpdate, WriteTextFileRequest,
};
use agent_client_protocol::{Client, UntypedMessage};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Fake;
use crate::log::{self, Event};
use crate::script::Action;
use crate::session::Session;
use crate::state::Turn;

pub enum Outcome {
    Stop(StopReason, Option<TurnUsage>),
    Fail(String),
}

/// Tokens a turn reports in its prompt reply (from its `usage` actions).
#[derive(Default)]
pub struct TurnUsage {
    pub input: u64,
    pub output: u64,
}

pub fn session_update(cx: &ConnectionTo<Client>, sid: &SessionId, update: SessionUpdate) {
    if let Err(e) = cx.send_notification(SessionNotification::new(sid.clone(), update)) {
        eprintln!("fake-agent: cannot send session/update: {e:?}");
    }
}

fn split_chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len().clamp(1, 3);
    let size = chars.len().div_ceil(n).max(1);
    let chunks: Vec<String> = chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect();
    if chunks.is_empty() {
        vec![String::new()]
    } else {
        chunks
    }
}

/// The session's id as the log gives it.
fn sid(session: &Session) -> String {
    session.id.0.to_string()
}

/// The ACP tool kind a script names (`other` when none or unknown).
fn tool_kind(kind: Option<&str>) -> ToolKind {
    serde_json::from_value(Value::String(kind.unwrap_or("other").to_string()))
        .unwrap_or(ToolKind::Other)
}

/// Runs `argv` in `cwd` and says how it ended (the session fields are the caller's).
async fn run_program(argv: &[String], cwd: &std::path::Path) -> log::Run {
    const KEEP: usize = 4096;
    let text = |bytes: &[u8]| {
        let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(KEEP)]).into_owned();
        s.truncate(s.trim_end().len());
        s
    };
    let mut run = log::Run {
        session_id: String::new(),
        argv: Vec::new(),
        cwd: cwd.to_path_buf(),
        code: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    let Some((program, args)) = argv.split_first() else {
        run.stderr = "no program".into();
        return run;
    };
    match tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
    {
        Ok(out) => {
            run.code = out.status.code();
            run.stdout = text(&out.stdout);
            run.stderr = text(&out.stderr);
        }
        Err(e) => run.stderr = format!("cannot start {program}: {e}"),
    }
    run
}

impl Fake {
    pub async fn run_turn(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        turn: Turn,
        prompt: &str,
        token: &CancellationToken,
    ) -> Outcome {
        let cancelled = Outcome::Stop(StopReason::Cancelled, None);
        let mut used: Option<TurnUsage> = None;
        for action in turn.actions {
            if token.is_cancelled() {
                return cancelled;
            }
            match action {
                Action::Say(text) => {
                    for chunk in split_chunks(&text) {
                        session_update(
                            cx,
                            &session.id,
                            SessionUpdate::AgentMessageChunk(ContentChunk::new(chunk.into())),
                        );
                    }
                }
                Action::Think(text) => session_update(
                    cx,
                    &session.id,
                    SessionUpdate::AgentThoughtChunk(ContentChunk::new(text.into())),
                ),
                Action::Plan(steps) => session_update(
                    cx,
                    &session.id,
                    SessionUpdate::Plan(Plan::new(
                        steps
                            .into_iter()
                            .map(|s| {
                                PlanEntry::new(
                                    s,
                                    PlanEntryPriority::Medium,
                                    PlanEntryStatus::Pending,
                                )
                            })
                            .collect(),
                    )),
                ),
                call @ Action::Tool { .. } => {
                    if self.tool_action(cx, session, call, token).await.is_none() {
                        return cancelled;
                    }
                }
                Action::Parallel(calls) => {
                    let calls = calls
                        .into_iter()
                        .map(|call| self.tool_action(cx, session, call, token));
                    let done = futures_util::future::join_all(calls).await;
                    if done.iter().any(Option::is_none) {
                        return cancelled;
                    }
                }
                Action::Permission { title, kind } => {
                    let kind = tool_kind(kind.as_deref());
                    if !self.permission(cx, session, title, kind, token).await {
                        return cancelled;
                    }
                }
                Action::Read(path) => {
                    let path = session.resolve(&path);
                    let req = ReadTextFileRequest::new(session.id.clone(), path.clone());
                    let result = tokio::select! {
                        r = cx.send_request(req).block_task() => r,
                        _ = token.cancelled() => return cancelled,
                    };
                    let (content, error) = match result {
                        Ok(r) => (Some(r.content), None),
                        Err(e) => (None, Some(e.message)),
                    };
                    self.log(Event::Read(log::Read {
                        session_id: sid(session),
                        path,
                        ok: error.is_none(),
                        content,
                        error,
                    }));
                }
                Action::Write { path, content } => {
                    if !self.write_file(cx, session, &path, content, token).await {
                        return cancelled;
                    }
                }
                Action::Diff { path, old, new } => {
                    let path = session.resolve(&path);
                    let id = format!("call_{}", self.next_id());
                    session_update(
                        cx,
                        &session.id,
                        SessionUpdate::ToolCall(
                            ToolCall::new(id, format!("Edit {}", path.display()))
                                .kind(ToolKind::Edit)
                                .status(ToolCallStatus::Completed)
                                .locations(vec![ToolCallLocation::new(path.clone())])
                                .content(vec![ToolCallContent::Diff(
                                    Diff::new(path.clone(), new).old_text(old),
                                )]),
                        ),
                    );
                    self.log(Event::Diff(log::Diff {
                        session_id: sid(session),
                        path,
                    }));
                }
                Action::SleepMs(ms) => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        () = token.cancelled() => return cancelled,
                    }
                }
                Action::WaitFile(path) => {
                    let path = session.cwd.join(path);
                    self.log(Event::Waiting(log::Waiting {
                        session_id: sid(session),
                        path: path.clone(),
                    }));
                    while !path.exists() {
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(20)) => {}
                            () = token.cancelled() => return cancelled,
                        }
                    }
                }
                Action::Hang => {
                    token.cancelled().await;
                    return cancelled;
                }
                Action::Work { sleep_ms } => {
                    if !self.work(cx, session, prompt, sleep_ms, token).await {
                        return cancelled;
                    }
                }
                Action::Exit(code) => {
                    self.log(Event::Exit(log::Exit {
                        session_id: Some(sid(session)),
                        code,
                        request: None,
                    }));
                    // Make sure what was already sent reached the client (the SDK writes from
                    // its own task, in order): once the client answers a request sent after it,
                    // any answer, "method not found" included. Then die without answering.
                    if let Ok(flush) = UntypedMessage::new("_fake/flush", json!({})) {
                        let answered = cx.send_request(flush).block_task();
                        let _ = tokio::time::timeout(Duration::from_secs(60), answered).await;
                    }
                    std::process::exit(code);
                }
                Action::Fail(msg) => return Outcome::Fail(msg),
                Action::Run(argv) => {
                    let run = tokio::select! {
                        r = run_program(&argv, &session.cwd) => r,
                        () = token.cancelled() => return cancelled,
                    };
                    self.log(Event::Run(log::Run {
                        session_id: sid(session),
                        argv,
                        cwd: session.cwd.clone(),
                        ..run
                    }));
                }
                Action::Usage {
                    input,
                    output,
                    cost,
                } => {
                    let u = used.get_or_insert_with(TurnUsage::default);
                    u.input += input;
                    u.output += output;
                    if let Some(cost) = cost {
                        let update = UsageUpdate::new(u.input + u.output, 200_000)
                            .cost(Cost::new(cost, "USD"));
                        session_update(cx, &session.id, SessionUpdate::UsageUpdate(update));
                    }
                }
            }
        }
        if token.is_cancelled() {
            return cancelled;
        }
        Outcome::Stop(turn.stop, used)
    }

    /// Calls the MCP tool of a `tool` action (anything else does nothing): [`Fake::tool`].
    async fn tool_action(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        call: Action,
        token: &CancellationToken,
    ) -> Option<Value> {
        let Action::Tool {
            name,
            args,
            server,
            kind,
        } = call
        else {
            return Some(Value::Null);
        };
        let kind = tool_kind(kind.as_deref());
        self.tool(cx, session, name, args, server, kind, token)
            .await
    }

    /// Calls an MCP tool and reports it; None when the prompt was cancelled meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn tool(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        name: String,
        args: Value,
        server: Option<String>,
        kind: ToolKind,
        token: &CancellationToken,
    ) -> Option<Value> {
        let id = format!("call_{}", self.next_id());
        session_update(
            cx,
            &session.id,
            SessionUpdate::ToolCall(
                ToolCall::new(id.clone(), name.clone())
                    .kind(kind)
                    .status(ToolCallStatus::Pending)
                    .raw_input(args.clone()),
            ),
        );
        self.log(Event::ToolCall(log::ToolCall {
            session_id: sid(session),
            name: name.clone(),
            args: args.clone(),
        }));
        let result = tokio::select! {
            r = session.call_mcp(server.as_deref(), &name, &args) => Some(r),
            () = token.cancelled() => None,
        };
        let Some(result) = result else {
            session_update(
                cx,
                &session.id,
                SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(
                    id,
                    ToolCallUpdateFields::new()
                        .status(ToolCallStatus::Failed)
                        .content(vec!["cancelled".into()]),
                )),
            );
            self.log(Event::Tool(log::Tool {
                session_id: sid(session),
                name,
                args,
                is_error: true,
                text: "cancelled".into(),
                cancelled: Some(true),
            }));
            return None;
        };
        let (is_error, text, raw) = match result {
            Ok((is_error, text, raw)) => (is_error, text, Some(raw)),
            Err(e) => (true, e, None),
        };
        let status = if is_error {
            ToolCallStatus::Failed
        } else {
            ToolCallStatus::Completed
        };
        session_update(
            cx,
            &session.id,
            SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(
                id,
                ToolCallUpdateFields::new()
                    .status(status)
                    .content(vec![text.clone().into()])
                    .raw_output(raw.clone()),
            )),
        );
        self.log(Event::Tool(log::Tool {
            session_id: sid(session),
            name,
            args,
            is_error,
            text,
            cancelled: None,
        }));
        Some(raw.unwrap_or(Value::Null))
    }

    /// Writes `content` to `path` through the client (`fs/write_text_file`); false if cancelled.
    pub async fn write_file(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        path: &str,
        content: String,
        token: &CancellationToken,
    ) -> bool {
        let path = session.resolve(path);
        let req = WriteTextFileRequest::new(session.id.clone(), path.clone(), content);
        let result = tokio::select! {
            r = cx.send_request(req).block_task() => r,
            _ = token.cancelled() => return false,
        };
        let error = result.err().map(|e| e.message);
        self.log(Event::Write(log::Write {
            session_id: sid(session),
            path,
            ok: error.is_none(),
            error,
        }));
        true
    }

    /// Asks the client for permission; false when the prompt was cancelled meanwhile.
    async fn permission(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        title: String,
        kind: ToolKind,
        token: &CancellationToken,
    ) -> bool {
        let id = format!("call_{}", self.next_id());
        session_update(
            cx,
            &session.id,
            SessionUpdate::ToolCall(
                ToolCall::new(id.clone(), title.clone())
                    .kind(kind)
                    .status(ToolCallStatus::Pending),
            ),
        );
        let options = vec![
            PermissionOption::new("allow_once", "Allow once", PermissionOptionKind::AllowOnce),
            PermissionOption::new(
                "allow_always",
                "Always allow",
                PermissionOptionKind::AllowAlways,
            ),
            PermissionOption::new("reject_once", "Reject", PermissionOptionKind::RejectOnce),
        ];
        let req = RequestPermissionRequest::new(
            session.id.clone(),
            ToolCallUpdate::new(
                id.clone(),
                ToolCallUpdateFields::new()
                    .title(title.clone())
                    .kind(kind)
                    .status(ToolCallStatus::Pending),
            ),
            options,
        );
        let answer = cx.send_request(req).block_task();
        tokio::pin!(answer);
        let (result, was_cancelled) = tokio::select! {
            r = &mut answer => (Some(r), false),
            () = token.cancelled() => {
                // The client should now answer with the cancelled outcome; give it a moment.
                (tokio::time::timeout(Duration::from_secs(2), &mut answer).await.ok(), true)
            }
        };
        let (outcome, error) = match result {
            Some(Ok(r)) => match r.outcome {
                RequestPermissionOutcome::Selected(s) => (s.option_id.0.to_string(), None),
                RequestPermissionOutcome::Cancelled => ("cancelled".to_string(), None),
                _ => ("unknown".to_string(), None),
            },
            Some(Err(e)) => ("error".to_string(), Some(e.message)),
            None => ("cancelled".to_string(), None),
        };
        let allowed = outcome.starts_with("allow");
        self.log(Event::Permission(log::Permission {
            session_id: sid(session),
            title,
            kind: serde_json::to_value(kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_default(),
            outcome,
            error,
        }));
        session_update(
            cx,
            &session.id,
            SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(
                id,
                ToolCallUpdateFields::new().status(if allowed {
                    ToolCallStatus::Completed
                } else {
                    ToolCallStatus::Failed
                }),
            )),
        );
        !(was_cancelled || token.is_cancelled())
    }
}
