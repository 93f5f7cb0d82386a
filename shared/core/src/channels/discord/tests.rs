use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::interactions::parse_interaction;
use super::*;
use crate::cache::TtlCache;
use crate::channels::ParsedMessage;
use crate::domain::model::{DiscordInteraction, Sender};
use crate::domain::secrets::Secret;

/// RFC 8032 section 7.1, tests 1 to 3: (secret key, public key, message, signature).
const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
    ChannelSecrets(pairs.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
}

fn keyed(public_key: &str) -> ChannelSecrets {
    secrets(&[("public_key", public_key), ("application_id", "1"), ("bot_token", "TOKEN")])
}

fn signed_headers(signature: &str, timestamp: &[u8]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(SIGNATURE_HEADER, signature.parse().unwrap());
    h.insert(TIMESTAMP_HEADER, http::HeaderValue::from_bytes(timestamp).unwrap());
    h
}

/// The tests' clock: the Unix second their requests are verified at.
const NOW: i64 = 1_700_000_000;

fn input<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> WebhookInput<'a> {
    WebhookInput { method: "POST", headers, query: "", body, now_secs: NOW }
}

/// The signature check alone, on any split of the signed bytes into timestamp and body.
fn signature_ok(public: &str, signature: &str, timestamp: &[u8], body: &[u8]) -> Result<(), VerifyError> {
    check_signature(&public_key(public).unwrap(), signature.as_bytes(), timestamp, body)
}

fn seed(hex_seed: &str) -> [u8; 32] {
    hex::decode(hex_seed).unwrap().try_into().unwrap()
}

#[test]
fn rfc8032_vectors_verify_however_the_message_is_split_into_timestamp_and_body() {
    for (secret, public, message, signature) in RFC8032 {
        assert_eq!(public_key_hex(&seed(secret)), public, "the public key derives from the seed");
        let message = hex::decode(message).unwrap();
        for split in 0..=message.len() {
            let (timestamp, body) = message.split_at(split);
            assert_eq!(signature_ok(public, signature, timestamp, body), Ok(()), "split at {split}");
        }
        // One more byte, a flipped signature bit, or another key: refused.
        let longer = [message.as_slice(), b"x"].concat();
        assert_eq!(signature_ok(public, signature, b"", &longer), Err(VerifyError::Mismatch));
        let mut flipped = hex::decode(signature).unwrap();
        flipped[10] ^= 1;
        assert_eq!(signature_ok(public, &hex::encode(&flipped), b"", &message), Err(VerifyError::Mismatch));
        let other = RFC8032.iter().find(|v| v.1 != public).unwrap().1;
        assert_eq!(signature_ok(other, signature, b"", &message), Err(VerifyError::Mismatch));
        // Through verify, a vector's signature is checked before its (non-numeric) timestamp.
        let h = signed_headers(signature, b"");
        assert_eq!(Discord.verify(&keyed(public), &input(&h, &message)), Err(VerifyError::Stale));
        assert_eq!(Discord.verify(&keyed(other), &input(&h, &message)), Err(VerifyError::Mismatch));
    }
}

#[test]
fn signing_and_verifying_agree_and_the_timestamp_is_covered() {
    let seed = seed(RFC8032[0].0);
    let public = public_key_hex(&seed);
    let body = br#"{"type":1}"#;
    let signature = sign_request(&seed, "1700000000", body);
    assert_eq!(Discord.verify(&keyed(&public), &input(&signed_headers(&signature, b"1700000000"), body)), Ok(()));
    assert_eq!(
        Discord.verify(&keyed(&public), &input(&signed_headers(&signature, b"1700000001"), body)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        Discord.verify(&keyed(&public), &input(&signed_headers(&signature, b"1700000000"), br#"{"type":2}"#)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        Discord.verify(&keyed(&public), &input(&signed_headers("zz", b"1700000000"), body)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        Discord.verify(&keyed(&public), &input(&signed_headers(&signature[..126], b"1700000000"), body)),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn signed_requests_more_than_five_minutes_from_now_are_refused() {
    let seed = seed(RFC8032[0].0);
    let public = public_key_hex(&seed);
    let body = br#"{"type":1}"#;
    let signed_at = |ts: i64| signed_headers(&sign_request(&seed, &ts.to_string(), body), ts.to_string().as_bytes());
    for (ts, expected) in [
        (NOW, Ok(())),
        (NOW - 300, Ok(())),
        (NOW + 300, Ok(())),
        (NOW - 301, Err(VerifyError::Stale)),
        (NOW + 301, Err(VerifyError::Stale)),
        (NOW - 86_400, Err(VerifyError::Stale)),
    ] {
        assert_eq!(Discord.verify(&keyed(&public), &input(&signed_at(ts), body)), expected, "signed at {ts}");
    }
    // A correctly signed timestamp that is not a number is no time at all.
    let junk = signed_headers(&sign_request(&seed, "soon", body), b"soon");
    assert_eq!(Discord.verify(&keyed(&public), &input(&junk, body)), Err(VerifyError::Stale));
    // A stale request with a bad signature is a bad signature.
    let forged = signed_headers(&sign_request(&[7; 32], "1", body), b"1");
    assert_eq!(Discord.verify(&keyed(&public), &input(&forged, body)), Err(VerifyError::Mismatch));
}

#[test]
fn verify_fails_closed() {
    let public = RFC8032[0].1;
    let mut only_sig = http::HeaderMap::new();
    only_sig.insert(SIGNATURE_HEADER, RFC8032[0].3.parse().unwrap());
    assert_eq!(Discord.verify(&keyed(public), &input(&only_sig, b"")), Err(VerifyError::Missing(TIMESTAMP_HEADER)));
    let mut only_ts = http::HeaderMap::new();
    only_ts.insert(TIMESTAMP_HEADER, "1".parse().unwrap());
    assert_eq!(Discord.verify(&keyed(public), &input(&only_ts, b"")), Err(VerifyError::Missing(SIGNATURE_HEADER)));
    let h = signed_headers(RFC8032[0].3, b"");
    assert_eq!(Discord.verify(&secrets(&[]), &input(&h, b"")), Err(VerifyError::NotConfigured("public_key")));
    assert_eq!(Discord.verify(&keyed(""), &input(&h, b"")), Err(VerifyError::NotConfigured("public_key")));
    assert_eq!(Discord.verify(&keyed("abcd"), &input(&h, b"")), Err(VerifyError::NotConfigured("valid public_key")));
    let get = WebhookInput { method: "GET", ..input(&h, b"") };
    assert_eq!(Discord.verify(&keyed(public), &get), Err(VerifyError::Missing("POST")));
}

fn parse(body: &Value) -> Result<Inbound, ParseError> {
    parse_interaction(body.to_string().as_bytes())
}

fn delivery(inbound: Inbound) -> (ParsedMessage, Value) {
    match inbound {
        Inbound::Deliveries { mut messages, ack } if messages.len() == 1 => {
            assert_eq!(ack.status, 200);
            (messages.remove(0), serde_json::from_slice(&ack.body).unwrap())
        }
        other => panic!("expected one message, got {other:?}"),
    }
}

fn command(options: Value) -> Value {
    json!({
        "id": "1179551063829397504", "application_id": "1100000000000000001", "type": 2,
        "token": "aW50ZXJhY3Rpb246MTE3OTU1MTA2MzgyOTM5NzUwNDp0b2tlbg", "version": 1,
        "guild_id": "1000000000000000001", "channel_id": "1000000000000000002",
        "member": {"user": {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly"}, "roles": []},
        "data": {"id": "1", "name": "ask", "type": 1, "options": options}
    })
}

#[test]
fn ping_is_answered_with_pong() {
    let Inbound::Answer(answer) = parse(&json!({"type": 1})).unwrap() else { panic!("not an answer") };
    assert_eq!(answer.status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&answer.body).unwrap(), json!({"type": 1}));
}

#[test]
fn guild_slash_command_is_deferred_and_routed_to_its_follow_up() {
    let (parsed, ack) =
        delivery(parse(&command(json!([{"name": "question", "type": 3, "value": "hello bot"}]))).unwrap());
    assert_eq!(ack, json!({"type": 5}));
    assert_eq!(parsed.message.text, "/ask hello bot");
    assert_eq!(parsed.message.message_id.as_str(), "1179551063829397504");
    // (1179551063829397504 >> 22) + 1420070400000
    assert_eq!(parsed.message.sent_at_ms, 1_701_297_288_615);
    assert_eq!(parsed.conversation_id.as_str(), "1000000000000000002");
    assert_eq!(parsed.message.sender, Sender { id: "80351110224678912".into(), name: "Nelly".into(), is_bot: false });
    assert!(parsed.mentions_bot && !parsed.message.is_direct);
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Discord {
            channel_id: "1000000000000000002".into(),
            interaction: Some(DiscordInteraction {
                application_id: "1100000000000000001".into(),
                token: "aW50ZXJhY3Rpb246MTE3OTU1MTA2MzgyOTM5NzUwNDp0b2tlbg".into()
            }),
            thread_id: None,
        }
    );
}

#[test]
fn options_are_rendered_readably() {
    let text = |options: Value| delivery(parse(&command(options)).unwrap()).0.message.text;
    assert_eq!(text(json!([])), "/ask");
    assert_eq!(
        text(json!([{"name": "topic", "type": 3, "value": "rust"}, {"name": "count", "type": 4, "value": 3}])),
        "/ask topic=rust count=3"
    );
    assert_eq!(text(json!([{"name": "verbose", "type": 5, "value": true}])), "/ask verbose=true");
    assert_eq!(
        text(json!([{"name": "config", "type": 2, "options": [{"name": "set", "type": 1, "options": [
            {"name": "key", "type": 3, "value": "model"}, {"name": "value", "type": 3, "value": "small"}]}]}])),
        "/ask config set key=model value=small"
    );
    assert_eq!(
        text(json!([{"name": "search", "type": 1, "options": [{"name": "q", "type": 3, "value": "a b"}]}])),
        "/ask search a b"
    );
}

#[test]
fn dm_button_click_is_a_deferred_update() {
    let click = json!({
        "id": "1179551063829397505", "application_id": "1100000000000000001", "type": 3, "token": "tok",
        "channel": {"id": "2000000000000000001", "type": 1},
        "user": {"id": "80351110224678912", "username": "nelly", "global_name": null},
        "message": {"id": "1179551063829397000", "content": "Approve?"},
        "data": {"custom_id": "approve:r0123456789abcdef0123", "component_type": 2}
    });
    let (parsed, ack) = delivery(parse(&click).unwrap());
    assert_eq!(ack, json!({"type": 6}));
    assert_eq!(parsed.message.text, "approve:r0123456789abcdef0123");
    assert_eq!(parsed.message.sender.name, "nelly");
    assert!(parsed.message.is_direct);
    assert_eq!(parsed.conversation_id.as_str(), "2000000000000000001");
    let mut menu = click.clone();
    menu["data"] = json!({"custom_id": "pick", "component_type": 3, "values": ["a", "b"]});
    assert_eq!(delivery(parse(&menu).unwrap()).0.message.text, "pick a,b");
}

#[test]
fn bots_are_ignored_and_malformed_interactions_refused() {
    let mut from_bot = command(json!([]));
    from_bot["member"]["user"]["bot"] = json!(true);
    match parse(&from_bot).unwrap() {
        Inbound::Deliveries { messages, ack } => {
            assert!(messages.is_empty());
            assert_eq!(ack.status, 200);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse_interaction(b"{nope"), Err(ParseError::Json(_))));
    assert!(matches!(parse(&json!({"id": "1"})), Err(ParseError::Json(_))));
    // Autocomplete and modal submissions are not handled.
    assert!(matches!(parse(&json!({"type": 4})), Err(ParseError::Invalid(_))));
    for field in ["id", "token", "application_id", "channel_id", "member", "data"] {
        let mut broken = command(json!([]));
        broken.as_object_mut().unwrap().remove(field);
        assert!(matches!(parse(&broken), Err(ParseError::Invalid(_))), "without {field}");
    }
    let mut not_snowflake = command(json!([]));
    not_snowflake["id"] = json!("abc");
    assert!(matches!(parse(&not_snowflake), Err(ParseError::Invalid(_))));
}

#[test]
fn settings_are_checked() {
    let good =
        secrets(&[("public_key", RFC8032[0].1), ("application_id", "1100000000000000001"), ("bot_token", "MTE.x.y")]);
    assert_eq!(Discord.validate_settings(&good), Ok(()));
    for (key, value) in [
        ("public_key", "d75a98"),
        ("public_key", "zz5a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        ("application_id", "app-1"),
        ("bot_token", "Bot MTE.x.y"),
    ] {
        let mut bad = good.clone();
        bad.0.insert(key.into(), Secret::new(value));
        assert!(Discord.validate_settings(&bad).is_err(), "{key}={value}");
    }
}

fn interaction_route() -> ReplyRoute {
    ReplyRoute::Discord {
        channel_id: "1000000000000000002".into(),
        interaction: Some(DiscordInteraction {
            application_id: "1100000000000000001".into(),
            token: "tok-en_1.x".into(),
        }),
        thread_id: None,
    }
}

#[test]
fn neutralise_unmasks_links_and_quiets_mass_mentions() {
    const Z: &str = "\u{200B}";
    let cases = [
        ("hi @everyone and @here".to_owned(), format!("hi @{Z}everyone and @{Z}here")),
        // Users, roles and channels stay: `allowed_mentions` keeps them from notifying.
        (
            "<@80351110224678912> <@&165511591545143296> <#1000000000000000002>".to_owned(),
            "<@80351110224678912> <@&165511591545143296> <#1000000000000000002>".to_owned(),
        ),
        // A masked link shows its target, whatever its text.
        (
            "[https://good.example](https://evil.example)".to_owned(),
            "https://good.example (https://evil.example)".to_owned(),
        ),
        (
            "Log in: [Discord](<https://evil.example>)!".to_owned(),
            "Log in: Discord (<https://evil.example>)!".to_owned(),
        ),
        (
            "[**good.example**]( https://evil.example \"t\")".to_owned(),
            "**good.example** ( https://evil.example \"t\")".to_owned(),
        ),
        // Brackets inside the text: the link is broken where it cannot be misread.
        (
            "[a [https://good.example]](https://evil.example)".to_owned(),
            "[a [https://good.example]] (https://evil.example)".to_owned(),
        ),
        (
            "[x](https://a.example/(1)) [y](https://b.example)".to_owned(),
            "x (https://a.example/(1)) y (https://b.example)".to_owned(),
        ),
        // A link that shows its own target is kept; so is code that only looks like one.
        ("[https://docs.rs/](https://docs.rs)".to_owned(), "[https://docs.rs/](https://docs.rs)".to_owned()),
        ("handlers[0](event) and a[i](b, c)".to_owned(), "handlers[0](event) and a[i](b, c)".to_owned()),
        ("Use <b> tags; a < b && c > d".to_owned(), "Use <b> tags; a < b && c > d".to_owned()),
    ];
    for (input, expected) in cases {
        assert_eq!(neutralise(&input), expected, "{input}");
        assert_eq!(Discord.neutralise(&input), expected, "the channel's step is this one");
    }
}

#[tokio::test]
async fn send_follows_up_the_interaction_without_mentions() {
    let server = MockServer::start().await;
    let shown = "hi @\u{200B}everyone <@80351110224678912> https://good.example (https://evil.example)";
    let body = json!({"content": shown, "allowed_mentions": {"parse": []}, "flags": 4});
    Mock::given(method("POST"))
        .and(path("/webhooks/1100000000000000001/tok-en_1.x"))
        .and(query_param("wait", "true"))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1179551063829397999", "content": "hi"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/channels/1000000000000000002/messages"))
        .and(header("authorization", "Bot MTE.x.y"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "42"})))
        .expect(1)
        .mount(&server)
        .await;
    let s = secrets(&[("bot_token", "MTE.x.y")]);
    let (http, t) = (reqwest::Client::new(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    // As the reply flow sends it: neutralised, then posted as it is.
    let text = Discord.neutralise("hi @everyone <@80351110224678912> [https://good.example](https://evil.example)");
    assert_eq!(Discord.send(&ctx, &interaction_route(), &text, &[]).await.unwrap(), "1179551063829397999");
    let follow_up = &server.received_requests().await.unwrap()[0];
    assert!(follow_up.headers.get("authorization").is_none(), "a follow-up needs no bot token");
    assert_eq!(serde_json::from_slice::<Value>(&follow_up.body).unwrap(), body);
    // A channel message carries the same body: no pings either way.
    let channel = ReplyRoute::Discord { channel_id: "1000000000000000002".into(), interaction: None, thread_id: None };
    assert_eq!(Discord.send(&ctx, &channel, &text, &[]).await.unwrap(), "42");
    let message = &server.received_requests().await.unwrap()[1];
    assert_eq!(serde_json::from_slice::<Value>(&message.body).unwrap(), body);
    // Ids that would change the URL are refused before anything is sent.
    let sneaky = ReplyRoute::Discord {
        channel_id: "1".into(),
        interaction: Some(DiscordInteraction { application_id: "1".into(), token: "../../channels/2".into() }),
        thread_id: None,
    };
    assert!(matches!(Discord.send(&ctx, &sneaky, "x", &[]).await, Err(SendError::Permanent(_))));
    let sneaky = ReplyRoute::Discord { channel_id: "1/../2".into(), interaction: None, thread_id: None };
    assert!(matches!(Discord.send(&ctx, &sneaky, "x", &[]).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn send_maps_discord_errors() {
    let rate = |body: Value| ResponseTemplate::new(429).set_body_json(body);
    let cases: Vec<(ResponseTemplate, SendError)> = vec![
        (
            rate(json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false})),
            SendError::RateLimited { retry_after: Duration::from_millis(250) },
        ),
        (
            rate(json!({"message": "You are being rate limited."})).insert_header("retry-after", "2"),
            SendError::RateLimited { retry_after: Duration::from_secs(2) },
        ),
        (ResponseTemplate::new(429), SendError::RateLimited { retry_after: Duration::from_secs(1) }),
        (
            ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Webhook", "code": 10015})),
            SendError::Permanent("Discord HTTP 404 Not Found: Unknown Webhook (code 10015)".into()),
        ),
        (
            ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid Webhook Token", "code": 50027})),
            SendError::Permanent("Discord HTTP 401 Unauthorized: Invalid Webhook Token (code 50027)".into()),
        ),
        (
            ResponseTemplate::new(403).set_body_json(json!({"message": "Missing Access", "code": 50001})),
            SendError::Permanent("Discord HTTP 403 Forbidden: Missing Access (code 50001)".into()),
        ),
        (
            ResponseTemplate::new(502).set_body_string("<html>"),
            SendError::Temporary("Discord HTTP 502 Bad Gateway: unreadable body".into()),
        ),
    ];
    let s = secrets(&[("bot_token", "MTE.x.y")]);
    let (http, t) = (reqwest::Client::new(), TtlCache::new(Duration::from_secs(1), 1));
    for (response, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(response).mount(&server).await;
        let base = server.uri();
        let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
        assert_eq!(Discord.send(&ctx, &interaction_route(), "x", &[]).await, Err(expected));
    }
    let ctx = SendContext { http: &http, api_base: "http://127.0.0.1:9", secrets: &s, tokens: &t, send_key: None };
    assert!(
        matches!(Discord.send(&ctx, &interaction_route(), "x", &[]).await, Err(SendError::Temporary(m)) if !m.contains("tok-en"))
    );
    let slack = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: None };
    assert!(matches!(Discord.send(&ctx, &slack, "x", &[]).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn send_puts_buttons_in_an_action_row() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1179551063829397999"})))
        .mount(&server)
        .await;
    let s = secrets(&[("bot_token", "MTE.x.y")]);
    let (http, t) = (reqwest::Client::new(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    let mut buttons = vec![
        Button::new("Approve once", "/approve pr1 once"),
        Button::new("Too long", format!("/approve {} once", "x".repeat(100))),
        Button::danger("Reject", "/reject pr1"),
    ];
    Discord.send(&ctx, &interaction_route(), "Permission request pr1", &buttons).await.unwrap();
    Discord.send(&ctx, &interaction_route(), "no buttons", &[]).await.unwrap();
    buttons.extend((0..6).map(|i| Button::new(format!("B{i}"), format!("/b {i}"))));
    Discord.send(&ctx, &interaction_route(), "many", &buttons).await.unwrap();
    let sent: Vec<Value> =
        server.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(sent[0]["content"], "Permission request pr1");
    assert_eq!(
        sent[0]["components"],
        json!([{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Approve once", "custom_id": "/approve pr1 once"},
            {"type": 2, "style": 4, "label": "Reject", "custom_id": "/reject pr1"}
        ]}]),
        "a command over 100 characters is dropped"
    );
    assert!(sent[1].get("components").is_none(), "{}", sent[1]);
    let rows = sent[2]["components"].as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["components"].as_array().unwrap().len()).collect::<Vec<_>>(), [5, 3]);

    // A click on such a button is a component interaction whose text is the custom_id.
    let click = json!({
        "id": "1179551063829397505", "application_id": "1100000000000000001", "type": 3, "token": "tok",
        "channel": {"id": "2000000000000000001", "type": 1},
        "user": {"id": "80351110224678912", "username": "nelly"},
        "data": {"custom_id": sent[0]["components"][0]["components"][1]["custom_id"], "component_type": 2}
    });
    let (parsed, ack) = delivery(parse(&click).unwrap());
    assert_eq!(parsed.message.text, "/reject pr1");
    assert_eq!(ack, json!({"type": 6}));
}

/// A command from a thread: the interaction's `channel` is the thread, with its parent.
fn in_thread(kind: u64, parent: Option<&str>) -> Value {
    let mut interaction = command(json!([{"name": "question", "type": 3, "value": "hi"}]));
    interaction["channel_id"] = json!("1200000000000000001");
    interaction["channel"] = json!({"id": "1200000000000000001", "type": kind, "parent_id": parent,
                                    "guild_id": "1000000000000000001", "name": "a thread"});
    interaction
}

#[test]
fn a_thread_is_a_conversation_of_its_own_under_its_parent() {
    for kind in [10, 11, 12] {
        let (parsed, _) = delivery(parse(&in_thread(kind, Some("1000000000000000002"))).unwrap());
        assert_eq!(parsed.conversation_id.as_str(), "1000000000000000002:1200000000000000001", "type {kind}");
        assert_eq!(parsed.conversation_id.chat(), "1000000000000000002", "allowlists list the parent");
        let ReplyRoute::Discord { channel_id, interaction, thread_id } = &parsed.message.route else {
            panic!("{:?}", parsed.message.route)
        };
        assert_eq!((channel_id.as_str(), thread_id.as_deref()), ("1000000000000000002", Some("1200000000000000001")));
        assert!(interaction.is_some(), "answered by the interaction's follow-up, which lands in the thread");
        // A scheduled answer goes into the thread too; the route is the conversation's own.
        let standing = Discord.standing_route(&parsed.conversation_id).unwrap();
        assert_eq!(
            standing,
            ReplyRoute::Discord {
                channel_id: "1000000000000000002".into(),
                interaction: None,
                thread_id: Some("1200000000000000001".into())
            }
        );
    }
    // A text channel (type 0) with a parent (its category) is no thread.
    let (parsed, _) = delivery(parse(&in_thread(0, Some("1000000000000000009"))).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "1200000000000000001");
    assert!(matches!(
        &parsed.message.route,
        ReplyRoute::Discord { channel_id, interaction: Some(_), thread_id: None } if channel_id == "1200000000000000001"
    ));
    // A thread without its parent cannot be placed: refused, not filed under the thread alone.
    assert!(matches!(parse(&in_thread(11, None)), Err(ParseError::Invalid(_))));
}

#[test]
fn chat_commands_arrive_as_their_text() {
    for name in ["help", "new", "status", "usage", "reset"] {
        let mut interaction = command(json!([]));
        interaction["data"]["name"] = json!(name);
        let (parsed, ack) = delivery(parse(&interaction).unwrap());
        assert_eq!(ack, json!({"type": 5}), "deferred, then answered by the dispatcher's follow-up");
        assert_eq!(parsed.message.text, format!("/{name}"));
        assert!(crate::chat_commands::parse_chat_command(&parsed.message.text).is_some(), "{name}");
    }
}

#[tokio::test]
async fn a_threads_channel_message_goes_into_the_thread() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/channels/1200000000000000001/messages"))
        .and(header("authorization", "Bot MTE.x.y"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "43"})))
        .expect(1)
        .mount(&server)
        .await;
    let s = secrets(&[("bot_token", "MTE.x.y")]);
    let (http, t) = (reqwest::Client::new(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    let thread = ConversationId::parse("1000000000000000002:1200000000000000001").unwrap();
    let route = Discord.standing_route(&thread).unwrap();
    assert_eq!(Discord.send(&ctx, &route, "scheduled", &[]).await.unwrap(), "43");
    let sneaky = ReplyRoute::Discord {
        channel_id: "1000000000000000002".into(),
        interaction: None,
        thread_id: Some("1/../../guilds".into()),
    };
    assert!(matches!(Discord.send(&ctx, &sneaky, "x", &[]).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn register_puts_the_chat_commands_and_ask_in_one_overwrite() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/applications/1100000000000000001/commands"))
        .and(header("authorization", "Bot MTE.x.y"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let s = secrets(&[("application_id", "1100000000000000001"), ("bot_token", "MTE.x.y")]);
    let registration = Discord.webhook_registration().unwrap();
    let http = reqwest::Client::new();
    registration.register_webhook(&http, &server.uri(), &s, "https://example.test/webhook/discord/b").await.unwrap();
    let put = &server.received_requests().await.unwrap()[0];
    let commands: Value = serde_json::from_slice(&put.body).unwrap();
    let names: Vec<&str> = commands.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ask", "help", "new", "reset", "status", "usage"]);
    assert_eq!(
        commands[0]["options"],
        json!([
            {"type": 3, "name": "question", "description": "What to ask", "required": true},
            {"type": 11, "name": "file", "description": "A file to ask about", "required": false},
        ]),
        "the existing /ask keeps its question, and takes a file"
    );
    for command in commands.as_array().unwrap() {
        assert_eq!(command["type"], 1, "slash commands");
        let description = command["description"].as_str().unwrap();
        assert!((1..=100).contains(&description.chars().count()), "Discord's limit: {description}");
    }

    // Refusals keep their meaning; a missing token or application id sends nothing.
    let refusing = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "401: Unauthorized", "code": 0})))
        .mount(&refusing)
        .await;
    let err = registration.register_webhook(&http, &refusing.uri(), &s, "").await.unwrap_err();
    assert!(matches!(err, SendError::Permanent(ref e) if e.contains("401")), "{err:?}");
    let no_token = secrets(&[("application_id", "1100000000000000001")]);
    let no_app = secrets(&[("application_id", "../x"), ("bot_token", "MTE.x.y")]);
    for bad in [no_token, no_app] {
        assert!(matches!(
            registration.register_webhook(&http, &refusing.uri(), &bad, "").await,
            Err(SendError::Permanent(_))
        ));
    }
    assert_eq!(refusing.received_requests().await.unwrap().len(), 1);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const ATTACHMENT_ID: &str = "1200000000000000001";

fn with_photo(options: Value) -> Value {
    let mut body = command(options);
    body["data"]["resolved"] = json!({"attachments": {ATTACHMENT_ID: {
        "id": ATTACHMENT_ID, "filename": "photo.png", "size": 5120, "content_type": "image/png",
        "url": "https://cdn.discordapp.com/attachments/1000000000000000002/1200000000000000001/photo.png?ex=1&is=2&hm=3",
        "proxy_url": "https://media.discordapp.net/attachments/1000000000000000002/1200000000000000001/photo.png"
    }}});
    body
}

#[test]
fn attachment_options_become_attachments_and_stay_out_of_the_text() {
    use crate::domain::media::{Attachment, MediaKind, MediaSource};
    let file = json!({"name": "file", "type": 11, "value": ATTACHMENT_ID});
    let (parsed, _) =
        delivery(parse(&with_photo(json!([{"name": "question", "type": 3, "value": "what is this?"}, file]))).unwrap());
    assert_eq!(parsed.message.text, "/ask what is this?");
    assert_eq!(
        parsed.message.attachments,
        vec![Attachment {
            kind: MediaKind::Photo,
            source: MediaSource::DiscordAttachment {
                url: "https://cdn.discordapp.com/attachments/1000000000000000002/1200000000000000001/photo.png?ex=1&is=2&hm=3"
                    .into()
            },
            name: Some("photo.png".into()),
            declared_size: Some(5120),
        }]
    );
    // A file alone is a message.
    let (alone, _) = delivery(parse(&with_photo(json!([file]))).unwrap());
    assert_eq!(alone.message.text, "/ask");
    assert_eq!(alone.message.attachments.len(), 1);
    // An id that does not resolve is skipped.
    let (unresolved, _) =
        delivery(parse(&command(json!([{"name": "file", "type": 11, "value": "1200000000000000009"}]))).unwrap());
    assert!(unresolved.message.attachments.is_empty());
}

#[test]
fn the_photo_sample_event_parses_into_one_attachment() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/webhook-discord-photo.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut h = http::HeaderMap::new();
    for (k, v) in sample["headers"].as_object().unwrap() {
        h.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    let body = sample["body"].as_str().unwrap().as_bytes();
    let documented = keyed(RFC8032[0].1);
    let at = WebhookInput { now_secs: 1_763_740_800, ..input(&h, body) };
    assert_eq!(Discord.verify(&documented, &at), Ok(()));
    let (parsed, _) = delivery(Discord.parse(&documented, &at).unwrap());
    assert_eq!(parsed.message.attachments.len(), 1);
    assert_eq!(parsed.message.attachments[0].kind, crate::domain::media::MediaKind::Photo);
}

#[tokio::test]
async fn download_fetches_from_discords_cdn_only_without_a_token() {
    use crate::channels::DownloadError;
    use crate::domain::media::MediaSource;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/attachments/1/2/photo.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(PNG.to_vec()))
        .expect(2)
        .mount(&server)
        .await;
    let s = secrets(&[("bot_token", "MTE.x.y")]);
    let (http, t) = (reqwest::Client::new(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    let file = MediaSource::DiscordAttachment { url: format!("{base}/attachments/1/2/photo.png") };
    assert_eq!(Discord.download(&ctx, &file, 1000).await, Ok(PNG.to_vec()));
    assert!(matches!(Discord.download(&ctx, &file, 4).await, Err(DownloadError::TooLarge { .. })));
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.headers.get("authorization").is_none()), "the CDN needs no token");
    for url in [
        "https://evil.example/attachments/1/2/photo.png",
        "http://cdn.discordapp.com/attachments/1/2/photo.png",
        "http://169.254.169.254/latest/meta-data/",
    ] {
        let foreign = MediaSource::DiscordAttachment { url: url.into() };
        assert!(matches!(Discord.download(&ctx, &foreign, 1000).await, Err(DownloadError::Permanent(_))), "{url}");
    }
    let slack = MediaSource::SlackFile { url: format!("{base}/attachments/1/2/photo.png") };
    assert!(matches!(Discord.download(&ctx, &slack, 1000).await, Err(DownloadError::Permanent(_))));
}

#[tokio::test]
async fn send_file_posts_a_multipart_message_where_text_would_go() {
    use crate::domain::media::{FileUpload, sniff};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhooks/1100000000000000001/tok-en_1.x"))
        .and(query_param("wait", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1179551063829397999"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/channels/1200000000000000001/messages"))
        .and(header("authorization", "Bot MTE.x.y"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "42"})))
        .expect(1)
        .mount(&server)
        .await;
    let s = secrets(&[("bot_token", "MTE.x.y")]);
    let (http, t) = (reqwest::Client::new(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &t, send_key: None };
    let sniffed = sniff(PNG);
    let file = FileUpload { name: "chart.png", bytes: PNG, sniffed: &sniffed, caption: Some("the chart") };
    assert_eq!(Discord.send_file(&ctx, &interaction_route(), &file).await, Ok("1179551063829397999".into()));
    // Without an interaction, into the route's thread with the bot token; no caption, no content.
    let thread = ReplyRoute::Discord {
        channel_id: "1000000000000000002".into(),
        interaction: None,
        thread_id: Some("1200000000000000001".into()),
    };
    let bare = FileUpload { caption: None, ..file };
    assert_eq!(Discord.send_file(&ctx, &thread, &bare).await, Ok("42".into()));
    let requests = server.received_requests().await.unwrap();
    let follow_up = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(requests[0].headers.get("content-type").unwrap().to_str().unwrap().starts_with("multipart/form-data"));
    assert!(follow_up.contains("name=\"payload_json\""), "{follow_up}");
    assert!(follow_up.contains(r#""content":"the chart""#), "{follow_up}");
    assert!(follow_up.contains(r#""allowed_mentions":{"parse":[]}"#), "{follow_up}");
    assert!(follow_up.contains(r#""filename":"chart.png""#), "{follow_up}");
    assert!(follow_up.contains("name=\"files[0]\"; filename=\"chart.png\""), "{follow_up}");
    assert!(follow_up.contains("image/png"), "{follow_up}");
    assert!(requests[0].body.windows(PNG.len()).any(|w| w == PNG));
    let in_thread = String::from_utf8_lossy(&requests[1].body).into_owned();
    assert!(!in_thread.contains("\"content\""), "{in_thread}");
    assert_eq!(Discord.max_upload_bytes(), 10 * 1024 * 1024);
}
