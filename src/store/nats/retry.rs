//! Retrying while the server is unreachable (a restart, a leader election in a cluster): every
//! JetStream call of the backend goes through [`retry`], so they all wait and give up alike.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The first pause after a failed attempt; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The client reconnects at least this often, so waiting longer between attempts gains nothing.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Runs `attempt` until it succeeds, fails in a way `permanent` accepts, or `patience` has passed
/// since the first attempt; pauses between attempts grow from 100 ms to 1 s. Returns the last
/// error. `what` names the operation in the log.
pub(super) async fn retry<T, E, Fut>(
    what: &str,
    patience: Duration,
    permanent: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, E>
where
    E: Display,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + patience;
    let mut delay = FIRST_DELAY;
    let mut failures = 0u32;
    loop {
        let e = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let now = Instant::now();
        if permanent(&e) || now >= deadline {
            return Err(e);
        }
        failures += 1;
        // Once in the log file is enough to see why a call hangs; the rest is detail.
        if failures == 1 {
            tracing::warn!(
                "NATS: {what}: {e}; retrying for up to {}s",
                patience.as_secs()
            );
        } else {
            tracing::debug!("NATS: {what}: {e}; retrying");
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
}

/// The connection's ups and downs, for a live feed: the client reconnects by itself and the feed
/// just waits meanwhile, so without this nobody would learn that the server is gone for good.
pub(super) struct Outage {
    link: watch::Receiver<bool>,
    since: Option<Instant>,
}

impl Outage {
    /// Watches `link` (true while connected).
    pub(super) fn new(link: watch::Receiver<bool>) -> Self {
        Outage { link, since: None }
    }

    /// Resolves once the client has been disconnected for `patience` without a break; an
    /// outage that ends before starts the count again. Cancel-safe: the start of the current
    /// outage is kept across calls.
    pub(super) async fn lasted(&mut self, patience: Duration) {
        loop {
            if *self.link.borrow_and_update() {
                self.since = None;
                if self.link.changed().await.is_err() {
                    // The client is gone with the log; nothing left to report.
                    std::future::pending::<()>().await;
                }
                continue;
            }
            let since = *self.since.get_or_insert_with(Instant::now);
            tokio::select! {
                _ = tokio::time::sleep_until(since + patience) => return,
                changed = self.link.changed() => if changed.is_err() {
                    std::future::pending::<()>().await;
                },
            }
        }
    }
}

/// For [`retry`]: every error is worth another attempt.
pub(super) fn never<E>(_: &E) -> bool {
    false
}

/// After a live feed broke off (a server restart, a leader change), before it is opened again
/// through [`retry`]: a short pause, so a feed that breaks at once does not spin.
pub(super) async fn pause_before_resuming() {
    tokio::time::sleep(FIRST_DELAY * 2).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    // Real time (the crate does not enable tokio's paused clock), so short patience values.

    #[tokio::test]
    async fn retries_until_success_with_growing_pauses() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let got: Result<u32, String> = retry(
            "test",
            Duration::from_secs(60),
            |_| false,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 4 {
                        Err(format!("try {n}"))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(got, Ok(4));
        // 100 + 200 + 400 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(700),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_permanent_error_ends_at_once() {
        let calls = Cell::new(0);
        let got: Result<(), String> = retry(
            "test",
            Duration::from_secs(60),
            |e: &String| e == "no",
            || {
                calls.set(calls.get() + 1);
                async { Err("no".to_string()) }
            },
        )
        .await;
        assert_eq!(got, Err("no".into()));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn gives_up_with_the_last_error_after_the_patience() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let got: Result<(), String> = retry(
            "test",
            Duration::from_millis(1_000),
            |_| false,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { Err(format!("try {n}")) }
            },
        )
        .await;
        let n = calls.get();
        assert_eq!(got, Err(format!("try {n}")));
        let took = start.elapsed();
        // Pauses of 0.1, 0.2, 0.4 and 0.3 s (cut at the deadline), then a last attempt (one
        // fewer on a machine slow enough to overshoot the pauses).
        assert!(took >= Duration::from_millis(1_000), "{took:?}");
        assert!(took < Duration::from_millis(1_900), "{took:?}");
        assert!((4..=5).contains(&n), "{n} attempts");
    }
}
