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

use crate::service::{ExecError, SessionHandle, now_ms};
use crate::session::display::{format_duration, held_by};
use crate::session::{Author, Command, DomainError, Lease, LeaseHolder, SessionState};

/// How long a lease lasts without renewal (`ITERATR_LEASE_TTL` changes it).
pub const DEFAULT_TTL: Duration = Duration::from_secs(90);

/// Another build holds the session: who, and what to do, in words for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Held(pub String);

/// The lease a running build holds; renewed in the background until released.
pub struct LeaseGuard {
    session: Arc<SessionHandle>,
    id: String,
    lost: Arc<Mutex<Option<String>>>,
    stop: CancellationToken,
    renewer: JoinHandle<()>,
}

/// This machine's name, as leases record it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether the process `pid` on this machine is an iteratr (a recycled pid is not the holder).
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
fn refusal(session: &str, lease: &Lease, takeover: bool) -> String {
    let now = now_ms();
    let held = held_by(lease, now);
    let expires = format_duration(lease.expires_at_ms() - now);
    let watch = format!("follow it with `iteratr watch --session {session}`");
    let here = lease.holder.host == hostname();
    if here && !iteratr_runs(lease.holder.pid) {
        return format!(
            "session {session} is held by {held}, but that process is gone; run again with --takeover to take the session over (or wait {expires} for its lease to lapse)"
        );
    }
    let why_not = if takeover {
        if here {
            " (--takeover only takes over from a build that is gone, and that one still runs)"
        } else {
            " (--takeover cannot tell whether a build on another machine is gone; its lease lapses by itself if it is)"
        }
    } else {
        ""
    };
    format!(
        "session {session} is already being built by {held}{why_not}; {watch}, wait for it to end, or stop it there; if it crashed, its lease lapses in {expires} and a new build proceeds"
    )
}

/// What keeps a session from being taken: the live lease of another build.
fn live_other<'a>(state: &'a SessionState, id: &str) -> Option<&'a Lease> {
    state
        .lease
        .as_ref()
        .filter(|l| l.is_live(now_ms()) && l.holder.id != id)
}

impl LeaseGuard {
    /// Takes the session for this build, or says (`Ok(Err(message))`) who holds it and what to
    /// do. `lost` is cancelled if the lease is lost while the build runs.
    pub async fn acquire(
        session: Arc<SessionHandle>,
        ttl: Duration,
        takeover: bool,
        lost_token: CancellationToken,
    ) -> anyhow::Result<Result<LeaseGuard, Held>> {
        let id = crate::mcp::random_token()?[..16].to_string();
        let holder = LeaseHolder {
            id: id.clone(),
            host: hostname(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at_ms: now_ms(),
        };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        // A lost race is decided again against what the winner wrote: refused while it holds the
        // session, tried again if it has already let go.
        for _ in 0..5 {
            let state = session.refresh().await?;
            let mut take_over = false;
            if let Some(lease) = live_other(&state, &id) {
                let gone_here = lease.holder.host == holder.host && !iteratr_runs(lease.holder.pid);
                if !(takeover && gone_here) {
                    return Ok(Err(Held(refusal(session.name(), lease, takeover))));
                }
                take_over = true;
            }
            let cmd = Command::AcquireLease {
                holder: holder.clone(),
                ttl_ms,
                takeover: take_over,
            };
            match session.execute(&cmd, Author::System).await {
                Ok(_) => return Ok(Ok(LeaseGuard::start(session, id, ttl, lost_token))),
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
        }
    }

    /// Why the lease was lost while the build ran, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Stops renewing and lets the session go (nothing to do when it was lost).
    pub async fn release(self) {
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
