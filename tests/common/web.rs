//! Talking to the web dashboard as a browser or a script would, over plain HTTP/1.1 on loopback:
//! requests with any headers (tokens, cookies, a foreign `Origin`), and Server-Sent Events read
//! off the wire, so the tests see exactly what a browser gets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A fixed control token for tests that restart the server (`ITERATR_WEB_TOKEN`).
pub const TOKEN: &str = "test-token-0123456789abcdef0123456789";

/// Where a started dashboard listens and the address it printed.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub port: u16,
    /// The printed address with the control token.
    pub url: String,
    /// The view-only one, when asked for.
    pub view_url: Option<String>,
}

impl Dashboard {
    pub fn token(&self) -> &str {
        token_of(&self.url)
    }

    pub fn view_token(&self) -> Option<&str> {
        self.view_url.as_deref().map(token_of)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "GET", path, headers, None)
    }

    /// A GET with the control token as a bearer token.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let bearer = format!("Bearer {}", self.token());
        let r = self.get(path, &[("Authorization", &bearer)]);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// An op POSTed as the page sends it: the cookie of `token` and the dashboard's own origin.
    pub fn op(&self, session: &str, token: &str, op: &serde_json::Value) -> Response {
        let cookie = format!("iteratr_{}={token}", self.port);
        let origin = self.base();
        request(
            self.port,
            "POST",
            &format!("/api/sessions/{session}/ops"),
            &[
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", "application/json"),
            ],
            Some(&op.to_string()),
        )
    }
}

fn token_of(url: &str) -> &str {
    url.split("token=").nth(1).unwrap_or("")
}

/// Reads the lines a dashboard prints at start (`dashboard: URL`, then with `view` also
/// `dashboard, view only: URL`) from the child's stdout, and hands the rest of its output to a
/// thread that keeps it (so the child never blocks on a full pipe); those lines come back
/// through the receiver.
pub fn read_banner(
    child: &mut Child,
    view: bool,
    limit: Duration,
) -> (Dashboard, mpsc::Receiver<String>) {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + limit;
    let (mut url, mut view_url, mut seen) = (None, None, Vec::<String>::new());
    while url.is_none() || (view && view_url.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            panic!("no dashboard address printed; saw:\n{}", seen.join("\n"))
        };
        let address = line
            .find("http://")
            .map(|at| line[at..].split_whitespace().next().unwrap().to_string());
        if line.contains("dashboard:") {
            url = address;
        } else if line.contains("dashboard, view only:") {
            view_url = address;
        }
        seen.push(line);
    }
    let url = url.unwrap();
    let port = url
        .trim_start_matches("http://")
        .split(['/', '?'])
        .next()
        .and_then(|host| host.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"));
    (
        Dashboard {
            port,
            url,
            view_url,
        },
        rx,
    )
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

fn send_request(
    stream: &mut TcpStream,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).unwrap();
    }
}

fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            return (status, headers);
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

/// One request on a fresh connection; the whole answer.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut stream = connect(port);
    send_request(&mut stream, port, method, path, headers, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        while let Some(chunk) = read_chunk(&mut reader) {
            body.extend(chunk);
        }
        body
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).unwrap();
        body
    };
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut size = String::new();
    if reader.read_line(&mut size).ok()? == 0 {
        return None;
    }
    let n = usize::from_str_radix(size.trim(), 16).ok()?;
    if n == 0 {
        return None;
    }
    let mut chunk = vec![0; n + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(n);
    Some(chunk)
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A live stream of events, as `EventSource` reads it.
pub struct Sse {
    reader: BufReader<TcpStream>,
    buffer: String,
    pub status: u16,
}

impl Sse {
    /// GET `path` with the control token, and `Last-Event-ID` when resuming.
    pub fn open(d: &Dashboard, path: &str, last_event_id: Option<&str>) -> Sse {
        let bearer = format!("Bearer {}", d.token());
        let mut headers = vec![
            ("Authorization", bearer.as_str()),
            ("Accept", "text/event-stream"),
        ];
        if let Some(id) = last_event_id {
            headers.push(("Last-Event-ID", id));
        }
        let mut stream = connect(d.port);
        send_request(&mut stream, d.port, "GET", path, &headers, None);
        let mut reader = BufReader::new(stream);
        let (status, _) = read_head(&mut reader);
        Sse {
            reader,
            buffer: String::new(),
            status,
        }
    }

    /// The next event (comments and keep-alives skipped), or None when the stream ends or
    /// nothing comes within `limit`.
    pub fn next(&mut self, limit: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match field {
                            "event" => event.event = value.into(),
                            "id" => event.id = Some(value.into()),
                            "data" => {
                                if any {
                                    event.data.push('\n');
                                }
                                event.data.push_str(value);
                                any = true;
                            }
                            _ => {}
                        }
                    }
                }
                if any {
                    return Some(event);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let stream = self.reader.get_ref();
            stream.set_read_timeout(Some(left)).unwrap();
            let chunk = read_chunk(&mut self.reader)?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// Events until `done` says enough (it sees each one), failing after `limit`.
    pub fn until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.next(left) else {
                panic!(
                    "the stream ended or went quiet for {limit:?}; saw {} events: {:?}",
                    seen.len(),
                    seen.iter().rev().take(5).collect::<Vec<_>>()
                );
            };
            let stop = done(&event);
            seen.push(event);
            if stop {
                return seen;
            }
        }
    }
}
