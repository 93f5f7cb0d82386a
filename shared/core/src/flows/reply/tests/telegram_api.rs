//! Telegram's Bot API on a local port: `sendMessage` answers as Telegram does, from a script of
//! failures given in advance, else with success (message ids 1, 2, 3, … in the order sent).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::testing::TELEGRAM_BOT_TOKEN;

pub struct TelegramApi {
    pub server: MockServer,
    script: Arc<Mutex<VecDeque<ResponseTemplate>>>,
}

impl TelegramApi {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let script: Arc<Mutex<VecDeque<ResponseTemplate>>> = Arc::default();
        let next_id = AtomicI64::new(1);
        let scripted = Arc::clone(&script);
        Mock::given(method("POST"))
            .and(path(format!("/bot{TELEGRAM_BOT_TOKEN}/sendMessage")))
            .respond_with(move |_: &Request| {
                let next = scripted.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
                next.unwrap_or_else(|| {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": id}}))
                })
            })
            .mount(&server)
            .await;
        // A run's signs of life: chat actions and edits succeed.
        for api_method in ["sendChatAction", "editMessageText"] {
            Mock::given(method("POST"))
                .and(path(format!("/bot{TELEGRAM_BOT_TOKEN}/{api_method}")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})))
                .mount(&server)
                .await;
        }
        Self { server, script }
    }

    /// The bodies of every call of `api_method` so far, in order.
    pub async fn calls(&self, api_method: &str) -> Vec<Value> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.url.path().ends_with(&format!("/{api_method}")))
            .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
            .collect()
    }

    /// The next send gets `response` (after those scripted before it).
    pub fn then(&self, response: ResponseTemplate) {
        self.script.lock().unwrap_or_else(PoisonError::into_inner).push_back(response);
    }

    /// The bodies of every `sendMessage` call so far, in order.
    pub async fn sent(&self) -> Vec<Value> {
        self.calls("sendMessage").await
    }

    /// The texts sent so far, in order.
    pub async fn texts(&self) -> Vec<String> {
        self.sent().await.iter().map(|b| b["text"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

/// Telegram's answer when it wants us to slow down.
pub fn too_many_requests(retry_after_secs: u64) -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({
        "ok": false, "error_code": 429,
        "description": format!("Too Many Requests: retry after {retry_after_secs}"),
        "parameters": {"retry_after": retry_after_secs}
    }))
}

/// The user blocked the bot: retrying cannot help.
pub fn blocked() -> ResponseTemplate {
    ResponseTemplate::new(403)
        .set_body_json(json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}))
}

/// A gateway in front of Telegram failed, with no JSON to read.
pub fn bad_gateway() -> ResponseTemplate {
    ResponseTemplate::new(502).set_body_string("<html>502 Bad Gateway</html>")
}
