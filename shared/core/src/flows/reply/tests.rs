//! The reply flow on the in-memory ports, sending through the real Telegram channel to a local
//! stand-in of Telegram's Bot API ([`telegram_api`]).
//!
//! Branches of `ReplyService::deliver`, `send_with_retry` and `record_run`, and where each is tested:
//! - the scope key cannot be loaded → error                                    `refused_replies_send_nothing_and_are_logged`
//! - scope token not the conversation's → rejected, `security_violation`       same
//! - route into another chat, or on another channel → rejected, `security_violation`   same
//! - the later "route for another channel" check: unreachable, `belongs_to` already compares channels
//! - bot gone; tenant not the bot's; no binding for the channel; no secrets → rejected   `replies_for_gone_foreign_or_unbound_bots_are_rejected`
//! - reading the secrets fails → error                                        same
//! - a channel without an implementation: unreachable, [`channels::channel`] builds every kind
//! - reading the progress fails → error, nothing sent                         `store_failures_are_errors`
//! - recording the line fails after the send → error; the redelivery sends again   same
//! - new reply → every piece sent, line `Sent` with the channel's ids           `a_reply_is_sent_once_and_its_line_recorded`
//! - already `Sent` (or `Failed`) → nothing sent                                same, `a_permanent_failure_is_recorded_and_the_run_still_counted`
//! - a long answer: split, buttons on the last piece only, progress after each piece   `a_long_answer_is_split_with_buttons_on_the_last_piece`, `buttons_go_on_the_last_piece_only`
//! - a partly sent answer → only the missing pieces                            `a_partly_sent_answer_resumes_after_its_last_piece`
//! - permanent failure → line `Failed` (with what was sent), run recorded, rejected   `a_permanent_failure_is_recorded_and_the_run_still_counted`
//! - temporary failure → error for the queue to retry, progress kept           `a_temporary_failure_is_left_to_the_queue`
//! - rate limited within 5 s → waited out inline; longer → error for the queue   `rate_limits_are_waited_out_inline_up_to_a_bound`
//! - run summary: token use counted and answered marks set once; none without tokens   `the_run_summary_is_recorded_once`

mod progress;
mod telegram_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::channels::telegram;
use crate::domain::envelope::{ENVELOPE_VERSION, RunSummary};
use crate::domain::ids::{BotId, ConversationRef, MessageId, TenantId};
use crate::domain::model::{ReplyRoute, Role, month_of, now_ms};
use crate::domain::records::{BotRecord, MessageItem, reply_sort_key};
use crate::domain::scope::ScopeToken;
use crate::testing::*;
use telegram_api::{TelegramApi, bad_gateway, blocked, too_many_requests};
use wiremock::ResponseTemplate;

struct Harness {
    store: Arc<MemoryStore>,
    secrets: Arc<MemorySecrets>,
    scope: Arc<MemoryScopeKey>,
    api: TelegramApi,
    service: ReplyService,
}

impl Harness {
    async fn new(record: BotRecord) -> Self {
        let store = MemoryStore::new();
        store.put_bot(record);
        let secrets = MemorySecrets::new();
        put_telegram_secrets(&secrets);
        let scope = MemoryScopeKey::new(scope_key());
        let api = TelegramApi::start().await;
        let ports = ReplyPorts {
            directory: BotDirectory::new(store.clone(), Some(secrets.clone()), Duration::from_secs(60)),
            conversations: store.clone(),
            usage: store.clone(),
            limits: store.clone(),
            scope: scope.clone(),
            statuses: store.clone(),
        };
        let apis = ChannelApis::with(ChannelKind::Telegram, api.server.uri());
        let service = ReplyService::new(ports, reqwest::Client::new(), apis);
        Self { store, secrets, scope, api, service }
    }

    /// The reply's line, if one was recorded.
    fn line(&self, reply: &ReplyEnvelope) -> Option<MessageItem> {
        let sk = reply_sort_key(reply);
        self.store.lines(&reply.conversation).into_iter().find(|l| l.sk == sk)
    }

    fn state(&self, reply: &ReplyEnvelope) -> Option<(ReplyState, Vec<String>)> {
        self.line(reply).and_then(|l| Some((l.reply_state?, l.channel_message_ids.unwrap_or_default())))
    }

    /// The tenant's token use this month (both months, should the month turn during the test).
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
}

/// Clawd's answer to Ada's message 1001 in chat 4242, with the conversation's token.
fn reply(text: &str) -> ReplyEnvelope {
    let c = conversation("4242");
    ReplyEnvelope {
        files: Vec::new(),
        v: ENVELOPE_VERSION,
        scope: scope_key().mint(&c),
        conversation: c,
        in_reply_to: MessageId::parse("1001").expect("an id"),
        in_reply_to_at_ms: NOW,
        seq: 1,
        text: text.to_owned(),
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        buttons: Vec::new(),
        run: None,
        trace_id: None,
    }
}

/// A text Telegram takes in three pieces.
fn long_text() -> String {
    (0..90).map(|i| format!("{i:02} {}\n", "word ".repeat(20))).collect()
}

fn rejected(why: &str) -> DeliveryOutcome {
    DeliveryOutcome::Rejected(why.to_owned())
}

#[tokio::test]
async fn a_reply_is_sent_once_and_its_line_recorded() {
    let h = Harness::new(bot_record()).await;
    let answer = reply("Hello Ada!");
    assert_eq!(h.service.deliver(answer.clone()).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });
    let sent = h.api.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["chat_id"], 4242);
    assert_eq!(sent[0]["text"], "Hello Ada!");
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 7);
    assert!(sent[0].get("reply_markup").is_none());
    let line = h.line(&answer).expect("recorded");
    assert_eq!(
        (line.role, line.message_id.as_str(), line.sender_name.as_str()),
        (Role::Assistant, "1001#r001", "Clawd")
    );
    assert_eq!(line.text, "Hello Ada!");
    assert_eq!(h.state(&answer), Some((ReplyState::Sent, vec!["1".to_owned()])));

    // A redelivery finds the line done: nothing is sent twice.
    assert_eq!(h.service.deliver(answer.clone()).await.expect("done"), DeliveryOutcome::AlreadyDone);
    assert_eq!(h.api.sent().await.len(), 1);
}

#[tokio::test]
async fn refused_replies_send_nothing_and_are_logged() {
    let h = Harness::new(bot_record()).await;
    let (events, _guard) = Events::capture();
    let token_mismatch = "scope token does not match the conversation";
    let other_chat = ReplyEnvelope { scope: scope_key().mint(&conversation("4243")), ..reply("hi") };
    let forged = ReplyEnvelope { scope: ScopeToken::new("v1.AAAA"), ..reply("hi") };
    let none = ReplyEnvelope { scope: ScopeToken::default(), ..reply("hi") };
    for answer in [other_chat, forged, none] {
        assert_eq!(h.service.deliver(answer).await.expect("refused"), rejected(token_mismatch));
    }
    // A valid token, and a route into another chat of the same bot, or onto another channel.
    let outside = "route leads outside the conversation";
    let elsewhere = ReplyEnvelope {
        route: ReplyRoute::Telegram { chat_id: 4243, message_thread_id: None, reply_to_message_id: None },
        ..reply("hi")
    };
    let slack =
        ReplyEnvelope { route: ReplyRoute::Slack { channel_id: "4242".into(), thread_ts: None }, ..reply("hi") };
    for answer in [elsewhere, slack] {
        assert_eq!(h.service.deliver(answer).await.expect("refused"), rejected(outside));
    }
    let violations = events.named("security_violation");
    assert_eq!(violations.len(), 5, "{:?}", events.names());
    assert!(violations.iter().all(|v| v["what"] == "reply" && v["conversation_id"] == "4242"));
    assert_eq!(violations[0]["reason"], token_mismatch);
    assert_eq!(violations[4]["reason"], outside);
    assert!(h.api.sent().await.is_empty());
    assert!(h.store.lines(&conversation("4242")).is_empty());
    assert_eq!(h.store.bot_loads(), 0, "refused before any read");

    h.scope.fail.on("get");
    assert!(matches!(h.service.deliver(reply("hi")).await, Err(DeliveryError::Scope(_))));
    assert!(h.api.sent().await.is_empty());
}

#[tokio::test]
async fn replies_for_gone_foreign_or_unbound_bots_are_rejected() {
    let h = Harness::new(bot_record()).await;
    let (events, _guard) = Events::capture();
    // Each with a valid token for the conversation it names: the token binds the conversation,
    // the bot record decides whether that conversation may be spoken in.
    let with_conversation =
        |c: ConversationRef| ReplyEnvelope { scope: scope_key().mint(&c), conversation: c, ..reply("hi") };
    let gone = with_conversation(ConversationRef {
        bot_id: BotId::parse("b00000000000000000000").expect("an id"),
        ..conversation("4242")
    });
    assert_eq!(h.service.deliver(gone).await.expect("refused"), rejected("bot no longer exists"));
    let foreign = with_conversation(ConversationRef {
        tenant_id: TenantId::parse(OTHER_TENANT).expect("an id"),
        ..conversation("4242")
    });
    let refused = h.service.deliver(foreign).await.expect("refused");
    assert_eq!(refused, rejected("reply names a tenant that does not own the bot"));
    assert_eq!(events.named("reply_rejected").len(), 2, "{:?}", events.names());

    let mut unbound = bot_record();
    unbound.channels.clear();
    let h_unbound = Harness::new(unbound).await;
    assert_eq!(h_unbound.service.deliver(reply("hi")).await.expect("refused"), rejected("bot has no telegram channel"));

    let mut unconfigured = bot_record();
    unconfigured.channels[0].secret_parameter = "nowhere".into();
    let h_unconfigured = Harness::new(unconfigured).await;
    let refused = h_unconfigured.service.deliver(reply("hi")).await.expect("refused");
    assert_eq!(refused, rejected("telegram secrets are not configured"));

    // Reading the secrets fails: an error, so the queue retries (a miss would have been cached).
    let h_unreadable = Harness::new(bot_record()).await;
    h_unreadable.secrets.fail.on("get");
    assert!(matches!(h_unreadable.service.deliver(reply("hi")).await, Err(DeliveryError::Secrets(_))));
    h_unreadable.secrets.fail.off("get");
    assert_eq!(h_unreadable.service.deliver(reply("hi")).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });

    for h in [&h, &h_unbound, &h_unconfigured] {
        assert!(h.api.sent().await.is_empty());
        assert!(h.line(&reply("hi")).is_none());
    }
}

#[tokio::test]
async fn store_failures_are_errors() {
    let h = Harness::new(bot_record()).await;
    h.store.fail.on("reply_progress");
    assert!(matches!(h.service.deliver(reply("hi")).await, Err(DeliveryError::Store(_))));
    assert!(h.api.sent().await.is_empty());
    h.store.fail.off("reply_progress");

    // Sent, but the line could not be written: the redelivery cannot know, and sends again
    // (the one repeat a crash between sending and recording can cause).
    h.store.fail.on("record_reply");
    assert!(matches!(h.service.deliver(reply("hi")).await, Err(DeliveryError::Store(_))));
    h.store.fail.off("record_reply");
    assert_eq!(h.service.deliver(reply("hi")).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });
    assert_eq!(h.api.texts().await, ["hi", "hi"]);
    assert_eq!(h.state(&reply("hi")), Some((ReplyState::Sent, vec!["2".to_owned()])));
}

#[tokio::test]
async fn a_long_answer_is_split_with_buttons_on_the_last_piece() {
    let h = Harness::new(bot_record()).await;
    let buttons = vec![Button::new("Approve once", "/approve pr1 once"), Button::danger("Reject", "/reject pr1")];
    let answer = ReplyEnvelope { buttons, ..reply(&long_text()) };
    let pieces = channels::outbound_pieces(&telegram::Telegram, &answer.text);
    assert_eq!(pieces.len(), 3);
    assert_eq!(h.service.deliver(answer.clone()).await.expect("sent"), DeliveryOutcome::Sent { pieces: 3 });

    let sent = h.api.sent().await;
    assert_eq!(h.api.texts().await, pieces);
    assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
    assert!(sent[0].get("reply_markup").is_none() && sent[1].get("reply_markup").is_none());
    let keyboard = json!({"inline_keyboard": [[
        {"text": "Approve once", "callback_data": "/approve pr1 once"},
        {"text": "Reject", "callback_data": "/reject pr1"}
    ]]});
    assert_eq!(sent[2]["reply_markup"], keyboard, "under the whole text they refer to");
    assert_eq!(h.state(&answer), Some((ReplyState::Sent, vec!["1".into(), "2".into(), "3".into()])));
    assert_eq!(h.line(&answer).expect("recorded").text, answer.text, "the line keeps the whole answer");
}

#[tokio::test]
async fn a_partly_sent_answer_resumes_after_its_last_piece() {
    let h = Harness::new(bot_record()).await;
    let answer = reply(&long_text());
    let pieces = channels::outbound_pieces(&telegram::Telegram, &answer.text);
    h.api.then(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 71}})));
    h.api.then(bad_gateway());
    let err = h.service.deliver(answer.clone()).await.expect_err("the second piece failed");
    assert!(matches!(err, DeliveryError::Retry(SendError::Temporary(_))), "{err}");
    assert_eq!(h.state(&answer), Some((ReplyState::Sending, vec!["71".into()])), "progress after the first piece");

    assert_eq!(h.service.deliver(answer.clone()).await.expect("sent"), DeliveryOutcome::Sent { pieces: 3 });
    let texts = h.api.texts().await;
    assert_eq!(texts, [&*pieces[0], &pieces[1], &pieces[1], &pieces[2]], "the first piece is not sent again");
    assert_eq!(h.state(&answer), Some((ReplyState::Sent, vec!["71".into(), "1".into(), "2".into()])));
}

/// A final answer with its run's summary, answering 1001 (stored) and lost work 1000.
fn final_answer(text: &str, input_tokens: u64, output_tokens: u64) -> ReplyEnvelope {
    let answered =
        vec![(NOW, MessageId::parse("1001").expect("an id")), (NOW - 60_000, MessageId::parse("1000").expect("an id"))];
    ReplyEnvelope { run: Some(RunSummary { input_tokens, output_tokens, answered }), ..reply(text) }
}

/// Stores Ada's messages 1000 and 1001 and an unrelated one in another chat.
async fn asked(h: &Harness) {
    for item in [
        message("4242", "1000", "first question", NOW - 60_000),
        message("4242", "1001", "second question", NOW),
        message("4243", "1000", "same id, another chat", NOW - 60_000),
    ] {
        h.store.store_inbound(&item).await.expect("stored");
    }
}

fn answered(h: &Harness, chat: &str) -> Vec<String> {
    let lines = h.store.lines(&conversation(chat));
    lines.into_iter().filter(|l| l.answered_at_ms.is_some()).map(|l| l.message_id).collect()
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_and_the_run_still_counted() {
    let h = Harness::new(bot_record()).await;
    asked(&h).await;
    let answer = final_answer("Here you go.", 100, 20);
    h.api.then(blocked());
    let outcome = h.service.deliver(answer.clone()).await.expect("given up");
    assert_eq!(outcome, rejected("Telegram 403: Forbidden: bot was blocked by the user"));
    assert_eq!(h.state(&answer), Some((ReplyState::Failed, vec![])));
    assert_eq!(h.usage().await, (100, 20, 1), "the run spent its tokens whether or not the answer got through");
    assert_eq!(answered(&h, "4242"), ["1000", "1001"]);

    // Given up for good: a redelivery sends nothing and counts nothing.
    assert_eq!(h.service.deliver(answer.clone()).await.expect("done"), DeliveryOutcome::AlreadyDone);
    assert_eq!(h.api.sent().await.len(), 1);
    assert_eq!(h.usage().await, (100, 20, 1));

    // Failing part-way keeps the ids of what did get through.
    let long = ReplyEnvelope { seq: 2, ..reply(&long_text()) };
    h.api.then(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 80}})));
    h.api.then(blocked());
    assert!(matches!(h.service.deliver(long.clone()).await.expect("given up"), DeliveryOutcome::Rejected(_)));
    assert_eq!(h.state(&long), Some((ReplyState::Failed, vec!["80".into()])));
}

#[tokio::test]
async fn a_temporary_failure_is_left_to_the_queue() {
    let h = Harness::new(bot_record()).await;
    asked(&h).await;
    let answer = final_answer("Here you go.", 100, 20);
    h.api.then(bad_gateway());
    let err = h.service.deliver(answer.clone()).await.expect_err("retry later");
    assert!(matches!(err, DeliveryError::Retry(SendError::Temporary(_))), "{err}");
    assert!(h.line(&answer).is_none(), "a one-piece answer records nothing until it is sent");
    assert_eq!(h.usage().await, (0, 0, 0), "the run is recorded with its answer, not before");
    assert!(answered(&h, "4242").is_empty());

    assert_eq!(h.service.deliver(answer.clone()).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });
    assert_eq!(h.usage().await, (100, 20, 1));
}

#[tokio::test]
async fn rate_limits_are_waited_out_inline_up_to_a_bound() {
    let h = Harness::new(bot_record()).await;
    h.api.then(too_many_requests(1));
    let started = Instant::now();
    assert_eq!(h.service.deliver(reply("hi")).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });
    assert!(started.elapsed() >= Duration::from_secs(1), "waited as asked: {:?}", started.elapsed());
    assert_eq!(h.api.texts().await, ["hi", "hi"]);

    // A longer wait than the invocation may spend goes back to the queue at once.
    let later = ReplyEnvelope { seq: 2, ..reply("later") };
    h.api.then(too_many_requests(30));
    let started = Instant::now();
    let err = h.service.deliver(later.clone()).await.expect_err("back to the queue");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let wait = Duration::from_secs(30);
    assert!(
        matches!(err, DeliveryError::Retry(SendError::RateLimited { retry_after }) if retry_after == wait),
        "{err}"
    );
    assert_eq!(h.api.sent().await.len(), 3);
    assert!(h.line(&later).is_none());
}

#[tokio::test]
async fn the_run_summary_is_recorded_once() {
    let h = Harness::new(bot_record()).await;
    asked(&h).await;
    let answer = final_answer("Both answered.", 1200, 340);
    assert_eq!(h.service.deliver(answer.clone()).await.expect("sent"), DeliveryOutcome::Sent { pieces: 1 });
    assert_eq!(h.usage().await, (1200, 340, 1));
    assert_eq!(h.messages().await, 2, "the message it answers and the one it marks");
    assert_eq!(answered(&h, "4242"), ["1000", "1001"]);
    assert!(answered(&h, "4243").is_empty(), "marks stay in the reply's conversation");
    let marked_at = h.store.lines(&conversation("4242"))[0].answered_at_ms;

    assert_eq!(h.service.deliver(answer).await.expect("done"), DeliveryOutcome::AlreadyDone);
    assert_eq!(h.usage().await, (1200, 340, 1), "a redelivery counts nothing");
    assert_eq!(h.messages().await, 2);
    assert_eq!(h.store.lines(&conversation("4242"))[0].answered_at_ms, marked_at);

    // A run that spent nothing (the offline model) adds no run to the month, but still marks.
    let h = Harness::new(bot_record()).await;
    asked(&h).await;
    h.service.deliver(final_answer("Offline.", 0, 0)).await.expect("sent");
    assert_eq!(h.usage().await, (0, 0, 0));
    assert_eq!(answered(&h, "4242"), ["1000", "1001"]);
    // An answer without a summary (a platform notice, an earlier answer of the run) records nothing.
    h.service.deliver(ReplyEnvelope { seq: 2, ..reply("notice") }).await.expect("sent");
    assert_eq!(h.usage().await, (0, 0, 0));
}

#[test]
fn buttons_go_on_the_last_piece_only() {
    let buttons = [Button::new("Approve once", "/approve r1 once"), Button::danger("Reject", "/reject r1")];
    assert_eq!(piece_buttons(&buttons, 0, 1), &buttons);
    assert!(piece_buttons(&buttons, 0, 3).is_empty());
    assert!(piece_buttons(&buttons, 1, 3).is_empty());
    assert_eq!(piece_buttons(&buttons, 2, 3), &buttons);
    assert!(piece_buttons(&[], 0, 1).is_empty());
}

/// A reply naming a file outside its own conversation's outbox (another conversation's, or an
/// attachment, or a path that climbs out) is a `security_violation`: nothing is read or sent.
#[tokio::test]
async fn files_outside_the_conversations_outbox_are_refused() {
    use crate::domain::media::{OutgoingFile, outbox_prefix};
    let h = Harness::new(bot_record()).await;
    let (events, _guard) = Events::capture();
    let own = outbox_prefix(&conversation("4242"));
    let other = outbox_prefix(&conversation("4243"));
    let attachments = own.replace("/outbox/", "/attachments/");
    for key in [format!("{other}run/0-x.pdf"), format!("{attachments}d/0.png"), format!("{own}run/../../4243/outbox/x")]
    {
        let file = OutgoingFile { key, name: "x.pdf".into(), caption: None };
        let answer = ReplyEnvelope { files: vec![file], ..reply("here") };
        assert_eq!(
            h.service.deliver(answer).await.expect("refused"),
            rejected("file outside the conversation's outbox")
        );
    }
    assert_eq!(events.named("security_violation").len(), 3, "{:?}", events.names());
    assert!(h.api.sent().await.is_empty(), "not even the text");
}
