//! Every session tool fed generated arguments over the real HTTP transport (issue 14, part 4):
//! wrong types, empty and huge strings, unicode edge cases (RTL marks, NUL, combining characters),
//! deep nesting, ids that do not exist, a batch of 10,000 tasks. Each call gets a JSON-RPC answer
//! (a result, possibly `isError`, or a JSON-RPC error), the server stays up, and what was stored
//! is well formed.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::common::keep_alive::KeepAlive;
use crate::common::mcp::{self, TOKEN};

/// The tools, and one that does not exist (a JSON-RPC error, not a tool result).
fn tools() -> Vec<&'static str> {
    let mut tools = vec!["task-explode"];
    tools.extend(iteratr::session::tools::TOOLS);
    tools
}
const KEYS: [&str; 9] = [
    "content",
    "status",
    "priority",
    "id",
    "depends_on",
    "type",
    "summary",
    "tasks",
    "extra",
];

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!("x".repeat(20_000))),
        Just(json!("\u{202e}reversed\u{0}nul e\u{301}\u{301}\u{301}")),
        Just(json!("TAS-1")),
        Just(json!("tas-999999999999999999999")),
        Just(json!("NOT-1")),
        Just(json!("in_progress")),
        Just(json!("learning")),
        "[a-zA-Z0-9 ._-]{0,30}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        text(),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(4)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
    ];
    leaf.prop_recursive(6, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), inner, 0..4).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn arguments() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// The JSON-RPC message with `id` in an answer (SSE `data:` lines or plain JSON).
fn answer_for(body: &str, id: u64) -> Option<Value> {
    body.lines()
        .map(|l| l.strip_prefix("data:").unwrap_or(l).trim())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_answers_generated_arguments_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "fuzzed", &[]);
    let port = server.port;
    let data = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut conn = KeepAlive::connect(port, TOKEN);
        conn.initialize();
        // One real task and note, so ids sometimes exist.
        conn.call(1, "task-add", r#"{"content":"a real task"}"#);
        conn.call(2, "note-add", r#"{"type":"tip","content":"a real note"}"#);
        let mut runner = TestRunner::new(Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        });
        // The runner's closure is `Fn`: the connection and the request ids live in cells.
        let conn_cell = std::cell::RefCell::new(conn);
        let next_id = std::cell::Cell::new(10u64);
        // (succeeded, refused by the tool, refused as JSON-RPC): the generator reaches all three.
        let seen = std::cell::Cell::new((0u32, 0u32, 0u32));
        runner
            .run(
                &(prop::sample::select(tools()), arguments()),
                |(tool, args)| {
                    let id = next_id.get() + 1;
                    next_id.set(id);
                    let body = conn_cell.borrow_mut().call(id, tool, &args.to_string());
                    let answer = answer_for(&body, id);
                    prop_assert!(
                        answer.is_some(),
                        "{tool} {args}: no answer for {id} in {body}"
                    );
                    let answer = answer.unwrap();
                    let (ok, tool_error, rpc_error) = seen.get();
                    seen.set(match (&answer["result"]["isError"], answer.get("error")) {
                        (Value::Bool(false), None) => (ok + 1, tool_error, rpc_error),
                        (Value::Bool(true), None) => (ok, tool_error + 1, rpc_error),
                        (_, Some(_)) => (ok, tool_error, rpc_error + 1),
                        _ => return Err(TestCaseError::fail(format!("{tool}: {answer}"))),
                    });
                    Ok(())
                },
            )
            .unwrap();
        let (ok, tool_error, rpc_error) = seen.get();
        assert!(
            ok > 0 && tool_error > 0 && rpc_error > 0,
            "{:?}",
            seen.get()
        );
        crate::common::reliability::report(format!(
            "fuzz mcp tools: {} executions over HTTP ({ok} answered, {tool_error} refused by the tool, {rpc_error} JSON-RPC errors), server up",
            ok + tool_error + rpc_error
        ));
        let mut conn = conn_cell.into_inner();
        let mut id = next_id.get();
        // Deeply nested arguments (far beyond what the generator nests), in every tool: each
        // gets an answer (a JSON-RPC error when the nesting is too deep to parse, with the
        // request's id or none), and the server stays up.
        for depth in [32, 100, 127, 200, 10_000] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            for tool in tools() {
                id += 1;
                let args = format!(r#"{{"content":{nested},"tasks":{nested},"id":{nested}}}"#);
                let body = conn.call(id, tool, &args);
                let answer = answer_for(&body, id).or_else(|| {
                    body.lines()
                        .map(|l| l.strip_prefix("data:").unwrap_or(l).trim())
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .find(|v| v["id"].is_null() && v.get("error").is_some())
                });
                let answer = answer.unwrap_or_else(|| panic!("{tool}, depth {depth}: {body}"));
                // Tools without parameters may ignore them; those that read them refuse.
                if ["task-add", "task-batch-add", "task-status", "note-add"].contains(&tool) {
                    assert!(
                        answer["result"]["isError"] == true || answer.get("error").is_some(),
                        "{tool} accepted arguments nested {depth} deep: {answer}"
                    );
                }
            }
        }
        let status_now = || {
            let mut status = std::process::Command::new(crate::common::bin());
            status.arg("--data-dir").arg(&data);
            crate::common::status_json(status, "fuzzed")
        };
        let before = status_now()["tasks"].as_array().unwrap().len();
        // A batch of 10,000 is refused as a whole (at most 100), and nothing of it is stored.
        let tasks: Vec<Value> = (0..10_000)
            .map(|i| json!({"content": format!("batch task {i}")}))
            .collect();
        id += 1;
        let body = conn.call(id, "task-batch-add", &json!({ "tasks": tasks }).to_string());
        let answer = answer_for(&body, id).expect("an answer to the big batch");
        let refused = answer["result"]["isError"] == true || answer.get("error").is_some();
        assert!(refused, "{answer}");
        // The server is still up, and what it stored reads back well formed.
        id += 1;
        assert!(answer_for(&conn.call(id, "task-list", "{}"), id).is_some());
        let status = status_now();
        let tasks = status["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), before, "part of the big batch was stored");
        assert!(
            !tasks
                .iter()
                .any(|t| t["content"].as_str().unwrap().starts_with("batch task ")),
            "part of the big batch was stored"
        );
        for t in tasks {
            let content = t["content"].as_str().unwrap();
            assert!(!content.trim().is_empty(), "{t}");
            assert!(content.chars().count() <= 1_000, "{t}");
        }
    })
    .await
    .unwrap();
}
