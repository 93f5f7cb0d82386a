//! WhatsApp Cloud API end to end: the GET subscription handshake, signed notifications (single
//! and batched) → webhook → dispatcher → agent → reply → a wiremock Graph API, with rate limits,
//! long answers and redeliveries. Every hop is the real binary against a fresh local stack.

use std::time::Duration;

use crate::support::*;
use axum::body::Bytes;
use clawless_aws::dynamodb::Store;
use clawless_core::channels::whatsapp::{SIGNATURE_HEADER, signature_header};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_core::domain::records::ReplyState;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const APP_SECRET: &str = "test-whatsapp-app-secret-not-for-production";
const VERIFY_TOKEN: &str = "test-whatsapp-verify-token-not-for-production";
const PHONE_NUMBER_ID: &str = "106540352242922";

pub(crate) fn onboard(stack: &clawless_local::LocalStack) -> Onboarded {
    let settings = [
        ("app_secret", APP_SECRET),
        ("verify_token", VERIFY_TOKEN),
        ("access_token", "EAAtest-access-token"),
        ("phone_number_id", PHONE_NUMBER_ID),
    ];
    onboard_bot(stack, "whatsapp", &settings)
}

fn sent_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.out"}]
    }))
}

/// A Graph API stand-in: `POST /v21.0/{phone_number_id}/messages`.
async fn graph_api(rate_limit_first: bool) -> MockServer {
    let server = MockServer::start().await;
    let messages = || path_regex(format!(r"^/v21\.0/{PHONE_NUMBER_ID}/messages$"));
    if rate_limit_first {
        Mock::given(method("POST"))
            .and(messages())
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(json!({
                "error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}
            })))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST")).and(messages()).respond_with(sent_ok()).mount(&server).await;
    server
}

async fn start(server: &MockServer) -> clawless_local::LocalStack {
    start_stack_with(vec![("whatsapp", format!("{}/v21.0", server.uri()))]).await
}

/// Every send request the Graph API stand-in received, in order.
async fn sends(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("/messages"))
        .map(|r| {
            assert_eq!(r.headers.get("authorization").unwrap(), "Bearer EAAtest-access-token");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

async fn post(url: &str, signature: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    request.send().await.unwrap()
}

pub(crate) async fn post_signed(url: &str, body: &str) -> reqwest::Response {
    post(url, Some(&signature_header(APP_SECRET, body.as_bytes())), body).await
}

fn store(stack: &clawless_local::LocalStack) -> Store {
    Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack))
}

fn conversation(bot: &Onboarded, wa_id: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Whatsapp,
        conversation_id: ConversationId::parse(wa_id).unwrap(),
    }
}

pub(crate) fn notification(messages: Vec<(&str, &str, &str, &str)>) -> String {
    let contacts: Vec<Value> =
        messages.iter().map(|(from, _, name, _)| json!({"profile": {"name": name}, "wa_id": from})).collect();
    let messages: Vec<Value> = messages
        .iter()
        .map(|(from, id, _, text)| {
            json!({"from": from, "id": id, "timestamp": "1763740800", "type": "text", "text": {"body": text}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": contacts, "messages": messages
    }}]}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whatsapp_message_is_answered_once_after_a_rate_limit() {
    let graph = graph_api(true).await;
    let stack = start(&graph).await;
    let bot = onboard(&stack);
    let body = sample_event("webhook-whatsapp.json")["body"].as_str().unwrap().to_owned();

    assert_eq!(post_signed(&bot.webhook_url, &body).await.status(), 200);
    // The first send is rate limited (429, Retry-After: 1) and retried: two requests, one answer.
    let sent = eventually(Duration::from_secs(45), "the answer after the rate limit", || async {
        let sent = sends(&graph).await;
        (sent.len() >= 2).then_some(sent)
    })
    .await;
    assert_eq!(sent[0], sent[1], "the retry sends the same message");
    let wamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwQTdDNEQ2RUQ2RjFFMzBGMgA=";
    assert_eq!(
        sent[1],
        json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234", "type": "text",
            "text": {"preview_url": false, "body": "Hello Ada! You said: hello bot"},
            "context": {"message_id": wamid}
        })
    );

    // Meta retries the same notification (our 200 was lost, say): answered once.
    assert_eq!(post_signed(&bot.webhook_url, &body).await.status(), 200);
    quiet(&stack).await;
    assert_eq!(sends(&graph).await.len(), 2, "a redelivered message must not be answered again");

    let lines = store(&stack).conversation(&conversation(&bot, "16505551234")).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].message_id, wamid);
    assert_eq!(lines[0].sender_name, "Ada");
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert_eq!(lines[1].channel_message_ids.as_deref(), Some(&["wamid.out".to_owned()][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whatsapp_verification_and_bad_signatures() {
    let graph = graph_api(false).await;
    let stack = start(&graph).await;
    let bot = onboard(&stack);
    let http = reqwest::Client::new();

    // The subscription handshake: the challenge comes back exactly, as text.
    let good =
        format!("{}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}", bot.webhook_url);
    let answer = http.get(&good).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(answer.text().await.unwrap(), "1158201444");
    for bad in [
        format!("{}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guessed", bot.webhook_url),
        format!("{}?hub.mode=subscribe&hub.challenge=1158201444", bot.webhook_url),
        format!("{}?hub.mode=unsubscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}", bot.webhook_url),
    ] {
        assert_eq!(http.get(&bad).send().await.unwrap().status(), 401, "{bad}");
    }

    // Notifications with a wrong, foreign or missing signature are refused and leave no trace.
    let body = sample_event("webhook-whatsapp.json")["body"].as_str().unwrap().to_owned();
    let tampered = body.replace("hello bot", "hello bot!");
    let signature = signature_header(APP_SECRET, body.as_bytes());
    assert_eq!(post(&bot.webhook_url, Some(&signature), &tampered).await.status(), 401);
    let foreign = signature_header("another-app-secret", body.as_bytes());
    assert_eq!(post(&bot.webhook_url, Some(&foreign), &body).await.status(), 401);
    assert_eq!(post(&bot.webhook_url, None, &body).await.status(), 401);
    quiet(&stack).await;
    assert!(store(&stack).conversation(&conversation(&bot, "16505551234")).await.unwrap().is_empty());
    assert!(sends(&graph).await.is_empty());

    // The sample events drive the real webhook function (ids swapped for this bot's).
    let webhook = &stack.functions["WebhookFunction"];
    let with_bot = |event: Value| {
        Bytes::from(
            event
                .to_string()
                .replace("t0123456789abcdef0123", &bot.tenant_id)
                .replace("b0123456789abcdef0123", &bot.bot_id),
        )
    };
    let answer: Value =
        serde_json::from_slice(&webhook.invoke(with_bot(sample_event("webhook-whatsapp-verify.json"))).await.unwrap())
            .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], "1158201444");
    let answer: Value =
        serde_json::from_slice(&webhook.invoke(with_bot(sample_event("webhook-whatsapp.json"))).await.unwrap())
            .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let sent = eventually(Duration::from_secs(30), "the answer to the sample event", || async {
        let sent = sends(&graph).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0]["text"]["body"], "Hello Ada! You said: hello bot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whatsapp_batches_and_long_answers() {
    let graph = graph_api(false).await;
    let stack = start(&graph).await;
    let bot = onboard(&stack);

    // One notification, two people: two answers, each to its sender.
    let batch = notification(vec![
        ("111111", "wamid.batch-ada", "Ada", "hi from Ada"),
        ("222222", "wamid.batch-bo", "Bo", "hi from Bo"),
    ]);
    assert_eq!(post_signed(&bot.webhook_url, &batch).await.status(), 200);
    let sent = eventually(Duration::from_secs(45), "both answers", || async {
        let sent = sends(&graph).await;
        (sent.len() >= 2).then_some(sent)
    })
    .await;
    let mut answers: Vec<(String, String, String)> = sent
        .iter()
        .map(|s| {
            (
                s["to"].as_str().unwrap().to_owned(),
                s["text"]["body"].as_str().unwrap().to_owned(),
                s["context"]["message_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        [
            ("111111".into(), "Hello Ada! You said: hi from Ada".into(), "wamid.batch-ada".into()),
            ("222222".into(), "Hello Bo! You said: hi from Bo".into(), "wamid.batch-bo".into()),
        ]
    );

    // 5,000 characters: the answer is longer than WhatsApp's 4,096 and arrives in pieces, in order.
    let words: Vec<String> = (0..1000).map(|i| format!("w{i:03}")).collect();
    let long = words.join(" ");
    assert!(long.chars().count() >= 4999);
    let notification = notification(vec![("333333", "wamid.long", "Cy", &long)]);
    assert_eq!(post_signed(&bot.webhook_url, &notification).await.status(), 200);
    let pieces = eventually(Duration::from_secs(45), "every piece of the long answer", || async {
        let pieces: Vec<String> = sends(&graph)
            .await
            .iter()
            .filter(|s| s["to"] == "333333")
            .map(|s| s["text"]["body"].as_str().unwrap().to_owned())
            .collect();
        let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
        (total >= long.chars().count()).then_some(pieces)
    })
    .await;
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
    assert_eq!(pieces.join(" "), format!("Hello Cy! You said: {long}"), "every word, in order");
    quiet(&stack).await;
    assert_eq!(sends(&graph).await.len(), 2 + pieces.len(), "nothing sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_stand_in_answers_like_the_graph_api() {
    // No override: the reply function sends to the local run's own WhatsApp stand-in.
    let stack = start_stack_with(vec![]).await;
    let bot = onboard(&stack);
    let body = sample_event("webhook-whatsapp.json")["body"].as_str().unwrap().to_owned();
    assert_eq!(post_signed(&bot.webhook_url, &body).await.status(), 200);
    let sent = eventually(Duration::from_secs(30), "the answer at the stand-in", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].channel, "whatsapp");
    assert_eq!(sent[0].chat_id, json!("16505551234"));
    assert_eq!(sent[0].text, "Hello Ada! You said: hello bot");
    quiet(&stack).await;
    let lines = store(&stack).conversation(&conversation(&bot, "16505551234")).await.unwrap();
    assert_eq!(lines[1].reply_state, Some(ReplyState::Sent));
    assert!(lines[1].channel_message_ids.as_ref().unwrap()[0].starts_with("wamid."));
}
