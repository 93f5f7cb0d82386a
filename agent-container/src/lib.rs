//! clawless-agent: the container that runs in Amazon Bedrock AgentCore Runtime, one microVM per
//! conversation session.
//!
//! `POST /invocations` acknowledges at once and queues the message for the session's worker,
//! which runs the agent loop ([`agent_loop`]: a [`provider`]'s model, the [`tools`] the tenant's
//! profile allows, [`memory`]) on the messages in order ([`session`]), and puts each answer on
//! the reply queue ([`reply_sink`]). `GET /ping` reports `HealthyBusy` while any
//! message is queued or running ([`health`]).
//!
//! Entry points: [`AppState::new`] (or [`AppState::builder`]), [`router`], [`serve`] and
//! [`serve_with_shutdown`].

pub mod agent_loop;
pub mod api;
pub mod attachments;
pub mod config;
pub mod health;
pub mod long_term;
pub mod mcp;
pub mod memory;
pub mod prompt;
pub mod provider;
pub mod reply_sink;
pub mod services;
pub mod session;
pub mod skills;
#[cfg(any(test, feature = "test-support"))]
pub mod stand_ins;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tools;
pub mod transcribe;
pub mod untrusted;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use clawless_core::config::ConfigError;
use clawless_core::domain::envelope::{AckStatus, AgentInvocation};
use clawless_core::domain::ids::RuntimeSessionId;
use clawless_core::domain::scope::ScopeToken;
use tokio::net::TcpListener;

pub use async_trait::async_trait;

use crate::agent_loop::AgentDeps;
use crate::health::{Clock, Health, PingResponse, system_clock};
use crate::session::{Sessions, SubmitError};

/// How long, after SIGTERM, the workers may go on answering what they accepted.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How many recent message ids per session are remembered to recognise redeliveries.
pub const DEFAULT_RECENT_IDS: usize = 1000;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    health: Arc<Health>,
    sessions: Sessions,
    shutdown_grace: Duration,
    /// The one session this process serves, and its scope token: set by the first invocation
    /// accepted (nothing untrusted runs in the microVM before it), then required of every later
    /// one.
    bound: std::sync::Mutex<Option<(RuntimeSessionId, ScopeToken)>>,
}

/// Why an invocation does not fit the session this process is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// It names another session: one process never serves two.
    OtherSession,
    /// It names this session with another scope token: not minted for this conversation.
    ScopeMismatch,
}

impl AppState {
    /// Wall clock, 20 s shutdown grace.
    pub fn new(deps: AgentDeps) -> Self {
        Self::builder(deps).build()
    }

    pub fn builder(deps: AgentDeps) -> AppStateBuilder {
        AppStateBuilder {
            deps,
            clock: system_clock(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            recent_ids: DEFAULT_RECENT_IDS,
        }
    }

    pub fn ping(&self) -> PingResponse {
        self.inner.health.snapshot()
    }

    /// Messages accepted and not finished yet.
    pub fn pending(&self) -> usize {
        self.inner.health.pending()
    }

    /// Binds the process to `session` on the first call; afterwards accepts only that session
    /// with the same scope token (compared in constant time).
    pub fn bind(&self, session: &RuntimeSessionId, scope: &ScopeToken) -> Result<(), BindError> {
        let mut bound = self.inner.bound.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*bound {
            None => {
                *bound = Some((session.clone(), scope.clone()));
                Ok(())
            }
            Some((s, _)) if s != session => Err(BindError::OtherSession),
            Some((_, token)) if !token.matches(scope) => Err(BindError::ScopeMismatch),
            Some(_) => Ok(()),
        }
    }

    /// Queues an invocation already checked against its session (see [`api`]).
    pub fn submit(&self, session: RuntimeSessionId, invocation: AgentInvocation) -> Result<AckStatus, SubmitError> {
        self.inner.sessions.submit(session, invocation)
    }

    /// Refuses new messages and waits (up to the grace period) for the accepted ones to be
    /// answered. True if everything finished.
    pub async fn shutdown(&self) -> bool {
        self.inner.sessions.shutdown(self.inner.shutdown_grace).await
    }
}

pub struct AppStateBuilder {
    deps: AgentDeps,
    clock: Clock,
    shutdown_grace: Duration,
    recent_ids: usize,
}

impl AppStateBuilder {
    /// The clock `/ping` timestamps come from.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    pub fn recent_ids(mut self, capacity: usize) -> Self {
        self.recent_ids = capacity;
        self
    }

    /// The `/ping` "last update" starts now, so build this at process start.
    pub fn build(self) -> AppState {
        let health = Arc::new(Health::new(self.clock));
        let sessions = Sessions::new(self.deps, Arc::clone(&health), self.recent_ids);
        AppState {
            inner: Arc::new(StateInner {
                health,
                sessions,
                shutdown_grace: self.shutdown_grace,
                bound: std::sync::Mutex::new(None),
            }),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new().route("/ping", get(api::ping)).route("/invocations", post(api::invocations)).with_state(state)
}

/// Serves until SIGTERM (or Ctrl-C), then stops accepting and lets the workers finish.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    serve_with_shutdown(listener, state, shutdown_signal()).await
}

/// Serves until `signal` completes, then stops accepting connections, finishes the requests in
/// flight, and waits (up to the grace period) for the accepted messages to be answered.
pub async fn serve_with_shutdown<F>(listener: TcpListener, state: AppState, signal: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr()?;
    tracing::info!(event = "server_listening", %addr, "agent listening");
    axum::serve(listener, router(state.clone())).with_graceful_shutdown(signal).await?;
    tracing::info!(event = "shutdown_started", pending = state.pending(), "no longer accepting; finishing work");
    let complete = state.shutdown().await;
    tracing::info!(event = "shutdown_complete", complete, "agent stopped");
    Ok(())
}

/// Completes on SIGTERM (how AgentCore stops a microVM) or Ctrl-C.
pub async fn shutdown_signal() {
    async fn ctrl_c() {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = ctrl_c() => {}
                }
            }
            Err(_) => ctrl_c().await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
    tracing::info!(event = "shutdown_signal", "stop requested");
}

/// JSON logs on stdout, filtered by `RUST_LOG` (default `info`). Each line carries the fields of
/// the span it was logged in (`span`: an invocation's or a run's tenant, bot, session and message
/// ids; a tool call's tool, tenant and bot), so the events themselves need not repeat them.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init();
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Provider(crate::provider::ProviderBuildError),
    #[error("could not listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}
