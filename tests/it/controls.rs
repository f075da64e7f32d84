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
    crate::common::as_ana(p.path(), args)
}

/// A build of `waiting_script` with `args`, once its agent waits for `go`; and `go`.
fn waiting_build(p: &Project, args: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let go = p.path().join("go");
    p.script(&waiting_script(&go));
    let build = p.command(args).spawn().unwrap();
    p.wait_for_agent("waiting");
    (build, go)
}

/// `control`, which must succeed.
fn control_ok(p: &Project, args: &[&str]) -> Output {
    let out = control(p, args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    out
}

#[test]
fn stop_ends_the_build_after_the_iteration_that_runs_and_says_who_asked() {
    let p = Project::new(Script::turns([]));
    let (build, go) = waiting_build(&p, &["--headless"]);
    let asked = control_ok(&p, &["stop", "--session", "demo"]);
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
    let (build, _go) = waiting_build(&p, &["--headless"]);
    control_ok(&p, &["stop", "--now", "--session", "demo"]);
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
    let (build, go) = waiting_build(&p, &["--headless", "-i", "1"]);
    let sent = control(
        &p,
        &["message", "--session", "demo", "use tabs, not spaces"],
    );
    assert_eq!(sent.status.code(), Some(0), "{}", stdout_and_stderr(&sent));
    // Recorded with who sent it, and shown so by `status` and the build.
    let status = p.status();
    assert_eq!(status["messages"][0]["who"], "ana@laptop", "{status}");
    let text = stdout(&control_ok(&p, &["status", "--session", "demo"]));
    assert!(text.contains("ana@laptop: use tabs, not spaces"), "{text}");
    std::fs::write(&go, "").unwrap();
    let out = finish(build, PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    assert!(
        stdout(&out).contains("message from ana@laptop: use tabs, not spaces"),
        "{}",
        stdout(&out)
    );
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

/// A build whose agent asks permission for `Edit src/lib.rs`, headless, with `--approve ask` and
/// a wait long enough for an answer from another process.
fn asking_build(p: &Project) -> std::process::Child {
    let turn = Turn::of([
        Action::permission("Edit src/lib.rs", "edit"),
        summary("asked"),
        tool("session-complete", json!({})),
    ]);
    p.script(&Script::turns([planning_turn(), turn]));
    let build = p
        .command(&[
            "--headless",
            "-i",
            "1",
            "--approve",
            "ask",
            "--approve-wait",
            "2m",
        ])
        .spawn()
        .unwrap();
    crate::common::wait_until(
        PATIENCE,
        || "the build never put P-1 in the log".to_string(),
        || {
            // The session may not exist yet: ask without failing.
            let out = control(p, &["status", "--session", "demo", "--json"]);
            out.status.success()
                && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .is_ok_and(|s| s["permissions"]["waiting"].get("1").is_some())
        },
    );
    build
}

#[test]
fn iteratr_approve_from_another_process_answers_the_agent() {
    let p = Project::new(Script::turns([]));
    let build = asking_build(&p);
    let status = stdout(&control(&p, &["status", "--session", "demo"]));
    assert!(status.contains("Waiting: P-1"), "{status}");
    let approved = control_ok(&p, &["approve", "P-1", "--session", "demo"]);
    assert!(
        stdout(&approved).contains("P-1 allowed once by you"),
        "{}",
        stdout(&approved)
    );
    let out = finish(build, PATIENCE);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("permission P-1 waits: Edit src/lib.rs"),
        "{text}"
    );
    assert_eq!(p.agent_events::<log::Permission>()[0].outcome, "allow_once");
    let status = p.status();
    let recent = &status["permissions"]["recent"];
    assert_eq!(
        recent.as_array().unwrap().len(),
        1,
        "recorded once: {status}"
    );
    assert_eq!(recent[0]["decision"], "allowed_by_user");
    assert_eq!(recent[0]["by"], "user");
    assert!(
        status["permissions"]["waiting"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn two_answers_racing_from_two_processes_record_exactly_one_decision() {
    let p = Project::new(Script::turns([]));
    let build = asking_build(&p);
    let racers: Vec<std::thread::JoinHandle<Output>> = ["approve", "deny"]
        .into_iter()
        .map(|verb| {
            let mut cmd = Command::new(bin());
            cmd.current_dir(p.path())
                .args([verb, "P-1", "--session", "demo"])
                .env_remove("ITERATR_DATA_DIR");
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    let outs: Vec<Output> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let won: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "one answer wins: {:?}",
        outs.iter().map(stdout_and_stderr).collect::<Vec<_>>()
    );
    let lost = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        stderr(lost).contains("P-1 is not waiting for an answer"),
        "{}",
        stderr(lost)
    );
    let out = finish(build, PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    let agent_got = p.agent_events::<log::Permission>()[0].outcome.clone();
    let status = p.status();
    let recent = status["permissions"]["recent"].as_array().unwrap().clone();
    assert_eq!(recent.len(), 1, "{status}");
    // What the agent got is what the log says.
    let expected = if recent[0]["decision"] == "allowed_by_user" {
        "allow_once"
    } else {
        assert_eq!(recent[0]["decision"], "denied_by_user");
        "reject_once"
    };
    assert_eq!(agent_got, expected);
}

#[test]
fn a_request_nobody_answers_in_time_is_denied_and_the_log_says_so() {
    let turn = Turn::of([
        Action::permission("Edit src/lib.rs", "edit"),
        summary("asked"),
    ]);
    let p = Project::new(Script::turns([planning_turn(), turn]));
    let out = p.build(&[
        "--headless",
        "-i",
        "1",
        "--approve",
        "ask",
        "--approve-wait",
        "300ms",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("waits 300ms for `iteratr approve P-n`"),
        "{text}"
    );
    assert_eq!(
        p.agent_events::<log::Permission>()[0].outcome,
        "reject_once"
    );
    let status = p.status();
    assert_eq!(
        status["permissions"]["recent"][0]["decision"], "denied_unattended",
        "{status}"
    );
    assert!(
        status["permissions"]["waiting"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    let late = control(&p, &["approve", "P-1", "--session", "demo"]);
    assert!(
        stderr(&late).contains("P-1 is not waiting"),
        "{}",
        stderr(&late)
    );
}

/// The same from `iteratr watch` in a real terminal (tmux): the headless build's request opens
/// the approval window there, `y` answers it through the log, and the build's agent is allowed.
#[test]
fn a_watcher_in_a_terminal_answers_the_builds_permission_request() {
    let p = Project::new(Script::turns([]));
    let build = asking_build(&p);
    let watch = format!("{} watch --session demo", bin());
    let tmux = crate::common::tmux::Tmux::start("watch-approve", p.path(), &[], &watch);
    let screen = tmux.wait_for("y Allow once", PATIENCE);
    assert!(screen.contains("Edit src/lib.rs"), "{screen}");
    tmux.keys(&["y"]);
    let out = finish(build, PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    assert_eq!(p.agent_events::<log::Permission>()[0].outcome, "allow_once");
    let status = p.status();
    assert_eq!(
        status["permissions"]["recent"][0]["decision"], "allowed_by_user",
        "{status}"
    );
}
