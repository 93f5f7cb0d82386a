//! Approval commands and approve-once grants in the dispatcher.
//!
//! - an approval command from the approver: handled, stored marked dispatched, never invoked   `the_approver_s_commands_are_handled_instead_of_invoking`
//! - from anyone else: refused with an answer, never invoked                            same
//! - handling it fails → error, nothing stored; the retry handles it                     `a_failed_command_is_retried`
//! - a scheduled task's text is never a command; without a flow, commands reach the agent   `commands_reach_the_agent_when_nothing_handles_them`
//! - approve once → the resume message's run gets the grant, marked used by that message;
//!   a redelivery of that message (after an AgentCore failure) gets it again            `an_approval_resumes_the_run_with_its_grant`
//! - no grant for another sender, another conversation, an expired or used request, a
//!   decision other than once, a pending request, or a scheduled task                  `a_once_grant_goes_to_its_requester_s_resumed_run_only`

use serde_json::json;

use super::*;
use crate::approvals::{ApproverConfig, RESUME_SUFFIX};
use crate::domain::envelope::OnceGrant;
use crate::domain::model::{ChannelKind, now_ms};
use crate::domain::permissions::{DecisionRecord, PermissionRequest, REQUEST_TTL_MS, RequestStatus};

/// Ada (Telegram user 4242, in her private chat 4242) approves.
fn approver() -> ApproverConfig {
    ApproverConfig {
        tenant_id: tenant(),
        bot_id: bot_id(),
        channel: ChannelKind::Telegram,
        user_id: "4242".into(),
        updated_at_ms: NOW,
    }
}

async fn with_approver() -> Harness {
    let h = Harness::with_approvals(bot_record());
    h.store.put_approver(&approver()).await.expect("stored");
    h
}

fn texts(h: &Harness) -> Vec<String> {
    h.queue.replies().into_iter().map(|r| r.text).collect()
}

#[tokio::test]
async fn the_approver_s_commands_are_handled_instead_of_invoking() {
    let h = with_approver().await;
    let pending = message("4242", "1001", "/pending", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&pending)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert!(h.agent.invocations().is_empty(), "an agent never sees an approval command");
    assert!(h.is_dispatched(&pending), "stored with its mark once handled");
    let outcome = h.dispatcher.dispatch(channel(&pending)).await.expect("ok");
    assert_eq!(outcome, DispatchOutcome::AlreadyDispatched, "a redelivery is not handled twice");
    assert_eq!(h.queue.replies().len(), 1);
    let replies = h.queue.replies();
    assert_eq!(texts(&h), ["No pending permission requests."]);
    assert_eq!((replies[0].conversation.clone(), replies[0].in_reply_to.as_str()), (conversation("4242"), "1001"));
    assert!(scope_key().verify(&conversation("4242"), &replies[0].scope), "the reply function will send it");

    // Someone else typing (or clicking) a command: answered with a refusal, decided nothing.
    let (events, _guard) = Events::capture();
    let forged = message("5151", "1002", "/approve pr0123456789abcdef0123 once", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&forged)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert!(h.agent.invocations().is_empty());
    assert!(h.is_dispatched(&forged));
    let refusal = &h.queue.replies()[1];
    assert_eq!(refusal.text, "Only this workspace's approver can decide permission requests.");
    assert_eq!(refusal.conversation, conversation("5151"));
    assert_eq!(events.named("approval_refused").len(), 1, "{:?}", events.names());
    assert_eq!(events.named("approval_command").len(), 1);
}

#[tokio::test]
async fn a_failed_command_is_retried() {
    let h = with_approver().await;
    let pending = message("4242", "1001", "/pending", NOW);
    h.store.fail.on("approver");
    let err = h.dispatcher.dispatch(channel(&pending)).await.expect_err("the approver could not be read");
    assert!(matches!(err, DispatchError::Approval(_)), "{err}");
    assert!(!h.is_dispatched(&pending) && h.queue.replies().is_empty());
    h.store.fail.off("approver");
    assert_eq!(h.dispatcher.dispatch(channel(&pending)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(texts(&h), ["No pending permission requests."]);
    assert!(h.agent.invocations().is_empty());
}

#[tokio::test]
async fn commands_reach_the_agent_when_nothing_handles_them() {
    // A task whose prompt reads like a command is still a task.
    let h = with_approver().await;
    let firing = message("4242", "task-k1-1763740800", "/pending", NOW);
    h.stored(&firing).await;
    assert_eq!(h.dispatcher.dispatch(scheduled(&firing, false)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked().len(), 1);
    assert!(h.queue.replies().is_empty());

    // A dispatcher without the approval flow hands every message to the agent.
    let plain = Harness::new(bot_record(), 20);
    let pending = message("4242", "1001", "/pending", NOW);
    assert_eq!(plain.dispatcher.dispatch(channel(&pending)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert_eq!(plain.invoked()[0].item.message.text, "/pending");
}

/// Bob (user 5151, in his chat 5151) asked for `web_fetch` of `url` while his message 501 ran.
fn request_for(url: &str) -> PermissionRequest {
    let asked = message("5151", "501", "fetch the page", NOW);
    let arguments = json!({ "url": url });
    PermissionRequest::new(
        &asked.conversation,
        &asked.message,
        "web_fetch",
        &arguments,
        "fetch",
        now_ms(),
        REQUEST_TTL_MS,
    )
}

fn approved(mut request: PermissionRequest, how: &str) -> PermissionRequest {
    request.status = RequestStatus::Approved;
    request.decision = Some(DecisionRecord {
        how: how.into(),
        by: "telegram:4242".into(),
        at_ms: now_ms(),
        hours: None,
        reason: None,
        message_id: Some("601".into()),
    });
    request
}

/// The platform message that resumes `request`'s run, in `chat`, on behalf of `sender`.
fn resume_of(request: &PermissionRequest, chat: &str, sender: &str) -> ConversationMessage {
    let id = format!("{}{RESUME_SUFFIX}", request.request_id);
    let mut item = message(chat, &id, "(platform) The administrator approved the tool.", now_ms());
    item.message.sender.id = sender.into();
    item
}

async fn used_by(h: &Harness, request: &PermissionRequest) -> Option<String> {
    h.store.request(&tenant(), &request.request_id).await.expect("read").expect("stored").used_by
}

#[tokio::test]
async fn an_approval_resumes_the_run_with_its_grant() {
    let h = with_approver().await;
    let request = request_for("https://example.com");
    assert!(h.store.put_request(&request).await.expect("stored"));
    let approve = message("4242", "601", &format!("/approve {} once", request.request_id), NOW + 1000);
    assert_eq!(h.dispatcher.dispatch(channel(&approve)).await.expect("ok"), DispatchOutcome::Dispatched);
    assert!(h.invoked().is_empty());

    // The flow queued the message that resumes Bob's run, on his behalf (stored once dispatched).
    let queued = h.queue.inbound();
    assert_eq!(queued.len(), 1);
    let resume = queued[0].item().clone();
    assert_eq!(resume.message.message_id.to_string(), format!("{}-resume", request.request_id));
    assert_eq!((resume.conversation.clone(), resume.message.sender.id.as_str()), (conversation("5151"), "5151"));

    // The first attempt fails after the grant was marked used by this message: the retry of
    // the same message gets it again, as the grant is this message's.
    h.agent.fail.on("invoke");
    assert!(h.dispatcher.dispatch(queued[0].clone()).await.is_err());
    assert_eq!(used_by(&h, &request).await, Some(resume.message.message_id.to_string()));
    h.agent.fail.off("invoke");
    assert_eq!(h.dispatcher.dispatch(queued[0].clone()).await.expect("ok"), DispatchOutcome::Dispatched);
    let grant = OnceGrant {
        request_id: request.request_id.to_string(),
        tool: "web_fetch".into(),
        arguments_hash: request.arguments_hash.clone(),
        requester_id: "5151".into(),
    };
    assert_eq!(h.invoked()[0].grant, Some(grant));
    assert!(h.is_dispatched(&resume));
    assert_eq!(h.dispatcher.dispatch(queued[0].clone()).await.expect("ok"), DispatchOutcome::AlreadyDispatched);
    assert_eq!(h.invoked().len(), 1);
}

#[tokio::test]
async fn a_once_grant_goes_to_its_requester_s_resumed_run_only() {
    let h = Harness::new(bot_record(), 20);
    let mut expired = approved(request_for("https://expired.example"), "once");
    expired.expires_at_ms = now_ms() - 1;
    let mut used = approved(request_for("https://used.example"), "once");
    used.used_at_ms = Some(now_ms());
    used.used_by = Some("another-message".into());
    let other_sender = approved(request_for("https://other-sender.example"), "once");
    let other_chat = approved(request_for("https://other-chat.example"), "once");
    let temporary = approved(request_for("https://temporary.example"), "temporary");
    let pending = request_for("https://pending.example");
    let task = approved(request_for("https://task.example"), "once");
    let cases = [
        ("expired", channel(&resume_of(&expired, "5151", "5151")), &expired),
        ("used by another message", channel(&resume_of(&used, "5151", "5151")), &used),
        ("another sender", channel(&resume_of(&other_sender, "5151", "6666")), &other_sender),
        ("another conversation", channel(&resume_of(&other_chat, "4242", "5151")), &other_chat),
        ("approved for hours", channel(&resume_of(&temporary, "5151", "5151")), &temporary),
        ("still pending", channel(&resume_of(&pending, "5151", "5151")), &pending),
        ("a scheduled task", scheduled(&resume_of(&task, "5151", "5151"), false), &task),
    ];
    for (i, (why, envelope, request)) in cases.iter().enumerate() {
        h.store.put_request_as_is((*request).clone());
        assert_eq!(h.dispatcher.dispatch(envelope.clone()).await.expect("ok"), DispatchOutcome::Dispatched, "{why}");
        assert_eq!(h.invoked()[i].grant, None, "{why}");
        assert_eq!(used_by(&h, request).await, request.used_by, "{why}: not marked");
    }

    // The requester's own resumed run gets it.
    let own = approved(request_for("https://own.example"), "once");
    h.store.put_request_as_is(own.clone());
    let resume = resume_of(&own, "5151", "5151");
    h.dispatcher.dispatch(channel(&resume)).await.expect("dispatched");
    let grant = h.invoked().last().and_then(|i| i.grant.clone()).expect("a grant");
    assert_eq!((grant.request_id.as_str(), grant.requester_id.as_str()), (own.request_id.as_str(), "5151"));
    assert_eq!(used_by(&h, &own).await, Some(resume.message.message_id.to_string()));
}
