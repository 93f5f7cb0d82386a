//! Discord end to end: a signed interaction (slash command or button) → webhook (deferred answer)
//! → DynamoDB + inbound FIFO → dispatcher → AgentCore stand-in → agent → reply FIFO → reply
//! function → the interaction's follow-up at a wiremock Discord. Every hop is the real binary.

use std::time::Duration;

use crate::support::*;
use axum::body::Bytes;
use clawless_aws::dynamodb::Store;
use clawless_core::channels::discord::{public_key_hex, sign_request};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_core::domain::records::ReplyState;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The documented test key of `events/webhook-discord.json`: RFC 8032 section 7.1 test 1's secret
/// key as the Ed25519 seed. Never use it for a real application.
pub(crate) const TEST_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
pub(crate) const TEST_PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub(crate) const APPLICATION_ID: &str = "1100000000000000001";
const FOLLOW_UP_ID: &str = "1441458133401609999";
const FOLLOW_UPS: &str = r"^/webhooks/1100000000000000001/[A-Za-z0-9_.=+~-]+$";

pub(crate) fn onboard_discord_bot(stack: &clawless_local::LocalStack) -> Onboarded {
    let settings = [
        ("public_key", TEST_PUBLIC_KEY),
        ("application_id", APPLICATION_ID),
        ("bot_token", "TEST.discord-bot-token.not-for-production"),
    ];
    onboard_bot(stack, "discord", &settings)
}

pub(crate) fn conversation(bot: &Onboarded, channel: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Discord,
        conversation_id: ConversationId::parse(channel).unwrap(),
    }
}

fn ok_response() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": FOLLOW_UP_ID, "type": 0, "content": "…"}))
}

async fn discord_stand_in() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path_regex(FOLLOW_UPS)).respond_with(ok_response()).mount(&server).await;
    server
}

/// Every follow-up the stand-in received, in order (after checking how each was sent).
async fn follow_ups(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    assert!(
        requests.iter().all(|r| r.url.path().starts_with("/webhooks/")),
        "only interaction follow-ups are expected: {:?}",
        requests.iter().map(|r| r.url.path().to_owned()).collect::<Vec<_>>()
    );
    requests
        .iter()
        .map(|r| {
            assert_eq!(r.url.query(), Some("wait=true"));
            assert!(r.headers.get("authorization").is_none(), "a follow-up carries no bot token");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

fn now_secs() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string()
}

async fn post_signed(url: &str, signature: &str, timestamp: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", signature)
        .header("x-signature-timestamp", timestamp)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// POSTs `body` as Discord does: signed with the test key at the current time.
pub(crate) async fn post_interaction(url: &str, body: &str) -> reqwest::Response {
    let ts = now_secs();
    post_signed(url, &sign_request(&TEST_SEED, &ts, body.as_bytes()), &ts, body).await
}

/// The slash command carried by the sample API Gateway event.
fn sample_body() -> String {
    sample_event("webhook-discord.json")["body"].as_str().unwrap().to_owned()
}

pub(crate) fn command(id: u64, channel: &str, question: &str) -> String {
    json!({
        "id": id.to_string(), "application_id": APPLICATION_ID, "type": 2, "version": 1,
        "token": format!("test-interaction-token-{id}"), "guild_id": "1000000000000000001", "channel_id": channel,
        "member": {"user": {"id": "4242424242424242", "username": "ada", "global_name": "Ada"}, "roles": []},
        "data": {"id": "1100000000000000002", "name": "ask", "type": 1,
                 "options": [{"name": "question", "type": 3, "value": question}]}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slash_command_is_deferred_and_answered_through_its_follow_up() {
    let discord = discord_stand_in().await;
    let stack = start_stack_with(vec![("discord", discord.uri())]).await;
    let bot = onboard_discord_bot(&stack);
    assert_eq!(bot.webhook_url, format!("{}/webhook/discord/{}", stack.endpoints.api_url, bot.bot_id));
    assert_eq!(public_key_hex(&TEST_SEED), TEST_PUBLIC_KEY);

    // Discord checks the endpoint: a signed PING gets a PONG, a badly signed one a 401.
    let ping =
        r#"{"type":1,"id":"1441458133401600000","application_id":"1100000000000000001","token":"x","version":1}"#;
    let response = post_interaction(&bot.webhook_url, ping).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"type": 1}));
    let ts = now_secs();
    let bad = sign_request(&[7; 32], &ts, ping.as_bytes());
    assert_eq!(post_signed(&bot.webhook_url, &bad, &ts, ping).await.status(), 401);

    // The sample slash command: deferred at once, answered by the follow-up.
    let body = sample_body();
    let response = post_interaction(&bot.webhook_url, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"type": 5}));
    let sent = eventually(Duration::from_secs(30), "the follow-up at the Discord stand-in", || async {
        let sent = follow_ups(&discord).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0]["content"], "Hello Ada! You said: /ask hello bot");
    assert_eq!(sent[0]["allowed_mentions"]["parse"], json!([]), "no mass mentions, whatever the model says");
    assert_eq!(sent[0]["flags"], 4, "no link previews");
    let requests = discord.received_requests().await.unwrap();
    let token = sample_event("webhook-discord.json")["body"]
        .as_str()
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["token"].as_str().unwrap().to_owned());
    assert_eq!(requests[0].url.path(), format!("/webhooks/{APPLICATION_ID}/{}", token.unwrap()));

    // Delivered again through the function itself, as the sample API Gateway event signed again
    // now (as stored it is from 2025, so stale): the same deferred answer, no second follow-up.
    let mut event = sample_event("webhook-discord.json");
    let ts = now_secs();
    event["headers"]["x-signature-timestamp"] = json!(ts);
    event["headers"]["x-signature-ed25519"] = json!(sign_request(&TEST_SEED, &ts, body.as_bytes()));
    let event = Bytes::from(event.to_string().replace("b0123456789abcdef0123", &bot.bot_id));
    let answer: Value =
        serde_json::from_slice(&stack.functions["WebhookFunction"].invoke(event).await.unwrap()).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(serde_json::from_str::<Value>(answer["body"].as_str().unwrap()).unwrap(), json!({"type": 5}));

    // A button click in a DM: a deferred update, then the answer.
    let click = json!({
        "id": "1441458133401700001", "application_id": APPLICATION_ID, "type": 3, "version": 1,
        "token": "test-interaction-token-click", "channel": {"id": "2000000000000000001", "type": 1},
        "channel_id": "2000000000000000001",
        "user": {"id": "4242424242424242", "username": "ada", "global_name": "Ada"},
        "message": {"id": "1441458133401650000", "content": "Approve?"},
        "data": {"custom_id": "approve:r0123456789abcdef0123", "component_type": 2}
    });
    let response = post_interaction(&bot.webhook_url, &click.to_string()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"type": 6}));
    let sent = eventually(Duration::from_secs(30), "the button's answer", || async {
        let sent = follow_ups(&discord).await;
        (sent.len() >= 2).then_some(sent)
    })
    .await;
    assert_eq!(sent[1]["content"], "Hello Ada! You said: approve:r0123456789abcdef0123");
    quiet(&stack).await;
    assert_eq!(follow_ups(&discord).await.len(), 2, "the redelivered command must not be answered twice");

    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let lines = store.conversation(&conversation(&bot, "1000000000000000002")).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].text, "/ask hello bot");
    assert_eq!(lines[0].at_ms, 1_763_740_800_000, "the time inside the interaction's snowflake id");
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert_eq!(lines[1].channel_message_ids.as_deref(), Some(&[FOLLOW_UP_ID.to_owned()][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_signatures_get_401_and_store_nothing() {
    let discord = discord_stand_in().await;
    let stack = start_stack_with(vec![("discord", discord.uri())]).await;
    let bot = onboard_discord_bot(&stack);
    let body = sample_body();
    let ts = now_secs();
    let good = sign_request(&TEST_SEED, &ts, body.as_bytes());

    // Another key, a tampered body, another timestamp, junk, too old, nothing.
    assert_eq!(
        post_signed(&bot.webhook_url, &sign_request(&[1; 32], &ts, body.as_bytes()), &ts, &body).await.status(),
        401
    );
    assert_eq!(post_signed(&bot.webhook_url, &good, &ts, &body.replace("hello bot", "hello bat")).await.status(), 401);
    assert_eq!(post_signed(&bot.webhook_url, &good, "1763740801", &body).await.status(), 401);
    assert_eq!(post_signed(&bot.webhook_url, "00", &ts, &body).await.status(), 401);
    // Correctly signed, but 10 minutes old (a replay); and the stored sample as it is, signed in 2025.
    let old = (now_secs().parse::<i64>().unwrap() - 600).to_string();
    let replayed = sign_request(&TEST_SEED, &old, body.as_bytes());
    assert_eq!(post_signed(&bot.webhook_url, &replayed, &old, &body).await.status(), 401);
    let sample = sample_event("webhook-discord.json");
    let stored = |name: &str| sample["headers"][name].as_str().unwrap().to_owned();
    let response =
        post_signed(&bot.webhook_url, &stored("x-signature-ed25519"), &stored("x-signature-timestamp"), &body).await;
    assert_eq!(response.status(), 401);
    let unsigned = reqwest::Client::new().post(&bot.webhook_url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    // Verified but not an interaction we handle (autocomplete): 400.
    let autocomplete = r#"{"type":4,"id":"1441458133401600002","application_id":"1100000000000000001","token":"x"}"#;
    assert_eq!(post_interaction(&bot.webhook_url, autocomplete).await.status(), 400);

    quiet(&stack).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    assert!(store.conversation(&conversation(&bot, "1000000000000000002")).await.unwrap().is_empty());
    assert!(discord.received_requests().await.unwrap().is_empty(), "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_answer_is_split_in_order_and_a_rate_limit_is_waited_out() {
    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(FOLLOW_UPS))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false})),
        )
        .up_to_n_times(1)
        .mount(&discord)
        .await;
    Mock::given(method("POST")).and(path_regex(FOLLOW_UPS)).respond_with(ok_response()).mount(&discord).await;
    let stack = start_stack_with(vec![("discord", discord.uri())]).await;
    let bot = onboard_discord_bot(&stack);

    let question = (0..420).map(|i| format!("q{i:04}")).collect::<Vec<_>>().join(" ");
    assert!(question.chars().count() >= 2500);
    let response =
        post_interaction(&bot.webhook_url, &command(1_441_458_133_401_800_001, "1000000000000000003", &question)).await;
    assert_eq!(response.status(), 200);

    eventually(Duration::from_secs(45), "the pieces of the long answer", || async {
        (follow_ups(&discord).await.len() >= 3).then_some(())
    })
    .await;
    quiet(&stack).await;
    let sent = follow_ups(&discord).await;
    assert_eq!(sent[0], sent[1], "the rate-limited piece is sent again");
    let pieces: Vec<&str> = sent[1..].iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        assert!(piece.chars().count() <= 2000, "piece {i} has {} chars", piece.chars().count());
    }
    assert_eq!(pieces.join(" "), format!("Hello Ada! You said: /ask {question}"), "every word once, in order");
    for message in &sent {
        assert_eq!(message["allowed_mentions"]["parse"], json!([]));
    }
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let lines = store.conversation(&conversation(&bot, "1000000000000000003")).await.unwrap();
    assert_eq!(lines.last().unwrap().reply_state, Some(ReplyState::Sent));
    assert_eq!(lines.last().unwrap().channel_message_ids.as_ref().map(Vec::len), Some(pieces.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_stand_in_answers_like_discord() {
    // No override: the reply function sends to the local run's own Discord stand-in.
    let stack = start_stack_with(vec![]).await;
    let bot = onboard_discord_bot(&stack);
    let response =
        post_interaction(&bot.webhook_url, &command(1_441_458_133_401_900_001, "1000000000000000004", "hi")).await;
    assert_eq!(response.status(), 200);
    let sent = eventually(Duration::from_secs(30), "the answer in the outbox", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].channel, "discord");
    assert_eq!(sent[0].chat_id, json!(format!("interaction of application {APPLICATION_ID}")));
    assert_eq!(sent[0].text, "Hello Ada! You said: /ask hi");
    quiet(&stack).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let lines = store.conversation(&conversation(&bot, "1000000000000000004")).await.unwrap();
    let ids = lines[1].channel_message_ids.clone().unwrap_or_default();
    assert!(ids.len() == 1 && ids[0].parse::<u64>().is_ok(), "a snowflake: {ids:?}");
}
