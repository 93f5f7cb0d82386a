//! The HTTP contract AgentCore calls: `GET /ping` and `POST /invocations`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clawless_core::domain::envelope::{AckStatus, AgentAck, AgentInvocation, ENVELOPE_VERSION};

use crate::health::PingResponse;
use crate::session::SubmitError;
use crate::{AppState, BindError};

/// The header AgentCore sets to the session the request was routed by.
pub const SESSION_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-session-id";

/// Why an invocation was refused. The message goes back to the caller as `{"error": ...}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing X-Amzn-Bedrock-AgentCore-Runtime-Session-Id header")]
    MissingSessionHeader,
    #[error("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id header is not valid text")]
    InvalidSessionHeader,
    #[error("invalid invocation body: {0}")]
    BadJson(#[from] serde_json::Error),
    #[error("unsupported envelope version {0} (this agent speaks version {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
    #[error("session id does not match the conversation")]
    SessionMismatch,
    #[error("the invocation carries no scope token")]
    MissingScope,
    #[error("this agent serves another session")]
    OtherSession,
    #[error("the scope token does not match this session's")]
    ScopeMismatch,
    #[error("the agent is shutting down")]
    ShuttingDown,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingSessionHeader
            | ApiError::InvalidSessionHeader
            | ApiError::BadJson(_)
            | ApiError::UnsupportedVersion(_)
            | ApiError::MissingScope => StatusCode::BAD_REQUEST,
            ApiError::SessionMismatch | ApiError::OtherSession | ApiError::ScopeMismatch => StatusCode::FORBIDDEN,
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::MissingSessionHeader => "missing_session_header",
            ApiError::InvalidSessionHeader => "invalid_session_header",
            ApiError::BadJson(_) => "bad_json",
            ApiError::UnsupportedVersion(_) => "unsupported_version",
            ApiError::SessionMismatch => "session_mismatch",
            ApiError::MissingScope => "missing_scope",
            ApiError::OtherSession => "other_session",
            ApiError::ScopeMismatch => "scope_mismatch",
            ApiError::ShuttingDown => "shutting_down",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}

pub async fn ping(State(state): State<AppState>) -> Json<PingResponse> {
    Json(state.ping())
}

pub async fn invocations(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AgentAck>, ApiError> {
    let result = accept(&state, &headers, &body);
    if let Err(e) = &result {
        // The serde error may quote the body, so only its position and category are logged.
        let (line, column) = match e {
            ApiError::BadJson(j) => (j.line(), j.column()),
            _ => (0, 0),
        };
        tracing::warn!(
            event = "invocation_rejected",
            reason = e.reason(),
            status = e.status().as_u16(),
            line,
            column,
            "invocation refused"
        );
    }
    result.map(Json)
}

fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<AgentAck, ApiError> {
    let header = headers.get(SESSION_HEADER).ok_or(ApiError::MissingSessionHeader)?;
    let header = header.to_str().map_err(|_| ApiError::InvalidSessionHeader)?;
    let invocation: AgentInvocation = serde_json::from_slice(body)?;
    if invocation.v != ENVELOPE_VERSION {
        return Err(ApiError::UnsupportedVersion(invocation.v));
    }
    let conversation = invocation.item.conversation.clone();
    let message_id = invocation.item.message.message_id.clone();
    let session = conversation.runtime_session_id();
    // The ids go on the span, so every event of this invocation (the session's too) carries them.
    let span = tracing::info_span!(
        "invocation",
        tenant_id = %conversation.tenant_id,
        bot_id = %conversation.bot_id,
        session_id = %session,
        message_id = %message_id,
    );
    let _in_span = span.enter();
    if header != session.as_str() {
        // A microVM serves exactly one conversation: a payload for another one is never run.
        tracing::warn!(
            event = "invocation_session_mismatch",
            header_session_id = %header.chars().take(256).collect::<String>(),
            "session header does not match the conversation"
        );
        return Err(ApiError::SessionMismatch);
    }
    if invocation.scope.is_empty() {
        return Err(ApiError::MissingScope);
    }
    // One process, one session: anything else posting here (code inside the microVM, say) is
    // refused, whatever conversation it names.
    if let Err(e) = state.bind(&session, &invocation.scope) {
        tracing::error!(
            event = "security_violation",
            what = "invocation",
            reason = match e {
                BindError::OtherSession => "invocation for another session",
                BindError::ScopeMismatch => "scope token does not match the bound session",
            },
            "invocation refused"
        );
        return Err(match e {
            BindError::OtherSession => ApiError::OtherSession,
            BindError::ScopeMismatch => ApiError::ScopeMismatch,
        });
    }
    let status = state.submit(session.clone(), invocation).map_err(|e| match e {
        SubmitError::ShuttingDown => ApiError::ShuttingDown,
    })?;
    match status {
        AckStatus::Accepted => tracing::info!(event = "invocation_accepted", "invocation accepted"),
        AckStatus::Duplicate => {
            tracing::info!(event = "invocation_duplicate", "invocation already accepted; not run again")
        }
    }
    Ok(AgentAck { status, detail: None })
}
