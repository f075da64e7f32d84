//! A `post_iteration` check with the real opencode and its fake LLM: the check fails after the
//! first work iteration, its output reaches the model as a follow-up in the same opencode session,
//! the model fixes the file, the check passes and the session completes. On the way, opencode's
//! reports of what the model used are recorded.

use std::time::Duration;

use crate::common::fake_llm::{Api, FakeLlm, prompt, result};
use crate::common::real_agent::{
    Project, assert_none_left, opencode, opencode_env, quote, run_script_to_the_end,
};
use serde_json::json;

#[test]
fn a_failing_check_reaches_opencodes_model_and_is_fixed() {
    let opencode = opencode();
    let p = Project::new("checked", "# Checked\n\n- [ ] Write hello.txt\n");
    std::fs::write(
        p.path().join("iteratr.toml"),
        "[hooks.post_iteration]\ncommand = \"grep -q fixed hello.txt || { echo 'CHECK FAILED: hello.txt must say fixed'; exit 1; }\"\nfix_rounds = 1\n",
    )
    .unwrap();
    let file = p.path().join("hello.txt").display().to_string();
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("planning iteration").say("Planned."),
            prompt("session checked, iteration 1\n")
                .call("write", json!({"filePath": file, "content": "hello\n"})),
            result("Wrote file successfully").say("Wrote hello.txt."),
            // The check's output arrives as a new user message in the same session.
            prompt("CHECK FAILED: hello.txt must say fixed")
                .call("write", json!({"filePath": file, "content": "fixed\n"})),
            result("Wrote file successfully").call(
                "iteratr_task-status",
                json!({"id": "TAS-1", "status": "completed"}),
            ),
            result("TAS-1 is now completed")
                .call("iteratr_session-complete", json!({"summary": "fixed"})),
            result("Session complete").say("Done."),
        ],
    );
    let mut cmd = p.build(
        &format!("{} acp", quote(&opencode)),
        &["-i", "1", "-m", "fakellm/scripted"],
    );
    opencode_env(&mut cmd, &llm, "other");
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(110));
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "fixed\n"
    );
    assert!(out.stdout.contains("hook post_iteration"), "{context}");
    // opencode reports what the model used (the fake LLM's counts): recorded per iteration.
    assert!(
        out.stdout.contains("iteration 1 ended: end_turn") && out.stdout.contains(" tokens, "),
        "{}",
        context
    );
    let usage = &p.status()["usage"];
    assert!(usage["input_tokens"].as_u64().unwrap_or(0) > 0, "{usage}");
    assert!(
        out.stdout
            .contains("asking the agent to fix it (round 1 of 1)"),
        "{}",
        context
    );
    // The follow-up went to the same opencode session as the iteration's prompt.
    let main = llm.main_requests();
    let sessions: std::collections::BTreeSet<&str> = main
        .iter()
        .filter_map(|r| r.header("x-opencode-session-id"))
        .collect();
    assert_eq!(
        sessions.len(),
        2,
        "planning and one work session: {}",
        context
    );
    assert_none_left(&opencode.display().to_string(), &p.path());
}
