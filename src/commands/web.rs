//! `iteratr web`: the dashboard of every session in the store (this data dir, or the JetStream),
//! until Ctrl+C.

use std::process::ExitCode;

use anyhow::bail;

use super::open_for_reading;
use crate::cli::WebAccess;
use crate::store::StoreConfig;
use crate::web::{TOKEN_ENV, WebOptions, WebServer};

/// The dashboard's options from the flags, the token from the environment (never a flag: it
/// would show in the process list), and the repository the server runs in, for commits.
pub(crate) async fn options(
    addr: std::net::SocketAddr,
    access: &WebAccess,
) -> anyhow::Result<WebOptions> {
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let here = std::env::current_dir()?;
    let repo = crate::git::Repo::discover(&here, &[]).await.map(|r| r.top);
    Ok(WebOptions {
        addr,
        listen: access.listen,
        token,
        view_token: access.view_token,
        repo,
    })
}

/// Prints where the dashboard is, where people (and tests) read it: one line per address.
pub(crate) fn announce(server: &WebServer) {
    println!("{}", server.banner());
}

pub async fn run(
    store: &StoreConfig,
    addr: std::net::SocketAddr,
    access: &WebAccess,
) -> anyhow::Result<ExitCode> {
    let Some(log) = open_for_reading(store).await? else {
        bail!(
            "{} holds no iteratr data yet; start a build first (`iteratr build`)",
            store.describe()
        );
    };
    let mut server = crate::web::serve(log, options(addr, access).await?).await?;
    announce(&server);
    let failed = tokio::select! {
        _ = super::shutdown_signal() => None,
        r = server.wait() => Some(r),
    };
    if let Some(result) = failed {
        result?;
    }
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
