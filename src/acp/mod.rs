//! The ACP client: runs the coding agent as a child process and speaks the Agent Client Protocol
//! with it on the agent's stdio. The connection lives on its own thread (a current-thread runtime),
//! and the rest of iteratr talks to it through [`Agent`], by channels.

pub mod agents;
mod client;
mod connection;
mod models;
pub mod opencode;
pub mod ordered_json;
pub mod permissions;
mod updates;

use serde::Serialize;
use serde_json::Value;

pub use crate::frontend::{AgentUpdate, Diff, PlanEntry, call_label};
use crate::frontend::{ToolKind, ToolStatus};

pub use client::{Agent, AgentError, AgentSpec, McpEntry, ModelChoice, UpdateSink};

/// What the agent said it is, from `initialize`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    pub name: String,
    pub version: String,
    /// The agent accepts MCP servers over HTTP in `session/new`.
    pub http_mcp: bool,
    pub load_session: bool,
    pub protocol_version: String,
}

fn text_of(content: &Value) -> String {
    match content.get("type").and_then(Value::as_str) {
        Some("text") => content["text"].as_str().unwrap_or_default().to_string(),
        Some("resource_link") => format!("[{}]", content["uri"].as_str().unwrap_or_default()),
        Some(other) => format!("[{other}]"),
        None => String::new(),
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Turns a `session/update` (as JSON, so new or unknown kinds never break us) into updates for
/// the front ends; none for kinds they do not show (available commands, usage, ...). A tool call
/// that arrives with content already gives its call and its content.
pub fn convert_updates(update: &Value) -> Vec<AgentUpdate> {
    let Some(first) = convert_update(update) else {
        return Vec::new();
    };
    let mut out = vec![first];
    if update.get("sessionUpdate").and_then(Value::as_str) == Some("tool_call")
        && update
            .get("content")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
        && let Some(content) = convert_update(&{
            let mut u = update.clone();
            u["sessionUpdate"] = Value::from("tool_call_update");
            u
        })
    {
        out.push(content);
    }
    out
}

fn convert_update(update: &Value) -> Option<AgentUpdate> {
    let kind = update.get("sessionUpdate")?.as_str()?;
    Some(match kind {
        "agent_message_chunk" => AgentUpdate::Text {
            text: text_of(&update["content"]),
        },
        "agent_thought_chunk" => AgentUpdate::Thought {
            text: text_of(&update["content"]),
        },
        "tool_call" => AgentUpdate::ToolCall {
            id: str_of(update, "toolCallId"),
            title: str_of(update, "title"),
            kind: ToolKind::parse(&str_of(update, "kind")),
            status: opt_str(update, "status")
                .and_then(|s| ToolStatus::parse(&s))
                .unwrap_or(ToolStatus::Pending),
            input: update.get("rawInput").filter(|v| !v.is_null()).cloned(),
        },
        "tool_call_update" => {
            let mut output = Vec::new();
            let mut diffs = Vec::new();
            for item in update
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match item.get("type").and_then(Value::as_str) {
                    Some("content") => output.push(text_of(&item["content"])),
                    Some("diff") => diffs.push(Diff {
                        path: str_of(item, "path"),
                        old: opt_str(item, "oldText"),
                        new: str_of(item, "newText"),
                    }),
                    Some("terminal") => {
                        output.push(format!("[terminal {}]", str_of(item, "terminalId")))
                    }
                    _ => {}
                }
            }
            AgentUpdate::ToolUpdate {
                id: str_of(update, "toolCallId"),
                title: opt_str(update, "title"),
                status: opt_str(update, "status").and_then(|s| ToolStatus::parse(&s)),
                output: output.join("\n"),
                diffs,
            }
        }
        "plan" => AgentUpdate::Plan {
            entries: update
                .get("entries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| PlanEntry {
                    content: str_of(e, "content"),
                    status: str_of(e, "status"),
                    priority: str_of(e, "priority"),
                })
                .collect(),
        },
        "usage_update" => AgentUpdate::Usage {
            used: update.get("used")?.as_u64()?,
            size: update.get("size")?.as_u64()?,
            cost: update
                .pointer("/cost/amount")
                .and_then(Value::as_f64)
                .filter(|c| c.is_finite() && *c >= 0.0),
            currency: update
                .pointer("/cost/currency")
                .and_then(Value::as_str)
                .map(|c| c.chars().take(16).collect()),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_updates() {
        let u = convert_update(
            &json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}}),
        );
        assert_eq!(u, Some(AgentUpdate::Text { text: "hi".into() }));
        let u = convert_update(&json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "completed",
            "content": [
                {"type": "content", "content": {"type": "text", "text": "done"}},
                {"type": "diff", "path": "/p/a.rs", "oldText": "a", "newText": "b"}
            ]
        }));
        match u {
            Some(AgentUpdate::ToolUpdate {
                id,
                status,
                output,
                diffs,
                ..
            }) => {
                assert_eq!(
                    (id.as_str(), status.map(|s| s.as_str()), output.as_str()),
                    ("t1", Some("completed"), "done")
                );
                assert_eq!(diffs[0].new, "b");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            convert_update(&json!({"sessionUpdate": "usage_update"})),
            None
        );
        assert_eq!(
            convert_update(
                &json!({"sessionUpdate": "usage_update", "used": 10, "size": 100,
                "cost": {"amount": 0.25, "currency": "USD"}})
            ),
            Some(AgentUpdate::Usage {
                used: 10,
                size: 100,
                cost: Some(0.25),
                currency: Some("USD".into())
            })
        );
        assert_eq!(convert_update(&json!({"nonsense": 1})), None);
    }
}
