//! The fake agent's script, as serde types shared by the agent (`main.rs`) and the tests
//! (`tests/common/fake_agent.rs` includes this file). The JSON:
//!
//! ```json
//! {"turns": [
//!   {"actions": [{"say": "hi"}, {"tool": "task-add", "args": {"content": "x"}}],
//!    "stop": "end_turn"},
//!   {"actions": [{"hang": true}]}
//! ], "repeat": {"actions": [{"work": {"sleep_ms": 100}}]}, "models": ["fake/small"]}
//! ```
//!
//! The agent reads a script with its actions left as JSON (`Script<Value>`) and parses a turn's
//! actions ([`Action::from_value`]) only when it takes that turn, so a bad action fails its own
//! turn, not the whole script. Tests build `Script` (of [`Action`]s) with the builders below.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

/// A script: the turns, one a prompt; then `repeat` for every prompt once they are used up (a
/// worker's endless loop); `models`, the model choices instead of `fake/small`, `fake/large`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Script<A = Action> {
    pub turns: Vec<Turn<A>>,
    // Missing is `None` all the same; `default` would ask `A: Default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Turn<A>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
}

/// One prompt's turn: its actions, then the stop reason it answers with. A turn with
/// `exit_in_new_session` is instead the agent dying with that code while it handles the next
/// `session/new` (the turn is used up, so a restarted agent goes on with the next one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn<A = Action> {
    // A path, not `default`: that would ask `A: Default` of every action type.
    #[serde(default = "Vec::new")]
    pub actions: Vec<A>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_in_new_session: Option<i32>,
}

/// A turn's stop reason (`end_turn` when none is given). Any other string is kept, and refused
/// when its turn runs ("unknown stop reason").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    EndTurn,
    MaxTokens,
    MaxTurnRequests,
    Refusal,
    Cancelled,
    #[serde(untagged)]
    Unknown(String),
}

/// What the agent does in a turn, one JSON object each, named by its key: `{"say": TEXT}`,
/// `{"think": TEXT}`, `{"plan": [STEPS]}`, `{"tool": NAME, "args": {..}[, "server": NAME]
/// [, "kind": KIND]}`, `{"permission": {"title", "kind"}}`, `{"read": PATH}`,
/// `{"write": {"path", "content"}}`, `{"diff": {"path"[, "old"], "new"}}`, `{"sleep_ms": N}`,
/// `{"wait_file": PATH}`, `{"hang": true}`, `{"exit": CODE}`, `{"fail": MESSAGE}`,
/// `{"work": {"sleep_ms": N}}`, `{"usage": {"input", "output"[, "cost"]}}`,
/// `{"parallel": [TOOL ACTIONS]}`, `{"run": [PROGRAM, ARGS...]}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Streams TEXT as agent message chunks.
    Say(String),
    Think(String),
    Plan(Vec<String>),
    /// Calls MCP tools (`tool` actions only) at once, as a model that asks for several tool
    /// calls in one message; the turn goes on when all have answered.
    Parallel(Vec<Action>),
    /// Calls an MCP tool of the session's first server (or the one named `server`); `kind` is
    /// the ACP tool kind shown to the client (`other` when none or unknown).
    Tool {
        name: String,
        /// A JSON object.
        args: Value,
        server: Option<String>,
        kind: Option<String>,
    },
    /// Asks the client's permission (allow once, always, reject).
    Permission {
        title: String,
        kind: Option<String>,
    },
    /// Reads a file through the client (`fs/read_text_file`), relative to the session's cwd.
    Read(String),
    /// Writes a file through the client (`fs/write_text_file`).
    Write {
        path: String,
        content: String,
    },
    /// Reports an edit as a tool call with a diff.
    Diff {
        path: String,
        old: Option<String>,
        new: String,
    },
    SleepMs(u64),
    /// Waits until this file (relative to the session's cwd) exists: a test's signal.
    WaitFile(String),
    /// Waits for the prompt to be cancelled.
    Hang,
    /// The agent exits with this code, without answering the prompt.
    Exit(i32),
    /// The prompt is answered with this error.
    Fail(String),
    /// What a worker's model does: resolve the conflicts the prompt names, or else take the
    /// task `task-next` gives, write what it says (`write PATH: TEXT`), sleep, complete it.
    Work {
        sleep_ms: u64,
    },
    /// Runs a program in the agent's own process tree (not through the client), in the session's
    /// cwd, as a model's shell tool would: argv, no shell. The log gets its exit code and output.
    Run(Vec<String>),
    /// Tokens this turn used (added up and sent in the prompt's reply) and, with `cost`, a
    /// `usage_update` with the session's cost so far.
    Usage {
        input: u64,
        output: u64,
        cost: Option<f64>,
    },
}

fn str_field(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("missing string field {key:?} in {v}"))
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Action {
    /// Parses an action from its JSON, the first key that names one deciding (in the order of
    /// [`Action`]'s variants); the error says what is wrong with it.
    pub fn from_value(v: &Value) -> Result<Action, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("an action must be an object: {v}"))?;
        let text = |key: &str, what: &str| -> Result<String, String> {
            obj[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{key} needs {what}: {v}"))
        };
        if obj.contains_key("say") {
            return text("say", "a string").map(Action::Say);
        }
        if obj.contains_key("think") {
            return text("think", "a string").map(Action::Think);
        }
        if let Some(steps) = obj.get("plan") {
            let steps: Vec<String> = serde_json::from_value(steps.clone())
                .map_err(|e| format!("plan needs a list of strings: {e}"))?;
            return Ok(Action::Plan(steps));
        }
        if let Some(calls) = obj.get("parallel") {
            let calls = calls
                .as_array()
                .ok_or_else(|| format!("parallel needs a list of tool actions: {v}"))?
                .iter()
                .map(|c| match Action::from_value(c)? {
                    tool @ Action::Tool { .. } => Ok(tool),
                    _ => Err(format!("parallel takes tool actions only: {c}")),
                })
                .collect::<Result<Vec<_>, String>>()?;
            return Ok(Action::Parallel(calls));
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
                server: opt_str(v, "server"),
                kind: opt_str(v, "kind"),
            });
        }
        if let Some(p) = obj.get("permission") {
            return Ok(Action::Permission {
                title: str_field(p, "title")?,
                kind: opt_str(p, "kind"),
            });
        }
        if obj.contains_key("read") {
            return text("read", "a path").map(Action::Read);
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
                old: opt_str(d, "old"),
                new: str_field(d, "new")?,
            });
        }
        if let Some(ms) = obj.get("sleep_ms") {
            return ms
                .as_u64()
                .map(Action::SleepMs)
                .ok_or_else(|| format!("sleep_ms needs a number: {v}"));
        }
        if obj.contains_key("wait_file") {
            return text("wait_file", "a path").map(Action::WaitFile);
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
        if obj.contains_key("fail") {
            return text("fail", "a message").map(Action::Fail);
        }
        if let Some(argv) = obj.get("run") {
            let argv: Vec<String> = serde_json::from_value(argv.clone())
                .map_err(|e| format!("run needs a list of strings (program and arguments): {e}"))?;
            if argv.is_empty() {
                return Err(format!("run needs a program: {v}"));
            }
            return Ok(Action::Run(argv));
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

    /// The action's JSON, as [`Action::from_value`] reads it.
    pub fn to_value(&self) -> Value {
        match self {
            Action::Say(t) => json!({ "say": t }),
            Action::Think(t) => json!({ "think": t }),
            Action::Plan(steps) => json!({ "plan": steps }),
            Action::Parallel(calls) => {
                json!({ "parallel": calls.iter().map(Action::to_value).collect::<Vec<_>>() })
            }
            Action::Tool {
                name,
                args,
                server,
                kind,
            } => {
                let mut v = json!({"tool": name, "args": args});
                if let Some(s) = server {
                    v["server"] = json!(s);
                }
                if let Some(k) = kind {
                    v["kind"] = json!(k);
                }
                v
            }
            Action::Permission { title, kind } => {
                let mut p = json!({ "title": title });
                if let Some(k) = kind {
                    p["kind"] = json!(k);
                }
                json!({ "permission": p })
            }
            Action::Read(path) => json!({ "read": path }),
            Action::Write { path, content } => {
                json!({"write": {"path": path, "content": content}})
            }
            Action::Diff { path, old, new } => {
                let mut d = json!({"path": path, "new": new});
                if let Some(o) = old {
                    d["old"] = json!(o);
                }
                json!({ "diff": d })
            }
            Action::SleepMs(ms) => json!({ "sleep_ms": ms }),
            Action::WaitFile(path) => json!({ "wait_file": path }),
            Action::Hang => json!({"hang": true}),
            Action::Exit(code) => json!({ "exit": code }),
            Action::Fail(m) => json!({ "fail": m }),
            Action::Work { sleep_ms } => json!({"work": {"sleep_ms": sleep_ms}}),
            Action::Run(argv) => json!({ "run": argv }),
            Action::Usage {
                input,
                output,
                cost,
            } => {
                let mut u = json!({"input": input, "output": output});
                if let Some(c) = cost {
                    u["cost"] = json!(c);
                }
                json!({ "usage": u })
            }
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Action::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// A path as the script holds it.
fn path_text(path: impl AsRef<Path>) -> String {
    path.as_ref().to_string_lossy().into_owned()
}

// The builders the tests write scripts with (the agent only reads scripts).
#[allow(dead_code)]
impl Action {
    pub fn say(text: impl Into<String>) -> Action {
        Action::Say(text.into())
    }

    pub fn think(text: impl Into<String>) -> Action {
        Action::Think(text.into())
    }

    pub fn plan<S: Into<String>>(steps: impl IntoIterator<Item = S>) -> Action {
        Action::Plan(steps.into_iter().map(Into::into).collect())
    }

    /// A call of the MCP tool `name` with `args` (a JSON object).
    pub fn tool(name: impl Into<String>, args: Value) -> Action {
        Action::Tool {
            name: name.into(),
            args,
            server: None,
            kind: None,
        }
    }

    /// These tool calls at once.
    pub fn parallel(calls: impl IntoIterator<Item = Action>) -> Action {
        Action::Parallel(calls.into_iter().collect())
    }

    /// A tool call to the MCP server named `server` (the session's first one otherwise).
    pub fn on_server(self, server: impl Into<String>) -> Action {
        match self {
            Action::Tool {
                name, args, kind, ..
            } => Action::Tool {
                name,
                args,
                server: Some(server.into()),
                kind,
            },
            other => panic!("on_server: not a tool call: {other:?}"),
        }
    }

    pub fn permission(title: impl Into<String>, kind: impl Into<String>) -> Action {
        Action::Permission {
            title: title.into(),
            kind: Some(kind.into()),
        }
    }

    pub fn read(path: impl AsRef<Path>) -> Action {
        Action::Read(path_text(path))
    }

    pub fn write(path: impl AsRef<Path>, content: impl Into<String>) -> Action {
        Action::Write {
            path: path_text(path),
            content: content.into(),
        }
    }

    pub fn diff(path: impl AsRef<Path>, old: Option<&str>, new: impl Into<String>) -> Action {
        Action::Diff {
            path: path_text(path),
            old: old.map(str::to_string),
            new: new.into(),
        }
    }

    pub fn wait_file(path: impl AsRef<Path>) -> Action {
        Action::WaitFile(path_text(path))
    }

    pub fn fail(message: impl Into<String>) -> Action {
        Action::Fail(message.into())
    }

    pub fn work(sleep_ms: u64) -> Action {
        Action::Work { sleep_ms }
    }

    /// Runs `argv` (program and arguments, no shell) in the agent's own process.
    pub fn run<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Action {
        Action::Run(argv.into_iter().map(Into::into).collect())
    }

    /// Tokens used, without a cost.
    pub fn usage(input: u64, output: u64) -> Action {
        Action::Usage {
            input,
            output,
            cost: None,
        }
    }
}

#[allow(dead_code)] // builders for the tests
impl Turn {
    pub fn of(actions: impl IntoIterator<Item = Action>) -> Turn {
        Turn {
            actions: actions.into_iter().collect(),
            stop: None,
            exit_in_new_session: None,
        }
    }

    /// The turn of the agent dying with `code` while it handles the next `session/new`.
    pub fn exit_in_new_session(code: i32) -> Turn {
        Turn {
            actions: Vec::new(),
            stop: None,
            exit_in_new_session: Some(code),
        }
    }

    pub fn stop(mut self, stop: Stop) -> Turn {
        self.stop = Some(stop);
        self
    }

    /// The turn with `more` actions after its own.
    pub fn then(mut self, more: impl IntoIterator<Item = Action>) -> Turn {
        self.actions.extend(more);
        self
    }
}

#[allow(dead_code)] // builders for the tests
impl Script {
    pub fn turns(turns: impl IntoIterator<Item = Turn>) -> Script {
        Script {
            turns: turns.into_iter().collect(),
            repeat: None,
            models: None,
        }
    }

    /// Runs `turn` for every prompt once the turns are used up.
    pub fn repeat(mut self, turn: Turn) -> Script {
        self.repeat = Some(turn);
        self
    }

    pub fn models<S: Into<String>>(mut self, models: impl IntoIterator<Item = S>) -> Script {
        self.models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// The script as the agent reads it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a script serializes")
    }
}
