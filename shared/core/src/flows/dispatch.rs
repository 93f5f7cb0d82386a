//! The dispatcher: one inbound message → one `InvokeAgentRuntime` call on the conversation's
//! session. The agent acknowledges at once, so no Lambda waits while it thinks.
//!
//! The webhook only enqueues a message the bot must answer; the dispatcher stores it, and that
//! store is also how a delivery id is taken once. Per message it makes three calls: the history
//! Query, `InvokeAgentRuntime`, and one conditional PutItem of the message's line with its
//! dispatched mark ([`ConversationRepo::store_dispatched`]). The order, and why:
//! - The Query reads the lines up to the message's own key. A line there with the mark means the
//!   message was handed to an agent before (a redelivery after SQS's 5-minute deduplication
//!   window, or a channel retrying for days): skipped before anything runs.
//! - The line is written only after AgentCore accepted the message. Written before, a failed
//!   invoke would leave a marked line and the queue's retry (or a DLQ redrive) would skip a
//!   message no agent ever got: lost. Written after, a crash between the two makes the retry
//!   invoke again, and the session acknowledges a message id it has as a duplicate.
//! - The write's condition (no line, or one without the mark) makes a second hand-over that raced
//!   past the Query report `false`, and lets a line stored unmarked (context the webhook kept, a
//!   scheduled firing) be marked.
//!
//! The FIFO group runs one message of a conversation at a time, in order, so two copies of one
//! update in a batch run one after the other: the second finds the first's line.
//!
//! Before anything is stored or run, the bot's access policy decides whether the sender may talk
//! to it ([`crate::access::AccessGate`]): under DM `pairing` or `allowlist` one more strongly
//! consistent read (the sender's allow item), under a group allowlist the bot read again; a refused
//! message is acknowledged with nothing stored. Firings and resume messages are the platform's own.
//!
//! Trusted code decides whom an agent works for, here: the invocation carries credentials for
//! the conversation's tenant and bot only ([`crate::credentials`]), the conversation's scope
//! token ([`crate::scope`]), and, for the run an approve-once decision resumes, that one grant.

use std::sync::Arc;

use tracing::Instrument;

use crate::access::{AccessGate, Admission};
use crate::approvals::{ApprovalError, ApprovalFlow, RESUME_SUFFIX, consume_once_grant};
use crate::chat_commands::{ChatCommands, Handled};
use crate::domain::credentials::CredentialError;
use crate::domain::envelope::{AckStatus, AgentInvocation, BotProfile, ENVELOPE_VERSION, InboundEnvelope};
use crate::domain::model::{BotStatus, ConversationMessage, now_ms};
use crate::domain::records::{MessageItem, inbound_sort_key};
use crate::domain::scope::ScopeError;
use crate::flows::directory::BotDirectory;
use crate::flows::lost_work::lost_work;
use crate::ports::{
    AgentCoreError, AgentInvoker, ApprovalRepo, ConversationRepo, CredentialIssuer, ScopeKeys, StoreError,
};
use crate::quota::{BudgetCheck, Quotas, RateCheck, RunCheck};

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    AgentCore(#[from] AgentCoreError),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Intake(#[from] crate::flows::intake::IntakeError),
    #[error(transparent)]
    Secrets(#[from] crate::domain::secrets::SecretsError),
    #[error(transparent)]
    Provider(#[from] crate::flows::provider::ProviderError),
}

/// What the dispatcher hands an agent so it can work for one conversation: credentials and the
/// scope token.
pub struct AgentAccess {
    pub credentials: Arc<dyn CredentialIssuer>,
    pub scope: Arc<dyn ScopeKeys>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    Dispatched,
    /// Handed to the agent before (a redelivery): nothing to do.
    AlreadyDispatched,
    /// Not for an agent: the reason is logged.
    Dropped(&'static str),
    /// The bot's access policy refused it: nothing stored, nothing run.
    Refused(&'static str),
    /// The tenant's monthly token budget is spent: stored, no agent run.
    OverBudget,
    /// Over a message rate: kept as context, no agent run.
    OverRate,
    /// At the tenant's concurrent-run cap: queued again behind its conversation, nothing stored.
    Waiting,
}

pub struct Dispatcher {
    directory: BotDirectory,
    conversations: Arc<dyn ConversationRepo>,
    grants: Arc<dyn ApprovalRepo>,
    runtime: Arc<dyn AgentInvoker>,
    history_limit: i32,
    access: AgentAccess,
    approvals: Option<ApprovalFlow>,
    gate: Option<AccessGate>,
    quotas: Option<Quotas>,
    commands: Option<ChatCommands>,
    /// Downloads the files messages carry; without it, files are not taken in.
    intake: Option<crate::flows::intake::MediaIntake>,
    /// The tenant's own model provider and its key; without it every run uses the platform's.
    providers: Option<crate::flows::provider::ProviderResolver>,
    /// Conversations this container noted in the bot's conversation index lately: a warm
    /// dispatcher writes the index about once an hour per conversation, not once per message.
    noted: crate::cache::TtlCache<String, ()>,
}

/// The `seq` of the answer refusing a message's too-large file when the message also runs: far
/// above any run's own answers.
const REFUSAL_SEQ: u32 = 1_000_000;

/// How long a container trusts that it noted a conversation.
const NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The ports the dispatcher works through.
pub struct DispatchPorts {
    pub directory: BotDirectory,
    pub conversations: Arc<dyn ConversationRepo>,
    /// Where approve-once grants are consumed.
    pub grants: Arc<dyn ApprovalRepo>,
    pub runtime: Arc<dyn AgentInvoker>,
    pub access: AgentAccess,
}

impl Dispatcher {
    pub fn new(ports: DispatchPorts, history_limit: i32) -> Self {
        let DispatchPorts { directory, conversations, grants, runtime, access } = ports;
        Self {
            directory,
            conversations,
            grants,
            runtime,
            history_limit: history_limit.clamp(1, 200),
            access,
            approvals: None,
            gate: None,
            quotas: None,
            commands: None,
            intake: None,
            providers: None,
            noted: crate::cache::TtlCache::new(NOTE_EVERY, 10_000),
        }
    }

    /// The bot's access policy is enforced here, before anything is stored or run
    /// ([`crate::access`]); without a gate every message is admitted (unit tests of other parts).
    pub fn with_access(mut self, gate: AccessGate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The tenant's quotas (budget, message rates, concurrent runs) are enforced here, before
    /// any agent run ([`crate::quota`]); without them nothing is limited (unit tests of other parts).
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// Chat commands (`/help`, `/new`, `/status`, `/usage`) are answered here, never by an agent
    /// ([`crate::chat_commands`]).
    pub fn with_commands(mut self, commands: ChatCommands) -> Self {
        self.commands = Some(commands);
        self
    }

    /// The files messages carry are downloaded and stored here, before the run
    /// ([`crate::flows::intake`]).
    pub fn with_media(mut self, intake: crate::flows::intake::MediaIntake) -> Self {
        self.intake = Some(intake);
        self
    }

    /// The run's model provider (the bot's, else the tenant's, with its key) is resolved here
    /// ([`crate::flows::provider`]).
    pub fn with_providers(mut self, providers: crate::flows::provider::ProviderResolver) -> Self {
        self.providers = Some(providers);
        self
    }

    /// Approval commands (`/approve`, `/reject`, `/pending`) are handled here, never by an agent.
    pub fn with_approvals(mut self, flow: ApprovalFlow) -> Self {
        self.approvals = Some(flow);
        self
    }

    pub async fn dispatch(&self, envelope: InboundEnvelope) -> Result<DispatchOutcome, DispatchError> {
        let item = envelope.item();
        let span = super::message_span(&item.conversation, item.message.message_id.as_str(), None);
        self.dispatch_in_span(envelope).instrument(span).await
    }

    async fn dispatch_in_span(&self, envelope: InboundEnvelope) -> Result<DispatchOutcome, DispatchError> {
        let (item, scheduled, isolated) = match &envelope {
            InboundEnvelope::ChannelMessage { item, .. } => (item.clone(), false, false),
            InboundEnvelope::ScheduledTask { item, isolated, .. } => (item.clone(), true, *isolated),
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
            crate::observe::audit::emit(
                crate::observe::audit::AuditKind::SecurityViolation,
                conversation,
                serde_json::json!({"what": "inbound_message", "reason": "tenant does not own the bot"}),
            );
            return Ok(DispatchOutcome::Dropped("tenant does not own the bot"));
        }
        if record.bot.status != BotStatus::Active {
            // Queued before the bot was turned off: kept as history, not run.
            if let InboundEnvelope::ChannelMessage { .. } = &envelope {
                self.conversations.store_inbound(&item).await?;
            }
            return Ok(DispatchOutcome::Dropped("bot is disabled"));
        }

        // History up to this message (not the lines that arrived after it), and the message's own
        // line if it has one: a first delivery has none (the webhook only queued it), a message
        // handed over before has one with the mark, and one kept as context or a scheduled firing
        // has one without.
        let key = inbound_sort_key(item.message.sent_at_ms, item.message.message_id.as_str());
        let stored = self.conversations.recent_messages(conversation, Some(&key), self.history_limit + 1).await?;
        let current = stored.iter().find(|m| m.sk == key);
        if current.is_some_and(|m| m.dispatched_at_ms.is_some()) {
            tracing::info!(event = "dispatch_skipped", reason = "already dispatched", message_id = %item.message.message_id);
            return Ok(DispatchOutcome::AlreadyDispatched);
        }
        // A channel message whose line this dispatch writes first is a new message in.
        let message_in = current.is_none() && !scheduled;
        // Who may talk to the bot. Firings and the platform's resume messages are the platform's
        // own, not someone writing.
        let platform = item.message.message_id.as_str().ends_with(RESUME_SUFFIX);
        if !scheduled
            && !platform
            && let Some(gate) = &self.gate
        {
            match gate.admit(&record, &item).await? {
                Admission::Admit => {}
                Admission::Handled => {
                    self.store_dispatched(&item, message_in).await?;
                    return Ok(DispatchOutcome::Dispatched);
                }
                Admission::Refused(reason) => return Ok(DispatchOutcome::Refused(reason)),
            }
        }
        if !scheduled
            && let Some(flow) = &self.approvals
            && let Some(outcome) = flow.handle_command(&item).await?
        {
            // Stored and marked after it was handled: a failure in between handles it again,
            // and each decision is a conditional write that decides once.
            self.store_dispatched(&item, message_in).await?;
            tracing::info!(event = "approval_command", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, message_id = %item.message.message_id, outcome = ?outcome);
            return Ok(DispatchOutcome::Dispatched);
        }
        // Message rates: every message someone sends past this point counts, run or not.
        if !scheduled
            && !platform
            && let Some(quotas) = &self.quotas
            && let RateCheck::Over { .. } = quotas.check_rate(&item).await?
        {
            // Kept as context (no dispatched mark): it was said, the agent sees it with the
            // next message it answers, and it is never taken up as lost work.
            if self.conversations.store_inbound(&item).await? == crate::domain::records::StoreOutcome::Stored
                && message_in
            {
                crate::observe::metrics::count(crate::observe::metrics::Metric::MessagesIn, &conversation.tenant_id);
            }
            return Ok(DispatchOutcome::OverRate);
        }
        // Chat commands, answered without an agent. Stored after the answer, like approval
        // commands: a failure in between answers again, which changes nothing.
        if !scheduled
            && !platform
            && let Some(commands) = &self.commands
        {
            match commands.handle(&record.bot, &item).await? {
                Handled::No => {}
                Handled::Answered(_) => {
                    self.store_dispatched(&item, message_in).await?;
                    return Ok(DispatchOutcome::Dispatched);
                }
                Handled::FreshStart => {
                    self.store_line(&item, message_in, true).await?;
                    return Ok(DispatchOutcome::Dispatched);
                }
            }
        }
        // No agent run (so no model call) once the month's budget is spent; approval and chat
        // commands, handled above, still work.
        if let Some(quotas) = &self.quotas
            && let BudgetCheck::Spent { .. } = quotas.check_budget(&item).await?
        {
            self.store_dispatched(&item, message_in).await?;
            return Ok(DispatchOutcome::OverBudget);
        }
        // The message's files, before a run slot is taken: a download retried through the queue
        // holds no slot meanwhile.
        let taken = match &self.intake {
            Some(intake) if !scheduled => intake.take_in(&self.directory, &record, &item).await?,
            _ => crate::flows::intake::TakenIn::default(),
        };
        if !taken.refusals.is_empty() {
            let nothing_left = item.message.text.trim().is_empty() && taken.stored.is_empty();
            // Alone, the refusal is the message's answer; beside a run, it is numbered apart from
            // the run's answers (which count from 1), so neither replaces the other.
            let seq = if nothing_left { 1 } else { REFUSAL_SEQ };
            if let Some(flow) = &self.approvals {
                flow.answer_seq(&item, seq, &taken.refusals.join("\n"), Vec::new()).await?;
            }
            if nothing_left {
                self.store_dispatched(&item, message_in).await?;
                return Ok(DispatchOutcome::Dispatched);
            }
        }
        // The tenant's own provider, before a slot is taken: a key that is gone answers the user
        // and runs nothing (never the platform's model instead); SSM failing is retried.
        let provider = match &self.providers {
            Some(providers) => match providers.resolve(&record).await {
                Ok(grant) => grant,
                Err(crate::flows::provider::ProviderError::KeyMissing { parameter }) => {
                    tracing::error!(event = "provider_key_missing", tenant_id = %conversation.tenant_id,
                        bot_id = %conversation.bot_id, parameter = %parameter, "no run: the provider's key is missing");
                    if let Some(flow) = &self.approvals {
                        flow.answer_seq(&item, 1, crate::flows::provider::KEY_MISSING_ANSWER, Vec::new()).await?;
                    }
                    self.store_dispatched(&item, message_in).await?;
                    return Ok(DispatchOutcome::Dropped("model provider key missing"));
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        // A run slot, last: held from here until the run's end, so nothing above holds one.
        if let Some(quotas) = &self.quotas
            && quotas.take_run_slot(&envelope).await? == RunCheck::Waiting
        {
            return Ok(DispatchOutcome::Waiting);
        }
        // An isolated scheduled task runs without the conversation's history. Without its own
        // line the read holds one line more than the limit: the newest `history_limit` are kept.
        let history = if isolated {
            Vec::new()
        } else {
            // Nothing before the newest `/new`.
            let before: Vec<_> = MessageItem::since_fresh_start(&stored).iter().filter(|m| m.sk != key).collect();
            let skip = before.len().saturating_sub(usize::try_from(self.history_limit).unwrap_or(0));
            before[skip..].iter().map(|m| m.to_history()).collect()
        };

        // Earlier messages handed to an agent and never answered, from the same lines (no
        // lookup of the agent's own): a recycled microVM's lost work. The agent skips those it
        // accepted itself.
        let unanswered = lost_work(MessageItem::since_fresh_start(&stored), &key, item.message.sent_at_ms);

        // The run an approve-once decision resumes gets that one grant (marked used here, by this
        // message, so a redelivery gets it again and nothing else ever does).
        let grant = match item.message.message_id.as_str().strip_suffix(RESUME_SUFFIX) {
            Some(request_id) if !scheduled => {
                consume_once_grant(
                    self.grants.as_ref(),
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
        // The bot's own MCP servers with their headers (no other bot's are ever read).
        let mcp_servers = crate::flows::extensions::mcp_grants(&self.directory, &record).await?;
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
            trace_id: crate::observe::trace_id(),
            memory_reset_at_ms: memory_reset_at(&stored, &key, now_ms()),
            attachments: taken.stored,
            attachment_notes: taken.notes,
            mcp_servers,
            provider,
        };
        let ack = self.runtime.invoke(&session, &invocation).await?;
        if !self.store_dispatched(&item, message_in).await? {
            // Another attempt handed it over between the Query and here (a Lambda that ran past
            // the visibility timeout): that one counted it, and the session acked this as a duplicate.
            tracing::warn!(event = "dispatch_raced", message_id = %item.message.message_id, duplicate = ack.status == AckStatus::Duplicate);
            return Ok(DispatchOutcome::AlreadyDispatched);
        }
        crate::observe::metrics::count(crate::observe::metrics::Metric::AgentInvocations, &conversation.tenant_id);
        crate::observe::audit::emit(
            crate::observe::audit::AuditKind::AgentInvocation,
            conversation,
            serde_json::json!({
                "message_id": item.message.message_id.as_str(),
                "scheduled": scheduled,
                "duplicate": ack.status == AckStatus::Duplicate,
                "grant": invocation.grant.as_ref().map(|g| g.request_id.as_str()),
            }),
        );
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

    /// Stores the message's line with its dispatched mark (one conditional write); `false` if it
    /// was marked already. `message_in`: a channel message stored here for the first time, counted
    /// in `MessagesIn` (context lines are counted by the webhook that stores them; firings and the
    /// platform's resume messages are not messages in).
    async fn store_dispatched(&self, item: &ConversationMessage, message_in: bool) -> Result<bool, DispatchError> {
        self.store_line(item, message_in, false).await
    }

    /// Notes the conversation in its bot's index (the console's history lists it from there).
    /// Best effort: a failure is logged and the message goes on.
    async fn note_conversation(&self, conversation: &crate::domain::ids::ConversationRef) {
        let key = conversation.partition_key();
        if self.noted.get(&key).is_some() {
            return;
        }
        match self.conversations.note_conversation(conversation, now_ms()).await {
            Ok(()) => self.noted.insert(key, ()),
            Err(e) => tracing::warn!(event = "conversation_note_failed", error = %e),
        }
    }

    /// Stores `item` with its dispatched mark (and, for a `/new`, as a fresh start), counting a
    /// new message in once.
    async fn store_line(
        &self,
        item: &ConversationMessage,
        message_in: bool,
        fresh_start: bool,
    ) -> Result<bool, DispatchError> {
        let stored = if fresh_start {
            self.conversations.store_fresh_start(item).await?
        } else {
            self.conversations.store_dispatched(item).await?
        };
        let platform = item.message.message_id.as_str().ends_with(RESUME_SUFFIX);
        if stored {
            self.note_conversation(&item.conversation).await;
        }
        if stored && message_in && !platform {
            crate::observe::metrics::count(crate::observe::metrics::Metric::MessagesIn, &item.conversation.tenant_id);
        }
        Ok(stored)
    }
}

/// When the newest fresh start before `key` was a `/reset` handled within
/// [`crate::domain::envelope::MEMORY_RESET_WINDOW_MS`] of `now`: the agent must drop its cached
/// copy of the memory layer that reset erased.
fn memory_reset_at(stored: &[MessageItem], key: &str, now: i64) -> Option<i64> {
    let newest = stored.iter().rev().find(|m| m.fresh_start && m.sk.as_str() < key)?;
    let reset =
        crate::chat_commands::parse_chat_command(&newest.text) == Some(crate::chat_commands::ChatCommand::Reset);
    // When the dispatcher handled it (the agent's cache runs on this clock), not the channel's
    // send time.
    let at = newest.dispatched_at_ms.unwrap_or(newest.at_ms);
    (reset && now - at <= crate::domain::envelope::MEMORY_RESET_WINDOW_MS).then_some(at)
}

#[cfg(test)]
mod tests;
