//! What iteratr survives, part 2 (`RELIABILITY.md`, "A misbehaving agent"): an agent that dies
//! or hangs at any point. An agent that exits mid-turn (planning, a normal iteration, the
//! follow-up that delivers people's messages, during `session/new`, right after
//! `session-complete`) is restarted and the build completes with a consistent log; one that hangs
//! in a turn is cancelled at `--iteration-timeout` and replaced, even when it ignores the cancel;
//! one that hangs in `initialize` stops the build with what to do. What it writes on stdout
//! (garbage, floods, ...) and what it asks for (files, permissions): `reliability_agent_io.rs`.
//! The scripted fake agent dies on cue; the rogue agent (`examples/rogue_agent.rs`) does what no
//! ACP SDK lets an agent do.

use std::time::Duration;

use crate::common::procs::wait_gone;
use crate::common::project::*;
use crate::common::{PATIENCE, rogue};
use serde_json::{Value, json};

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

#[test]
fn a_crash_mid_turn_is_retried_and_the_run_completes() {
    let mut turns = vec![planning_turn()];
    turns.push(Turn::of([
        Action::say("Starting TAS-1\n"),
        status_of("TAS-1", "in_progress"),
        Action::Exit(9),
    ]));
    turns.extend([
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]);
    let p = Project::new(Script::turns(turns));
    let out = p.build(&["--headless", "--retry-delay", "50ms"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("the agent failed (1/3)"), "{text}");
    assert_eq!(
        p.agent_events::<log::Start>().len(),
        2,
        "the agent was restarted once"
    );
    let s = p.status();
    assert_eq!(s["completed"], true);
    let crashed = &s["iterations"][1];
    assert_eq!(crashed["outcome"], "error");
    assert!(
        crashed["detail"]
            .as_str()
            .unwrap()
            .contains("exit status: 9"),
        "{crashed}"
    );
    // What the crashed turn recorded before dying is kept.
    assert_eq!(crashed["tasks_changed"], json!([1]));
}

#[test]
fn a_hanging_turn_times_out_and_is_retried() {
    let mut turns = vec![
        planning_turn(),
        Turn::of([Action::say("thinking hard\n"), Action::Hang]),
    ];
    turns.extend([
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]);
    let p = Project::new(Script::turns(turns));
    // The timeout applies to every turn: generous enough that only the turn that hangs reaches it
    // however slow the machine (a debug build, MCP connected lazily).
    let out = p.build(&[
        "--headless",
        "--iteration-timeout",
        "20s",
        "--retry-delay",
        "50ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        p.agent_events::<log::Cancel>().len(),
        1,
        "the hanging turn was cancelled"
    );
    let s = p.status();
    assert_eq!(s["iterations"][1]["outcome"], "timeout");
    assert!(
        s["iterations"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("--iteration-timeout")
    );
    assert_eq!(s["completed"], true);
}

#[test]
fn three_crashes_in_a_row_stop_with_a_clear_error() {
    let crash = Turn::of([Action::say("oops\n"), Action::Exit(1)]);
    let p = Project::new(Script::turns([
        planning_turn(),
        crash.clone(),
        crash.clone(),
        crash,
    ]));
    let out = p.build(&["--headless", "--retry-delay", "20ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // Said once, on stderr.
    let text = stderr(&out);
    assert!(
        text.starts_with("error: the agent failed 3 times in a row; stopping")
            && text.lines().count() == 1,
        "{text}"
    );
    // The log is intact and readable; the planning work is there.
    let s = p.status();
    let outcomes: Vec<&str> = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["end_turn", "error", "error", "error"]);
    assert_eq!(s["notes"].as_array().unwrap().len(), 1);
}

fn crash() -> Turn {
    Turn::of([Action::say("about to die\n"), Action::Exit(9)])
}

fn work_turns() -> Vec<Turn> {
    vec![
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]
}

fn pairs(v: &[(&str, bool)]) -> Vec<(String, bool)> {
    v.iter().map(|(o, p)| (o.to_string(), *p)).collect()
}

#[test]
fn an_agent_dying_during_planning_is_planned_again() {
    let mut turns = vec![
        Turn::of([
            Action::say("Planning.\n"),
            tool("note-add", json!({"type": "decision", "content": "kept"})),
            Action::Exit(9),
        ]),
        planning_turn(),
    ];
    turns.extend(work_turns());
    let p = Project::new(Script::turns(turns));
    let (text, s) = build_completes(&p);
    assert!(text.contains("the agent failed (1/3)"), "{text}");
    // Planning is redone under the next number; numbers are never reused.
    assert_eq!(
        outcomes(&s),
        pairs(&[
            ("error", true),
            ("end_turn", true),
            ("end_turn", false),
            ("end_turn", false),
            ("end_turn", false),
        ])
    );
    let prompts = p.agent_events::<log::Prompt>();
    assert!(prompts[1].text.contains("This is the planning iteration"));
    assert!(!prompts[2].text.contains("This is the planning iteration"));
    // What the dead planning turn recorded is kept.
    assert_eq!(s["notes"][0]["content"], "kept");
    assert!(
        text.contains("session complete after 3 iterations + 2 planning, 1 failed"),
        "{text}"
    );
}

#[test]
fn a_planning_iteration_that_failed_in_an_earlier_run_is_planned_again() {
    let p = Project::new(Script::turns([crash(), crash()]));
    let out = p.build(&["--headless", "--retry-delay", "20ms", "--max-failures", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let mut turns = vec![planning_turn()];
    turns.extend(work_turns());
    p.script(&Script::turns(turns));
    let (_, s) = build_completes(&p);
    assert_eq!(
        outcomes(&s)[..3],
        pairs(&[("error", true), ("error", true), ("end_turn", true)])
    );
    assert_eq!(outcomes(&s).len(), 6);
}

#[test]
fn an_agent_dying_in_a_normal_iteration_is_restarted() {
    let mut turns = vec![planning_turn(), crash()];
    turns.extend(work_turns());
    let p = Project::new(Script::turns(turns));
    let (text, s) = build_completes(&p);
    assert!(text.contains("the agent failed (1/3)"), "{text}");
    assert_eq!(outcomes(&s)[1], ("error".to_string(), false));
    assert_eq!(p.agent_events::<log::Start>().len(), 2);
}

#[test]
fn an_agent_dying_during_session_new_is_restarted() {
    let mut turns = vec![planning_turn(), Turn::exit_in_new_session(7)];
    turns.extend(work_turns());
    let p = Project::new(Script::turns(turns));
    let (text, s) = build_completes(&p);
    assert!(text.contains("session/new failed"), "{text}");
    assert_eq!(outcomes(&s)[1], ("error".to_string(), false));
    assert_eq!(p.agent_events::<log::Start>().len(), 2);
}

#[test]
fn an_agent_dying_right_after_session_complete_ends_complete_without_a_restart() {
    let done = finishing_turn().then([Action::Exit(9)]);
    let p = Project::new(Script::turns([
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        done,
    ]));
    let (text, s) = build_completes(&p);
    assert!(!text.contains("restarting"), "{text}");
    assert_eq!(
        p.agent_events::<log::Start>().len(),
        1,
        "no agent restarted"
    );
    assert_eq!(outcomes(&s)[3], ("error".to_string(), false));
    assert!(
        text.contains("session complete after 3 iterations + planning, 1 failed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_dying_during_the_follow_up_delivery_is_restarted() {
    let mut turns = vec![
        planning_turn(),
        Turn::of([
            Action::say("working\n"),
            Action::wait_file("go"),
            summary("first pass"),
        ]),
        // The follow-up prompt that delivers the message.
        crash(),
    ];
    turns.extend(work_turns());
    let p = Project::new(Script::turns(turns));
    let child = p
        .command(&["--headless", "--retry-delay", "50ms"])
        .spawn()
        .unwrap();
    tokio::task::block_in_place(|| p.wait_for_agent("waiting"));
    p.send_message("Please use British spelling").await;
    std::fs::write(p.path().join("go"), "").unwrap();
    let out = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60)))
        .await
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("delivering 1 message(s)"), "{text}");
    assert!(text.contains("the agent failed (1/3)"), "{text}");
    let s = p.status();
    assert_eq!(s["completed"], true);
    assert_eq!(outcomes(&s)[1], ("error".to_string(), false));
    // The message the dead agent may not have read is in the next iteration's prompt.
    let prompts = p.agent_events::<log::Prompt>();
    assert!(
        prompts[3].text.contains("- Please use British spelling"),
        "{}",
        prompts[3].text
    );
}

/// The rogue agent's planning turn: says something and ends normally.
fn rogue_planning() -> Value {
    json!([{"say": "planning\n"}])
}

fn pids_started(p: &Project) -> Vec<u32> {
    rogue::events(p, "start")
        .iter()
        .map(|e| e["pid"].as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn an_agent_that_hangs_in_initialize_stops_the_build_with_what_to_do() {
    let p = Project::new(Script::turns([]));
    rogue::script(&p, json!({"init": "hang", "turns": []}));
    let child = rogue::command(&p, &["--headless", "--init-timeout", "2s"])
        .spawn()
        .unwrap();
    let out = finish(child, PATIENCE);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("did not answer `initialize` within 2s; is it an ACP agent?"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "said once: {err}");
    for pid in pids_started(&p) {
        wait_gone(pid, "the hung agent", PATIENCE);
    }
}

/// Restarted after a crash, the agent hangs in `initialize`: each start that fails is one more
/// failure, no iteration runs without an agent, and the build stops saying why (it used to run
/// iterations that failed with "no agent is running", and say only that).
#[test]
fn an_agent_that_hangs_in_initialize_after_a_restart_is_said_so() {
    let p = Project::new(Script::turns([]));
    rogue::script(
        &p,
        json!({"init_hang_after": 1, "turns": [rogue_planning(), [{"exit": 9}]]}),
    );
    // The first start must answer within the timeout however loaded the machine: 10 s.
    let child = rogue::command(
        &p,
        &[
            "--headless",
            "--init-timeout",
            "10s",
            "--retry-delay",
            "50ms",
        ],
    )
    .spawn()
    .unwrap();
    let out = finish(child, PATIENCE);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
    assert!(
        err.starts_with(
            "error: the agent failed 3 times in a row; stopping. Last failure: the agent"
        ) && err.contains("did not answer `initialize` within 10s"),
        "{err}"
    );
    assert!(!text.contains("no agent is running"), "{text}");
    assert_eq!(pids_started(&p).len(), 3, "one start, two restarts");
    let s = p.status();
    assert_eq!(
        outcomes(&s),
        [("end_turn".to_string(), true), ("error".to_string(), false)],
        "no iteration ran without an agent: {s}"
    );
    for pid in pids_started(&p) {
        wait_gone(pid, "an agent", PATIENCE);
    }
}

/// A turn that hangs and ignores `session/cancel`: at `--iteration-timeout` the turn is
/// cancelled, the agent is stopped (its process group killed) and replaced, and the next
/// iteration runs.
#[test]
fn a_turn_that_hangs_and_ignores_cancel_is_stopped_and_the_agent_replaced() {
    let p = Project::new(Script::turns([]));
    rogue::script(
        &p,
        json!({"turns": [rogue_planning(), [{"say": "thinking\n"}, {"hang": true}], [{"say": "back\n"}]]}),
    );
    let child = rogue::command(
        &p,
        &[
            "--headless",
            "-i",
            "1",
            // Every turn has this limit: generous enough that only the hanging turn reaches it
            // however slow the machine (see `a_hanging_turn_times_out_and_is_retried`).
            "--iteration-timeout",
            "20s",
            "--retry-delay",
            "50ms",
        ],
    )
    .spawn()
    .unwrap();
    let out = finish(child, PATIENCE);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(text.contains("back"), "{text}");
    assert_eq!(
        rogue::events(&p, "cancel").len(),
        1,
        "the cancel reached the agent"
    );
    let s = p.status();
    assert_eq!(
        outcomes(&s),
        [
            ("end_turn".to_string(), true),
            ("timeout".to_string(), false),
            ("end_turn".to_string(), false)
        ],
        "{s}"
    );
    let pids = pids_started(&p);
    assert_eq!(pids.len(), 2, "replaced once");
    wait_gone(pids[0], "the agent that ignored the cancel", PATIENCE);
}
