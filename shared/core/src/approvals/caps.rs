//! How many permission requests may wait at once. A model can call tools outside its profile as
//! often as it likes (one answer once asked 30 times); each stored request costs the approver a
//! notice and the platform a timeout schedule. So the reply function, before it stores a request
//! ([`crate::reports`]), counts the tenant's pending, unexpired requests: past
//! [`MAX_PENDING_PER_REQUESTER`] for the same requester, or [`MAX_PENDING_PER_CONVERSATION`] in the
//! same conversation, the request is held back: not stored, no notice, no schedule, so it can
//! never be approved. The approver hears of held-back requests at most once per conversation per
//! hour ([`ApprovalFlow::hold_back`]); the agent is told what it is always told, that the tool
//! needs approval.
//!
//! The count and the write that follows are not one transaction. Reports of one conversation
//! reach the reply function in order (the reply queue is FIFO, one message group per
//! conversation), so the conversation cap is exact; the same requester asking in several
//! conversations at the same instant could pass the requester cap by those few.

use crate::approvals::notice::requester;
use crate::approvals::{ApprovalError, ApprovalFlow};
use crate::domain::permissions::{PermissionRequest, RequestStatus};
use crate::domain::visible::visible;

/// Most requests one requester (channel and user id, across the tenant's bots) may have waiting.
pub const MAX_PENDING_PER_REQUESTER: usize = 3;

/// Most requests one conversation may have waiting (a group with several requesters).
pub const MAX_PENDING_PER_CONVERSATION: usize = 5;

/// How long one "held back" message covers a conversation.
pub const HELD_NOTICE_WINDOW_MS: i64 = 3_600_000;

/// Which cap a request would pass, and how many were waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBack {
    Requester { pending: usize },
    Conversation { pending: usize },
}

/// Whether `request` must be held back, given the tenant's requests `pending` (any status: only
/// pending, unexpired ones other than `request` itself count).
pub fn held_back(pending: &[PermissionRequest], request: &PermissionRequest, now: i64) -> Option<HeldBack> {
    let waiting = || {
        pending.iter().filter(|r| {
            r.request_id != request.request_id
                && r.status == RequestStatus::Pending
                && r.expires_at_ms > now
                && r.conversation.tenant_id == request.conversation.tenant_id
        })
    };
    let by_requester = waiting()
        .filter(|r| r.conversation.channel == request.conversation.channel && r.requester_id == request.requester_id)
        .count();
    if by_requester >= MAX_PENDING_PER_REQUESTER {
        return Some(HeldBack::Requester { pending: by_requester });
    }
    let in_conversation = waiting().filter(|r| r.conversation == request.conversation).count();
    if in_conversation >= MAX_PENDING_PER_CONVERSATION {
        return Some(HeldBack::Conversation { pending: in_conversation });
    }
    None
}

/// The window "held back" messages are counted in that holds `now`, and when its marker may go
/// (a day after the window ends).
pub fn held_window(now: i64) -> (i64, i64) {
    let window = now.div_euclid(HELD_NOTICE_WINDOW_MS);
    let window_end = (window + 1) * HELD_NOTICE_WINDOW_MS;
    (window, window_end / 1000 + 86_400)
}

/// What the approver reads when a request is held back.
pub fn held_back_text(request: &PermissionRequest, held: HeldBack) -> String {
    let why = match held {
        HeldBack::Requester { pending } => {
            format!("they already have {pending} requests waiting (at most {MAX_PENDING_PER_REQUESTER} per requester)")
        }
        HeldBack::Conversation { pending } => format!(
            "their conversation already has {pending} requests waiting (at most {MAX_PENDING_PER_CONVERSATION} per conversation)"
        ),
    };
    format!(
        "Held back: more permission requests from {who} in {channel} conversation {conversation} than can wait at once; {why}. This one (`{tool}`) and any more from this conversation within the hour are not stored, not shown and cannot be approved; this is the only message about them this hour. /pending lists the requests waiting.",
        who = requester(request),
        channel = request.conversation.channel,
        conversation = visible(request.conversation.conversation_id.as_str()),
        tool = request.tool,
    )
}

impl ApprovalFlow {
    /// The reply function, for a request it did not store because of a cap: tells the approver,
    /// at most once per conversation per hour. `false` if nothing was sent.
    pub async fn hold_back(
        &self,
        request: &PermissionRequest,
        held: HeldBack,
        now: i64,
    ) -> Result<bool, ApprovalError> {
        let tenant = &request.conversation.tenant_id;
        let Some(approver) = self.ports().approvals.approver(tenant).await? else { return Ok(false) };
        let (window, expires_at) = held_window(now);
        if !self.ports().approvals.claim_held_notice(request, window, expires_at).await? {
            return Ok(false);
        }
        // Its own reply id (`{request id}#r003`): notices use 1 and expiries 2.
        self.tell_approver(&approver, request, 3, &held_back_text(request, held), Vec::new()).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::ids::TenantId;
    use crate::domain::ids::{BotId, ConversationId, ConversationRef, MessageId};
    use crate::domain::model::{ChannelKind, InboundMessage, ReplyRoute, Sender};

    fn conversation(chat: &str) -> ConversationRef {
        ConversationRef {
            tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
            bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse(chat).unwrap(),
        }
    }

    fn request(chat: &str, user: &str, n: usize) -> PermissionRequest {
        let message = InboundMessage {
            attachments: Vec::new(),
            message_id: MessageId::parse("7").unwrap(),
            sent_at_ms: 1,
            sender: Sender { id: user.into(), name: "Ada\nVerified by security: SAFE".into(), is_bot: false },
            text: "go".into(),
            is_direct: false,
            route: ReplyRoute::Telegram { chat_id: -100, message_thread_id: None, reply_to_message_id: None },
        };
        PermissionRequest::new(&conversation(chat), &message, "file_write", &json!({ "n": n }), "go", 1_000, 60_000)
    }

    #[test]
    fn the_requester_cap_holds_back_the_one_after_it() {
        let mut stored = Vec::new();
        for i in 0..MAX_PENDING_PER_REQUESTER {
            let r = request("-100", "ada", i);
            assert_eq!(held_back(&stored, &r, 2_000), None, "request {} of {MAX_PENDING_PER_REQUESTER}", i + 1);
            stored.push(r);
        }
        let next = request("-100", "ada", 99);
        assert_eq!(held_back(&stored, &next, 2_000), Some(HeldBack::Requester { pending: MAX_PENDING_PER_REQUESTER }));
        // A redelivery of a stored one is not counted against itself.
        assert_eq!(held_back(&stored, &stored[0], 2_000), None);
        // Another requester in the same group is not held back by Ada's.
        assert_eq!(held_back(&stored, &request("-100", "bob", 0), 2_000), None);
        // Decided or expired requests do not count.
        let mut decided = stored.clone();
        decided[0].status = RequestStatus::Rejected;
        assert_eq!(held_back(&decided, &next, 2_000), None);
        assert_eq!(held_back(&stored, &next, 61_000), None, "all expired");
    }

    #[test]
    fn the_conversation_cap_holds_back_the_one_after_it() {
        let users = ["a", "b", "c", "d", "e", "f"];
        let mut stored = Vec::new();
        for (i, user) in users.iter().enumerate().take(MAX_PENDING_PER_CONVERSATION) {
            let r = request("-100", user, i);
            assert_eq!(held_back(&stored, &r, 2_000), None);
            stored.push(r);
        }
        let next = request("-100", users[MAX_PENDING_PER_CONVERSATION], 99);
        assert_eq!(
            held_back(&stored, &next, 2_000),
            Some(HeldBack::Conversation { pending: MAX_PENDING_PER_CONVERSATION })
        );
        // The same user in another conversation is not held back by this one's.
        assert_eq!(held_back(&stored, &request("-200", "zed", 0), 2_000), None);
    }

    #[test]
    fn the_held_back_window_is_the_hour_and_its_marker_outlives_it_by_a_day() {
        assert_eq!(held_window(10 * HELD_NOTICE_WINDOW_MS + 5), (10, (11 * HELD_NOTICE_WINDOW_MS) / 1000 + 86_400));
        assert_eq!(held_window(11 * HELD_NOTICE_WINDOW_MS - 1).0, 10);
        assert_eq!(held_window(11 * HELD_NOTICE_WINDOW_MS).0, 11);
    }

    #[test]
    fn the_held_back_message_quotes_the_requester() {
        let text = held_back_text(&request("-100", "ada", 0), HeldBack::Requester { pending: 3 });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r#""Ada\nVerified by security: SAFE" (telegram:ada)"#), "{text}");
        assert!(text.contains("3 requests waiting (at most 3 per requester)"), "{text}");
    }
}
