//! Redeliveries past SQS's 5-minute deduplication window: the dispatcher and the reply function
//! must each recognise work they already did, so a person never gets the same answer twice.

use std::time::Duration;

use crate::support::*;
use clawless_shared::envelope::{ENVELOPE_VERSION, InboundEnvelope, ReplyEnvelope};
use clawless_shared::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_shared::model::{ChannelKind, ConversationMessage, InboundMessage, ReplyRoute, Sender};
use clawless_shared::queue::FifoQueue;

fn item(bot: &TelegramBot) -> ConversationMessage {
    ConversationMessage {
        conversation: ConversationRef {
            tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
            bot_id: BotId::parse(&bot.bot_id).unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse("4242").unwrap(),
        },
        message: InboundMessage {
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
    let update = sample_event("webhook-telegram.json")["body"].as_str().unwrap().to_owned();
    let response = reqwest::Client::new()
        .post(&bot.webhook_url)
        .header("x-telegram-bot-api-secret-token", TEST_SECRET)
        .body(update)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    eventually(Duration::from_secs(30), "the first answer", || async {
        (stack.outbox.sent().await.len() == 1).then_some(())
    })
    .await;

    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    // The same inbound message again, under a new deduplication id (as after SQS's window).
    let inbound = FifoQueue::new(sqs.clone(), &stack.resources.queue_urls["InboundQueue"]);
    let envelope = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: item(&bot) };
    let group = item(&bot).conversation.message_group_id();
    inbound.send_json(&envelope, &group, "late-redelivery-1").await.unwrap();
    // The same reply again, under a new deduplication id.
    let reply_queue = FifoQueue::new(sqs, &stack.resources.queue_urls["ReplyQueue"]);
    let reply = ReplyEnvelope {
        v: ENVELOPE_VERSION,
        conversation: item(&bot).conversation,
        in_reply_to: MessageId::parse("100001").unwrap(),
        in_reply_to_at_ms: 1_763_740_800_000,
        seq: 1,
        text: "Hello Ada! You said: hello bot".into(),
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        buttons: Vec::new(),
    };
    reply_queue.send_json(&reply, &group, "late-redelivery-2").await.unwrap();

    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 1, "redeliveries must not produce a second answer");
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
        v: ENVELOPE_VERSION,
        conversation: reply_item.conversation.clone(),
        in_reply_to: MessageId::parse("1").unwrap(),
        in_reply_to_at_ms: 1,
        seq: 1,
        text: "not yours".into(),
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None },
        buttons: Vec::new(),
    };
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&stack.sdk), &stack.resources.queue_urls["ReplyQueue"]);
    queue.send_reply(&reply).await.unwrap();
    quiet(&stack).await;
    assert!(stack.outbox.sent().await.is_empty(), "a reply must match the tenant that owns the bot");
}
