//! A run's signs of life through the reply flow, on the in-memory ports and Telegram's Bot API
//! stand-in. Branches of `ReplyService::progress` and `end_run`, and where each is tested:
//! - token not the conversation's, route outside it → refused, `security_violation`   `refused_progress_shows_nothing`
//! - too old, or from the future → skipped                                            same
//! - scope key, bot or status item unreadable → skipped, nothing sent                  `failures_never_surface`
//! - the first report: typing only, nothing stored (Telegram has no working reaction)  `a_long_run_types_posts_one_status_edits_it_and_closes_it`
//! - a long run with a tool: one status message, stored; edits at most every 3 s, never to the same text   same
//! - the final answer: sent as its own message, then the status gets its closing line; later reports skip   same
//! - a run report (no answer): closes the status on the standing route                 `a_run_without_an_answer_closes_its_status`
//! - writing the status item fails → still shown, logged                               `failures_never_surface`

use super::*;
use crate::domain::progress::{ProgressPhase, RunProgress, STATUS_DONE_TEXT, STATUS_ENDED_TEXT};

fn progress(seq: u32, phase: ProgressPhase, tools_used: u32, elapsed_ms: u64) -> RunProgress {
    let c = conversation("4242");
    RunProgress {
        v: ENVELOPE_VERSION,
        scope: scope_key().mint(&c),
        conversation: c,
        in_reply_to: MessageId::parse("1001").expect("an id"),
        in_reply_to_at_ms: NOW,
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        seq,
        sent_at_ms: now_ms(),
        elapsed_ms,
        tools_used,
        phase,
    }
}

fn tool(name: &str) -> ProgressPhase {
    ProgressPhase::Tool { name: name.into() }
}

#[tokio::test]
async fn a_long_run_types_posts_one_status_edits_it_and_closes_it() {
    let h = Harness::new(bot_record()).await;
    // The run starts: typing, nothing else, nothing stored.
    assert_eq!(h.service.progress(progress(1, ProgressPhase::Thinking, 0, 0)).await, ProgressOutcome::Shown);
    let actions = h.api.calls("sendChatAction").await;
    assert_eq!(actions, [json!({"chat_id": 4242, "action": "typing"})]);
    assert!(h.api.sent().await.is_empty());
    assert!(h.store.run_statuses().is_empty(), "nothing to take down later, nothing stored");

    // Past the threshold with a tool: one status message, as a reply to the user's message.
    assert_eq!(h.service.progress(progress(2, tool("file"), 1, 5_000)).await, ProgressOutcome::Shown);
    let sent = h.api.sent().await;
    assert_eq!(h.api.texts().await, ["Working on it… 1 tool call so far, now: file"]);
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 7);
    let stored = h.store.run_statuses();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].status_id.as_deref(), stored[0].version, stored[0].closed), (Some("1"), 1, false));

    // Another tool at once: within 3 s of the last edit, so not edited yet (still typing).
    h.service.progress(progress(3, tool("web_fetch"), 2, 6_000)).await;
    assert!(h.api.calls("editMessageText").await.is_empty());
    assert_eq!(h.api.calls("sendChatAction").await.len(), 3);
    // 3 s later (the item says so), the same text is not sent again, a new one is.
    let aged = |h: &Harness| {
        let mut s = h.store.run_statuses().remove(0);
        s.edited_at_ms -= 3_000;
        s.version += 1;
        s
    };
    h.store.put_run_status(&aged(&h)).await.expect("aged");
    h.service.progress(progress(4, tool("file"), 1, 6_500)).await;
    assert!(h.api.calls("editMessageText").await.is_empty(), "the same text is not edited in");
    h.service.progress(progress(5, tool("web_fetch"), 2, 7_000)).await;
    let edits = h.api.calls("editMessageText").await;
    assert_eq!(edits.len(), 1);
    assert_eq!((edits[0]["chat_id"].clone(), edits[0]["message_id"].clone()), (json!(4242), json!(1)));
    assert_eq!(edits[0]["text"], "Working on it… 2 tool calls so far, now: web_fetch");
    assert_eq!(h.api.sent().await.len(), 1, "one status message for the whole run");

    // The answer: its own message, then the status gets its closing line.
    let answer = final_answer("Here it is.", 10, 5);
    assert_eq!(h.service.deliver(answer.clone()).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });
    assert_eq!(h.api.texts().await[1], "Here it is.");
    let edits = h.api.calls("editMessageText").await;
    assert_eq!(edits.len(), 2);
    assert_eq!(edits[1]["text"], STATUS_DONE_TEXT);
    assert!(h.store.run_statuses()[0].closed);

    // A late report shows nothing, and a redelivered answer changes nothing.
    let typed = h.api.calls("sendChatAction").await.len();
    assert_eq!(
        h.service.progress(progress(6, tool("file"), 3, 9_000)).await,
        ProgressOutcome::Skipped("the run has ended")
    );
    assert_eq!(h.service.deliver(answer).await.expect("done"), DeliveryOutcome::AlreadyDone);
    assert_eq!(h.api.calls("sendChatAction").await.len(), typed);
    assert_eq!(h.api.calls("editMessageText").await.len(), 2);
    assert_eq!(h.api.sent().await.len(), 2);
}

#[tokio::test]
async fn refused_progress_shows_nothing() {
    let h = Harness::new(bot_record()).await;
    let (events, _guard) = Events::capture();
    let forged = RunProgress { scope: scope_key().mint(&conversation("4243")), ..progress(1, tool("file"), 1, 9_000) };
    assert_eq!(
        h.service.progress(forged).await,
        ProgressOutcome::Refused("scope token does not match the conversation")
    );
    let elsewhere = RunProgress {
        route: ReplyRoute::Telegram { chat_id: 4243, message_thread_id: None, reply_to_message_id: None },
        ..progress(1, tool("file"), 1, 9_000)
    };
    assert_eq!(h.service.progress(elsewhere).await, ProgressOutcome::Refused("route leads outside the conversation"));
    let violations = events.named("security_violation");
    assert_eq!(violations.len(), 2, "{:?}", events.names());
    assert!(violations.iter().all(|v| v["what"] == "progress"));

    let old = RunProgress { sent_at_ms: now_ms() - 7_000, ..progress(1, tool("file"), 1, 9_000) };
    assert_eq!(h.service.progress(old).await, ProgressOutcome::Skipped("too old"));
    let future = RunProgress { sent_at_ms: now_ms() + 120_000, ..progress(1, tool("file"), 1, 9_000) };
    assert_eq!(h.service.progress(future).await, ProgressOutcome::Skipped("too old"));

    assert!(h.server_calls().await.is_empty(), "nothing reached Telegram");
    assert!(h.store.run_statuses().is_empty());
}

#[tokio::test]
async fn failures_never_surface() {
    let h = Harness::new(bot_record()).await;
    h.scope.fail.on("get");
    assert_eq!(
        h.service.progress(progress(1, ProgressPhase::Thinking, 0, 0)).await,
        ProgressOutcome::Skipped("scope key unavailable")
    );
    h.scope.fail.off("get");
    h.store.fail.on("run_status");
    assert_eq!(
        h.service.progress(progress(1, ProgressPhase::Thinking, 0, 0)).await,
        ProgressOutcome::Skipped("run status unavailable")
    );
    assert!(h.server_calls().await.is_empty());
    h.store.fail.off("run_status");

    // The status message goes out but cannot be recorded: shown all the same, logged.
    let (events, _guard) = Events::capture();
    h.store.fail.on("put_run_status");
    assert_eq!(h.service.progress(progress(2, tool("file"), 1, 5_000)).await, ProgressOutcome::Shown);
    assert_eq!(h.api.sent().await.len(), 1);
    assert_eq!(events.named("run_status_failed").len(), 1);
    h.store.fail.off("put_run_status");

    // A channel that refuses the chat action: the status still goes out.
    let h = Harness::new(bot_record()).await;
    h.api.server.reset().await;
    // Only sendMessage answers now; sendChatAction gets the stand-in's 404.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(format!("/bot{TELEGRAM_BOT_TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 9}})))
        .mount(&h.api.server)
        .await;
    assert_eq!(h.service.progress(progress(1, tool("file"), 1, 5_000)).await, ProgressOutcome::Shown);
    assert_eq!(h.api.texts().await.len(), 1);
    assert_eq!(h.store.run_statuses()[0].status_id.as_deref(), Some("9"));
}

#[tokio::test]
async fn a_run_without_an_answer_closes_its_status() {
    let h = Harness::new(bot_record()).await;
    h.service.progress(progress(1, tool("file"), 1, 5_000)).await;
    assert_eq!(h.api.sent().await.len(), 1);
    let c = conversation("4242");
    let report = crate::domain::envelope::AgentReport::RunReport {
        v: ENVELOPE_VERSION,
        scope: scope_key().mint(&c),
        conversation: c,
        in_reply_to: MessageId::parse("1001").expect("an id"),
        run: RunSummary {
            input_tokens: 1,
            output_tokens: 1,
            answered: vec![(NOW, MessageId::parse("1001").expect("an id"))],
        },
    };
    h.service.end_reported_run(&report).await;
    let edits = h.api.calls("editMessageText").await;
    assert_eq!(edits.len(), 1);
    assert_eq!((edits[0]["chat_id"].clone(), edits[0]["text"].clone()), (json!(4242), json!(STATUS_ENDED_TEXT)));
    assert!(h.store.run_statuses()[0].closed);
    // Twice is once.
    h.service.end_reported_run(&report).await;
    assert_eq!(h.api.calls("editMessageText").await.len(), 1);
}

impl Harness {
    /// Every request Telegram's stand-in received.
    async fn server_calls(&self) -> Vec<wiremock::Request> {
        self.api.server.received_requests().await.unwrap_or_default()
    }
}
