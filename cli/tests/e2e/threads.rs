//! A conversation per thread, end to end: two Slack threads of one channel and two Telegram forum
//! topics of one group each keep their own conversation (their own lines, so their own history
//! for the agent), and every answer goes back into the thread it answers.

use std::time::Duration;

use clawless_aws::dynamodb::{ConversationRepo, Store};
use clawless_core::domain::model::Role;
use serde_json::{Value, json};

use crate::slack::{self, onboard_slack_bot, post_event, posted, slack_stand_in};
use crate::support::*;
use crate::telegram::{self, post_update, sent_messages, telegram_stand_in};

const WAIT: Duration = Duration::from_secs(45);

/// The user lines' texts of a stored conversation.
async fn user_texts(store: &Store, conversation: &clawless_core::domain::ids::ConversationRef) -> Vec<String> {
    let lines = store.conversation(conversation).await.unwrap();
    lines.into_iter().filter(|l| l.role == Role::User).map(|l| l.text).collect()
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
