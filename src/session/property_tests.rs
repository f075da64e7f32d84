//! A property test over random command sequences: the fold, the rules and the log agree.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add(u8, i64, Vec<u8>),
    Batch(Vec<u8>),
    Status(u8, u8),
    Priority(u8, i64),
    Depend(u8, u8),
    Edit(u8, u8),
    Delete(u8),
    Note(u8),
    Start(u8),
    Summary,
    Finish,
    Abandon,
    Complete,
    Reset,
    /// A worker (`w0`..`w2`, or a name that is not one) asks for a task: a claim with a
    /// time to live of 1 s, 5 s, or one out of range.
    Claim(u8, u8),
    Renew(u8),
    Release(u8, u8),
    /// The task's work integrated (a commit id or not one), by a worker or none.
    Integrate(u8, u8, bool),
    /// Time passes (claims lapse).
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), -1i64..6, prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(c, p, d)| Op::Add(c, p, d)),
        1 => prop::collection::vec(any::<u8>(), 0..4).prop_map(Op::Batch),
        4 => (any::<u8>(), 0u8..5).prop_map(|(t, s)| Op::Status(t, s)),
        1 => (any::<u8>(), -1i64..6).prop_map(|(t, p)| Op::Priority(t, p)),
        4 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Depend(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Edit(a, b)),
        1 => any::<u8>().prop_map(Op::Delete),
        1 => any::<u8>().prop_map(Op::Note),
        1 => (0u8..20).prop_map(Op::Start),
        1 => Just(Op::Summary),
        1 => Just(Op::Finish),
        1 => Just(Op::Abandon),
        1 => Just(Op::Complete),
        // A reset empties everything: rare, so that sessions grow.
        1 => prop::bool::weighted(0.1).prop_map(|reset| if reset { Op::Reset } else { Op::Summary }),
        4 => (any::<u8>(), any::<u8>()).prop_map(|(w, t)| Op::Claim(w, t)),
        1 => any::<u8>().prop_map(Op::Renew),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(t, w)| Op::Release(t, w)),
        3 => (any::<u8>(), any::<u8>(), prop::bool::weighted(0.9)).prop_map(|(t, w, ok)| Op::Integrate(t, w, ok)),
        2 => (0u16..3_000).prop_map(Op::Tick),
    ]
}

fn worker(w: u8) -> String {
    if w % 16 == 15 {
        "not a name!".into()
    } else {
        format!("w{}", w % 3)
    }
}

fn task_number(state: &SessionState, n: u8) -> u64 {
    let ids: Vec<u64> = state.tasks.keys().copied().collect();
    if ids.is_empty() || n.is_multiple_of(7) {
        u64::from(n % 40)
    } else {
        ids[n as usize % ids.len()]
    }
}

fn task_ref(state: &SessionState, n: u8) -> String {
    // Mostly existing ids, sometimes unknown ones.
    let ids: Vec<u64> = state.tasks.keys().copied().collect();
    if ids.is_empty() || n.is_multiple_of(7) {
        format!("TAS-{}", n % 40)
    } else {
        format!("TAS-{}", ids[n as usize % ids.len()])
    }
}

fn command(state: &SessionState, op: &Op) -> Command {
    let status = |s: u8| TaskStatus::ALL[s as usize % 5];
    match op {
        Op::Add(c, p, deps) => Command::AddTasks(vec![NewTask {
            content: format!("task {}", c % 30),
            status: None,
            priority: Some(*p),
            depends_on: deps.iter().map(|d| task_ref(state, *d)).collect(),
        }]),
        Op::Batch(cs) => Command::AddTasks(
            cs.iter()
                .map(|c| NewTask::new(format!("task {}", c % 30)))
                .collect(),
        ),
        Op::Status(t, s) => Command::SetStatus {
            task: task_ref(state, *t),
            status: status(*s),
        },
        Op::Priority(t, p) => Command::SetPriority {
            task: task_ref(state, *t),
            priority: *p,
        },
        Op::Depend(a, b) => Command::AddDependency {
            task: task_ref(state, *a),
            depends_on: task_ref(state, *b),
        },
        Op::Edit(t, c) => Command::EditTask {
            task: task_ref(state, *t),
            content: format!("task {}", c % 30),
        },
        Op::Delete(t) => Command::DeleteTask {
            task: task_ref(state, *t),
        },
        Op::Note(n) => Command::AddNote {
            note_type: NoteType::ALL[*n as usize % 4],
            content: format!("note {n}"),
        },
        Op::Start(n) => Command::StartIteration {
            number: u32::from(*n),
            planning: false,
            worker: None,
        },
        Op::Summary => Command::SummarizeIteration {
            summary: "s".into(),
            worker: None,
        },
        Op::Finish => Command::FinishIteration {
            number: state.running_iteration().unwrap_or(0),
            outcome: "end_turn".into(),
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
        Op::Abandon => Command::CloseAbandonedIteration,
        Op::Complete => Command::CompleteSession { summary: None },
        Op::Reset => Command::Reset { reason: None },
        Op::Claim(w, t) => Command::ClaimTask {
            worker: worker(*w),
            ttl_ms: [1_000, 5_000, 10][*t as usize % 3],
        },
        Op::Renew(w) => Command::RenewClaims { worker: worker(*w) },
        Op::Release(t, w) => Command::ReleaseClaim {
            task: task_number(state, *t),
            worker: worker(*w),
            reason: "done".into(),
        },
        Op::Integrate(t, w, ok) => Command::RecordIntegration {
            task: task_number(state, *t),
            commit: if *ok {
                "0123abcd".into()
            } else {
                "main~1".into()
            },
            worker: (*w % 4 != 3).then(|| worker(*w)),
        },
        Op::Tick(_) => unreachable!("time passing is not a command"),
    }
}

/// What a claim must respect, checked on each `task_claimed` against the state before it:
/// the task was free (no live claim of another worker), ready (remaining or stranded, every dependency
/// done, and a dependency a worker completed integrated), and the worker held no task.
fn check_claim(before: &SessionState, now_ms: i64, task: u64, worker: &str) {
    let t = &before.tasks[&task];
    if let Some(c) = &t.claim {
        assert!(
            !c.is_live(now_ms),
            "TAS-{task} claimed by {worker} while {} holds it",
            c.worker
        );
    }
    // Remaining, or completed by a worker that stopped before integrating it (taken up again).
    let stranded =
        t.status == TaskStatus::Completed && t.worker.is_some() && t.integrated.is_none();
    assert!(
        t.status == TaskStatus::Remaining || stranded,
        "TAS-{task} claimed while {} (integrated: {:?})",
        t.status,
        t.integrated
    );
    for d in &t.depends_on {
        let dep = &before.tasks[d];
        assert!(
            dep.status == TaskStatus::Cancelled
                || (dep.status == TaskStatus::Completed
                    && (dep.worker.is_none() || dep.integrated.is_some())),
            "TAS-{task} claimed while its dependency TAS-{d} is {} (integrated: {:?})",
            dep.status,
            dep.integrated
        );
    }
    assert!(
        before.claim_of(worker).is_none(),
        "{worker} claimed TAS-{task} while it holds another"
    );
}

/// Claims after every command: the claimed set is the tasks with a claim, and no worker
/// holds two tasks.
fn check_claims(s: &SessionState) {
    let with_claim: std::collections::BTreeSet<u64> = s
        .tasks
        .values()
        .filter(|t| t.claim.is_some())
        .map(|t| t.id)
        .collect();
    let claimed: std::collections::BTreeSet<u64> = s.claimed_tasks().map(|t| t.id).collect();
    assert_eq!(claimed, with_claim, "claimed set");
    let mut holders = std::collections::BTreeMap::new();
    for t in s.claimed_tasks() {
        let w = &t.claim.as_ref().unwrap().worker;
        if let Some(other) = holders.insert(w.clone(), t.id) {
            panic!("{w} holds TAS-{other} and TAS-{}", t.id);
        }
    }
}

fn check_invariants(s: &SessionState) {
    // Ids: keys match the records, and every id is below the next one handed out.
    for (id, t) in &s.tasks {
        assert_eq!(*id, t.id);
        assert!(*id < s.next_task_number());
        assert!(t.priority <= 4);
        assert!(!t.depends_on.contains(id), "self dependency on TAS-{id}");
        for d in &t.depends_on {
            assert!(
                s.tasks.contains_key(d),
                "dangling dependency TAS-{id} → TAS-{d}"
            );
            assert!(
                !s.depends_transitively(*d, *id),
                "cycle through TAS-{id} and TAS-{d}"
            );
        }
        assert!(!t.content.is_empty());
    }
    for (id, n) in &s.notes {
        assert_eq!(*id, n.id);
        assert!(*id < s.next_note_number());
    }
    // Open tasks never share content.
    let open: Vec<String> = s
        .tasks
        .values()
        .filter(|t| t.status.is_open())
        .map(|t| t.content.to_lowercase())
        .collect();
    let unique: std::collections::BTreeSet<_> = open.iter().collect();
    assert_eq!(unique.len(), open.len(), "duplicate open tasks");
    // The indexes answer what a scan of every task answers.
    for status in TaskStatus::ALL {
        let scanned: Vec<u64> = s
            .tasks
            .values()
            .filter(|t| t.status == status)
            .map(|t| t.id)
            .collect();
        let indexed: Vec<u64> = s.tasks_with_status(status).iter().map(|t| t.id).collect();
        assert_eq!(indexed, scanned, "{status} tasks");
        assert_eq!(s.count(status), scanned.len());
    }
    let mut ready: Vec<&Task> = s
        .tasks
        .values()
        .filter(|t| {
            // Remaining, or completed by a worker that never integrated it (taken up again).
            t.status == TaskStatus::Remaining
                || (t.status == TaskStatus::Completed
                    && t.worker.is_some()
                    && t.integrated.is_none())
        })
        .filter(|t| {
            t.depends_on.iter().all(|d| {
                let dep = &s.tasks[d];
                dep.status == TaskStatus::Cancelled
                    || (dep.status == TaskStatus::Completed
                        && (dep.worker.is_none() || dep.integrated.is_some()))
            })
        })
        .collect();
    ready.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let indexed: Vec<u64> = s.ready_tasks().map(|t| t.id).collect();
    assert_eq!(
        indexed,
        ready.iter().map(|t| t.id).collect::<Vec<_>>(),
        "ready queue"
    );
    for t in s.tasks.values() {
        let same: Vec<u64> = s
            .tasks
            .values()
            .filter(|o| normalize_content(&o.content) == normalize_content(&t.content))
            .map(|o| o.id)
            .collect();
        let indexed: Vec<u64> = s.tasks_with_content(&t.content).map(|o| o.id).collect();
        assert_eq!(indexed, same, "tasks with the content of TAS-{}", t.id);
    }
    // Completed means nothing is unfinished.
    if s.completed.is_some() {
        assert!(s.unfinished_tasks().is_empty());
    }
    // At most one iteration runs, and it is the latest.
    let running: Vec<_> = s.iterations.values().filter(|i| i.is_running()).collect();
    assert!(running.len() <= 1);
    if let Some(r) = running.first() {
        assert_eq!(Some(r.number), s.latest_iteration());
    }
}

static CLAIMS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static INTEGRATIONS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The generated commands do claim and integrate tasks (the property runs again on its own,
/// and says how many it saw).
#[test]
fn the_generated_commands_claim_and_integrate() {
    if std::env::var_os("ITERATR_RULES_COUNT").is_some() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "session::rules_tests::properties::accepted_commands_keep_invariants",
            "--nocapture",
        ])
        .env("ITERATR_RULES_COUNT", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("claims and integrations:"))
        .unwrap_or_else(|| panic!("no count printed: {text}"));
    println!("{line}");
    let numbers = crate::fuzz_tests::numbers_in(line);
    assert!(
        numbers.len() == 2 && numbers.iter().all(|n| *n > 0),
        "{line}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn accepted_commands_keep_invariants(ops in prop::collection::vec(op(), 1..80)) {
        let mut live = SessionState::default();
        let mut log: Vec<(u64, Event)> = Vec::new();
        let mut seen_ids = std::collections::BTreeSet::new();
        let mut now_ms = 0i64;
        for op in &ops {
            now_ms += 1;
            if let Op::Tick(ms) = op {
                now_ms += i64::from(*ms);
                continue;
            }
            let cmd = command(&live, op);
            let ctx = Ctx { now_ms, by: Author::Agent };
            let Ok(events) = decide(&live, &cmd, ctx) else { continue };
            let before = live.clone();
            for e in &events {
                if let EventKind::TaskClaimed { task, worker, .. } = &e.kind {
                    check_claim(&before, now_ms, *task, worker);
                    CLAIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if let EventKind::TaskIntegrated { .. } = &e.kind {
                    INTEGRATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            for e in events {
                if let EventKind::TaskAdded { task, .. } = &e.kind {
                    // Unique ids: never handed out twice (a reset starts a new numbering).
                    prop_assert!(seen_ids.insert((live.resets, *task)), "TAS-{} reused", task);
                }
                let seq = live.last_seq + 1;
                live.apply(seq, &e);
                log.push((seq, e));
            }
            check_invariants(&live);
            check_claims(&live);
        }
        if std::env::var_os("ITERATR_RULES_COUNT").is_some() {
            println!(
                "claims and integrations: {} {}",
                CLAIMS.load(std::sync::atomic::Ordering::Relaxed),
                INTEGRATIONS.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        // Replaying the log (through its JSON encoding) gives the live state, every time.
        let decoded: Vec<(u64, Event)> = log
            .iter()
            .map(|(seq, e)| (*seq, Event::from_json(&e.to_json()).unwrap()))
            .collect();
        let replay = SessionState::from_events(decoded.iter().map(|(s, e)| (*s, e)));
        prop_assert_eq!(&replay, &live);
        let again = SessionState::from_events(log.iter().map(|(s, e)| (*s, e)));
        prop_assert_eq!(&again, &replay);
    }
}
