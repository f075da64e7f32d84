//! One event of every kind, folded into a session: exactly the parts [`EventKind::changes`]
//! names change (as `status --json` shows them), and exactly the resources `changed_by` names
//! change (as a subscriber reads them), so subscribers get every update due and no other.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Part, Uri, read};
use crate::session::{
    self, Author, Event, EventKind, LeaseHolder, NoteType, PermissionDecision, SessionState,
    TaskStatus,
};

/// Ten minutes ago: the lease's renewals show against the clock.
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| crate::clock::now_ms() - 600_000)
}

use crate::session::task_added as task;

fn holder() -> LeaseHolder {
    LeaseHolder {
        id: "b1".into(),
        host: "box".into(),
        pid: 7,
        version: "0.1.0".into(),
        started_at_ms: t0(),
        ..LeaseHolder::default()
    }
}

fn claim(task: u64) -> EventKind {
    EventKind::TaskClaimed {
        task,
        worker: "w1".into(),
        ttl_ms: 3_600_000,
    }
}

fn started(iteration: u32, worker: Option<&str>) -> EventKind {
    EventKind::IterationStarted {
        iteration,
        planning: false,
        worker: worker.map(String::from),
    }
}

/// Every kind, each with what must come before it for it to change anything. The exhaustive
/// match makes a new kind fail to compile here until it has an example.
fn examples() -> Vec<(Vec<EventKind>, EventKind)> {
    let all = vec![
        (vec![], task(4, TaskStatus::Remaining)),
        (
            vec![],
            EventKind::TaskStatusSet {
                task: 2,
                status: TaskStatus::InProgress,
            },
        ),
        (
            vec![],
            EventKind::TaskPrioritySet {
                task: 2,
                priority: 0,
            },
        ),
        (
            vec![],
            EventKind::TaskDependencyAdded {
                task: 3,
                depends_on: 2,
            },
        ),
        (
            vec![],
            EventKind::TaskContentEdited {
                task: 2,
                content: "edited".into(),
            },
        ),
        (vec![], EventKind::TaskDeleted { task: 2 }),
        (
            vec![],
            EventKind::TaskReleased {
                task: 1,
                reason: "iteration 1 never ended".into(),
            },
        ),
        (
            vec![],
            EventKind::NoteAdded {
                note: 2,
                note_type: NoteType::Tip,
                content: "tip".into(),
            },
        ),
        (
            vec![],
            EventKind::NoteContentEdited {
                note: 1,
                content: "edited".into(),
            },
        ),
        (vec![], EventKind::NoteDeleted { note: 1 }),
        (vec![], started(2, Some("w2"))),
        (
            vec![],
            EventKind::IterationSummarized {
                iteration: 1,
                summary: "did things".into(),
            },
        ),
        // Its usage goes to the task the iteration worked on.
        (
            vec![
                EventKind::IterationStarted {
                    iteration: 50,
                    planning: false,
                    worker: None,
                },
                EventKind::TaskStatusSet {
                    task: 1,
                    status: TaskStatus::InProgress,
                },
            ],
            EventKind::IterationFinished {
                iteration: 50,
                outcome: "end_turn".into(),
                detail: None,
                commit: None,
                usage: Some(crate::session::Usage {
                    input_tokens: 10,
                    ..crate::session::Usage::default()
                }),
                auto_allowed: 3,
            },
        ),
        (
            vec![],
            EventKind::UserMessage {
                text: "hi".into(),
                who: String::new(),
            },
        ),
        (
            vec![EventKind::TaskStatusSet {
                task: 1,
                status: TaskStatus::Completed,
            }],
            EventKind::SessionCompleted { summary: None },
        ),
        (
            vec![],
            EventKind::HookRan {
                point: session::HookPoint::PostIteration,
                command: "make check".into(),
                exit_code: Some(0),
                result: "exit 0".into(),
                timed_out: false,
                took_ms: 5,
                output: String::new(),
            },
        ),
        (vec![], EventKind::SessionPaused { who: String::new() }),
        (
            vec![EventKind::SessionPaused { who: String::new() }],
            EventKind::SessionResumed { who: String::new() },
        ),
        (
            vec![],
            EventKind::StopRequested {
                now: true,
                who: "ana@laptop".into(),
            },
        ),
        (
            vec![],
            EventKind::AgentStarted {
                name: "fake".into(),
                version: "1".into(),
                http_mcp: true,
                sandboxed: false,
            },
        ),
        (
            vec![],
            EventKind::PermissionDecided {
                tool: "bash".into(),
                title: "rm -rf /".into(),
                decision: PermissionDecision::DeniedByRule,
                rule: Some("*rm*".into()),
            },
        ),
        (
            vec![],
            EventKind::PermissionRequested {
                request: 1,
                tool: "bash".into(),
                title: "ls".into(),
                worker: None,
            },
        ),
        (
            vec![EventKind::PermissionRequested {
                request: 1,
                tool: "bash".into(),
                title: "ls".into(),
                worker: None,
            }],
            EventKind::PermissionAnswered {
                request: 1,
                decision: PermissionDecision::AllowedByUser,
                who: "ana@laptop".into(),
            },
        ),
        (vec![], asked()),
        (
            vec![asked()],
            EventKind::QuestionAnswered {
                question: 1,
                answers: vec![session::ItemAnswer {
                    chosen: Vec::new(),
                    text: "yes".into(),
                }],
                who: "ana@laptop".into(),
            },
        ),
        (vec![asked()], EventKind::QuestionLeftOpen { question: 1 }),
        (vec![], EventKind::SessionReset { reason: None }),
        (
            // A new build: the stop asked of the one before no longer holds.
            vec![EventKind::StopRequested {
                now: false,
                who: String::new(),
            }],
            EventKind::LeaseAcquired {
                holder: holder(),
                ttl_ms: 3_600_000,
                took_over_from: None,
            },
        ),
        (
            vec![EventKind::LeaseAcquired {
                holder: holder(),
                ttl_ms: 3_600_000,
                took_over_from: None,
            }],
            EventKind::LeaseRenewed { id: "b1".into() },
        ),
        (
            vec![EventKind::LeaseAcquired {
                holder: holder(),
                ttl_ms: 3_600_000,
                took_over_from: None,
            }],
            EventKind::LeaseReleased { id: "b1".into() },
        ),
        (vec![], claim(3)),
        (
            vec![claim(3)],
            EventKind::ClaimsRenewed {
                worker: "w1".into(),
            },
        ),
        (
            vec![claim(3)],
            EventKind::TaskUnclaimed {
                task: 3,
                worker: "w1".into(),
                expired: true,
                reason: "lapsed".into(),
            },
        ),
        (
            vec![EventKind::TaskStatusSet {
                task: 2,
                status: TaskStatus::Completed,
            }],
            EventKind::TaskIntegrated {
                task: 2,
                commit: "abc1234".into(),
                worker: Some("w1".into()),
            },
        ),
    ];
    let covered: Vec<session::EventType> = all.iter().map(|(_, kind)| kind.event_type()).collect();
    assert_eq!(
        covered,
        session::EventType::ALL,
        "one example of each kind, in order"
    );
    all
}

/// The agent asks question Q-1.
fn asked() -> EventKind {
    asked_n(1)
}

fn asked_n(n: u64) -> EventKind {
    EventKind::QuestionAsked {
        question: n,
        items: vec![session::QuestionItem {
            header: "Go on".into(),
            question: "Shall I go on?".into(),
            choices: Vec::new(),
            multiple: false,
        }],
        worker: None,
    }
}

/// A session with something in every part: tasks (one in progress), a note, a running iteration
/// that has used tokens, a message, a permission decision.
fn base() -> Vec<EventKind> {
    vec![
        task(1, TaskStatus::InProgress),
        task(2, TaskStatus::Remaining),
        task(3, TaskStatus::Remaining),
        EventKind::NoteAdded {
            note: 1,
            note_type: NoteType::Learning,
            content: "learnt".into(),
        },
        started(1, None),
        EventKind::UserMessage {
            text: "first".into(),
            who: String::new(),
        },
        asked_n(9),
    ]
}

fn fold(kinds: &[EventKind]) -> SessionState {
    let mut state = SessionState::default();
    let t0 = t0();
    for (i, kind) in kinds.iter().enumerate() {
        let seq = i as u64 + 1;
        state.apply(
            seq,
            &Event::new(t0 + seq as i64 * 10_000, Author::System, kind.clone()),
        );
    }
    state
}

/// The keys of `status --json` that show each part.
fn keys(part: session::Part) -> &'static [&'static str] {
    match part {
        session::Part::Tasks => &["tasks", "counts", "next_task"],
        session::Part::Notes => &["notes"],
        session::Part::Iterations => &["iterations", "usage", "unattributed_usage"],
        session::Part::Messages => &["messages"],
        session::Part::Completion => &["completed", "completed_at", "completion_summary"],
        session::Part::Pause => &["paused", "stop"],
        session::Part::Agent => &["agent", "agent_sandboxed"],
        session::Part::Lease => &["builder", "builder_text"],
        session::Part::Permissions => &["permissions"],
        session::Part::Hooks => &[],
        session::Part::Questions => &["questions"],
    }
}

fn resource(state: &SessionState, part: Part) -> (String, String) {
    let text = |markdown| {
        let uri = Uri::new("demo", part, markdown);
        let contents = read(&uri, state, None).unwrap();
        serde_json::to_string(&contents).unwrap()
    };
    (text(false), text(true))
}

/// The same session with every task completed and the session completed, paused, with an agent
/// and a permission decision on record.
fn completed_base() -> Vec<EventKind> {
    let mut kinds = base();
    kinds.extend((1..=3).map(|task| EventKind::TaskStatusSet {
        task,
        status: TaskStatus::Completed,
    }));
    kinds.push(EventKind::SessionCompleted {
        summary: Some("all done".into()),
    });
    kinds.extend([
        EventKind::SessionPaused { who: String::new() },
        EventKind::AgentStarted {
            name: "fake".into(),
            version: "1".into(),
            http_mcp: true,
            sandboxed: true,
        },
        EventKind::PermissionDecided {
            tool: "bash".into(),
            title: "ls".into(),
            decision: PermissionDecision::AllowedByUser,
            rule: None,
        },
    ]);
    kinds
}

#[test]
fn each_kind_of_event_changes_exactly_the_parts_it_says() {
    let every_key: BTreeSet<&str> = session::Part::ALL
        .into_iter()
        .flat_map(|p| keys(p).iter().copied())
        .chain(["session", "events"])
        .collect();
    for (prelude, kind) in examples() {
        let name = kind.type_name();
        let said: BTreeSet<session::Part> = kind
            .changes()
            .iter()
            .copied()
            .filter(|p| !keys(*p).is_empty())
            .collect();
        let notified: BTreeSet<Part> = Part::changed_by(&kind).collect();
        // What it changed in any of the sessions: each change must be said, and each thing said
        // must change in one of them.
        let (mut changed_anywhere, mut updated_anywhere) = (BTreeSet::new(), BTreeSet::new());
        for base in [base(), completed_base()] {
            let mut kinds = base;
            kinds.extend(prelude.clone());
            let before = fold(&kinds);
            kinds.push(kind.clone());
            let after = fold(&kinds);

            // The session's parts, as status shows them.
            let (b, a): (Value, Value) = (
                crate::status::session_json("demo", &before),
                crate::status::session_json("demo", &after),
            );
            for key in a.as_object().unwrap().keys() {
                assert!(every_key.contains(key.as_str()), "{key} belongs to no part");
            }
            let changed: BTreeSet<session::Part> = session::Part::ALL
                .into_iter()
                .filter(|p| keys(*p).iter().any(|k| b.get(k) != a.get(k)))
                .collect();
            assert!(
                changed.is_subset(&said),
                "{name} changed {changed:?} but says {said:?}"
            );
            changed_anywhere.extend(changed);

            // The resources, as a subscriber reads them.
            let updated: BTreeSet<Part> = [Part::Tasks, Part::Notes, Part::Iterations]
                .into_iter()
                .filter(|p| resource(&before, *p) != resource(&after, *p))
                .collect();
            assert!(
                updated.is_subset(&notified),
                "{name} changed the resources {updated:?} but notifies {notified:?}"
            );
            updated_anywhere.extend(updated);
        }
        assert_eq!(changed_anywhere, said, "{name}: says more than it changes");
        assert_eq!(
            updated_anywhere, notified,
            "{name}: notifies more than it changes"
        );
    }
}
