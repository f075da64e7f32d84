//! `iteratr build` end to end with the real agents users run: opencode and Claude Code (through
//! `claude-code-acp`), each driven by a scripted fake LLM (`tests/common/fake_llm.rs`) on
//! 127.0.0.1, so the whole loop runs offline: iteratr → ACP → the real agent → the fake model →
//! the agent's tool calls → iteratr's real MCP server → the real event log.
//!
//! The agents are npm packages that `.ci/run` installs (pinned) and points to with
//! `ITERATR_TEST_OPENCODE` (the `opencode` executable) and `ITERATR_TEST_CLAUDE_CODE_ACP` (its
//! `dist/index.js`, run with `node`); without them these tests look in `target/real-agents/`, and
//! fail saying how to install the agent when it is not there. iteratr runs with a debug log
//! (`ITERATR_TEST_LOG_LEVEL=trace` shows the ACP traffic), whose end is printed when a test fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fake_llm::{Api, FakeLlm, Step, failed, prompt, result};
use serde_json::{Value, json};

const OPENCODE_VERSION: &str = "1.18.34";
const CLAUDE_CODE_ACP_VERSION: &str = "0.16.2";

const SPEC: &str =
    "# Greetings\n\nTwo small files.\n\n- [ ] Write hello.txt\n- [ ] Write world.txt\n";

/// Where `.ci/run` installs the agents when no variable says otherwise.
fn install_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/real-agents")
}

/// The agent's `what` (its executable or script): from `var`, or the default install path; a
/// clear failure otherwise.
fn locate(var: &str, what: &str, default: PathBuf, install: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.is_file(),
        "{} is missing. These tests run the real agent; install it with\n  {install}\n\
         (`bash .ci/run` does this) or point {var} at {what}.",
        path.display()
    );
    path
}

fn opencode() -> PathBuf {
    let dir = install_dir().join("opencode");
    locate(
        "ITERATR_TEST_OPENCODE",
        "the opencode executable",
        dir.join("node_modules/opencode-linux-x64/bin/opencode"),
        &format!(
            "npm install --prefix {} --no-save opencode-linux-x64@{OPENCODE_VERSION}",
            dir.display()
        ),
    )
}

fn claude_code_acp() -> PathBuf {
    let dir = install_dir().join("claude-code-acp");
    locate(
        "ITERATR_TEST_CLAUDE_CODE_ACP",
        "its dist/index.js",
        dir.join("node_modules/@zed-industries/claude-code-acp/dist/index.js"),
        &format!(
            "npm install --prefix {} --no-save @zed-industries/claude-code-acp@{CLAUDE_CODE_ACP_VERSION}",
            dir.display()
        ),
    )
}

/// A temporary project (with the spec) beside a temporary home for the agent.
struct Project {
    root: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("project/specs")).unwrap();
        let p = Project { root };
        std::fs::write(p.path().join("specs/greetings.md"), SPEC).unwrap();
        for d in ["home", "xdg/config", "xdg/data", "xdg/cache", "xdg/state"] {
            std::fs::create_dir_all(p.root.path().join(d)).unwrap();
        }
        p
    }

    /// The project directory (canonical: agents report resolved paths).
    fn path(&self) -> PathBuf {
        self.root.path().join("project").canonicalize().unwrap()
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// `iteratr build` in the project with a clean environment: PATH, a temporary HOME and XDG
    /// dirs, and the log of iteratr (with the agent's stderr and the ACP traffic) in the root.
    fn build(&self, agent: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(common::bin());
        cmd.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.root.path().join("xdg/config"))
            .env("XDG_DATA_HOME", self.root.path().join("xdg/data"))
            .env("XDG_CACHE_HOME", self.root.path().join("xdg/cache"))
            .env("XDG_STATE_HOME", self.root.path().join("xdg/state"))
            .env("LANG", "C.UTF-8")
            .env("ITERATR_LOG_FILE", self.log_file())
            .env(
                "ITERATR_LOG_LEVEL",
                std::env::var("ITERATR_TEST_LOG_LEVEL").unwrap_or("debug".into()),
            )
            .arg("build")
            .args(["--agent", agent, "--headless"])
            // Planning and two work iterations are enough; a hang or a failure stops the run at
            // once (with what happened in the output) rather than being retried.
            .args(
                [
                    ("-i", "3"),
                    ("--iteration-timeout", "45s"),
                    ("--max-failures", "1"),
                ]
                .into_iter()
                .filter(|(flag, _)| !args.contains(flag))
                .flat_map(|(flag, value)| [flag, value]),
            )
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn log_file(&self) -> PathBuf {
        self.root.path().join("iteratr.log")
    }

    /// The end of iteratr's debug log (for failure messages).
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(80);
        lines[from..]
            .iter()
            .map(|l| clip(l, 600))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn status(&self) -> Value {
        let out = Command::new(common::bin())
            .current_dir(self.path())
            .env_remove("ITERATR_DATA_DIR")
            .args(["status", "--session", "greetings", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Single-quotes a path for `--agent` (iteratr splits it the way a shell would).
fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    assert!(!s.contains('\''), "{s}");
    format!("'{s}'")
}

/// A running `iteratr build` whose output is collected as it comes.
struct Run {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn collect(
    pipe: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    })
}

impl Run {
    fn start(mut cmd: Command) -> Run {
        let mut child = cmd.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Run {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until the output has a line starting with `prefix`, and returns it.
    fn wait_for_line(&self, prefix: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(l) = self.stdout().lines().find(|l| l.starts_with(prefix)) {
                return Some(l.to_string());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits for the end (killing iteratr after `limit`, with `context` in the panic message).
    fn finish(mut self, limit: Duration, context: impl Fn() -> String) -> Finished {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                panic!(
                    "iteratr build did not finish within {limit:?}:\n{}\n{}\n{}",
                    self.stdout(),
                    self.stderr.lock().unwrap(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            code: status.code(),
            stdout: self.stdout(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

/// A bare HTTP POST to iteratr's MCP endpoint with the given Authorization header (or none):
/// the status line of the answer.
fn mcp_post(url: &str, authorization: Option<&str>) -> String {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{auth}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

/// The tool calls the agent reported as failed over ACP (headless `✗ NAME failed: …` lines) are
/// exactly those the script expects to fail: the check of `isError` where the model's wire format
/// does not carry it (chat completions), and a second one where it does.
fn assert_failed_calls(text: &str, llm: &FakeLlm, context: impl Fn() -> String) {
    let reported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  ✗ "))
        .map(|l| l.split_once(" failed").map_or(l, |(name, _)| name))
        .collect();
    assert_eq!(reported, llm.failed_calls(), "{}", context());
}

/// Asserts that no process is left (after a grace) whose command line contains `needle`.
fn assert_none_left(needle: &str) {
    common::wait_until(
        common::PATIENCE,
        || {
            format!(
                "agent processes are still running after the build: {:?}",
                common::procs::with_cmdline(needle)
            )
        },
        || common::procs::with_cmdline(needle).is_empty(),
    );
}

/// The opencode config: a custom OpenAI-compatible provider at the fake LLM with two models;
/// the default is `other`, so that requests for `scripted` show that `-m` took effect.
fn opencode_config(llm: &FakeLlm) -> Value {
    let model = json!({"tool_call": true, "limit": {"context": 100000, "output": 8000}});
    json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"fakellm": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Fake LLM",
            "options": {"baseURL": format!("{}/v1", llm.url()), "apiKey": "test-key"},
            "models": {"scripted": model, "other": model},
        }},
        "model": "fakellm/other",
        "small_model": "fakellm/other",
        "autoupdate": false,
        "share": "disabled",
    })
}

/// What the model does: plan (iteration 0), then one task per iteration with opencode's own
/// `write` tool for the file, ending with session-complete (refused once while a task is open).
fn opencode_script(project: &Path) -> Vec<Step> {
    let file = |name: &str| project.join(name).display().to_string();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    vec![
        // Iteration 0: planning.
        prompt("planning iteration").say_and_call(
            "Looking at the tasks.",
            "iteratr_task-list",
            json!({}),
        ),
        result("TAS-2 [p2] Write world.txt").call(
            "iteratr_note-add",
            json!({"type": "decision", "content": "One plain text file per task"}),
        ),
        result("Added NOT-1 (decision)").call(
            "iteratr_iteration-summary",
            json!({"summary": "Planned: two files, one per iteration"}),
        ),
        result("Recorded the summary of iteration 0").say("Planned."),
        // Iteration 1: TAS-1.
        prompt("session greetings, iteration 1\n").call("iteratr_task-next", json!({})),
        result("Next: TAS-1").call("iteratr_task-status", status("TAS-1", "in_progress")),
        result("TAS-1 is now in_progress").call(
            "write",
            json!({"filePath": file("hello.txt"), "content": "hello\n"}),
        ),
        result("Wrote file successfully").call("iteratr_task-status", status("TAS-1", "completed")),
        result("TAS-1 is now completed").call(
            "iteratr_iteration-summary",
            json!({"summary": "Wrote hello.txt"}),
        ),
        result("Recorded the summary of iteration 1").say("TAS-1 done."),
        // Iteration 2: TAS-2, then completion.
        prompt("session greetings, iteration 2\n").call("iteratr_task-next", json!({})),
        result("Next: TAS-2").call("iteratr_task-status", status("TAS-2", "in_progress")),
        result("TAS-2 is now in_progress").call(
            "write",
            json!({"filePath": file("world.txt"), "content": "world\n"}),
        ),
        // Declaring victory too early is refused...
        result("Wrote file successfully").call("iteratr_session-complete", json!({})),
        failed("not done: TAS-2").call("iteratr_task-status", status("TAS-2", "completed")),
        result("TAS-2 is now completed").call(
            "iteratr_iteration-summary",
            json!({"summary": "Wrote world.txt; nothing left"}),
        ),
        // ...and accepted once every task is done.
        result("Recorded the summary of iteration 2").call(
            "iteratr_session-complete",
            json!({"summary": "hello.txt and world.txt written"}),
        ),
        result("Session complete").say("All done."),
    ]
}

#[test]
fn opencode_builds_a_spec_through_iteratrs_tools() {
    let opencode = opencode();
    let p = Project::new();
    let llm = FakeLlm::start(Api::OpenAi, opencode_script(&p.path()));
    let agent = format!("{} acp", quote(&opencode));
    let mut cmd = p.build(&agent, &["-m", "fakellm/scripted"]);
    cmd.env("OPENCODE_CONFIG_CONTENT", opencode_config(&llm).to_string())
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env("OPENCODE_DISABLE_SHARE", "1");
    let run = Run::start(cmd);

    // The session tools' HTTP endpoint refuses requests without the session's bearer token, so
    // the tool calls below succeeding means opencode sent it.
    let started = run
        .wait_for_line("iteratr: agent `", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no start line in:\n{}", run.stdout()));
    let url = started
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches(',')
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{started}"
    );
    let unauthenticated = mcp_post(&url, None);
    let wrong = mcp_post(&url, Some("Bearer not-the-session-token"));
    let out = run.finish(Duration::from_secs(110), || {
        format!("{}\n{}", llm.report(), p.log_tail())
    });
    let text = &out.stdout;
    let context = || format!("{text}\n{}\n{}\n{}", out.stderr, llm.report(), p.log_tail());

    // The script ran to its end, every request matching its step.
    assert!(llm.errors().is_empty(), "{}", context());
    let (done, steps) = llm.progress();
    assert_eq!(done, steps, "{}", context());
    assert_eq!(out.code, Some(0), "{}", context());
    assert_failed_calls(text, &llm, context);

    // What the agent wrote with its own tool.
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("world.txt")).unwrap(),
        "world\n"
    );

    // The event log: both tasks completed through the MCP tools, the note, the summaries.
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    assert_eq!(s["completion_summary"], "hello.txt and world.txt written");
    assert_eq!(s["counts"]["completed"], 2, "{s}");
    assert_eq!(s["notes"][0]["content"], "One plain text file per task");
    assert_eq!(s["notes"][0]["type"], "decision", "{s}");
    let iterations = s["iterations"].as_array().unwrap();
    let summaries: Vec<&str> = iterations
        .iter()
        .map(|i| i["summary"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        summaries,
        [
            "Planned: two files, one per iteration",
            "Wrote hello.txt",
            "Wrote world.txt; nothing left"
        ]
    );
    assert!(iterations.iter().all(|i| i["outcome"] == "end_turn"), "{s}");

    // The headless output: the agent, the model, the iterations, the tool calls and their results.
    for line in [
        "iteratr: agent OpenCode 1.18.34 ready (session tools over HTTP)",
        "iteratr: model fakellm/scripted",
        "── iteration 0 (planning) ──",
        "  Looking at the tasks.",
        "  ✓ iteratr_task-list: remaining (2):",
        "  note NOT-1 (decision): One plain text file per task",
        "── iteration 2 ──",
        "  ✓ iteratr_task-status: TAS-1 is now completed.",
        "  ✗ iteratr_session-complete failed: the session cannot complete: 1 task(s) not done: TAS-2",
        "  summary: Wrote world.txt; nothing left",
        "  session completed",
        "iteratr: session complete after 2 iterations + planning · 2 tasks: 2 completed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{}", context());
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("  ✓ ") && l.contains("hello.txt")),
        "no completed write of hello.txt in:\n{text}"
    );

    // The model: every main request asked for the model chosen with -m (the config's default is
    // `other`, which only opencode's own title requests use); the MCP tools reached the model
    // under opencode's names.
    let main = llm.main_requests();
    assert!(main.len() >= steps, "{}", context());
    for r in &main {
        assert_eq!(r.model(), Some("scripted"), "{}", context());
        let tools = r.tool_names();
        for t in [
            "iteratr_task-list",
            "iteratr_task-status",
            "iteratr_session-complete",
            "write",
        ] {
            assert!(tools.iter().any(|n| n == t), "{t} not offered: {tools:?}");
        }
    }
    // One fresh opencode session per iteration.
    let sessions: std::collections::BTreeSet<&str> = main
        .iter()
        .filter_map(|r| r.header("x-opencode-session-id"))
        .collect();
    assert_eq!(sessions.len(), 3, "{}", context());

    // The bearer token is required, and opencode had it.
    assert!(unauthenticated.contains(" 401"), "{unauthenticated}");
    assert!(wrong.contains(" 401"), "{wrong}");

    // And no opencode process is left.
    assert_none_left(&opencode.display().to_string());
}

/// opencode processes (`opencode acp`, not iteratr's own command line naming it) working in `dir`.
fn opencode_in(opencode: &Path, dir: &Path) -> Vec<u32> {
    let program = opencode.display().to_string();
    common::procs::with_cmdline(&program)
        .into_iter()
        .filter(|(pid, cmdline)| {
            cmdline.starts_with(&program)
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// The agent dies (SIGKILL) while the model is working on the planning iteration: iteratr
/// records the failure, restarts opencode, plans again under the next number, and completes.
#[test]
fn opencode_killed_during_planning_is_restarted_and_the_session_completes() {
    let opencode = opencode();
    let p = Project::new();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            // The first planning attempt: a long shell command, during which opencode is killed.
            prompt("planning iteration").say_and_call(
                "Checking the tree first.",
                "bash",
                json!({"command": "sleep 60", "description": "wait"}),
            ),
            // The second attempt (iteration 1), after the restart.
            prompt("planning iteration").call(
                "iteratr_iteration-summary",
                json!({"summary": "Planned after a restart"}),
            ),
            result("Recorded the summary").say("Planned."),
            prompt("session greetings, iteration 2\n").calls(vec![
                ("iteratr_task-status", status("TAS-1", "completed")),
                ("iteratr_task-status", status("TAS-2", "completed")),
            ]),
            result("TAS-2 is now completed").call(
                "iteratr_session-complete",
                json!({"summary": "done after a crash"}),
            ),
            result("Session complete").say("All done."),
        ],
    );
    let agent = format!("{} acp", quote(&opencode));
    // One failure is expected here; a second would stop the run.
    let mut cmd = p.build(
        &agent,
        &[
            "-m",
            "fakellm/scripted",
            "--max-failures",
            "2",
            "--retry-delay",
            "100ms",
        ],
    );
    cmd.env("OPENCODE_CONFIG_CONTENT", opencode_config(&llm).to_string())
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env("OPENCODE_DISABLE_SHARE", "1");
    let run = Run::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(60);
    while llm.progress().0 < 1 {
        assert!(
            Instant::now() < deadline,
            "the model was never asked to plan:\n{}\n{}",
            run.stdout(),
            llm.report()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let victims = opencode_in(&opencode, &p.path());
    assert!(!victims.is_empty(), "no opencode process found");
    for pid in victims {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let out = run.finish(Duration::from_secs(110), || {
        format!("{}\n{}", llm.report(), p.log_tail())
    });
    let text = &out.stdout;
    let context = || format!("{text}\n{}\n{}\n{}", out.stderr, llm.report(), p.log_tail());
    assert_eq!(out.code, Some(0), "{}", context());
    assert!(llm.errors().is_empty(), "{}", context());
    assert!(text.contains("the agent failed (1/2)"), "{}", context());
    assert!(!text.contains("StartIteration"), "{}", context());
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    let iterations: Vec<(&str, bool)> = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["outcome"].as_str().unwrap(),
                i["planning"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        iterations,
        [("error", true), ("end_turn", true), ("end_turn", false)],
        "{s}"
    );
    assert_none_left(&opencode.display().to_string());
}

/// What Claude does: plan (adding a task), then write files with claude-code-acp's `Write`
/// (which goes through iteratr's `fs/write_text_file`), completing the tasks, some of them in
/// parallel tool calls, and the session.
fn claude_script(project: &Path) -> Vec<Step> {
    let file = |name: &str| project.join(name).display().to_string();
    let status = |id: &str, s: &str| json!({"id": id, "status": s});
    vec![
        // Iteration 0: planning adds a task.
        prompt("planning iteration").say_and_call(
            "Reviewing the plan.",
            "mcp__iteratr__task-list",
            json!({}),
        ),
        result("Write world.txt").call(
            "mcp__iteratr__task-add",
            json!({"content": "Check both files", "priority": 3, "depends_on": ["TAS-1", "TAS-2"]}),
        ),
        result("TAS-3").call(
            "mcp__iteratr__iteration-summary",
            json!({"summary": "Added TAS-3 to check the files"}),
        ),
        result("Recorded the summary of iteration 0").say("Planned."),
        // Iteration 1: TAS-1.
        prompt("session greetings, iteration 1\n").call("mcp__iteratr__task-next", json!({})),
        result("TAS-1").call("mcp__iteratr__task-status", status("TAS-1", "in_progress")),
        result("TAS-1 is now in_progress").call(
            "mcp__acp__Write",
            json!({"file_path": file("hello.txt"), "content": "hello\n"}),
        ),
        result("hello.txt has been updated successfully")
            .call("mcp__iteratr__task-status", status("TAS-1", "completed")),
        result("TAS-1 is now completed").call(
            "mcp__iteratr__iteration-summary",
            json!({"summary": "Wrote hello.txt"}),
        ),
        result("Recorded the summary of iteration 1").say("TAS-1 done."),
        // Iteration 2: the rest, completion refused while tasks are open, two status changes in
        // one message, then completion.
        prompt("session greetings, iteration 2\n").call(
            "mcp__acp__Write",
            json!({"file_path": file("world.txt"), "content": "world\n"}),
        ),
        result("world.txt has been updated successfully")
            .call("mcp__iteratr__session-complete", json!({})),
        failed("not done: TAS-2").calls(vec![
            ("mcp__iteratr__task-status", status("TAS-2", "completed")),
            ("mcp__iteratr__task-status", status("TAS-3", "completed")),
        ]),
        result("TAS-3 is now completed").call(
            "mcp__iteratr__iteration-summary",
            json!({"summary": "Wrote world.txt and checked both"}),
        ),
        result("Recorded the summary of iteration 2").call(
            "mcp__iteratr__session-complete",
            json!({"summary": "Both files written"}),
        ),
        result("Session complete").say("All done."),
    ]
}

#[test]
fn claude_code_builds_a_spec_through_iteratrs_tools() {
    let acp = claude_code_acp();
    let p = Project::new();
    let llm = FakeLlm::start(Api::Anthropic, claude_script(&p.path()));
    // No -m: claude-code-acp offers `models`, not a `model` session option.
    let agent = format!("node {}", quote(&acp));
    let mut cmd = p.build(&agent, &[]);
    cmd.env("ANTHROPIC_BASE_URL", llm.url())
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("IS_SANDBOX", "1");
    let out = Run::start(cmd).finish(Duration::from_secs(110), || {
        format!("{}\n{}", llm.report(), p.log_tail())
    });
    let text = &out.stdout;
    let context = || format!("{text}\n{}\n{}\n{}", out.stderr, llm.report(), p.log_tail());

    assert!(llm.errors().is_empty(), "{}", context());
    let (done, steps) = llm.progress();
    assert_eq!(done, steps, "{}", context());
    assert_eq!(out.code, Some(0), "{}", context());
    assert_failed_calls(text, &llm, context);

    // The files, written through iteratr's fs/write_text_file.
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("world.txt")).unwrap(),
        "world\n"
    );

    // The event log.
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    assert_eq!(s["completion_summary"], "Both files written");
    assert_eq!(s["counts"]["completed"], 3, "{s}");
    let added = &s["tasks"][2];
    assert_eq!(
        (
            added["id"].as_str(),
            added["content"].as_str(),
            added["priority"].as_u64()
        ),
        (Some("TAS-3"), Some("Check both files"), Some(3)),
        "{s}"
    );
    let iterations = s["iterations"].as_array().unwrap();
    let summaries: Vec<&str> = iterations
        .iter()
        .map(|i| i["summary"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        summaries,
        [
            "Added TAS-3 to check the files",
            "Wrote hello.txt",
            "Wrote world.txt and checked both"
        ]
    );
    assert!(iterations.iter().all(|i| i["outcome"] == "end_turn"), "{s}");

    // The headless output: permissions asked by Claude Code for MCP tools and answered by
    // iteratr, tool calls, file writes.
    for line in [
        "iteratr: agent @zed-industries/claude-code-acp 0.16.2 ready (session tools over HTTP)",
        "── iteration 0 (planning) ──",
        "  Reviewing the plan.",
        "  permission: mcp__iteratr__task-list → allowed",
        "  permission: mcp__iteratr__task-add → allowed",
        "  + TAS-3 [p3] Check both files",
        "  permission: mcp__iteratr__task-status → allowed",
        "  TAS-1 → completed",
        "  TAS-3 → completed",
        "  ✗ mcp__iteratr__session-complete failed",
        &format!(
            "  permission: Write {} → allowed",
            p.path().join("hello.txt").display()
        ),
        &format!("  file write {}", p.path().join("hello.txt").display()),
        &format!("  file write {}", p.path().join("world.txt").display()),
        "  summary: Wrote world.txt and checked both",
        "  session completed",
        "iteratr: session complete after 2 iterations + planning · 3 tasks: 3 completed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{}", context());
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("  ✓ mcp__iteratr__task-status")),
        "{}",
        context()
    );

    // Claude Code saw iteratr's tools under its names.
    for r in llm.main_requests() {
        let tools = r.tool_names();
        for t in ["mcp__iteratr__task-add", "mcp__iteratr__session-complete"] {
            assert!(tools.iter().any(|n| n == t), "{t} not offered: {tools:?}");
        }
    }

    // No claude-code-acp process, nor the Claude Code it runs, is left.
    let acp = acp.canonicalize().unwrap();
    let modules = acp
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "node_modules"))
        .unwrap_or(acp.parent().unwrap());
    assert_none_left(&modules.display().to_string());
}

/// The fake LLM itself, without an agent: the wire formats, the script, the records.
#[tokio::test]
async fn the_fake_llm_follows_its_script() {
    async fn post(url: String, body: Value) -> String {
        let r = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.text().await.unwrap()
    }
    fn data(sse: &str) -> Vec<Value> {
        sse.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }
    let tools = json!([{"type": "function", "function": {"name": "t", "parameters": {}}}]);

    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("do it").call("t", json!({"text": "héllo wörld"})),
            result("ok").say("Done now."),
        ],
    );
    let url = format!("{}/v1/chat/completions", llm.url());
    let user = json!({"role": "user", "content": "please do it"});
    // No tools: a side request, answered without taking a step.
    let title = post(
        url.clone(),
        json!({"model": "m", "stream": true, "messages": [user]}),
    )
    .await;
    assert_eq!(llm.progress(), (0, 2));
    assert!(title.ends_with("data: [DONE]\n\n"), "{title}");
    let call = post(
        url.clone(),
        json!({"model": "m", "stream": true, "tools": tools, "messages": [user]}),
    )
    .await;
    let chunks = data(&call);
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"text": "héllo wörld"})
    );
    let names: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["t"]);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    // The tool's result moves the script on.
    let messages = json!([user, {"role": "assistant", "tool_calls": []},
                          {"role": "tool", "tool_call_id": "call_1", "content": "ok, done"}]);
    let text = post(
        url.clone(),
        json!({"model": "m", "stream": true, "tools": tools, "messages": messages}),
    )
    .await;
    let said: String = data(&text)
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(said, "Done now.");
    assert!(llm.errors().is_empty(), "{}", llm.report());
    // Past the end: recorded as an error, answered with text.
    post(
        url,
        json!({"model": "m", "stream": true, "tools": tools, "messages": [user]}),
    )
    .await;
    assert_eq!(llm.errors().len(), 1, "{}", llm.report());
    assert_eq!(llm.requests().len(), 4);
    assert_eq!(llm.main_requests().len(), 3);
    assert_eq!(llm.main_requests()[0].step, Some(0));

    let llm = FakeLlm::start(
        Api::Anthropic,
        vec![result("wrong").say("never"), prompt("x").say("never")],
    );
    let tools = json!([{"name": "t", "input_schema": {}}]);
    let count = post(
        format!("{}/v1/messages/count_tokens", llm.url()),
        json!({"messages": []}),
    )
    .await;
    assert!(serde_json::from_str::<Value>(&count).unwrap()["input_tokens"].is_u64());
    let messages = json!([{"role": "user", "content": [{"type": "text", "text": "go"}]}]);
    let sse = post(
        format!("{}/v1/messages?beta=true", llm.url()),
        json!({"model": "c", "stream": true, "tools": tools, "messages": messages}),
    )
    .await;
    let mut events: Vec<&str> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    events.dedup(); // the text comes in several deltas
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    // The step did not match: not consumed, and said.
    assert_eq!(llm.progress(), (0, 2));
    assert!(
        llm.errors()[0].contains("step 0 expects ToolResult"),
        "{:?}",
        llm.errors()
    );

    // isError: a failed result does not move on a step that expects success, nor a successful
    // one a step that expects a failure.
    let llm = FakeLlm::start(
        Api::Anthropic,
        vec![
            prompt("go").call("t", json!({})),
            failed("refused").call("t", json!({})),
            result("fine").say("Done."),
        ],
    );
    let url = format!("{}/v1/messages", llm.url());
    let ask = |content: Value| json!({"model": "c", "tools": tools, "messages": [{"role": "user", "content": content}]});
    let outcome = |text: &str, is_error: bool| {
        ask(
            json!([{"type": "tool_result", "tool_use_id": "toolu_1", "content": text,
                    "is_error": is_error}]),
        )
    };
    post(url.clone(), ask(json!("go"))).await;
    assert_eq!(llm.progress(), (1, 3), "{}", llm.report());
    post(url.clone(), outcome("refused", false)).await;
    assert_eq!(llm.progress(), (1, 3), "{}", llm.report());
    post(url.clone(), outcome("refused", true)).await;
    assert_eq!(llm.progress(), (2, 3), "{}", llm.report());
    post(url.clone(), outcome("fine", true)).await;
    assert_eq!(llm.progress(), (2, 3), "{}", llm.report());
    post(url, outcome("fine", false)).await;
    assert_eq!(llm.progress(), (3, 3), "{}", llm.report());
    assert_eq!(llm.errors().len(), 2, "{}", llm.report());
    assert_eq!(llm.failed_calls(), ["t"]);
}
