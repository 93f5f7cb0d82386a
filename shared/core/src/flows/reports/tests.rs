//! What the reply function does with an agent's reports, on the in-memory ports.
//!
//! Branches of `ReportService::handle` and `permission_request`, and where each is tested:
//! - the scope key cannot be loaded → error                                    `reports_for_another_conversation_are_refused`
//! - token not the conversation's → refused, `security_violation`, nothing kept   same
//! - run report with more than 64 answered marks → refused, nothing kept       `run_reports_count_each_run_once`
//! - tokens spent → counted once per run (conversation and message); none → no run counted   same
//! - answered marks, in the report's conversation only                         same
//! - counting fails → error                                                    same
//! - tool name invalid / always blocked; route outside; arguments too large or not JSON;
//!   the message it answers not stored → refused, `security_violation`          `permission_requests_the_platform_would_not_make_are_refused`
//! - stored as trusted code builds it (requester, reason, status, times, hash from the stored
//!   message and the clock), the approver told once, the timeout scheduled      `a_permission_request_is_rebuilt_stored_and_noticed_once`
//! - no approver → stored and scheduled, nobody told                           same
//! - past a cap → not stored, no notice or schedule, one held-back message per window   `requests_past_the_caps_are_held_back`
//! - a redelivery of a stored request skips the caps and is noticed once        same

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::approvals::{ApprovalPorts, ApproverConfig};
use crate::domain::envelope::ENVELOPE_VERSION;
use crate::domain::ids::MessageId;
use crate::domain::model::{ChannelKind, ReplyRoute, month_of};
use crate::domain::permissions::{RequestStatus, RiskLevel};
use crate::domain::scope::ScopeToken;
use crate::ports::ApprovalRepo;
use crate::testing::*;

struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    timeouts: Arc<MemoryTimeouts>,
    scope: Arc<MemoryScopeKey>,
    service: ReportService,
}

impl Harness {
    fn new() -> Self {
        let store = MemoryStore::new();
        let queue = MemoryQueue::new();
        let timeouts = Arc::new(MemoryTimeouts::default());
        let scope = MemoryScopeKey::new(scope_key());
        let ports = ApprovalPorts {
            approvals: store.clone(),
            profiles: Arc::new(MemoryProfiles::default()),
            replies: queue.clone(),
            inbound: Some(queue.clone()),
            timeouts: Some(timeouts.clone()),
        };
        let flow = ApprovalFlow::new(ports, scope.clone());
        let service = ReportService::new(store.clone(), store.clone(), store.clone(), flow, scope.clone());
        Self { store, queue, timeouts, scope, service }
    }

    async fn with_approver() -> Self {
        let h = Self::new();
        let approver = ApproverConfig {
            tenant_id: tenant(),
            bot_id: bot_id(),
            channel: ChannelKind::Telegram,
            user_id: "4242".into(),
            updated_at_ms: NOW,
        };
        h.store.put_approver(&approver).await.expect("stored");
        h
    }

    /// This month's (input, output, runs); both months should it turn during the test.
    async fn usage(&self) -> (u64, u64, u64) {
        let mut months = vec![month_of(now_ms() - 60_000), month_of(now_ms())];
        months.dedup();
        let mut total = (0, 0, 0);
        for month in months {
            let (i, o, r) = self.store.token_usage(&tenant(), &month).await.expect("read");
            total = (total.0 + i, total.1 + o, total.2 + r);
        }
        total
    }

    /// The messages the tenant's runs took this month.
    async fn messages(&self) -> u64 {
        self.store.month_use(&tenant(), &month_of(now_ms())).await.expect("read").messages
    }

    fn answered(&self, chat: &str) -> Vec<String> {
        let lines = self.store.lines(&conversation(chat));
        lines.into_iter().filter(|l| l.answered_at_ms.is_some()).map(|l| l.message_id).collect()
    }
}

fn run_report(chat: &str, in_reply_to: &str, run: RunSummary) -> AgentReport {
    let c = conversation(chat);
    AgentReport::RunReport {
        v: ENVELOPE_VERSION,
        scope: scope_key().mint(&c),
        conversation: c,
        in_reply_to: MessageId::parse(in_reply_to).expect("an id"),
        run,
    }
}

fn spent(input_tokens: u64, output_tokens: u64, answered: &[(i64, &str)]) -> RunSummary {
    let answered = answered.iter().map(|(at, id)| (*at, MessageId::parse(id).expect("an id"))).collect();
    RunSummary { input_tokens, output_tokens, answered }
}

/// What an agent claims while answering message `in_reply_to` of chat `chat`: its own idea of
/// the requester, status and times, which trusted code must not keep.
fn claim(chat: &str, in_reply_to: &str, tool: &str, arguments: &str) -> PermissionRequest {
    let mut asked = message(chat, in_reply_to, "the agent's version of the message", NOW);
    asked.message.sender.id = "mallory".into();
    let mut claimed = PermissionRequest::new(
        &asked.conversation,
        &asked.message,
        tool,
        &json!({}),
        "trust me",
        NOW,
        365 * 86_400_000,
    );
    claimed.arguments = arguments.to_owned();
    claimed.arguments_hash = "0".repeat(64);
    claimed.status = RequestStatus::Approved;
    claimed.risk = RiskLevel::Low;
    claimed
}

fn asking(claimed: PermissionRequest) -> AgentReport {
    let scope = scope_key().mint(&claimed.conversation);
    AgentReport::PermissionRequest { v: ENVELOPE_VERSION, scope, request: Box::new(claimed) }
}

#[tokio::test]
async fn reports_for_another_conversation_are_refused() {
    let h = Harness::with_approver().await;
    h.store.store_inbound(&message("4242", "1001", "hi", NOW)).await.expect("stored");
    let (events, _guard) = Events::capture();
    let mismatch = ReportOutcome::Refused("scope token does not match the conversation");

    let foreign = AgentReport::RunReport {
        v: ENVELOPE_VERSION,
        scope: scope_key().mint(&conversation("4243")),
        conversation: conversation("4242"),
        in_reply_to: MessageId::parse("1001").expect("an id"),
        run: spent(10, 5, &[(NOW, "1001")]),
    };
    assert_eq!(h.service.handle(foreign).await.expect("refused"), mismatch);
    let mut request = asking(claim("4242", "1001", "web_fetch", "{}"));
    if let AgentReport::PermissionRequest { scope, .. } = &mut request {
        *scope = ScopeToken::new("v1.forged");
    }
    assert_eq!(h.service.handle(request).await.expect("refused"), mismatch);

    let violations = events.named("security_violation");
    let what: Vec<&str> = violations.iter().map(|v| v["what"].as_str()).collect();
    assert_eq!(what, ["run_report", "permission_request"]);
    assert_eq!(h.usage().await, (0, 0, 0));
    assert!(h.answered("4242").is_empty());
    assert!(h.store.requests(&tenant()).await.expect("read").is_empty());
    assert!(h.queue.replies().is_empty() && h.timeouts.scheduled().is_empty());

    h.scope.fail.on("get");
    let report = run_report("4242", "1001", spent(10, 5, &[]));
    assert!(matches!(h.service.handle(report).await, Err(ReportError::Scope(_))));
}

#[tokio::test]
async fn run_reports_count_each_run_once() {
    let h = Harness::new();
    for (chat, id, at) in [("4242", "1000", NOW - 60_000), ("4242", "1001", NOW), ("4243", "1000", NOW - 60_000)] {
        h.store.store_inbound(&message(chat, id, "question", at)).await.expect("stored");
    }
    let run = spent(1200, 340, &[(NOW, "1001"), (NOW - 60_000, "1000")]);
    assert_eq!(h.service.handle(run_report("4242", "1001", run.clone())).await.expect("ok"), ReportOutcome::Done);
    assert_eq!(h.usage().await, (1200, 340, 1));
    assert_eq!(h.messages().await, 2, "the run took two messages");
    assert_eq!(h.answered("4242"), ["1000", "1001"]);
    assert!(h.answered("4243").is_empty(), "marks stay in the report's conversation");
    // Redelivered: counted once. Another run (another message answered) counts again.
    assert_eq!(h.service.handle(run_report("4242", "1001", run)).await.expect("ok"), ReportOutcome::Done);
    assert_eq!(h.usage().await, (1200, 340, 1));
    h.service.handle(run_report("4243", "1000", spent(1, 2, &[]))).await.expect("ok");
    assert_eq!(h.usage().await, (1201, 342, 2));
    // Nothing spent: no run counted, marks still set.
    h.store.store_inbound(&message("4242", "1002", "q", NOW + 1)).await.expect("stored");
    h.service.handle(run_report("4242", "1002", spent(0, 0, &[(NOW + 1, "1002")]))).await.expect("ok");
    assert_eq!(h.usage().await, (1201, 342, 2));
    assert_eq!(h.messages().await, 2, "a report without tokens or marks counts no message");
    assert_eq!(h.answered("4242"), ["1000", "1001", "1002"]);

    // More marks than a run can have answered: refused whole.
    let many: Vec<(i64, String)> =
        (0..=MAX_ANSWERED_PER_REPORT as i64).map(|i| (NOW + 10 + i, format!("{i}"))).collect();
    let many: Vec<(i64, &str)> = many.iter().map(|(at, id)| (*at, id.as_str())).collect();
    let h2 = Harness::new();
    h2.store.store_inbound(&message("4242", "0", "q", NOW + 10)).await.expect("stored");
    let outcome = h2.service.handle(run_report("4242", "0", spent(5, 5, &many))).await.expect("refused");
    assert_eq!(outcome, ReportOutcome::Refused("too many answered marks"));
    assert_eq!(h2.usage().await, (0, 0, 0));
    assert!(h2.answered("4242").is_empty());
    let at_the_cap = &many[..MAX_ANSWERED_PER_REPORT];
    assert_eq!(
        h2.service.handle(run_report("4242", "0", spent(5, 5, at_the_cap))).await.expect("ok"),
        ReportOutcome::Done
    );
    assert_eq!(h2.answered("4242"), ["0"]);

    h2.store.fail.on("add_run_usage");
    let report = run_report("4242", "1", spent(5, 5, &[]));
    assert!(matches!(h2.service.handle(report).await, Err(ReportError::Store(_))));
}

#[tokio::test]
async fn permission_requests_the_platform_would_not_make_are_refused() {
    let h = Harness::with_approver().await;
    h.store.store_inbound(&message("5151", "501", "fetch the page", NOW)).await.expect("stored");
    let (events, _guard) = Events::capture();
    let mut elsewhere = claim("5151", "501", "web_fetch", "{}");
    elsewhere.route = ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None };
    let too_large = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_REQUEST_ARGUMENTS_BYTES));
    let cases = [
        (claim("5151", "501", "web fetch", "{}"), "invalid tool name"),
        (claim("5151", "501", "eval", "{}"), "always-blocked tool"),
        (elsewhere, "route leads outside the conversation"),
        (claim("5151", "501", "web_fetch", &too_large), "arguments too large"),
        (claim("5151", "501", "web_fetch", "{not json"), "arguments are not JSON"),
        (claim("5151", "502", "web_fetch", "{}"), "the message it answers is not in the conversation"),
    ];
    for (claimed, why) in cases {
        assert_eq!(h.service.handle(asking(claimed)).await.expect("refused"), ReportOutcome::Refused(why), "{why}");
    }
    let reasons: Vec<String> = events.named("security_violation").iter().map(|v| v["reason"].clone()).collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(h.store.requests(&tenant()).await.expect("read").is_empty());
    assert!(h.queue.replies().is_empty() && h.timeouts.scheduled().is_empty());
}

#[tokio::test]
async fn a_permission_request_is_rebuilt_stored_and_noticed_once() {
    let h = Harness::with_approver().await;
    h.store.store_inbound(&message("5151", "501", "please fetch example.com", NOW)).await.expect("stored");
    let claimed = claim("5151", "501", "web_fetch", r#"{"url":"https://example.com"}"#);
    let before = now_ms();
    assert_eq!(h.service.handle(asking(claimed.clone())).await.expect("ok"), ReportOutcome::Done);

    let stored = h.store.requests(&tenant()).await.expect("read");
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    assert_eq!((r.requester_id.as_str(), r.requester_name.as_str()), ("5151", "Ada"), "from the stored message");
    assert_eq!(r.reason, "please fetch example.com");
    assert_eq!(r.status, RequestStatus::Pending);
    assert_eq!(r.risk, RiskLevel::Medium, "the tool's own risk");
    assert_eq!(r.arguments, r#"{"url":"https://example.com"}"#);
    assert_eq!(r.arguments_hash.len(), 64);
    assert_ne!(r.arguments_hash, claimed.arguments_hash);
    assert!(r.created_at_ms >= before && r.expires_at_ms == r.created_at_ms + REQUEST_TTL_MS);
    assert_eq!((r.in_reply_to.as_str(), r.in_reply_to_at_ms), ("501", NOW));
    assert!(h.timeouts.scheduled().contains(r.request_id.as_str()));
    let notices = h.queue.replies();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].text.starts_with(&format!("Permission request {}", r.request_id)), "{}", notices[0].text);
    assert_eq!(notices[0].conversation, conversation("4242"), "in the approver's chat");
    assert!(!notices[0].buttons.is_empty());

    // Redelivered (or a redone run asking again): the same request, one notice.
    assert_eq!(h.service.handle(asking(claimed)).await.expect("ok"), ReportOutcome::Done);
    assert_eq!(h.store.requests(&tenant()).await.expect("read").len(), 1);
    assert_eq!(h.queue.attempts(), 1);

    // Without an approver the request waits for its timeout, and nobody is told.
    let quiet = Harness::new();
    quiet.store.store_inbound(&message("5151", "501", "please", NOW)).await.expect("stored");
    quiet.service.handle(asking(claim("5151", "501", "web_fetch", "{}"))).await.expect("ok");
    let stored = quiet.store.requests(&tenant()).await.expect("read");
    assert_eq!(stored.len(), 1);
    assert!(quiet.timeouts.scheduled().contains(stored[0].request_id.as_str()));
    assert_eq!(quiet.queue.attempts(), 0);
}

#[tokio::test]
async fn requests_past_the_caps_are_held_back() {
    let h = Harness::with_approver().await;
    h.store.store_inbound(&message("5151", "501", "do things", NOW)).await.expect("stored");
    let (events, _guard) = Events::capture();
    for i in 0..3 {
        let arguments = format!(r#"{{"n":{i}}}"#);
        h.service.handle(asking(claim("5151", "501", "web_fetch", &arguments))).await.expect("ok");
    }
    assert_eq!(h.store.requests(&tenant()).await.expect("read").len(), 3);
    assert_eq!(h.queue.replies().len(), 3, "one notice each");

    // The requester has three waiting: the fourth and fifth are not stored, and the approver
    // hears about them once.
    for i in 3..5 {
        let arguments = format!(r#"{{"n":{i}}}"#);
        assert_eq!(
            h.service.handle(asking(claim("5151", "501", "web_fetch", &arguments))).await.expect("ok"),
            ReportOutcome::Done
        );
    }
    assert_eq!(h.store.requests(&tenant()).await.expect("read").len(), 3);
    assert_eq!(h.timeouts.scheduled().len(), 3);
    let replies = h.queue.replies();
    assert_eq!(replies.len(), 4);
    assert!(replies[3].text.starts_with("Held back:"), "{}", replies[3].text);
    assert_eq!(events.named("approval_held_back").len(), 2);

    // A redelivery of a request stored before the cap was reached is no new request.
    let again = claim("5151", "501", "web_fetch", r#"{"n":0}"#);
    assert_eq!(h.service.handle(asking(again)).await.expect("ok"), ReportOutcome::Done);
    assert_eq!(events.named("approval_held_back").len(), 2);
    assert_eq!(h.queue.replies().len(), 4);
}
