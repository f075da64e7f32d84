//! `iteratr build` end to end with the real agents users run: opencode and Claude Code (through
//! `claude-code-acp`), each driven by a scripted fake LLM (`tests/common/fake_llm/`) on
//! 127.0.0.1, so the whole loop runs offline: iteratr → ACP → the real agent → the fake model →
//! the agent's tool calls → iteratr's real MCP server → the real event log.
//!
//! The agents are npm packages that `./test.sh` installs (pinned) and points to with
//! `ITERATR_TEST_OPENCODE` (the `opencode` executable) and `ITERATR_TEST_CLAUDE_CODE_ACP` (its
//! `dist/index.js`, run with `node`); without them these tests look in `target/real-agents/`, and
//! fail saying how to install the agent when it is not there. iteratr runs with a debug log
//! (`ITERATR_TEST_LOG_LEVEL=trace` shows the ACP traffic), whose end is printed when a test fails.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::fake_llm::{Api, FakeLlm, Step, failed, prompt, result};
use crate::common::real_agent::{
    Project, Run, assert_failed_calls, assert_none_left, claude_code_acp, claude_env, mcp_post,
    opencode, opencode_env, quote, run_script_to_the_end,
};
use serde_json::json;

const SPEC: &str =
    "# Greetings\n\nTwo small files.\n\n- [ ] Write hello.txt\n- [ ] Write world.txt\n";

/// The project of these tests: the greetings spec.
pub(crate) fn project() -> Project {
    Project::new("greetings", SPEC)
}

/// What the model does: plan (iteration 0), then one task per iteration with opencode's own
/// `write` tool for the file, ending with session-complete (refused once while a task is open).
fn opencode_script(project: &Path) -> Vec<Step> {
    let file = |name: &str| project.join(name).display().to_string();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    vec![
        // Iteration 0: planning.
        prompt("planning iteration").say_and_call(
            "Looking at the tasks.",
            "iteratr_task-list",
            json!({}),
        ),
        result("TAS-2 [p2] Write world.txt").call(
            "iteratr_note-add",
            json!({"type": "decision", "content": "One plain text file per task"}),
        ),
        result("Added NOT-1 (decision)").call(
            "iteratr_iteration-summary",
            json!({"summary": "Planned: two files, one per iteration"}),
        ),
        result("Recorded the summary of iteration 0").say("Planned."),
        // Iteration 1: TAS-1.
        prompt("session greetings, iteration 1\n").call("iteratr_task-next", json!({})),
        result("Next: TAS-1").call("iteratr_task-status", status("TAS-1", "in_progress")),
        result("TAS-1 is now in_progress").call(
            "write",
            json!({"filePath": file("hello.txt"), "content": "hello\n"}),
        ),
        result("Wrote file successfully").call("iteratr_task-status", status("TAS-1", "completed")),
        result("TAS-1 is now completed").call(
            "iteratr_iteration-summary",
            json!({"summary": "Wrote hello.txt"}),
        ),
        result("Recorded the summary of iteration 1").say("TAS-1 done."),
        // Iteration 2: TAS-2, then completion.
        prompt("session greetings, iteration 2\n").call("iteratr_task-next", json!({})),
        result("Next: TAS-2").call("iteratr_task-status", status("TAS-2", "in_progress")),
        result("TAS-2 is now in_progress").call(
            "write",
            json!({"filePath": file("world.txt"), "content": "world\n"}),
        ),
        // Declaring victory too early is refused...
        result("Wrote file successfully").call("iteratr_session-complete", json!({})),
        failed("not done: TAS-2").call("iteratr_task-status", status("TAS-2", "completed")),
        result("TAS-2 is now completed").call(
            "iteratr_iteration-summary",
            json!({"summary": "Wrote world.txt; nothing left"}),
        ),
        // ...and accepted once every task is done.
        result("Recorded the summary of iteration 2").call(
            "iteratr_session-complete",
            json!({"summary": "hello.txt and world.txt written"}),
        ),
        result("Session complete").say("All done."),
    ]
}

#[test]
fn opencode_builds_a_spec_through_iteratrs_tools() {
    let opencode = opencode();
    let p = project();
    let llm = FakeLlm::start(Api::OpenAi, opencode_script(&p.path()));
    let agent = format!("{} acp", quote(&opencode));
    // Planning and two work iterations.
    let mut cmd = p.build(&agent, &["-i", "3", "-m", "fakellm/scripted"]);
    opencode_env(&mut cmd, &llm, "other");
    let run = Run::start(cmd);

    // The session tools' HTTP endpoint refuses requests without the session's bearer token, so
    // the tool calls below succeeding means opencode sent it.
    let started = run
        .wait_for_line("iteratr: agent `", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no start line in:\n{}", run.stdout()));
    let url = started
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches(',')
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{started}"
    );
    let unauthenticated = mcp_post(&url, None);
    let wrong = mcp_post(&url, Some("Bearer not-the-session-token"));
    // The script ran to its end, every request matching its step.
    let (out, context) = run.script_to_the_end(&llm, &p, Duration::from_secs(110));
    let text = &out.stdout;
    let steps = llm.progress().1;
    let context = || context.clone();
    assert_failed_calls(text, &llm, context);

    // What the agent wrote with its own tool.
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("world.txt")).unwrap(),
        "world\n"
    );

    // The event log: both tasks completed through the MCP tools, the note, the summaries.
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    assert_eq!(s["completion_summary"], "hello.txt and world.txt written");
    assert_eq!(s["counts"]["completed"], 2, "{s}");
    assert_eq!(s["notes"][0]["content"], "One plain text file per task");
    assert_eq!(s["notes"][0]["type"], "decision", "{s}");
    let iterations = s["iterations"].as_array().unwrap();
    let summaries: Vec<&str> = iterations
        .iter()
        .map(|i| i["summary"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        summaries,
        [
            "Planned: two files, one per iteration",
            "Wrote hello.txt",
            "Wrote world.txt; nothing left"
        ]
    );
    assert!(iterations.iter().all(|i| i["outcome"] == "end_turn"), "{s}");

    // The headless output: the agent, the model, the iterations, the tool calls and their results.
    for line in [
        "iteratr: agent OpenCode 1.18.34 ready (session tools over HTTP)",
        "iteratr: model fakellm/scripted",
        "── iteration 0 (planning) ──",
        "  Looking at the tasks.",
        "  ✓ iteratr_task-list: remaining (2):",
        "  note NOT-1 (decision): One plain text file per task",
        "── iteration 2 ──",
        "  ✓ iteratr_task-status: TAS-1 is now completed.",
        "  ✗ iteratr_session-complete failed: the session cannot complete: 1 task(s) not done: TAS-2",
        "  summary: Wrote world.txt; nothing left",
        "  session completed",
        "iteratr: session complete after 2 iterations + planning · 2 tasks: 2 completed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{}", context());
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("  ✓ ") && l.contains("hello.txt")),
        "no completed write of hello.txt in:\n{text}"
    );

    // The model: every main request asked for the model chosen with -m (the config's default is
    // `other`, which only opencode's own title requests use); the MCP tools reached the model
    // under opencode's names.
    let main = llm.main_requests();
    assert!(main.len() >= steps, "{}", context());
    for r in &main {
        assert_eq!(r.model(), Some("scripted"), "{}", context());
        let tools = r.tool_names();
        for t in [
            "iteratr_task-list",
            "iteratr_task-status",
            "iteratr_session-complete",
            "write",
        ] {
            assert!(tools.iter().any(|n| n == t), "{t} not offered: {tools:?}");
        }
    }
    // One fresh opencode session per iteration.
    let sessions: std::collections::BTreeSet<&str> = main
        .iter()
        .filter_map(|r| r.header("x-opencode-session-id"))
        .collect();
    assert_eq!(sessions.len(), 3, "{}", context());

    // The bearer token is required, and opencode had it.
    assert!(unauthenticated.contains(" 401"), "{unauthenticated}");
    assert!(wrong.contains(" 401"), "{wrong}");

    // And no opencode process is left.
    assert_none_left(&opencode.display().to_string(), &p.path());
}

/// opencode processes (`opencode acp`, not iteratr's own command line naming it) working in `dir`.
fn opencode_in(opencode: &Path, dir: &Path) -> Vec<u32> {
    let program = opencode.display().to_string();
    crate::common::procs::with_cmdline(&program)
        .into_iter()
        .filter(|(pid, cmdline)| {
            cmdline.starts_with(&program)
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// The agent dies (SIGKILL) while the model is working on the planning iteration: iteratr
/// records the failure, restarts opencode, plans again under the next number, and completes.
#[test]
fn opencode_killed_during_planning_is_restarted_and_the_session_completes() {
    let opencode = opencode();
    let p = project();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            // The first planning attempt: a long shell command, during which opencode is killed.
            prompt("planning iteration").say_and_call(
                "Checking the tree first.",
                "bash",
                json!({"command": "sleep 60", "description": "wait"}),
            ),
            // The second attempt (iteration 1), after the restart.
            prompt("planning iteration").call(
                "iteratr_iteration-summary",
                json!({"summary": "Planned after a restart"}),
            ),
            result("Recorded the summary").say("Planned."),
            prompt("session greetings, iteration 2\n").calls(vec![
                ("iteratr_task-status", status("TAS-1", "completed")),
                ("iteratr_task-status", status("TAS-2", "completed")),
            ]),
            result("TAS-2 is now completed").call(
                "iteratr_session-complete",
                json!({"summary": "done after a crash"}),
            ),
            result("Session complete").say("All done."),
        ],
    );
    let agent = format!("{} acp", quote(&opencode));
    // One failure is expected here; a second would stop the run.
    let mut cmd = p.build(
        &agent,
        &[
            "-i",
            "3",
            "-m",
            "fakellm/scripted",
            "--max-failures",
            "2",
            "--retry-delay",
            "100ms",
        ],
    );
    opencode_env(&mut cmd, &llm, "other");
    let run = Run::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(60);
    while llm.progress().0 < 1 {
        assert!(
            Instant::now() < deadline,
            "the model was never asked to plan:\n{}\n{}",
            run.stdout(),
            llm.report()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let victims = opencode_in(&opencode, &p.path());
    assert!(!victims.is_empty(), "no opencode process found");
    for pid in victims {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let out = run.finish(Duration::from_secs(110), || {
        format!("{}\n{}", llm.report(), p.log_tail())
    });
    let text = &out.stdout;
    let context = || format!("{text}\n{}\n{}\n{}", out.stderr, llm.report(), p.log_tail());
    assert_eq!(out.code, Some(0), "{}", context());
    assert!(llm.errors().is_empty(), "{}", context());
    assert!(text.contains("the agent failed (1/2)"), "{}", context());
    assert!(!text.contains("StartIteration"), "{}", context());
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    let iterations: Vec<(&str, bool)> = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["outcome"].as_str().unwrap(),
                i["planning"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        iterations,
        [("error", true), ("end_turn", true), ("end_turn", false)],
        "{s}"
    );
    assert_none_left(&opencode.display().to_string(), &p.path());
}

/// What Claude does: plan (adding a task), then write files with claude-code-acp's `Write`
/// (which goes through iteratr's `fs/write_text_file`), completing the tasks, some of them in
/// parallel tool calls, and the session.
pub(crate) fn claude_script(project: &Path) -> Vec<Step> {
    let file = |name: &str| project.join(name).display().to_string();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    vec![
        // Iteration 0: planning adds a task.
        prompt("planning iteration").say_and_call(
            "Reviewing the plan.",
            "mcp__iteratr__task-list",
            json!({}),
        ),
        result("Write world.txt").call(
            "mcp__iteratr__task-add",
            json!({"content": "Check both files", "priority": 3, "depends_on": ["TAS-1", "TAS-2"]}),
        ),
        result("TAS-3").call(
            "mcp__iteratr__iteration-summary",
            json!({"summary": "Added TAS-3 to check the files"}),
        ),
        result("Recorded the summary of iteration 0").say("Planned."),
        // Iteration 1: TAS-1.
        prompt("session greetings, iteration 1\n").call("mcp__iteratr__task-next", json!({})),
        result("TAS-1").call("mcp__iteratr__task-status", status("TAS-1", "in_progress")),
        result("TAS-1 is now in_progress").call(
            "mcp__acp__Write",
            json!({"file_path": file("hello.txt"), "content": "hello\n"}),
        ),
        result("hello.txt has been updated successfully")
            .call("mcp__iteratr__task-status", status("TAS-1", "completed")),
        result("TAS-1 is now completed").call(
            "mcp__iteratr__iteration-summary",
            json!({"summary": "Wrote hello.txt"}),
        ),
        result("Recorded the summary of iteration 1").say("TAS-1 done."),
        // Iteration 2: the rest, completion refused while tasks are open, two status changes in
        // one message, then completion.
        prompt("session greetings, iteration 2\n").call(
            "mcp__acp__Write",
            json!({"file_path": file("world.txt"), "content": "world\n"}),
        ),
        result("world.txt has been updated successfully")
            .call("mcp__iteratr__session-complete", json!({})),
        failed("not done: TAS-2").calls(vec![
            ("mcp__iteratr__task-status", status("TAS-2", "completed")),
            ("mcp__iteratr__task-status", status("TAS-3", "completed")),
        ]),
        result("TAS-3 is now completed").call(
            "mcp__iteratr__iteration-summary",
            json!({"summary": "Wrote world.txt and checked both"}),
        ),
        result("Recorded the summary of iteration 2").call(
            "mcp__iteratr__session-complete",
            json!({"summary": "Both files written"}),
        ),
        result("Session complete").say("All done."),
    ]
}

#[test]
fn claude_code_builds_a_spec_through_iteratrs_tools() {
    let acp = claude_code_acp();
    let p = project();
    let llm = FakeLlm::start(Api::Anthropic, claude_script(&p.path()));
    // claude-code-acp offers `models` (not a `model` session option): -m goes by session/set_model.
    let agent = format!("node {}", quote(&acp));
    let mut cmd = p.build(&agent, &["-i", "3", "-m", "haiku"]);
    claude_env(&mut cmd, &llm);
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(110));
    let text = &out.stdout;
    let context = || context.clone();
    assert_failed_calls(text, &llm, context);

    // The files, written through iteratr's fs/write_text_file.
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("world.txt")).unwrap(),
        "world\n"
    );

    // The event log.
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    assert_eq!(s["completion_summary"], "Both files written");
    assert_eq!(s["counts"]["completed"], 3, "{s}");
    let added = &s["tasks"][2];
    assert_eq!(
        (
            added["id"].as_str(),
            added["content"].as_str(),
            added["priority"].as_u64()
        ),
        (Some("TAS-3"), Some("Check both files"), Some(3)),
        "{s}"
    );
    let iterations = s["iterations"].as_array().unwrap();
    let summaries: Vec<&str> = iterations
        .iter()
        .map(|i| i["summary"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        summaries,
        [
            "Added TAS-3 to check the files",
            "Wrote hello.txt",
            "Wrote world.txt and checked both"
        ]
    );
    assert!(iterations.iter().all(|i| i["outcome"] == "end_turn"), "{s}");

    // The headless output: tool calls and file writes; the permissions Claude Code asks for
    // (iteratr's own tools, the writes) are answered and counted, not shown one by one.
    for line in [
        "iteratr: agent @zed-industries/claude-code-acp 0.16.2 ready (session tools over HTTP)",
        "── iteration 0 (planning) ──",
        "  Reviewing the plan.",
        "  + TAS-3 [p3] Check both files",
        "  TAS-1 → completed",
        "  TAS-3 → completed",
        "  ✗ mcp__iteratr__session-complete failed",
        &format!("  file write {}", p.path().join("hello.txt").display()),
        &format!("  file write {}", p.path().join("world.txt").display()),
        "  summary: Wrote world.txt and checked both",
        "  session completed",
        "iteratr: session complete after 2 iterations + planning · 3 tasks: 3 completed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{}", context());
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("  ✓ mcp__iteratr__task-status")),
        "{}",
        context()
    );

    // The model chosen with -m reached every main request (Claude Code's "default" is not Haiku).
    assert!(text.contains("iteratr: model haiku"), "{}", context());
    for r in llm.main_requests() {
        let model = r.model().unwrap_or_default();
        assert!(model.contains("haiku"), "model {model:?}: {}", context());
    }

    // Claude Code asked about each of iteratr's tools and each write: answered without a person,
    // counted per iteration, none shown or recorded one by one.
    assert!(!text.contains("→ allowed"), "{}", context());
    assert!(text.contains(" tool calls allowed"), "{}", context());
    assert!(
        s["permissions"]["allowed"].as_u64().unwrap() >= 5
            && s["permissions"]["recent"].as_array().unwrap().is_empty(),
        "{s}"
    );

    // Claude Code saw iteratr's tools under its names.
    for r in llm.main_requests() {
        let tools = r.tool_names();
        for t in ["mcp__iteratr__task-add", "mcp__iteratr__session-complete"] {
            assert!(tools.iter().any(|n| n == t), "{t} not offered: {tools:?}");
        }
    }

    // No claude-code-acp process, nor the Claude Code it runs, is left.
    let acp = acp.canonicalize().unwrap();
    let modules = acp
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "node_modules"))
        .unwrap_or(acp.parent().unwrap());
    assert_none_left(&modules.display().to_string(), &p.path());
}
