//! Feishu / Lark end to end: encrypted, signed event callbacks → webhook → dispatcher → agent →
//! reply → a wiremock open platform (tenant access token, then reply), with a rate limit, a long
//! answer, the `url_verification` challenge and refused requests. Every hop is the real binary
//! against a fresh local stack.

use std::time::Duration;

use crate::support::*;
use aws_sdk_dynamodb::types::Select;
use axum::body::Bytes;
use clawless_aws::dynamodb::Store;
use clawless_aws::sqs::FifoQueue;
use clawless_core::channels::feishu::{self, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use clawless_core::domain::envelope::{ENVELOPE_VERSION, ReplyEnvelope};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_core::domain::model::{ChannelKind, ReplyRoute};
use clawless_core::domain::records::ReplyState;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const ENCRYPT_KEY: &str = "test-feishu-encrypt-key-not-for-production";
const VERIFICATION_TOKEN: &str = "test-feishu-verification-token-not-for-production";
const APP_ID: &str = "cli_a1b2c3d4e5f6a7b8";
const APP_SECRET: &str = "test-feishu-app-secret-not-for-production";
/// The sample event's sender, chat and message.
const OPEN_ID: &str = "ou_7d8a6e6df7621556ce0d21922b676706";
const CHAT_ID: &str = "oc_5ad11d72b830411d72b836c20";
const MESSAGE_ID: &str = "om_dc13264520392913993dd051dba21dcf";

pub(crate) fn onboard(stack: &clawless_local::LocalStack) -> Onboarded {
    let settings = [
        ("app_id", APP_ID),
        ("app_secret", APP_SECRET),
        ("encrypt_key", ENCRYPT_KEY),
        ("verification_token", VERIFICATION_TOKEN),
    ];
    onboard_bot(stack, "feishu", &settings)
}

fn reply_path() -> String {
    format!("/open-apis/im/v1/messages/{MESSAGE_ID}/reply")
}

/// An open platform stand-in: the tenant access token, and replies to the sample message.
async fn open_platform(rate_limit_first: bool) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .and(body_json(json!({"app_id": APP_ID, "app_secret": APP_SECRET})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 0, "msg": "ok", "tenant_access_token": "t-e2e-token", "expire": 7200})),
        )
        .mount(&server)
        .await;
    let replies = || path_regex(r"^/open-apis/im/v1/messages/om_[0-9a-z_]+/reply$");
    if rate_limit_first {
        Mock::given(method("POST"))
            .and(replies())
            .respond_with(
                ResponseTemplate::new(400)
                    .insert_header("x-ogw-ratelimit-reset", "1")
                    .set_body_json(json!({"code": 99991400, "msg": "request trigger frequency limit"})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(replies())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 0, "msg": "success", "data": {"message_id": "om_answer"}})),
        )
        .mount(&server)
        .await;
    server
}

/// (path, text) of every message the stand-in was asked to send, in order.
async fn replies(server: &MockServer) -> Vec<(String, String)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with("/open-apis/im/"))
        .map(|r| {
            assert_eq!(r.headers.get("authorization").unwrap(), "Bearer t-e2e-token");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["msg_type"], "text");
            let content: Value = serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
            (r.url.path().to_owned(), content["text"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn token_requests(server: &MockServer) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path().ends_with("/tenant_access_token/internal")).count()
}

/// Encrypts an event as Feishu does (random IV).
pub(crate) fn encrypted(event: &Value) -> String {
    json!({ "encrypt": feishu::encrypt(ENCRYPT_KEY, rand::random(), event.to_string().as_bytes()) }).to_string()
}

/// Feishu's signature headers for `body`, signed with `key` at `timestamp` (Unix seconds).
pub(crate) fn signature_headers(body: &str, key: &str, nonce: &str, timestamp: i64) -> [(&'static str, String); 3] {
    let timestamp = timestamp.to_string();
    let signature = feishu::signature(&timestamp, nonce, key, body.as_bytes());
    [(TIMESTAMP_HEADER, timestamp), (NONCE_HEADER, nonce.to_owned()), (SIGNATURE_HEADER, signature)]
}

pub(crate) fn now_secs() -> i64 {
    clawless_core::domain::model::now_ms() / 1000
}

async fn post_with(url: &str, body: &str, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

/// POSTs `body`, signed now with `signed_with` if given.
async fn post(url: &str, body: &str, signed_with: Option<&str>) -> reqwest::Response {
    let headers = match signed_with {
        Some(key) => signature_headers(body, key, &format!("{:016x}", rand::random::<u64>()), now_secs()).to_vec(),
        None => Vec::new(),
    };
    post_with(url, body, &headers).await
}

/// The sample event's body and nonce as stored in `events/`, signed again now: as stored it was
/// signed in 2025, so the webhook refuses it as stale.
async fn post_sample(url: &str) -> reqwest::Response {
    let sample = sample_event("webhook-feishu.json");
    let body = sample["body"].as_str().unwrap();
    let nonce = sample["headers"][NONCE_HEADER].as_str().unwrap();
    post_with(url, body, &signature_headers(body, ENCRYPT_KEY, nonce, now_secs())).await
}

/// The sample event's plaintext, with another text and event id.
pub(crate) fn message_event(event_id: &str, text: &str) -> Value {
    let sample = sample_event("webhook-feishu.json");
    let encrypt: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let plain = feishu::decrypt(ENCRYPT_KEY, encrypt["encrypt"].as_str().unwrap()).unwrap();
    let mut event: Value = serde_json::from_slice(&plain).unwrap();
    event["header"]["event_id"] = json!(event_id);
    event["event"]["message"]["content"] = json!(json!({ "text": text }).to_string());
    event
}

fn store(stack: &clawless_local::LocalStack) -> Store {
    Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack))
}

fn conversation(bot: &Onboarded) -> ConversationRef {
    conversation_of(bot, CHAT_ID)
}

pub(crate) fn conversation_of(bot: &Onboarded, id: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Feishu,
        conversation_id: ConversationId::parse(id).unwrap(),
    }
}

async fn item_count(stack: &clawless_local::LocalStack) -> i32 {
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = format!("{}-data", stack.stack);
    dynamodb.scan().table_name(table).select(Select::Count).send().await.unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feishu_message_is_answered_once_after_a_rate_limit() {
    let platform = open_platform(true).await;
    let stack = start_stack_with(vec![("feishu", platform.uri())]).await;
    let bot = onboard(&stack);

    assert_eq!(post_sample(&bot.webhook_url).await.status(), 200);
    // The first reply is rate limited (code 99991400, reset in 1 s) and retried: one answer.
    let sent = eventually(Duration::from_secs(45), "the answer after the rate limit", || async {
        let sent = replies(&platform).await;
        (sent.len() >= 2).then_some(sent)
    })
    .await;
    let expected = (reply_path(), format!("Hello {OPEN_ID}! You said: hello bot"));
    assert_eq!(sent, [expected.clone(), expected]);

    // Feishu delivers the same event again (same event_id): answered once.
    assert_eq!(post_sample(&bot.webhook_url).await.status(), 200);
    quiet(&stack).await;
    assert_eq!(replies(&platform).await.len(), 2, "a redelivered event must not be answered again");
    assert_eq!(token_requests(&platform).await, 1, "the tenant access token is reused");

    let lines = store(&stack).conversation(&conversation(&bot)).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].message_id, "f7984f25108f8137722bb63cee927e66");
    assert_eq!(lines[0].text, "hello bot");
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert_eq!(lines[1].channel_message_ids.as_deref(), Some(&["om_answer".to_owned()][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feishu_challenge_is_answered_and_unverified_requests_are_refused() {
    let platform = open_platform(false).await;
    let stack = start_stack_with(vec![("feishu", platform.uri())]).await;
    let bot = onboard(&stack);
    let items_before = item_count(&stack).await;

    // The URL check: encrypted with the key, no signature headers, answered with the challenge.
    let challenge = json!({"challenge": "ajls384kdjx98XX", "token": VERIFICATION_TOKEN, "type": "url_verification"});
    let answer = post(&bot.webhook_url, &encrypted(&challenge), None).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"challenge": "ajls384kdjx98XX"}));
    // A challenge with another token, or not encrypted with the key, is not answered.
    let wrong_token = json!({"challenge": "x", "token": "guessed", "type": "url_verification"});
    assert_eq!(post(&bot.webhook_url, &encrypted(&wrong_token), None).await.status(), 401);
    assert_eq!(post(&bot.webhook_url, &challenge.to_string(), None).await.status(), 401);

    // Events: a wrong key's signature, a tampered body, no signature at all, a correct signature
    // made 10 minutes ago (a replay), and the stored sample as it is (signed in 2025).
    let event = encrypted(&message_event("e2e-refused-event", "let me in"));
    assert_eq!(post(&bot.webhook_url, &event, Some("another-encrypt-key")).await.status(), 401);
    let sample = sample_event("webhook-feishu.json");
    let sample_body = sample["body"].as_str().unwrap();
    let signed_now = signature_headers(sample_body, ENCRYPT_KEY, "e2e-nonce", now_secs());
    assert_eq!(post_with(&bot.webhook_url, &sample_body.replacen("\"}", "=\"}", 1), &signed_now).await.status(), 401);
    assert_eq!(post(&bot.webhook_url, &event, None).await.status(), 401);
    let replayed = signature_headers(&event, ENCRYPT_KEY, "e2e-nonce", now_secs() - 600);
    assert_eq!(post_with(&bot.webhook_url, &event, &replayed).await.status(), 401);
    let stored: Vec<(&str, String)> = [TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER]
        .into_iter()
        .map(|name| (name, sample["headers"][name].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(post_with(&bot.webhook_url, sample_body, &stored).await.status(), 401);
    // A signed body that does not decrypt is malformed.
    let garbage = json!({"encrypt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}).to_string();
    assert_eq!(post(&bot.webhook_url, &garbage, Some(ENCRYPT_KEY)).await.status(), 400);

    quiet(&stack).await;
    assert_eq!(item_count(&stack).await, items_before, "nothing may be stored");
    assert!(platform.received_requests().await.unwrap().is_empty(), "nothing may be sent");

    // The sample event drives the real webhook function (ids swapped for this bot's, signed
    // again now).
    let mut event = sample_event("webhook-feishu.json");
    let nonce = event["headers"][NONCE_HEADER].as_str().unwrap().to_owned();
    for (name, value) in signature_headers(sample_body, ENCRYPT_KEY, &nonce, now_secs()) {
        event["headers"][name] = json!(value);
    }
    let event = event
        .to_string()
        .replace("t0123456789abcdef0123", &bot.tenant_id)
        .replace("b0123456789abcdef0123", &bot.bot_id);
    let answer = stack.functions["WebhookFunction"].invoke(Bytes::from(event)).await.unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let sent = eventually(Duration::from_secs(30), "the answer to the sample event", || async {
        let sent = replies(&platform).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent, [(reply_path(), format!("Hello {OPEN_ID}! You said: hello bot"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feishu_long_answer_is_split_in_order() {
    let platform = open_platform(false).await;
    let stack = start_stack_with(vec![("feishu", platform.uri())]).await;
    let bot = onboard(&stack);

    // About 105 KB of words: the answer passes the 100 KiB per-message limit and arrives in two
    // pieces (the webhook's 256 KB body limit leaves room for the encrypted event).
    let words: Vec<String> = (0..15_000).map(|i| format!("w{i:05}")).collect();
    let long = words.join(" ");
    let event = encrypted(&message_event("e2e-long-event", &long));
    assert!(event.len() < 256 * 1024, "{} bytes", event.len());
    assert_eq!(post(&bot.webhook_url, &event, Some(ENCRYPT_KEY)).await.status(), 200);

    let expected = format!("Hello {OPEN_ID}! You said: {long}");
    let pieces = eventually(Duration::from_secs(60), "every piece of the long answer", || async {
        let pieces: Vec<String> = replies(&platform).await.into_iter().map(|(_, text)| text).collect();
        (pieces.iter().map(String::len).sum::<usize>() + pieces.len() > expected.len()).then_some(pieces)
    })
    .await;
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.len() <= 100 * 1024), "every piece within the byte limit");
    assert_eq!(pieces.join(" "), expected, "every word, in order");
    quiet(&stack).await;
    assert_eq!(replies(&platform).await.len(), pieces.len(), "nothing sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_stand_in_answers_like_the_open_platform() {
    // No override: the reply function gets a token from, and replies through, the local run's
    // own Feishu stand-in.
    let stack = start_stack_with(vec![]).await;
    let bot = onboard(&stack);
    assert_eq!(post_sample(&bot.webhook_url).await.status(), 200);
    let sent = eventually(Duration::from_secs(30), "the answer at the stand-in", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].channel, "feishu");
    assert_eq!(sent[0].chat_id, json!({"reply_to": MESSAGE_ID}));
    assert_eq!(sent[0].text, format!("Hello {OPEN_ID}! You said: hello bot"));
    quiet(&stack).await;
    let lines = store(&stack).conversation(&conversation(&bot)).await.unwrap();
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert!(lines[1].channel_message_ids.as_ref().unwrap()[0].starts_with("om_local_"));
}

/// A prompt-injected agent tries to call everyone in the group: the `<at>` tag reaches Feishu
/// broken by a zero-width space (shown as written, parsed as no tag), and a disguised
/// hyperlink shows its real target.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_answer_reaches_feishu_neutralised() {
    let platform = open_platform(false).await;
    let stack = start_stack_with(vec![("feishu", platform.uri())]).await;
    let bot = onboard(&stack);
    let conversation = conversation(&bot);
    let reply = ReplyEnvelope {
        files: Vec::new(),
        v: ENVELOPE_VERSION,
        conversation: conversation.clone(),
        in_reply_to: MessageId::parse("e2e-hostile-event").unwrap(),
        in_reply_to_at_ms: 1,
        seq: 1,
        text: r#"<at user_id="all">所有人</at> 请重新登录 [https://open.feishu.cn](https://evil.example) @_all"#.into(),
        route: ReplyRoute::Feishu {
            chat_id: CHAT_ID.into(),
            reply_to_message_id: Some(MESSAGE_ID.into()),
            thread_root_id: None,
        },
        buttons: Vec::new(),
        // The agent's own conversation's token: the reply is legitimate, only its text is hostile.
        scope: stack.scope_key().await.unwrap().mint(&conversation),
        run: None,
        trace_id: None,
    };
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&stack.sdk), &stack.resources.queue_urls["ReplyQueue"]);
    queue.send_reply(&reply).await.unwrap();

    let sent = eventually(Duration::from_secs(30), "the answer at the open platform", || async {
        let sent = replies(&platform).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    let shown = "<\u{200B}at user_id=\"all\">所有人<\u{200B}/at> 请重新登录 https://open.feishu.cn (https://evil.example) @\u{200B}_all";
    assert_eq!(sent, [(reply_path(), shown.to_owned())]);
    // The whole request, as Feishu receives it.
    let requests = platform.received_requests().await.unwrap();
    let request = requests.iter().find(|r| r.url.path() == reply_path()).unwrap();
    let mut body: Value = serde_json::from_slice(&request.body).unwrap();
    let uuid = body.as_object_mut().unwrap().remove("uuid").expect("a de-duplication uuid");
    assert!(uuid.as_str().is_some_and(|u| u.len() == 32), "{uuid}");
    assert_eq!(body, json!({"msg_type": "text", "content": json!({ "text": shown }).to_string()}));
    quiet(&stack).await;
    assert_eq!(replies(&platform).await.len(), 1);
}

/// The reply function's at-least-once window, closed for Feishu: a reply whose send the channel
/// took but whose line was never written (its process killed between the two, here the line
/// deleted) is sent again on redelivery with the same `uuid`, and Feishu (the local stand-in,
/// like the open platform) posts it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_sent_again_after_its_record_was_lost_is_posted_once() {
    let stack = start_stack_with(vec![]).await;
    let bot = onboard(&stack);
    let conversation = conversation(&bot);
    let reply = ReplyEnvelope {
        files: Vec::new(),
        v: ENVELOPE_VERSION,
        conversation: conversation.clone(),
        in_reply_to: MessageId::parse("e2e-resent-event").unwrap(),
        in_reply_to_at_ms: 1,
        seq: 1,
        text: "the one answer".into(),
        route: ReplyRoute::Feishu {
            chat_id: CHAT_ID.into(),
            reply_to_message_id: Some(MESSAGE_ID.into()),
            thread_root_id: None,
        },
        buttons: Vec::new(),
        scope: stack.scope_key().await.unwrap().mint(&conversation),
        run: None,
        trace_id: None,
    };
    let reply_queue = &stack.resources.queue_urls["ReplyQueue"];
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    FifoQueue::new(sqs.clone(), reply_queue).send_reply(&reply).await.unwrap();
    let line = |stack: &clawless_local::LocalStack| {
        let store = store(stack);
        let conversation = conversation.clone();
        async move { store.conversation(&conversation).await.unwrap().into_iter().find(|l| l.text == "the one answer") }
    };
    eventually(Duration::from_secs(30), "the reply recorded as sent", || async {
        line(&stack).await.filter(|l| l.reply_state == Some(ReplyState::Sent))
    })
    .await;
    assert_eq!(stack.outbox.sent().await.len(), 1);

    // The record is lost; the same queue message comes back (a fresh deduplication id, as after
    // the visibility timeout of a killed invocation).
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    dynamodb
        .delete_item()
        .table_name(format!("{}-data", stack.stack))
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(conversation.partition_key()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(clawless_core::domain::records::reply_sort_key(&reply)))
        .send()
        .await
        .unwrap();
    assert!(line(&stack).await.is_none(), "the line is gone");
    let (group, body) = stack.deliveries.of(reply_queue).into_iter().next().expect("the reply's queue message");
    sqs.send_message()
        .queue_url(reply_queue)
        .message_group_id(group)
        .message_deduplication_id("e2e-resent-after-the-window")
        .message_body(body)
        .send()
        .await
        .unwrap();
    // Sent again (the line is written anew) under the same uuid: one message at Feishu.
    eventually(Duration::from_secs(30), "the reply recorded again", || async {
        line(&stack).await.filter(|l| l.reply_state == Some(ReplyState::Sent))
    })
    .await;
    quiet(&stack).await;
    let sent = stack.outbox.sent().await;
    assert_eq!(sent.len(), 1, "posted once: {sent:?}");
    assert_eq!(sent[0].text, "the one answer");
}
