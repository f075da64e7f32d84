//! The agent's answers to ACP requests: `initialize`, `session/new`, the model setting,
//! `session/cancel`, and `session/prompt` (which runs the script's next turn, `turn.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, ContentBlock, ContentChunk, Implementation,
    InitializeRequest, InitializeResponse, McpCapabilities, McpServer, NewSessionRequest,
    NewSessionResponse, PromptRequest, PromptResponse, SessionId, SessionUpdate,
    SetSessionConfigOptionRequest, SetSessionConfigOptionResponse, StopReason, Usage,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Client, Error, ErrorCode};
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

use crate::Fake;
use crate::log::{self, Event};
use crate::session::Session;
use crate::turn::{Outcome, session_update};

fn prompt_text(blocks: &[ContentBlock]) -> String {
    blocks
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn to_json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn stop_name(s: &StopReason) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}"))
}

impl Fake {
    /// Whether this request (`initialize`, `new_session`) is the one never to answer; logs it.
    pub fn stalls(&self, request: &str) -> bool {
        let Some((which, nth)) = &self.stall else {
            return false;
        };
        let seen = match request {
            "new_session" => self.new_sessions.fetch_add(1, Ordering::SeqCst) + 1,
            _ => 1,
        };
        let stall = which == request && seen == *nth;
        if stall {
            self.log(Event::Stalled(log::Stalled {
                request: request.to_string(),
            }));
        }
        stall
    }

    pub fn initialize(&self, req: InitializeRequest) -> InitializeResponse {
        self.log(Event::Initialize(log::Initialize {
            protocol_version: to_json(&req.protocol_version),
            client_capabilities: to_json(&req.client_capabilities),
            client_info: to_json(&req.client_info),
        }));
        let response = InitializeResponse::new(ProtocolVersion::V1).agent_capabilities(
            AgentCapabilities::new().mcp_capabilities(McpCapabilities::new().http(self.http)),
        );
        if self.info {
            response.agent_info(Implementation::new("fake-agent", "1.0"))
        } else {
            response
        }
    }

    pub fn new_session(&self, req: NewSessionRequest) -> NewSessionResponse {
        if let Some(code) = self.new_session_exit() {
            self.log(Event::Exit(log::Exit {
                session_id: None,
                code,
                request: Some("new_session".into()),
            }));
            std::process::exit(code);
        }
        let id = SessionId::new(format!("fake-{}-{}", std::process::id(), self.next_id()));
        let mcp_servers = req
            .mcp_servers
            .iter()
            .map(|s| match s {
                McpServer::Http(h) => log::McpServer::Http {
                    name: h.name.clone(),
                    url: h.url.clone(),
                    auth: h
                        .headers
                        .iter()
                        .any(|h| h.name.eq_ignore_ascii_case("authorization")),
                    headers: h.headers.iter().map(|h| h.name.clone()).collect(),
                },
                McpServer::Stdio(s) => log::McpServer::Stdio {
                    name: s.name.clone(),
                    command: s.command.clone(),
                    args: s.args.clone(),
                    env: s.env.iter().map(|e| e.name.clone()).collect(),
                },
                McpServer::Sse(s) => log::McpServer::Sse {
                    name: s.name.clone(),
                    url: s.url.clone(),
                },
                _ => log::McpServer::Other,
            })
            .collect();
        self.log(Event::NewSession(log::NewSession {
            session_id: id.0.to_string(),
            cwd: req.cwd.clone(),
            mcp_servers,
        }));
        let models = self.models();
        let session = Arc::new(Session {
            id: id.clone(),
            cwd: req.cwd,
            mcp_servers: req.mcp_servers,
            model: Mutex::new(models[0].clone()),
            models,
            running: Mutex::new(None),
            mcp: tokio::sync::Mutex::new(HashMap::new()),
        });
        let options = session.config_options();
        self.sessions
            .lock()
            .unwrap()
            .insert(id.0.to_string(), session);
        NewSessionResponse::new(id).config_options(options)
    }

    /// Sets the session's model; logged as `event` (`Event::SetModel`, `Event::SetConfigOption`).
    pub fn set_model(
        &self,
        event: fn(log::SetOption) -> Event,
        sid: &SessionId,
        value: &str,
    ) -> Result<Arc<Session>, Error> {
        let session = self.session(sid);
        let ok = session
            .as_ref()
            .is_some_and(|s| s.models.iter().any(|m| m == value));
        self.log(event(log::SetOption {
            session_id: sid.0.to_string(),
            config_id: "model".into(),
            value: value.to_string(),
            ok,
        }));
        let session =
            session.ok_or_else(|| Error::new(ErrorCode::INVALID_PARAMS, "unknown session"))?;
        if !ok {
            return Err(Error::new(
                ErrorCode::INVALID_PARAMS,
                format!("unknown model {value:?}"),
            ));
        }
        *session.model.lock().unwrap() = value.to_string();
        Ok(session)
    }

    pub fn set_config_option(
        &self,
        req: SetSessionConfigOptionRequest,
    ) -> Result<SetSessionConfigOptionResponse, Error> {
        let value = match req.value.as_value_id() {
            Some(v) => v.0.to_string(),
            None => serde_json::to_value(&req.value)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        };
        if &*req.config_id.0 != "model" {
            self.log(Event::SetConfigOption(log::SetOption {
                session_id: req.session_id.0.to_string(),
                config_id: req.config_id.0.to_string(),
                value,
                ok: false,
            }));
            return Err(Error::new(
                ErrorCode::INVALID_PARAMS,
                format!("unknown config option {:?}", req.config_id.0),
            ));
        }
        let session = self.set_model(Event::SetConfigOption, &req.session_id, &value)?;
        Ok(SetSessionConfigOptionResponse::new(
            session.config_options(),
        ))
    }

    pub fn cancel(&self, n: CancelNotification) {
        let token = self
            .session(&n.session_id)
            .and_then(|s| s.running.lock().unwrap().clone());
        self.log(Event::Cancel(log::Cancel {
            session_id: n.session_id.0.to_string(),
            running: token.is_some(),
        }));
        if let Some(t) = token {
            t.cancel();
        }
    }

    pub fn prompt(
        self: &Arc<Self>,
        req: PromptRequest,
        responder: Responder<PromptResponse>,
        cx: ConnectionTo<Client>,
    ) -> Result<(), Error> {
        let Some(session) = self.session(&req.session_id) else {
            return responder.respond_with_error(Error::new(
                ErrorCode::INVALID_PARAMS,
                format!("unknown session {}", req.session_id),
            ));
        };
        let text = prompt_text(&req.prompt);
        let claimed = self.claim_turn();
        let turn_index = match &claimed {
            Ok(Some((n, _))) => Some(*n),
            _ => None,
        };
        // Registered before the prompt is logged and before the work is spawned, so a cancel
        // right behind the prompt finds it, and so does one sent by a test that saw the log line.
        let token = CancellationToken::new();
        if turn_index.is_some() {
            *session.running.lock().unwrap() = Some(token.clone());
        }
        let session_id = session.id.0.to_string();
        self.log(Event::Prompt(log::Prompt {
            session_id: session_id.clone(),
            turn: turn_index,
            text: text.clone(),
        }));
        let turn = match claimed {
            Err(e) => {
                eprintln!("fake-agent: {e}");
                self.log(Event::PromptDone(log::PromptDone {
                    session_id,
                    turn: None,
                    stop_reason: None,
                    error: Some(e.clone()),
                    exhausted: None,
                }));
                return responder.respond_with_error(Error::new(ErrorCode::INTERNAL_ERROR, e));
            }
            Ok(None) => {
                session_update(
                    &cx,
                    &session.id,
                    SessionUpdate::AgentMessageChunk(ContentChunk::new("script exhausted".into())),
                );
                self.log(Event::PromptDone(log::PromptDone {
                    session_id,
                    turn: None,
                    stop_reason: Some("end_turn".into()),
                    error: None,
                    exhausted: Some(true),
                }));
                return responder.respond(PromptResponse::new(StopReason::EndTurn));
            }
            Ok(Some((n, turn))) => (n, turn),
        };
        let fake = self.clone();
        let cx2 = cx.clone();
        cx.spawn(async move {
            let (n, turn) = turn;
            let outcome = fake.run_turn(&cx2, &session, turn, &text, &token).await;
            if fake.close_mcp {
                session.close_mcp().await;
            }
            {
                let mut running = session.running.lock().unwrap();
                if running.as_ref().is_some_and(|t| t == &token) {
                    *running = None;
                }
            }
            let done = |stop_reason, error| {
                Event::PromptDone(log::PromptDone {
                    session_id,
                    turn: Some(n),
                    stop_reason,
                    error,
                    exhausted: None,
                })
            };
            let result = match outcome {
                Outcome::Stop(stop, used) => {
                    fake.log(done(Some(stop_name(&stop)), None));
                    let usage = used.map(|u| Usage::new(u.input + u.output, u.input, u.output));
                    responder.respond(PromptResponse::new(stop).usage(usage))
                }
                Outcome::Fail(msg) => {
                    fake.log(done(None, Some(msg.clone())));
                    responder.respond_with_error(Error::new(ErrorCode::INTERNAL_ERROR, msg))
                }
            };
            if let Err(e) = result {
                eprintln!("fake-agent: cannot answer session/prompt: {e:?}");
            }
            Ok(())
        })
    }
}
