//! A conversation per thread, end to end: two Slack threads of one channel, two Telegram forum
//! topics of one group, two Feishu threads of one chat and two Discord threads of one channel
//! each keep their own conversation (their own lines, so their own history for the agent), and
//! every answer goes back into the thread it answers.

use std::time::Duration;

use clawless_aws::dynamodb::{ConversationRepo, Store};
use clawless_core::domain::model::Role;
use serde_json::{Value, json};

use crate::discord::{self, onboard_discord_bot};
use crate::feishu;
use crate::slack::{self, onboard_slack_bot, post_event, posted, slack_stand_in};
use crate::support::*;
use crate::telegram::{self, post_update, sent_messages, telegram_stand_in};

const WAIT: Duration = Duration::from_secs(45);

/// The user lines' texts of a stored conversation.
async fn user_texts(store: &Store, conversation: &clawless_core::domain::ids::ConversationRef) -> Vec<String> {
    let lines = store.conversation(conversation).await.unwrap();
    lines.into_iter().filter(|l| l.role == Role::User).map(|l| l.text).collect()
}

/// The history note the offline model appends to its answer, if it was given any history.
fn history_note(answer: &str) -> Option<String> {
    answer.split_once('\n').map(|(_, h)| h.to_owned())
}

fn slack_message(event_id: &str, ts: &str, thread_ts: Option<&str>, text: &str) -> String {
    let mut event: Value =
        serde_json::from_str(&slack::message_event(event_id, "C0THREADS", "channel", ts, text)).unwrap();
    if let Some(thread) = thread_ts {
        event["event"]["thread_ts"] = json!(thread);
    }
    event.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_slack_threads_keep_their_own_conversations() {
    let slack_api = slack_stand_in().await;
    let stack = start_stack_with(vec![("slack", slack_api.uri())]).await;
    let bot = onboard_slack_bot(&stack);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    const A: &str = "1763740800.000100";
    const B: &str = "1763740810.000100";

    for (event, ts, thread, text) in [
        ("Ev0THREADA1", A, None, "<@U0BOT0001> first in A"),
        ("Ev0THREADB1", B, None, "<@U0BOT0001> first in B"),
        ("Ev0THREADA2", "1763740820.000100", Some(A), "<@U0BOT0001> second in A"),
    ] {
        let body = slack_message(event, ts, thread, text);
        assert_eq!(post_event(&bot.webhook_url, &body, &[]).await.status(), 200);
        // One at a time, so the answers' order is the messages' order.
        let answered = eventually(WAIT, text, || async {
            let sent = posted(&slack_api).await;
            sent.iter().any(|m| m["text"].as_str().is_some_and(|t| t.contains(&text[16..]))).then_some(sent)
        })
        .await;
        let answer = answered.last().unwrap();
        assert_eq!(answer["channel"], "C0THREADS");
        assert_eq!(answer["thread_ts"], thread.unwrap_or(ts), "answered in its own thread: {answer}");
        // The offline model says how much history it was given: only its own thread's.
        let history = answer["text"].as_str().unwrap().split_once('\n').map(|(_, h)| h.to_owned());
        let expected = thread.map(|_| "(I remember 2 earlier messages in this conversation.)".to_owned());
        assert_eq!(history, expected, "{answer}");
    }

    let a = user_texts(&store, &slack::conversation(&bot, &format!("C0THREADS:{A}"))).await;
    let b = user_texts(&store, &slack::conversation(&bot, &format!("C0THREADS:{B}"))).await;
    assert_eq!(a, ["<@U0BOT0001> first in A", "<@U0BOT0001> second in A"]);
    assert_eq!(b, ["<@U0BOT0001> first in B"]);
    assert!(store.conversation(&slack::conversation(&bot, "C0THREADS")).await.unwrap().is_empty());
}

fn topic_update(update_id: i64, topic: i64, text: &str) -> String {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "message_thread_id": topic,
            "is_topic_message": true,
            "from": {"id": 4242, "is_bot": false, "first_name": "Ada"},
            "chat": {"id": -100777, "type": "supergroup", "is_forum": true},
            "date": 1763740800 + update_id,
            "text": text,
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_telegram_topics_keep_their_own_conversations() {
    let telegram_api = telegram_stand_in().await;
    let stack = start_stack(Some(telegram_api.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    // Every group message is answered (no mention needed), so each topic gets answers.
    clawless(&stack, &["access", "set", "--bot", &bot.bot_id, "--groups", "open"]).unwrap();
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));

    for (update_id, topic, text) in [(1, 7, "first in seven"), (2, 9, "first in nine"), (3, 7, "second in seven")] {
        let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &topic_update(update_id, topic, text)).await;
        assert_eq!(response.status(), 200);
        let sent = eventually(WAIT, text, || async {
            let sent = sent_messages(&telegram_api).await;
            sent.iter().any(|m| m["text"].as_str().is_some_and(|t| t.contains(text))).then_some(sent)
        })
        .await;
        let answer = sent.last().unwrap();
        assert_eq!(answer["chat_id"], -100777);
        assert_eq!(answer["message_thread_id"], topic, "answered in its own topic: {answer}");
        let history = answer["text"].as_str().unwrap().split_once('\n').map(|(_, h)| h.to_owned());
        let expected = (update_id == 3).then(|| "(I remember 2 earlier messages in this conversation.)".to_owned());
        assert_eq!(history, expected, "only its own topic's history: {answer}");
    }

    let seven = user_texts(&store, &telegram::conversation(&bot, "-100777:7")).await;
    let nine = user_texts(&store, &telegram::conversation(&bot, "-100777:9")).await;
    assert_eq!(seven, ["first in seven", "second in seven"]);
    assert_eq!(nine, ["first in nine"]);
    assert!(store.conversation(&telegram::conversation(&bot, "-100777")).await.unwrap().is_empty());
}

const FEISHU_CHAT: &str = "oc_threads0000000000000000000001";

/// A Feishu group message mentioning the bot, in the thread rooted at `root` (`None`: the chat).
fn feishu_message(event_id: &str, message_id: &str, root: Option<&str>, text: &str) -> Value {
    let mut event = feishu::message_event(event_id, &format!("@_user_1 {text}"));
    let message = &mut event["event"]["message"];
    message["message_id"] = json!(message_id);
    message["chat_id"] = json!(FEISHU_CHAT);
    message["chat_type"] = json!("group");
    message["mentions"] = json!([{"key": "@_user_1", "name": "helper", "id": {"open_id": "ou_bot"}}]);
    if let Some(root) = root {
        // The thread's opening message is its root (no root_id of its own).
        message["root_id"] = json!(if root == message_id { "" } else { root });
        message["parent_id"] = message["root_id"].clone();
        message["thread_id"] = json!(format!("omt_{root}"));
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_feishu_threads_keep_their_own_conversations() {
    // No override: the local run's own open platform stand-in, which shows where replies went.
    let stack = start_stack_with(vec![]).await;
    let bot = feishu::onboard(&stack);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));

    let steps = [
        ("ev_t1", "om_roota", Some("om_roota"), "first in A"),
        ("ev_t2", "om_rootb", Some("om_rootb"), "first in B"),
        ("ev_t3", "om_a2", Some("om_roota"), "second in A"),
        ("ev_t4", "om_plain", None, "in the chat"),
    ];
    for (i, (event_id, message_id, root, text)) in steps.into_iter().enumerate() {
        let body = feishu::encrypted(&feishu_message(event_id, message_id, root, text));
        let headers = feishu::signature_headers(&body, feishu::ENCRYPT_KEY, &format!("nonce{i}"), feishu::now_secs());
        let mut request = reqwest::Client::new().post(&bot.webhook_url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
        let sent = eventually(WAIT, text, || async {
            let sent = stack.outbox.sent().await;
            (sent.len() == i + 1).then_some(sent)
        })
        .await;
        let answer = sent.last().unwrap();
        assert_eq!(answer.channel, "feishu");
        assert!(answer.text.contains(text), "{answer:?}");
        // A thread's answers are replies to its root, kept in the thread; the chat's a quote reply.
        let expected = match root {
            Some(root) => json!({"reply_to": root, "in_thread": true}),
            None => json!({"reply_to": message_id}),
        };
        assert_eq!(answer.chat_id, expected, "{answer:?}");
        let expected = (i == 2).then(|| "(I remember 2 earlier messages in this conversation.)".to_owned());
        assert_eq!(history_note(&answer.text), expected, "only its own thread's history: {answer:?}");
    }

    let conversation = |id: &str| feishu::conversation_of(&bot, id);
    let a = user_texts(&store, &conversation(&format!("{FEISHU_CHAT}:om_roota"))).await;
    let b = user_texts(&store, &conversation(&format!("{FEISHU_CHAT}:om_rootb"))).await;
    let chat = user_texts(&store, &conversation(FEISHU_CHAT)).await;
    assert_eq!(a, ["@helper first in A", "@helper second in A"]);
    assert_eq!(b, ["@helper first in B"]);
    assert_eq!(chat, ["@helper in the chat"]);
}

const DISCORD_PARENT: &str = "1000000000000000077";

/// An `/ask` from the thread `thread` of the parent channel.
fn thread_command(id: u64, thread: &str, question: &str) -> String {
    let mut interaction: Value = serde_json::from_str(&discord::command(id, thread, question)).unwrap();
    interaction["channel"] = json!({"id": thread, "type": 11, "parent_id": DISCORD_PARENT,
                                    "guild_id": "1000000000000000001", "name": "a thread"});
    interaction.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_discord_threads_keep_their_own_conversations_under_a_listed_parent() {
    let stack = start_stack_with(vec![]).await;
    let bot = onboard_discord_bot(&stack);
    // Only the parent channel is listed: its threads are admitted with it.
    clawless(&stack, &["access", "set", "--bot", &bot.bot_id, "--groups", "allowlist"]).unwrap();
    let parent = format!("discord:{DISCORD_PARENT}");
    clawless(&stack, &["access", "allow", "--bot", &bot.bot_id, "--group", &parent]).unwrap();
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    const X: &str = "1200000000000000001";
    const Y: &str = "1200000000000000002";

    let steps = [
        (1_441_458_133_401_800_001u64, X, "first in X"),
        (1_441_458_133_401_800_002, Y, "first in Y"),
        (1_441_458_133_401_800_003, X, "second in X"),
    ];
    for (i, (id, thread, question)) in steps.into_iter().enumerate() {
        let response = discord::post_interaction(&bot.webhook_url, &thread_command(id, thread, question)).await;
        assert_eq!(response.status(), 200);
        let sent = eventually(WAIT, question, || async {
            let sent = stack.outbox.sent().await;
            (sent.len() == i + 1).then_some(sent)
        })
        .await;
        let answer = sent.last().unwrap();
        assert!(answer.text.contains(question), "{answer:?}");
        // The follow-up of the interaction made in the thread, which Discord posts in the thread.
        assert_eq!(answer.interaction.as_deref(), Some(format!("test-interaction-token-{id}").as_str()));
        let expected = (i == 2).then(|| "(I remember 2 earlier messages in this conversation.)".to_owned());
        assert_eq!(history_note(&answer.text), expected, "only its own thread's history: {answer:?}");
    }

    let conversation = |id: &str| discord::conversation(&bot, id);
    let x = user_texts(&store, &conversation(&format!("{DISCORD_PARENT}:{X}"))).await;
    let y = user_texts(&store, &conversation(&format!("{DISCORD_PARENT}:{Y}"))).await;
    assert_eq!(x, ["/ask first in X", "/ask second in X"]);
    assert_eq!(y, ["/ask first in Y"]);
    assert!(store.conversation(&conversation(DISCORD_PARENT)).await.unwrap().is_empty());

    // A thread of a channel that is not listed is refused like the channel: nothing answered.
    let mut elsewhere: Value =
        serde_json::from_str(&thread_command(1_441_458_133_401_800_004, "1200000000000000003", "hi")).unwrap();
    elsewhere["channel"]["parent_id"] = json!("1000000000000000088");
    let response = discord::post_interaction(&bot.webhook_url, &elsewhere.to_string()).await;
    assert_eq!(response.status(), 200);
    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 3, "an unlisted channel's thread is not answered");
}
