//! `iteratr spec`'s wizard in a real terminal (tmux) with the fake agent: the title, the
//! description (Esc goes back a step), two rounds of questions answered in the question window,
//! the review (the spec as Markdown, `e` edits it in $EDITOR), save, and the done screen's `b`,
//! which builds the spec, importing its tasks with their priorities.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use serde_json::json;

use crate::common::PATIENCE;
use crate::common::fake_agent::script::{Script, Turn};
use crate::common::project::{Project, status_of, tool};
use crate::common::spec::{ANSWERS, TODO_SPEC, answers_given, files, interview};
use crate::common::tmux::Tmux;

#[test]
fn the_wizard_interviews_reviews_saves_and_builds() {
    let build_turn = Turn::of([
        status_of("TAS-1", "completed"),
        status_of("TAS-2", "completed"),
        status_of("TAS-3", "completed"),
        tool("session-complete", json!({"summary": "done"})),
    ]);
    let p = Project::new(Script::turns([interview(TODO_SPEC)]).repeat(build_turn));
    let dir = p.path();
    // The person's editor: changes one line of the spec it is given.
    let editor = dir.join("edit.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^Sync between machines.$/Sync between machines, or sharing./' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut env = crate::common::tmux::fake_agent_env(dir);
    env.push(format!("EDITOR={}", editor.display()));
    let command = format!(
        "unset VISUAL; {} spec; echo EXITED $?; sleep 600",
        crate::common::bin()
    );
    let tmux = Tmux::start("spec", dir, &env, &command);

    tmux.wait_for("What is the spec called?", PATIENCE);
    tmux.keys(&["-l", "Todo CLI"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("What should it do", PATIENCE);
    // Esc goes back a step, keeping what was typed.
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("What is the spec called?", PATIENCE);
    assert!(screen.contains("Todo CLI█"), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("What should it do", PATIENCE);
    tmux.keys(&["-l", "Keep todos in the terminal"]);
    tmux.keys(&["Enter"]);

    // Round one: a choice; round two: the person's words.
    let screen = tmux.wait_for("Where should the todos live?", PATIENCE);
    assert!(screen.contains("2 ( ) SQLite"), "{screen}");
    tmux.keys(&["2"]);
    tmux.wait_for("(•) SQLite", PATIENCE);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Anything else it must do?", PATIENCE);
    tmux.keys(&["-l", "colours would be nice"]);
    tmux.keys(&["Enter"]);

    // The review: the spec as Markdown (the refused first attempt never showed).
    let screen = tmux.wait_for("The spec: Todo CLI", PATIENCE);
    assert!(screen.contains("Parse the command line"), "{screen}");
    assert_eq!(answers_given(&p), ANSWERS);
    // e: the person's editor changes it; the review shows the change.
    tmux.keys(&["e"]);
    tmux.wait_for("Sync between machines, or sharing.", PATIENCE);
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("Saved specs/todo-cli.md", PATIENCE);
    assert!(
        screen.contains("b: build it now (iteratr build --spec specs/todo-cli.md)"),
        "{screen}"
    );
    let saved = std::fs::read_to_string(dir.join("specs/todo-cli.md")).unwrap();
    assert_eq!(
        saved,
        TODO_SPEC.replace(
            "Sync between machines.",
            "Sync between machines, or sharing."
        )
    );
    let index = std::fs::read_to_string(dir.join("specs/README.md")).unwrap();
    assert!(
        index.contains("| Todo CLI | [todo-cli.md](todo-cli.md) | Keep todos in the terminal |"),
        "{index}"
    );

    // b: the build of the spec, in this terminal; it imports the tasks with their priorities.
    tmux.keys(&["b"]);
    tmux.wait_for("session complete after", PATIENCE);
    let mut status = Command::new(crate::common::bin());
    status.current_dir(dir);
    let s = crate::common::status_json(status, "todo-cli");
    let tasks: Vec<(&str, u64, &str)> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["content"].as_str().unwrap(),
                t["priority"].as_u64().unwrap(),
                t["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("Parse the command line", 3, "completed"),
            ("Store todos in todo.txt", 4, "completed"),
            ("Write the README", 1, "completed")
        ]
    );
    tmux.keys(&["C-c"]);
    tmux.wait_for("EXITED 0", PATIENCE);
}

#[test]
fn ctrl_c_in_the_interview_leaves_no_file_and_no_agent() {
    let p = Project::new(Script::turns([interview(TODO_SPEC)]));
    let dir = p.path();
    let command = format!(
        "{} spec 'Todo CLI' -d 'Keep todos'; echo EXITED $?; sleep 600",
        crate::common::bin()
    );
    let tmux = Tmux::start(
        "spec-ctrl-c",
        dir,
        &crate::common::tmux::fake_agent_env(dir),
        &command,
    );
    // Given a title and a description, the wizard goes straight to the interview.
    tmux.wait_for("Where should the todos live?", PATIENCE);
    let agent = p.agent_log()[0].pid;
    tmux.keys(&["C-c"]);
    tmux.wait_for("EXITED 0", PATIENCE);
    crate::common::wait_until(
        PATIENCE,
        || format!("the agent {agent} outlived the wizard"),
        || !std::path::Path::new(&format!("/proc/{agent}")).exists(),
    );
    assert_eq!(files(&dir.join("specs")), ["demo.md"]);
}
