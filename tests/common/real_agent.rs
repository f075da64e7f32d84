//! Running `iteratr build` with a real agent (opencode, claude-code-acp) in a scratch project with
//! a scratch home, for the tests that need the agents users run. Where the agents are: the
//! variables `ITERATR_TEST_OPENCODE` (the `opencode` executable) and `ITERATR_TEST_CLAUDE_CODE_ACP`
//! (its `dist/index.js`), or `target/real-agents/` where `./test.sh` installs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fake_llm::FakeLlm;

pub const OPENCODE_VERSION: &str = "1.18.34";
pub const CLAUDE_CODE_ACP_VERSION: &str = "0.16.2";

fn install_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/real-agents")
}

/// A program a test runs (a real agent, a Node.js MCP tool): `var` if set, else `default`; a
/// missing one fails the test with how to install it.
pub fn locate(var: &str, what: &str, default: PathBuf, install: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.is_file(),
        "{} is missing. This test runs it; install it with\n  {install}\n\
         (`./test.sh` does this and runs the tests) or point {var} at {what}.",
        path.display()
    );
    path
}

pub fn opencode() -> PathBuf {
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

pub fn claude_code_acp() -> PathBuf {
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

/// Single-quotes a path for `--agent` (iteratr splits it the way a shell would).
pub fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    assert!(!s.contains('\''), "{s}");
    format!("'{s}'")
}

/// An opencode configuration with a custom OpenAI-compatible provider at the fake LLM, whose
/// model `model` is the default.
pub fn opencode_config(llm: &FakeLlm, model: &str) -> Value {
    let m = json!({"tool_call": true, "limit": {"context": 100000, "output": 8000}});
    json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"fakellm": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Fake LLM",
            "options": {"baseURL": format!("{}/v1", llm.url()), "apiKey": "test-key"},
            "models": {"scripted": m, "other": m},
        }},
        "model": format!("fakellm/{model}"),
        "small_model": format!("fakellm/{model}"),
        "autoupdate": false,
        "share": "disabled",
    })
}

/// A scratch project (`specs/<session>.md`) beside a scratch home and XDG dirs.
pub struct Project {
    root: tempfile::TempDir,
    pub session: String,
}

impl Project {
    pub fn new(session: &str, spec: &str) -> Project {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("project/specs")).unwrap();
        for d in ["home", "xdg/config", "xdg/data", "xdg/cache", "xdg/state"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let p = Project {
            root,
            session: session.to_string(),
        };
        std::fs::write(p.path().join(format!("specs/{session}.md")), spec).unwrap();
        p
    }

    /// The project directory (canonical: agents report resolved paths).
    pub fn path(&self) -> PathBuf {
        self.root.path().join("project").canonicalize().unwrap()
    }

    /// `$XDG_CONFIG_HOME` of the agent (opencode's global config is `opencode/opencode.json`).
    pub fn config_home(&self) -> PathBuf {
        self.root.path().join("xdg/config")
    }

    /// `iteratr build --headless` with a clean environment (PATH, the scratch HOME and XDG dirs,
    /// iteratr's debug log in the root) and `args`.
    pub fn build(&self, agent: &str, args: &[&str]) -> Command {
        let mut cmd = self.iteratr();
        cmd.args(["build", "--agent", agent, "--headless"])
            // A hang or a failure stops the run at once (with what happened in the output)
            // rather than being retried, unless `args` say otherwise.
            .args(
                [("--iteration-timeout", "45s"), ("--max-failures", "1")]
                    .into_iter()
                    .filter(|(flag, _)| !args.contains(flag))
                    .flat_map(|(flag, value)| [flag, value]),
            )
            .args(args);
        cmd
    }

    /// `iteratr spec --headless` with the same clean environment, its answers read from
    /// `answers` (a file).
    pub fn spec(&self, agent: &str, args: &[&str], answers: &Path) -> Command {
        let mut cmd = self.iteratr();
        cmd.args(["spec", "--agent", agent, "--headless"])
            .args(args)
            .stdin(std::fs::File::open(answers).unwrap());
        cmd
    }

    /// iteratr in the project with a clean environment (PATH, the scratch HOME and XDG dirs,
    /// iteratr's debug log in the root).
    fn iteratr(&self) -> Command {
        let mut cmd = Command::new(super::bin());
        cmd.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.path().join("home"))
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_DATA_HOME", self.root.path().join("xdg/data"))
            .env("XDG_CACHE_HOME", self.root.path().join("xdg/cache"))
            .env("XDG_STATE_HOME", self.root.path().join("xdg/state"))
            .env("LANG", "C.UTF-8")
            .env("ITERATR_LOG_FILE", self.log_file())
            .env(
                "ITERATR_LOG_LEVEL",
                std::env::var("ITERATR_TEST_LOG_LEVEL").unwrap_or("debug".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    pub fn log_file(&self) -> PathBuf {
        self.root.path().join("iteratr.log")
    }

    /// The end of iteratr's debug log (for failure messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(60);
        lines[from..]
            .iter()
            .map(|l| l.chars().take(600).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn status(&self) -> Value {
        let mut cmd = Command::new(super::bin());
        cmd.current_dir(self.path()).env_remove("ITERATR_DATA_DIR");
        super::status_json(cmd, &self.session)
    }
}

/// Runs `cmd` to its end, killing it after `limit` (then the panic says what it printed).
pub fn run(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.spawn().unwrap();
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        let mut r = r.unwrap();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = pipe(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = pipe(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "iteratr build did not finish within {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap()),
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A running `iteratr build` whose output is collected as it comes.
pub struct Run {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn collect(
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
    pub fn start(mut cmd: Command) -> Run {
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

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Kills iteratr (SIGKILL: no cleanup) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the output has a line starting with `prefix`, and returns it.
    pub fn wait_for_line(&self, prefix: &str, limit: Duration) -> Option<String> {
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
    pub fn finish(mut self, limit: Duration, context: impl Fn() -> String) -> Finished {
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
pub fn mcp_post(url: &str, authorization: Option<&str>) -> String {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(super::PATIENCE)).unwrap();
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
pub fn assert_failed_calls(text: &str, llm: &FakeLlm, context: impl Fn() -> String) {
    let reported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  ✗ "))
        .map(|l| l.split_once(" failed").map_or(l, |(name, _)| name))
        .collect();
    assert_eq!(reported, llm.failed_calls(), "{}", context());
}

/// Runs a build of `p` driven by `llm` to its end and checks what every scripted run expects: the
/// model's script followed to its last step without a mismatch, and exit code 0. Returns the run
/// and what to print beside a later failure (output, the fake LLM's report, iteratr's log).
pub fn run_script_to_the_end(
    cmd: Command,
    llm: &FakeLlm,
    p: &Project,
    limit: Duration,
) -> (Finished, String) {
    Run::start(cmd).script_to_the_end(llm, p, limit)
}

impl Run {
    /// [`run_script_to_the_end`] for a build already started.
    pub fn script_to_the_end(
        self,
        llm: &FakeLlm,
        p: &Project,
        limit: Duration,
    ) -> (Finished, String) {
        let out = self.finish(limit, || format!("{}\n{}", llm.report(), p.log_tail()));
        let context = format!(
            "{}\n{}\n{}\n{}",
            out.stdout,
            out.stderr,
            llm.report(),
            p.log_tail()
        );
        assert!(llm.errors().is_empty(), "{context}");
        let (done, steps) = llm.progress();
        assert_eq!(done, steps, "{context}");
        assert_eq!(out.code, Some(0), "{context}");
        (out, context)
    }
}

/// Asserts that no process is left (after a grace) working in `dir` or below it (a worker's
/// worktree, even one already removed) whose command line contains `needle` (other tests run
/// the same agents at the same time, in other directories).
pub fn assert_none_left(needle: &str, dir: &Path) {
    let left = || -> Vec<(u32, String)> {
        super::procs::with_cmdline(needle)
            .into_iter()
            .filter(|(pid, cmdline)| {
                !cmdline.contains(super::bin()) && super::procs::works_under(*pid, dir)
            })
            .collect()
    };
    super::wait_until(
        super::PATIENCE,
        || {
            format!(
                "agent processes are still running after the build: {:?}",
                left()
            )
        },
        || left().is_empty(),
    );
}

/// The environment that points opencode at the fake LLM (`model` the config's default) and keeps
/// it offline and quiet.
pub fn opencode_env(cmd: &mut Command, llm: &FakeLlm, model: &str) {
    cmd.env(
        "OPENCODE_CONFIG_CONTENT",
        opencode_config(llm, model).to_string(),
    )
    .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
    .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
    .env("OPENCODE_DISABLE_SHARE", "1");
}

/// The environment that points claude-code-acp at the fake LLM and keeps it offline (as root it
/// needs IS_SANDBOX).
pub fn claude_env(cmd: &mut Command, llm: &FakeLlm) {
    cmd.env("ANTHROPIC_BASE_URL", llm.url())
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("IS_SANDBOX", "1");
}
