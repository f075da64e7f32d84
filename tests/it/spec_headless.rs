//! `iteratr spec --headless` with the fake agent standing in for the model: questions on stdout,
//! answers on stdin; `finish-spec` refuses a spec without a checklist and saves the agent's
//! second attempt; the spec is listed in specs/README.md and `iteratr build` imports its tasks
//! with their priorities; an existing file is overwritten only when the person agrees; refining
//! a spec shows its changes and saves them only when confirmed; Ctrl+C leaves nothing behind.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::json;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::{Project, finish, stderr, stdout};
use crate::common::spec::{ANSWERS, TODO_SPEC, answers_given, files, interview};
use crate::common::{PATIENCE, wait_until};

const TITLE: &str = "Todo CLI";
const DESCRIPTION: &str = "Keep todos in the terminal";

/// Runs `iteratr spec ARGS` with `input` on its stdin (then closed).
fn spec(p: &Project, args: &[&str], input: &str) -> Output {
    let child = start(p, args);
    answer(child, input)
}

fn start(p: &Project, args: &[&str]) -> Child {
    let mut args = args.to_vec();
    args.insert(0, "--headless");
    p.spec_command(&args)
        .env("USER", "ana")
        .env("ITERATR_HOST", "laptop")
        .spawn()
        .unwrap()
}

fn answer(mut child: Child, input: &str) -> Output {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    finish(child, Duration::from_secs(60))
}

/// Asserts the exit code (the output tells what happened otherwise); returns stdout.
#[track_caller]
fn exited(out: &Output, code: i32) -> String {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(code), "{text}\n{}", stderr(out));
    text
}

fn finish_spec_results(p: &Project) -> Vec<log::Tool> {
    p.agent_events::<log::Tool>()
        .into_iter()
        .filter(|t| t.name == "finish-spec")
        .collect()
}

#[test]
fn answers_on_stdin_make_the_spec_the_build_then_imports() {
    let p = Project::new(
        Script::turns([interview(TODO_SPEC)]).repeat(Turn::of([Action::tool(
            "session-complete",
            json!({"summary": "done"}),
        )])),
    );
    let out = spec(
        &p,
        &[TITLE, "-d", DESCRIPTION],
        "2\ncolours would be nice\n",
    );
    let text = exited(&out, 0);

    // Two rounds, asked on stdout, answered from stdin.
    assert!(
        text.contains(
            "question Q-1: Storage: Where should the todos live?\n  1. A file\n  2. SQLite\nyour answer (a number, or your own words):\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("question Q-2: Extras: Anything else it must do?\nyour answer:\n"),
        "{text}"
    );
    assert_eq!(answers_given(&p), ANSWERS);
    // The prompt told the agent what the spec is for.
    let prompts = p.agent_events::<log::Prompt>();
    assert!(
        prompts[0]
            .text
            .contains("Title: Todo CLI\nKeep todos in the terminal"),
        "{}",
        prompts[0].text
    );

    // A spec without a checklist was refused with what is missing; the second attempt saved.
    let results = finish_spec_results(&p);
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].is_error, "{results:?}");
    assert!(
        results[0]
            .text
            .contains("the Tasks section has no checklist"),
        "{}",
        results[0].text
    );
    assert!(!results[1].is_error, "{results:?}");
    assert!(
        results[1]
            .text
            .starts_with("The spec was accepted (3 open task(s))")
    );
    let specs = p.path().join("specs");
    assert_eq!(
        std::fs::read_to_string(specs.join("todo-cli.md")).unwrap(),
        TODO_SPEC
    );
    assert!(
        text.contains("saved specs/todo-cli.md (listed in specs/README.md); build it with: iteratr build --spec specs/todo-cli.md"),
        "{text}"
    );
    // Listed in the index, made for it; nothing else was left in specs/.
    let index = std::fs::read_to_string(specs.join("README.md")).unwrap();
    let row = format!(
        "| Todo CLI | [todo-cli.md](todo-cli.md) | {DESCRIPTION} | {} |",
        today()
    );
    assert!(
        index.contains(&format!(
            "<!-- SPECS -->\n| Spec | File | Description | Date |\n|---|---|---|---|\n{row}\n"
        )),
        "{index}"
    );
    assert_eq!(files(&specs), ["README.md", "demo.md", "todo-cli.md"]);

    // The build imports its tasks, with their priorities.
    let out = p.build(&["--headless", "--spec", "specs/todo-cli.md", "-i", "1"]);
    assert!(
        stdout(&out).contains("imported 3 tasks from the spec's checklists"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let mut status = Command::new(crate::common::bin());
    status.current_dir(p.path());
    let s = crate::common::status_json(status, "todo-cli");
    let tasks: Vec<(String, u64)> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["content"].as_str().unwrap().to_string(),
                t["priority"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("Parse the command line".to_string(), 3),
            ("Store todos in todo.txt".to_string(), 4),
            ("Write the README".to_string(), 1)
        ]
    );
}

/// Today in UTC as the index writes it.
fn today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_existing_spec_is_overwritten_only_when_the_person_agrees() {
    let quick = Turn::of([Action::tool("finish-spec", json!({ "spec": TODO_SPEC }))]);
    let p = Project::new(Script::turns([quick.clone(), quick]));
    let path = p.path().join("specs/todo-cli.md");
    let old = b"# Mine\r\nkeep me \xc3\xa9 byte for byte\n\n";
    std::fs::write(&path, old).unwrap();

    let out = spec(&p, &[TITLE, "-d", DESCRIPTION], "n\n");
    let text = exited(&out, 1);
    assert!(
        text.contains("specs/todo-cli.md exists already; overwrite it? [y/N]\nnot saved; specs/todo-cli.md is as it was\n"),
        "{text}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(files(&p.path().join("specs")), ["demo.md", "todo-cli.md"]);

    // Without a title and a description, both are read from stdin first.
    let out = spec(&p, &[], "Todo CLI\nKeep todos in the terminal\ny\n");
    let text = exited(&out, 0);
    assert!(
        text.starts_with("title:\ndescription:\nthe agent is interviewing you for Todo CLI\n"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), TODO_SPEC);
}

#[test]
fn refining_shows_the_changes_and_saves_them_only_when_confirmed() {
    let old = TODO_SPEC.replace("- [ ] [low] Write the README\n", "");
    let refined = Turn::of([
        Action::tool(
            "ask-questions",
            json!({"questions": [{"header": "Docs", "question": "Does it need a README?"}]}),
        ),
        Action::tool("finish-spec", json!({ "spec": TODO_SPEC })),
    ]);
    let p = Project::new(Script::turns([refined.clone(), refined]));
    let path = p.path().join("specs/todo-cli.md");
    std::fs::write(&path, &old).unwrap();
    let index = "# Our specs\n<!-- SPECS -->\n| Spec | File | Description | Date |\n|---|---|---|---|\n| Todo CLI | [todo-cli.md](todo-cli.md) | mine | 2026-01-01 |\n";
    std::fs::write(p.path().join("specs/README.md"), index).unwrap();

    // Answers are words for the agent, never run: a shell's syntax in them stays text.
    let out = spec(
        &p,
        &["specs/todo-cli.md"],
        "yes, $(touch pwned) `touch pwned2`; touch pwned3\nn\n",
    );
    let text = exited(&out, 1);
    // The agent read the spec as it is, and was asked to refine it.
    let prompt = &p.agent_events::<log::Prompt>()[0].text;
    assert!(prompt.contains("Refine this spec"), "{prompt}");
    assert!(prompt.contains(&old), "{prompt}");
    assert!(
        text.contains("changes to specs/todo-cli.md (+1 -0):\n@@ -16,6 +16,7 @@\n"),
        "{text}"
    );
    assert!(text.contains("\n+- [ ] [low] Write the README\n"), "{text}");
    assert!(
        text.contains("save the changes to specs/todo-cli.md? [y/N]\nnot saved; specs/todo-cli.md is as it was\n"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
    assert_eq!(
        answers_given(&p),
        ["Q-1 answered by ana@laptop:\n- Docs: yes, $(touch pwned) `touch pwned2`; touch pwned3"]
    );
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!p.path().join(f).exists(), "{f}");
    }

    let out = spec(&p, &["specs/todo-cli.md"], "yes, a short one\ny\n");
    exited(&out, 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), TODO_SPEC);
    // Its row in the index stays as the person wrote it.
    assert_eq!(
        std::fs::read_to_string(p.path().join("specs/README.md")).unwrap(),
        index
    );
}

#[test]
fn ctrl_c_during_the_interview_leaves_no_file_and_no_agent() {
    let p = Project::new(Script::turns([interview(TODO_SPEC)]));
    let child = start(&p, &[TITLE, "-d", DESCRIPTION]);
    p.wait_for_agent("tool_call");
    let agent_pid = p.agent_log()[0].pid;
    interrupt(child.id());
    let out = finish(child, PATIENCE);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted; nothing was saved"));
    assert_eq!(files(&p.path().join("specs")), ["demo.md"]);
    wait_until(
        PATIENCE,
        || format!("the agent {agent_pid} still runs"),
        || !Path::new(&format!("/proc/{agent_pid}")).exists(),
    );
}

/// Ctrl+C, as the terminal sends it: SIGINT.
fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
