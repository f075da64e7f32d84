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
use super::retry::pause_before_resuming;
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
