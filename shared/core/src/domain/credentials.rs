//! Credentials vended by trusted code: the dispatcher obtains, per conversation, short-lived
//! credentials of the tenant-access role for exactly one tenant and bot, and hands them to the
//! agent in the invocation. The microVM's own role can assume nothing and read no tenant data.
//!
//! - Session tags `tenant_id` and `bot_id` are set here; the role's policies key every grant on
//!   them, and an agent cannot change the tags of credentials it was given.
//! - A session policy narrows memory to the conversation's own layer (where its id can be named
//!   in an IAM resource; otherwise the bot's conversations, see [`session_policy`]).
//! - They last [`CREDENTIAL_SECONDS`]; the dispatcher reuses them for a conversation only while
//!   at least [`MIN_REMAINING_MS`] remain, so an agent run (at most five minutes) never outlives
//!   them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::ids::ConversationRef;
use crate::domain::secrets::Secret;

/// How long vended credentials last (STS's minimum).
pub const CREDENTIAL_SECONDS: i32 = 900;
/// Credentials are handed out again only while this much of their life remains.
pub const MIN_REMAINING_MS: i64 = 6 * 60 * 1000;

/// Credentials for one tenant and bot, as the invocation carries them. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expires_at_ms: i64,
}

impl fmt::Debug for TenantCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantCredentials").field("expires_at_ms", &self.expires_at_ms).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("AssumeRole failed: {0}")]
    AssumeRole(String),
    #[error("AssumeRole returned no credentials")]
    Empty,
}

/// Characters an IAM resource ARN can hold literally: no wildcards (`*`, `?`) and no policy
/// variables (`$`), and nothing a policy document would need to escape.
fn iam_literal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:/=+@-".contains(&b))
}

/// The session policy for `conversation`'s credentials: the tenant's memory layer read-only, the
/// bot's layer and this conversation's layer read-write, and everything else the role allows
/// (the role's tag-keyed policies already hold it to the tenant and bot). A conversation id that
/// an IAM resource cannot name literally falls back to the bot's conversations.
pub fn session_policy(memory_bucket_arn: &str, conversation: &ConversationRef) -> String {
    let t = conversation.tenant_id.as_str();
    let b = conversation.bot_id.as_str();
    let ch = conversation.channel.as_str();
    let conv = conversation.conversation_id.as_str();
    let bot_prefix = format!("{memory_bucket_arn}/tenants/{t}/bots/{b}");
    let conversation_memory = if iam_literal(conv) {
        format!("{bot_prefix}/conversations/{ch}/{conv}/*")
    } else {
        format!("{bot_prefix}/conversations/*")
    };
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantMemory",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": format!("{memory_bucket_arn}/tenants/{t}/shared.md"),
            },
            {
                "Sid": "BotAndConversationMemory",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [format!("{bot_prefix}/memory.md"), conversation_memory],
            },
            {
                // Read-only: the operator installs skills; an agent only reads its own bot's.
                "Sid": "OwnBotSkills",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": format!("{bot_prefix}/skills/*"),
            },
            {
                "Sid": "EverythingButMemory",
                "Effect": "Allow",
                "NotAction": "s3:*",
                "Resource": "*",
            },
        ],
    });
    policy.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{BotId, ConversationId, TenantId};
    use crate::domain::model::ChannelKind;

    fn conversation(conv: &str) -> ConversationRef {
        ConversationRef {
            tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
            bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse(conv).unwrap(),
        }
    }

    const BUCKET: &str = "arn:aws:s3:::clawless-memory-123456789012-us-east-1";

    /// The IAM attack suite (`tests/iam/`) evaluates this exact document.
    #[test]
    fn the_session_policy_is_the_one_the_iam_suite_evaluates() {
        let ours: serde_json::Value = serde_json::from_str(&session_policy(BUCKET, &conversation("4242"))).unwrap();
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../../../tests/iam/session-policy.json")).unwrap();
        assert_eq!(ours, fixture);
    }

    #[test]
    fn a_conversation_id_iam_cannot_name_falls_back_to_the_bot() {
        for id in ["a*b", "what?", "${aws:username}", "a\"b", "x y"] {
            let Ok(conv) = ConversationId::parse(id) else { continue };
            let c = ConversationRef { conversation_id: conv, ..conversation("1") };
            let policy = session_policy(BUCKET, &c);
            assert!(policy.contains("/bots/b0123456789abcdef0123/conversations/*\""), "{id}: {policy}");
            assert!(!policy.contains(id), "{id} must not reach the policy: {policy}");
        }
        let policy = session_policy(BUCKET, &conversation("C024BE91L:1700000000.000100"));
        assert!(policy.contains("/conversations/telegram/C024BE91L:1700000000.000100/*"), "{policy}");
    }

    #[test]
    fn credentials_never_print_their_secrets() {
        let c = TenantCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("very-secret"),
            session_token: Secret::new("session-secret"),
            expires_at_ms: 1,
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("session-secret"), "{shown}");
    }
}
