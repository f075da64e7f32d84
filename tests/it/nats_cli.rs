//! iteratr on JetStream from the command line: `--nats-server` (a local server iteratr runs and
//! stops itself) and `--nats-url`, with the real binary and the scripted fake agent.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::procs::running;

use serde_json::{Value, json};

use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::{status_of, stdout_and_stderr, summary, tool};

const SPEC: &str = "# Demo\n\nOne file.\n\n- [ ] Write hello.txt\n";

fn project() -> tempfile::TempDir {
    // The tests find nats-server the way iteratr does; fail (not skip) when it is missing.
    crate::common::nats::server_binary();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("specs")).unwrap();
    std::fs::write(dir.path().join("specs/demo.md"), SPEC).unwrap();
    let script = Script::turns([
        Turn::of([summary("planned")]),
        Turn::of([
            status_of("TAS-1", "in_progress"),
            Action::write("hello.txt", "done\n"),
            status_of("TAS-1", "completed"),
            summary("TAS-1 done"),
            tool("session-complete", json!({"summary": "all done"})),
        ]),
    ]);
    std::fs::write(dir.path().join("script.json"), script.to_json()).unwrap();
    dir
}

fn iteratr(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(crate::common::bin());
    cmd.current_dir(dir)
        .args(args)
        .env("ITERATR_AGENT", crate::common::fake_agent::path())
        .env("ITERATR_FAKE_AGENT_SCRIPT", dir.join("script.json"))
        .env("ITERATR_FAKE_AGENT_LOG", dir.join("agent.log"))
        .env_remove("ITERATR_DATA_DIR")
        .env_remove("ITERATR_LOG_FILE")
        .env_remove("ITERATR_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut child = iteratr(dir, args).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("iteratr {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn wait_gone(pid: u32, what: &str) {
    crate::common::procs::wait_gone(pid, what, crate::common::PATIENCE);
}

fn server_state(dir: &Path) -> Value {
    let file = dir.join(".iteratr/jetstream/server.json");
    let mut state = None;
    crate::common::wait_until(
        crate::common::PATIENCE,
        || format!("no {} appeared", file.display()),
        || {
            state = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            state.is_some()
        },
    );
    state.unwrap()
}

/// Starts `iteratr mcp serve --http` on the managed server and waits for the line saying it
/// serves: it has opened the store, so it holds its share of the server.
fn serving(dir: &Path) -> Killed {
    let mut child = iteratr(
        dir,
        &[
            "--nats-server",
            "mcp",
            "serve",
            "--http",
            "127.0.0.1:0",
            "--session",
            "demo",
        ],
    )
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads on to the end: a closed pipe would make the server's next line fail.
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let line = rx.recv_timeout(crate::common::PATIENCE).unwrap_or_default();
    assert!(line.contains("http://127.0.0.1:"), "not serving: {line:?}");
    Killed(child)
}

/// The pids holding the managed server's users lock.
fn users(dir: &Path) -> Vec<u32> {
    crate::common::procs::flock_holders(&dir.join(".iteratr/jetstream/users.lock"))
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_json(dir: &Path, store: &[&str]) -> Value {
    crate::common::status_json(iteratr(dir, store), "demo")
}

#[test]
fn build_on_a_managed_server_then_status_reuses_the_data() {
    let dir = project();
    let p = dir.path();
    let out = run(p, &["--nats-server", "build", "--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert_eq!(
        std::fs::read_to_string(p.join("hello.txt")).unwrap(),
        "done\n"
    );
    // The server stops with the build (its keeper notices within a moment); the data stays in
    // the data dir, not in SQLite.
    crate::common::wait_until(
        crate::common::PATIENCE,
        || "the server outlived the build",
        || !p.join(".iteratr/jetstream/server.json").exists(),
    );
    assert!(!p.join(".iteratr/iteratr.db").exists());
    // A new server on the same data dir finds the session.
    let s = status_json(p, &["--nats-server"]);
    assert_eq!(s["completed"], true, "{s}");
    assert_eq!(s["counts"]["completed"], 1);
    let out = run(p, &["--nats-server", "status"]);
    assert!(
        stdout_and_stderr(&out).contains("demo"),
        "{}",
        stdout_and_stderr(&out)
    );
}

#[test]
fn sigkill_of_iteratr_leaves_no_nats_server_and_a_second_process_shares_it() {
    let dir = project();
    let p = dir.path();
    let first = serving(p);
    let state = server_state(p);
    let (keeper, server) = (
        state["keeper_pid"].as_u64().unwrap() as u32,
        state["server_pid"].as_u64().unwrap() as u32,
    );
    assert!(running(server));
    // A second process on the same data dir uses the same server.
    let second = serving(p);
    let (first_pid, second_pid) = (first.0.id(), second.0.id());
    let mut holders = users(p);
    holders.sort();
    assert_eq!(holders, [first_pid, second_pid], "both hold the server");
    assert_eq!(server_state(p)["server_pid"], state["server_pid"], "reused");
    let out = run(p, &["--nats-server", "status"]);
    assert!(out.status.success(), "{}", stdout_and_stderr(&out));
    // Kill the first without warning (and reap it): its share goes, the second's stays, so the
    // keeper keeps the server for the second.
    drop(first);
    assert_eq!(users(p), [second_pid], "the second still holds the server");
    let out = run(p, &["--nats-server", "status"]);
    assert!(out.status.success(), "{}", stdout_and_stderr(&out));
    assert!(running(server), "the server stopped while still in use");
    assert!(running(keeper));
    assert_eq!(server_state(p)["server_pid"], state["server_pid"]);
    // Kill the last one: the server and its keeper go.
    drop(second);
    wait_gone(server, "nats-server");
    wait_gone(keeper, "the nats-server keeper");
}

#[test]
fn nats_url_selects_an_existing_server() {
    let server = crate::common::nats::NatsServer::start();
    let dir = project();
    let p = dir.path();
    let url = server.url();
    let out = run(p, &["--nats-url", &url, "build", "--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let s = status_json(p, &["--nats-url", &url]);
    assert_eq!(s["completed"], true, "{s}");
    assert!(!p.join(".iteratr").exists(), "nothing written locally");
    // An unreachable server is a clear error with the fix.
    let port = crate::common::nats::free_port();
    let out = run(
        p,
        &["--nats-url", &format!("nats://127.0.0.1:{port}"), "status"],
    );
    assert!(!out.status.success());
    assert!(
        stdout_and_stderr(&out).contains("cannot connect to the NATS server"),
        "{}",
        stdout_and_stderr(&out)
    );
    let out = run(p, &["--nats-url", "nats://a b", "status"]);
    assert!(!out.status.success());
    assert!(
        stdout_and_stderr(&out).contains("--nats-url"),
        "{}",
        stdout_and_stderr(&out)
    );
}

#[test]
fn a_missing_nats_server_binary_is_a_clear_error() {
    let dir = project();
    let out = iteratr(
        dir.path(),
        &["--nats-server", "mcp", "serve", "--session", "x"],
    )
    .env(
        "ITERATR_NATS_SERVER",
        dir.path().join("no-such-nats-server"),
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(
        stdout_and_stderr(&out).contains("ITERATR_NATS_SERVER"),
        "{}",
        stdout_and_stderr(&out)
    );
}

/// An agent that takes MCP over stdio only runs `iteratr mcp serve` itself: it must reach the
/// same JetStream store (here the managed server, shared through the data dir).
#[test]
fn a_stdio_only_agent_reaches_the_same_jetstream_store() {
    let dir = project();
    let p = dir.path();
    let mut cmd = iteratr(p, &["--nats-server", "build", "--headless"]);
    cmd.env("ITERATR_FAKE_AGENT_NO_HTTP", "1");
    let child = cmd.spawn().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert!(
        stdout_and_stderr(&out).contains("(session tools over stdio)"),
        "{}",
        stdout_and_stderr(&out)
    );
    let log = std::fs::read_to_string(p.join("agent.log")).unwrap();
    assert!(
        log.contains("--nats-server"),
        "the stdio entry names the store: {log}"
    );
    assert!(
        !p.join(".iteratr/iteratr.db").exists(),
        "nothing went to SQLite"
    );
    let s = status_json(p, &["--nats-server"]);
    assert_eq!(s["completed"], true, "{s}");
}
