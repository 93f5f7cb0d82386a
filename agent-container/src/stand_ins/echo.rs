//! An echoing Bedrock `Converse` stand-in that can misbehave on purpose, for soak runs: it
//! answers every request with the marker tokens (`soak-<conversation>-<seq>`) of the user text
//! after the last assistant turn, so whoever reads the channel sees which messages each answer
//! covers, and a fault plan makes it answer slowly, fail (once, or on every attempt) or hang past
//! a run's limit.
//!
//! Faults are decided per *key*, the newest marker of a request: the SDK's retries of one run
//! carry the same key, so a fault "on every attempt" really fails the run, and one "once" fails
//! only its first attempt. Runs whose model never answers (every attempt failed, or past the
//! limit) are remembered with their markers: the agent answers those with a notice, and a soak
//! matches each notice to one of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The prefix of the marker tokens the stand-in echoes.
pub const MARKER: &str = "soak-";

/// How the stand-in misbehaves on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFault {
    /// Answers after this delay (within the run's limit).
    Slow(Duration),
    /// The first attempt gets a 503 (the SDK retries; the retry is answered).
    ErrorOnce,
    /// Every attempt gets a 500: the model never answers this run.
    ErrorAlways,
    /// Answers only after this delay, longer than the run may take.
    PastLimit(Duration),
}

impl ModelFault {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelFault::Slow(_) => "model slow",
            ModelFault::ErrorOnce => "model error (retried)",
            ModelFault::ErrorAlways => "model error (every attempt)",
            ModelFault::PastLimit(_) => "model past the run's limit",
        }
    }
}

/// Decides the fault (if any) for a key.
pub type FaultPlan = Box<dyn Fn(&str) -> Option<ModelFault> + Send + Sync>;

struct EchoState {
    plan: FaultPlan,
    attempts: HashMap<String, u32>,
    /// Faults injected, by kind (each key's fault once).
    injected: BTreeMap<&'static str, u64>,
    /// Keys whose run the model never answered, with the markers of that run.
    unanswered: BTreeMap<String, Vec<String>>,
    requests: u64,
}

type Shared = Arc<Mutex<EchoState>>;

fn lock(shared: &Shared) -> MutexGuard<'_, EchoState> {
    // A handler that panicked mid-update leaves nothing half-written worth refusing.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The echoing stand-in (see the [module docs](self)); it stops when dropped.
pub struct EchoModel {
    url: String,
    shared: Shared,
    _stop: oneshot::Sender<()>,
}

impl EchoModel {
    /// Serves Bedrock Converse on `127.0.0.1`. Panics if no local port can be bound (it is test
    /// infrastructure).
    pub fn bedrock(plan: FaultPlan) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("echo model: bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("echo model: set_nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("echo model: local_addr"));
        let shared: Shared = Arc::new(Mutex::new(EchoState {
            plan,
            attempts: HashMap::new(),
            injected: BTreeMap::new(),
            unanswered: BTreeMap::new(),
            requests: 0,
        }));
        let router = Router::new()
            .route("/model/{model_id}/converse", post(converse))
            .layer(axum::extract::DefaultBodyLimit::max(super::MAX_REQUEST_BYTES))
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        // Its own thread and runtime (several workers: hanging requests must not hold up others).
        std::thread::Builder::new()
            .name("echo-model".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
                else {
                    eprintln!("echo model: no runtime");
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("echo model: spawn thread");
        Self { url, shared, _stop: stop }
    }

    /// The endpoint URL to put in `CLAWLESS_BEDROCK_ENDPOINT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Faults injected so far, by kind (a key's fault counts once, however often it was retried).
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.shared).injected.clone()
    }

    /// The runs the model never answered: their key and markers.
    pub fn unanswered(&self) -> BTreeMap<String, Vec<String>> {
        lock(&self.shared).unanswered.clone()
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        lock(&self.shared).requests
    }
}

/// The marker tokens in `text`, in order of appearance.
pub fn markers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARKER) {
        let after = &rest[at + MARKER.len()..];
        let len = after.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(after.len());
        let body = after[..len].trim_end_matches('-');
        let mut parts = body.split('-');
        if let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next())
            && !a.is_empty()
            && !b.is_empty()
        {
            out.push(format!("{MARKER}{a}-{b}"));
        }
        rest = &after[len..];
    }
    out
}

/// The user text after the last assistant turn of a Converse request.
fn waiting_text(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let start = messages.iter().rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    messages[start.map_or(0, |i| i + 1)..]
        .iter()
        .flat_map(|m| m.get("content").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

const AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

fn error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    (status, [(AMZN_ERROR_TYPE, kind)], axum::Json(json!({ "message": message }))).into_response()
}

async fn converse(State(shared): State<Shared>, Path(_model_id): Path<String>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "ValidationException", "invalid JSON");
    };
    let mut seen = BTreeSet::new();
    let found: Vec<String> = markers(&waiting_text(&request)).into_iter().filter(|m| seen.insert(m.clone())).collect();
    let key = found.last().cloned().unwrap_or_default();
    let fault = {
        let mut state = lock(&shared);
        state.requests += 1;
        let fault = if key.is_empty() { None } else { (state.plan)(&key) };
        let attempt = {
            let n = state.attempts.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if let Some(fault) = fault
            && attempt == 1
        {
            *state.injected.entry(fault.kind()).or_default() += 1;
            if matches!(fault, ModelFault::ErrorAlways | ModelFault::PastLimit(_)) {
                state.unanswered.insert(key.clone(), found.clone());
            }
        }
        fault.map(|f| (f, attempt))
    };
    match fault {
        Some((ModelFault::ErrorAlways, _)) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException", "injected model failure");
        }
        Some((ModelFault::ErrorOnce, 1)) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableException", "injected model outage");
        }
        Some((ModelFault::Slow(delay) | ModelFault::PastLimit(delay), _)) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let text =
        if found.is_empty() { "You said nothing I know.".to_owned() } else { format!("You said: {}", found.join(" ")) };
    let tokens = (body.len() as u64 / 4).max(1);
    axum::Json(json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
        "stopReason": "end_turn",
        "usage": { "inputTokens": tokens, "outputTokens": 8, "totalTokens": tokens + 8 },
        "metrics": { "latencyMs": 1 },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers_in_order() {
        assert_eq!(markers("[Ada] soak-3-7\n\n[Ada] soak-3-8 and soak-12-1."), ["soak-3-7", "soak-3-8", "soak-12-1"]);
        assert!(markers("soak- soak-1 soak--2 soak-a-1").is_empty());
    }

    #[test]
    fn waiting_text_is_after_the_last_assistant_turn() {
        let request = json!({ "messages": [
            { "role": "user", "content": [{ "text": "soak-1-1" }] },
            { "role": "assistant", "content": [{ "text": "You said: soak-1-1" }] },
            { "role": "user", "content": [{ "text": "soak-1-2" }, { "text": "soak-1-3" }] },
        ] });
        assert_eq!(markers(&waiting_text(&request)), ["soak-1-2", "soak-1-3"]);
    }
}
