//! The agent's `session/update` notifications, taken off its stdout before the ACP SDK sees them.
//! They are nearly every message of a turn (each chunk of streamed text is one), and the SDK's
//! generic dispatch (a JSON value, a copy, the typed message through serde's buffering, handler
//! lookup) cost several times one parse: profiled, it was the largest part of the TUI stress
//! benchmark. Here a notification is parsed once and handed on in the order it arrived;
//! everything else (responses, requests, anything not understood) goes on to the SDK unchanged.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream};

/// Buffer between this reader and the SDK (only the lines it does not take pass through it).
const PIPE: usize = 64 * 1024;

#[derive(Deserialize)]
struct Notification {
    method: String,
    /// A request (it has an id) is never taken.
    id: Option<IgnoredAny>,
    params: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    update: Value,
}

/// The `update` of a `session/update` notification, or `None` for any other line.
fn update_of(line: &str) -> Option<Value> {
    // Most other lines are answered without a parse.
    if !line.contains("\"session/update\"") {
        return None;
    }
    let n: Notification = serde_json::from_str(line).ok()?;
    if n.method != "session/update" || n.id.is_some() {
        return None;
    }
    n.params.map(|p| p.update)
}

/// Reads the agent's output line by line on the current runtime: every `session/update` goes to
/// `on_update` in order, every other line to the returned stream, which the SDK reads. The stream
/// ends when the agent's output does.
pub(super) fn take_updates(
    agent_out: impl AsyncRead + Unpin + Send + 'static,
    on_update: impl Fn(Value) + Send + 'static,
) -> DuplexStream {
    let (mut to_sdk, sdk_reads) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let mut lines = BufReader::new(agent_out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match update_of(&line) {
                Some(update) => on_update(update),
                None => {
                    let sent = async {
                        to_sdk.write_all(line.as_bytes()).await?;
                        to_sdk.write_all(b"\n").await
                    };
                    if sent.await.is_err() {
                        return; // the SDK is gone
                    }
                }
            }
        }
        let _ = to_sdk.shutdown().await;
    });
    sdk_reads
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn updates_are_taken_and_everything_else_passes_in_order() {
        let input = concat!(
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":1,"result":{"stopReason":"end_turn"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"session/update","params":{"update":{}}}"#,
            "\n",
            "not json mentioning \"session/update\"\n",
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"plan","entries":[]}}}"#,
            "\n",
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let mut rest = take_updates(input.as_bytes(), move |u| {
            record.lock().unwrap().push(u["sessionUpdate"].clone())
        });
        let mut passed = String::new();
        rest.read_to_string(&mut passed).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [Value::from("agent_message_chunk"), Value::from("plan")]
        );
        assert_eq!(
            passed.lines().collect::<Vec<_>>(),
            [
                r#"{"jsonrpc":"2.0","id":1,"result":{"stopReason":"end_turn"}}"#,
                r#"{"jsonrpc":"2.0","id":2,"method":"session/update","params":{"update":{}}}"#,
                "not json mentioning \"session/update\"",
            ]
        );
    }
}
