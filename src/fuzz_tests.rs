//! Hostile input on the parsers that read what others wrote (issue 14, part 4): generated event
//! payloads, spec files, templates, settings files and the original's hook commands. Each must
//! answer with a value or an error, never a panic, and what it accepts must be well formed.

use proptest::prelude::*;

use crate::config::file;
use crate::config::legacy_hooks::migrate_command;
use crate::orchestrator::spec::checklist_tasks;
use crate::session::{Event, limits, normalize_content};
use crate::template::{PromptTemplate, PromptVars};

const GOLDEN: &str = include_str!("../tests/golden/events.jsonl");

/// Generated inputs per property.
const CASES: u32 = 400;

/// Counts one execution of the property it is in; at the last one prints the total on a
/// `RELIABILITY:` line (`./reliability.sh` adds them up; shown with `--nocapture`).
macro_rules! count {
    ($property:literal) => {{
        static RAN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        if RAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == CASES {
            println!(
                "RELIABILITY: fuzz {}: {CASES} executions, no panic",
                $property
            );
        }
    }};
}

/// Text with the characters that break parsers: quotes, braces, brackets, newlines, NUL, RTL marks,
/// combining characters, emoji.
fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\"".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("{{".to_string()),
            Just("}}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("- [ ] ".to_string()),
            Just("- [x] ".to_string()),
            Just("\n".to_string()),
            Just("\0".to_string()),
            Just("\u{202e}".to_string()),
            Just("e\u{301}".to_string()),
            Just("😀".to_string()),
            Just("=".to_string()),
            Just("'".to_string()),
            Just("\\".to_string()),
            "[a-z0-9 _.#:-]{0,12}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn events_decode_or_refuse(text in nasty()) {
        count!("events_decode_or_refuse");
        let _ = Event::from_json(&text);
    }

    #[test]
    fn damaged_events_decode_or_refuse_and_what_decodes_round_trips(
        line in 0usize..64,
        at in any::<prop::sample::Index>(),
        with in nasty(),
        cut in any::<bool>(),
    ) {
        count!("damaged_events_decode_or_refuse_and_what_decodes_round_trips");
        let lines: Vec<&str> = GOLDEN.lines().collect();
        let original = lines[line % lines.len()];
        let mut damaged = original.to_string();
        let mut i = at.index(damaged.len() + 1);
        while !damaged.is_char_boundary(i) {
            i -= 1;
        }
        if cut {
            damaged.truncate(i);
        }
        damaged.insert_str(i.min(damaged.len()), &with);
        if let Ok(event) = Event::from_json(&damaged) {
            prop_assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
        }
    }

    #[test]
    fn spec_checklists_give_well_formed_tasks(spec in nasty()) {
        count!("spec_checklists_give_well_formed_tasks");
        let tasks = checklist_tasks(&spec);
        let mut seen = std::collections::BTreeSet::new();
        for t in &tasks {
            prop_assert!(!t.content.trim().is_empty());
            prop_assert!(t.content.chars().count() <= limits::TASK_CONTENT_MAX);
            prop_assert!(seen.insert(normalize_content(&t.content)), "{:?} twice", t.content);
        }
    }

    #[test]
    fn templates_compile_and_render_or_refuse(text in nasty(), spec in nasty()) {
        count!("templates_compile_and_render_or_refuse");
        if let Ok(template) = PromptTemplate::new(&text, "fuzz") {
            let vars = PromptVars { spec, session: "s".into(), ..PromptVars::default() };
            let _ = template.render(&vars);
        }
    }

    #[test]
    fn settings_files_parse_or_name_a_line(text in nasty()) {
        count!("settings_files_parse_or_name_a_line");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iteratr.toml");
        std::fs::write(&path, &text).unwrap();
        if let Err(e) = file::load(&path) {
            let shown = e.to_string();
            prop_assert!(shown.contains("iteratr.toml:"), "{}", shown);
        }
    }

    #[test]
    fn original_hook_commands_never_keep_a_known_placeholder(text in nasty()) {
        count!("original_hook_commands_never_keep_a_known_placeholder");
        if let Ok(migrated) = migrate_command(&text) {
            for p in ["{{session}}", "{{iteration}}", "{{task_id}}", "{{task_content}}"] {
                prop_assert!(!migrated.contains(p), "{} in {:?}", p, migrated);
            }
        }
    }
}
