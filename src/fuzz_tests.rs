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

/// Counts one execution of the property it is in, once the case has passed (call it last in
/// the body); after the last case prints the total on a `RELIABILITY:` line (`./reliability.sh`
/// adds them up; shown with `--nocapture`). A case that fails stops the count short.
/// True after the last case.
macro_rules! count {
    ($property:literal) => {{
        static RAN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let last = RAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == CASES;
        if last {
            println!(
                "RELIABILITY: fuzz {}: {CASES} executions, no panic",
                $property
            );
        }
        last
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

/// Long text: over the task content limit (1,000 characters) as often as under it.
fn long_text() -> impl Strategy<Value = String> {
    (
        500usize..2_500,
        prop_oneof![Just('x'), Just('é'), Just('😀'), Just(' ')],
    )
        .prop_map(|(n, c)| std::iter::repeat_n(c, n).collect())
}

/// A JSON value of any type, for a field that expects another.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        Just(json!("")),
        Just(json!("TAS-1")),
        Just(json!("completed")),
        Just(json!([])),
        Just(json!([1, 2])),
        Just(json!({})),
        Just(json!({"type": "task_added"})),
        nasty().prop_map(serde_json::Value::from),
    ]
}

/// One structural change to a stored event: another type, another value (of any type) for a
/// field, a field removed, a field added, another version.
#[derive(Debug, Clone)]
enum Mutation {
    Type(String),
    Field(prop::sample::Index, serde_json::Value),
    Remove(prop::sample::Index),
    Add(String, serde_json::Value),
    Version(serde_json::Value),
    Envelope(prop::sample::Index, serde_json::Value),
}

fn golden_types() -> Vec<String> {
    let mut types: Vec<String> = GOLDEN
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some(v["event"]["type"].as_str()?.to_string()))
        .collect();
    types.sort();
    types.dedup();
    types.push("no_such_event".into());
    types
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop::sample::select(golden_types()).prop_map(Mutation::Type),
        (any::<prop::sample::Index>(), json_value()).prop_map(|(i, v)| Mutation::Field(i, v)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        ("[a-z_]{1,12}", json_value()).prop_map(|(k, v)| Mutation::Add(k, v)),
        prop_oneof![
            Just(serde_json::json!(0)),
            Just(serde_json::json!(2)),
            Just(serde_json::json!(u32::MAX)),
            Just(serde_json::json!(-1)),
            Just(serde_json::json!("1")),
            Just(serde_json::json!(null)),
        ]
        .prop_map(Mutation::Version),
        (any::<prop::sample::Index>(), json_value()).prop_map(|(i, v)| Mutation::Envelope(i, v)),
    ]
}

fn mutate(event: &mut serde_json::Value, m: &Mutation) {
    let inner = event["event"].as_object_mut();
    match (m, inner) {
        (Mutation::Type(t), Some(inner)) => {
            inner.insert("type".into(), t.clone().into());
        }
        (Mutation::Field(i, v), Some(inner)) if !inner.is_empty() => {
            let keys: Vec<String> = inner.keys().cloned().collect();
            let key = keys[i.index(keys.len())].clone();
            inner.insert(key, v.clone());
        }
        (Mutation::Remove(i), Some(inner)) if !inner.is_empty() => {
            let keys: Vec<String> = inner.keys().cloned().collect();
            let key = keys[i.index(keys.len())].clone();
            inner.remove(&key);
        }
        (Mutation::Add(k, v), Some(inner)) => {
            inner.insert(k.clone(), v.clone());
        }
        (Mutation::Version(v), _) => event["v"] = v.clone(),
        (Mutation::Envelope(i, v), _) => {
            if let Some(outer) = event.as_object_mut().filter(|o| !o.is_empty()) {
                let keys: Vec<String> = outer.keys().cloned().collect();
                let key = keys[i.index(keys.len())].clone();
                outer.insert(key, v.clone());
            }
        }
        _ => {}
    }
}

/// A settings file of known keys with values of every type, and sometimes an unknown key or a
/// line that is not TOML.
fn settings_file() -> impl Strategy<Value = String> {
    let keys: Vec<&'static str> = crate::config::KEYS.iter().map(|k| k.name).collect();
    let value = prop_oneof![
        Just("true".to_string()),
        Just("0".to_string()),
        Just("3".to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("\"10s\"".to_string()),
        Just("\"0s\"".to_string()),
        Just("\"2h\"".to_string()),
        Just("\"ask\"".to_string()),
        Just("\"deny\"".to_string()),
        Just("[\"bash\", \"write\"]".to_string()),
        Just("[1, 2]".to_string()),
        Just("{ a = 1 }".to_string()),
        nasty().prop_map(|s| format!("{s:?}")),
        nasty(),
    ];
    let line = prop_oneof![
        8 => (prop::sample::select(keys), value.clone()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => ("[a-z_]{1,10}", value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("[hooks.post_iteration]\ncommand = \"true\"".to_string()),
        1 => nasty(),
    ];
    prop::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

/// The original tool's placeholder names.
const PLACEHOLDERS: [&str; 8] = [
    "session",
    "iteration",
    "task_id",
    "task_content",
    "task",
    "summary",
    "error",
    "data_dir",
];

/// What the original tool's placeholders look like: each known name, with spaces, with the Go
/// template's `.` prefix.
fn placeholder() -> impl Strategy<Value = String> {
    (
        prop::sample::select(PLACEHOLDERS.to_vec()),
        prop_oneof![Just(""), Just(" "), Just("  ")],
        prop_oneof![Just(""), Just(".")],
        prop_oneof![Just(""), Just(" ")],
    )
        .prop_map(|(name, before, dot, after)| format!("{{{{{before}{dot}{name}{after}}}}}"))
}

/// A hook command of the original: harmless words, quotes and placeholders, inside and outside
/// single and double quotes.
fn hook_command() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => placeholder(),
            2 => Just(" ".to_string()),
            2 => Just("'".to_string()),
            2 => Just("\"".to_string()),
            1 => Just("\\".to_string()),
            1 => Just("echo ".to_string()),
            1 => Just("printf '%s\\n' ".to_string()),
            1 => Just(" >> out.log".to_string()),
            1 => Just("; ".to_string()),
            1 => "[a-z0-9 _.:-]{0,8}",
        ],
        1..16,
    )
    .prop_map(|parts| format!("echo {}", parts.concat()))
}

/// Whether `command` still holds a known placeholder that is not escaped with a backslash.
fn keeps_known_placeholder(command: &str) -> Option<String> {
    let mut rest = command;
    let mut offset = 0;
    while let Some(at) = rest.find("{{") {
        let escaped = command[..offset + at].ends_with('\\');
        let after = &rest[at + 2..];
        if let Some(end) = after.find("}}") {
            let name = after[..end].trim().trim_start_matches('.');
            if !escaped && PLACEHOLDERS.contains(&name) {
                return Some(after[..end].to_string());
            }
        }
        offset += at + 2;
        rest = &rest[at + 2..];
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn events_decode_or_refuse(text in nasty()) {
        let _ = Event::from_json(&text);
        let _ = count!("events_decode_or_refuse");
    }

    #[test]
    fn structurally_changed_events_decode_or_refuse_and_what_decodes_round_trips(
        line in 0usize..64,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let lines: Vec<&str> = GOLDEN.lines().collect();
        let mut event: serde_json::Value = serde_json::from_str(lines[line % lines.len()]).unwrap();
        for m in &mutations {
            mutate(&mut event, m);
        }
        let text = event.to_string();
        match Event::from_json(&text) {
            Ok(decoded) => {
                prop_assert_eq!(Event::from_json(&decoded.to_json()).unwrap(), decoded.clone());
                MUTANTS_DECODED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                MUTANTS_REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if count!("structurally_changed_events_decode_or_refuse_and_what_decodes_round_trips") {
            println!(
                "reach: mutated events: {} decoded and {} refused",
                MUTANTS_DECODED.load(std::sync::atomic::Ordering::Relaxed),
                MUTANTS_REFUSED.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }

    #[test]
    fn damaged_events_decode_or_refuse_and_what_decodes_round_trips(
        line in 0usize..64,
        at in any::<prop::sample::Index>(),
        with in nasty(),
        cut in any::<bool>(),
    ) {
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
        let _ = count!("damaged_events_decode_or_refuse_and_what_decodes_round_trips");
    }

    #[test]
    fn spec_checklists_give_well_formed_tasks(
        parts in prop::collection::vec(
            prop_oneof![
                3 => nasty(),
                1 => long_text().prop_map(|t| format!("\n- [ ] {t}\n")),
                1 => long_text().prop_map(|t| format!("\n* [x] {t}\n")),
            ],
            1..6,
        ),
    ) {
        let spec = parts.concat();
        let tasks = checklist_tasks(&spec);
        let mut seen = std::collections::BTreeSet::new();
        for t in &tasks {
            prop_assert!(!t.content.trim().is_empty());
            prop_assert!(t.content.chars().count() <= limits::TASK_CONTENT_MAX);
            prop_assert!(seen.insert(normalize_content(&t.content)), "{:?} twice", t.content);
            if t.content.chars().count() == limits::TASK_CONTENT_MAX {
                LONG_TASKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if count!("spec_checklists_give_well_formed_tasks") {
            println!(
                "reach: long tasks cut to the limit: {}",
                LONG_TASKS.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }

    #[test]
    fn templates_compile_and_render_or_refuse(text in nasty(), spec in nasty()) {
        if let Ok(template) = PromptTemplate::new(&text, "fuzz") {
            let vars = PromptVars { spec, session: "s".into(), ..PromptVars::default() };
            let _ = template.render(&vars);
        }
        let _ = count!("templates_compile_and_render_or_refuse");
    }

    #[test]
    fn settings_files_parse_or_name_a_line(text in prop_oneof![nasty(), settings_file()]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iteratr.toml");
        std::fs::write(&path, &text).unwrap();
        match file::load(&path) {
            Ok(_) => {
                SETTINGS_ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.contains("iteratr.toml:"), "{}", shown);
            }
        }
        if count!("settings_files_parse_or_name_a_line") {
            println!(
                "reach: settings accepted: {}",
                SETTINGS_ACCEPTED.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }

    #[test]
    fn original_hook_commands_never_keep_a_known_placeholder_nor_run_a_value(
        text in prop_oneof![1 => nasty(), 3 => hook_command()],
    ) {
        if let Ok(migrated) = migrate_command(&text)
            // A command line cannot hold a NUL byte (the hook would fail to start).
            && !migrated.contains('\0')
        {
            if let Some(p) = keeps_known_placeholder(&migrated) {
                prop_assert!(false, "{{{{{}}}}} kept in {:?} (from {:?})", p, migrated, text);
            }
            if text.contains("{{") {
                HOOKS_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            // Run it as iteratr runs the original's hooks file (read from the file, run by the
            // hook runner) with hostile values: whatever the quoting around a placeholder, a
            // value is never executed.
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().display().to_string();
            let hostile = format!(
                "a'b\"c $(touch {d}/p1) `touch {d}/p2`; touch {d}/p3 '$(touch {d}/p4)' \"$(touch {d}/p5)\" ${{IFS}}"
            );
            std::fs::write(
                dir.path().join(crate::config::legacy_hooks::LEGACY_FILE),
                format!(
                    "hooks:\n  post_iteration:\n    - command: {}\n",
                    serde_json::Value::from(text.clone())
                ),
            )
            .unwrap();
            let hooks = crate::config::legacy_hooks::load(dir.path()).unwrap();
            let input = crate::hooks::HookInput {
                session: hostile.clone(),
                iteration: Some(3),
                task_id: Some(hostile.clone()),
                task_content: Some(hostile.clone()),
                summary: Some(hostile.clone()),
                error: Some(hostile.clone()),
                data_dir: hostile.clone(),
            };
            let ran = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(crate::hooks::run(&hooks[0], &input, dir.path()));
            let out = ran.ran.output;
            let made: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('p'))
                .collect();
            prop_assert!(
                made.is_empty(),
                "{:?} ran a value ({:?}) from {:?}: {}",
                migrated,
                made,
                text,
                out
            );
        }
        if count!("original_hook_commands_never_keep_a_known_placeholder_nor_run_a_value") {
            println!(
                "reach: hook commands with placeholders run: {}",
                HOOKS_RUN.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }
}

static MUTANTS_DECODED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static MUTANTS_REFUSED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static LONG_TASKS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static SETTINGS_ACCEPTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static HOOKS_RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The generators reach the inputs that matter: each property runs again on its own (this test
/// binary, `--exact`), and the counts it prints after its last case are all above zero.
#[test]
fn the_generators_reach_the_interesting_inputs() {
    // Each property in its own run, so this test does not depend on the others' scheduling.
    let run = |name: &str| {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads", "1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (property, needle) in [
        (
            "fuzz_tests::structurally_changed_events_decode_or_refuse_and_what_decodes_round_trips",
            "mutated events",
        ),
        (
            "fuzz_tests::spec_checklists_give_well_formed_tasks",
            "long tasks",
        ),
        (
            "fuzz_tests::settings_files_parse_or_name_a_line",
            "settings accepted",
        ),
        (
            "fuzz_tests::original_hook_commands_never_keep_a_known_placeholder_nor_run_a_value",
            "hook commands with placeholders",
        ),
    ] {
        let out = run(property);
        let line = out
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{property} printed no {needle:?} line:\n{out}"));
        println!("{line}");
        // "NAME: A and B" or "NAME: A": every number on the line must be above zero.
        let numbers = numbers_in(line);
        assert!(
            !numbers.is_empty() && numbers.iter().all(|n| *n > 0),
            "{line}"
        );
    }
}

/// The numbers a line of figures holds, in order ("claims and integrations: 12 and 3").
pub(crate) fn numbers_in(line: &str) -> Vec<u32> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}
