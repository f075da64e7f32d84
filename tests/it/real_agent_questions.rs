//! The agent's questions with the real opencode, driven by its scripted fake LLM: the model calls
//! iteratr's `ask-questions` through opencode, the call waits while a person answers from another
//! process (`iteratr answer`), and the answer is the tool result opencode hands back to the model,
//! also when the person took longer than opencode waits for an MCP call by default (60 s).

use std::process::Command;
use std::time::Duration;

use crate::common::fake_llm::{Api, FakeLlm, prompt, result};
use crate::common::real_agent::{Project, Run, assert_none_left, opencode, opencode_env, quote};
use crate::common::{PATIENCE, wait_until};
use serde_json::{Value, json};

/// What the person answers, as the tool's result says it.
const ANSWERED: &str = "Q-1 answered by ana@laptop:\n- Database: SQLite — keep it small";

/// `status --json` of the session, once the build has created it.
fn status(p: &Project) -> Option<Value> {
    let out = Command::new(crate::common::bin())
        .current_dir(p.path())
        .args(["status", "--session", &p.session, "--json"])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn opencode_s_model_gets_the_answer_given_with_iteratr_answer() {
    answered_after(Duration::ZERO);
}

#[test]
fn an_answer_after_opencode_s_own_mcp_timeout_still_reaches_its_model() {
    answered_after(Duration::from_secs(65));
}

/// opencode's model asks while planning; a person answers from another process after `delay`;
/// the model gets the answer as the tool's result and goes on with it.
fn answered_after(delay: Duration) {
    let opencode = opencode();
    let p = Project::new("asking", "# Asking\n\n- [ ] Set up the database\n");
    let question = json!({"questions": [{
        "header": "Database",
        "question": "Which database should the service use?",
        "options": [{"label": "Postgres"}, {"label": "SQLite", "description": "one file"}],
    }]});
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("planning iteration").say_and_call(
                "One decision is yours.",
                "iteratr_ask-questions",
                question,
            ),
            // The step applies only to a tool result that holds the person's answer.
            result(ANSWERED).call(
                "iteratr_note-add",
                json!({"type": "decision", "content": "SQLite, as ana@laptop answered (Q-1)"}),
            ),
            result("Added NOT-1").say("SQLite it is, as you answered."),
            prompt("session asking, iteration 1\n").call(
                "iteratr_task-status",
                json!({"id": "TAS-1", "status": "completed"}),
            ),
            result("TAS-1 is now completed").call(
                "iteratr_session-complete",
                json!({"summary": "SQLite set up"}),
            ),
            result("Session complete").say("Done."),
        ],
    );
    let mut cmd = p.build(
        &format!("{} acp", quote(&opencode)),
        &[
            "-i",
            "1",
            "-m",
            "fakellm/scripted",
            "--question-wait",
            "2m",
            "--iteration-timeout",
            "5m",
        ],
    );
    opencode_env(&mut cmd, &llm, "other");
    let run = Run::start(cmd);

    // The question waits in the log; the model has not had an answer (its script is at step 1).
    let waiting = || {
        status(&p)
            .is_some_and(|s| s["questions"][0]["id"] == 1 && s["questions"][0]["answer"].is_null())
    };
    wait_until(
        PATIENCE,
        || format!("no question waits:\n{}\n{}", run.stdout(), p.log_tail()),
        waiting,
    );
    assert_eq!(llm.progress().0, 1, "{}", llm.report());
    std::thread::sleep(delay);
    assert_eq!(
        llm.progress().0,
        1,
        "the model still waits: {}",
        llm.report()
    );
    let answer = ["answer", "Q-1", "--choice", "2", "keep it small"];
    let out = crate::common::as_ana(&p.path(), &answer);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The script ran to its end: the step after the question matched only a tool result that
    // holds the answer, whole, so that is what opencode handed its model.
    let (out, context) = run.script_to_the_end(&llm, &p, Duration::from_secs(110));
    assert!(
        out.stdout.contains("SQLite it is, as you answered."),
        "{context}"
    );
    assert!(
        out.stdout
            .contains("Q-1 answered by ana@laptop: SQLite — keep it small"),
        "{context}"
    );
    let s = p.status();
    let given = &s["questions"][0]["answer"];
    assert_eq!(given["who"], "ana@laptop", "{s}");
    assert_eq!(
        given["answers"],
        json!([{"chosen": ["SQLite"], "text": "keep it small"}])
    );
    assert_eq!(
        s["notes"][0]["content"],
        "SQLite, as ana@laptop answered (Q-1)"
    );
    assert_none_left(&opencode.display().to_string(), &p.path());
}
