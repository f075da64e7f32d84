//! Workers on two "machines": two clones of a bare repository sharing a session on a real
//! nats-server. `build --workers 2 --remote origin` in one, `iteratr worker --remote origin` in the
//! other; each integrates by pushing (never forced) to the remote's integration branch.

use crate::common::fake_agent::script::{Action, Script, Turn};

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
