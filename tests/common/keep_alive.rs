//! A raw MCP client over one keep-alive HTTP/1.1 connection, as the TypeScript SDK (what opencode
//! uses) keeps it: no client library in the way, so what it measures is the server. Shared by the
//! transport tests and the benchmark (`examples/bench`), which includes this file by path; it
//! uses only the standard library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP/1.1 connection that stays open, as keep-alive clients (the TypeScript SDK that
/// opencode uses) keep it: it sends JSON-RPC requests and reads each answer whole.
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
    port: u16,
    token: String,
    pub session: Option<String>,
}

impl KeepAlive {
    pub fn connect(port: u16, token: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        KeepAlive {
            reader: BufReader::new(stream),
            port,
            token: token.to_string(),
            session: None,
        }
    }

    /// Posts `body` and returns the answer's body (an SSE stream or JSON, chunked or not).
    pub fn post(&mut self, body: &str) -> String {
        let session = self
            .session
            .as_ref()
            .map(|s| format!("Mcp-Session-Id: {s}\r\n"))
            .unwrap_or_default();
        // One write, as HTTP clients send a request (write! would send each piece on its own).
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             {session}Content-Length: {}\r\n\r\n{body}",
            self.port,
            self.token,
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let (mut length, mut chunked) = (None, false);
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            let (name, value) = (name.to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "mcp-session-id" => self.session = Some(value.to_string()),
                _ => {}
            }
        }
        let mut answer = Vec::new();
        if chunked {
            loop {
                let size = usize::from_str_radix(self.line().trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                answer.extend_from_slice(&chunk[..size]);
            }
        } else {
            answer.resize(length.unwrap_or(0), 0);
            self.reader.read_exact(&mut answer).unwrap();
        }
        String::from_utf8(answer).unwrap()
    }

    /// Opens the MCP session (`initialize`, then `notifications/initialized`) and returns the
    /// server's answer to `initialize`.
    pub fn initialize(&mut self) -> String {
        let answer = self.post(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"keep-alive","version":"1"}}}"#,
        );
        self.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }

    /// Calls `tool` with `arguments` (a JSON object) as request `id`; returns the answer's body.
    pub fn call(&mut self, id: u64, tool: &str, arguments: &str) -> String {
        self.post(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
        ))
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches(['\r', '\n']).to_string()
    }
}
