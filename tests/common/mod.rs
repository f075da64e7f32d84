//! Helpers shared by the integration tests.

pub mod acp_driver;
pub mod chaos;
pub mod conformance;
pub mod fake_agent;
pub mod fake_llm;
pub mod footprint;
pub mod keep_alive;
pub mod mcp;
pub mod nats;
pub mod output_conformance;
pub mod procs;
pub mod project;
pub mod real_agent;
pub mod reliability;
pub mod rogue;
pub mod sessions;
pub mod spec;
pub mod tmux;
pub mod web;
pub mod webdriver;
pub mod webhook;

use std::time::{Duration, Instant};

use iteratr::session::{Author, Event, EventKind};

/// How long a test waits for something that normally takes a moment: generous, so that a slow or
/// busy machine only makes a test slower, never red.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `done` every 20 ms until it holds; after `limit`, fails with `what()` (called then, so
/// it can describe the state it found).
#[track_caller]
pub fn wait_until<S: std::fmt::Display>(
    limit: Duration,
    what: impl Fn() -> S,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?}: {}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a test's server on a runtime of its own thread (so sync and async tests can use it):
/// the future `serve` makes, until it ends or `stopped` fires. Tokio listeners are made inside
/// `serve`, on that runtime.
pub fn serve_in_thread<F>(
    stopped: tokio::sync::oneshot::Receiver<()>,
    serve: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<()>
where
    F: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tokio::select! {
                () = serve() => {}
                _ = stopped => {}
            }
        });
    })
}

pub fn message(text: impl Into<String>) -> Event {
    Event::new(
        1_700_000_000_000,
        Author::User,
        EventKind::UserMessage {
            text: text.into(),
            who: String::new(),
        },
    )
}

/// The example binary `name` (a helper process of the tests, `examples/NAME.rs` or
/// `examples/NAME/main.rs`): `cargo test`
/// builds examples beside the test binaries.
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --examples` (cargo test does this)",
        path.display()
    );
    path
}

/// Runs `iteratr [base args] status --session SESSION --json` and returns what it printed,
/// failing the test (with its stderr) when it fails. `cmd` brings the directory, environment and
/// store flags.
pub fn status_json(mut cmd: std::process::Command, session: &str) -> serde_json::Value {
    let out = cmd
        .args(["status", "--session", session, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `iteratr ARGS` run in `dir` by another process, as the person ana@laptop (`USER`,
/// `ITERATR_HOST`), on the data dir there.
pub fn as_ana(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .env_remove("ITERATR_DATA_DIR")
        .env("USER", "ana")
        .env("ITERATR_HOST", "laptop")
        .output()
        .unwrap()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iteratr")
}
