//! Hooks: commands the user declares to run at points of a build (the tests after every
//! iteration, a linter before the next). Values reach a hook only as environment variables and
//! as one JSON object on its stdin, never spliced into its command line, so nothing the agent
//! writes (a task's text, a summary) can become shell code. A hook runs in its own process group,
//! which is killed when the hook outlives its timeout.

use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How much of a hook's output is kept (its end: where test runners print their summary).
pub(crate) const OUTPUT_TAIL_BYTES: usize = 8 * 1024;
/// How long a hook may take unless its declaration says otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Rounds a failing `post_iteration` hook sends back to the agent unless declared otherwise.
pub(crate) const DEFAULT_FIX_ROUNDS: u32 = 2;

pub(crate) use crate::session::HookPoint;

/// What a hook runs: a program with its arguments (no shell involved), or a line for `sh -c`
/// (written by the user; values reach it only as environment variables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HookCommand {
    Args(Vec<String>),
    Shell(String),
}

impl HookCommand {
    fn argv(&self) -> Vec<String> {
        match self {
            HookCommand::Args(argv) => argv.clone(),
            HookCommand::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
        }
    }
}

impl fmt::Display for HookCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookCommand::Args(argv) => f.write_str(&argv.join(" ")),
            HookCommand::Shell(line) => write!(f, "sh -c {line:?}"),
        }
    }
}

/// One declared hook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hook {
    pub point: HookPoint,
    pub command: HookCommand,
    pub timeout: Duration,
    /// Whether the output goes to the agent (a failing check to fix, context for the prompt).
    pub to_agent: bool,
    /// For `post_iteration`: how many times a failure goes back to the agent in one iteration.
    pub fix_rounds: u32,
}

/// The values a hook gets, as `ITERATR_*` environment variables and as JSON on stdin.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct HookInput {
    pub session: String,
    pub iteration: Option<u32>,
    pub task_id: Option<String>,
    pub task_content: Option<String>,
    pub summary: Option<String>,
    pub error: Option<String>,
    pub data_dir: String,
}

impl HookInput {
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("ITERATR_SESSION", self.session.clone()),
            ("ITERATR_DATA_DIR", self.data_dir.clone()),
        ];
        let optional = [
            ("ITERATR_ITERATION", self.iteration.map(|n| n.to_string())),
            ("ITERATR_TASK_ID", self.task_id.clone()),
            ("ITERATR_TASK_CONTENT", self.task_content.clone()),
            ("ITERATR_SUMMARY", self.summary.clone()),
            ("ITERATR_ERROR", self.error.clone()),
        ];
        env.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        env
    }
}

/// How a hook run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HookRun {
    pub point: HookPoint,
    /// The command as the user declared it (for people; it holds no values).
    pub command: String,
    pub ran: Ran,
}

impl HookRun {
    pub(crate) fn succeeded(&self) -> bool {
        self.ran.succeeded()
    }

    /// "exit 0", "exit 2", "timed out after 5m", "could not start: ...".
    pub(crate) fn describe(&self) -> String {
        self.ran.describe()
    }
}

/// How a command ended, in words: "exit 2", "timed out after 5m", "could not start: ...".
fn words(
    spawn_error: Option<&str>,
    timed_out: bool,
    exit_code: Option<i32>,
    took: Duration,
) -> String {
    match (spawn_error, timed_out, exit_code) {
        (Some(e), _, _) => format!("could not start: {e}"),
        (None, true, _) => format!(
            "timed out after {}",
            humantime::format_duration(Duration::from_secs(took.as_secs()))
        ),
        (None, false, Some(code)) => format!("exit {code}"),
        (None, false, None) => "killed by a signal".into(),
    }
}

/// Keeps the last `max` bytes of `bytes` (cut at a character boundary), as text.
fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Reads a pipe to its end, keeping at most the last `2 * OUTPUT_TAIL_BYTES` bytes.
async fn drain(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * OUTPUT_TAIL_BYTES {
            kept.drain(..kept.len() - OUTPUT_TAIL_BYTES);
        }
    }
    kept
}

/// A declared command to run with values only as environment variables and one JSON object on
/// its stdin (a hook, a notification's command).
pub(crate) struct Invocation<'a> {
    pub command: &'a HookCommand,
    pub timeout: Duration,
    pub env: Vec<(&'static str, String)>,
    pub stdin: String,
}

/// How a command ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ran {
    /// The exit code; `None` when it was killed (timeout, signal) or could not start.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Why it could not start, when it could not.
    pub spawn_error: Option<String>,
    pub took: Duration,
    /// The end of its stdout and stderr (at most [`OUTPUT_TAIL_BYTES`]).
    pub output: String,
}

impl Ran {
    pub(crate) fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// "exit 0", "exit 2", "timed out after 5m", "could not start: ...".
    pub(crate) fn describe(&self) -> String {
        words(
            self.spawn_error.as_deref(),
            self.timed_out,
            self.exit_code,
            self.took,
        )
    }
}

/// Runs a command in `cwd` in its own process group, and waits for it (at most its timeout).
pub(crate) async fn execute(inv: Invocation<'_>, cwd: &Path) -> Ran {
    let started = Instant::now();
    let failed = |e: String| Ran {
        exit_code: None,
        timed_out: false,
        spawn_error: Some(e),
        took: started.elapsed(),
        output: String::new(),
    };
    let Some(mut guarded) = crate::process::guarded_command(&inv.command.argv(), cwd) else {
        return failed("the command is empty".into());
    };
    // A NUL cannot be in an environment variable; it is dropped rather than refused.
    guarded
        .cmd
        .envs(inv.env.into_iter().map(|(k, v)| (k, v.replace('\0', ""))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // What the command starts in the background goes with it if iteratr dies.
    let (mut child, _group) = match guarded.spawn() {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    let stdin_json = inv.stdin;
    let mut stdin = child.stdin.take();
    let feed = async move {
        if let Some(stdin) = stdin.as_mut() {
            // A command that does not read its stdin closes it: that is not an error.
            let _ = stdin.write_all(stdin_json.as_bytes()).await;
            let _ = stdin.shutdown().await;
        }
    };
    let out = child.stdout.take().map(|p| tokio::spawn(drain(p)));
    let err = child.stderr.take().map(|p| tokio::spawn(drain(p)));
    let (status, ()) = tokio::join!(tokio::time::timeout(inv.timeout, child.wait()), feed);
    let (exit_code, timed_out) = match status {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(_)) => (None, false),
        Err(_) => (None, true),
    };
    // The command is done (or out of time): its whole group goes, so a background process it
    // started cannot hold the pipes open or outlive the build.
    crate::process::terminate(&mut child, Duration::from_millis(500)).await;
    let mut output = Vec::new();
    for pipe in [out, err].into_iter().flatten() {
        if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(2), pipe).await {
            output.extend(bytes);
        }
    }
    Ran {
        exit_code,
        timed_out,
        spawn_error: None,
        took: started.elapsed(),
        output: tail(&output, OUTPUT_TAIL_BYTES),
    }
}

/// Runs `hook` in `cwd` with `input`, and waits for it (at most its timeout).
pub(crate) async fn run(hook: &Hook, input: &HookInput, cwd: &Path) -> HookRun {
    let mut env = input.env();
    env.push(("ITERATR_HOOK", hook.point.as_str().to_string()));
    let ran = execute(
        Invocation {
            command: &hook.command,
            timeout: hook.timeout,
            env,
            stdin: serde_json::json!({ "hook": hook.point, "input": input }).to_string(),
        },
        cwd,
    )
    .await;
    HookRun {
        point: hook.point,
        command: hook.command.to_string(),
        ran,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(command: HookCommand, timeout: Duration) -> Hook {
        Hook {
            point: HookPoint::PostIteration,
            command,
            timeout,
            to_agent: true,
            fix_rounds: DEFAULT_FIX_ROUNDS,
        }
    }

    fn shell(line: &str) -> HookCommand {
        HookCommand::Shell(line.into())
    }

    #[test]
    fn points_round_trip() {
        for p in HookPoint::ALL {
            assert_eq!(HookPoint::parse(p.as_str()), Some(p));
        }
        assert_eq!(HookPoint::parse("post-iteration"), None);
    }

    #[test]
    fn tails_keep_the_end_on_a_char_boundary() {
        assert_eq!(tail(b"short", 10), "short");
        let long = "é".repeat(10);
        let t = tail(long.as_bytes(), 5);
        assert!(t.starts_with('…') && t.ends_with('é'), "{t}");
        assert!(t.len() <= 5 + '…'.len_utf8());
    }

    #[tokio::test]
    async fn values_arrive_as_environment_and_stdin_never_as_code() {
        let dir = tempfile::tempdir().unwrap();
        let input = HookInput {
            session: "s".into(),
            iteration: Some(3),
            task_content: Some("$(touch pwned) `touch pwned2`; touch pwned3".into()),
            data_dir: dir.path().display().to_string(),
            ..HookInput::default()
        };
        let h = hook(
            shell(r#"printf '%s|' "$ITERATR_ITERATION" "$ITERATR_TASK_CONTENT"; cat"#),
            Duration::from_secs(10),
        );
        let run = run(&h, &input, dir.path()).await;
        assert!(run.succeeded(), "{run:?}");
        assert!(
            run.ran
                .output
                .starts_with("3|$(touch pwned) `touch pwned2`; touch pwned3|"),
            "{}",
            run.ran.output
        );
        let stdin: serde_json::Value =
            serde_json::from_str(run.ran.output.rsplit('|').next().unwrap()).unwrap();
        assert_eq!(stdin["hook"], "post_iteration");
        assert_eq!(stdin["input"]["iteration"], 3);
        for f in ["pwned", "pwned2", "pwned3"] {
            assert!(!dir.path().join(f).exists(), "{f} was created");
        }
    }

    #[tokio::test]
    async fn exit_codes_and_both_streams_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let h = hook(
            HookCommand::Args(vec![
                "sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 3".into(),
            ]),
            Duration::from_secs(10),
        );
        let run = run(&h, &HookInput::default(), dir.path()).await;
        assert_eq!(run.ran.exit_code, Some(3));
        assert!(!run.succeeded());
        assert!(
            run.ran.output.contains("out") && run.ran.output.contains("err"),
            "{run:?}"
        );
        assert_eq!(run.describe(), "exit 3");
    }

    #[tokio::test]
    async fn a_missing_program_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let h = hook(
            HookCommand::Args(vec!["/nonexistent/iteratr-hook".into()]),
            Duration::from_secs(10),
        );
        let run = run(&h, &HookInput::default(), dir.path()).await;
        assert!(run.ran.spawn_error.is_some(), "{run:?}");
        assert!(run.describe().starts_with("could not start"));
    }

    #[tokio::test]
    async fn a_hanging_hook_is_killed_with_its_group_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        // The hook starts a background sleeper (which keeps the pipes open) and hangs itself.
        let h = hook(
            shell(&format!(
                "sleep 300 & echo $! > {}; echo started; sleep 300",
                pidfile.display()
            )),
            Duration::from_millis(500),
        );
        let started = Instant::now();
        let run = run(&h, &HookInput::default(), dir.path()).await;
        assert!(run.ran.timed_out, "{run:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(run.ran.output.contains("started"), "{run:?}");
        assert!(run.describe().starts_with("timed out"));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z")
        });
        assert!(gone, "the hook's background process {pid} survived");
    }
}
