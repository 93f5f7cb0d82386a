//! Stands in for Bedrock AgentCore's `InvokeAgentRuntime` (its REST wire format, so the real SDK
//! call runs) and for its microVMs: one agent-container process per runtime session id, started
//! on first use and stopped after it has been idle for a while, as AgentCore does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio::sync::Mutex;

pub const SESSION_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-session-id";

struct Microvm {
    port: u16,
    child: tokio::process::Child,
    last_used: Instant,
}

pub struct AgentCoreConfig {
    pub runtime_arn: String,
    pub agent_binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub idle_timeout: Duration,
}

pub struct AgentCoreStandIn {
    config: AgentCoreConfig,
    http: reqwest::Client,
    sessions: Mutex<HashMap<String, Arc<Mutex<Option<Microvm>>>>>,
}

impl AgentCoreStandIn {
    pub fn new(config: AgentCoreConfig) -> Arc<Self> {
        Arc::new(Self { config, http: reqwest::Client::new(), sessions: Mutex::new(HashMap::new()) })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().route("/runtimes/{arn}/invocations", post(invoke)).with_state(self.clone())
    }

    /// How many sessions have a running microVM (for tests).
    #[cfg(feature = "test-support")]
    pub async fn running_sessions(&self) -> usize {
        let sessions = self.sessions.lock().await;
        let mut n = 0;
        for slot in sessions.values() {
            if slot.lock().await.is_some() {
                n += 1;
            }
        }
        n
    }

    /// Whether the agent on `port` reports work in flight (`/ping` says `HealthyBusy`).
    async fn is_busy(&self, port: u16) -> bool {
        let ping = self.http.get(format!("http://127.0.0.1:{port}/ping")).timeout(Duration::from_secs(2)).send().await;
        match ping {
            Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| v["status"] == "HealthyBusy"),
            Err(_) => false,
        }
    }

    /// How many running microVMs are busy (for tests that wait for the platform to go quiet).
    #[cfg(feature = "test-support")]
    pub async fn busy_sessions(&self) -> usize {
        let slots: Vec<_> = self.sessions.lock().await.values().cloned().collect();
        let mut n = 0;
        for slot in slots {
            let port = slot.lock().await.as_ref().map(|v| v.port);
            if let Some(port) = port
                && self.is_busy(port).await
            {
                n += 1;
            }
        }
        n
    }

    /// SIGKILLs one running microVM's agent, as AWS recycling it mid-run would (a soak's fault):
    /// a busy one if any, else any; `pick` chooses among them. Returns the killed process id.
    /// The session's next invocation starts a new agent.
    #[cfg(feature = "test-support")]
    pub async fn kill_agent(&self, pick: u64) -> Option<u32> {
        let slots: Vec<_> = self.sessions.lock().await.values().cloned().collect();
        let mut busy = Vec::new();
        let mut idle = Vec::new();
        for slot in slots {
            let port = slot.lock().await.as_ref().map(|v| v.port);
            if let Some(port) = port {
                if self.is_busy(port).await { busy.push(slot) } else { idle.push(slot) }
            }
        }
        let pool = if busy.is_empty() { idle } else { busy };
        if pool.is_empty() {
            return None;
        }
        let slot = pool[(pick % pool.len() as u64) as usize].clone();
        let mut vm = slot.lock().await;
        let pid = vm.as_ref()?.child.id()?;
        let _ = tokio::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().await;
        if let Some(mut v) = vm.take() {
            let _ = v.child.wait().await;
        }
        Some(pid)
    }

    /// Stops microVMs idle for longer than the idle timeout. Like AgentCore, a session whose
    /// `/ping` says `HealthyBusy` is kept, however long ago it was invoked.
    pub async fn reap_idle(&self) {
        let slots: Vec<_> = self.sessions.lock().await.values().cloned().collect();
        for slot in slots {
            let mut vm = slot.lock().await;
            let idle = vm.as_ref().is_some_and(|v| v.last_used.elapsed() > self.config.idle_timeout);
            if idle
                && let Some(port) = vm.as_ref().map(|v| v.port)
                && self.is_busy(port).await
            {
                continue;
            }
            if idle && let Some(mut v) = vm.take() {
                // AgentCore stops an idle microVM with SIGTERM first, so the agent can finish up.
                if let Some(pid) = v.child.id() {
                    let _ = tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
                }
                if tokio::time::timeout(Duration::from_secs(5), v.child.wait()).await.is_err() {
                    let _ = v.child.kill().await;
                }
            }
        }
    }

    async fn microvm_port(&self, session: &str) -> Result<u16, String> {
        let slot = self.sessions.lock().await.entry(session.to_owned()).or_default().clone();
        let mut vm = slot.lock().await;
        if let Some(v) = vm.as_mut() {
            if matches!(v.child.try_wait(), Ok(None)) {
                v.last_used = Instant::now();
                return Ok(v.port);
            }
            *vm = None;
        }
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let mut child = tokio::process::Command::new(&self.config.agent_binary)
            // Nothing of `clawless local up`'s own environment reaches an agent beyond its list.
            .env_clear()
            .envs(self.config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", self.config.agent_binary.display()))?;
        let tag = format!("agent {}", &session[session.len().saturating_sub(8)..]);
        super::forward_output(&tag, child.stdout.take());
        super::forward_output(&tag, child.stderr.take());
        // Wait for /ping, as AgentCore does before it routes traffic to a new microVM.
        let ping = format!("http://127.0.0.1:{port}/ping");
        let started = Instant::now();
        loop {
            if let Ok(r) = self.http.get(&ping).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("agent exited during start-up: {status}"));
            }
            if started.elapsed() > Duration::from_secs(15) {
                return Err("agent did not answer /ping within 15 s".into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        *vm = Some(Microvm { port, child, last_used: Instant::now() });
        Ok(port)
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An error the way AgentCore's REST JSON protocol sends it, so the SDK maps it to its typed error.
fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("InternalServerException")),
    );
    (status, headers, axum::Json(json!({ "message": message }))).into_response()
}

async fn invoke(
    State(core): State<Arc<AgentCoreStandIn>>,
    Path(arn): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if arn != core.config.runtime_arn {
        return aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", "no such agent runtime");
    }
    let Some(session) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        return aws_error(StatusCode::BAD_REQUEST, "ValidationException", "runtimeSessionId is required");
    };
    if !(33..=256).contains(&session.len()) {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "runtimeSessionId must be 33 to 256 characters",
        );
    }
    let port = match core.microvm_port(&session).await {
        Ok(port) => port,
        Err(e) => {
            tracing::error!(%session, error = %e, "could not start the session's agent");
            return aws_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "RuntimeClientError",
                "the agent could not be started",
            );
        }
    };
    let content_type =
        headers.get("content-type").cloned().unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let forwarded = core
        .http
        .post(format!("http://127.0.0.1:{port}/invocations"))
        .header(SESSION_HEADER, &session)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await;
    let response = match forwarded {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(%session, error = %e, "agent did not answer");
            return aws_error(StatusCode::BAD_GATEWAY, "RuntimeClientError", "the agent did not answer");
        }
    };
    let status = response.status();
    let agent_type = response.headers().get("content-type").cloned();
    let bytes = response.bytes().await.unwrap_or_default();
    if !status.is_success() {
        // AgentCore reports a failing container as a runtime client error with its message.
        return aws_error(
            StatusCode::from_u16(424).unwrap_or(StatusCode::BAD_GATEWAY),
            "RuntimeClientError",
            &String::from_utf8_lossy(&bytes),
        );
    }
    let mut out = HeaderMap::new();
    out.insert("content-type", agent_type.unwrap_or(HeaderValue::from_static("application/json")));
    if let Ok(v) = HeaderValue::from_str(&session) {
        out.insert(SESSION_HEADER, v);
    }
    (StatusCode::OK, out, bytes).into_response()
}
