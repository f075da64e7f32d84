//! A session of the agent: its directory, model, running prompt, and the MCP clients it
//! connects to the servers `session/new` gave (lazily, reused).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    McpServer, SessionConfigOption, SessionConfigOptionCategory, SessionConfigSelectOption,
    SessionId,
};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

type McpClient = RunningService<RoleClient, ()>;

const MCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Session {
    pub id: SessionId,
    pub cwd: PathBuf,
    pub mcp_servers: Vec<McpServer>,
    pub models: Vec<String>,
    pub model: Mutex<String>,
    /// The running prompt's cancellation token.
    pub running: Mutex<Option<CancellationToken>>,
    /// MCP clients by index into `mcp_servers`, connected lazily and reused.
    pub mcp: tokio::sync::Mutex<HashMap<usize, Arc<McpClient>>>,
}

impl Session {
    pub fn config_options(&self) -> Vec<SessionConfigOption> {
        let current = self.model.lock().unwrap().clone();
        let options: Vec<SessionConfigSelectOption> = self
            .models
            .iter()
            .map(|m| SessionConfigSelectOption::new(m.clone(), m.clone()))
            .collect();
        vec![
            SessionConfigOption::select("model", "Model", current, options)
                .category(SessionConfigOptionCategory::Model),
        ]
    }

    /// Closes and forgets the MCP clients (a later call connects again).
    pub async fn close_mcp(&self) {
        let clients: Vec<Arc<McpClient>> = self.mcp.lock().await.drain().map(|(_, c)| c).collect();
        for client in clients {
            if let Ok(client) = Arc::try_unwrap(client) {
                let _ = client.cancel().await;
            }
        }
    }

    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    /// Calls an MCP tool: Ok((is_error, text, raw result)) from the server, or Err(text) when
    /// the call could not be made at all.
    pub async fn call_mcp(
        &self,
        server: Option<&str>,
        name: &str,
        args: &Value,
    ) -> Result<(bool, String, Value), String> {
        let client = self.mcp_client(server).await?;
        let Value::Object(map) = args.clone() else {
            return Err("tool arguments must be an object".into());
        };
        let result = client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(map))
            .await
            .map_err(|e| format!("MCP call {name} failed: {e}"))?;
        let mut text = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty()
            && let Some(s) = &result.structured_content
        {
            text = s.to_string();
        }
        let raw = serde_json::to_value(&result).unwrap_or(Value::Null);
        Ok((result.is_error.unwrap_or(false), text, raw))
    }

    async fn mcp_client(&self, server: Option<&str>) -> Result<Arc<McpClient>, String> {
        let index = match server {
            None if self.mcp_servers.is_empty() => {
                return Err("no MCP server was given for this session".into());
            }
            None => 0,
            Some(wanted) => self
                .mcp_servers
                .iter()
                .position(|s| match s {
                    McpServer::Http(h) => h.name == wanted,
                    McpServer::Stdio(s) => s.name == wanted,
                    McpServer::Sse(s) => s.name == wanted,
                    _ => false,
                })
                .ok_or_else(|| format!("no MCP server named {wanted:?}"))?,
        };
        let mut clients = self.mcp.lock().await;
        if let Some(c) = clients.get(&index) {
            return Ok(c.clone());
        }
        let connect = async {
            match &self.mcp_servers[index] {
                McpServer::Http(h) => {
                    let mut headers = HashMap::new();
                    for header in &h.headers {
                        let name = reqwest::header::HeaderName::from_bytes(header.name.as_bytes())
                            .map_err(|e| format!("bad header name {:?}: {e}", header.name))?;
                        let value = reqwest::header::HeaderValue::from_str(&header.value)
                            .map_err(|e| format!("bad value for header {:?}: {e}", header.name))?;
                        headers.insert(name, value);
                    }
                    let transport = StreamableHttpClientTransport::from_config(
                        StreamableHttpClientTransportConfig::with_uri(h.url.clone())
                            .custom_headers(headers),
                    );
                    ().serve(transport)
                        .await
                        .map_err(|e| format!("cannot connect to MCP server {}: {e}", h.url))
                }
                McpServer::Stdio(s) => {
                    let mut cmd = tokio::process::Command::new(&s.command);
                    cmd.args(&s.args)
                        .envs(s.env.iter().map(|e| (e.name.clone(), e.value.clone())))
                        .current_dir(&self.cwd);
                    let transport = TokioChildProcess::new(cmd).map_err(|e| {
                        format!("cannot start MCP server {}: {e}", s.command.display())
                    })?;
                    ().serve(transport).await.map_err(|e| {
                        format!("cannot connect to MCP server {}: {e}", s.command.display())
                    })
                }
                _ => Err("unsupported MCP server transport".to_string()),
            }
        };
        let client = tokio::time::timeout(MCP_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| "timed out connecting to the MCP server".to_string())??;
        let client = Arc::new(client);
        clients.insert(index, client.clone());
        Ok(client)
    }
}
