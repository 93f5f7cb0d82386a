//! What the reply function does with an agent's reports ([`AgentReport`]): permission requests
//! and run reports. The agent's credentials cannot write requests, usage or answered marks; it
//! sends them here, and this trusted code checks the scope token against the conversation the
//! report names, then builds each record itself from what it can trust: the stored message the
//! run answered (requester, text), the platform's clock and TTLs, the canonical arguments and
//! their hash, the tool's risk. Nothing the agent claims beyond the tool and its arguments is kept.
//! A request past the caps on waiting requests ([`crate::approvals_caps`]) is not stored at all.

use std::sync::Arc;

use crate::approvals::caps::held_back;
use crate::approvals::{ApprovalError, ApprovalFlow, NoticeWording};
use crate::domain::envelope::{AgentReport, RunSummary};
use crate::domain::ids::{ConversationRef, MessageId};
use crate::domain::model::{InboundMessage, Sender, now_ms};
use crate::domain::permissions::{
    MAX_REQUEST_ARGUMENTS_BYTES, PermissionProfile, PermissionRequest, REQUEST_TTL_MS, ToolDecision,
};
use crate::domain::scope::ScopeError;
use crate::ports::{ConversationRepo, LimitRepo, ScopeKeys, StoreError, UsageRepo};

/// Most answered marks one report may ask for (a run answers at most a batch plus its lost work).
pub const MAX_ANSWERED_PER_REPORT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Acted on (or found already done: every step is idempotent).
    Done,
    /// Refused; the reason is logged. Never retried.
    Refused(&'static str),
}

pub struct ReportService {
    conversations: Arc<dyn ConversationRepo>,
    usage: Arc<dyn UsageRepo>,
    limits: Arc<dyn LimitRepo>,
    approvals: ApprovalFlow,
    scope: Arc<dyn ScopeKeys>,
    /// How each tenant words its approver's notices; `None`: the platform's wording.
    wording: Option<Arc<NoticeWording>>,
}

/// Logs a refused agent message as a security event: the agent claimed something trusted code
/// would not have given it.
pub fn security_violation(conversation: &ConversationRef, what: &'static str, reason: &'static str) {
    tracing::error!(
        event = "security_violation",
        tenant_id = %conversation.tenant_id,
        bot_id = %conversation.bot_id,
        conversation_id = %conversation.conversation_id,
        what,
        reason,
        "refused a message an agent sent"
    );
    crate::observe::audit::emit(
        crate::observe::audit::AuditKind::SecurityViolation,
        conversation,
        serde_json::json!({"what": what, "reason": reason}),
    );
}

impl ReportService {
    pub fn new(
        conversations: Arc<dyn ConversationRepo>,
        usage: Arc<dyn UsageRepo>,
        limits: Arc<dyn LimitRepo>,
        approvals: ApprovalFlow,
        scope: Arc<dyn ScopeKeys>,
    ) -> Self {
        Self { conversations, usage, limits, approvals, scope, wording: None }
    }

    /// Words the approver's notices per tenant (template, summary) with `wording`.
    pub fn with_notice_wording(mut self, wording: Arc<NoticeWording>) -> Self {
        self.wording = Some(wording);
        self
    }

    pub async fn handle(&self, report: AgentReport) -> Result<ReportOutcome, ReportError> {
        let (conversation, token) = report.claim();
        let key = self.scope.get().await?;
        if !key.verify(conversation, token) {
            let what = match &report {
                AgentReport::PermissionRequest { .. } => "permission_request",
                AgentReport::RunReport { .. } => "run_report",
                AgentReport::Progress(_) => "progress",
            };
            security_violation(conversation, what, "scope token does not match the conversation");
            return Ok(ReportOutcome::Refused("scope token does not match the conversation"));
        }
        match report {
            // Shown by the reply flow, which holds the channels ([`crate::flows::reply::ReplyService::progress`]).
            AgentReport::Progress(_) => Ok(ReportOutcome::Refused("progress is shown by the reply flow")),
            AgentReport::PermissionRequest { request, .. } => self.permission_request(&request).await,
            AgentReport::RunReport { conversation, in_reply_to, run, .. } => {
                if run.answered.len() > MAX_ANSWERED_PER_REPORT {
                    security_violation(&conversation, "run_report", "too many answered marks");
                    return Ok(ReportOutcome::Refused("too many answered marks"));
                }
                if run.input_tokens > 0 || run.output_tokens > 0 {
                    let month = crate::domain::model::month_of(now_ms());
                    let (input_tokens, output_tokens) = (run.input_tokens, run.output_tokens);
                    // A run that sent no answer marks every message it took (checked above).
                    let messages = run.messages(None);
                    let counted = self
                        .usage
                        .add_run_usage(
                            &conversation,
                            in_reply_to.as_str(),
                            &month,
                            input_tokens,
                            output_tokens,
                            messages,
                        )
                        .await?;
                    if counted {
                        crate::observe::metrics::tokens(&conversation.tenant_id, input_tokens, output_tokens);
                    }
                    tracing::info!(event = "usage_recorded", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, input_tokens, output_tokens, duplicate = !counted);
                }
                mark_answered(self.conversations.as_ref(), &conversation, &run).await?;
                release_run(self.limits.as_ref(), &conversation, &in_reply_to, &run).await?;
                Ok(ReportOutcome::Done)
            }
        }
    }

    async fn permission_request(&self, claimed: &PermissionRequest) -> Result<ReportOutcome, ReportError> {
        let c = &claimed.conversation;
        let refuse = |reason: &'static str| {
            security_violation(c, "permission_request", reason);
            Ok(ReportOutcome::Refused(reason))
        };
        // Only a tool a profile could ever allow is worth an approver's time.
        match PermissionProfile::least_privilege().decide(&claimed.tool) {
            ToolDecision::Invalid => return refuse("invalid tool name"),
            ToolDecision::Blocked => return refuse("always-blocked tool"),
            ToolDecision::Allowed | ToolDecision::NeedsApproval => {}
        }
        if !claimed.route.belongs_to(c) {
            return refuse("route leads outside the conversation");
        }
        if claimed.arguments.len() > MAX_REQUEST_ARGUMENTS_BYTES {
            return refuse("arguments too large");
        }
        let Ok(arguments) = serde_json::from_str::<serde_json::Value>(&claimed.arguments) else {
            return refuse("arguments are not JSON");
        };
        // The requester is whoever sent the message the run answered, as stored by trusted code.
        let Some(asked) =
            self.conversations.inbound_message(c, claimed.in_reply_to_at_ms, claimed.in_reply_to.as_str()).await?
        else {
            return refuse("the message it answers is not in the conversation");
        };
        let message = InboundMessage {
            attachments: Vec::new(),
            message_id: claimed.in_reply_to.clone(),
            sent_at_ms: asked.at_ms,
            sender: Sender { id: asked.sender_id.clone(), name: asked.sender_name.clone(), is_bot: false },
            text: asked.text.clone(),
            is_direct: false,
            route: claimed.route.clone(),
        };
        let now = now_ms();
        let request = PermissionRequest::new(c, &message, &claimed.tool, &arguments, &asked.text, now, REQUEST_TTL_MS);
        // Past a cap the request is not stored (so no notice, no schedule, no approval); one that
        // is stored already (a redelivery) goes on to its notice, which is sent once.
        if self.approvals.ports().approvals.request(&c.tenant_id, &request.request_id).await?.is_none() {
            let pending = self.approvals.ports().approvals.pending_requests(&c.tenant_id, now).await?;
            if let Some(held) = held_back(&pending, &request, now) {
                tracing::warn!(event = "approval_held_back", tenant_id = %c.tenant_id, bot_id = %c.bot_id, request_id = %request.request_id, tool = %request.tool, cap = ?held, "too many permission requests waiting; not stored");
                self.approvals.hold_back(&request, held, now).await?;
                return Ok(ReportOutcome::Done);
            }
        }
        if self.approvals.ports().approvals.put_request(&request).await? {
            tracing::info!(event = "approval_requested", tenant_id = %c.tenant_id, bot_id = %c.bot_id, request_id = %request.request_id, tool = %request.tool, risk = request.risk.as_str(), "permission request stored");
        }
        // A redelivery or a redone run finds the request stored: the notice is sent once either way.
        self.approvals.notice_worded(&c.tenant_id, &request.request_id, self.wording.as_deref()).await?;
        Ok(ReportOutcome::Done)
    }
}

/// Marks the messages a run summary names answered, in its conversation only.
pub async fn mark_answered(
    store: &dyn ConversationRepo,
    conversation: &ConversationRef,
    run: &RunSummary,
) -> Result<(), StoreError> {
    for (at_ms, id) in run.answered.iter().take(MAX_ANSWERED_PER_REPORT) {
        store.mark_answered(conversation, *at_ms, id.as_str()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Frees the conversation's run slot ([`crate::quota`]) if the run took the message the slot
/// waits for: the message answered or any it marks. A slot that waits for a later message (one
/// handed over during this run) stays until that message's run ends.
pub async fn release_run(
    limits: &dyn LimitRepo,
    conversation: &ConversationRef,
    in_reply_to: &MessageId,
    run: &RunSummary,
) -> Result<(), StoreError> {
    let taken: Vec<&str> =
        std::iter::once(in_reply_to.as_str()).chain(run.answered.iter().map(|(_, id)| id.as_str())).collect();
    let freed = limits.release_run(conversation, &taken).await?;
    tracing::debug!(event = "run_slot", tenant_id = %conversation.tenant_id, freed);
    Ok(())
}
