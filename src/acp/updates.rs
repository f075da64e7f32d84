//! The agent's `session/update` notifications, taken off its stdout before the ACP SDK sees them.
//! They are nearly every message of a turn (each chunk of streamed text is one), and the SDK's
//! generic dispatch (a JSON value, a copy, the typed message through serde's buffering, handler
//! lookup) cost several times one parse: profiled, it was the largest part of the TUI stress
//! benchmark. Here a notification is parsed once (a text chunk straight into its text, anything
//! else into JSON) and handed on in the order it arrived; everything else (responses, requests,
//! anything not understood) goes on to the SDK unchanged.
//!
//! A misbehaving agent is contained here: a line over [`MAX_LINE`] is dropped as it arrives,
//! bytes that are not UTF-8 are replaced, a line that is not JSON is logged (the SDK answers it
//! with a parse error), and an update for a session the agent never opened (its `session/new`
//! replies name the ones it did) is logged and dropped, so it reaches neither the front ends nor
//! the usage counted for a budget. Warnings about a flood of such lines are thinned out.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream};

/// Buffer between this reader and the SDK (only the lines it does not take pass through it).
const PIPE: usize = 64 * 1024;
/// The longest line an agent may write: a longer one (a runaway agent, a binary dump) is dropped
/// as it arrives, so memory stays bounded, and the lines after it are read as usual.
pub(super) const MAX_LINE: usize = 8 * 1024 * 1024;

/// Reads the next line (without its newline) into `line`, at most [`MAX_LINE`] bytes of it;
/// `Ok(false)` at the end of the output, `Ok(true)` with an empty `line` for a line dropped as too
/// long. Bytes that are not UTF-8 are replaced (and `complaints` told), never the end of the
/// connection.
async fn next_line(
    reader: &mut BufReader<impl AsyncRead + Unpin>,
    line: &mut String,
    complaints: &mut Complaints,
) -> std::io::Result<bool> {
    line.clear();
    let mut bytes = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if bytes.is_empty() && !too_long {
                return Ok(false);
            }
            break;
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (&buf[..at], Some(at + 1)),
            None => (buf, None),
        };
        if !too_long {
            if bytes.len() + chunk.len() > MAX_LINE {
                too_long = true;
                bytes = Vec::new();
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            break;
        }
    }
    if too_long {
        tracing::warn!("the agent wrote a line over {MAX_LINE} bytes; it was dropped");
        return Ok(true);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    *line = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            complaints.not_utf8(&text);
            text
        }
    };
    Ok(true)
}

/// The start of a line the agent wrote, for a log message.
fn preview(line: &str) -> String {
    const SHOWN: usize = 120;
    match line.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}… ({} bytes)", &line[..at], line.len()),
        None => line.to_string(),
    }
}

/// Whether the `n`th occurrence of a complaint is worth a log line: the first three, then the
/// 10th, 100th, 1000th... so a flood is said without flooding the log.
fn worth_saying(n: u64) -> bool {
    let mut m = n;
    while m >= 10 && m.is_multiple_of(10) {
        m /= 10;
    }
    n <= 3 || m == 1
}

/// A `session/update` taken: streamed text or thinking, or any other update as JSON.
#[derive(Debug, PartialEq)]
pub(super) enum Taken {
    Text(String),
    Thought(String),
    Other(Value),
}

#[derive(Deserialize)]
struct Notification<U> {
    method: String,
    /// A request (it has an id) is never taken.
    id: Option<IgnoredAny>,
    params: Params<U>,
}

#[derive(Deserialize)]
struct Params<U> {
    #[serde(rename = "sessionId", default)]
    session: String,
    update: U,
}

/// A response whose result names a session: the agent's answer to `session/new`.
#[derive(Deserialize)]
struct SessionReply {
    id: Option<IgnoredAny>,
    method: Option<IgnoredAny>,
    result: SessionResult,
}

#[derive(Deserialize)]
struct SessionResult {
    #[serde(rename = "sessionId")]
    session: String,
}

/// The sessions the agent opened, newest last (a few: iteratr opens one per iteration), and what
/// it wrote that was wrong, counted.
#[derive(Default)]
struct Complaints {
    ids: std::collections::VecDeque<String>,
    /// Updates dropped because they named a session the agent never opened.
    strays: u64,
    /// Lines that were not JSON at all.
    garbage: u64,
    /// Lines with bytes that are not UTF-8.
    not_utf8: u64,
}

const SESSIONS_KEPT: usize = 16;

impl Complaints {
    /// Takes note of a session the agent opened, if `line` is a reply naming one.
    fn note_reply(&mut self, line: &str) {
        if !line.contains("\"sessionId\"") {
            return;
        }
        if let Ok(reply) = serde_json::from_str::<SessionReply>(line)
            && reply.id.is_some()
            && reply.method.is_none()
            && !self.ids.contains(&reply.result.session)
        {
            if self.ids.len() == SESSIONS_KEPT {
                self.ids.pop_front();
            }
            self.ids.push_back(reply.result.session);
        }
    }

    /// Whether an update for `session` may pass.
    fn admits(&mut self, session: &str) -> bool {
        if self.ids.iter().any(|id| id == session) {
            return true;
        }
        self.strays += 1;
        if worth_saying(self.strays) {
            tracing::warn!(
                session = %preview(session),
                dropped = self.strays,
                "the agent sent an update for a session it never opened; dropped"
            );
        }
        false
    }

    fn not_utf8(&mut self, line: &str) {
        self.not_utf8 += 1;
        if worth_saying(self.not_utf8) {
            tracing::warn!(
                lines = self.not_utf8,
                "the agent wrote bytes that are not UTF-8; they were replaced: {}",
                preview(line)
            );
        }
    }

    /// Logs a line that is not JSON (the SDK answers it with a parse error).
    fn garbage(&mut self, line: &str) {
        self.garbage += 1;
        if worth_saying(self.garbage) {
            tracing::warn!(
                lines = self.garbage,
                "the agent wrote a line that is not JSON-RPC; ignored: {}",
                preview(line)
            );
        }
    }
}

/// The shape of a chunk of streamed text or thinking.
#[derive(Deserialize)]
struct Chunk {
    #[serde(rename = "sessionUpdate")]
    kind: String,
    content: ChunkContent,
}

#[derive(Deserialize)]
struct ChunkContent {
    #[serde(rename = "type")]
    kind: String,
    text: String,
}

fn parse<U: serde::de::DeserializeOwned>(line: &str) -> Option<(String, U)> {
    let n: Notification<U> = serde_json::from_str(line).ok()?;
    (n.method == "session/update" && n.id.is_none()).then_some((n.params.session, n.params.update))
}

/// The session and update of a `session/update` notification, or `None` for any other line.
fn update_of(line: &str) -> Option<(String, Taken)> {
    // Most other lines are answered without a parse.
    if !line.contains("\"session/update\"") {
        return None;
    }
    match parse::<Chunk>(line) {
        Some((s, c)) if c.content.kind == "text" && c.kind == "agent_message_chunk" => {
            Some((s, Taken::Text(c.content.text)))
        }
        Some((s, c)) if c.content.kind == "text" && c.kind == "agent_thought_chunk" => {
            Some((s, Taken::Thought(c.content.text)))
        }
        _ => parse::<Value>(line).map(|(s, v)| (s, Taken::Other(v))),
    }
}

/// Reads the agent's output line by line on the current runtime: every `session/update` goes to
/// `on_update` in order, every other line to the returned stream, which the SDK reads. The stream
/// ends when the agent's output does.
pub(super) fn take_updates(
    agent_out: impl AsyncRead + Unpin + Send + 'static,
    on_update: impl Fn(Taken) + Send + 'static,
) -> DuplexStream {
    let (mut to_sdk, sdk_reads) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let mut reader = BufReader::new(agent_out);
        let mut line = String::new();
        let mut sessions = Complaints::default();
        while let Ok(true) = next_line(&mut reader, &mut line, &mut sessions).await {
            if line.is_empty() {
                continue;
            }
            match update_of(&line) {
                Some((session, update)) => {
                    if sessions.admits(&session) {
                        on_update(update);
                    }
                }
                None => {
                    if line.trim_start().starts_with('{') {
                        sessions.note_reply(&line);
                    } else {
                        sessions.garbage(&line);
                    }
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

    #[test]
    fn a_flood_of_complaints_is_thinned_out() {
        let said: Vec<u64> = (1..=2_000).filter(|n| worth_saying(*n)).collect();
        assert_eq!(said, [1, 2, 3, 10, 100, 1000]);
        assert_eq!(
            preview(&"é".repeat(200)).chars().count(),
            120 + " (400 bytes)".len() + 1
        );
    }

    #[tokio::test]
    async fn updates_are_taken_and_everything_else_passes_in_order() {
        let input = concat!(
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"before the session exists"}}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":0,"result":{"sessionId":"s"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":1,"result":{"stopReason":"end_turn"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"session/update","params":{"update":{}}}"#,
            "\n",
            "not json mentioning \"session/update\"\n",
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"plan","entries":[]}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"image","data":"","mimeType":"image/png"}}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"ghost","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"from nowhere"}}}}"#,
            "\n",
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let mut rest = take_updates(input.as_bytes(), move |u| record.lock().unwrap().push(u));
        let mut passed = String::new();
        rest.read_to_string(&mut passed).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                Taken::Text("hi".into()),
                Taken::Other(serde_json::json!({"sessionUpdate": "plan", "entries": []})),
                Taken::Other(
                    serde_json::json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "image", "data": "", "mimeType": "image/png"}})
                ),
            ]
        );
        assert_eq!(
            passed.lines().collect::<Vec<_>>(),
            [
                r#"{"jsonrpc":"2.0","id":0,"result":{"sessionId":"s"}}"#,
                r#"{"jsonrpc":"2.0","id":1,"result":{"stopReason":"end_turn"}}"#,
                r#"{"jsonrpc":"2.0","id":2,"method":"session/update","params":{"update":{}}}"#,
                "not json mentioning \"session/update\"",
            ]
        );
    }

    #[tokio::test]
    async fn bad_bytes_and_huge_lines_do_not_end_the_connection() {
        let update = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"after"}}}}"#;
        let mut input: Vec<u8> =
            b"{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"sessionId\":\"s\"}}\n".to_vec();
        input.extend_from_slice(b"garbage \xff\xfe not utf-8\n");
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\n");
        input.extend_from_slice(update.as_bytes());
        input.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let reader = std::io::Cursor::new(input);
        let mut rest = take_updates(reader, move |u| record.lock().unwrap().push(u));
        let mut passed = String::new();
        rest.read_to_string(&mut passed).await.unwrap();
        assert_eq!(*seen.lock().unwrap(), [Taken::Text("after".into())]);
        assert_eq!(
            passed.lines().collect::<Vec<_>>(),
            [
                r#"{"jsonrpc":"2.0","id":0,"result":{"sessionId":"s"}}"#,
                "garbage \u{fffd}\u{fffd} not utf-8",
                r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
            ]
        );
    }
}
