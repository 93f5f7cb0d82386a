//! Domain types: tenants, bots, channels, messages. No AWS SDK type appears here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::ids::{BotId, ConversationRef, MessageId, TenantId};

/// The chat platforms a bot can be reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Telegram,
    Slack,
    Discord,
    Feishu,
    Whatsapp,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] =
        [ChannelKind::Telegram, ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Feishu, ChannelKind::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown channel {0:?} (known: telegram, slack, discord, feishu, whatsapp)")]
pub struct UnknownChannel(pub String);

impl FromStr for ChannelKind {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.chars().take(40).collect()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotStatus {
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bot {
    pub bot_id: BotId,
    pub tenant_id: TenantId,
    pub name: String,
    pub status: BotStatus,
    /// In groups, a message that matches this pattern triggers an answer even without a mention
    /// (a regular expression, run by a linear-time engine with a size limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Tone and role for the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// The model provider (`bedrock` | `openai` | `offline`) and model; `None` = platform default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    pub created_at_ms: i64,
    /// Who may talk to the bot, in DMs and in groups ([`crate::access`]).
    #[serde(flatten)]
    pub access: crate::access::BotAccess,
}

/// What an operator sets when creating a bot, beyond its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotSettings {
    pub trigger: Option<String>,
    pub persona: Option<String>,
    pub model_provider: Option<String>,
    pub model_id: Option<String>,
    /// `None`: a new bot's default (`pairing` in DMs, `mention` in groups).
    pub dm: Option<crate::access::DmPolicy>,
    pub groups: Option<crate::access::GroupPolicy>,
}

/// A channel attached to a bot. The secrets live in SSM (`secret_parameter`), never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelBinding {
    pub bot_id: BotId,
    pub tenant_id: TenantId,
    pub channel: ChannelKind,
    pub secret_parameter: String,
    pub added_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub is_bot: bool,
}

/// Where on the channel an answer goes (chat, thread, message it answers). Channel-specific, opaque
/// to everything but that channel's adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum ReplyRoute {
    Telegram {
        chat_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_thread_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_message_id: Option<i64>,
    },
    Slack {
        channel_id: String,
        /// The thread to answer in (the message's own `ts` starts a thread under it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_ts: Option<String>,
    },
    Discord {
        /// The channel; for a thread, its parent channel.
        channel_id: String,
        /// An interaction to follow up (slash commands, buttons); otherwise a channel message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interaction: Option<DiscordInteraction>,
        /// The thread (a channel of its own, under `channel_id`) the answer goes into.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_id: Option<String>,
    },
    Feishu {
        chat_id: String,
        /// The message answered (a quote reply to it, outside threads).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_message_id: Option<String>,
        /// The root message of the thread (话题) the answer goes into: Feishu reaches a thread
        /// only by a reply to its root with `reply_in_thread`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root_id: Option<String>,
    },
    Whatsapp {
        /// The person's WhatsApp id (phone number).
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_message_id: Option<String>,
    },
}

/// What a Discord follow-up needs: the application and the interaction's token (valid 15 minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordInteraction {
    pub application_id: String,
    pub token: String,
}

impl ReplyRoute {
    /// Whether this route leads into `conversation` and nowhere else: same channel, and the chat
    /// it names is the conversation's (every channel's conversation id is its chat's id, with the
    /// thread after `:` for a thread's conversation). A thread's conversation is reached only in
    /// that thread; a whole chat's in any of its threads where the thread is a place within the
    /// chat (Slack, Telegram: the same people read them), in none where the thread's id alone
    /// addresses it (Discord, Feishu). A reply or task whose route names another chat, or another
    /// thread's conversation, is refused with this.
    pub fn belongs_to(&self, conversation: &crate::domain::ids::ConversationRef) -> bool {
        let id = &conversation.conversation_id;
        // Whether the thread alone names where the answer goes, whatever the chat: a Discord
        // thread is a channel of its own, a Feishu reply goes wherever its root message is. Such
        // a thread must be the conversation's own, never one a whole chat's conversation picks.
        let (chat, thread, thread_addresses_itself) = match self {
            ReplyRoute::Telegram { chat_id, message_thread_id, .. } => {
                (chat_id.to_string(), message_thread_id.map(|t| t.to_string()), false)
            }
            ReplyRoute::Slack { channel_id, thread_ts } => (channel_id.clone(), thread_ts.clone(), false),
            ReplyRoute::Discord { channel_id, thread_id, .. } => (channel_id.clone(), thread_id.clone(), true),
            ReplyRoute::Feishu { chat_id, thread_root_id, .. } => (chat_id.clone(), thread_root_id.clone(), true),
            ReplyRoute::Whatsapp { to, .. } => (to.clone(), None, false),
        };
        let same_thread = match id.thread_part() {
            Some(own) => thread.as_deref() == Some(own),
            None => thread.is_none() || !thread_addresses_itself,
        };
        self.channel() == conversation.channel && chat == id.chat() && same_thread
    }

    pub fn channel(&self) -> ChannelKind {
        match self {
            ReplyRoute::Telegram { .. } => ChannelKind::Telegram,
            ReplyRoute::Slack { .. } => ChannelKind::Slack,
            ReplyRoute::Discord { .. } => ChannelKind::Discord,
            ReplyRoute::Feishu { .. } => ChannelKind::Feishu,
            ReplyRoute::Whatsapp { .. } => ChannelKind::Whatsapp,
        }
    }
}

/// A message a person sent to a bot, as parsed from a verified webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The channel's delivery id (Telegram `update_id`), unique per bot: the idempotency key.
    pub message_id: MessageId,
    /// When the channel says the message was sent, in Unix milliseconds.
    pub sent_at_ms: i64,
    pub sender: Sender,
    pub text: String,
    pub is_direct: bool,
    pub route: ReplyRoute,
    /// Files the message carries (photos, documents, voice notes), as references the channel's
    /// API resolves; the text is then their caption. The dispatcher downloads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::domain::media::Attachment>,
}

/// The conversation a message belongs to and the message itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationMessage {
    #[serde(flatten)]
    pub conversation: ConversationRef,
    pub message: InboundMessage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One stored line of a conversation, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub role: Role,
    pub message_id: String,
    pub sender_name: String,
    pub text: String,
    pub at_ms: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// `yyyy-mm` (UTC) of a time in ms since the epoch: the month token use is counted in.
pub fn month_of(ms: i64) -> String {
    // Days to civil date (Howard Hinnant's algorithm).
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(month_of(1_700_000_000_000), "2023-11");
        assert_eq!(month_of(1_709_251_199_999), "2024-02"); // 2024-02-29T23:59:59.999Z
        assert_eq!(month_of(1_709_251_200_000), "2024-03");
    }

    fn conversation(channel: ChannelKind, id: &str) -> ConversationRef {
        ConversationRef {
            tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
            bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
            channel,
            conversation_id: crate::domain::ids::ConversationId::parse(id).unwrap(),
        }
    }

    #[test]
    fn a_threads_conversation_is_reached_only_in_its_thread() {
        let topic = conversation(ChannelKind::Telegram, "-100:7");
        let tg =
            |chat_id, thread| ReplyRoute::Telegram { chat_id, message_thread_id: thread, reply_to_message_id: None };
        assert!(tg(-100, Some(7)).belongs_to(&topic));
        for other in [tg(-100, Some(8)), tg(-100, None), tg(-200, Some(7))] {
            assert!(!other.belongs_to(&topic), "{other:?}");
        }
        let group = conversation(ChannelKind::Telegram, "-100");
        assert!(tg(-100, None).belongs_to(&group) && tg(-100, Some(3)).belongs_to(&group));
        assert!(!tg(-1000, None).belongs_to(&group));

        let thread = conversation(ChannelKind::Slack, "C1:1700000000.000100");
        let slack = |channel: &str, thread: Option<&str>| ReplyRoute::Slack {
            channel_id: channel.into(),
            thread_ts: thread.map(str::to_owned),
        };
        assert!(slack("C1", Some("1700000000.000100")).belongs_to(&thread));
        for other in [slack("C1", Some("1700000000.000200")), slack("C1", None), slack("C2", Some("1700000000.000100"))]
        {
            assert!(!other.belongs_to(&thread), "{other:?}");
        }
        assert!(!slack("C1", Some("1700000000.000100")).belongs_to(&topic), "another channel");
    }

    /// A Discord thread is a channel, a Feishu thread is reached by its root message, wherever
    /// that is: a whole chat's conversation may not name any thread, or it could post anywhere.
    #[test]
    fn threads_that_address_themselves_belong_only_to_their_own_conversation() {
        let discord = |channel: &str, thread: Option<&str>| ReplyRoute::Discord {
            channel_id: channel.into(),
            interaction: None,
            thread_id: thread.map(str::to_owned),
        };
        let thread = conversation(ChannelKind::Discord, "1100:1200");
        let channel = conversation(ChannelKind::Discord, "1100");
        assert!(discord("1100", Some("1200")).belongs_to(&thread));
        assert!(discord("1100", None).belongs_to(&channel));
        for (route, to) in [
            (discord("1100", Some("1300")), &thread),
            (discord("1100", None), &thread),
            (discord("1000", Some("1200")), &thread),
            (discord("1100", Some("1200")), &channel),
            (discord("1100", Some("9999")), &channel),
        ] {
            assert!(!route.belongs_to(to), "{route:?} into {to:?}");
        }

        let feishu = |chat: &str, root: Option<&str>| ReplyRoute::Feishu {
            chat_id: chat.into(),
            reply_to_message_id: Some("om_m".into()),
            thread_root_id: root.map(str::to_owned),
        };
        let thread = conversation(ChannelKind::Feishu, "oc_1:om_root");
        let chat = conversation(ChannelKind::Feishu, "oc_1");
        assert!(feishu("oc_1", Some("om_root")).belongs_to(&thread));
        assert!(feishu("oc_1", None).belongs_to(&chat));
        for (route, to) in [
            (feishu("oc_1", Some("om_other")), &thread),
            (feishu("oc_1", None), &thread),
            (feishu("oc_2", Some("om_root")), &thread),
            (feishu("oc_1", Some("om_in_another_chat")), &chat),
        ] {
            assert!(!route.belongs_to(to), "{route:?} into {to:?}");
        }
    }
}
