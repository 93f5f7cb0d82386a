//! Any OpenAI-compatible `/v1/chat/completions` endpoint with tool calls (an OpenClaw gateway,
//! Ollama, vLLM, llama.cpp, OpenAI itself).
//!
//! The model is the request's `model_id`, else `CLAWLESS_MODEL_ID`; a request with neither fails
//! with [`ModelError::Provider`] (and [`super::Providers::build`] refuses an `openai` default
//! without `CLAWLESS_MODEL_ID`, since every bot without its own model would fail).

use std::time::Duration;

use async_trait::async_trait;
use clawless_core::domain::secrets::Secret;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Block, ChatMessage, ChatRole, ModelError, ModelProvider, ModelRequest, ModelResponse, ModelSettings,
    ProviderBuildError, StopReason, TokenUsage,
};

const PROVIDER: &str = "openai";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest excerpt of an error body kept in the error.
const MAX_EXCERPT: usize = 200;

pub struct OpenAiProvider {
    http: reqwest::Client,
    /// `{base}/chat/completions`.
    endpoint: String,
    api_key: Option<Secret>,
    default_model: Option<String>,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("endpoint", &self.endpoint)
            .field("default_model", &self.default_model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl OpenAiProvider {
    /// Needs `openai_base_url` (including `/v1`); the API key and default model are optional.
    pub fn new(settings: &ModelSettings) -> Result<Self, ProviderBuildError> {
        let base = settings
            .openai_base_url
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .ok_or(ProviderBuildError::MissingOpenAiBaseUrl)?;
        let endpoint = format!("{}/chat/completions", base.trim_end_matches('/'));
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| ProviderBuildError::Invalid { name: "CLAWLESS_OPENAI_BASE_URL", reason: e.to_string() })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderBuildError::Invalid {
                name: "CLAWLESS_OPENAI_BASE_URL",
                reason: "expected an http(s) URL".into(),
            });
        }
        let http = clawless_aws::tls::reqwest_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ProviderBuildError::Invalid { name: "openai HTTP client", reason: e.to_string() })?;
        Ok(Self {
            http,
            endpoint,
            api_key: settings.openai_api_key.clone().filter(|k| !k.expose().trim().is_empty()),
            default_model: settings.model_id.as_deref().map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned),
        })
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> Option<&str> {
        self.default_model.as_deref()
    }

    /// A transport or service failure, one line, without the API key.
    fn provider_error(&self, detail: &str) -> ModelError {
        ModelError::Provider { provider: PROVIDER, detail: truncate(&self.redact(detail), 2 * MAX_EXCERPT) }
    }

    /// One line without the API key (some servers echo it back in errors).
    fn redact(&self, text: &str) -> String {
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match &self.api_key {
            Some(key) => line.replace(key.expose().trim(), "***"),
            None => line,
        }
    }
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[async_trait]
impl ModelProvider for OpenAiProvider {
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
            .ok_or_else(|| ModelError::Provider {
                provider: PROVIDER,
                detail: "no model named: set CLAWLESS_MODEL_ID or the bot's model".into(),
            })?;
        let body = request_body(model, request);

        let mut http = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key.expose().trim());
        }
        let response = http.send().await.map_err(|e| self.provider_error(&describe_http_error(&e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.provider_error(&describe_http_error(&e)))?;
        if !status.is_success() {
            let excerpt = truncate(&self.redact(&String::from_utf8_lossy(&bytes)), MAX_EXCERPT);
            return Err(self.provider_error(&format!("HTTP {}: {excerpt}", status.as_u16())));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::BadResponse { provider: PROVIDER, detail: format!("not JSON: {e}") })?;
        // Some servers answer 200 with an error object.
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_owned);
            let excerpt = truncate(&self.redact(&message), MAX_EXCERPT);
            return Err(self.provider_error(&format!("error: {excerpt}")));
        }
        let completion: Completion = serde_json::from_value(value).map_err(|e| ModelError::BadResponse {
            provider: PROVIDER,
            detail: truncate(&self.redact(&e.to_string()), MAX_EXCERPT),
        })?;
        parse_completion(completion)
    }
}

/// reqwest errors without the URL (a base URL may carry a key in its query) but with their cause.
pub(super) fn describe_http_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "could not read the answer"
    } else {
        "request failed"
    };
    let mut detail = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

/// The chat-completions request: system first, tool results as `tool` messages right after the
/// assistant message that called them.
fn request_body(model: &str, request: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.trim().is_empty() {
        messages.push(json!({ "role": "system", "content": request.system }));
    }
    for message in &request.messages {
        push_wire_messages(&mut messages, message);
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::from(model));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": { "name": t.name, "description": t.description, "parameters": t.input_schema },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("max_tokens".into(), Value::from(request.max_output_tokens));
    Value::Object(body)
}

fn data_url(media_type: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    format!("data:{media_type};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn push_wire_messages(out: &mut Vec<Value>, message: &ChatMessage) {
    let texts: Vec<&str> = message
        .content
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) if !t.trim().is_empty() => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let text = texts.join("\n\n");
    match message.role {
        ChatRole::User => {
            for block in &message.content {
                if let Block::ToolResult { tool_use_id, content, is_error } = block {
                    let content = if *is_error { format!("Error: {content}") } else { content.clone() };
                    out.push(json!({ "role": "tool", "tool_call_id": tool_use_id, "content": content }));
                }
            }
            // Images as `image_url` parts with `data:` URLs, PDFs as `file` parts; a message
            // without them keeps the plain string content every server takes.
            let parts: Vec<Value> = message
                .content
                .iter()
                .filter_map(|b| match b {
                    Block::Image { format, bytes } => Some(json!({
                        "type": "image_url",
                        "image_url": { "url": data_url(format.media_type(), bytes) },
                    })),
                    Block::Document { format, name, bytes } if format == "pdf" => Some(json!({
                        "type": "file",
                        "file": { "filename": format!("{name}.pdf"), "file_data": data_url("application/pdf", bytes) },
                    })),
                    _ => None,
                })
                .collect();
            if !parts.is_empty() {
                let mut content = Vec::with_capacity(parts.len() + 1);
                if !text.is_empty() {
                    content.push(json!({ "type": "text", "text": text }));
                }
                content.extend(parts);
                out.push(json!({ "role": "user", "content": content }));
            } else if !text.is_empty() {
                out.push(json!({ "role": "user", "content": text }));
            }
        }
        ChatRole::Assistant => {
            let calls: Vec<Value> = message
                .content
                .iter()
                .filter_map(|b| match b {
                    Block::ToolUse { id, name, input } => Some(json!({
                        "id": id,
                        "type": "function",
                        "function": { "name": name, "arguments": input.to_string() },
                    })),
                    _ => None,
                })
                .collect();
            let mut wire = Map::new();
            wire.insert("role".into(), Value::from("assistant"));
            wire.insert("content".into(), if text.is_empty() { Value::Null } else { Value::from(text) });
            if !calls.is_empty() {
                wire.insert("tool_calls".into(), Value::Array(calls));
            }
            out.push(Value::Object(wire));
        }
    }
}

#[derive(Debug, Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    /// A string, null, or (some servers) an array of `{type: "text", text}` parts.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    /// A JSON string per the spec; some servers send the object itself.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

fn parse_completion(completion: Completion) -> Result<ModelResponse, ModelError> {
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ModelError::BadResponse { provider: PROVIDER, detail: "no choices".into() })?;
    let mut content = Vec::new();
    let text = match choice.message.content {
        Some(Value::String(s)) => s,
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    };
    if !text.is_empty() {
        content.push(Block::Text(text));
    }
    for (i, call) in choice.message.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let input = match call.function.arguments {
            Some(Value::String(raw)) if raw.trim().is_empty() => json!({}),
            Some(Value::String(raw)) => serde_json::from_str(&raw).unwrap_or_else(|_| json!({ "_raw": raw })),
            Some(Value::Null) | None => json!({}),
            Some(other) => other,
        };
        let id = call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{}", i + 1));
        content.push(Block::ToolUse { id, name: call.function.name, input });
    }
    let has_tool_use = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    let stop_reason = match choice.finish_reason.as_deref() {
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::Filtered,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        // Some servers say "stop" even when they call tools.
        _ if has_tool_use => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    let usage = completion
        .usage
        .map(|u| TokenUsage {
            input_tokens: u.prompt_tokens.unwrap_or(0),
            output_tokens: u.completion_tokens.unwrap_or(0),
        })
        .unwrap_or_default();
    Ok(ModelResponse { message: ChatMessage { role: ChatRole::Assistant, content }, stop_reason, usage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ToolSpec;

    fn settings(base: Option<&str>) -> ModelSettings {
        ModelSettings {
            openai_base_url: base.map(str::to_owned),
            openai_api_key: Some(Secret::new("sk-unit-secret")),
            ..ModelSettings::default()
        }
    }

    #[test]
    fn needs_a_valid_base_url() {
        assert_eq!(OpenAiProvider::new(&settings(None)).unwrap_err(), ProviderBuildError::MissingOpenAiBaseUrl);
        assert!(matches!(
            OpenAiProvider::new(&settings(Some("not a url"))).unwrap_err(),
            ProviderBuildError::Invalid { name: "CLAWLESS_OPENAI_BASE_URL", .. }
        ));
        let p = OpenAiProvider::new(&settings(Some("http://127.0.0.1:11434/v1/"))).unwrap();
        assert_eq!(p.endpoint, "http://127.0.0.1:11434/v1/chat/completions");
        assert!(!format!("{p:?}").contains("sk-unit-secret"));
    }

    /// Images go as `image_url` parts with `data:` URLs and PDFs as `file` parts, beside the
    /// message's text; other documents (read from the workspace) add no part.
    #[test]
    fn images_and_pdfs_become_content_parts() {
        use crate::provider::{ChatMessage, ChatRole, ImageFormat};
        let request = ModelRequest {
            model_id: None,
            system: String::new(),
            messages: vec![ChatMessage {
                role: ChatRole::User,
                content: vec![
                    Block::Text("what is this?".into()),
                    Block::Image { format: ImageFormat::Png, bytes: vec![1, 2, 3] },
                    Block::Document { format: "pdf".into(), name: "attachment 2".into(), bytes: b"%PDF".to_vec() },
                    Block::Document { format: "csv".into(), name: "attachment 3".into(), bytes: b"a,b".to_vec() },
                ],
            }],
            tools: vec![],
            max_output_tokens: 100,
        };
        let body = request_body("m", &request);
        let content = &body["messages"][0]["content"];
        assert_eq!(
            content,
            &json!([
                { "type": "text", "text": "what is this?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,AQID" } },
                { "type": "file", "file": { "filename": "attachment 2.pdf", "file_data": "data:application/pdf;base64,JVBERg==" } },
            ])
        );
    }

    #[test]
    fn builds_the_wire_request() {
        let request = ModelRequest {
            model_id: None,
            system: "Be brief.".into(),
            messages: vec![
                ChatMessage::user_text("time?"),
                ChatMessage {
                    role: ChatRole::Assistant,
                    content: vec![
                        Block::Text("Checking.".into()),
                        Block::ToolUse { id: "call_1".into(), name: "clock".into(), input: json!({ "tz": "UTC" }) },
                    ],
                },
                ChatMessage {
                    role: ChatRole::User,
                    content: vec![
                        Block::ToolResult { tool_use_id: "call_1".into(), content: "boom".into(), is_error: true },
                        Block::Text("and?".into()),
                    ],
                },
            ],
            tools: vec![ToolSpec { name: "clock".into(), description: "Time".into(), input_schema: json!({}) }],
            max_output_tokens: 64,
        };
        let body = request_body("m", &request);
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [
                    { "role": "system", "content": "Be brief." },
                    { "role": "user", "content": "time?" },
                    { "role": "assistant", "content": "Checking.", "tool_calls": [
                        { "id": "call_1", "type": "function", "function": { "name": "clock", "arguments": "{\"tz\":\"UTC\"}" } }
                    ] },
                    { "role": "tool", "tool_call_id": "call_1", "content": "Error: boom" },
                    { "role": "user", "content": "and?" },
                ],
                "tools": [{ "type": "function", "function": { "name": "clock", "description": "Time", "parameters": {} } }],
                "max_tokens": 64,
            })
        );
    }

    #[test]
    fn parses_tool_calls_leniently() {
        let completion: Completion = serde_json::from_value(json!({
            "choices": [{ "message": { "content": null, "tool_calls": [
                { "id": "a", "function": { "name": "x", "arguments": "not json" } },
                { "function": { "name": "y", "arguments": { "k": 1 } } },
                { "id": "", "function": { "name": "z", "arguments": "" } },
            ] }, "finish_reason": "stop" }],
        }))
        .unwrap();
        let response = parse_completion(completion).unwrap();
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(response.usage, TokenUsage::default());
        let calls: Vec<(String, String, Value)> =
            response.tool_uses().into_iter().map(|(i, n, v)| (i.into(), n.into(), v.clone())).collect();
        assert_eq!(
            calls,
            vec![
                ("a".into(), "x".into(), json!({ "_raw": "not json" })),
                ("call_2".into(), "y".into(), json!({ "k": 1 })),
                ("call_3".into(), "z".into(), json!({})),
            ]
        );
    }

    #[test]
    fn redacts_the_key_and_shortens() {
        let p = OpenAiProvider::new(&settings(Some("http://127.0.0.1:1/v1"))).unwrap();
        let text = format!("bad key\n sk-unit-secret {}", "y".repeat(500));
        let out = truncate(&p.redact(&text), MAX_EXCERPT);
        assert!(out.starts_with("bad key *** y"));
        assert_eq!(out.chars().count(), MAX_EXCERPT + 1);
        let ModelError::Provider { detail, .. } = p.provider_error(&text) else { panic!("not a provider error") };
        assert!(!detail.contains("sk-unit-secret"));
    }
}
