//! Hooks in a real build (the fake agent standing in for the model): a failing check after an
//! iteration goes back to the agent until it passes, a check before an iteration joins the prompt,
//! values reach hooks only as environment variables (text the agent wrote is never run), a
//! hanging hook is killed at its timeout, and every run is reported.

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

use crate::common::project::*;

/// A task whose text is shell code in every quoting: bare, in backquotes, after `;`, and after a
/// `'` that would end a single-quoted string the value was spliced into.
const SPEC_WITH_SHELL_TEXT: &str = "# Demo\n\n- [ ] Write hello.txt $(touch pwned) `touch pwned2`; touch pwned3 '$(touch pwned4)'\n- [ ] Write world.txt\n- [ ] Write the README\n";
const TASK_WITH_SHELL_TEXT: &str =
    "Write hello.txt $(touch pwned) `touch pwned2`; touch pwned3 '$(touch pwned4)'";
const PWNED: [&str; 4] = ["pwned", "pwned2", "pwned3", "pwned4"];

#[test]
fn a_failing_check_goes_back_to_the_agent_and_values_never_become_code() {
    let fix_turn = Turn::of([
        Action::write("fixed.txt", "fixed\n"),
        summary("TAS-1 done, check fixed"),
    ]);
    let p = Project::new(Script::turns([
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
        fix_turn,
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]));
    std::fs::write(p.path().join("specs/demo.md"), SPEC_WITH_SHELL_TEXT).unwrap();
    std::fs::write(
        p.path().join("iteratr.toml"),
        r#"
[hooks.session_start]
command = "echo start >> points.log"

[hooks.pre_iteration]
command = ["echo", "Reminder from pre_iteration: keep files small"]

[hooks.post_iteration]
command = "echo \"iteration $ITERATR_ITERATION\" >> points.log; if [ -f fixed.txt ]; then echo '3 passed'; else echo 'test hello FAILED: fixed.txt is missing'; exit 1; fi"
fix_rounds = 2

[hooks.on_task_complete]
command = "printf '%s|%s\n' \"$ITERATR_TASK_ID\" \"$ITERATR_TASK_CONTENT\" >> completed.log"

[hooks.session_end]
command = ["sh", "-c", "cat > end.json"]
"#,
    )
    .unwrap();
    let out = p.build(&["--headless"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));

    // The failing check's output reached the agent as a follow-up in the same session, once.
    let prompts = p.agent_events::<log::Prompt>();
    let follow_ups: Vec<&log::Prompt> = prompts
        .iter()
        .filter(|e| e.text.contains("test hello FAILED"))
        .collect();
    assert_eq!(follow_ups.len(), 1, "{prompts:?}");
    let follow_up = &follow_ups[0].text;
    assert!(
        follow_up.contains("Fix what it reports first"),
        "{follow_up}"
    );
    let work_prompt = prompts
        .iter()
        .position(|e| e.text.contains("test hello FAILED"))
        .unwrap();
    assert_eq!(
        prompts[work_prompt].session_id,
        prompts[work_prompt - 1].session_id,
        "the follow-up went to another ACP session"
    );
    // The pre_iteration check joined every prompt.
    let main_prompts: Vec<_> = prompts
        .iter()
        .filter(|e| e.text.contains("Reminder from pre_iteration"))
        .collect();
    assert_eq!(main_prompts.len(), 4, "planning and three work iterations");

    // Every run was reported: the failure with its output, then the passes.
    assert!(text.contains("hook post_iteration"), "{text}");
    assert!(text.contains(": exit 1 after"), "{text}");
    assert!(
        text.contains("| test hello FAILED: fixed.txt is missing"),
        "{text}"
    );
    assert!(
        text.contains("asking the agent to fix it (round 1 of 2)"),
        "{text}"
    );
    // Every run is in the session's log too, for `watch` and whoever reads it.
    let runs: Vec<(String, Option<i32>, String)> = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            let log = p.session().await.log().clone();
            iteratr::store::read_all(log.as_ref(), "demo", 0)
                .await
                .unwrap()
        })
        .into_iter()
        .filter_map(|e| match e.event.kind {
            iteratr::session::EventKind::HookRan {
                point,
                exit_code,
                output,
                ..
            } => Some((point.to_string(), exit_code, output)),
            _ => None,
        })
        .collect();
    let points: Vec<&str> = runs.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        points,
        [
            "session_start",
            "pre_iteration",
            "pre_iteration",
            "post_iteration",
            "post_iteration",
            "on_task_complete",
            "pre_iteration",
            "post_iteration",
            "on_task_complete",
            "pre_iteration",
            "post_iteration",
            "on_task_complete",
            "session_end"
        ]
    );
    assert_eq!(runs[3].1, Some(1));
    assert!(runs[3].2.contains("test hello FAILED"), "{runs:?}");
    // Work iterations only (planning writes no code): 1 (failed, then passed), 2, 3.
    let points = std::fs::read_to_string(p.path().join("points.log")).unwrap();
    assert_eq!(
        points,
        "start\niteration 1\niteration 1\niteration 2\niteration 3\n"
    );

    // Task text went through the environment only: printed as written, nothing run.
    let completed = std::fs::read_to_string(p.path().join("completed.log")).unwrap();
    assert!(
        completed.starts_with(&format!("TAS-1|{TASK_WITH_SHELL_TEXT}\n")),
        "{completed}"
    );
    assert_eq!(completed.lines().count(), 3, "{completed}");
    for f in PWNED {
        assert!(!p.path().join(f).exists(), "{f} was created by a hook");
    }
    // session_end got its values as JSON on stdin.
    let end: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("end.json")).unwrap()).unwrap();
    assert_eq!(end["hook"], "session_end");
    assert_eq!(end["input"]["session"], "demo");
}

#[test]
fn a_hanging_check_is_killed_at_its_timeout_and_the_build_goes_on() {
    let p = Project::new(Script::turns([
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
    ]));
    // The check's shell waits for a child it started in the background.
    std::fs::write(
        p.path().join("iteratr.toml"),
        "[hooks.post_iteration]\ncommand = \"echo $$ > hook.pid; sleep 300 >/dev/null 2>&1 & echo $! > child.pid; wait\"\ntimeout = \"1s\"\nto_agent = false\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    // The build's own patience (60 s) is far below the check's 300 s sleep.
    let out = p.build(&["--headless", "-i", "1"]);
    println!("the build took {:?}", started.elapsed());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(text.contains("hook post_iteration `sh -c"), "{text}");
    assert!(text.contains("timed out after 1s"), "{text}");
    // The shell and the child it started in the background are both gone.
    for (file, what) in [
        ("hook.pid", "the hook's shell"),
        ("child.pid", "the hook's background child"),
    ] {
        let pid: u32 = std::fs::read_to_string(p.path().join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        crate::common::procs::wait_gone(pid, what, crate::common::PATIENCE);
    }
}

#[test]
fn the_original_hooks_file_runs_with_its_placeholders_as_environment_variables() {
    let p = Project::new(Script::turns([
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
    ]));
    std::fs::write(p.path().join("specs/demo.md"), SPEC_WITH_SHELL_TEXT).unwrap();
    std::fs::write(
        p.path().join(".iteratr.hooks.yml"),
        "version: 1\nhooks:\n  on_task_complete:\n    - command: \"echo 'Task {{task_id}} completed: {{task_content}}' >> done.log\"\n      timeout: 5\n",
    )
    .unwrap();
    let out = p.build(&["--headless", "-i", "1"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let done = std::fs::read_to_string(p.path().join("done.log")).unwrap();
    assert_eq!(
        done,
        format!("Task TAS-1 completed: {TASK_WITH_SHELL_TEXT}\n")
    );
    for f in PWNED {
        assert!(!p.path().join(f).exists(), "{f} was created by a hook");
    }
}
