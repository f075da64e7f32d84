//! Pause and resume from another terminal: `iteratr pause` while an iteration runs lets it end,
//! then the loop waits (the agent gets no new prompt) until `iteratr resume`.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::project::*;

fn iteratr(p: &Project, args: &[&str]) -> String {
    let out = Command::new(crate::common::bin())
        .current_dir(p.path())
        .args(args)
        .env_remove("ITERATR_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_build_pauses_after_its_iteration_and_resumes_from_another_process() {
    let mut planning = planning_turn();
    planning["actions"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"wait_file": "go"}));
    let p = Project::new(json!({"turns": [
        planning,
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ]}));
    let child = p.command(&["--headless"]).spawn().unwrap();
    p.wait_for_agent("waiting");
    assert!(iteratr(&p, &["pause"]).contains("pause requested"));
    assert!(iteratr(&p, &["pause"]).contains("already paused"));
    std::fs::write(p.path().join("go"), "").unwrap();
    // The planning iteration ends; no other starts while paused.
    crate::common::wait_until(
        crate::common::PATIENCE,
        || format!("the planning iteration never ended: {}", p.status()),
        || {
            let s = p.status();
            s["iterations"][0]["finished_at_ms"].is_number() && s["paused"].is_object()
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        p.agent_events("prompt").len(),
        1,
        "a prompt was sent while paused"
    );
    let status = iteratr(&p, &["status"]);
    assert!(status.contains("Paused: since"), "{status}");
    assert!(iteratr(&p, &["resume"]).contains("resumed"));
    let out = finish(child, Duration::from_secs(60));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("paused (asked by the user)"), "{text}");
    assert!(text.contains("iteratr: resumed"), "{text}");
    assert_eq!(p.agent_events("prompt").len(), 4);
    assert!(p.status()["paused"].is_null());
}
