//! The in-memory ports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::approvals::{ApprovalError, ApproverConfig, Decided, Grant};
use crate::domain::envelope::{InboundEnvelope, ReplyEnvelope};
use crate::domain::ids::{BotId, ConversationRef, TenantId};
use crate::domain::model::{ConversationMessage, now_ms};
use crate::domain::permissions::{DecisionRecord, PermissionProfile, PermissionRequest, RequestStatus, UserRef};
use crate::domain::profiles::ProfileStoreError;
use crate::domain::progress::RunStatus;
use crate::domain::records::{
    BotRecord, MessageItem, ReplyClaim, ReplyLine, ReplyState, StoreOutcome, inbound_sort_key, reply_sort_key,
};
use crate::domain::secrets::{ChannelSecrets, Secret, SecretsError};
use crate::domain::trigger::Trigger;
use crate::ports::{
    ApprovalRepo, BotRepo, ConversationRepo, InboundQueue, ProfileRepo, QueueError, ReplyQueue, RunStatusRepo,
    SecretSource, StoreError, TimeoutScheduler, UsageRepo,
};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Operations told to fail, by name (the port method's name).
#[derive(Debug, Clone, Default)]
pub struct FailSwitch(Arc<Mutex<HashSet<&'static str>>>, Arc<Mutex<BTreeMap<&'static str, usize>>>);

impl FailSwitch {
    /// Makes `operation` fail until [`FailSwitch::off`].
    pub fn on(&self, operation: &'static str) {
        lock(&self.0).insert(operation);
    }

    pub fn off(&self, operation: &'static str) {
        lock(&self.0).remove(operation);
    }

    /// Calls so far of each operation that goes through [`FailSwitch::store`] (failed ones
    /// included, as a failed AWS call is still a call).
    pub fn calls(&self) -> BTreeMap<&'static str, usize> {
        lock(&self.1).clone()
    }

    pub(super) fn store(&self, operation: &'static str) -> Result<(), StoreError> {
        *lock(&self.1).entry(operation).or_default() += 1;
        if lock(&self.0).contains(operation) {
            return Err(StoreError::Aws { operation, detail: "injected failure".into() });
        }
        Ok(())
    }

    pub(super) fn is_on(&self, operation: &'static str) -> bool {
        lock(&self.0).contains(operation)
    }
}

/// Input, output tokens and runs, per tenant and month.
/// (input tokens, output tokens, runs, messages) per tenant and month.
type Usage = HashMap<(TenantId, String), (u64, u64, u64, u64)>;
/// (request id, expiry) per tenant, tool and `{channel}:{user}`.
type Grants = HashMap<(TenantId, String, String), (String, i64)>;

/// The platform table in memory: bots, conversation lines, usage and approvals.
#[derive(Default)]
pub struct MemoryStore {
    pub fail: FailSwitch,
    pub(super) bots: Mutex<HashMap<BotId, BotRecord>>,
    /// Access items by (partition, sort key), as [`crate::testing::access`] keeps them.
    pub(super) access: Mutex<BTreeMap<(String, String), super::access::AccessEntry>>,
    lines: Mutex<BTreeMap<(String, String), MessageItem>>,
    usage: Mutex<Usage>,
    /// Bytes of files in and out per (tenant, month).
    file_bytes: Mutex<HashMap<(TenantId, String), (u64, u64)>>,
    runs: Mutex<HashSet<String>>,
    quotas: Mutex<HashMap<TenantId, crate::domain::usage::TenantQuota>>,
    run_slots: Mutex<HashMap<TenantId, crate::domain::usage::RunSlots>>,
    rates: Mutex<HashMap<(TenantId, String, i64), u64>>,
    budget_notices: Mutex<HashSet<String>>,
    approvers: Mutex<HashMap<TenantId, ApproverConfig>>,
    requests: Mutex<BTreeMap<(TenantId, String), PermissionRequest>>,
    noticed: Mutex<HashSet<(TenantId, String)>>,
    grants: Mutex<Grants>,
    held: Mutex<HashMap<(String, i64), String>>,
    /// Run status items by (partition, sort key).
    run_statuses: Mutex<BTreeMap<(String, String), RunStatus>>,
    bot_loads: AtomicUsize,
}

impl MemoryStore {
    /// The table's conditional put of a dispatched line: no line, or one without the mark.
    fn put_dispatched(&self, line: MessageItem) -> Result<bool, StoreError> {
        let mut lines = lock(&self.lines);
        let key = (line.pk.clone(), line.sk.clone());
        if lines.get(&key).is_some_and(|old| old.dispatched_at_ms.is_some()) {
            return Ok(false);
        }
        lines.insert(key, line);
        Ok(true)
    }

    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Stores a bot with its channels. As in the table, the trigger is stored as its pattern
    /// (`bot.trigger`) and compiled when the bot is loaded: an invalid one is no trigger.
    pub fn put_bot(&self, mut record: BotRecord) {
        record.trigger = record.bot.trigger.as_deref().and_then(|p| Trigger::compile(p).ok());
        lock(&self.bots).insert(record.bot.bot_id.clone(), record);
    }

    /// How often a bot was read (to see caching work).
    pub fn bot_loads(&self) -> usize {
        self.bot_loads.load(Ordering::SeqCst)
    }

    /// Every line of `conversation`, oldest first.
    pub fn lines(&self, conversation: &ConversationRef) -> Vec<MessageItem> {
        let pk = conversation.partition_key();
        lock(&self.lines).iter().filter(|((p, _), _)| *p == pk).map(|(_, m)| m.clone()).collect()
    }

    /// Puts a line as stored (a test's setup).
    pub fn put_line(&self, line: MessageItem) {
        lock(&self.lines).insert((line.pk.clone(), line.sk.clone()), line);
    }

    pub fn put_request_as_is(&self, request: PermissionRequest) {
        lock(&self.requests).insert((request.conversation.tenant_id.clone(), request.request_id.to_string()), request);
    }

    fn add_usage(&self, tenant_id: &TenantId, month: &str, input_tokens: u64, output_tokens: u64, messages: u64) {
        let mut usage = lock(&self.usage);
        let entry = usage.entry((tenant_id.clone(), month.to_owned())).or_default();
        *entry = (entry.0 + input_tokens, entry.1 + output_tokens, entry.2 + 1, entry.3 + messages);
    }
}

#[async_trait]
impl BotRepo for MemoryStore {
    async fn load_bot(&self, bot_id: &BotId) -> Result<Option<BotRecord>, StoreError> {
        self.fail.store("load_bot")?;
        self.bot_loads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.bots).get(bot_id).cloned())
    }
}

#[async_trait]
impl ConversationRepo for MemoryStore {
    async fn store_inbound(&self, item: &ConversationMessage) -> Result<StoreOutcome, StoreError> {
        self.fail.store("store_inbound")?;
        let line = MessageItem::inbound(item, now_ms());
        let mut lines = lock(&self.lines);
        if let Some(old) = lines.get(&(line.pk.clone(), line.sk.clone())) {
            return Ok(StoreOutcome::Duplicate { dispatched: old.dispatched_at_ms.is_some() });
        }
        lines.insert((line.pk.clone(), line.sk.clone()), line);
        Ok(StoreOutcome::Stored)
    }

    async fn recent_messages(
        &self,
        conversation: &ConversationRef,
        until_sk: Option<&str>,
        limit: i32,
    ) -> Result<Vec<MessageItem>, StoreError> {
        self.fail.store("recent_messages")?;
        let mut lines: Vec<MessageItem> = self
            .lines(conversation)
            .into_iter()
            .filter(|m| m.sk.starts_with("MSG#") && until_sk.is_none_or(|until| m.sk.as_str() <= until))
            .collect();
        let keep = usize::try_from(limit.max(1)).unwrap_or(1);
        if lines.len() > keep {
            lines.drain(..lines.len() - keep);
        }
        Ok(lines)
    }

    async fn store_dispatched(&self, item: &ConversationMessage) -> Result<bool, StoreError> {
        self.fail.store("store_dispatched")?;
        self.put_dispatched(MessageItem::dispatched(item, now_ms()))
    }

    async fn store_fresh_start(&self, item: &ConversationMessage) -> Result<bool, StoreError> {
        self.fail.store("store_dispatched")?;
        self.put_dispatched(MessageItem { fresh_start: true, ..MessageItem::dispatched(item, now_ms()) })
    }

    async fn mark_answered(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<(), StoreError> {
        self.fail.store("mark_answered")?;
        let key = (conversation.partition_key(), inbound_sort_key(sent_at_ms, message_id));
        if let Some(line) = lock(&self.lines).get_mut(&key) {
            line.answered_at_ms.get_or_insert_with(now_ms);
        }
        Ok(())
    }

    async fn inbound_message(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<Option<MessageItem>, StoreError> {
        self.fail.store("inbound_message")?;
        let key = (conversation.partition_key(), inbound_sort_key(sent_at_ms, message_id));
        Ok(lock(&self.lines).get(&key).cloned())
    }

    async fn reply_progress(
        &self,
        reply: &ReplyEnvelope,
        sender_name: &str,
    ) -> Result<(ReplyClaim, ReplyLine), StoreError> {
        self.fail.store("reply_progress")?;
        let key = (reply.conversation.partition_key(), reply_sort_key(reply));
        Ok(match lock(&self.lines).get(&key) {
            None => (ReplyClaim::New, ReplyLine::new(reply, sender_name)),
            Some(old) => {
                let line = ReplyLine::stored(old.clone());
                (line.claim(), line)
            }
        })
    }

    async fn record_reply(
        &self,
        line: &ReplyLine,
        state: ReplyState,
        channel_message_ids: &[String],
    ) -> Result<(), StoreError> {
        self.fail.store("record_reply")?;
        self.put_line(line.recorded(state, channel_message_ids));
        Ok(())
    }
}

impl MemoryStore {
    /// Every run status item stored so far.
    pub fn run_statuses(&self) -> Vec<RunStatus> {
        lock(&self.run_statuses).values().cloned().collect()
    }
}

#[async_trait]
impl RunStatusRepo for MemoryStore {
    async fn run_status(
        &self,
        conversation: &ConversationRef,
        in_reply_to_at_ms: i64,
        in_reply_to: &str,
    ) -> Result<Option<RunStatus>, StoreError> {
        self.fail.store("run_status")?;
        let key = (
            conversation.partition_key(),
            crate::domain::progress::run_status_sort_key(in_reply_to_at_ms, in_reply_to),
        );
        Ok(lock(&self.run_statuses).get(&key).cloned())
    }

    async fn put_run_status(&self, status: &RunStatus) -> Result<bool, StoreError> {
        self.fail.store("put_run_status")?;
        let mut items = lock(&self.run_statuses);
        let key = (status.conversation.partition_key(), status.sort_key());
        let stored = items.get(&key).map(|s| s.version).unwrap_or(0);
        if stored + 1 != status.version {
            return Ok(false);
        }
        items.insert(key, status.clone());
        Ok(true)
    }
}

#[async_trait]
impl UsageRepo for MemoryStore {
    async fn add_token_usage(
        &self,
        tenant_id: &TenantId,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
        messages: u64,
    ) -> Result<(), StoreError> {
        self.fail.store("add_token_usage")?;
        self.add_usage(tenant_id, month, input_tokens, output_tokens, messages);
        Ok(())
    }

    async fn add_run_usage(
        &self,
        conversation: &ConversationRef,
        in_reply_to: &str,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
        messages: u64,
    ) -> Result<bool, StoreError> {
        self.fail.store("add_run_usage")?;
        // The marker and the count in one step, as the table's transaction writes both or neither.
        if !lock(&self.runs).insert(format!("{}#{in_reply_to}", conversation.partition_key())) {
            return Ok(false);
        }
        self.add_usage(&conversation.tenant_id, month, input_tokens, output_tokens, messages);
        Ok(true)
    }

    async fn token_usage(&self, tenant_id: &TenantId, month: &str) -> Result<(u64, u64, u64), StoreError> {
        self.fail.store("token_usage")?;
        let (input, output, runs, _) =
            lock(&self.usage).get(&(tenant_id.clone(), month.to_owned())).copied().unwrap_or_default();
        Ok((input, output, runs))
    }

    async fn month_use(&self, tenant_id: &TenantId, month: &str) -> Result<crate::domain::usage::MonthUse, StoreError> {
        self.fail.store("token_usage")?;
        let (input_tokens, output_tokens, runs, messages) =
            lock(&self.usage).get(&(tenant_id.clone(), month.to_owned())).copied().unwrap_or_default();
        let (file_bytes_in, file_bytes_out) =
            lock(&self.file_bytes).get(&(tenant_id.clone(), month.to_owned())).copied().unwrap_or_default();
        Ok(crate::domain::usage::MonthUse {
            input_tokens,
            output_tokens,
            runs,
            messages,
            file_bytes_in,
            file_bytes_out,
        })
    }

    async fn add_file_bytes(
        &self,
        tenant_id: &TenantId,
        month: &str,
        inbound: u64,
        outbound: u64,
    ) -> Result<(), StoreError> {
        self.fail.store("add_file_bytes")?;
        let mut bytes = lock(&self.file_bytes);
        let entry = bytes.entry((tenant_id.clone(), month.to_owned())).or_default();
        entry.0 += inbound;
        entry.1 += outbound;
        Ok(())
    }

    async fn quota(&self, tenant_id: &TenantId) -> Result<crate::domain::usage::TenantQuota, StoreError> {
        self.fail.store("quota")?;
        Ok(lock(&self.quotas).get(tenant_id).copied().unwrap_or_default())
    }

    async fn set_quota(
        &self,
        tenant_id: &TenantId,
        quota: &crate::domain::usage::TenantQuota,
    ) -> Result<(), StoreError> {
        self.fail.store("set_quota")?;
        lock(&self.quotas).insert(tenant_id.clone(), *quota);
        Ok(())
    }

    async fn claim_budget_notice(&self, conversation: &ConversationRef, day: &str) -> Result<bool, StoreError> {
        self.fail.store("claim_budget_notice")?;
        Ok(lock(&self.budget_notices).insert(format!("{}#{day}", conversation.partition_key())))
    }
}

/// The table's rules: slots written whole under their version, a release only of the message
/// the slot holds (and it moves the version on), counters per key and minute.
#[async_trait]
impl crate::ports::LimitRepo for MemoryStore {
    async fn run_slots(&self, tenant_id: &TenantId) -> Result<crate::domain::usage::RunSlots, StoreError> {
        self.fail.store("run_slots")?;
        Ok(lock(&self.run_slots).get(tenant_id).cloned().unwrap_or_default())
    }

    async fn put_run_slots(
        &self,
        tenant_id: &TenantId,
        slots: &crate::domain::usage::RunSlots,
    ) -> Result<bool, StoreError> {
        self.fail.store("put_run_slots")?;
        let mut all = lock(&self.run_slots);
        let stored = all.get(tenant_id).map(|s| s.version).unwrap_or(0);
        if stored != slots.version {
            return Ok(false);
        }
        let mut next = slots.clone();
        next.version += 1;
        all.insert(tenant_id.clone(), next);
        Ok(true)
    }

    async fn release_run(&self, conversation: &ConversationRef, answered: &[&str]) -> Result<bool, StoreError> {
        self.fail.store("release_run")?;
        let mut all = lock(&self.run_slots);
        let Some(slots) = all.get_mut(&conversation.tenant_id) else { return Ok(false) };
        let digest = crate::quota::conversation_digest(conversation);
        let holds = slots.runs.get(&digest).is_some_and(|run| answered.contains(&run.message_id.as_str()));
        if holds {
            slots.runs.remove(&digest);
            slots.version += 1;
        }
        Ok(holds)
    }

    async fn count_message(&self, tenant_id: &TenantId, key: &str, minute: i64) -> Result<u64, StoreError> {
        self.fail.store("count_message")?;
        let mut rates = lock(&self.rates);
        let n = rates.entry((tenant_id.clone(), key.to_owned(), minute)).or_default();
        *n += 1;
        Ok(*n)
    }
}

#[async_trait]
impl ApprovalRepo for MemoryStore {
    async fn put_approver(&self, approver: &ApproverConfig) -> Result<(), StoreError> {
        self.fail.store("put_approver")?;
        lock(&self.approvers).insert(approver.tenant_id.clone(), approver.clone());
        Ok(())
    }

    async fn approver(&self, tenant: &TenantId) -> Result<Option<ApproverConfig>, StoreError> {
        self.fail.store("approver")?;
        Ok(lock(&self.approvers).get(tenant).cloned())
    }

    async fn put_request(&self, request: &PermissionRequest) -> Result<bool, StoreError> {
        self.fail.store("put_request")?;
        let key = (request.conversation.tenant_id.clone(), request.request_id.to_string());
        let mut requests = lock(&self.requests);
        if requests.contains_key(&key) {
            return Ok(false);
        }
        requests.insert(key, request.clone());
        Ok(true)
    }

    async fn request(&self, tenant: &TenantId, request_id: &str) -> Result<Option<PermissionRequest>, StoreError> {
        self.fail.store("request")?;
        Ok(lock(&self.requests).get(&(tenant.clone(), request_id.to_owned())).cloned())
    }

    async fn requests(&self, tenant: &TenantId) -> Result<Vec<PermissionRequest>, StoreError> {
        self.fail.store("requests")?;
        let mut all: Vec<PermissionRequest> =
            lock(&self.requests).iter().filter(|((t, _), _)| t == tenant).map(|(_, r)| r.clone()).collect();
        all.sort_by_key(|r| r.created_at_ms);
        Ok(all)
    }

    async fn decide(
        &self,
        tenant: &TenantId,
        request_id: &str,
        status: RequestStatus,
        decision: &DecisionRecord,
        expired_ok: bool,
    ) -> Result<Decided, StoreError> {
        self.fail.store("decide")?;
        let mut requests = lock(&self.requests);
        let Some(r) = requests.get_mut(&(tenant.clone(), request_id.to_owned())) else { return Ok(Decided::NotFound) };
        if r.status != RequestStatus::Pending {
            return Ok(Decided::Already(r.clone()));
        }
        if !expired_ok && r.expires_at_ms <= decision.at_ms {
            return Ok(Decided::Expired(r.clone()));
        }
        r.status = status;
        r.decision = Some(decision.clone());
        Ok(Decided::Now(r.clone()))
    }

    async fn put_grant(
        &self,
        request: &PermissionRequest,
        granted_by: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.fail.store("put_grant")?;
        let user = format!("{}:{}", request.conversation.channel, request.requester_id);
        let _ = granted_by;
        lock(&self.grants).insert(
            (request.conversation.tenant_id.clone(), request.tool.clone(), user),
            (request.request_id.to_string(), expires_at_ms),
        );
        Ok(())
    }

    async fn temporary_grant(&self, wanted: &PermissionRequest, now: i64) -> Result<Option<Grant>, StoreError> {
        self.fail.store("temporary_grant")?;
        let user = format!("{}:{}", wanted.conversation.channel, wanted.requester_id);
        let key = (wanted.conversation.tenant_id.clone(), wanted.tool.clone(), user);
        Ok(lock(&self.grants)
            .get(&key)
            .filter(|(_, expires)| *expires > now)
            .map(|(request_id, expires)| Grant::Temporary { request_id: request_id.clone(), expires_at_ms: *expires }))
    }

    async fn mark_once_used(
        &self,
        tenant: &TenantId,
        request_id: &str,
        message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.fail.store("mark_once_used")?;
        let mut requests = lock(&self.requests);
        let Some(r) = requests.get_mut(&(tenant.clone(), request_id.to_owned())) else { return Ok(false) };
        match &r.used_by {
            None => {
                r.used_at_ms = Some(now);
                r.used_by = Some(message_id.to_owned());
                Ok(true)
            }
            Some(by) => Ok(by == message_id),
        }
    }

    async fn pending_requests(&self, tenant: &TenantId, now: i64) -> Result<Vec<PermissionRequest>, StoreError> {
        self.fail.store("pending_requests")?;
        let mut pending: Vec<PermissionRequest> = lock(&self.requests)
            .iter()
            .filter(|((t, _), r)| t == tenant && r.status == RequestStatus::Pending && r.expires_at_ms > now)
            .map(|(_, r)| r.clone())
            .collect();
        pending.sort_by(|a, b| (a.created_at_ms, &a.request_id).cmp(&(b.created_at_ms, &b.request_id)));
        Ok(pending)
    }

    async fn claim_held_notice(
        &self,
        request: &PermissionRequest,
        window: i64,
        _expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.fail.store("claim_held_notice")?;
        let mut held = lock(&self.held);
        let owner =
            held.entry((request.conversation.partition_key(), window)).or_insert(request.request_id.to_string());
        Ok(*owner == request.request_id.as_str())
    }

    async fn mark_noticed(&self, tenant: &TenantId, request_id: &str) -> Result<bool, StoreError> {
        self.fail.store("mark_noticed")?;
        if !lock(&self.requests).contains_key(&(tenant.clone(), request_id.to_owned())) {
            return Ok(false);
        }
        Ok(lock(&self.noticed).insert((tenant.clone(), request_id.to_owned())))
    }
}

/// A FIFO queue in memory: what was sent, deduplicated by the envelope's id as SQS would (SQS
/// forgets an id after five minutes; this queue never does, which no test outlives).
#[derive(Default)]
pub struct MemoryQueue {
    pub fail: FailSwitch,
    attempts: AtomicUsize,
    calls: AtomicUsize,
    seen: Mutex<HashSet<String>>,
    inbound: Mutex<Vec<InboundEnvelope>>,
    replies: Mutex<Vec<ReplyEnvelope>>,
}

impl MemoryQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn inbound(&self) -> Vec<InboundEnvelope> {
        lock(&self.inbound).clone()
    }

    pub fn replies(&self) -> Vec<ReplyEnvelope> {
        lock(&self.replies).clone()
    }

    /// How many sends the queue accepted, copies it dropped as duplicates included (SQS answers
    /// those with success too): whether a flow sent at all, which [`MemoryQueue::inbound`] alone
    /// cannot tell once a first copy is in.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// How many times the queue was called (a batch is one call, as `SendMessageBatch` is),
    /// failed calls included.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), QueueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.is_on("send") {
            return Err(QueueError::Send { queue: "memory".into(), detail: "injected failure".into() });
        }
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl MemoryQueue {
    fn push_inbound(&self, envelope: &InboundEnvelope) -> String {
        let id = envelope.dedup_id();
        if lock(&self.seen).insert(id.clone()) {
            lock(&self.inbound).push(envelope.clone());
        }
        id
    }
}

#[async_trait]
impl InboundQueue for MemoryQueue {
    async fn send_inbound(&self, envelope: &InboundEnvelope) -> Result<String, QueueError> {
        self.check()?;
        Ok(self.push_inbound(envelope))
    }

    async fn send_inbound_again(&self, envelope: &InboundEnvelope, attempt: &str) -> Result<String, QueueError> {
        self.check()?;
        let id = crate::domain::ids::short_digest(&[&envelope.dedup_id(), attempt]);
        if lock(&self.seen).insert(id.clone()) {
            lock(&self.inbound).push(envelope.clone());
        }
        Ok(id)
    }

    async fn send_inbound_all(&self, envelopes: &[InboundEnvelope]) -> Result<(), QueueError> {
        if envelopes.is_empty() {
            return Ok(());
        }
        self.check()?;
        self.attempts.fetch_add(envelopes.len().saturating_sub(1), Ordering::SeqCst);
        for envelope in envelopes {
            self.push_inbound(envelope);
        }
        Ok(())
    }
}

#[async_trait]
impl ReplyQueue for MemoryQueue {
    async fn send_reply(&self, reply: &ReplyEnvelope) -> Result<String, QueueError> {
        self.check()?;
        let id = reply.dedup_id();
        if lock(&self.seen).insert(id.clone()) {
            lock(&self.replies).push(reply.clone());
        }
        Ok(id)
    }
}

/// Channel secrets in memory, by parameter name.
#[derive(Default)]
pub struct MemorySecrets {
    pub fail: FailSwitch,
    reads: AtomicUsize,
    values: Mutex<HashMap<String, ChannelSecrets>>,
}

impl MemorySecrets {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn put(&self, name: &str, pairs: &[(&str, &str)]) {
        let secrets = ChannelSecrets(pairs.iter().map(|(k, v)| ((*k).to_owned(), Secret::new(*v))).collect());
        lock(&self.values).insert(name.to_owned(), secrets);
    }

    /// How often a parameter was read (to see caching work).
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError> {
        if self.fail.is_on("get") {
            return Err(SecretsError::Aws {
                operation: "GetParameter",
                name: name.to_owned(),
                detail: "injected".into(),
            });
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.values).get(name).cloned())
    }
}

/// Permission profiles in memory.
#[derive(Default)]
pub struct MemoryProfiles {
    profiles: Mutex<HashMap<(TenantId, Option<String>), PermissionProfile>>,
}

#[async_trait]
impl ProfileRepo for MemoryProfiles {
    async fn put(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
        profile: &PermissionProfile,
    ) -> Result<(), ProfileStoreError> {
        lock(&self.profiles).insert((tenant.clone(), user.map(UserRef::to_string)), profile.clone());
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
    ) -> Result<Option<PermissionProfile>, ProfileStoreError> {
        Ok(lock(&self.profiles).get(&(tenant.clone(), user.map(UserRef::to_string))).cloned())
    }
}

/// Approval timeouts in memory: the names of the schedules that exist.
#[derive(Default)]
pub struct MemoryTimeouts {
    scheduled: Mutex<HashSet<String>>,
}

impl MemoryTimeouts {
    pub fn scheduled(&self) -> HashSet<String> {
        lock(&self.scheduled).clone()
    }
}

#[async_trait]
impl TimeoutScheduler for MemoryTimeouts {
    async fn create(&self, request: &PermissionRequest) -> Result<(), ApprovalError> {
        lock(&self.scheduled).insert(request.request_id.to_string());
        Ok(())
    }

    async fn delete(&self, request_id: &str) -> Result<(), ApprovalError> {
        lock(&self.scheduled).remove(request_id);
        Ok(())
    }
}
