//! What each task cost: an iteration's tokens and cost go to the tasks it worked on (a worker's
//! claimed task; in a single build those it set in progress or completed), retries included;
//! `--max-tokens-per-task` blocks a task that passes it and the loop goes on.

use serde_json::{Value, json};

use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::*;

fn with_usage(turn: Turn, input: u64, output: u64, cost: f64) -> Turn {
    turn.then([Action::Usage {
        input,
        output,
        cost: Some(cost),
    }])
}

fn task<'a>(s: &'a Value, id: &str) -> &'a Value {
    s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {s}"))
}

fn tokens(u: &Value) -> u64 {
    u["input_tokens"].as_u64().unwrap_or(0) + u["output_tokens"].as_u64().unwrap_or(0)
}

#[test]
fn a_single_build_gives_each_task_what_its_iterations_used_retries_included() {
    let p = Project::new(Script::turns([
        with_usage(planning_turn(), 100, 20, 0.01),
        with_usage(work_turn("TAS-1", "hello.txt"), 200, 50, 0.03),
        // TAS-2 started, not finished: the next iteration tries again.
        with_usage(
            Turn::of([status_of("TAS-2", "in_progress"), summary("halfway")]),
            300,
            0,
            0.04,
        ),
        with_usage(work_turn("TAS-2", "world.txt"), 100, 0, 0.02),
        // Two tasks in one iteration share it.
        with_usage(
            Turn::of([
                status_of("TAS-3", "completed"),
                tool("task-add", json!({"content": "Extra"})),
                status_of("TAS-4", "completed"),
                tool("session-complete", json!({"summary": "all done"})),
            ]),
            41,
            0,
            0.02,
        ),
    ]));
    let out = p.build(&["--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let s = p.status();
    assert_eq!(tokens(&task(&s, "TAS-1")["usage"]), 250);
    assert_eq!(tokens(&task(&s, "TAS-2")["usage"]), 400, "both tries");
    let cost = task(&s, "TAS-2")["usage"]["cost"].as_f64().unwrap();
    assert!((cost - 0.06).abs() < 1e-9, "{cost}");
    // 41 tokens shared by two: 21 and 20, nothing lost.
    assert_eq!(tokens(&task(&s, "TAS-3")["usage"]), 21);
    assert_eq!(tokens(&task(&s, "TAS-4")["usage"]), 20);
    // Planning worked on no task: its usage is the session's, not a task's.
    assert_eq!(tokens(&s["unattributed_usage"]), 120);
    let attributed: u64 = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| tokens(&t["usage"]))
        .sum();
    assert_eq!(attributed + 120, tokens(&s["usage"]));
    let out = std::process::Command::new(crate::common::bin())
        .current_dir(p.path())
        .args(["status", "--session", "demo"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("Write world.txt  [400 tokens, 0.06 USD]"),
        "{text}"
    );
    assert!(
        text.contains("120 tokens, 0.01 USD not spent on a task"),
        "{text}"
    );
}

#[test]
fn a_task_past_its_token_cap_is_blocked_with_a_note_and_the_loop_goes_on() {
    let stuck = || {
        with_usage(
            Turn::of([status_of("TAS-1", "in_progress"), summary("still at it")]),
            200,
            0,
            0.0,
        )
    };
    let p = Project::new(Script::turns([
        planning_turn(),
        stuck(),
        stuck(),
        // After the cap: task-next gives TAS-2, and the rest completes.
        with_usage(work_turn("TAS-2", "world.txt"), 500, 0, 0.0),
        with_usage(
            Turn::of([
                status_of("TAS-3", "completed"),
                tool("session-complete", json!({"summary": "done but TAS-1"})),
            ]),
            10,
            0,
            0.0,
        ),
    ]));
    let out = p.build(&["--headless", "--max-tokens-per-task", "400"]);
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "TAS-1 is blocked: its iterations used 400 tokens, the cap is 400 (max_tokens_per_task)"
        ),
        "{text}"
    );
    let s = p.status();
    assert_eq!(task(&s, "TAS-1")["status"], "blocked");
    assert_eq!(task(&s, "TAS-2")["status"], "completed");
    // TAS-2 passed the cap in the iteration that completed it: done work is not blocked.
    assert_eq!(tokens(&task(&s, "TAS-2")["usage"]), 500);
    let note = s["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "stuck")
        .unwrap_or_else(|| panic!("no stuck note: {s}"));
    assert!(
        note["content"]
            .as_str()
            .unwrap()
            .starts_with("iteratr blocked TAS-1: its iterations used 400 tokens"),
        "{note}"
    );
}

#[test]
fn workers_give_each_task_the_usage_of_the_iterations_that_held_it() {
    let tasks = ["write a.txt: A", "write b.txt: B", "write c.txt: C"];
    let p = crate::workers::team_project(&tasks, vec![Action::say("Planning.\n")], 0);
    p.script(
        &Script::turns([Turn::of([Action::say("Planning.\n")])]).repeat(
            Turn::of([Action::work(0)]).then([Action::Usage {
                input: 1000,
                output: 0,
                cost: None,
            }]),
        ),
    );
    let out = p.build(&["--headless", "--workers", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let s = p.status();
    let mut attributed = 0;
    for id in ["TAS-1", "TAS-2", "TAS-3"] {
        let t = task(&s, id);
        assert_eq!(t["status"], "completed", "{t}");
        let used = tokens(&t["usage"]);
        // Each worker iteration holds one task and uses 1000 tokens; a task may take more than one.
        assert!(used >= 1000 && used.is_multiple_of(1000), "{id}: {used}");
        attributed += used;
    }
    let worker_iterations = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|it| it["worker"].is_string() && !it["usage"].is_null())
        .count() as u64;
    assert_eq!(attributed, 1000 * worker_iterations, "{s}");
    assert_eq!(
        attributed + tokens(&s["unattributed_usage"]),
        tokens(&s["usage"])
    );
}
