//! The access check in the dispatcher (the policy's own rules are in `crate::access::tests`).
//!
//! - `pairing`: a stranger gets one code in their DM, nothing stored or run; a second DM gets
//!   nothing; once allowed they are run; revoked, refused again      `a_stranger_pairs_and_a_revoked_user_is_refused_at_once`
//! - `allowlist` / `disabled` DMs: refused without a reply            `allowlist_and_disabled_dms_refuse_without_a_reply`
//! - groups: a DM allow item admits nobody in a group; `allowlist` reads the bot fresh, so a
//!   group added or removed counts at its next message                `groups_are_decided_by_the_group_never_by_a_dm_pairing`
//! - `/pair` from the approver approves; from anyone else nothing     `pair_is_the_approver_s_alone`
//! - scheduled firings and resume messages are the platform's own: not checked   `firings_are_not_checked`

use super::*;
use crate::access::{AccessRepo, AllowedUser, BotAccess, DmPolicy, GroupPolicy, PairingCode};
use crate::approvals::{ApproverConfig, RESUME_SUFFIX};
use crate::domain::model::ChannelKind;
use crate::domain::permissions::UserRef;

fn with_policy(dm: DmPolicy, groups: GroupPolicy) -> Harness {
    let mut record = bot_record();
    record.bot.access = BotAccess { dm, groups, allowed_groups: Vec::new() };
    Harness::with_access(record)
}

fn ada() -> UserRef {
    UserRef::new(ChannelKind::Telegram, "4242").unwrap()
}

async fn allow(h: &Harness, user: &UserRef) {
    let allowed = AllowedUser { user: user.to_string(), added_at_ms: NOW, added_by: "operator".into() };
    h.store.allow_dm(&tenant(), &bot_id(), &allowed).await.unwrap();
}

fn in_group(chat: &str, id: &str, text: &str) -> ConversationMessage {
    let mut item = message(chat, id, text, NOW);
    item.message.sender.id = "4242".into();
    item.message.is_direct = false;
    item
}

fn refused(outcome: DispatchOutcome) -> bool {
    matches!(outcome, DispatchOutcome::Refused(_))
}

#[tokio::test]
async fn a_stranger_pairs_and_a_revoked_user_is_refused_at_once() {
    let h = with_policy(DmPolicy::Pairing, GroupPolicy::Mention);
    let first = message("4242", "1001", "hello", NOW);
    assert!(refused(h.dispatcher.dispatch(channel(&first)).await.unwrap()));
    let replies = h.queue.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].conversation, first.conversation, "the code goes to the stranger's own DM");
    assert_eq!(replies[0].route, first.message.route);
    assert!(scope_key().verify(&first.conversation, &replies[0].scope), "minted for that conversation");
    let code = replies[0].text.split("Your pairing code is ").nth(1).unwrap().split_whitespace().next().unwrap();
    assert!(PairingCode::parse(code).is_some(), "{code}");
    assert!(h.invoked().is_empty() && h.line(&first).is_none(), "nothing run, nothing stored");

    // The same DM redelivered sends its reply again (the reply queue drops the copy by its id);
    // another DM within the hour sends nothing.
    assert_eq!(h.queue.attempts(), 1);
    h.dispatcher.dispatch(channel(&first)).await.unwrap();
    assert_eq!((h.queue.attempts(), h.queue.replies().len()), (2, 1));
    let second = message("4242", "1002", "hello??", NOW + 1);
    assert!(refused(h.dispatcher.dispatch(channel(&second)).await.unwrap()));
    assert_eq!(h.queue.attempts(), 2, "one code per user per hour");

    allow(&h, &ada()).await;
    let third = message("4242", "1003", "now?", NOW + 2);
    assert_eq!(h.dispatcher.dispatch(channel(&third)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 1);

    assert!(h.store.revoke_dm(&tenant(), &bot_id(), &ada()).await.unwrap());
    let fourth = message("4242", "1004", "still?", NOW + 3);
    assert!(refused(h.dispatcher.dispatch(channel(&fourth)).await.unwrap()));
    assert_eq!(h.invoked().len(), 1, "refused at the next message");
    assert!(h.line(&fourth).is_none());
}

#[tokio::test]
async fn allowlist_and_disabled_dms_refuse_without_a_reply() {
    let h = with_policy(DmPolicy::Allowlist, GroupPolicy::Mention);
    let item = message("4242", "1001", "hello", NOW);
    assert!(refused(h.dispatcher.dispatch(channel(&item)).await.unwrap()));
    assert!(h.queue.replies().is_empty(), "no codes under allowlist");
    allow(&h, &ada()).await;
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched);

    let h = with_policy(DmPolicy::Disabled, GroupPolicy::Mention);
    allow(&h, &ada()).await;
    assert!(
        refused(h.dispatcher.dispatch(channel(&item)).await.unwrap()),
        "an allow item does not reopen disabled DMs"
    );
    assert!(h.queue.replies().is_empty() && h.invoked().is_empty());

    let h = with_policy(DmPolicy::Open, GroupPolicy::Mention);
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched);
}

#[tokio::test]
async fn groups_are_decided_by_the_group_never_by_a_dm_pairing() {
    let h = with_policy(DmPolicy::Pairing, GroupPolicy::Allowlist);
    allow(&h, &ada()).await;
    let item = in_group("-100", "1001", "@clawd_bot hi");
    // Primes the dispatcher's bot cache with the list as it is now (empty).
    assert!(refused(h.dispatcher.dispatch(channel(&item)).await.unwrap()), "a DM pairing admits nobody in a group");
    assert!(h.queue.replies().is_empty(), "no code is ever sent to a group");
    assert!(h.line(&item).is_none());

    let listed = BotAccess {
        dm: DmPolicy::Pairing,
        groups: GroupPolicy::Allowlist,
        allowed_groups: vec!["telegram:-100".into()],
    };
    h.store.set_bot_access(&bot_id(), &listed).await.unwrap();
    assert_eq!(h.dispatcher.dispatch(channel(&item)).await.unwrap(), DispatchOutcome::Dispatched, "read fresh");
    let other = in_group("-200", "1002", "@clawd_bot hi");
    assert!(refused(h.dispatcher.dispatch(channel(&other)).await.unwrap()));

    let mut unlisted = listed.clone();
    unlisted.allowed_groups.clear();
    h.store.set_bot_access(&bot_id(), &unlisted).await.unwrap();
    let again = in_group("-100", "1003", "@clawd_bot again");
    assert!(refused(h.dispatcher.dispatch(channel(&again)).await.unwrap()), "removed: refused at its next message");
    assert_eq!(h.invoked().len(), 1);

    // A listed group never admits its id as a DM user.
    let h = with_policy(DmPolicy::Allowlist, GroupPolicy::Disabled);
    let group_as_user = UserRef::new(ChannelKind::Telegram, "-100").unwrap();
    allow(&h, &group_as_user).await;
    assert!(refused(h.dispatcher.dispatch(channel(&in_group("-100", "1004", "hi"))).await.unwrap()));
}

#[tokio::test]
async fn pair_is_the_approver_s_alone() {
    let h = with_policy(DmPolicy::Pairing, GroupPolicy::Mention);
    let approver = ApproverConfig {
        tenant_id: tenant(),
        bot_id: bot_id(),
        channel: ChannelKind::Telegram,
        user_id: "9001".into(),
        updated_at_ms: NOW,
    };
    h.store.put_approver(&approver).await.unwrap();
    let stranger = message("4242", "1001", "hello", NOW);
    h.dispatcher.dispatch(channel(&stranger)).await.unwrap();
    let text = h.queue.replies()[0].text.clone();
    let code = text.split("Your pairing code is ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();

    // The stranger's own /pair: refused like any of their messages.
    let own = message("4242", "1002", &format!("/pair {code}"), NOW + 1);
    assert!(refused(h.dispatcher.dispatch(channel(&own)).await.unwrap()));
    // An allowed user who is not the approver: answered, nothing approved.
    let bea = UserRef::new(ChannelKind::Telegram, "5151").unwrap();
    allow(&h, &bea).await;
    let by_bea = message("5151", "1003", &format!("/pair {code}"), NOW + 2);
    assert_eq!(h.dispatcher.dispatch(channel(&by_bea)).await.unwrap(), DispatchOutcome::Dispatched);
    assert!(h.queue.replies().last().unwrap().text.contains("Only this workspace's approver"));
    assert!(h.invoked().is_empty(), "a /pair never reaches an agent");
    assert!(!h.store.dm_allowed(&tenant(), &bot_id(), &ada()).await.unwrap());

    // The approver (on no allowlist): a usage answer, then the approval.
    let usage = message("9001", "1004", "/pair", NOW + 3);
    assert_eq!(h.dispatcher.dispatch(channel(&usage)).await.unwrap(), DispatchOutcome::Dispatched);
    assert!(h.queue.replies().last().unwrap().text.starts_with("Usage: /pair"));
    let pair = message("9001", "1005", &format!("/pair {}", code.to_lowercase()), NOW + 4);
    assert_eq!(h.dispatcher.dispatch(channel(&pair)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.queue.replies().last().unwrap().text, "Paired: telegram:4242 may now message this bot directly.");
    assert!(h.is_dispatched(&pair), "handled and stored once");
    assert!(h.store.dm_allowed(&tenant(), &bot_id(), &ada()).await.unwrap());
    assert!(h.invoked().is_empty());
}

#[tokio::test]
async fn firings_are_not_checked() {
    let h = with_policy(DmPolicy::Disabled, GroupPolicy::Disabled);
    let firing = message("4242", "1001", "daily report", NOW);
    assert_eq!(h.dispatcher.dispatch(scheduled(&firing, false)).await.unwrap(), DispatchOutcome::Dispatched);
    let resume = message("4242", &format!("r1{RESUME_SUFFIX}"), "(platform) continue", NOW + 1);
    assert_eq!(h.dispatcher.dispatch(channel(&resume)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 2);
}
