//! A misbehaving ACP agent for the reliability tests (`tests/it/reliability_agent.rs`): raw
//! JSON-RPC over stdio, written by hand with serde_json and std only, so that it can do what no
//! well-behaved SDK lets an agent do (garbage, huge lines, bytes that are not UTF-8, answers to
//! requests nobody sent, updates for sessions that do not exist, floods, ignoring cancel).
//!
//! Script (`ITERATR_ROGUE_SCRIPT=FILE`, JSON, re-read on every prompt):
//!
//! ```json
//! {"init": "ok" | "hang", "turns": [[{"say": "hi"}, {"flood": 1000}], [{"hang": true}]]}
//! ```
//!
//! `"init": "hang"` never answers `initialize`; `"init_hang_after": N` answers the first N (over
//! every process, counted in `FILE.inits`) and never the later ones.
//!
//! Each `session/prompt` runs the next turn (progress in `FILE.state`, so a restarted agent goes
//! on with the following turn) and then answers `end_turn`; with no turns left it just answers.
//! Actions:
//! * `{"say": TEXT}`: an `agent_message_chunk` for the prompt's session
//! * `{"say_to": [SESSION, TEXT]}`: the same for another session id
//! * `{"raw": TEXT}`: TEXT and a newline on stdout, as is
//! * `{"raw_bytes": [N, ...]}`: these bytes and a newline on stdout
//! * `{"long_line": N}`: a line of N bytes (`x`) on stdout
//! * `{"answer_unknown_id": true}`: a response to a request id iteratr never used
//! * `{"flood": N}`: N text chunks as fast as the pipe takes them
//! * `{"numbered_flood": N}`: the same, chunk i saying `i` (six digits; ten a line)
//! * `{"read": PATH}`, `{"write": {"path": P, "content": C}}`: `fs/read_text_file` and
//!   `fs/write_text_file` requests (relative paths are sent as they are)
//! * `{"permission": {"title": T, "kind": K}, "times": N}`: N permission requests in a row
//! * `{"wait_file": PATH}`: logs `waiting`, then waits until PATH exists
//! * `{"sleep_ms": N}`, `{"exit": CODE}`, `{"hang": true}` (the turn never ends, and
//!   `session/cancel` is ignored)
//!
//! `ITERATR_ROGUE_LOG=FILE`: one JSON object a line: `{"event": "start"|"initialize"|
//! "new_session"|"prompt"|"cancel"|"read"|"write"|"permission"|"response"|"eof", "pid", ...}`;
//! `new_session` logs the whole `mcpServers` it was given (this is a test agent: the tests read
//! the token from it to check iteratr never prints it).

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn log(event: &str, mut fields: Value) {
    let Some(file) = std::env::var_os("ITERATR_ROGUE_LOG") else {
        return;
    };
    fields["event"] = json!(event);
    fields["pid"] = json!(std::process::id());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = writeln!(f, "{fields}");
    }
}

fn send_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means iteratr is gone: nothing left to do.
    if out.write_all(bytes).and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn send(message: &Value) {
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    send_bytes(&line);
}

fn chunk(session: &str, text: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session,
        "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}}})
}

struct Agent {
    incoming: mpsc::Receiver<Value>,
    next_id: u64,
    script: std::path::PathBuf,
    sessions: u64,
}

impl Agent {
    /// Sends a request and waits for its response; other messages meanwhile are logged.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let Ok(msg) = self.incoming.recv() else {
                log("eof", json!({}));
                std::process::exit(0);
            };
            if msg.get("method").is_none() && msg.get("id") == Some(&json!(id)) {
                return msg;
            }
            log("ignored", json!({"message": msg}));
        }
    }

    fn load_script(&self) -> Value {
        std::fs::read_to_string(&self.script)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| json!({"turns": []}))
    }

    /// The next turn's actions, and that turn marked as used.
    fn next_turn(&self) -> Vec<Value> {
        let state = self.script.with_extension("json.state");
        let n: usize = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let _ = std::fs::write(&state, (n + 1).to_string());
        self.load_script()["turns"][n]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Runs a turn; false when it hangs (no answer to the prompt).
    fn turn(&mut self, session: &str) -> bool {
        for action in self.next_turn() {
            if let Some(text) = action["say"].as_str() {
                send(&chunk(session, text));
            } else if let Some([other, text]) = action["say_to"].as_array().map(Vec::as_slice) {
                send(&chunk(
                    other.as_str().unwrap_or(""),
                    text.as_str().unwrap_or(""),
                ));
            } else if let Some(text) = action["raw"].as_str() {
                send_bytes(format!("{text}\n").as_bytes());
            } else if let Some(bytes) = action["raw_bytes"].as_array() {
                let mut line: Vec<u8> = bytes
                    .iter()
                    .filter_map(|b| b.as_u64())
                    .map(|b| b as u8)
                    .collect();
                line.push(b'\n');
                send_bytes(&line);
            } else if let Some(n) = action["long_line"].as_u64() {
                let mut line = vec![b'x'; n as usize];
                line.push(b'\n');
                send_bytes(&line);
            } else if action["answer_unknown_id"] == json!(true) {
                send(
                    &json!({"jsonrpc": "2.0", "id": 987_654_321, "result": {"stopReason": "end_turn"}}),
                );
            } else if let Some(n) = action["flood"].as_u64() {
                for i in 0..n {
                    let text = if i % 100 == 99 { ".\n" } else { "." };
                    send(&chunk(session, text));
                }
            } else if let Some(n) = action["numbered_flood"].as_u64() {
                for i in 0..n {
                    let text = if i % 10 == 9 {
                        format!("{i:06}\n")
                    } else {
                        format!("{i:06} ")
                    };
                    send(&chunk(session, &text));
                }
            } else if let Some(path) = action["read"].as_str() {
                let r = self.request(
                    "fs/read_text_file",
                    json!({"sessionId": session, "path": path}),
                );
                log(
                    "read",
                    json!({"path": path, "ok": r.get("result").is_some(),
                    "content": r.pointer("/result/content"), "error": r.pointer("/error/message")}),
                );
            } else if let Some(w) = action.get("write") {
                let r = self.request(
                    "fs/write_text_file",
                    json!({"sessionId": session, "path": w["path"], "content": w["content"]}),
                );
                log(
                    "write",
                    json!({"path": w["path"], "ok": r.get("result").is_some(),
                    "error": r.pointer("/error/message")}),
                );
            } else if let Some(p) = action.get("permission") {
                for i in 0..action["times"].as_u64().unwrap_or(1) {
                    let r = self.request("session/request_permission", json!({
                        "sessionId": session,
                        "toolCall": {"toolCallId": format!("call-{i}"), "title": p["title"], "kind": p["kind"]},
                        "options": [
                            {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
                            {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
                        ],
                    }));
                    let outcome = r
                        .pointer("/result/outcome/optionId")
                        .or_else(|| r.pointer("/result/outcome/outcome"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    log(
                        "permission",
                        json!({"title": p["title"], "outcome": outcome}),
                    );
                }
            } else if let Some(path) = action["wait_file"].as_str() {
                log("waiting", json!({"path": path}));
                while !std::path::Path::new(path).exists() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            } else if let Some(ms) = action["sleep_ms"].as_u64() {
                std::thread::sleep(Duration::from_millis(ms));
            } else if let Some(code) = action["exit"].as_i64() {
                log("exit", json!({"code": code}));
                std::process::exit(code as i32);
            } else if action["hang"] == json!(true) {
                log("hang", json!({"session_id": session}));
                return false;
            }
        }
        true
    }
}

fn main() {
    let script = std::env::var_os("ITERATR_ROGUE_SCRIPT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "rogue.json".into());
    log("start", json!({"script": script.display().to_string()}));
    let (tx, incoming) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    let mut agent = Agent {
        incoming,
        next_id: 0,
        script,
        sessions: 0,
    };
    while let Ok(msg) = agent.incoming.recv() {
        let id = msg.get("id").cloned();
        let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
        match (method, id) {
            ("initialize", Some(id)) => {
                // Every initialize is counted (in FILE.inits), for `init_hang_after`.
                let inits = agent.script.with_extension("json.inits");
                let before: u64 = std::fs::read_to_string(&inits)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
                let _ = std::fs::write(&inits, (before + 1).to_string());
                let script = agent.load_script();
                let hang = script["init"] == json!("hang")
                    || script["init_hang_after"]
                        .as_u64()
                        .is_some_and(|n| before >= n);
                log("initialize", json!({"hang": hang}));
                if !hang {
                    send(&json!({"jsonrpc": "2.0", "id": id, "result": {
                        "protocolVersion": 1,
                        "agentCapabilities": {"mcpCapabilities": {"http": true}},
                        "agentInfo": {"name": "rogue-agent", "version": "0.1"},
                    }}));
                }
            }
            ("session/new", Some(id)) => {
                agent.sessions += 1;
                let session = format!("rogue-{}-{}", std::process::id(), agent.sessions);
                log(
                    "new_session",
                    json!({"session_id": session,
                    "mcp_servers": msg.pointer("/params/mcpServers")}),
                );
                send(&json!({"jsonrpc": "2.0", "id": id, "result": {"sessionId": session}}));
            }
            ("session/prompt", Some(id)) => {
                let session = msg
                    .pointer("/params/sessionId")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                log("prompt", json!({"session_id": session}));
                if agent.turn(&session) {
                    send(
                        &json!({"jsonrpc": "2.0", "id": id, "result": {"stopReason": "end_turn"}}),
                    );
                    log("prompt_done", json!({"session_id": session}));
                }
            }
            ("session/cancel", None) => log("cancel", json!({"params": msg["params"]})),
            ("", _) => log("response", json!({"message": msg})),
            (other, Some(id)) => send(&json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("rogue-agent does not do {other}")}})),
            (other, None) => log("notification", json!({"method": other})),
        }
    }
    log("eof", json!({}));
}
