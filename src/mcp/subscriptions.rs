//! Following resources live. A subscribed resource gets `notifications/resources/updated` when an
//! event in its session's log changes it, whoever appended the event: this process, another
//! `iteratr` on the same store, or another machine on the same NATS server. Two ways in: the
//! `resources/subscribe` request (protocol versions up to 2025-11-25) and a `subscriptions/listen`
//! stream (2026-07-28).

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use rmcp::ErrorData;
use rmcp::model::{ResourceUpdatedNotification, ResourceUpdatedNotificationParam};
use tokio_util::sync::CancellationToken;

use super::resources::{Part, Uri};
use crate::store::EventLog;

pub(super) fn updated(uri: String) -> ResourceUpdatedNotification {
    ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri))
}

/// What one connection follows through `resources/subscribe`. Dropped with the connection, which
/// stops its followers.
#[derive(Default)]
pub(super) struct Subscriptions {
    uris: Arc<Mutex<HashSet<Uri>>>,
    /// Sessions that have a follower task already.
    followed: Mutex<HashSet<String>>,
    stop: CancellationToken,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Subscriptions {
    /// Adds `uri`; the first subscription to a session starts following its log from now.
    /// `notify` sends one update and says whether the client is still there.
    pub(super) async fn subscribe<N, F>(
        &self,
        log: Arc<dyn EventLog>,
        uri: Uri,
        notify: N,
    ) -> Result<(), ErrorData>
    where
        N: Fn(String) -> F + Send + 'static,
        F: Future<Output = bool> + Send + 'static,
    {
        let session = uri.session.clone();
        if let Ok(mut uris) = self.uris.lock() {
            uris.insert(uri);
        }
        let first = self
            .followed
            .lock()
            .map(|mut f| f.insert(session.clone()))
            .unwrap_or(false);
        if !first {
            return Ok(());
        }
        let after = match log.last_seq(&session).await {
            Ok(after) => after,
            Err(e) => {
                // Not followed after all: the next subscription tries again.
                if let Ok(mut followed) = self.followed.lock() {
                    followed.remove(&session);
                }
                return Err(ErrorData::internal_error(
                    format!("cannot read session '{session}': {e}; try again"),
                    None,
                ));
            }
        };
        let uris = Arc::clone(&self.uris);
        let wanted = move |session: &str, part: Part| -> Vec<String> {
            uris.lock()
                .map(|u| {
                    u.iter()
                        .filter(|u| u.session == session && u.part == part)
                        .map(ToString::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        tokio::spawn(follow(
            log,
            session,
            after,
            wanted,
            self.stop.child_token(),
            notify,
        ));
        Ok(())
    }

    pub(super) fn unsubscribe(&self, uri: &Uri) {
        if let Ok(mut uris) = self.uris.lock() {
            uris.remove(uri);
        }
    }
}

/// Follows `session`'s log after `after`. For each event (or burst of events: a batch of 100
/// tasks is one update), sends an update for every URI `wanted` names for the parts it changed.
/// Ends when `stop` fires, when the log closes, or when the client is gone.
pub(super) async fn follow<W, N, F>(
    log: Arc<dyn EventLog>,
    session: String,
    after: u64,
    wanted: W,
    stop: CancellationToken,
    notify: N,
) where
    W: Fn(&str, Part) -> Vec<String>,
    N: Fn(String) -> F,
    F: Future<Output = bool>,
{
    let mut sub = match log.subscribe(&session, after).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(%session, "cannot follow the session for resource updates: {e}");
            return;
        }
    };
    loop {
        let first = tokio::select! {
            next = sub.next() => next,
            _ = stop.cancelled() => return,
        };
        let mut parts = BTreeSet::new();
        let mut next = first;
        loop {
            match next {
                Some(Ok(e)) => parts.extend(Part::changed_by(&e.event.kind)),
                Some(Err(e)) => {
                    tracing::warn!(%session, "stopped following the session for resource updates: {e}");
                    return;
                }
                None => return,
            }
            // Whatever else is there already goes into the same update.
            match sub.next().now_or_never() {
                Some(more) => next = more,
                None => break,
            }
        }
        for part in parts {
            for uri in wanted(&session, part) {
                if !notify(uri).await {
                    return;
                }
            }
        }
    }
}
