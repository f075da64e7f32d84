//! Live updates over Server-Sent Events. A session's stream carries its log events (`log`), the
//! agent's output (`output`) and its state after changes (`state`, at most four times a second);
//! each `log` and `output` event's id is `E.O`, the last event and output record sent, so a
//! browser that reconnects (it sends `Last-Event-ID` by itself) goes on with no gap and nothing
//! twice. The sessions page gets the summaries (`sessions`) whenever they change.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::mpsc;

use super::Web;
use crate::narrate::{Listener, Tone, narrate};
use crate::output::OutputRecord;
use crate::session::text::error_chain;
use crate::store::{OutputSubscription, StoredEvent, Subscription};

/// How often a changed state is sent at most.
const STATE_EVERY: Duration = Duration::from_millis(250);
/// How often the sessions page's summaries are checked.
const SESSIONS_EVERY: Duration = Duration::from_secs(1);
/// What the browser waits before it reconnects (ms).
const RETRY: Duration = Duration::from_secs(1);

/// Where a session's stream starts: after event `events`, and after output record `output` (none:
/// from the current iteration's output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) events: u64,
    pub(crate) output: Option<u64>,
}

impl Cursor {
    /// From `Last-Event-ID` (`E.O`), which a reconnecting browser sends, or else the query
    /// (`?after=E&output=O`).
    pub(crate) fn of(headers: &HeaderMap, uri: &Uri) -> Cursor {
        if let Some((e, o)) = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once('.'))
            && let (Ok(events), Ok(output)) = (e.parse(), o.parse())
        {
            return Cursor {
                events,
                output: Some(output),
            };
        }
        let mut cursor = Cursor {
            events: 0,
            output: None,
        };
        for (key, value) in uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='))
        {
            match key {
                "after" => cursor.events = value.parse().unwrap_or(0),
                "output" => cursor.output = value.parse().ok(),
                _ => {}
            }
        }
        cursor
    }

    fn id(&self) -> String {
        format!("{}.{}", self.events, self.output.unwrap_or(0))
    }
}

fn stream_of(mut rx: mpsc::Receiver<SseEvent>) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)))
}

fn sse(rx: mpsc::Receiver<SseEvent>) -> Response {
    Sse::new(stream_of(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn warning(message: String) -> SseEvent {
    SseEvent::default()
        .event("warning")
        .data(serde_json::json!({ "message": message }).to_string())
}

/// `GET /api/sessions/{name}/live`.
pub(crate) async fn session(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cursor = Cursor::of(&headers, &uri);
    let handle = match web.hub.handle(&name).await {
        Ok(h) => h,
        Err(e) => return super::api::failed(&e),
    };
    let log = Arc::clone(web.hub.log());
    let (events, output) = match tokio::try_join!(
        log.subscribe(&name, cursor.events),
        log.subscribe_output(&name, cursor.output.unwrap_or(0))
    ) {
        Ok(subs) => subs,
        Err(e) => return super::api::failed(&e.into()),
    };
    // Starting afresh: the output of the iterations that run (or the last one), not all that
    // is retained.
    let from = match cursor.output {
        Some(_) => None,
        None => match handle.refresh().await {
            Ok(state) => state
                .oldest_running_iteration()
                .or_else(|| state.latest_iteration()),
            Err(e) => return super::api::failed(&e),
        },
    };
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(follow(web, name, cursor, from, events, output, tx));
    sse(rx)
}

/// Sends the session's events, output and state until the browser goes or a subscription ends
/// (the browser then reconnects where it was).
async fn follow(
    web: Arc<Web>,
    name: String,
    mut cursor: Cursor,
    from: Option<u32>,
    mut events: Subscription,
    mut output: OutputSubscription,
    tx: mpsc::Sender<SseEvent>,
) {
    let first = SseEvent::default().retry(RETRY).comment("iteratr");
    if tx.send(first).await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(STATE_EVERY);
    let mut changed = true;
    // When the last event sent happened (0: none yet; the page keeps what it has).
    let mut last_at = 0;
    loop {
        let event = tokio::select! {
            next = events.next() => match next {
                Some(Ok(stored)) => {
                    cursor.events = stored.seq;
                    last_at = stored.event.at_ms;
                    changed = true;
                    log_event(&stored, &cursor)
                }
                Some(Err(e)) => {
                    let _ = tx.send(warning(format!("lost the session's log: {}", error_chain(&e)))).await;
                    return;
                }
                None => return,
            },
            next = output.next() => match next {
                Some(Ok(entry)) => {
                    cursor.output = Some(entry.seq);
                    match OutputRecord::from_json(&entry.payload) {
                        Ok(record) if from.is_some_and(|f| record.iteration.is_some_and(|i| i < f)) => continue,
                        Ok(record) => {
                            let mut data = serde_json::json!({ "seq": entry.seq, "at_ms": entry.at_ms });
                            data["record"] = serde_json::to_value(&record).unwrap_or_default();
                            SseEvent::default().event("output").id(cursor.id()).data(data.to_string())
                        }
                        Err(e) => SseEvent::default().event("output").id(cursor.id()).data(
                            serde_json::json!({ "seq": entry.seq, "unreadable": e.to_string() }).to_string(),
                        ),
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(warning(format!("lost the agent's output: {}", error_chain(&e)))).await;
                    return;
                }
                None => return,
            },
            _ = tick.tick(), if changed => {
                changed = false;
                match web.hub.view(&name).await {
                    Ok((state, view)) => {
                        let summary = super::hub::summary(&name, &state, last_at);
                        let data = serde_json::json!({ "summary": summary, "state": *view });
                        SseEvent::default().event("state").data(data.to_string())
                    }
                    Err(e) => warning(format!("cannot read the session: {e}")),
                }
            }
            _ = tx.closed() => return,
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

fn log_event(stored: &StoredEvent, cursor: &Cursor) -> SseEvent {
    SseEvent::default()
        .event("log")
        .id(cursor.id())
        .data(told(stored).to_string())
}

/// A log event as the page gets it: with what it says to people (`told`: text and tone), when it
/// says something.
pub(crate) fn told(stored: &StoredEvent) -> serde_json::Value {
    let mut value = serde_json::to_value(stored).unwrap_or_default();
    if let Some(told) = narrate(&stored.event.kind, Listener::Watcher) {
        let tone = match told.tone {
            Tone::Info => "info",
            Tone::Warning => "warning",
            Tone::Divider => "divider",
            Tone::Text => "text",
        };
        value["told"] = serde_json::json!({ "text": told.text, "tone": tone });
    }
    value
}

/// `GET /api/live`: the sessions' summaries, whenever they change.
pub(crate) async fn sessions(State(web): State<Arc<Web>>) -> Response {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let first = SseEvent::default().retry(RETRY).comment("iteratr");
        if tx.send(first).await.is_err() {
            return;
        }
        let mut last = None;
        let mut tick = tokio::time::interval(SESSIONS_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tx.closed() => return,
            }
            let event = match web.hub.summaries().await {
                Ok(now) if last.as_ref() == Some(&now) => continue,
                Ok(now) => {
                    let data = serde_json::json!({ "sessions": now }).to_string();
                    last = Some(now);
                    SseEvent::default().event("sessions").data(data)
                }
                Err(e) => warning(format!("cannot list the sessions: {e}")),
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    sse(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_goes_on_where_it_was() {
        let mut headers = HeaderMap::new();
        let uri: Uri = "/api/sessions/x/live?after=5".parse().unwrap();
        assert_eq!(
            Cursor::of(&headers, &uri),
            Cursor {
                events: 5,
                output: None
            }
        );
        headers.insert("last-event-id", "12.340".parse().unwrap());
        let resumed = Cursor::of(&headers, &uri);
        assert_eq!(
            resumed,
            Cursor {
                events: 12,
                output: Some(340)
            }
        );
        assert_eq!(resumed.id(), "12.340");
        // Something else in the header: the query counts.
        headers.insert("last-event-id", "garbage".parse().unwrap());
        assert_eq!(Cursor::of(&headers, &uri).events, 5);
    }
}
