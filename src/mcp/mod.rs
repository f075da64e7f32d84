//! The session tools served over MCP: over stdio for clients that launch their servers, and over
//! streamable HTTP on loopback (bearer token, Origin and Host checks) for `iteratr build`.

mod args;
mod claims;
mod http;
mod prompts;
mod questions;
mod resources;
mod schema;
mod scope;
mod server;
mod spec_tools;
mod subscriptions;
mod tools;

pub use http::{HttpOptions, HttpServer, random_token, serve_http};
pub use prompts::PromptSource;
pub use schema::non_portable;
pub use scope::McpScope;
pub use spec_tools::SpecSink;
pub use tools::{SessionTools, task_json};

use futures_util::StreamExt;
use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// Longest JSON-RPC line accepted on stdio.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Checks that `bytes` hold a JSON-RPC 2.0 message (or a batch of them). The error is the JSON-RPC
/// error code and message to answer with: -32700 when it is not JSON, -32600 when it is JSON but
/// not JSON-RPC.
pub fn check_message(bytes: &[u8]) -> Result<(), (i64, String)> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| (-32700, format!("Parse error: {e}")))?;
    let valid = |m: &serde_json::Value| {
        m.get("jsonrpc").and_then(|v| v.as_str()) == Some("2.0")
            && (m.get("method").is_some_and(|v| v.is_string())
                || (m.get("id").is_some()
                    && (m.get("result").is_some() || m.get("error").is_some())))
    };
    let ok = match &value {
        serde_json::Value::Array(items) => !items.is_empty() && items.iter().all(valid),
        other => valid(other),
    };
    if ok {
        Ok(())
    } else {
        Err((
            -32600,
            "Invalid Request: expected a JSON-RPC 2.0 message with \"jsonrpc\": \"2.0\" and a \"method\"".into(),
        ))
    }
}

fn error_line(code: i64, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    })
    .to_string()
}

/// Serves the tools on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(tools: SessionTools) -> anyhow::Result<()> {
    serve_lines(tools, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves the tools over newline-delimited JSON-RPC. Lines that are not JSON-RPC are answered
/// with a JSON-RPC error (rmcp alone would drop them silently); the rest go to the MCP server.
/// One writer task owns `output`, so replies and errors never interleave within a line.
pub async fn serve_lines<R, W>(tools: SessionTools, input: R, output: W) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (mut to_server, server_in) = tokio::io::duplex(64 * 1024);
    let (server_out, from_server) = tokio::io::duplex(64 * 1024);
    let (errors_tx, mut errors_rx) = mpsc::channel::<String>(16);

    let reader = tokio::spawn(async move {
        let mut lines = FramedRead::new(input, LinesCodec::new_with_max_length(MAX_LINE_BYTES));
        while let Some(line) = lines.next().await {
            let reply = match line {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => match check_message(line.as_bytes()) {
                    Ok(()) => {
                        let sent = async {
                            to_server.write_all(line.as_bytes()).await?;
                            to_server.write_all(b"\n").await
                        };
                        if sent.await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Err((code, message)) => error_line(code, &message),
                },
                Err(LinesCodecError::MaxLineLengthExceeded) => error_line(
                    -32600,
                    &format!("Invalid Request: message over the limit of {MAX_LINE_BYTES} bytes"),
                ),
                Err(LinesCodecError::Io(e)) => {
                    tracing::warn!("cannot read stdin: {e}");
                    break;
                }
            };
            if errors_tx.send(reply).await.is_err() {
                break;
            }
        }
        // Dropping `to_server` here tells the MCP server the client is gone.
    });

    let writer = tokio::spawn(async move {
        let mut output = output;
        let mut replies = FramedRead::new(from_server, LinesCodec::new());
        loop {
            let line = tokio::select! {
                line = replies.next() => match line {
                    Some(Ok(line)) => line,
                    _ => break,
                },
                Some(error) = errors_rx.recv() => error,
            };
            let written = async {
                output.write_all(line.as_bytes()).await?;
                output.write_all(b"\n").await?;
                output.flush().await
            };
            if written.await.is_err() {
                break;
            }
        }
    });

    let served = async {
        let server = tools
            .serve((server_in, server_out))
            .await
            .map_err(|e| anyhow::anyhow!("the MCP client did not complete the handshake: {e}"))?;
        server
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("the MCP connection failed: {e}"))?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    reader.abort();
    let _ = writer.await;
    served
}
