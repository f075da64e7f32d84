//! Several workers on one spec (`build --workers N`): each claims tasks from the shared session
//! log, works in its own git worktree, and integrates through compare-and-set on the integration
//! branch. The fake agent's `work` action stands in for the model: it takes the task `task-next`
//! gives, writes what the task says (`write PATH: TEXT`), and completes it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

use crate::common::project::*;
pub use crate::common::project::{team_project, team_project_in};

/// The session's events, as the log holds them.
pub async fn events(p: &Project) -> Vec<iteratr::session::Event> {
    let log = iteratr::store::SqliteLog::open(&p.path().join(".iteratr")).unwrap();
    iteratr::store::read_all(&log, "demo", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

fn claims_by_task(events: &[iteratr::session::Event]) -> BTreeMap<u64, Vec<String>> {
    let mut claims: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in events {
        if let iteratr::session::EventKind::TaskClaimed { task, worker, .. } = &e.kind {
            claims.entry(*task).or_default().push(worker.clone());
        }
    }
    claims
}

/// Task ids in the order they were integrated.
fn integration_order(events: &[iteratr::session::Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            iteratr::session::EventKind::TaskIntegrated { task, .. } => Some(*task),
            _ => None,
        })
        .collect()
}

/// The number of `task_claimed` events in the project's log so far.
fn claims_logged(p: &Project) -> usize {
    let db = p.path().join(".iteratr/iteratr.db");
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row(
        "SELECT count(*) FROM events WHERE type = 'task_claimed'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |n| n as usize)
}

/// Runs `cmd` (a build of `p` whose agents wait for `gate` before they work) and opens the gate
/// once `claims` tasks are claimed: every worker then holds its task before any integrates,
/// however slowly each starts.
fn build_with_gate(
    p: &Project,
    mut cmd: std::process::Command,
    gate: &std::path::Path,
    claims: usize,
) -> std::process::Output {
    let build = crate::common::procs::KillOnDrop::new(cmd.spawn().unwrap());
    crate::common::wait_until(
        crate::common::PATIENCE,
        || format!("{claims} claims never came: {}", claims_logged(p)),
        || claims_logged(p) >= claims,
    );
    std::fs::write(gate, "").unwrap();
    finish(build.into_inner(), std::time::Duration::from_secs(90))
}

/// A fake agent's script: plan with `planning`, then every prompt wait for `gate` and work.
fn gated_script(planning: Vec<Action>, gate: &std::path::Path, sleep_ms: u64) -> Script {
    Script::turns([Turn::of(planning)])
        .repeat(Turn::of([Action::wait_file(gate), Action::work(sleep_ms)]))
}

/// No worktree left beside the main checkout, and no worker branch.
pub fn assert_no_worktree_left(dir: &std::path::Path) {
    let list = git(dir, &["worktree", "list", "--porcelain"]);
    assert_eq!(
        list.lines().filter(|l| l.starts_with("worktree ")).count(),
        1,
        "{list}"
    );
    let branches = git(dir, &["branch", "--list", "iteratr/*"]);
    assert!(branches.is_empty(), "{branches}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_claim_each_task_once_and_integrate_in_dependency_order() {
    let tasks: Vec<String> = (1..=9).map(|n| format!("write f{n}.txt: {n}")).collect();
    let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
    // Chains: 1 → 2 → 3, 4 → 5 and 4 → 6; 7, 8, 9 stand alone.
    let depends = |id: &str, on: &str| tool("task-depends", json!({"id": id, "depends_on": on}));
    let planning = vec![
        depends("TAS-2", "TAS-1"),
        depends("TAS-3", "TAS-2"),
        depends("TAS-5", "TAS-4"),
        depends("TAS-6", "TAS-4"),
        summary("Planned: three chains"),
    ];
    // Agents that ignore SIGTERM and their stdin closing, each with a grandchild that does too:
    // only iteratr's own cleanup ends them.
    let p = team_project(&tasks, planning, 150).with_env("ITERATR_FAKE_AGENT_STUBBORN", "setsid");
    let out = p.build(&["--headless", "--workers", "3"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for w in ["[w1]", "[w2]", "[w3]"] {
        assert!(text.contains(w), "no line of {w}: {text}");
    }

    let events = events(&p).await;
    // Every task claimed exactly once.
    let claims = claims_by_task(&events);
    assert_eq!(claims.len(), 9, "{claims:?}");
    assert!(claims.values().all(|c| c.len() == 1), "{claims:?}");
    let workers: std::collections::BTreeSet<&String> = claims.values().flatten().collect();
    assert!(workers.len() >= 2, "the work was not shared: {claims:?}");
    // Integrated once each, and a dependent claimed only after its dependency was integrated.
    let order = integration_order(&events);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=9).collect::<Vec<u64>>(), "{order:?}");
    let position = |what: &str, t: u64| {
        events
            .iter()
            .position(|e| match &e.kind {
                iteratr::session::EventKind::TaskClaimed { task, .. } => {
                    what == "claimed" && *task == t
                }
                iteratr::session::EventKind::TaskIntegrated { task, .. } => {
                    what == "integrated" && *task == t
                }
                _ => false,
            })
            .unwrap_or_else(|| panic!("TAS-{t} never {what}"))
    };
    for (task, dep) in [(2, 1), (3, 2), (5, 4), (6, 4)] {
        assert!(
            position("integrated", dep) < position("claimed", task),
            "TAS-{task} claimed before TAS-{dep} was integrated: {order:?}"
        );
    }
    // Every file on the integration branch, one commit a task, and the checkout follows.
    for n in 1..=9 {
        let file = git(p.path(), &["show", &format!("main:f{n}.txt")]);
        assert_eq!(file, n.to_string());
        assert_eq!(
            std::fs::read_to_string(p.path().join(format!("f{n}.txt"))).unwrap(),
            format!("{n}\n")
        );
    }
    let log = git(p.path(), &["log", "--format=%s", "main"]);
    assert_eq!(log.lines().count(), 10, "{log}");
    let status = git(p.path(), &["status", "--porcelain"]);
    assert!(
        status.is_empty(),
        "the main checkout is not clean: {status}"
    );
    // The session is complete; no worktree, branch or agent is left.
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    for t in s["tasks"].as_array().unwrap() {
        assert_eq!(t["integrated"].as_str().unwrap().len(), 40, "{t}");
        assert!(t.get("claim").is_none(), "{t}");
    }
    // Each worker iteration changed one task only: the task its worker claimed; and every task
    // was worked on in an iteration of the worker that claimed it.
    let mut worked = std::collections::BTreeSet::new();
    for it in s["iterations"].as_array().unwrap().iter().skip(1) {
        let changed = it["tasks_changed"].as_array().unwrap();
        assert_eq!(changed.len(), 1, "{it}");
        let id = changed[0].as_u64().unwrap();
        let worker = it["worker"].as_str().unwrap();
        assert_eq!(claims[&id], [worker], "{it}\n{claims:?}");
        worked.insert(id);
    }
    assert_eq!(worked.len(), 9, "{s}");
    assert_no_worktree_left(p.path());
    // No agent outlived iteratr, nor what the agents started.
    for pid in log::pids::<log::Start>(&p.agent_log()) {
        assert!(
            !crate::common::procs::running(pid),
            "agent {pid} still runs"
        );
    }
    crate::common::fake_agent::assert_gone(&p.agent_log(), true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_editing_the_same_line_conflict_and_the_agent_resolves_it() {
    let p = team_project(
        &["write shared.txt: alpha", "write shared.txt: beta"],
        vec![summary("Planned")],
        0,
    );
    // Both workers hold their task before either works on it: the second to integrate conflicts.
    let gate = p.path().join(".iteratr/both-claimed");
    p.script(&gated_script(vec![summary("Planned")], &gate, 0));
    let out = build_with_gate(&p, p.command(&["--headless", "--workers", "2"]), &gate, 2);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    // The second rebase stopped on the conflict, and its agent was asked to resolve it.
    assert!(
        text.contains("the rebase conflicts in shared.txt"),
        "{text}"
    );
    let asked: Vec<log::Prompt> = p
        .agent_events::<log::Prompt>()
        .into_iter()
        .filter(|e| e.text.contains("stopped with conflicts"))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    // Both changes are integrated, without a marker left.
    let shared = git(p.path(), &["show", "main:shared.txt"]);
    let mut lines: Vec<&str> = shared.lines().collect();
    lines.sort();
    assert_eq!(lines, ["alpha", "beta"], "{shared}");
    let events = events(&p).await;
    assert_eq!(integration_order(&events).len(), 2);
    assert_no_worktree_left(p.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_claim_expires_and_another_worker_completes_its_task() {
    // The build's two workers each hold a task and wait (for the gate) until the joined worker's
    // agent works on the third; the build's claims last the default time, the joined worker's
    // 5 s, so only the killed worker's claim can expire.
    let p = team_project(
        &["write one.txt: 1", "write two.txt: 2", "write three.txt: 3"],
        vec![summary("Planned")],
        0,
    );
    let gate = p.path().join(".iteratr/joined-works");
    p.script(&gated_script(vec![summary("Planned")], &gate, 0));
    // A worker that joins from another process, whose agent takes a minute over its task.
    let slow = p.path().join("slow.json");
    std::fs::write(
        &slow,
        Script::turns([])
            .repeat(Turn::of([Action::work(60_000)]))
            .to_json(),
    )
    .unwrap();
    let slow_log = p.path().join("slow-agent.log");
    let mut worker = p
        .worker_command(&["--headless", "-n", "demo", "--claim-ttl", "5s"])
        .env("ITERATR_FAKE_AGENT_SCRIPT", &slow)
        .env("ITERATR_FAKE_AGENT_LOG", &slow_log)
        // An agent that outlives a plain SIGKILL of the worker unless iteratr's guard kills it
        // and its grandchild (in a session of its own).
        .env("ITERATR_FAKE_AGENT_STUBBORN", "setsid")
        .spawn()
        .unwrap();
    let joined = format!("-{}-w1", worker.id());
    let build = crate::common::procs::KillOnDrop::new(
        p.command(&["--headless", "--workers", "2"])
            .spawn()
            .unwrap(),
    );
    // Once the joined worker's agent works on its task, the worker dies at once.
    crate::common::wait_until(
        crate::common::PATIENCE,
        || "the joined worker's agent never started a task".to_string(),
        || {
            std::fs::read_to_string(&slow_log)
                .unwrap_or_default()
                .contains("in_progress")
        },
    );
    worker.kill().unwrap();
    let _ = worker.wait();
    std::fs::write(&gate, "").unwrap();
    let out = finish(build.into_inner(), std::time::Duration::from_secs(90));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));

    let events = events(&p).await;
    let claims = claims_by_task(&events);
    let taken_over: Vec<(&u64, &Vec<String>)> =
        claims.iter().filter(|(_, by)| by.len() == 2).collect();
    assert_eq!(taken_over.len(), 1, "{claims:?}");
    let (task, by) = taken_over[0];
    assert!(by[0].ends_with(&joined), "{claims:?}");
    assert!(["w1", "w2"].contains(&by[1].as_str()), "{claims:?}");
    // Every other task claimed once, by one of the build's workers.
    for (t, by) in &claims {
        assert!(
            t == task || (by.len() == 1 && ["w1", "w2"].contains(&by[0].as_str())),
            "{claims:?}"
        );
    }
    let expired = events.iter().any(|e| {
        matches!(&e.kind, iteratr::session::EventKind::TaskUnclaimed { task: t, expired: true, worker, .. }
            if t == task && *worker == by[0])
    });
    assert!(expired, "no expiry recorded for TAS-{task}");
    // Nothing is done twice: each task integrated once, by the worker that holds its last claim
    // (for the killed worker's task, the build's worker that took it over).
    let order = integration_order(&events);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3], "{order:?}");
    for e in &events {
        if let iteratr::session::EventKind::TaskIntegrated {
            task: t, worker, ..
        } = &e.kind
        {
            assert_eq!(
                worker.as_deref(),
                claims[t].last().map(String::as_str),
                "TAS-{t} integrated by another worker than its last claimer: {claims:?}"
            );
        }
    }
    for (file, text) in [("one", "1"), ("two", "2"), ("three", "3")] {
        assert_eq!(git(p.path(), &["show", &format!("main:{file}.txt")]), text);
    }
    assert!(text.contains("claim expired"), "{text}");
    // The killed worker's iteration is recorded as interrupted, not left running.
    let s = p.status();
    let killed: Vec<&Value> = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["worker"] == by[0].as_str())
        .collect();
    assert!(!killed.is_empty(), "{s}");
    assert!(killed.iter().all(|i| i["outcome"] == "interrupted"), "{s}");
    // The killed worker's agent, and what it started, did not outlive it.
    crate::common::fake_agent::assert_gone(&crate::common::fake_agent::read_log(&slow_log), true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_of_an_agent_without_http_claim_through_their_stdio_server() {
    let p = team_project(
        &["write a.txt: a", "write b.txt: b", "write c.txt: c"],
        vec![summary("Planned")],
        100,
    )
    .with_env("ITERATR_FAKE_AGENT_NO_HTTP", "1");
    // This project does not ignore the data dir: the worktrees in it still never show in git.
    std::fs::write(p.path().join(".gitignore"), "script.json*\nagent.log\n").unwrap();
    git(
        p.path(),
        &["commit", "--quiet", "-am", "the data dir is not ignored"],
    );
    let mut build = p
        .command(&["--headless", "--workers", "2"])
        .spawn()
        .unwrap();
    let mut listed = Vec::new();
    let started = std::time::Instant::now();
    while build.try_wait().unwrap().is_none() && started.elapsed().as_secs() < 60 {
        let status = git(
            p.path(),
            &["status", "--porcelain", "--untracked-files=all"],
        );
        listed.extend(
            status
                .lines()
                .filter(|l| l.contains("worktrees"))
                .map(str::to_string),
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = finish(build, std::time::Duration::from_secs(60));
    assert!(listed.is_empty(), "git listed the worktrees: {listed:?}");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let servers = p.agent_events::<log::NewSession>();
    let worker_args: Vec<&log::McpServer> = servers
        .iter()
        .flat_map(|e| &e.mcp_servers)
        .filter(|s| {
            matches!(s, log::McpServer::Stdio { args, .. }
                if args.iter().any(|a| a.contains("--worker")))
        })
        .collect();
    assert!(!worker_args.is_empty(), "{servers:?}");
    let claims = claims_by_task(&events(&p).await);
    assert_eq!(claims.len(), 3, "{claims:?}");
    assert!(claims.values().all(|c| c.len() == 1), "{claims:?}");
    for f in ["a", "b", "c"] {
        assert_eq!(git(p.path(), &["show", &format!("main:{f}.txt")]), f);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_fails_after_the_rebase_blocks_the_task_and_keeps_its_work() {
    let p = team_project(
        &["write a.txt: a", "write b.txt: b"],
        vec![summary("Planned")],
        0,
    );
    // Both workers hold their task before either works on it, so the second change is checked
    // after rebasing on the first.
    let gate = p.path().join(".iteratr/both-claimed");
    p.script(&gated_script(vec![summary("Planned")], &gate, 0));
    // Each change passes alone; together they need a file neither task writes.
    std::fs::write(
        p.path().join("iteratr.toml"),
        "[hooks.post_iteration]\ncommand = \"if [ -f a.txt ] && [ -f b.txt ] && [ ! -f both.txt ]; then echo 'CHECK: a.txt and b.txt need both.txt'; exit 1; fi\"\nfix_rounds = 1\n",
    )
    .unwrap();
    git(p.path(), &["add", "iteratr.toml"]);
    git(p.path(), &["commit", "--quiet", "-m", "the check"]);
    let out = build_with_gate(&p, p.command(&["--headless", "--workers", "2"]), &gate, 2);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    // The agent was asked to fix the check (it did not), then the task was blocked.
    let asked = p
        .agent_events::<log::Prompt>()
        .into_iter()
        .filter(|e| e.text.contains("CHECK: a.txt and b.txt"))
        .count();
    assert_eq!(asked, 1, "{text}");
    let s = p.status();
    let blocked: Vec<&Value> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{s}");
    let id = blocked[0]["id"].as_str().unwrap();
    assert!(blocked[0].get("integrated").is_none(), "{s}");
    let note = s["notes"][0]["content"].as_str().unwrap();
    assert!(
        note.contains(id)
            && note.contains("fails after rebasing")
            && note.contains("kept on branch"),
        "{note}"
    );
    // Only the other task's work is on main; the blocked work is on its own branch.
    let files = git(p.path(), &["ls-tree", "--name-only", "main"]);
    assert_eq!(
        files
            .lines()
            .filter(|f| ["a.txt", "b.txt"].contains(f))
            .count(),
        1,
        "{files}"
    );
    let kept = git(
        p.path(),
        &["branch", "--list", &format!("iteratr/demo/*-{id}")],
    );
    assert_eq!(kept.lines().count(), 1, "{kept}");
    let file = if files.contains("a.txt") {
        "b.txt"
    } else {
        "a.txt"
    };
    git(p.path(), &["show", &format!("{}:{file}", kept.trim())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_counts_every_worker_together() {
    let tasks: Vec<String> = (1..=9).map(|n| format!("write u{n}.txt: {n}")).collect();
    let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
    let p = team_project(&tasks, vec![summary("Planned")], 200);
    p.script(
        &Script::turns([Turn::of([summary("Planned")])])
            .repeat(Turn::of([Action::usage(600, 0), Action::work(200)])),
    );
    let out = p.build(&["--headless", "--workers", "3", "--max-tokens", "1000"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(6), "{text}\n{}", stderr(&out));
    assert!(text.contains("--max-tokens"), "{text}");
    // 600 tokens an iteration: the team stopped once two iterations were counted (the third
    // worker finishes the iteration it was running), long before nine.
    let s = p.status();
    let worked = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["worker"].is_string())
        .count();
    assert!((2..=4).contains(&worked), "{worked} iterations: {s}");
    assert_eq!(s["completed"], false, "{s}");
    assert_no_worktree_left(p.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_end_hook_runs_once_for_the_whole_team() {
    let p = team_project(
        &["write a.txt: a", "write b.txt: b"],
        vec![summary("Planned")],
        100,
    );
    std::fs::write(
        p.path().join("iteratr.toml"),
        "[hooks.session_end]\ncommand = \"echo \\\"$ITERATR_SUMMARY\\\" >> ended.log\"\n",
    )
    .unwrap();
    let out = p.build(&["--headless", "--workers", "2"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let ended = std::fs::read_to_string(p.path().join("ended.log")).unwrap();
    assert_eq!(ended.lines().count(), 1, "{ended}");
    assert!(
        ended.contains("session complete: 2 task(s) integrated"),
        "{ended}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_a_single_build_left_in_progress_is_worked_on_by_the_workers() {
    let p = team_project(
        &["write a.txt: a", "write b.txt: b"],
        vec![summary("Planned")],
        100,
    );
    // A single build whose agent starts TAS-1 and stops there.
    p.script(&Script::turns([
        Turn::of([summary("Planned")]),
        Turn::of([status_of("TAS-1", "in_progress"), summary("started")]),
    ]));
    let out = p.build(&["--headless", "-i", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    p.script(&Script::turns([]).repeat(Turn::of([Action::work(100)])));
    let out = p.build(&["--headless", "--workers", "2"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("TAS-1 in progress without a worker"),
        "{text}"
    );
    for f in ["a", "b"] {
        assert_eq!(git(p.path(), &["show", &format!("main:{f}.txt")]), f);
    }
}
