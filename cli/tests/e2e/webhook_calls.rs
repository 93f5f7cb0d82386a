//! One AWS call per webhook request, and one hand-over per update, counted at the emulator: the
//! functions' calls go through the stack's counting proxy, no event-source mapping runs, and the
//! test plays the inbound queue's mapping itself (the stack's own [`SqsMapping`], its calls not
//! counted) so it decides what lands in one batch.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use clawless_aws::dynamodb::Store;
use clawless_core::channels::whatsapp::{SIGNATURE_HEADER, signature_header};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_local::event_source::SqsMapping;
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::{Value, json};
use std::sync::Arc;

async fn counting_stack() -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.count_aws_calls = true;
    options.event_source_mappings = false;
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

/// The functions' AWS calls `during` made, by `service:Operation`.
async fn calls_of<F: std::future::Future<Output = T>, T>(stack: &LocalStack, during: F) -> (T, BTreeMap<String, u64>) {
    let before = stack.aws_calls();
    let out = during.await;
    let calls = stack
        .aws_calls()
        .into_iter()
        .map(|(k, n)| (k.clone(), n - before.get(&k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    (out, calls)
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// A Telegram text message from Ada (user 4242) in chat `chat` of type `kind`.
fn update(update_id: i64, chat: i64, kind: &str, text: &str) -> String {
    json!({"update_id": update_id, "message": {
        "message_id": update_id % 1000, "from": {"id": 4242, "is_bot": false, "first_name": "Ada"},
        "chat": {"id": chat, "type": kind}, "date": 1_763_740_800 + update_id % 1000, "text": text}})
    .to_string()
}

async fn post_telegram(bot: &TelegramBot, body: &str) -> u16 {
    reqwest::Client::new()
        .post(&bot.webhook_url)
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", TEST_SECRET)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn conversation(tenant: &str, bot: &str, channel: ChannelKind, chat: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse(tenant).unwrap(),
        bot_id: BotId::parse(bot).unwrap(),
        channel,
        conversation_id: ConversationId::parse(chat).unwrap(),
    }
}

/// The stack's inbound queue → dispatcher mapping, driven one poll at a time by the test.
fn dispatcher_mapping(stack: &LocalStack) -> Arc<SqsMapping> {
    Arc::new(SqsMapping {
        sqs: aws_sdk_sqs::Client::new(&stack.sdk),
        queue_url: stack.resources.queue_urls["InboundQueue"].clone(),
        queue_arn: stack.resources.queue_arns["InboundQueue"].clone(),
        region: stack.endpoints.region.clone(),
        batch_size: 10,
        report_batch_item_failures: true,
        function: stack.functions["DispatcherFunction"].clone(),
        deliveries: stack.deliveries.clone(),
    })
}

/// The JSON log lines (and audit lines) of processes tagged `tag` that mention `tenant`.
fn json_lines(tenant: &str, tag: &str) -> Vec<Value> {
    clawless_local::output_lines(tenant)
        .into_iter()
        .filter(|(t, _)| t.starts_with(tag))
        .filter_map(|(_, line)| serde_json::from_str(&line).ok())
        .collect()
}

/// How often the dispatcher logged `event` for `message_id`.
pub(crate) fn dispatcher_events(tenant: &str, event: &str, message_id: &str) -> usize {
    json_lines(tenant, "DispatcherFunction")
        .iter()
        .filter(|v| {
            v["fields"]["event"] == event
                && v["spans"].as_array().into_iter().flatten().any(|s| s["message_id"] == message_id)
        })
        .count()
}

/// How many `agent_invocation` audit events name `message_id`.
pub(crate) fn invocations(tenant: &str, message_id: &str) -> usize {
    json_lines(tenant, "DispatcherFunction")
        .iter()
        .filter(|v| v["audit"] == "clawless.v1" && v["kind"] == "agent_invocation")
        .filter(|v| v["detail"]["message_id"] == message_id)
        .count()
}

const WA_APP_SECRET: &str = "test-whatsapp-app-secret-not-for-production";
const WA_PHONE_NUMBER_ID: &str = "106540352242922";

/// A signed WhatsApp notification from one sender with `messages` (`(wamid, text)` each).
fn whatsapp_notification(messages: &[(&str, &str)]) -> String {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(id, text)| {
            json!({"from": "16505551234", "id": id, "timestamp": "1763740800", "type": "text", "text": {"body": text}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": WA_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ada"}, "wa_id": "16505551234"}],
        "messages": messages}}]}]})
    .to_string()
}

async fn post_whatsapp(url: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature_header(WA_APP_SECRET, body.as_bytes()))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_webhook_request_makes_one_aws_call() {
    let stack = counting_stack().await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    // The first request of a webhook process also loads the bot and its channel secret (cached).
    let (status, _) = calls_of(&stack, post_telegram(&bot, &update(1, 4242, "private", "warm up"))).await;
    assert_eq!(status, 200);

    // A message the bot answers: queued, nothing stored.
    let direct = update(2, 4242, "private", "hello bot");
    let (status, made) = calls_of(&stack, post_telegram(&bot, &direct)).await;
    assert_eq!((status, made), (200, calls(&[("sqs:SendMessage", 1)])));
    // Its redelivery: queued again under the same deduplication id (SQS keeps one copy).
    let (status, made) = calls_of(&stack, post_telegram(&bot, &direct)).await;
    assert_eq!((status, made), (200, calls(&[("sqs:SendMessage", 1)])));
    // A group message kept only as context: one conditional put, first and redelivered alike.
    let chatter = update(3, -100, "group", "lunch anyone?");
    for _ in 0..2 {
        let (status, made) = calls_of(&stack, post_telegram(&bot, &chatter)).await;
        assert_eq!((status, made), (200, calls(&[("dynamodb:PutItem", 1)])));
    }
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.tables["DataTable"]);
    let group = store.conversation(&conversation(&bot.tenant_id, &bot.bot_id, ChannelKind::Telegram, "-100")).await;
    let group = group.unwrap();
    assert_eq!(group.len(), 1, "{group:?}");
    assert!(group[0].text == "lunch anyone?" && group[0].dispatched_at_ms.is_none());
    let direct_lines =
        store.conversation(&conversation(&bot.tenant_id, &bot.bot_id, ChannelKind::Telegram, "4242")).await.unwrap();
    assert!(direct_lines.is_empty(), "the dispatcher stores what the bot answers: {direct_lines:?}");

    // Several messages in one WhatsApp notification: one SendMessageBatch.
    let wa = onboard_bot(
        &stack,
        "whatsapp",
        &[
            ("app_secret", WA_APP_SECRET),
            ("verify_token", "test-whatsapp-verify-token-not-for-production"),
            ("access_token", "EAAtest-access-token"),
            ("phone_number_id", WA_PHONE_NUMBER_ID),
        ],
    );
    assert_eq!(post_whatsapp(&wa.webhook_url, &whatsapp_notification(&[("wamid.W1", "warm up")])).await, 200);
    let batch = whatsapp_notification(&[("wamid.W2", "first"), ("wamid.W3", "second")]);
    let (status, made) = calls_of(&stack, post_whatsapp(&wa.webhook_url, &batch)).await;
    assert_eq!((status, made), (200, calls(&[("sqs:SendMessageBatch", 1)])));

    // The queue holds each message once, under its delivery id's deduplication id, in its
    // conversation's group.
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut queued: Vec<(String, String, String)> = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&stack.resources.queue_urls["InboundQueue"])
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            let body: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            let attributes = m.attributes.unwrap_or_default();
            let dedup = attributes[&MessageSystemAttributeName::MessageDeduplicationId].clone();
            let group = attributes[&MessageSystemAttributeName::MessageGroupId].clone();
            let envelope: clawless_core::domain::envelope::InboundEnvelope = serde_json::from_value(body).unwrap();
            assert_eq!(dedup, envelope.dedup_id());
            assert_eq!(group, envelope.item().conversation.message_group_id());
            queued.push((envelope.item().message.message_id.to_string(), dedup, group));
        }
        if queued.len() >= 5 {
            break;
        }
    }
    let mut ids: Vec<&str> = queued.iter().map(|(id, _, _)| id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2", "wamid.W1", "wamid.W2", "wamid.W3"]);

    // Its one call failing (the queue is gone): 500, so the channel retries; nothing stored.
    sqs.delete_queue().queue_url(&stack.resources.queue_urls["InboundQueue"]).send().await.unwrap();
    let (status, made) = calls_of(&stack, post_telegram(&bot, &update(4, 4242, "private", "anyone?"))).await;
    assert_eq!((status, made), (500, calls(&[("sqs:SendMessage", 1)])));
    let direct_lines =
        store.conversation(&conversation(&bot.tenant_id, &bot.bot_id, ChannelKind::Telegram, "4242")).await.unwrap();
    assert!(direct_lines.is_empty());
    // The context path does not touch the queue.
    let (status, made) = calls_of(&stack, post_telegram(&bot, &update(5, -100, "group", "later"))).await;
    assert_eq!((status, made), (200, calls(&[("dynamodb:PutItem", 1)])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_update_twice_in_one_batch_is_handed_over_once() {
    let stack = counting_stack().await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let mapping = dispatcher_mapping(&stack);
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let inbound_url = stack.resources.queue_urls["InboundQueue"].clone();
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.tables["DataTable"]);
    let chat = conversation(&bot.tenant_id, &bot.bot_id, ChannelKind::Telegram, "4242");

    // A first message warms the dispatcher (the bot, the scope key, the conversation's credentials).
    assert_eq!(post_telegram(&bot, &update(1, 4242, "private", "warm up")).await, 200);
    assert_eq!(mapping.poll_once().await.unwrap(), 1);

    // The update, queued by the webhook; and the same update again under another deduplication
    // id, as a redelivery after SQS's 5-minute window that meets the first still queued.
    assert_eq!(post_telegram(&bot, &update(2, 4242, "private", "hello bot")).await, 200);
    let queued = sqs
        .receive_message()
        .queue_url(&inbound_url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(queued.len(), 1);
    let first = &queued[0];
    let group = first.attributes.as_ref().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone();
    sqs.send_message()
        .queue_url(&inbound_url)
        .message_body(first.body.clone().unwrap())
        .message_group_id(group)
        .message_deduplication_id("after-the-window")
        .send()
        .await
        .unwrap();

    // One batch holds both; the first is handed over and stored with its mark, the second finds
    // that line and is skipped: two history reads, one write, one invocation.
    let (received, made) = calls_of(&stack, mapping.poll_once()).await;
    assert_eq!(received.unwrap(), 2, "both copies in one batch");
    assert_eq!(made, calls(&[("dynamodb:PutItem", 1), ("dynamodb:Query", 2)]));
    assert_eq!(stack.queued_messages().await["InboundQueue"], 0, "both succeeded and were deleted");
    let counted = eventually(Duration::from_secs(10), "the dispatcher's log lines", || async {
        let counts = (invocations(&bot.tenant_id, "2"), dispatcher_events(&bot.tenant_id, "dispatch_skipped", "2"));
        (counts == (1, 1)).then_some(counts)
    })
    .await;
    assert_eq!(counted, (1, 1), "invoked once, skipped once");

    let lines = store.conversation(&chat).await.unwrap();
    let users: Vec<(&str, bool)> =
        lines.iter().map(|l| (l.message_id.as_str(), l.dispatched_at_ms.is_some())).collect();
    assert_eq!(users, [("1", true), ("2", true)], "each stored once, with its mark");
    assert_eq!(lines[1].text, "hello bot");
}
