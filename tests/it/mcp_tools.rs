//! Every session tool, through the real binary, over both transports, with the rmcp client:
//! each success and each refusal the domain rules name.

use crate::common::mcp::{self, McpClient, call, connect_http, connect_stdio, ok, refused, text};
use serde_json::json;

/// The whole tour of the tools on an empty session. Runs the same over HTTP and stdio.
async fn exercise_every_tool(c: &McpClient) {
    // The list is exactly the session tools, with their schemas.
    let tools = c.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ask-questions",
            "iteration-summary",
            "note-add",
            "note-list",
            "session-complete",
            "task-add",
            "task-batch-add",
            "task-depends",
            "task-list",
            "task-next",
            "task-priority",
            "task-status"
        ]
    );
    assert!(
        tools
            .iter()
            .all(|t| t.description.as_deref().is_some_and(|d| d.len() > 20))
    );

    // Empty session.
    assert!(ok(c, "task-next", json!({})).await.contains("No tasks yet"));
    assert!(ok(c, "task-list", json!({})).await.contains("No tasks yet"));
    assert!(ok(c, "note-list", json!({})).await.contains("No notes yet"));

    // task-add and its refusals.
    let r = call(
        c,
        "task-add",
        json!({"content": "Write the parser", "priority": 4}),
    )
    .await;
    assert_eq!(
        text(&r),
        "Added TAS-1 [p4] Write the parser (remaining, priority 4)"
    );
    assert_eq!(r.structured_content.as_ref().unwrap()["id"], "TAS-1");
    // Clients that show the model the structured content still give it the words.
    assert_eq!(
        r.structured_content.as_ref().unwrap()["message"],
        text(&r).as_str()
    );
    let e = refused(c, "task-add", json!({"content": "write the  parser."})).await;
    assert!(e.contains("an open task already says this: TAS-1"), "{e}");
    let e = refused(c, "task-add", json!({"content": "   "})).await;
    assert!(e.contains("task content is empty"), "{e}");
    let e = refused(c, "task-add", json!({"content": "x".repeat(1001)})).await;
    assert!(e.contains("1001 characters, over the limit of 1000"), "{e}");
    let e = refused(c, "task-add", json!({"content": "Other", "priority": 7})).await;
    assert!(e.contains("priority 7 is outside 0-4"), "{e}");
    let e = refused(
        c,
        "task-add",
        json!({"content": "Other", "depends_on": ["TAS-99"]}),
    )
    .await;
    assert!(
        e.contains("TAS-99 does not exist") && e.contains("task-list"),
        "{e}"
    );
    let e = refused(
        c,
        "task-add",
        json!({"content": "Other", "status": "finished"}),
    )
    .await;
    assert!(e.contains("finished") && e.contains("in_progress"), "{e}");
    let e = refused(c, "task-add", json!({"description": "Other"})).await;
    assert!(e.contains("unknown field `description`"), "{e}");
    let e = refused(
        c,
        "task-add",
        json!({"content": "Other", "priority": "high"}),
    )
    .await;
    assert!(e.contains("invalid type"), "{e}");

    // task-batch-add: all or nothing.
    let e = refused(
        c,
        "task-batch-add",
        json!({"tasks": [{"content": "Lexer"}, {"content": ""}, {"content": "Docs"}]}),
    )
    .await;
    assert!(
        e.contains("task 2 of the batch") && e.contains("nothing from the batch was added"),
        "{e}"
    );
    let e = refused(c, "task-batch-add", json!({"tasks": []})).await;
    assert!(e.contains("batch is empty"), "{e}");
    let e = refused(
        c,
        "task-batch-add",
        json!({"tasks": [{"content": "A"}, {"content": "a"}]}),
    )
    .await;
    assert!(e.contains("same task twice"), "{e}");
    let many: Vec<_> = (0..101)
        .map(|i| json!({"content": format!("t{i}")}))
        .collect();
    let e = refused(c, "task-batch-add", json!({"tasks": many})).await;
    assert!(e.contains("101 tasks, over the limit of 100"), "{e}");
    let t = ok(
        c,
        "task-batch-add",
        json!({"tasks": [
            {"content": "Test the parser", "depends_on": "TAS-1"},
            {"content": "Write the docs", "priority": 1},
            {"content": "Benchmark it", "priority": 0, "status": "blocked"}
        ]}),
    )
    .await;
    assert_eq!(
        t,
        "Added 3 tasks:\n  TAS-2 [p2] Test the parser (after TAS-1)\n  TAS-3 [p1] Write the docs\n  TAS-4 [p0] Benchmark it"
    );

    // task-status.
    let t = ok(
        c,
        "task-status",
        json!({"id": "tas-3", "status": "in_progress"}),
    )
    .await;
    assert!(
        t.starts_with("TAS-3 is now in_progress. Tasks: 2 remaining, 1 in progress"),
        "{t}"
    );
    let t = ok(
        c,
        "task-status",
        json!({"id": "TAS-3", "status": "in_progress"}),
    )
    .await;
    assert!(t.starts_with("TAS-3 was already in_progress"), "{t}");
    let e = refused(
        c,
        "task-status",
        json!({"id": "TAS-99", "status": "completed"}),
    )
    .await;
    assert!(e.contains("TAS-99 does not exist"), "{e}");
    let e = refused(
        c,
        "task-status",
        json!({"id": "TAS", "status": "completed"}),
    )
    .await;
    assert!(
        e.contains("matches several tasks") && e.contains("TAS-1, TAS-2, TAS-3, TAS-4"),
        "{e}"
    );
    let e = refused(c, "task-status", json!({"id": "TAS-1", "status": "nearly"})).await;
    assert!(e.contains("nearly"), "{e}");

    // task-priority (0 is a real priority).
    assert_eq!(
        ok(c, "task-priority", json!({"id": "TAS-3", "priority": 0})).await,
        "TAS-3 has priority 0"
    );
    let e = refused(c, "task-priority", json!({"id": "TAS-3", "priority": -1})).await;
    assert!(e.contains("priority -1 is outside 0-4"), "{e}");

    // task-depends: self, cycle, success.
    let e = refused(
        c,
        "task-depends",
        json!({"id": "TAS-1", "depends_on": "TAS-1"}),
    )
    .await;
    assert!(e.contains("TAS-1 cannot depend on itself"), "{e}");
    let e = refused(
        c,
        "task-depends",
        json!({"id": "TAS-1", "depends_on": "TAS-2"}),
    )
    .await;
    assert!(e.contains("cycle") && e.contains("TAS-2 → TAS-1"), "{e}");
    let e = refused(
        c,
        "task-depends",
        json!({"id": "TAS-1", "depends_on": "TAS-77"}),
    )
    .await;
    assert!(e.contains("TAS-77 does not exist"), "{e}");
    let t = ok(
        c,
        "task-depends",
        json!({"id": "TAS-4", "depends_on": "TAS-3"}),
    )
    .await;
    assert_eq!(t, "Now TAS-4 [p0] Benchmark it (after TAS-3)");

    // task-list, grouped and filtered.
    let t = ok(c, "task-list", json!({})).await;
    assert_eq!(
        t,
        "in_progress (1):\n  TAS-3 [p0] Write the docs\nremaining (2):\n  TAS-1 [p4] Write the parser\n  TAS-2 [p2] Test the parser (after TAS-1)\nblocked (1):\n  TAS-4 [p0] Benchmark it (after TAS-3)"
    );
    let r = call(c, "task-list", json!({"status": "remaining"})).await;
    assert_eq!(
        r.structured_content.as_ref().unwrap()["tasks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        ok(c, "task-list", json!({"status": "cancelled"}))
            .await
            .starts_with("No cancelled tasks.")
    );

    // task-next: highest priority among unblocked remaining tasks.
    assert_eq!(
        ok(c, "task-next", json!({})).await,
        "Next: TAS-1 [p4] Write the parser"
    );

    // Notes.
    for (kind, content) in [
        ("learning", "The grammar is LL(1)"),
        ("stuck", "CI is slow"),
        ("tip", "Run cargo fmt"),
        ("decision", "Recursive descent"),
    ] {
        let t = ok(c, "note-add", json!({"type": kind, "content": content})).await;
        assert!(
            t.starts_with("Added NOT-") && t.ends_with(&format!("({kind})")),
            "{t}"
        );
    }
    let e = refused(c, "note-add", json!({"type": "idea", "content": "x"})).await;
    assert!(e.contains("idea") && e.contains("learning"), "{e}");
    let e = refused(c, "note-add", json!({"type": "tip", "content": ""})).await;
    assert!(e.contains("note content is empty"), "{e}");
    let e = refused(
        c,
        "note-add",
        json!({"type": "tip", "content": "n".repeat(4001)}),
    )
    .await;
    assert!(e.contains("over the limit of 4000"), "{e}");
    let t = ok(c, "note-list", json!({})).await;
    assert!(
        t.starts_with("learning (1):\n  NOT-1 The grammar is LL(1)\nstuck (1):"),
        "{t}"
    );
    assert_eq!(
        ok(c, "note-list", json!({"type": "decision"})).await,
        "decision (1):\n  NOT-4 Recursive descent"
    );

    // Iteration summary.
    let t = ok(c, "iteration-summary", json!({"summary": "Parser planned"})).await;
    assert!(t.starts_with("Recorded the summary of iteration"), "{t}");
    let e = refused(c, "iteration-summary", json!({"summary": ""})).await;
    assert!(e.contains("summary is empty"), "{e}");

    // session-complete: refused while work is unfinished, with the list.
    let e = refused(c, "session-complete", json!({})).await;
    assert!(e.contains("3 task(s) not done"), "{e}");
    assert!(
        e.contains("TAS-1 [remaining] Write the parser") && e.contains("TAS-3 [in_progress]"),
        "{e}"
    );
    for id in ["TAS-1", "TAS-2", "TAS-3"] {
        ok(c, "task-status", json!({"id": id, "status": "completed"})).await;
    }
    assert!(
        ok(c, "task-next", json!({}))
            .await
            .contains("call session-complete")
    );
    // TAS-4 is still blocked: that does not prevent completion.
    let t = ok(c, "session-complete", json!({"summary": "Parser shipped"})).await;
    assert!(t.starts_with("Session complete."), "{t}");
    assert_eq!(
        ok(c, "session-complete", json!({})).await,
        "The session was already complete."
    );

    // An unknown tool is a protocol error, not a tool result.
    let err = c
        .call_tool(rmcp::model::CallToolRequestParams::new("task-explode"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tool not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "http-tour", &[]);
    let client = connect_http(&server.url, mcp::TOKEN).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "iteratr");
    exercise_every_tool(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let client = connect_stdio(dir.path(), "stdio-tour").await;
    exercise_every_tool(&client).await;
    client.cancel().await.unwrap();
    // What the tools wrote is in the log, readable by `status`.
    let out = std::process::Command::new(crate::common::bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["status", "--session", "stdio-tour", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], true);
    assert_eq!(v["counts"]["completed"], 3);
    assert_eq!(v["notes"].as_array().unwrap().len(), 4);
}

/// The schemas describe optional arguments as absent-or-typed, but clients written against the
/// older schemas (`["string", "null"]`) may send `null`: that still means "left out".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_for_an_optional_argument_means_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let c = connect_stdio(dir.path(), "nulls").await;
    let t = ok(
        &c,
        "task-add",
        json!({"content": "Sent by an old client", "status": null, "priority": null}),
    )
    .await;
    assert_eq!(
        t,
        "Added TAS-1 [p2] Sent by an old client (remaining, priority 2)"
    );
    let t = ok(
        &c,
        "task-batch-add",
        json!({"tasks": [{"content": "Second", "status": null, "priority": null}]}),
    )
    .await;
    assert!(t.contains("TAS-2 [p2] Second"), "{t}");
    let t = ok(&c, "task-list", json!({"status": null})).await;
    assert!(t.starts_with("remaining (2):"), "{t}");
    assert!(
        ok(&c, "note-list", json!({"type": null}))
            .await
            .contains("No notes yet")
    );
    ok(
        &c,
        "task-status",
        json!({"id": "TAS-1", "status": "cancelled"}),
    )
    .await;
    ok(
        &c,
        "task-status",
        json!({"id": "TAS-2", "status": "cancelled"}),
    )
    .await;
    let t = ok(&c, "session-complete", json!({"summary": null})).await;
    assert!(t.starts_with("Session complete."), "{t}");
    c.cancel().await.unwrap();
}
