//! Channel API stand-ins for the local run: each channel's send endpoints answer as the real API
//! does, and what the bot sends is printed and kept, so a person trying the platform sees the
//! answers. Each channel lives under its own prefix (`/telegram`, `/slack`, …), which the local
//! run passes to the functions as `CLAWLESS_<CHANNEL>_API`. `GET /_outbox` lists what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub channel: &'static str,
    /// The chat, channel or person the message went to, as the channel names it.
    pub chat_id: Value,
    pub text: String,
}

#[derive(Default)]
pub struct Outbox {
    sent: Mutex<Vec<SentMessage>>,
    next_id: AtomicI64,
}

impl Outbox {
    pub async fn sent(&self) -> Vec<SentMessage> {
        self.sent.lock().await.clone()
    }

    async fn record(&self, channel: &'static str, chat_id: Value, text: &str) -> i64 {
        eprintln!("\n  {channel} → {chat_id}: {text}\n");
        self.sent.lock().await.push(SentMessage { channel, chat_id, text: text.to_owned() });
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The channels with a stand-in, as the path prefix and the variable that points at it.
pub const STAND_INS: [(&str, &str); 1] = [("telegram", "CLAWLESS_TELEGRAM_API")];

pub fn router(outbox: Arc<Outbox>) -> Router {
    Router::new().fallback(handle).with_state(outbox)
}

struct Call<'a> {
    method: Method,
    /// The path after the channel prefix.
    path: &'a str,
    headers: HeaderMap,
    body: Bytes,
}

async fn handle(
    State(outbox): State<Arc<Outbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if method == Method::GET && path == "/_outbox" {
        return axum::Json(outbox.sent().await).into_response();
    }
    let (prefix, rest) = path.trim_start_matches('/').split_once('/').unwrap_or((path.trim_start_matches('/'), ""));
    let call = Call { method, path: rest, headers, body };
    match prefix {
        "telegram" => telegram(&outbox, call).await,
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no stand-in for this channel"}))).into_response(),
    }
}

/// Telegram: `POST /bot<token>/<method>`.
async fn telegram(outbox: &Outbox, call: Call<'_>) -> Response {
    let not_found = || {
        (StatusCode::NOT_FOUND, axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})))
            .into_response()
    };
    let Some((bot, api_method)) = call.path.split_once('/') else { return not_found() };
    if call.method != Method::POST || !bot.starts_with("bot") || bot.len() <= 3 {
        return not_found();
    }
    let _ = &call.headers;
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    match api_method {
        "sendMessage" => {
            let (Some(chat_id), Some(text)) =
                (request.get("chat_id").cloned(), request.get("text").and_then(Value::as_str))
            else {
                let description = "Bad Request: chat_id and text are required";
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"ok": false, "error_code": 400, "description": description})),
                )
                    .into_response();
            };
            let id = outbox.record("telegram", chat_id.clone(), text).await;
            axum::Json(
                json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat_id}, "date": 0, "text": text}}),
            )
            .into_response()
        }
        "setWebhook" | "deleteWebhook" => axum::Json(json!({"ok": true, "result": true})).into_response(),
        _ => not_found(),
    }
}
