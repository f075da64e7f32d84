//! Rules of giving work back: the iteration a stopped build left running, and the tasks it had
//! in progress (`task_released`).

use super::*;

const SYSTEM: Ctx = Ctx {
    now_ms: 5_000,
    by: Author::System,
};

/// Decides `cmd` and folds its events in, the way the service does.
fn run(state: &mut SessionState, cmd: Command) -> Vec<Event> {
    let events = decide(state, &cmd, SYSTEM).unwrap();
    for e in &events {
        let seq = state.last_seq + 1;
        state.apply(seq, e);
    }
    events
}

fn set(state: &mut SessionState, task: &str, status: TaskStatus) {
    run(
        state,
        Command::SetStatus {
            task: task.into(),
            status,
        },
    );
}

/// Three tasks: TAS-1 in progress, TAS-2 in progress, TAS-3 completed; iteration 3 running.
fn killed_mid_iteration() -> SessionState {
    let mut s = SessionState::default();
    run(
        &mut s,
        Command::AddTasks(vec![
            NewTask::new("a"),
            NewTask::new("b"),
            NewTask::new("c"),
        ]),
    );
    run(
        &mut s,
        Command::StartIteration {
            number: 3,
            planning: false,
            worker: None,
        },
    );
    set(&mut s, "TAS-1", TaskStatus::InProgress);
    set(&mut s, "TAS-2", TaskStatus::InProgress);
    set(&mut s, "TAS-3", TaskStatus::Completed);
    s
}

#[test]
fn the_abandoned_iteration_ends_interrupted_and_its_tasks_go_back() {
    let mut s = killed_mid_iteration();
    assert_eq!(
        s.next_task(),
        None,
        "nothing is offered while both are taken"
    );
    let events = run(&mut s, Command::CloseAbandonedIteration);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(
        kinds,
        ["iteration_finished", "task_released", "task_released"],
        "one append: the end first, then every task given back"
    );
    let it = &s.iterations[&3];
    assert_eq!(it.outcome, Some(IterationOutcome::Interrupted));
    assert!(
        it.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("iteration 3 never ended")),
        "{:?}",
        it.detail
    );
    for id in [1, 2] {
        assert_eq!(s.tasks[&id].status, TaskStatus::Remaining);
        assert_eq!(
            s.tasks[&id].released.as_deref(),
            Some("iteration 3 never ended")
        );
    }
    assert_eq!(
        s.tasks[&3].status,
        TaskStatus::Completed,
        "done work stays done"
    );
    // task-next offers the released work again.
    assert_eq!(s.next_task().map(|t| t.id), Some(1));
    assert_eq!(s.count(TaskStatus::InProgress), 0);
}

#[test]
fn nothing_to_close_when_no_iteration_runs() {
    let mut s = killed_mid_iteration();
    run(
        &mut s,
        Command::FinishIteration {
            number: 3,
            outcome: IterationOutcome::EndTurn,
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
    );
    // An iteration that ended normally may leave work in progress for the next one: kept.
    assert!(run(&mut s, Command::CloseAbandonedIteration).is_empty());
    assert_eq!(s.tasks[&1].status, TaskStatus::InProgress);
    assert!(
        run(
            &mut SessionState::default(),
            Command::CloseAbandonedIteration
        )
        .is_empty()
    );
}

#[test]
fn a_release_only_gives_back_work_in_progress_and_is_forgotten_on_the_next_change() {
    let mut s = killed_mid_iteration();
    let release = |task| {
        Event::new(
            6_000,
            Author::System,
            EventKind::TaskReleased {
                task,
                reason: "lease lapsed".into(),
            },
        )
    };
    // A stale release (the task was completed meanwhile, or never existed) changes nothing.
    for (task, seq) in [(3, 100), (99, 101)] {
        s.apply(seq, &release(task));
    }
    assert_eq!(s.tasks[&3].status, TaskStatus::Completed);
    assert_eq!(s.tasks[&3].released, None);
    assert!(!s.tasks.contains_key(&99));
    s.apply(102, &release(1));
    assert_eq!(s.tasks[&1].released.as_deref(), Some("lease lapsed"));
    assert_eq!(s.tasks[&1].updated_at_ms, 6_000);
    set(&mut s, "TAS-1", TaskStatus::InProgress);
    assert_eq!(
        s.tasks[&1].released, None,
        "taken again: the reason is history"
    );
}
