use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::cache::TtlCache;
use crate::channels::ParsedMessage;
use crate::domain::secrets::Secret;

const APP_SECRET: &str = "test-whatsapp-app-secret-not-for-production";
const VERIFY_TOKEN: &str = "test-whatsapp-verify-token-not-for-production";
const PHONE_NUMBER_ID: &str = "106540352242922";

fn secrets() -> ChannelSecrets {
    let pairs = [
        ("app_secret", APP_SECRET),
        ("verify_token", VERIFY_TOKEN),
        ("access_token", "EAAtest"),
        ("phone_number_id", PHONE_NUMBER_ID),
    ];
    ChannelSecrets(pairs.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
}

fn post<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> WebhookInput<'a> {
    WebhookInput { method: "POST", headers, query: "", body, now_secs: 1_763_740_800 }
}

fn get<'a>(headers: &'a http::HeaderMap, query: &'a str) -> WebhookInput<'a> {
    WebhookInput { method: "GET", headers, query, body: b"", now_secs: 1_763_740_800 }
}

fn signed(body: &[u8]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(SIGNATURE_HEADER, signature_header(APP_SECRET, body).parse().unwrap());
    h
}

/// Meta's documented example of a text message notification.
const DOCUMENTED: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;

#[test]
fn signature_matches_an_independent_hmac() {
    // printf '%s' "$DOCUMENTED" | openssl dgst -sha256 -hmac test-whatsapp-app-secret-not-for-production
    assert_eq!(
        signature_header(APP_SECRET, DOCUMENTED.as_bytes()),
        "sha256=329b1b1aa0eb6a0e3bb88bb71afc156e3c0807004bb440a88855e5f10edbd259"
    );
    let headers = signed(DOCUMENTED.as_bytes());
    assert_eq!(Whatsapp.verify(&secrets(), &post(&headers, DOCUMENTED.as_bytes())), Ok(()));
}

#[test]
fn post_verification_fails_closed() {
    let body = DOCUMENTED.as_bytes();
    let headers = signed(body);
    let tampered = DOCUMENTED.replace("another color", "another colour");
    assert_eq!(Whatsapp.verify(&secrets(), &post(&headers, tampered.as_bytes())), Err(VerifyError::Mismatch));
    let mut wrong_secret = http::HeaderMap::new();
    wrong_secret.insert(SIGNATURE_HEADER, signature_header("another-secret", body).parse().unwrap());
    assert_eq!(Whatsapp.verify(&secrets(), &post(&wrong_secret, body)), Err(VerifyError::Mismatch));
    // The bare hex without `sha256=` is not Meta's format.
    let mut bare = http::HeaderMap::new();
    let hex = signature_header(APP_SECRET, body).trim_start_matches("sha256=").to_owned();
    bare.insert(SIGNATURE_HEADER, hex.parse().unwrap());
    assert_eq!(Whatsapp.verify(&secrets(), &post(&bare, body)), Err(VerifyError::Mismatch));
    let none = http::HeaderMap::new();
    assert_eq!(Whatsapp.verify(&secrets(), &post(&none, body)), Err(VerifyError::Missing(SIGNATURE_HEADER)));
    let mut unconfigured = secrets();
    unconfigured.0.insert("app_secret".into(), Secret::new(""));
    assert_eq!(Whatsapp.verify(&unconfigured, &post(&headers, body)), Err(VerifyError::NotConfigured("app_secret")));
    let put = WebhookInput { method: "PUT", ..post(&headers, body) };
    assert_eq!(Whatsapp.verify(&secrets(), &put), Err(VerifyError::Missing("GET or POST")));
}

#[test]
fn get_verification_echoes_the_challenge() {
    let h = http::HeaderMap::new();
    let good = format!("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}");
    assert_eq!(Whatsapp.verify(&secrets(), &get(&h, &good)), Ok(()));
    assert_eq!(Whatsapp.parse(&secrets(), &get(&h, &good)), Ok(Inbound::Answer(HttpAnswer::text(200, "1158201444"))));
    let wrong = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess";
    assert_eq!(Whatsapp.verify(&secrets(), &get(&h, wrong)), Err(VerifyError::Mismatch));
    let unsubscribe = format!("hub.mode=unsubscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}");
    assert_eq!(Whatsapp.verify(&secrets(), &get(&h, &unsubscribe)), Err(VerifyError::Mismatch));
    assert_eq!(
        Whatsapp.verify(&secrets(), &get(&h, "hub.mode=subscribe&hub.challenge=1")),
        Err(VerifyError::Missing("hub.verify_token"))
    );
    assert_eq!(Whatsapp.verify(&secrets(), &get(&h, "")), Err(VerifyError::Missing("hub.mode")));
    let mut unconfigured = secrets();
    unconfigured.0.remove("verify_token");
    assert_eq!(Whatsapp.verify(&unconfigured, &get(&h, &good)), Err(VerifyError::NotConfigured("verify_token")));
    let no_challenge = format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}");
    assert!(matches!(Whatsapp.parse(&secrets(), &get(&h, &no_challenge)), Err(ParseError::Invalid(_))));
}

fn messages(inbound: Inbound) -> Vec<ParsedMessage> {
    match inbound {
        Inbound::Deliveries { messages, ack } => {
            assert_eq!(ack.status, 200);
            messages
        }
        other => panic!("expected deliveries, got {other:?}"),
    }
}

#[test]
fn parses_the_documented_text_message() {
    let h = signed(DOCUMENTED.as_bytes());
    let parsed = messages(Whatsapp.parse(&secrets(), &post(&h, DOCUMENTED.as_bytes())).unwrap());
    assert_eq!(parsed.len(), 1);
    let m = &parsed[0];
    assert_eq!(m.conversation_id.as_str(), "16505551234");
    assert_eq!(m.message.message_id.as_str(), "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
    assert_eq!(m.message.sent_at_ms, 1_749_416_383_000);
    assert_eq!(m.message.sender.name, "Sheena Nelson");
    assert_eq!(m.message.text, "Does it come in another color?");
    assert!(m.message.is_direct);
    assert_eq!(
        m.message.route,
        ReplyRoute::Whatsapp {
            to: "16505551234".into(),
            reply_to_message_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into()),
        }
    );
}

fn text(from: &str, id: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1763740800", "type": "text", "text": {"body": body}})
}

fn change(phone_number_id: &str, contacts: Value, msgs: Vec<Value>) -> Value {
    json!({"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": contacts, "messages": msgs
    }})
}

#[test]
fn parses_every_message_of_a_batch_for_this_number_only() {
    let contacts = json!([{"profile": {"name": "Ada"}, "wa_id": "111"}, {"profile": {"name": "Bo"}, "wa_id": "222"}]);
    let status = json!({"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": PHONE_NUMBER_ID},
        "statuses": [{"id": "wamid.sent1", "status": "delivered", "timestamp": "1763740801", "recipient_id": "111"}]
    }});
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [
            change(PHONE_NUMBER_ID, contacts.clone(), vec![text("111", "wamid.a1", "one"), text("222", "wamid.b1", "two")]),
            status,
        ]},
        {"id": "2", "changes": [
            change(PHONE_NUMBER_ID, contacts.clone(), vec![
                text("111", "wamid.a2", "three"),
                json!({"from": "333", "id": "wamid.c1", "timestamp": "1763740802", "type": "button", "button": {"text": "Yes", "payload": "YES"}}),
            ]),
            change("999999999", contacts, vec![text("111", "wamid.foreign", "not ours")]),
            {"field": "account_update", "value": {"event": "x"}},
        ]},
    ]});
    let raw = body.to_string();
    let h = signed(raw.as_bytes());
    let parsed = messages(Whatsapp.parse(&secrets(), &post(&h, raw.as_bytes())).unwrap());
    let got: Vec<(&str, &str, &str)> = parsed
        .iter()
        .map(|m| (m.message.message_id.as_str(), m.message.sender.name.as_str(), m.message.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("wamid.a1", "Ada", "one"),
            ("wamid.b1", "Bo", "two"),
            ("wamid.a2", "Ada", "three"),
            ("wamid.c1", "333", "Yes")
        ]
    );
}

#[test]
fn reads_interactive_replies_and_skips_the_rest() {
    let msgs = vec![
        json!({"from": "111", "id": "wamid.i1", "timestamp": "1", "type": "interactive",
               "interactive": {"type": "button_reply", "button_reply": {"id": "opt-1", "title": "Option one"}}}),
        json!({"from": "111", "id": "wamid.i2", "timestamp": "1", "type": "interactive",
               "interactive": {"type": "list_reply", "list_reply": {"id": "row-2", "title": ""}}}),
        json!({"from": "111", "id": "wamid.img", "timestamp": "1", "type": "image", "image": {"id": "media"}}),
        json!({"from": "111", "id": "wamid.grp", "timestamp": "1", "type": "text", "group_id": "g1", "text": {"body": "in a group"}}),
        json!({"from": "111", "type": "text"}),
    ];
    let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [change(PHONE_NUMBER_ID, json!([]), msgs)]}]});
    let raw = body.to_string();
    let h = signed(raw.as_bytes());
    let parsed = messages(Whatsapp.parse(&secrets(), &post(&h, raw.as_bytes())).unwrap());
    let texts: Vec<&str> = parsed.iter().map(|m| m.message.text.as_str()).collect();
    // The image without a caption is a message with empty text and the image.
    assert_eq!(texts, ["Option one", "row-2", ""]);
    assert_eq!(parsed[2].message.attachments.len(), 1);

    let other = br#"{"object":"page","entry":[]}"#;
    assert!(messages(Whatsapp.parse(&secrets(), &post(&h, other)).unwrap()).is_empty());
    assert!(matches!(Whatsapp.parse(&secrets(), &post(&h, b"{nope")), Err(ParseError::Json(_))));
}

#[test]
fn settings_are_validated() {
    assert_eq!(Whatsapp.validate_settings(&secrets()), Ok(()));
    let mut phone = secrets();
    phone.0.insert("phone_number_id".into(), Secret::new("+1 555 0100"));
    assert!(Whatsapp.validate_settings(&phone).is_err());
}

#[test]
fn the_sample_events_verify_with_the_documented_test_secrets() {
    let load = |name: &str| -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let event = load("webhook-whatsapp.json");
    let mut headers = http::HeaderMap::new();
    for (k, v) in event["headers"].as_object().unwrap() {
        headers.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    let body = event["body"].as_str().unwrap().as_bytes();
    assert_eq!(Whatsapp.verify(&secrets(), &post(&headers, body)), Ok(()));
    assert_eq!(messages(Whatsapp.parse(&secrets(), &post(&headers, body)).unwrap())[0].message.text, "hello bot");

    let verify = load("webhook-whatsapp-verify.json");
    let query = verify["rawQueryString"].as_str().unwrap();
    let h = http::HeaderMap::new();
    assert_eq!(Whatsapp.verify(&secrets(), &get(&h, query)), Ok(()));
    let challenge = verify["queryStringParameters"]["hub.challenge"].as_str().unwrap();
    assert_eq!(Whatsapp.parse(&secrets(), &get(&h, query)), Ok(Inbound::Answer(HttpAnswer::text(200, challenge))));
}

fn route(reply_to: Option<&str>) -> ReplyRoute {
    ReplyRoute::Whatsapp { to: "16505551234".into(), reply_to_message_id: reply_to.map(str::to_owned) }
}

async fn send(server: &MockServer, route: &ReplyRoute) -> Result<String, SendError> {
    let http = reqwest::Client::new();
    let secrets = secrets();
    let tokens = TtlCache::new(Duration::from_secs(60), 10);
    let base = format!("{}/v21.0", server.uri());
    let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens: &tokens, send_key: None };
    Whatsapp.send(&ctx, route, "hi there", &[]).await
}

#[tokio::test]
async fn sends_text_replies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", "Bearer EAAtest"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234", "type": "text",
            "text": {"preview_url": false, "body": "hi there"}, "context": {"message_id": "wamid.in"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.out"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}/messages")))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234", "type": "text",
            "text": {"preview_url": false, "body": "hi there"}
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.plain"}]})),
        )
        .mount(&server)
        .await;
    assert_eq!(send(&server, &route(Some("wamid.in"))).await, Ok("wamid.out".into()));
    assert_eq!(send(&server, &route(None)).await, Ok("wamid.plain".into()));
}

/// WhatsApp text is plain: what the agent wrote is sent as written.
#[tokio::test]
async fn plain_text_is_sent_as_written() {
    let text = "Use <b> tags; a < b && c > d; *bold* [login](https://evil.example) @everyone";
    assert_eq!(Whatsapp.neutralise(text), text);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}/messages")))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234", "type": "text",
            "text": {"preview_url": false, "body": text}
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.out"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (http, secrets, tokens) = (reqwest::Client::new(), secrets(), TtlCache::new(Duration::from_secs(60), 10));
    let base = format!("{}/v21.0", server.uri());
    let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens: &tokens, send_key: None };
    let sent = Whatsapp.send(&ctx, &route(None), &Whatsapp.neutralise(text), &[]).await;
    assert_eq!(sent, Ok("wamid.out".into()));
}

fn graph_error(status: u16, code: i64) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "message": "an error", "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": "x"},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
    }}))
}

#[tokio::test]
async fn maps_send_errors() {
    type Case = (ResponseTemplate, fn(&SendError) -> bool);
    let cases: Vec<Case> = vec![
        (graph_error(400, 130429), |e| *e == SendError::RateLimited { retry_after: Duration::from_secs(2) }),
        (graph_error(400, 131056).insert_header("retry-after", "4"), |e| {
            *e == SendError::RateLimited { retry_after: Duration::from_secs(4) }
        }),
        (graph_error(400, 80007), |e| matches!(e, SendError::RateLimited { .. })),
        (ResponseTemplate::new(429), |e| matches!(e, SendError::RateLimited { .. })),
        (graph_error(400, 131047), |e| matches!(e, SendError::Permanent(m) if m.contains("131047"))),
        (graph_error(400, 131026), |e| matches!(e, SendError::Permanent(_))),
        (graph_error(400, 100), |e| matches!(e, SendError::Permanent(_))),
        (graph_error(401, 190), |e| matches!(e, SendError::Permanent(_))),
        (graph_error(500, 131000), |e| matches!(e, SendError::Temporary(_))),
        (graph_error(400, 131000), |e| matches!(e, SendError::Temporary(_))),
        (graph_error(503, 2), |e| matches!(e, SendError::Temporary(_))),
        (graph_error(400, 1), |e| matches!(e, SendError::Temporary(_))),
        (ResponseTemplate::new(502).set_body_string("<html>"), |e| matches!(e, SendError::Temporary(_))),
        (graph_error(400, 131009), |e| matches!(e, SendError::Permanent(_))),
    ];
    for (i, (response, expected)) in cases.into_iter().enumerate() {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(response).mount(&server).await;
        let result = send(&server, &route(Some("wamid.in"))).await;
        assert!(result.as_ref().is_err_and(expected), "case {i}: {result:?}");
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

#[test]
fn media_messages_become_attachments_with_their_captions() {
    use crate::domain::media::{Attachment, MediaKind, MediaSource};
    let msgs = vec![
        json!({"from": "111", "id": "wamid.img", "timestamp": "1", "type": "image",
               "image": {"id": "1001", "mime_type": "image/jpeg", "sha256": "x", "caption": "what is this?"}}),
        json!({"from": "111", "id": "wamid.doc", "timestamp": "1", "type": "document",
               "document": {"id": "1002", "mime_type": "application/pdf", "filename": "notes.pdf"}}),
        json!({"from": "111", "id": "wamid.voice", "timestamp": "1", "type": "audio",
               "audio": {"id": "1003", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
        json!({"from": "111", "id": "wamid.video", "timestamp": "1", "type": "video", "video": {"id": "1004"}}),
        json!({"from": "111", "id": "wamid.sticker", "timestamp": "1", "type": "sticker", "sticker": {"id": "1005"}}),
        json!({"from": "111", "id": "wamid.noid", "timestamp": "1", "type": "image", "image": {}}),
    ];
    let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [change(PHONE_NUMBER_ID, json!([]), msgs)]}]});
    let raw = body.to_string();
    let h = signed(raw.as_bytes());
    let parsed = messages(Whatsapp.parse(&secrets(), &post(&h, raw.as_bytes())).unwrap());
    assert_eq!(parsed.len(), 5, "the image without a media id is skipped");
    assert_eq!(parsed[0].message.text, "what is this?");
    let media = |id: &str| MediaSource::WhatsappMedia { media_id: id.into() };
    assert_eq!(
        parsed[0].message.attachments,
        vec![Attachment { kind: MediaKind::Photo, source: media("1001"), name: None, declared_size: None }]
    );
    assert_eq!(parsed[1].message.text, "", "a file alone is a message");
    assert_eq!(
        parsed[1].message.attachments,
        vec![Attachment {
            kind: MediaKind::Document,
            source: media("1002"),
            name: Some("notes.pdf".into()),
            declared_size: None
        }]
    );
    let kinds: Vec<MediaKind> = parsed[2..].iter().map(|p| p.message.attachments[0].kind).collect();
    assert_eq!(kinds, [MediaKind::Voice, MediaKind::Video, MediaKind::Photo]);
}

#[test]
fn the_photo_sample_event_parses_into_one_attachment() {
    let path = format!("{}/../../events/webhook-whatsapp-photo.json", env!("CARGO_MANIFEST_DIR"));
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in sample["headers"].as_object().unwrap() {
        headers.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    let body = sample["body"].as_str().unwrap().as_bytes();
    assert_eq!(Whatsapp.verify(&secrets(), &post(&headers, body)), Ok(()));
    let parsed = messages(Whatsapp.parse(&secrets(), &post(&headers, body)).unwrap());
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].message.attachments.len(), 1);
    assert_eq!(parsed[0].message.attachments[0].kind, crate::domain::media::MediaKind::Photo);
}

#[tokio::test]
async fn download_resolves_the_media_id_then_fetches_with_the_token() {
    use crate::channels::DownloadError;
    use crate::domain::media::MediaSource;
    let server = MockServer::start().await;
    let base = format!("{}/v21.0", server.uri());
    let media_url = format!("{}/whatsapp/_media/1001?mid=1001&ext=1", server.uri());
    Mock::given(method("GET"))
        .and(path("/v21.0/1001"))
        .and(header("authorization", "Bearer EAAtest"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "url": media_url, "mime_type": "image/png",
            "sha256": "x", "file_size": PNG.len(), "id": "1001"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/whatsapp/_media/1001"))
        .and(header("authorization", "Bearer EAAtest"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(PNG.to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/666"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"url": "https://evil.example/x.png", "id": "666"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "gone", "code": 100}})))
        .mount(&server)
        .await;
    let (http, s, t) = (reqwest::Client::new(), secrets(), TtlCache::new(Duration::from_secs(60), 10));
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    let media = |id: &str| MediaSource::WhatsappMedia { media_id: id.into() };
    assert_eq!(Whatsapp.download(&ctx, &media("1001"), 1000).await, Ok(PNG.to_vec()));
    // The declared size over the limit is refused before the file is fetched.
    assert_eq!(
        Whatsapp.download(&ctx, &media("1001"), 4).await,
        Err(DownloadError::TooLarge { size: Some(PNG.len() as u64), limit: 4 })
    );
    // The token goes to Meta's media host (or the API's) only.
    assert!(matches!(Whatsapp.download(&ctx, &media("666"), 1000).await, Err(DownloadError::Permanent(_))));
    assert!(matches!(Whatsapp.download(&ctx, &media("404"), 1000).await, Err(DownloadError::Permanent(_))));
    assert!(matches!(Whatsapp.download(&ctx, &media("../me"), 1000).await, Err(DownloadError::Permanent(_))));
    let feishu =
        MediaSource::FeishuResource { message_id: "om".into(), file_key: "k".into(), resource_type: "file".into() };
    assert!(matches!(Whatsapp.download(&ctx, &feishu, 1000).await, Err(DownloadError::Permanent(_))));
}

#[tokio::test]
async fn send_file_uploads_the_media_then_sends_a_message_naming_it() {
    use crate::domain::media::{FileUpload, sniff};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/106540352242922/media"))
        .and(header("authorization", "Bearer EAAtest"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "2001"})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/106540352242922/messages"))
        .and(header("authorization", "Bearer EAAtest"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.file"}]})))
        .expect(2)
        .mount(&server)
        .await;
    let (http, s, t) = (reqwest::Client::new(), secrets(), TtlCache::new(Duration::from_secs(60), 10));
    let base = format!("{}/v21.0", server.uri());
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    let png = sniff(PNG);
    let photo = FileUpload { name: "chart.png", bytes: PNG, sniffed: &png, caption: Some("the chart") };
    assert_eq!(Whatsapp.send_file(&ctx, &route(Some("wamid.in")), &photo).await, Ok("wamid.file".into()));
    let pdf = sniff(PDF);
    let document = FileUpload { name: "report.pdf", bytes: PDF, sniffed: &pdf, caption: None };
    assert_eq!(Whatsapp.send_file(&ctx, &route(None), &document).await, Ok("wamid.file".into()));
    let requests = server.received_requests().await.unwrap();
    let upload = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(upload.contains("name=\"messaging_product\"\r\n\r\nwhatsapp"), "{upload}");
    assert!(upload.contains("name=\"type\"\r\n\r\nimage/png"), "{upload}");
    assert!(upload.contains("name=\"file\"; filename=\"chart.png\""), "{upload}");
    let message: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        message,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
               "type": "image", "image": {"id": "2001", "caption": "the chart"},
               "context": {"message_id": "wamid.in"}})
    );
    let message: Value = serde_json::from_slice(&requests[3].body).unwrap();
    assert_eq!(
        message,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
               "type": "document", "document": {"id": "2001", "filename": "report.pdf"}})
    );
    assert_eq!(Whatsapp.max_upload_bytes(), 16 * 1024 * 1024);
}
