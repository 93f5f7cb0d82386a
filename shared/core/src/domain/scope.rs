//! Scope tokens: what binds everything an agent sends to the one conversation it serves.
//!
//! Nothing a microVM holds or sends is trusted, so the tenant, bot and conversation an agent's
//! reply, report, permission request or task schedule names could be anyone's. The dispatcher
//! (trusted code) mints the token of the conversation it invokes an agent for: an HMAC-SHA256 of
//! the tenant, bot, channel and conversation id under the platform's scope key, which no agent
//! credential can read. The reply and scheduler functions recompute it for the conversation a
//! message or schedule names and refuse a mismatch (`security_violation`). A microVM only ever
//! receives the token of its own conversation, so it cannot speak, report or schedule for
//! another one.
//!
//! Why a MAC and not SQS's `SenderId`: a schedule's input reaches the scheduler function through
//! EventBridge Scheduler, which carries no sender, and a role session name (64 characters) has
//! no room for a conversation id (up to 200). One mechanism covers replies and schedules alike.
//!
//! The token does not expire: a task's schedule carries it for as long as the task lives.
//! Rotating the key (a new secret value) therefore invalidates every existing task schedule as
//! well as the tokens microVMs hold.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::ids::ConversationRef;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
const DOMAIN: &str = "clawless-scope-v1";
const PREFIX: &str = "v1.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope key is too short ({0} bytes; at least {MIN_KEY_BYTES})")]
    KeyTooShort(usize),
    #[error("the scope key could not be loaded: {0}")]
    Unavailable(String),
}

/// The platform's scope key. Never printed.
#[derive(Clone)]
pub struct ScopeKey(Vec<u8>);

impl fmt::Debug for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeKey(***)")
    }
}

/// A conversation's token, as an agent carries it. Opaque to the agent.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeToken(String);

impl fmt::Debug for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret across conversations, but a capability for this one: keep it out of logs.
        f.write_str("ScopeToken(***)")
    }
}

impl ScopeToken {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality (the agent compares the token of later invocations with the first).
    pub fn matches(&self, other: &ScopeToken) -> bool {
        use subtle::ConstantTimeEq;
        !self.0.is_empty() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl ScopeKey {
    pub fn new(secret: &[u8]) -> Result<Self, ScopeError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(ScopeError::KeyTooShort(secret.len()));
        }
        Ok(Self(secret.to_vec()))
    }

    fn mac(&self, conversation: &ConversationRef) -> Hmac<Sha256> {
        // Ids cannot hold a newline (they are parsed as printable ASCII), so the fields cannot
        // run into one another.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        for part in [
            DOMAIN,
            conversation.tenant_id.as_str(),
            conversation.bot_id.as_str(),
            conversation.channel.as_str(),
            conversation.conversation_id.as_str(),
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The token of `conversation`.
    pub fn mint(&self, conversation: &ConversationRef) -> ScopeToken {
        use base64::Engine;
        let tag = self.mac(conversation).finalize().into_bytes();
        ScopeToken(format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)))
    }

    /// Whether `token` was minted for exactly `conversation` (constant time).
    pub fn verify(&self, conversation: &ConversationRef, token: &ScopeToken) -> bool {
        use base64::Engine;
        let Some(encoded) = token.0.strip_prefix(PREFIX) else { return false };
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded) else { return false };
        self.mac(conversation).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{BotId, ConversationId, TenantId};
    use crate::domain::model::ChannelKind;

    pub(crate) fn conversation(tenant: &str, conv: &str) -> ConversationRef {
        ConversationRef {
            tenant_id: TenantId::parse(tenant).unwrap(),
            bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse(conv).unwrap(),
        }
    }

    #[test]
    fn a_token_verifies_for_its_conversation_only() {
        let key = ScopeKey::new(&[7u8; 32]).unwrap();
        let a = conversation("t0123456789abcdef0123", "4242");
        let token = key.mint(&a);
        assert!(token.expose().starts_with("v1."));
        assert!(key.verify(&a, &token));
        assert!(!key.verify(&conversation("t0123456789abcdef0124", "4242"), &token), "another tenant");
        assert!(!key.verify(&conversation("t0123456789abcdef0123", "4243"), &token), "another conversation");
        let other_bot = ConversationRef { bot_id: BotId::parse("b0123456789abcdef0124").unwrap(), ..a.clone() };
        assert!(!key.verify(&other_bot, &token), "another bot");
        let other_channel = ConversationRef { channel: ChannelKind::Slack, ..a.clone() };
        assert!(!key.verify(&other_channel, &token), "another channel");
        let other_key = ScopeKey::new(&[8u8; 32]).unwrap();
        assert!(!other_key.verify(&a, &token), "another key");
        for forged in ["", "v1.", "v1.!!!", "v2.abc", &token.expose().replace("v1.", "")] {
            assert!(!key.verify(&a, &ScopeToken::new(forged)), "{forged:?}");
        }
        // A tag truncated or extended by one character does not verify either.
        let t = token.expose();
        assert!(!key.verify(&a, &ScopeToken::new(&t[..t.len() - 1])));
        assert!(!key.verify(&a, &ScopeToken::new(format!("{t}A"))));
    }

    #[test]
    fn short_keys_are_refused_and_nothing_prints_the_key_or_token() {
        assert_eq!(ScopeKey::new(&[1u8; 31]).unwrap_err(), ScopeError::KeyTooShort(31));
        let key = ScopeKey::new(b"0123456789abcdef0123456789abcdef-secret").unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        let token = key.mint(&conversation("t0123456789abcdef0123", "4242"));
        assert!(!format!("{token:?}").contains(token.expose()));
        assert!(token.matches(&token.clone()));
        assert!(!ScopeToken::default().matches(&ScopeToken::default()), "an empty token matches nothing");
    }
}
