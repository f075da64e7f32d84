//! What the MCP endpoint holds for one iteration, and its end. Each iteration's ACP session gets
//! its own bearer token (a scope); the endpoint remembers the MCP sessions opened with it and the
//! connections that carried it. When the iteration ends, [`McpScope::close`] revokes the token,
//! closes those MCP sessions and those connections: nothing of an iteration outlives it, whether
//! or not the agent's MCP client closes its connection (many keep it open until they exit, and
//! rmcp would keep such a session for 5 minutes, so a fast loop ran out of file descriptors).
//!
//! Connections are accepted here too ([`ScopedListener`]): each one can be closed from outside,
//! one idle for 5 minutes is closed (clients of `iteratr mcp serve --http`, which have no
//! iteration, do not keep sockets forever either), and running out of file descriptors while
//! accepting is reported, not retried in silence.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::secret::{random_token, same};

/// One connection's off switch.
#[derive(Debug, Default)]
pub(super) struct ConnTag {
    close: CancellationToken,
}

/// The connection a request came on (axum's `ConnectInfo`).
#[derive(Debug, Clone)]
pub(super) struct ConnHandle(pub Arc<ConnTag>);

impl Connected<IncomingStream<'_, ScopedListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, ScopedListener>) -> Self {
        ConnHandle(Arc::clone(&stream.io().tag))
    }
}

/// What one scope holds.
struct ScopeState {
    token: String,
    sessions: Vec<Arc<str>>,
    conns: Vec<Weak<ConnTag>>,
}

/// The live scopes of one HTTP server (one per running iteration: a handful at most).
pub(super) struct Scopes {
    live: Mutex<Vec<ScopeState>>,
    sessions: Arc<LocalSessionManager>,
}

impl Scopes {
    pub(super) fn new(sessions: Arc<LocalSessionManager>) -> Self {
        Scopes {
            live: Mutex::new(Vec::new()),
            sessions,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Vec<ScopeState>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `token` is a live scope's; if so, `conn` is remembered as carrying it.
    pub(super) fn enter(&self, token: &str, conn: Option<&ConnHandle>) -> bool {
        let mut live = self.live();
        // Every token is compared, in equal time, so none can be guessed from response times.
        let found = live.iter_mut().fold(None, |found, s| {
            if same(s.token.as_bytes(), token.as_bytes()) {
                Some(s)
            } else {
                found
            }
        });
        let Some(scope) = found else {
            return false;
        };
        if let Some(ConnHandle(tag)) = conn
            && !scope
                .conns
                .iter()
                .any(|c| std::ptr::eq(c.as_ptr(), Arc::as_ptr(tag)))
        {
            // Connections that already closed are forgotten, so this stays short.
            scope.conns.retain(|c| c.strong_count() > 0);
            scope.conns.push(Arc::downgrade(tag));
        }
        true
    }

    /// Remembers that the MCP session `id` was opened with `token`. When that scope was closed
    /// meanwhile (the iteration ended while the session was being initialized), the session is
    /// closed now.
    pub(super) async fn opened(&self, token: &str, id: &str) {
        let kept = {
            let mut live = self.live();
            match live
                .iter_mut()
                .find(|s| same(s.token.as_bytes(), token.as_bytes()))
            {
                Some(scope) => {
                    if !scope.sessions.iter().any(|s| &**s == id) {
                        scope.sessions.push(Arc::from(id));
                    }
                    true
                }
                None => false,
            }
        };
        if !kept {
            self.close_session(Arc::from(id)).await;
        }
    }

    /// MCP sessions alive on this server (all of them, scoped or not).
    #[cfg(test)]
    pub(crate) async fn sessions_alive(&self) -> usize {
        self.sessions.sessions.read().await.len()
    }

    async fn close_session(&self, id: Arc<str>) {
        if let Err(e) = self.sessions.close_session(&id).await {
            tracing::warn!(session = %id, "cannot close an MCP session of a finished iteration: {e}");
        }
    }

    /// Revokes `token` and closes what it opened.
    async fn close(&self, token: &str) {
        let Some(scope) = self.revoke(token) else {
            return;
        };
        for id in scope.sessions {
            self.close_session(id).await;
        }
    }

    /// Removes the scope and closes its connections at once; its MCP sessions are the caller's
    /// to close.
    fn revoke(&self, token: &str) -> Option<ScopeState> {
        let scope = {
            let mut live = self.live();
            let at = live
                .iter()
                .position(|s| same(s.token.as_bytes(), token.as_bytes()))?;
            live.swap_remove(at)
        };
        for conn in scope.conns.iter().filter_map(Weak::upgrade) {
            conn.close.cancel();
        }
        Some(scope)
    }

    /// A new scope with a fresh token.
    pub(super) fn open(self: &Arc<Self>) -> anyhow::Result<McpScope> {
        let token = random_token()?;
        self.live().push(ScopeState {
            token: token.clone(),
            sessions: Vec::new(),
            conns: Vec::new(),
        });
        Ok(McpScope {
            token,
            scopes: Arc::clone(self),
            closed: false,
        })
    }
}

/// One iteration's access to the MCP server. Closing it (or dropping it) ends the MCP sessions and
/// connections opened with its token, and the token stops working.
pub struct McpScope {
    token: String,
    scopes: Arc<Scopes>,
    closed: bool,
}

impl std::fmt::Debug for McpScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("McpScope")
    }
}

impl McpScope {
    /// The bearer token the iteration's agent sends.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub async fn close(mut self) {
        self.closed = true;
        self.scopes.close(&self.token).await;
    }
}

impl Drop for McpScope {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Some(scope) = self.scopes.revoke(&self.token) else {
            return;
        };
        let scopes = Arc::clone(&self.scopes);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for id in scope.sessions {
                    scopes.close_session(id).await;
                }
            });
        }
    }
}

/// Set when accepting a connection failed for want of file descriptors.
#[derive(Debug, Default)]
pub(super) struct OutOfFds(AtomicBool);

impl OutOfFds {
    pub(super) fn happened(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The loopback listener of the MCP server: `TCP_NODELAY` on every connection, each one closable
/// through its [`ConnTag`], and running out of file descriptors reported.
pub(super) struct ScopedListener {
    pub tcp: TcpListener,
    pub out_of_fds: Arc<OutOfFds>,
}

fn is_out_of_fds(e: &io::Error) -> bool {
    // EMFILE (this process's limit), ENFILE (the system's).
    matches!(e.raw_os_error(), Some(24 | 23))
}

impl Listener for ScopedListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            match self.tcp.accept().await {
                Ok((tcp, addr)) => {
                    // Each answer goes out in several small writes; with Nagle's algorithm on, a
                    // keep-alive client (the TypeScript SDK, so opencode) waits for its own delayed
                    // ACK, ~40 ms a call.
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::warn!("cannot set TCP_NODELAY on an MCP connection: {e}");
                    }
                    return (Conn::new(tcp), addr);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) if is_out_of_fds(&e) => {
                    self.out_of_fds.0.store(true, Ordering::Relaxed);
                    tracing::error!(
                        "the MCP server cannot accept a connection ({e}): {}; retrying in 1 s",
                        crate::fd_limit::advice()
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(
                        "the MCP server cannot accept a connection: {e}; retrying in 1 s"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A connection with no byte read or written for this long is closed, whoever holds it: a client
/// that never closes its connections costs a socket for this long at most. A request in progress
/// is never idle that long: its answer is an SSE stream with a keep-alive comment every 15 s.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// An accepted connection. Once its tag is closed, or it was idle for [`IDLE_TIMEOUT`], reads see
/// the end of the stream (so the HTTP server ends the connection) and writes fail.
pub(super) struct Conn {
    tcp: TcpStream,
    tag: Arc<ConnTag>,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Fires at the earliest moment the connection can have been idle for `IDLE_TIMEOUT`; moved
    /// on lazily from `active` when it fires.
    idle: Pin<Box<tokio::time::Sleep>>,
    active: tokio::time::Instant,
}

impl Conn {
    fn new(tcp: TcpStream) -> Self {
        let tag = Arc::new(ConnTag::default());
        let closed = Box::pin(tag.close.clone().cancelled_owned());
        let now = tokio::time::Instant::now();
        Conn {
            tcp,
            tag,
            closed,
            idle: Box::pin(tokio::time::sleep_until(now + IDLE_TIMEOUT)),
            active: now,
        }
    }

    fn closing(&mut self, cx: &mut Context<'_>) -> bool {
        self.tag.close.is_cancelled() || self.closed.as_mut().poll(cx).is_ready()
    }

    /// Whether the connection has been idle too long (and if so, closes it).
    fn idle_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        while self.idle.as_mut().poll(cx).is_ready() {
            let deadline = self.active + IDLE_TIMEOUT;
            if deadline <= tokio::time::Instant::now() {
                tracing::debug!("closing an MCP connection idle for {IDLE_TIMEOUT:?}");
                self.tag.close.cancel();
                return true;
            }
            self.idle.as_mut().reset(deadline);
        }
        false
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the iteration this MCP connection belonged to has ended",
    )
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closing(cx) {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.tcp).poll_read(cx, buf) {
            Poll::Pending if self.idle_too_long(cx) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
            ready => {
                self.active = tokio::time::Instant::now();
                ready
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.tag.close.is_cancelled() {
            return Poll::Ready(Err(closed_error()));
        }
        let written = Pin::new(&mut self.tcp).poll_write(cx, buf);
        if written.is_ready() {
            self.active = tokio::time::Instant::now();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.tag.close.is_cancelled() {
            return Poll::Ready(Err(closed_error()));
        }
        let written = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        if written.is_ready() {
            self.active = tokio::time::Instant::now();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
