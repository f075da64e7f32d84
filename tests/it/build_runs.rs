//! `iteratr build` across runs: runs pick up what the user changed in the spec; `-i 0` means no
//! limit; a fatal error is said once; a provider's rate limit is waited out, not counted as a
//! failure. (An agent that dies or hangs: `reliability_agent.rs`.)

use crate::common::project::*;
use serde_json::Value;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Stop, Turn};

#[test]
fn dash_i_0_means_no_limit_and_dash_i_1_stops_after_one_iteration() {
    let p = Project::new(full_script());
    let out = p.build(&["--headless", "-i", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(outcomes(&p.status()).len(), 2, "planning + 1");
    let out = p.build(&["--headless", "-i", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(p.status()["completed"], true);
    assert!(
        stdout(&out).contains("session complete after 3 iterations + planning"),
        "{}",
        stdout(&out)
    );
}

fn task_states(s: &Value) -> Vec<(String, String, String)> {
    s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["content"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_added_and_ticked_in_the_spec_between_runs_become_tasks_and_completions() {
    let p = Project::new(Script::turns([
        planning_turn(),
        Turn::of([summary("first")]),
    ]));
    let out = p.build(&["--headless", "-i", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let spec = std::fs::read_to_string(p.path().join("specs/demo.md")).unwrap();
    let edited = spec.replace("- [ ] Write hello.txt", "- [x] Write hello.txt")
        + "- [ ] Second thing added later\n- [x] Done by hand already\n";
    std::fs::write(p.path().join("specs/demo.md"), &edited).unwrap();
    p.script(&Script::turns([Turn::of([summary("second")])]));
    let out = p.build(&["--headless", "-i", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("iteratr: imported 2 new tasks from the spec, TAS-4, TAS-5"),
        "{text}"
    );
    assert!(
        text.contains("iteratr: TAS-1 completed in the spec"),
        "{text}"
    );
    let expected: Vec<(String, String, String)> = [
        ("TAS-1", "Write hello.txt", "completed"),
        ("TAS-2", "Write world.txt", "remaining"),
        ("TAS-3", "Write the README", "remaining"),
        ("TAS-4", "Second thing added later", "remaining"),
        ("TAS-5", "Done by hand already", "completed"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.into(), b.into(), c.into()))
    .collect();
    assert_eq!(task_states(&p.status()), expected);
    // The tick is recorded as the user's doing.
    let log = iteratr::store::SqliteLog::open(&p.path().join(".iteratr")).unwrap();
    let events = iteratr::store::read_all(&log, "demo", 0).await.unwrap();
    let tick = events
        .iter()
        .find(|e| {
            matches!(
                e.event.kind,
                iteratr::session::EventKind::TaskStatusSet { task: 1, .. }
            )
        })
        .unwrap();
    assert_eq!(tick.event.by, iteratr::session::Author::User);
    let before = events.len();

    // A third run with the same spec imports nothing; removing a line deletes nothing.
    std::fs::write(
        p.path().join("specs/demo.md"),
        edited.replace("- [ ] Write world.txt\n", ""),
    )
    .unwrap();
    p.script(&Script::turns([Turn::of([summary("third")])]));
    let out = p.build(&["--headless", "-i", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(!text.contains("imported"), "{text}");
    assert!(!text.contains("completed in the spec"), "{text}");
    assert_eq!(task_states(&p.status()), expected);
    // Only the third iteration's own events were added (agent, start, summary, finish).
    let after = iteratr::store::read_all(&log, "demo", before as u64)
        .await
        .unwrap();
    assert!(
        after.iter().all(|e| !matches!(
            e.event.kind,
            iteratr::session::EventKind::TaskAdded { .. }
                | iteratr::session::EventKind::TaskStatusSet { .. }
        )),
        "{after:?}"
    );
}

#[test]
fn a_fatal_error_is_said_once_on_stderr_with_the_fix() {
    let p = Project::new(full_script());
    let out = p
        .command(&["--headless", "--agent", "/nonexistent/agent-binary"])
        .env_remove("ITERATR_AGENT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: cannot start the agent `/nonexistent/agent-binary`")
            && lines[0].contains("--agent"),
        "{err}"
    );
    assert!(!stdout(&out).contains("cannot start"), "{}", stdout(&out));
}

#[test]
fn an_agent_without_agent_info_is_named_by_its_command() {
    let p = Project::new(full_script()).with_env("ITERATR_FAKE_AGENT_NO_INFO", "1");
    let (text, s) = build_completes(&p);
    assert!(
        text.contains("iteratr: agent fake_agent ready (session tools over HTTP)"),
        "{text}"
    );
    assert_eq!(s["agent"], "fake_agent", "{s}");
}

#[test]
fn a_rate_limited_agent_waits_and_is_not_counted_as_failing() {
    let limited = || Turn::of([Action::fail("API error 429: Too Many Requests")]);
    let p = Project::new(Script::turns([
        planning_turn(),
        limited(),
        limited(),
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]));
    // One real failure would stop this build; two rate limits do not.
    let out = p.build(&["--headless", "--max-failures", "1", "--retry-delay", "50ms"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert_eq!(
        text.matches("rate-limiting or overloaded").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("(2 of 12 waits; not counted as a failure)"),
        "{text}"
    );
    // The agent was kept: one process served every iteration.
    let pids = log::pids::<log::Prompt>(&p.agent_log());
    assert_eq!(pids.len(), 1);
}

#[test]
fn usage_is_recorded_and_a_token_budget_stops_the_run() {
    let with_usage = |turn: Turn, input: u64, output: u64, cost: f64| {
        let cost = Some(cost);
        turn.then([Action::Usage {
            input,
            output,
            cost,
        }])
    };
    let p = Project::new(Script::turns([
        with_usage(planning_turn(), 100, 20, 0.01),
        with_usage(work_turn("TAS-1", "hello.txt"), 200, 50, 0.03),
        with_usage(work_turn("TAS-2", "world.txt"), 200, 50, 0.03),
        finishing_turn(),
    ]));
    // 120 + 250 = 370 tokens after the first work iteration; 620 after the second.
    let out = p.build(&["--headless", "--max-tokens", "500"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(6), "{text}\n{}", stderr(&out));
    assert!(text.contains("120 tokens, 0.01 USD"), "{text}");
    let end = stderr(&out) + &text;
    assert!(
        end.contains("this run used 620 tokens, the budget is 500 (--max-tokens)"),
        "{end}"
    );
    assert_eq!(
        p.agent_events::<log::Prompt>().len(),
        3,
        "no iteration after the budget"
    );
    // Recorded per iteration and added up.
    let s = p.status();
    assert_eq!(s["usage"]["input_tokens"], 500);
    assert_eq!(s["usage"]["output_tokens"], 120);
    assert_eq!(s["iterations"][1]["usage"]["output_tokens"], 50);
    let cost = s["usage"]["cost"].as_f64().unwrap();
    assert!((cost - 0.07).abs() < 1e-9, "{cost}");
    // A cost budget works the same way.
    let q = Project::new(Script::turns([
        with_usage(planning_turn(), 1, 1, 0.5),
        with_usage(work_turn("TAS-1", "hello.txt"), 1, 1, 0.6),
        finishing_turn(),
    ]));
    let out = q.build(&["--headless", "--max-cost", "1"]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the budget is 1.00 (--max-cost)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn max_tokens_and_refusal_are_said_for_what_they_are() {
    let p = Project::new(Script::turns([
        planning_turn(),
        Turn::of([Action::say("Long answer...\n")]).stop(Stop::MaxTokens),
        Turn::of([Action::say("I cannot help with that.\n")]).stop(Stop::Refusal),
    ]));
    let out = p.build(&["--headless", "-i", "2"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(text.contains("iteration 1 ended: max_tokens"), "{text}");
    assert!(
        text.contains("reached its output limit (max_tokens), not because it was done"),
        "{text}"
    );
    assert!(
        text.contains("the model refused to go on in iteration 2 (refusal)"),
        "{text}"
    );
}

/// Workers take the same path as the single build after a failed turn: a rate limit is waited
/// out with the agent kept, not counted toward --max-failures.
#[test]
fn a_rate_limited_worker_waits_and_is_not_counted_as_failing() {
    let planning = vec![summary("planned")];
    let p = crate::workers::team_project(&["write a.txt: a", "write b.txt: b"], planning, 0);
    let limited = Turn::of([Action::fail("API error 429: Too Many Requests")]);
    p.script(
        &Script::turns([Turn::of([summary("planned")]), limited.clone(), limited])
            .repeat(Turn::of([Action::work(0)])),
    );
    let out = p.build(&[
        "--headless",
        "--workers",
        "2",
        "--max-failures",
        "1",
        "--retry-delay",
        "50ms",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let waits: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("rate-limiting or overloaded"))
        .collect();
    assert_eq!(waits.len(), 2, "{text}");
    assert!(
        waits
            .iter()
            .all(|l| l.starts_with("[w") && l.contains("not counted as a failure")),
        "{text}"
    );
    // No agent was restarted: each agent process that prompted was started once.
    assert!(!text.contains("restarting it in"), "{text}");
    let starts = p.agent_events::<log::Start>().len();
    let prompting = log::pids::<log::Prompt>(&p.agent_log());
    assert_eq!(starts, prompting.len(), "{text}");
    assert_eq!(p.status()["completed"], true);
}
