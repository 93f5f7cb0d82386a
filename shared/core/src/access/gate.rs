//! The dispatcher's access check: the authoritative decision, with fresh reads, before a
//! message is stored or an agent runs. The webhook only pre-filters from its cached bot record
//! (disabled modes, unlisted groups), so that nothing it stores as context escapes the policy.

use std::sync::Arc;

use super::{AccessRepo, BotAccess, DmPolicy, GroupPolicy, PAIRING_TTL_MS, PairingCode, PendingPairing, approve_code};
use crate::approvals::{ApprovalError, ApprovalFlow, parse_command};
use crate::domain::model::{ConversationMessage, now_ms};
use crate::domain::permissions::UserRef;
use crate::domain::records::BotRecord;
use crate::observe::{audit, metrics};
use crate::ports::BotRepo;

pub const PAIR_USAGE: &str = "Usage: /pair <code> (the 8-character code the bot sent the person asking)";

/// What the check decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Go on: approval commands, then the agent.
    Admit,
    /// A `/pair` command, answered here: store it as handled, run no agent.
    Handled,
    /// Refused: nothing stored, no agent run, the queue message deleted. Under `pairing`, a
    /// stranger's first DM of the hour was sent a code before this.
    Refused(&'static str),
}

/// `/pair <code>` (Telegram may append `@botname` to the command): `None` if the text is not
/// that command, `Err(usage)` if its argument is missing or no code.
pub fn parse_pair(text: &str) -> Option<Result<PairingCode, String>> {
    let mut words = text.split_whitespace();
    if crate::approvals::command_verb(words.next()?) != "/pair" {
        return None;
    }
    match (words.next().and_then(PairingCode::parse), words.next()) {
        (Some(code), None) => Some(Ok(code)),
        _ => Some(Err(PAIR_USAGE.to_owned())),
    }
}

/// The access check the dispatcher runs first for every channel message.
pub struct AccessGate {
    repo: Arc<dyn AccessRepo>,
    /// The bot read again (not the cached record) for a group allowlist, so removing a group holds
    /// at its next message.
    bots: Arc<dyn BotRepo>,
    /// The approver (for `/pair`), the reply queue and the scope key, built when first needed.
    flow: ApprovalFlow,
}

impl AccessGate {
    pub fn new(repo: Arc<dyn AccessRepo>, bots: Arc<dyn BotRepo>, flow: ApprovalFlow) -> Self {
        Self { repo, bots, flow }
    }

    pub async fn admit(&self, record: &BotRecord, item: &ConversationMessage) -> Result<Admission, ApprovalError> {
        let text = &item.message.text;
        let pair = parse_pair(text);
        // The approver's commands come first: the approver need not be on any allowlist. `/pair`
        // counts only in their direct chat, so a paired user's id is never announced in a group.
        let command = match pair {
            Some(_) => item.message.is_direct,
            None => parse_command(text).is_some(),
        };
        if command && self.flow.sent_by_approver(item).await? {
            return match pair {
                Some(parsed) => self.pair(item, parsed).await.map(|()| Admission::Handled),
                None => Ok(Admission::Admit),
            };
        }
        let admission =
            if item.message.is_direct { self.direct(record, item).await? } else { self.group(record, item).await? };
        if let Admission::Refused(reason) = admission {
            refused(item, reason);
            return Ok(admission);
        }
        if pair.is_some() {
            // Someone admitted, but not the approver: a code is never approved by them.
            self.flow
                .answer(
                    item,
                    "Only this workspace's approver can approve pairing codes, in their direct chat with the bot.",
                )
                .await?;
            return Ok(Admission::Handled);
        }
        Ok(admission)
    }

    async fn direct(&self, record: &BotRecord, item: &ConversationMessage) -> Result<Admission, ApprovalError> {
        let c = &item.conversation;
        let policy = record.bot.access.dm;
        match policy {
            DmPolicy::Disabled => return Ok(Admission::Refused("direct messages are disabled")),
            DmPolicy::Open => return Ok(Admission::Admit),
            DmPolicy::Allowlist | DmPolicy::Pairing => {}
        }
        let Ok(user) = UserRef::new(c.channel, &item.message.sender.id) else {
            return Ok(Admission::Refused("sender id is not usable as an access subject"));
        };
        // One item per user, read fresh: a revoked user is refused at their next message, and
        // nothing else (an old code, a group entry) stands in for it.
        if self.repo.dm_allowed(&c.tenant_id, &c.bot_id, &user).await? {
            return Ok(Admission::Admit);
        }
        if policy == DmPolicy::Pairing {
            self.offer_code(item, &user).await?;
            return Ok(Admission::Refused("not paired (pairing code offered)"));
        }
        Ok(Admission::Refused("not on the DM allowlist"))
    }

    async fn group(&self, record: &BotRecord, item: &ConversationMessage) -> Result<Admission, ApprovalError> {
        let c = &item.conversation;
        match record.bot.access.groups {
            GroupPolicy::Disabled => return Ok(Admission::Refused("groups are disabled")),
            GroupPolicy::Mention | GroupPolicy::Open => return Ok(Admission::Admit),
            GroupPolicy::Allowlist => {}
        }
        // A thread (Slack, a Telegram topic) belongs to its chat: the chat is what is listed.
        let Ok(group) = UserRef::new(c.channel, c.conversation_id.chat()) else {
            return Ok(Admission::Refused("group id is not usable as an access subject"));
        };
        // The cached record may be a minute old: the list is read again.
        let fresh = self.bots.load_bot(&c.bot_id).await?;
        let access = fresh.as_ref().map(|r| &r.bot.access);
        Ok(match access {
            Some(BotAccess { groups: GroupPolicy::Mention | GroupPolicy::Open, .. }) => Admission::Admit,
            Some(a @ BotAccess { groups: GroupPolicy::Allowlist, .. }) if a.group_listed(&group) => Admission::Admit,
            Some(BotAccess { groups: GroupPolicy::Disabled, .. }) => Admission::Refused("groups are disabled"),
            _ => Admission::Refused("group is not on the allowlist"),
        })
    }

    /// Sends the stranger their code, in the DM they wrote (never a group: only a direct message
    /// comes here), once per hour per user: a second DM within the hour gets nothing.
    async fn offer_code(&self, item: &ConversationMessage, user: &UserRef) -> Result<(), ApprovalError> {
        let c = &item.conversation;
        let now = now_ms();
        let wanted = PendingPairing {
            code: PairingCode::generate().as_str().to_owned(),
            user: user.to_string(),
            expires_at_ms: now + PAIRING_TTL_MS,
            message_id: item.message.message_id.to_string(),
        };
        let Some(pending) = self.repo.claim_pairing(&c.tenant_id, &c.bot_id, &wanted, now).await? else {
            tracing::info!(event = "pairing_code_withheld", tenant_id = %c.tenant_id, bot_id = %c.bot_id, "a code is pending for this user");
            return Ok(());
        };
        tracing::info!(event = "pairing_code_sent", tenant_id = %c.tenant_id, bot_id = %c.bot_id, "pairing code offered to a stranger");
        let text = format!(
            "This bot only talks with people its owner approved. Your pairing code is {} (valid for 1 hour). Send it to the bot's owner to be let in.",
            pending.code
        );
        self.flow.answer(item, &text).await
    }

    async fn pair(&self, item: &ConversationMessage, parsed: Result<PairingCode, String>) -> Result<(), ApprovalError> {
        let c = &item.conversation;
        let code = match parsed {
            Ok(code) => code,
            Err(usage) => return self.flow.answer(item, &usage).await,
        };
        let by = format!("{}:{}", c.channel, item.message.sender.id);
        let text = match approve_code(self.repo.as_ref(), &c.tenant_id, &c.bot_id, code.as_str(), &by, now_ms()).await?
        {
            Some(allowed) => {
                tracing::info!(event = "pairing_approved", tenant_id = %c.tenant_id, bot_id = %c.bot_id, by = %by, "pairing code approved in chat");
                format!("Paired: {} may now message this bot directly.", allowed.user)
            }
            None => format!("No pending pairing code {} on this bot (wrong, used or expired).", code.as_str()),
        };
        self.flow.answer(item, &text).await
    }
}

/// A refused message's log line, metric and audit event.
pub(crate) fn refused(item: &ConversationMessage, reason: &'static str) {
    let c = &item.conversation;
    tracing::info!(event = "access_refused", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reason, direct = item.message.is_direct);
    metrics::count(metrics::Metric::AccessRefused, &c.tenant_id);
    audit::emit(
        audit::AuditKind::AccessRefused,
        c,
        serde_json::json!({"message_id": item.message.message_id.as_str(), "direct": item.message.is_direct, "reason": reason}),
    );
}
