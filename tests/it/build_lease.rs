//! One builder per session: two `iteratr build` runs on one session (SQLite and JetStream), a
//! holder killed with SIGKILL (the same command takes over at once; a lapsed lease too), a
//! recycled pid, a holder on another machine (only `--takeover` takes it, and that holder stops),
//! and what `status` says about the holder. Real binary, real fake agent, real stores.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::project::*;
use serde_json::Value;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

const HELD: i32 = 4;

/// Planning waits for the file `go`, so the first build holds the session while others try.
fn held_script() -> Script {
    let planning = Turn::of([Action::wait_file("go")]).then(planning_turn().actions);
    Script::turns([
        planning,
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ])
}

fn iterations(s: &Value) -> Vec<(u64, String)> {
    s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["number"].as_u64().unwrap(),
                i["outcome"].as_str().unwrap_or("running").to_string(),
            )
        })
        .collect()
}

/// Two builds started together: exactly one runs; the other is refused at once with the
/// documented code and a message naming the holder and what to do.
fn two_builds_race(p: &Project) {
    let a = p.command(&["--headless"]).spawn().unwrap();
    let b = p.command(&["--headless"]).spawn().unwrap();
    let start = Instant::now();
    let (a, b) = (
        std::thread::spawn(move || finish(a, Duration::from_secs(120))),
        std::thread::spawn(move || finish(b, Duration::from_secs(120))),
    );
    // The refused one ends while the other waits in its planning turn.
    while !(a.is_finished() || b.is_finished()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "neither build was refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(p.path().join("go"), "").unwrap();
    let outs: Vec<Output> = [a, b].into_iter().map(|t| t.join().unwrap()).collect();
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let all = || {
        outs.iter()
            .map(|o| format!("{}\n{}", stdout(o), stderr(o)))
            .collect::<Vec<_>>()
            .join("\n-----\n")
    };
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(HELD)),
        "{codes:?}\n{}",
        all()
    );
    let refused = outs.iter().find(|o| o.status.code() == Some(HELD)).unwrap();
    let err = stderr(refused);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: session demo is already being built by iteratr ")
            && err.contains(" (pid ")
            && err.contains(", for ")
            && err.contains("iteratr watch --session demo"),
        "{err}"
    );
    assert!(
        !stdout(refused).contains("iteration"),
        "the refused build ran something:\n{}",
        all()
    );
    // One agent ever ran; the history is one build's, gap-free and finished.
    assert_eq!(p.agent_events::<log::Start>().len(), 1, "{}", all());
    let s = p.status();
    assert_eq!(s["completed"], true);
    assert_eq!(
        iterations(&s),
        (0..4).map(|n| (n, "end_turn".into())).collect::<Vec<_>>()
    );
    assert!(s["builder"].is_null(), "released at the end: {s}");
    assert!(
        s["builder_text"].as_str().unwrap().contains("ended at"),
        "{s}"
    );
}

#[test]
fn two_builds_on_one_sqlite_session_exactly_one_runs() {
    two_builds_race(&Project::new(held_script()));
}

#[test]
fn two_builds_on_one_jetstream_session_exactly_one_runs() {
    let server = crate::common::nats::NatsServer::start();
    let p = Project::new(held_script()).with_env("ITERATR_NATS_URL", &server.url());
    two_builds_race(&p);
}

/// Starts a build whose planning hangs, and SIGKILLs it once the agent is in its turn.
fn killed_holder(p: &Project, ttl: &str) {
    let mut holder = p
        .command(&["--headless", "--lease-ttl", ttl])
        .spawn()
        .unwrap();
    p.wait_for_agent("waiting");
    let s = p.status();
    assert_eq!(s["builder"]["pid"], holder.id(), "{s}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

fn resumed_script() -> Script {
    Script::turns([
        Turn::of([Action::wait_file("never")]),
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ])
}

#[test]
fn a_killed_holder_is_taken_over_by_the_same_command() {
    let p = Project::new(resumed_script());
    killed_holder(&p, "1h");
    let holder = p.status()["builder"]["pid"].as_u64().unwrap();
    // Its lease still runs for an hour, but its process is gone: the plain command goes on, and
    // says in one line that it took over.
    let out = p.build(&["--headless"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let took =
        format!("iteratr: took over session demo from pid {holder}, gone since its last renewal ");
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.starts_with(&took) && l.ends_with("(its process no longer runs)")),
        "{}",
        stderr(&out)
    );
    let s = p.status();
    assert_eq!(s["completed"], true);
    // The iteration the killed build left running is recorded as interrupted, then planned again.
    assert_eq!(
        iterations(&s),
        [
            (0, "interrupted".into()),
            (1, "end_turn".into()),
            (2, "end_turn".into()),
            (3, "end_turn".into()),
            (4, "end_turn".into())
        ]
    );
}

/// A lease with this machine's identity and `pid`, as a build would have written it.
async fn forge_lease(p: &Project, host: &str, pid: u32, start_ticks: Option<u64>) {
    let session = p.session().await;
    session
        .execute(
            &iteratr::session::Command::AcquireLease {
                holder: iteratr::session::LeaseHolder {
                    id: "forged-holder".into(),
                    host: host.into(),
                    pid,
                    version: "0.1.0".into(),
                    started_at_ms: 0,
                    machine: iteratr::process::machine_id(),
                    boot: iteratr::process::boot_id(),
                    start_ticks,
                    no_output: false,
                },
                ttl_ms: 3_600_000,
                takeover: true,
            },
            iteratr::session::Author::System,
        )
        .await
        .unwrap();
}

fn this_host() -> String {
    iteratr::process::host_name()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_pid_now_belongs_to_another_process_is_taken_over() {
    let p = Project::new(full_script());
    // The pid runs, but it is not the process the lease names (it started at another time).
    let mut other = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let ticks = iteratr::process::start_ticks(other.id()).unwrap();
    forge_lease(&p, &this_host(), other.id(), Some(ticks + 1)).await;
    let out = tokio::task::block_in_place(|| p.build(&["--headless"]));
    other.kill().unwrap();
    other.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "took over session demo from pid {}, gone since its last renewal",
            other.id()
        )) && stderr(&out).contains("(its pid now belongs to another process)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.status()["completed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_process_still_runs_is_not_taken_even_if_it_is_no_iteratr() {
    let p = Project::new(full_script());
    // The same pid and start time: that process is the holder, whatever it is called.
    let mut other = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let ticks = iteratr::process::start_ticks(other.id());
    assert!(ticks.is_some());
    forge_lease(&p, &this_host(), other.id(), ticks).await;
    for args in [&["--headless"][..], &["--headless", "--takeover"][..]] {
        let out = tokio::task::block_in_place(|| p.build(args));
        assert_eq!(out.status.code(), Some(HELD), "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("is already being built by iteratr 0.1.0"),
            "{}",
            stderr(&out)
        );
    }
    other.kill().unwrap();
    other.wait().unwrap();
    assert!(p.agent_events::<log::Start>().is_empty(), "an agent ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_from_another_machine_is_taken_only_with_takeover_and_a_warning() {
    let p = Project::new(full_script());
    // A pid that is gone here says nothing about a process on another machine.
    forge_lease(&p, "elsewhere", 999_999_999, Some(1)).await;
    let out = tokio::task::block_in_place(|| p.build(&["--headless"]));
    assert_eq!(out.status.code(), Some(HELD), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: session demo is already being built by iteratr 0.1.0 (pid 999999999 on elsewhere)")
            && err.contains("on another machine")
            && err.contains("if that machine is gone, run again with --takeover"),
        "{err}"
    );
    assert!(p.agent_events::<log::Start>().is_empty(), "an agent ran");
    let out = tokio::task::block_in_place(|| p.build(&["--headless", "--takeover"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "iteratr: warning: took over session demo from iteratr 0.1.0 (pid 999999999 on elsewhere)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.status()["completed"], true);
}

#[test]
fn a_forced_takeover_stops_a_live_holder_on_another_machine_at_its_next_renewal() {
    let p = Project::new(resumed_script());
    // The first build says it is on another machine; it hangs in its planning turn.
    let holder = p
        .command(&["--headless", "--lease-ttl", "3s"])
        .env("ITERATR_HOST", "far-away")
        .spawn()
        .unwrap();
    p.wait_for_agent("waiting");
    assert_eq!(p.status()["builder"]["host"], "far-away");
    let out = p.build(&["--headless", "--takeover"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: took over session demo from iteratr"),
        "{}",
        stderr(&out)
    );
    let old = finish(holder, Duration::from_secs(60));
    assert_eq!(old.status.code(), Some(1), "{}", stdout(&old));
    assert!(
        stderr(&old).contains("no longer holds the session"),
        "{}",
        stderr(&old)
    );
    assert_eq!(p.status()["completed"], true);
}

#[test]
fn a_killed_holders_lease_lapses_and_a_new_build_proceeds() {
    let p = Project::new(resumed_script());
    killed_holder(&p, "2s");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.status()["builder"].is_null() {
        assert!(Instant::now() < deadline, "the lease never lapsed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        p.status()["builder_text"]
            .as_str()
            .unwrap()
            .contains("stopped renewing"),
        "{}",
        p.status()
    );
    let out = p.build(&["--headless"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("resuming session demo after iteration 0"),
        "{}",
        stdout(&out)
    );
    assert_eq!(p.status()["completed"], true);
}

#[test]
fn takeover_does_not_take_a_session_from_a_build_that_still_runs() {
    let p = Project::new(held_script());
    let mut holder = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    let out = p.build(&["--headless", "--takeover"]);
    assert_eq!(out.status.code(), Some(HELD), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("--takeover only takes over from a build that is gone"),
        "{}",
        stderr(&out)
    );
    // status, watch and mcp serve are not builders: status works while the build runs.
    let s = p.status();
    assert_eq!(s["builder"]["pid"], holder.id());
    assert!(
        s["builder_text"].as_str().unwrap().contains("renewed"),
        "{s}"
    );
    std::fs::write(p.path().join("go"), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while holder.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.status()["completed"], true);
}

#[test]
fn six_builds_started_at_once_on_a_fresh_data_dir_one_runs_the_others_are_refused() {
    // Each opens (and may create) the database at the same moment: a busy SQLite must be waited
    // for, not reported as an error.
    for round in 0..3 {
        let p = Project::new(held_script());
        let mut children: Vec<_> = (0..6)
            .map(|_| p.command(&["--headless"]).spawn().unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut outs: Vec<Output> = Vec::new();
        while outs.len() < 5 {
            assert!(Instant::now() < deadline, "round {round}: {outs:#?}");
            if let Some(i) = children
                .iter_mut()
                .position(|c| c.try_wait().unwrap().is_some())
            {
                outs.push(children.remove(i).wait_with_output().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(p.path().join("go"), "").unwrap();
        outs.push(finish(children.remove(0), Duration::from_secs(60)));
        let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
        let errs: Vec<String> = outs.iter().map(stderr).collect();
        assert_eq!(
            codes,
            [
                Some(HELD),
                Some(HELD),
                Some(HELD),
                Some(HELD),
                Some(HELD),
                Some(0)
            ],
            "round {round}: {errs:#?}"
        );
        assert!(
            errs[..5].iter().all(|e| e.contains("already being built")),
            "round {round}: {errs:#?}"
        );
        assert_eq!(p.agent_events::<log::Start>().len(), 1);
    }
}

#[test]
fn builds_started_together_on_a_fresh_data_dir_never_report_a_busy_database() {
    // Regression: creating the SQLite database in WAL mode while another process did the same
    // failed at once with "database is locked" (15 of 40 rounds before the fix). Each round: two
    // builds on a new data dir, one refused or both failing on their missing agent, never a
    // store error.
    let p = Project::new(held_script());
    for round in 0..30 {
        let _ = std::fs::remove_dir_all(p.path().join(".iteratr"));
        let children: Vec<_> = (0..2)
            .map(|_| {
                p.command(&["--headless", "--agent", "/nonexistent/agent"])
                    .env_remove("ITERATR_AGENT")
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = finish(child, Duration::from_secs(60));
            let err = stderr(&out);
            assert!(
                err.contains("cannot start the agent") || err.contains("already being built"),
                "round {round}: {err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_loses_its_lease_stops_and_says_why() {
    let p = Project::new(held_script());
    let child = p
        .command(&["--headless", "--lease-ttl", "3s"])
        .spawn()
        .unwrap();
    tokio::task::block_in_place(|| p.wait_for_agent("waiting"));
    // Another builder takes the session over (as one on another machine would after a lapse).
    let session = p.session().await;
    session
        .execute(
            &iteratr::session::Command::AcquireLease {
                holder: iteratr::session::LeaseHolder {
                    id: "other-builder".into(),
                    host: "elsewhere".into(),
                    pid: 1,
                    version: "9.9.9".into(),
                    started_at_ms: 0,
                    ..Default::default()
                },
                ttl_ms: 60_000,
                takeover: true,
            },
            iteratr::session::Author::System,
        )
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: this build stopped because this build no longer holds the session: iteratr 9.9.9 (pid 1 on elsewhere) took it over"),
        "{err}"
    );
    assert!(
        !p.agent_events::<log::Cancel>().is_empty(),
        "the turn was stopped"
    );
    // The new holder keeps the session: the stopped build did not release it.
    assert_eq!(p.status()["builder"]["id"], "other-builder");
}
