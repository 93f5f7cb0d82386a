//! Scripted local stand-ins for the model services, speaking their real wire formats, so the
//! [`crate::provider`] implementations (and the whole platform, end to end) can be exercised
//! over HTTP without AWS or a model server.
//!
//! - [`ModelStandIn::bedrock`]: Amazon Bedrock `Converse` (`POST /model/{modelId}/converse`);
//!   point `CLAWLESS_BEDROCK_ENDPOINT` at [`ModelStandIn::url`]. Request signatures are not checked.
//! - [`ModelStandIn::openai`]: OpenAI chat completions (`POST /v1/chat/completions`); point
//!   `CLAWLESS_OPENAI_BASE_URL` (or a tenant's `--base-url`) at [`ModelStandIn::url`]. The
//!   `Authorization` header is not checked, only recorded.
//! - [`ModelStandIn::anthropic`]: the Anthropic Messages API (`POST /v1/messages`, tool calls as
//!   `tool_use` blocks, results read from `tool_result` blocks); point a tenant's `--base-url` at
//!   [`ModelStandIn::url`]. Requests without `anthropic-version` are refused; `x-api-key` is
//!   recorded, not checked.
//!
//! Each request's credential (the OpenAI bearer token, the Anthropic `x-api-key`; none for
//! Bedrock, whose signature is not kept) is recorded in order ([`ModelStandIn::credentials`]), so
//! a test can see which key reached the model.
//!
//! Each request consumes the next [`ScriptedTurn`]; once the script is exhausted every answer is
//! the text `(script finished)`. The request bodies are kept for assertions
//! ([`ModelStandIn::requests`]). Token counts are deterministic: a quarter of the request body's
//! length in, a quarter of the answer's length out (at least 1 each), unless a test fixes them
//! ([`ModelStandIn::fix_usage`]). Request bodies up to [`MAX_REQUEST_BYTES`] are accepted.
//!
//! The server runs on its own thread and runtime, so it keeps answering whatever the creating
//! runtime is doing (even blocked waiting for another process that calls it). It stops when the
//! stand-in is dropped or [`ModelStandIn::shutdown`] is awaited.
//!
//! ```no_run
//! # async fn demo() {
//! use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
//! let model = ModelStandIn::openai(vec![ScriptedTurn::Text("hi".into())]).await;
//! let base_url = model.url(); // http://127.0.0.1:PORT/v1
//! # }
//! ```

pub mod echo;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// What the stand-in answers to one request.
#[derive(Debug, Clone)]
pub enum ScriptedTurn {
    /// Answer with this text (end of turn).
    Text(String),
    /// Call one tool with this input.
    ToolCall { name: String, input: Value },
    /// Call several tools in one answer: (name, input) each, in order.
    ToolCalls(Vec<(String, Value)>),
    /// Answer with `prefix` followed by the content of the last tool result found in the request
    /// (proves the model saw the tool's result).
    EchoLastToolResult { prefix: String },
}

/// The answer once the script is exhausted.
pub const SCRIPT_FINISHED: &str = "(script finished)";
/// Largest request body accepted: a conversation that carries megabyte tool inputs (every later
/// request repeats them) must still reach the script.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
enum Wire {
    Bedrock,
    OpenAi,
    Anthropic,
}

#[derive(Debug, Default)]
struct Script {
    turns: VecDeque<ScriptedTurn>,
    requests: Vec<Value>,
    /// The credential each request carried, in the order of `requests`.
    credentials: Vec<Option<String>>,
    tool_calls: u64,
    answers: u64,
    /// Token counts every answer reports, instead of the computed ones.
    usage: Option<(u64, u64)>,
    /// How long each answer takes (a slow model, for runs that last).
    delay: Duration,
}

type Shared = Arc<Mutex<Script>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Script> {
    // A handler that panicked mid-update leaves nothing half-written worth refusing.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scripted model service on `127.0.0.1` (see the [module docs](self)).
pub struct ModelStandIn {
    url: String,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for ModelStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelStandIn").field("url", &self.url).finish_non_exhaustive()
    }
}

impl ModelStandIn {
    /// Serves Bedrock Converse: POST /model/{modelId}/converse (modelId may be URL-encoded).
    ///
    /// Panics if no local port can be bound (it is test infrastructure).
    pub async fn bedrock(script: Vec<ScriptedTurn>) -> Self {
        Self::start(Wire::Bedrock, script)
    }

    /// Serves OpenAI chat completions: POST /v1/chat/completions.
    ///
    /// Panics if no local port can be bound (it is test infrastructure).
    pub async fn openai(script: Vec<ScriptedTurn>) -> Self {
        Self::start(Wire::OpenAi, script)
    }

    /// Serves the Anthropic Messages API: POST /v1/messages.
    ///
    /// Panics if no local port can be bound (it is test infrastructure).
    pub async fn anthropic(script: Vec<ScriptedTurn>) -> Self {
        Self::start(Wire::Anthropic, script)
    }

    /// For bedrock: the endpoint URL (http://127.0.0.1:PORT) to put in CLAWLESS_BEDROCK_ENDPOINT;
    /// for openai: the base URL including /v1 for CLAWLESS_OPENAI_BASE_URL; for anthropic: the
    /// API root (http://127.0.0.1:PORT), without /v1.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Request bodies received, in order, as JSON.
    /// Adds a turn to the end of the script (a test that learns what to say after starting).
    pub fn push(&self, turn: ScriptedTurn) {
        lock(&self.shared).turns.push_back(turn);
    }

    pub fn requests(&self) -> Vec<Value> {
        lock(&self.shared).requests.clone()
    }

    /// The credential each request carried, in order (`None`: none, or Bedrock).
    pub fn credentials(&self) -> Vec<Option<String>> {
        lock(&self.shared).credentials.clone()
    }

    /// Makes every answer report `input` and `output` tokens, for a test whose large tool inputs
    /// would otherwise count past the run's token limit.
    pub fn fix_usage(&self, input: u64, output: u64) {
        lock(&self.shared).usage = Some((input, output));
    }

    /// Makes every answer take `delay`, as a slow model does (a run that lasts long enough to
    /// show progress).
    pub fn delay_answers(&self, delay: Duration) {
        lock(&self.shared).delay = delay;
    }

    /// Stops the server and waits until its port is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.await;
        }
    }

    fn start(wire: Wire, script: Vec<ScriptedTurn>) -> Self {
        // Bound here, before returning, so the URL accepts connections at once (they wait in the
        // backlog until the server thread takes them).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("model stand-in: bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("model stand-in: set_nonblocking");
        let addr = listener.local_addr().expect("model stand-in: local_addr");
        let url = match wire {
            Wire::Bedrock | Wire::Anthropic => format!("http://{addr}"),
            Wire::OpenAi => format!("http://{addr}/v1"),
        };
        let shared: Shared = Arc::new(Mutex::new(Script { turns: script.into(), ..Script::default() }));
        let router = match wire {
            Wire::Bedrock => Router::new().route("/model/{model_id}/converse", post(bedrock_converse)),
            Wire::OpenAi => Router::new().route("/v1/chat/completions", post(openai_chat)),
            Wire::Anthropic => Router::new().route("/v1/messages", post(anthropic_messages)),
        }
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(Arc::clone(&shared));
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("model-stand-in".into())
            .spawn(move || serve(listener, router, stop_rx, stopped_tx))
            .expect("model stand-in: spawn thread");
        Self { url, shared, stop: Some(stop), stopped: Some(stopped) }
    }
}

impl Drop for ModelStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The server thread: runs until told to stop (or the stand-in is gone), then drops its runtime,
/// which ends every open connection and closes the port.
fn serve(listener: std::net::TcpListener, router: Router, stop: oneshot::Receiver<()>, stopped: oneshot::Sender<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("model stand-in: no runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("model stand-in: listener: {e}");
                return;
            }
        };
        tokio::select! {
            result = axum::serve(listener, router) => {
                if let Err(e) = result {
                    eprintln!("model stand-in: server failed: {e}");
                }
            }
            _ = stop => {}
        }
    });
    drop(runtime);
    let _ = stopped.send(());
}

/// Records the request and takes the next turn, with the numbers the answer needs.
struct Taken {
    turn: ScriptedTurn,
    /// 1-based number of this answer.
    answer_no: u64,
    /// 1-based number of the (first) tool call, if the turn calls tools.
    tool_call_no: u64,
    usage: Option<(u64, u64)>,
    delay: Duration,
}

fn take_turn(shared: &Shared, request: Value, credential: Option<String>) -> Taken {
    let mut script = lock(shared);
    script.requests.push(request);
    script.credentials.push(credential);
    script.answers += 1;
    let turn = script.turns.pop_front().unwrap_or_else(|| ScriptedTurn::Text(SCRIPT_FINISHED.to_owned()));
    let first_call = script.tool_calls + 1;
    script.tool_calls += match &turn {
        ScriptedTurn::ToolCall { .. } => 1,
        ScriptedTurn::ToolCalls(calls) => calls.len() as u64,
        _ => 0,
    };
    Taken { turn, answer_no: script.answers, tool_call_no: first_call, usage: script.usage, delay: script.delay }
}

fn tokens(len: usize) -> u64 {
    (len as u64 / 4).max(1)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

// ---- Bedrock Converse ----

const AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

fn bedrock_error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    (status, [(AMZN_ERROR_TYPE, kind)], axum::Json(json!({ "message": message }))).into_response()
}

async fn bedrock_converse(State(shared): State<Shared>, Path(_model_id): Path<String>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bedrock_error(StatusCode::BAD_REQUEST, "ValidationException", &format!("invalid JSON: {e}")),
    };
    if !request.get("messages").is_some_and(Value::is_array) {
        return bedrock_error(StatusCode::BAD_REQUEST, "ValidationException", "messages is required");
    }
    let echo = bedrock_last_tool_result(&request);
    let taken = take_turn(&shared, request, None);
    tokio::time::sleep(taken.delay).await;
    let (content, stop_reason) = match taken.turn {
        ScriptedTurn::Text(text) => (json!([{ "text": text }]), "end_turn"),
        ScriptedTurn::EchoLastToolResult { prefix } => (json!([{ "text": format!("{prefix}{echo}") }]), "end_turn"),
        ScriptedTurn::ToolCall { name, input } => (
            json!([{ "toolUse": { "toolUseId": format!("tooluse_{}", taken.tool_call_no), "name": name, "input": input } }]),
            "tool_use",
        ),
        ScriptedTurn::ToolCalls(calls) => (
            Value::Array(
                calls
                    .into_iter()
                    .zip(taken.tool_call_no..)
                    .map(|((name, input), n)| {
                        json!({ "toolUse": { "toolUseId": format!("tooluse_{n}"), "name": name, "input": input } })
                    })
                    .collect(),
            ),
            "tool_use",
        ),
    };
    let (input_tokens, output_tokens) =
        taken.usage.unwrap_or_else(|| (tokens(body.len()), tokens(content.to_string().len())));
    axum::Json(json!({
        "output": { "message": { "role": "assistant", "content": content } },
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": { "latencyMs": 1 },
    }))
    .into_response()
}

/// The text of the last `toolResult` block in a Converse request (JSON content serialized).
fn bedrock_last_tool_result(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let last = messages
        .iter()
        .rev()
        .flat_map(|m| m.get("content").and_then(Value::as_array).into_iter().flatten().rev())
        .find_map(|block| block.get("toolResult"));
    let Some(result) = last else {
        return String::new();
    };
    let parts: Vec<String> = result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| match (c.get("text"), c.get("json")) {
            (Some(Value::String(t)), _) => Some(t.clone()),
            (_, Some(j)) => Some(j.to_string()),
            _ => None,
        })
        .collect();
    parts.join("\n")
}

// ---- OpenAI chat completions ----

fn openai_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": null } });
    (status, axum::Json(body)).into_response()
}

/// A header's value as text, if present.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn openai_chat(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return openai_error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")),
    };
    if !request.get("messages").is_some_and(Value::is_array) {
        return openai_error(StatusCode::BAD_REQUEST, "messages is required");
    }
    let model = request.get("model").and_then(Value::as_str).unwrap_or("stand-in").to_owned();
    let echo = openai_last_tool_result(&request);
    let credential = header_text(&headers, "authorization").map(|v| v.strip_prefix("Bearer ").unwrap_or(&v).to_owned());
    let taken = take_turn(&shared, request, credential);
    tokio::time::sleep(taken.delay).await;
    let (message, finish_reason) = match taken.turn {
        ScriptedTurn::Text(text) => (json!({ "role": "assistant", "content": text }), "stop"),
        ScriptedTurn::EchoLastToolResult { prefix } => {
            (json!({ "role": "assistant", "content": format!("{prefix}{echo}") }), "stop")
        }
        ScriptedTurn::ToolCall { name, input } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{}", taken.tool_call_no),
                    "type": "function",
                    "function": { "name": name, "arguments": input.to_string() },
                }],
            }),
            "tool_calls",
        ),
        ScriptedTurn::ToolCalls(calls) => {
            let calls: Vec<Value> = calls
                .into_iter()
                .zip(taken.tool_call_no..)
                .map(|((name, input), n)| {
                    json!({
                        "id": format!("call_{n}"),
                        "type": "function",
                        "function": { "name": name, "arguments": input.to_string() },
                    })
                })
                .collect();
            (json!({ "role": "assistant", "content": null, "tool_calls": calls }), "tool_calls")
        }
    };
    let (prompt_tokens, completion_tokens) =
        taken.usage.unwrap_or_else(|| (tokens(body.len()), tokens(message.to_string().len())));
    axum::Json(json!({
        "id": format!("chatcmpl-standin-{}", taken.answer_no),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

/// The content of the last `tool` message (a string, or the text of its parts).
fn openai_last_tool_result(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let Some(tool) = messages.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("tool")) else {
        return String::new();
    };
    match tool.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

// ---- Anthropic Messages ----

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({ "type": "error", "error": { "type": kind, "message": message } });
    (status, axum::Json(body)).into_response()
}

async fn anthropic_messages(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if header_text(&headers, "anthropic-version").is_none() {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version header is required",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return anthropic_error(StatusCode::BAD_REQUEST, "invalid_request_error", &format!("invalid JSON: {e}"));
        }
    };
    if !request.get("messages").is_some_and(Value::is_array) || !request.get("max_tokens").is_some_and(Value::is_u64) {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "messages and max_tokens are required",
        );
    }
    let model = request.get("model").and_then(Value::as_str).unwrap_or("stand-in").to_owned();
    let echo = anthropic_last_tool_result(&request);
    let taken = take_turn(&shared, request, header_text(&headers, "x-api-key"));
    tokio::time::sleep(taken.delay).await;
    let tool_use = |name: String, input: Value, n: u64| json!({ "type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": input });
    let (content, stop_reason) = match taken.turn {
        ScriptedTurn::Text(text) => (json!([{ "type": "text", "text": text }]), "end_turn"),
        ScriptedTurn::EchoLastToolResult { prefix } => {
            (json!([{ "type": "text", "text": format!("{prefix}{echo}") }]), "end_turn")
        }
        ScriptedTurn::ToolCall { name, input } => (json!([tool_use(name, input, taken.tool_call_no)]), "tool_use"),
        ScriptedTurn::ToolCalls(calls) => (
            Value::Array(
                calls
                    .into_iter()
                    .zip(taken.tool_call_no..)
                    .map(|((name, input), n)| tool_use(name, input, n))
                    .collect(),
            ),
            "tool_use",
        ),
    };
    let (input_tokens, output_tokens) =
        taken.usage.unwrap_or_else(|| (tokens(body.len()), tokens(content.to_string().len())));
    axum::Json(json!({
        "id": format!("msg_standin_{}", taken.answer_no),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": { "input_tokens": input_tokens, "output_tokens": output_tokens },
    }))
    .into_response()
}

/// The content of the last `tool_result` block (a string, or the text of its blocks).
fn anthropic_last_tool_result(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let last = messages
        .iter()
        .rev()
        .flat_map(|m| m.get("content").and_then(Value::as_array).into_iter().flatten().rev())
        .find(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"));
    match last.and_then(|b| b.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_bedrock_tool_result() {
        let request = json!({ "messages": [
            { "role": "user", "content": [{ "toolResult": { "toolUseId": "a", "content": [{ "text": "old" }] } }] },
            { "role": "assistant", "content": [{ "text": "x" }] },
            { "role": "user", "content": [
                { "toolResult": { "toolUseId": "b", "content": [{ "text": "first" }] } },
                { "toolResult": { "toolUseId": "c", "content": [{ "text": "new" }, { "json": { "n": 1 } }] } },
            ] },
        ] });
        assert_eq!(bedrock_last_tool_result(&request), "new\n{\"n\":1}");
        assert_eq!(bedrock_last_tool_result(&json!({ "messages": [] })), "");
    }

    #[test]
    fn finds_the_last_openai_tool_message() {
        let request = json!({ "messages": [
            { "role": "tool", "tool_call_id": "call_1", "content": "old" },
            { "role": "tool", "tool_call_id": "call_2", "content": [{ "type": "text", "text": "new" }] },
            { "role": "user", "content": "go on" },
        ] });
        assert_eq!(openai_last_tool_result(&request), "new");
    }

    #[test]
    fn finds_the_last_anthropic_tool_result() {
        let request = json!({ "messages": [
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "old" }] },
            { "role": "assistant", "content": [{ "type": "text", "text": "x" }] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_2", "content": [{ "type": "text", "text": "new" }] },
                { "type": "text", "text": "go on" },
            ] },
        ] });
        assert_eq!(anthropic_last_tool_result(&request), "new");
    }
}
