use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::crypto::Encrypted;
use super::send::{RATE_LIMIT_RESET_HEADER, token_cache_key};
use super::*;
use crate::cache::TtlCache;
use crate::channels::ParsedMessage;
use crate::domain::secrets::Secret;

const KEY: &str = "test-feishu-encrypt-key-not-for-production";
const TOKEN: &str = "test-feishu-verification-token";

fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
    ChannelSecrets(pairs.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
}

fn full() -> ChannelSecrets {
    secrets(&[
        ("app_id", "cli_a1b2c3d4e5f6"),
        ("app_secret", "app-secret"),
        ("encrypt_key", KEY),
        ("verification_token", TOKEN),
    ])
}

/// The tests' clock: the Unix second their requests arrive at (the sample event's time).
const NOW: i64 = 1_763_740_800;

fn signed_headers(body: &[u8], key: &str) -> http::HeaderMap {
    signed_at(NOW, body, key)
}

fn signed_at(timestamp: i64, body: &[u8], key: &str) -> http::HeaderMap {
    let timestamp = timestamp.to_string();
    let mut h = http::HeaderMap::new();
    h.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
    h.insert(NONCE_HEADER, "nonce-123".parse().unwrap());
    h.insert(SIGNATURE_HEADER, signature(&timestamp, "nonce-123", key, body).parse().unwrap());
    h
}

fn input<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> WebhookInput<'a> {
    WebhookInput { method: "POST", headers, query: "", body, now_secs: NOW }
}

fn event(sender_type: &str, chat_type: &str, text: &str, mentions: Value) -> Value {
    json!({
        "schema": "2.0",
        "header": {
            "event_id": "5e3702a84e847582be8db7fb73283c02",
            "event_type": "im.message.receive_v1",
            "create_time": "1763740800000",
            "token": TOKEN,
            "app_id": "cli_a1b2c3d4e5f6",
            "tenant_key": "736588c9260f175e"
        },
        "event": {
            "sender": {
                "sender_id": {"union_id": "on_8ed6aa67826108097d9ee143816345", "user_id": "e33ggbyz", "open_id": "ou_84aad35d084aa403a838cf73ee18467"},
                "sender_type": sender_type,
                "tenant_key": "736588c9260f175e"
            },
            "message": {
                "message_id": "om_5ce6d572455d361153b7cb51da133945",
                "root_id": "",
                "parent_id": "",
                "create_time": "1763740800123",
                "chat_id": "oc_5ce6d572455d361153b7xx51da133945",
                "chat_type": chat_type,
                "message_type": "text",
                "content": json!({"text": text}).to_string(),
                "mentions": mentions
            }
        }
    })
}

fn encrypted_body(key: &str, plain: &Value) -> Vec<u8> {
    json!({ "encrypt": encrypt(key, rand::random(), plain.to_string().as_bytes()) }).to_string().into_bytes()
}

fn only(inbound: Inbound) -> ParsedMessage {
    match inbound {
        Inbound::Deliveries { mut messages, .. } if messages.len() == 1 => messages.remove(0),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn none(inbound: Inbound) {
    assert!(
        matches!(&inbound, Inbound::Deliveries { messages, ack } if messages.is_empty() && ack.status == 200),
        "{inbound:?}"
    );
}

#[test]
fn decrypts_the_documented_sample() {
    // Feishu's documented vector (also in its SDKs' tests): key "test key" → "hello world".
    let plain = decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").unwrap();
    assert_eq!(plain, b"hello world");
    assert!(decrypt("test key2", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").is_err_and(|e| e.contains("key")));
    assert!(decrypt("test key", "AAAA").is_err());
    assert!(decrypt("test key", "not base64!").is_err());
}

#[test]
fn signature_is_sha256_of_timestamp_nonce_key_and_body() {
    // printf '%s' '1700000000noncekey{"a":1}' | sha256sum
    assert_eq!(
        signature("1700000000", "nonce", "key", b"{\"a\":1}"),
        "b278f92d6176701d627287d13eed6fe41c7f48c298a8ae48190a405f29caf929"
    );
    assert_ne!(
        signature("1700000000", "nonce", "key", b"{\"a\":2}"),
        signature("1700000000", "nonce", "key", b"{\"a\":1}")
    );
}

#[test]
fn encryption_round_trips_the_sample_event() {
    let plain = event("user", "p2p", "hello bot", json!([]));
    let body = encrypted_body(KEY, &plain);
    let Encrypted { encrypt: enc } = serde_json::from_slice(&body).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&decrypt(KEY, &enc).unwrap()).unwrap(), plain);
    // A fixed IV gives a fixed ciphertext; another IV another one.
    assert_eq!(encrypt(KEY, [7; 16], b"x"), encrypt(KEY, [7; 16], b"x"));
    assert_ne!(encrypt(KEY, [7; 16], b"x"), encrypt(KEY, [8; 16], b"x"));
}

#[test]
fn verify_checks_the_signature_on_the_raw_body() {
    let plain = event("user", "p2p", "hello bot", json!([]));
    let body = encrypted_body(KEY, &plain);
    let headers = signed_headers(&body, KEY);
    assert_eq!(Feishu.verify(&full(), &input(&headers, &body)), Ok(()));

    // Upper-case hex is the same signature.
    let mut upper = headers.clone();
    let sig = headers.get(SIGNATURE_HEADER).unwrap().to_str().unwrap().to_ascii_uppercase();
    upper.insert(SIGNATURE_HEADER, sig.parse().unwrap());
    assert_eq!(Feishu.verify(&full(), &input(&upper, &body)), Ok(()));

    // Tampered body, wrong key, another nonce.
    let mut tampered = body.clone();
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    assert_eq!(Feishu.verify(&full(), &input(&headers, &tampered)), Err(VerifyError::Mismatch));
    let wrong_key = signed_headers(&body, "another-key");
    assert_eq!(Feishu.verify(&full(), &input(&wrong_key, &body)), Err(VerifyError::Mismatch));
    let mut other_nonce = headers.clone();
    other_nonce.insert(NONCE_HEADER, "nonce-124".parse().unwrap());
    assert_eq!(Feishu.verify(&full(), &input(&other_nonce, &body)), Err(VerifyError::Mismatch));

    // Missing headers.
    for name in [SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER] {
        let mut h = headers.clone();
        h.remove(name);
        assert_eq!(Feishu.verify(&full(), &input(&h, &body)), Err(VerifyError::Missing(name)), "{name}");
    }
    // Only POST.
    let get = WebhookInput { method: "GET", ..input(&headers, &body) };
    assert_eq!(Feishu.verify(&full(), &get), Err(VerifyError::Missing("POST")));
}

#[test]
fn signed_callbacks_more_than_five_minutes_from_now_are_refused() {
    let body = encrypted_body(KEY, &event("user", "p2p", "hello bot", json!([])));
    for (ts, expected) in [
        (NOW - 300, Ok(())),
        (NOW + 300, Ok(())),
        (NOW - 301, Err(VerifyError::Stale)),
        (NOW + 301, Err(VerifyError::Stale)),
        (NOW - 3600, Err(VerifyError::Stale)),
    ] {
        assert_eq!(Feishu.verify(&full(), &input(&signed_at(ts, &body, KEY), &body)), expected, "signed at {ts}");
    }
    // A correctly signed timestamp that is not a number is no time at all.
    let mut junk = http::HeaderMap::new();
    junk.insert(TIMESTAMP_HEADER, "soon".parse().unwrap());
    junk.insert(NONCE_HEADER, "n".parse().unwrap());
    junk.insert(SIGNATURE_HEADER, signature("soon", "n", KEY, &body).parse().unwrap());
    assert_eq!(Feishu.verify(&full(), &input(&junk, &body)), Err(VerifyError::Stale));
    // A stale request signed with another key is a bad signature.
    let forged = signed_at(NOW - 3600, &body, "another-key");
    assert_eq!(Feishu.verify(&full(), &input(&forged, &body)), Err(VerifyError::Mismatch));
}

#[test]
fn token_only_events_more_than_five_minutes_old_are_refused() {
    let token_only = secrets(&[("app_id", "cli_a1"), ("app_secret", "s"), ("verification_token", TOKEN)]);
    let headers = http::HeaderMap::new();
    let created_at = |ms: Value| {
        let mut e = event("user", "p2p", "hi", json!([]));
        e["header"]["create_time"] = ms;
        e.to_string().into_bytes()
    };
    let now_ms = NOW * 1000;
    for (ms, fresh) in [
        (json!((now_ms - 300_000).to_string()), true),
        (json!(now_ms + 300_000), true),
        (json!((now_ms - 301_000).to_string()), false),
        (json!(now_ms + 301_000), false),
        (json!("1700000000000"), false),
    ] {
        let body = created_at(ms.clone());
        assert_eq!(Feishu.verify(&token_only, &input(&headers, &body)), Ok(()), "verify leaves it to parse");
        let parsed = Feishu.parse(&token_only, &input(&headers, &body));
        if fresh {
            assert_eq!(only(parsed.unwrap()).message.text, "hi", "created at {ms}");
        } else {
            assert_eq!(parsed, Err(ParseError::Unauthorized(VerifyError::Stale)), "created at {ms}");
        }
    }
    let mut no_time = event("user", "p2p", "hi", json!([]));
    no_time["header"].as_object_mut().unwrap().remove("create_time");
    assert_eq!(
        Feishu.parse(&token_only, &input(&headers, no_time.to_string().as_bytes())),
        Err(ParseError::Unauthorized(VerifyError::Missing("header.create_time")))
    );
    // Another event type is refused for its age too, before it would be ignored.
    let mut read = event("user", "p2p", "x", json!([]));
    read["header"]["event_type"] = json!("im.message.message_read_v1");
    read["header"]["create_time"] = json!("1700000000000");
    assert_eq!(
        Feishu.parse(&token_only, &input(&headers, read.to_string().as_bytes())),
        Err(ParseError::Unauthorized(VerifyError::Stale))
    );
    // The challenge carries no time and is still answered.
    let challenge = json!({"challenge": "c", "token": TOKEN, "type": "url_verification"}).to_string();
    assert!(matches!(Feishu.parse(&token_only, &input(&headers, challenge.as_bytes())), Ok(Inbound::Answer(_))));
    // With an encrypt_key the signature's timestamp is what counts, not the event's time.
    let old = created_at(json!("1700000000000"));
    assert_eq!(only(Feishu.parse(&full(), &input(&signed_headers(&old, KEY), &old)).unwrap()).message.text, "hi");
}

#[test]
fn verify_fails_closed_without_a_key_or_token() {
    let body = br#"{"challenge":"c","token":"t","type":"url_verification"}"#;
    let headers = http::HeaderMap::new();
    let bare = secrets(&[("app_id", "cli_a1"), ("app_secret", "s")]);
    assert_eq!(
        Feishu.verify(&bare, &input(&headers, body)),
        Err(VerifyError::NotConfigured("encrypt_key or verification_token"))
    );
    // Empty values count as missing.
    let empty = secrets(&[("app_id", "cli_a1"), ("app_secret", "s"), ("encrypt_key", ""), ("verification_token", "")]);
    assert!(matches!(Feishu.verify(&empty, &input(&headers, body)), Err(VerifyError::NotConfigured(_))));
    assert!(Feishu.validate_settings(&bare).is_err());
}

#[test]
fn unsigned_challenge_passes_only_when_encrypted_with_the_key() {
    let challenge = json!({"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"});
    let no_headers = http::HeaderMap::new();
    let body = encrypted_body(KEY, &challenge);
    assert_eq!(Feishu.verify(&full(), &input(&no_headers, &body)), Ok(()));
    match Feishu.parse(&full(), &input(&no_headers, &body)).unwrap() {
        Inbound::Answer(answer) => {
            assert_eq!(answer.status, 200);
            assert_eq!(serde_json::from_slice::<Value>(&answer.body).unwrap(), json!({"challenge": "ajls384kdjx98XX"}));
        }
        other => panic!("expected the challenge answer, got {other:?}"),
    }
    // Encrypted with another key, in plain text, or an unsigned event: refused.
    let other = encrypted_body("another-key", &challenge);
    assert_eq!(Feishu.verify(&full(), &input(&no_headers, &other)), Err(VerifyError::Missing(SIGNATURE_HEADER)));
    let plain = challenge.to_string().into_bytes();
    assert_eq!(Feishu.verify(&full(), &input(&no_headers, &plain)), Err(VerifyError::Missing(SIGNATURE_HEADER)));
    let unsigned_event = encrypted_body(KEY, &event("user", "p2p", "hi", json!([])));
    assert_eq!(
        Feishu.verify(&full(), &input(&no_headers, &unsigned_event)),
        Err(VerifyError::Missing(SIGNATURE_HEADER))
    );
    // The right key but a wrong token: verify lets it through to parse, which refuses it.
    let wrong_token = encrypted_body(KEY, &json!({"challenge": "c", "token": "nope", "type": "url_verification"}));
    assert_eq!(Feishu.verify(&full(), &input(&no_headers, &wrong_token)), Ok(()));
    assert_eq!(
        Feishu.parse(&full(), &input(&no_headers, &wrong_token)),
        Err(ParseError::Unauthorized(VerifyError::Mismatch))
    );
}

#[test]
fn token_only_configuration_checks_the_token_in_parse() {
    let token_only = secrets(&[("app_id", "cli_a1"), ("app_secret", "s"), ("verification_token", TOKEN)]);
    let headers = http::HeaderMap::new();
    let good = event("user", "p2p", "hi", json!([])).to_string().into_bytes();
    assert_eq!(Feishu.verify(&token_only, &input(&headers, &good)), Ok(()));
    assert_eq!(only(Feishu.parse(&token_only, &input(&headers, &good)).unwrap()).message.text, "hi");

    let mut wrong = event("user", "p2p", "hi", json!([]));
    wrong["header"]["token"] = json!("wrong-token");
    let wrong = wrong.to_string().into_bytes();
    assert_eq!(
        Feishu.parse(&token_only, &input(&headers, &wrong)),
        Err(ParseError::Unauthorized(VerifyError::Mismatch))
    );
    let mut missing = event("user", "p2p", "hi", json!([]));
    missing["header"].as_object_mut().unwrap().remove("token");
    let missing = missing.to_string().into_bytes();
    assert_eq!(
        Feishu.parse(&token_only, &input(&headers, &missing)),
        Err(ParseError::Unauthorized(VerifyError::Missing("token")))
    );
    let challenge = br#"{"challenge":"c","token":"wrong","type":"url_verification"}"#;
    assert_eq!(
        Feishu.parse(&token_only, &input(&headers, challenge)),
        Err(ParseError::Unauthorized(VerifyError::Mismatch))
    );
    // An encrypted body cannot be read (or its token checked) without the key.
    let encrypted = encrypted_body(KEY, &event("user", "p2p", "hi", json!([])));
    assert_eq!(
        Feishu.parse(&token_only, &input(&headers, &encrypted)),
        Err(ParseError::Unauthorized(VerifyError::NotConfigured("encrypt_key")))
    );
}

#[test]
fn parses_a_direct_text_message() {
    let body = encrypted_body(KEY, &event("user", "p2p", "hello bot", json!([])));
    let headers = signed_headers(&body, KEY);
    let parsed = only(Feishu.parse(&full(), &input(&headers, &body)).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "oc_5ce6d572455d361153b7xx51da133945");
    assert_eq!(parsed.message.message_id.as_str(), "5e3702a84e847582be8db7fb73283c02");
    assert_eq!(parsed.message.sent_at_ms, 1_763_740_800_123);
    assert_eq!(parsed.message.sender.id, "ou_84aad35d084aa403a838cf73ee18467");
    assert_eq!(parsed.message.text, "hello bot");
    assert!(parsed.message.is_direct);
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Feishu {
            chat_id: "oc_5ce6d572455d361153b7xx51da133945".into(),
            reply_to_message_id: Some("om_5ce6d572455d361153b7cb51da133945".into()),
            thread_root_id: None,
        }
    );
}

#[test]
fn group_mentions_become_names_and_address_the_bot() {
    let mentions = json!([
        {"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "Helper", "tenant_key": "t"},
        {"key": "@_user_10", "id": {"open_id": "ou_ten"}, "name": "Tenth", "tenant_key": "t"}
    ]);
    let plain = event("user", "group", "@_user_1 ask @_user_10 please", mentions.clone());
    let body = plain.to_string().into_bytes();
    let headers = signed_headers(&body, KEY);
    let parsed = only(Feishu.parse(&full(), &input(&headers, &body)).unwrap());
    assert_eq!(parsed.message.text, "@Helper ask @Tenth please");
    assert!(!parsed.message.is_direct);
    assert!(parsed.mentions_bot, "without bot_open_id any mention in a group counts");

    let mut with_bot = full();
    with_bot.0.insert("bot_open_id".into(), Secret::new("ou_bot"));
    assert!(only(Feishu.parse(&with_bot, &input(&headers, &body)).unwrap()).mentions_bot);
    with_bot.0.insert("bot_open_id".into(), Secret::new("ou_someone_else"));
    assert!(!only(Feishu.parse(&with_bot, &input(&headers, &body)).unwrap()).mentions_bot);

    let plain = event("user", "group", "just chatting", json!([])).to_string().into_bytes();
    assert!(!only(Feishu.parse(&full(), &input(&headers, &plain)).unwrap()).mentions_bot);
}

/// Found with the fuzz target `webhook_feishu`: names that hold other mentions' placeholders
/// were replaced again and again, doubling the text per mention, until the webhook ran out of
/// memory. A name goes in once, as it is.
#[test]
fn mention_names_are_put_in_once_however_they_read() {
    let chained: Vec<Value> = (1..=9)
        .map(|k| json!({"key": format!("@_user_{k}"), "id": {"open_id": format!("ou_{k}")}, "name": format!("@_user_{}", k + 1).repeat(7)}))
        .collect();
    let headers = http::HeaderMap::new();
    let body = event("user", "group", &"@_user_1 ".repeat(50), Value::Array(chained)).to_string().into_bytes();
    let parsed = only(Feishu.parse(&full(), &input(&headers, &body)).unwrap());
    assert_eq!(parsed.message.text, format!("@{} ", "@_user_2".repeat(7)).repeat(50));

    let swapped = json!([
        {"key": "@_user_1", "name": "@_user_2"},
        {"key": "@_user_2", "name": "Bob"}
    ]);
    let body = event("user", "group", "@_user_1 and @_user_2", swapped).to_string().into_bytes();
    let parsed = only(Feishu.parse(&full(), &input(&headers, &body)).unwrap());
    assert_eq!(parsed.message.text, "@@_user_2 and @Bob");

    // However many placeholders a long name fills, the names stop at the cap (256 KiB) and the
    // placeholders after it stay as they are.
    let long = json!([{"key": "@_user_1", "name": "n".repeat(1000)}]);
    let body = event("user", "group", &"@_user_1".repeat(1000), long).to_string().into_bytes();
    let text = only(Feishu.parse(&full(), &input(&headers, &body)).unwrap()).message.text;
    assert!(text.len() <= 256 * 1024 + "@_user_1".repeat(1000).len(), "{}", text.len());
    assert!(text.starts_with(&format!("@{}", "n".repeat(1000))) && text.ends_with("@_user_1"));
}

#[test]
fn ignores_apps_other_types_and_other_events() {
    let headers = http::HeaderMap::new();
    // Loop guard: the bot's own (and other apps') messages.
    let from_app = event("app", "group", "I am a bot", json!([])).to_string().into_bytes();
    none(Feishu.parse(&full(), &input(&headers, &from_app)).unwrap());
    let mut sticker = event("user", "p2p", "x", json!([]));
    sticker["event"]["message"]["message_type"] = json!("sticker");
    sticker["event"]["message"]["content"] = json!("{\"file_key\":\"v2_x\"}");
    none(Feishu.parse(&full(), &input(&headers, sticker.to_string().as_bytes())).unwrap());
    // A file message whose content names no file.
    let mut keyless = event("user", "p2p", "x", json!([]));
    keyless["event"]["message"]["message_type"] = json!("image");
    keyless["event"]["message"]["content"] = json!("{}");
    none(Feishu.parse(&full(), &input(&headers, keyless.to_string().as_bytes())).unwrap());
    let mut read = event("user", "p2p", "x", json!([]));
    read["header"]["event_type"] = json!("im.message.message_read_v1");
    none(Feishu.parse(&full(), &input(&headers, read.to_string().as_bytes())).unwrap());

    assert!(matches!(Feishu.parse(&full(), &input(&headers, b"{nope")), Err(ParseError::Json(_))));
    let garbage = br#"{"encrypt":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
    assert!(matches!(Feishu.parse(&full(), &input(&headers, garbage)), Err(ParseError::Invalid(_))));
    let mut bad_content = event("user", "p2p", "x", json!([]));
    bad_content["event"]["message"]["content"] = json!("not json");
    assert!(matches!(
        Feishu.parse(&full(), &input(&headers, bad_content.to_string().as_bytes())),
        Err(ParseError::Invalid(_))
    ));
}

#[test]
fn settings_are_validated() {
    assert_eq!(Feishu.validate_settings(&full()), Ok(()));
    let key_only = secrets(&[("app_id", "cli_a1b2"), ("app_secret", "s"), ("encrypt_key", "k")]);
    assert_eq!(Feishu.validate_settings(&key_only), Ok(()));
    let bad_id = secrets(&[("app_id", "a1b2"), ("app_secret", "s"), ("encrypt_key", "k")]);
    assert!(Feishu.validate_settings(&bad_id).is_err());
    let bad_open_id = secrets(&[("app_id", "cli_a1"), ("app_secret", "s"), ("encrypt_key", "k"), ("bot_open_id", "x")]);
    assert!(Feishu.validate_settings(&bad_open_id).is_err());
}

#[test]
fn the_sample_event_verifies_with_the_documented_test_key() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/webhook-feishu.json");
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in event["headers"].as_object().unwrap() {
        headers.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    let body = event["body"].as_str().unwrap().as_bytes();
    let documented = secrets(&[("app_id", "cli_a1b2c3d4e5f6a7b8"), ("app_secret", "s"), ("encrypt_key", KEY)]);
    assert_eq!(Feishu.verify(&documented, &input(&headers, body)), Ok(()));
    let parsed = only(Feishu.parse(&documented, &input(&headers, body)).unwrap());
    assert_eq!(parsed.message.text, "hello bot");
}

fn route() -> ReplyRoute {
    ReplyRoute::Feishu { chat_id: "oc_chat".into(), reply_to_message_id: Some("om_msg".into()), thread_root_id: None }
}

async fn mount_token(server: &MockServer, token: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .and(body_json(json!({"app_id": "cli_a1b2c3d4e5f6", "app_secret": "app-secret"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})),
        )
        .up_to_n_times(times)
        .mount(server)
        .await;
}

fn ok_reply(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "msg": "success", "data": {"message_id": id}}))
}

async fn send(server: &MockServer, tokens: &TtlCache<String, String>, route: &ReplyRoute) -> Result<String, SendError> {
    let http = reqwest::Client::new();
    let secrets = full();
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens, send_key: None };
    Feishu.send(&ctx, route, "hi \"there\"", &[]).await
}

fn token_requests(requests: &[wiremock::Request]) -> usize {
    requests.iter().filter(|r| r.url.path().ends_with("/tenant_access_token/internal")).count()
}

#[tokio::test]
async fn sends_replies_and_caches_the_token() {
    let server = MockServer::start().await;
    mount_token(&server, "t-first", 1).await;
    mount_token(&server, "t-second", 1).await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_msg/reply"))
        .and(header("authorization", "Bearer t-first"))
        .and(body_json(json!({"msg_type": "text", "content": "{\"text\":\"hi \\\"there\\\"\"}"})))
        .respond_with(ok_reply("om_sent"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages"))
        .and(query_param("receive_id_type", "chat_id"))
        .and(header("authorization", "Bearer t-first"))
        .and(body_json(
            json!({"receive_id": "oc_chat", "msg_type": "text", "content": "{\"text\":\"hi \\\"there\\\"\"}"}),
        ))
        .respond_with(ok_reply("om_new"))
        .mount(&server)
        .await;
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    assert_eq!(send(&server, &tokens, &route()).await, Ok("om_sent".into()));
    let plain = ReplyRoute::Feishu { chat_id: "oc_chat".into(), reply_to_message_id: None, thread_root_id: None };
    assert_eq!(send(&server, &tokens, &plain).await, Ok("om_new".into()));
    assert_eq!(token_requests(&server.received_requests().await.unwrap()), 1, "two sends, one token");
}

#[tokio::test]
async fn refreshes_an_expired_token_once() {
    let server = MockServer::start().await;
    mount_token(&server, "t-new", 5).await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_msg/reply"))
        .and(header("authorization", "Bearer t-stale"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"code": 99991663, "msg": "Invalid access token for authorization"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_msg/reply"))
        .and(header("authorization", "Bearer t-new"))
        .respond_with(ok_reply("om_after_refresh"))
        .mount(&server)
        .await;
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    tokens.insert(token_cache_key("cli_a1b2c3d4e5f6", "app-secret"), "t-stale".into());
    assert_eq!(send(&server, &tokens, &route()).await, Ok("om_after_refresh".into()));
    assert_eq!(token_requests(&server.received_requests().await.unwrap()), 1);
    assert_eq!(tokens.get(&token_cache_key("cli_a1b2c3d4e5f6", "app-secret")), Some("t-new".into()));

    // A token refused even when fresh: no loop, a temporary failure.
    let server = MockServer::start().await;
    mount_token(&server, "t-new", 5).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"code": 99991668, "msg": "Invalid token"})))
        .mount(&server)
        .await;
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    assert!(matches!(send(&server, &tokens, &route()).await, Err(SendError::Temporary(_))));
    assert_eq!(token_requests(&server.received_requests().await.unwrap()), 2);
}

#[tokio::test]
async fn maps_send_errors() {
    type Case = (ResponseTemplate, fn(&SendError) -> bool);
    let cases: Vec<Case> = vec![
        (
            ResponseTemplate::new(400)
                .insert_header(RATE_LIMIT_RESET_HEADER, "3")
                .set_body_json(json!({"code": 99991400, "msg": "request trigger frequency limit"})),
            |e| *e == SendError::RateLimited { retry_after: Duration::from_secs(3) },
        ),
        (ResponseTemplate::new(429).set_body_string("slow down"), |e| {
            *e == SendError::RateLimited { retry_after: Duration::from_secs(1) }
        }),
        (ResponseTemplate::new(503).set_body_string("unavailable"), |e| matches!(e, SendError::Temporary(_))),
        (ResponseTemplate::new(500).set_body_json(json!({"code": 1500, "msg": "internal"})), |e| {
            matches!(e, SendError::Temporary(_))
        }),
        (
            ResponseTemplate::new(400)
                .set_body_json(json!({"code": 230002, "msg": "Bot/User can NOT be out of the chat."})),
            |e| matches!(e, SendError::Permanent(m) if m.contains("230002")),
        ),
        (ResponseTemplate::new(404).set_body_string("<html>"), |e| matches!(e, SendError::Permanent(_))),
    ];
    for (i, (response, expected)) in cases.into_iter().enumerate() {
        let server = MockServer::start().await;
        mount_token(&server, "t-ok", 1).await;
        Mock::given(method("POST"))
            .and(path("/open-apis/im/v1/messages/om_msg/reply"))
            .respond_with(response)
            .mount(&server)
            .await;
        let tokens = TtlCache::new(Duration::from_secs(1800), 10);
        let result = send(&server, &tokens, &route()).await;
        assert!(result.as_ref().is_err_and(expected), "case {i}: {result:?}");
    }
    // Bad app credentials are permanent; a rate-limited token request is a rate limit.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"code": 10014, "msg": "app secret invalid"})))
        .mount(&server)
        .await;
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    assert!(matches!(send(&server, &tokens, &route()).await, Err(SendError::Permanent(_))));
    // A message id that would change the URL is refused before any request.
    let odd = ReplyRoute::Feishu {
        chat_id: "oc_chat".into(),
        reply_to_message_id: Some("../x".into()),
        thread_root_id: None,
    };
    assert!(matches!(send(&server, &tokens, &odd).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn the_token_cache_is_per_app_secret() {
    let server = MockServer::start().await;
    mount_token(&server, "t-ok", 1).await;
    Mock::given(method("POST")).respond_with(ok_reply("om_x")).mount(&server).await;
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    // Someone else's bot with the same app_id but a wrong secret finds nothing in the cache.
    tokens.insert(token_cache_key("cli_a1b2c3d4e5f6", "the-real-secret"), "t-victim".into());
    assert_eq!(send(&server, &tokens, &route()).await, Ok("om_x".into()));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(token_requests(&requests), 1);
    assert!(requests.iter().all(|r| r.headers.get("authorization").is_none_or(|v| v != "Bearer t-victim")));
}

#[test]
fn neutralise_stops_mentions_and_disguised_links() {
    const Z: &str = "\u{200B}";
    let cases = [
        (r#"<at user_id="all">所有人</at> 开会"#.to_owned(), format!(r#"<{Z}at user_id="all">所有人<{Z}/at> 开会"#)),
        (r#"<at user_id="all"></at>"#.to_owned(), format!(r#"<{Z}at user_id="all"><{Z}/at>"#)),
        (
            r#"hi <at user_id="ou_84aad35d">Tom</at>"#.to_owned(),
            format!(r#"hi <{Z}at user_id="ou_84aad35d">Tom<{Z}/at>"#),
        ),
        ("<at open_id=ou_1>x</at>".to_owned(), format!("<{Z}at open_id=ou_1>x<{Z}/at>")),
        // Any case, any spacing.
        (r#"< AT user_id="all">< / at>"#.to_owned(), format!(r#"<{Z} AT user_id="all"><{Z} / at>"#)),
        ("<At\tid=all>".to_owned(), format!("<{Z}At\tid=all>")),
        // The mention placeholders.
        ("@_all and @_user_1, @_USER_12".to_owned(), format!("@{Z}_all and @{Z}_user_1, @{Z}_USER_12")),
        // A hyperlink whose text is another address reads as text and target.
        (
            "[https://open.feishu.cn](https://evil.example)".to_owned(),
            "https://open.feishu.cn (https://evil.example)".to_owned(),
        ),
        // Ordinary text, and tags that only style, are unchanged.
        ("Use <b> tags".to_owned(), "Use <b> tags".to_owned()),
        ("a < b && c > d".to_owned(), "a < b && c > d".to_owned()),
        (
            "<b>bold</b> <attr> <atom/> <a href=x> mail@_x".to_owned(),
            "<b>bold</b> <attr> <atom/> <a href=x> mail@_x".to_owned(),
        ),
        (
            "[https://open.feishu.cn](https://open.feishu.cn)".to_owned(),
            "[https://open.feishu.cn](https://open.feishu.cn)".to_owned(),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(neutralise(&input), expected, "{input}");
        assert_eq!(Feishu.neutralise(&input), expected, "the channel's step is this one");
    }
    // Shown without the invisible spaces, the text is what the agent wrote.
    let input = r#"<at user_id="all">所有人</at> @_all"#;
    assert_eq!(neutralise(input).replace(Z, ""), input);
}

#[tokio::test]
async fn sends_the_neutralised_text_as_it_is() {
    let server = MockServer::start().await;
    mount_token(&server, "t-ok", 1).await;
    let text = r#"<at user_id="all">所有人</at> sign in at [https://open.feishu.cn](https://evil.example)"#;
    let shown =
        "<\u{200B}at user_id=\"all\">所有人<\u{200B}/at> sign in at https://open.feishu.cn (https://evil.example)";
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_msg/reply"))
        .and(body_json(json!({"msg_type": "text", "content": json!({ "text": shown }).to_string()})))
        .respond_with(ok_reply("om_sent"))
        .expect(1)
        .mount(&server)
        .await;
    let (http, secrets) = (reqwest::Client::new(), full());
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens: &tokens, send_key: None };
    assert_eq!(Feishu.send(&ctx, &route(), &Feishu.neutralise(text), &[]).await, Ok("om_sent".into()));
    let sent = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
    assert_eq!(
        body,
        json!({"msg_type": "text", "content": format!("{{\"text\":{}}}", serde_json::to_string(shown).unwrap())})
    );
}

#[test]
fn long_answers_split_within_the_request_limit() {
    // The reply flow splits with text_limit(); every piece, JSON-encoded twice as sent, must
    // stay under Feishu's 150 KB request limit, even with many newlines and quotes.
    let line = "a line with \"quotes\" and more words to fill it up\n";
    let text = line.repeat(6000);
    let pieces = crate::domain::text::split_message(&text, Feishu.text_limit());
    assert!(pieces.len() >= 3, "{}", pieces.len());
    for piece in &pieces {
        let content = json!({ "text": piece }).to_string();
        let body = json!({ "msg_type": "text", "content": content }).to_string();
        assert!(body.len() <= 150 * 1000, "{} bytes", body.len());
    }
    assert_eq!(pieces.join("\n"), text.trim_end());
}

#[tokio::test]
async fn a_send_key_goes_out_as_the_same_uuid_on_every_attempt() {
    let server = MockServer::start().await;
    mount_token(&server, "t-first", 1).await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_msg/reply"))
        .respond_with(ok_reply("om_sent"))
        .mount(&server)
        .await;
    let http = reqwest::Client::new();
    let secrets = full();
    let base = server.uri();
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    for key in ["om_msg#r001#p0", "om_msg#r001#p0", "om_msg#r001#p1"] {
        let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens: &tokens, send_key: Some(key) };
        assert_eq!(Feishu.send(&ctx, &route(), "piece", &[]).await, Ok("om_sent".into()));
    }
    let uuids: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/reply"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(uuids.len(), 3);
    assert_eq!(uuids[0], uuids[1], "a retry of one piece carries its uuid again");
    assert_ne!(uuids[0], uuids[2], "another piece has its own");
    assert!(uuids.iter().all(|u| u.len() == 32 && u.bytes().all(|b| b.is_ascii_hexdigit())), "{uuids:?}");
}

/// A message as Feishu sends it from a thread (话题): its thread id, and the thread's root.
fn thread_event(message_id: &str, root_id: &str, thread_id: &str) -> Value {
    let mut event = event("user", "group", "@_user_1 hi", json!([]));
    event["event"]["message"]["message_id"] = json!(message_id);
    event["event"]["message"]["root_id"] = json!(root_id);
    event["event"]["message"]["parent_id"] = json!(root_id);
    event["event"]["message"]["thread_id"] = json!(thread_id);
    event
}

fn parsed(event: &Value) -> ParsedMessage {
    let body = encrypted_body(KEY, event);
    let headers = signed_headers(&body, KEY);
    only(Feishu.parse(&full(), &input(&headers, &body)).unwrap())
}

#[test]
fn a_thread_is_a_conversation_of_its_own_named_by_its_root() {
    const CHAT: &str = "oc_5ce6d572455d361153b7xx51da133945";
    let reply = parsed(&thread_event("om_reply2", "om_root", "omt_1a2b3c"));
    assert_eq!(reply.conversation_id.as_str(), format!("{CHAT}:om_root"));
    assert_eq!(reply.conversation_id.chat(), CHAT, "allowlists list the chat");
    assert_eq!(
        reply.message.route,
        ReplyRoute::Feishu {
            chat_id: CHAT.into(),
            reply_to_message_id: Some("om_reply2".into()),
            thread_root_id: Some("om_root".into()),
        }
    );
    // The message that opened the topic (a topic group's new topic) has the thread but no root:
    // it is the root, so it and the replies under it share one conversation.
    let opening = parsed(&thread_event("om_root", "", "omt_1a2b3c"));
    assert_eq!(opening.conversation_id, reply.conversation_id);
    // A scheduled answer goes back into the thread.
    assert_eq!(
        Feishu.standing_route(&reply.conversation_id).unwrap(),
        ReplyRoute::Feishu { chat_id: CHAT.into(), reply_to_message_id: None, thread_root_id: Some("om_root".into()) }
    );
    // A quote reply outside threads (a root, no thread id) stays in its chat's conversation.
    let mut quote = thread_event("om_quote", "om_root", "");
    quote["event"]["message"].as_object_mut().unwrap().remove("thread_id");
    let quote = parsed(&quote);
    assert_eq!(quote.conversation_id.as_str(), CHAT);
    assert_eq!(parsed(&thread_event("om_q2", "om_root", "")).conversation_id.as_str(), CHAT);
}

#[tokio::test]
async fn a_threads_answers_are_replies_to_its_root_kept_in_the_thread() {
    let server = MockServer::start().await;
    mount_token(&server, "t-first", 1).await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_root/reply"))
        .and(body_json(
            json!({"msg_type": "text", "content": "{\"text\":\"hi \\\"there\\\"\"}", "reply_in_thread": true}),
        ))
        .respond_with(ok_reply("om_in_thread"))
        .expect(2)
        .mount(&server)
        .await;
    let tokens = TtlCache::new(Duration::from_secs(1800), 10);
    // An answer to a message in the thread, and a scheduled one with no message: both to the root.
    let answer = ReplyRoute::Feishu {
        chat_id: "oc_chat".into(),
        reply_to_message_id: Some("om_reply2".into()),
        thread_root_id: Some("om_root".into()),
    };
    assert_eq!(send(&server, &tokens, &answer).await, Ok("om_in_thread".into()));
    let standing = Feishu.standing_route(&ConversationId::parse("oc_chat:om_root").unwrap()).unwrap();
    assert_eq!(send(&server, &tokens, &standing).await, Ok("om_in_thread".into()));
    // A root that would leave the URL path is refused before anything is sent.
    let odd = ReplyRoute::Feishu {
        chat_id: "oc_chat".into(),
        reply_to_message_id: None,
        thread_root_id: Some("../x".into()),
    };
    assert!(matches!(send(&server, &tokens, &odd).await, Err(SendError::Permanent(_))));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.iter().filter(|r| r.url.path().ends_with("/reply")).count(), 2);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

fn file_event(message_type: &str, content: Value) -> Value {
    let mut body = event("user", "p2p", "", json!([]));
    body["event"]["message"]["message_type"] = json!(message_type);
    body["event"]["message"]["content"] = json!(content.to_string());
    body
}

#[test]
fn file_messages_become_attachments_with_empty_text() {
    use crate::domain::media::{Attachment, MediaKind, MediaSource};
    let headers = http::HeaderMap::new();
    let parse = |body: Value| only(Feishu.parse(&full(), &input(&headers, body.to_string().as_bytes())).unwrap());
    let resource = |key: &str, kind: &str| MediaSource::FeishuResource {
        message_id: "om_5ce6d572455d361153b7cb51da133945".into(),
        file_key: key.into(),
        resource_type: kind.into(),
    };
    let image = parse(file_event("image", json!({"image_key": "img_v2_041b"})));
    assert_eq!(image.message.text, "");
    assert_eq!(
        image.message.attachments,
        vec![Attachment {
            kind: MediaKind::Photo,
            source: resource("img_v2_041b", "image"),
            name: None,
            declared_size: None
        }]
    );
    let file = parse(file_event("file", json!({"file_key": "file_v2_9f1", "file_name": "notes.pdf"})));
    assert_eq!(
        file.message.attachments,
        vec![Attachment {
            kind: MediaKind::Document,
            source: resource("file_v2_9f1", "file"),
            name: Some("notes.pdf".into()),
            declared_size: None
        }]
    );
    let audio = parse(file_event("audio", json!({"file_key": "file_v2_a1", "duration": 2000})));
    assert_eq!(audio.message.attachments[0].kind, MediaKind::Voice);
    assert_eq!(audio.message.attachments[0].source, resource("file_v2_a1", "file"));
    let video =
        parse(file_event("media", json!({"file_key": "file_v2_v1", "image_key": "img_v2_c", "file_name": "a.mp4"})));
    assert_eq!(video.message.attachments[0].kind, MediaKind::Video);
    assert_eq!(video.message.route, image.message.route, "answered where a text message would be");
}

#[test]
fn the_photo_sample_event_parses_into_one_attachment() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/webhook-feishu-photo.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in sample["headers"].as_object().unwrap() {
        headers.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    let body = sample["body"].as_str().unwrap().as_bytes();
    let documented = secrets(&[("app_id", "cli_a1b2c3d4e5f6a7b8"), ("app_secret", "s"), ("encrypt_key", KEY)]);
    assert_eq!(Feishu.verify(&documented, &input(&headers, body)), Ok(()));
    let parsed = only(Feishu.parse(&documented, &input(&headers, body)).unwrap());
    assert_eq!(parsed.message.attachments.len(), 1);
    assert_eq!(parsed.message.attachments[0].kind, crate::domain::media::MediaKind::Photo);
}

#[tokio::test]
async fn download_fetches_the_message_resource_with_the_tenant_token() {
    use crate::channels::DownloadError;
    use crate::domain::media::MediaSource;
    let server = MockServer::start().await;
    mount_token(&server, "t-1", 10).await;
    Mock::given(method("GET"))
        .and(path("/open-apis/im/v1/messages/om_1/resources/img_v2_x"))
        .and(query_param("type", "image"))
        .and(header("authorization", "Bearer t-1"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(PNG.to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open-apis/im/v1/messages/om_1/resources/file_gone"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"code": 234003, "msg": "File not in msg."})))
        .mount(&server)
        .await;
    let (http, s, tokens) = (reqwest::Client::new(), full(), TtlCache::new(Duration::from_secs(60), 10));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens, send_key: None };
    let resource = |key: &str, kind: &str| MediaSource::FeishuResource {
        message_id: "om_1".into(),
        file_key: key.into(),
        resource_type: kind.into(),
    };
    assert_eq!(Feishu.download(&ctx, &resource("img_v2_x", "image"), 1000).await, Ok(PNG.to_vec()));
    assert!(matches!(
        Feishu.download(&ctx, &resource("img_v2_x", "image"), 4).await,
        Err(DownloadError::TooLarge { .. })
    ));
    // A refusal is tried once more with a new token, then given up.
    let before = server.received_requests().await.unwrap().len();
    assert!(matches!(
        Feishu.download(&ctx, &resource("file_gone", "file"), 1000).await,
        Err(DownloadError::Permanent(_))
    ));
    let after = server.received_requests().await.unwrap();
    assert_eq!(after.len() - before, 3, "the resource, a new token, the resource again");
    for malformed in [resource("../x", "file"), resource("file_v2", "video")] {
        assert!(matches!(Feishu.download(&ctx, &malformed, 1000).await, Err(DownloadError::Permanent(_))));
    }
    let slack = MediaSource::SlackFile { url: format!("{base}/x") };
    assert!(matches!(Feishu.download(&ctx, &slack, 1000).await, Err(DownloadError::Permanent(_))));
}

#[tokio::test]
async fn send_file_uploads_then_sends_an_image_or_file_message_and_the_caption() {
    use crate::domain::media::{FileUpload, sniff};
    let server = MockServer::start().await;
    mount_token(&server, "t-1", 10).await;
    let uploaded = |key: &str, value: &str| {
        ResponseTemplate::new(200).set_body_json(json!({"code": 0, "msg": "success", "data": {key: value}}))
    };
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/images"))
        .and(header("authorization", "Bearer t-1"))
        .respond_with(uploaded("image_key", "img_v2_up"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/files"))
        .and(header("authorization", "Bearer t-1"))
        .respond_with(uploaded("file_key", "file_v2_up"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_msg/reply"))
        .respond_with(ok_reply("om_sent"))
        .expect(3)
        .mount(&server)
        .await;
    let (http, s, tokens) = (reqwest::Client::new(), full(), TtlCache::new(Duration::from_secs(60), 10));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens, send_key: Some("reply-1#p0") };
    let png = sniff(PNG);
    let photo = FileUpload { name: "chart.png", bytes: PNG, sniffed: &png, caption: Some("the chart") };
    assert_eq!(Feishu.send_file(&ctx, &route(), &photo).await, Ok("om_sent".into()));
    let pdf = sniff(PDF);
    let document = FileUpload { name: "report.pdf", bytes: PDF, sniffed: &pdf, caption: Some("  ") };
    assert_eq!(Feishu.send_file(&ctx, &route(), &document).await, Ok("om_sent".into()));
    // An image over Feishu's image limit is refused before anything is sent.
    let mut big = PNG.to_vec();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let huge = FileUpload { name: "big.png", bytes: &big, sniffed: &png, caption: None };
    assert!(
        matches!(Feishu.send_file(&ctx, &route(), &huge).await, Err(SendError::Permanent(m)) if m.contains("10.0 MB"))
    );

    let requests = server.received_requests().await.unwrap();
    let on = |p: &str| -> Vec<&wiremock::Request> { requests.iter().filter(|r| r.url.path() == p).collect() };
    let image_upload = String::from_utf8_lossy(&on("/open-apis/im/v1/images")[0].body).into_owned();
    assert!(image_upload.contains("name=\"image_type\"\r\n\r\nmessage"), "{image_upload}");
    assert!(image_upload.contains("name=\"image\"; filename=\"chart.png\""), "{image_upload}");
    let file_upload = String::from_utf8_lossy(&on("/open-apis/im/v1/files")[0].body).into_owned();
    assert!(file_upload.contains("name=\"file_type\"\r\n\r\npdf"), "{file_upload}");
    assert!(file_upload.contains("name=\"file_name\"\r\n\r\nreport.pdf"), "{file_upload}");
    assert!(file_upload.contains("name=\"file\"; filename=\"report.pdf\""), "{file_upload}");
    let sent: Vec<Value> =
        on("/open-apis/im/v1/messages/om_msg/reply").iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let uuid = super::send::send_uuid("reply-1#p0");
    assert_eq!(sent[0], json!({"msg_type": "image", "content": "{\"image_key\":\"img_v2_up\"}", "uuid": uuid}));
    assert_eq!(sent[1]["msg_type"], "text");
    assert_eq!(sent[1]["content"], "{\"text\":\"the chart\"}");
    assert_ne!(sent[1]["uuid"], json!(uuid), "the caption is a message of its own");
    assert_eq!(sent[2], json!({"msg_type": "file", "content": "{\"file_key\":\"file_v2_up\"}", "uuid": uuid}));
    assert_eq!(Feishu.max_upload_bytes(), 25 * 1024 * 1024);
}
