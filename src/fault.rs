//! Fault injection for the reliability tests (`tests/it/reliability_kills.rs`): with
//! `ITERATR_TEST_KILL_AT=POINT[#N]` iteratr kills itself with SIGKILL (no cleanup, exactly as a
//! crash or `kill -9` would) the N-th time (default: the first) it reaches POINT, so a test can
//! stop it at a moment no outside observer could time. Points:
//!
//! - `append:TYPE`: inside the SQLite transaction that appends an event of type TYPE
//!   (`task_status_set`, `iteration_finished`, ...), after its rows are written and before the
//!   commit;
//! - `appended:TYPE`: right after that commit (on JetStream: its acknowledgement), before anyone
//!   in iteratr learns it succeeded;
//! - `spawned:PROGRAM`: right after starting a child whose process group a watcher guards (the
//!   agent, a hook's `sh`, a `git` commit, rebase or push), before the spawn returns.
//!
//! Unset (always, outside the tests) it costs one environment lookup per process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ENV: &str = "ITERATR_TEST_KILL_AT";

struct Target {
    point: String,
    nth: u32,
    seen: AtomicU32,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok().filter(|s| !s.is_empty())?;
            let (point, nth) = match spec.rsplit_once('#') {
                Some((point, n)) => (point.to_string(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Target {
                point,
                nth,
                seen: AtomicU32::new(0),
            })
        })
        .as_ref()
}

/// iteratr is at `kind:detail` (`append:task_added`): dies here if the test asked for it.
pub fn reached(kind: &str, detail: &str) {
    let Some(t) = target() else { return };
    let matches = t
        .point
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        == Some(detail);
    if matches && t.seen.fetch_add(1, Ordering::SeqCst) + 1 == t.nth {
        tracing::warn!("{ENV}: killing iteratr at {kind}:{detail} #{}", t.nth);
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}
