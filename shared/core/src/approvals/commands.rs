//! The approver and the commands they answer with: `/approve`, `/reject`, `/pending`.

use serde::{Deserialize, Serialize};

use super::notice::SHORT_HASH_CHARS;
use super::{ApprovalError, MAX_TEMPORARY_HOURS};
use crate::channels;
use crate::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// The tenant's approver: a user on one channel of one of the tenant's bots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverConfig {
    pub tenant_id: TenantId,
    pub bot_id: BotId,
    pub channel: ChannelKind,
    pub user_id: String,
    pub updated_at_ms: i64,
}

impl ApproverConfig {
    pub fn user(&self) -> String {
        format!("{}:{}", self.channel, self.user_id)
    }

    /// The approver's direct chat with the bot (on these channels the private chat is keyed by
    /// the user id).
    pub fn conversation(&self) -> Result<ConversationRef, ApprovalError> {
        Ok(ConversationRef {
            tenant_id: self.tenant_id.clone(),
            bot_id: self.bot_id.clone(),
            channel: self.channel,
            conversation_id: ConversationId::parse(&self.user_id).map_err(|e| ApprovalError::Invalid(e.to_string()))?,
        })
    }

    /// Where a notice to the approver goes: their private chat with the bot, where their user id
    /// names it (Discord and Feishu need a chat id that the user id does not give, so notices
    /// there are not supported and the CLI refuses them).
    pub fn route(&self) -> Option<ReplyRoute> {
        channels::channel(self.channel)?.direct_route(&self.user_id)
    }
}

/// A command the approver typed (or a button sent as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    /// `hash`: the start of the arguments' SHA-256 the approver saw (`/approve <id> once <hash>`);
    /// the request is approved only if its hash starts with it.
    Approve {
        request_id: String,
        scope: Scope,
        hash: Option<String>,
    },
    Reject {
        request_id: String,
        reason: Option<String>,
    },
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Once,
    Hours(u32),
    Always,
}

impl Scope {
    pub fn how(self) -> &'static str {
        match self {
            Scope::Once => "once",
            Scope::Hours(_) => "temporary",
            Scope::Always => "persistent",
        }
    }
}

pub const USAGE: &str = "Commands: /approve <id> [once [<hash>]|<hours>h|always], /reject <id> [reason], /pending";

/// A command's verb: the first word, lower-cased, without the `@botname` Telegram appends in
/// groups (`/approve@my_bot`).
pub fn command_verb(first_word: &str) -> String {
    first_word.split('@').next().unwrap_or(first_word).to_ascii_lowercase()
}

/// `None` if `text` is not an approval command; `Some(Err(usage))` if it is one, malformed.
pub fn parse_command(text: &str) -> Option<Result<ApprovalCommand, String>> {
    let mut words = text.split_whitespace();
    let verb = command_verb(words.next()?);
    let id_ok = |id: &str| id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    match verb.as_str() {
        "/pending" => Some(Ok(ApprovalCommand::Pending)),
        "/approve" => {
            let Some(request_id) = words.next().filter(|id| id_ok(id)) else { return Some(Err(USAGE.into())) };
            let scope = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None => Scope::Once,
                Some("once") => {
                    let hash = match words.next().map(str::to_ascii_lowercase) {
                        None => None,
                        Some(h)
                            if (SHORT_HASH_CHARS..=64).contains(&h.len())
                                && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
                        {
                            Some(h)
                        }
                        Some(_) => {
                            return Some(Err(format!(
                                "The hash after `once` is the {SHORT_HASH_CHARS} hex characters the notice shows. {USAGE}"
                            )));
                        }
                    };
                    return Some(Ok(ApprovalCommand::Approve {
                        request_id: request_id.to_owned(),
                        scope: Scope::Once,
                        hash,
                    }));
                }
                Some("always") => Scope::Always,
                Some(h) => match h.strip_suffix('h').and_then(|n| n.parse::<u32>().ok()) {
                    Some(hours) if (1..=MAX_TEMPORARY_HOURS).contains(&hours) => Scope::Hours(hours),
                    _ => {
                        return Some(Err(format!("A temporary approval lasts 1h to {MAX_TEMPORARY_HOURS}h. {USAGE}")));
                    }
                },
            };
            Some(Ok(ApprovalCommand::Approve { request_id: request_id.to_owned(), scope, hash: None }))
        }
        "/reject" => {
            let Some(request_id) = words.next().filter(|id| id_ok(id)) else { return Some(Err(USAGE.into())) };
            let reason: String = words.collect::<Vec<_>>().join(" ").chars().take(300).collect();
            Some(Ok(ApprovalCommand::Reject {
                request_id: request_id.to_owned(),
                reason: (!reason.is_empty()).then_some(reason),
            }))
        }
        _ => None,
    }
}
