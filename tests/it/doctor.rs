//! `iteratr doctor` against a real ACP agent process, a missing command, a command that is not an
//! ACP agent, a damaged store and an unreachable NATS server.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::project::stdout;

/// How long doctor waits for an agent's `initialize`: generous for agents (a debug build on a
/// busy machine), short only where the test wants the timeout.
const AGENT_TIMEOUT: &str = "60s";
const NOT_AN_AGENT_TIMEOUT: &str = "2s";

pub(crate) fn doctor(dir: &std::path::Path, agent: &str, extra_env: &[(&str, &str)]) -> Output {
    doctor_within(dir, agent, extra_env, AGENT_TIMEOUT)
}

fn doctor_within(
    dir: &std::path::Path,
    agent: &str,
    extra_env: &[(&str, &str)],
    timeout: &str,
) -> Output {
    let mut cmd = Command::new(crate::common::bin());
    cmd.current_dir(dir)
        .args(["doctor", "--agent", agent, "--timeout", timeout])
        .env_remove("ITERATR_NATS_URL")
        .env_remove("ITERATR_DATA_DIR");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_working_agent_passes() {
    let dir = tempfile::tempdir().unwrap();
    let agent = crate::common::fake_agent::path().display().to_string();
    let out = doctor(dir.path(), &agent, &[]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("ok    agent")
            && t.contains("is fake-agent 1.0 speaking ACP; it takes MCP over HTTP"),
        "{t}"
    );
    assert!(
        t.contains("ok    store     .iteratr will be created on first use"),
        "{t}"
    );
    assert!(t.contains("ok    nats      not configured"), "{t}");
    assert!(t.contains("terminal"), "{t}");
    // An agent iteratr knows nothing about: rules may not reach all its tools.
    assert!(
        t.contains("warn  perms     iteratr does not know whether fake-agent asks permission before running its tools; --deny-tools and --approve ask apply only to the tool calls fake-agent asks permission for"),
        "{t}"
    );
    assert!(
        !dir.path().join(".iteratr").exists(),
        "doctor creates nothing"
    );
    let out = doctor(dir.path(), &agent, &[("ITERATR_FAKE_AGENT_NO_HTTP", "1")]);
    assert!(
        stdout(&out).contains("takes MCP over stdio only"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_missing_agent_fails_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = doctor(dir.path(), "no-such-agent-anywhere acp", &[]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL  agent")
            && t.contains("not installed or not on PATH")
            && t.contains("--agent"),
        "{t}"
    );
    assert!(t.contains("1 check(s) failed"), "{t}");
}

#[test]
fn a_command_that_is_not_an_acp_agent_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = doctor_within(dir.path(), "sleep 3071", &[], NOT_AN_AGENT_TIMEOUT);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("did not answer `initialize` within 2s; is it an ACP agent?"),
        "{t}"
    );
    // It gave up promptly and left nothing running (a guard, not a speed check).
    assert!(started.elapsed() < Duration::from_secs(60));
    crate::common::wait_until(
        crate::common::PATIENCE,
        || "the non-agent is still running",
        || crate::common::procs::with_cmdline("sleep 3071").is_empty(),
    );
    // One that answers something else is told apart too.
    let out = doctor_within(dir.path(), "cat", &[], NOT_AN_AGENT_TIMEOUT);
    assert!(
        stdout(&out).contains("refused `initialize`") || stdout(&out).contains("did not answer"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_damaged_store_and_an_unreachable_nats_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".iteratr")).unwrap();
    std::fs::write(
        dir.path().join(".iteratr/iteratr.db"),
        "not sqlite at all, just text.........",
    )
    .unwrap();
    let agent = crate::common::fake_agent::path().display().to_string();
    let out = doctor(
        dir.path(),
        &agent,
        &[("ITERATR_NATS_URL", "nats://127.0.0.1:1")],
    );
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL  store") && t.contains("damaged or not an iteratr database"),
        "{t}"
    );
    assert!(
        t.contains("FAIL  nats      cannot reach 127.0.0.1:1"),
        "{t}"
    );
    assert!(t.contains("2 check(s) failed"), "{t}");
}

/// The real opencode (installed by `./test.sh`; `tests/common/real_agent.rs` finds it).
#[test]
fn the_real_opencode_passes() {
    let opencode = crate::common::real_agent::opencode();
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let h = home.path().display().to_string();
    let out = Command::new(crate::common::bin())
        .current_dir(project.path())
        .args(["doctor", "--timeout", AGENT_TIMEOUT, "--agent"])
        .arg(format!("{} acp", opencode.display()))
        .env_remove("ITERATR_NATS_URL")
        .env("HOME", &h)
        .env("XDG_CONFIG_HOME", format!("{h}/.config"))
        .env("XDG_DATA_HOME", format!("{h}/.local/share"))
        .env("XDG_CACHE_HOME", format!("{h}/.cache"))
        .env("XDG_STATE_HOME", format!("{h}/.local/state"))
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env("OPENCODE_DISABLE_SHARE", "1")
        .output()
        .unwrap();
    let t = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{t}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t.contains("is OpenCode 1.18.34 speaking ACP; it takes MCP over HTTP"),
        "{t}"
    );
}

/// `iteratr doctor` with the real opencode in a scratch home: it reports the permission config
/// iteratr sets, and refuses the user's own settings when they cannot be read.
#[test]
fn opencode_is_reported_as_asking() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["home", "xdg", "project"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let agent = format!("'{}' acp", crate::common::real_agent::opencode().display());
    let run_agent = |agent: &str, permission: &str| {
        Command::new(crate::common::bin())
            .current_dir(dir.path().join("project"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path().join("home"))
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env("XDG_DATA_HOME", dir.path().join("xdg"))
            .env("XDG_CACHE_HOME", dir.path().join("xdg"))
            .env("XDG_STATE_HOME", dir.path().join("xdg"))
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
            .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
            .env("OPENCODE_PERMISSION", permission)
            .args(["doctor", "--agent", agent, "--timeout", "60s"])
            .output()
            .unwrap()
    };
    let run = |permission: &str| run_agent(&agent, permission);
    let out = run(r#"{"edit": "allow"}"#);
    let t = stdout(&out);
    assert!(
        t.contains("ok    perms     set opencode's permission config (OPENCODE_PERMISSION, OPENCODE_CONFIG_CONTENT) so that it asks before every tool call (1 \"allow\" rule(s) of yours now \"ask\"; 0 \"deny\" rule(s) of yours kept)"),
        "{t}"
    );
    assert!(
        t.contains("ok    perms     OpenCode asks iteratr before every tool call"),
        "{t}"
    );
    // Started through a command iteratr does not recognise as opencode: it says what that means.
    let wrapped = format!(
        "sh -c \"exec '{}' acp\"",
        crate::common::real_agent::opencode().display()
    );
    let t = stdout(&run_agent(&wrapped, ""));
    assert!(
        t.contains("warn  perms     this is OpenCode, but the command does not start `opencode` directly, so iteratr did not set its permission config"),
        "{t}"
    );
    let out = run("{edit: allow}");
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL  perms     OPENCODE_PERMISSION is not valid JSON"),
        "{t}"
    );
}
