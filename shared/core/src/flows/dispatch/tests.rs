//! The dispatcher on the in-memory ports: what it hands an agent, and when it hands nothing.
//!
//! Branches of `Dispatcher::dispatch`, and where each is tested (approval commands and
//! approve-once grants in [`approvals`]):
//! - loading the bot fails → error (the queue retries)                       `failures_before_the_invocation_store_nothing`
//! - bot gone → dropped                                                       `messages_for_gone_disabled_or_foreign_bots_are_dropped`
//! - the message names a tenant that does not own the bot → dropped, `security_tenant_mismatch`   same
//! - bot disabled → dropped, the message kept as history                    same
//! - reading the lines fails → error                                          `failures_before_the_invocation_store_nothing`
//! - no line yet (the webhook only queued it) → invoked, then stored with its mark, in two store calls   `a_first_delivery_is_invoked_then_stored_with_its_mark`
//! - a line without the mark (context the webhook kept, a firing) → invoked, then marked   `a_context_line_that_triggers_later_is_marked`, `scheduled_tasks_are_marked_and_isolated_ones_get_no_history`
//! - already dispatched → nothing invoked: the same update twice in a batch, or days later   `the_same_update_twice_is_handed_over_once`
//! - channel message vs scheduled task → `scheduled`                          `the_invocation_carries_what_the_agent_works_with`, `scheduled_tasks_are_marked_and_isolated_ones_get_no_history`
//! - isolated scheduled task → no history (lost work still)                   `scheduled_tasks_are_marked_and_isolated_ones_get_no_history`
//! - history: the lines before the message (not after), newest `history_limit`, clamped to 1..=200   `history_is_what_came_before_up_to_the_limit`
//! - lost work: dispatched, unanswered, unreplied, within the hour before     `lost_work_is_handed_over_within_the_window`
//! - credentials failure, scope key failure → error, nothing invoked          `failures_before_the_invocation_store_nothing`
//! - AgentCore failure → error, nothing stored; the retry invokes             `an_agentcore_failure_is_retried_and_invokes_again`
//! - storing fails after the invocation → error; the retry invokes again, the agent acks duplicate   `a_failed_store_after_the_invocation_invokes_again`
//! - the store finds the mark (another attempt raced past the read) → already dispatched   `a_hand_over_that_raced_another_is_not_counted_twice`
//! - the invocation: the conversation's scope token, credentials, bot profile, session, the item   `the_invocation_carries_what_the_agent_works_with`

mod access;
mod approvals;
mod budget;
mod commands;
mod providers;
mod quotas;

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::envelope::ReplyEnvelope;
use crate::domain::ids::BotId;
use crate::domain::model::{ConversationMessage, Role};
use crate::domain::records::{BotRecord, ReplyLine, ReplyState};
use crate::ports::FixedScopeKey;
use crate::testing::*;

const MIN: i64 = 60_000;

pub(super) struct Harness {
    pub store: Arc<MemoryStore>,
    pub agent: Arc<MemoryAgent>,
    pub queue: Arc<MemoryQueue>,
    pub credentials: FailSwitch,
    pub scope: Arc<MemoryScopeKey>,
    pub dispatcher: Dispatcher,
}

impl Harness {
    /// A dispatcher for `record`'s bot, without approval commands.
    pub fn new(record: BotRecord, history_limit: i32) -> Self {
        Self::build(record, history_limit, false, false, false)
    }

    /// A dispatcher that handles approval commands, over the same in-memory ports.
    pub fn with_approvals(record: BotRecord) -> Self {
        Self::build(record, 20, true, false, false)
    }

    /// A dispatcher that handles approval commands and enforces the bot's access policy.
    pub fn with_access(record: BotRecord) -> Self {
        Self::build(record, 20, true, true, false)
    }

    /// A dispatcher that handles approval commands and enforces the tenant's quotas (slots
    /// waited for without a pause, so a test never sleeps).
    pub fn with_quotas(record: BotRecord) -> Self {
        Self::build(record, 20, true, false, true)
    }

    fn build(record: BotRecord, history_limit: i32, approvals: bool, access: bool, budget: bool) -> Self {
        let store = MemoryStore::new();
        store.put_bot(record);
        let agent = MemoryAgent::new();
        let queue = MemoryQueue::new();
        let credentials = Arc::new(FixedCredentials::default());
        let scope = MemoryScopeKey::new(scope_key());
        let ports = DispatchPorts {
            directory: BotDirectory::new(store.clone(), None, Duration::from_secs(60)),
            conversations: store.clone(),
            grants: store.clone(),
            runtime: agent.clone(),
            access: AgentAccess { credentials: credentials.clone(), scope: scope.clone() },
        };
        let mut dispatcher = Dispatcher::new(ports, history_limit);
        if approvals {
            let ports = crate::approvals::ApprovalPorts {
                approvals: store.clone(),
                profiles: Arc::new(MemoryProfiles::default()),
                replies: queue.clone(),
                inbound: Some(queue.clone()),
                timeouts: Some(Arc::new(MemoryTimeouts::default())),
            };
            // Replies the flow sends are minted with the same key the reply function checks.
            let flow = ApprovalFlow::new(ports, Arc::new(FixedScopeKey(scope_key())));
            if access {
                dispatcher =
                    dispatcher.with_access(crate::access::AccessGate::new(store.clone(), store.clone(), flow.clone()));
            }
            if budget {
                let runs = crate::quota::RunSettings {
                    wait: Duration::ZERO,
                    poll: Duration::ZERO,
                    ..crate::quota::RunSettings::default()
                };
                let quotas = crate::quota::Quotas::new(
                    store.clone(),
                    store.clone(),
                    flow.clone(),
                    Duration::from_secs(60),
                    runs,
                );
                dispatcher = dispatcher.with_quotas(quotas);
            }
            let commands = crate::chat_commands::ChatCommands::new(store.clone(), flow.clone());
            dispatcher = dispatcher.with_approvals(flow).with_commands(commands);
        }
        Self { store, agent, queue, credentials: credentials.fail.clone(), scope, dispatcher }
    }

    /// Stores `item` without a mark, as the webhook stores a group message kept as context and
    /// the scheduler a firing. (A message the bot answers is only queued: no line until dispatched.)
    pub async fn stored(&self, item: &ConversationMessage) {
        self.store.store_inbound(item).await.expect("stored");
    }

    /// Stores `item` as a dispatcher that handed it over did.
    pub async fn dispatched(&self, item: &ConversationMessage) {
        assert!(self.store.store_dispatched(item).await.expect("stored"));
    }

    /// The stored line of `item`, if any.
    pub fn line(&self, item: &ConversationMessage) -> Option<crate::domain::records::MessageItem> {
        let key = inbound_sort_key(item.message.sent_at_ms, item.message.message_id.as_str());
        self.store.lines(&item.conversation).into_iter().find(|l| l.sk == key)
    }

    /// Whether `item` is stored with its dispatched mark (no line: not dispatched).
    pub fn is_dispatched(&self, item: &ConversationMessage) -> bool {
        self.line(item).is_some_and(|l| l.dispatched_at_ms.is_some())
    }

    pub fn invoked(&self) -> Vec<AgentInvocation> {
        self.agent.invocations().into_iter().map(|(_, invocation)| invocation).collect()
    }
}

pub(super) fn channel(item: &ConversationMessage) -> InboundEnvelope {
    InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: item.clone() }
}

pub(super) fn scheduled(item: &ConversationMessage, isolated: bool) -> InboundEnvelope {
    let task_id = crate::domain::ids::TaskId::parse("k0123456789abcdef0123").expect("a task id");
    InboundEnvelope::ScheduledTask { v: ENVELOPE_VERSION, item: item.clone(), task_id, isolated }
}

fn ids(entries: &[crate::domain::model::HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|h| h.message_id.as_str()).collect()
}

/// A reply line answering `item` (what the reply function writes once it is sent).
async fn replied(h: &Harness, item: &ConversationMessage) {
    let reply = ReplyEnvelope {
        files: Vec::new(),
        v: ENVELOPE_VERSION,
        conversation: item.conversation.clone(),
        in_reply_to: item.message.message_id.clone(),
        in_reply_to_at_ms: item.message.sent_at_ms,
        seq: 1,
        text: format!("answer to {}", item.message.text),
        route: item.message.route.clone(),
        buttons: Vec::new(),
        scope: Default::default(),
        run: None,
        trace_id: None,
    };
    let line = ReplyLine::new(&reply, "Clawd");
    h.store.record_reply(&line, ReplyState::Sent, &["9".into()]).await.expect("recorded");
}

#[tokio::test]
async fn the_invocation_carries_what_the_agent_works_with() {
    let mut record = bot_record();
    record.bot.persona = Some("Terse and kind.".into());
    record.bot.model_provider = Some("bedrock".into());
    record.bot.model_id = Some("some-model".into());
    let h = Harness::new(record, 20);
    let item = message("4242", "1001", "hello", NOW);

    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("dispatched"), DispatchOutcome::Dispatched);
    let invocations = h.agent.invocations();
    assert_eq!(invocations.len(), 1);
    let (session, invocation) = &invocations[0];
    let c = conversation("4242");
    assert_eq!(session, &c.runtime_session_id(), "one session (microVM) per conversation");
    assert_eq!(invocation.item, item);
    assert!(scope_key().verify(&c, &invocation.scope), "the conversation's own scope token");
    assert!(!scope_key().verify(&conversation("4243"), &invocation.scope), "and no other conversation's");
    let credentials = invocation.credentials.as_ref().expect("credentials for the run");
    assert_eq!(credentials.access_key_id, format!("ASIA-{TENANT}"), "vended for the conversation's tenant");
    assert_eq!(invocation.bot.name, "Clawd");
    assert_eq!(invocation.bot.persona.as_deref(), Some("Terse and kind."));
    assert_eq!(
        (invocation.bot.model_provider.as_deref(), invocation.bot.model_id.as_deref()),
        (Some("bedrock"), Some("some-model"))
    );
    assert!(!invocation.scheduled && invocation.history.is_empty() && invocation.unanswered.is_empty());
    assert!(invocation.grant.is_none());
    assert!(h.is_dispatched(&item));
}

#[tokio::test]
async fn messages_for_gone_disabled_or_foreign_bots_are_dropped() {
    let h = Harness::new(bot_record(), 20);
    let (events, _guard) = Events::capture();

    let mut gone = message("4242", "1001", "hello", NOW);
    gone.conversation.bot_id = BotId::parse("b00000000000000000000").expect("a bot id");
    assert_eq!(
        h.dispatcher.dispatch(channel(&gone)).await.expect("ok"),
        DispatchOutcome::Dropped("bot no longer exists")
    );
    assert!(h.line(&gone).is_none(), "nothing stored for a message no agent gets");

    // A queue message naming another tenant for this bot: forged or corrupted, never run.
    let mut foreign = message("4242", "1002", "hello", NOW);
    foreign.conversation.tenant_id = crate::domain::ids::TenantId::parse(OTHER_TENANT).expect("a tenant id");
    let outcome = h.dispatcher.dispatch(channel(&foreign)).await.expect("ok");
    assert_eq!(outcome, DispatchOutcome::Dropped("tenant does not own the bot"));
    assert!(h.line(&foreign).is_none());
    let flagged = events.named("security_tenant_mismatch");
    assert_eq!(flagged.len(), 1, "{:?}", events.names());
    assert_eq!((flagged[0]["claimed_tenant"].as_str(), flagged[0]["bot_id"].as_str()), (OTHER_TENANT, BOT));
    assert_eq!(h.agent.invocations().len(), 0);

    let mut record = bot_record();
    record.bot.status = crate::domain::model::BotStatus::Disabled;
    let off = Harness::new(record, 20);
    let item = message("4242", "1003", "hello", NOW);
    assert_eq!(off.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dropped("bot is disabled"));
    let kept = off.line(&item).expect("queued before the bot was turned off: kept as history");
    assert!(kept.dispatched_at_ms.is_none(), "kept, not run");
    assert!(off.agent.invocations().is_empty());
}

#[tokio::test]
async fn a_first_delivery_is_invoked_then_stored_with_its_mark() {
    let h = Harness::new(bot_record(), 20);
    let earlier = message("4242", "1000", "earlier", NOW - MIN);
    h.stored(&earlier).await;
    let item = message("4242", "1001", "hello", NOW);
    assert!(h.line(&item).is_none(), "the webhook only queued it");
    let calls_before = h.store.fail.calls();

    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 1);
    assert_eq!(ids(&h.invoked()[0].history), ["1000"], "the earlier line is history; the message itself is not");
    let line = h.line(&item).expect("stored once handed over");
    assert_eq!((line.text.as_str(), line.sender_name.as_str(), line.at_ms), ("hello", "Ada", NOW));
    assert_eq!(line.role, Role::User);
    assert!(line.dispatched_at_ms.is_some() && line.answered_at_ms.is_none());
    assert!(line.expires_at > crate::domain::model::now_ms() / 1000, "kept for the retention period");

    // The bot's first load aside, two store calls: the history read and the one conditional write.
    let mut calls = h.store.fail.calls();
    for (op, n) in &calls_before {
        *calls.entry(op).or_default() -= n;
    }
    calls.retain(|op, n| *n > 0 && *op != "load_bot");
    assert_eq!(calls, [("recent_messages", 1), ("store_dispatched", 1)].into());
}

#[tokio::test]
async fn the_same_update_twice_is_handed_over_once() {
    let h = Harness::new(bot_record(), 20);
    // Two copies of one update in one batch (a redelivery after SQS's window met the first still
    // queued): the batch runs a conversation's messages in order, so the second finds the first's line.
    let item = message("4242", "1001", "hello", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(h.invoked().len(), 1);
    assert_eq!(h.store.lines(&conversation("4242")).len(), 1);

    // A channel that retries for days (WhatsApp: 7): its message was handed over long ago.
    let old = message("4242", "wamid.OLD", "are you there?", NOW - 6 * 24 * 60 * MIN);
    h.dispatched(&old).await;
    assert_eq!(h.dispatcher.dispatch(channel(&old)).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(h.invoked().len(), 1, "nothing invoked for it");
}

#[tokio::test]
async fn a_context_line_that_triggers_later_is_marked() {
    // Stored as context (it did not trigger when it came), then queued (a redelivery after the
    // bot's trigger pattern changed, say): handed over once, its line marked, not its own history.
    let h = Harness::new(bot_record(), 20);
    let item = message("4242", "1001", "clawd, hello", NOW);
    h.stored(&item).await;
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert!(h.invoked()[0].history.is_empty());
    assert!(h.is_dispatched(&item));
    assert_eq!(h.store.lines(&conversation("4242")).len(), 1);
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(h.invoked().len(), 1);
}

#[tokio::test]
async fn scheduled_tasks_are_marked_and_isolated_ones_get_no_history() {
    let h = Harness::new(bot_record(), 20);
    let before = message("4242", "1000", "what is on today?", NOW - 2 * MIN);
    h.stored(&before).await;
    let lost = message("4242", "1001", "and tomorrow?", NOW - MIN);
    h.dispatched(&lost).await;

    let firing = message("4242", "task-k1-1763740800", "Summarise the news", NOW);
    h.stored(&firing).await;
    h.dispatcher.dispatch(scheduled(&firing, false)).await.expect("dispatched");
    let isolated = message("4242", "task-k1-1763740860", "Summarise the news", NOW + MIN);
    h.stored(&isolated).await;
    h.dispatcher.dispatch(scheduled(&isolated, true)).await.expect("dispatched");

    let invoked = h.invoked();
    assert!(invoked[0].scheduled && invoked[1].scheduled);
    assert_eq!(ids(&invoked[0].history), ["1000", "1001"]);
    assert!(invoked[1].history.is_empty(), "an isolated task runs without the conversation's history");
    // Lost work is not history: people are waiting for those answers, so any run takes them up.
    assert_eq!(ids(&invoked[1].unanswered), ["1001", "task-k1-1763740800"]);
    assert!(h.is_dispatched(&firing) && h.is_dispatched(&isolated));
}

#[tokio::test]
async fn history_is_what_came_before_up_to_the_limit() {
    let h = Harness::new(bot_record(), 3);
    let earlier: Vec<ConversationMessage> =
        (1..=5).map(|i| message("4242", &format!("100{i}"), &format!("q{i}"), NOW - (6 - i) * MIN)).collect();
    for item in &earlier {
        h.stored(item).await;
    }
    replied(&h, &earlier[4]).await;
    let item = message("4242", "2000", "now", NOW);
    h.stored(&message("4242", "3000", "later", NOW + MIN)).await;
    h.stored(&message("4243", "1999", "another chat", NOW - MIN)).await;

    h.dispatcher.dispatch(channel(&item)).await.expect("dispatched");
    let history = &h.invoked()[0].history;
    assert_eq!(ids(history), ["1004", "1005", "1005#r001"], "the 3 newest lines before it, replies included");
    assert_eq!(history[2].role, Role::Assistant);
    assert_eq!((history[0].text.as_str(), history[0].at_ms), ("q4", NOW - 2 * MIN));

    // The limit is at least one line and at most 200.
    let one = Harness::new(bot_record(), 0);
    let many = Harness::new(bot_record(), 1000);
    for i in 0..205 {
        let line = message("4242", &format!("{}", 5000 + i), "q", NOW - (300 - i) * MIN);
        one.stored(&line).await;
        many.stored(&line).await;
    }
    for h in [&one, &many] {
        h.dispatcher.dispatch(channel(&item)).await.expect("dispatched");
    }
    assert_eq!(ids(&one.invoked()[0].history), ["5204"]);
    assert_eq!(many.invoked()[0].history.len(), 200);
    assert_eq!(many.invoked()[0].history[0].message_id, "5005");
}

#[tokio::test]
async fn lost_work_is_handed_over_within_the_window() {
    let h = Harness::new(bot_record(), 20);
    let too_old = message("4242", "1001", "too old", NOW - 61 * MIN);
    let at_the_edge = message("4242", "1002", "at the edge", NOW - 60 * MIN);
    let answered = message("4242", "1003", "answered", NOW - 50 * MIN);
    let replied_to = message("4242", "1004", "replied", NOW - 40 * MIN);
    let never_dispatched = message("4242", "1005", "never dispatched", NOW - 30 * MIN);
    let lost = message("4242", "1006", "lost", NOW - 10 * MIN);
    for item in [&too_old, &at_the_edge, &answered, &replied_to, &lost] {
        h.dispatched(item).await;
    }
    h.stored(&never_dispatched).await;
    h.store.mark_answered(&answered.conversation, answered.message.sent_at_ms, "1003").await.expect("marked");
    replied(&h, &replied_to).await;
    let item = message("4242", "2000", "are you there?", NOW);

    // The window is measured from the message's own time (NOW is long past by the clock).
    h.dispatcher.dispatch(channel(&item)).await.expect("dispatched");
    let invocation = &h.invoked()[0];
    assert_eq!(ids(&invocation.unanswered), ["1002", "1006"]);
    assert_eq!(invocation.unanswered[1].text, "lost");
    assert_eq!(invocation.history.len(), 7, "lost work is in the history too");
}

#[tokio::test]
async fn failures_before_the_invocation_store_nothing() {
    let h = Harness::new(bot_record(), 20);
    let item = message("4242", "1001", "hello", NOW);

    h.store.fail.on("load_bot");
    assert!(matches!(h.dispatcher.dispatch(channel(&item)).await, Err(DispatchError::Store(_))));
    h.store.fail.off("load_bot");
    h.store.fail.on("recent_messages");
    assert!(matches!(h.dispatcher.dispatch(channel(&item)).await, Err(DispatchError::Store(_))));
    h.store.fail.off("recent_messages");
    h.credentials.on("for_conversation");
    assert!(matches!(h.dispatcher.dispatch(channel(&item)).await, Err(DispatchError::Credentials(_))));
    h.credentials.off("for_conversation");
    h.scope.fail.on("get");
    assert!(matches!(h.dispatcher.dispatch(channel(&item)).await, Err(DispatchError::Scope(_))));
    h.scope.fail.off("get");
    assert!(h.agent.invocations().is_empty(), "no agent runs without its credentials and token");
    assert!(h.line(&item).is_none());

    // Nothing failed for good: the queue's retry goes through.
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(h.agent.invocations().len(), 1);
}

#[tokio::test]
async fn an_agentcore_failure_is_retried_and_invokes_again() {
    let h = Harness::new(bot_record(), 20);
    let item = message("4242", "1001", "hello", NOW);
    h.agent.fail.on("invoke");
    let err = h.dispatcher.dispatch(channel(&item)).await.expect_err("AgentCore failed");
    assert!(matches!(err, DispatchError::AgentCore(AgentCoreError::Invoke { .. })), "{err}");
    // Stored (and marked) only once AgentCore has it: were it stored first, the retry (or a DLQ
    // redrive) would find it marked and skip a message no agent ever got.
    assert!(h.line(&item).is_none(), "nothing stored, so the retry invokes");
    h.agent.fail.off("invoke");

    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 1);
    assert!(h.is_dispatched(&item));
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(h.invoked().len(), 1);
}

#[tokio::test]
async fn a_failed_store_after_the_invocation_invokes_again() {
    let h = Harness::new(bot_record(), 20);
    let (events, _guard) = Events::capture();
    let item = message("4242", "1001", "hello", NOW);
    // The agent has it, but the write is lost (or the Lambda died before it): the queue redelivers.
    h.store.fail.on("store_dispatched");
    assert!(matches!(h.dispatcher.dispatch(channel(&item)).await, Err(DispatchError::Store(_))));
    h.store.fail.off("store_dispatched");
    assert!(h.line(&item).is_none());

    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 2, "invoked again; the session acknowledges it as a duplicate");
    assert!(h.is_dispatched(&item));
    let invoked = events.named("agent_invoked");
    assert_eq!(invoked.len(), 1, "{:?}", events.names());
    assert_eq!(invoked[0]["duplicate"], "true");
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(h.invoked().len(), 2);
}

/// An agent runtime during whose invocation another attempt stores the message with its mark
/// (a Lambda that ran past the visibility timeout while the queue handed the message on).
struct RacedAgent {
    store: Arc<MemoryStore>,
    agent: Arc<MemoryAgent>,
}

#[async_trait::async_trait]
impl crate::ports::AgentInvoker for RacedAgent {
    async fn invoke(
        &self,
        session: &crate::domain::ids::RuntimeSessionId,
        invocation: &AgentInvocation,
    ) -> Result<crate::domain::envelope::AgentAck, AgentCoreError> {
        self.store.store_dispatched(&invocation.item).await.expect("the other attempt stores it");
        self.agent.invoke(session, invocation).await
    }
}

#[tokio::test]
async fn a_hand_over_that_raced_another_is_not_counted_twice() {
    let (events, _guard) = Events::capture();
    let h = Harness::new(bot_record(), 20);
    let raced = Arc::new(RacedAgent { store: h.store.clone(), agent: h.agent.clone() });
    let ports = DispatchPorts {
        directory: BotDirectory::new(h.store.clone(), None, Duration::from_secs(60)),
        conversations: h.store.clone(),
        grants: h.store.clone(),
        runtime: raced,
        access: AgentAccess { credentials: Arc::new(FixedCredentials::default()), scope: h.scope.clone() },
    };
    let dispatcher = Dispatcher::new(ports, 20);
    let item = message("4242", "1001", "hello", NOW);
    assert_eq!(dispatcher.dispatch(channel(&item)).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(events.named("dispatch_raced").len(), 1, "{:?}", events.names());
    assert!(events.named("agent_invoked").is_empty(), "the other attempt logs and counts the hand-over");
    assert!(h.is_dispatched(&item));
}
