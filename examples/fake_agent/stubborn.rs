//! `ITERATR_FAKE_AGENT_STUBBORN`: an agent that does not go by itself, as real agents may not.
//!
//! With `group` (or `1`) or `setsid`, the agent ignores SIGTERM, SIGINT and SIGHUP, keeps
//! running after its stdin closes, and starts a grandchild (this binary again, with
//! [`GRANDCHILD_ARG`]) that ignores the same signals and sleeps; with `setsid` the grandchild
//! leaves the agent's process group and session, as opencode's shell commands do. Only
//! something that kills them (the process group, or every descendant) ends them: the tests of
//! "no agent outlived iteratr" use it, since the plain fake agent would exit on its own when
//! iteratr dies and closes its stdin. Either of them still exits by itself after
//! [`GIVE_UP`], so a failed test leaves nothing running for ever.

use std::time::Duration;

/// The first argument that makes this binary a stubborn agent's grandchild.
pub const GRANDCHILD_ARG: &str = "--stubborn-grandchild";

/// How long a stubborn process lives at most, far beyond any test's patience.
const GIVE_UP: Duration = Duration::from_secs(300);

/// How the grandchild is started (`None`: the agent is not stubborn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// The grandchild stays in the agent's process group.
    Group,
    /// The grandchild calls `setsid`: a process group and session of its own.
    Setsid,
}

/// The mode `ITERATR_FAKE_AGENT_STUBBORN` asks for.
pub fn mode() -> Option<Mode> {
    match std::env::var("ITERATR_FAKE_AGENT_STUBBORN").ok()?.as_str() {
        "1" | "group" => Some(Mode::Group),
        "setsid" => Some(Mode::Setsid),
        _ => None,
    }
}

/// SIGTERM, SIGINT and SIGHUP are caught and dropped from now on.
pub fn ignore_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    for kind in [
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::hangup(),
    ] {
        match signal(kind) {
            Ok(mut s) => {
                tokio::spawn(async move { while s.recv().await.is_some() {} });
            }
            Err(e) => eprintln!("fake-agent: cannot catch {kind:?}: {e}"),
        }
    }
}

/// Starts the grandchild; returns its pid.
pub fn start_grandchild(mode: Mode) -> std::io::Result<u32> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .arg(GRANDCHILD_ARG)
        .arg(if mode == Mode::Setsid {
            "setsid"
        } else {
            "group"
        })
        .env_remove("ITERATR_FAKE_AGENT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Not waited for: it is meant to outlive the agent unless someone kills it.
    Ok(child.id())
}

/// The grandchild's life, when this process was started as one (`None` otherwise).
pub async fn grandchild_main() -> Option<()> {
    let mut args = std::env::args().skip(1);
    if args.next()? != GRANDCHILD_ARG {
        return None;
    }
    if args.next().as_deref() == Some("setsid") {
        let _ = rustix::process::setsid();
    }
    ignore_signals();
    tokio::time::sleep(GIVE_UP).await;
    Some(())
}

/// After stdin closed: stay (signals ignored) until killed, or [`GIVE_UP`].
pub async fn linger() {
    tokio::time::sleep(GIVE_UP).await;
}
