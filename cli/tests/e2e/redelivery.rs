//! Redeliveries past SQS's 5-minute deduplication window: the dispatcher and the reply function
//! must each recognise work they already did, so a person never gets the same answer twice. And
//! what the reply function reads and writes to know it. (Two copies of one update in one batch:
//! `webhook_calls.rs`.)

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use crate::telegram::{post_update, sample_update};
use crate::webhook_calls::{dispatcher_events, invocations};
use aws_sdk_dynamodb::types::AttributeValue;
use clawless_aws::dynamodb::Store;
use clawless_aws::sqs::FifoQueue;
use clawless_core::domain::envelope::{ENVELOPE_VERSION, InboundEnvelope, ReplyEnvelope};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_core::domain::model::{ChannelKind, ConversationMessage, InboundMessage, ReplyRoute, Role, Sender};
use clawless_core::domain::records::{ReplyClaim, ReplyState};
use clawless_core::domain::scope::ScopeKey;
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::{Value, json};

fn item(bot: &TelegramBot) -> ConversationMessage {
    ConversationMessage {
        conversation: ConversationRef {
            tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
            bot_id: BotId::parse(&bot.bot_id).unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse("4242").unwrap(),
        },
        message: InboundMessage {
            attachments: Vec::new(),
            message_id: MessageId::parse("100001").unwrap(),
            sent_at_ms: 1_763_740_800_000,
            sender: Sender { id: "4242".into(), name: "Ada".into(), is_bot: false },
            text: "hello bot".into(),
            is_direct: true,
            route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_redeliveries_are_not_answered_twice() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let key = stack.scope_key().await.unwrap();
    let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await;
    assert_eq!(response.status(), 200);
    eventually(Duration::from_secs(30), "the first answer", || async {
        (stack.outbox.sent().await.len() == 1).then_some(())
    })
    .await;
    quiet(&stack).await;
    // The answered message carries no mark of its own: its reply line, written whole once the
    // answer went out, is what tells the dispatcher it was answered.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.tables["DataTable"]);
    let lines = store.conversation(&item(&bot).conversation).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].dispatched_at_ms.is_some() && lines[0].answered_at_ms.is_none(), "{:?}", lines[0]);
    assert_eq!(lines[1].sk, format!("{}#r001", lines[0].sk));
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));

    // Telegram redelivers the update through the webhook. The first copy is gone from the queue,
    // so the queue takes this one (moto forgets a deduplication id once its message is deleted,
    // as SQS does after 5 minutes): the dispatcher finds the message stored with its mark and
    // skips it. The update is from 2025 (`date` 1763740800): days apart, as a channel retrying
    // for days would send it.
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await.status(), 200);
    eventually(Duration::from_secs(30), "the dispatcher to skip the redelivery", || async {
        (dispatcher_events(&bot.tenant_id, "dispatch_skipped", "100001") == 1).then_some(())
    })
    .await;
    assert_eq!(invocations(&bot.tenant_id, "100001"), 1, "handed to an agent once");

    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    // The same inbound message again, under a new deduplication id (as after SQS's window).
    let inbound = FifoQueue::new(sqs.clone(), &stack.resources.queue_urls["InboundQueue"]);
    let envelope = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: item(&bot) };
    let group = item(&bot).conversation.message_group_id();
    inbound.send_json(&envelope, &group, "late-redelivery-1").await.unwrap();
    // The same reply again, under a new deduplication id.
    let reply_queue = FifoQueue::new(sqs, &stack.resources.queue_urls["ReplyQueue"]);
    let answer = reply(&bot, &key, 1, "Hello Ada! You said: hello bot");
    reply_queue.send_json(&answer, &group, "late-redelivery-2").await.unwrap();

    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 1, "redeliveries must not produce a second answer");
    assert_eq!(invocations(&bot.tenant_id, "100001"), 1);
    assert_eq!(dispatcher_events(&bot.tenant_id, "dispatch_skipped", "100001"), 2);
    let after = store.conversation(&item(&bot).conversation).await.unwrap();
    assert_eq!(after.len(), 2, "nothing new stored: {after:?}");
    assert_eq!(after[1].channel_message_ids, lines[1].channel_message_ids, "the reply line is not rewritten");
}

/// A reply as an agent of this conversation sends it: with the conversation's scope token.
fn reply(bot: &TelegramBot, key: &ScopeKey, seq: u32, text: &str) -> ReplyEnvelope {
    let conversation = item(bot).conversation;
    ReplyEnvelope {
        files: Vec::new(),
        scope: key.mint(&conversation),
        v: ENVELOPE_VERSION,
        conversation,
        in_reply_to: MessageId::parse("100001").unwrap(),
        in_reply_to_at_ms: 1_763_740_800_000,
        seq,
        text: text.into(),
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        buttons: Vec::new(),
        run: None,
        trace_id: None,
    }
}

/// The reply path's store calls against moto: one strongly consistent read before sending,
/// nothing written until a piece went out, then the whole line in one put.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_is_read_before_sending_and_recorded_whole() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let key = stack.scope_key().await.unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.resources.tables["DataTable"].clone();
    let store = Store::new(dynamo.clone(), &table);
    let conversation = item(&bot).conversation;
    let split = reply(&bot, &key, 1, "piece one. piece two.");

    let (claim, line) = store.reply_progress(&split, "helper").await.unwrap();
    assert_eq!(claim, ReplyClaim::New);
    assert!(store.conversation(&conversation).await.unwrap().is_empty(), "nothing is written before sending");

    // Piece 1 of 2 went out; then the attempt died. A retry resumes after it.
    store.record_reply(&line, ReplyState::Sending, &["m1".to_owned()]).await.unwrap();
    let (claim, again) = store.reply_progress(&split, "helper").await.unwrap();
    assert_eq!(claim, ReplyClaim::Retry { sent_ids: vec!["m1".into()] });
    assert_eq!(again.item().at_ms, line.item().at_ms, "the line keeps the time of its first attempt");
    store.record_reply(&again, ReplyState::Sent, &["m1".to_owned(), "m2".to_owned()]).await.unwrap();
    let (claim, _) = store.reply_progress(&split, "helper").await.unwrap();
    assert_eq!(claim, ReplyClaim::Done(ReplyState::Sent), "a redelivery is not sent again");

    // The line is the answer item the CLI and the dispatcher's history read, as before.
    let lines = store.conversation(&conversation).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let stored = &lines[0];
    assert_eq!(stored.sk, format!("MSG#{:013}#100001#r001", 1_763_740_800_000i64));
    assert_eq!(stored.role, Role::Assistant);
    assert_eq!(stored.message_id, "100001#r001");
    assert_eq!((stored.sender_id.as_str(), stored.sender_name.as_str()), (bot.bot_id.as_str(), "helper"));
    assert_eq!(stored.text, "piece one. piece two.");
    assert_eq!(stored.at_ms, line.item().at_ms);
    assert_eq!(stored.expires_at, line.item().expires_at);
    assert_eq!(stored.reply_state, Some(ReplyState::Sent));
    assert_eq!(stored.channel_message_ids.as_deref(), Some(&["m1".to_owned(), "m2".to_owned()][..]));
    let raw = dynamo
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(conversation.partition_key()))
        .key("sk", AttributeValue::S(stored.sk.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut attributes: Vec<&str> = raw.keys().map(String::as_str).collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        [
            "at_ms",
            "channel_message_ids",
            "expires_at",
            "message_id",
            "pk",
            "reply_state",
            "role",
            "sender_id",
            "sender_name",
            "sk",
            "text"
        ]
    );
    assert_eq!(raw["reply_state"], AttributeValue::S("sent".into()));

    // A permanent failure is recorded the same way and is final.
    let refused = reply(&bot, &key, 2, "refused");
    let (claim, line) = store.reply_progress(&refused, "helper").await.unwrap();
    assert_eq!(claim, ReplyClaim::New);
    store.record_reply(&line, ReplyState::Failed, &[]).await.unwrap();
    let (claim, _) = store.reply_progress(&refused, "helper").await.unwrap();
    assert_eq!(claim, ReplyClaim::Done(ReplyState::Failed));
}

/// The reply function's DynamoDB calls, counted at the emulator: a GetItem and a PutItem per
/// single-piece reply, and a GetItem only for a redelivered one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_costs_one_read_and_one_write() {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.count_aws_calls = true;
    let stack = LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"));
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let key = stack.scope_key().await.unwrap();
    let invoke = |reply: ReplyEnvelope| {
        let mut event = sample_event("reply-telegram.json");
        event["Records"][0]["body"] = json!(serde_json::to_string(&reply).unwrap());
        let function = &stack.functions["ReplyFunction"];
        async move {
            let out = function.invoke(axum::body::Bytes::from(event.to_string())).await.unwrap();
            let out: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(out["batchItemFailures"], json!([]), "{out}");
        }
    };
    let dynamodb_calls = |calls: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        calls
            .iter()
            .filter(|(k, _)| k.starts_with("dynamodb:"))
            .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    // The first reply also loads the bot (then cached).
    invoke(reply(&bot, &key, 1, "first")).await;

    let before = stack.aws_calls();
    invoke(reply(&bot, &key, 2, "second")).await;
    let calls = dynamodb_calls(&stack.aws_calls(), &before);
    assert_eq!(calls, BTreeMap::from([("dynamodb:GetItem".into(), 1), ("dynamodb:PutItem".into(), 1)]));

    let before = stack.aws_calls();
    invoke(reply(&bot, &key, 2, "second")).await;
    let calls = dynamodb_calls(&stack.aws_calls(), &before);
    assert_eq!(calls, BTreeMap::from([("dynamodb:GetItem".into(), 1)]), "a redelivery only reads");
    assert_eq!(stack.outbox.sent().await.len(), 2, "each reply sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_for_another_tenant_is_refused() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let intruder = clawless(&stack, &["tenant", "create", "--name", "intruder"]).unwrap();
    let mut reply_item = item(&bot);
    // A reply that claims the intruder's tenant but speaks through our bot.
    reply_item.conversation.tenant_id = TenantId::parse(intruder["tenant_id"].as_str().unwrap()).unwrap();
    let reply = ReplyEnvelope {
        files: Vec::new(),
        v: ENVELOPE_VERSION,
        conversation: reply_item.conversation.clone(),
        in_reply_to: MessageId::parse("1").unwrap(),
        in_reply_to_at_ms: 1,
        seq: 1,
        text: "not yours".into(),
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None },
        buttons: Vec::new(),
        // Even with the token of the conversation it claims, the bot is not the intruder's.
        scope: stack.scope_key().await.unwrap().mint(&reply_item.conversation),
        run: None,
        trace_id: None,
    };
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&stack.sdk), &stack.resources.queue_urls["ReplyQueue"]);
    queue.send_reply(&reply).await.unwrap();
    quiet(&stack).await;
    assert!(stack.outbox.sent().await.is_empty(), "a reply must match the tenant that owns the bot");
}
