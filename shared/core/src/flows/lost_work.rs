//! The lost-work rule: messages an agent was handed and may never have answered (its session
//! was recycled mid-run, say). The dispatcher hands them to the next run, which takes them up.

use std::collections::HashSet;

use crate::domain::model::{HistoryEntry, Role};
use crate::domain::records::MessageItem;

/// How far back (from the message being dispatched) unanswered messages count as lost work.
pub const LOST_WORK_WINDOW_MS: i64 = 60 * 60 * 1000;

/// The inbound lines of `lines` (one conversation's, as [`crate::ports::ConversationRepo::recent_messages`] returns them)
/// that sort before `until_sk`, were sent at most `window_ms` before `reference_ms` (the time of
/// the message at `until_sk`), were handed to an agent, and have neither an answered mark nor a
/// reply line (`{sk}#r{seq}`): work an agent may have lost, oldest first.
///
/// The dispatcher computes this from the lines it reads anyway and hands it to the agent, which
/// skips the messages it accepted itself (those are answered or still queued there).
pub fn unanswered_before<'a>(
    lines: &'a [MessageItem],
    until_sk: &str,
    window_ms: i64,
    reference_ms: i64,
) -> Vec<&'a MessageItem> {
    let answered_by_reply: HashSet<&str> = lines.iter().filter_map(MessageItem::answers).collect();
    lines
        .iter()
        .filter(|m| {
            m.role == Role::User
                && m.sk.as_str() < until_sk
                && m.dispatched_at_ms.is_some()
                && m.answered_at_ms.is_none()
                && !answered_by_reply.contains(m.sk.as_str())
                && reference_ms - m.at_ms <= window_ms
        })
        .collect()
}

/// The lost work before `key` (the message being dispatched, sent at `sent_at_ms`), as history.
pub fn lost_work(stored: &[MessageItem], key: &str, sent_at_ms: i64) -> Vec<HistoryEntry> {
    unanswered_before(stored, key, LOST_WORK_WINDOW_MS, sent_at_ms).into_iter().map(MessageItem::to_history).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::{ReplyState, inbound_sort_key};

    const NOW: i64 = 1_763_740_800_000;
    const MIN: i64 = 60_000;

    fn inbound(id: &str, at_ms: i64, dispatched: bool, answered: bool) -> MessageItem {
        MessageItem {
            pk: "t#CONV#b#telegram#4242".into(),
            sk: inbound_sort_key(at_ms, id),
            role: Role::User,
            message_id: id.into(),
            sender_id: "4242".into(),
            sender_name: "Ada".into(),
            text: format!("question {id}"),
            at_ms,
            expires_at: 0,
            dispatched_at_ms: dispatched.then_some(at_ms + 10),
            answered_at_ms: answered.then_some(at_ms + 20),
            reply_state: None,
            channel_message_ids: None,
            fresh_start: false,
        }
    }

    fn reply_to(line: &MessageItem, seq: u32, state: ReplyState) -> MessageItem {
        MessageItem {
            sk: format!("{}#r{seq:03}", line.sk),
            role: Role::Assistant,
            message_id: format!("{}#r{seq:03}", line.message_id),
            sender_name: "Clawd".into(),
            text: "an answer".into(),
            dispatched_at_ms: None,
            answered_at_ms: None,
            reply_state: Some(state),
            channel_message_ids: Some(vec!["1".into()]),
            ..line.clone()
        }
    }

    fn ids(found: Vec<&MessageItem>) -> Vec<&str> {
        found.into_iter().map(|m| m.message_id.as_str()).collect()
    }

    #[test]
    fn unanswered_are_dispatched_unmarked_unreplied_earlier_lines_within_the_window() {
        let too_old = inbound("101", NOW - 61 * MIN, true, false);
        let at_the_edge = inbound("102", NOW - 60 * MIN, true, false);
        let marked = inbound("103", NOW - 50 * MIN, true, true);
        let replied = inbound("104", NOW - 40 * MIN, true, false);
        let replied_line = reply_to(&replied, 1, ReplyState::Sent);
        let never_dispatched = inbound("105", NOW - 30 * MIN, false, false);
        let lost = inbound("106", NOW - 20 * MIN, true, false);
        // A split answer stopped after its first piece still counts as answered by its reply.
        let partly = inbound("107", NOW - 10 * MIN, true, false);
        let partly_line = reply_to(&partly, 1, ReplyState::Sending);
        let lost_too = inbound("108", NOW - MIN, true, false);
        let current = inbound("109", NOW, true, false);
        let lines = vec![
            too_old,
            at_the_edge,
            marked,
            replied,
            replied_line,
            never_dispatched,
            lost,
            partly,
            partly_line,
            lost_too,
            current.clone(),
        ];
        let found = unanswered_before(&lines, &current.sk, LOST_WORK_WINDOW_MS, NOW);
        assert_eq!(ids(found), ["102", "106", "108"]);

        // Only lines before the message being answered count (not it, nor anything after it), and
        // the window is measured from that message's time, not the clock.
        let until_lost = inbound_sort_key(NOW - 20 * MIN, "106");
        assert_eq!(ids(unanswered_before(&lines, &until_lost, LOST_WORK_WINDOW_MS, NOW - 20 * MIN)), ["101", "102"]);
        assert_eq!(ids(unanswered_before(&lines, &current.sk, 5 * MIN, NOW)), ["108"]);
        assert!(unanswered_before(&[], &current.sk, LOST_WORK_WINDOW_MS, NOW).is_empty());
    }
}
