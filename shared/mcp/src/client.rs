//! One connection to a remote MCP server over streamable HTTP (the `rmcp` SDK speaks the
//! protocol; responses streamed as server-sent events are read by the same transport). The
//! secret header goes on every request and nowhere else: errors name the server's URL and what
//! failed, never a header or a response body.

use std::collections::HashMap;
use std::time::Duration;

use clawless_core::domain::secrets::Secret;
use http::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

/// Largest JSON answer read from a server (a tool list or one result): a hostile or broken
/// server cannot make the agent hold more.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Most tools taken from one server.
pub const MAX_TOOLS_PER_SERVER: usize = 64;
/// Longest tool description passed on, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
/// Largest input schema passed on (serialized), in bytes.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("MCP server {url}: the secret header cannot be sent ({reason})")]
    Header { url: String, reason: &'static str },
    #[error("MCP server {url}: no answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("MCP server {url}: connecting failed: {detail}")]
    Connect { url: String, detail: String },
    #[error("MCP server {url}: {what} failed: {detail}")]
    Call { url: String, what: &'static str, detail: String },
}

/// A tool as a server lists it, kept to what is passed on to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTool {
    pub name: String,
    pub description: String,
    /// A JSON Schema object.
    pub input_schema: Value,
}

/// What a tool call gave: its text (non-text content is named, not passed on) and whether the
/// server marked it an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    pub text: String,
    pub is_error: bool,
}

/// Where and how to reach one server.
#[derive(Clone)]
pub struct Endpoint<'a> {
    pub url: &'a str,
    /// The header name and its secret value, if the server wants one.
    pub header: Option<(&'a str, &'a Secret)>,
    pub timeout: Duration,
}

/// An open session with one server.
pub struct McpConnection {
    url: String,
    timeout: Duration,
    service: RunningService<RoleClient, ()>,
}

/// An error's text cut to one bounded line: SDK errors may quote what a server sent.
fn detail(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string().replace(['\n', '\r'], " ");
    text.chars().take(200).collect()
}

impl McpConnection {
    /// Connects and initializes the session within the endpoint's timeout.
    pub async fn connect(http: &reqwest::Client, endpoint: &Endpoint<'_>) -> Result<Self, McpError> {
        let url = endpoint.url.to_owned();
        let mut headers = HashMap::new();
        if let Some((name, value)) = endpoint.header {
            let name = HeaderName::try_from(name).map_err(|_| McpError::Header { url: url.clone(), reason: "name" })?;
            let mut value = HeaderValue::try_from(value.expose())
                .map_err(|_| McpError::Header { url: url.clone(), reason: "value" })?;
            // Kept out of any debug output of the HTTP stack.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
            .custom_headers(headers)
            .max_json_response_size(MAX_RESPONSE_BYTES);
        let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
        let service = tokio::time::timeout(endpoint.timeout, ().serve(transport))
            .await
            .map_err(|_| McpError::Timeout { url: url.clone(), seconds: endpoint.timeout.as_secs() })?
            .map_err(|e| McpError::Connect { url: url.clone(), detail: detail(&e) })?;
        Ok(Self { url, timeout: endpoint.timeout, service })
    }

    /// The server's tools, at most [`MAX_TOOLS_PER_SERVER`]; a tool whose schema is not an
    /// object or is too large is left out.
    pub async fn tools(&self) -> Result<Vec<RemoteTool>, McpError> {
        let listed = tokio::time::timeout(self.timeout, self.service.list_all_tools())
            .await
            .map_err(|_| McpError::Timeout { url: self.url.clone(), seconds: self.timeout.as_secs() })?
            .map_err(|e| McpError::Call { url: self.url.clone(), what: "tools/list", detail: detail(&e) })?;
        let mut tools = Vec::new();
        for tool in listed.into_iter().take(MAX_TOOLS_PER_SERVER) {
            let schema = Value::Object((*tool.input_schema).clone());
            if serde_json::to_vec(&schema).map_or(usize::MAX, |v| v.len()) > MAX_SCHEMA_BYTES {
                tracing::warn!(event = "mcp_tool_skipped", tool = %tool.name, reason = "schema too large");
                continue;
            }
            let description: String =
                tool.description.as_deref().unwrap_or_default().chars().take(MAX_DESCRIPTION_CHARS).collect();
            tools.push(RemoteTool { name: tool.name.to_string(), description, input_schema: schema });
        }
        Ok(tools)
    }

    /// Calls `tool` with `arguments` (a JSON object) within the endpoint's timeout.
    pub async fn call(&self, tool: &str, arguments: &Value) -> Result<CallOutcome, McpError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = match arguments {
            Value::Object(map) => Some(map.clone()),
            Value::Null => None,
            _ => {
                return Err(McpError::Call {
                    url: self.url.clone(),
                    what: "tools/call",
                    detail: "arguments must be a JSON object".into(),
                });
            }
        };
        let result = tokio::time::timeout(self.timeout, self.service.call_tool(params))
            .await
            .map_err(|_| McpError::Timeout { url: self.url.clone(), seconds: self.timeout.as_secs() })?
            .map_err(|e| McpError::Call { url: self.url.clone(), what: "tools/call", detail: detail(&e) })?;
        let mut parts = Vec::new();
        for block in &result.content {
            match block {
                ContentBlock::Text(t) => parts.push(t.text.clone()),
                ContentBlock::Image(_) => parts.push("[an image, not shown]".to_owned()),
                ContentBlock::Audio(_) => parts.push("[audio, not shown]".to_owned()),
                _ => parts.push("[a resource, not shown]".to_owned()),
            }
        }
        if parts.is_empty()
            && let Some(structured) = &result.structured_content
        {
            parts.push(structured.to_string());
        }
        Ok(CallOutcome { text: parts.join("\n"), is_error: result.is_error.unwrap_or(false) })
    }

    /// Ends the session (best effort, bounded).
    pub async fn close(mut self) {
        let _ = self.service.close_with_timeout(Duration::from_secs(2)).await;
    }
}
