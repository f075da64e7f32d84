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
