//! Chat commands in the dispatcher (parsing is in `crate::chat_commands::tests`).
//!
//! - `/help`, `/status`, `/usage`, `/reset` → answered by the dispatcher, no agent run, the line
//!   stored with its mark (a redelivery is skipped)               `commands_are_answered_without_an_agent`
//! - `/status` → the model, the profile's tools, the month's use against the budget, pending
//!   requests                                                      same
//! - `/usage` works with the budget spent                          `usage_is_answered_over_budget`
//! - `/new` → the next run sees no history and no lost work from before it; later lines are
//!   history again                                                 `new_starts_the_next_run_afresh`

use super::*;
use crate::chat_commands::{NEW_ANSWER, RESET_ANSWER};
use crate::domain::model::month_of;
use crate::domain::usage::TenantQuota;
use crate::ports::UsageRepo;

#[tokio::test]
async fn commands_are_answered_without_an_agent() {
    let h = Harness::with_quotas(bot_record());
    h.store.set_quota(&tenant(), &TenantQuota { monthly_tokens: Some(1_000), ..Default::default() }).await.unwrap();
    h.store.add_token_usage(&tenant(), &month_of(now_ms()), 300, 100, 1).await.unwrap();
    let commands = [("1001", "/help"), ("1002", "/status@clawd_bot"), ("1003", "/usage"), ("1004", "/reset")];
    for (n, (id, text)) in commands.iter().enumerate() {
        let item = message("4242", id, text, NOW + n as i64);
        assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched, "{text}");
        assert!(h.is_dispatched(&item), "{text}: stored with its mark");
        // Redelivered: skipped, not answered twice.
        assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::AlreadyDispatched);
    }
    assert!(h.invoked().is_empty(), "no agent run, so no model call");
    let replies = h.queue.replies();
    assert_eq!(replies.len(), 4);
    assert!(replies.iter().all(|r| scope_key().verify(&r.conversation, &r.scope)));
    assert!(replies[0].text.contains("/new") && replies[0].text.contains("/status"), "{}", replies[0].text);
    assert!(!replies[0].text.contains("/approve"), "not the approver: {}", replies[0].text);
    let status = &replies[1].text;
    assert!(status.contains("Model: platform default"), "{status}");
    assert!(status.contains("Tools I may use for you (default profile): "), "{status}");
    assert!(status.contains("300 input + 100 output tokens"), "{status}");
    assert!(status.contains("budget 1000, 600 left"), "{status}");
    assert!(status.contains("Pending permission requests: 0"), "{status}");
    assert!(replies[2].text.contains("300 input + 100 output tokens over 1 runs; budget 1000, 600 left"));
    assert_eq!(replies[3].text, RESET_ANSWER);
}

#[tokio::test]
async fn usage_is_answered_over_budget() {
    let h = Harness::with_quotas(bot_record());
    h.store.set_quota(&tenant(), &TenantQuota { monthly_tokens: Some(10), ..Default::default() }).await.unwrap();
    h.store.add_token_usage(&tenant(), &month_of(now_ms()), 10, 5, 1).await.unwrap();
    let item = message("4242", "1001", "/usage", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched);
    let replies = h.queue.replies();
    assert_eq!(replies.len(), 1);
    assert!(replies[0].text.contains("budget 10, 0 left"), "{}", replies[0].text);
}

#[tokio::test]
async fn new_starts_the_next_run_afresh() {
    let h = Harness::with_quotas(bot_record());
    let before = message("4242", "1001", "remember the blue door", NOW - 10 * MIN);
    let lost = message("4242", "1002", "never answered", NOW - 5 * MIN);
    h.dispatched(&before).await;
    h.dispatched(&lost).await;
    let new = message("4242", "1003", "/new", NOW - MIN);
    assert_eq!(h.dispatcher.dispatch(channel(&new)).await.unwrap(), DispatchOutcome::Dispatched);
    assert!(h.line(&new).is_some_and(|l| l.fresh_start && l.dispatched_at_ms.is_some()));
    assert_eq!(h.queue.replies()[0].text, NEW_ANSWER);
    assert!(h.invoked().is_empty());

    let next = message("4242", "1004", "what door?", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&next)).await.unwrap(), DispatchOutcome::Dispatched);
    let invocation = &h.invoked()[0];
    assert!(invocation.history.is_empty(), "{:?}", invocation.history);
    assert!(invocation.unanswered.is_empty(), "{:?}", invocation.unanswered);

    let later = message("4242", "1005", "and now?", NOW + MIN);
    h.dispatcher.dispatch(channel(&later)).await.unwrap();
    assert_eq!(ids(&h.invoked()[1].history), ["1004"], "lines after /new are history again");
}
