//! Dead-letter queues: a message the platform gave up on is listed by its ids only (never its
//! text or token), stays put on a dry run, goes back to its source queue once the cause is fixed,
//! and is answered exactly once; a second redrive moves nothing.

use std::time::Duration;

use crate::support::*;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use clawless_aws::dynamodb::Store;
use clawless_aws::sqs::FifoQueue;
use clawless_core::domain::envelope::{ENVELOPE_VERSION, InboundEnvelope, ReplyEnvelope};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_core::domain::model::{ChannelKind, ConversationMessage, InboundMessage, ReplyRoute, Sender};
use clawless_core::domain::records::inbound_sort_key;
use clawless_local::LocalStack;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the person wrote, or the bot answered: it must never appear in what the CLI prints.
const PRIVATE_TEXT: &str = "my card number is 4111 private words";

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
            sender: Sender { id: "4242".into(), name: "Ada Lovelace".into(), is_bot: false },
            text: PRIVATE_TEXT.into(),
            is_direct: true,
            route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        },
    }
}

/// Lambda spaces a failing message's receives by the queue's visibility timeout (a minute or
/// more); one second here, so the five receives before the DLQ take seconds.
async fn set_visibility(stack: &LocalStack, queue: &str, seconds: u32) {
    aws_sdk_sqs::Client::new(&stack.sdk)
        .set_queue_attributes()
        .queue_url(&stack.resources.queue_urls[queue])
        .attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string())
        .send()
        .await
        .unwrap();
}

async fn depth(stack: &LocalStack, queue: &str) -> u64 {
    stack.queued_messages().await.get(queue).copied().unwrap_or(0)
}

async fn wait_for_dlq(stack: &LocalStack, queue: &str) {
    eventually(Duration::from_secs(60), &format!("a message in {queue}"), || async {
        (depth(stack, queue).await == 1).then_some(())
    })
    .await;
}

/// The `dlq list` entry of `queue`, after checking the others are empty.
fn listed<'a>(list: &'a Value, queue: &str) -> &'a Value {
    let queues = list["queues"].as_array().unwrap();
    assert_eq!(
        queues.iter().map(|q| q["queue"].as_str().unwrap()).collect::<Vec<_>>(),
        ["inbound", "reply", "schedule"]
    );
    for other in queues.iter().filter(|q| q["queue"] != queue) {
        assert_eq!((other["depth"].as_u64(), other["messages"].as_array().map(Vec::len)), (Some(0), Some(0)), "{list}");
    }
    queues.iter().find(|q| q["queue"] == queue).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poisoned_inbound_message_is_listed_redriven_and_answered_once() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let item = item(&bot);
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    set_visibility(&stack, "InboundQueue", 1).await;

    // A message whose line in the table cannot be read (half-written by hand, or by a broken
    // deploy): the dispatcher's history read fails on every receive until the redrive policy
    // moves the message to the DLQ.
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.resources.tables["DataTable"].clone();
    let key = [
        ("pk", AttributeValue::S(item.conversation.partition_key())),
        ("sk", AttributeValue::S(inbound_sort_key(item.message.sent_at_ms, item.message.message_id.as_str()))),
    ];
    let mut corrupt = dynamo.put_item().table_name(&table).item("at_ms", AttributeValue::S("not a time".into()));
    for (name, value) in key.clone() {
        corrupt = corrupt.item(name, value);
    }
    corrupt.send().await.unwrap();
    let envelope = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item: item.clone() };
    FifoQueue::new(sqs.clone(), &stack.resources.queue_urls["InboundQueue"])
        .send_json(&envelope, &item.conversation.message_group_id(), &envelope.dedup_id())
        .await
        .unwrap();
    wait_for_dlq(&stack, "InboundDeadLetterQueue").await;
    set_visibility(&stack, "InboundQueue", 60).await;
    assert!(stack.outbox.sent().await.is_empty());

    let list = clawless(&stack, &["dlq", "list"]).unwrap();
    let printed = list.to_string();
    assert!(!printed.contains("private words") && !printed.contains("Ada"), "no text, no names: {printed}");
    let inbound = listed(&list, "inbound");
    assert_eq!(inbound["name"], "clawless-inbound-dlq.fifo");
    assert_eq!(inbound["source"], "clawless-inbound.fifo");
    assert_eq!(inbound["depth"], 1);
    let messages = inbound["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{list}");
    let message = &messages[0];
    assert_eq!(message["group_id"], item.conversation.message_group_id());
    assert!(message["receive_count"].as_u64().unwrap() >= 5, "{message}");
    assert!(message["sent_at_ms"].as_i64().unwrap() > 1_700_000_000_000, "{message}");
    assert!(message["sent_at"].as_str().unwrap().ends_with('Z'), "{message}");
    assert_eq!(
        message["summary"],
        json!({"kind": "channel_message", "tenant_id": bot.tenant_id, "bot_id": bot.bot_id, "channel": "telegram",
            "message_id": "100001"})
    );
    let message_id = message["message_id"].as_str().unwrap().to_owned();
    // Listing took nothing, and a second look sees the same message.
    let again = clawless(&stack, &["dlq", "list", "--limit", "1"]).unwrap();
    assert_eq!(listed(&again, "inbound")["messages"][0]["message_id"], message_id.as_str());

    // A dry run lists what would move and moves nothing.
    let dry = clawless(&stack, &["dlq", "redrive", "--queue", "inbound", "--dry-run"]).unwrap();
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["moved"].as_u64(), dry["failed"].as_u64()),
        (Some(true), Some(0), Some(0))
    );
    assert_eq!(dry["messages"][0]["outcome"], "would_move", "{dry}");
    assert_eq!(dry["messages"][0]["message_id"], message_id.as_str());
    assert!(!dry.to_string().contains("private words"));
    assert_eq!(depth(&stack, "InboundDeadLetterQueue").await, 1);
    assert_eq!(depth(&stack, "InboundQueue").await, 0);

    // A queue that cannot be redriven is a clear error.
    let error = clawless(&stack, &["dlq", "redrive", "--queue", "schedule"]).unwrap_err();
    assert!(error.contains("no source queue"), "{error}");
    let error = clawless(&stack, &["dlq", "redrive", "--queue", "outbound"]).unwrap_err();
    assert!(error.contains("accepted values: inbound, reply"), "{error}");

    // The cause fixed (the unreadable line removed), the message goes back and is answered once,
    // stored by the dispatcher as it hands it over.
    let mut repair = dynamo.delete_item().table_name(&table);
    for (name, value) in key {
        repair = repair.key(name, value);
    }
    repair.send().await.unwrap();
    let moved = clawless(&stack, &["dlq", "redrive", "--queue", "inbound"]).unwrap();
    assert_eq!((moved["moved"].as_u64(), moved["failed"].as_u64()), (Some(1), Some(0)), "{moved}");
    assert_eq!(moved["messages"][0]["outcome"], "moved");
    assert_eq!(moved["messages"][0]["message_id"], message_id.as_str());
    eventually(Duration::from_secs(30), "the answer", || async {
        (stack.outbox.sent().await.len() == 1).then_some(())
    })
    .await;
    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 1, "answered exactly once");
    let store = Store::new(dynamo.clone(), &table);
    let lines = store.conversation(&item.conversation).await.unwrap();
    assert_eq!(lines.len(), 2, "the message and its answer: {lines:?}");
    assert!(lines[0].dispatched_at_ms.is_some() && lines[0].text == PRIVATE_TEXT, "{:?}", lines[0]);

    let second = clawless(&stack, &["dlq", "redrive", "--queue", "inbound"]).unwrap();
    assert_eq!((second["moved"].as_u64(), second["failed"].as_u64()), (Some(0), Some(0)), "{second}");
    assert_eq!(second["messages"], json!([]));
    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 1);
}

fn send_message_requests(requests: &[wiremock::Request]) -> usize {
    requests.iter().filter(|r| r.url.path().ends_with("/sendMessage")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_the_channel_refused_is_redriven_and_sent_once() {
    let telegram = MockServer::start().await;
    let send = || Mock::given(method("POST")).and(path_regex(r"^/bot[^/]+/sendMessage$"));
    send()
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_json(json!({"ok": false, "error_code": 502, "description": "Bad Gateway"})),
        )
        .mount(&telegram)
        .await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    set_visibility(&stack, "ReplyQueue", 1).await;

    // An answer while the channel's API is down: every attempt fails until the DLQ takes it.
    let conversation = item(&bot).conversation;
    let reply = ReplyEnvelope {
        files: Vec::new(),
        scope: stack.scope_key().await.unwrap().mint(&conversation),
        v: ENVELOPE_VERSION,
        conversation,
        in_reply_to: MessageId::parse("100001").unwrap(),
        in_reply_to_at_ms: 1_763_740_800_000,
        seq: 1,
        text: PRIVATE_TEXT.into(),
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
        buttons: Vec::new(),
        run: None,
        trace_id: None,
    };
    let token = reply.scope.expose().to_owned();
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&stack.sdk), &stack.resources.queue_urls["ReplyQueue"]);
    queue.send_reply(&reply).await.unwrap();
    wait_for_dlq(&stack, "ReplyDeadLetterQueue").await;
    set_visibility(&stack, "ReplyQueue", 90).await;

    let list = clawless(&stack, &["dlq", "list"]).unwrap();
    let printed = list.to_string();
    assert!(!printed.contains(&token), "the scope token is never printed: {printed}");
    assert!(!printed.contains("private words"), "{printed}");
    let listed = listed(&list, "reply");
    assert_eq!(listed["depth"], 1);
    assert_eq!(
        listed["messages"][0]["summary"],
        json!({"kind": "reply", "tenant_id": bot.tenant_id, "bot_id": bot.bot_id, "channel": "telegram",
            "in_reply_to": "100001", "seq": 1})
    );

    // The channel is back: the reply goes out once.
    telegram.reset().await;
    send()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 9}})))
        .mount(&telegram)
        .await;
    let moved = clawless(&stack, &["dlq", "redrive", "--queue", "reply"]).unwrap();
    assert_eq!((moved["moved"].as_u64(), moved["failed"].as_u64()), (Some(1), Some(0)), "{moved}");
    assert!(!moved.to_string().contains(&token));
    eventually(Duration::from_secs(30), "the reply sent", || async {
        (send_message_requests(&telegram.received_requests().await.unwrap_or_default()) == 1).then_some(())
    })
    .await;
    quiet(&stack).await;
    let second = clawless(&stack, &["dlq", "redrive", "--queue", "reply"]).unwrap();
    assert_eq!(second["moved"], 0, "{second}");
    quiet(&stack).await;
    assert_eq!(send_message_requests(&telegram.received_requests().await.unwrap_or_default()), 1, "sent exactly once");
}
