//! The stored shape of conversations and bots, as the ports hand them over: a conversation is
//! an ordered list of lines (inbound and replies), each keyed so that a reply sorts right after
//! the message it answers.

use serde::{Deserialize, Serialize};

use crate::domain::envelope::ReplyEnvelope;
use crate::domain::model::{Bot, ChannelBinding, ChannelKind, ConversationMessage, HistoryEntry, Role, now_ms};
use crate::domain::trigger::Trigger;

/// How long conversation messages (and so the delivery-id dedup records) are kept: longer than
/// any channel's retry window (WhatsApp retries for 7 days).
pub const MESSAGE_RETENTION_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyState {
    Sending,
    Sent,
    Failed,
}

/// A stored conversation line, inbound or outbound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub role: Role,
    pub message_id: String,
    pub sender_id: String,
    pub sender_name: String,
    pub text: String,
    pub at_ms: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at_ms: Option<i64>,
    /// Set by the agent once a run answered this (inbound) message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_state: Option<ReplyState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_message_ids: Option<Vec<String>>,
    /// A `/new` line: the next run's history (and lost work) starts after it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh_start: bool,
}

impl MessageItem {
    /// The line an inbound message is stored as, kept [`MESSAGE_RETENTION_SECS`] from `now_ms`.
    pub fn inbound(item: &ConversationMessage, now_ms: i64) -> Self {
        let m = &item.message;
        Self {
            pk: item.conversation.partition_key(),
            sk: inbound_sort_key(m.sent_at_ms, m.message_id.as_str()),
            role: Role::User,
            message_id: m.message_id.to_string(),
            sender_id: m.sender.id.clone(),
            sender_name: m.sender.name.clone(),
            text: m.text.clone(),
            at_ms: m.sent_at_ms,
            expires_at: now_ms / 1000 + MESSAGE_RETENTION_SECS,
            dispatched_at_ms: None,
            answered_at_ms: None,
            reply_state: None,
            channel_message_ids: None,
            fresh_start: false,
        }
    }

    /// The line a message handed to an agent is stored as: [`MessageItem::inbound`] with its
    /// dispatched mark, both written by the dispatcher's one conditional write.
    pub fn dispatched(item: &ConversationMessage, now_ms: i64) -> Self {
        Self { dispatched_at_ms: Some(now_ms), ..Self::inbound(item, now_ms) }
    }

    /// The lines of `lines` (oldest first) after the newest fresh start, all of them without one:
    /// what a run may see of the conversation.
    pub fn since_fresh_start(lines: &[MessageItem]) -> &[MessageItem] {
        match lines.iter().rposition(|m| m.fresh_start) {
            Some(at) => &lines[at + 1..],
            None => lines,
        }
    }

    /// For a reply line, the sort key of the inbound line it answers (`{that key}#r{seq}`).
    pub fn answers(&self) -> Option<&str> {
        match self.role {
            Role::Assistant => self.sk.rsplit_once("#r").map(|(answered, _)| answered),
            _ => None,
        }
    }

    pub fn to_history(&self) -> HistoryEntry {
        HistoryEntry {
            role: self.role,
            message_id: self.message_id.clone(),
            sender_name: self.sender_name.clone(),
            text: self.text.clone(),
            at_ms: self.at_ms,
        }
    }
}

/// A conversation line's position: the inbound message's send time and id, so lines sort in the
/// order they were sent.
pub fn inbound_sort_key(sent_at_ms: i64, message_id: &str) -> String {
    format!("MSG#{sent_at_ms:013}#{message_id}")
}

pub fn reply_sort_key(reply: &ReplyEnvelope) -> String {
    format!("{}#r{:03}", inbound_sort_key(reply.in_reply_to_at_ms, reply.in_reply_to.as_str()), reply.seq)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// Stored before; `dispatched` if the agent already has it.
    Duplicate {
        dispatched: bool,
    },
}

/// How far an earlier attempt got with a reply, read before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyClaim {
    /// No line for this reply yet: send every piece.
    New,
    /// An earlier attempt recorded some pieces and did not finish: send what it had not sent yet.
    Retry { sent_ids: Vec<String> },
    /// Already delivered (or permanently failed): do nothing.
    Done(ReplyState),
}

/// A reply's line in its conversation (`…#r{seq}`): what [`Store::reply_progress`] found, or what
/// a first attempt will write. [`Store::record_reply`] writes it whole, with the state and the
/// channel ids of the pieces sent so far.
#[derive(Debug, Clone)]
pub struct ReplyLine {
    item: MessageItem,
}

impl ReplyLine {
    /// The line a first attempt writes: the bot speaks, at the time of the attempt.
    pub fn new(reply: &ReplyEnvelope, sender_name: &str) -> Self {
        let now = now_ms();
        Self {
            item: MessageItem {
                pk: reply.conversation.partition_key(),
                sk: reply_sort_key(reply),
                role: Role::Assistant,
                message_id: reply.reply_id(),
                sender_id: reply.conversation.bot_id.to_string(),
                sender_name: sender_name.to_owned(),
                text: reply.text.clone(),
                at_ms: now,
                expires_at: now / 1000 + MESSAGE_RETENTION_SECS,
                dispatched_at_ms: None,
                answered_at_ms: None,
                reply_state: Some(ReplyState::Sending),
                channel_message_ids: None,
                fresh_start: false,
            },
        }
    }

    /// The line as an earlier attempt stored it.
    pub fn stored(item: MessageItem) -> Self {
        Self { item }
    }

    /// How far an earlier attempt got, from the line it stored.
    pub fn claim(&self) -> ReplyClaim {
        match self.item.reply_state {
            Some(ReplyState::Sending) | None => {
                ReplyClaim::Retry { sent_ids: self.item.channel_message_ids.clone().unwrap_or_default() }
            }
            Some(state) => ReplyClaim::Done(state),
        }
    }

    /// The line as it is recorded after an attempt: `state`, and the channel ids of the pieces
    /// sent. The line's time, sender and text stay as first written.
    pub fn recorded(&self, state: ReplyState, channel_message_ids: &[String]) -> MessageItem {
        MessageItem {
            reply_state: Some(state),
            channel_message_ids: Some(channel_message_ids.to_vec()),
            ..self.item.clone()
        }
    }

    /// The item as it stands (before [`Store::record_reply`] sets the state and the ids).
    pub fn item(&self) -> &MessageItem {
        &self.item
    }
}

/// A bot with its channel bindings, as one query returns them.
#[derive(Debug, Clone)]
pub struct BotRecord {
    pub bot: Bot,
    pub channels: Vec<ChannelBinding>,
    /// The bot's trigger pattern, compiled once per load (`None` if unset or invalid).
    pub trigger: Option<Trigger>,
    /// The bot's remote MCP servers (stored in the bot's partition, read with it).
    pub mcp_servers: Vec<crate::domain::extensions::McpServerConfig>,
    /// The bot's own model provider, if set (else the tenant's, else the platform's).
    pub provider: Option<crate::domain::extensions::ProviderConfig>,
}

impl BotRecord {
    pub fn channel(&self, kind: ChannelKind) -> Option<&ChannelBinding> {
        self.channels.iter().find(|c| c.channel == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_740_800_000;

    #[test]
    fn a_reply_line_keeps_the_answer_item_as_it_was() {
        use crate::domain::envelope::ENVELOPE_VERSION;
        use crate::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
        use crate::domain::model::ReplyRoute;
        let reply = ReplyEnvelope {
            files: Vec::new(),
            v: ENVELOPE_VERSION,
            conversation: ConversationRef {
                tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
                bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
                channel: ChannelKind::Telegram,
                conversation_id: ConversationId::parse("4242").unwrap(),
            },
            in_reply_to: MessageId::parse("1001").unwrap(),
            in_reply_to_at_ms: NOW,
            seq: 2,
            text: "the answer".into(),
            route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None },
            buttons: Vec::new(),
            scope: crate::domain::scope::ScopeToken::default(),
            run: None,
            trace_id: None,
        };
        let line = ReplyLine::new(&reply, "Clawd");
        let item = line.item();
        assert_eq!(item.pk, reply.conversation.partition_key());
        assert_eq!(item.sk, format!("{}#r002", inbound_sort_key(NOW, "1001")));
        assert_eq!((item.role, item.message_id.as_str()), (Role::Assistant, "1001#r002"));
        assert_eq!((item.sender_id.as_str(), item.sender_name.as_str()), ("b0123456789abcdef0123", "Clawd"));
        assert_eq!(item.text, "the answer");
        assert_eq!(item.expires_at, item.at_ms / 1000 + MESSAGE_RETENTION_SECS);
        assert!(item.dispatched_at_ms.is_none() && item.answered_at_ms.is_none());
    }

    #[test]
    fn a_reply_line_answers_the_line_it_sorts_after() {
        let inbound = inbound_sort_key(NOW, "1001");
        let mut line = MessageItem {
            pk: "t#CONV#b#telegram#4242".into(),
            sk: format!("{inbound}#r002"),
            role: Role::Assistant,
            message_id: "1001#r002".into(),
            sender_id: "b".into(),
            sender_name: "Clawd".into(),
            text: "hi".into(),
            at_ms: NOW,
            expires_at: 0,
            dispatched_at_ms: None,
            answered_at_ms: None,
            reply_state: None,
            channel_message_ids: None,
            fresh_start: false,
        };
        assert_eq!(line.answers(), Some(inbound.as_str()));
        line.role = Role::User;
        assert_eq!(line.answers(), None, "an inbound line answers nothing");
    }
}
