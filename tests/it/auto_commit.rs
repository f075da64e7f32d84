//! A commit per iteration in a real git repository: exactly the files the iteration changed,
//! with its number, tasks and summary; never the data dir, ignored files or files that were
//! untracked before; nothing while a rebase is in progress; nothing with --no-auto-commit.

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

use crate::common::project::*;

/// A project that is a git repository with one commit, an ignored pattern and an untracked file.
fn repo(script: Script) -> Project {
    let p = Project::new(script);
    p.init_git();
    std::fs::write(p.path().join("scratch.txt"), "mine, not committed\n").unwrap();
    p
}

fn writes_too(turn: Turn, extra: &[(&str, &str)]) -> Turn {
    // Each one before the others, as they were inserted at the front one by one.
    let writes = extra
        .iter()
        .rev()
        .map(|(path, content)| Action::write(path, *content));
    Turn::of(writes).then(turn.actions)
}

#[test]
fn each_iteration_that_changed_files_is_one_commit_of_exactly_those_files() {
    let extra = [
        ("scratch.txt", "changed by the agent\n"),
        ("debug.log", "ignored\n"),
    ];
    let p = repo(Script::turns([
        planning_turn(),
        writes_too(work_turn("TAS-1", "hello.txt"), &extra),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]));
    let out = p.build(&["--headless"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let subjects = git(p.path(), &["log", "--format=%s"]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            "TAS-2: Write world.txt",
            "TAS-1: Write hello.txt",
            "initial"
        ],
        "{text}"
    );
    assert_eq!(
        git(p.path(), &["show", "--format=", "--name-only", "HEAD~1"]),
        "hello.txt"
    );
    assert_eq!(
        git(p.path(), &["show", "--format=", "--name-only", "HEAD"]),
        "world.txt"
    );
    let message = git(p.path(), &["log", "-1", "--format=%B", "HEAD~1"]);
    assert!(message.contains("\n\nTAS-1 done\n"), "{message}");
    assert!(
        message.contains("- TAS-1 completed: Write hello.txt"),
        "{message}"
    );
    // Tools find iteratr's commits by their trailers.
    assert_eq!(
        git(
            p.path(),
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Iteratr-Session,valueonly)%(trailers:key=Iteratr-Iteration,valueonly)",
                "HEAD~1"
            ]
        ),
        "demo\n1"
    );
    // The file that was untracked before stays untracked, and nothing of the data dir is in git.
    let status = git(
        p.path(),
        &["status", "--porcelain", "--untracked-files=all"],
    );
    assert!(status.contains("?? scratch.txt"), "{status}");
    assert!(status.contains("?? .iteratr/"), "{status}");
    assert!(!git(p.path(), &["ls-files"]).contains(".iteratr"));
    // The hash is in the log of the session.
    let s = p.status();
    let commits: Vec<&str> = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["commit"].as_str())
        .collect();
    assert_eq!(
        commits,
        [
            git(p.path(), &["rev-parse", "HEAD~1"]),
            git(p.path(), &["rev-parse", "HEAD"])
        ]
    );
    assert!(
        text.contains("committed 1 file(s) of iteration 1"),
        "{text}"
    );
}

#[test]
fn a_repository_mid_rebase_is_left_alone_and_the_flag_turns_commits_off() {
    let p = repo(Script::turns([
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
    ]));
    let rebase = p.path().join(".git/rebase-merge");
    std::fs::create_dir_all(&rebase).unwrap();
    let out = p.build(&["--headless", "-i", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    assert!(text.contains("in the middle of a rebase"), "{text}");
    assert_eq!(git(p.path(), &["rev-list", "--count", "HEAD"]), "1");
    std::fs::remove_dir_all(&rebase).unwrap();

    p.script(&Script::turns([work_turn("TAS-2", "world.txt")]));
    let out = p.build(&["--headless", "-i", "1", "--no-auto-commit"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(p.path().join("world.txt").exists());
    assert_eq!(git(p.path(), &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn iterations_that_change_nothing_stop_the_loop_in_a_repository_only() {
    let idle = || Turn::of([Action::say("Looking around; nothing to change.\n")]);
    let script = Script::turns([planning_turn(), idle(), idle(), idle(), idle(), idle()]);
    let p = repo(script.clone());
    let out = p.build(&["--headless"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(5), "{text}\n{}", stderr(&out));
    assert!(
        text.contains(
            "the last 3 iterations changed no task and no file (--max-idle-iterations 3)"
        ),
        "{text}"
    );
    assert_eq!(
        p.agent_events::<log::Prompt>().len(),
        4,
        "planning and three idle iterations"
    );

    // Outside a repository iteratr cannot tell whether files changed: it does not stop.
    let plain = Project::new(script);
    let out = plain.build(&["--headless", "-i", "4"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(plain.agent_events::<log::Prompt>().len(), 5);
}
