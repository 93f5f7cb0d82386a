//! Fault hooks of the local run, for soak tests (the `test-support` feature only, never in the
//! `clawless` binary): the channel stand-ins refuse sends for a stretch (a rate limit with the
//! channel's own wait, a server error, a request that hangs past the sender's timeout), and the
//! AgentCore stand-in's microVMs can be killed, as AWS recycles one under a running agent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// How a channel's API refuses a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelFault {
    /// 429, asking to wait this many seconds the channel's way (`retry_after` in the body,
    /// `Retry-After` or Feishu's reset header).
    RateLimited { secs: u64 },
    /// 500.
    ServerError,
    /// Answers only after this long: longer than the sender waits.
    Hang(Duration),
}

impl ChannelFault {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelFault::RateLimited { .. } => "429 rate limited",
            ChannelFault::ServerError => "500 server error",
            ChannelFault::Hang(_) => "timeout (hung request)",
        }
    }
}

/// Stretches of refused sends, per channel: the next `n` sends on a channel get its fault.
#[derive(Default)]
pub struct ChannelFaults {
    stretches: Mutex<HashMap<String, (ChannelFault, u32)>>,
    injected: Mutex<BTreeMap<(String, &'static str), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChannelFaults {
    /// The next `sends` sends on `channel` (`telegram`, `slack`, …) get `fault`, replacing any
    /// stretch still running there.
    pub fn refuse(&self, channel: &str, fault: ChannelFault, sends: u32) {
        lock(&self.stretches).insert(channel.to_owned(), (fault, sends));
    }

    /// Sends refused so far, by (channel, kind).
    pub fn injected(&self) -> BTreeMap<(String, &'static str), u64> {
        lock(&self.injected).clone()
    }

    /// Sends on `channel` still to be refused.
    pub fn pending(&self, channel: &str) -> u32 {
        lock(&self.stretches).get(channel).map_or(0, |(_, n)| *n)
    }

    /// The refusal for this send on `channel`, if a stretch is running there.
    pub(crate) async fn refusal(&self, channel: &str) -> Option<Response> {
        let fault = {
            let mut stretches = lock(&self.stretches);
            let (fault, left) = stretches.get_mut(channel)?;
            let fault = *fault;
            *left -= 1;
            if *left == 0 {
                stretches.remove(channel);
            }
            fault
        };
        *lock(&self.injected).entry((channel.to_owned(), fault.kind())).or_default() += 1;
        eprintln!("  [fault] {channel} send refused: {}", fault.kind());
        Some(match fault {
            ChannelFault::RateLimited { secs } => rate_limited(channel, secs),
            ChannelFault::ServerError => server_error(channel),
            ChannelFault::Hang(delay) => {
                tokio::time::sleep(delay).await;
                server_error(channel)
            }
        })
    }
}

/// A 429 as each channel sends it.
fn rate_limited(channel: &str, secs: u64) -> Response {
    let mut headers = HeaderMap::new();
    let secs_header = HeaderValue::from(secs);
    let body = match channel {
        "telegram" => {
            json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {secs}"),
                             "parameters": {"retry_after": secs}})
        }
        "slack" => {
            headers.insert("retry-after", secs_header);
            json!({"ok": false, "error": "ratelimited"})
        }
        "discord" => {
            headers.insert("retry-after", secs_header);
            json!({"message": "You are being rate limited.", "retry_after": secs as f64, "global": false})
        }
        "feishu" => {
            headers.insert("x-ogw-ratelimit-reset", secs_header);
            json!({"code": 99991400, "msg": "request trigger frequency limit"})
        }
        _ => {
            headers.insert("retry-after", secs_header);
            json!({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}})
        }
    };
    (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(body)).into_response()
}

/// A 500 as each channel sends it.
fn server_error(channel: &str) -> Response {
    let body = match channel {
        "telegram" => json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        "slack" => json!({"ok": false, "error": "internal_error"}),
        "discord" => json!({"message": "500: Internal Server Error", "code": 0}),
        "feishu" => json!({"code": 99991000, "msg": "internal error"}),
        _ => json!({"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}}),
    };
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

/// What the event-source mappings received, per queue URL: (message group, body), so a soak can
/// deliver one again the way SQS would once its deduplication window has passed.
#[derive(Default)]
pub struct Deliveries(Mutex<HashMap<String, Vec<(String, String)>>>);

impl Deliveries {
    pub(crate) fn record(&self, queue_url: &str, group: String, body: String) {
        lock(&self.0).entry(queue_url.to_owned()).or_default().push((group, body));
    }

    /// Everything received from `queue_url` so far, oldest first (redeliveries included).
    pub fn of(&self, queue_url: &str) -> Vec<(String, String)> {
        lock(&self.0).get(queue_url).cloned().unwrap_or_default()
    }
}
