//! Live subscriptions: replay from the starting point, then follow new messages as they come.
//!
//! A feed ends in two ways only: its reader drops the subscription, or an error is sent on the
//! channel (the server stayed out of reach longer than the log's patience, a message cannot be
//! decoded, the session was reset). It never just stops.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::Inner;
use super::codec::decode;
use super::retry::{Outage, pause_before_resuming};
use crate::store::Cause;
use crate::store::{NatsError, StoreError, StoredEvent};

type Feed = mpsc::Sender<Result<StoredEvent, StoreError>>;

/// Feeds a subscription until the reader goes away or an error has been sent.
pub(super) async fn follow(inner: Arc<Inner>, session: String, after: u64, tx: Feed) {
    if let Err(e) = feed(&inner, &session, after, &tx).await {
        let _ = tx.send(Err(e)).await;
    }
}

/// `Ok` when the reader went away; the error to send otherwise.
async fn feed(inner: &Inner, session: &str, after: u64, tx: &Feed) -> Result<(), StoreError> {
    // What the session holds now: a message at or below this stream sequence with events at or
    // below `after` is replay to skip; a later message that restarts below our cursor is a reset.
    let known = inner
        .last_batch(session)
        .await?
        .map(|b| (b.stream_seq, b.last))
        .unwrap_or((0, 0));
    if known.1 < after {
        return Err(StoreError::SessionReset(session.to_string()));
    }
    let mut cursor = after;
    let mut start = inner.start_for(session, after);
    let mut outage = Outage::new(inner.link.clone());
    loop {
        // Opening the consumer retries while the server is unreachable, then gives up with
        // the error the reader gets.
        let mut messages = tokio::select! {
            m = inner.replay(session, start) => m?,
            _ = tx.closed() => return Ok(()),
        };
        loop {
            let next = tokio::select! {
                n = messages.next() => n,
                _ = tx.closed() => return Ok(()),
                _ = outage.lasted(inner.retry_for) => {
                    return Err(inner.unreachable("following the session", "disconnected from the server"));
                }
            };
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!("NATS: live feed of {session} interrupted: {e}; resuming");
                    pause_before_resuming().await;
                    break;
                }
                None => break,
            };
            let stream_seq = msg
                .info()
                .map_err(|e| NatsError::NoStreamSequence { source: Cause(e) })?
                .stream_sequence;
            start = stream_seq + 1;
            let batch = decode(session, stream_seq, msg.headers.as_ref(), &msg.payload)?;
            inner.remember(session, batch.last, stream_seq);
            let first = batch.first();
            if stream_seq > known.0 && first <= cursor {
                return Err(StoreError::SessionReset(session.to_string()));
            }
            for (i, event) in batch.events.into_iter().enumerate() {
                let seq = first + i as u64;
                if seq > cursor {
                    cursor = seq;
                    if tx.send(Ok(StoredEvent { seq, event })).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use crate::session::{Author, Event, EventKind};
    use crate::store::{EventLog, NatsLog, NatsOptions, managed};

    /// A JetStream server on a free loopback port, killed when dropped.
    struct Server {
        child: std::process::Child,
        _dir: tempfile::TempDir,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn start_server() -> (Server, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let binary = managed::server_binary().expect("the JetStream tests need nats-server");
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("nats://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (Server { child, _dir: dir }, url)
    }

    /// The reader learns that the server is gone for good (here: longer than the log's
    /// patience) from an error on the subscription, not from a feed that just stops.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_server_is_an_error_on_the_subscription() {
        let (server, url) = start_server();
        let mut opts = NatsOptions::new(&url);
        opts.retry_for = Duration::from_secs(2);
        let log = NatsLog::connect(&opts).await.unwrap();
        let event = Event::new(
            1,
            Author::User,
            EventKind::UserMessage {
                text: "hi".into(),
                who: String::new(),
            },
        );
        log.append("s", 0, vec![event]).await.unwrap();
        let mut sub = log.subscribe("s", 0).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
        assert!(matches!(first, Ok(Some(Ok(_)))), "{first:?}");
        drop(server);
        let next = tokio::time::timeout(Duration::from_secs(60), sub.next())
            .await
            .expect("the subscription neither failed nor ended");
        match next {
            Some(Err(e)) => {
                let text = e.to_string();
                assert!(
                    text.contains("NATS: following the session kept failing"),
                    "{text}"
                );
            }
            other => panic!("expected an error on the subscription, got {other:?}"),
        }
    }
}
