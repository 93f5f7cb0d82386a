//! The dispatcher: one inbound message → one `InvokeAgentRuntime` call on the conversation's
//! session. The agent acknowledges at once, so no Lambda waits while it thinks.
//!
//! Trusted code decides whom an agent works for, here: the invocation carries credentials for
//! the conversation's tenant and bot only ([`crate::credentials`]), the conversation's scope
//! token ([`crate::scope`]), and, for the run an approve-once decision resumes, that one grant.

use std::sync::Arc;

use crate::agentcore::{AgentCoreError, AgentRuntime};
use crate::approvals::{ApprovalError, ApprovalFlow, ApprovalStore, RESUME_SUFFIX};
use crate::credentials::{CredentialError, CredentialVendor};
use crate::directory::BotDirectory;
use crate::envelope::{AckStatus, AgentInvocation, BotProfile, ENVELOPE_VERSION, InboundEnvelope};
use crate::model::{BotStatus, HistoryEntry, now_ms};
use crate::scope::{ScopeError, ScopeKeySource};
use crate::store::{LOST_WORK_WINDOW_MS, MessageItem, StoreError, inbound_sort_key, unanswered_before};

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    AgentCore(#[from] AgentCoreError),
    #[error("message {0} is not in the table (the webhook stores before it enqueues)")]
    MissingMessage(String),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
}

/// What the dispatcher hands an agent so it can work for one conversation: credentials and the
/// scope token.
pub struct AgentAccess {
    pub credentials: CredentialVendor,
    pub scope: Arc<ScopeKeySource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    Dispatched,
    /// Handed to the agent before (a redelivery): nothing to do.
    AlreadyDispatched,
    /// Not for an agent: the reason is logged.
    Dropped(&'static str),
}

pub struct Dispatcher {
    directory: BotDirectory,
    runtime: AgentRuntime,
    history_limit: i32,
    access: AgentAccess,
    approvals: Option<ApprovalFlow>,
}

impl Dispatcher {
    pub fn new(directory: BotDirectory, runtime: AgentRuntime, history_limit: i32, access: AgentAccess) -> Self {
        Self { directory, runtime, history_limit: history_limit.clamp(1, 200), access, approvals: None }
    }

    /// Approval commands (`/approve`, `/reject`, `/pending`) are handled here, never by an agent.
    pub fn with_approvals(mut self, flow: ApprovalFlow) -> Self {
        self.approvals = Some(flow);
        self
    }

    pub async fn dispatch(&self, envelope: InboundEnvelope) -> Result<DispatchOutcome, DispatchError> {
        let (item, scheduled, isolated) = match envelope {
            InboundEnvelope::ChannelMessage { item, .. } => (item, false, false),
            InboundEnvelope::ScheduledTask { item, isolated, .. } => (item, true, isolated),
        };
        let conversation = &item.conversation;
        let Some(record) = self.directory.bot(&conversation.bot_id).await? else {
            tracing::warn!(bot_id = %conversation.bot_id, event = "dispatch_dropped", "bot no longer exists");
            return Ok(DispatchOutcome::Dropped("bot no longer exists"));
        };
        if record.bot.tenant_id != conversation.tenant_id {
            // Queue bodies are ours, so this means a forged or corrupted message: never run it.
            tracing::error!(bot_id = %conversation.bot_id, claimed_tenant = %conversation.tenant_id,
                event = "security_tenant_mismatch", "message names a tenant that does not own the bot");
            return Ok(DispatchOutcome::Dropped("tenant does not own the bot"));
        }
        if record.bot.status != BotStatus::Active {
            return Ok(DispatchOutcome::Dropped("bot is disabled"));
        }

        // History up to this message (not the lines that arrived after it), and the message itself.
        let key = inbound_sort_key(item.message.sent_at_ms, item.message.message_id.as_str());
        let stored = self.directory.store().recent_messages(conversation, Some(&key), self.history_limit + 1).await?;
        let Some(current) = stored.iter().find(|m| m.sk == key) else {
            return Err(DispatchError::MissingMessage(item.message.message_id.to_string()));
        };
        if current.dispatched_at_ms.is_some() {
            return Ok(DispatchOutcome::AlreadyDispatched);
        }
        if !scheduled
            && let Some(flow) = &self.approvals
            && let Some(outcome) = flow.handle_command(&item).await?
        {
            self.directory.store().mark_dispatched(&item).await?;
            tracing::info!(event = "approval_command", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, message_id = %item.message.message_id, outcome = ?outcome);
            return Ok(DispatchOutcome::Dispatched);
        }
        // An isolated scheduled task runs without the conversation's history.
        let history =
            if isolated { Vec::new() } else { stored.iter().filter(|m| m.sk != key).map(|m| m.to_history()).collect() };

        // Earlier messages handed to an agent and never answered, from the same lines (no
        // lookup of the agent's own): a recycled microVM's lost work. The agent skips those it
        // accepted itself.
        let unanswered = lost_work(&stored, &key, item.message.sent_at_ms);

        // The run an approve-once decision resumes gets that one grant (marked used here, by this
        // message, so a redelivery gets it again and nothing else ever does).
        let grant = match item.message.message_id.as_str().strip_suffix(RESUME_SUFFIX) {
            Some(request_id) if !scheduled => {
                ApprovalStore::new(self.directory.store().clone())
                    .consume_once_grant(
                        conversation,
                        request_id,
                        &item.message.sender.id,
                        item.message.message_id.as_str(),
                        now_ms(),
                    )
                    .await?
            }
            _ => None,
        };
        let credentials = self.access.credentials.for_conversation(conversation).await?;
        let scope = self.access.scope.get().await?.mint(conversation);

        let session = conversation.runtime_session_id();
        let invocation = AgentInvocation {
            v: ENVELOPE_VERSION,
            item: item.clone(),
            bot: BotProfile {
                name: record.bot.name.clone(),
                persona: record.bot.persona.clone(),
                model_provider: record.bot.model_provider.clone(),
                model_id: record.bot.model_id.clone(),
            },
            history,
            scheduled,
            unanswered,
            scope,
            credentials: Some(credentials),
            grant,
        };
        let ack = self.runtime.invoke(&session, &invocation).await?;
        self.directory.store().mark_dispatched(&item).await?;
        tracing::info!(
            event = "agent_invoked",
            tenant_id = %conversation.tenant_id,
            bot_id = %conversation.bot_id,
            session_id = %session,
            message_id = %item.message.message_id,
            duplicate = ack.status == AckStatus::Duplicate,
            scheduled,
            unanswered = invocation.unanswered.len(),
        );
        Ok(DispatchOutcome::Dispatched)
    }
}

/// The messages before the one at `key` (sent at `sent_at_ms`) in `stored` that an agent was
/// handed and never answered, within [`LOST_WORK_WINDOW_MS`], as the agent takes them.
fn lost_work(stored: &[MessageItem], key: &str, sent_at_ms: i64) -> Vec<HistoryEntry> {
    unanswered_before(stored, key, LOST_WORK_WINDOW_MS, sent_at_ms).into_iter().map(MessageItem::to_history).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::store::ReplyState;

    fn line(id: &str, at_ms: i64, role: Role, dispatched: bool) -> MessageItem {
        let inbound = inbound_sort_key(at_ms, id);
        MessageItem {
            pk: "t#CONV#b#telegram#4242".into(),
            sk: if role == Role::User { inbound } else { format!("{inbound}#r001") },
            role,
            message_id: id.into(),
            sender_id: "4242".into(),
            sender_name: "Ada".into(),
            text: format!("text of {id}"),
            at_ms,
            expires_at: 0,
            dispatched_at_ms: dispatched.then_some(at_ms),
            answered_at_ms: None,
            reply_state: (role == Role::Assistant).then_some(ReplyState::Sent),
            channel_message_ids: None,
        }
    }

    #[test]
    fn lost_work_comes_from_the_lines_read_for_the_history() {
        let now = 1_763_740_800_000;
        // What `recent_messages` returns up to the message being dispatched: one earlier message
        // answered (its reply line is there), one a recycled agent accepted and never answered,
        // and the message itself.
        let stored = vec![
            line("1", now - 120_000, Role::User, true),
            line("1", now - 120_000, Role::Assistant, false),
            line("2", now - 60_000, Role::User, true),
            line("3", now, Role::User, false),
        ];
        let key = inbound_sort_key(now, "3");
        let lost = lost_work(&stored, &key, now);
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!(lost[0], stored[2].to_history());
        assert_eq!((lost[0].role, lost[0].message_id.as_str(), lost[0].text.as_str()), (Role::User, "2", "text of 2"));

        // Older than the window: no longer taken up.
        assert!(lost_work(&stored, &key, now + LOST_WORK_WINDOW_MS).is_empty());
    }
}
