//! `iteratr build` end to end: the real binary, a real ACP agent process (the scripted fake agent,
//! standing in for the model), iteratr's real MCP server, the real event log.

use crate::common::project::*;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_agent::log::{self, Event};
use crate::common::fake_agent::script::{Action, Script, Turn};

#[test]
fn a_three_task_spec_completes() {
    let p = Project::new(full_script());
    let out = p.build(&["--headless", "-m", "fake/large"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));

    // What the agent did on disk, through iteratr's file service.
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "done\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("world.txt")).unwrap(),
        "done\n"
    );

    // The log: imported tasks, all completed, the note, a summary per iteration, completion.
    let s = p.status();
    assert_eq!(s["completed"], true);
    assert_eq!(s["completion_summary"], "all done");
    assert_eq!(
        s["agent"], "fake-agent 1.0",
        "the agent's initialize answer is recorded"
    );
    assert_eq!(s["counts"]["completed"], 3);
    let contents: Vec<&str> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["Write hello.txt", "Write world.txt", "Write the README"]
    );
    assert_eq!(s["notes"][0]["content"], "Plain text files");
    let iterations = s["iterations"].as_array().unwrap();
    let summaries: Vec<&str> = iterations
        .iter()
        .map(|i| i["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "Planned three tasks",
            "TAS-1 done",
            "TAS-2 done",
            "README written"
        ]
    );
    assert!(iterations.iter().all(|i| i["outcome"] == "end_turn"));
    assert_eq!(iterations[1]["tasks_changed"], json!([1]));

    // The agent: one fresh ACP session per iteration, each with iteratr's HTTP MCP server and
    // its bearer token; the model chosen with -m; prompts rendered from the template.
    let sessions = p.agent_events::<log::NewSession>();
    assert_eq!(sessions.len(), 4);
    let ids: std::collections::BTreeSet<&str> =
        sessions.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(ids.len(), 4, "a fresh session every iteration");
    for s in &sessions {
        let log::McpServer::Http { url, auth, .. } = &s.mcp_servers[0] else {
            panic!("not over HTTP: {s:?}")
        };
        assert!(auth, "{s:?}");
        assert!(url.starts_with("http://127.0.0.1:"), "{s:?}");
        assert_eq!(s.cwd, p.path().canonicalize().unwrap());
    }
    let models = log::config_options(&p.agent_log());
    assert_eq!(models.len(), 4);
    assert!(models.iter().all(|m| m.value == "fake/large" && m.ok));
    let prompts = p.agent_events::<log::Prompt>();
    let first = &prompts[0].text;
    assert!(
        first.contains("iteration 0") && first.contains("planning iteration"),
        "{first}"
    );
    assert!(first.contains("- TAS-1 [p2] Write hello.txt"), "{first}");
    let second = &prompts[1].text;
    assert!(
        second.contains("- #0 (end_turn): Planned three tasks"),
        "{second}"
    );
    assert!(
        second.contains("- NOT-1 (decision) Plain text files"),
        "{second}"
    );
    assert!(!second.contains("planning iteration"));

    // The headless output: iterations, tool calls, refusal, the end.
    for line in [
        "imported 3 tasks from the spec's checklists",
        "── iteration 0 (planning) ──",
        "── iteration 3 ──",
        "  ✓ task-status: TAS-1 is now completed.",
        "  ✗ session-complete failed: the session cannot complete: 1 task(s) not done: TAS-3",
        "  file write ",
        "iteratr: session complete after 3 iterations + planning · 3 tasks: 3 completed",
        "iteratr: model fake/large",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // And no agent is left running.
    assert_agents_gone(&p);
}

fn assert_agents_gone(p: &Project) {
    let starts = p
        .agent_log()
        .into_iter()
        .filter(|r| matches!(r.event, Event::Start(_)));
    for start in starts {
        crate::common::procs::wait_gone(start.pid, "agent process", crate::common::PATIENCE);
    }
}

#[test]
fn iteration_limit_then_resume_then_reset() {
    let p = Project::new(full_script());
    let out = p.build(&["--headless", "--iterations", "2"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out)
            .contains("iteration limit reached (-i 2) · session: 2 iterations + planning · "),
        "{}",
        stdout(&out)
    );
    let s = p.status();
    assert_eq!(s["iterations"].as_array().unwrap().len(), 3, "planning + 2");
    assert_eq!(s["completed"], false);

    // A second run resumes at iteration 3 and finishes.
    let out = p.build(&["--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("resuming session demo after iteration 2"));
    assert!(stdout(&out).contains("── iteration 3 ──") && !stdout(&out).contains("iteration 0"));
    let prompts = p.agent_events::<log::Prompt>();
    assert!(prompts.last().unwrap().text.contains("iteration 3"));
    assert_eq!(p.status()["completed"], true);

    // Completed: running again says so and does nothing.
    let out = p.build(&["--headless"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("already complete"),
        "{}",
        stdout(&out)
    );

    // --reset starts over: tasks imported again, planning again, numbering from TAS-1.
    p.script(&full_script());
    let out = p.build(&["--headless", "--reset", "-i", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("iteration 0 (planning)"));
    let s = p.status();
    assert_eq!(s["counts"]["completed"], 1);
    assert_eq!(s["iterations"].as_array().unwrap().len(), 2);
}

#[test]
fn sigint_cancels_the_turn_and_the_next_run_resumes() {
    let p = Project::new(Script::turns([
        planning_turn(),
        Turn::of([Action::say("long job\n"), Action::Hang]),
    ]));
    let mut child = p.command(&["--headless"]).spawn().unwrap();
    // The agent is in the hanging turn (it logs the prompt once a cancel would find the turn).
    wait_for_prompts(&p, 2);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = finish(child_take(&mut child), Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("interrupted; run the same command again to resume"));
    let cancels = p.agent_events::<log::Cancel>();
    assert_eq!(cancels.len(), 1, "session/cancel reached the agent");
    assert_agents_gone(&p);
    let s = p.status();
    assert_eq!(s["iterations"][1]["outcome"], "interrupted");

    // The next run resumes at iteration 2.
    p.script(&Script::turns([
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]));
    let out = p.build(&["--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("── iteration 2 ──"));
    assert_eq!(p.status()["completed"], true);
}

fn child_take(child: &mut Child) -> Child {
    std::mem::replace(child, Command::new("true").spawn().unwrap())
}

#[test]
fn json_output_is_one_object_per_line() {
    let p = Project::new(full_script());
    let out = p.build(&["--headless", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let mut types = std::collections::BTreeSet::new();
    for line in stdout(&out).lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        types.insert(v["type"].as_str().unwrap().to_string());
    }
    for t in [
        "started",
        "agent_ready",
        "iteration_started",
        "agent",
        "log",
        "iteration_finished",
        "finished",
    ] {
        assert!(types.contains(t), "no {t} event in {types:?}");
    }
    let last: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["type"].as_str(), last["outcome"].as_str()),
        (Some("finished"), Some("completed"))
    );
}

#[test]
fn agents_without_http_mcp_get_the_stdio_server() {
    let p = Project::new(full_script());
    let out = p
        .command(&["--headless"])
        .env("ITERATR_FAKE_AGENT_NO_HTTP", "1")
        .spawn()
        .map(|c| finish(c, Duration::from_secs(60)))
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("(session tools over stdio)"));
    let new = &p.agent_events::<log::NewSession>()[0];
    let log::McpServer::Stdio { command, .. } = &new.mcp_servers[0] else {
        panic!("not over stdio: {new:?}")
    };
    assert_eq!(command, Path::new(crate::common::bin()));
    assert_eq!(p.status()["completed"], true);
}

#[test]
fn bad_setup_fails_before_anything_runs() {
    let p = Project::new(full_script());
    std::fs::write(
        p.path().join("bad.hbs"),
        "line one\n{{#if tasks}}never closed\n",
    )
    .unwrap();
    let out = p.build(&["--headless", "-t", "bad.hbs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the template bad.hbs does not parse at line"),
        "{}",
        stderr(&out)
    );
    assert!(p.agent_log().is_empty(), "no agent was started");
    assert!(!p.path().join(".iteratr").exists(), "nothing was recorded");

    let out = p
        .command(&["--headless"])
        .env("ITERATR_AGENT", "no-such-agent-binary acp")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot start the agent `no-such-agent-binary acp`")
            && stderr(&out).contains("not installed"),
        "{}",
        stderr(&out)
    );

    let out = p.build(&["--headless", "-m", "fake/huge"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("does not offer the model 'fake/huge'; it offers: fake/small, fake/large"),
        "{}",
        stderr(&out)
    );

    let out = p.build(&["--headless", "-s", "specs/missing.md"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("specs/missing.md does not exist"));
}

fn wait_for_prompts(p: &Project, n: usize) {
    crate::common::wait_until(
        crate::common::PATIENCE,
        || format!("the agent never got prompt {n}"),
        || prompts(p.path()) >= n,
    );
}

/// How many prompts the agent has logged (read as text: a line may be half written).
fn prompts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("agent.log"))
        .unwrap_or_default()
        .matches(r#""event":"prompt""#)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_during_a_turn_are_delivered() {
    let p = Project::new(Script::turns([
        planning_turn(),
        // The turn goes on until the test has sent its message.
        Turn::of([
            Action::say("working\n"),
            Action::wait_file("message-sent"),
            summary("first pass"),
        ]),
        Turn::of([
            Action::say("noted\n"),
            tool(
                "note-add",
                json!({"type": "tip", "content": "British spelling"}),
            ),
        ]),
        Turn::of([
            status_of("TAS-1", "cancelled"),
            status_of("TAS-2", "cancelled"),
            status_of("TAS-3", "cancelled"),
            tool("session-complete", json!({})),
        ]),
    ]));
    let child = p.command(&["--headless"]).spawn().unwrap();
    let path = p.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        crate::common::wait_until(
            crate::common::PATIENCE,
            || "no second prompt",
            || prompts(&path) >= 2,
        )
    })
    .await
    .unwrap();
    // A person (here: another process's writer) sends a message while the agent works.
    p.send_message("Please use British spelling").await;
    std::fs::write(p.path().join("message-sent"), "").unwrap();
    let out = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("delivering 1 message(s) from the user"),
        "{}",
        stdout(&out)
    );
    let prompts = p.agent_events::<log::Prompt>();
    assert_eq!(prompts.len(), 4);
    // The follow-up went to the same ACP session, right after the turn.
    assert_eq!(prompts[2].session_id, prompts[1].session_id);
    let follow_up = &prompts[2].text;
    assert!(
        follow_up.contains("arrived while you worked")
            && follow_up.contains("Please use British spelling")
    );
    // And the next iteration's prompt repeats it.
    let next = &prompts[3].text;
    assert!(
        next.contains("## Messages from the user\n- Please use British spelling"),
        "{next}"
    );
}

#[test]
fn without_a_terminal_build_prints_progress_lines() {
    let p = Project::new(full_script());
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("stdout is not a terminal; printing progress lines"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("── iteration 0 (planning) ──"));
}

#[test]
fn approve_ask_without_a_terminal_denies_and_says_so() {
    let turn = Turn::of([
        Action::permission("Edit src/lib.rs", "edit"),
        status_of("TAS-1", "cancelled"),
        status_of("TAS-2", "cancelled"),
        status_of("TAS-3", "cancelled"),
        tool("session-complete", json!({})),
    ]);
    let p = Project::new(Script::turns([planning_turn(), turn]));
    let out = p.build(&["--headless", "--approve", "ask"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "iteratr: warning: --approve ask without the full-screen interface: nobody can answer"
        ),
        "{text}"
    );
    assert!(
        text.contains("permission: Edit src/lib.rs → denied: --approve ask, and nobody can answer (--headless)"),
        "{text}"
    );
    assert_eq!(
        p.agent_events::<log::Permission>()[0].outcome,
        "reject_once"
    );
    assert_eq!(
        p.status()["permissions"]["recent"][0]["decision"],
        "denied_unattended"
    );
}

/// A 3-task run with `--approve auto`: what no rule refuses is counted per iteration (its end
/// line, `--json`, `status`), never shown or logged one by one; a deny rule's refusal still is.
#[test]
fn approve_auto_counts_what_it_allows_and_shows_and_logs_only_refusals() {
    let asks = |turn: Turn, titles: &[(&str, &str)]| {
        let asked = titles.iter().map(|(t, k)| Action::permission(*t, *k));
        Turn::of(asked).then(turn.actions)
    };
    let run = [("Run cargo test", "execute"), ("Edit src/lib.rs", "edit")];
    let script = Script::turns([
        planning_turn(),
        asks(work_turn("TAS-1", "hello.txt"), &run),
        asks(work_turn("TAS-2", "world.txt"), &run),
        asks(
            finishing_turn(),
            &[
                ("Run cargo test", "execute"),
                ("Run rm -rf target", "execute"),
            ],
        ),
    ]);
    for json in [false, true] {
        let p = Project::new(script.clone());
        let mut args = vec!["--headless", "--deny-tools", "*rm -rf*"];
        if json {
            args.push("--json");
        }
        let out = p.build(&args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
        // The agent was answered every time.
        let answers: Vec<String> = p
            .agent_events::<log::Permission>()
            .into_iter()
            .map(|e| e.outcome)
            .collect();
        assert_eq!(answers.len(), 6, "{answers:?}");
        assert_eq!(answers.iter().filter(|a| *a == "reject_once").count(), 1);
        let s = p.status();
        let perms = &s["permissions"];
        assert_eq!(
            (perms["allowed"].as_u64(), perms["denied"].as_u64()),
            (Some(5), Some(1)),
            "{s}"
        );
        let recent = perms["recent"].as_array().unwrap();
        assert_eq!(recent.len(), 1, "only the refusal is logged: {s}");
        assert_eq!(recent[0]["decision"], "denied_by_rule");
        assert_eq!(recent[0]["rule"], "*rm -rf*");
        let counted: Vec<u64> = s["iterations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["auto_allowed"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(counted, [0, 2, 2, 1], "{s}");
        if json {
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let permission_lines: Vec<&Value> = lines
                .iter()
                .filter(|v| {
                    v["update"]["type"] == "permission"
                        || v["event"]["event"]["type"] == "permission_decided"
                })
                .collect();
            assert_eq!(permission_lines.len(), 2, "{permission_lines:#?}");
            assert!(
                permission_lines
                    .iter()
                    .all(|v| v["update"]["decision"] == "denied_by_rule"
                        || v["event"]["event"]["decision"] == "denied_by_rule"),
                "{permission_lines:#?}"
            );
            let ends: Vec<u64> = lines
                .iter()
                .filter(|v| v["type"] == "iteration_finished")
                .map(|v| v["auto_allowed"].as_u64().unwrap_or(0))
                .collect();
            assert_eq!(ends, [0, 2, 2, 1], "{text}");
        } else {
            assert!(!text.contains("→ allowed"), "{text}");
            assert!(
                text.contains("permission: Run rm -rf target → denied by --deny-tools '*rm -rf*'"),
                "{text}"
            );
            assert!(text.contains(" · 2 tool calls allowed\n"), "{text}");
            assert!(text.contains(" · 1 tool call allowed\n"), "{text}");
        }
    }
}

/// A build that prints more than a pipe holds (the agent's text goes to stdout in headless mode)
/// is read while it runs: it finishes, and all it printed arrives.
#[test]
fn a_build_that_prints_more_than_a_pipe_holds_finishes() {
    let line = "x".repeat(99);
    let says = (0..2000).map(|i| Action::say(format!("{i:05} {line}\n")));
    let p = Project::new(Script::turns([Turn::of(says)]));
    let out = p.build(&["--headless", "-i", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(text.len() > 200_000, "{} bytes", text.len());
    assert!(
        text.contains(&format!("01999 {line}")),
        "the end is missing"
    );
}
