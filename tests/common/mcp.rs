//! Running `iteratr mcp serve` (the real binary) and talking to it with the rmcp client.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

pub type McpClient = RunningService<RoleClient, ()>;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// An `iteratr mcp serve --http` process, killed when dropped.
pub struct HttpServe {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for HttpServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve_http(data_dir: &Path, session: &str, extra: &[&str]) -> HttpServe {
    let mut child = Command::new(super::bin())
        .args(["--data-dir"])
        .arg(data_dir)
        .args([
            "mcp",
            "serve",
            "--session",
            session,
            "--http",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("ITERATR_MCP_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    HttpServe { child, url, port }
}

pub async fn connect_http(url: &str, token: &str) -> McpClient {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string())
            .auth_header(token.to_string()),
    );
    ().serve(transport).await.unwrap()
}

pub async fn connect_stdio(data_dir: &Path, session: &str) -> McpClient {
    let mut cmd = tokio::process::Command::new(super::bin());
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["mcp", "serve", "--session", session]);
    let transport = TokioChildProcess::new(cmd).unwrap();
    ().serve(transport).await.unwrap()
}

pub async fn call(client: &McpClient, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Calls a tool that must succeed and returns its text.
pub async fn ok(client: &McpClient, tool: &str, args: Value) -> String {
    let r = call(client, tool, args).await;
    assert_eq!(r.is_error, Some(false), "{tool} failed: {}", text(&r));
    text(&r)
}

/// Calls a tool that must be refused (isError) and returns its message.
pub async fn refused(client: &McpClient, tool: &str, args: Value) -> String {
    let r = call(client, tool, args).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "{tool} should have been refused: {}",
        text(&r)
    );
    text(&r)
}

/// An MCP `initialize` request, as raw JSON.
pub const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

/// POSTs `body` to the MCP endpoint `url`, with the bearer `token` if any and `extra` headers.
pub async fn post(
    url: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}
