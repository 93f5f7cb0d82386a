//! Message rates and the concurrent-run cap in the dispatcher (the slots' own rules are in
//! `crate::quota::runs`).
//!
//! - over a user's rate → no run, kept as context, one answer that minute; another user runs
//!   `a_user_over_their_rate_is_answered_once_and_others_still_run`
//! - the bot's overall rate stops everyone                     `the_bot_rate_counts_every_user`
//! - at the cap → not run, not stored, queued again (not dropped); the run's end frees the slot
//!   and the message then runs                                  `at_the_cap_a_message_goes_round_and_runs_once_a_run_ends`
//! - the conversation's later message goes behind the waiting one   same
//! - approval commands are not rate limited                     `approval_commands_are_never_rate_limited`

use super::*;
use crate::domain::envelope::RunSummary;
use crate::domain::usage::TenantQuota;
use crate::ports::{LimitRepo, UsageRepo as _};
use crate::quota::RATE_ANSWER;

async fn limit(h: &Harness, quota: TenantQuota) {
    h.store.set_quota(&tenant(), &quota).await.unwrap();
}

#[tokio::test]
async fn a_user_over_their_rate_is_answered_once_and_others_still_run() {
    let h = Harness::with_quotas(bot_record());
    limit(&h, TenantQuota { messages_per_minute: Some(2), ..Default::default() }).await;
    for (i, id) in ["1001", "1002"].into_iter().enumerate() {
        let item = message("4242", id, "hello", NOW + i as i64);
        assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched);
    }
    let third = message("4242", "1003", "hello again", NOW + 2);
    assert_eq!(h.dispatcher.dispatch(channel(&third)).await.unwrap(), DispatchOutcome::OverRate);
    let fourth = message("4242", "1004", "and again", NOW + 3);
    assert_eq!(h.dispatcher.dispatch(channel(&fourth)).await.unwrap(), DispatchOutcome::OverRate);
    assert_eq!(h.invoked().len(), 2, "no run over the rate");
    let replies = h.queue.replies();
    assert_eq!(replies.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), [RATE_ANSWER], "one answer a minute");
    assert_eq!(replies[0].in_reply_to, third.message.message_id);
    let line = h.line(&third).expect("kept as context");
    assert!(line.dispatched_at_ms.is_none(), "never taken up as lost work");

    let other = message("5151", "2001", "hi", NOW + 4);
    assert_eq!(h.dispatcher.dispatch(channel(&other)).await.unwrap(), DispatchOutcome::Dispatched);
}

#[tokio::test]
async fn the_bot_rate_counts_every_user() {
    let h = Harness::with_quotas(bot_record());
    limit(&h, TenantQuota { bot_messages_per_minute: Some(1), ..Default::default() }).await;
    let first = message("4242", "1001", "hello", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&first)).await.unwrap(), DispatchOutcome::Dispatched);
    let other = message("5151", "2001", "hi", NOW + 1);
    assert_eq!(h.dispatcher.dispatch(channel(&other)).await.unwrap(), DispatchOutcome::OverRate);
    assert_eq!(h.queue.replies()[0].conversation, other.conversation);
}

#[tokio::test]
async fn approval_commands_are_never_rate_limited() {
    let h = Harness::with_quotas(bot_record());
    limit(&h, TenantQuota { messages_per_minute: Some(1), ..Default::default() }).await;
    let first = message("4242", "1001", "hello", NOW);
    h.dispatcher.dispatch(channel(&first)).await.unwrap();
    let pending = message("4242", "1002", "/pending", NOW + 1);
    assert_ne!(h.dispatcher.dispatch(channel(&pending)).await.unwrap(), DispatchOutcome::OverRate);
}

#[tokio::test]
async fn at_the_cap_a_message_goes_round_and_runs_once_a_run_ends() {
    let h = Harness::with_quotas(bot_record());
    limit(&h, TenantQuota { concurrent_runs: Some(1), ..Default::default() }).await;
    let running = message("4242", "1001", "hello", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&running)).await.unwrap(), DispatchOutcome::Dispatched);
    // The same conversation joins its own run.
    let more = message("4242", "1002", "and this", NOW + 1);
    assert_eq!(h.dispatcher.dispatch(channel(&more)).await.unwrap(), DispatchOutcome::Dispatched);

    let waiting = message("5151", "2001", "hi", NOW + 2);
    let later = message("5151", "2002", "still there?", NOW + 3);
    assert_eq!(h.dispatcher.dispatch(channel(&waiting)).await.unwrap(), DispatchOutcome::Waiting);
    assert_eq!(h.invoked().len(), 2, "not run");
    assert!(h.line(&waiting).is_none(), "not stored");
    assert_eq!(
        h.queue.inbound().last().map(|e| e.item().message.message_id.clone()),
        Some(waiting.message.message_id.clone()),
        "queued again, not dropped"
    );

    // The first run ends with 1001 only: its slot waits for 1002, which it took too.
    crate::flows::reports::release_run(
        h.store.as_ref(),
        &running.conversation,
        &running.message.message_id,
        &RunSummary::default(),
    )
    .await
    .unwrap();
    assert_eq!(h.dispatcher.dispatch(channel(&waiting)).await.unwrap(), DispatchOutcome::Waiting);
    let summary = RunSummary { answered: vec![(NOW + 1, more.message.message_id.clone())], ..Default::default() };
    crate::flows::reports::release_run(h.store.as_ref(), &running.conversation, &running.message.message_id, &summary)
        .await
        .unwrap();

    // A slot is free, but the conversation's later message does not overtake the waiting one.
    assert_eq!(h.dispatcher.dispatch(channel(&later)).await.unwrap(), DispatchOutcome::Waiting);
    assert_eq!(h.dispatcher.dispatch(channel(&waiting)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.dispatcher.dispatch(channel(&later)).await.unwrap(), DispatchOutcome::Dispatched);
    let ran: Vec<_> = h.invoked().iter().map(|i| i.item.message.message_id.as_str().to_owned()).collect();
    assert_eq!(ran, ["1001", "1002", "2001", "2002"]);
    assert_eq!(h.store.run_slots(&tenant()).await.unwrap().runs.len(), 1);
}
