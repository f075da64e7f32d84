//! The agent's questions (`ask-questions`) with the real binary, headless, the fake agent standing
//! in for the model: an answer from another process (`iteratr answer`) is the tool's result; with
//! nobody to answer, the agent is told to go on, the question stays open (`status`) and a later
//! answer reaches its next prompt, once; one question at a time per agent; answers that do not fit
//! the question are refused with what to write, and nothing is recorded.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::{
    Project, ask, ask_database, complete_all, finish, stderr, stdout, summary,
};
use crate::common::{PATIENCE, bin, wait_until};

#[test]
fn an_answer_from_another_process_is_the_tool_s_result() {
    let p = Project::new(Script::turns([
        Turn::of([ask_database(), summary("planned")]),
        complete_all(),
    ]));
    let build = p
        .command(&["--headless", "--question-wait", "1m"])
        .spawn()
        .unwrap();
    let q = p.wait_for_question(1);
    assert_eq!(q["answer"], Value::Null, "{q}");
    assert_eq!(q["items"][0]["choices"][1]["label"], "SQLite", "{q}");
    // Nobody answered yet: the agent still waits.
    std::thread::sleep(Duration::from_millis(300));
    assert!(p.questions_asked().is_empty(), "{:?}", p.questions_asked());

    let out = answer(&p, &["Q-1", "--choice", "2", "keep it to one file"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "session demo: Q-1 answered\n");
    let out = finish(build, Duration::from_secs(60));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));

    // The tool's result is the answer: the choice and the words, and who gave them.
    let results = p.questions_asked();
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(!results[0].is_error, "{results:?}");
    assert_eq!(
        results[0].text,
        "Q-1 answered by ana@laptop:\n- Database: SQLite — keep it to one file"
    );
    // The log has it with who answered; the progress lines told both.
    let s = p.status();
    let given = &s["questions"][0]["answer"];
    assert_eq!(given["who"], "ana@laptop", "{s}");
    assert_eq!(
        given["answers"],
        json!([{"chosen": ["SQLite"], "text": "keep it to one file"}])
    );
    assert!(
        text.contains(
            "question Q-1 waits: Database: Which database should the todo list use? (Postgres | SQLite)"
        ),
        "{text}"
    );
    assert!(
        text.contains("Q-1 answered by ana@laptop: SQLite — keep it to one file"),
        "{text}"
    );
}

#[test]
fn with_nobody_to_answer_the_agent_goes_on_and_a_later_answer_reaches_its_next_prompt_once() {
    let p = Project::new(Script::turns([
        Turn::of([ask_database(), summary("planned")]),
        // The answer comes while iteration 1 runs.
        Turn::of([Action::wait_file("answered"), summary("iteration 1")]),
        Turn::of([summary("iteration 2")]),
        complete_all(),
    ]));
    // Headless, the question waits for nobody by default.
    let build = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let results = p.questions_asked();
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(!results[0].is_error, "{results:?}");
    let told = &results[0].text;
    assert!(
        told.starts_with("Nobody is there to answer now. Q-1 stays open"),
        "{told}"
    );
    assert!(
        told.contains("decide what seems best, record the decision and its reason with note-add"),
        "{told}"
    );

    // The question stays open, in status's text and JSON.
    let text = status_text(&p);
    assert!(
        text.contains(
            "Question: Q-1 Database: Which database should the todo list use? (Postgres | SQLite); `iteratr answer Q-1 TEXT` answers"
        ),
        "{text}"
    );
    let s = p.status();
    let q = &s["questions"][0];
    assert_eq!(
        (q["id"].as_u64(), q["left_open"].as_bool()),
        (Some(1), Some(true)),
        "{s}"
    );
    assert_eq!(q["answer"], Value::Null, "{s}");

    let out = answer(&p, &["Q-1", "SQLite, and keep it small"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(p.path().join("answered"), "").unwrap();
    let out = finish(build, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The answer is in the next prompt, and in that one only.
    let prompts = p.agent_events::<log::Prompt>();
    let with: Vec<&log::Prompt> = prompts
        .iter()
        .filter(|pr| pr.text.contains("Q-1 answered by ana@laptop"))
        .collect();
    assert_eq!(with.len(), 1, "{prompts:#?}");
    assert_eq!(with[0].turn, Some(2), "{:?}", with[0]);
    assert!(
        with[0]
            .text
            .contains("Q-1 answered by ana@laptop:\n  - Database: SQLite, and keep it small"),
        "{}",
        with[0].text
    );
    let s = p.status();
    assert!(s["questions"][0]["answer"].is_object(), "{s}");
    assert!(!status_text(&p).contains("Question: Q-1"));
}

/// `iteratr answer ARGS` from another process, as ana@laptop.
fn answer(p: &Project, args: &[&str]) -> std::process::Output {
    let args: Vec<&str> = ["answer"].into_iter().chain(args.iter().copied()).collect();
    crate::common::as_ana(p.path(), &args)
}

/// What `iteratr status` says of the session.
fn status_text(p: &Project) -> String {
    let out = Command::new(bin())
        .current_dir(p.path())
        .args(["status", "--session", "demo"])
        .output()
        .unwrap();
    stdout(&out)
}

#[test]
fn an_agent_asking_again_while_its_question_waits_is_told_what_to_do() {
    // A model that asks two things at once (two calls in one message): the second is refused.
    let port = ask("Port", "Which port should it listen on?", &[]);
    let p = Project::new(Script::turns([
        Turn::of([Action::parallel([ask_database(), port]), summary("planned")]),
        complete_all(),
    ]));
    let build = p
        .command(&["--headless", "--question-wait", "1m"])
        .spawn()
        .unwrap();
    wait_until(
        PATIENCE,
        || format!("no ask-questions call ended: {:?}", p.agent_log()),
        || !p.questions_asked().is_empty(),
    );
    let refused = &p.questions_asked()[0];
    assert!(refused.is_error, "{refused:?}");
    assert!(
        refused.text.contains(
            "Q-1 still waits for an answer; one question at a time: wait for it, or decide what seems best, record it with note-add (decision) and go on"
        ),
        "{refused:?}"
    );
    let s = p.status();
    assert_eq!(s["questions"].as_array().map(Vec::len), Some(1), "{s}");
    // The other call still waits, and gets the answer.
    let out = answer(&p, &["Q-1", "you decide"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = finish(build, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let results = p.questions_asked();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(!results[1].is_error, "{results:?}");
    assert!(
        results[1].text.starts_with("Q-1 answered by ana@laptop:")
            && results[1].text.contains(": you decide"),
        "{results:?}"
    );
}

#[test]
fn answers_that_do_not_fit_are_refused_with_what_to_write_and_nothing_is_recorded() {
    let p = Project::new(Script::turns([
        Turn::of([ask_database(), summary("planned")]),
        complete_all(),
    ]));
    let out = p.build(&["--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let before = p.status();
    assert_eq!(before["questions"][0]["left_open"], true, "{before}");
    for (args, says) in [
        (
            &["Q-1", "--choice", "9"][..],
            "--choice 9 is not a choice of Q-1; the choices are Database: 1:1 Postgres, 1:2 SQLite",
        ),
        (
            &["Q-1"][..],
            "give an answer: words (iteratr answer Q-1 \"TEXT\"), a --choice N, or both",
        ),
        (
            &["Q-1", "  "][..],
            "give an answer: words (iteratr answer Q-1 \"TEXT\"), a --choice N, or both",
        ),
        (
            &["Q-7", "Postgres"][..],
            "'Q-7' is not a question of this session; they look like Q-3 (`iteratr status` lists those that wait)",
        ),
        (
            &["TAS-1", "Postgres"][..],
            "'TAS-1' is not a question of this session",
        ),
        (
            &["Q-1", "--choice", "1", "--choice", "2"][..],
            "\"Database\" takes one choice, not 2",
        ),
        (
            &["Q-1", "--choice", "2:1"][..],
            "--choice 2:1 is not a choice of Q-1",
        ),
    ] {
        let out = answer(&p, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    // Nothing was recorded: the log is as it was, the question still open.
    let after = p.status();
    assert_eq!(after["events"], before["events"]);
    assert_eq!(after["questions"], before["questions"]);
    // A fitting answer goes in; a second one is refused, saying who answered first.
    let out = answer(&p, &["Q-1", "--choice", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = answer(&p, &["Q-1", "SQLite after all"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Q-1 was already answered (by ana@laptop)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_question_whose_turn_was_stopped_is_left_open_and_the_agent_may_ask_again() {
    let p = Project::new(Script::turns([
        // The turn runs out of time while its question waits.
        Turn::of([ask_database(), summary("planned")]),
        Turn::of([
            ask("Port", "Which port should it listen on?", &[]),
            summary("planned again"),
        ]),
        Turn::of([summary("iteration 2")]),
        complete_all(),
    ]));
    let args = [
        "--headless",
        "--question-wait",
        "1m",
        "--iteration-timeout",
        "3s",
        "--retry-delay",
        "50ms",
    ];
    let build = p.command(&args).spawn().unwrap();
    // Long before its minute, Q-1 no longer waits for nobody, and the agent may ask again.
    let q2 = p.wait_for_question(2);
    let s = p.status();
    assert_eq!(s["questions"][0]["left_open"], true, "{s}");
    assert_eq!(q2["left_open"], false, "{q2}");
    // The first call was cancelled with its turn; nothing was refused.
    assert!(
        p.questions_asked()
            .iter()
            .all(|t| !t.is_error || t.cancelled == Some(true)),
        "{:?}",
        p.questions_asked()
    );
    // Q-1 answered late reaches a later prompt; Q-2 is the waiting call's result.
    let out = answer(&p, &["Q-1", "--choice", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = answer(&p, &["Q-2", "8080"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = finish(build, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let results = p.questions_asked();
    assert_eq!(
        results.last().map(|t| t.text.as_str()),
        Some("Q-2 answered by ana@laptop:\n- Port: 8080")
    );
    let prompts = p.agent_events::<log::Prompt>();
    let with: Vec<&log::Prompt> = prompts
        .iter()
        .filter(|pr| pr.text.contains("Q-1 answered by ana@laptop"))
        .collect();
    assert_eq!(with.len(), 1, "{prompts:#?}");
    assert!(
        with[0].text.contains("- Database: Postgres"),
        "{}",
        with[0].text
    );
}

#[test]
fn a_question_of_a_killed_build_is_left_open_by_the_next_build() {
    let p = Project::new(Script::turns([Turn::of([
        ask_database(),
        summary("planned"),
    ])]));
    let mut killed = p
        .command(&["--headless", "--question-wait", "1m"])
        .spawn()
        .unwrap();
    p.wait_for_question(1);
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert_eq!(p.status()["questions"][0]["left_open"], false);
    // The next build picks up: the question nobody waits for is left open, its agent asks again.
    p.script(&Script::turns([
        Turn::of([
            ask("Port", "Which port should it listen on?", &[]),
            summary("planned"),
        ]),
        complete_all(),
    ]));
    let out = p.build(&["--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let s = p.status();
    let left: Vec<(u64, bool)> = s["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["id"].as_u64().unwrap(), q["left_open"].as_bool().unwrap()))
        .collect();
    assert_eq!(left, [(1, true), (2, true)], "{s}");
    let asked = p.questions_asked();
    assert!(
        asked
            .last()
            .is_some_and(|t| t.text.starts_with("Nobody is there to answer now. Q-2")),
        "{asked:?}"
    );
}
