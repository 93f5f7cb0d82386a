//! The agent over real HTTP on 127.0.0.1:0, with an in-memory reply sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clawless_agent::health::{Clock, PingResponse, PingStatus};
use clawless_agent::provider::{ModelError, ModelProvider, ModelRequest, ModelResponse, OfflineProvider};
use clawless_agent::reply_sink::MemoryReplySink;
use clawless_agent::services::MemoryServices;
use clawless_agent::testing::{agent_deps, agent_deps_with, history, invocation};
use clawless_agent::{AppState, async_trait, serve_with_shutdown};
use clawless_core::domain::envelope::{AckStatus, AgentAck, AgentInvocation};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

const SESSION_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    base: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(state: AppState) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_shutdown(listener, state, async move {
            let _ = stopped.await;
        }));
        Self { base, http: reqwest::Client::new(), stop: Some(stop), task }
    }

    async fn ping(&self) -> PingResponse {
        let response = self.http.get(format!("{}/ping", self.base)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn post_raw(&self, session: Option<&str>, body: String) -> (u16, serde_json::Value) {
        let mut request =
            self.http.post(format!("{}/invocations", self.base)).header("content-type", "application/json").body(body);
        if let Some(session) = session {
            request = request.header(SESSION_HEADER, session);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Posts `inv` with its own session id as the header; expects 200 and returns the ack.
    async fn invoke(&self, inv: &AgentInvocation) -> AckStatus {
        let session = inv.item.conversation.runtime_session_id();
        let (status, body) = self.post_raw(Some(session.as_str()), serde_json::to_string(inv).unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let ack: AgentAck = serde_json::from_value(body).unwrap();
        ack.status
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, self.task).await.expect("server stops").unwrap().unwrap();
    }
}

fn offline_state(sink: &Arc<MemoryReplySink>) -> AppState {
    AppState::new(agent_deps(Arc::new(OfflineProvider), sink.clone()))
}

/// Answers like the offline provider once the test lets it (one permit per message).
struct Gated(Arc<Semaphore>);

#[async_trait]
impl ModelProvider for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }
    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        self.0.acquire().await.expect("gate open").forget();
        OfflineProvider.complete(request).await
    }
}

/// Takes longer for earlier messages ("msg 0" waits longest), so parallel handling would reorder.
struct SlowFirst;

#[async_trait]
impl ModelProvider for SlowFirst {
    fn name(&self) -> &'static str {
        "slow-first"
    }
    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let text = request.messages.last().ok_or(ModelError::NoUserMessage)?.text();
        let newest = text.rsplit("] ").next().unwrap_or_default();
        let n: u64 = newest.trim_start_matches("msg ").parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(n) * 3)).await;
        OfflineProvider.complete(request).await
    }
}

fn fake_clock(start: u64) -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(start));
    let reader = Arc::clone(&now);
    (now, Arc::new(move || reader.load(Ordering::SeqCst)))
}

#[tokio::test]
async fn ping_timestamp_changes_only_on_status_transitions() {
    let (now, clock) = fake_clock(1_000);
    let gate = Arc::new(Semaphore::new(0));
    let sink = Arc::new(MemoryReplySink::new());
    let state = AppState::builder(agent_deps(Arc::new(Gated(gate.clone())), sink.clone())).clock(clock).build();
    let server = Server::start(state).await;

    assert_eq!(server.ping().await, PingResponse { status: PingStatus::Healthy, time_of_last_update: 1_000 });
    now.store(1_010, Ordering::SeqCst);
    assert_eq!(server.ping().await.time_of_last_update, 1_000, "status unchanged: timestamp unchanged");

    assert_eq!(server.invoke(&invocation("4242", "1", "one", vec![])).await, AckStatus::Accepted);
    assert_eq!(server.ping().await, PingResponse { status: PingStatus::HealthyBusy, time_of_last_update: 1_010 });

    now.store(1_020, Ordering::SeqCst);
    assert_eq!(server.invoke(&invocation("4242", "2", "two", vec![])).await, AckStatus::Accepted);
    gate.add_permits(1);
    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(
        server.ping().await,
        PingResponse { status: PingStatus::HealthyBusy, time_of_last_update: 1_010 },
        "still busy with the second message"
    );

    now.store(1_030, Ordering::SeqCst);
    gate.add_permits(1);
    assert_eq!(sink.wait_for(2, WAIT).await.len(), 2);
    // The reply is recorded a moment before the work is counted as finished.
    let mut ping = server.ping().await;
    for _ in 0..100 {
        if ping.status == PingStatus::Healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        ping = server.ping().await;
    }
    assert_eq!(ping, PingResponse { status: PingStatus::Healthy, time_of_last_update: 1_030 });
    now.store(1_040, Ordering::SeqCst);
    assert_eq!(server.ping().await.time_of_last_update, 1_030);
    server.stop().await;
}

#[tokio::test]
async fn wrong_session_header_is_forbidden_and_not_run() {
    let sink = Arc::new(MemoryReplySink::new());
    let server = Server::start(offline_state(&sink)).await;
    let inv = invocation("4242", "1", "for another microVM", vec![]);
    let other_session = invocation("999", "1", "x", vec![]).item.conversation.runtime_session_id();
    let (status, body) = server.post_raw(Some(other_session.as_str()), serde_json::to_string(&inv).unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(body, serde_json::json!({"error": "session id does not match the conversation"}));

    // The same message with the right header is then new (the refused one was never accepted).
    assert_eq!(server.invoke(&inv).await, AckStatus::Accepted);
    let replies = sink.wait_for(1, WAIT).await;
    server.stop().await;
    assert_eq!(sink.replies().len(), 1);
    assert_eq!(replies[0].in_reply_to.as_str(), "1");
}

#[tokio::test]
async fn missing_session_header_is_bad_request() {
    let sink = Arc::new(MemoryReplySink::new());
    let server = Server::start(offline_state(&sink)).await;
    let inv = invocation("4242", "1", "hi", vec![]);
    let (status, body) = server.post_raw(None, serde_json::to_string(&inv).unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"), "{body}");
    server.stop().await;
    assert_eq!(sink.attempts(), 0);
}

#[tokio::test]
async fn bad_json_is_bad_request() {
    let sink = Arc::new(MemoryReplySink::new());
    let server = Server::start(offline_state(&sink)).await;
    let session = invocation("4242", "1", "hi", vec![]).item.conversation.runtime_session_id();

    let (status, body) = server.post_raw(Some(session.as_str()), "{not json".into()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().starts_with("invalid invocation body"), "{body}");

    // Well-formed JSON with a forged tenant id is refused the same way.
    let mut forged = serde_json::to_value(invocation("4242", "1", "hi", vec![])).unwrap();
    forged["tenant_id"] = "../other".into();
    let (status, _) = server.post_raw(Some(session.as_str()), forged.to_string()).await;
    assert_eq!(status, 400);

    let mut future = serde_json::to_value(invocation("4242", "1", "hi", vec![])).unwrap();
    future["v"] = 99.into();
    let (status, body) = server.post_raw(Some(session.as_str()), future.to_string()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("unsupported envelope version 99"), "{body}");

    server.stop().await;
    assert_eq!(sink.attempts(), 0);
}

#[tokio::test]
async fn twenty_invocations_are_answered_in_order() {
    let sink = Arc::new(MemoryReplySink::new());
    let services = Arc::new(MemoryServices::default());
    let deps = agent_deps_with(Arc::new(SlowFirst), sink.clone(), services.clone());
    let server = Server::start(AppState::new(deps)).await;
    let ids: Vec<String> = (0..20).map(|i| format!("{}", 5000 + i)).collect();
    for (i, id) in ids.iter().enumerate() {
        let inv = invocation("4242", id, &format!("msg {i}"), vec![]);
        assert_eq!(server.invoke(&inv).await, AckStatus::Accepted);
    }
    // Messages that arrive during a run are answered together by the next one: fewer replies
    // than messages, in order, the last one answering the last message.
    let deadline = tokio::time::Instant::now() + WAIT;
    while sink.replies().last().is_none_or(|r| r.in_reply_to.as_str() != "5019") {
        assert!(tokio::time::Instant::now() < deadline, "the last message was never answered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await;
    let replies = sink.replies();
    let answered: Vec<usize> =
        replies.iter().map(|r| ids.iter().position(|id| id == r.in_reply_to.as_str()).unwrap()).collect();
    assert!(answered.windows(2).all(|w| w[0] < w[1]), "answers out of order: {answered:?}");
    assert!(replies.iter().all(|r| r.seq == 1));
    for (reply, i) in replies.iter().zip(&answered) {
        assert!(reply.text.starts_with(&format!("Hello Ada! You said: msg {i}")), "{}", reply.text);
    }
    // Every message is answered once: the one each run replied to by its reply line (the reply
    // function records it), the others of the run by an answered mark.
    let replied: Vec<String> = replies.iter().map(|r| r.in_reply_to.to_string()).collect();
    let marked: Vec<String> = sink.answered().into_iter().map(|(_, id)| id).collect();
    assert!(marked.iter().all(|id| !replied.contains(id)), "a replied-to message is not marked too: {marked:?}");
    let mut covered: Vec<String> = replied.into_iter().chain(marked).collect();
    covered.sort();
    assert_eq!(covered, ids, "every message is covered by the run that answered it, once");
}

#[tokio::test]
async fn duplicate_message_id_is_acknowledged_but_answered_once() {
    let sink = Arc::new(MemoryReplySink::new());
    let server = Server::start(offline_state(&sink)).await;
    let inv = invocation("4242", "77", "once", vec![]);
    assert_eq!(server.invoke(&inv).await, AckStatus::Accepted);
    assert_eq!(server.invoke(&inv).await, AckStatus::Duplicate);
    // A later message is answered after anything queued before it, so once it is in, the
    // duplicate would be too.
    assert_eq!(server.invoke(&invocation("4242", "78", "next", vec![])).await, AckStatus::Accepted);
    sink.wait_for(2, WAIT).await;
    server.stop().await;
    let answered: Vec<String> = sink.replies().iter().map(|r| r.in_reply_to.to_string()).collect();
    assert_eq!(answered, ["77", "78"]);
}

#[tokio::test]
async fn offline_provider_answers_deterministically() {
    let inv = invocation("4242", "9", "same input", history(3));
    let mut texts = Vec::new();
    for _ in 0..2 {
        let sink = Arc::new(MemoryReplySink::new());
        let server = Server::start(offline_state(&sink)).await;
        assert_eq!(server.invoke(&inv).await, AckStatus::Accepted);
        let replies = sink.wait_for(1, WAIT).await;
        server.stop().await;
        texts.push(replies[0].text.clone());
    }
    assert_eq!(texts[0], texts[1]);
    assert_eq!(texts[0], "Hello Ada! You said: same input\n(I remember 3 earlier messages in this conversation.)");
}

#[tokio::test]
async fn shutdown_lets_the_worker_finish_the_current_message() {
    let gate = Arc::new(Semaphore::new(0));
    let sink = Arc::new(MemoryReplySink::new());
    let server = Server::start(AppState::new(agent_deps(Arc::new(Gated(gate.clone())), sink.clone()))).await;
    assert_eq!(server.invoke(&invocation("4242", "1", "in progress", vec![])).await, AckStatus::Accepted);
    assert_eq!(server.ping().await.status, PingStatus::HealthyBusy);

    let base = server.base.clone();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!stopping.is_finished(), "waits for the message in progress");
    assert!(reqwest::Client::new().get(format!("{base}/ping")).send().await.is_err(), "no longer accepting");

    gate.add_permits(1);
    tokio::time::timeout(WAIT, stopping).await.expect("stops once the message is answered").unwrap();
    assert_eq!(sink.replies().len(), 1);
}
