//! The fake LLM's wire formats: what it reads from a request (the last message, in the OpenAI
//! and Anthropic shapes) and how it writes a reply (streamed chunks or events).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Last, Reply};

/// The text of an OpenAI message's `content` (a string or a list of parts).
pub(super) fn openai_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

pub(super) fn last_openai(body: &Value) -> Last {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.last() else {
        return Last::Other("no messages".into());
    };
    match last["role"].as_str() {
        Some("user") => Last::Prompt(openai_text(&last["content"])),
        Some("tool") => {
            let results: Vec<String> = messages
                .iter()
                .rev()
                .take_while(|m| m["role"] == "tool")
                .map(|m| openai_text(&m["content"]))
                .collect();
            Last::ToolResult {
                text: results.into_iter().rev().collect::<Vec<_>>().join("\n"),
                is_error: None,
            }
        }
        other => Last::Other(format!("{other:?}: {}", openai_text(&last["content"]))),
    }
}

/// The text of an Anthropic `content` (a string or a list of blocks; tool results included).
pub(super) fn anthropic_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().unwrap_or("").to_string(),
                Some("tool_result") => anthropic_text(&b["content"]),
                _ => String::new(),
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

pub(super) fn last_anthropic(body: &Value) -> Last {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.last() else {
        return Last::Other("no messages".into());
    };
    if last["role"] != "user" {
        return Last::Other(format!(
            "{}: {}",
            last["role"],
            anthropic_text(&last["content"])
        ));
    }
    let results: Vec<&Value> = last["content"]
        .as_array()
        .map(|b| b.iter().filter(|b| b["type"] == "tool_result").collect())
        .unwrap_or_default();
    if results.is_empty() {
        Last::Prompt(anthropic_text(&last["content"]))
    } else {
        Last::ToolResult {
            text: results
                .iter()
                .map(|b| anthropic_text(&b["content"]))
                .collect::<Vec<_>>()
                .join("\n"),
            is_error: Some(results.iter().any(|b| b["is_error"] == true)),
        }
    }
}

pub(super) fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(text.to_string()))
        .unwrap()
}

pub(super) fn json_response(v: Value) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

pub(super) fn sse(body: String) -> Response {
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from(body))
        .unwrap()
}

/// Splits text into a few pieces, so that clients see it streamed.
pub(super) fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, word) in text.split_inclusive(' ').enumerate() {
        cur.push_str(word);
        if i % 4 == 3 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits a string in two at a character boundary near its middle.
pub(super) fn halves(s: &str) -> (&str, &str) {
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid += 1;
    }
    s.split_at(mid)
}

pub(super) fn openai_stream(id: u64, model: &str, reply: &Reply) -> String {
    let chunk = |delta: Value, finish: Value| {
        let v = json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {v}\n\n")
    };
    let mut out = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    let (text, calls) = match reply {
        Reply::Text(t) => (t.as_str(), &[][..]),
        Reply::Tools { text, calls } => (text.as_str(), &calls[..]),
    };
    for piece in pieces(text) {
        out.push_str(&chunk(json!({ "content": piece }), Value::Null));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let args = args.to_string();
        let (a, b) = halves(&args);
        out.push_str(&chunk(
            json!({"tool_calls": [{"index": i, "id": format!("call_{id}_{i}"), "type": "function",
                "function": {"name": name, "arguments": a}}]}),
            Value::Null,
        ));
        out.push_str(&chunk(
            json!({"tool_calls": [{"index": i, "function": {"arguments": b}}]}),
            Value::Null,
        ));
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let last = json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    });
    out.push_str(&format!("data: {last}\n\n"));
    out.push_str("data: [DONE]\n\n");
    out
}

pub(super) fn anthropic_blocks(id: u64, reply: &Reply) -> (Vec<Value>, &'static str) {
    let mut blocks = Vec::new();
    let (text, calls) = match reply {
        Reply::Text(t) => (t.as_str(), &[][..]),
        Reply::Tools { text, calls } => (text.as_str(), &calls[..]),
    };
    if !text.is_empty() || calls.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        blocks.push(json!({"type": "tool_use", "id": format!("toolu_{id:08}_{i}"), "name": name, "input": args}));
    }
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    (blocks, stop)
}

pub(super) fn anthropic_message(id: u64, model: &str, reply: &Reply) -> Value {
    let (blocks, stop) = anthropic_blocks(id, reply);
    json!({
        "id": format!("msg_{id:08}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 10,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    })
}

pub(super) fn anthropic_stream(id: u64, model: &str, reply: &Reply) -> String {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let (blocks, stop) = anthropic_blocks(id, reply);
    let mut out = event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_{id:08}"), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
    );
    for (index, block) in blocks.iter().enumerate() {
        if block["type"] == "text" {
            out.push_str(&event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "text", "text": ""}}),
            ));
            for piece in pieces(block["text"].as_str().unwrap_or("")) {
                out.push_str(&event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
        } else {
            out.push_str(&event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "tool_use", "id": block["id"],
                                         "name": block["name"], "input": {}}}),
            ));
            let args = block["input"].to_string();
            let (a, b) = halves(&args);
            for part in [a, b] {
                out.push_str(&event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": part}}),
                ));
            }
        }
        out.push_str(&event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push_str(&event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 10}}),
    ));
    out.push_str(&event("message_stop", json!({"type": "message_stop"})));
    out
}
