//! One Telegram message, end to end: webhook → DynamoDB + inbound FIFO → dispatcher → AgentCore
//! stand-in → agent process → reply FIFO → reply function → Telegram API stand-in. Every hop is
//! the real binary and the real AWS SDK call against moto.

use std::time::Duration;

use crate::support::*;
use clawless_aws::dynamodb::Store;
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_core::domain::records::ReplyState;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub async fn telegram_stand_in() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 555, "chat": {"id": 4242}, "date": 0}})),
        )
        .mount(&server)
        .await;
    server
}

pub async fn sent_messages(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The Telegram update carried by the sample API Gateway event.
pub fn sample_update() -> String {
    sample_event("webhook-telegram.json")["body"].as_str().unwrap().to_owned()
}

pub async fn post_update(url: &str, secret: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_owned());
    if let Some(secret) = secret {
        request = request.header("x-telegram-bot-api-secret-token", secret);
    }
    request.send().await.unwrap()
}

/// A direct message from user `from` (their private chat has their id) as Telegram posts it.
pub fn direct_update(update_id: i64, from: i64, text: &str) -> String {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": from, "is_bot": false, "first_name": "Ada"},
            "chat": {"id": from, "type": "private"},
            "date": 1763740800 + update_id,
            "text": text,
        }
    })
    .to_string()
}

/// Posts `text` from `from` to `bot`'s webhook as a direct message; the webhook takes it.
pub async fn say_directly(bot: &TelegramBot, update_id: i64, from: i64, text: &str) {
    let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &direct_update(update_id, from, text)).await;
    assert_eq!(response.status(), 200);
}

/// The texts sent to `chat`, in order.
pub fn texts_to(sent: &[Value], chat: i64) -> Vec<String> {
    sent.iter().filter(|m| m["chat_id"] == chat).filter_map(|m| m["text"].as_str().map(str::to_owned)).collect()
}

/// Waits (45 s at most) until a text sent to `chat` contains `needle`; the texts sent to it.
pub async fn wait_for_text_to(telegram: &MockServer, chat: i64, needle: &str) -> Vec<String> {
    eventually(Duration::from_secs(45), &format!("a message to {chat} containing {needle:?}"), || async {
        let texts = texts_to(&sent_messages(telegram).await, chat);
        texts.iter().any(|t| t.contains(needle)).then_some(texts)
    })
    .await
}

/// The conversation of `chat` with `bot`.
pub(crate) fn conversation(bot: &TelegramBot, chat: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse(chat).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn telegram_message_is_answered_once() {
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    assert_eq!(bot.webhook_url, format!("{}/webhook/telegram/{}", stack.endpoints.api_url, bot.bot_id));

    let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await;
    assert_eq!(response.status(), 200);

    let sent = eventually(Duration::from_secs(30), "the reply at the Telegram stand-in", || async {
        let sent = sent_messages(&telegram).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0]["chat_id"], 4242);
    assert_eq!(sent[0]["text"], "Hello Ada! You said: hello bot");
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 7);
    assert_eq!(sent[0]["link_preview_options"]["is_disabled"], true);

    // Telegram redelivers the same update (say our 200 was lost): one answer, not two.
    let again = post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await;
    assert_eq!(again.status(), 200);
    quiet(&stack).await;
    assert_eq!(sent_messages(&telegram).await.len(), 1, "a redelivered update must not be answered twice");

    // The conversation holds the message and the answer, marked sent.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let lines = store.conversation(&conversation(&bot, "4242")).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].text, "hello bot");
    assert!(lines[0].dispatched_at_ms.is_some());
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert_eq!(lines[1].channel_message_ids.as_deref(), Some(&["555".to_owned()][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_or_missing_secret_gets_401_and_stores_nothing() {
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);

    let wrong = sample_event("webhook-telegram-wrong-secret.json");
    let wrong_secret = wrong["headers"]["x-telegram-bot-api-secret-token"].as_str().unwrap();
    let body = wrong["body"].as_str().unwrap();
    assert_eq!(post_update(&bot.webhook_url, Some(wrong_secret), body).await.status(), 401);
    assert_eq!(post_update(&bot.webhook_url, None, body).await.status(), 401);
    assert_eq!(post_update(&bot.webhook_url, Some(""), body).await.status(), 401);

    // A bot whose channel has no secret configured refuses everything (fail closed).
    let other = clawless(&stack, &["bot", "create", "--tenant", &bot.tenant_id, "--name", "unconfigured"]).unwrap();
    let unconfigured_url =
        format!("{}/webhook/telegram/{}", stack.endpoints.api_url, other["bot_id"].as_str().unwrap());
    assert_eq!(post_update(&unconfigured_url, Some(TEST_SECRET), body).await.status(), 401);
    // Unknown bots and channels are not found.
    let unknown = format!("{}/webhook/telegram/b00000000000000000000", stack.endpoints.api_url);
    assert_eq!(post_update(&unknown, Some(TEST_SECRET), body).await.status(), 404);

    quiet(&stack).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    assert!(store.conversation(&conversation(&bot, "4242")).await.unwrap().is_empty(), "nothing may be stored");
    assert!(sent_messages(&telegram).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_updates_get_400_and_store_nothing() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), "{not json").await.status(), 400);
    // A verified update we do not act on is acknowledged, so Telegram does not retry it.
    let edit = r#"{"update_id": 5, "edited_message": {"message_id": 1}}"#;
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), edit).await.status(), 200);
    quiet(&stack).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    assert!(store.conversation(&conversation(&bot, "4242")).await.unwrap().is_empty());
    assert!(stack.outbox.sent().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_in_one_chat_is_answered_in_order() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    // More messages than the dispatcher's history window (20), all stored before the first is
    // dispatched: each must still be found and answered, in the order they were sent.
    let count = 25;
    for i in 0..count {
        let update = json!({
            "update_id": 5000 + i,
            "message": {"message_id": 10 + i, "from": {"id": 7, "is_bot": false, "first_name": "Bo"},
                        "chat": {"id": 7, "type": "private"}, "date": 1_763_740_900, "text": format!("msg {i:02}")}
        });
        let status = post_update(&bot.webhook_url, Some(TEST_SECRET), &update.to_string()).await.status();
        assert_eq!(status, 200);
    }
    // Messages that reach the agent while it is answering are answered together by its next run
    // (the answer speaks to the newest): fewer answers than messages, in order, ending with the
    // last one, and every message answered: by its reply line, or marked by the run that covered it.
    let last = format!("msg {:02}", count - 1);
    let sent = eventually(Duration::from_secs(60), "the answer to the last message", || async {
        let sent = stack.outbox.sent().await;
        sent.iter().any(|m| m.text.contains(&format!("You said: {last}"))).then_some(sent)
    })
    .await;
    let said: Vec<usize> = sent
        .iter()
        .filter_map(|m| m.text.split("You said: msg ").nth(1))
        .filter_map(|rest| rest.get(..2).and_then(|n| n.parse().ok()))
        .collect();
    assert_eq!(said.len(), sent.len(), "every answer speaks to one message: {sent:?}");
    assert!(said.windows(2).all(|w| w[0] < w[1]), "answers in order: {said:?}");
    assert_eq!(said.last(), Some(&(count as usize - 1)));
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    eventually(Duration::from_secs(10), "every message answered by a reply line or marked", || async {
        let lines = store.conversation(&conversation(&bot, "7")).await.unwrap();
        let replied = |m: &&clawless_core::domain::records::MessageItem| {
            lines.iter().any(|r| r.sk.strip_prefix(m.sk.as_str()).is_some_and(|rest| rest.starts_with("#r")))
        };
        let inbound: Vec<_> = lines.iter().filter(|m| m.role == clawless_core::domain::model::Role::User).collect();
        let covered = inbound.iter().filter(|m| m.answered_at_ms.is_some() != replied(m)).count();
        (inbound.len() == count as usize && covered == inbound.len()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_session_is_stopped_and_a_new_message_starts_it_again() {
    let mut options = clawless_local::LocalOptions::new(repo_root(), clawless_local::default_bin_dir());
    options.agent_idle_timeout = Duration::from_millis(500);
    let stack = clawless_local::LocalStack::start(options).await.unwrap();
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let update = |id: i64, text: &str| {
        json!({"update_id": id, "message": {"message_id": id, "from": {"id": 9, "first_name": "Cy"},
               "chat": {"id": 9, "type": "private"}, "date": 1_763_741_000 + id, "text": text}})
        .to_string()
    };
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update(1, "first")).await.status(), 200);
    eventually(Duration::from_secs(30), "the first answer", || async {
        (stack.outbox.sent().await.len() == 1).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "the idle agent to stop", || async {
        (stack.agentcore.running_sessions().await == 0).then_some(())
    })
    .await;

    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update(2, "second")).await.status(), 200);
    let sent = eventually(Duration::from_secs(30), "the second answer", || async {
        let sent = stack.outbox.sent().await;
        (sent.len() == 2).then_some(sent)
    })
    .await;
    assert!(sent[1].text.contains("You said: second"), "{:?}", sent[1]);
    assert!(sent[1].text.contains("2 earlier messages"), "the new microVM sees the stored history: {:?}", sent[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_answer_is_split_in_order_and_a_rate_limit_is_waited_out() {
    let telegram = MockServer::start().await;
    // The first send is refused with Telegram's rate-limit answer; the retry goes through.
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
        ))
        .up_to_n_times(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 1}})))
        .mount(&telegram)
        .await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let words: Vec<String> = (0..1200).map(|i| format!("word{i}")).collect();
    let update = json!({"update_id": 77, "message": {"message_id": 5, "from": {"id": 3, "first_name": "Di"},
        "chat": {"id": 3, "type": "private"}, "date": 1_763_742_000, "text": words.join(" ")}});
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update.to_string()).await.status(), 200);

    quiet(&stack).await;
    let sent = sent_messages(&telegram).await;
    let texts: Vec<&str> = sent.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.len() >= 3, "one refused send and at least two pieces: {}", texts.len());
    assert_eq!(texts[0], texts[1], "the refused piece is sent again, not skipped");
    let pieces = &texts[1..];
    assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
    let joined = pieces.join(" ");
    assert_eq!(joined, format!("Hello Di! You said: {}", words.join(" ")), "every word once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partly_sent_answer_resumes_where_it_stopped() {
    let telegram = MockServer::start().await;
    // Piece 1 goes through, piece 2 fails with a server error once.
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 1}})))
        .up_to_n_times(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_json(json!({"ok": false, "error_code": 502, "description": "Bad Gateway"})),
        )
        .up_to_n_times(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 2}})))
        .mount(&telegram)
        .await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let long_text = (0..1500).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    let mut reply = sample_event("reply-telegram.json");
    let mut body: Value = serde_json::from_str(reply["Records"][0]["body"].as_str().unwrap()).unwrap();
    body["tenant_id"] = json!(bot.tenant_id);
    body["bot_id"] = json!(bot.bot_id);
    body["text"] = json!(long_text);
    let conversation =
        serde_json::from_value::<clawless_core::domain::envelope::ReplyEnvelope>(body.clone()).unwrap().conversation;
    body["scope"] = json!(stack.scope_key().await.unwrap().mint(&conversation).expose());
    reply["Records"][0]["body"] = json!(body.to_string());
    let event = axum::body::Bytes::from(reply.to_string());

    // First delivery: piece 1 sent, piece 2 fails, the message is reported failed.
    let first: Value =
        serde_json::from_slice(&stack.functions["ReplyFunction"].invoke(event.clone()).await.unwrap()).unwrap();
    assert_eq!(first["batchItemFailures"].as_array().map(Vec::len), Some(1), "{first}");
    // Redelivery: only what was not sent yet goes out.
    let second: Value = serde_json::from_slice(&stack.functions["ReplyFunction"].invoke(event).await.unwrap()).unwrap();
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");

    let texts: Vec<String> =
        sent_messages(&telegram).await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts.len(), 3, "piece 1, piece 2 (failed), piece 2 again");
    assert_eq!(texts[1], texts[2], "the retry starts at the failed piece");
    assert_eq!(format!("{} {}", texts[0], texts[2]), long_text, "piece 1 is not sent twice; nothing is lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn channel_add_can_register_the_telegram_webhook() {
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/setWebhook$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": true, "description": "Webhook was set"})),
        )
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/bot[^/]+/setMyCommands$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})))
        .mount(&telegram)
        .await;
    let stack = start_stack(None).await;
    let tenant = clawless(&stack, &["tenant", "create", "--name", "acme"]).unwrap();
    let bot =
        clawless(&stack, &["bot", "create", "--tenant", tenant["tenant_id"].as_str().unwrap(), "--name", "b"]).unwrap();
    let bot_id = bot["bot_id"].as_str().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawless"))
        .args(["--json", "channel", "add", "--bot", bot_id, "--type", "telegram", "--register"])
        .args(["--set", "bot_token=123:abc", "--set", &format!("webhook_secret={TEST_SECRET}")])
        .args(["--api-url", "https://example.execute-api.us-east-1.amazonaws.com"])
        .env("AWS_ENDPOINT_URL", &stack.endpoints.aws_endpoint_url)
        .env("AWS_REGION", &stack.endpoints.region)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CLAWLESS_TELEGRAM_API", telegram.uri())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["registered"], true);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TEST_SECRET), "secrets are never printed");
    let calls = telegram.received_requests().await.unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].url.path(), "/bot123:abc/setWebhook");
    // Then the command menu: the chat commands the platform answers without the model.
    assert_eq!(calls[1].url.path(), "/bot123:abc/setMyCommands");
    let menu: Value = serde_json::from_slice(&calls[1].body).unwrap();
    let names: Vec<&str> =
        menu["commands"].as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap()).collect();
    assert_eq!(names, ["help", "new", "reset", "status", "usage"]);
    let body: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(body["url"], format!("https://example.execute-api.us-east-1.amazonaws.com/webhook/telegram/{bot_id}"));
    assert_eq!(body["secret_token"], TEST_SECRET);
    assert_eq!(body["allowed_updates"], json!(["message", "callback_query"]), "button clicks are delivered too");

    // A missing required key is a clear error and stores nothing.
    let missing =
        clawless(&stack, &["channel", "add", "--bot", bot_id, "--type", "slack", "--set", "bot_token=xoxb-1"]);
    assert!(missing.unwrap_err().contains("signing_secret"));
}
