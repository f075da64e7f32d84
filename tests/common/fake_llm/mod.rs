//! Scripted fake LLM servers for the tests that drive real agents (`tests/it/real_agents.rs`): an
//! OpenAI-compatible chat-completions endpoint (what opencode's `@ai-sdk/openai-compatible`
//! provider calls) and an Anthropic Messages endpoint (what Claude Code calls), both streaming
//! (SSE), bound to `127.0.0.1` on a random port.
//!
//! A server follows a script: a list of [`Step`]s consumed in order, one per request that offers
//! tools (the agent's main loop). Each step says what the last message of the conversation must be
//! (the prompt iteratr rendered, or the results of the tool calls of the previous step, which
//! must have succeeded, or with [`failed`] must include a failure) and what to answer (text, which
//! ends the turn, or tool calls):
//!
//! ```ignore
//! let llm = FakeLlm::start(Api::OpenAi, vec![
//!     prompt("planning iteration").call("iteratr_session-complete", json!({})),
//!     failed("not done: TAS-1").call("iteratr_task-list", json!({})),
//!     result("TAS-1").say("Planned."),
//! ]);
//! ```
//!
//! Whether a tool call failed is on the wire only in the Anthropic format (`is_error` of a
//! `tool_result`): a chat-completions `tool` message is plain text (opencode sends an MCP
//! `isError` result as its bare text). There the flag is unknown and the step matches on its text;
//! the test then checks the outcomes the agent reported over ACP against
//! [`FakeLlm::failed_calls`].
//!
//! Requests without tools (opencode's title generation, Claude Code's side queries) get a short
//! text and consume no step. A request that does not match its step, or that comes after the last
//! step, is answered with a text that ends the turn and recorded in [`FakeLlm::errors`]; the step
//! is not consumed. Every request (path, headers, JSON body) is recorded.

use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

mod wire;

use wire::{
    anthropic_message, anthropic_stream, json_response, last_anthropic, last_openai, openai_stream,
    plain, sse,
};

/// Which wire format the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/chat/completions` (streamed `chat.completion.chunk`s, then `data: [DONE]`).
    OpenAi,
    /// `POST /v1/messages` (streamed Messages events) and `POST /v1/messages/count_tokens`.
    Anthropic,
}

/// What the last message of a conversation must be for a step to apply.
#[derive(Clone, Debug)]
pub enum Expect {
    /// A user message (the prompt) containing this text.
    Prompt(String),
    /// Tool results (all those after the last assistant message, joined) containing this text;
    /// `is_error`: whether one of them failed (else all succeeded).
    ToolResult { text: String, is_error: bool },
}

/// What a step answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Text, ending the turn.
    Text(String),
    /// Tool calls `(name, arguments)`, in one assistant message (possibly after some text).
    Tools {
        text: String,
        calls: Vec<(String, Value)>,
    },
}

#[derive(Clone, Debug)]
pub struct Step {
    pub expect: Expect,
    pub reply: Reply,
    /// Applies only to a conversation that contains this text (see [`Step::in_thread`]).
    pub thread: Option<String>,
}

impl Step {
    /// This step belongs to the conversations that contain `text` (a worker's task, say). When
    /// a script has threads, conversations run at once: a request takes the first step not yet
    /// used whose thread it is in and whose condition it meets, in order within a thread.
    pub fn in_thread(mut self, text: &str) -> Step {
        self.thread = Some(text.to_string());
        self
    }
}

/// The condition half of a step; finish it with [`When::call`], [`When::calls`] or [`When::say`].
pub struct When(Expect);

/// A step that applies when the last message is the user prompt and contains `text`.
pub fn prompt(text: &str) -> When {
    When(Expect::Prompt(text.to_string()))
}

/// A step that applies when the last message holds tool results containing `text`, all of
/// them successful.
pub fn result(text: &str) -> When {
    tool_result(text, false)
}

/// A step that applies when the last message holds tool results containing `text`, one of them
/// a failure (`isError`).
pub fn failed(text: &str) -> When {
    tool_result(text, true)
}

fn tool_result(text: &str, is_error: bool) -> When {
    assert!(
        !text.is_empty(),
        "a script step must say what the tool result contains"
    );
    When(Expect::ToolResult {
        text: text.to_string(),
        is_error,
    })
}

impl When {
    pub fn call(self, tool: &str, args: Value) -> Step {
        self.calls(vec![(tool, args)])
    }

    pub fn calls(self, calls: Vec<(&str, Value)>) -> Step {
        Step {
            expect: self.0,
            reply: Reply::Tools {
                text: String::new(),
                calls: calls.into_iter().map(|(n, a)| (n.to_string(), a)).collect(),
            },
            thread: None,
        }
    }

    /// Says `text`, then calls `tool`.
    pub fn say_and_call(self, text: &str, tool: &str, args: Value) -> Step {
        let mut step = self.call(tool, args);
        if let Reply::Tools { text: t, .. } = &mut step.reply {
            *t = text.to_string();
        }
        step
    }

    pub fn say(self, text: &str) -> Step {
        Step {
            expect: self.0,
            reply: Reply::Text(text.to_string()),
            thread: None,
        }
    }
}

/// The last message of a conversation, as the script sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Last {
    Prompt(String),
    /// `is_error`: `None` when the wire format does not say (chat completions).
    ToolResult {
        text: String,
        is_error: Option<bool>,
    },
    Other(String),
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Whether the request offered tools (and so took a step of the script).
    pub main: bool,
    /// The index of the step it was answered with.
    pub step: Option<usize>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn model(&self) -> Option<&str> {
        self.body["model"].as_str()
    }

    /// The names of the tools the request offered to the model.
    pub fn tool_names(&self) -> Vec<String> {
        tool_names(&self.body)
    }
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().or(t["name"].as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Default)]
struct Inner {
    steps: Vec<Step>,
    /// Steps answered (with threads, not necessarily the first ones).
    next: usize,
    used: Vec<bool>,
    requests: Vec<Request>,
    errors: Vec<String>,
    ids: u64,
}

struct Shared {
    api: Api,
    inner: Mutex<Inner>,
}

/// A running fake LLM server; stopped when dropped.
pub struct FakeLlm {
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl FakeLlm {
    /// Starts a server on `127.0.0.1:0` in its own thread (usable from sync and async tests).
    pub fn start(api: Api, steps: Vec<Step>) -> FakeLlm {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            api,
            inner: Mutex::new(Inner {
                steps,
                ..Inner::default()
            }),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let thread = super::serve_in_thread(stopped, move || async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm {
            port,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (opencode's `baseURL` is this plus `/v1`; Claude Code's
    /// `ANTHROPIC_BASE_URL` is this).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    /// The requests that offered tools (the agent's main loop), in order.
    pub fn main_requests(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.main).collect()
    }

    /// Requests that did not match their step, came after the last step, or were not understood.
    pub fn errors(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().errors.clone()
    }

    /// The tool calls of the script whose results the next step expects to fail (with
    /// [`failed`]), in order: what the agent must report as failed where the wire format does not
    /// say (chat completions).
    pub fn failed_calls(&self) -> Vec<String> {
        let inner = self.shared.inner.lock().unwrap();
        inner
            .steps
            .windows(2)
            .filter(|w| matches!(w[1].expect, Expect::ToolResult { is_error: true, .. }))
            .flat_map(|w| match &w[0].reply {
                Reply::Tools { calls, .. } => calls.iter().map(|(n, _)| n.clone()).collect(),
                Reply::Text(_) => Vec::new(),
            })
            .collect()
    }

    /// How many steps have been answered, and how many there are.
    pub fn progress(&self) -> (usize, usize) {
        let inner = self.shared.inner.lock().unwrap();
        (inner.next, inner.steps.len())
    }

    /// A readable account of what happened, for assertion messages.
    pub fn report(&self) -> String {
        let inner = self.shared.inner.lock().unwrap();
        let mut out = format!(
            "fake LLM: {} of {} steps answered; {} request(s)\n",
            inner.next,
            inner.steps.len(),
            inner.requests.len()
        );
        for e in &inner.errors {
            out.push_str(&format!("  error: {e}\n"));
        }
        for (i, r) in inner.requests.iter().enumerate() {
            let last = match self.shared.api {
                Api::OpenAi => last_openai(&r.body),
                Api::Anthropic => last_anthropic(&r.body),
            };
            out.push_str(&format!(
                "  #{i} {} {} model={} tools={} step={:?} last={}\n",
                r.method,
                r.path,
                r.model().unwrap_or("-"),
                r.tool_names().len(),
                r.step,
                clip(&format!("{last:?}"), 200)
            ));
        }
        out
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn matches(expect: &Expect, last: &Last) -> bool {
    match (expect, last) {
        (Expect::Prompt(t), Last::Prompt(p)) => p.contains(t.as_str()),
        (
            Expect::ToolResult {
                text: t,
                is_error: want,
            },
            Last::ToolResult { text, is_error },
        ) => text.contains(t.as_str()) && is_error.is_none_or(|e| e == *want),
        _ => false,
    }
}

/// With threads: the first unused step this conversation is in whose condition holds, and
/// whose thread has no earlier unused step; else the first unused step (to report the mismatch).
fn pick_in_threads(inner: &mut Inner, body: &Value, last: &Last) -> usize {
    let n = inner.steps.len();
    inner.used.resize(n, false);
    let conversation = body.to_string();
    let fits = |i: usize| {
        let step = &inner.steps[i];
        let thread_ok = step
            .thread
            .as_ref()
            .is_none_or(|t| conversation.contains(t.as_str()));
        let first_of_thread = (0..i).all(|j| inner.used[j] || inner.steps[j].thread != step.thread);
        !inner.used[i] && thread_ok && first_of_thread && matches(&step.expect, last)
    };
    (0..n)
        .find(|i| fits(*i))
        .or_else(|| (0..n).find(|i| !inner.used[*i]))
        .unwrap_or(n)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut request = Request {
        method: method.to_string(),
        path: uri.to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.clone(),
        main: false,
        step: None,
    };
    let mut inner = shared.inner.lock().unwrap();
    let api = shared.api;
    let known = match api {
        Api::OpenAi => method == Method::POST && path == "/v1/chat/completions",
        Api::Anthropic => {
            method == Method::POST
                && (path == "/v1/messages" || path == "/v1/messages/count_tokens")
        }
    };
    if !known {
        inner
            .errors
            .push(format!("unexpected request {method} {uri}: {body}"));
        inner.requests.push(request);
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    if path == "/v1/messages/count_tokens" {
        inner.requests.push(request);
        let tokens = body.to_string().len() / 4;
        return json_response(json!({ "input_tokens": tokens }));
    }

    let last = match api {
        Api::OpenAi => last_openai(&body),
        Api::Anthropic => last_anthropic(&body),
    };
    let reply = if tool_names(&body).is_empty() {
        // A side request (a title, a summary): answer briefly, take no step.
        Reply::Text("Real agent test".into())
    } else {
        request.main = true;
        let index = if inner.steps.iter().any(|s| s.thread.is_some()) {
            pick_in_threads(&mut inner, &body, &last)
        } else {
            inner.next
        };
        match inner.steps.get(index).cloned() {
            Some(step) if matches(&step.expect, &last) => {
                inner.next += 1;
                if let Some(u) = inner.used.get_mut(index) {
                    *u = true;
                }
                request.step = Some(index);
                step.reply
            }
            Some(step) => {
                let e = format!(
                    "step {index} expects {:?} but the last message is {}",
                    step.expect,
                    clip(&format!("{last:?}"), 400)
                );
                inner.errors.push(e.clone());
                Reply::Text(format!("fake LLM: script mismatch: {e}"))
            }
            None => {
                let e = format!(
                    "a request after the last step ({} steps); last message {}",
                    inner.steps.len(),
                    clip(&format!("{last:?}"), 400)
                );
                inner.errors.push(e.clone());
                Reply::Text(format!("fake LLM: {e}"))
            }
        }
    };
    inner.requests.push(request);
    inner.ids += 1;
    let id = inner.ids;
    drop(inner);
    let model = body["model"].as_str().unwrap_or("fake").to_string();
    let stream = body["stream"] == true;
    match api {
        Api::OpenAi => sse(openai_stream(id, &model, &reply)),
        Api::Anthropic if stream => sse(anthropic_stream(id, &model, &reply)),
        Api::Anthropic => json_response(anthropic_message(id, &model, &reply)),
    }
}
