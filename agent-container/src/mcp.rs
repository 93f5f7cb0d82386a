//! The bot's remote MCP servers as tools of one run. The dispatcher handed the invocation the
//! servers of this bot only, each with its secret header; a run connects to each, offers the
//! model the tools the profile allows as `mcp__{server}__{tool}`, and closes the sessions when
//! it ends. The secret travels in the header of each request and nowhere else: not in the
//! prompt, a tool result, the workspace or a log line.
//!
//! A call passes the same gate as a built-in tool (the profile, approvals bound to the exact
//! arguments, the run's limits). What a server answers is untrusted: cut to the tools' output
//! limit and delivered in an `mcp_result` block.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clawless_core::domain::extensions::{McpServerGrant, mcp_tool_name};
use clawless_mcp::{Endpoint, McpConnection};
use serde_json::Value;
use tracing::Instrument;

use crate::provider::ToolSpec;
use crate::tools::{Tool, ToolBox, ToolContext, ToolError, truncate_output};
use crate::untrusted::{self, Kind};

/// The open sessions of one run; dropping it (with the run's tool box) ends them.
#[derive(Default)]
pub struct RunServers {
    connections: Vec<Arc<McpConnection>>,
}

impl RunServers {
    /// How many servers this run reached.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }
}

/// One tool of a server, as the model calls it.
struct McpTool {
    spec: ToolSpec,
    server: String,
    remote_name: String,
    connection: Arc<McpConnection>,
}

#[async_trait]
impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError> {
        let span = tracing::info_span!(
            "tool",
            tool = %self.spec.name,
            tenant_id = %ctx.conversation.tenant_id,
            bot_id = %ctx.conversation.bot_id,
        );
        let outcome = self.connection.call(&self.remote_name, input).instrument(span).await.map_err(|e| {
            tracing::warn!(event = "mcp_call_failed", server = %self.server, tool = %self.remote_name, error = %e);
            ToolError::Failed(format!("the MCP server `{}` did not answer: {e}", self.server))
        })?;
        let attributes = [("server", self.server.as_str()), ("tool", self.remote_name.as_str())];
        let text = untrusted::wrap(Kind::McpResult, &attributes, &truncate_output(&outcome.text));
        if outcome.is_error { Err(ToolError::Failed(text)) } else { Ok(text) }
    }
}

/// The HTTP client of every MCP session of this process, built once. It follows no redirect: a
/// redirect would carry the secret header to wherever the server points.
fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

impl RunServers {
    /// Connects to each of `servers` (in parallel, each within its own timeout) and adds their
    /// tools to `tools`. A server that cannot be reached is left out of this run, logged by name.
    /// The sessions end when the returned value is dropped.
    pub async fn connect(servers: &[McpServerGrant], tools: &mut ToolBox) -> Self {
        if servers.is_empty() {
            return Self::default();
        }
        let http = http();
        let attempts = servers.iter().map(|grant| async move {
            let endpoint = Endpoint {
                url: &grant.url,
                header: grant.header.as_ref().map(|h| (h.name.as_str(), &h.value)),
                timeout: Duration::from_secs(u64::from(grant.timeout_s.max(1))),
            };
            let connection = McpConnection::connect(http, &endpoint).await?;
            let listed = connection.tools().await;
            match listed {
                Ok(listed) => Ok((grant, connection, listed)),
                Err(e) => {
                    connection.close().await;
                    Err(e)
                }
            }
        });
        let mut run = Self::default();
        for (grant, result) in servers.iter().zip(futures::future::join_all(attempts).await) {
            match result {
                Ok((grant, connection, listed)) => {
                    let connection = Arc::new(connection);
                    let mut offered = 0usize;
                    for remote in listed {
                        let Some(name) = mcp_tool_name(&grant.name, &remote.name) else {
                            tracing::warn!(event = "mcp_tool_skipped", server = %grant.name, reason = "name does not fit [A-Za-z0-9_]{1,64}");
                            continue;
                        };
                        offered += 1;
                        tools.add(Arc::new(McpTool {
                            spec: ToolSpec {
                                name,
                                description: format!("(from the MCP server `{}`) {}", grant.name, remote.description),
                                input_schema: remote.input_schema,
                            },
                            server: grant.name.to_string(),
                            remote_name: remote.name,
                            connection: Arc::clone(&connection),
                        }));
                    }
                    tracing::info!(event = "mcp_connected", server = %grant.name, tools = offered);
                    run.connections.push(connection);
                }
                Err(e) => {
                    tracing::warn!(event = "mcp_unavailable", server = %grant.name, error = %e, "MCP server left out of this run")
                }
            }
        }
        run
    }
}
