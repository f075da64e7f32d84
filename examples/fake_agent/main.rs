//! A scripted fake ACP agent for end-to-end tests.
//!
//! It speaks real ACP v1 (JSON-RPC over stdin/stdout, through the `agent-client-protocol` crate)
//! and stands in for an LLM-driven coding agent. What it does on each `session/prompt` comes from
//! a JSON script, whose format is the serde types of `script.rs` (shared with the tests):
//!
//! ```json
//! {"turns": [
//!   {"actions": [{"say": "hi"}, {"tool": "task-add", "args": {"content": "x"}}],
//!    "stop": "end_turn"},
//!   {"actions": [{"hang": true}]}
//! ]}
//! ```
//!
//! * Script: `--script FILE` or env `ITERATR_FAKE_AGENT_SCRIPT`. It is re-read on every prompt.
//!   Each prompt consumes the next turn; progress is kept in `FILE.state` (`{"next_turn": n}`),
//!   written atomically when a prompt starts a turn, so a crash mid-turn followed by a restart
//!   continues with the following turn (see `state.rs`). When turns run out the prompt answers
//!   "script exhausted" with stop reason `end_turn`.
//! * Optional top-level `"repeat": {turn}` runs for every prompt once `turns` are used up.
//! * Optional top-level `"models": ["a/b", ...]` replaces the default model choices
//!   (`fake/small`, `fake/large`; the first is current).
//! * Actions: `say`, `think`, `plan`, `tool` (+ `args`, optional `server` name, optional `kind`),
//!   `permission` (`title`, `kind`), `read`, `write` (`path`, `content`), `diff` (`path`, `old`,
//!   `new`), `usage` (`input`, `output` tokens for the prompt's reply; `cost`: a `usage_update`
//!   with that session cost in USD), `sleep_ms`, `wait_file` (a path under the session's cwd:
//!   waits until it exists, logging a `waiting` event first), `hang`, `exit`, `fail`, `work`
//!   (+ optional `sleep_ms`: a worker's model; see `work.rs`), `parallel` (a list of `tool`
//!   actions called at once, as a model asking for several calls in one message; the turn goes
//!   on when all have answered). Turn-level `stop`: `end_turn`
//!   (default), `max_tokens`, `max_turn_requests`, `refusal`. A turn `{"exit_in_new_session":
//!   CODE}` is the agent dying while it handles the next `session/new` (the turn is used up there).
//! * Env `ITERATR_FAKE_AGENT_NO_HTTP=1`: advertise `mcpCapabilities.http = false`.
//! * Env `ITERATR_FAKE_AGENT_MCP_CLOSE=1`: close the session's MCP clients at the end of each
//!   prompt (over HTTP: DELETE of the MCP session, then the connection is dropped). By default
//!   they stay open as long as the agent runs, like a client that never closes its connection.
//! * Env `ITERATR_FAKE_AGENT_NO_INFO=1`: answer `initialize` without `agentInfo`.
//! * Env `ITERATR_FAKE_AGENT_STALL=initialize` or `new_session[#N]` (the N-th of this process,
//!   default the first): never answer that request, after logging a `stalled` event (tests kill
//!   iteratr there).
//! * Env `ITERATR_FAKE_AGENT_LOG=FILE`: append one JSON object per line, the serde types of
//!   `log.rs` (shared with the tests): `{"event": KIND, ..., "pid", "at_us"}`; tests and the
//!   benchmark read it. Secrets (header values, env values) are never logged.
//! * Env `ITERATR_FAKE_AGENT_STUBBORN=group|setsid`: ignore SIGTERM/SIGINT/SIGHUP, stay after
//!   stdin closes, and start a grandchild that does the same (with `setsid`, in a session of its
//!   own), logged as a `grandchild` event; see `stubborn.rs`.
//!
//! Only protocol goes to stdout; diagnostics go to stderr. The agent exits when stdin closes
//! (unless stubborn).
//!
//! The modules: `script.rs` and `log.rs` (the formats), `state.rs` (which turn is next),
//! `handlers.rs` (the ACP requests), `turn.rs` (a turn's actions), `work.rs` (the `work`
//! action), `session.rs` (a session and its MCP clients), `stubborn.rs`.

mod handlers;
mod log;
mod script;
mod session;
mod state;
mod stubborn;
mod turn;
mod work;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use agent_client_protocol::v1::schema::{
    CancelNotification, InitializeRequest, InitializeResponse, NewSessionRequest,
    NewSessionResponse, PromptRequest, PromptResponse, SessionId, SetSessionConfigOptionRequest,
    SetSessionConfigOptionResponse,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, Client, Error, Stdio, UntypedMessage};
use serde_json::{Value, json};

use crate::log::Event;
use crate::session::Session;

const DEFAULT_MODELS: [&str; 2] = ["fake/small", "fake/large"];

struct Fake {
    script: Option<PathBuf>,
    log_path: Option<PathBuf>,
    http: bool,
    /// Answer `initialize` with `agentInfo`.
    info: bool,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Serialises the state file's read-modify-write.
    turn_lock: Mutex<()>,
    log_lock: Mutex<()>,
    counter: AtomicU64,
    /// `ITERATR_FAKE_AGENT_STALL`: the request never answered, and which one of its kind.
    stall: Option<(String, u64)>,
    new_sessions: AtomicU64,
    /// `ITERATR_FAKE_AGENT_MCP_CLOSE`: close MCP clients when a prompt ends.
    close_mcp: bool,
}

impl Fake {
    /// Appends the event to the log (`ITERATR_FAKE_AGENT_LOG`), if there is one.
    fn log(&self, event: Event) {
        let Some(path) = &self.log_path else { return };
        let at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let record = log::Record {
            event,
            pid: std::process::id(),
            at_us,
        };
        let _guard = self.log_lock.lock().unwrap();
        let line = match serde_json::to_string(&record) {
            Ok(json) => format!("{json}\n"),
            Err(e) => {
                eprintln!("fake-agent: cannot log {record:?}: {e}");
                return;
            }
        };
        let result = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.flush()
            });
        if let Err(e) = result {
            eprintln!("fake-agent: cannot write log {}: {e}", path.display());
        }
    }

    fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn session(&self, id: &SessionId) -> Option<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap()
            .get(&id.0.to_string())
            .cloned()
    }

    fn models(&self) -> Vec<String> {
        self.script
            .as_deref()
            .and_then(|p| state::read_script(p).ok())
            .and_then(|s| s.models)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| DEFAULT_MODELS.iter().map(|m| m.to_string()).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

fn script_from_args() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--script" {
            return args.next().map(PathBuf::from);
        }
        if let Some(s) = a.to_str().and_then(|s| s.strip_prefix("--script=")) {
            return Some(PathBuf::from(s));
        }
    }
    std::env::var_os("ITERATR_FAKE_AGENT_SCRIPT")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// The agent's stdio. When both are pipes (as an ACP client starts it) they are read and written
/// by tokio's reactor, without blocking: the SDK's `Stdio` hands every message to a blocking
/// thread and back, which cost more CPU than anything else when a turn streams many updates.
/// Anything else (a terminal, a file) goes through `Stdio`.
fn stdio() -> agent_client_protocol::DynConnectTo<Agent> {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
    let pipes = || -> std::io::Result<(pipe::Sender, pipe::Receiver)> {
        let out = pipe::Sender::from_owned_fd(std::io::stdout().as_fd().try_clone_to_owned()?)?;
        let inp = pipe::Receiver::from_owned_fd(std::io::stdin().as_fd().try_clone_to_owned()?)?;
        Ok((out, inp))
    };
    match pipes() {
        Ok((out, inp)) => agent_client_protocol::DynConnectTo::new(
            agent_client_protocol::ByteStreams::new(out.compat_write(), inp.compat()),
        ),
        Err(_) => agent_client_protocol::DynConnectTo::new(Stdio::new()),
    }
}

#[tokio::main]
async fn main() {
    if stubborn::grandchild_main().await.is_some() {
        return;
    }
    let fake = Arc::new(Fake {
        script: script_from_args(),
        log_path: std::env::var_os("ITERATR_FAKE_AGENT_LOG")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
        http: std::env::var("ITERATR_FAKE_AGENT_NO_HTTP").as_deref() != Ok("1"),
        info: std::env::var("ITERATR_FAKE_AGENT_NO_INFO").as_deref() != Ok("1"),
        sessions: Mutex::new(HashMap::new()),
        turn_lock: Mutex::new(()),
        log_lock: Mutex::new(()),
        counter: AtomicU64::new(0),
        stall: std::env::var("ITERATR_FAKE_AGENT_STALL")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('#') {
                Some((which, n)) => (which.to_string(), n.parse().unwrap_or(1)),
                None => (s, 1),
            }),
        new_sessions: AtomicU64::new(0),
        close_mcp: std::env::var("ITERATR_FAKE_AGENT_MCP_CLOSE").as_deref() == Ok("1"),
    });
    fake.log(Event::Start(log::Start {
        script: fake.script.clone(),
    }));
    let stubborn = stubborn::mode();
    if let Some(mode) = stubborn {
        stubborn::ignore_signals();
        match stubborn::start_grandchild(mode) {
            Ok(pid) => fake.log(Event::Grandchild(log::Grandchild {
                grandchild: pid,
                setsid: mode == stubborn::Mode::Setsid,
            })),
            Err(e) => eprintln!("fake-agent: cannot start the grandchild: {e}"),
        }
    }

    let (f1, f2, f3, f4, f5, f6, f7) = (
        fake.clone(),
        fake.clone(),
        fake.clone(),
        fake.clone(),
        fake.clone(),
        fake.clone(),
        fake.clone(),
    );
    let result = Agent
        .v1()
        .name("fake-agent")
        .on_receive_request(
            async move |req: InitializeRequest, responder: Responder<InitializeResponse>, _cx| {
                if f1.stalls("initialize") {
                    std::future::pending::<()>().await;
                }
                responder.respond(f1.initialize(req))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: NewSessionRequest, responder: Responder<NewSessionResponse>, _cx| {
                if f2.stalls("new_session") {
                    std::future::pending::<()>().await;
                }
                responder.respond(f2.new_session(req))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionConfigOptionRequest,
                        responder: Responder<SetSessionConfigOptionResponse>,
                        _cx| {
                responder.respond_with_result(f3.set_config_option(req))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: PromptRequest,
                        responder: Responder<PromptResponse>,
                        cx: ConnectionTo<Client>| { f4.prompt(req, responder, cx) },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |n: CancelNotification, _cx| {
                f5.cancel(n);
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            // Requests without a stable schema type: `session/set_model` (unstable in ACP, sent
            // by some clients) is honoured; anything else is method-not-found.
            async move |req: UntypedMessage, responder: Responder<Value>, _cx| {
                if req.method == "session/set_model" {
                    let sid = req.params.get("sessionId").and_then(Value::as_str);
                    let model = req.params.get("modelId").and_then(Value::as_str);
                    let (Some(sid), Some(model)) = (sid, model) else {
                        return responder.respond_with_error(Error::invalid_params());
                    };
                    let sid = SessionId::new(sid);
                    return match f6.set_model(Event::SetModel, &sid, model) {
                        Ok(_) => responder.respond(json!({})),
                        Err(e) => responder.respond_with_error(e),
                    };
                }
                f6.log(Event::UnhandledRequest(log::UnhandledRequest {
                    method: req.method.clone(),
                }));
                responder.respond_with_error(Error::method_not_found())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_to(stdio())
        .await;
    f7.log(Event::Eof);
    if stubborn.is_some() {
        stubborn::linger().await;
    }
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("fake-agent: connection failed: {e:?}");
            std::process::exit(1);
        }
    }
}
