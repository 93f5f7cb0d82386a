//! Identifiers. Each is parsed once at the edge, so the rest of the code can trust its shape
//! (it is safe inside storage keys, queue group ids, SSM paths and AgentCore session ids).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::model::ChannelKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind} id {value:?}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl RequestId {
    /// The id of a request whose identity digests to `hex` (at least 20 lowercase hex digits):
    /// the same message, tool and arguments give the same id.
    pub fn from_digest(hex: &str) -> Self {
        Self(format!("pr{}", &hex[..RANDOM_HEX_LEN.min(hex.len())]))
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Length of the random hex part of generated tenant and bot ids (80 bits).
const RANDOM_HEX_LEN: usize = 20;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[doc = concat!("A ", $kind, " id: `", $prefix, "` followed by 20 lowercase hex digits.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                let bytes: [u8; RANDOM_HEX_LEN / 2] = rand::random();
                Self(format!("{}{}", $prefix, hex::encode(bytes)))
            }

            pub fn parse(value: &str) -> Result<Self, IdError> {
                let err = |reason| IdError { kind: $kind, value: value.chars().take(80).collect(), reason };
                let rest = value.strip_prefix($prefix).ok_or_else(|| err(concat!("must start with `", $prefix, "`")))?;
                if rest.len() != RANDOM_HEX_LEN {
                    return Err(err("wrong length"));
                }
                if !rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(err("must be lowercase hex after the prefix"));
                }
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(TenantId, "t", "tenant");
prefixed_id!(BotId, "b", "bot");
prefixed_id!(TaskId, "k", "task");
prefixed_id!(RequestId, "pr", "permission request");

/// Longest conversation or message id a channel may hand us. Real ids are far shorter.
const MAX_CHANNEL_ID_LEN: usize = 200;

macro_rules! channel_id {
    ($name:ident, $kind:literal) => {
        #[doc = concat!("A ", $kind, " id as the channel gives it: printable ASCII without `#`, 1 to 200 chars.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, IdError> {
                let err = |reason| IdError { kind: $kind, value: value.chars().take(80).collect(), reason };
                if value.is_empty() || value.len() > MAX_CHANNEL_ID_LEN {
                    return Err(err("must be 1 to 200 characters"));
                }
                // `#` separates the parts of storage keys, so it may not appear inside one.
                if !value.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
                    return Err(err("must be printable ASCII without `#`"));
                }
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

channel_id!(ConversationId, "conversation");
channel_id!(MessageId, "message");

/// Separates a chat from a thread in a conversation id: `{chat}` for a chat as a whole,
/// `{chat}:{thread}` for one thread of it (a Slack thread, a Telegram forum topic). No channel's
/// chat ids contain it.
pub const THREAD_SEPARATOR: char = ':';

impl ConversationId {
    /// The conversation of one thread of `chat`.
    pub fn thread(chat: &str, thread: &str) -> Result<Self, IdError> {
        Self::parse(&format!("{chat}{THREAD_SEPARATOR}{thread}"))
    }

    /// The chat (group, channel, DM) the conversation is in: the whole id, or its part before the
    /// thread.
    pub fn chat(&self) -> &str {
        self.0.split_once(THREAD_SEPARATOR).map_or(&self.0, |(chat, _)| chat)
    }

    /// The thread within the chat, if the conversation is one.
    pub fn thread_part(&self) -> Option<&str> {
        self.0.split_once(THREAD_SEPARATOR).map(|(_, thread)| thread)
    }
}

/// Everything that names one conversation: whose bot, on which channel, which chat.
/// Built only from verified ids (the tenant comes from the bot record, never from a payload).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationRef {
    pub tenant_id: TenantId,
    pub bot_id: BotId,
    pub channel: ChannelKind,
    pub conversation_id: ConversationId,
}

impl ConversationRef {
    /// 32 hex digits naming the (channel, conversation) pair, so ids of any shape fit everywhere.
    fn conversation_digest(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.channel.as_str().as_bytes());
        hash.update(b":");
        hash.update(self.conversation_id.as_str().as_bytes());
        hex::encode(&hash.finalize()[..16])
    }

    /// The AgentCore runtime session id: stable per conversation, 78 chars (AgentCore wants 33 to 256).
    pub fn runtime_session_id(&self) -> RuntimeSessionId {
        RuntimeSessionId(format!("{}-{}-c{}", self.tenant_id, self.bot_id, self.conversation_digest()))
    }

    /// The SQS FIFO message group: one per conversation, so a conversation is handled in order
    /// while different conversations run in parallel. At most 128 chars, as SQS requires.
    pub fn message_group_id(&self) -> String {
        format!("{}-{}", self.bot_id, self.conversation_digest())
    }

    /// Partition key of the conversation's messages. Starts with the tenant id, so IAM can
    /// restrict an agent to its own tenant with `dynamodb:LeadingKeys`.
    pub fn partition_key(&self) -> String {
        format!("{}#CONV#{}#{}#{}", self.tenant_id, self.bot_id, self.channel.as_str(), self.conversation_id)
    }
}

/// The session id that AgentCore uses to route to one microVM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuntimeSessionId(String);

impl RuntimeSessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuntimeSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hex SHA-256 prefix used to keep SQS deduplication ids within 128 chars whatever the input.
pub fn short_digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    hex::encode(&hash.finalize()[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(chat: &str) -> ConversationRef {
        ConversationRef {
            tenant_id: TenantId::generate(),
            bot_id: BotId::generate(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse(chat).unwrap(),
        }
    }

    #[test]
    fn generated_ids_parse_back() {
        let t = TenantId::generate();
        assert_eq!(TenantId::parse(t.as_str()).unwrap(), t);
        assert!(TenantId::parse(BotId::generate().as_str()).is_err(), "a bot id is not a tenant id");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in
            ["", "t", "tABCDEF0123456789abcd", "t0123456789abcdef012", "t0123456789abcdef0123x", "t../../etc/pass"]
        {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(ConversationId::parse("a#b").is_err());
        assert!(ConversationId::parse("a b").is_err());
        assert!(ConversationId::parse(&"1".repeat(201)).is_err());
        assert!(ConversationId::parse("-1001234567890").is_ok());
        let topic = ConversationId::thread("-1001234567890", "7").unwrap();
        assert_eq!(
            (topic.as_str(), topic.chat(), topic.thread_part()),
            ("-1001234567890:7", "-1001234567890", Some("7"))
        );
        let whole = ConversationId::parse("C0123ABCD").unwrap();
        assert_eq!((whole.chat(), whole.thread_part()), ("C0123ABCD", None));
    }

    #[test]
    fn session_id_is_stable_and_within_agentcore_bounds() {
        let c = conversation("-1001234567890");
        let id = c.runtime_session_id();
        assert_eq!(id, c.runtime_session_id());
        assert!((33..=256).contains(&id.as_str().len()), "{}", id.as_str().len());
        assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        let other = ConversationRef { conversation_id: ConversationId::parse("42").unwrap(), ..c.clone() };
        assert_ne!(other.runtime_session_id(), id);
        assert!(c.message_group_id().len() <= 128);
    }

    #[test]
    fn serde_rejects_bad_ids() {
        assert!(serde_json::from_str::<TenantId>("\"nope\"").is_err());
        let t = TenantId::generate();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), t);
    }
}
