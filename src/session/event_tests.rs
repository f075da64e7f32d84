//! Parsing of statuses and note types, and refusing events a build cannot read.
use super::*;

#[test]
fn status_parsing_accepts_common_spellings() {
    assert_eq!(
        "in-progress".parse::<TaskStatus>().unwrap(),
        TaskStatus::InProgress
    );
    assert_eq!(
        "In Progress".parse::<TaskStatus>().unwrap(),
        TaskStatus::InProgress
    );
    assert_eq!("done".parse::<TaskStatus>().unwrap(), TaskStatus::Completed);
    assert_eq!(
        "canceled".parse::<TaskStatus>().unwrap(),
        TaskStatus::Cancelled
    );
    let err = "finished-ish"
        .parse::<TaskStatus>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("finished-ish") && err.contains("in_progress"),
        "{err}"
    );
}

#[test]
fn note_type_parsing() {
    assert_eq!("Tip".parse::<NoteType>().unwrap(), NoteType::Tip);
    let err = "idea".parse::<NoteType>().unwrap_err().to_string();
    assert!(
        err.contains("idea") && err.contains("learning, stuck, tip, decision"),
        "{err}"
    );
}

#[test]
fn newer_event_version_is_refused() {
    let json = r#"{"v":99,"at_ms":1,"by":"agent","event":{"type":"user_message","text":"x"}}"#;
    let err = Event::from_json(json).unwrap_err().to_string();
    assert!(err.contains("newer iteratr"), "{err}");
}

#[test]
fn unknown_event_type_is_an_error() {
    let json = r#"{"v":1,"at_ms":1,"by":"agent","event":{"type":"bogus"}}"#;
    assert!(Event::from_json(json).is_err());
}

/// `who` came to messages, pauses and resumes after logs were written without it (version 1):
/// old events read as nobody named, and an iteratr that knows no `who` reads the new ones.
#[test]
fn who_of_messages_and_pauses_reads_both_ways() {
    let old = r#"{"v":1,"at_ms":1,"by":"user","event":{"type":"session_paused"}}"#;
    let event = Event::from_json(old).unwrap();
    assert_eq!(event.kind, EventKind::SessionPaused { who: String::new() });
    assert_eq!(event.to_json(), old);

    // The shapes these kinds had before `who`, as an older build declares them.
    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Before {
        UserMessage { text: String },
        SessionPaused,
        SessionResumed,
    }
    let kinds = [
        EventKind::UserMessage {
            text: "hi".into(),
            who: "ana@laptop".into(),
        },
        EventKind::SessionPaused {
            who: "ana@laptop".into(),
        },
        EventKind::SessionResumed {
            who: "web: ana@laptop".into(),
        },
    ];
    let before: Vec<Before> = kinds
        .iter()
        .map(|k| {
            let event = Event::new(1, Author::User, k.clone());
            assert_eq!(event.v, 1, "{k:?}");
            let json: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
            serde_json::from_value(json["event"].clone()).unwrap()
        })
        .collect();
    assert_eq!(
        before,
        [
            Before::UserMessage { text: "hi".into() },
            Before::SessionPaused,
            Before::SessionResumed
        ]
    );
}
