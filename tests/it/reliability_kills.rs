//! Kills at the worst moment: `iteratr build` SIGKILLed at 20 seeded points of its iterations
//! (while the agent initializes or opens a session, while a turn streams, inside and right after
//! the append of a tool call or of an iteration's end, while a hook or a commit runs, on
//! JetStream, and during the next build's own recovery). After each kill: no agent, hook, git or
//! nats-server process is left; the log is whole (read from SQLite directly: numbers gap-free,
//! every row decodes); the next build records the iteration that never ended as interrupted, gives
//! the tasks it left in progress back (`task_released`, so `task-next` offers them again), and
//! completes. The seed is printed; `ITERATR_RELIABILITY_SEED=N` replays a run.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command};
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use iteratr::session::{Author, Command as SessionCommand, EventKind};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, SqliteLog, read_all};
use serde_json::Value;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script};

use crate::common::procs;
use crate::common::project::*;
use crate::common::reliability::{Rng, jetstream_log, report, sqlite_log};
use crate::common::{PATIENCE, wait_until};
use crate::store_processes::{SESSION, spawn_worker};

/// Where a build is killed.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// The agent never answers `initialize`.
    Initialize,
    /// The agent never answers the n-th `session/new` (1: planning, 2: the first work iteration).
    NewSession(u64),
    /// Turn k (0: planning) streams text, its task in progress, and goes on forever.
    Streaming(usize),
    /// Inside the SQLite transaction of the n-th `task_status_set` (a tool call's append).
    ToolAppend(u32),
    /// Right after that append committed, before iteratr learnt it did.
    ToolAppended(u32),
    /// Inside the append of the n-th iteration's end.
    IterationEndAppend(u32),
    /// While the `post_iteration` hook of the first work iteration runs (it started a child).
    Hook,
    /// While git commits the first work iteration (its pre-commit hook started a child).
    Commit,
    /// Streaming in turn 1, then the next build is killed inside its own recovery append.
    Recovery,
    /// Turn k streaming, on JetStream with the nats-server iteratr runs itself.
    JetStream(usize),
}

impl Point {
    fn pick(kind: u64, rng: &mut Rng) -> Point {
        match kind % 10 {
            0 => Point::Initialize,
            1 => Point::NewSession(rng.range(1, 2)),
            2 => Point::Streaming(rng.range(0, 2) as usize),
            // task_status_set appends: TAS-1 in progress, completed, TAS-2 the same, TAS-3.
            3 => Point::ToolAppend(rng.range(1, 5) as u32),
            4 => Point::ToolAppended(rng.range(1, 5) as u32),
            // iteration_finished appends: planning, two work iterations, the finishing one.
            5 => Point::IterationEndAppend(rng.range(1, 4) as u32),
            6 => Point::Hook,
            7 => Point::Commit,
            8 => Point::Recovery,
            _ => Point::JetStream(rng.range(0, 2) as usize),
        }
    }

    fn nats(self) -> bool {
        matches!(self, Point::JetStream(_))
    }

    fn streaming_turn(self) -> Option<usize> {
        match self {
            Point::Streaming(k) | Point::JetStream(k) => Some(k),
            Point::Recovery => Some(1),
            _ => None,
        }
    }
}

/// The script of the build that is killed: plan, TAS-1, TAS-2, finish; the streaming turn (if
/// any) stops in the middle of its work and waits forever.
fn killed_script(point: Point) -> Script {
    let mut turns = vec![
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ];
    if let Some(k) = point.streaming_turn() {
        let actions = &mut turns[k].actions;
        // After the task is taken (work turns start with it), before the work is done.
        let at = usize::from(k > 0);
        for (i, a) in [
            Action::say("Working on it: "),
            Action::say("reading the code, "),
            Action::wait_file(".iteratr/never"),
        ]
        .into_iter()
        .enumerate()
        {
            actions.insert(at + i, a);
        }
    }
    Script::turns(turns)
}

const HOOK: &str = "[hooks.post_iteration]\ncommand = \"[ -e .iteratr/hook-ran ] && exit 0; touch .iteratr/hook-ran; sleep 600 & echo $! > .iteratr/hook-child.pid; wait\"\n";
const PRE_COMMIT: &str = "#!/bin/sh\n[ -e .iteratr/commit-ran ] && exit 0\ntouch .iteratr/commit-ran\nsleep 600 & echo $! > .iteratr/commit-child.pid\nwait\n";

/// The project of the `i`-th kill. Its agents are stubborn (they ignore SIGTERM and their stdin
/// closing, and start a grandchild that does the same; every other kill, the grandchild leaves
/// the agent's process group and session): only iteratr's guard ends them when it is killed.
fn project(point: Point, i: usize) -> Project {
    let mode = if i.is_multiple_of(2) {
        "group"
    } else {
        "setsid"
    };
    let p = Project::new(killed_script(point)).with_env("ITERATR_FAKE_AGENT_STUBBORN", mode);
    std::fs::create_dir_all(p.path().join(".iteratr")).unwrap();
    match point {
        Point::Hook => std::fs::write(p.path().join("iteratr.toml"), HOOK).unwrap(),
        Point::Commit => {
            p.init_git();
            let hook = p.path().join(".git/hooks/pre-commit");
            std::fs::write(&hook, PRE_COMMIT).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        _ => {}
    }
    p
}

fn build(p: &Project, point: Point, extra: &[&str]) -> Command {
    let mut args = vec!["--headless", "--retry-delay", "100ms"];
    if point.nats() {
        args.push("--nats-server");
    }
    args.extend(extra);
    p.command(&args)
}

fn wait_for_file(p: &Project, name: &str) {
    let path = p.path().join(name);
    wait_until(
        PATIENCE,
        || format!("{} never appeared", path.display()),
        || path.exists(),
    );
}

/// Starts the build and kills it at `point`; returns how it ended.
fn kill_at(p: &Project, point: Point) -> std::process::ExitStatus {
    let mut cmd = build(p, point, &[]);
    let self_kill = match point {
        Point::ToolAppend(n) => Some(format!("append:task_status_set#{n}")),
        Point::ToolAppended(n) => Some(format!("appended:task_status_set#{n}")),
        Point::IterationEndAppend(n) => Some(format!("append:iteration_finished#{n}")),
        _ => None,
    };
    match (point, &self_kill) {
        (_, Some(at)) => {
            cmd.env(iteratr::fault::ENV, at);
        }
        (Point::Initialize, _) => {
            cmd.env("ITERATR_FAKE_AGENT_STALL", "initialize");
        }
        (Point::NewSession(n), _) => {
            cmd.env("ITERATR_FAKE_AGENT_STALL", format!("new_session#{n}"));
        }
        _ => {}
    }
    let mut child = cmd.spawn().unwrap();
    if self_kill.is_some() {
        return wait_exit(&mut child);
    }
    match point {
        Point::Initialize | Point::NewSession(_) => p.wait_for_agent("stalled"),
        Point::Hook => wait_for_file(p, ".iteratr/hook-child.pid"),
        Point::Commit => wait_for_file(p, ".iteratr/commit-child.pid"),
        _ => p.wait_for_agent("waiting"),
    }
    child.kill().unwrap(); // SIGKILL
    wait_exit(&mut child)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let mut status = None;
    wait_until(
        PATIENCE,
        || "iteratr did not end",
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    status.unwrap()
}

/// What the kills checked, counted as the checks pass (for the figures `./reliability.sh`
/// prints): task changes the agent was told succeeded and found in the log, events read back
/// whole from the store, and processes iteratr or its children started that were found gone.
static ACKED_FOUND: AtomicUsize = AtomicUsize::new(0);
static EVENTS_READ: AtomicUsize = AtomicUsize::new(0);
static PROCESSES_GONE: AtomicUsize = AtomicUsize::new(0);

/// No process iteratr started is left: nothing works in the project directory or names it,
/// every agent's process group is empty, the grandchildren the agents started (some in sessions
/// of their own) and the children hooks started are gone.
fn assert_nothing_left(p: &Project) {
    assert_nothing_left_of(p, true);
}

/// [`assert_nothing_left`]; `stubborn`: each agent that started had time to start its grandchild.
fn assert_nothing_left_of(p: &Project, stubborn: bool) {
    crate::common::fake_agent::assert_gone(&p.agent_log(), stubborn);
    let dir = p.path().canonicalize().unwrap();
    let needle = dir.display().to_string();
    let agents = log::pids::<log::Start>(&p.agent_log());
    let children: Vec<u32> = ["hook-child.pid", "commit-child.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(".iteratr").join(f)).ok())
        .map(|pid| pid.trim().parse().unwrap())
        .collect();
    let named = crate::common::fake_agent::processes(&p.agent_log()).len() + children.len();
    let left = || {
        let mut left = procs::working_in(&dir);
        left.extend(procs::with_cmdline(&needle));
        for pgid in &agents {
            left.extend(
                procs::in_group(*pgid)
                    .into_iter()
                    .map(|pid| (pid, format!("agent group {pgid}"))),
            );
        }
        left.extend(
            children
                .iter()
                .filter(|pid| procs::running(**pid))
                .map(|pid| (*pid, "a hook's child".to_string())),
        );
        left
    };
    wait_until(
        PATIENCE,
        || format!("left running: {:?}", left()),
        || left().is_empty(),
    );
    PROCESSES_GONE.fetch_add(named, Ordering::Relaxed);
}

/// The session as `status --json` shows it (through the managed server on JetStream).
fn status(p: &Project, point: Point) -> Value {
    let mut cmd = Command::new(crate::common::bin());
    cmd.current_dir(p.path());
    if point.nats() {
        cmd.arg("--nats-server");
    }
    crate::common::status_json(cmd, "demo")
}

/// The session's events as the store holds them, checked whole: read from SQLite directly, or
/// from JetStream through the data dir's managed server.
fn logged(p: &Project, point: Point) -> Vec<iteratr::session::Event> {
    let events = if point.nats() {
        jetstream_log(p.path(), "demo")
    } else {
        sqlite_log(&p.path().join(".iteratr"))
            .remove("demo")
            .unwrap_or_default()
    };
    EVENTS_READ.fetch_add(events.len(), Ordering::Relaxed);
    events
}

/// The task status changes the agent was told succeeded, in order.
fn acknowledged(p: &Project) -> Vec<(String, String)> {
    p.agent_events::<log::Tool>()
        .into_iter()
        .filter(|e| e.name == "task-status" && !e.is_error)
        .map(|e| {
            let a = &e.args;
            (
                a["id"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The task status changes the log holds, in order.
fn status_changes(events: &[iteratr::session::Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskStatusSet { task, status } => {
                Some((format!("TAS-{task}"), status.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// At a kill inside the n-th status change's append, the change is not stored; right after it
/// committed, it is; either way the agent was never told it succeeded.
fn assert_interrupted_change(p: &Project, point: Point) {
    let (n, kept) = match point {
        Point::ToolAppend(n) => (n as usize, false),
        Point::ToolAppended(n) => (n as usize, true),
        _ => return,
    };
    let told = acknowledged(p);
    let stored = status_changes(&logged(p, point));
    assert_eq!(
        told.len(),
        n - 1,
        "{point:?}: the agent was told of {told:?}"
    );
    assert_eq!(
        stored.len(),
        if kept { n } else { n - 1 },
        "{point:?}: the log holds {stored:?}"
    );
    assert_eq!(stored[..n - 1], told[..], "{point:?}");
}

/// Every task status change the agent was told succeeded is in the log (read from the store
/// directly, which also checks it is whole), in the order it was told.
fn assert_acknowledged_kept(p: &Project, point: Point) {
    let events = logged(p, point);
    let logged: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskStatusSet { task, status } => {
                Some((format!("TAS-{task}"), status.to_string()))
            }
            _ => None,
        })
        .collect();
    let acked = acknowledged(p);
    let mut rest = logged.iter();
    for call in &acked {
        assert!(
            rest.any(|l| l == call),
            "acknowledged {call:?} is not in the log (in order): {logged:?}"
        );
    }
    ACKED_FOUND.fetch_add(acked.len(), Ordering::Relaxed);
}

/// Checks the log and returns the number of the iteration left running and the tasks left in
/// progress.
fn after_the_kill(p: &Project, point: Point) -> (Option<u64>, Vec<String>) {
    assert_acknowledged_kept(p, point);
    let s = status(p, point);
    let running = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|it| it["finished_at_ms"].is_null())
        .map(|it| it["number"].as_u64().unwrap());
    let in_progress = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "in_progress")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    (running, in_progress)
}

fn survive(p: &Project, point: Point) {
    let killed = kill_at(p, point);
    assert_eq!(
        killed.signal(),
        Some(9),
        "{point:?}: iteratr was not killed but ended with {killed}"
    );
    assert_nothing_left(p);
    assert_interrupted_change(p, point);
    let (running, in_progress) = after_the_kill(p, point);
    if let Point::Recovery = point {
        // The next build dies inside the append that closes the iteration: none of it is stored.
        let mut cmd = build(p, point, &[]);
        cmd.env(iteratr::fault::ENV, "append:task_released");
        let again = wait_exit(&mut cmd.spawn().unwrap());
        assert_eq!(
            again.signal(),
            Some(9),
            "the recovery was not killed: {again}"
        );
        assert_nothing_left(p);
        assert_eq!(
            after_the_kill(p, point),
            (running, in_progress.clone()),
            "half a recovery is stored"
        );
    }
    let _ = std::fs::remove_file(p.path().join("agent.log"));
    p.script(&catch_up_script());
    let out = finish(build(p, point, &[]).spawn().unwrap(), PATIENCE);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{point:?}: {text}\n{}",
        stderr(&out)
    );
    let s = status(p, point);
    assert_eq!(s["completed"], true, "{s}");
    if let Some(n) = running {
        let it = s["iterations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|it| it["number"] == n)
            .unwrap();
        assert_eq!(it["outcome"], "interrupted", "{it}");
        let never = format!("iteration {n} never ended");
        assert!(it["detail"].as_str().unwrap().starts_with(&never), "{it}");
        assert!(text.contains(&never), "{text}");
        for id in &in_progress {
            assert!(
                text.contains(&format!("{id} → remaining ({never})")),
                "{id}: {text}"
            );
        }
        // The released tasks are ready again: task-next (highest priority, then oldest; it does
        // not prefer released tasks) offers the oldest of them, ahead of newer remaining tasks.
        if let Some(first) = in_progress
            .iter()
            .min_by_key(|id| id[4..].parse::<u32>().unwrap())
        {
            let next = p
                .agent_events::<log::Tool>()
                .into_iter()
                .find(|e| e.name == "task-next")
                .unwrap();
            assert!(
                next.text.contains(first.as_str()),
                "task-next offered {next:?}, not {first}"
            );
        }
    } else {
        assert!(
            in_progress.is_empty(),
            "tasks in progress with no iteration running: {in_progress:?}"
        );
    }
    logged(p, point);
    assert_nothing_left(p);
}

#[test]
fn reliability_kills_at_20_seeded_points_leave_a_whole_log_and_the_next_build_completes() {
    crate::common::nats::server_binary();
    let mut rng = Rng::from_env("ITERATR_RELIABILITY_SEED", "reliability_kills");
    // Every kind of point once, then ten more chosen by the seed, in the seed's order.
    let mut kinds: Vec<u64> = (0..10).chain((0..10).map(|_| rng.range(0, 9))).collect();
    rng.shuffle(&mut kinds);
    let points: Vec<Point> = kinds
        .into_iter()
        .map(|k| Point::pick(k, &mut rng))
        .collect();
    let mut survived = 0;
    for (i, point) in points.iter().enumerate() {
        report(format!("kill {}/{}: {point:?}", i + 1, points.len()));
        survive(&project(*point, i), *point);
        survived += 1;
    }
    // Every figure counted as its check passed (a failed check stops the test before this).
    report(format!(
        "kills survived {survived} of {}; acknowledged task changes found in the log {}, lost 0; events read back whole {}, partial 0; processes found gone {}, left 0",
        points.len(),
        ACKED_FOUND.load(Ordering::Relaxed),
        EVENTS_READ.load(Ordering::Relaxed),
        PROCESSES_GONE.load(Ordering::Relaxed),
    ));
}

/// A second process appending batches to the embedded log is killed mid-append (the seeded suite
/// above kills iteratr itself inside its own appends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_kills_a_writer_mid_append_leaves_a_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(dir.path()).unwrap();
    let mut child = spawn_worker(dir.path(), &["batches-forever"]);
    // Let it write a good while, then kill it without warning.
    let mut waited = 0;
    while log.last_seq(SESSION).await.unwrap() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 1500, "the worker wrote too little");
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the worker died on its own"
        );
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();

    // A fresh open (as after a crash) reads every event whole, batches all or nothing.
    drop(log);
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path()).unwrap());
    let events = read_all(log.as_ref(), SESSION, 0).await.unwrap();
    assert!(events.len() >= 300);
    let mut batches: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        let EventKind::UserMessage { text, .. } = &e.event.kind else {
            panic!()
        };
        let words: Vec<&str> = text.split(' ').collect();
        let (batch, n): (u64, usize) = (words[1].parse().unwrap(), words[5].parse().unwrap());
        let entry = batches.entry(batch).or_insert((0, n));
        entry.0 += 1;
    }
    for (batch, (got, n)) in &batches {
        assert_eq!(got, n, "batch {batch} is torn");
    }
    assert_eq!(
        *batches.keys().next_back().unwrap() + 1,
        batches.len() as u64,
        "no batch lost"
    );

    // Appending goes on where the log ends.
    let handle = SessionHandle::open(Arc::clone(&log), SESSION)
        .await
        .unwrap();
    let before = log.last_seq(SESSION).await.unwrap();
    let done = handle
        .execute(
            &SessionCommand::UserMessage {
                text: "after the crash".into(),
                who: String::new(),
            },
            Author::User,
        )
        .await
        .unwrap();
    assert_eq!(done.events[0].seq, before + 1);
}

/// iteratr killed right after starting a child that must not outlive it (the agent, a hook, a
/// git commit), before its spawn even returned: the child was told to stop, not die, when
/// iteratr dies (so its own children stay findable), and only its watcher ends it. The chaos run
/// once found such a child left stopped for good, a `git rebase` started the instant its worker
/// was killed; now the child tells its watcher its pid itself, before it runs.
#[test]
fn a_build_killed_the_instant_it_starts_a_child_leaves_nothing() {
    for (program, point) in [
        ("fake_agent", Point::Streaming(1)),
        ("sh", Point::Hook),
        ("git", Point::Commit),
    ] {
        let p = project(point, 0);
        let mut cmd = build(&p, point, &[]);
        cmd.env(iteratr::fault::ENV, format!("spawned:{program}"));
        let killed = wait_exit(&mut cmd.spawn().unwrap());
        assert_eq!(
            killed.signal(),
            Some(9),
            "{program}: iteratr was not killed at its spawn but ended with {killed}"
        );
        // Killed at once, an agent may not have started its grandchild yet.
        assert_nothing_left_of(&p, false);
    }
}
