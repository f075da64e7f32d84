//! Issue 26: a run of many iterations holds no more than a run of ten. Each iteration opens a new
//! ACP session, and the fake agent opens one MCP connection (and MCP session) in it and never
//! closes it; iteratr must close what belonged to an iteration when the iteration ends, so the
//! build's open file descriptors stay flat. Read from outside, through /proc; counts, no timings.

use std::sync::mpsc;

use serde_json::json;

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

use crate::common::footprint;
use crate::common::project::{Project, finish};

#[test]
fn a_build_of_300_iterations_with_a_client_that_never_closes_holds_no_more_fds_than_at_50() {
    let p =
        Project::new(Script::turns([]).repeat(Turn::of([Action::tool("task-next", json!({}))])));
    // Past the last sample: the end of the build closes everything, which would hide a leak.
    let mut child = p
        .command(&["--headless", "--json", "-i", "305"])
        .spawn()
        .unwrap();
    let (pid, stdout) = (child.id(), child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(footprint::sample_build(pid, stdout, &[50, 300], None));
    });
    // Not a timing check: a build that hangs must fail the test, not hang it.
    let Ok(samples) = rx.recv_timeout(crate::common::PATIENCE * 10) else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the build did not reach its 300th iteration (hung?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let out = finish(child, crate::common::PATIENCE);
    assert_eq!(
        samples.len(),
        2,
        "the build ended before its 300th iteration: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (at50, at300) = (samples[0], samples[1]);
    // The iteration running when a sample is taken holds a connection or two of its own.
    assert!(
        at300.fds <= at50.fds + 4,
        "open fds grew from {} at iteration 50 to {} at iteration 300: MCP connections or sessions of finished iterations are still open ({at50:?}, {at300:?})",
        at50.fds,
        at300.fds
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit at the iteration limit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every iteration's tool call reached the server (none failed on a closed connection).
    let failed: Vec<_> = p
        .agent_events::<log::Tool>()
        .into_iter()
        .filter(|e| e.is_error)
        .collect();
    assert!(failed.is_empty(), "tool calls failed: {failed:?}");
}
