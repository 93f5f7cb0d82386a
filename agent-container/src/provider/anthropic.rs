//! The Anthropic Messages API (`POST {base}/v1/messages`) with tool use: a tenant's own
//! provider, built per [`clawless_core::domain::extensions::ProviderGrant`] with the tenant's key
//! (see [`super::Providers::for_grant`]).
//!
//! Errors carry the HTTP status and Anthropic's error type, never the key, the answer's message
//! text or anything of the conversation.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use clawless_core::domain::secrets::Secret;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::openai::{describe_http_error, truncate};
use super::{
    Block, ChatMessage, ChatRole, ModelError, ModelProvider, ModelRequest, ModelResponse, ProviderBuildError,
    StopReason, TokenUsage,
};

const PROVIDER: &str = "anthropic";
/// The API version this mapping speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_DETAIL: usize = 200;

pub struct AnthropicProvider {
    http: reqwest::Client,
    /// `{base}/v1/messages`.
    endpoint: String,
    api_key: Secret,
    default_model: Option<String>,
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("endpoint", &self.endpoint)
            .field("default_model", &self.default_model)
            .field("api_key", &"***")
            .finish()
    }
}

impl AnthropicProvider {
    /// `base_url`: the API's root, without `/v1` (`https://api.anthropic.com`).
    pub fn new(base_url: &str, api_key: Secret, default_model: Option<String>) -> Result<Self, ProviderBuildError> {
        let invalid = |reason: String| ProviderBuildError::Invalid { name: "anthropic base URL", reason };
        let endpoint = format!("{}/v1/messages", base_url.trim().trim_end_matches('/'));
        let url = reqwest::Url::parse(&endpoint).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("expected an http(s) URL".into()));
        }
        if api_key.expose().trim().is_empty() {
            return Err(ProviderBuildError::Invalid { name: "anthropic API key", reason: "empty".into() });
        }
        let http = clawless_aws::tls::reqwest_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ProviderBuildError::Invalid { name: "anthropic HTTP client", reason: e.to_string() })?;
        Ok(Self {
            http,
            endpoint,
            api_key,
            default_model: default_model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
        })
    }

    /// One line, without the key (a server may echo it), shortened.
    fn provider_error(&self, detail: &str) -> ModelError {
        let line = detail.split_whitespace().collect::<Vec<_>>().join(" ");
        let line = line.replace(self.api_key.expose().trim(), "***");
        ModelError::Provider { provider: PROVIDER, detail: truncate(&line, 2 * MAX_DETAIL) }
    }
}

#[async_trait]
impl ModelProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        match request.messages.last() {
            Some(m) if m.role == ChatRole::User => {}
            _ => return Err(ModelError::NoUserMessage),
        }
        let model = request
            .model_id
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .or(self.default_model.as_deref())
            .ok_or_else(|| ModelError::Provider { provider: PROVIDER, detail: "no model named".into() })?;
        let body = request_body(model, request);
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-api-key", self.api_key.expose().trim())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.provider_error(&describe_http_error(&e)))?;
        let status = response.status();
        let request_id = response.headers().get("request-id").and_then(|v| v.to_str().ok()).map(|v| truncate(v, 64));
        let bytes = response.bytes().await.map_err(|e| self.provider_error(&describe_http_error(&e)))?;
        if !status.is_success() {
            // Only the error's type: its message may quote the request.
            let kind = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"]["type"].as_str().map(|t| truncate(t, 64)))
                .unwrap_or_else(|| "unknown".into());
            let id = request_id.map(|id| format!(", request-id {id}")).unwrap_or_default();
            return Err(self.provider_error(&format!("HTTP {}: {kind}{id}", status.as_u16())));
        }
        let message: WireResponse = serde_json::from_slice(&bytes).map_err(|e| ModelError::BadResponse {
            provider: PROVIDER,
            // serde's message names the field and position, not the values.
            detail: truncate(&e.to_string(), MAX_DETAIL),
        })?;
        Ok(parse_response(message))
    }
}

/// The Messages request: `system` apart, tools as `{name, description, input_schema}`.
pub(crate) fn request_body(model: &str, request: &ModelRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), Value::from(model));
    body.insert("max_tokens".into(), Value::from(request.max_output_tokens));
    if !request.system.trim().is_empty() {
        body.insert("system".into(), Value::from(request.system.clone()));
    }
    let messages: Vec<Value> = request.messages.iter().filter_map(wire_message).collect();
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.input_schema }))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    Value::Object(body)
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One message; tool results first in a user message (the API requires them before any other
/// block), empty text left out (the API refuses it). `None` when nothing is left.
fn wire_message(message: &ChatMessage) -> Option<Value> {
    let mut results = Vec::new();
    let mut rest = Vec::new();
    for block in &message.content {
        match block {
            Block::Text(t) if t.trim().is_empty() => {}
            Block::Text(t) => rest.push(json!({ "type": "text", "text": t })),
            Block::ToolUse { id, name, input } => {
                // The API wants an object; the loop's inputs are, but a lenient parse may not be.
                let input = if input.is_object() { input.clone() } else { json!({ "_raw": input }) };
                rest.push(json!({ "type": "tool_use", "id": id, "name": name, "input": input }));
            }
            Block::ToolResult { tool_use_id, content, is_error } => {
                let mut result = json!({ "type": "tool_result", "tool_use_id": tool_use_id, "content": content });
                if *is_error {
                    result["is_error"] = Value::Bool(true);
                }
                results.push(result);
            }
            Block::Image { format, bytes } => rest.push(json!({
                "type": "image",
                "source": { "type": "base64", "media_type": format.media_type(), "data": base64(bytes) },
            })),
            Block::Document { format, bytes, .. } if format == "pdf" => rest.push(json!({
                "type": "document",
                "source": { "type": "base64", "media_type": "application/pdf", "data": base64(bytes) },
            })),
            // Other documents: the model reads the workspace copy with its file tools.
            Block::Document { .. } => {}
        }
    }
    results.extend(rest);
    if results.is_empty() {
        return None;
    }
    let role = match message.role {
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
    };
    Some(json!({ "role": role, "content": results }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireResponse {
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking and other blocks this loop does not use.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

pub(crate) fn parse_response(response: WireResponse) -> ModelResponse {
    let mut content = Vec::new();
    for block in response.content {
        match block {
            WireBlock::Text { text } if !text.is_empty() => content.push(Block::Text(text)),
            WireBlock::ToolUse { id, name, input } => {
                let input = if input.is_null() { json!({}) } else { input };
                content.push(Block::ToolUse { id, name, input });
            }
            _ => {}
        }
    }
    let has_tool_use = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    let stop_reason = match response.stop_reason.as_deref() {
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("refusal") => StopReason::Filtered,
        _ if has_tool_use => StopReason::ToolUse,
        // end_turn, stop_sequence, pause_turn, or none.
        _ => StopReason::EndTurn,
    };
    // Cached prompt tokens are input tokens the tenant pays for too.
    let usage = response
        .usage
        .map(|u| TokenUsage {
            input_tokens: u.input_tokens
                + u.cache_creation_input_tokens.unwrap_or(0)
                + u.cache_read_input_tokens.unwrap_or(0),
            output_tokens: u.output_tokens,
        })
        .unwrap_or_default();
    ModelResponse { message: ChatMessage { role: ChatRole::Assistant, content }, stop_reason, usage }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ImageFormat, ToolSpec};

    #[test]
    fn builds_the_wire_request() {
        let request = ModelRequest {
            model_id: None,
            system: "Be brief.".into(),
            messages: vec![
                ChatMessage {
                    role: ChatRole::User,
                    content: vec![
                        Block::Text("what is this?".into()),
                        Block::Text("  ".into()),
                        Block::Image { format: ImageFormat::Png, bytes: vec![1, 2, 3] },
                        Block::Document { format: "pdf".into(), name: "attachment 2".into(), bytes: b"%PDF".to_vec() },
                        Block::Document { format: "csv".into(), name: "attachment 3".into(), bytes: b"a,b".to_vec() },
                    ],
                },
                ChatMessage {
                    role: ChatRole::Assistant,
                    content: vec![
                        Block::Text("Checking.".into()),
                        Block::ToolUse { id: "toolu_1".into(), name: "clock".into(), input: json!({ "tz": "UTC" }) },
                    ],
                },
                ChatMessage {
                    role: ChatRole::User,
                    content: vec![
                        Block::Text("and?".into()),
                        Block::ToolResult { tool_use_id: "toolu_1".into(), content: "boom".into(), is_error: true },
                    ],
                },
            ],
            tools: vec![ToolSpec { name: "clock".into(), description: "Time".into(), input_schema: json!({}) }],
            max_output_tokens: 64,
        };
        assert_eq!(
            request_body("claude-x", &request),
            json!({
                "model": "claude-x",
                "max_tokens": 64,
                "system": "Be brief.",
                "messages": [
                    { "role": "user", "content": [
                        { "type": "text", "text": "what is this?" },
                        { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "AQID" } },
                        { "type": "document", "source": { "type": "base64", "media_type": "application/pdf", "data": "JVBERg==" } },
                    ] },
                    { "role": "assistant", "content": [
                        { "type": "text", "text": "Checking." },
                        { "type": "tool_use", "id": "toolu_1", "name": "clock", "input": { "tz": "UTC" } },
                    ] },
                    { "role": "user", "content": [
                        { "type": "tool_result", "tool_use_id": "toolu_1", "content": "boom", "is_error": true },
                        { "type": "text", "text": "and?" },
                    ] },
                ],
                "tools": [{ "name": "clock", "description": "Time", "input_schema": {} }],
            })
        );
    }

    #[test]
    fn maps_stop_reasons_blocks_and_usage() {
        let parse = |v: Value| parse_response(serde_json::from_value(v).unwrap());
        let r = parse(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [
                { "type": "thinking", "thinking": "…", "signature": "x" },
                { "type": "text", "text": "Let me look." },
                { "type": "tool_use", "id": "toolu_9", "name": "memory_write", "input": { "content": "x" } },
            ],
            "stop_reason": "tool_use",
            "usage": { "input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 2 },
        }));
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(r.usage, TokenUsage { input_tokens: 12, output_tokens: 5 });
        assert_eq!(r.message.text(), "Let me look.");
        assert_eq!(r.tool_uses(), vec![("toolu_9", "memory_write", &json!({ "content": "x" }))]);

        for (wire, ours) in [
            ("end_turn", StopReason::EndTurn),
            ("stop_sequence", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("refusal", StopReason::Filtered),
        ] {
            let r = parse(json!({ "content": [{ "type": "text", "text": "t" }], "stop_reason": wire }));
            assert_eq!(r.stop_reason, ours, "{wire}");
        }
        let r = parse(json!({ "content": [] }));
        assert_eq!((r.stop_reason, r.usage), (StopReason::EndTurn, TokenUsage::default()));
    }

    #[test]
    fn needs_a_url_and_a_key_and_never_shows_the_key() {
        let key = || Secret::new("sk-ant-unit-secret");
        assert!(AnthropicProvider::new("not a url", key(), None).is_err());
        assert!(AnthropicProvider::new("ftp://x.example", key(), None).is_err());
        assert!(AnthropicProvider::new("https://api.anthropic.com", Secret::new(" "), None).is_err());
        let p = AnthropicProvider::new("http://127.0.0.1:9/", key(), Some("m".into())).unwrap();
        assert_eq!(p.endpoint, "http://127.0.0.1:9/v1/messages");
        assert!(!format!("{p:?}").contains("unit-secret"));
        let ModelError::Provider { detail, .. } = p.provider_error("echoed sk-ant-unit-secret back") else {
            panic!("not a provider error")
        };
        assert!(!detail.contains("unit-secret"), "{detail}");
    }

    /// Errors say the status and the error's type; the message (which may quote the request) and
    /// the key stay out.
    #[tokio::test]
    async fn errors_carry_no_key_and_no_conversation_text() {
        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(header("x-api-key", "sk-ant-unit-secret"))
            .and(header("anthropic-version", ANTHROPIC_VERSION))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "type": "error",
                "error": { "type": "invalid_request_error", "message": "messages.0: secret diary entry sk-ant-unit-secret" },
            })))
            .mount(&server)
            .await;
        let p = AnthropicProvider::new(&server.uri(), Secret::new("sk-ant-unit-secret"), Some("m".into())).unwrap();
        let request = ModelRequest {
            model_id: None,
            system: String::new(),
            messages: vec![ChatMessage::user_text("secret diary entry")],
            tools: vec![],
            max_output_tokens: 10,
        };
        let err = p.complete(&request).await.unwrap_err().to_string();
        assert!(err.contains("HTTP 400") && err.contains("invalid_request_error"), "{err}");
        assert!(!err.contains("diary") && !err.contains("unit-secret"), "{err}");

        // Unreachable: a transport error, without the key.
        let p =
            AnthropicProvider::new("http://127.0.0.1:1", Secret::new("sk-ant-unit-secret"), Some("m".into())).unwrap();
        let err = p.complete(&request).await.unwrap_err().to_string();
        assert!(err.contains("could not connect") && !err.contains("unit-secret"), "{err}");
    }
}
