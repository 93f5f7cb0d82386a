//! The messages functions hand one another: the inbound queue body, the AgentCore invocation
//! payload and the reply queue body. Versioned, so a deploy can change them without losing
//! what is already queued.

use serde::{Deserialize, Serialize};

use crate::domain::credentials::TenantCredentials;
use crate::domain::ids::{ConversationRef, MessageId, TaskId};
use crate::domain::model::{ConversationMessage, HistoryEntry, ReplyRoute};
use crate::domain::permissions::PermissionRequest;
use crate::domain::progress::RunProgress;
use crate::domain::scope::ScopeToken;

pub const ENVELOPE_VERSION: u32 = 1;

/// Body of a message on the inbound FIFO queue (webhook or scheduler → dispatcher).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundEnvelope {
    ChannelMessage {
        v: u32,
        #[serde(flatten)]
        item: ConversationMessage,
    },
    /// A firing of a scheduled task, stored in its conversation like a message (sender
    /// `scheduler`, the task's prompt as text). The agent runs it knowing nobody is waiting.
    ScheduledTask {
        v: u32,
        #[serde(flatten)]
        item: ConversationMessage,
        task_id: TaskId,
        /// Run without the conversation's history (`context_mode: isolated`).
        #[serde(default)]
        isolated: bool,
    },
}

impl InboundEnvelope {
    /// The queue's deduplication id: one per stored message. A scheduled firing's message id
    /// names the task and the firing's time, so two firings never share one (whatever their text).
    pub fn dedup_id(&self) -> String {
        let item = self.item();
        let c = &item.conversation;
        crate::domain::ids::short_digest(&[c.bot_id.as_str(), c.channel.as_str(), item.message.message_id.as_str()])
    }

    /// The stored message this envelope carries.
    pub fn item(&self) -> &ConversationMessage {
        match self {
            InboundEnvelope::ChannelMessage { item, .. } | InboundEnvelope::ScheduledTask { item, .. } => item,
        }
    }
}

/// The bot settings the agent needs for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotProfile {
    pub name: String,
    /// The operator's description of the bot (tone, role); goes into the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// `bedrock` | `openai` | `offline`; `None` = the platform default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// Payload of `InvokeAgentRuntime` (dispatcher → agent container). The agent acknowledges at once
/// and answers later through the reply queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInvocation {
    pub v: u32,
    #[serde(flatten)]
    pub item: ConversationMessage,
    pub bot: BotProfile,
    /// Recent conversation, oldest first, without the message being answered.
    pub history: Vec<HistoryEntry>,
    /// Started by a scheduled task: nobody is waiting at the keyboard.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
    /// Earlier inbound messages of the conversation, oldest first, that were handed to an agent
    /// within [`crate::flows::lost_work::LOST_WORK_WINDOW_MS`] and have neither an answered mark nor a reply
    /// line: work a recycled microVM may have lost. The agent answers them with this message,
    /// except those it accepted itself (answered or still queued there). Found by the
    /// dispatcher in the lines it reads for the history; absent in payloads from before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unanswered: Vec<HistoryEntry>,
    /// The conversation's scope token (see [`crate::scope`]): the agent binds its session to the
    /// first one it accepts and attaches it to everything it sends.
    pub scope: ScopeToken,
    /// Credentials for this conversation's tenant and bot, vended by the dispatcher (see
    /// [`crate::credentials`]). `None` only in tests that need no tenant data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<TenantCredentials>,
    /// An approve-once decision this run may use (the resumed run after `/approve … once`);
    /// the dispatcher has marked it used, so it is handed to exactly one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<OnceGrant>,
    /// The X-Ray trace id of the dispatcher's invocation (which continues the webhook's trace
    /// through SQS), so the agent's lines and its replies carry the message's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// When the conversation's `/reset` (its newest fresh start, if that was a reset in the last
    /// [`MEMORY_RESET_WINDOW_MS`]) erased its memory layer: the agent drops any copy of that
    /// layer it cached, so no run after the reset sees, or writes back, what was erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reset_at_ms: Option<i64>,
    /// The files this message carried, downloaded and stored by the dispatcher under the
    /// conversation's prefix (the handed credentials read them there). Files it could not take
    /// in are named in `attachment_notes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::domain::media::StoredAttachment>,
    /// What the dispatcher tells the model about files it did not take in (too large, failed to
    /// download), one line each, written by trusted code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachment_notes: Vec<String>,
    /// The bot's MCP servers with their secret headers, resolved by the dispatcher for this
    /// invocation's bot only (see [`crate::domain::extensions`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<crate::domain::extensions::McpServerGrant>,
    /// The tenant's own model provider (the bot's setting, else the tenant's) with its key;
    /// `None`: the platform's provider and the bot's `model_provider`/`model_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<crate::domain::extensions::ProviderGrant>,
}

/// How long after a `/reset` invocations tell the agent about it: well past the agent's memory
/// cache time (30 s), so every cached copy from before it is dropped.
pub const MEMORY_RESET_WINDOW_MS: i64 = 10 * 60 * 1000;

/// One approved call: exactly this tool with exactly these arguments, for this requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnceGrant {
    pub request_id: String,
    pub tool: String,
    pub arguments_hash: String,
    pub requester_id: String,
}

/// What else an agent sends on the reply queue besides replies. Trusted code (the reply
/// function) acts on it only after checking its scope token against the conversation it names,
/// and builds every record itself: the agent never writes requests, usage or marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentReport {
    /// A call outside the profile: the reply function stores the request (pending, its own
    /// times and hash) and tells the approver.
    PermissionRequest { v: u32, scope: ScopeToken, request: Box<PermissionRequest> },
    /// The end of a run that sent no final answer (the model failed, answered nothing, or the
    /// answer could not be queued): token use to count and messages to mark answered. A run that
    /// answers carries the same summary on its final reply instead ([`ReplyEnvelope::run`]).
    RunReport {
        v: u32,
        scope: ScopeToken,
        #[serde(flatten)]
        conversation: ConversationRef,
        /// The message the run answered (with the conversation, the report's id).
        in_reply_to: MessageId,
        #[serde(flatten)]
        run: RunSummary,
    },
    /// A run's sign of life (see [`crate::domain::progress`]): the reply function shows the
    /// channel's typing indicator and, on a long run with tools, one status message edited in
    /// place. Never retried: a late one is worth nothing.
    Progress(RunProgress),
}

/// What a run reports about itself: token use (every run counts, whatever it sent) and the
/// messages it took that no reply line marks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `(sent_at_ms, message_id)` of each message to mark answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<(i64, MessageId)>,
}

impl RunSummary {
    /// The messages the run took, each once: those it marks and, for a run that answered, the
    /// message its answer replies to (a summary may list that one too).
    pub fn messages(&self, replied: Option<&MessageId>) -> u64 {
        let distinct: std::collections::HashSet<&str> =
            self.answered.iter().map(|(_, id)| id.as_str()).chain(replied.map(MessageId::as_str)).collect();
        u64::try_from(distinct.len()).unwrap_or(u64::MAX)
    }
}

impl AgentReport {
    /// The conversation it claims, and its token.
    pub fn claim(&self) -> (&ConversationRef, &ScopeToken) {
        match self {
            AgentReport::PermissionRequest { scope, request, .. } => (&request.conversation, scope),
            AgentReport::RunReport { scope, conversation, .. } => (conversation, scope),
            AgentReport::Progress(p) => (&p.conversation, &p.scope),
        }
    }

    /// The run a run report ends: its conversation, the message it answered and when that was
    /// sent (a run that sent no answer marks every message it took, that one too). `None` for
    /// other reports, or a run report that does not mark its own message.
    pub fn ended_run(&self) -> Option<(&ConversationRef, &MessageId, i64)> {
        let AgentReport::RunReport { conversation, in_reply_to, run, .. } = self else { return None };
        let (at_ms, _) = run.answered.iter().find(|(_, id)| id == in_reply_to)?;
        Some((conversation, in_reply_to, *at_ms))
    }
}

/// What the agent container answers to an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentAck {
    pub status: AckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Queued for the session's worker.
    Accepted,
    /// Already seen in this session (a redelivery); nothing new will happen.
    Duplicate,
}

/// Body of a message on the reply queue (agent → reply function).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyEnvelope {
    pub v: u32,
    #[serde(flatten)]
    pub conversation: ConversationRef,
    /// The inbound message this answers, and when it was sent: with `seq` they make the reply's
    /// stable id, so a redelivered or re-run answer is sent once.
    pub in_reply_to: MessageId,
    pub in_reply_to_at_ms: i64,
    /// 1-based position of this reply among the answers to `in_reply_to`.
    pub seq: u32,
    pub text: String,
    pub route: ReplyRoute,
    /// Buttons under the answer, on channels that have them (on the last piece of a split
    /// answer). A click comes back through the webhook as a message whose text is the button's
    /// command. Absent in messages queued before buttons existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// The conversation's scope token: the reply function sends nothing whose token does not
    /// match its tenant, bot and conversation. Trusted senders (the approval flow) mint it too.
    #[serde(default)]
    pub scope: ScopeToken,
    /// On a run's final answer: the run's summary, which the reply function records once the
    /// answer is sent (one queue message and one invocation per answer, not two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunSummary>,
    /// The trace id of the message this answers (from the invocation), so the reply function's
    /// lines join the same trace. Only ever logged: nothing trusts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Files to send after the text (`send_file`), each from the conversation's outbox. The
    /// reply function takes only keys under the outbox of the conversation the scope token
    /// names, and records each upload like a piece, so a resumed reply uploads none twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::domain::media::OutgoingFile>,
}

/// A button under an answer: what it says, and the text a click sends back as the clicker's
/// message (a command such as `/approve <id> once`). Channels without buttons show the text only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub command: String,
    /// A destructive choice (reject), drawn in the channel's danger style where it has one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub danger: bool,
}

impl Button {
    pub fn new(label: impl Into<String>, command: impl Into<String>) -> Self {
        Self { label: label.into(), command: command.into(), danger: false }
    }

    pub fn danger(label: impl Into<String>, command: impl Into<String>) -> Self {
        Self { danger: true, ..Self::new(label, command) }
    }
}

impl ReplyEnvelope {
    /// The queue's deduplication id: one per reply of a conversation.
    pub fn dedup_id(&self) -> String {
        let c = &self.conversation;
        crate::domain::ids::short_digest(&[
            c.bot_id.as_str(),
            c.channel.as_str(),
            c.conversation_id.as_str(),
            &self.reply_id(),
        ])
    }

    /// Stable id of this reply: same message, same position → same id.
    pub fn reply_id(&self) -> String {
        format!("{}#r{:03}", self.in_reply_to, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{BotId, ConversationId, TenantId};
    use crate::domain::model::{ChannelKind, InboundMessage, Sender};

    pub(crate) fn sample_item() -> ConversationMessage {
        ConversationMessage {
            conversation: ConversationRef {
                tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
                bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
                channel: ChannelKind::Telegram,
                conversation_id: ConversationId::parse("4242").unwrap(),
            },
            message: InboundMessage {
                attachments: Vec::new(),
                message_id: MessageId::parse("1001").unwrap(),
                sent_at_ms: 1_700_000_000_000,
                sender: Sender { id: "4242".into(), name: "Ada".into(), is_bot: false },
                text: "hello".into(),
                is_direct: true,
                route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
            },
        }
    }

    #[test]
    fn inbound_envelope_round_trips_and_is_tagged() {
        let env = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: sample_item() };
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["kind"], "channel_message");
        assert_eq!(json["tenant_id"], "t0123456789abcdef0123");
        assert_eq!(json["message"]["route"]["channel"], "telegram");
        assert_eq!(serde_json::from_value::<InboundEnvelope>(json).unwrap(), env);
    }

    #[test]
    fn scheduled_task_envelope_round_trips_and_old_messages_still_parse() {
        let env = InboundEnvelope::ScheduledTask {
            v: ENVELOPE_VERSION,
            item: sample_item(),
            task_id: TaskId::parse("k0123456789abcdef0123").unwrap(),
            isolated: true,
        };
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["kind"], "scheduled_task");
        assert_eq!(json["isolated"], true);
        assert_eq!(serde_json::from_value::<InboundEnvelope>(json.clone()).unwrap(), env);
        let mut without = json;
        without.as_object_mut().unwrap().remove("isolated");
        let parsed = serde_json::from_value::<InboundEnvelope>(without).unwrap();
        assert!(matches!(parsed, InboundEnvelope::ScheduledTask { isolated: false, .. }));
        let old = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: sample_item() };
        let old_json = serde_json::to_string(&old).unwrap();
        assert_eq!(serde_json::from_str::<InboundEnvelope>(&old_json).unwrap().item(), &sample_item());
    }

    fn sample_reply(buttons: Vec<Button>) -> ReplyEnvelope {
        let item = sample_item();
        ReplyEnvelope {
            files: Vec::new(),
            v: ENVELOPE_VERSION,
            conversation: item.conversation,
            in_reply_to: item.message.message_id,
            in_reply_to_at_ms: item.message.sent_at_ms,
            seq: 1,
            text: "Permission request r1".into(),
            route: item.message.route,
            buttons,
            scope: crate::domain::scope::ScopeToken::default(),
            run: None,
            trace_id: None,
        }
    }

    #[test]
    fn reply_envelope_round_trips_with_and_without_buttons() {
        let plain = sample_reply(vec![]);
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("buttons").is_none(), "no buttons, no field: {json}");
        assert_eq!(serde_json::from_value::<ReplyEnvelope>(json).unwrap(), plain);

        let with =
            sample_reply(vec![Button::new("Approve once", "/approve r1 once"), Button::danger("Reject", "/reject r1")]);
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(
            json["buttons"],
            serde_json::json!([
                {"label": "Approve once", "command": "/approve r1 once"},
                {"label": "Reject", "command": "/reject r1", "danger": true}
            ])
        );
        assert_eq!(serde_json::from_value::<ReplyEnvelope>(json).unwrap(), with);

        // A reply queued before buttons existed (the sample reply event) still parses.
        let event: serde_json::Value =
            serde_json::from_str(include_str!("../../../../events/reply-telegram.json")).unwrap();
        let old = serde_json::from_str::<ReplyEnvelope>(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        assert!(old.buttons.is_empty());
    }

    #[test]
    fn invocation_carries_unanswered_messages_and_older_payloads_still_parse() {
        use crate::domain::model::Role;
        let lost = HistoryEntry {
            role: Role::User,
            message_id: "1000".into(),
            sender_name: "Ada".into(),
            text: "the lost question".into(),
            at_ms: 1_699_999_990_000,
        };
        let inv = AgentInvocation {
            attachments: Vec::new(),
            attachment_notes: Vec::new(),
            mcp_servers: Vec::new(),
            provider: None,
            v: ENVELOPE_VERSION,
            item: sample_item(),
            bot: BotProfile { name: "Clawd".into(), ..BotProfile::default() },
            history: vec![lost.clone()],
            scheduled: false,
            unanswered: vec![lost],
            scope: ScopeToken::new("v1.token"),
            credentials: None,
            grant: None,
            trace_id: None,
            memory_reset_at_ms: None,
        };
        let json = serde_json::to_value(&inv).unwrap();
        assert_eq!(json["unanswered"][0]["message_id"], "1000");
        assert_eq!(serde_json::from_value::<AgentInvocation>(json.clone()).unwrap(), inv);

        // Nothing unanswered: no field. A payload from before the field parses (same version).
        let none = AgentInvocation { unanswered: Vec::new(), ..inv };
        let mut old = serde_json::to_value(&none).unwrap();
        assert!(old.get("unanswered").is_none(), "{old}");
        assert_eq!(old["v"], 1);
        old.as_object_mut().unwrap().remove("scheduled");
        assert_eq!(serde_json::from_value::<AgentInvocation>(old).unwrap(), none);
    }

    #[test]
    fn envelope_with_forged_ids_does_not_parse() {
        let env = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: sample_item() };
        let mut json = serde_json::to_value(&env).unwrap();
        json["tenant_id"] = "../other".into();
        assert!(serde_json::from_value::<InboundEnvelope>(json).is_err());
    }
}
