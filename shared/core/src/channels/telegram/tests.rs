use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::parse::parse_update;
use super::*;
use crate::channels::{HttpAnswer, ParsedMessage};
use crate::domain::model::Sender;
use crate::domain::secrets::Secret;

fn secrets(secret: &str) -> ChannelSecrets {
    let mut m = BTreeMap::new();
    m.insert("webhook_secret".to_owned(), Secret::new(secret));
    m.insert("bot_token".to_owned(), Secret::new("123:abc"));
    m.insert("bot_username".to_owned(), Secret::new("helper_bot"));
    ChannelSecrets(m)
}

fn input<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> WebhookInput<'a> {
    WebhookInput { method: "POST", headers, query: "", body, now_secs: 0 }
}

fn with_secret(value: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(SECRET_HEADER, value.parse().unwrap());
    h
}

#[test]
fn verify_fails_closed() {
    let none = http::HeaderMap::new();
    assert_eq!(
        Telegram.verify(&secrets(""), &input(&with_secret(""), b"")),
        Err(VerifyError::NotConfigured("webhook_secret"))
    );
    assert_eq!(Telegram.verify(&secrets("s3cret"), &input(&none, b"")), Err(VerifyError::Missing(SECRET_HEADER)));
    assert_eq!(Telegram.verify(&secrets("s3cret"), &input(&with_secret("s3cre"), b"")), Err(VerifyError::Mismatch));
    assert_eq!(Telegram.verify(&secrets("s3cret"), &input(&with_secret("s3cret"), b"")), Ok(()));
}

fn only(inbound: Inbound) -> ParsedMessage {
    match inbound {
        Inbound::Deliveries { mut messages, .. } if messages.len() == 1 => messages.remove(0),
        other => panic!("expected one message, got {other:?}"),
    }
}

#[test]
fn parses_a_private_text_message() {
    let body = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":42,"is_bot":false,"first_name":"Ada","last_name":"L"},"chat":{"id":42,"type":"private"},"date":1700000000,"text":"hi"}}"#;
    let parsed = only(parse_update(body, None, 0).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "42");
    assert_eq!(parsed.message.message_id.as_str(), "9");
    assert_eq!(parsed.message.sent_at_ms, 1_700_000_000_000);
    assert_eq!(parsed.message.sender.name, "Ada L");
    assert!(parsed.message.is_direct);
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Telegram { chat_id: 42, message_thread_id: None, reply_to_message_id: Some(7) }
    );
}

#[test]
fn a_forum_topic_is_a_conversation_of_its_own() {
    let topic = br#"{"update_id":9,"message":{"message_id":70,"message_thread_id":7,"is_topic_message":true,"from":{"id":42,"first_name":"Ada"},"chat":{"id":-1001234,"type":"supergroup","is_forum":true},"date":1,"text":"hi"}}"#;
    let parsed = only(parse_update(topic, None, 0).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "-1001234:7");
    assert!(!parsed.message.is_direct && !Telegram.is_direct(&parsed.conversation_id));
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Telegram { chat_id: -1001234, message_thread_id: Some(7), reply_to_message_id: Some(70) }
    );
    // A scheduled answer goes back into the topic.
    assert_eq!(
        Telegram.standing_route(&parsed.conversation_id).unwrap(),
        ReplyRoute::Telegram { chat_id: -1001234, message_thread_id: Some(7), reply_to_message_id: None }
    );
    // A reply thread outside a forum (message_thread_id without is_topic_message) is the group's.
    let reply = br#"{"update_id":10,"message":{"message_id":71,"message_thread_id":7,"from":{"id":42,"first_name":"Ada"},"chat":{"id":-1001234,"type":"supergroup"},"date":1,"text":"hi"}}"#;
    assert_eq!(only(parse_update(reply, None, 0).unwrap()).conversation_id.as_str(), "-1001234");
}

#[test]
fn group_mentions_are_recognised_by_username() {
    let body = "{\"update_id\":9,\"message\":{\"message_id\":7,\"from\":{\"id\":42,\"first_name\":\"Ada\"},\"chat\":{\"id\":-100,\"type\":\"group\"},\"date\":1,\"text\":\"\u{1F600} @Helper_Bot hi\",\"entities\":[{\"type\":\"mention\",\"offset\":3,\"length\":11}]}}";
    let parsed = only(parse_update(body.as_bytes(), Some("helper_bot"), 0).unwrap());
    assert!(parsed.mentions_bot, "the emoji is two UTF-16 units; the mention must still be found");
    assert!(!parsed.message.is_direct);
    let plain = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":42,"first_name":"Ada"},"chat":{"id":-100,"type":"group"},"date":1,"text":"hi all"}}"#;
    assert!(!only(parse_update(plain, Some("helper_bot"), 0).unwrap()).mentions_bot);
}

#[test]
fn ignores_bots_and_non_messages() {
    let from_bot = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":1,"is_bot":true,"first_name":"B"},"chat":{"id":42,"type":"group"},"date":1,"text":"x"}}"#;
    assert!(
        matches!(parse_update(from_bot, None, 0).unwrap(), Inbound::Deliveries { messages, .. } if messages.is_empty())
    );
    assert!(
        matches!(parse_update(br#"{"update_id":10,"edited_message":{}}"#, None, 0).unwrap(), Inbound::Deliveries { messages, .. } if messages.is_empty())
    );
    assert!(matches!(parse_update(b"{nope", None, 0), Err(ParseError::Json(_))));
    assert!(matches!(parse_update(br#"{"message":{}}"#, None, 0), Err(ParseError::Json(_))));
}

fn click(chat: serde_json::Value, data: Option<&str>) -> Vec<u8> {
    let mut query = json!({
        "id": "4382bfdwdsb323b2d9",
        "from": {"id": 9001, "is_bot": false, "first_name": "Boss", "username": "boss"},
        "message": {"message_id": 555, "from": {"id": 1, "is_bot": true, "first_name": "Helper"},
                    "chat": chat, "date": 1700000000, "text": "Permission request pr1"},
        "chat_instance": "-1234567890",
    });
    if let Some(data) = data {
        query["data"] = json!(data);
    }
    json!({"update_id": 77, "callback_query": query}).to_string().into_bytes()
}

fn answers_the_callback(ack: &HttpAnswer) {
    assert_eq!(ack.status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&ack.body).unwrap(),
        json!({"method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}),
        "the webhook's answer stops the button's spinner"
    );
}

#[test]
fn a_button_click_becomes_a_message_carrying_the_command() {
    let body = click(json!({"id": 9001, "type": "private", "first_name": "Boss"}), Some("/approve pr1 once"));
    let Inbound::Deliveries { mut messages, ack } = parse_update(&body, Some("helper_bot"), 1_800_000_000).unwrap()
    else {
        panic!("not a delivery")
    };
    answers_the_callback(&ack);
    assert_eq!(messages.len(), 1);
    let parsed = messages.remove(0);
    assert_eq!(parsed.conversation_id.as_str(), "9001");
    assert_eq!(parsed.message.message_id.as_str(), "77", "the update_id, as for messages");
    assert_eq!(parsed.message.text, "/approve pr1 once");
    assert_eq!(parsed.message.sender, Sender { id: "9001".into(), name: "Boss".into(), is_bot: false });
    assert_eq!(parsed.message.sent_at_ms, 1_700_000_000_000, "the clicked message's time: stable on redelivery");
    assert!(parsed.message.is_direct && parsed.mentions_bot);
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Telegram { chat_id: 9001, message_thread_id: None, reply_to_message_id: Some(555) }
    );
    // Through the trait, as the webhook calls it.
    let h = with_secret("s3cret");
    let via_trait = only(Telegram.parse(&secrets("s3cret"), &input(&h, &body)).unwrap());
    assert_eq!(via_trait, parsed);
}

#[test]
fn clicks_in_groups_and_odd_clicks_are_handled() {
    // In a group (a forum topic): the group's conversation, not direct, answered in the topic.
    let mut group: serde_json::Value = serde_json::from_slice(&click(
        json!({"id": -1001234, "type": "supergroup", "title": "Ops"}),
        Some("/reject pr1"),
    ))
    .unwrap();
    group["callback_query"]["message"]["message_thread_id"] = json!(12);
    let parsed = only(parse_update(group.to_string().as_bytes(), None, 0).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "-1001234");
    assert_eq!(parsed.message.sender.id, "9001");
    assert!(!parsed.message.is_direct && parsed.mentions_bot, "a click on the bot's message addresses the bot");
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Telegram { chat_id: -1001234, message_thread_id: Some(12), reply_to_message_id: Some(555) }
    );

    // A message too old to be accessible has date 0: the webhook's time instead.
    let mut old = group.clone();
    old["callback_query"]["message"] = json!({"message_id": 555, "chat": {"id": 9001, "type": "private"}, "date": 0});
    let parsed = only(parse_update(old.to_string().as_bytes(), None, 1_800_000_000).unwrap());
    assert_eq!(parsed.message.sent_at_ms, 1_800_000_000_000);

    // No data (a game button), blank data, no message (inline mode), a bot: nothing stored,
    // but the callback is still answered.
    let private = json!({"id": 9001, "type": "private"});
    let mut inline = group.clone();
    inline["callback_query"].as_object_mut().unwrap().remove("message");
    inline["callback_query"]["inline_message_id"] = json!("AAAAAA");
    let mut from_bot = group.clone();
    from_bot["callback_query"]["from"]["is_bot"] = json!(true);
    for body in [
        click(private.clone(), None),
        click(private, Some("  ")),
        inline.to_string().into_bytes(),
        from_bot.to_string().into_bytes(),
    ] {
        match parse_update(&body, None, 0).unwrap() {
            Inbound::Deliveries { messages, ack } => {
                assert!(messages.is_empty(), "{}", String::from_utf8_lossy(&body));
                answers_the_callback(&ack);
            }
            other => panic!("{other:?}"),
        }
    }
    // A callback query without an id or a sender is malformed.
    let mut no_id = group.clone();
    no_id["callback_query"].as_object_mut().unwrap().remove("id");
    assert!(matches!(parse_update(no_id.to_string().as_bytes(), None, 0), Err(ParseError::Json(_))));
}

/// Telegram reads no markup without `parse_mode`: what the agent wrote is sent as written,
/// and the body carries neither `parse_mode` nor `entities`.
#[tokio::test]
async fn plain_text_is_sent_as_written_without_parse_mode() {
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let text = "Use <b> tags; a < b && c > d; *x* [login](https://evil.example) tg://user?id=42 @everyone";
    assert_eq!(Telegram.neutralise(text), text);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123:abc/sendMessage"))
        .and(body_json(json!({
            "chat_id": -100123, "text": text, "link_preview_options": {"is_disabled": true},
            "message_thread_id": 7, "reply_parameters": {"message_id": 99, "allow_sending_without_reply": true}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 556}})))
        .expect(1)
        .mount(&server)
        .await;
    let (http, s, tokens) =
        (reqwest::Client::new(), secrets("s3cret"), crate::cache::TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens, send_key: None };
    let route = ReplyRoute::Telegram { chat_id: -100123, message_thread_id: Some(7), reply_to_message_id: Some(99) };
    assert_eq!(Telegram.send(&ctx, &route, &Telegram.neutralise(text), &[]).await.unwrap(), "556");
}

#[tokio::test]
async fn send_puts_buttons_in_an_inline_keyboard() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123:abc/sendMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 555}})))
        .mount(&server)
        .await;
    let (http, s, tokens) =
        (reqwest::Client::new(), secrets("s3cret"), crate::cache::TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens, send_key: None };
    let route = ReplyRoute::Telegram { chat_id: 9001, message_thread_id: None, reply_to_message_id: None };
    let buttons = [
        Button::new("Approve once", "/approve pr1 once"),
        Button::new("Too long", format!("/approve {} once", "x".repeat(60))),
        Button::danger("Reject", "/reject pr1"),
    ];
    assert_eq!(Telegram.send(&ctx, &route, "Permission request pr1", &buttons).await.unwrap(), "555");
    assert_eq!(Telegram.send(&ctx, &route, "no buttons", &[]).await.unwrap(), "555");
    let sent: Vec<serde_json::Value> =
        server.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(sent[0]["text"], "Permission request pr1");
    assert_eq!(
        sent[0]["reply_markup"],
        json!({"inline_keyboard": [[
            {"text": "Approve once", "callback_data": "/approve pr1 once"},
            {"text": "Reject", "callback_data": "/reject pr1"}
        ]]}),
        "a command over 64 bytes is dropped"
    );
    assert!(sent[1].get("reply_markup").is_none(), "{}", sent[1]);
}

/// The sample photo update: the largest size is taken, the caption travels as the text, and a
/// photo without a caption is still a message.
#[test]
fn a_photo_is_a_message_with_its_largest_size() {
    use crate::domain::media::{MediaKind, MediaSource};
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../../../../../events/webhook-telegram-photo.json")).unwrap();
    let body = event["body"].as_str().unwrap();
    let parsed = only(parse_update(body.as_bytes(), None, 0).unwrap());
    assert_eq!(parsed.message.text, "what does this receipt say?");
    assert_eq!(parsed.message.attachments.len(), 1);
    let photo = &parsed.message.attachments[0];
    assert_eq!(photo.kind, MediaKind::Photo);
    assert_eq!(photo.source, MediaSource::TelegramFile { file_id: "AgACAgQAAxkBAAMLphoto".into() });
    assert_eq!(photo.declared_size, Some(48213));

    let voice = br#"{"update_id":10,"message":{"message_id":8,"from":{"id":42,"is_bot":false,"first_name":"Ada"},"chat":{"id":42,"type":"private"},"date":1700000000,"voice":{"file_id":"v1","file_size":5000,"duration":3}}}"#;
    let parsed = only(parse_update(voice, None, 0).unwrap());
    assert_eq!(parsed.message.text, "");
    assert_eq!(parsed.message.attachments[0].kind, MediaKind::Voice);
}

/// `getFile`, then the file URL with the bot's token; a file over the limit is refused from the
/// size `getFile` gives, before a byte is fetched; another channel's source is refused.
#[tokio::test]
async fn downloads_go_through_get_file_and_stop_at_the_limit() {
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::channels::DownloadError;
    use crate::domain::media::MediaSource;

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123:abc/getFile"))
        .and(body_json(json!({"file_id": "small"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "result": {"file_id": "small", "file_size": 4, "file_path": "photos/file_1.jpg"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bot123:abc/getFile"))
        .and(body_json(json!({"file_id": "big"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "result": {"file_id": "big", "file_size": 21_000_000, "file_path": "documents/file_2.pdf"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/file/bot123:abc/photos/file_1.jpg"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"\xff\xd8\xff\xe0".to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    let (http, s, tokens) =
        (reqwest::Client::new(), secrets("s3cret"), crate::cache::TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens, send_key: None };
    let small = MediaSource::TelegramFile { file_id: "small".into() };
    assert_eq!(Telegram.download(&ctx, &small, 20 * 1024 * 1024).await.unwrap(), b"\xff\xd8\xff\xe0");
    let big = MediaSource::TelegramFile { file_id: "big".into() };
    assert!(matches!(Telegram.download(&ctx, &big, 20 * 1024 * 1024).await, Err(DownloadError::TooLarge { .. })));
    let slack = MediaSource::SlackFile { url: format!("{base}/file/bot123:abc/photos/file_1.jpg") };
    assert!(matches!(Telegram.download(&ctx, &slack, 1000).await, Err(DownloadError::Permanent(_))));
}

/// A JPEG goes as `sendPhoto`, a PDF as `sendDocument`, multipart, with the caption and the reply.
#[tokio::test]
async fn files_go_as_photos_or_documents() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::domain::media::{FileUpload, sniff};

    let server = MockServer::start().await;
    for m in ["sendPhoto", "sendDocument"] {
        Mock::given(method("POST"))
            .and(path(format!("/bot123:abc/{m}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 77}})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let (http, s, tokens) =
        (reqwest::Client::new(), secrets("s3cret"), crate::cache::TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens, send_key: None };
    let route = ReplyRoute::Telegram { chat_id: 42, message_thread_id: None, reply_to_message_id: Some(7) };
    let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF\0rest".to_vec();
    let sniffed = sniff(&jpeg);
    let photo = FileUpload { name: "chart.jpg", bytes: &jpeg, sniffed: &sniffed, caption: Some("the chart") };
    assert_eq!(Telegram.send_file(&ctx, &route, &photo).await.unwrap(), "77");
    let pdf = b"%PDF-1.7\n".to_vec();
    let sniffed = sniff(&pdf);
    let doc = FileUpload { name: "report.pdf", bytes: &pdf, sniffed: &sniffed, caption: None };
    assert_eq!(Telegram.send_file(&ctx, &route, &doc).await.unwrap(), "77");
    let requests = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&requests[0].body);
    assert!(body.contains("name=\"photo\"; filename=\"chart.jpg\""), "{body}");
    assert!(body.contains("name=\"caption\"\r\n\r\nthe chart"), "{body}");
    assert!(body.contains("\"message_id\":7"), "{body}");
    let body = String::from_utf8_lossy(&requests[1].body);
    assert!(body.contains("name=\"document\"; filename=\"report.pdf\""), "{body}");
    assert!(!body.contains("caption"), "{body}");
}
