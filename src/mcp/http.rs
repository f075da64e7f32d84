//! Streamable HTTP transport on loopback. Three guards stand in front of the tools: the listener
//! binds to a loopback address only; every request must carry the bearer token (401 otherwise);
//! a request from a browser page (an `Origin` header) must come from a loopback origin and name the
//! bound address in `Host` (403 otherwise), so a web page cannot reach the tools by DNS rebinding.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::scope::{ConnHandle, McpScope, OutOfFds, ScopedListener, Scopes};
use super::tools::SessionTools;
pub use crate::secret::random_token;
use crate::secret::{check_token, same};

/// Largest JSON-RPC request accepted (a batch of 100 long tasks fits comfortably).
pub(super) const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// The header that carries the MCP session's id (set on the answer to `initialize`).
const MCP_SESSION_ID: &str = "mcp-session-id";

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Loopback address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Bearer token clients must send; a random one when `None`.
    pub token: Option<String>,
}

impl HttpOptions {
    /// A free port on 127.0.0.1 and a random token: what iteratr serves its own agents on.
    pub fn loopback() -> Self {
        HttpOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
        }
    }
}

/// A running HTTP server. Dropping it does not stop it; call [`HttpServer::shutdown`].
pub struct HttpServer {
    pub addr: SocketAddr,
    pub token: String,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    pub(super) scopes: Arc<Scopes>,
    out_of_fds: Arc<OutOfFds>,
}

impl HttpServer {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stops accepting requests, closes the MCP sessions and waits for the server to end.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }

    /// Waits until the server stops (it only stops when shut down or on an I/O error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task)
            .await
            .context("the MCP HTTP server task failed")?
            .context("the MCP HTTP server failed")
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// A token for one iteration's agent; closing the scope closes what the agent opened with it.
    pub fn open_scope(&self) -> anyhow::Result<McpScope> {
        self.scopes.open()
    }

    /// Whether accepting a connection failed because iteratr ran out of file descriptors.
    pub fn out_of_fds(&self) -> bool {
        self.out_of_fds.happened()
    }
}

struct Guard {
    expected: String,
    scopes: Arc<Scopes>,
}

fn loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        rest.split(':').next().unwrap_or("")
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin.to_str().map(loopback_origin).unwrap_or(false);
        if !ok {
            tracing::warn!(origin = ?origin, "refused an MCP request from a foreign origin");
            return (
                StatusCode::FORBIDDEN,
                "iteratr: requests from web pages other than loopback origins are refused\n",
            )
                .into_response();
        }
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let conn = request
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| &c.0);
    let scope = match presented {
        Some(token) if same(token.as_bytes(), guard.expected.as_bytes()) => Some(None),
        Some(token) if guard.scopes.enter(token, conn) => Some(Some(token.to_string())),
        _ => None,
    };
    match scope {
        Some(scope) => {
            let response = if request.method() == Method::POST {
                match check_json_rpc(request).await {
                    Ok(request) => next.run(request).await,
                    Err(response) => response,
                }
            } else {
                next.run(request).await
            };
            if let Some(token) = scope
                && let Some(id) = response
                    .headers()
                    .get(MCP_SESSION_ID)
                    .and_then(|v| v.to_str().ok())
            {
                guard.scopes.opened(&token, id).await;
            }
            response
        }
        _ => {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "iteratr: send the session's token as `Authorization: Bearer <token>`\n",
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"iteratr\""),
            );
            response
        }
    }
}

fn json_rpc_error(status: StatusCode, code: i64, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Answers a body that is not JSON-RPC with a JSON-RPC error (parse error -32700, invalid request
/// -32600) rather than a bare HTTP error, so every client can tell what was wrong.
async fn check_json_rpc(request: Request) -> Result<Request, Response> {
    let too_large = || {
        json_rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            format!("request body over the limit of {MAX_REQUEST_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| too_large())?;
    if let Err((code, message)) = super::check_message(&bytes) {
        return Err(json_rpc_error(StatusCode::BAD_REQUEST, code, message));
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// What an MCP session of a question that waits needs beyond the wait: to record the answer and
/// send it.
const QUESTION_ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Binds `opts.addr` (loopback only) and serves the session tools at `/mcp`.
pub async fn serve_http(tools: SessionTools, opts: HttpOptions) -> anyhow::Result<HttpServer> {
    if !opts.addr.ip().is_loopback() {
        bail!(
            "the MCP server listens on loopback only, not on {}; use 127.0.0.1:PORT (or [::1]:PORT)",
            opts.addr.ip()
        );
    }
    let token = match opts.token {
        Some(t) => {
            check_token("the MCP token", &t)?;
            t
        }
        None => random_token()?,
    };
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {}", opts.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let port = addr.port();
    let cancel = CancellationToken::new();
    // rmcp ends an MCP session that exchanged nothing for its keep-alive (5 minutes), even while
    // one of its calls runs; the agent's question waits up to `question_wait` for an answer.
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive =
        Some(SessionConfig::DEFAULT_KEEP_ALIVE.max(tools.question_wait + QUESTION_ANSWER_MARGIN));
    let sessions = Arc::new(sessions);
    let scopes = Arc::new(Scopes::new(Arc::clone(&sessions)));
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts([
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ])
        .with_allowed_origins(["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .with_cancellation_token(cancel.child_token());
    let service = StreamableHttpService::new(move || Ok(tools.for_connection()), sessions, config);
    let app =
        axum::Router::new()
            .route_service("/mcp", service)
            .layer(middleware::from_fn_with_state(
                Arc::new(Guard {
                    expected: token.clone(),
                    scopes: Arc::clone(&scopes),
                }),
                guard,
            ));
    let shutdown = cancel.clone();
    let out_of_fds = Arc::new(OutOfFds::default());
    let listener = ScopedListener {
        tcp: listener,
        out_of_fds: Arc::clone(&out_of_fds),
    };
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ConnHandle>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    });
    tracing::info!(%addr, "MCP server listening");
    Ok(HttpServer {
        addr,
        token,
        cancel,
        task,
        scopes,
        out_of_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://localhost",
            "https://localhost:1",
            "http://[::1]:8080",
        ] {
            assert!(loopback_origin(ok), "{ok}");
        }
        for bad in [
            "http://evil.com",
            "http://127.0.0.1.evil.com",
            "null",
            "file://",
            "http://localhost.evil:80",
        ] {
            assert!(!loopback_origin(bad), "{bad}");
        }
    }
}
