//! The JSON API under `/api/`: the sessions, a session's state with the tail of its log, the ops
//! a person sends (each one the core's [`Op`], recorded with who sent it), and a commit's diff.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Web;
use super::auth::{Role, refuse};
use crate::control::Control;
use crate::frontend::{Answer, Op};
use crate::session::{Command, ItemAnswer, NewTask, TaskStatus};
use crate::session_handle::ExecError;

/// Log events the session page starts with (older ones are in the snapshot's state).
pub(crate) const TAIL: u64 = 200;
/// Largest op body accepted.
pub(crate) const MAX_OP_BYTES: usize = 64 * 1024;
/// Largest diff sent to a browser.
const MAX_DIFF_BYTES: usize = 2 * 1024 * 1024;

pub(crate) fn json(value: &serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// A store or session error as the API says it.
pub(crate) fn failed(e: &ExecError) -> Response {
    match e {
        ExecError::Rejected(rule) => refuse(StatusCode::BAD_REQUEST, &rule.to_string()),
        ExecError::Store(store) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &crate::session::text::error_chain(store),
        ),
    }
}

/// `GET /api/sessions`: every session, summarized, and what this token may do.
pub(crate) async fn sessions(
    State(web): State<Arc<Web>>,
    Extension(role): Extension<Role>,
) -> Response {
    match web.hub.summaries().await {
        Ok(sessions) => json(&serde_json::json!({
            "store": web.describe,
            "role": role.as_str(),
            "sessions": sessions,
        })),
        Err(e) => failed(&e),
    }
}

/// `GET /api/sessions/{name}`: the session's state (as `iteratr status --json` shows it), the
/// last [`TAIL`] events of its log, and the summary line.
pub(crate) async fn session(
    State(web): State<Arc<Web>>,
    Extension(role): Extension<Role>,
    Path(name): Path<String>,
) -> Response {
    let (state, view) = match web.hub.view(&name).await {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    if state.last_seq == 0 {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("there is no session {name} in {}", web.describe),
        );
    }
    let after = state.last_seq.saturating_sub(TAIL);
    let tail = match web.hub.log().read(&name, after, TAIL as usize).await {
        Ok(tail) => tail,
        Err(e) => return failed(&e.into()),
    };
    let last_at = tail.last().map_or(0, |e| e.event.at_ms);
    json(&serde_json::json!({
        "role": role.as_str(),
        "summary": super::hub::summary(&name, &state, last_at),
        "state": *view,
        "tail": tail.iter().map(super::live::told).collect::<Vec<_>>(),
        "repository": web.repo.is_some(),
    }))
}

/// An op as the page (or a script) sends it.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum OpRequest {
    Message {
        text: String,
    },
    Pause,
    Resume,
    Stop {
        #[serde(default)]
        now: bool,
    },
    Approve {
        request: u64,
        #[serde(default)]
        always: bool,
    },
    Deny {
        request: u64,
    },
    Answer {
        question: u64,
        answers: Vec<ItemAnswer>,
    },
    AddTask {
        content: String,
        #[serde(default)]
        priority: Option<i64>,
        #[serde(default)]
        depends_on: Vec<String>,
    },
    SetPriority {
        task: String,
        priority: i64,
    },
    SetStatus {
        task: String,
        status: TaskStatus,
    },
}

impl OpRequest {
    /// The core's op for it.
    pub(crate) fn into_op(self) -> Op {
        match self {
            OpRequest::Message { text } => Op::Message(text),
            OpRequest::Pause => Op::Pause,
            OpRequest::Resume => Op::Resume,
            OpRequest::Stop { now } => Op::AskStop { now },
            OpRequest::Approve { request, always } => Op::AnswerRequest(
                request,
                if always {
                    Answer::AllowAlways
                } else {
                    Answer::AllowOnce
                },
            ),
            OpRequest::Deny { request } => Op::AnswerRequest(request, Answer::Deny),
            OpRequest::Answer { question, answers } => Op::AnswerQuestion(question, answers),
            OpRequest::AddTask {
                content,
                priority,
                depends_on,
            } => Op::Session(Command::AddTasks(vec![NewTask {
                content,
                status: None,
                priority,
                depends_on,
            }])),
            OpRequest::SetPriority { task, priority } => {
                Op::Session(Command::SetPriority { task, priority })
            }
            OpRequest::SetStatus { task, status } => {
                Op::Session(Command::SetStatus { task, status })
            }
        }
    }
}

/// `POST /api/sessions/{name}/ops`: carries an op out as the person at the browser; the answer is
/// the session's summary after it, or what was wrong.
pub(crate) async fn op(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_OP_BYTES {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("an op is at most {MAX_OP_BYTES} bytes"),
        );
    }
    let request: OpRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!(
                    "not an op ({e}); send JSON like {{\"op\": \"message\", \"text\": \"...\"}} (ops: message, pause, resume, stop, approve, deny, answer, add_task, set_priority, set_status)"
                ),
            );
        }
    };
    let handle = match web.hub.handle(&name).await {
        Ok(h) => h,
        Err(e) => return failed(&e),
    };
    match handle.refresh().await {
        Ok(state) if state.last_seq == 0 => {
            return refuse(
                StatusCode::NOT_FOUND,
                &format!("there is no session {name} in {}", web.describe),
            );
        }
        Ok(_) => {}
        Err(e) => return failed(&e),
    }
    let who = format!("{} (web, {})", crate::process::who(), peer.ip());
    let control = Control::new(Arc::clone(&handle), None, None).acting_for(who);
    match control.apply(request.into_op()).await {
        Ok(()) => match web.hub.view(&name).await {
            Ok((state, _)) => json(&serde_json::json!({
                "ok": true,
                "summary": super::hub::summary(&name, &state, crate::clock::now_ms()),
            })),
            Err(e) => failed(&e),
        },
        Err(message) => refuse(StatusCode::CONFLICT, &message),
    }
}

/// `GET /api/sessions/{name}/commits/{hash}`: what the commit holds, from the repository the
/// server runs in; without one, the hash alone.
pub(crate) async fn commit(
    State(web): State<Arc<Web>>,
    Path((_name, hash)): Path<(String, String)>,
) -> Response {
    if hash.len() < 4 || hash.len() > 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a commit is named by its hash (4 to 64 hex digits)",
        );
    }
    let Some(repo) = &web.repo else {
        return json(&serde_json::json!({
            "hash": hash,
            "available": false,
            "reason": "the dashboard runs outside the project's repository",
        }));
    };
    match crate::git::show_commit(repo, &hash, MAX_DIFF_BYTES).await {
        Ok(text) => json(&serde_json::json!({ "hash": hash, "available": true, "text": text })),
        Err(e) => json(&serde_json::json!({
            "hash": hash,
            "available": false,
            "reason": e.to_string(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_read_strictly_and_become_the_cores_ops() {
        let op: OpRequest = serde_json::from_str(r#"{"op":"approve","request":3}"#).unwrap();
        assert_eq!(op.into_op(), Op::AnswerRequest(3, Answer::AllowOnce));
        let op: OpRequest = serde_json::from_str(r#"{"op":"stop","now":true}"#).unwrap();
        assert_eq!(op.into_op(), Op::AskStop { now: true });
        let op: OpRequest = serde_json::from_str(r#"{"op":"pause"}"#).unwrap();
        assert_eq!(op.into_op(), Op::Pause);
        for bad in [
            r#"{"op":"explode"}"#,
            r#"{"op":"message"}"#,
            r#"{"op":"message","text":"x","extra":1}"#,
            r#"{"op":"set_status","task":"TAS-1","status":"nearly"}"#,
            r#"{"op":"approve","request":"P-1; rm -rf /"}"#,
        ] {
            assert!(serde_json::from_str::<OpRequest>(bad).is_err(), "{bad}");
        }
    }
}
