//! Slack end to end: a signed Events API request (or slash command) → webhook → DynamoDB +
//! inbound FIFO → dispatcher → AgentCore stand-in → agent → reply FIFO → reply function →
//! `chat.postMessage` at a wiremock Slack. Every hop is the real binary against moto.

use std::time::Duration;

use crate::support::*;
use axum::body::Bytes;
use clawless_aws::dynamodb::Store;
use clawless_aws::sqs::FifoQueue;
use clawless_core::channels::slack::sign_request;
use clawless_core::domain::envelope::{Button, ENVELOPE_VERSION, ReplyEnvelope};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_core::domain::model::{ChannelKind, ReplyRoute};
use clawless_core::domain::records::ReplyState;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The documented test signing secret of `events/webhook-slack.json`. Never use it for a real app.
pub(crate) const SIGNING_SECRET: &str = "test-slack-signing-secret-not-for-production";
const BOT_TOKEN: &str = "xoxb-0000000000-0000000000000-testtokennotforproduction";
const POSTED_TS: &str = "1763740800.000900";

pub(crate) fn onboard_slack_bot(stack: &clawless_local::LocalStack) -> Onboarded {
    onboard_bot(stack, "slack", &[("signing_secret", SIGNING_SECRET), ("bot_token", BOT_TOKEN)])
}

pub(crate) fn conversation(bot: &Onboarded, channel: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Slack,
        conversation_id: ConversationId::parse(channel).unwrap(),
    }
}

fn ok_response() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "channel": "C0123ABCD", "ts": POSTED_TS}))
}

pub(crate) async fn slack_stand_in() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/chat.postMessage")).respond_with(ok_response()).mount(&server).await;
    server
}

/// Every `chat.postMessage` request the stand-in received, in order.
pub(crate) async fn posted(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.url.path() == "/chat.postMessage")
        .map(|r| {
            let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert_eq!(auth, format!("Bearer {BOT_TOKEN}"), "every call carries the bot token");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// POSTs `body` as Slack does: signed with `secret` at `timestamp`, plus any extra headers.
async fn post_signed(
    url: &str,
    secret: &str,
    timestamp: i64,
    content_type: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", sign_request(secret, timestamp, body.as_bytes()))
        .body(body.to_owned());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

pub(crate) async fn post_event(url: &str, body: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    post_signed(url, SIGNING_SECRET, now_secs(), "application/json", body, extra).await
}

/// POSTs a slash command as Slack does: form-encoded, signed like an event.
pub(crate) async fn post_slash_command(url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    // A URL's query pairs are form-encoded, as Slack encodes the body.
    let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
    form.query_pairs_mut().extend_pairs(fields);
    let body = form.query().unwrap_or_default().to_owned();
    post_signed(url, SIGNING_SECRET, now_secs(), "application/x-www-form-urlencoded", &body, &[]).await
}

/// The Events API request carried by the sample API Gateway event.
fn sample_body() -> String {
    sample_event("webhook-slack.json")["body"].as_str().unwrap().to_owned()
}

pub(crate) fn message_event(event_id: &str, channel: &str, channel_type: &str, ts: &str, text: &str) -> String {
    json!({
        "token": "test-verification-token", "team_id": "T0123ABCD", "api_app_id": "A0123ABCD",
        "type": "event_callback", "event_id": event_id, "event_time": 1_763_740_800,
        "authorizations": [{"team_id": "T0123ABCD", "user_id": "U0BOT0001", "is_bot": true}],
        "event": {"type": "message", "channel": channel, "user": "U0123ABCD", "text": text, "ts": ts,
                  "event_ts": ts, "channel_type": channel_type}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_message_is_answered_once_in_its_thread() {
    let slack = slack_stand_in().await;
    let stack = start_stack_with(vec![("slack", slack.uri())]).await;
    let bot = onboard_slack_bot(&stack);
    assert_eq!(bot.webhook_url, format!("{}/webhook/slack/{}", stack.endpoints.api_url, bot.bot_id));

    // Slack checks the URL with a signed challenge first.
    let challenge =
        r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let response = post_event(&bot.webhook_url, challenge, &[]).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");

    // The sample message (a mention of the bot in a channel), signed now.
    let body = sample_body();
    let response = post_event(&bot.webhook_url, &body, &[]).await;
    assert_eq!(response.status(), 200);
    let sent = eventually(Duration::from_secs(30), "the answer at the Slack stand-in", || async {
        let sent = posted(&slack).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0]["channel"], "C0123ABCD");
    assert_eq!(sent[0]["thread_ts"], "1763740800.000100", "answered in a thread under the message");
    // The offline agent repeats the message, mention and all; what reaches Slack is escaped, so
    // the answer pings nobody.
    assert_eq!(sent[0]["text"], "Hello U0123ABCD! You said: &lt;@U0BOT0001&gt; hello bot");
    assert_eq!(sent[0]["unfurl_links"], false);
    assert_eq!(sent[0]["unfurl_media"], false);

    // Slack retries the same event (say our answer was slow): acknowledged, not answered again.
    let retry =
        post_event(&bot.webhook_url, &body, &[("x-slack-retry-num", "1"), ("x-slack-retry-reason", "http_timeout")])
            .await;
    assert_eq!(retry.status(), 200);
    // The sample API Gateway event, signed again now, through the function itself: the same event.
    let mut event = sample_event("webhook-slack.json");
    let ts = now_secs();
    event["headers"]["x-slack-request-timestamp"] = json!(ts.to_string());
    event["headers"]["x-slack-signature"] = json!(sign_request(SIGNING_SECRET, ts, body.as_bytes()));
    let event = Bytes::from(event.to_string().replace("b0123456789abcdef0123", &bot.bot_id));
    let answer: Value =
        serde_json::from_slice(&stack.functions["WebhookFunction"].invoke(event).await.unwrap()).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    quiet(&stack).await;
    assert_eq!(posted(&slack).await.len(), 1, "a retried event must be answered once");

    // The thread's conversation (`{channel}:{thread_ts}`: a conversation per thread) holds the
    // message and the answer, marked sent with Slack's ts.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let thread = conversation(&bot, "C0123ABCD:1763740800.000100");
    let lines = store.conversation(&thread).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].text, "<@U0BOT0001> hello bot");
    assert_eq!(lines[0].message_id, "Ev0123ABCDEF");
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert_eq!(lines[1].channel_message_ids.as_deref(), Some(&[POSTED_TS.to_owned()][..]));

    // A channel message that does not mention the bot is kept but not answered; the bot's own
    // message (loop guard) is not even kept.
    let chatter = message_event("Ev0000CHATTER", "C0123ABCD", "channel", "1763740900.000100", "lunch anyone?");
    assert_eq!(post_event(&bot.webhook_url, &chatter, &[]).await.status(), 200);
    let own = json!({"type": "event_callback", "event_id": "Ev0000OWN",
        "authorizations": [{"user_id": "U0BOT0001"}],
        "event": {"type": "message", "channel": "C0123ABCD", "user": "U0BOT0001", "bot_id": "B0BOT0001",
                  "text": "Hello U0123ABCD!", "ts": "1763740901.000100"}});
    assert_eq!(post_event(&bot.webhook_url, &own.to_string(), &[]).await.status(), 200);

    // A slash command: an empty 200 at once, the answer in the channel (no thread to answer in).
    let command = "token=x&team_id=T0123ABCD&channel_id=C0SLASH01&channel_name=ops&user_id=U0123ABCD&user_name=ada&command=%2Fask&text=what+is+up&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0123ABCD%2F1%2Fx&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let response =
        post_signed(&bot.webhook_url, SIGNING_SECRET, now_secs(), "application/x-www-form-urlencoded", command, &[])
            .await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().is_empty(), "Slack would show any body to the person");
    let sent = eventually(Duration::from_secs(30), "the slash command's answer", || async {
        let sent = posted(&slack).await;
        (sent.len() >= 2).then_some(sent)
    })
    .await;
    assert_eq!(sent[1]["channel"], "C0SLASH01");
    assert_eq!(sent[1]["text"], "Hello ada! You said: /ask what is up");
    assert!(sent[1].get("thread_ts").is_none(), "{}", sent[1]);
    quiet(&stack).await;
    assert_eq!(posted(&slack).await.len(), 2, "chatter and the bot's own message are not answered");
    assert_eq!(store.conversation(&thread).await.unwrap().len(), 2);
    // The chatter starts a thread of its own, where it is kept as context; the bot's own message
    // is not kept at all.
    let lines = store.conversation(&conversation(&bot, "C0123ABCD:1763740900.000100")).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].text, "lunch anyone?");
    let own = store.conversation(&conversation(&bot, "C0123ABCD:1763740901.000100")).await.unwrap();
    assert!(own.is_empty(), "{own:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_signatures_get_401_and_store_nothing() {
    let slack = slack_stand_in().await;
    let stack = start_stack_with(vec![("slack", slack.uri())]).await;
    let bot = onboard_slack_bot(&stack);
    let body = sample_body();
    let json = "application/json";

    let wrong_secret = post_signed(&bot.webhook_url, "another-signing-secret", now_secs(), json, &body, &[]).await;
    assert_eq!(wrong_secret.status(), 401);
    // Correctly signed, but 10 minutes old (a replay).
    let stale = post_signed(&bot.webhook_url, SIGNING_SECRET, now_secs() - 600, json, &body, &[]).await;
    assert_eq!(stale.status(), 401);
    // The stored sample event as it is: signed in 2025, so stale now.
    let sample = sample_event("webhook-slack.json");
    let response = reqwest::Client::new()
        .post(&bot.webhook_url)
        .header("content-type", json)
        .header("x-slack-request-timestamp", sample["headers"]["x-slack-request-timestamp"].as_str().unwrap())
        .header("x-slack-signature", sample["headers"]["x-slack-signature"].as_str().unwrap())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // No signature headers at all, and a tampered body.
    let unsigned = reqwest::Client::new().post(&bot.webhook_url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let ts = now_secs();
    let tampered = reqwest::Client::new()
        .post(&bot.webhook_url)
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign_request(SIGNING_SECRET, ts, body.as_bytes()))
        .body(body.replace("hello bot", "hello bat"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    // A verified but malformed request is a 400.
    assert_eq!(post_event(&bot.webhook_url, "{not json", &[]).await.status(), 400);

    quiet(&stack).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    assert!(store.conversation(&conversation(&bot, "C0123ABCD")).await.unwrap().is_empty(), "nothing stored");
    assert!(posted(&slack).await.is_empty(), "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_answer_is_split_in_order_and_a_rate_limit_is_waited_out() {
    let slack = MockServer::start().await;
    // The first call is rate limited for a second; everything after goes through.
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"ok": false, "error": "ratelimited"})),
        )
        .up_to_n_times(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST")).and(path("/chat.postMessage")).respond_with(ok_response()).mount(&slack).await;
    let stack = start_stack_with(vec![("slack", slack.uri())]).await;
    let bot = onboard_slack_bot(&stack);

    let words: Vec<String> = (0..834).map(|i| format!("w{i:04}")).collect();
    let text = words.join(" ");
    assert!(text.chars().count() >= 5000);
    let dm = message_event("Ev0000LONG01", "D0123ABCD", "im", "1763741000.000200", &text);
    assert_eq!(post_event(&bot.webhook_url, &dm, &[]).await.status(), 200);

    let expected = format!("Hello U0123ABCD! You said: {text}");
    // One refused call and at least two pieces.
    eventually(Duration::from_secs(45), "the pieces of the long answer", || async {
        (posted(&slack).await.len() >= 3).then_some(())
    })
    .await;
    quiet(&stack).await;
    let sent = posted(&slack).await;
    // The first call was refused and repeated with the same piece; then the rest, in order.
    assert_eq!(sent[0], sent[1], "the rate-limited piece is sent again");
    let pieces: Vec<&str> = sent[1..].iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        assert!(piece.chars().count() <= 4000, "piece {i} has {} chars", piece.chars().count());
    }
    assert_eq!(pieces.join(" "), expected, "every word once, in order");
    for message in &sent {
        assert_eq!(message["channel"], "D0123ABCD");
        assert!(message.get("thread_ts").is_none(), "a DM is answered in the DM, not a thread: {message}");
    }
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let lines = store.conversation(&conversation(&bot, "D0123ABCD")).await.unwrap();
    assert_eq!(lines.last().unwrap().reply_state, Some(ReplyState::Sent));
    assert_eq!(lines.last().unwrap().channel_message_ids.as_ref().map(Vec::len), Some(pieces.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_stand_in_answers_like_slack() {
    // No override: the reply function sends to the local run's own Slack stand-in.
    let stack = start_stack_with(vec![]).await;
    let bot = onboard_slack_bot(&stack);
    let dm = message_event("Ev0000LOCAL1", "D0123ABCD", "im", "1763741100.000100", "hi from the local run");
    assert_eq!(post_event(&bot.webhook_url, &dm, &[]).await.status(), 200);
    let sent = eventually(Duration::from_secs(30), "the answer in the outbox", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].channel, "slack");
    assert_eq!(sent[0].chat_id, json!("D0123ABCD"));
    assert_eq!(sent[0].text, "Hello U0123ABCD! You said: hi from the local run");
    // The stand-in answered with a ts, which the reply function recorded.
    quiet(&stack).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let lines = store.conversation(&conversation(&bot, "D0123ABCD")).await.unwrap();
    let ids = lines[1].channel_message_ids.clone().unwrap_or_default();
    assert!(ids.len() == 1 && ids[0].contains('.'), "a Slack ts: {ids:?}");
}

/// A prompt-injected agent writes a disguised link and mass mentions into its answer: they reach
/// Slack as literal text, in the notification text and in the Block Kit section, and the buttons
/// under it still carry their commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_answer_reaches_slack_neutralised() {
    let slack = slack_stand_in().await;
    let stack = start_stack_with(vec![("slack", slack.uri())]).await;
    let bot = onboard_slack_bot(&stack);
    let conversation = conversation(&bot, "C0123ABCD");
    let under =
        vec![Button::new("Approve once", "/approve pr1 once 0123456789ab"), Button::danger("Reject", "/reject pr1")];
    let reply = ReplyEnvelope {
 files: Vec::new(),
        v: ENVELOPE_VERSION,
        conversation: conversation.clone(),
        in_reply_to: MessageId::parse("Ev0HOSTILE01").unwrap(),
        in_reply_to_at_ms: 1,
        seq: 1,
        text: "<!channel> please sign in again: <https://evil.example|https://app.slack.com/signin> (cc <@U0123ABCD>, <!here>)"
            .into(),
        route: ReplyRoute::Slack { channel_id: "C0123ABCD".into(), thread_ts: Some("1763740800.000100".into()) },
        buttons: under.clone(),
        // The agent's own conversation's token: the reply is legitimate, only its text is hostile.
        scope: stack.scope_key().await.unwrap().mint(&conversation),
        run: None,
        trace_id: None,
    };
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&stack.sdk), &stack.resources.queue_urls["ReplyQueue"]);
    queue.send_reply(&reply).await.unwrap();

    let sent = eventually(Duration::from_secs(30), "the answer at the Slack stand-in", || async {
        let sent = posted(&slack).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    let shown = "&lt;!channel&gt; please sign in again: &lt;https://evil.example|https://app.slack.com/signin&gt; \
                 (cc &lt;@U0123ABCD&gt;, &lt;!here&gt;)";
    let buttons: Vec<Value> = under
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut button = json!({"type": "button", "action_id": format!("button_{i}"),
                                    "text": {"type": "plain_text", "text": b.label}, "value": b.command});
            if b.danger {
                button["style"] = json!("danger");
            }
            button
        })
        .collect();
    assert_eq!(
        sent[0],
        json!({
            "channel": "C0123ABCD",
            "thread_ts": "1763740800.000100",
            "text": shown,
            "unfurl_links": false,
            "unfurl_media": false,
            "link_names": false,
            "parse": "none",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": shown}},
                {"type": "actions", "elements": buttons}
            ]
        })
    );
    quiet(&stack).await;
    assert_eq!(posted(&slack).await.len(), 1);
}
