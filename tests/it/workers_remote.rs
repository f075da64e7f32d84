//! Workers on two "machines": two clones of a bare repository sharing a session on a real
//! nats-server. `build --workers 2 --remote origin` in one, `iteratr worker --remote origin` in the
//! other; each integrates by pushing (never forced) to the remote's integration branch.

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::{PATIENCE, wait_until};

use crate::common::nats::NatsServer;
use crate::common::project::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_and_a_worker_on_another_clone_complete_one_session_together() {
    let server = NatsServer::start();
    let tasks: Vec<String> = (1..=6).map(|n| format!("write m{n}.txt: {n}")).collect();
    let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
    let a = team_project(&tasks, vec![summary("Planned")], 700)
        .with_env("ITERATR_NATS_URL", &server.url());
    let bare = tempfile::tempdir().unwrap();
    git(
        bare.path(),
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    git(
        a.path(),
        &[
            "remote",
            "add",
            "origin",
            &bare.path().display().to_string(),
        ],
    );
    git(a.path(), &["push", "--quiet", "origin", "main"]);
    let b = second_clone(
        bare.path(),
        Script::turns([]).repeat(Turn::of([Action::work(700)])),
    )
    .with_env("ITERATR_NATS_URL", &server.url());
    git(b.path(), &["config", "user.name", "Other machine"]);

    let worker = b
        .worker_command(&["--headless", "-n", "demo", "--remote", "origin"])
        .spawn()
        .unwrap();
    // The joined worker's name: this machine's host name (as a worker name may spell it), its pid.
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let joined_name = format!("{}-{}-w1", host.trim_matches('-'), worker.id());
    let build = a
        .command(&["--headless", "--workers", "2", "--remote", "origin"])
        .spawn()
        .unwrap();
    let out = finish(build, std::time::Duration::from_secs(90));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let joined_out = finish(worker, std::time::Duration::from_secs(30));
    let joined_text = stdout(&joined_out);
    assert_eq!(
        joined_out.status.code(),
        Some(0),
        "{joined_text}\n{}",
        stderr(&joined_out)
    );

    // Both machines did part of the work; every task integrated once, all on the remote.
    let opts = iteratr::store::NatsOptions::new(server.url());
    let log = iteratr::store::NatsLog::connect(&opts).await.unwrap();
    let events: Vec<iteratr::session::Event> = iteratr::store::read_all(&log, "demo", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    let mut by_machine = (0, 0);
    let mut integrated = Vec::new();
    for e in &events {
        if let iteratr::session::EventKind::TaskIntegrated { task, worker, .. } = &e.kind {
            integrated.push(*task);
            match worker.as_deref() {
                Some("w1" | "w2") => by_machine.0 += 1,
                Some(w) if w == joined_name => by_machine.1 += 1,
                other => panic!(
                    "TAS-{task} integrated by {other:?}, neither the build's workers nor {joined_name}"
                ),
            }
        }
    }
    integrated.sort();
    assert_eq!(integrated, [1, 2, 3, 4, 5, 6], "{text}\n{joined_text}");
    assert!(by_machine.0 > 0 && by_machine.1 > 0, "{by_machine:?}");
    for n in 1..=6 {
        assert_eq!(
            git(bare.path(), &["show", &format!("main:m{n}.txt")]),
            n.to_string()
        );
    }
    let authors = git(bare.path(), &["log", "--format=%an", "main"]);
    assert!(authors.contains("Other machine"), "{authors}");
}

/// A worker takes over a task that a killed worker completed but never integrated, while the
/// remote cannot be reached: it cannot tell whether that work reached the branch, so it waits for
/// the remote (saying so) instead of going on. Going on blind once "integrated" such a task as
/// the branch's tip, without its work (the chaos run found it); here the work is done again and
/// reaches the remote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_over_waits_for_the_remote_before_it_integrates_anything() {
    let server = NatsServer::start();
    // The build's worker takes 8 s over its task: time for the other clone's worker to start.
    let a = team_project(&["write t1.txt: one"], vec![summary("Planned")], 8_000)
        .with_env("ITERATR_NATS_URL", &server.url());
    let (remote, bare) = bare_remote();
    git(
        a.path(),
        &["remote", "add", "origin", &bare.display().to_string()],
    );
    git(a.path(), &["push", "--quiet", "origin", "main"]);
    let b = second_clone(
        &bare,
        Script::turns([]).repeat(Turn::of([Action::work(100)])),
    )
    .with_env("ITERATR_NATS_URL", &server.url());

    // The build's worker completes TAS-1, and the build dies right after that is stored.
    let mut build = a.command(&[
        "--headless",
        "--workers",
        "1",
        "--remote",
        "origin",
        "--claim-ttl",
        "1s",
    ]);
    build.env(iteratr::fault::ENV, "appended:task_status_set#2");
    let build = build.spawn().unwrap();
    wait_until(
        PATIENCE,
        || "the build's worker never started TAS-1",
        || {
            a.agent_events::<log::Tool>()
                .iter()
                .any(|t| t.name == "task-status" && t.args["status"] == "in_progress")
        },
    );
    // The other clone's worker starts (its worktree from the remote) and waits for a task.
    let worker = b
        .worker_command(&["--headless", "-n", "demo", "--remote", "origin"])
        .spawn()
        .unwrap();
    let worktrees = b.path().join(".iteratr/worktrees/demo");
    wait_until(
        PATIENCE,
        || "the worker never made its worktree",
        || {
            std::fs::read_dir(&worktrees)
                .into_iter()
                .flatten()
                .flatten()
                .any(|d| d.path().join(".git").exists())
        },
    );
    // Then the remote goes away, and the build dies with TAS-1 completed, not integrated.
    let away = remote.path().join("away.git");
    std::fs::rename(&bare, &away).unwrap();
    let killed = finish(build, std::time::Duration::from_secs(60));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.status.signal(), Some(9), "{}", stdout(&killed));
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    std::fs::rename(&away, &bare).unwrap();

    let out = finish(worker, std::time::Duration::from_secs(90));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("TAS-1: looking at what earlier holders left: git fetch failed")
            && text.contains("trying again in 2 s"),
        "{text}"
    );
    assert!(text.contains("doing it again"), "{text}");
    assert_eq!(git(&bare, &["show", "main:t1.txt"]), "one");
}
