//! The fake agent's log (`ITERATR_FAKE_AGENT_LOG`), as serde types shared by the agent, which
//! writes it, and the tests, which read it (`tests/common/fake_agent.rs` includes this file).
//!
//! One JSON object a line: `{"event": KIND, ...its fields, "pid", "at_us"}` (`at_us`:
//! microseconds since the Unix epoch). Secrets (header values, env values) are never logged.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A line of the log: what happened, in which agent process, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub event: Event,
    pub pid: u32,
    pub at_us: u64,
}

/// What the agent logs, named by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The agent started, with its script.
    Start(Start),
    /// A stubborn agent (`ITERATR_FAKE_AGENT_STUBBORN`) started its grandchild.
    Grandchild(Grandchild),
    /// Its stdin closed.
    Eof,
    Initialize(Initialize),
    /// `ITERATR_FAKE_AGENT_STALL`: this request is never answered.
    Stalled(Stalled),
    NewSession(NewSession),
    SetConfigOption(SetOption),
    /// `session/set_model`.
    SetModel(SetOption),
    /// A prompt came in; `turn` is the script's turn it takes (none: exhausted, or an error).
    Prompt(Prompt),
    PromptDone(PromptDone),
    Cancel(Cancel),
    /// A tool call is sent.
    ToolCall(ToolCall),
    /// A tool call ended.
    Tool(Tool),
    Permission(Permission),
    Read(Read),
    Write(Write),
    Diff(Diff),
    /// A `run` action's program ended (or could not start).
    Run(Run),
    /// A `wait_file` action waits for its file.
    Waiting(Waiting),
    /// The agent exits (an `exit` action, or an `exit_in_new_session` turn).
    Exit(Exit),
    UnhandledRequest(UnhandledRequest),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub script: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grandchild {
    pub grandchild: u32,
    pub setsid: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Initialize {
    pub protocol_version: Value,
    pub client_capabilities: Value,
    pub client_info: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stalled {
    /// `initialize` or `new_session`.
    #[serde(rename = "in")]
    pub request: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSession {
    pub session_id: String,
    pub cwd: PathBuf,
    pub mcp_servers: Vec<McpServer>,
}

/// An MCP server `session/new` gave: names only, never a header's or variable's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum McpServer {
    Http {
        name: String,
        url: String,
        /// Whether an `Authorization` header was given.
        auth: bool,
        headers: Vec<String>,
    },
    Stdio {
        name: String,
        command: PathBuf,
        args: Vec<String>,
        env: Vec<String>,
    },
    Sse {
        name: String,
        url: String,
    },
    Other,
}

/// `set_config_option` or `set_model`: whether the value was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetOption {
    pub session_id: String,
    pub config_id: String,
    pub value: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub session_id: String,
    pub turn: Option<usize>,
    pub text: String,
}

/// A prompt answered: with a stop reason, or an error; `exhausted` when the script had no turn
/// left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptDone {
    pub session_id: String,
    pub turn: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancel {
    pub session_id: String,
    /// Whether a prompt was running.
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub session_id: String,
    pub name: String,
    pub args: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub session_id: String,
    pub name: String,
    pub args: Value,
    pub is_error: bool,
    /// The result's text (`cancelled` when the prompt was cancelled meanwhile).
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    pub session_id: String,
    pub title: String,
    pub kind: String,
    /// The option the client chose (`allow_once`...), `cancelled`, or `error` (with `error`).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub session_id: String,
    pub path: PathBuf,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    pub session_id: String,
    pub path: PathBuf,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub session_id: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub session_id: String,
    pub argv: Vec<String>,
    /// Where it ran (the session's cwd).
    pub cwd: PathBuf,
    /// Its exit code; none when it could not start or was killed by a signal.
    pub code: Option<i32>,
    /// The start of its output (4 KiB each at most).
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// It ran and exited 0.
    #[allow(dead_code)] // what the tests read with
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub session_id: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exit {
    /// None when it died in `session/new`.
    pub session_id: Option<String>,
    pub code: i32,
    /// `new_session` when it died there.
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnhandledRequest {
    pub method: String,
}

/// A kind of event, to pick those of one kind out of a log: `of::<Prompt>(&log)`.
#[allow(dead_code)] // what the tests read with
pub trait Kind: Sized + Clone {
    fn from_event(e: &Event) -> Option<&Self>;
}

macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {$(
        impl Kind for $kind {
            fn from_event(e: &Event) -> Option<&Self> {
                match e {
                    Event::$kind(x) => Some(x),
                    _ => None,
                }
            }
        }
    )*};
}

kinds!(
    Start,
    Grandchild,
    Initialize,
    Stalled,
    NewSession,
    Prompt,
    PromptDone,
    Cancel,
    ToolCall,
    Tool,
    Permission,
    Read,
    Write,
    Diff,
    Run,
    Waiting,
    Exit,
    UnhandledRequest,
);

#[allow(dead_code)] // what the tests read with
impl Record {
    /// The event if it is of kind `K`.
    pub fn get<K: Kind>(&self) -> Option<&K> {
        K::from_event(&self.event)
    }
}

/// The events of kind `K` in a log, in order.
#[allow(dead_code)] // what the tests read with
pub fn of<K: Kind>(log: &[Record]) -> Vec<K> {
    log.iter().filter_map(|r| r.get::<K>().cloned()).collect()
}

/// The agent processes that logged events of kind `K`.
#[allow(dead_code)] // what the tests read with
pub fn pids<K: Kind>(log: &[Record]) -> std::collections::BTreeSet<u32> {
    log.iter()
        .filter(|r| r.get::<K>().is_some())
        .map(|r| r.pid)
        .collect()
}

/// The `set_config_option` events of a log (`set_model` ones have the same fields).
#[allow(dead_code)] // what the tests read with
pub fn config_options(log: &[Record]) -> Vec<SetOption> {
    log.iter()
        .filter_map(|r| match &r.event {
            Event::SetConfigOption(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}
