//! Amazon Bedrock AgentCore Memory's stand-in for the local run (moto serves events but not
//! memory records), speaking the data plane's REST shape, so the agent's real SDK client talks
//! to it: `POST /memories/{memoryId}/events` (CreateEvent) and `POST /memories/{memoryId}/retrieve`
//! (RetrieveMemoryRecords), JSON bodies, errors named by `x-amzn-errortype`.
//!
//! What it does not do as AgentCore does: records are made at once, one per event, from the
//! event's user text, in the namespace [`NAMESPACE_TEMPLATE`] names with the event's actor id
//! (AgentCore's semantic strategy extracts facts with a model, asynchronously, seconds to
//! minutes later); relevance is the share of the query's words a record holds. It enforces no
//! IAM (`tests/iam/` proves the grants); it refuses unsigned requests (no SigV4 `Authorization`
//! header) and records which access key id signed each one, so a test can tell which
//! credentials called.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The namespace the template's semantic strategy writes records to (`{actorId}` replaced).
pub const NAMESPACE_TEMPLATE: &str = "/actors/{actorId}/facts";
/// The strategy id the stand-in's records carry.
pub const STRATEGY_ID: &str = "clawless_facts-0123456789";

/// One call the stand-in answered (or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryCall {
    /// `CreateEvent` or `RetrieveMemoryRecords`.
    pub operation: &'static str,
    /// The access key id of the SigV4 signature.
    pub access_key_id: String,
    /// The actor id (CreateEvent) or namespace (RetrieveMemoryRecords) asked for.
    pub scope: String,
}

#[derive(Debug, Clone)]
struct Record {
    id: String,
    namespace: String,
    text: String,
    created_at: f64,
}

#[derive(Debug, Clone)]
struct Event {
    actor_id: String,
    session_id: String,
}

/// The stand-in's state: one memory, its events and records, and the calls made.
pub struct MemoryStandIn {
    memory_id: String,
    events: Mutex<Vec<Event>>,
    records: Mutex<Vec<Record>>,
    calls: Mutex<Vec<MemoryCall>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStandIn {
    pub fn new(memory_id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            memory_id: memory_id.into(),
            events: Mutex::default(),
            records: Mutex::default(),
            calls: Mutex::default(),
        })
    }

    pub fn memory_id(&self) -> &str {
        &self.memory_id
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<MemoryCall> {
        lock(&self.calls).clone()
    }

    /// The (actor id, session id) of every stored event, in order.
    pub fn events(&self) -> Vec<(String, String)> {
        lock(&self.events).iter().map(|e| (e.actor_id.clone(), e.session_id.clone())).collect()
    }

    /// The (namespace, text) of every record, in order.
    pub fn records(&self) -> Vec<(String, String)> {
        lock(&self.records).iter().map(|r| (r.namespace.clone(), r.text.clone())).collect()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/memories/{memory_id}/events", post(create_event))
            .route("/memories/{memory_id}/retrieve", post(retrieve))
            .with_state(Arc::clone(self))
    }
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"message": message.into()});
    (status, [("content-type", "application/json"), ("x-amzn-errortype", kind)], body.to_string()).into_response()
}

/// The access key id of a SigV4 `Authorization` header.
fn access_key_id(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.strip_prefix("AWS4-HMAC-SHA256 ")?.split(", ").find_map(|p| p.strip_prefix("Credential="))?;
    let key = credential.split('/').next()?;
    (!key.is_empty()).then(|| key.to_owned())
}

/// Checks signature and memory id; the caller's key id and the JSON body.
fn admit(
    stand: &MemoryStandIn,
    memory_id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(String, Value), Box<Response>> {
    let Some(key) = access_key_id(headers) else {
        return Err(Box::new(error(StatusCode::FORBIDDEN, "AccessDeniedException", "the request is not SigV4-signed")));
    };
    if memory_id != stand.memory_id {
        return Err(Box::new(error(StatusCode::NOT_FOUND, "ResourceNotFoundException", "no such memory")));
    }
    let request = serde_json::from_slice::<Value>(body)
        .map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, "ValidationException", "the body is not JSON")))?;
    Ok((key, request))
}

fn text<'a>(request: &'a Value, field: &str) -> Option<&'a str> {
    request.get(field).and_then(Value::as_str).filter(|v| !v.is_empty())
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

async fn create_event(
    State(stand): State<Arc<MemoryStandIn>>,
    Path(memory_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (key, request) = match admit(&stand, &memory_id, &headers, &body) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    let (Some(actor_id), Some(session_id), Some(payload)) =
        (text(&request, "actorId"), text(&request, "sessionId"), request.get("payload").and_then(Value::as_array))
    else {
        return error(StatusCode::BAD_REQUEST, "ValidationException", "actorId, sessionId and payload are required");
    };
    lock(&stand.calls).push(MemoryCall { operation: "CreateEvent", access_key_id: key, scope: actor_id.to_owned() });
    let timestamp = request.get("eventTimestamp").and_then(Value::as_f64).unwrap_or_else(now_secs);
    let event_id = format!("0000001{:013}#{}", lock(&stand.events).len(), uuid_like());
    // The user's words become a record of the actor's namespace at once (see the module docs).
    let said: Vec<&str> = payload
        .iter()
        .filter_map(|p| p.get("conversational"))
        .filter(|c| c.get("role").and_then(Value::as_str) == Some("USER"))
        .filter_map(|c| c.get("content").and_then(|content| text(content, "text")))
        .collect();
    if !said.is_empty() {
        let mut records = lock(&stand.records);
        let id = format!("mem-{:010}", records.len());
        records.push(Record {
            id,
            namespace: NAMESPACE_TEMPLATE.replace("{actorId}", actor_id),
            text: said.join("\n"),
            created_at: timestamp,
        });
    }
    lock(&stand.events).push(Event { actor_id: actor_id.to_owned(), session_id: session_id.to_owned() });
    let event = json!({
        "memoryId": stand.memory_id,
        "actorId": actor_id,
        "sessionId": session_id,
        "eventId": event_id,
        "eventTimestamp": timestamp,
        "payload": payload,
    });
    (StatusCode::CREATED, [("content-type", "application/json")], json!({ "event": event }).to_string()).into_response()
}

fn uuid_like() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_lowercase).collect()
}

/// The share of `query`'s words that `record` holds (0 to 1).
pub fn relevance(query: &str, record: &str) -> f64 {
    let wanted = words(query);
    if wanted.is_empty() {
        return 0.0;
    }
    let held = words(record);
    wanted.intersection(&held).count() as f64 / wanted.len() as f64
}

async fn retrieve(
    State(stand): State<Arc<MemoryStandIn>>,
    Path(memory_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (key, request) = match admit(&stand, &memory_id, &headers, &body) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    let criteria = request.get("searchCriteria");
    let (Some(namespace), Some(query)) = (text(&request, "namespace"), criteria.and_then(|c| text(c, "searchQuery")))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "namespace and searchCriteria.searchQuery are needed here",
        );
    };
    lock(&stand.calls).push(MemoryCall {
        operation: "RetrieveMemoryRecords",
        access_key_id: key,
        scope: namespace.to_owned(),
    });
    let top_k = criteria.and_then(|c| c.get("topK")).and_then(Value::as_u64).unwrap_or(10);
    let max = request.get("maxResults").and_then(Value::as_u64).unwrap_or(20).min(top_k) as usize;
    let mut hits: Vec<(f64, Record)> = lock(&stand.records)
        .iter()
        .filter(|r| r.namespace == namespace)
        .map(|r| (relevance(query, &r.text), r.clone()))
        .filter(|(score, _)| *score > 0.0)
        .collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.created_at.total_cmp(&a.1.created_at)));
    let summaries: Vec<Value> = hits
        .into_iter()
        .take(max)
        .map(|(score, r)| {
            json!({
                "memoryRecordId": r.id,
                "content": {"text": r.text},
                "memoryStrategyId": STRATEGY_ID,
                "namespaces": [r.namespace],
                "createdAt": r.created_at,
                "score": score,
            })
        })
        .collect();
    (StatusCode::OK, [("content-type", "application/json")], json!({ "memoryRecordSummaries": summaries }).to_string())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance_is_shared_words() {
        assert_eq!(relevance("what is my favourite colour?", "my favourite colour is teal"), 2.0 / 3.0);
        assert_eq!(relevance("hello", "my favourite colour is teal"), 0.0);
        assert_eq!(relevance("", "anything"), 0.0);
    }

    #[test]
    fn the_key_id_comes_from_the_signature() {
        let mut headers = HeaderMap::new();
        assert_eq!(access_key_id(&headers), None);
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=abc"
                .parse()
                .unwrap(),
        );
        assert_eq!(access_key_id(&headers).as_deref(), Some("ASIAEXAMPLE"));
        headers.insert("authorization", "Bearer token".parse().unwrap());
        assert_eq!(access_key_id(&headers), None);
    }
}
