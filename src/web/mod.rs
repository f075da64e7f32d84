//! The web dashboard (`iteratr web`, `build --web`): one more front end of the same core. It
//! reads the sessions and the agent's output from the store, follows them live over Server-Sent
//! Events, and sends what a person asks as the core's ops, recorded with who asked. It serves on
//! loopback with an access token by default; the page and its assets are in the binary.

mod api;
mod auth;
mod hub;
mod live;
mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::EventLog;
use auth::{Access, Role};
use hub::Hub;

/// The environment variable that fixes the control token (a fresh one at every start otherwise).
pub const TOKEN_ENV: &str = "ITERATR_WEB_TOKEN";

#[derive(Debug, Clone)]
pub struct WebOptions {
    pub addr: SocketAddr,
    /// Allow an address that is not loopback (`--listen`).
    pub listen: bool,
    /// The control token; a fresh random one when none.
    pub token: Option<String>,
    /// Make a second, view-only token too.
    pub view_token: bool,
    /// The repository whose commits the dashboard shows (none: their hashes only).
    pub repo: Option<PathBuf>,
}

/// What the handlers share.
pub(crate) struct Web {
    hub: Hub,
    access: Arc<Access>,
    repo: Option<PathBuf>,
    describe: String,
}

/// A running dashboard. Dropping it does not stop it; call [`WebServer::shutdown`].
pub struct WebServer {
    pub addr: SocketAddr,
    token: String,
    view_token: Option<String>,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl WebServer {
    fn address(&self) -> String {
        if self.addr.ip().is_unspecified() {
            format!("{}:{}", crate::process::host_name(), self.addr.port())
        } else {
            self.addr.to_string()
        }
    }

    /// The address to open, with the control token (exchanged for a cookie on the first visit).
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.address(), self.token)
    }

    /// A session's page, without a token (for notifications, which may travel anywhere: a
    /// browser that visited the dashboard keeps its cookie).
    pub fn session_page(&self, session: &str) -> String {
        format!("http://{}/#s/{session}", self.address())
    }

    /// The same with the view-only token, when there is one.
    pub fn view_url(&self) -> Option<String> {
        let view = self.view_token.as_ref()?;
        Some(format!("http://{}/?token={view}", self.address()))
    }

    /// The lines to print at start: the addresses, and for a non-loopback one, the warning.
    pub fn banner(&self) -> String {
        let mut text = format!("dashboard: {}", self.url());
        if let Some(view) = self.view_url() {
            text.push_str(&format!("\ndashboard, view only: {view}"));
        }
        if !self.addr.ip().is_loopback() {
            text.push_str(&format!(
                "\nwarning: the dashboard listens on {}, in plain HTTP: anyone on the way can read the token and the traffic; prefer loopback and an SSH tunnel (ssh -L {port}:127.0.0.1:{port} this-host)",
                self.addr,
                port = self.addr.port()
            ));
        }
        text
    }

    /// Stops serving (open live streams are cut) and waits for the server to end.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }

    /// Waits until the server stops (only on an I/O error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task)
            .await
            .context("the dashboard's server task failed")?
            .context("the dashboard's server failed")
    }
}

/// Binds `opts.addr` and serves the dashboard of every session in `log`.
pub async fn serve(log: Arc<dyn EventLog>, opts: WebOptions) -> anyhow::Result<WebServer> {
    if !opts.addr.ip().is_loopback() && !opts.listen {
        bail!(
            "the dashboard listens on loopback only; to listen on {} add --listen (plain HTTP: prefer 127.0.0.1 and an SSH tunnel)",
            opts.addr
        );
    }
    let token = match opts.token {
        Some(t) => {
            crate::secret::check_token(&format!("the web token ({TOKEN_ENV})"), &t)?;
            t
        }
        None => crate::secret::random_token()?,
    };
    let view_token = match opts.view_token {
        true => Some(crate::secret::random_token()?),
        false => None,
    };
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {} for the dashboard", opts.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the dashboard's address")?;
    let port = addr.port();
    let hosts = addr.ip().is_loopback().then(|| {
        vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
    });
    let access = Arc::new(Access {
        token: token.clone(),
        view_token: view_token.clone(),
        cookie: format!("iteratr_{port}"),
        hosts,
    });
    let web = Arc::new(Web {
        describe: log.describe(),
        hub: Hub::new(log),
        access: Arc::clone(&access),
        repo: opts.repo,
    });
    let api = Router::new()
        .route("/api/sessions", get(api::sessions))
        .route("/api/sessions/{name}", get(api::session))
        .route("/api/sessions/{name}/live", get(live::session))
        .route("/api/sessions/{name}/ops", post(api::op))
        .route("/api/sessions/{name}/commits/{hash}", get(api::commit))
        .route("/api/live", get(live::sessions))
        .route_layer(middleware::from_fn_with_state(access, auth::guard));
    let app = Router::new()
        .route("/", get(page))
        .route("/assets/{file}", get(asset))
        .merge(api)
        .fallback(|| async { auth::refuse(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn(auth::harden))
        .with_state(web);
    let cancel = CancellationToken::new();
    let shutdown = cancel.clone();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    });
    tracing::info!(%addr, "dashboard listening");
    Ok(WebServer {
        addr,
        token,
        view_token,
        cancel,
        task,
    })
}

const INDEX: &str = include_str!("assets/index.html");
const DENIED: &str = include_str!("assets/denied.html");

fn html(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `/`: the page for a known token (from the cookie); `/?token=T` trades a token for the cookie
/// and drops it from the address bar.
async fn page(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response {
    let access = &web.access;
    if !access.host_allowed(&headers) {
        return auth::refuse(
            StatusCode::FORBIDDEN,
            "this server answers only to the address it printed",
        );
    }
    let offered = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("token="));
    if let Some(token) = offered {
        return match access.role_of(token) {
            Some(_) => (
                [(header::SET_COOKIE, access.set_cookie(token))],
                Redirect::to("/"),
            )
                .into_response(),
            None => html(StatusCode::UNAUTHORIZED, DENIED),
        };
    }
    match access.identify(&headers) {
        Some((Role::Control | Role::View, _)) => html(StatusCode::OK, INDEX),
        None => html(StatusCode::UNAUTHORIZED, DENIED),
    }
}

/// The page's script, styles and icon (no data in them: served to anyone).
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match file.as_str() {
        "app.js" => (include_str!("assets/app.js"), "text/javascript"),
        "render.js" => (include_str!("assets/render.js"), "text/javascript"),
        "app.css" => (include_str!("assets/app.css"), "text/css"),
        "icon.svg" => (include_str!("assets/icon.svg"), "image/svg+xml"),
        _ => return auth::refuse(StatusCode::NOT_FOUND, "no such file"),
    };
    (
        [
            (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        body,
    )
        .into_response()
}
