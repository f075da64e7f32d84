//! Pause and resume from another terminal: `iteratr pause` while an iteration runs lets it end,
//! then the loop waits (the agent gets no new prompt) until `iteratr resume`.

use std::time::Duration;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

use crate::common::project::*;

fn iteratr(p: &Project, args: &[&str]) -> String {
    let out = crate::common::as_ana(p.path(), args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_build_pauses_after_its_iteration_and_resumes_from_another_process() {
    let planning = Turn::of([Action::wait_file("go")]).then(planning_turn().actions);
    let p = Project::new(Script::turns([
        planning,
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]));
    let mut child = p.command(&["--headless"]).spawn().unwrap();
    // The build's output, line by line as it comes: the loop says when it starts waiting.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let printed = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in reader.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });
    p.wait_for_agent("waiting");
    assert!(iteratr(&p, &["pause"]).contains("pause requested"));
    assert!(iteratr(&p, &["pause"]).contains("already paused"));
    std::fs::write(p.path().join("go"), "").unwrap();
    // The planning iteration ends, and the loop waits instead of starting another.
    let mut seen = Vec::new();
    while !seen
        .last()
        .is_some_and(|l: &String| l.contains("paused (asked by ana@laptop)"))
    {
        match lines.recv_timeout(crate::common::PATIENCE) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("the loop never said it waits ({e}): {seen:?}"),
        }
    }
    let s = p.status();
    assert!(s["iterations"][0]["finished_at_ms"].is_number(), "{s}");
    assert_eq!(s["paused"]["who"], "ana@laptop", "{s}");
    assert!(
        seen.iter()
            .any(|l| l.contains("pause requested by ana@laptop")),
        "{seen:?}"
    );
    assert_eq!(
        p.agent_events::<log::Prompt>().len(),
        1,
        "a prompt was sent while paused"
    );
    let status = iteratr(&p, &["status"]);
    assert!(status.contains("Paused: since"), "{status}");
    assert!(status.contains("(asked by ana@laptop)"), "{status}");
    assert!(iteratr(&p, &["resume"]).contains("resumed"));
    let out = finish(child, Duration::from_secs(60));
    let text = printed.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("iteratr: resumed"), "{text}");
    assert!(text.contains("resumed by ana@laptop"), "{text}");
    assert_eq!(p.agent_events::<log::Prompt>().len(), 4);
    assert!(p.status()["paused"].is_null());
    // In the log, no iteration started between the pause and the resume.
    let log = crate::common::reliability::sqlite_log(&p.path().join(".iteratr"));
    let kinds: Vec<&str> = log["demo"].iter().map(|e| e.kind.type_name()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    let (paused, resumed) = (at("session_paused"), at("session_resumed"));
    assert!(paused < resumed, "{kinds:?}");
    for at in [paused, resumed] {
        let json: serde_json::Value = serde_json::from_str(&log["demo"][at].to_json()).unwrap();
        assert_eq!(json["event"]["who"], "ana@laptop", "{json}");
    }
    assert!(
        !kinds[paused..resumed].contains(&"iteration_started"),
        "an iteration started while paused: {kinds:?}"
    );
    assert_eq!(
        kinds[paused..]
            .iter()
            .filter(|k| **k == "session_paused")
            .count(),
        1,
        "{kinds:?}"
    );
}
