//! The message path as the Lambda handlers drive it, written against [`crate::ports`].

pub mod directory;
pub mod dispatch;
pub mod extensions;
pub mod intake;
pub mod lost_work;
pub mod provider;
pub mod reply;
pub mod reports;
pub mod webhook;

use crate::domain::ids::ConversationRef;

/// The span one message's handling runs in: every event inside carries the tenant, bot,
/// conversation (as its session id, which names no phone number or chat id), message, and the
/// invocation's X-Ray trace id.
/// `trace_id`: the trace the message carries, else this invocation's.
pub fn message_span(conversation: &ConversationRef, message_id: &str, trace_id: Option<&str>) -> tracing::Span {
    let own = crate::observe::trace_id();
    tracing::info_span!(
        "message",
        tenant_id = %conversation.tenant_id,
        bot_id = %conversation.bot_id,
        session_id = %conversation.runtime_session_id(),
        message_id,
        trace_id = trace_id.or(own.as_deref()),
    )
}
