//! What the core needs from the outside world, as traits. `clawless-aws` implements each around
//! one AWS service; [`crate::testing`] implements each in memory for unit tests. The flows hold
//! them as `Arc<dyn …>`, so a function wires its adapters once per cold start.
//!
//! Task records and schedules have their own ports beside the task domain
//! ([`crate::tasks::TaskRepo`], [`crate::tasks::ScheduleApi`]).

use async_trait::async_trait;

use crate::approvals::{ApprovalError, ApproverConfig, Decided, Grant};
use crate::domain::credentials::{CredentialError, TenantCredentials};
use crate::domain::envelope::{AgentAck, AgentInvocation, InboundEnvelope, ReplyEnvelope};
use crate::domain::ids::{BotId, ConversationRef, RuntimeSessionId, TenantId};
use crate::domain::model::ConversationMessage;
use crate::domain::permissions::{DecisionRecord, PermissionProfile, PermissionRequest, RequestStatus, UserRef};
use crate::domain::profiles::{ProfileSource, ProfileStoreError};
use crate::domain::records::{BotRecord, MessageItem, ReplyClaim, ReplyLine, ReplyState, StoreOutcome};
use crate::domain::scope::{ScopeError, ScopeKey};
use crate::domain::secrets::{ChannelSecrets, SecretsError};

/// A storage call that failed. The adapter names the operation; the detail never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {detail}")]
    Aws { operation: &'static str, detail: String },
    #[error("S3 {operation} failed: {detail}")]
    Bucket { operation: &'static str, detail: String },
    #[error("stored item is malformed ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
}

/// Bots and their channel bindings.
#[async_trait]
pub trait BotRepo: Send + Sync {
    /// A bot and its channel bindings (one read).
    async fn load_bot(&self, bot_id: &BotId) -> Result<Option<BotRecord>, StoreError>;
}

/// A conversation's lines: inbound messages and the replies to them.
#[async_trait]
pub trait ConversationRepo: Send + Sync {
    /// Notes the conversation in its bot's conversation index (first and last seen), which the
    /// console's history lists. Stores without an index note nothing.
    async fn note_conversation(&self, _conversation: &ConversationRef, _at_ms: i64) -> Result<(), StoreError> {
        Ok(())
    }

    /// Stores an inbound message once: a redelivery of the same channel message is a `Duplicate`.
    /// The webhook stores group messages kept only as context this way; the scheduler stores a
    /// task's firing this way before it queues it.
    async fn store_inbound(&self, item: &ConversationMessage) -> Result<StoreOutcome, StoreError>;
    /// The newest `limit` lines of a conversation up to and including the line `until_sk` (all
    /// lines when `None`), oldest first.
    async fn recent_messages(
        &self,
        conversation: &ConversationRef,
        until_sk: Option<&str>,
        limit: i32,
    ) -> Result<Vec<MessageItem>, StoreError>;
    /// Stores a message handed to an agent, with its dispatched mark, in one conditional write:
    /// the line is written whole unless a line with the mark is there already. A line without the
    /// mark (context the webhook stored, a firing the scheduler stored) is replaced by the marked
    /// one. `false` if the message was already dispatched: its delivery id is taken.
    async fn store_dispatched(&self, item: &ConversationMessage) -> Result<bool, StoreError>;
    /// [`ConversationRepo::store_dispatched`] for a `/new`: the line marks a fresh start, so later
    /// runs see nothing before it.
    async fn store_fresh_start(&self, item: &ConversationMessage) -> Result<bool, StoreError>;
    /// Marks an inbound message answered by a run (idempotent; a missing message is ignored).
    async fn mark_answered(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<(), StoreError>;
    /// One stored inbound message of `conversation`, strongly consistent.
    async fn inbound_message(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<Option<MessageItem>, StoreError>;
    /// How far earlier attempts got with `reply` (one strongly consistent read of its line), so
    /// a redelivered reply is sent once and a partly sent one resumes after its last recorded
    /// piece. Nothing is written before sending: the reply queue is FIFO with one group per
    /// conversation, so the same reply is never being delivered twice at once.
    async fn reply_progress(
        &self,
        reply: &ReplyEnvelope,
        sender_name: &str,
    ) -> Result<(ReplyClaim, ReplyLine), StoreError>;
    /// Records how far sending a reply got: its whole line with `state` and the channel ids of
    /// the pieces sent.
    async fn record_reply(
        &self,
        line: &ReplyLine,
        state: ReplyState,
        channel_message_ids: &[String],
    ) -> Result<(), StoreError>;
    /// Every stored line of a conversation, oldest first (for the CLI and tests).
    async fn conversation(&self, conversation: &ConversationRef) -> Result<Vec<MessageItem>, StoreError> {
        self.recent_messages(conversation, None, 1000).await
    }
}

/// What the reply function keeps about a run's signs of life (see
/// [`crate::domain::progress::RunStatus`]): one item per run, written by trusted code only.
#[async_trait]
pub trait RunStatusRepo: Send + Sync {
    /// The run's status item, read strongly consistent (the run's end may have written it a
    /// moment ago).
    async fn run_status(
        &self,
        conversation: &ConversationRef,
        in_reply_to_at_ms: i64,
        in_reply_to: &str,
    ) -> Result<Option<crate::domain::progress::RunStatus>, StoreError>;
    /// Writes `status` whole if the stored item is still the one it was read as (`version - 1`;
    /// none for version 1). `false` if another write came first: nothing is written.
    async fn put_run_status(&self, status: &crate::domain::progress::RunStatus) -> Result<bool, StoreError>;
}

/// Token use per tenant and month.
#[async_trait]
pub trait UsageRepo: Send + Sync {
    /// Adds a run's token use, and the messages it took, to the tenant's month.
    async fn add_token_usage(
        &self,
        tenant_id: &TenantId,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
        messages: u64,
    ) -> Result<(), StoreError>;
    /// Adds one run's token use to the tenant's month, once per run (the run is named by its
    /// conversation and the message it answered). `false` if it was counted before.
    async fn add_run_usage(
        &self,
        conversation: &ConversationRef,
        in_reply_to: &str,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
        messages: u64,
    ) -> Result<bool, StoreError>;
    /// Adds bytes of files taken in from chats (`inbound`) or sent to them to the tenant's month.
    async fn add_file_bytes(
        &self,
        tenant_id: &TenantId,
        month: &str,
        inbound: u64,
        outbound: u64,
    ) -> Result<(), StoreError>;
    /// A tenant's token use in one month: (input, output, runs).
    async fn token_usage(&self, tenant_id: &TenantId, month: &str) -> Result<(u64, u64, u64), StoreError>;
    /// The month's use with the messages its runs took, strongly consistent (the budget check
    /// reads it before every run).
    async fn month_use(&self, tenant_id: &TenantId, month: &str) -> Result<crate::domain::usage::MonthUse, StoreError>;
    /// The tenant's limits the operator set (strongly consistent; callers cache it).
    async fn quota(&self, tenant_id: &TenantId) -> Result<crate::domain::usage::TenantQuota, StoreError>;
    /// Replaces the tenant's limits (a `None` removes that limit).
    async fn set_quota(
        &self,
        tenant_id: &TenantId,
        quota: &crate::domain::usage::TenantQuota,
    ) -> Result<(), StoreError>;
    /// Claims the one budget notice of `conversation` on `day` (`yyyy-mm-dd`); `false` if taken.
    async fn claim_budget_notice(&self, conversation: &ConversationRef, day: &str) -> Result<bool, StoreError>;
}

/// What the quotas count that is not usage: a tenant's runs under way and messages per minute.
/// Only trusted code reaches these items (agents hold no credentials for the table).
#[async_trait]
pub trait LimitRepo: Send + Sync {
    /// The tenant's runs under way and waiting conversations (strongly consistent).
    async fn run_slots(&self, tenant_id: &TenantId) -> Result<crate::domain::usage::RunSlots, StoreError>;
    /// Writes `slots` as version `slots.version + 1` if the stored version is still
    /// `slots.version`; `false` if another writer came first (read again and retry).
    async fn put_run_slots(
        &self,
        tenant_id: &TenantId,
        slots: &crate::domain::usage::RunSlots,
    ) -> Result<bool, StoreError>;
    /// Frees `conversation`'s slot if the message it holds is one of `answered` (a run's end
    /// names every message it took); `false` if the slot holds another message or is gone.
    async fn release_run(&self, conversation: &ConversationRef, answered: &[&str]) -> Result<bool, StoreError>;
    /// Counts one message against `key` in the minute `minute` (ms since the epoch / 60,000) and
    /// returns the minute's count so far, this one included.
    async fn count_message(&self, tenant_id: &TenantId, key: &str, minute: i64) -> Result<u64, StoreError>;
}

/// The memory bucket, as trusted code reaches it: only to erase a conversation's own layer
/// (`/reset`). Agents read and write memory with the credentials handed to them instead.
#[async_trait]
pub trait MemoryEraser: Send + Sync {
    /// Deletes the conversation's memory layer; erasing one that is not there succeeds.
    async fn erase_conversation_memory(&self, conversation: &ConversationRef) -> Result<(), StoreError>;
}

/// The memory bucket's conversation files, as trusted code reaches them: the dispatcher stores
/// what it downloaded from a chat; the reply function reads what an agent put in the
/// conversation's outbox. Every key is under the conversation's own prefix
/// ([`crate::domain::media`]); callers build keys from the conversation they checked, never
/// from what an agent wrote.
#[async_trait]
pub trait ConversationFiles: Send + Sync {
    /// Stores `bytes` at `key` (overwriting: the same key for every attempt at one file).
    async fn put_file(&self, key: &str, bytes: Vec<u8>, media_type: &str) -> Result<(), StoreError>;
    /// The object at `key`, at most `max_bytes` of it; `Ok(None)` if there is none.
    /// [`FileTooLarge`] when it is larger.
    async fn get_file(&self, key: &str, max_bytes: u64) -> Result<Option<Result<Vec<u8>, FileTooLarge>>, StoreError>;
    /// Deletes the object at `key` (gone already is no error).
    async fn delete_file(&self, key: &str) -> Result<(), StoreError>;
}

/// An object over the size the caller takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTooLarge {
    pub size: u64,
}

/// Permission requests, their decisions, grants and the tenant's approver.
#[async_trait]
pub trait ApprovalRepo: Send + Sync {
    async fn put_approver(&self, approver: &ApproverConfig) -> Result<(), StoreError>;
    async fn approver(&self, tenant: &TenantId) -> Result<Option<ApproverConfig>, StoreError>;
    /// Stores a permission request once; `false` if it was already stored (a redone run).
    async fn put_request(&self, request: &PermissionRequest) -> Result<bool, StoreError>;
    /// One request, strongly consistent.
    async fn request(&self, tenant: &TenantId, request_id: &str) -> Result<Option<PermissionRequest>, StoreError>;
    /// A tenant's permission requests, oldest first.
    async fn requests(&self, tenant: &TenantId) -> Result<Vec<PermissionRequest>, StoreError>;
    /// Moves a pending, unexpired request to `status` with `decision`, in one conditional write.
    /// `expired_ok` lets the timeout expire a request whose time is up.
    async fn decide(
        &self,
        tenant: &TenantId,
        request_id: &str,
        status: RequestStatus,
        decision: &DecisionRecord,
        expired_ok: bool,
    ) -> Result<Decided, StoreError>;
    /// Grants `request`'s tool to its requester until `expires_at_ms`.
    async fn put_grant(
        &self,
        request: &PermissionRequest,
        granted_by: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// A temporary grant of `wanted`'s tool to its requester, if one is in force at `now`.
    async fn temporary_grant(&self, wanted: &PermissionRequest, now: i64) -> Result<Option<Grant>, StoreError>;
    /// Marks an approve-once request used by `message_id`, in one conditional write: `true` if
    /// it was unused or already used by that same message.
    async fn mark_once_used(
        &self,
        tenant: &TenantId,
        request_id: &str,
        message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The tenant's pending, unexpired requests at `now`, oldest first.
    async fn pending_requests(&self, tenant: &TenantId, now: i64) -> Result<Vec<PermissionRequest>, StoreError>;
    /// Claims the one "held back" message of `request`'s conversation in `window`, in one
    /// conditional write (kept until `expires_at`, in seconds). `true` if it is `request`'s to
    /// send: the first held back in the window, or a redelivery of that same request.
    async fn claim_held_notice(
        &self,
        request: &PermissionRequest,
        window: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Records that the approver was told; `false` if that was recorded before.
    async fn mark_noticed(&self, tenant: &TenantId, request_id: &str) -> Result<bool, StoreError>;
}

/// Permission profiles: per tenant, and per end user of the tenant's bots.
#[async_trait]
pub trait ProfileRepo: Send + Sync {
    async fn put(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
        profile: &PermissionProfile,
    ) -> Result<(), ProfileStoreError>;
    /// The stored profile at exactly this level, if any.
    async fn get(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
    ) -> Result<Option<PermissionProfile>, ProfileStoreError>;
    /// The profile that applies to `user`: their override, else the tenant's, else least privilege.
    async fn resolve(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
    ) -> Result<(PermissionProfile, ProfileSource), ProfileStoreError> {
        if let Some(u) = user
            && let Some(p) = self.get(tenant, Some(u)).await?
        {
            return Ok((p, ProfileSource::User));
        }
        Ok(match self.get(tenant, None).await? {
            Some(p) => (p, ProfileSource::Tenant),
            None => (PermissionProfile::least_privilege(), ProfileSource::Default),
        })
    }
}

/// Channel secrets by parameter name.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// `None` when there is no such parameter.
    async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError>;
}

/// A queue send that failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS SendMessage to {queue} failed: {detail}")]
    Send { queue: String, detail: String },
    #[error("could not encode the message: {0}")]
    Encode(String),
}

/// The inbound FIFO queue (webhook and scheduler → dispatcher).
#[async_trait]
pub trait InboundQueue: Send + Sync {
    /// Enqueues in the conversation's group, deduplicated by [`InboundEnvelope::dedup_id`].
    async fn send_inbound(&self, envelope: &InboundEnvelope) -> Result<String, QueueError>;

    /// Enqueues `envelope` again at the back of its group, as a new queue message (`attempt`
    /// makes its deduplication id differ from the first's): a message waiting for a run slot
    /// goes round rather than failing towards the DLQ.
    async fn send_inbound_again(&self, envelope: &InboundEnvelope, attempt: &str) -> Result<String, QueueError>;

    /// Enqueues several messages (those of one webhook request), each as [`InboundQueue::send_inbound`]
    /// would: `Ok` only once every one is in the queue. An adapter that can sends them in one call.
    async fn send_inbound_all(&self, envelopes: &[InboundEnvelope]) -> Result<(), QueueError> {
        for envelope in envelopes {
            self.send_inbound(envelope).await?;
        }
        Ok(())
    }
}

/// The reply FIFO queue (agent and platform → reply function).
#[async_trait]
pub trait ReplyQueue: Send + Sync {
    /// Enqueues in the conversation's group, deduplicated by [`ReplyEnvelope::dedup_id`].
    async fn send_reply(&self, reply: &ReplyEnvelope) -> Result<String, QueueError>;
}

/// Invoking the agent runtime failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentCoreError {
    #[error("InvokeAgentRuntime failed: {detail}")]
    Invoke { detail: String, retryable: bool },
    #[error("the agent's answer could not be read: {0}")]
    BadAck(String),
}

/// The agent runtime: one session (microVM) per conversation.
#[async_trait]
pub trait AgentInvoker: Send + Sync {
    async fn invoke(
        &self,
        session: &RuntimeSessionId,
        invocation: &AgentInvocation,
    ) -> Result<AgentAck, AgentCoreError>;
}

/// Credentials scoped to one tenant and bot, for the agent of one conversation.
#[async_trait]
pub trait CredentialIssuer: Send + Sync {
    async fn for_conversation(&self, conversation: &ConversationRef) -> Result<TenantCredentials, CredentialError>;
}

/// The key scope tokens are minted and checked with.
#[async_trait]
pub trait ScopeKeys: Send + Sync {
    async fn get(&self) -> Result<&ScopeKey, ScopeError>;
}

/// A scope key held in memory (the local run's fixed key, unit tests).
pub struct FixedScopeKey(pub ScopeKey);

#[async_trait]
impl ScopeKeys for FixedScopeKey {
    async fn get(&self) -> Result<&ScopeKey, ScopeError> {
        Ok(&self.0)
    }
}

/// The one-time schedules that expire pending approval requests at their expiry.
#[async_trait]
pub trait TimeoutScheduler: Send + Sync {
    /// Creates the schedule firing at the request's expiry; an existing one is fine (retries).
    async fn create(&self, request: &PermissionRequest) -> Result<(), ApprovalError>;
    /// Deletes the schedule of a decided request; already gone is fine.
    async fn delete(&self, request_id: &str) -> Result<(), ApprovalError>;
}
