//! A Telegram Bot API stand-in for the local run: `sendMessage` answers as Telegram does and the
//! message is printed and kept, so a person trying the platform sees the bot's answers.
//! `GET /_outbox` lists what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub channel: &'static str,
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
}

pub fn router(outbox: Arc<Outbox>) -> Router {
    Router::new().fallback(handle).with_state(outbox)
}

async fn handle(State(outbox): State<Arc<Outbox>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    if method == Method::GET && path == "/_outbox" {
        return axum::Json(outbox.sent().await).into_response();
    }
    // Telegram: POST /bot<token>/<method>
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (Some(bot), Some(api_method)) = (parts.next(), parts.next()) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
        )
            .into_response();
    };
    if !bot.starts_with("bot") || bot.len() <= 3 {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
        )
            .into_response();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match api_method {
        "sendMessage" => {
            let (Some(chat_id), Some(text)) =
                (request.get("chat_id").cloned(), request.get("text").and_then(Value::as_str))
            else {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: chat_id and text are required"}))).into_response();
            };
            let id = outbox.next_id.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!("\n  telegram → chat {chat_id}: {text}\n");
            outbox.sent.lock().await.push(SentMessage {
                channel: "telegram",
                chat_id: chat_id.clone(),
                text: text.to_owned(),
            });
            axum::Json(
                json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat_id}, "date": 0, "text": text}}),
            )
            .into_response()
        }
        "setWebhook" | "deleteWebhook" => axum::Json(json!({"ok": true, "result": true})).into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"})),
        )
            .into_response(),
    }
}
