//! The session tools served over MCP: over stdio for clients that launch their servers, and over
//! streamable HTTP on loopback (bearer token, Origin and Host checks) for `iteratr build`.

mod http;
mod tools;

pub use http::{HttpOptions, HttpServer, serve_http};
pub use tools::{SessionTools, task_json, task_line};

use std::sync::Arc;

use rmcp::ServiceExt;

use crate::service::SessionHandle;

/// Serves the tools on stdin/stdout until the client closes the connection.
pub async fn serve_stdio(session: Arc<SessionHandle>) -> anyhow::Result<()> {
    let server = SessionTools::new(session)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("the MCP client did not complete the handshake: {e}"))?;
    server
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP connection failed: {e}"))?;
    Ok(())
}
