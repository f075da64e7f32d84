//! Every decision of the loop, case by case.

use super::*;
use crate::session::{EventKind, IterationOutcome, TaskStatus};

use crate::session::folded as session;

use crate::session::task_added as task;

fn iteration(number: u32, planning: bool, outcome: &str) -> [EventKind; 2] {
    [
        EventKind::IterationStarted {
            iteration: number,
            planning,
            worker: None,
        },
        EventKind::IterationFinished {
            iteration: number,
            outcome: outcome.into(),
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
    ]
}

/// Two tasks, planned in iteration 0, worked on in iteration 1.
fn planned() -> Vec<EventKind> {
    let mut kinds = vec![
        task(1, TaskStatus::Remaining),
        task(2, TaskStatus::Remaining),
    ];
    kinds.extend(iteration(0, true, "end_turn"));
    kinds.extend(iteration(1, false, "end_turn"));
    kinds
}

const NO_LIMITS: Limits = Limits {
    iterations: None,
    max_idle: 3,
};
const KINDS: [Kind; 3] = [Kind::Single, Kind::Planner, Kind::Worker];

#[test]
fn a_completed_session_stops_every_loop_and_says_how_far_it_got() {
    let mut kinds = planned();
    kinds.push(EventKind::SessionCompleted { summary: None });
    let state = session(&kinds);
    for kind in KINDS {
        assert_eq!(
            before_turn(&state, kind, Counters::default(), NO_LIMITS),
            Step::Stop(
                Outcome::Completed,
                "session complete after 1 iteration + planning · 2 tasks: 2 remaining".into()
            ),
            "{kind:?}"
        );
    }
}

#[test]
fn a_pause_is_waited_out_by_every_loop() {
    let mut kinds = planned();
    kinds.push(EventKind::SessionPaused {
        who: "ana@laptop".into(),
    });
    let state = session(&kinds);
    for kind in KINDS {
        assert_eq!(
            before_turn(&state, kind, Counters::default(), NO_LIMITS),
            Step::Paused("ana@laptop".into()),
            "{kind:?}"
        );
    }
}

#[test]
fn a_stop_request_ends_every_loop_before_its_next_turn_even_a_paused_one() {
    let mut kinds = planned();
    kinds.push(EventKind::SessionPaused { who: String::new() });
    kinds.push(EventKind::StopRequested {
        now: false,
        who: "ana@laptop".into(),
    });
    let state = session(&kinds);
    for kind in KINDS {
        assert_eq!(
            before_turn(&state, kind, Counters::default(), NO_LIMITS),
            Step::Stop(
                Outcome::Interrupted,
                "stopped: ana@laptop asked for it; run the same command again to go on".into()
            ),
            "{kind:?}"
        );
    }
}

#[test]
fn planning_comes_first_and_is_planned_again_under_the_next_number_after_a_failure() {
    let fresh = session(&[task(1, TaskStatus::Remaining)]);
    assert_eq!(
        before_turn(&fresh, Kind::Single, Counters::default(), NO_LIMITS),
        Step::Iterate {
            number: 0,
            planning: true
        }
    );
    let mut kinds = vec![task(1, TaskStatus::Remaining)];
    kinds.extend(iteration(0, true, "error"));
    let failed = session(&kinds);
    for kind in [Kind::Single, Kind::Planner] {
        assert_eq!(
            before_turn(&failed, kind, Counters::default(), NO_LIMITS),
            Step::Iterate {
                number: 1,
                planning: true
            }
        );
    }
    // Workers wait for it.
    assert_eq!(
        before_turn(&failed, Kind::Worker, Counters::default(), NO_LIMITS),
        Step::Wait("waiting for the session's planning iteration to end")
    );
}

#[test]
fn once_planned_the_planner_stops_the_single_build_iterates_and_a_worker_claims() {
    let state = session(&planned());
    let c = Counters::default();
    assert_eq!(
        before_turn(&state, Kind::Planner, c, NO_LIMITS),
        Step::Stop(Outcome::IterationLimit, "planning done".into())
    );
    assert_eq!(
        before_turn(&state, Kind::Single, c, NO_LIMITS),
        Step::Iterate {
            number: 2,
            planning: false
        }
    );
    assert_eq!(
        before_turn(&state, Kind::Worker, c, NO_LIMITS),
        Step::Claim { number: 2 }
    );
}

#[test]
fn the_iteration_limit_counts_work_iterations_of_this_run_only() {
    let state = session(&planned());
    let limits = Limits {
        iterations: Some(2),
        max_idle: 0,
    };
    for kind in [Kind::Single, Kind::Worker] {
        let below = Counters { ran: 1, idle: 0 };
        assert!(!matches!(
            before_turn(&state, kind, below, limits),
            Step::Stop(..)
        ));
        let at = Counters { ran: 2, idle: 0 };
        assert_eq!(
            before_turn(&state, kind, at, limits),
            Step::Stop(
                Outcome::IterationLimit,
                "iteration limit reached (-i 2) · session: 1 iteration + planning · 2 tasks: 2 remaining; run again to continue".into()
            )
        );
    }
    // Planning is not limited by -i.
    let fresh = session(&[task(1, TaskStatus::Remaining)]);
    let spent = Counters { ran: 5, idle: 0 };
    assert_eq!(
        before_turn(&fresh, Kind::Single, spent, limits),
        Step::Iterate {
            number: 0,
            planning: true
        }
    );
}

#[test]
fn a_worker_completes_the_session_once_every_task_is_integrated() {
    let mut kinds = planned();
    for t in [1, 2] {
        kinds.push(EventKind::TaskStatusSet {
            task: t,
            status: TaskStatus::Completed,
        });
    }
    let state = session(&kinds);
    assert_eq!(
        before_turn(&state, Kind::Worker, Counters::default(), NO_LIMITS),
        Step::CompleteSession("every task is integrated · 2 tasks: 2 completed".into())
    );
    // The single build leaves that to the agent (session-complete).
    assert_eq!(
        before_turn(&state, Kind::Single, Counters::default(), NO_LIMITS),
        Step::Iterate {
            number: 2,
            planning: false
        }
    );
}

fn after(
    turn: Turn,
    planning: bool,
    kind: Kind,
    budget: Option<&str>,
    idle: Option<bool>,
    c: &mut Counters,
) -> After {
    let state = session(&planned());
    let ended = Ended {
        turn: &turn,
        planning,
        over_budget: budget,
        last_idle: idle,
    };
    after_turn(ended, kind, c, NO_LIMITS, &state)
}

fn done() -> Turn {
    Turn::Done(IterationOutcome::EndTurn)
}

#[test]
fn a_turn_that_ended_well_counts_unless_it_planned() {
    let mut c = Counters::default();
    assert_eq!(
        after(done(), true, Kind::Single, None, None, &mut c),
        After::Next
    );
    assert_eq!(c.ran, 0);
    for kind in [Kind::Single, Kind::Worker] {
        let mut c = Counters::default();
        assert_eq!(
            after(done(), false, kind, None, Some(false), &mut c),
            After::Next
        );
        assert_eq!(c, Counters { ran: 1, idle: 0 });
    }
}

#[test]
fn idle_iterations_in_a_row_stop_the_single_build_and_anything_done_resets_them() {
    let mut c = Counters::default();
    for _ in 0..2 {
        assert_eq!(
            after(done(), false, Kind::Single, None, Some(true), &mut c),
            After::Next
        );
    }
    // One that changed something (or could not tell) starts the count again.
    assert_eq!(
        after(done(), false, Kind::Single, None, None, &mut c),
        After::Next
    );
    assert_eq!(c.idle, 0);
    for _ in 0..2 {
        assert_eq!(
            after(done(), false, Kind::Single, None, Some(true), &mut c),
            After::Next
        );
    }
    let stop = after(done(), false, Kind::Single, None, Some(true), &mut c);
    assert!(
        matches!(&stop, After::Stop(Outcome::Idle, m) if m.starts_with("stopping: the last 3 iterations changed no task and no file (--max-idle-iterations 3)")),
        "{stop:?}"
    );
    assert_eq!(c.ran, 6);
    // Workers give an idle task up instead; planning changes no file by design.
    let mut c = Counters { ran: 0, idle: 5 };
    assert_eq!(
        after(done(), false, Kind::Worker, None, Some(true), &mut c),
        After::Next
    );
    assert_eq!(
        after(done(), true, Kind::Single, None, Some(true), &mut c),
        After::Next
    );
}

#[test]
fn a_budget_reached_stops_every_loop_after_counting_the_turn() {
    for kind in [Kind::Single, Kind::Worker] {
        let mut c = Counters::default();
        let stop = after(
            done(),
            false,
            kind,
            Some("3,000 tokens of 1,000 used (--max-tokens)"),
            None,
            &mut c,
        );
        assert_eq!(
            stop,
            After::Stop(
                Outcome::Budget,
                "stopping: 3,000 tokens of 1,000 used (--max-tokens) · 2 tasks: 2 remaining; raise the budget to go on".into()
            )
        );
        assert_eq!(c.ran, 1);
        // A failed turn is not counted, and the budget still stops the run.
        let mut c = Counters::default();
        let failed = Turn::Failed(IterationOutcome::Error, "boom".into());
        assert!(matches!(
            after(failed, false, kind, Some("over"), None, &mut c),
            After::Stop(Outcome::Budget, _)
        ));
        assert_eq!(c.ran, 0);
    }
}

#[test]
fn failures_interruptions_and_fatal_errors_are_told_apart() {
    let mut c = Counters::default();
    let failed = Turn::Failed(IterationOutcome::Timeout, "no answer in 30m".into());
    assert_eq!(
        after(failed, false, Kind::Worker, None, None, &mut c),
        After::Failed("no answer in 30m".into())
    );
    assert_eq!(
        after(Turn::Interrupted, false, Kind::Single, None, None, &mut c),
        After::Stop(
            Outcome::Interrupted,
            "interrupted; run the same command again to resume".into()
        )
    );
    let fatal = Turn::Fatal("the agent has no model fake/x".into());
    assert_eq!(
        after(fatal, false, Kind::Single, None, None, &mut c),
        After::Stop(
            Outcome::Failed("the agent has no model fake/x".into()),
            "the agent has no model fake/x".into()
        )
    );
    assert_eq!(c, Counters::default());
}
