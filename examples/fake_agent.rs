//! A scripted fake ACP agent for end-to-end tests.
//!
//! It speaks real ACP v1 (JSON-RPC over stdin/stdout, through the `agent-client-protocol` crate)
//! and stands in for an LLM-driven coding agent. What it does on each `session/prompt` comes from
//! a JSON script:
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
//!   continues with the following turn. When turns run out the prompt answers
//!   "script exhausted" with stop reason `end_turn`.
//! * Optional top-level `"repeat": {turn}` runs for every prompt once `turns` are used up.
//! * Optional top-level `"models": ["a/b", ...]` replaces the default model choices
//!   (`fake/small`, `fake/large`; the first is current).
//! * Actions: `say`, `think`, `plan`, `tool` (+ `args`, optional `server` name, optional `kind`),
//!   `permission` (`title`, `kind`), `read`, `write` (`path`, `content`), `diff` (`path`, `old`,
//!   `new`), `usage` (`input`, `output` tokens for the prompt's reply; `cost`: a `usage_update`
//!   with that session cost in USD), `sleep_ms`, `wait_file` (a path under the session's cwd: waits until it exists,
//!   logging `{"event":"waiting","session_id","path"}` first), `hang`, `exit`, `fail`, `work`
//!   (+ optional `sleep_ms`: a worker's model; see [`Action::Work`]). Turn-level `stop`: `end_turn` (default),
//!   `max_tokens`, `max_turn_requests`, `refusal`. A turn `{"exit_in_new_session": CODE}` is
//!   the agent dying while it handles the next `session/new` (the turn is used up there).
//! * Env `ITERATR_FAKE_AGENT_NO_HTTP=1`: advertise `mcpCapabilities.http = false`.
//! * Env `ITERATR_FAKE_AGENT_MCP_CLOSE=1`: close the session's MCP clients at the end of each
//!   prompt (over HTTP: DELETE of the MCP session, then the connection is dropped). By default
//!   they stay open as long as the agent runs, like a client that never closes its connection.
//! * Env `ITERATR_FAKE_AGENT_NO_INFO=1`: answer `initialize` without `agentInfo`.
//! * Env `ITERATR_FAKE_AGENT_STALL=initialize` or `new_session[#N]` (the N-th of this process,
//!   default the first): never answer that request, after logging
//!   `{"event":"stalled","in":"initialize"|"new_session"}` (tests kill iteratr there).
//! * Env `ITERATR_FAKE_AGENT_LOG=FILE`: append one JSON object per line (every line also has
//!   `pid` and `at_us`, microseconds since the Unix epoch); tests and the benchmark read it.
//!   Secrets (header values, env values) are never logged:
//!   - `{"event":"start","script"}`, `{"event":"eof"}` (stdin closed)
//!   - `{"event":"initialize","protocol_version","client_capabilities","client_info"}`
//!   - `{"event":"new_session","session_id","cwd","mcp_servers":[{"kind":"http","name","url",
//!     "auth":bool,"headers":[names]} | {"kind":"stdio","name","command","args","env":[names]}]}`
//!   - `{"event":"set_config_option"|"set_model","session_id","config_id","value","ok"}`
//!   - `{"event":"prompt","session_id","turn":n|null,"text"}` and
//!     `{"event":"prompt_done","session_id","turn","stop_reason"|"error"[,"exhausted"]}`
//!   - `{"event":"cancel","session_id","running":bool}`
//!   - `{"event":"tool_call","session_id","name","args"}` when a tool call is sent, and
//!     `{"event":"tool","session_id","name","args","is_error","text"[,"cancelled"]}` when it ends
//!   - `{"event":"permission","session_id","title","kind","outcome"}` (outcome: the option id,
//!     "cancelled", or "error" with `error`)
//!   - `{"event":"read","session_id","path","ok","content"|"error"}`,
//!     `{"event":"write","session_id","path","ok"[,"error"]}`,
//!     `{"event":"diff","session_id","path"}`
//!   - `{"event":"exit","session_id","code"}`, `{"event":"unhandled_request","method"}`
//!
//! * Env `ITERATR_FAKE_AGENT_STUBBORN=group|setsid`: ignore SIGTERM/SIGINT/SIGHUP, stay after
//!   stdin closes, and start a grandchild that does the same (with `setsid`, in a session of its
//!   own), logged as `{"event":"grandchild","grandchild":PID,"setsid":bool}`; see `stubborn.rs`.
//!
//! Only protocol goes to stdout; diagnostics go to stderr. The agent exits when stdin closes
//! (unless stubborn).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, ContentBlock, Diff, Implementation, InitializeRequest,
    InitializeResponse, McpCapabilities, McpServer, NewSessionRequest, NewSessionResponse,
    PermissionOption, PermissionOptionKind, Plan, PlanEntry, PlanEntryPriority, PlanEntryStatus,
    PromptRequest, PromptResponse, ReadTextFileRequest, RequestPermissionOutcome,
    RequestPermissionRequest, SessionConfigOption, SessionConfigOptionCategory,
    SessionConfigSelectOption, SessionId, SessionNotification, SessionUpdate,
    SetSessionConfigOptionRequest, SetSessionConfigOptionResponse, StopReason, ToolCall,
    ToolCallContent, ToolCallLocation, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields,
    ToolKind, WriteTextFileRequest,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, Client, Error, ErrorCode, Stdio, UntypedMessage};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[path = "fake_agent/work.rs"]
mod work;

#[path = "fake_agent/stubborn.rs"]
mod stubborn;

type McpClient = RunningService<RoleClient, ()>;

const DEFAULT_MODELS: [&str; 2] = ["fake/small", "fake/large"];
const MCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Script {
    turns: Vec<TurnSpec>,
    /// Run for every prompt once `turns` are used up (a worker's endless loop).
    #[serde(default)]
    repeat: Option<TurnSpec>,
    #[serde(default)]
    models: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct TurnSpec {
    #[serde(default)]
    actions: Vec<Value>,
    #[serde(default)]
    stop: Option<String>,
    /// Instead of a prompt, this turn is the agent dying with this code while it handles the
    /// next `session/new` (the turn is used up, so a restarted agent goes on with the next one).
    #[serde(default)]
    exit_in_new_session: Option<i32>,
}

#[derive(Debug)]
struct Turn {
    actions: Vec<Action>,
    stop: StopReason,
}

#[derive(Debug)]
enum Action {
    Say(String),
    Think(String),
    Plan(Vec<String>),
    Tool {
        name: String,
        args: Value,
        server: Option<String>,
        kind: ToolKind,
    },
    Permission {
        title: String,
        kind: ToolKind,
    },
    Read(String),
    Write {
        path: String,
        content: String,
    },
    Diff {
        path: String,
        old: Option<String>,
        new: String,
    },
    SleepMs(u64),
    /// Waits until this file (relative to the session's cwd) exists: a test's signal.
    WaitFile(String),
    Hang,
    Exit(i32),
    Fail(String),
    /// What a worker's model does: resolve the conflicts the prompt names, or else take the
    /// task `task-next` gives, write what it says (`write PATH: TEXT`), sleep, complete it.
    Work {
        sleep_ms: u64,
    },
    /// Tokens this turn used (added up and sent in the prompt's reply) and, with `cost`, a
    /// `usage_update` with the session's cost so far.
    Usage {
        input: u64,
        output: u64,
        cost: Option<f64>,
    },
}

fn tool_kind(s: &str) -> ToolKind {
    serde_json::from_value(Value::String(s.to_string())).unwrap_or(ToolKind::Other)
}

fn parse_stop(s: Option<&str>) -> Result<StopReason, String> {
    Ok(match s.unwrap_or("end_turn") {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "max_turn_requests" => StopReason::MaxTurnRequests,
        "refusal" => StopReason::Refusal,
        "cancelled" => StopReason::Cancelled,
        other => return Err(format!("unknown stop reason {other:?}")),
    })
}

fn str_field(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("missing string field {key:?} in {v}"))
}

fn parse_action(v: &Value) -> Result<Action, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("an action must be an object: {v}"))?;
    if let Some(text) = obj.get("say") {
        return text
            .as_str()
            .map(|t| Action::Say(t.to_string()))
            .ok_or_else(|| format!("say needs a string: {v}"));
    }
    if let Some(text) = obj.get("think") {
        return text
            .as_str()
            .map(|t| Action::Think(t.to_string()))
            .ok_or_else(|| format!("think needs a string: {v}"));
    }
    if let Some(steps) = obj.get("plan") {
        let steps: Vec<String> = serde_json::from_value(steps.clone())
            .map_err(|e| format!("plan needs a list of strings: {e}"))?;
        return Ok(Action::Plan(steps));
    }
    if let Some(name) = obj.get("tool") {
        let name = name
            .as_str()
            .ok_or_else(|| format!("tool needs a name: {v}"))?
            .to_string();
        let args = obj.get("args").cloned().unwrap_or_else(|| json!({}));
        if !args.is_object() {
            return Err(format!("tool args must be an object: {v}"));
        }
        return Ok(Action::Tool {
            name,
            args,
            server: obj
                .get("server")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind: tool_kind(obj.get("kind").and_then(Value::as_str).unwrap_or("other")),
        });
    }
    if let Some(p) = obj.get("permission") {
        return Ok(Action::Permission {
            title: str_field(p, "title")?,
            kind: tool_kind(p.get("kind").and_then(Value::as_str).unwrap_or("other")),
        });
    }
    if let Some(path) = obj.get("read") {
        return path
            .as_str()
            .map(|p| Action::Read(p.to_string()))
            .ok_or_else(|| format!("read needs a path: {v}"));
    }
    if let Some(w) = obj.get("write") {
        return Ok(Action::Write {
            path: str_field(w, "path")?,
            content: str_field(w, "content")?,
        });
    }
    if let Some(d) = obj.get("diff") {
        return Ok(Action::Diff {
            path: str_field(d, "path")?,
            old: d.get("old").and_then(Value::as_str).map(str::to_string),
            new: str_field(d, "new")?,
        });
    }
    if let Some(ms) = obj.get("sleep_ms") {
        return ms
            .as_u64()
            .map(Action::SleepMs)
            .ok_or_else(|| format!("sleep_ms needs a number: {v}"));
    }
    if let Some(path) = obj.get("wait_file") {
        return path
            .as_str()
            .map(|p| Action::WaitFile(p.to_string()))
            .ok_or_else(|| format!("wait_file needs a path: {v}"));
    }
    if obj.contains_key("hang") {
        return Ok(Action::Hang);
    }
    if let Some(w) = obj.get("work") {
        return Ok(Action::Work {
            sleep_ms: w.get("sleep_ms").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    if let Some(code) = obj.get("exit") {
        return code
            .as_i64()
            .map(|c| Action::Exit(c as i32))
            .ok_or_else(|| format!("exit needs a number: {v}"));
    }
    if let Some(msg) = obj.get("fail") {
        return msg
            .as_str()
            .map(|m| Action::Fail(m.to_string()))
            .ok_or_else(|| format!("fail needs a message: {v}"));
    }
    if let Some(u) = obj.get("usage") {
        let tokens = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        return Ok(Action::Usage {
            input: tokens("input"),
            output: tokens("output"),
            cost: u.get("cost").and_then(Value::as_f64),
        });
    }
    Err(format!("unknown action {v}"))
}

fn read_script(path: &Path) -> Result<Script, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("bad script {}: {e}", path.display()))
}

fn state_path(script: &Path) -> PathBuf {
    let mut s = script.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

fn read_next_turn(state: &Path) -> usize {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("next_turn").and_then(Value::as_u64))
        .unwrap_or(0) as usize
}

/// Locks the state file's companion lock file, so that agents in several processes (a team's
/// workers) sharing one script never take the same turn; the lock ends when the file is dropped.
fn lock_state(state: &Path) -> Result<std::fs::File, String> {
    let mut path = state.as_os_str().to_owned();
    path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", PathBuf::from(&path).display()))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock {}: {e}", PathBuf::from(&path).display()))?;
    Ok(file)
}

fn write_next_turn(state: &Path, n: usize) -> std::io::Result<()> {
    let mut tmp = state.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(json!({ "next_turn": n }).to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, state)
}

// ---------------------------------------------------------------------------------------------
// Agent state
// ---------------------------------------------------------------------------------------------

struct Session {
    id: SessionId,
    cwd: PathBuf,
    mcp_servers: Vec<McpServer>,
    models: Vec<String>,
    model: Mutex<String>,
    /// The running prompt's cancellation token.
    running: Mutex<Option<CancellationToken>>,
    /// MCP clients by index into `mcp_servers`, connected lazily and reused.
    mcp: tokio::sync::Mutex<HashMap<usize, Arc<McpClient>>>,
}

impl Session {
    fn config_options(&self) -> Vec<SessionConfigOption> {
        let current = self.model.lock().unwrap().clone();
        let options: Vec<SessionConfigSelectOption> = self
            .models
            .iter()
            .map(|m| SessionConfigSelectOption::new(m.clone(), m.clone()))
            .collect();
        vec![
            SessionConfigOption::select("model", "Model", current, options)
                .category(SessionConfigOptionCategory::Model),
        ]
    }

    /// Closes and forgets the MCP clients (a later call connects again).
    async fn close_mcp(&self) {
        let clients: Vec<Arc<McpClient>> = self.mcp.lock().await.drain().map(|(_, c)| c).collect();
        for client in clients {
            if let Ok(client) = Arc::try_unwrap(client) {
                let _ = client.cancel().await;
            }
        }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }
}

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

enum Outcome {
    Stop(StopReason, Option<TurnUsage>),
    Fail(String),
}

/// Tokens a turn reports in its prompt reply (from its `usage` actions).
#[derive(Default)]
struct TurnUsage {
    input: u64,
    output: u64,
}

fn session_update(cx: &ConnectionTo<Client>, sid: &SessionId, update: SessionUpdate) {
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

fn stop_name(s: &StopReason) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}"))
}

impl Fake {
    fn log(&self, mut entry: Value) {
        let Some(path) = &self.log_path else { return };
        if let Value::Object(m) = &mut entry {
            m.insert("pid".into(), json!(std::process::id()));
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            m.insert("at_us".into(), json!(at));
        }
        let _guard = self.log_lock.lock().unwrap();
        let line = format!("{entry}\n");
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
            .and_then(|p| read_script(p).ok())
            .and_then(|s| s.models)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| DEFAULT_MODELS.iter().map(|m| m.to_string()).collect())
    }

    /// Takes the next turn of the script, advancing the state file first.
    fn claim_turn(&self) -> Result<Option<(usize, Turn)>, String> {
        let script_path = self.script.as_deref().ok_or_else(|| {
            "no script: pass --script FILE or set ITERATR_FAKE_AGENT_SCRIPT".to_string()
        })?;
        let _guard = self.turn_lock.lock().unwrap();
        let state = state_path(script_path);
        let _file_lock = lock_state(&state)?;
        let script = read_script(script_path)?;
        let n = read_next_turn(&state);
        let Some(spec) = script.turns.get(n).or(script.repeat.as_ref()) else {
            return Ok(None);
        };
        let actions = spec
            .actions
            .iter()
            .map(parse_action)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("turn {n}: {e}"))?;
        let stop = parse_stop(spec.stop.as_deref()).map_err(|e| format!("turn {n}: {e}"))?;
        write_next_turn(&state, n + 1)
            .map_err(|e| format!("cannot write {}: {e}", state.display()))?;
        Ok(Some((n, Turn { actions, stop })))
    }

    /// When the next turn is an `exit_in_new_session` one, uses it up and returns its exit code.
    fn new_session_exit(&self) -> Option<i32> {
        let script_path = self.script.as_deref()?;
        let _guard = self.turn_lock.lock().unwrap();
        let state = state_path(script_path);
        let _file_lock = lock_state(&state).ok()?;
        let script = read_script(script_path).ok()?;
        let n = read_next_turn(&state);
        let code = script.turns.get(n)?.exit_in_new_session?;
        write_next_turn(&state, n + 1).ok()?;
        Some(code)
    }

    /// Whether this request (`initialize`, `new_session`) is the one never to answer; logs it.
    fn stalls(&self, request: &str) -> bool {
        let Some((which, nth)) = &self.stall else {
            return false;
        };
        let seen = match request {
            "new_session" => self.new_sessions.fetch_add(1, Ordering::SeqCst) + 1,
            _ => 1,
        };
        let stall = which == request && seen == *nth;
        if stall {
            self.log(json!({"event": "stalled", "in": request}));
        }
        stall
    }

    // --- handlers ------------------------------------------------------------------------

    fn initialize(&self, req: InitializeRequest) -> InitializeResponse {
        self.log(json!({
            "event": "initialize",
            "protocol_version": req.protocol_version,
            "client_capabilities": req.client_capabilities,
            "client_info": req.client_info,
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

    fn new_session(&self, req: NewSessionRequest) -> NewSessionResponse {
        if let Some(code) = self.new_session_exit() {
            self.log(
                json!({"event": "exit", "session_id": null, "code": code, "in": "new_session"}),
            );
            std::process::exit(code);
        }
        let id = SessionId::new(format!("fake-{}-{}", std::process::id(), self.next_id()));
        let servers: Vec<Value> = req
            .mcp_servers
            .iter()
            .map(|s| match s {
                McpServer::Http(h) => json!({
                    "kind": "http",
                    "name": h.name,
                    "url": h.url,
                    "auth": h.headers.iter().any(|h| h.name.eq_ignore_ascii_case("authorization")),
                    "headers": h.headers.iter().map(|h| h.name.clone()).collect::<Vec<_>>(),
                }),
                McpServer::Stdio(s) => json!({
                    "kind": "stdio",
                    "name": s.name,
                    "command": s.command,
                    "args": s.args,
                    "env": s.env.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
                }),
                McpServer::Sse(s) => json!({"kind": "sse", "name": s.name, "url": s.url}),
                _ => json!({"kind": "other"}),
            })
            .collect();
        self.log(json!({
            "event": "new_session",
            "session_id": id,
            "cwd": req.cwd,
            "mcp_servers": servers,
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

    fn set_model(&self, event: &str, sid: &SessionId, value: &str) -> Result<Arc<Session>, Error> {
        let session = self.session(sid);
        let ok = session
            .as_ref()
            .is_some_and(|s| s.models.iter().any(|m| m == value));
        self.log(json!({
            "event": event,
            "session_id": sid,
            "config_id": "model",
            "value": value,
            "ok": ok,
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

    fn set_config_option(
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
            self.log(json!({
                "event": "set_config_option",
                "session_id": req.session_id,
                "config_id": req.config_id,
                "value": value,
                "ok": false,
            }));
            return Err(Error::new(
                ErrorCode::INVALID_PARAMS,
                format!("unknown config option {:?}", req.config_id.0),
            ));
        }
        let session = self.set_model("set_config_option", &req.session_id, &value)?;
        Ok(SetSessionConfigOptionResponse::new(
            session.config_options(),
        ))
    }

    fn cancel(&self, n: CancelNotification) {
        let token = self
            .session(&n.session_id)
            .and_then(|s| s.running.lock().unwrap().clone());
        self.log(json!({
            "event": "cancel",
            "session_id": n.session_id,
            "running": token.is_some(),
        }));
        if let Some(t) = token {
            t.cancel();
        }
    }

    fn prompt(
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
            Ok(Some((n, _))) => json!(n),
            _ => Value::Null,
        };
        // Registered before the prompt is logged and before the work is spawned, so a cancel
        // right behind the prompt finds it, and so does one sent by a test that saw the log line.
        let token = CancellationToken::new();
        if turn_index.is_u64() {
            *session.running.lock().unwrap() = Some(token.clone());
        }
        self.log(json!({
            "event": "prompt",
            "session_id": session.id,
            "turn": turn_index,
            "text": text,
        }));
        let turn = match claimed {
            Err(e) => {
                eprintln!("fake-agent: {e}");
                self.log(json!({
                    "event": "prompt_done",
                    "session_id": session.id,
                    "turn": null,
                    "error": e,
                }));
                return responder.respond_with_error(Error::new(ErrorCode::INTERNAL_ERROR, e));
            }
            Ok(None) => {
                session_update(
                    &cx,
                    &session.id,
                    SessionUpdate::AgentMessageChunk(
                        agent_client_protocol::v1::schema::ContentChunk::new(
                            "script exhausted".into(),
                        ),
                    ),
                );
                self.log(json!({
                    "event": "prompt_done",
                    "session_id": session.id,
                    "turn": null,
                    "stop_reason": "end_turn",
                    "exhausted": true,
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
            let result = match outcome {
                Outcome::Stop(stop, used) => {
                    fake.log(json!({
                        "event": "prompt_done",
                        "session_id": session.id,
                        "turn": n,
                        "stop_reason": stop_name(&stop),
                    }));
                    let usage = used.map(|u| {
                        agent_client_protocol::v1::schema::Usage::new(
                            u.input + u.output,
                            u.input,
                            u.output,
                        )
                    });
                    responder.respond(PromptResponse::new(stop).usage(usage))
                }
                Outcome::Fail(msg) => {
                    fake.log(json!({
                        "event": "prompt_done",
                        "session_id": session.id,
                        "turn": n,
                        "error": msg,
                    }));
                    responder.respond_with_error(Error::new(ErrorCode::INTERNAL_ERROR, msg))
                }
            };
            if let Err(e) = result {
                eprintln!("fake-agent: cannot answer session/prompt: {e:?}");
            }
            Ok(())
        })
    }

    // --- the turn ------------------------------------------------------------------------

    async fn run_turn(
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
                            SessionUpdate::AgentMessageChunk(
                                agent_client_protocol::v1::schema::ContentChunk::new(chunk.into()),
                            ),
                        );
                    }
                }
                Action::Think(text) => session_update(
                    cx,
                    &session.id,
                    SessionUpdate::AgentThoughtChunk(
                        agent_client_protocol::v1::schema::ContentChunk::new(text.into()),
                    ),
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
                Action::Tool {
                    name,
                    args,
                    server,
                    kind,
                } => {
                    if self
                        .tool(cx, session, name, args, server, kind, token)
                        .await
                        .is_none()
                    {
                        return cancelled;
                    }
                }
                Action::Permission { title, kind } => {
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
                    match result {
                        Ok(r) => self.log(json!({
                            "event": "read", "session_id": session.id, "path": path,
                            "ok": true, "content": r.content,
                        })),
                        Err(e) => self.log(json!({
                            "event": "read", "session_id": session.id, "path": path,
                            "ok": false, "error": e.message,
                        })),
                    }
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
                    self.log(json!({"event": "diff", "session_id": session.id, "path": path}));
                }
                Action::SleepMs(ms) => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        () = token.cancelled() => return cancelled,
                    }
                }
                Action::WaitFile(path) => {
                    let path = session.cwd.join(path);
                    self.log(json!({"event": "waiting", "session_id": session.id, "path": path}));
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
                    self.log(json!({"event": "exit", "session_id": session.id, "code": code}));
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
                Action::Usage {
                    input,
                    output,
                    cost,
                } => {
                    let u = used.get_or_insert_with(TurnUsage::default);
                    u.input += input;
                    u.output += output;
                    if let Some(cost) = cost {
                        let update = agent_client_protocol::v1::schema::UsageUpdate::new(
                            u.input + u.output,
                            200_000,
                        )
                        .cost(agent_client_protocol::v1::schema::Cost::new(cost, "USD"));
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

    /// Calls an MCP tool and reports it; false when the prompt was cancelled meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn tool(
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
        self.log(
            json!({"event": "tool_call", "session_id": session.id, "name": name, "args": args}),
        );
        let result = tokio::select! {
            r = self.call_mcp(session, server.as_deref(), &name, &args) => Some(r),
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
            self.log(json!({
                "event": "tool", "session_id": session.id, "name": name, "args": args,
                "is_error": true, "text": "cancelled", "cancelled": true,
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
        self.log(json!({
            "event": "tool", "session_id": session.id, "name": name, "args": args,
            "is_error": is_error, "text": text,
        }));
        Some(raw.unwrap_or(Value::Null))
    }

    /// Writes `content` to `path` through the client (`fs/write_text_file`); false if cancelled.
    async fn write_file(
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
        match result {
            Ok(_) => self.log(json!({
                "event": "write", "session_id": session.id, "path": path, "ok": true,
            })),
            Err(e) => self.log(json!({
                "event": "write", "session_id": session.id, "path": path,
                "ok": false, "error": e.message,
            })),
        }
        true
    }

    /// The `work` action (see [`Action::Work`]); false if cancelled.
    async fn work(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        prompt: &str,
        sleep_ms: u64,
        token: &CancellationToken,
    ) -> bool {
        let conflicts = work::conflict_files(prompt);
        if !conflicts.is_empty() {
            for file in conflicts {
                let text = std::fs::read_to_string(session.resolve(&file)).unwrap_or_default();
                if !self
                    .write_file(cx, session, &file, work::keep_both(&text), token)
                    .await
                {
                    return false;
                }
            }
            return true;
        }
        let other = ToolKind::Other;
        let Some(next) = self
            .tool(
                cx,
                session,
                "task-next".into(),
                json!({}),
                None,
                other,
                token,
            )
            .await
        else {
            return false;
        };
        let task = next.pointer("/structuredContent/task").cloned();
        let (Some(id), Some(content)) = (
            task.as_ref()
                .and_then(|t| t.get("id"))
                .and_then(Value::as_str),
            task.as_ref()
                .and_then(|t| t.get("content"))
                .and_then(Value::as_str),
        ) else {
            // Alone on the spec and nothing left: declare it built, as a model would.
            let message = next
                .pointer("/structuredContent/message")
                .and_then(Value::as_str);
            if message.is_some_and(|m| m.contains("call session-complete")) {
                let args = json!({"summary": "every task is done"});
                let done = self.tool(
                    cx,
                    session,
                    "session-complete".into(),
                    args,
                    None,
                    other,
                    token,
                );
                return done.await.is_some();
            }
            return true;
        };
        if task
            .as_ref()
            .and_then(|t| t.get("status"))
            .and_then(Value::as_str)
            == Some("completed")
        {
            return true;
        }
        let status = |s: &str| json!({"id": id, "status": s});
        let (path, text) = work::task_file(id, content);
        let steps: [(&str, Value); 1] = [("task-status", status("in_progress"))];
        for (name, args) in steps {
            if self
                .tool(cx, session, name.into(), args, None, ToolKind::Other, token)
                .await
                .is_none()
            {
                return false;
            }
        }
        if !self.write_file(cx, session, &path, text, token).await {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
            () = token.cancelled() => return false,
        }
        let summary = json!({"summary": format!("{id}: wrote {path}")});
        for (name, args) in [
            ("task-status", status("completed")),
            ("iteration-summary", summary),
        ] {
            if self
                .tool(cx, session, name.into(), args, None, ToolKind::Other, token)
                .await
                .is_none()
            {
                return false;
            }
        }
        true
    }

    /// Ok((is_error, text, raw result)) from the server, or Err(text) when the call could not
    /// be made at all.
    async fn call_mcp(
        &self,
        session: &Arc<Session>,
        server: Option<&str>,
        name: &str,
        args: &Value,
    ) -> Result<(bool, String, Value), String> {
        let client = self.mcp_client(session, server).await?;
        let Value::Object(map) = args.clone() else {
            return Err("tool arguments must be an object".into());
        };
        let result = client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(map))
            .await
            .map_err(|e| format!("MCP call {name} failed: {e}"))?;
        let mut text = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty()
            && let Some(s) = &result.structured_content
        {
            text = s.to_string();
        }
        let raw = serde_json::to_value(&result).unwrap_or(Value::Null);
        Ok((result.is_error.unwrap_or(false), text, raw))
    }

    async fn mcp_client(
        &self,
        session: &Arc<Session>,
        server: Option<&str>,
    ) -> Result<Arc<McpClient>, String> {
        let index = match server {
            None if session.mcp_servers.is_empty() => {
                return Err("no MCP server was given for this session".into());
            }
            None => 0,
            Some(wanted) => session
                .mcp_servers
                .iter()
                .position(|s| match s {
                    McpServer::Http(h) => h.name == wanted,
                    McpServer::Stdio(s) => s.name == wanted,
                    McpServer::Sse(s) => s.name == wanted,
                    _ => false,
                })
                .ok_or_else(|| format!("no MCP server named {wanted:?}"))?,
        };
        let mut clients = session.mcp.lock().await;
        if let Some(c) = clients.get(&index) {
            return Ok(c.clone());
        }
        let connect = async {
            match &session.mcp_servers[index] {
                McpServer::Http(h) => {
                    let mut headers = HashMap::new();
                    for header in &h.headers {
                        let name = reqwest::header::HeaderName::from_bytes(header.name.as_bytes())
                            .map_err(|e| format!("bad header name {:?}: {e}", header.name))?;
                        let value = reqwest::header::HeaderValue::from_str(&header.value)
                            .map_err(|e| format!("bad value for header {:?}: {e}", header.name))?;
                        headers.insert(name, value);
                    }
                    let transport = StreamableHttpClientTransport::from_config(
                        StreamableHttpClientTransportConfig::with_uri(h.url.clone())
                            .custom_headers(headers),
                    );
                    ().serve(transport)
                        .await
                        .map_err(|e| format!("cannot connect to MCP server {}: {e}", h.url))
                }
                McpServer::Stdio(s) => {
                    let mut cmd = tokio::process::Command::new(&s.command);
                    cmd.args(&s.args)
                        .envs(s.env.iter().map(|e| (e.name.clone(), e.value.clone())))
                        .current_dir(&session.cwd);
                    let transport = TokioChildProcess::new(cmd).map_err(|e| {
                        format!("cannot start MCP server {}: {e}", s.command.display())
                    })?;
                    ().serve(transport).await.map_err(|e| {
                        format!("cannot connect to MCP server {}: {e}", s.command.display())
                    })
                }
                _ => Err("unsupported MCP server transport".to_string()),
            }
        };
        let client = tokio::time::timeout(MCP_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| "timed out connecting to the MCP server".to_string())??;
        let client = Arc::new(client);
        clients.insert(index, client.clone());
        Ok(client)
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
        let mut entry = json!({
            "event": "permission", "session_id": session.id, "title": title,
            "kind": kind, "outcome": outcome,
        });
        if let Some(e) = error {
            entry["error"] = json!(e);
        }
        self.log(entry);
        let allowed = outcome.starts_with("allow");
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
    fake.log(json!({"event": "start", "script": fake.script}));
    let stubborn = stubborn::mode();
    if let Some(mode) = stubborn {
        stubborn::ignore_signals();
        match stubborn::start_grandchild(mode) {
            Ok(pid) => fake.log(json!({"event": "grandchild", "grandchild": pid,
                "setsid": mode == stubborn::Mode::Setsid})),
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
                    return match f6.set_model("set_model", &sid, model) {
                        Ok(_) => responder.respond(json!({})),
                        Err(e) => responder.respond_with_error(e),
                    };
                }
                f6.log(json!({"event": "unhandled_request", "method": req.method}));
                responder.respond_with_error(Error::method_not_found())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_to(stdio())
        .await;
    f7.log(json!({"event": "eof"}));
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
