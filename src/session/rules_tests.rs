//! One test per domain rule (the property test over random command sequences is in `property_tests.rs`).

use super::*;

const AGENT: Ctx = Ctx {
    now_ms: 1_000,
    by: Author::Agent,
};

/// Applies a command the way the service does and returns the new state.
fn run(state: &mut SessionState, cmd: Command) -> Result<Vec<Event>, DomainError> {
    let events = decide(state, &cmd, AGENT)?;
    for e in &events {
        let seq = state.last_seq + 1;
        state.apply(seq, e);
    }
    Ok(events)
}

fn add(state: &mut SessionState, content: &str) -> u64 {
    run(state, Command::AddTasks(vec![NewTask::new(content)])).unwrap();
    *state.tasks.keys().next_back().unwrap()
}

fn add_with(state: &mut SessionState, content: &str, priority: i64, deps: &[&str]) -> u64 {
    let mut t = NewTask::new(content);
    t.priority = Some(priority);
    t.depends_on = deps.iter().map(|d| d.to_string()).collect();
    run(state, Command::AddTasks(vec![t])).unwrap();
    *state.tasks.keys().next_back().unwrap()
}

fn status(
    state: &mut SessionState,
    id: &str,
    status: TaskStatus,
) -> Result<Vec<Event>, DomainError> {
    run(
        state,
        Command::SetStatus {
            task: id.into(),
            status,
        },
    )
}

#[test]
fn ids_are_sequential_and_short() {
    let mut s = SessionState::default();
    assert_eq!(add(&mut s, "one"), 1);
    assert_eq!(add(&mut s, "two"), 2);
    assert_eq!(s.tasks[&2].label(), "TAS-2");
    run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Tip,
            content: "n".into(),
        },
    )
    .unwrap();
    assert_eq!(note_id(*s.notes.keys().next().unwrap()), "NOT-1");
}

#[test]
fn defaults_and_priority_zero_is_stored() {
    let mut s = SessionState::default();
    let a = add(&mut s, "default");
    assert_eq!(s.tasks[&a].priority, 2);
    assert_eq!(s.tasks[&a].status, TaskStatus::Remaining);
    let b = add_with(&mut s, "lowest", 0, &[]);
    assert_eq!(s.tasks[&b].priority, 0);
    run(
        &mut s,
        Command::SetPriority {
            task: "TAS-1".into(),
            priority: 0,
        },
    )
    .unwrap();
    assert_eq!(s.tasks[&a].priority, 0);
}

#[test]
fn task_references_accept_prefixes_and_spellings() {
    let mut s = SessionState::default();
    for i in 1..=12 {
        add(&mut s, &format!("task {i}"));
    }
    assert_eq!(s.resolve_task("TAS-12").unwrap(), 12);
    assert_eq!(s.resolve_task(" tas-12 ").unwrap(), 12);
    assert_eq!(s.resolve_task("TAS12").unwrap(), 12);
    assert_eq!(s.resolve_task("12").unwrap(), 12);
    // An exact id wins over the longer ids it is a prefix of.
    assert_eq!(s.resolve_task("TAS-1").unwrap(), 1);
    run(
        &mut s,
        Command::DeleteTask {
            task: "TAS-1".into(),
        },
    )
    .unwrap();
    let err = s.resolve_task("TAS-1").unwrap_err();
    assert!(
        matches!(&err, DomainError::AmbiguousTask { candidates, .. } if candidates == &["TAS-10", "TAS-11", "TAS-12"]),
        "{err}"
    );
    assert!(err.to_string().contains("give the full id"));
    run(
        &mut s,
        Command::DeleteTask {
            task: "TAS-10".into(),
        },
    )
    .unwrap();
    run(
        &mut s,
        Command::DeleteTask {
            task: "TAS-11".into(),
        },
    )
    .unwrap();
    // Now "TAS-1" is a unique prefix of TAS-12.
    assert_eq!(s.resolve_task("TAS-1").unwrap(), 12);
}

#[test]
fn unknown_task_id_says_where_to_look() {
    let mut s = SessionState::default();
    add(&mut s, "one");
    let err = status(&mut s, "TAS-9", TaskStatus::Completed).unwrap_err();
    assert_eq!(err, DomainError::UnknownTask("TAS-9".into()));
    assert!(err.to_string().contains("task-list"), "{err}");
    let err = status(&mut s, "banana", TaskStatus::Completed).unwrap_err();
    assert!(err.to_string().contains("TAS-12"), "{err}");
    let err = add_with_err(&mut s, "two", &["TAS-7"]);
    assert_eq!(err, DomainError::UnknownTask("TAS-7".into()));
    assert_eq!(s.tasks.len(), 1, "nothing added");
}

fn add_with_err(s: &mut SessionState, content: &str, deps: &[&str]) -> DomainError {
    let mut t = NewTask::new(content);
    t.depends_on = deps.iter().map(|d| d.to_string()).collect();
    run(s, Command::AddTasks(vec![t])).unwrap_err()
}

#[test]
fn self_dependency_and_cycles_are_refused() {
    let mut s = SessionState::default();
    let a = add(&mut s, "a");
    let b = add_with(&mut s, "b", 2, &["TAS-1"]);
    let c = add_with(&mut s, "c", 2, &["TAS-2"]);
    let dep = |s: &mut SessionState, t: &str, on: &str| {
        run(
            s,
            Command::AddDependency {
                task: t.into(),
                depends_on: on.into(),
            },
        )
    };
    let err = dep(&mut s, "TAS-1", "TAS-1").unwrap_err();
    assert_eq!(err, DomainError::SelfDependency("TAS-1".into()));
    let err = dep(&mut s, "TAS-1", "TAS-3").unwrap_err();
    assert!(matches!(err, DomainError::DependencyCycle { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("TAS-3 → TAS-2 → TAS-1") && msg.contains("cycle"),
        "{msg}"
    );
    assert!(s.tasks[&a].depends_on.is_empty());
    // A legal one is recorded once; repeating it writes nothing.
    assert_eq!(dep(&mut s, "TAS-3", "TAS-1").unwrap().len(), 1);
    assert!(dep(&mut s, "TAS-3", "TAS-1").unwrap().is_empty());
    assert!(s.tasks[&c].depends_on.contains(&a) && s.tasks[&c].depends_on.contains(&b));
}

#[test]
fn priority_outside_range_is_refused() {
    let mut s = SessionState::default();
    add(&mut s, "a");
    for bad in [-1, 5, 300, i64::MAX] {
        let err = run(
            &mut s,
            Command::SetPriority {
                task: "TAS-1".into(),
                priority: bad,
            },
        )
        .unwrap_err();
        assert_eq!(err, DomainError::PriorityOutOfRange(bad));
        assert!(err.to_string().contains("0-4"));
    }
    let mut t = NewTask::new("b");
    t.priority = Some(9);
    let err = run(&mut s, Command::AddTasks(vec![t])).unwrap_err();
    assert_eq!(err, DomainError::PriorityOutOfRange(9));
    assert_eq!(s.tasks[&1].priority, 2);
}

#[test]
fn empty_and_oversize_content_is_refused() {
    let mut s = SessionState::default();
    let err = run(&mut s, Command::AddTasks(vec![NewTask::new("  \n ")])).unwrap_err();
    assert_eq!(err, DomainError::Empty("task content"));
    let long = "x".repeat(limits::TASK_CONTENT_MAX + 1);
    let err = run(&mut s, Command::AddTasks(vec![NewTask::new(long)])).unwrap_err();
    assert!(
        matches!(err, DomainError::TooLong { len, max, .. } if len == limits::TASK_CONTENT_MAX + 1 && max == limits::TASK_CONTENT_MAX)
    );
    // Exactly at the limit is fine; the limit counts characters, not bytes.
    let at_limit = "é".repeat(limits::TASK_CONTENT_MAX);
    run(&mut s, Command::AddTasks(vec![NewTask::new(at_limit)])).unwrap();
    let err = run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Learning,
            content: "n".repeat(limits::NOTE_CONTENT_MAX + 1),
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DomainError::TooLong {
            what: "note content",
            ..
        }
    ));
    let err = run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Tip,
            content: "".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err, DomainError::Empty("note content"));
    let err = run(
        &mut s,
        Command::SummarizeIteration {
            summary: " ".into(),
            worker: None,
        },
    )
    .unwrap_err();
    assert_eq!(err, DomainError::Empty("summary"));
    let err = run(
        &mut s,
        Command::UserMessage {
            text: "m".repeat(limits::MESSAGE_MAX + 1),
            who: String::new(),
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DomainError::TooLong {
            what: "message",
            ..
        }
    ));
    assert_eq!(s.tasks.len(), 1);
    assert!(s.notes.is_empty());
}

#[test]
fn content_is_trimmed() {
    let mut s = SessionState::default();
    let a = add(&mut s, "  Write the parser \n");
    assert_eq!(s.tasks[&a].content, "Write the parser");
}

#[test]
fn duplicates_of_open_tasks_are_refused() {
    let mut s = SessionState::default();
    add(&mut s, "Write the parser");
    let err = run(
        &mut s,
        Command::AddTasks(vec![NewTask::new("write  the PARSER.")]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        DomainError::DuplicateTask {
            existing: "TAS-1".into(),
            status: "remaining".into()
        }
    );
    assert!(err.to_string().contains("task-status"));
    status(&mut s, "TAS-1", TaskStatus::Blocked).unwrap();
    assert!(
        run(
            &mut s,
            Command::AddTasks(vec![NewTask::new("Write the parser")])
        )
        .is_err()
    );
    // A closed task may be added again (the work came back).
    status(&mut s, "TAS-1", TaskStatus::Completed).unwrap();
    add(&mut s, "Write the parser");
    // Editing a task into a copy of another open task is refused too.
    add(&mut s, "Write the lexer");
    let err = run(
        &mut s,
        Command::EditTask {
            task: "TAS-3".into(),
            content: "write the parser".into(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::DuplicateTask { .. }));
}

#[test]
fn batch_is_all_or_nothing() {
    let mut s = SessionState::default();
    add(&mut s, "existing");
    let batch = vec![
        NewTask::new("first"),
        NewTask::new("second"),
        NewTask::new(""),
        NewTask::new("fourth"),
    ];
    let err = run(&mut s, Command::AddTasks(batch)).unwrap_err();
    assert!(
        matches!(&err, DomainError::BatchItem { index: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nothing from the batch was added"));
    assert_eq!(s.tasks.len(), 1);

    let err = run(
        &mut s,
        Command::AddTasks(vec![
            NewTask::new("a"),
            NewTask::new("b"),
            NewTask::new("A"),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        DomainError::DuplicateInBatch {
            first: 1,
            second: 3
        }
    );
    let err = run(&mut s, Command::AddTasks(vec![])).unwrap_err();
    assert_eq!(err, DomainError::EmptyBatch);
    let too_many = (0..=limits::BATCH_MAX)
        .map(|i| NewTask::new(format!("t{i}")))
        .collect();
    assert_eq!(
        run(&mut s, Command::AddTasks(too_many)).unwrap_err(),
        DomainError::BatchTooLarge(limits::BATCH_MAX + 1)
    );

    let events = run(
        &mut s,
        Command::AddTasks(vec![
            NewTask::new("a"),
            NewTask::new("b"),
            NewTask::new("c"),
        ]),
    )
    .unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        s.tasks.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
}

#[test]
fn unknown_status_and_note_type_are_errors() {
    assert_eq!(
        "finished".parse::<TaskStatus>().unwrap_err(),
        DomainError::UnknownStatus("finished".into())
    );
    assert_eq!(
        "idea".parse::<NoteType>().unwrap_err(),
        DomainError::UnknownNoteType("idea".into())
    );
}

#[test]
fn next_picks_priority_then_oldest_among_unblocked() {
    let mut s = SessionState::default();
    assert!(s.next_task().is_none());
    add_with(&mut s, "t1", 2, &[]);
    for i in 2..=10 {
        add_with(&mut s, &format!("t{i}"), 2, &[]);
    }
    // Same priority: TAS-2 comes before TAS-10 (by number, not by text).
    status(&mut s, "TAS-1", TaskStatus::InProgress).unwrap();
    assert_eq!(s.next_task().unwrap().id, 2);
    // Higher priority wins even when newer.
    run(
        &mut s,
        Command::SetPriority {
            task: "TAS-10".into(),
            priority: 4,
        },
    )
    .unwrap();
    assert_eq!(s.next_task().unwrap().id, 10);
    // A task waiting on an unfinished dependency is skipped...
    run(
        &mut s,
        Command::AddDependency {
            task: "TAS-10".into(),
            depends_on: "TAS-1".into(),
        },
    )
    .unwrap();
    assert_eq!(s.next_task().unwrap().id, 2);
    // ...until the dependency is completed (or cancelled).
    status(&mut s, "TAS-1", TaskStatus::Cancelled).unwrap();
    assert_eq!(s.next_task().unwrap().id, 10);
    // Blocked and in-progress tasks are not offered.
    status(&mut s, "TAS-10", TaskStatus::Blocked).unwrap();
    status(&mut s, "TAS-2", TaskStatus::InProgress).unwrap();
    assert_eq!(s.next_task().unwrap().id, 3);
    for i in 2..=9 {
        status(&mut s, &format!("TAS-{i}"), TaskStatus::Completed).unwrap();
    }
    assert!(s.next_task().is_none());
}

#[test]
fn completing_with_unfinished_tasks_is_refused() {
    let mut s = SessionState::default();
    add(&mut s, "remaining one");
    add(&mut s, "in progress one");
    add(&mut s, "blocked one");
    add(&mut s, "cancelled one");
    status(&mut s, "TAS-2", TaskStatus::InProgress).unwrap();
    status(&mut s, "TAS-3", TaskStatus::Blocked).unwrap();
    status(&mut s, "TAS-4", TaskStatus::Cancelled).unwrap();
    let err = run(&mut s, Command::CompleteSession { summary: None }).unwrap_err();
    match &err {
        DomainError::UnfinishedTasks { open } => {
            assert_eq!(open.len(), 2);
            assert!(open[0].starts_with("TAS-1 [remaining]"));
            assert!(open[1].starts_with("TAS-2 [in_progress]"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("session-complete again"));
    assert!(s.completed.is_none());
    status(&mut s, "TAS-1", TaskStatus::Completed).unwrap();
    status(&mut s, "TAS-2", TaskStatus::Completed).unwrap();
    // Blocked and cancelled tasks do not hold completion back.
    run(
        &mut s,
        Command::CompleteSession {
            summary: Some("all done".into()),
        },
    )
    .unwrap();
    assert_eq!(
        s.completed.as_ref().unwrap().summary.as_deref(),
        Some("all done")
    );
    // Completing twice writes nothing new.
    assert!(
        run(&mut s, Command::CompleteSession { summary: None })
            .unwrap()
            .is_empty()
    );
    // New work reopens the session.
    add(&mut s, "late discovery");
    assert!(s.completed.is_none());
}

#[test]
fn iterations_record_start_end_summary_and_changed_tasks() {
    let mut s = SessionState::default();
    add(&mut s, "before any iteration");
    run(
        &mut s,
        Command::StartIteration {
            number: 1,
            planning: false,
            worker: None,
        },
    )
    .unwrap();
    assert_eq!(s.running_iteration(), Some(1));
    add(&mut s, "during one");
    status(&mut s, "TAS-1", TaskStatus::Completed).unwrap();
    run(
        &mut s,
        Command::SummarizeIteration {
            summary: "did things".into(),
            worker: None,
        },
    )
    .unwrap();
    run(
        &mut s,
        Command::FinishIteration {
            number: 1,
            outcome: "end_turn".into(),
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
    )
    .unwrap();
    let it = &s.iterations[&1];
    assert_eq!(it.summary.as_deref(), Some("did things"));
    assert_eq!(it.outcome.as_ref().map(|o| o.as_str()), Some("end_turn"));
    assert_eq!(
        it.tasks_changed.iter().copied().collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(s.tasks[&2].created_iteration, Some(1));
    assert_eq!(s.tasks[&1].created_iteration, None);
    assert_eq!(s.tasks[&1].updated_iteration, Some(1));
    // Finishing what is not running, or starting out of order, is refused.
    assert_eq!(
        run(
            &mut s,
            Command::FinishIteration {
                number: 1,
                outcome: "x".into(),
                detail: None,
                commit: None,
                usage: None,
                auto_allowed: 0,
            }
        )
        .unwrap_err(),
        DomainError::IterationNotRunning(1)
    );
    assert!(matches!(
        run(
            &mut s,
            Command::StartIteration {
                number: 1,
                planning: false,
                worker: None,
            }
        )
        .unwrap_err(),
        DomainError::IterationOutOfOrder {
            given: 1,
            latest: 1
        }
    ));
    // Starting while one still runs (after a crash) records the old one as interrupted.
    run(
        &mut s,
        Command::StartIteration {
            number: 2,
            planning: false,
            worker: None,
        },
    )
    .unwrap();
    let events = run(
        &mut s,
        Command::StartIteration {
            number: 3,
            planning: false,
            worker: None,
        },
    )
    .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        s.iterations[&2].outcome.as_ref().map(|o| o.as_str()),
        Some("interrupted")
    );
    assert!(s.iterations[&3].is_running());
}

#[test]
fn edits_and_deletes() {
    let mut s = SessionState::default();
    add(&mut s, "a");
    add_with(&mut s, "b", 2, &["TAS-1"]);
    run(
        &mut s,
        Command::EditTask {
            task: "TAS-1".into(),
            content: "a, reworded".into(),
        },
    )
    .unwrap();
    assert_eq!(s.tasks[&1].content, "a, reworded");
    run(
        &mut s,
        Command::DeleteTask {
            task: "TAS-1".into(),
        },
    )
    .unwrap();
    assert!(!s.tasks.contains_key(&1));
    assert!(
        s.tasks[&2].depends_on.is_empty(),
        "deleted dependency is dropped"
    );
    // Ids are never reused.
    assert_eq!(add(&mut s, "c"), 3);
    run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Decision,
            content: "use sqlite".into(),
        },
    )
    .unwrap();
    run(
        &mut s,
        Command::EditNote {
            note: "NOT-1".into(),
            content: "use SQLite in WAL mode".into(),
        },
    )
    .unwrap();
    assert_eq!(s.notes[&1].content, "use SQLite in WAL mode");
    run(&mut s, Command::DeleteNote { note: "1".into() }).unwrap();
    assert!(s.notes.is_empty());
    assert_eq!(
        run(
            &mut s,
            Command::DeleteNote {
                note: "NOT-1".into()
            }
        )
        .unwrap_err(),
        DomainError::UnknownNote("NOT-1".into())
    );
}

#[test]
fn reset_forgets_everything_before_it() {
    let mut s = SessionState::default();
    add(&mut s, "a");
    run(
        &mut s,
        Command::StartIteration {
            number: 1,
            planning: false,
            worker: None,
        },
    )
    .unwrap();
    run(
        &mut s,
        Command::Reset {
            reason: Some("start over".into()),
        },
    )
    .unwrap();
    assert!(s.tasks.is_empty() && s.iterations.is_empty());
    assert_eq!(s.resets, 1);
    assert_eq!(add(&mut s, "a"), 1, "numbering starts over after a reset");
}

#[test]
fn events_round_trip_through_json() {
    let mut s = SessionState::default();
    let mut log = Vec::new();
    let mut push = |s: &mut SessionState, cmd| log.extend(run(s, cmd).unwrap());
    push(
        &mut s,
        Command::AddTasks(vec![NewTask::new("a"), NewTask::new("b")]),
    );
    push(
        &mut s,
        Command::StartIteration {
            number: 1,
            planning: false,
            worker: None,
        },
    );
    push(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Stuck,
            content: "x".into(),
        },
    );
    for e in &log {
        assert_eq!(&Event::from_json(&e.to_json()).unwrap(), e);
    }
}

#[path = "property_tests.rs"]
mod properties;

#[test]
fn reopening_a_task_that_duplicates_an_open_one_is_refused() {
    let mut s = SessionState::default();
    add(&mut s, "ship it");
    status(&mut s, "TAS-1", TaskStatus::Completed).unwrap();
    add(&mut s, "ship it");
    let err = status(&mut s, "TAS-1", TaskStatus::Remaining).unwrap_err();
    assert_eq!(
        err,
        DomainError::DuplicateTask {
            existing: "TAS-2".into(),
            status: "remaining".into()
        }
    );
    // Moving between closed states is fine.
    status(&mut s, "TAS-1", TaskStatus::Cancelled).unwrap();
}

#[test]
fn a_batch_may_depend_on_its_own_earlier_tasks() {
    let mut s = SessionState::default();
    add(&mut s, "existing");
    let mut second = NewTask::new("second");
    second.depends_on = vec!["TAS-2".into(), "TAS-1".into()];
    let mut bad = NewTask::new("bad");
    bad.depends_on = vec!["TAS-4".into()]; // itself: not earlier in the batch
    let err = run(
        &mut s,
        Command::AddTasks(vec![NewTask::new("first"), second.clone(), bad]),
    )
    .unwrap_err();
    assert!(
        matches!(err, DomainError::BatchItem { index: 3, .. }),
        "{err}"
    );
    run(
        &mut s,
        Command::AddTasks(vec![NewTask::new("first"), second]),
    )
    .unwrap();
    assert_eq!(
        s.tasks[&3].depends_on.iter().copied().collect::<Vec<_>>(),
        vec![1, 2]
    );
}

fn at(state: &mut SessionState, now_ms: i64, cmd: Command) -> Result<Vec<Event>, DomainError> {
    let ctx = Ctx {
        now_ms,
        by: Author::System,
    };
    let events = decide(state, &cmd, ctx)?;
    for e in &events {
        let seq = state.last_seq + 1;
        state.apply(seq, e);
    }
    Ok(events)
}

fn holder(id: &str) -> LeaseHolder {
    LeaseHolder {
        id: id.into(),
        host: "box".into(),
        pid: 42,
        version: "0.1.0".into(),
        started_at_ms: 0,
        ..Default::default()
    }
}

fn acquire(id: &str, takeover: bool) -> Command {
    Command::AcquireLease {
        holder: holder(id),
        ttl_ms: 10_000,
        takeover,
    }
}

#[test]
fn one_build_holds_a_session_until_it_releases_or_its_lease_lapses() {
    let mut s = SessionState::default();
    at(&mut s, 0, acquire("a", false)).unwrap();
    // Held: another build is refused, saying by whom and for how long.
    let err = at(&mut s, 5_000, acquire("b", false)).unwrap_err();
    assert_eq!(
        err,
        DomainError::SessionHeld {
            holder: "iteratr 0.1.0 (pid 42 on box)".into(),
            expires_in_s: 5
        }
    );
    // Renewing pushes the end of the lease.
    at(&mut s, 9_000, Command::RenewLease { id: "a".into() }).unwrap();
    assert!(at(&mut s, 15_000, acquire("b", false)).is_err());
    // Lapsed (no renewal for its time to live): free.
    at(&mut s, 19_000, acquire("b", false)).unwrap();
    // The old holder's renewal now says it lost the session.
    let err = at(&mut s, 19_500, Command::RenewLease { id: "a".into() }).unwrap_err();
    assert!(matches!(err, DomainError::LeaseLost { .. }), "{err}");
    // Only the holder releases; then the session is free at once.
    assert!(
        at(&mut s, 20_000, Command::ReleaseLease { id: "a".into() })
            .unwrap()
            .is_empty()
    );
    at(&mut s, 20_000, Command::ReleaseLease { id: "b".into() }).unwrap();
    at(&mut s, 20_001, acquire("c", false)).unwrap();
    // A takeover of a live lease says whom it replaced; a reset keeps the lease.
    let events = at(&mut s, 20_002, acquire("d", true)).unwrap();
    assert!(matches!(
        &events[0].kind,
        EventKind::LeaseAcquired { took_over_from: Some(from), .. } if from.contains("pid 42")
    ));
    at(&mut s, 20_003, Command::Reset { reason: None }).unwrap();
    assert_eq!(s.lease.as_ref().unwrap().holder.id, "d");
    assert_eq!(
        at(
            &mut s,
            20_004,
            Command::AcquireLease {
                holder: holder("e"),
                ttl_ms: 10,
                takeover: false
            }
        )
        .unwrap_err(),
        DomainError::LeaseTtl(10)
    );
}

#[test]
fn a_stop_is_asked_only_of_a_running_build_once_and_the_next_build_starts_afresh() {
    let stop = |now: bool| Command::RequestStop {
        now,
        who: " ana@laptop ".into(),
    };
    let mut s = SessionState::default();
    assert_eq!(
        at(&mut s, 0, stop(false)).unwrap_err(),
        DomainError::NoBuildRunning
    );
    at(&mut s, 0, acquire("a", false)).unwrap();
    let asked = at(&mut s, 1_000, stop(false)).unwrap();
    assert_eq!(
        asked[0].kind,
        EventKind::StopRequested {
            now: false,
            who: "ana@laptop".into()
        }
    );
    // Asked again as firmly: nothing new. Then `now` is firmer; after it, a plain stop is not.
    assert!(at(&mut s, 2_000, stop(false)).unwrap().is_empty());
    assert_eq!(at(&mut s, 3_000, stop(true)).unwrap().len(), 1);
    assert!(at(&mut s, 4_000, stop(false)).unwrap().is_empty());
    assert!(
        s.stop
            .as_ref()
            .is_some_and(|r| r.now && r.who == "ana@laptop")
    );
    // The build ended: the request stays for its workers; nobody can ask again.
    at(&mut s, 5_000, Command::ReleaseLease { id: "a".into() }).unwrap();
    assert!(s.stop.is_some());
    assert_eq!(
        at(&mut s, 6_000, stop(true)).unwrap_err(),
        DomainError::NoBuildRunning
    );
    // A lapsed lease is no running build either.
    at(&mut s, 7_000, acquire("b", false)).unwrap();
    assert!(s.stop.is_none(), "the next build starts afresh");
    assert_eq!(
        at(&mut s, 30_000, stop(false)).unwrap_err(),
        DomainError::NoBuildRunning
    );
}

#[test]
fn a_permission_request_is_answered_once_from_anywhere_and_a_new_build_voids_it() {
    let ask = |tool: &str| Command::RequestPermission {
        tool: tool.into(),
        title: format!("run {tool}"),
        worker: Some("w1".into()),
    };
    let answer = |request, decision| Command::AnswerPermission {
        request,
        decision,
        who: "ana@laptop".into(),
    };
    let mut s = SessionState::default();
    at(&mut s, 0, ask("bash")).unwrap();
    at(&mut s, 1, ask("curl")).unwrap();
    assert_eq!(
        s.permissions.waiting.keys().copied().collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(s.permissions.waiting[&1].worker.as_deref(), Some("w1"));
    // The first answer wins; the second is refused, and says so.
    at(&mut s, 2, answer(1, PermissionDecision::AllowedByUser)).unwrap();
    assert_eq!(
        at(&mut s, 3, answer(1, PermissionDecision::DeniedByUser)).unwrap_err(),
        DomainError::NotWaiting("P-1".into())
    );
    assert_eq!(s.permissions.allowed, 1);
    let last = s.permissions.recent.back().unwrap();
    assert_eq!((last.tool.as_str(), last.by), ("bash", Author::User));
    // Only a person's answers (or the end of the turn) answer a request.
    assert_eq!(
        at(&mut s, 4, answer(2, PermissionDecision::DeniedByRule)).unwrap_err(),
        DomainError::NotAnAnswer("denied_by_rule".into())
    );
    assert_eq!(
        at(&mut s, 4, answer(9, PermissionDecision::DeniedByUser)).unwrap_err(),
        DomainError::NotWaiting("P-9".into())
    );
    // A new build: what waited for the last one no longer does; numbers go on.
    at(&mut s, 5, acquire("b", false)).unwrap();
    assert!(s.permissions.waiting.is_empty());
    let next = at(&mut s, 6, ask("ls")).unwrap();
    assert!(matches!(
        next[0].kind,
        EventKind::PermissionRequested { request: 3, .. }
    ));
}
