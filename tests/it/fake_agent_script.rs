//! The fake agent's script format (`examples/fake_agent/script.rs`, shared with the agent): the
//! typed builders write the JSON the tests wrote by hand before, every action parses from it,
//! and what the agent refuses is refused with a message that says why. No process runs here.
//! The `json!` scripts below are deliberate: they are the format itself, malformed ones included.

use serde_json::{Value, json};

use crate::common::fake_agent::script::{Action, Script, Stop, Turn};

/// Each action's builder and the JSON it stands for.
fn actions() -> Vec<(Action, Value)> {
    vec![
        (Action::say("hi"), json!({"say": "hi"})),
        (Action::think("hmm"), json!({"think": "hmm"})),
        (Action::plan(["a", "b"]), json!({"plan": ["a", "b"]})),
        (
            Action::tool("task-add", json!({"content": "x"})),
            json!({"tool": "task-add", "args": {"content": "x"}}),
        ),
        (
            Action::tool("task-list", json!({})).on_server("other"),
            json!({"tool": "task-list", "args": {}, "server": "other"}),
        ),
        (
            Action::permission("Edit src/lib.rs", "edit"),
            json!({"permission": {"title": "Edit src/lib.rs", "kind": "edit"}}),
        ),
        (Action::read("notes.txt"), json!({"read": "notes.txt"})),
        (
            Action::write("out/new.txt", "text"),
            json!({"write": {"path": "out/new.txt", "content": "text"}}),
        ),
        (
            Action::diff("src/x.rs", Some("a\n"), "b\n"),
            json!({"diff": {"path": "src/x.rs", "old": "a\n", "new": "b\n"}}),
        ),
        (
            Action::diff("src/y.rs", None, "new\n"),
            json!({"diff": {"path": "src/y.rs", "new": "new\n"}}),
        ),
        (Action::SleepMs(600_000), json!({"sleep_ms": 600_000})),
        (Action::wait_file("go"), json!({"wait_file": "go"})),
        (Action::Hang, json!({"hang": true})),
        (Action::Exit(7), json!({"exit": 7})),
        (Action::fail("no"), json!({"fail": "no"})),
        (Action::work(100), json!({"work": {"sleep_ms": 100}})),
        (
            Action::run(["touch", "a b"]),
            json!({"run": ["touch", "a b"]}),
        ),
        (
            Action::parallel([
                Action::tool("a", json!({})),
                Action::tool("b", json!({"x": 1})),
            ]),
            json!({"parallel": [{"tool": "a", "args": {}}, {"tool": "b", "args": {"x": 1}}]}),
        ),
        (
            Action::usage(600, 0),
            json!({"usage": {"input": 600, "output": 0}}),
        ),
        (
            Action::Usage {
                input: 1,
                output: 2,
                cost: Some(0.5),
            },
            json!({"usage": {"input": 1, "output": 2, "cost": 0.5}}),
        ),
    ]
}

#[test]
fn every_action_writes_the_json_it_stands_for_and_reads_back() {
    for (action, json) in actions() {
        assert_eq!(serde_json::to_value(&action).unwrap(), json, "{action:?}");
        let read: Action = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(read, action, "{json}");
    }
}

#[test]
fn a_script_writes_the_json_the_tests_wrote_by_hand() {
    let script = Script::turns([
        Turn::of([Action::say("hi"), Action::Hang]).stop(Stop::MaxTokens),
        Turn::exit_in_new_session(7),
    ])
    .repeat(Turn::of([Action::work(0)]))
    .models(["a/b"]);
    let json = json!({
        "turns": [
            {"actions": [{"say": "hi"}, {"hang": true}], "stop": "max_tokens"},
            {"actions": [], "exit_in_new_session": 7},
        ],
        "repeat": {"actions": [{"work": {"sleep_ms": 0}}]},
        "models": ["a/b"],
    });
    assert_eq!(serde_json::to_value(&script).unwrap(), json);
    assert_eq!(serde_json::from_value::<Script>(json).unwrap(), script);
    // The shortest forms the agent takes: no actions, no stop, nothing but the turns.
    let bare: Script =
        serde_json::from_value(json!({"turns": [{"exit_in_new_session": 7}, {}]})).unwrap();
    assert_eq!(
        bare,
        Script::turns([Turn::exit_in_new_session(7), Turn::of([])])
    );
}

#[test]
fn what_the_agent_took_loosely_it_still_takes() {
    let read = |v: Value| Action::from_value(&v).unwrap();
    // No args: an empty object. Extra keys: ignored. The first key naming an action decides.
    assert_eq!(
        read(json!({"tool": "task-list"})),
        Action::tool("task-list", json!({}))
    );
    assert_eq!(read(json!({"say": "x", "times": 3})), Action::say("x"));
    assert_eq!(read(json!({"say": "x", "hang": true})), Action::say("x"));
    // Any value of `hang`; `work` without a sleep; an unknown tool kind (shown as `other`).
    assert_eq!(read(json!({"hang": false})), Action::Hang);
    assert_eq!(read(json!({"work": {}})), Action::work(0));
    assert_eq!(
        read(json!({"tool": "x", "args": {}, "kind": "no-such-kind"})),
        Action::Tool {
            name: "x".into(),
            args: json!({}),
            server: None,
            kind: Some("no-such-kind".into()),
        }
    );
    assert_eq!(
        read(json!({"permission": {"title": "t"}})),
        Action::Permission {
            title: "t".into(),
            kind: None,
        }
    );
    // A stop reason the agent does not know is kept, to be refused when its turn runs.
    let turn: Turn = serde_json::from_value(json!({"stop": "bored"})).unwrap();
    assert_eq!(turn.stop, Some(Stop::Unknown("bored".into())));
}

#[test]
fn what_the_agent_refuses_is_refused_saying_why() {
    for (json, why) in [
        (json!("say"), "an action must be an object"),
        (json!({"say": 1}), "say needs a string"),
        (json!({"think": null}), "think needs a string"),
        (json!({"plan": "one"}), "plan needs a list of strings"),
        (json!({"tool": 1}), "tool needs a name"),
        (
            json!({"tool": "x", "args": []}),
            "tool args must be an object",
        ),
        (json!({"permission": {}}), "missing string field \"title\""),
        (json!({"read": ["a"]}), "read needs a path"),
        (
            json!({"write": {"path": "a"}}),
            "missing string field \"content\"",
        ),
        (
            json!({"diff": {"path": "a"}}),
            "missing string field \"new\"",
        ),
        (json!({"sleep_ms": -1}), "sleep_ms needs a number"),
        (json!({"wait_file": 1}), "wait_file needs a path"),
        (json!({"exit": "7"}), "exit needs a number"),
        (json!({"fail": {}}), "fail needs a message"),
        (
            json!({"parallel": {}}),
            "parallel needs a list of tool actions",
        ),
        (
            json!({"parallel": [{"say": "x"}]}),
            "parallel takes tool actions only",
        ),
        (json!({"run": "touch a"}), "run needs a list of strings"),
        (json!({"run": []}), "run needs a program"),
        (json!({"dance": true}), "unknown action"),
    ] {
        let error = Action::from_value(&json).unwrap_err();
        assert!(error.contains(why), "{json}: {error}");
        // The typed script refuses it too, with the same words.
        let script = json!({"turns": [{"actions": [json]}]});
        let error = serde_json::from_value::<Script>(script)
            .unwrap_err()
            .to_string();
        assert!(error.contains(why), "{error}");
    }
    // A script without turns is no script.
    assert!(serde_json::from_value::<Script>(json!({"repeat": {}})).is_err());
}
