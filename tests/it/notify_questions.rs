//! A question of the agent (`ask-questions`, issue 31) is a notification: a webhook hears of it
//! once, with the command that answers it, and the answer given with that command is the tool's
//! result.

use serde_json::json;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Script, Turn};
use crate::common::project::*;
use crate::common::webhook::{Answer, Receiver};
use crate::common::{PATIENCE, as_ana};

#[test]
fn a_question_is_told_once_and_the_answer_it_suggests_reaches_the_agent() {
    let hook = Receiver::start(Answer::Ok);
    let question = json!({"questions": [{
        "header": "Database",
        "question": "Which database should the service use?",
        "options": [{"label": "PostgreSQL"}, {"label": "SQLite"}],
    }]});
    let p = Project::new(Script::turns([
        planning_turn(),
        Turn::of([tool("ask-questions", question), summary("asked")]),
    ]));
    std::fs::write(
        p.path().join("iteratr.toml"),
        format!(
            "[notify]\nwindow = \"300ms\"\n\n[[notify.webhook]]\nurl = \"{}\"\non = [\"question\"]\n",
            hook.url("http", "/json/questions")
        ),
    )
    .unwrap();
    let build = p
        .command(&["--headless", "-i", "1", "--question-wait", "2m"])
        .spawn()
        .unwrap();
    let got = hook.wait_for(1, PATIENCE);
    let j = got[0].json();
    assert_eq!(j["events"], json!(["question"]), "{j}");
    assert_eq!(j["items"][0]["id"], "Q-1", "{j}");
    let text = j["items"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("Database: Which database should the service use? (PostgreSQL | SQLite)"),
        "{text}"
    );
    assert_eq!(
        j["items"][0]["action"],
        "iteratr answer --session demo Q-1 \"YOUR ANSWER\""
    );
    // The command it suggests answers it, from another process.
    let out = as_ana(
        p.path(),
        &[
            "answer",
            "--session",
            "demo",
            "Q-1",
            "--choice",
            "2",
            "for now",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let out = finish(build, PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stdout_and_stderr(&out));
    let results = p.agent_events::<log::Tool>();
    let asked = results
        .iter()
        .find(|t| t.name.ends_with("ask-questions"))
        .unwrap_or_else(|| panic!("{results:?}"));
    assert!(
        asked
            .text
            .contains("Q-1 answered by ana@laptop:\n- Database: SQLite — for now"),
        "{}",
        asked.text
    );
    // Told once: the answer is no news.
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(hook.received().len(), 1, "{:#?}", hook.received());
}
