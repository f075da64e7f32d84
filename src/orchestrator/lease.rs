//! One builder per session. The build that drives a session holds a lease kept in the session's
//! own event log, so it works the same on SQLite and on JetStream across machines: taking it is a
//! compare-and-set append (decided against the latest state, appended with the expected sequence
//! number), the holder renews it every third of its time to live, releases it when the build ends,
//! and it lapses by itself when the holder stops renewing (crash, SIGKILL, a lost machine).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::process;
use crate::session::display::held_by;
use crate::session::text::format_duration;
use crate::session::{Author, Command, DomainError, Lease, LeaseHolder, SessionState};
use crate::session_handle::{ExecError, SessionHandle};

/// Another build holds the session: who, and what to do, in words for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Held(pub String);

/// The lease a running build holds; renewed in the background until released.
pub(crate) struct LeaseGuard {
    session: Arc<SessionHandle>,
    id: String,
    lost: Arc<Mutex<Option<String>>>,
    stop: CancellationToken,
    renewer: JoinHandle<()>,
    took_over: Option<String>,
}

/// This build process, as its lease records it.
fn this_holder(id: String, no_output: bool) -> LeaseHolder {
    let pid = std::process::id();
    LeaseHolder {
        id,
        host: process::host_name(),
        pid,
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at_ms: now_ms(),
        machine: process::machine_id(),
        boot: process::boot_id(),
        start_ticks: process::start_ticks(pid),
        no_output,
    }
}

/// What a build can tell about another holder from where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Its process still runs here.
    Runs,
    /// It was on this machine and is gone, for this reason.
    Gone(&'static str),
    /// It is on another machine: whether it still runs cannot be seen from here.
    Elsewhere,
}

fn seen_from(me: &LeaseHolder, holder: &LeaseHolder) -> Seen {
    let known_differs =
        |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
    if holder.host != me.host || known_differs(&holder.machine, &me.machine) {
        return Seen::Elsewhere;
    }
    if known_differs(&holder.boot, &me.boot) {
        return Seen::Gone("this machine has restarted since");
    }
    if !process::runs(holder.pid) {
        return Seen::Gone("its process no longer runs");
    }
    let same_process = match (holder.start_ticks, process::start_ticks(holder.pid)) {
        (Some(then), Some(now)) => then == now,
        // An older lease: an iteratr at that pid is the holder.
        (None, Some(_)) => iteratr_runs(holder.pid),
        // The process runs but cannot be looked at (another user's, hidden): it may be the holder.
        (_, None) => true,
    };
    if same_process {
        Seen::Runs
    } else {
        Seen::Gone("its pid now belongs to another process")
    }
}

/// Whether the process `pid` on this machine is an iteratr.
fn iteratr_runs(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|c| {
            let argv0 = c.split(|b| *b == 0).next()?.to_vec();
            Some(String::from_utf8_lossy(&argv0).contains("iteratr"))
        })
        .unwrap_or(false)
}

/// Why this build may not run, said to people with what to do.
fn refusal(session: &str, lease: &Lease, takeover: bool, seen: Seen) -> String {
    let now = now_ms();
    let held = held_by(lease, now);
    let expires = format_duration(lease.expires_at_ms() - now);
    let watch = format!("follow it with `iteratr watch --session {session}`");
    if seen == Seen::Elsewhere {
        return format!(
            "session {session} is already being built by {held}, on another machine; {watch}, wait for it to end, or stop it there; if that machine is gone, run again with --takeover (or wait {expires} for its lease to lapse)"
        );
    }
    let why_not = if takeover {
        " (--takeover only takes over from a build that is gone, and that one still runs)"
    } else {
        ""
    };
    format!(
        "session {session} is already being built by {held}{why_not}; {watch}, wait for it to end, or stop it there"
    )
}

/// What keeps a session from being taken: the live lease of another build.
fn live_other<'a>(state: &'a SessionState, id: &str) -> Option<&'a Lease> {
    state
        .lease
        .as_ref()
        .filter(|l| l.is_live(now_ms()) && l.holder.id != id)
}

/// The line that says a build took the session over from another holder.
fn took_over(session: &str, lease: &Lease, seen: Seen) -> String {
    let silent = format_duration(now_ms() - lease.renewed_at_ms);
    let holder = &lease.holder;
    match seen {
        Seen::Gone(why) => format!(
            "took over session {session} from pid {}, gone since its last renewal {silent} ago ({why})",
            holder.pid
        ),
        _ => format!(
            "warning: took over session {session} from {holder} (last renewed {silent} ago) on your word (--takeover); if that build still runs, it stops at its next renewal"
        ),
    }
}

impl LeaseGuard {
    /// Takes the session for this build, or says (`Ok(Err(message))`) who holds it and what to
    /// do. `lost` is cancelled if the lease is lost while the build runs. `no_output`: the build
    /// writes no output stream, which the lease tells watchers.
    pub(crate) async fn acquire(
        session: Arc<SessionHandle>,
        ttl: Duration,
        takeover: bool,
        no_output: bool,
        lost_token: CancellationToken,
    ) -> anyhow::Result<Result<LeaseGuard, Held>> {
        let id = crate::mcp::random_token()?[..16].to_string();
        let holder = this_holder(id.clone(), no_output);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        // A lost race is decided again against what the winner wrote: refused while it holds the
        // session, tried again if it has already let go.
        for _ in 0..5 {
            let state = session.refresh().await?;
            let mut take_over = None;
            if let Some(lease) = live_other(&state, &id) {
                let seen = seen_from(&holder, &lease.holder);
                let allowed = match seen {
                    Seen::Gone(_) => true,
                    Seen::Elsewhere => takeover,
                    Seen::Runs => false,
                };
                if !allowed {
                    return Ok(Err(Held(refusal(session.name(), lease, takeover, seen))));
                }
                take_over = Some(took_over(session.name(), lease, seen));
            }
            let cmd = Command::AcquireLease {
                holder: holder.clone(),
                ttl_ms,
                takeover: take_over.is_some(),
            };
            match session.execute(&cmd, Author::System).await {
                Ok(_) => {
                    let mut guard = LeaseGuard::start(session, id, ttl, lost_token);
                    guard.took_over = take_over;
                    return Ok(Ok(guard));
                }
                Err(ExecError::Rejected(DomainError::SessionHeld { .. })) => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot record {cmd} in the session log"));
                }
            }
        }
        Ok(Err(Held(format!(
            "session {} keeps changing hands between other builds; try again",
            session.name()
        ))))
    }

    fn start(
        session: Arc<SessionHandle>,
        id: String,
        ttl: Duration,
        lost_token: CancellationToken,
    ) -> LeaseGuard {
        let lost = Arc::new(Mutex::new(None));
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(
            Arc::clone(&session),
            id.clone(),
            ttl,
            Arc::clone(&lost),
            stop.clone(),
            lost_token,
        ));
        LeaseGuard {
            session,
            id,
            lost,
            stop,
            renewer,
            took_over: None,
        }
    }

    /// The line to show people when this build took the session over from another holder.
    pub(crate) fn took_over(&self) -> Option<&str> {
        self.took_over.as_deref()
    }

    /// Why the lease was lost while the build ran, if it was.
    pub(crate) fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Stops renewing and lets the session go (nothing to do when it was lost).
    pub(crate) async fn release(self) {
        self.stop.cancel();
        let LeaseGuard {
            session,
            id,
            lost,
            renewer,
            ..
        } = self;
        let _ = renewer.await;
        if lost.lock().map_or(true, |l| l.is_some()) {
            return;
        }
        let cmd = Command::ReleaseLease { id };
        if let Err(e) = session.execute(&cmd, Author::System).await {
            tracing::warn!("cannot release the session's lease ({e}); it lapses by itself");
        }
    }
}

async fn renew(
    session: Arc<SessionHandle>,
    id: String,
    ttl: Duration,
    lost: Arc<Mutex<Option<String>>>,
    stop: CancellationToken,
    lost_token: CancellationToken,
) {
    let every = ttl / 3;
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        let cmd = Command::RenewLease { id: id.clone() };
        let why = match session.execute(&cmd, Author::System).await {
            Ok(_) => {
                renewed = Instant::now();
                continue;
            }
            Err(ExecError::Rejected(e)) => e.to_string(),
            Err(e) if renewed.elapsed() >= ttl => format!(
                "its lease could not be renewed for {} ({e}), so another build may have taken over",
                humantime::format_duration(ttl)
            ),
            Err(e) => {
                tracing::warn!("cannot renew the session's lease ({e}); trying again");
                continue;
            }
        };
        if let Ok(mut l) = lost.lock() {
            *l = Some(why);
        }
        lost_token.cancel();
        return;
    }
}
