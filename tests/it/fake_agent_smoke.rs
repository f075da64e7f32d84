//! Drives the scripted fake ACP agent (`examples/fake_agent/`) with the `agent-client-protocol`
//! crate's own client, independently of iteratr's ACP client: the agent must speak real ACP,
//! reach a real `iteratr mcp serve` over HTTP (with the bearer token) and over stdio, stream its
//! updates, ask permission, use the client's file system, honour cancel, crash on request and
//! continue its script after a restart.

use std::time::Instant;

use crate::common::PATIENCE;
use crate::common::acp_driver::{
    Shared, block_text, exit_code, initialize, iteratr_status, message_chunks, model_option,
    new_session, prompt, prompts_logged, spawn_agent, tool_result, with_client, within,
    write_script,
};
use crate::common::fake_agent::log::{self, Event};
use crate::common::fake_agent::read_log;
use crate::common::fake_agent::script::{Action, Script, Stop, Turn};
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
        &Script::turns([Turn::of([
            Action::think("Reading the spec first."),
            Action::plan(["add a task", "list the tasks"]),
            Action::say(said),
            Action::tool("task-add", args.clone()),
            Action::tool("task-list", json!({})),
            Action::permission("Edit src/lib.rs", "edit"),
            Action::diff("src/x.rs", Some("a\n"), "b\n"),
        ])
        .stop(Stop::EndTurn)]),
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
    let log = read_log(&log);
    assert!(matches!(log[0].event, Event::Start(_)), "{:?}", log[0]);
    assert_eq!(log[0].pid, pid, "the log records the agent's own pid");
    let init = log::of::<log::Initialize>(&log);
    assert_eq!(init[0].client_capabilities["fs"]["readTextFile"], true);
    let new = &log::of::<log::NewSession>(&log)[0];
    assert_eq!(new.session_id, *session.session_id.0);
    assert_eq!(new.cwd, dir.path());
    let log::McpServer::Http { url, auth, .. } = &new.mcp_servers[0] else {
        panic!("not over HTTP: {new:?}")
    };
    assert_eq!((url, auth), (&serve.url, &true));
    assert_eq!(log::config_options(&log)[0].value, "fake/large");
    let p = &log::of::<log::Prompt>(&log)[0];
    assert_eq!((p.turn, p.text.as_str()), (Some(0), "Build the spec"));
    let tools = log::of::<log::Tool>(&log);
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0].name, "task-add");
    assert!(!tools[0].is_error);
    assert!(tools[1].text.contains("Write the smoke test"));
    let perm = &log::of::<log::Permission>(&log)[0];
    assert_eq!(perm.title, "Edit src/lib.rs");
    assert_eq!(perm.outcome, "allow_always");
    let done = &log::of::<log::PromptDone>(&log)[0];
    assert_eq!(done.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(log.last().unwrap().event, Event::Eof);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_mcp_file_system_failures_and_stop_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("agent.log");
    std::fs::write(dir.path().join("notes.txt"), "remember the milk\n").unwrap();
    let script = write_script(
        dir.path(),
        &Script::turns([
            Turn::of([
                Action::tool("task-add", json!({"content": "Over stdio"})),
                Action::tool("task-add", json!({"content": "   "})),
                Action::read("notes.txt"),
                Action::read("missing.txt"),
                Action::write("out/new.txt", "written by the agent"),
            ])
            .stop(Stop::MaxTokens),
            Turn::of([
                Action::say("about to fail"),
                Action::fail("scripted failure"),
            ]),
            Turn::of([Action::say("no")]).stop(Stop::Refusal),
            Turn::of([]).stop(Stop::MaxTurnRequests),
        ]),
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
    let log = read_log(&log);
    let new = &log::of::<log::NewSession>(&log)[0];
    let log::McpServer::Stdio { command, env, .. } = &new.mcp_servers[0] else {
        panic!("not over stdio: {new:?}")
    };
    assert_eq!(command, std::path::Path::new(crate::common::bin()));
    assert_eq!(env, &["FAKE_SECRET"]);
    let tools = log::of::<log::Tool>(&log);
    assert!(!tools[0].is_error);
    assert!(tools[1].is_error);
    assert!(tools[1].text.contains("empty"), "{:?}", tools[1]);
    let reads = log::of::<log::Read>(&log);
    assert!(reads[0].ok);
    assert_eq!(reads[0].content.as_deref(), Some("remember the milk\n"));
    assert_eq!(reads[0].path, dir.path().join("notes.txt"));
    assert!(!reads[1].ok);
    assert!(
        reads[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("missing.txt")),
        "{:?}",
        reads[1]
    );
    assert!(log::of::<log::Write>(&log)[0].ok);
    let turns: Vec<_> = log::of::<log::Prompt>(&log)
        .iter()
        .map(|p| p.turn)
        .collect();
    assert_eq!(turns, [Some(0), Some(1), Some(2), Some(3), None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_crash_and_restart_continue_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let script = write_script(
        dir.path(),
        &Script::turns([
            Turn::of([Action::say("waiting for you"), Action::Hang]),
            Turn::of([Action::SleepMs(600_000)]),
            Turn::of([
                Action::say("about to crash"),
                Action::Exit(7),
                Action::say("never said"),
            ]),
            Turn::of([Action::say("after the restart")]),
        ]),
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

    let log = read_log(&log);
    let starts: Vec<u32> = log
        .iter()
        .filter(|r| matches!(r.event, Event::Start(_)))
        .map(|r| r.pid)
        .collect();
    assert_eq!(starts.len(), 2);
    assert_ne!(starts[0], starts[1]);
    let cancels = log::of::<log::Cancel>(&log);
    assert_eq!(cancels.len(), 2);
    assert!(cancels.iter().all(|c| c.running));
    assert_eq!(log::of::<log::Exit>(&log)[0].code, 7);
    let turns: Vec<_> = log::of::<log::Prompt>(&log)
        .iter()
        .map(|p| p.turn)
        .collect();
    assert_eq!(turns, [Some(0), Some(1), Some(2), Some(3), None]);
    let done: Vec<_> = log::of::<log::PromptDone>(&log)
        .into_iter()
        .map(|p| p.stop_reason)
        .collect();
    let reason = |r: &str| Some(r.to_string());
    assert_eq!(
        done,
        [
            reason("cancelled"),
            reason("cancelled"),
            reason("end_turn"),
            reason("end_turn")
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
    let turns = (0..2 * EACH).map(|n| Turn::of([Action::say(format!("turn {n}"))]));
    let script = write_script(dir.path(), &Script::turns(turns));
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
    let mut taken: Vec<usize> = log::of::<log::Prompt>(&read_log(&log))
        .iter()
        .map(|p| p.turn.expect("every prompt took a turn"))
        .collect();
    taken.sort_unstable();
    assert_eq!(taken, (0..2 * EACH).collect::<Vec<_>>());
}
