//! iteratr SIGKILLed while the real opencode runs a command for the model: nothing it started
//! survives, and the same command takes the session over and completes.

use std::time::Duration;

use serde_json::json;

use crate::common::procs;
use crate::common::reliability::{report, sqlite_log};
use crate::common::{PATIENCE, wait_until};

/// The real opencode (driven by the fake LLM) runs a shell command for the model when iteratr is
/// killed: opencode and the command go with it, the log is whole, and the next build gives the
/// task back, offers it with task-next and completes.
#[test]
fn reliability_kills_iteratr_while_the_real_opencode_runs_a_command() {
    use crate::common::fake_llm::{Api, FakeLlm, prompt, result};
    use crate::common::real_agent::{Project, Run, opencode, opencode_env, quote};
    let opencode = opencode();
    let p = Project::new(
        "greetings",
        "# Greetings\n\n- [ ] Write hello.txt\n- [ ] Write world.txt\n",
    );
    let dir = p.path();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("planning iteration")
                .call("iteratr_iteration-summary", json!({"summary": "Planned"})),
            result("Recorded the summary").say("Planned."),
            prompt("session greetings, iteration 1\n")
                .call("iteratr_task-status", status("TAS-1", "in_progress")),
            result("TAS-1 is now in_progress").say_and_call(
                "Running the tests first.",
                "bash",
                json!({"command": "sleep 613", "description": "tests"}),
            ),
        ],
    );
    let agent = format!("{} acp", quote(&opencode));
    let mut cmd = p.build(&agent, &["-m", "fakellm/scripted"]);
    opencode_env(&mut cmd, &llm, "other");
    let mut run = Run::start(cmd);
    wait_until(
        PATIENCE,
        || {
            format!(
                "opencode never ran the command:\n{}\n{}",
                run.stdout(),
                llm.report()
            )
        },
        || {
            procs::working_in(&dir)
                .iter()
                .any(|(_, c)| c.contains("sleep 613"))
        },
    );
    run.kill(); // SIGKILL
    // opencode, and the shell command it ran, work in the project.
    let left = || procs::working_in(&dir);
    wait_until(
        PATIENCE,
        || format!("left running: {:?}", left()),
        || left().is_empty(),
    );
    let sessions = sqlite_log(&dir.join(".iteratr"));
    assert!(sessions.contains_key("greetings"), "{sessions:?}");
    let s = p.status();
    assert_eq!(s["tasks"][0]["status"], "in_progress", "{s}");

    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("session greetings, iteration 2\n").call("iteratr_task-next", json!({})),
            result("Next: TAS-1").calls(vec![
                ("iteratr_task-status", status("TAS-1", "completed")),
                ("iteratr_task-status", status("TAS-2", "completed")),
            ]),
            result("TAS-2 is now completed").call(
                "iteratr_session-complete",
                json!({"summary": "done after a kill"}),
            ),
            result("Session complete").say("All done."),
        ],
    );
    let mut cmd = p.build(&agent, &["-m", "fakellm/scripted"]);
    opencode_env(&mut cmd, &llm, "other");
    let out = Run::start(cmd).finish(Duration::from_secs(110), || llm.report());
    let context = || format!("{}\n{}\n{}", out.stdout, out.stderr, llm.report());
    assert_eq!(out.code, Some(0), "{}", context());
    // The same command took over from the killed build at once, and said so.
    assert!(
        out.stderr.contains("iteratr: took over session ")
            && out.stderr.contains("(its process no longer runs)"),
        "{}",
        context()
    );
    assert!(
        out.stdout
            .contains("TAS-1 → remaining (iteration 1 never ended)"),
        "{}",
        context()
    );
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    assert_eq!(s["iterations"][1]["outcome"], "interrupted", "{s}");
    sqlite_log(&dir.join(".iteratr"));
    report(
        "iteratr killed while the real opencode ran a command: opencode and the command gone, next build completed",
    );
    wait_until(
        PATIENCE,
        || format!("left running: {:?}", left()),
        || left().is_empty(),
    );
}
