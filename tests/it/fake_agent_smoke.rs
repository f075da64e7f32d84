//! Drives the scripted fake ACP agent (`examples/fake_agent.rs`) with the `agent-client-protocol`
//! crate's own client, independently of iteratr's ACP client: the agent must speak real ACP,
//! reach a real `iteratr mcp serve` over HTTP (with the bearer token) and over stdio, stream its
//! updates, ask permission, use the client's file system, honour cancel, crash on request and
//! continue its script after a restart.

use std::time::Instant;

use crate::common::PATIENCE;
use crate::common::acp_driver::{
    Shared, block_text, events, exit_code, initialize, iteratr_status, log_events, message_chunks,
    model_option, new_session, prompt, prompts_logged, spawn_agent, tool_result, with_client,
    within, write_script,
};
use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    CancelNotification, EnvVariable, HttpHeader, McpServer, McpServerHttp, McpServerStdio,
    PermissionOptionKind, PromptRequest, SessionUpdate, SetSessionConfigOptionRequest, StopReason,
    ToolCallContent, ToolCallStatus, ToolKind,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mcp_turn_streams_text_tools_plan_diff_and_permission() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = crate::common::mcp::serve_http(&data, "smoke", &[]);
    let log = dir.path().join("agent.log");
    let said = "I will add a task and then list the tasks.";
    let args = json!({"content": "Write the smoke test", "priority": 2});
    let script = write_script(
        dir.path(),
        json!({"turns": [{
            "actions": [
                {"think": "Reading the spec first."},
                {"plan": ["add a task", "list the tasks"]},
                {"say": said},
                {"tool": "task-add", "args": args},
                {"tool": "task-list", "args": {}},
                {"permission": {"title": "Edit src/lib.rs", "kind": "edit"}},
                {"diff": {"path": "src/x.rs", "old": "a\n", "new": "b\n"}},
            ],
            "stop": "end_turn",
        }]}),
    );
    let (mut child, transport) = spawn_agent(&script, &log, &[]);
    // Read now: once the child is waited on, `id()` is None.
    let pid = child.id().expect("the agent is running");
    let seen = Shared::default();
    let url = serve.url.clone();
    let cwd = dir.path().to_path_buf();
    let (init, session, set, done) = with_client(transport, seen.clone(), async |cx| {
        let init = initialize(&cx).await;
        let header = HttpHeader::new(
            "Authorization",
            format!("Bearer {}", crate::common::mcp::TOKEN),
        );
        let server = McpServer::Http(McpServerHttp::new("iteratr", url).headers(vec![header]));
        let session = new_session(&cx, &cwd, vec![server]).await;
        let set = within(
            "set_config_option",
            cx.send_request(SetSessionConfigOptionRequest::new(
                session.session_id.clone(),
                "model",
                "fake/large",
            ))
            .block_task(),
        )
        .await
        .unwrap();
        let done = prompt(&cx, &session.session_id, "Build the spec").await;
        Ok((init, session, set, done))
    })
    .await
    .unwrap();
    // Stdin closed when the client finished: the agent exits cleanly.
    assert_eq!(exit_code(&mut child).await, Some(0));

    // initialize and session/new.
    assert_eq!(init.protocol_version, ProtocolVersion::V1);
    let info = init.agent_info.unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("fake-agent", "1.0")
    );
    assert!(init.agent_capabilities.mcp_capabilities.http);
    let (current, choices) = model_option(session.config_options.as_deref().unwrap());
    assert_eq!(current, "fake/small");
    assert!(choices.contains(&"fake/large".to_string()), "{choices:?}");
    assert_eq!(model_option(&set.config_options).0, "fake/large");

    // The turn.
    assert_eq!(done.unwrap().stop_reason, StopReason::EndTurn);
    let seen = seen.lock().unwrap();
    let chunks = message_chunks(&seen.updates);
    assert!(chunks.len() >= 2, "streamed in pieces: {chunks:?}");
    assert_eq!(chunks.concat(), said);
    let thoughts: Vec<String> = seen
        .updates
        .iter()
        .filter_map(|u| match u {
            SessionUpdate::AgentThoughtChunk(c) => Some(block_text(&c.content)),
            _ => None,
        })
        .collect();
    assert_eq!(thoughts, ["Reading the spec first."]);
    let plan: Vec<String> = seen
        .updates
        .iter()
        .find_map(|u| match u {
            SessionUpdate::Plan(p) => Some(p.entries.iter().map(|e| e.content.clone()).collect()),
            _ => None,
        })
        .expect("a plan");
    assert_eq!(plan, ["add a task", "list the tasks"]);
    let (raw_input, status, text) = tool_result(&seen.updates, "task-add");
    assert_eq!(raw_input, args);
    assert_eq!(status, ToolCallStatus::Completed);
    assert!(text.contains("Added TAS-1"), "{text}");
    let (_, status, text) = tool_result(&seen.updates, "task-list");
    assert_eq!(status, ToolCallStatus::Completed);
    assert!(text.contains("Write the smoke test"), "{text}");
    let diff = seen
        .updates
        .iter()
        .find_map(|u| match u {
            SessionUpdate::ToolCall(c)
                if c.kind == ToolKind::Edit && c.title != "Edit src/lib.rs" =>
            {
                Some(c.clone())
            }
            _ => None,
        })
        .expect("a diff tool call");
    assert_eq!(diff.status, ToolCallStatus::Completed);
    match &diff.content[..] {
        [ToolCallContent::Diff(d)] => {
            assert_eq!(d.path, dir.path().join("src/x.rs"));
            assert_eq!(
                (d.old_text.as_deref(), d.new_text.as_str()),
                (Some("a\n"), "b\n")
            );
        }
        other => panic!("expected one diff, got {other:?}"),
    }
    // The permission request and the client's answer.
    assert_eq!(seen.permissions.len(), 1);
    let asked = &seen.permissions[0];
    assert_eq!(
        asked.tool_call.fields.title.as_deref(),
        Some("Edit src/lib.rs")
    );
    let kinds: Vec<_> = asked.options.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            PermissionOptionKind::AllowOnce,
            PermissionOptionKind::AllowAlways,
            PermissionOptionKind::RejectOnce
        ]
    );
    assert_eq!(
        tool_result(&seen.updates, "Edit src/lib.rs").1,
        ToolCallStatus::Completed
    );

    // The task really landed in the session's event log.
    let status = iteratr_status(&data, "smoke");
    assert_eq!(status["tasks"][0]["content"], "Write the smoke test");
    assert_eq!(status["tasks"][0]["priority"], 2);

    // The record.
    let raw_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !raw_log.contains(crate::common::mcp::TOKEN),
        "the token leaked into the log"
    );
    let log = log_events(&log);
    assert_eq!(log[0]["event"], "start");
    assert_eq!(
        log[0]["pid"],
        json!(pid),
        "the log records the agent's own pid"
    );
    let init = events(&log, "initialize");
    assert_eq!(init[0]["client_capabilities"]["fs"]["readTextFile"], true);
    let new = events(&log, "new_session")[0];
    assert_eq!(new["session_id"], json!(session.session_id));
    assert_eq!(new["cwd"], json!(dir.path()));
    assert_eq!(new["mcp_servers"][0]["kind"], "http");
    assert_eq!(new["mcp_servers"][0]["url"], json!(serve.url));
    assert_eq!(new["mcp_servers"][0]["auth"], true);
    assert_eq!(events(&log, "set_config_option")[0]["value"], "fake/large");
    let p = events(&log, "prompt")[0];
    assert_eq!(
        (&p["turn"], &p["text"]),
        (&json!(0), &json!("Build the spec"))
    );
    let tools = events(&log, "tool");
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "task-add");
    assert_eq!(tools[0]["is_error"], false);
    assert!(
        tools[1]["text"]
            .as_str()
            .unwrap()
            .contains("Write the smoke test")
    );
    let perm = events(&log, "permission")[0];
    assert_eq!(perm["title"], "Edit src/lib.rs");
    assert_eq!(perm["outcome"], "allow_always");
    assert_eq!(events(&log, "prompt_done")[0]["stop_reason"], "end_turn");
    assert_eq!(log.last().unwrap()["event"], "eof");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_mcp_file_system_failures_and_stop_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("agent.log");
    std::fs::write(dir.path().join("notes.txt"), "remember the milk\n").unwrap();
    let script = write_script(
        dir.path(),
        json!({"turns": [
            {"actions": [
                {"tool": "task-add", "args": {"content": "Over stdio"}},
                {"tool": "task-add", "args": {"content": "   "}},
                {"read": "notes.txt"},
                {"read": "missing.txt"},
                {"write": {"path": "out/new.txt", "content": "written by the agent"}},
            ], "stop": "max_tokens"},
            {"actions": [{"say": "about to fail"}, {"fail": "scripted failure"}]},
            {"actions": [{"say": "no"}], "stop": "refusal"},
            {"actions": [], "stop": "max_turn_requests"},
        ]}),
    );
    let (mut child, transport) = spawn_agent(&script, &log, &[("ITERATR_FAKE_AGENT_NO_HTTP", "1")]);
    let seen = Shared::default();
    let cwd = dir.path().to_path_buf();
    let server = McpServer::Stdio(
        McpServerStdio::new("iteratr", crate::common::bin())
            .args(vec![
                "--data-dir".into(),
                data.display().to_string(),
                "mcp".into(),
                "serve".into(),
                "--session".into(),
                "stdio".into(),
            ])
            .env(vec![EnvVariable::new("FAKE_SECRET", "s3cret-value")]),
    );
    let (init, results) = with_client(transport, seen.clone(), async |cx| {
        let init = initialize(&cx).await;
        let session = new_session(&cx, &cwd, vec![server]).await;
        let mut results = Vec::new();
        for i in 0..5 {
            results.push(prompt(&cx, &session.session_id, &format!("prompt {i}")).await);
        }
        Ok((init, results))
    })
    .await
    .unwrap();
    assert_eq!(exit_code(&mut child).await, Some(0));

    assert!(!init.agent_capabilities.mcp_capabilities.http);
    let stops: Vec<_> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|r| r.stop_reason)
                .map_err(|e| e.message.clone())
        })
        .collect();
    assert_eq!(
        stops,
        [
            Ok(StopReason::MaxTokens),
            Err("scripted failure".to_string()),
            Ok(StopReason::Refusal),
            Ok(StopReason::MaxTurnRequests),
            Ok(StopReason::EndTurn),
        ]
    );
    let seen = seen.lock().unwrap();
    let text = message_chunks(&seen.updates).concat();
    assert!(text.contains("about to fail"), "{text}");
    assert!(text.ends_with("script exhausted"), "{text}");
    let tool_updates: Vec<_> = seen
        .updates
        .iter()
        .filter_map(|u| match u {
            SessionUpdate::ToolCallUpdate(u) => u.fields.status,
            _ => None,
        })
        .collect();
    assert_eq!(
        tool_updates,
        [ToolCallStatus::Completed, ToolCallStatus::Failed]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/new.txt")).unwrap(),
        "written by the agent"
    );
    assert_eq!(
        iteratr_status(&data, "stdio")["tasks"][0]["content"],
        "Over stdio"
    );

    let raw_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !raw_log.contains("s3cret-value"),
        "an env value leaked into the log"
    );
    let log = log_events(&log);
    let server = &events(&log, "new_session")[0]["mcp_servers"][0];
    assert_eq!(server["kind"], "stdio");
    assert_eq!(server["command"], json!(crate::common::bin()));
    assert_eq!(server["env"], json!(["FAKE_SECRET"]));
    let tools = events(&log, "tool");
    assert_eq!(tools[0]["is_error"], false);
    assert_eq!(tools[1]["is_error"], true);
    assert!(
        tools[1]["text"].as_str().unwrap().contains("empty"),
        "{}",
        tools[1]
    );
    let reads = events(&log, "read");
    assert_eq!(reads[0]["ok"], true);
    assert_eq!(reads[0]["content"], "remember the milk\n");
    assert_eq!(reads[0]["path"], json!(dir.path().join("notes.txt")));
    assert_eq!(reads[1]["ok"], false);
    assert!(
        reads[1]["error"].as_str().unwrap().contains("missing.txt"),
        "{}",
        reads[1]
    );
    assert_eq!(events(&log, "write")[0]["ok"], true);
    let turns: Vec<_> = events(&log, "prompt")
        .iter()
        .map(|p| p["turn"].clone())
        .collect();
    assert_eq!(turns, [json!(0), json!(1), json!(2), json!(3), Value::Null]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_crash_and_restart_continue_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let script = write_script(
        dir.path(),
        json!({"turns": [
            {"actions": [{"say": "waiting for you"}, {"hang": true}]},
            {"actions": [{"sleep_ms": 600_000}]},
            {"actions": [{"say": "about to crash"}, {"exit": 7}, {"say": "never said"}]},
            {"actions": [{"say": "after the restart"}]},
        ]}),
    );
    let state = dir.path().join("script.json.state");

    // First process: a hang and a long sleep both end promptly on session/cancel; then a crash.
    let (mut child, transport) = spawn_agent(&script, &log, &[]);
    let seen = Shared::default();
    let cwd = dir.path().to_path_buf();
    let (hang, sleep, crash) = with_client(transport, seen.clone(), async |cx| {
        initialize(&cx).await;
        let session = new_session(&cx, &cwd, vec![]).await;
        let sid = session.session_id;
        let mut stops = Vec::new();
        for (n, text) in ["hang", "sleep"].into_iter().enumerate() {
            let pending = cx.send_request(PromptRequest::new(sid.clone(), vec![text.into()]));
            prompts_logged(&log, n + 1).await;
            let cancelled_at = Instant::now();
            cx.send_notification(CancelNotification::new(sid.clone()))
                .unwrap();
            let stop = within("cancelled prompt", pending.block_task()).await;
            stops.push((stop, cancelled_at.elapsed()));
        }
        let crash = prompt(&cx, &sid, "crash").await;
        let mut stops = stops.into_iter();
        Ok((stops.next().unwrap(), stops.next().unwrap(), crash))
    })
    .await
    .unwrap();
    for (stop, took) in [hang, sleep] {
        assert_eq!(stop.unwrap().stop_reason, StopReason::Cancelled);
        // Far less than the ten-minute sleep.
        assert!(took < PATIENCE, "cancel took {took:?}");
    }
    assert!(crash.is_err(), "a crashed agent cannot answer: {crash:?}");
    assert_eq!(exit_code(&mut child).await, Some(7));
    let text = message_chunks(&seen.lock().unwrap().updates).concat();
    assert!(text.contains("waiting for you"), "{text}");
    assert!(text.contains("about to crash"), "{text}");
    assert!(!text.contains("never said"), "{text}");
    let progress: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(progress, json!({"next_turn": 3}));

    // Second process: the crashed turn is not replayed; the script goes on, then runs out.
    let (mut child, transport) = spawn_agent(&script, &log, &[]);
    let seen = Shared::default();
    let results = with_client(transport, seen.clone(), async |cx| {
        initialize(&cx).await;
        let session = new_session(&cx, &cwd, vec![]).await;
        let a = prompt(&cx, &session.session_id, "again").await.unwrap();
        let b = prompt(&cx, &session.session_id, "more").await.unwrap();
        Ok([a.stop_reason, b.stop_reason])
    })
    .await
    .unwrap();
    assert_eq!(exit_code(&mut child).await, Some(0));
    assert_eq!(results, [StopReason::EndTurn, StopReason::EndTurn]);
    assert_eq!(
        message_chunks(&seen.lock().unwrap().updates).concat(),
        "after the restartscript exhausted"
    );
    let progress: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(progress, json!({"next_turn": 4}));

    let log = log_events(&log);
    let starts = events(&log, "start");
    assert_eq!(starts.len(), 2);
    assert_ne!(starts[0]["pid"], starts[1]["pid"]);
    let cancels = events(&log, "cancel");
    assert_eq!(cancels.len(), 2);
    assert!(cancels.iter().all(|c| c["running"] == true));
    assert_eq!(events(&log, "exit")[0]["code"], 7);
    let turns: Vec<_> = events(&log, "prompt")
        .iter()
        .map(|p| p["turn"].clone())
        .collect();
    assert_eq!(turns, [json!(0), json!(1), json!(2), json!(3), Value::Null]);
    let done: Vec<_> = events(&log, "prompt_done")
        .iter()
        .map(|p| p["stop_reason"].clone())
        .collect();
    assert_eq!(
        done,
        [
            json!("cancelled"),
            json!("cancelled"),
            json!("end_turn"),
            json!("end_turn")
        ]
    );
}

/// A team's workers run one fake agent each on one script: two processes prompting at once
/// take every turn exactly once (the turn is claimed under a lock both processes honour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_script_never_take_the_same_turn() {
    const EACH: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let turns: Vec<Value> = (0..2 * EACH)
        .map(|n| json!({"actions": [{"say": format!("turn {n}")}]}))
        .collect();
    let script = write_script(dir.path(), json!({ "turns": turns }));
    let run = |n: usize| {
        let (child, transport) = spawn_agent(&script, &log, &[]);
        let cwd = dir.path().to_path_buf();
        async move {
            let _child = child;
            with_client(transport, Shared::default(), async |cx| {
                initialize(&cx).await;
                let session = new_session(&cx, &cwd, vec![]).await;
                for i in 0..EACH {
                    prompt(&cx, &session.session_id, &format!("{n}.{i}"))
                        .await
                        .unwrap();
                }
                Ok(())
            })
            .await
            .unwrap()
        }
    };
    futures_util::future::join(run(0), run(1)).await;
    let mut taken: Vec<u64> = events(&log_events(&log), "prompt")
        .iter()
        .map(|p| p["turn"].as_u64().expect("every prompt took a turn"))
        .collect();
    taken.sort_unstable();
    assert_eq!(taken, (0..2 * EACH as u64).collect::<Vec<_>>());
}
