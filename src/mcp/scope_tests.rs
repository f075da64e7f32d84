//! An iteration's scope on the real HTTP server, over raw keep-alive HTTP/1.1: what it opened ends
//! with it, whatever the client does.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mcp::{HttpOptions, HttpServer, SessionTools, serve_http};
use crate::session_handle::SessionHandle;
use crate::store::{EventLog, SqliteLog};

async fn server(dir: &std::path::Path) -> HttpServer {
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir).unwrap());
    let session = Arc::new(SessionHandle::open(log, "scoped").await.unwrap());
    serve_http(
        SessionTools::new(session),
        HttpOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
        },
    )
    .await
    .unwrap()
}

fn initialize(addr: SocketAddr, token: &str) -> Vec<u8> {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads until `needle` has arrived (or the stream ends); what was read.
async fn read_until(conn: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = conn.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn closing_a_scope_ends_its_mcp_sessions_and_connections_and_revokes_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let scope = server.open_scope().unwrap();
    assert_ne!(scope.token(), server.token);

    // A client that initializes and then keeps its connection open, never sending DELETE.
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(&initialize(server.addr, scope.token()))
        .await
        .unwrap();
    // The end of the chunked SSE answer: the connection is now idle, kept alive.
    let answer = read_until(&mut conn, "\r\n0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("mcp-session-id"), "{answer}");
    assert_eq!(server.scopes.sessions_alive().await, 1);

    let token = scope.token().to_string();
    scope.close().await;
    assert_eq!(
        server.scopes.sessions_alive().await,
        0,
        "the MCP session ended with its scope"
    );
    let mut rest = Vec::new();
    let n = conn.read_to_end(&mut rest).await.unwrap_or(0);
    assert_eq!(n, 0, "the server closed the idle connection: {rest:?}");

    // The token no longer opens anything.
    let mut again = TcpStream::connect(server.addr).await.unwrap();
    again
        .write_all(&initialize(server.addr, &token))
        .await
        .unwrap();
    let refused = read_until(&mut again, "\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_revoked_scope_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let scope = server.open_scope().unwrap();
    let token = scope.token().to_string();
    drop(scope);
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(&initialize(server.addr, &token))
        .await
        .unwrap();
    let refused = read_until(&mut conn, "\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(&initialize(server.addr, &server.token))
        .await
        .unwrap();
    let ok = read_until(&mut conn, "mcp-session-id").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    server.shutdown().await;
}
