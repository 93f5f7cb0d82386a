//! Messages per minute: per user of a bot (`messages_per_minute`) and per bot from everyone
//! together (`bot_messages_per_minute`).
//!
//! Each limit is a counter per key and UTC minute (`{tenant}#USAGE` / `RATE#{minute}#{key}`, one
//! `ADD` that returns the count), so two dispatchers counting at once both see the true number.
//! A message over either limit gets no run; the user's first refused message in a minute is
//! answered with [`RATE_ANSWER`] (a third counter decides which), every refusal counts
//! `RateLimited`. A user over their own limit is refused before the bot's counter moves, so one
//! user's flood does not use up the bot's minute for everyone else.
//!
//! Every message the dispatcher would run counts, whether or not its run sends a reply; approval
//! commands do not (an approver must be able to decide while a flood goes on). A message the
//! queue delivers again after a failure later in the dispatch counts again: a limit can bite one
//! message early, never let one more through.

use super::Quotas;
use crate::approvals::ApprovalError;
use crate::domain::ids::short_digest;
use crate::domain::model::{ConversationMessage, now_ms};
use crate::observe::{audit, metrics};

/// What a user gets, once a minute, while their messages are over a rate.
pub const RATE_ANSWER: &str =
    "You are sending messages faster than this assistant takes them. Please wait a minute, then send it again.";

/// Whether a message is within its rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateCheck {
    Within,
    /// Over a rate: no run. `answered`: this message got the minute's answer.
    Over {
        limit: &'static str,
        answered: bool,
    },
}

impl Quotas {
    /// Counts `item` against its bot's rates; when over, answers the user's first refused
    /// message of the minute and counts the refusal.
    pub async fn check_rate(&self, item: &ConversationMessage) -> Result<RateCheck, ApprovalError> {
        let c = &item.conversation;
        let quota = self.quota(&c.tenant_id).await?;
        if !quota.limits_rate() {
            return Ok(RateCheck::Within);
        }
        let minute = now_ms().div_euclid(60_000);
        let user = short_digest(&[c.bot_id.as_str(), c.channel.as_str(), &item.message.sender.id]);
        let limits = [
            ("user", quota.messages_per_minute, format!("user#{user}")),
            ("bot", quota.bot_messages_per_minute, format!("bot#{}", c.bot_id)),
        ];
        for (name, limit, key) in limits {
            let Some(limit) = limit else { continue };
            let count = self.limits.count_message(&c.tenant_id, &key, minute).await?;
            if count <= u64::from(limit) {
                continue;
            }
            let answered = self.limits.count_message(&c.tenant_id, &format!("notice#{user}"), minute).await? == 1;
            if answered {
                self.flow.answer(item, RATE_ANSWER).await?;
            }
            tracing::warn!(event = "rate_limited", tenant_id = %c.tenant_id, bot_id = %c.bot_id, limit = name, per_minute = limit, count, answered);
            metrics::count(metrics::Metric::RateLimited, &c.tenant_id);
            audit::emit(
                audit::AuditKind::RateLimited,
                c,
                serde_json::json!({
                    "message_id": item.message.message_id.as_str(),
                    "limit": name,
                    "per_minute": limit,
                    "answered": answered,
                }),
            );
            return Ok(RateCheck::Over { limit: name, answered });
        }
        Ok(RateCheck::Within)
    }
}
