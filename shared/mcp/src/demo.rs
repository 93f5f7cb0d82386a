//! A demo MCP server for the local run and the tests: two harmless tools (`lookup_order`,
//! `add`) behind a secret header, over streamable HTTP (the `rmcp` server). It answers only
//! requests that carry the header with the expected value (401 otherwise) and keeps every call
//! it ran, so a test can see that a call arrived, with which arguments, and that the header did.
//!
//! It runs on its own thread and runtime, so it keeps answering whatever the creating runtime
//! does, and stops when dropped.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;

/// The demo server's name in the local run (`mcp__demo__lookup_order`).
pub const DEMO_SERVER_NAME: &str = "demo";
/// The header the demo server wants.
pub const DEMO_HEADER: &str = "X-Demo-Key";

/// One tool call the server ran.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCall {
    pub tool: String,
    pub arguments: Value,
}

#[derive(Default)]
struct Seen {
    calls: Vec<DemoCall>,
    /// Requests refused for a missing or wrong header.
    refused: usize,
    /// Requests let through with the right header.
    authorized: usize,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct LookupOrder {
    /// The order number, e.g. "A-1001".
    order_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(Clone)]
struct DemoTools {
    seen: Shared,
}

#[tool_router]
impl DemoTools {
    #[tool(description = "Look up an order's status by its number")]
    fn lookup_order(&self, Parameters(LookupOrder { order_id }): Parameters<LookupOrder>) -> String {
        lock(&self.seen)
            .calls
            .push(DemoCall { tool: "lookup_order".into(), arguments: serde_json::json!({"order_id": order_id}) });
        let id: String = order_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(32).collect();
        format!("Order {id}: shipped on 2026-11-28, 2 items, arriving Friday.")
    }

    #[tool(description = "Add two whole numbers")]
    fn add(&self, Parameters(Add { a, b }): Parameters<Add>) -> String {
        lock(&self.seen).calls.push(DemoCall { tool: "add".into(), arguments: serde_json::json!({"a": a, "b": b}) });
        a.saturating_add(b).to_string()
    }
}

#[tool_handler]
impl ServerHandler for DemoTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("A demo server of the clawless local run")
    }
}

#[derive(Clone)]
struct Gate {
    header: String,
    value: String,
    seen: Shared,
}

async fn check_header(State(gate): State<Gate>, request: Request, next: Next) -> Result<Response, StatusCode> {
    let given = request.headers().get(gate.header.as_str()).and_then(|v| v.to_str().ok());
    // Compared in constant time: the demo shows how a real server should check it.
    let ok = given.is_some_and(|g| {
        g.len() == gate.value.len() && g.bytes().zip(gate.value.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    });
    if !ok {
        lock(&gate.seen).refused += 1;
        return Err(StatusCode::UNAUTHORIZED);
    }
    lock(&gate.seen).authorized += 1;
    Ok(next.run(request).await)
}

/// A running demo server.
pub struct DemoMcpServer {
    url: String,
    seen: Shared,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DemoMcpServer {
    /// Starts a server on a free loopback port that wants `header: value`.
    pub fn start(header: &str, value: &str) -> std::io::Result<Self> {
        let seen: Shared = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/mcp", listener.local_addr()?);
        let gate = Gate { header: header.to_owned(), value: value.to_owned(), seen: Arc::clone(&seen) };
        let (stop, stopped) = oneshot::channel::<()>();
        let tools_seen = Arc::clone(&seen);
        let thread = std::thread::Builder::new().name("demo-mcp".into()).spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let service = StreamableHttpService::new(
                    move || Ok(DemoTools { seen: Arc::clone(&tools_seen) }),
                    Arc::new(LocalSessionManager::default()),
                    StreamableHttpServerConfig::default(),
                );
                let app = axum::Router::new()
                    .nest_service("/mcp", service)
                    .layer(middleware::from_fn_with_state(gate, check_header));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })?;
        Ok(Self { url, seen, stop: Some(stop), thread: Some(thread) })
    }

    /// The server's MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every tool call it ran, in order.
    pub fn calls(&self) -> Vec<DemoCall> {
        lock(&self.seen).calls.clone()
    }

    /// Requests refused for a missing or wrong header.
    pub fn refused(&self) -> usize {
        lock(&self.seen).refused
    }

    /// Requests that carried the right header.
    pub fn authorized(&self) -> usize {
        lock(&self.seen).authorized
    }
}

impl Drop for DemoMcpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Detached rather than joined: open SSE streams may keep the server a moment longer.
        drop(self.thread.take());
    }
}
