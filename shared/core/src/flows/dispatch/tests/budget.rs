//! The monthly token budget in the dispatcher (the day and month rules are in
//! `crate::quota::tests`).
//!
//! - no budget set → every message runs                                   `without_a_budget_every_message_runs`
//! - under the budget → runs; at or over it → no run, stored with its mark, the first message
//!   of the day in each conversation answered once, the rest in silence   `a_spent_budget_stops_runs_with_one_answer_per_conversation`
//! - scheduled firings stop too (no model call)                            same
//! - reading the budget or the month's use fails → error, nothing run or stored   `a_failed_read_runs_nothing`

use super::*;
use crate::domain::model::month_of;
use crate::domain::usage::TenantQuota;
use crate::ports::UsageRepo;
use crate::quota::BUDGET_SPENT_ANSWER;

async fn spend(h: &Harness, tokens: u64) {
    h.store.add_token_usage(&tenant(), &month_of(now_ms()), tokens, 0, 1).await.unwrap();
}

#[tokio::test]
async fn without_a_budget_every_message_runs() {
    let h = Harness::with_quotas(bot_record());
    spend(&h, 1_000_000).await;
    let item = message("4242", "1001", "hello", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 1);
    assert!(h.queue.replies().is_empty());
}

#[tokio::test]
async fn a_spent_budget_stops_runs_with_one_answer_per_conversation() {
    let h = Harness::with_quotas(bot_record());
    h.store.set_quota(&tenant(), &TenantQuota { monthly_tokens: Some(1_000), ..Default::default() }).await.unwrap();
    spend(&h, 999).await;
    let first = message("4242", "1001", "hello", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&first)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 1, "one token left: it runs");

    // The run's summary brings the month to the budget.
    h.store.add_token_usage(&tenant(), &month_of(now_ms()), 0, 1, 1).await.unwrap();
    let second = message("4242", "1002", "and now?", NOW + 1);
    assert_eq!(h.dispatcher.dispatch(channel(&second)).await.unwrap(), DispatchOutcome::OverBudget);
    assert_eq!(h.invoked().len(), 1, "no run, so no model call");
    assert!(h.is_dispatched(&second), "stored with its mark: a redelivery is skipped");
    let replies = h.queue.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].text, BUDGET_SPENT_ANSWER);
    assert_eq!(replies[0].conversation, second.conversation);
    assert_eq!(replies[0].in_reply_to, second.message.message_id);
    assert!(scope_key().verify(&second.conversation, &replies[0].scope));

    // The same conversation later that day: silence. Another conversation: its own one answer.
    let third = message("4242", "1003", "hello??", NOW + 2);
    assert_eq!(h.dispatcher.dispatch(channel(&third)).await.unwrap(), DispatchOutcome::OverBudget);
    assert_eq!(h.queue.replies().len(), 1, "one answer per conversation per day");
    let elsewhere = message("5151", "2001", "hi", NOW + 3);
    assert_eq!(h.dispatcher.dispatch(channel(&elsewhere)).await.unwrap(), DispatchOutcome::OverBudget);
    assert_eq!(h.queue.replies().len(), 2);
    assert_eq!(h.queue.replies()[1].conversation, elsewhere.conversation);

    // A scheduled firing makes no model call either.
    let firing = message("4242", "1004", "daily summary", NOW + 4);
    assert_eq!(h.dispatcher.dispatch(scheduled(&firing, false)).await.unwrap(), DispatchOutcome::OverBudget);
    assert_eq!(h.invoked().len(), 1);
}

#[tokio::test]
async fn a_failed_read_runs_nothing() {
    for port in ["quota", "token_usage"] {
        let h = Harness::with_quotas(bot_record());
        h.store.set_quota(&tenant(), &TenantQuota { monthly_tokens: Some(1_000), ..Default::default() }).await.unwrap();
        h.store.fail.on(port);
        let item = message("4242", "1001", "hello", NOW);
        assert!(h.dispatcher.dispatch(channel(&item)).await.is_err(), "{port}");
        assert!(h.invoked().is_empty() && h.line(&item).is_none(), "{port}: nothing run or stored");
    }
}
