//! `iteratr spec --headless` with the real opencode, driven by its scripted fake LLM: the model
//! asks two rounds of questions through iteratr's `ask-questions`, the answers come from stdin,
//! its first `finish-spec` (no checklist) is refused with what is missing, the second is saved and
//! listed in specs/README.md; no opencode process is left.

use std::time::Duration;

use serde_json::json;

use crate::common::fake_llm::{Api, FakeLlm, failed, prompt, result};
use crate::common::real_agent::{Project, Run, assert_none_left, opencode, opencode_env, quote};
use crate::common::spec::{TODO_SPEC, without_checklist};

#[test]
fn opencode_interviews_to_a_saved_spec() {
    let opencode = opencode();
    let p = Project::new("other", "# Other\n");
    let ask = |header: &str, question: &str, options: serde_json::Value| json!({"questions": [{"header": header, "question": question, "options": options}]});
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("Title: Todo CLI\nKeep todos in the terminal").say_and_call(
                "A few questions first.",
                "iteratr_ask-questions",
                ask(
                    "Storage",
                    "Where should the todos live?",
                    json!([{"label": "A file"}, {"label": "SQLite"}]),
                ),
            ),
            result("Q-1 answered by ana@laptop:\n- Storage: SQLite").call(
                "iteratr_ask-questions",
                ask("Extras", "Anything else it must do?", json!([])),
            ),
            result("Q-2 answered by ana@laptop:\n- Extras: colours would be nice")
                .call("iteratr_finish-spec", json!({"spec": without_checklist()})),
            failed("the Tasks section has no checklist")
                .call("iteratr_finish-spec", json!({"spec": TODO_SPEC})),
            result("The spec was accepted (3 open task(s))").say("The spec is written."),
        ],
    );
    let answers = p.path().join("../answers.txt");
    std::fs::write(&answers, "2\ncolours would be nice\n").unwrap();
    let mut cmd = p.spec(
        &format!("{} acp", quote(&opencode)),
        &[
            "Todo CLI",
            "-d",
            "Keep todos in the terminal",
            "-m",
            "fakellm/scripted",
        ],
        &answers,
    );
    opencode_env(&mut cmd, &llm, "other");
    cmd.env("USER", "ana").env("ITERATR_HOST", "laptop");
    let (out, context) = Run::start(cmd).script_to_the_end(&llm, &p, Duration::from_secs(110));
    assert!(
        out.stdout
            .contains("question Q-2: Extras: Anything else it must do?\nyour answer:\n"),
        "{context}"
    );
    assert!(
        out.stdout
            .contains("saved specs/todo-cli.md (listed in specs/README.md)"),
        "{context}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("specs/todo-cli.md")).unwrap(),
        TODO_SPEC
    );
    let index = std::fs::read_to_string(p.path().join("specs/README.md")).unwrap();
    assert!(
        index.contains("| Todo CLI | [todo-cli.md](todo-cli.md) | Keep todos in the terminal |"),
        "{index}"
    );
    assert_none_left(&opencode.display().to_string(), &p.path());
}
