//! Rules of workers' claims: one holder a task, renewals, expiry (with the worker's iteration
//! closed), release, and dependents that wait until the work is integrated.

use super::*;

fn at(now_ms: i64) -> Ctx {
    Ctx {
        now_ms,
        by: Author::System,
    }
}

fn run(state: &mut SessionState, cmd: Command, now_ms: i64) -> Vec<Event> {
    let events = decide(state, &cmd, at(now_ms)).unwrap();
    for e in &events {
        let seq = state.last_seq + 1;
        state.apply(seq, e);
    }
    events
}

fn claim(state: &mut SessionState, worker: &str, now_ms: i64) -> Option<u64> {
    let cmd = Command::ClaimTask {
        worker: worker.into(),
        ttl_ms: 10_000,
    };
    run(state, cmd, now_ms);
    state.claim_of(worker).map(|t| t.id)
}

/// `worker` claims a task at `now_ms` and starts iteration 1 on it.
fn claim_and_start(state: &mut SessionState, worker: &str, now_ms: i64) {
    claim(state, worker, now_ms);
    let start = Command::StartIteration {
        number: 1,
        planning: false,
        worker: Some(worker.into()),
    };
    run(state, start, now_ms);
}

/// TAS-1 and TAS-2 independent, TAS-3 after TAS-1.
fn session() -> SessionState {
    let mut s = SessionState::default();
    let mut third = NewTask::new("c");
    third.depends_on = vec!["TAS-1".into()];
    run(
        &mut s,
        Command::AddTasks(vec![NewTask::new("a"), NewTask::new("b"), third]),
        0,
    );
    s
}

#[test]
fn two_workers_never_hold_the_same_task_and_a_holder_keeps_its_own() {
    let mut s = session();
    assert_eq!(claim(&mut s, "w1", 1_000), Some(1));
    assert_eq!(claim(&mut s, "w2", 1_000), Some(2));
    // Nothing else is claimable: TAS-3 waits on TAS-1.
    assert_eq!(claim(&mut s, "w3", 1_000), None);
    // Asking again returns the task held, without a new event.
    assert!(
        decide(
            &s,
            &Command::ClaimTask {
                worker: "w1".into(),
                ttl_ms: 10_000
            },
            at(2_000)
        )
        .unwrap()
        .is_empty()
    );
    assert_eq!(s.claim_of("w1").map(|t| t.id), Some(1));
    // A single build's task-next does not offer held tasks.
    assert!(s.claimable_task(2_000).is_none());
}

#[test]
fn a_lapsed_claim_is_expired_with_its_workers_iteration_and_the_task_taken_over() {
    let mut s = session();
    claim_and_start(&mut s, "w1", 1_000);
    let progress = Command::SetStatus {
        task: "TAS-1".into(),
        status: TaskStatus::InProgress,
    };
    run(&mut s, progress, 1_500);
    // Renewed at 9 s: still held at 15 s.
    run(
        &mut s,
        Command::RenewClaims {
            worker: "w1".into(),
        },
        9_000,
    );
    assert_eq!(claim(&mut s, "w2", 15_000), Some(2));
    // Not renewed for 10 s: w3 records the expiry (and the end of w1's iteration) first.
    let events = run(
        &mut s,
        Command::ClaimTask {
            worker: "w3".into(),
            ttl_ms: 10_000,
        },
        19_500,
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(kinds, ["iteration_finished", "task_unclaimed"]);
    assert!(!s.iterations[&1].is_running());
    assert_eq!(s.tasks[&1].status, TaskStatus::Remaining);
    assert!(s.tasks[&1].claim.is_none());
    // The next request takes it.
    assert_eq!(claim(&mut s, "w3", 19_600), Some(1));
    assert!(events.iter().all(|e| e.v <= EVENT_VERSION));
    assert_eq!(events[1].v, 2);
}

#[test]
fn dependents_wait_until_the_work_is_integrated_and_release_is_for_the_holder_only() {
    let mut s = session();
    claim(&mut s, "w1", 1_000);
    let done = Command::SetStatus {
        task: "TAS-1".into(),
        status: TaskStatus::Completed,
    };
    run(&mut s, done, 2_000);
    // Completed but not integrated: TAS-3 is not ready yet.
    assert!(s.ready_tasks().all(|t| t.id != 3));
    // Only the holder can let go.
    let wrong = Command::ReleaseClaim {
        task: 1,
        worker: "w2".into(),
        reason: "no".into(),
    };
    assert!(run(&mut s, wrong, 2_000).is_empty());
    let integrated = Command::RecordIntegration {
        task: 1,
        commit: "0123456789abcdef".into(),
        worker: Some("w1".into()),
    };
    run(&mut s, integrated, 3_000);
    let release = Command::ReleaseClaim {
        task: 1,
        worker: "w1".into(),
        reason: "integrated".into(),
    };
    run(&mut s, release, 3_000);
    assert!(s.ready_tasks().any(|t| t.id == 3));
    assert_eq!(s.tasks[&1].status, TaskStatus::Completed);
    assert!(!s.all_integrated());
    // A bad commit id or worker name is refused.
    let bad = Command::RecordIntegration {
        task: 2,
        commit: "not a commit".into(),
        worker: None,
    };
    assert!(decide(&s, &bad, at(4_000)).is_err());
    let bad_name = Command::ClaimTask {
        worker: "w 1; rm".into(),
        ttl_ms: 10_000,
    };
    assert!(decide(&s, &bad_name, at(4_000)).is_err());
}

/// A worker frozen past its claim's time to live wakes and renews: too late. Its claim ends
/// there (with its iteration), instead of coming back to life under a task another worker may
/// hold by now; and its integration is refused (found by the chaos run).
#[test]
fn a_zombies_renewal_ends_its_lapsed_claim_and_its_integration_is_refused() {
    let mut s = session();
    claim_and_start(&mut s, "w1", 1_000);
    let renew = Command::RenewClaims {
        worker: "w1".into(),
    };
    // Live at 10.9 s: renewed.
    let kinds = |events: &[Event]| -> Vec<&'static str> {
        events.iter().map(|e| e.kind.type_name()).collect()
    };
    assert_eq!(
        kinds(&run(&mut s, renew.clone(), 10_900)),
        ["claims_renewed"]
    );
    // Lapsed at 20.9 s (renewed at 10.9 s, 10 s to live): the claim ends, with its iteration.
    let late = run(&mut s, renew.clone(), 20_900);
    assert_eq!(kinds(&late), ["iteration_finished", "task_unclaimed"]);
    assert!(s.claim_of("w1").is_none());
    assert!(run(&mut s, renew, 21_000).is_empty());
    // Another worker takes it; the zombie's integration is refused.
    assert_eq!(claim(&mut s, "w2", 21_000), Some(1));
    let integrated = Command::RecordIntegration {
        task: 1,
        commit: "0123456789abcdef".into(),
        worker: Some("w1".into()),
    };
    let refused = decide(&s, &integrated, at(21_500)).unwrap_err();
    assert!(
        matches!(refused, DomainError::ClaimLost { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("task-next"), "{refused}");
    // Nor may the holder record it once its own claim has lapsed.
    let late = Command::RecordIntegration {
        task: 1,
        commit: "0123456789abcdef".into(),
        worker: Some("w2".into()),
    };
    assert!(decide(&s, &late, at(40_000)).is_err());
    assert!(decide(&s, &late, at(22_000)).is_ok());
}

/// A worker that completed its task and was killed before integrating it leaves the task
/// completed, not integrated and held by nobody once the claim lapses: it is claimable again
/// (its next holder integrates the work or does it again), and its dependents still wait. Before,
/// nobody could claim it and the session never completed (found by the chaos run).
#[test]
fn a_task_completed_by_a_lost_worker_is_claimable_again_until_it_is_integrated() {
    let mut s = session();
    claim(&mut s, "w1", 1_000);
    let done = Command::SetStatus {
        task: "TAS-1".into(),
        status: TaskStatus::Completed,
    };
    run(&mut s, done, 2_000);
    // While w1's claim runs, nobody else may take it.
    assert_eq!(claim(&mut s, "w2", 3_000), Some(2));
    assert_eq!(claim(&mut s, "w3", 3_000), None);
    // w1 is gone: its claim lapses and w3 takes TAS-1 over, still completed.
    assert_eq!(claim(&mut s, "w3", 12_500), Some(1));
    assert_eq!(s.tasks[&1].status, TaskStatus::Completed);
    assert!(
        s.ready_tasks().all(|t| t.id != 3),
        "TAS-3 waits for the integration"
    );
    let integrated = Command::RecordIntegration {
        task: 1,
        commit: "0123456789abcdef".into(),
        worker: Some("w3".into()),
    };
    run(&mut s, integrated, 13_000);
    // Integrated: no longer offered, and TAS-3 is ready (TAS-2, held by w2, is remaining).
    let ready: Vec<u64> = s.ready_tasks().map(|t| t.id).collect();
    assert_eq!(ready, [2, 3]);
}

/// [`session`] with w1 on TAS-1 in iteration 1 and w2 on TAS-2 in iteration 2, from 1 s.
fn two_workers_at_work() -> SessionState {
    let mut s = session();
    for (n, worker) in [(1, "w1"), (2, "w2")] {
        claim(&mut s, worker, 1_000);
        let start = Command::StartIteration {
            number: n,
            planning: false,
            worker: Some(worker.into()),
        };
        run(&mut s, start, 1_000);
    }
    s
}

#[test]
fn a_change_counts_in_the_iteration_of_the_tasks_holder_and_an_unheld_one_in_nobodys() {
    let mut s = two_workers_at_work();
    // TAS-1 is w1's, in the older of the two iterations running.
    let working = Command::SetStatus {
        task: "TAS-1".into(),
        status: TaskStatus::InProgress,
    };
    run(&mut s, working, 2_000);
    // Nobody holds TAS-3 (a person changes it): no worker's iteration worked on it.
    let priority = Command::SetPriority {
        task: "TAS-3".into(),
        priority: 4,
    };
    run(&mut s, priority, 2_000);
    let changed = |n: u32| {
        s.iterations[&n]
            .tasks_changed
            .iter()
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(changed(1), [1]);
    assert_eq!(changed(2), Vec::<u64>::new());
    assert_eq!(
        s.iterations[&1]
            .worked_on
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(s.tasks[&3].updated_iteration, None);
}

#[test]
fn a_workers_status_change_is_decided_with_the_logs_time_and_refused_once_its_claim_lapsed() {
    let mut s = session();
    claim(&mut s, "w1", 1_000);
    let set = |worker: &str, status| Command::SetHeldStatus {
        task: "TAS-1".into(),
        status,
        worker: worker.into(),
    };
    // Live (ttl 10 s): its holder sets it; another worker may not.
    run(&mut s, set("w1", TaskStatus::InProgress), 5_000);
    assert_eq!(s.tasks[&1].status, TaskStatus::InProgress);
    assert!(matches!(
        decide(&s, &set("w2", TaskStatus::Completed), at(5_000)),
        Err(DomainError::ClaimLost { .. })
    ));
    // Past its time to live, not renewed, nobody else holding it yet: the holder's own change
    // is refused all the same (the tool's earlier look may have found it live).
    let late = decide(&s, &set("w1", TaskStatus::Completed), at(11_001));
    assert!(
        matches!(&late, Err(DomainError::ClaimLost { task, worker }) if task == "TAS-1" && worker == "w1"),
        "{late:?}"
    );
    assert_eq!(s.tasks[&1].status, TaskStatus::InProgress);
}

#[test]
fn a_workers_summary_goes_to_its_own_iteration_even_once_that_was_recorded_as_interrupted() {
    let mut s = two_workers_at_work();
    // w2 renews; w1 does not, and its claim lapses when w3 asks for a task.
    let renew = Command::RenewClaims {
        worker: "w2".into(),
    };
    run(&mut s, renew, 9_000);
    claim(&mut s, "w3", 12_000);
    assert_eq!(s.running_iteration_of(Some("w1")), None);
    assert_eq!(s.running_iteration_of(Some("w2")), Some(2));
    // w1's agent, woken, sums up its work: on its own iteration, not on w2's running one.
    let summary = Command::SummarizeIteration {
        summary: "TAS-1: wrote a.txt".into(),
        worker: Some("w1".into()),
    };
    run(&mut s, summary, 12_500);
    assert_eq!(
        s.iterations[&1].summary.as_deref(),
        Some("TAS-1: wrote a.txt")
    );
    assert_eq!(s.iterations[&2].summary, None);
}
