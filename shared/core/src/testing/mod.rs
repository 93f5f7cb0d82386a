//! In-memory ports and fixtures for unit tests (behind the `test-support` feature, out of
//! production builds). They keep the rules the real adapters keep: conditional writes decide
//! once, duplicates are reported as such. Each can be told to fail, to reach error branches.

mod access;
mod events;
mod notices;
mod ports;
mod runtime;

pub use events::{Events, Fields};
pub use notices::{MemoryNotices, ScriptedSummarizer};
pub use ports::{FailSwitch, MemoryProfiles, MemoryQueue, MemorySecrets, MemoryStore, MemoryTimeouts};
pub use runtime::{FixedCredentials, MemoryAgent, MemoryScopeKey};

use crate::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use crate::domain::model::{
    Bot, BotStatus, ChannelBinding, ChannelKind, ConversationMessage, InboundMessage, ReplyRoute, Sender,
};
use crate::domain::records::BotRecord;
use crate::domain::scope::ScopeKey;

pub const TENANT: &str = "t0123456789abcdef0123";
pub const OTHER_TENANT: &str = "t0123456789abcdef0999";
pub const BOT: &str = "b0123456789abcdef0123";
/// A fixed time (2025-11-21T16:00:00Z) so tests read the same every day.
pub const NOW: i64 = 1_763_740_800_000;

/// Where [`bot_record`]'s Telegram secrets live, and what [`put_telegram_secrets`] puts there.
pub const TELEGRAM_SECRETS: &str = "telegram-secrets";
pub const TELEGRAM_WEBHOOK_SECRET: &str = "wh-secret_0123";
pub const TELEGRAM_BOT_TOKEN: &str = "123456:test-token";
pub const TELEGRAM_BOT_USERNAME: &str = "clawd_bot";

/// The test bot's Telegram settings, as `clawless channel add` stores them.
pub fn put_telegram_secrets(secrets: &MemorySecrets) {
    secrets.put(
        TELEGRAM_SECRETS,
        &[
            ("webhook_secret", TELEGRAM_WEBHOOK_SECRET),
            ("bot_token", TELEGRAM_BOT_TOKEN),
            ("bot_username", TELEGRAM_BOT_USERNAME),
        ],
    );
}

/// A scope key for tests.
pub fn scope_key() -> ScopeKey {
    ScopeKey::new(&[7u8; 32]).expect("a 32-byte key")
}

pub fn tenant() -> TenantId {
    TenantId::parse(TENANT).expect("a valid tenant id")
}

pub fn bot_id() -> BotId {
    BotId::parse(BOT).expect("a valid bot id")
}

/// A Telegram conversation of the test bot.
pub fn conversation(chat: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: tenant(),
        bot_id: bot_id(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse(chat).expect("a valid conversation id"),
    }
}

/// A direct Telegram message from Ada in chat `chat`.
pub fn message(chat: &str, id: &str, text: &str, sent_at_ms: i64) -> ConversationMessage {
    let chat_id: i64 = chat.parse().unwrap_or(4242);
    ConversationMessage {
        conversation: conversation(chat),
        message: InboundMessage {
            attachments: Vec::new(),
            message_id: MessageId::parse(id).expect("a valid message id"),
            sent_at_ms,
            sender: Sender { id: chat.to_owned(), name: "Ada".into(), is_bot: false },
            text: text.to_owned(),
            is_direct: true,
            route: ReplyRoute::Telegram { chat_id, message_thread_id: None, reply_to_message_id: None },
        },
    }
}

/// The test bot, active, with a Telegram channel whose secrets live at `telegram-secrets`.
pub fn bot_record() -> BotRecord {
    BotRecord {
        bot: Bot {
            bot_id: bot_id(),
            tenant_id: tenant(),
            name: "Clawd".into(),
            status: BotStatus::Active,
            persona: None,
            model_provider: None,
            model_id: None,
            trigger: None,
            created_at_ms: NOW,
            access: crate::access::BotAccess::open(),
        },
        channels: vec![ChannelBinding {
            bot_id: bot_id(),
            tenant_id: tenant(),
            channel: ChannelKind::Telegram,
            secret_parameter: TELEGRAM_SECRETS.into(),
            added_at_ms: NOW,
        }],
        trigger: None,
        mcp_servers: Vec::new(),
        provider: None,
    }
}
