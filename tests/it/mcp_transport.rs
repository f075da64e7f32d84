//! The MCP server from the outside: the request size limit, JSON-RPC errors for malformed input on
//! both transports, many concurrent clients, and `mcp serve` sharing a data dir with other
//! writers. (The token, Origin, Host and loopback guards: `reliability_security.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::common::keep_alive::KeepAlive;
use crate::common::mcp::{self, INIT, TOKEN, connect_http, connect_stdio, ok, post};
use iteratr::session::{Author, Command as SessionCommand, NewTask};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, SqliteLog};
use serde_json::{Value, json};

/// The largest request body the HTTP transport takes (1 MiB).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Sends `head` (a request without its final blank line) and then `body`, then reads the whole
/// answer (the request says `Connection: close`): its status and body.
fn raw_exchange(port: u16, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(crate::common::PATIENCE))
        .unwrap();
    write!(
        stream,
        "{head}Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("no complete answer: {e}; got {answer:?}"));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_bad_bodies_with_json_rpc_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "bodies", &[]);
    let url = server.url.as_str();
    let error_of = |body: &str| -> (i64, String) {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], Value::Null);
        (
            v["error"]["code"].as_i64().unwrap(),
            v["error"]["message"].as_str().unwrap().to_string(),
        )
    };

    let r = post(url, Some(TOKEN), &[], "{not json").await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(&r.text().await.unwrap()).0, -32700);

    let r = post(url, Some(TOKEN), &[], r#"{"hello":"world"}"#).await;
    assert_eq!(r.status(), 400);
    let (code, message) = error_of(&r.text().await.unwrap());
    assert_eq!(code, -32600);
    assert!(message.contains("\"jsonrpc\": \"2.0\""), "{message}");

    // Too big, refused from its Content-Length alone: the head is all the client sends, and the
    // answer (a 413 with a JSON-RPC error) comes before any of the body.
    let port = server.port;
    let declared = tokio::task::spawn_blocking(move || {
        raw_exchange(
            port,
            &format!(
                "POST /mcp HTTP/1.1\r\nContent-Length: {}\r\n",
                2 * MAX_REQUEST_BYTES
            ),
            b"",
        )
    })
    .await
    .unwrap();
    assert_eq!(declared.0, 413, "{}", declared.1);
    let (code, message) = error_of(&declared.1);
    assert_eq!(code, -32600);
    assert!(message.contains("over the limit"), "{message}");
    // Too big with no length declared (chunked): refused once the limit is crossed. The client
    // sends one byte over the limit and no more, so the server has read everything it was sent
    // when it answers.
    let streamed = tokio::task::spawn_blocking(move || {
        let mut body = format!("{:x}\r\n", MAX_REQUEST_BYTES + 1).into_bytes();
        body.extend(std::iter::repeat_n(b' ', MAX_REQUEST_BYTES + 1));
        raw_exchange(
            port,
            "POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
            &body,
        )
    })
    .await
    .unwrap();
    assert_eq!(streamed.0, 413, "{}", streamed.1);
    assert_eq!(error_of(&streamed.1).0, -32600);
    // The server is still there for proper requests.
    let r = post(url, Some(TOKEN), &[], "{not json").await;
    assert_eq!(r.status(), 400);

    // An unknown method after a proper handshake is JSON-RPC "method not found".
    let init = post(url, Some(TOKEN), &[], INIT).await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = init.text().await;
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    post(
        url,
        Some(TOKEN),
        &[("mcp-session-id", &session)],
        initialized,
    )
    .await;
    let r = post(
        url,
        Some(TOKEN),
        &[("mcp-session-id", &session)],
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/explode"}"#,
    )
    .await;
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#""id":7"#) && text.contains("-32601"),
        "{text}"
    );
}

#[test]
fn stdio_answers_malformed_lines_with_json_rpc_errors_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(crate::common::bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["mcp", "serve", "--session", "raw"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut next = || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    writeln!(stdin, "this is not json").unwrap();
    let v = next();
    assert_eq!(
        (v["error"]["code"].as_i64(), &v["id"]),
        (Some(-32700), &Value::Null)
    );
    writeln!(stdin, r#"{{"id": 1, "method": "initialize"}}"#).unwrap();
    assert_eq!(next()["error"]["code"], -32600);
    // The session goes on: a proper handshake and a tool call work.
    writeln!(stdin, "{INIT}").unwrap();
    assert_eq!(next()["result"]["serverInfo"]["name"], "iteratr");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"task-add","arguments":{{"content":"From a raw client"}}}}}}"#).unwrap();
    let v = next();
    assert_eq!(v["id"], 2);
    assert_eq!(
        v["result"]["content"][0]["text"],
        "Added TAS-1 [p2] From a raw client (remaining, priority 2)"
    );
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"no-such-tool"}}}}"#
    )
    .unwrap();
    let v = next();
    assert_eq!(
        (v["id"].as_i64(), v["error"]["code"].as_i64()),
        (Some(3), Some(-32602))
    );
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "serve ends cleanly when stdin closes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_add_a_thousand_tasks() {
    const CLIENTS: usize = 20;
    const EACH: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "crowd", &[]);
    let mut workers = Vec::new();
    for c in 0..CLIENTS {
        let url = server.url.clone();
        workers.push(tokio::spawn(async move {
            let client = connect_http(&url, TOKEN).await;
            let mut ids = Vec::new();
            for i in 0..EACH {
                let r = mcp::call(
                    &client,
                    "task-add",
                    json!({"content": format!("client {c} task {i}")}),
                )
                .await;
                assert_eq!(r.is_error, Some(false), "{}", mcp::text(&r));
                ids.push(
                    r.structured_content.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            client.cancel().await.unwrap();
            ids
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for w in workers {
        for id in w.await.unwrap() {
            assert!(ids.insert(id.clone()), "{id} handed out twice");
        }
    }
    assert_eq!(ids.len(), CLIENTS * EACH);
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path()).unwrap());
    let state = SessionHandle::open(log, "crowd")
        .await
        .unwrap()
        .refresh()
        .await
        .unwrap();
    assert_eq!(state.tasks.len(), CLIENTS * EACH);
    assert_eq!(
        state.last_seq,
        (CLIENTS * EACH) as u64,
        "one event per call, none lost or doubled"
    );
    for c in 0..CLIENTS {
        for i in 0..EACH {
            let content = format!("client {c} task {i}");
            assert!(
                state.tasks.values().any(|t| t.content == content),
                "lost {content}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_serve_and_other_writers_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let stdio = connect_stdio(dir.path(), "shared").await;
    let server = mcp::serve_http(dir.path(), "shared", &[]);
    let http = connect_http(&server.url, TOKEN).await;
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path()).unwrap());
    let direct = SessionHandle::open(log, "shared").await.unwrap();

    ok(&stdio, "task-add", json!({"content": "From stdio"})).await;
    ok(&http, "task-add", json!({"content": "From HTTP"})).await;
    direct
        .execute(
            &SessionCommand::AddTasks(vec![NewTask::new("From the library")]),
            Author::User,
        )
        .await
        .unwrap();
    ok(
        &http,
        "note-add",
        json!({"type": "tip", "content": "Seen by all"}),
    )
    .await;

    for client in [&stdio, &http] {
        let list = ok(client, "task-list", json!({})).await;
        assert_eq!(
            list,
            "remaining (3):\n  TAS-1 [p2] From stdio\n  TAS-2 [p2] From HTTP\n  TAS-3 [p2] From the library"
        );
        assert!(
            ok(client, "note-list", json!({}))
                .await
                .contains("Seen by all")
        );
    }
    // A change through one server is refused through the other when it breaks a rule.
    let e = mcp::refused(&stdio, "task-add", json!({"content": "from http"})).await;
    assert!(e.contains("TAS-2"), "{e}");
    let state = direct.refresh().await.unwrap();
    assert_eq!(state.tasks.len(), 3);
    assert_eq!(state.notes.len(), 1);
    stdio.cancel().await.unwrap();
    http.cancel().await.unwrap();
}

/// A keep-alive client reuses one connection for every call. Without `TCP_NODELAY` on the
/// server's sockets each answer, written in several small pieces, waited for the client's delayed
/// ACK: about 40 ms a call, so 50 calls took over 2 s. This is the one timing in the suite; its
/// bound is half of that and many times what a call costs in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_calls_do_not_wait_for_delayed_acks() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "keep-alive", &[]);
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let mut conn = KeepAlive::connect(port, TOKEN);
        assert!(conn.initialize().contains("serverInfo"));
        assert!(conn.session.is_some(), "no Mcp-Session-Id in the answer");
        assert!(conn.call(1, "task-list", "{}").contains("No tasks yet"));
        let calls = 50;
        let started = std::time::Instant::now();
        for id in 0..calls {
            let answer = conn.call(u64::from(id) + 10, "task-next", "{}");
            assert!(answer.contains(&format!("\"id\":{}", id + 10)), "{answer}");
        }
        let took = started.elapsed();
        let nagled = std::time::Duration::from_millis(40) * calls;
        assert!(
            took < nagled / 2,
            "{calls} keep-alive calls took {took:?}; waiting for delayed ACKs takes over {nagled:?}"
        );
    })
    .await
    .unwrap();
}
