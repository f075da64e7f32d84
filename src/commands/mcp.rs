//! `iteratr mcp serve` and `iteratr mcp tools`: the session tools for any MCP client.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use super::{
    Picked, open_for_writing, pick_session, session_for_this_directory, several, shutdown_signal,
};
use crate::cli::StoreConfig;
use crate::mcp::{HttpOptions, SessionTools, serve_http, serve_stdio};
use crate::service::SessionHandle;

/// The tools as `tools/list` shows them, pretty-printed (also the content of `mcp/tools.json`).
pub fn tools_json() -> anyhow::Result<String> {
    let tools = SessionTools::tool_definitions();
    Ok(serde_json::to_string_pretty(
        &serde_json::json!({ "tools": tools }),
    )?)
}

pub async fn serve(
    store: &StoreConfig,
    session: Option<&str>,
    http: Option<SocketAddr>,
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    if http.is_none() && token.is_some() && std::env::var_os("ITERATR_MCP_TOKEN").is_none() {
        bail!("--token only applies to the HTTP transport; add --http 127.0.0.1:0 or drop --token");
    }
    let data_dir = &store.data_dir;
    let log = open_for_writing(store).await?;
    let name = match pick_session(log.as_ref(), session, store, false).await? {
        Picked::One(name) => name,
        Picked::None => session_for_this_directory()?,
        Picked::Several(many) => return Err(several(store, &many)),
    };
    let handle = Arc::new(
        SessionHandle::open(log, &name)
            .await
            .with_context(|| format!("cannot open session '{name}'"))?,
    );
    tracing::info!(session = %name, data_dir = %data_dir.display(), http = ?http, "mcp serve");
    match http {
        None => {
            tokio::select! {
                result = serve_stdio(handle) => result?,
                _ = shutdown_signal() => {}
            }
        }
        Some(addr) => {
            let generated = token.is_none();
            let mut server = serve_http(handle, HttpOptions { addr, token }).await?;
            println!("iteratr mcp: session '{name}' at {}", server.url());
            if generated {
                println!(
                    "token: {} (send it as `Authorization: Bearer <token>`; set --token or ITERATR_MCP_TOKEN to choose it)",
                    server.token
                );
            }
            tokio::select! {
                result = server.wait() => result?,
                _ = shutdown_signal() => server.shutdown().await,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
