//! A project for `iteratr build` end-to-end tests: a directory with a spec, a script for the
//! scripted fake agent, and its own data dir; plus the script steps the tests share.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fake_agent::log::{self, Record};
use super::fake_agent::script::{Action, Script, Turn};

/// A project directory with a spec, a script for the fake agent, and its own data dir.
pub struct Project {
    pub dir: tempfile::TempDir,
    /// Environment for every iteratr command (the store choice, say).
    pub env: Vec<(String, String)>,
}

pub const SPEC: &str = "# Demo\n\nMake three files.\n\n- [ ] Write hello.txt\n- [ ] Write world.txt\n- [ ] Write the README\n";

impl Project {
    pub fn new(script: Script) -> Self {
        Self::in_dir(script, tempfile::tempdir().unwrap())
    }

    /// [`Project::new`] in `dir` (one outside `/tmp`, say).
    pub fn in_dir(script: Script, dir: tempfile::TempDir) -> Self {
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        std::fs::write(dir.path().join("specs/demo.md"), SPEC).unwrap();
        let p = Project {
            dir,
            env: Vec::new(),
        };
        p.script(&script);
        p
    }

    /// Every iteratr command of this project gets `key=value` (e.g. `ITERATR_NATS_URL`).
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the script and restarts it from its first turn.
    pub fn script(&self, script: &Script) {
        std::fs::write(self.path().join("script.json"), script.to_json()).unwrap();
        let _ = std::fs::remove_file(self.path().join("script.json.state"));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        build_command(self.path(), &self.env, "build", args)
    }

    /// `iteratr worker ARGS` with this project's environment (the fake agent, its script and log).
    pub fn worker_command(&self, args: &[&str]) -> Command {
        build_command(self.path(), &self.env, "worker", args)
    }

    /// `iteratr spec ARGS` with this project's environment, its stdin a pipe.
    pub fn spec_command(&self, args: &[&str]) -> Command {
        let mut cmd = build_command(self.path(), &self.env, "spec", args);
        cmd.env_remove("ITERATR_SPEC_DIR").stdin(Stdio::piped());
        cmd
    }

    pub fn build(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().unwrap();
        finish(child, Duration::from_secs(60))
    }

    /// The fake agent's log.
    pub fn agent_log(&self) -> Vec<Record> {
        json_lines(&self.path().join("agent.log"))
    }

    /// The fake agent's events of kind `K` (`log::Prompt`...), in order.
    pub fn agent_events<K: log::Kind>(&self) -> Vec<K> {
        log::of(&self.agent_log())
    }

    pub fn status(&self) -> Value {
        let mut cmd = Command::new(super::bin());
        cmd.current_dir(self.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        super::status_json(cmd, "demo")
    }
}

impl Project {
    /// Waits until the fake agent has logged an event of this kind (read as text: a line may be
    /// half written).
    pub fn wait_for_agent(&self, event: &str) {
        self.wait_for_agent_times(event, 1);
    }

    /// Waits until the fake agent has logged `times` events of this kind.
    pub fn wait_for_agent_times(&self, event: &str, times: usize) {
        let needle = format!("\"event\":\"{event}\"");
        let log = self.path().join("agent.log");
        super::wait_until(
            super::PATIENCE,
            || format!("the agent did not log {event} {times} times"),
            || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches(&needle)
                    .count()
                    >= times
            },
        );
    }

    /// The project's session (`demo`) in its SQLite data dir, as another process would open it.
    pub async fn session(&self) -> iteratr::session_handle::SessionHandle {
        let log: std::sync::Arc<dyn iteratr::store::EventLog> = std::sync::Arc::new(
            iteratr::store::SqliteLog::open(&self.path().join(".iteratr")).unwrap(),
        );
        iteratr::session_handle::SessionHandle::open(log, "demo")
            .await
            .unwrap()
    }

    /// A person sends the agent a message (as the TUI or `watch` would).
    pub async fn send_message(&self, text: &str) {
        self.session()
            .await
            .execute(
                &iteratr::session::Command::UserMessage {
                    text: text.into(),
                    who: "ana@laptop".into(),
                },
                iteratr::session::Author::User,
            )
            .await
            .unwrap();
    }
}

/// `iteratr SUBCOMMAND ARGS` (`build` or `worker`) in the project directory `dir` with `env`,
/// the fake agent, its script and log there: what [`Project::command`] runs.
pub fn build_command(
    dir: &Path,
    env: &[(String, String)],
    subcommand: &str,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new(super::bin());
    cmd.current_dir(dir)
        .arg(subcommand)
        .args(args)
        .env("ITERATR_AGENT", super::fake_agent::path())
        .env("ITERATR_FAKE_AGENT_SCRIPT", dir.join("script.json"))
        .env("ITERATR_FAKE_AGENT_LOG", dir.join("agent.log"))
        .env_remove("ITERATR_DATA_DIR")
        .env_remove("ITERATR_LOG_FILE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The whole lines of a JSON-lines log another process may be appending to: a last line without
/// its newline is still being written, and is left for the next read.
pub fn json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "{} holds a line that is not what was expected ({e}): {l}",
                    path.display()
                )
            })
        })
        .collect()
}

/// Runs `git ARGS` in `dir` and returns what it printed, failing the test when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Project {
    /// Makes the project a git repository with one commit (the spec, a `.gitignore` that
    /// ignores logs and the script) and an identity, so iteratr commits each iteration.
    pub fn init_git(&self) {
        let dir = self.path();
        git_init(dir);
        std::fs::write(dir.join(".gitignore"), "*.log\nscript.json*\n").unwrap();
        git(dir, &["add", ".gitignore", "specs"]);
        git(dir, &["commit", "--quiet", "-m", "initial"]);
    }
}

/// Waits for the child (killing it after `limit`) and returns its output. Its stdout and stderr
/// are read while it runs, so a build that writes more than a pipe holds never blocks on them.
pub fn finish(mut child: Child, limit: Duration) -> Output {
    let out = Drain::start(child.stdout.take());
    let err = Drain::start(child.stderr.take());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            // A process iteratr left behind may hold its pipes open: that is a failure too.
            super::wait_until(
                super::PATIENCE,
                || {
                    format!(
                        "iteratr ended ({status}) but something it started holds its stdout or stderr open:\n{}\n{}",
                        out.text(),
                        err.text()
                    )
                },
                || out.done() && err.done(),
            );
            return Output {
                status,
                stdout: out.bytes(),
                stderr: err.bytes(),
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "iteratr build did not finish within {limit:?}:\n{}\n{}",
                out.text(),
                err.text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pipe read to its end on a thread of its own, what came so far readable at any time.
struct Drain {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drain {
    fn start(pipe: Option<impl std::io::Read + Send + 'static>) -> Drain {
        let drain = Drain {
            buf: Default::default(),
            done: Default::default(),
        };
        let (buf, done) = (drain.buf.clone(), drain.done.clone());
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        drain
    }

    fn done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn bytes(&self) -> Vec<u8> {
        self.buf.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

/// Makes `dir` a git repository on `main` with a test identity (no commit yet).
pub fn git_init(dir: &Path) {
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    git(dir, &["config", "user.name", "Test"]);
    git(dir, &["config", "user.email", "test@example.invalid"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What the command printed: its stdout, then its stderr.
pub fn stdout_and_stderr(o: &Output) -> String {
    format!("{}\n{}", stdout(o), stderr(o))
}

pub fn tool(name: &str, args: Value) -> Action {
    Action::tool(name, args)
}

pub fn status_of(id: &str, status: &str) -> Action {
    tool("task-status", json!({"id": id, "status": status}))
}

pub fn summary(text: &str) -> Action {
    tool("iteration-summary", json!({"summary": text}))
}

pub fn planning_turn() -> Turn {
    Turn::of([
        Action::say("Planning.\n"),
        tool("task-list", json!({})),
        tool(
            "note-add",
            json!({"type": "decision", "content": "Plain text files"}),
        ),
        summary("Planned three tasks"),
    ])
}

pub fn work_turn(id: &str, file: &str) -> Turn {
    Turn::of([
        status_of(id, "in_progress"),
        Action::write(file, "done\n"),
        status_of(id, "completed"),
        summary(&format!("{id} done")),
    ])
}

pub fn finishing_turn() -> Turn {
    Turn::of([
        // Declaring victory early is refused...
        tool("session-complete", json!({})),
        status_of("TAS-3", "completed"),
        summary("README written"),
        // ...and accepted once every task is done.
        tool("session-complete", json!({"summary": "all done"})),
    ])
}

pub fn full_script() -> Script {
    Script::turns([
        planning_turn(),
        work_turn("TAS-1", "hello.txt"),
        work_turn("TAS-2", "world.txt"),
        finishing_turn(),
    ])
}

/// Each iteration of a `status --json` as (outcome, planning).
pub fn outcomes(s: &Value) -> Vec<(String, bool)> {
    s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["outcome"].as_str().unwrap_or("running").to_string(),
                i["planning"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Runs the build and checks what every recovery test expects: exit 0, a completed session, no
/// Rust debug text anywhere in what people see.
pub fn build_completes(p: &Project) -> (String, Value) {
    let out = p.build(&["--headless", "--retry-delay", "50ms"]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
    for shown in [&text, &err] {
        assert!(
            !shown.contains(" { ") && !shown.contains("StartIteration"),
            "debug output reached people:\n{shown}"
        );
    }
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    (text, s)
}

/// What the agent does after a build was stopped by a fault, whatever iteration it is: ask for
/// the next task, finish everything, complete the session.
pub fn catch_up_script() -> Script {
    let turn = Turn::of([
        tool("task-next", json!({})),
        status_of("TAS-1", "completed"),
        status_of("TAS-2", "completed"),
        status_of("TAS-3", "completed"),
        summary("finished after the kill"),
        tool("session-complete", json!({"summary": "done"})),
    ]);
    Script::turns([turn.clone(), turn.clone(), turn])
}

/// The agent asks a person one question (`ask-questions`), with these choices.
pub fn ask(header: &str, question: &str, choices: &[&str]) -> Action {
    let options: Vec<Value> = choices.iter().map(|c| json!({"label": c})).collect();
    let question = json!({"header": header, "question": question, "options": options});
    tool("ask-questions", json!({"questions": [question]}))
}

/// The question the question tests ask: which database, Postgres or SQLite.
pub fn ask_database() -> Action {
    ask(
        "Database",
        "Which database should the todo list use?",
        &["Postgres", "SQLite"],
    )
}

/// A turn that completes the three tasks of [`SPEC`] and the session.
pub fn complete_all() -> Turn {
    Turn::of([
        status_of("TAS-1", "completed"),
        status_of("TAS-2", "completed"),
        status_of("TAS-3", "completed"),
        tool("session-complete", json!({"summary": "done"})),
    ])
}

impl Project {
    /// The results of the agent's `ask-questions` calls, in order.
    pub fn questions_asked(&self) -> Vec<log::Tool> {
        self.agent_events::<log::Tool>()
            .into_iter()
            .filter(|t| t.name == "ask-questions")
            .collect()
    }

    /// Waits until the session has question `id`, and returns its `status --json` entry.
    pub fn wait_for_question(&self, id: u64) -> Value {
        self.wait_for_agent("tool_call");
        let question = || {
            self.status()["questions"]
                .as_array()
                .and_then(|qs| qs.iter().find(|q| q["id"] == id).cloned())
        };
        super::wait_until(
            super::PATIENCE,
            || format!("Q-{id} was never asked"),
            || question().is_some(),
        );
        question().unwrap()
    }
}

/// A git repository with a spec of `tasks` (checklist lines) and a fake agent that plans with
/// `planning` actions, then works every prompt after.
pub fn team_project(tasks: &[&str], planning: Vec<Action>, sleep_ms: u64) -> Project {
    team_project_in(tempfile::tempdir().unwrap(), tasks, planning, sleep_ms)
}

/// [`team_project`] in `dir`.
pub fn team_project_in(
    dir: tempfile::TempDir,
    tasks: &[&str],
    planning: Vec<Action>,
    sleep_ms: u64,
) -> Project {
    let p = Project::in_dir(
        Script::turns([Turn::of(planning)]).repeat(Turn::of([Action::work(sleep_ms)])),
        dir,
    );
    let spec: String = tasks.iter().map(|t| format!("- [ ] {t}\n")).collect();
    std::fs::write(p.path().join("specs/demo.md"), format!("# Demo\n\n{spec}")).unwrap();
    git_init(p.path());
    std::fs::write(
        p.path().join(".gitignore"),
        "script.json*\nagent.log\n.iteratr/\n",
    )
    .unwrap();
    git(p.path(), &["add", "."]);
    git(p.path(), &["commit", "--quiet", "-m", "initial"]);
    p
}

/// A bare repository (`origin.git`, integration branch `main`) in a new directory, which may be
/// moved away and back (a remote that cannot be reached for a while).
pub fn bare_remote() -> (tempfile::TempDir, std::path::PathBuf) {
    let remote = tempfile::tempdir().unwrap();
    let bare = remote.path().join("origin.git");
    std::fs::create_dir(&bare).unwrap();
    git(
        &bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    (remote, bare)
}

/// A second clone of `bare` in a new project directory (with the same fake agent script).
pub fn second_clone(bare: &std::path::Path, script: Script) -> Project {
    let p = Project::new(script);
    git_init(p.path());
    git(
        p.path(),
        &["remote", "add", "origin", &bare.display().to_string()],
    );
    git(p.path(), &["fetch", "--quiet", "origin"]);
    // The spec the clone already holds is the same file as the remote's.
    git(
        p.path(),
        &["checkout", "--quiet", "-f", "-B", "main", "origin/main"],
    );
    p
}
