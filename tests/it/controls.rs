//! Steering a build from another process (issue 29): `iteratr stop` (after the iteration, or
//! `--now`) and `iteratr message`, recorded in the session log with who asked, and acted on by a
//! headless build.

use std::process::{Command, Output};

use serde_json::json;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::{
    Project, finish, planning_turn, stderr, stdout, stdout_and_stderr, summary, tool,
};
use crate::common::{PATIENCE, bin};

/// Planning, then iterations that each wait for the file `go` (removed once seen) and summarize.
fn waiting_script(go: &std::path::Path) -> Script {
    Script::turns([planning_turn()]).repeat(Turn::of([
        Action::say("working\n"),
        Action::wait_file(go),
        tool("note-add", json!({"type": "tip", "content": "went on"})),
        summary("waited"),
    ]))
}

fn control(p: &Project, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(p.path())
        .args(args)
        .env_remove("ITERATR_DATA_DIR")
        .env("USER", "ana")
        .env("ITERATR_HOST", "laptop")
        .output()
        .unwrap()
}

#[test]
fn stop_ends_the_build_after_the_iteration_that_runs_and_says_who_asked() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(&waiting_script(&go));
    let build = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let asked = control(&p, &["stop", "--session", "demo"]);
    assert_eq!(
        asked.status.code(),
        Some(0),
        "{}",
        stdout_and_stderr(&asked)
    );
    assert!(
        stdout(&asked).contains("stops after the iteration that runs"),
        "{}",
        stdout(&asked)
    );
    let status = p.status();
    assert_eq!(status["stop"]["who"], "ana@laptop", "{status}");
    // The iteration that runs goes on to its end.
    std::fs::write(&go, "").unwrap();
    let out = finish(build, PATIENCE);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(130), "{text}\n{}", stderr(&out));
    assert!(text.contains("stop requested by ana@laptop"), "{text}");
    assert!(
        text.contains("stopped: ana@laptop asked for it; run the same command again to go on"),
        "{text}"
    );
    let status = p.status();
    let iterations = status["iterations"].as_array().unwrap();
    assert_eq!(
        iterations.len(),
        2,
        "planning and the one that ran: {status}"
    );
    assert_eq!(iterations[1]["outcome"], "end_turn", "{status}");
    assert_eq!(status["notes"].as_array().unwrap().len(), 2, "{status}");
    // Asked again, with no build running: said, and nothing recorded.
    let again = control(&p, &["stop", "--session", "demo"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("no build runs this session now"),
        "{}",
        stderr(&again)
    );
    // The same command goes on, afresh.
    std::fs::remove_file(&go).ok();
    let resumed = p.command(&["--headless", "-i", "1"]).spawn().unwrap();
    p.wait_for_agent_times("waiting", 2);
    std::fs::write(&go, "").unwrap();
    let out = finish(resumed, PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    assert!(p.status().get("stop").is_none());
}

#[test]
fn stop_now_stops_the_turn_and_records_it_interrupted() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(&waiting_script(&go));
    let build = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let asked = control(&p, &["stop", "--now", "--session", "demo"]);
    assert_eq!(
        asked.status.code(),
        Some(0),
        "{}",
        stdout_and_stderr(&asked)
    );
    // Nobody creates `go`: the turn ends only because it is stopped.
    let out = finish(build, PATIENCE);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(130), "{text}\n{}", stderr(&out));
    assert!(text.contains("the turn is stopped now"), "{text}");
    let status = p.status();
    let iterations = status["iterations"].as_array().unwrap();
    assert_eq!(iterations[1]["outcome"], "interrupted", "{status}");
    assert!(
        !p.agent_events::<log::Cancel>().is_empty(),
        "the agent's turn was cancelled"
    );
}

#[test]
fn a_message_from_another_terminal_reaches_the_agent() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    p.script(&waiting_script(&go));
    let build = p.command(&["--headless", "-i", "1"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let sent = control(
        &p,
        &["message", "--session", "demo", "use tabs, not spaces"],
    );
    assert_eq!(sent.status.code(), Some(0), "{}", stdout_and_stderr(&sent));
    std::fs::write(&go, "").unwrap();
    let out = finish(build, PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    let prompts = p.agent_events::<log::Prompt>();
    assert!(
        prompts
            .iter()
            .any(|pr| pr.text.contains("use tabs, not spaces")),
        "{prompts:?}"
    );
    let bad = control(&p, &["message", "--session", "demo", "  "]);
    assert_ne!(bad.status.code(), Some(0));
}
