//! A helper process of the MCP conformance tests (`tests/it/mcp_conformance.rs`), not a test: it
//! puts an MCP server where the official conformance suite can reach it, which takes a URL and
//! sends no credentials.
//!
//!     mcp_bridge http URL           streamable HTTP to URL, adding `Authorization: Bearer
//!                                   $ITERATR_MCP_TOKEN` (the token never goes on a command line)
//!     mcp_bridge stdio CMD ARGS...  runs CMD and speaks its newline-delimited JSON-RPC on stdio;
//!                                   each POSTed request gets the matching reply as JSON
//!
//! It listens on 127.0.0.1 (a free port) and prints `listening http://127.0.0.1:PORT/mcp` first.
//! In `http` mode a Host naming a loopback address becomes the upstream's own, so that only the
//! port differs from a direct connection; any other Host (the suite's DNS-rebinding check) is
//! passed on untouched for the server to refuse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

const USAGE: &str = "usage: mcp_bridge (http URL | stdio CMD ARGS...)";
/// Headers that belong to one hop, never forwarded.
const HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let app = match args.split_first() {
        Some((mode, [url])) if mode == "http" => {
            let token = std::env::var("ITERATR_MCP_TOKEN")
                .context("set ITERATR_MCP_TOKEN to the server's bearer token")?;
            let upstream = Upstream {
                client: reqwest::Client::new(),
                url: url.clone(),
                token,
            };
            axum::Router::new()
                .route("/mcp", axum::routing::any(forward))
                .with_state(Arc::new(upstream))
        }
        Some((mode, [cmd, cmd_args @ ..])) if mode == "stdio" => {
            let child = Child::spawn(cmd, cmd_args)?;
            axum::Router::new()
                .route("/mcp", axum::routing::any(relay))
                .with_state(child)
        }
        _ => bail!(USAGE),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening http://{}/mcp", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

struct Upstream {
    client: reqwest::Client,
    url: String,
    token: String,
}

fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

async fn forward(State(up): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(host) = parts.headers.get(header::HOST)
        && !host.to_str().is_ok_and(loopback_host)
    {
        headers.insert(header::HOST, host.clone());
    }
    if let Ok(auth) = HeaderValue::from_str(&format!("Bearer {}", up.token)) {
        headers.insert(header::AUTHORIZATION, auth);
    }
    let sent = up
        .client
        .request(parts.method, &up.url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
}

/// The MCP server on stdio, and the replies it owes.
#[derive(Clone)]
struct Child {
    to_child: mpsc::UnboundedSender<String>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
}

impl Child {
    fn spawn(cmd: &str, args: &[String]) -> anyhow::Result<Child> {
        let mut child = tokio::process::Command::new(cmd)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {cmd}"))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("no stdio for {cmd}");
        };
        let (to_child, mut lines) = mpsc::unbounded_channel::<String>();
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>> = Arc::default();
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err()
                    || stdin.write_all(b"\n").await.is_err()
                    || stdin.flush().await.is_err()
                {
                    break;
                }
            }
            drop(child);
        });
        let waiting = Arc::clone(&pending);
        tokio::spawn(async move {
            let mut out = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = out.next_line().await {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("mcp_bridge: not JSON from the server: {line}");
                    continue;
                };
                let is_reply = message.get("method").is_none();
                let waiter = message
                    .get("id")
                    .filter(|_| is_reply)
                    .and_then(|id| waiting.lock().ok()?.remove(&id.to_string()));
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(message);
                    }
                    // No GET stream here: server-initiated messages have nowhere to go.
                    None => eprintln!("mcp_bridge: dropped a server message: {line}"),
                }
            }
        });
        Ok(Child { to_child, pending })
    }
}

async fn relay(State(child): State<Child>, request: Request) -> Response {
    if request.method() != axum::http::Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let message: Value = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            let error = json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": format!("Parse error: {e}")}});
            return (StatusCode::BAD_REQUEST, json_body(&error)).into_response();
        }
    };
    let line = message.to_string();
    let id = message
        .get("id")
        .filter(|_| message.get("method").is_some())
        .map(Value::to_string);
    let Some(id) = id else {
        // A notification or a reply to the server: nothing comes back.
        let _ = child.to_child.send(line);
        return StatusCode::ACCEPTED.into_response();
    };
    let (tx, rx) = oneshot::channel();
    if let Ok(mut pending) = child.pending.lock() {
        pending.insert(id, tx);
    }
    if child.to_child.send(line).is_err() {
        return (StatusCode::BAD_GATEWAY, "the server exited").into_response();
    }
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(reply)) => (
            [(header::CONTENT_TYPE, "application/json")],
            json_body(&reply),
        )
            .into_response(),
        _ => (StatusCode::GATEWAY_TIMEOUT, "no reply from the server").into_response(),
    }
}

fn json_body(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}
