//! Everything a front end (the full-screen interface, the progress lines, `--json`, `watch`) is
//! told while a build runs, in one place: the loop's milestones, what the agent does, and every
//! event the session log records. Front ends depend on this module and `session` only; the build
//! loop merges the agent's updates and the session log into one ordered stream of these, ending
//! with `Finished`; and what front ends ask of a build ([`Op`]), carried out by `control`.

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

pub use crate::session::Usage;
use crate::session::names::from_name;

crate::named!(WorkerPhase, ToolKind, ToolStatus);
use crate::session::display::TaskCounts;
use crate::session::{Event, IterationOutcome, PermissionDecision};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BuildEvent {
    Started {
        session: String,
        spec: String,
        data_dir: String,
        agent: String,
        mcp_url: String,
    },
    Info {
        message: String,
    },
    /// Where a worker is in its loop (waiting, integrating, stopped), with the words for people.
    Phase {
        phase: WorkerPhase,
        message: String,
    },
    Warning {
        message: String,
    },
    AgentReady {
        name: String,
        version: String,
        http_mcp: bool,
        /// It runs in iteratr's sandbox (`--sandbox`).
        sandboxed: bool,
    },
    /// The model the agent uses, once it confirmed the choice of `-m`.
    ModelSelected {
        model: String,
    },
    IterationStarted {
        iteration: u32,
        planning: bool,
    },
    Agent {
        update: AgentUpdate,
    },
    /// An event appended to the session log (by the agent's tool calls, the loop, or anyone else).
    Log {
        seq: u64,
        event: Event,
    },
    IterationFinished {
        iteration: u32,
        outcome: IterationOutcome,
        #[serde(rename = "seconds", serialize_with = "seconds")]
        took: Duration,
        tasks: TaskCounts,
        /// Tokens and cost, when the agent reported them.
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// Permission requests allowed with no person and no rule involved.
        #[serde(skip_serializing_if = "is_zero")]
        auto_allowed: u32,
    },
    /// A hook declared in a settings file ran.
    Hook {
        hook: HookReport,
    },
    Retrying {
        failures: u32,
        max_failures: u32,
        delay_ms: u64,
        reason: String,
    },
    /// What one worker of `--workers` did (its own loop's events).
    Worker {
        worker: String,
        event: Box<BuildEvent>,
    },
    /// The last event of a build.
    Finished {
        outcome: RunOutcome,
        iterations: u32,
        message: String,
    },
}

/// Where a worker is in its loop, beyond what its iterations and restarts say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerPhase {
    /// For planning to end, or for a task it can claim.
    Waiting,
    /// Rebasing its work onto the integration branch, checking and moving the branch.
    Integrating,
    /// Its loop ended.
    Stopped,
}

/// How a hook run ended, as front ends show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookReport {
    pub point: crate::session::HookPoint,
    /// The command as declared (it holds no values: those go to the environment).
    pub command: String,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub succeeded: bool,
    /// "exit 1", "timed out after 5m", "could not start: ...".
    pub result: String,
    #[serde(rename = "seconds", serialize_with = "seconds")]
    pub took: Duration,
    /// The end of its output.
    pub output: String,
}

impl HookReport {
    /// "hook post_iteration `cargo test`: exit 1 after 3.2s".
    pub fn line(&self) -> String {
        format!(
            "hook {} `{}`: {} after {:.1}s",
            self.point,
            crate::session::text::clip(&self.command, 80),
            self.result,
            self.took.as_secs_f64()
        )
    }

    /// The line, and when the hook failed, the last `n` lines of its output (`  | …`).
    pub fn text(&self, n: usize) -> String {
        let mut text = self.line();
        if !self.succeeded {
            for line in last_lines(&self.output, n) {
                text.push_str(&format!("\n  | {line}"));
            }
        }
        text
    }

    /// The report of a run as the session log recorded it (`hook_ran`).
    pub fn from_log(kind: &crate::session::EventKind) -> Option<HookReport> {
        let crate::session::EventKind::HookRan {
            point,
            command,
            exit_code,
            result,
            timed_out,
            took_ms,
            output,
        } = kind
        else {
            return None;
        };
        Some(HookReport {
            point: *point,
            command: command.clone(),
            exit_code: *exit_code,
            timed_out: *timed_out,
            succeeded: *exit_code == Some(0),
            result: result.clone(),
            took: Duration::from_millis(*took_ms),
            output: output.clone(),
        })
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// How a whole build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Completed,
    IterationLimit,
    /// Stopped after iterations in a row that changed nothing (`--max-idle-iterations`).
    Idle,
    /// `--max-tokens` or `--max-cost` was reached.
    Budget,
    Failed,
    Interrupted,
}

/// "iteration 3 ended: end_turn after 12s · 3 tasks: 1 remaining, 2 completed", as every front
/// end says it.
pub fn iteration_ended(
    iteration: u32,
    outcome: &IterationOutcome,
    took: Duration,
    tasks: &TaskCounts,
    usage: Option<&Usage>,
    auto_allowed: u32,
) -> String {
    let usage = usage.map_or(String::new(), |u| format!(" · {u}"));
    let allowed = match auto_allowed {
        0 => String::new(),
        1 => " · 1 tool call allowed".to_string(),
        n => format!(" · {n} tool calls allowed"),
    };
    format!(
        "iteration {iteration} ended: {outcome} after {} · {tasks}{usage}{allowed}",
        crate::session::text::format_duration(i64::try_from(took.as_millis()).unwrap_or(i64::MAX))
    )
}

/// A tool call's name and title as one short text for people: "bash: echo hi", or the title alone
/// when it already names the tool ("Write /src/a.rs" for `mcp__acp__Write`).
pub fn call_label(tool: &str, title: &str) -> String {
    let short = tool
        .rsplit(['_', '.'])
        .next()
        .unwrap_or(tool)
        .to_lowercase();
    if tool.is_empty() || title.is_empty() || title.to_lowercase().contains(&short) {
        if title.is_empty() {
            tool.to_string()
        } else {
            title.to_string()
        }
    } else {
        format!("{tool}: {title}")
    }
}

/// What a person asks of a build, from any front end: every front end sends these the same way,
/// and [`crate::control::Control`] carries them out.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Stop the build cleanly (the first Ctrl+C) and leave once it has stopped.
    Stop,
    /// Leave now (a second Ctrl+C, or after the build ended).
    Leave,
    /// Record a command in the session as the person: a task or note added or changed (or a
    /// message, pause or resume that names its own `who`).
    Session(crate::session::Command),
    /// Send the agent a message, as the person at this front end.
    Message(String),
    /// Ask the session's build, here or anywhere, to pause after its iteration, as the person at
    /// this front end.
    Pause,
    /// And to go on.
    Resume,
    /// Answer the agent's permission request with this id (this build's).
    Answer(u64, Answer),
    /// Answer permission request `P-n` of the session's log (a build's anywhere), as the person.
    AnswerRequest(u64, Answer),
    /// Ask the session's build, here or anywhere, to end after its iteration (or `now`), as the
    /// person at this front end.
    AskStop { now: bool },
    /// Answer the agent's question `Q-n` (one answer per question item), as the person.
    AnswerQuestion(u64, Vec<crate::session::ItemAnswer>),
}

/// A person's answer to a permission request (`--approve ask`), or its end without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    AllowOnce,
    /// Allow, and allow this tool without asking for the rest of the build.
    AllowAlways,
    Deny,
    /// The turn was stopped (or the agent went away) before anyone answered.
    Cancel,
}

impl Answer {
    /// The decision this answer records.
    pub fn decision(self) -> PermissionDecision {
        match self {
            Answer::AllowOnce => PermissionDecision::AllowedByUser,
            Answer::AllowAlways => PermissionDecision::AllowedAlways,
            Answer::Deny => PermissionDecision::DeniedByUser,
            Answer::Cancel => PermissionDecision::Cancelled,
        }
    }

    /// The answer a person's recorded decision gives the agent.
    pub fn of(decision: PermissionDecision) -> Answer {
        match decision {
            PermissionDecision::AllowedByUser => Answer::AllowOnce,
            PermissionDecision::AllowedAlways => Answer::AllowAlways,
            PermissionDecision::DeniedByUser => Answer::Deny,
            _ => Answer::Cancel,
        }
    }
}

/// What kind of tool the agent calls (ACP's `ToolKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    Read,
    Edit,
    Delete,
    Move,
    Search,
    Execute,
    Think,
    Fetch,
    SwitchMode,
    Other,
}

impl ToolKind {
    /// From the wire; anything unknown is `Other`.
    pub fn parse(s: &str) -> Self {
        from_name(s).unwrap_or(ToolKind::Other)
    }
}

/// Where a tool call is (ACP's `ToolCallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Pending,
    InProgress,
    Completed,
    Failed,
}

impl ToolStatus {
    /// From the wire; `None` for a status this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        from_name(s)
    }
}

/// One thing the agent did during a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentUpdate {
    /// A chunk of the agent's answer (streamed; lines may be split across chunks).
    Text {
        text: String,
    },
    /// A chunk of the agent's reasoning.
    Thought {
        text: String,
    },
    ToolCall {
        id: String,
        title: String,
        kind: ToolKind,
        status: ToolStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
    },
    ToolUpdate {
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<ToolStatus>,
        /// Text the tool produced.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        diffs: Vec<Diff>,
    },
    Plan {
        entries: Vec<PlanEntry>,
    },
    /// The agent's context use and the ACP session's cost so far (`usage_update`).
    Usage {
        used: u64,
        size: u64,
        cost: Option<f64>,
        currency: Option<String>,
    },
    /// The agent asks permission and a person must answer (`--approve ask`): request `id`.
    PermissionAsked {
        id: u64,
        /// The tool's name, when the agent told it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tool: String,
        title: String,
        kind: ToolKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        diffs: Vec<Diff>,
    },
    /// iteratr allowed a call with no person and no rule involved: counted per iteration
    /// (`iteration_finished`), not shown one by one.
    AllowedQuietly {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tool: String,
    },
    /// iteratr answered a permission request (`id` matches an earlier `PermissionAsked`).
    Permission {
        id: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tool: String,
        title: String,
        decision: PermissionDecision,
        /// The `--deny-tools` pattern that refused it.
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// A person decided (now, or earlier with "always").
        by_user: bool,
    },
    /// iteratr served (or refused) a file request.
    File {
        op: String,
        path: String,
        allowed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The agent exited.
    Exited {
        status: AgentExit,
    },
}

/// How an agent process ended (said as before: "exit status: 1", "stopped by iteratr").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentExit {
    /// It exited by itself with this code.
    Code(i32),
    /// A signal ended it ("signal: 9 (SIGKILL)").
    Signal(String),
    /// It did not exit within its grace after iteratr closed the connection, and was stopped.
    StoppedByIteratr,
    /// Its end could not be read.
    Lost(String),
}

impl AgentExit {
    /// Whether people need to hear of it: not a clean exit, not iteratr's own stop.
    pub fn is_news(&self) -> bool {
        !matches!(self, AgentExit::Code(0) | AgentExit::StoppedByIteratr)
    }
}

impl From<std::process::ExitStatus> for AgentExit {
    fn from(status: std::process::ExitStatus) -> Self {
        match status.code() {
            Some(code) => AgentExit::Code(code),
            None => AgentExit::Signal(status.to_string()),
        }
    }
}

impl std::fmt::Display for AgentExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentExit::Code(code) => write!(f, "exit status: {code}"),
            AgentExit::Signal(text) => f.write_str(text),
            AgentExit::StoppedByIteratr => f.write_str("stopped by iteratr"),
            AgentExit::Lost(e) => write!(f, "lost track of it: {e}"),
        }
    }
}

impl Serialize for AgentExit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads back what [`Display`](std::fmt::Display) wrote (the output stream stores it so).
impl<'de> Deserialize<'de> for AgentExit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(
            if let Some(code) = text
                .strip_prefix("exit status: ")
                .and_then(|c| c.parse().ok())
            {
                AgentExit::Code(code)
            } else if text == "stopped by iteratr" {
                AgentExit::StoppedByIteratr
            } else if let Some(e) = text.strip_prefix("lost track of it: ") {
                AgentExit::Lost(e.to_string())
            } else {
                AgentExit::Signal(text)
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub content: String,
    pub status: String,
    pub priority: String,
}
