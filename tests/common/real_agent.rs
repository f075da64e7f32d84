//! Running `iteratr build` with a real agent (opencode, claude-code-acp) in a scratch project with
//! a scratch home, for the tests that need the agents users run. Where the agents are: the
//! variables `ITERATR_TEST_OPENCODE` (the `opencode` executable) and `ITERATR_TEST_CLAUDE_CODE_ACP`
//! (its `dist/index.js`), or `target/real-agents/` where `.ci/run` installs them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fake_llm::FakeLlm;

pub const OPENCODE_VERSION: &str = "1.18.34";
pub const CLAUDE_CODE_ACP_VERSION: &str = "0.16.2";

fn install_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/real-agents")
}

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
            .env("ITERATR_LOG_LEVEL", "debug")
            .args(["build", "--agent", agent, "--headless"])
            .args(["--iteration-timeout", "45s", "--max-failures", "1"])
            .args(args)
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
        let out = Command::new(super::bin())
            .current_dir(self.path())
            .args(["status", "--session", &self.session, "--json"])
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
