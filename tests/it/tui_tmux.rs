//! The real binary in a real terminal (tmux), with the fake agent: the screen shows the tasks and
//! the session completing; `i`, a message and Enter put the message in the log; Ctrl+C leaves the
//! terminal clean and no process behind. tmux is required (`./test.sh` says how to install it when it is missing).

use std::path::Path;
use std::process::Command;

use crate::common::PATIENCE;
use crate::common::tmux::Tmux;
use serde_json::json;

use crate::common::fake_agent::log::{self, Record};
use crate::common::fake_agent::read_log;
use crate::common::fake_agent::script::{Action, Script, Turn};

fn messages(dir: &Path) -> Vec<String> {
    let out = Command::new(crate::common::bin())
        .current_dir(dir)
        .args(["status", "--session", "demo", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_tui_in_a_real_terminal() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::create_dir(dir.join("specs")).unwrap();
    std::fs::write(
        dir.join("specs/demo.md"),
        "# Demo\n- [ ] First task\n- [ ] Second task\n- [ ] Third task\n",
    )
    .unwrap();
    let status = |id: &str, s: &str| Action::tool("task-status", json!({"id": id, "status": s}));
    let script = Script::turns([
        Turn::of([Action::say("Planning the work.\n"), planned()]),
        // The turn goes on until the test has typed its message and seen it in the log.
        Turn::of([
            Action::say("Working on the first task.\n"),
            status("TAS-1", "in_progress"),
            Action::wait_file("typed"),
            status("TAS-1", "completed"),
        ]),
        Turn::of([Action::say("Thanks for the message.\n")]),
        Turn::of([
            status("TAS-2", "completed"),
            status("TAS-3", "completed"),
            Action::tool("session-complete", json!({"summary": "done"})),
        ]),
    ]);
    std::fs::write(dir.join("script.json"), script.to_json()).unwrap();
    let agent_log = dir.join("agent.log");

    let tmux = start_build(dir, "build", "");

    // The tasks appear in the sidebar as the agent works.
    let screen = tmux.wait_for("Working on the first task", PATIENCE);
    assert!(
        screen.contains("Tasks (3)") && screen.contains("TAS-1 p2 First task"),
        "{screen}"
    );
    assert!(screen.contains("iteratr │ demo │ iteration 1"), "{screen}");

    // Type to the agent while it works: the message lands in the log.
    tmux.keys(&["i"]);
    tmux.wait_for("Message to the agent", PATIENCE);
    tmux.keys(&["-l", "hello from the terminal"]);
    tmux.keys(&["Enter"]);
    crate::common::wait_until(
        PATIENCE,
        || "the message never reached the log",
        || messages(dir).contains(&"hello from the terminal".to_string()),
    );
    std::fs::write(dir.join("typed"), "").unwrap();

    // The session completes, on screen.
    tmux.wait_for("✓3", PATIENCE);
    let screen = tmux.wait_for("session complete after", PATIENCE);
    assert!(screen.contains("│ complete"), "{screen}");
    let prompts = std::fs::read_to_string(&agent_log).unwrap();
    assert!(
        prompts.contains("hello from the terminal"),
        "the agent got the message"
    );

    // Ctrl+C leaves a clean terminal and no process behind.
    tmux.keys(&["C-c"]);
    let screen = tmux.wait_for("EXITED 0", PATIENCE);
    assert!(
        !screen.contains("Dashboard") && !screen.contains("┌ Agent"),
        "the interface is still on screen:\n{screen}"
    );
    let pids = log::pids::<log::Start>(&read_log(&agent_log));
    assert!(!pids.is_empty());
    for pid in pids {
        crate::common::procs::wait_gone(pid, "agent", PATIENCE);
    }
    // No iteratr process of this test is left: only the shell (echo, sleep) remains in the pane.
    assert_no_iteratr_in(&tmux);
}

/// A project whose spec has one task (`First task`), with `script` for the fake agent.
fn one_task_project(script: &Script) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::create_dir(dir.join("specs")).unwrap();
    std::fs::write(dir.join("specs/demo.md"), "# Demo\n- [ ] First task\n").unwrap();
    std::fs::write(dir.join("script.json"), script.to_json()).unwrap();
    project
}

/// The planning turn's summary.
fn planned() -> Action {
    Action::tool("iteration-summary", json!({"summary": "planned"}))
}

/// No iteratr process runs in the pane any more: only the shell (echo, sleep) is left.
fn assert_no_iteratr_in(tmux: &Tmux) {
    let pane_pid = tmux.pane_pid();
    let children = std::fs::read_to_string(format!("/proc/{pane_pid}/task/{pane_pid}/children"))
        .unwrap_or_default();
    for child in children.split_whitespace() {
        let exe = std::fs::read_link(format!("/proc/{child}/exe")).unwrap_or_default();
        assert_ne!(
            exe,
            Path::new(crate::common::bin()),
            "iteratr ({child}) is still running"
        );
    }
}

/// Starts `iteratr build ARGS` in a tmux session in `dir` with the fake agent and its script, as
/// ana@laptop.
fn start_build(dir: &Path, name: &str, args: &str) -> Tmux {
    let command = format!(
        "{} build {args}; echo EXITED $?; sleep 600",
        crate::common::bin()
    );
    Tmux::start(
        name,
        dir,
        &crate::common::tmux::fake_agent_env(dir),
        &command,
    )
}

#[test]
fn the_agent_s_question_is_answered_in_its_window() {
    let script = Script::turns([
        Turn::of([Action::say("Planning.\n"), planned()]),
        Turn::of([
            Action::say("One thing to ask first.\n"),
            crate::common::project::ask_database(),
            Action::tool("task-status", json!({"id": "TAS-1", "status": "completed"})),
            Action::tool("session-complete", json!({"summary": "done"})),
        ]),
    ]);
    let project = one_task_project(&script);
    let dir = project.path();
    // The full-screen interface: the question waits (5 minutes) for the person here.
    let tmux = start_build(dir, "question", "");
    // The whole window, not a screen caught while it is being drawn.
    let shown = [
        "The agent asks · Q-1",
        "Database",
        "Which database should the todo list use?",
        "› 1 ( ) Postgres",
        "  2 ( ) SQLite",
        "Your words: type to answer in your own words",
        "Enter Send",
        "Esc Later",
    ];
    tmux.wait_until("the question window, whole", PATIENCE, |screen| {
        shown.iter().all(|line| screen.contains(line))
    });
    let agent_log = || read_log(&dir.join("agent.log"));
    let asked = || -> Vec<log::Tool> {
        log::of::<log::Tool>(&agent_log())
            .into_iter()
            .filter(|t| t.name == "ask-questions")
            .collect()
    };
    assert!(asked().is_empty(), "the agent waits: {:?}", asked());

    // Esc puts it aside, the status bar says it waits; Q opens it again.
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("Q-1 waits (Q answers)", PATIENCE);
    assert!(!screen.contains("The agent asks"), "{screen}");
    tmux.keys(&["Q"]);
    tmux.wait_for("The agent asks · Q-1", PATIENCE);
    // A choice by its number, then the person's words; Enter sends.
    tmux.keys(&["2"]);
    tmux.wait_for("› 2 (•) SQLite", PATIENCE);
    tmux.keys(&["-l", "keep it to one file"]);
    tmux.wait_for("› Your words: keep it to one file", PATIENCE);
    tmux.keys(&["Enter"]);

    // The agent's tool call returns the answer, and the log has who gave it.
    crate::common::wait_until(
        PATIENCE,
        || format!("the answer never reached the agent:\n{}", tmux.screen()),
        || !asked().is_empty(),
    );
    assert_eq!(
        asked()[0].text,
        "Q-1 answered by ana@laptop:\n- Database: SQLite — keep it to one file"
    );
    let screen = tmux.wait_for("session complete after", PATIENCE);
    assert!(!screen.contains("The agent asks"), "{screen}");
    let mut status = Command::new(crate::common::bin());
    status.current_dir(dir);
    let s = crate::common::status_json(status, "demo");
    let given = &s["questions"][0]["answer"];
    assert_eq!(given["who"], "ana@laptop", "{s}");
    assert_eq!(
        given["answers"],
        json!([{"chosen": ["SQLite"], "text": "keep it to one file"}])
    );
    tmux.keys(&["C-c"]);
    tmux.wait_for("EXITED 0", PATIENCE);
}

#[test]
fn with_approve_ask_the_person_at_the_terminal_answers() {
    let script = Script::turns([
        Turn::of([Action::say("Planning.\n"), planned()]),
        Turn::of([
            Action::permission("Run rm -rf build", "execute"),
            Action::permission("Edit src/lib.rs", "edit"),
            Action::tool("task-status", json!({"id": "TAS-1", "status": "completed"})),
            Action::tool("session-complete", json!({"summary": "done"})),
        ]),
    ]);
    let project = one_task_project(&script);
    let dir = project.path();
    let tmux = start_build(dir, "ask", "--approve ask");

    // The first request waits on screen with what the agent wants to do and the choices.
    let screen = tmux.wait_for("The agent asks permission", PATIENCE);
    assert!(screen.contains("call   Run rm -rf build"), "{screen}");
    assert!(screen.contains("kind   execute"), "{screen}");
    assert!(
        screen.contains("y Allow once")
            && screen.contains("a Allow always")
            && screen.contains("n Deny"),
        "{screen}"
    );
    // Nothing was answered yet: the agent still waits.
    let agent_log = || read_log(&dir.join("agent.log"));
    assert!(log::of::<log::Permission>(&agent_log()).is_empty());
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("call   Edit src/lib.rs", PATIENCE);
    assert!(
        screen.contains("permission: Run rm -rf build → allowed once by you"),
        "{screen}"
    );
    tmux.keys(&["n"]);
    tmux.wait_for("session complete after", PATIENCE);
    let screen = tmux.screen();
    assert!(
        screen.contains("permission: Edit src/lib.rs → denied by you"),
        "{screen}"
    );
    assert!(!screen.contains("The agent asks permission"), "{screen}");

    // The agent got the answers, and the log has them as the person's decisions.
    let outcomes: Vec<String> = log::of::<log::Permission>(&agent_log())
        .iter()
        .map(|v| format!("{} {}", v.title, v.outcome))
        .collect();
    assert_eq!(
        outcomes,
        ["Run rm -rf build allow_once", "Edit src/lib.rs reject_once"]
    );
    let out = Command::new(crate::common::bin())
        .current_dir(dir)
        .args(["status", "--session", "demo", "--json"])
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let recent = &s["permissions"]["recent"];
    assert_eq!(recent[0]["decision"], "allowed_by_user", "{s}");
    assert_eq!(recent[1]["decision"], "denied_by_user", "{s}");
    assert_eq!(
        (recent[0]["by"].as_str(), recent[1]["by"].as_str()),
        (Some("user"), Some("user"))
    );

    tmux.keys(&["C-c"]);
    tmux.wait_for("EXITED 0", PATIENCE);
}

#[test]
fn the_agent_s_markdown_is_rendered_in_a_real_terminal() {
    let doc = "## Findings\n\n| file | lines |\n|---|---:|\n| lexer.rs | 120 |\n| parser.rs | 2048 |\n\n\
               1. Read the spec\n2. Write the lexer\n3. Run the tests\n\n\
               See [the ratatui docs](https://docs.rs/ratatui) for more.\n\n\
               ```rust\nfn main() {\n    let answer = 42;\n}\n```\nDone.\n";
    let script = Script::turns([
        // The turn waits until the test has read the screen.
        Turn::of([Action::say(doc), Action::wait_file("seen")]),
    ]);
    let project = one_task_project(&script);
    let dir = project.path();
    let tmux = start_build(dir, "markdown", "");

    let screen = tmux.wait_for("Done.", PATIENCE);
    assert!(
        !screen.contains("|---|") && !screen.contains("---:"),
        "{screen}"
    );
    assert!(!screen.contains("```"), "{screen}");
    assert!(
        !screen.contains("## Findings") && screen.contains("Findings"),
        "{screen}"
    );
    for item in ["1. Read the spec", "2. Write the lexer", "3. Run the tests"] {
        assert!(screen.contains(item), "{item:?} missing:\n{screen}");
    }
    assert!(screen.contains("│ lexer.rs  │   120 │"), "{screen}");
    assert!(
        screen.contains("the ratatui docs (https://docs.rs/ratatui)"),
        "{screen}"
    );
    // The code's keywords in colour (magenta: palette colour 5, as tmux writes it).
    let coloured = tmux.screen_with_colours();
    for keyword in ["fn", "let"] {
        let magenta = [
            format!("\x1b[38;5;5m{keyword}\x1b["),
            format!("\x1b[35m{keyword}\x1b["),
        ];
        assert!(
            magenta.iter().any(|m| coloured.contains(m.as_str())),
            "{keyword} is not in colour:\n{coloured:?}"
        );
    }
    std::fs::write(dir.join("seen"), "").unwrap();
    tmux.keys(&["C-c"]);
    tmux.wait_for("EXITED", PATIENCE);
}

#[test]
fn with_workers_and_approve_ask_one_window_answers_every_workers_agent() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::create_dir(dir.join("specs")).unwrap();
    std::fs::write(
        dir.join("specs/demo.md"),
        "# Demo\n- [ ] write a.txt: a\n- [ ] write b.txt: b\n",
    )
    .unwrap();
    crate::common::project::git_init(dir);
    std::fs::write(
        dir.join(".gitignore"),
        "script.json*\nagent.log\n.iteratr/\n",
    )
    .unwrap();
    crate::common::project::git(dir, &["add", "."]);
    crate::common::project::git(dir, &["commit", "--quiet", "-m", "initial"]);
    let script = Script::turns([Turn::of([planned()])]).repeat(Turn::of([
        Action::permission("Run the tests", "execute"),
        Action::work(100),
    ]));
    std::fs::write(dir.join("script.json"), script.to_json()).unwrap();
    let tmux = start_build(dir, "ask-workers", "--workers 2 --approve ask");
    // Both workers' agents ask; one window takes them in turn, naming the worker: each is
    // answered, and its answer reached its agent, before the next request is looked for.
    let allowed = || -> Vec<Record> {
        read_log(&dir.join("agent.log"))
            .into_iter()
            .filter(|r| {
                r.get::<log::Permission>()
                    .is_some_and(|p| p.outcome == "allow_once")
            })
            .collect()
    };
    let mut answered: Vec<&str> = Vec::new();
    for n in 1..=2 {
        let asking = |screen: &str| {
            ["w1", "w2"]
                .into_iter()
                .find(|w| !answered.contains(w) && screen.contains(&format!("{w}: Run the tests")))
        };
        let screen = tmux.wait_until("a worker not answered yet asks permission", PATIENCE, |s| {
            s.contains("The agent asks permission") && asking(s).is_some()
        });
        answered.push(asking(&screen).unwrap());
        tmux.keys(&["y"]);
        crate::common::wait_until(
            PATIENCE,
            || format!("answer {n} never reached an agent: {:?}", allowed()),
            || allowed().len() >= n,
        );
    }
    answered.sort();
    assert_eq!(answered, ["w1", "w2"]);
    tmux.wait_for("session complete", PATIENCE);
    // Each worker's agent (its own process) got its answer.
    let agents: std::collections::BTreeSet<u32> = allowed().iter().map(|r| r.pid).collect();
    assert_eq!(allowed().len(), 2);
    assert_eq!(agents.len(), 2, "{:?}", allowed());
    for file in ["a", "b"] {
        assert_eq!(
            crate::common::project::git(dir, &["show", &format!("main:{file}.txt")]),
            file
        );
    }
    tmux.keys(&["C-c"]);
}
