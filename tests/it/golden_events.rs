//! The stored encoding of every event type, pinned in `tests/golden/events.jsonl`. A failure means
//! the format of data already on users' disks changed: make that deliberate (bump the event version,
//! keep old events readable), then regenerate with `ITERATR_UPDATE_GOLDEN=1 cargo test --test it golden_events`.

use iteratr::session::{
    Author, Choice, Event, EventKind, EventType, ItemAnswer, LeaseHolder, NoteType,
    PermissionDecision, QuestionItem, TaskStatus,
};

fn one_of_each() -> Vec<Event> {
    let at = 1_764_000_000_000;
    let e = |by, kind| Event::new(at, by, kind);
    let mut events = vec![
        e(
            Author::Agent,
            EventKind::TaskAdded {
                task: 1,
                content: "Write the parser".into(),
                status: TaskStatus::Remaining,
                priority: 0,
                depends_on: vec![],
            },
        ),
        e(
            Author::Agent,
            EventKind::TaskAdded {
                task: 2,
                content: "Test the parser".into(),
                status: TaskStatus::InProgress,
                priority: 4,
                depends_on: vec![1],
            },
        ),
        e(
            Author::Agent,
            EventKind::TaskStatusSet {
                task: 1,
                status: TaskStatus::Completed,
            },
        ),
        e(
            Author::User,
            EventKind::TaskStatusSet {
                task: 2,
                status: TaskStatus::Blocked,
            },
        ),
        e(
            Author::Agent,
            EventKind::TaskStatusSet {
                task: 2,
                status: TaskStatus::Cancelled,
            },
        ),
        e(
            Author::Agent,
            EventKind::TaskPrioritySet {
                task: 1,
                priority: 3,
            },
        ),
        e(
            Author::Agent,
            EventKind::TaskDependencyAdded {
                task: 2,
                depends_on: 1,
            },
        ),
        e(
            Author::User,
            EventKind::TaskContentEdited {
                task: 1,
                content: "Write the lexer".into(),
            },
        ),
        e(Author::User, EventKind::TaskDeleted { task: 2 }),
        e(
            Author::System,
            EventKind::TaskReleased {
                task: 1,
                reason: "iteration 3 never ended".into(),
            },
        ),
        e(
            Author::Agent,
            EventKind::NoteAdded {
                note: 1,
                note_type: NoteType::Learning,
                content: "uses serde".into(),
            },
        ),
        e(
            Author::Agent,
            EventKind::NoteAdded {
                note: 2,
                note_type: NoteType::Stuck,
                content: "tests hang".into(),
            },
        ),
        e(
            Author::Agent,
            EventKind::NoteAdded {
                note: 3,
                note_type: NoteType::Tip,
                content: "run cargo fmt".into(),
            },
        ),
        e(
            Author::Agent,
            EventKind::NoteAdded {
                note: 4,
                note_type: NoteType::Decision,
                content: "SQLite".into(),
            },
        ),
        e(
            Author::User,
            EventKind::NoteContentEdited {
                note: 1,
                content: "uses serde_json".into(),
            },
        ),
        e(Author::User, EventKind::NoteDeleted { note: 2 }),
        e(
            Author::System,
            EventKind::IterationStarted {
                iteration: 1,
                planning: false,
                worker: None,
            },
        ),
        // A planning iteration retried under a new number after the first attempt failed.
        e(
            Author::System,
            EventKind::IterationStarted {
                iteration: 2,
                planning: true,
                worker: None,
            },
        ),
        e(
            Author::Agent,
            EventKind::IterationSummarized {
                iteration: 1,
                summary: "Parser done".into(),
            },
        ),
        e(
            Author::System,
            EventKind::IterationFinished {
                iteration: 1,
                outcome: "end_turn".into(),
                detail: None,
                commit: None,
                usage: None,
                auto_allowed: 12,
            },
        ),
        e(
            Author::System,
            EventKind::IterationFinished {
                iteration: 2,
                outcome: "error".into(),
                detail: Some("agent exited".into()),
                commit: None,
                usage: None,
                auto_allowed: 0,
            },
        ),
        e(
            Author::User,
            EventKind::UserMessage {
                text: "focus on tests".into(),
                who: String::new(),
            },
        ),
        e(
            Author::Agent,
            EventKind::SessionCompleted {
                summary: Some("all done".into()),
            },
        ),
        e(Author::Agent, EventKind::SessionCompleted { summary: None }),
        e(
            Author::System,
            EventKind::HookRan {
                point: iteratr::session::HookPoint::PostIteration,
                command: "cargo test".into(),
                exit_code: Some(101),
                result: "exit 101".into(),
                timed_out: false,
                took_ms: 3_200,
                output: "test parser::works ... FAILED".into(),
            },
        ),
        e(
            Author::User,
            EventKind::SessionPaused { who: String::new() },
        ),
        e(
            Author::User,
            EventKind::SessionResumed { who: String::new() },
        ),
        e(
            Author::User,
            EventKind::StopRequested {
                now: true,
                who: "ana@laptop".into(),
            },
        ),
        e(
            Author::System,
            EventKind::AgentStarted {
                name: "OpenCode".into(),
                version: "1.18.34".into(),
                http_mcp: true,
                sandboxed: false,
            },
        ),
        e(
            Author::System,
            EventKind::AgentStarted {
                name: "OpenCode".into(),
                version: "1.18.34".into(),
                http_mcp: true,
                sandboxed: true,
            },
        ),
        e(
            Author::System,
            EventKind::PermissionDecided {
                tool: "bash".into(),
                title: "rm -rf target".into(),
                decision: PermissionDecision::DeniedByRule,
                rule: Some("bash*".into()),
            },
        ),
        e(
            Author::System,
            EventKind::PermissionRequested {
                request: 1,
                tool: "bash".into(),
                title: "cargo publish".into(),
                worker: Some("w2".into()),
            },
        ),
        e(
            Author::User,
            EventKind::PermissionAnswered {
                request: 1,
                decision: PermissionDecision::DeniedByUser,
                who: "ana@laptop".into(),
            },
        ),
        e(
            Author::Agent,
            EventKind::QuestionAsked {
                question: 1,
                items: vec![QuestionItem {
                    header: "Database".into(),
                    question: "Which database should the service use?".into(),
                    choices: vec![
                        Choice {
                            label: "PostgreSQL".into(),
                            description: "a server, as in production".into(),
                        },
                        Choice {
                            label: "SQLite".into(),
                            description: String::new(),
                        },
                    ],
                    multiple: false,
                }],
                worker: Some("w1".into()),
            },
        ),
        e(Author::Agent, EventKind::QuestionLeftOpen { question: 1 }),
        e(
            Author::User,
            EventKind::QuestionAnswered {
                question: 1,
                answers: vec![ItemAnswer {
                    chosen: vec!["SQLite".into()],
                    text: "for now".into(),
                }],
                who: "ana@laptop".into(),
            },
        ),
        e(
            Author::User,
            EventKind::SessionReset {
                reason: Some("start over".into()),
            },
        ),
        e(
            Author::System,
            EventKind::LeaseAcquired {
                holder: LeaseHolder {
                    id: "5f2a9c0e1b7d4a36".into(),
                    host: "devbox".into(),
                    pid: 4242,
                    version: "0.1.0".into(),
                    started_at_ms: 1_763_999_999_000,
                    machine: Some("9f3b2c1d0e4a5b6c".into()),
                    boot: Some("3b0f8e52-6c1a-4d7e-9a55-0c2d7f1e8b44".into()),
                    start_ticks: Some(1_234_567),
                    no_output: false,
                },
                ttl_ms: 90_000,
                took_over_from: Some("iteratr 0.1.0 (pid 4100 on devbox)".into()),
            },
        ),
        e(
            Author::System,
            EventKind::LeaseRenewed {
                id: "5f2a9c0e1b7d4a36".into(),
            },
        ),
        e(
            Author::System,
            EventKind::LeaseReleased {
                id: "5f2a9c0e1b7d4a36".into(),
            },
        ),
        e(
            Author::System,
            EventKind::IterationStarted {
                iteration: 4,
                planning: false,
                worker: Some("w2".into()),
            },
        ),
        e(
            Author::System,
            EventKind::TaskClaimed {
                task: 1,
                worker: "w2".into(),
                ttl_ms: 120_000,
            },
        ),
        e(
            Author::System,
            EventKind::ClaimsRenewed {
                worker: "w2".into(),
            },
        ),
        e(
            Author::System,
            EventKind::TaskUnclaimed {
                task: 1,
                worker: "w2".into(),
                expired: true,
                reason: "its worker stopped renewing the claim".into(),
            },
        ),
        e(
            Author::System,
            EventKind::TaskUnclaimed {
                task: 1,
                worker: "w3".into(),
                expired: false,
                reason: "integrated as 0123456789ab".into(),
            },
        ),
        e(
            Author::System,
            EventKind::TaskIntegrated {
                task: 1,
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                worker: Some("w3".into()),
            },
        ),
    ];
    // Every decision a permission event can record.
    let decisions = [
        (Author::System, PermissionDecision::Allowed),
        (Author::User, PermissionDecision::AllowedByUser),
        (Author::System, PermissionDecision::AllowedAlways),
        (Author::User, PermissionDecision::DeniedByUser),
        (Author::System, PermissionDecision::DeniedUnattended),
        (Author::System, PermissionDecision::Cancelled),
    ];
    events.extend(decisions.into_iter().map(|(by, decision)| {
        e(
            by,
            EventKind::PermissionDecided {
                tool: "write".into(),
                title: "src/main.rs".into(),
                decision,
                rule: None,
            },
        )
    }));
    // Who sent a message, paused and resumed, recorded since iteratr knows it (same version).
    events.extend([
        e(
            Author::User,
            EventKind::UserMessage {
                text: "use tabs".into(),
                who: "ana@laptop".into(),
            },
        ),
        e(
            Author::User,
            EventKind::SessionPaused {
                who: "ana@laptop".into(),
            },
        ),
        e(
            Author::User,
            EventKind::SessionResumed {
                who: "web: ana@laptop".into(),
            },
        ),
    ]);
    // A build that keeps no live output for watchers (`--output-retention off`) says so in its
    // lease, since iteratr has the setting (same version).
    events.push(e(
        Author::System,
        EventKind::LeaseAcquired {
            holder: LeaseHolder {
                id: "7c1e0d2b9a3f4e58".into(),
                host: "devbox".into(),
                pid: 4343,
                version: "0.1.0".into(),
                started_at_ms: 1_764_000_000_000,
                no_output: true,
                ..LeaseHolder::default()
            },
            ttl_ms: 90_000,
            took_over_from: None,
        },
    ));
    events
}

#[test]
fn event_encoding_matches_the_golden_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events.jsonl");
    let events = one_of_each();
    let encoded: String = events.iter().map(|e| e.to_json() + "\n").collect();
    if std::env::var_os("ITERATR_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &encoded).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        encoded,
        golden,
        "event encoding drifted from {}",
        path.display()
    );
    // And what is on disk decodes back to the same events.
    for (line, event) in golden.lines().zip(&events) {
        assert_eq!(&Event::from_json(line).unwrap(), event);
    }
    // Every event type is covered, and the name stored beside each payload is its `type` tag.
    let types: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.kind.type_name()).collect();
    let every: std::collections::BTreeSet<&str> =
        EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(types, every);
    assert_eq!(every.len(), 34);
    for (line, event) in golden.lines().zip(&events) {
        let stored: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(stored["event"]["type"], event.kind.type_name(), "{line}");
    }
}
