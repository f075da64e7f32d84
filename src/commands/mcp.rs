//! `iteratr mcp serve` and `iteratr mcp tools`: the session tools for any MCP client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use super::build::{find_spec, load_template};
use super::{
    Picked, open_for_writing, pick_session, session_for_this_directory, several, shutdown_signal,
};
use crate::mcp::{HttpOptions, PromptSource, SessionTools, serve_http, serve_stdio};
use crate::session_handle::SessionHandle;
use crate::store::StoreConfig;

/// The tools as `tools/list` shows them, pretty-printed (also the content of `mcp/tools.json`).
pub fn tools_json() -> anyhow::Result<String> {
    let tools = SessionTools::tool_definitions();
    Ok(serde_json::to_string_pretty(
        &serde_json::json!({ "tools": tools }),
    )?)
}

/// Where the `iteration` prompt and the `spec` resource find what `build` would use.
pub struct PromptArgs {
    pub spec: Option<PathBuf>,
    pub template: Option<PathBuf>,
    pub extra: Option<String>,
}

impl PromptArgs {
    fn source(self) -> anyhow::Result<PromptSource> {
        // A spec named must exist; without one, the only specs/*.md (none is fine: the spec
        // resource then says how to give one).
        let spec = match self.spec {
            Some(given) => Some(find_spec(Some(given))?),
            None => find_spec(None).ok(),
        };
        let template = load_template(self.template.as_deref())?;
        Ok(PromptSource {
            spec,
            template: Arc::new(template),
            extra: self.extra,
        })
    }
}

pub async fn serve(
    store: &StoreConfig,
    session: Option<&str>,
    http: Option<SocketAddr>,
    token: Option<String>,
    prompt: PromptArgs,
    worker: Option<(String, std::time::Duration)>,
    question_wait: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    if let Some((name, _)) = &worker {
        crate::session::validate_worker_name(name).context("--worker")?;
    }
    if http.is_none() && token.is_some() && std::env::var_os("ITERATR_MCP_TOKEN").is_none() {
        bail!("--token only applies to the HTTP transport; add --http 127.0.0.1:0 or drop --token");
    }
    let source = prompt.source()?;
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
    let mut tools = SessionTools::new(handle)
        .with_prompt_source(source)
        .with_question_wait(question_wait);
    if let Some((name, ttl)) = &worker {
        tools = tools.for_worker(name, u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
    }
    match http {
        None => {
            tokio::select! {
                result = serve_stdio(tools) => result?,
                _ = shutdown_signal() => {}
            }
        }
        Some(addr) => {
            let generated = token.is_none();
            let mut server = serve_http(tools, HttpOptions { addr, token }).await?;
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
