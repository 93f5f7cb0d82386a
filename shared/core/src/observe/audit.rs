//! Per-tenant audit events, one JSON shape for every service (functions and agent), one line each
//! on stdout:
//!
//! `{"audit":"clawless.v1","kind":"security_violation","at_ms":…,"service":"reply",
//! "tenant_id":"t…","bot_id":"b…","session_id":"t…-b…-c…","trace_id":"Root=…","detail":{…}}`
//!
//! `kind` is one of `agent_invocation` (the dispatcher handed a message to an agent),
//! `permission_denied` (the tool gate refused a call), `approval_decision` (a permission request
//! was approved, rejected or expired), `security_violation` (trusted code refused something an
//! agent or a message claimed). `detail` never holds message text, arguments, tokens or secrets:
//! ids, tool names, outcomes and reasons only. The session id names the conversation without
//! naming its chat or phone number.

use std::io::Write;

use serde_json::{Value, json};

use crate::domain::ids::ConversationRef;
use crate::domain::model::now_ms;

/// The shape's version, in every line.
pub const AUDIT_VERSION: &str = "clawless.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    AgentInvocation,
    PermissionDenied,
    ApprovalDecision,
    SecurityViolation,
    AccessRefused,
    BudgetExhausted,
    /// A message over a rate: no run.
    RateLimited,
    /// A message at the tenant's concurrent-run cap went round its queue group to wait.
    RunWaiting,
    /// A write through the admin API (the console), with its actor.
    AdminAction,
    /// A platform admin acted on a tenant through the admin API.
    PlatformAdminAction,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::AgentInvocation => "agent_invocation",
            AuditKind::PermissionDenied => "permission_denied",
            AuditKind::ApprovalDecision => "approval_decision",
            AuditKind::SecurityViolation => "security_violation",
            AuditKind::AccessRefused => "access_refused",
            AuditKind::BudgetExhausted => "budget_exhausted",
            AuditKind::RateLimited => "rate_limited",
            AuditKind::RunWaiting => "run_waiting",
            AuditKind::AdminAction => "admin_action",
            AuditKind::PlatformAdminAction => "platform_admin_action",
        }
    }
}

/// The audit line for `kind` in `conversation`.
pub fn line(kind: AuditKind, conversation: &ConversationRef, detail: Value, service: &str, at_ms: i64) -> String {
    json!({
        "audit": AUDIT_VERSION,
        "kind": kind.as_str(),
        "at_ms": at_ms,
        "service": service,
        "tenant_id": conversation.tenant_id.as_str(),
        "bot_id": conversation.bot_id.as_str(),
        "session_id": conversation.runtime_session_id().as_str(),
        "trace_id": super::trace_id(),
        "detail": detail,
    })
    .to_string()
}

/// The audit line for `kind` about a tenant (and one of its bots) rather than a conversation:
/// the admin API's events. Same shape; `session_id` is null.
pub fn tenant_line(
    kind: AuditKind,
    tenant_id: &str,
    bot_id: Option<&str>,
    detail: Value,
    service: &str,
    at_ms: i64,
) -> String {
    json!({
        "audit": AUDIT_VERSION,
        "kind": kind.as_str(),
        "at_ms": at_ms,
        "service": service,
        "tenant_id": tenant_id,
        "bot_id": bot_id,
        "session_id": Value::Null,
        "trace_id": super::trace_id(),
        "detail": detail,
    })
    .to_string()
}

/// Writes one tenant-level audit event on stdout.
pub fn emit_tenant(kind: AuditKind, tenant_id: &str, bot_id: Option<&str>, detail: Value) {
    let line = tenant_line(kind, tenant_id, bot_id, detail, super::metrics::service(), now_ms());
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes one audit event on stdout.
pub fn emit(kind: AuditKind, conversation: &ConversationRef, detail: Value) {
    let line = line(kind, conversation, detail, super::metrics::service(), now_ms());
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::conversation;

    #[test]
    fn every_event_has_the_same_shape_and_names_no_chat() {
        let c = conversation("4242");
        for kind in [
            AuditKind::AgentInvocation,
            AuditKind::PermissionDenied,
            AuditKind::ApprovalDecision,
            AuditKind::SecurityViolation,
        ] {
            let raw = line(kind, &c, json!({"tool": "shell"}), "dispatcher", 5);
            let v: Value = serde_json::from_str(&raw).unwrap();
            let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["at_ms", "audit", "bot_id", "detail", "kind", "service", "session_id", "tenant_id", "trace_id"]
            );
            assert_eq!(v["audit"], AUDIT_VERSION);
            assert_eq!(v["kind"], kind.as_str());
            assert_eq!(v["tenant_id"], c.tenant_id.as_str());
            assert!(!raw.contains("4242"), "the chat id stays out: {raw}");
        }
    }
}
