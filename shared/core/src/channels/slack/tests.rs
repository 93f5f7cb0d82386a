use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::cache::TtlCache;
use crate::channels::{HttpAnswer, ParsedMessage};
use crate::chat_commands::parse_chat_command;
use crate::domain::model::Sender;
use crate::domain::secrets::Secret;

/// Slack's documented example (docs.slack.dev, "Verifying requests from Slack").
const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP: i64 = 1531420618;
const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
    ChannelSecrets(pairs.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
}

fn doc_secrets() -> ChannelSecrets {
    secrets(&[("signing_secret", DOC_SECRET), ("bot_token", "xoxb-1-2-abc")])
}

fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

fn signed(timestamp: i64, signature: &str) -> http::HeaderMap {
    headers(&[
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, signature.to_owned()),
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
    ])
}

fn input<'a>(headers: &'a http::HeaderMap, body: &'a [u8], now_secs: i64) -> WebhookInput<'a> {
    WebhookInput { method: "POST", headers, query: "", body, now_secs }
}

#[test]
fn slacks_documented_example_verifies() {
    let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
    assert_eq!(Slack.verify(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), DOC_TIMESTAMP + 10)), Ok(()));
    assert_eq!(sign_request(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.as_bytes()), DOC_SIGNATURE);
    // Upper-case hex is the same signature.
    let upper = format!("v0={}", DOC_SIGNATURE[3..].to_uppercase());
    let h = signed(DOC_TIMESTAMP, &upper);
    assert_eq!(Slack.verify(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), DOC_TIMESTAMP)), Ok(()));
}

#[test]
fn verify_rejects_tampering_wrong_secrets_staleness_and_missing_parts() {
    let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
    let now = DOC_TIMESTAMP;
    let tampered = DOC_BODY.replace("roadrunner", "roadrunnex");
    assert_eq!(Slack.verify(&doc_secrets(), &input(&h, tampered.as_bytes(), now)), Err(VerifyError::Mismatch));
    let wrong = secrets(&[("signing_secret", "8f742231b10e8888abcd99yyyzzz85a6")]);
    assert_eq!(Slack.verify(&wrong, &input(&h, DOC_BODY.as_bytes(), now)), Err(VerifyError::Mismatch));
    // The timestamp is signed: another one with the same signature fails.
    let moved = signed(DOC_TIMESTAMP + 1, DOC_SIGNATURE);
    assert_eq!(Slack.verify(&doc_secrets(), &input(&moved, DOC_BODY.as_bytes(), now)), Err(VerifyError::Mismatch));
    // Without the version prefix, or with junk, nothing matches.
    let bare = signed(DOC_TIMESTAMP, &DOC_SIGNATURE[3..]);
    assert_eq!(Slack.verify(&doc_secrets(), &input(&bare, DOC_BODY.as_bytes(), now)), Err(VerifyError::Mismatch));
    // 5 minutes either way is the limit.
    for (now, expected) in [
        (DOC_TIMESTAMP + 300, Ok(())),
        (DOC_TIMESTAMP - 300, Ok(())),
        (DOC_TIMESTAMP + 301, Err(VerifyError::Stale)),
        (DOC_TIMESTAMP - 301, Err(VerifyError::Stale)),
    ] {
        assert_eq!(Slack.verify(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), now)), expected, "now {now}");
    }
    let junk_time = headers(&[(TIMESTAMP_HEADER, "soon".into()), (SIGNATURE_HEADER, DOC_SIGNATURE.into())]);
    assert_eq!(Slack.verify(&doc_secrets(), &input(&junk_time, DOC_BODY.as_bytes(), now)), Err(VerifyError::Stale));
    let no_sig = headers(&[(TIMESTAMP_HEADER, DOC_TIMESTAMP.to_string())]);
    assert_eq!(
        Slack.verify(&doc_secrets(), &input(&no_sig, DOC_BODY.as_bytes(), now)),
        Err(VerifyError::Missing(SIGNATURE_HEADER))
    );
    let no_time = headers(&[(SIGNATURE_HEADER, DOC_SIGNATURE.into())]);
    assert_eq!(
        Slack.verify(&doc_secrets(), &input(&no_time, DOC_BODY.as_bytes(), now)),
        Err(VerifyError::Missing(TIMESTAMP_HEADER))
    );
    // No secret configured: everything is refused, even a request signed with an empty key.
    let empty_key = signed(DOC_TIMESTAMP, &sign_request("", DOC_TIMESTAMP, DOC_BODY.as_bytes()));
    for s in [secrets(&[]), secrets(&[("signing_secret", "")])] {
        assert_eq!(
            Slack.verify(&s, &input(&empty_key, DOC_BODY.as_bytes(), now)),
            Err(VerifyError::NotConfigured("signing_secret"))
        );
    }
    let get = WebhookInput { method: "GET", ..input(&h, DOC_BODY.as_bytes(), now) };
    assert_eq!(Slack.verify(&doc_secrets(), &get), Err(VerifyError::Missing("POST")));
}

fn only(inbound: Inbound) -> ParsedMessage {
    match inbound {
        Inbound::Deliveries { mut messages, .. } if messages.len() == 1 => messages.remove(0),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn none(inbound: Inbound) -> HttpAnswer {
    match inbound {
        Inbound::Deliveries { messages, ack } if messages.is_empty() => ack,
        other => panic!("expected no message, got {other:?}"),
    }
}

fn parse_json(body: &str, settings: &ChannelSecrets) -> Result<Inbound, ParseError> {
    let h = headers(&[("content-type", "application/json".into())]);
    Slack.parse(settings, &input(&h, body.as_bytes(), 1_700_000_000))
}

fn event(event: serde_json::Value) -> String {
    json!({
        "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": "Ev0001", "event_time": 1_700_000_000,
        "authorizations": [{"user_id": "UBOT", "is_bot": true}],
        "event": event,
    })
    .to_string()
}

#[test]
fn url_verification_is_answered_with_the_challenge() {
    let body =
        r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let Inbound::Answer(answer) = parse_json(body, &secrets(&[])).unwrap() else { panic!("not an answer") };
    assert_eq!(answer.status, 200);
    let value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(value["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    assert!(matches!(parse_json(r#"{"type":"url_verification"}"#, &secrets(&[])), Err(ParseError::Invalid(_))));
}

#[test]
fn channel_message_is_answered_in_its_thread() {
    let body = event(json!({"type": "message", "channel": "C024BE91L", "user": "U2147483697",
        "text": "<@UBOT> Live long and prospect.", "ts": "1355517523.000005", "event_ts": "1355517523.000005",
        "channel_type": "channel"}));
    let parsed = only(parse_json(&body, &secrets(&[])).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "C024BE91L:1355517523.000005", "the thread it starts");
    assert_eq!(parsed.message.message_id.as_str(), "Ev0001");
    assert_eq!(parsed.message.sent_at_ms, 1_355_517_523_000);
    assert_eq!(parsed.message.sender, Sender { id: "U2147483697".into(), name: "U2147483697".into(), is_bot: false });
    assert_eq!(parsed.message.text, "<@UBOT> Live long and prospect.");
    assert!(!parsed.message.is_direct);
    assert!(parsed.mentions_bot, "the bot user comes from authorizations[0]");
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Slack { channel_id: "C024BE91L".into(), thread_ts: Some("1355517523.000005".into()) }
    );
}

#[test]
fn thread_replies_stay_in_their_thread_and_dms_are_direct() {
    let body = event(json!({"type": "message", "subtype": "thread_broadcast", "channel": "C1", "user": "U1",
        "text": "in a thread", "ts": "1700000001.123456", "thread_ts": "1700000000.000100", "channel_type": "channel"}));
    let parsed = only(parse_json(&body, &secrets(&[])).unwrap());
    assert_eq!(parsed.message.sent_at_ms, 1_700_000_001_123);
    assert!(!parsed.mentions_bot);
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1700000000.000100".into()) }
    );
    // A conversation per thread: the reply's is its root's, and a scheduled answer goes back there.
    assert_eq!(parsed.conversation_id.as_str(), "C1:1700000000.000100");
    assert_eq!(Slack.standing_route(&parsed.conversation_id).unwrap(), parsed.message.route);
    assert!(!Slack.is_direct(&parsed.conversation_id));

    let dm = event(json!({"type": "message", "channel": "D1", "user": "U1", "text": "hi", "ts": "1700000001.5",
        "channel_type": "im"}));
    let parsed = only(parse_json(&dm, &secrets(&[])).unwrap());
    assert!(parsed.message.is_direct);
    assert_eq!(parsed.message.sent_at_ms, 1_700_000_001_500);
    assert_eq!(parsed.message.route, ReplyRoute::Slack { channel_id: "D1".into(), thread_ts: None });
    assert_eq!(parsed.conversation_id.as_str(), "D1", "a DM outside threads is one conversation");
    let in_dm_thread =
        event(json!({"type": "message", "channel": "D1", "user": "U1", "text": "hi", "ts": "1700000002.5",
        "thread_ts": "1700000001.5", "channel_type": "im"}));
    let parsed = only(parse_json(&in_dm_thread, &secrets(&[])).unwrap());
    assert_eq!(parsed.conversation_id.as_str(), "D1:1700000001.5");
    assert!(Slack.is_direct(&parsed.conversation_id));
}

#[test]
fn mentions_use_the_configured_bot_user_first() {
    let body = event(json!({"type": "message", "channel": "C1", "user": "U1", "text": "hey <@UOTHER|other>",
        "ts": "1.0", "channel_type": "channel"}));
    assert!(!only(parse_json(&body, &secrets(&[])).unwrap()).mentions_bot);
    assert!(only(parse_json(&body, &secrets(&[("bot_user_id", "UOTHER")])).unwrap()).mentions_bot);
    let no_auth = json!({"type": "event_callback", "event_id": "Ev2", "event": {"type": "message",
        "channel": "C1", "user": "U1", "text": "<@UBOT> hi", "ts": "1.0"}})
    .to_string();
    assert!(!only(parse_json(&no_auth, &secrets(&[])).unwrap()).mentions_bot, "no bot user known");
}

#[test]
fn loop_guard_and_unhandled_events_are_acknowledged_without_messages() {
    let s = secrets(&[]);
    for ev in [
        json!({"type": "message", "channel": "C1", "user": "U1", "bot_id": "B1", "text": "x", "ts": "1.0"}),
        json!({"type": "message", "subtype": "bot_message", "channel": "C1", "bot_id": "B1", "text": "x", "ts": "1.0"}),
        json!({"type": "message", "channel": "C1", "user": "UBOT", "text": "my own answer", "ts": "1.0"}),
        json!({"type": "message", "subtype": "message_changed", "channel": "C1", "message": {"text": "x"}, "ts": "1.0"}),
        json!({"type": "message", "subtype": "file_share", "channel": "C1", "user": "U1", "text": "", "ts": "1.0"}),
        json!({"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> hi", "ts": "1.0"}),
        json!({"type": "user_change", "user": {"id": "U1", "name": "x"}}),
    ] {
        let ack = none(parse_json(&event(ev.clone()), &s).unwrap());
        assert_eq!(ack.status, 200, "{ev}");
    }
    // A bot user configured by the operator is guarded as well.
    let own = event(json!({"type": "message", "channel": "C1", "user": "UME", "text": "x", "ts": "1.0"}));
    none(parse_json(&own, &secrets(&[("bot_user_id", "UME")])).unwrap());
    none(parse_json(r#"{"type":"app_rate_limited","minute_rate_limited":1}"#, &s).unwrap());
}

#[test]
fn malformed_events_are_rejected() {
    let s = secrets(&[]);
    assert!(matches!(parse_json("{nope", &s), Err(ParseError::Json(_))));
    assert!(matches!(parse_json(r#"{"event":{}}"#, &s), Err(ParseError::Json(_))));
    assert!(matches!(parse_json(r#"{"type":"event_callback"}"#, &s), Err(ParseError::Invalid(_))));
    for ev in [
        json!({"type": "message", "channel": "C1", "text": "x", "ts": "1.0"}),
        json!({"type": "message", "user": "U1", "text": "x", "ts": "1.0"}),
        json!({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "yesterday"}),
        json!({"type": "message", "channel": "C#1", "user": "U1", "text": "x", "ts": "1.0"}),
    ] {
        assert!(matches!(parse_json(&event(ev.clone()), &s), Err(ParseError::Invalid(_))), "{ev}");
    }
}

#[test]
fn slash_commands_are_addressed_to_the_bot_and_answered_with_an_empty_200() {
    let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
    let inbound = Slack.parse(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), DOC_TIMESTAMP + 3)).unwrap();
    let Inbound::Deliveries { mut messages, ack } = inbound else { panic!("not a delivery") };
    assert_eq!((ack.status, ack.body.len()), (200, 0));
    let parsed = messages.remove(0);
    assert_eq!(parsed.message.text, "/webhook-collect");
    assert_eq!(parsed.message.message_id.as_str(), "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
    assert_eq!(parsed.message.sent_at_ms, DOC_TIMESTAMP * 1000, "the signed request time");
    assert_eq!(parsed.message.sender.name, "roadrunner");
    assert_eq!(parsed.message.sender.id, "U2CERLKJA");
    assert!(parsed.mentions_bot);
    assert!(!parsed.message.is_direct, "a channel's slash command meets the group policy");
    assert_eq!(parsed.conversation_id.as_str(), "G8PSS9T3V");
    assert_eq!(parsed.message.route, ReplyRoute::Slack { channel_id: "G8PSS9T3V".into(), thread_ts: None });

    let with_text = DOC_BODY.replace("text=&", "text=summarise+the+thread&");
    let parsed = only(Slack.parse(&doc_secrets(), &input(&h, with_text.as_bytes(), DOC_TIMESTAMP)).unwrap());
    assert_eq!(parsed.message.text, "/webhook-collect summarise the thread");

    let no_trigger = DOC_BODY.split("&trigger_id").next().unwrap();
    assert!(matches!(
        Slack.parse(&doc_secrets(), &input(&h, no_trigger.as_bytes(), DOC_TIMESTAMP)),
        Err(ParseError::Invalid(_))
    ));
    let unknown = b"token=x&team_id=T1";
    assert!(matches!(Slack.parse(&doc_secrets(), &input(&h, unknown, DOC_TIMESTAMP)), Err(ParseError::Invalid(_))));
    let ssl = Slack.parse(&doc_secrets(), &input(&h, b"ssl_check=1&token=x", DOC_TIMESTAMP)).unwrap();
    assert!(matches!(ssl, Inbound::Answer(HttpAnswer { status: 200, .. })));
}

#[test]
fn slash_commands_are_the_chat_commands_they_name() {
    let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
    let text_of = |command: &str, text: &str, channel: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("channel_id", channel)
            .append_pair("user_id", "U2CERLKJA")
            .append_pair("command", command)
            .append_pair("text", text)
            .append_pair("trigger_id", "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
            .finish();
        let parsed = only(Slack.parse(&doc_secrets(), &input(&h, body.as_bytes(), DOC_TIMESTAMP)).unwrap());
        (parsed.message.text, parsed.message.is_direct)
    };
    // The app's own /help, /new, /usage, /reset are the chat commands as they are.
    for command in ["/help", "/new", "/usage", "/reset"] {
        let (text, _) = text_of(command, "", "C1");
        assert_eq!(text, command);
        assert!(parse_chat_command(&text).is_some());
    }
    // Slack keeps /status: an umbrella command names it (and the others) in its text.
    assert_eq!(text_of("/clawless", "status", "C1").0, "/status");
    assert_eq!(text_of("/clawless", " /Usage ", "C1").0, "/usage");
    assert_eq!(text_of("/ask", "help", "C1").0, "/help");
    // Anything more, or nothing that names a command, reaches the agent as written.
    for (command, text, expected) in [
        ("/ask", "status of the build", "/ask status of the build"),
        ("/ask", "statuses", "/ask statuses"),
        ("/ask", "status@otherbot", "/ask status@otherbot"),
        ("/clawless", "", "/clawless"),
        ("/help", "status", "/help status"),
    ] {
        assert_eq!(text_of(command, text, "C1").0, expected, "{command} {text}");
    }
    // Direct only in a DM.
    assert!(text_of("/help", "", "D024BE91L").1);
    assert!(!text_of("/help", "", "C024BE91L").1 && !text_of("/help", "", "G8PSS9T3V").1);
}

fn form(payload: &serde_json::Value) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish().into_bytes()
}

#[test]
fn button_clicks_become_messages_carrying_the_value() {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U123", "username": "ada", "name": "ada", "team_id": "T1"},
        "api_app_id": "A1", "token": "x",
        "container": {"type": "message", "message_ts": "1700000000.000200", "channel_id": "C9", "is_ephemeral": false},
        "trigger_id": "123.456.abc",
        "channel": {"id": "C9", "name": "general"},
        "message": {"type": "message", "ts": "1700000000.000200", "text": "Approve?"},
        "response_url": "https://hooks.slack.com/actions/x",
        "actions": [{"action_id": "approval", "block_id": "b1", "value": "approve:r0123456789abcdef0123",
                     "type": "button", "action_ts": "1700000010.000300"}]
    });
    let h = signed(DOC_TIMESTAMP, "v0=00");
    let inbound = Slack.parse(&doc_secrets(), &input(&h, &form(&payload), 0)).unwrap();
    let Inbound::Deliveries { mut messages, ack } = inbound else { panic!("not a delivery") };
    assert_eq!((ack.status, ack.body.len()), (200, 0));
    assert_eq!(messages.len(), 1);
    let parsed = messages.remove(0);
    assert_eq!(parsed.message.text, "approve:r0123456789abcdef0123");
    assert_eq!(parsed.message.message_id.as_str(), "123.456.abc");
    assert_eq!(parsed.message.sent_at_ms, 1_700_000_010_000);
    assert_eq!(parsed.message.sender, Sender { id: "U123".into(), name: "ada".into(), is_bot: false });
    assert!(parsed.mentions_bot);
    assert_eq!(
        parsed.message.route,
        ReplyRoute::Slack { channel_id: "C9".into(), thread_ts: Some("1700000000.000200".into()) }
    );

    // Two actions, one without a value: distinct ids, the action_id as text.
    let mut two = payload.clone();
    two["actions"] = json!([{"action_id": "first", "value": "1"}, {"action_id": "second"}]);
    let Inbound::Deliveries { messages, .. } = Slack.parse(&doc_secrets(), &input(&h, &form(&two), 0)).unwrap() else {
        panic!()
    };
    let ids: Vec<_> = messages.iter().map(|m| m.message.message_id.as_str().to_owned()).collect();
    assert_eq!(ids, ["123.456.abc:0", "123.456.abc:1"]);
    assert_eq!(messages[1].message.text, "second");
    assert_eq!(messages[1].message.sent_at_ms, DOC_TIMESTAMP * 1000);

    // Other interaction types are acknowledged; a payload that is not JSON is refused.
    let modal = json!({"type": "view_submission", "user": {"id": "U1"}});
    assert_eq!(none(Slack.parse(&doc_secrets(), &input(&h, &form(&modal), 0)).unwrap()).status, 200);
    let junk = b"payload=%7Bnope";
    assert!(matches!(Slack.parse(&doc_secrets(), &input(&h, junk, 0)), Err(ParseError::Json(_))));
}

#[test]
fn neutralise_turns_every_control_sequence_into_literal_text() {
    let cases = [
        // A link whose label is another address: both show, neither is a link.
        (
            "Sign in: <https://evil.example|https://app.slack.com/signin>",
            "Sign in: &lt;https://evil.example|https://app.slack.com/signin&gt;",
        ),
        ("hi <!here> and <!channel> and <!everyone>", "hi &lt;!here&gt; and &lt;!channel&gt; and &lt;!everyone&gt;"),
        ("ask <@U123> or <@W0ABC|ada>", "ask &lt;@U123&gt; or &lt;@W0ABC|ada&gt;"),
        ("ping <!subteam^S012AB|@oncall>", "ping &lt;!subteam^S012AB|@oncall&gt;"),
        ("see <#C0123|general>", "see &lt;#C0123|general&gt;"),
        // Bare words cannot become mentions either.
        ("plain @channel, @Here and @everyone.", "plain @\u{200B}channel, @\u{200B}Here and @\u{200B}everyone."),
        // Ordinary text renders as written (Slack shows the escapes as the characters).
        ("Use <b> tags", "Use &lt;b&gt; tags"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        // An answer that already holds an escape shows it as typed, not as `<`.
        ("&lt;!here&gt;", "&amp;lt;!here&amp;gt;"),
        // mrkdwn, bare URLs, mail addresses and words starting with a mention word are kept.
        (
            "*bold* _it_ `code` https://example.com ops@heresy.example @heresy",
            "*bold* _it_ `code` https://example.com ops@heresy.example @heresy",
        ),
        ("", ""),
    ];
    for (input, expected) in cases {
        assert_eq!(neutralise(input), expected, "{input}");
        assert_eq!(Slack.neutralise(input), expected, "the channel's step is this one");
    }
    // Whatever the nesting, nothing that starts a control sequence is left.
    for sneaky in ["<!foo <!channel>>", "<<!here>!here>", "<!date^1|<!everyone>>", "<@U1|<!here>>", "<<<>>>"] {
        let out = neutralise(sneaky);
        assert!(!out.contains(['<', '>']), "{sneaky} → {out}");
    }
}

#[test]
fn settings_are_checked() {
    let ok = secrets(&[("signing_secret", "8f742231b10e8888abcd99yyyzzz85a5"), ("bot_token", "xoxb-1-2-abc")]);
    assert_eq!(Slack.validate_settings(&ok), Ok(()));
    for bad in [
        secrets(&[("signing_secret", "short"), ("bot_token", "xoxb-1-2-abc")]),
        secrets(&[("signing_secret", "8f742231 b10e8888"), ("bot_token", "xoxb-1-2-abc")]),
        secrets(&[("signing_secret", "8f742231b10e8888abcd"), ("bot_token", "xoxp-user-token")]),
        secrets(&[("signing_secret", "8f742231b10e8888abcd"), ("bot_token", "xoxb-1-2-abc"), ("bot_user_id", "bot")]),
    ] {
        assert!(Slack.validate_settings(&bad).is_err(), "{bad:?}");
    }
}

fn ctx<'a>(
    http: &'a reqwest::Client,
    base: &'a str,
    s: &'a ChannelSecrets,
    t: &'a TtlCache<String, String>,
) -> SendContext<'a> {
    SendContext { http, api_base: base, secrets: s, tokens: t, send_key: None }
}

#[tokio::test]
async fn send_posts_the_neutralised_text_to_the_thread_without_unfurls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-1-2-abc"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "channel": "C1", "ts": "1700000000.000900"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let route = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1.2".into()) };
    // As the reply flow sends it: neutralised, then posted as it is.
    let text = Slack.neutralise("<!channel> <https://evil.example|https://app.slack.com/signin> <@U123>");
    let id = Slack.send(&ctx(&http, &base, &s, &t), &route, &text, &[]).await.unwrap();
    assert_eq!(id, "1700000000.000900");
    let sent: serde_json::Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent,
        json!({
            "channel": "C1",
            "thread_ts": "1.2",
            "text": "&lt;!channel&gt; &lt;https://evil.example|https://app.slack.com/signin&gt; &lt;@U123&gt;",
            "unfurl_links": false,
            "unfurl_media": false,
            "link_names": false,
            "parse": "none",
        })
    );
    // A DM has no thread.
    let dm = ReplyRoute::Slack { channel_id: "D1".into(), thread_ts: None };
    Slack.send(&ctx(&http, &base, &s, &t), &dm, "x", &[]).await.unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&server.received_requests().await.unwrap()[1].body).unwrap();
    assert_eq!(
        sent,
        json!({"channel": "D1", "text": "x", "unfurl_links": false, "unfurl_media": false, "link_names": false,
               "parse": "none"})
    );
}

#[tokio::test]
async fn send_maps_slack_errors() {
    let cases: Vec<(ResponseTemplate, SendError)> = vec![
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3")
                .set_body_json(json!({"ok": false, "error": "ratelimited"})),
            SendError::RateLimited { retry_after: Duration::from_secs(3) },
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "ratelimited"})),
            SendError::RateLimited { retry_after: Duration::from_secs(1) },
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "channel_not_found"})),
            SendError::Permanent("Slack: channel_not_found".into()),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "not_in_channel"})),
            SendError::Permanent("Slack: not_in_channel".into()),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
            SendError::Permanent("Slack: invalid_auth".into()),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "msg_too_long"})),
            SendError::Permanent("Slack: msg_too_long".into()),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "internal_error"})),
            SendError::Temporary("Slack: internal_error".into()),
        ),
        (
            ResponseTemplate::new(503).set_body_json(json!({"ok": false, "error": "service_unavailable"})),
            SendError::Temporary("Slack: service_unavailable".into()),
        ),
        (
            ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
            SendError::Temporary("Slack HTTP 502 Bad Gateway".into()),
        ),
    ];
    let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(1), 1));
    let route = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: None };
    for (response, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path("/chat.postMessage")).respond_with(response).mount(&server).await;
        let base = server.uri();
        assert_eq!(Slack.send(&ctx(&http, &base, &s, &t), &route, "x", &[]).await, Err(expected));
    }
    // Nothing listening: temporary, and the URL (which could hold secrets) is not printed.
    let closed = "http://127.0.0.1:9";
    assert!(
        matches!(Slack.send(&ctx(&http, closed, &s, &t), &route, "x", &[]).await, Err(SendError::Temporary(m)) if !m.contains("127.0.0.1"))
    );
    // Other channels' routes and a missing token are permanent.
    let tg = ReplyRoute::Telegram { chat_id: 1, message_thread_id: None, reply_to_message_id: None };
    assert!(matches!(Slack.send(&ctx(&http, closed, &s, &t), &tg, "x", &[]).await, Err(SendError::Permanent(_))));
    let no_token = secrets(&[("signing_secret", DOC_SECRET)]);
    assert!(matches!(
        Slack.send(&ctx(&http, closed, &no_token, &t), &route, "x", &[]).await,
        Err(SendError::Permanent(_))
    ));
}

#[tokio::test]
async fn send_puts_buttons_in_block_kit_with_the_text_as_fallback() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.1"})))
        .mount(&server)
        .await;
    let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(1), 1));
    let base = server.uri();
    let route = ReplyRoute::Slack { channel_id: "U0APPROVER".into(), thread_ts: None };
    let buttons = [
        Button::new("Approve once", "/approve pr1 once"),
        Button::new("", "/approve pr1 2h"),
        Button::danger("Reject", "/reject pr1"),
    ];
    let text = Slack.neutralise("Permission request pr1 <!here>\nReply /approve pr1 <hours>h");
    Slack.send(&ctx(&http, &base, &s, &t), &route, &text, &buttons).await.unwrap();
    Slack.send(&ctx(&http, &base, &s, &t), &route, "no buttons", &[]).await.unwrap();
    let long = "word ".repeat(700);
    Slack.send(&ctx(&http, &base, &s, &t), &route, &long, &buttons[..1]).await.unwrap();
    let sent: Vec<serde_json::Value> =
        server.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    // The notice's text, escaped, is both the notification fallback and the section; the
    // buttons are Block Kit elements, not text, so neutralising leaves them working.
    let shown = "Permission request pr1 &lt;!here&gt;\nReply /approve pr1 &lt;hours&gt;h";
    assert_eq!(
        sent[0],
        json!({
            "channel": "U0APPROVER",
            "text": shown,
            "unfurl_links": false,
            "unfurl_media": false,
            "link_names": false,
            "parse": "none",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": shown}},
                {"type": "actions", "elements": [
                    {"type": "button", "action_id": "button_0", "text": {"type": "plain_text", "text": "Approve once"},
                     "value": "/approve pr1 once"},
                    {"type": "button", "action_id": "button_1", "text": {"type": "plain_text", "text": "Reject"},
                     "value": "/reject pr1", "style": "danger"}
                ]}
            ]
        }),
        "a button without a label is dropped; action ids stay unique"
    );
    assert!(sent[1].get("blocks").is_none(), "{}", sent[1]);
    // A section holds at most 3,000 characters: a longer piece takes several.
    let sections: Vec<_> = sent[2]["blocks"].as_array().unwrap().iter().filter(|b| b["type"] == "section").collect();
    assert_eq!(sections.len(), 2);
    assert!(sections.iter().all(|b| b["text"]["text"].as_str().unwrap().chars().count() <= 3000));
    assert_eq!(sent[2]["blocks"].as_array().unwrap().last().unwrap()["type"], "actions");

    // What a click on such a button sends back is the command, as text.
    let payload = json!({
        "type": "block_actions", "trigger_id": "9.9.click", "user": {"id": "U0APPROVER", "name": "boss"},
        "channel": {"id": "D0DM"}, "container": {"message_ts": "1.1", "channel_id": "D0DM"},
        "actions": [sent[0]["blocks"][1]["elements"][0].clone()],
    });
    let h = signed(DOC_TIMESTAMP, "v0=00");
    let parsed = only(Slack.parse(&doc_secrets(), &input(&h, &form(&payload), 0)).unwrap());
    assert_eq!(parsed.message.text, "/approve pr1 once");
    assert_eq!(parsed.message.sender.id, "U0APPROVER");
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn file_message(text: &str) -> serde_json::Value {
    json!({
        "type": "message", "subtype": "file_share", "channel": "C1", "channel_type": "channel",
        "user": "U1", "text": text, "ts": "1700000000.000100",
        "files": [
            {"id": "F1", "name": "photo.png", "mimetype": "image/png", "size": 5120,
             "url_private": "https://files.slack.com/files-pri/T1-F1/photo.png",
             "url_private_download": "https://files.slack.com/files-pri/T1-F1/download/photo.png"},
            {"id": "F2", "name": "notes.pdf", "mimetype": "application/pdf", "size": 10,
             "url_private": "https://files.slack.com/files-pri/T1-F2/notes.pdf"},
            {"id": "F3", "mode": "tombstone"}
        ]
    })
}

#[test]
fn shared_files_become_attachments_and_a_file_alone_is_a_message() {
    use crate::domain::media::{Attachment, MediaKind, MediaSource};
    let parsed = only(parse_json(&event(file_message("what is in this?")), &doc_secrets()).unwrap());
    assert_eq!(parsed.message.text, "what is in this?");
    let url = |u: &str| MediaSource::SlackFile { url: u.into() };
    assert_eq!(
        parsed.message.attachments,
        vec![
            Attachment {
                kind: MediaKind::Photo,
                source: url("https://files.slack.com/files-pri/T1-F1/download/photo.png"),
                name: Some("photo.png".into()),
                declared_size: Some(5120),
            },
            Attachment {
                kind: MediaKind::Document,
                source: url("https://files.slack.com/files-pri/T1-F2/notes.pdf"),
                name: Some("notes.pdf".into()),
                declared_size: Some(10),
            },
        ],
        "the download URL first, the private URL without one; a deleted file skipped"
    );
    // A file without a caption is a message with empty text, not dropped.
    let alone = only(parse_json(&event(file_message("")), &doc_secrets()).unwrap());
    assert_eq!(alone.message.text, "");
    assert_eq!(alone.message.attachments.len(), 2);
    // Neither text nor a usable file: still nothing.
    let mut empty = file_message("");
    empty["files"] = json!([{"id": "F3", "mode": "tombstone"}]);
    none(parse_json(&event(empty), &doc_secrets()).unwrap());
    // At most MAX_ATTACHMENTS_PER_MESSAGE.
    let mut many = file_message("");
    many["files"] = json!(vec![file_message("")["files"][0].clone(); 25]);
    let capped = only(parse_json(&event(many), &doc_secrets()).unwrap());
    assert_eq!(capped.message.attachments.len(), crate::domain::media::MAX_ATTACHMENTS_PER_MESSAGE);
}

#[test]
fn the_photo_sample_event_parses_into_one_attachment() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/webhook-slack-photo.json");
    let sample: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut h = http::HeaderMap::new();
    for (k, v) in sample["headers"].as_object().unwrap() {
        h.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    let body = sample["body"].as_str().unwrap().as_bytes();
    let documented = secrets(&[("signing_secret", "test-slack-signing-secret-not-for-production")]);
    assert_eq!(Slack.verify(&documented, &input(&h, body, 1_763_740_800)), Ok(()));
    let parsed = only(Slack.parse(&documented, &input(&h, body, 1_763_740_800)).unwrap());
    assert_eq!(parsed.message.attachments.len(), 1);
    assert_eq!(parsed.message.attachments[0].kind, crate::domain::media::MediaKind::Photo);
}

#[tokio::test]
async fn download_fetches_with_the_bot_token_from_slacks_file_host_only() {
    use crate::channels::DownloadError;
    use crate::domain::media::MediaSource;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/files-pri/T1-F1/download/photo.png"))
        .and(header("authorization", "Bearer xoxb-1-2-abc"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(PNG.to_vec()))
        .expect(2)
        .mount(&server)
        .await;
    let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(60), 10));
    let base = server.uri();
    let c = ctx(&http, &base, &s, &t);
    let file = MediaSource::SlackFile { url: format!("{base}/files-pri/T1-F1/download/photo.png") };
    assert_eq!(Slack.download(&c, &file, 1000).await, Ok(PNG.to_vec()));
    assert!(matches!(Slack.download(&c, &file, 4).await, Err(DownloadError::TooLarge { .. })));
    // The token goes to Slack's file host only.
    for url in ["https://evil.example/files-pri/T1-F1/x.png", "http://files.slack.com/files-pri/T1-F1/x.png"] {
        let foreign = MediaSource::SlackFile { url: url.into() };
        assert!(matches!(Slack.download(&c, &foreign, 1000).await, Err(DownloadError::Permanent(_))), "{url}");
    }
    let telegram = MediaSource::TelegramFile { file_id: "x".into() };
    assert!(matches!(Slack.download(&c, &telegram, 1000).await, Err(DownloadError::Permanent(_))));
}

#[tokio::test]
async fn send_file_uploads_externally_and_shares_it_in_the_thread_with_the_caption() {
    use crate::domain::media::{FileUpload, sniff};
    let server = MockServer::start().await;
    let upload_url = format!("{}/upload/v1/abc", server.uri());
    Mock::given(method("POST"))
        .and(path("/files.getUploadURLExternal"))
        .and(header("authorization", "Bearer xoxb-1-2-abc"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "upload_url": upload_url, "file_id": "F0NEW"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/upload/v1/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK - 16"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/files.completeUploadExternal"))
        .and(header("authorization", "Bearer xoxb-1-2-abc"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "files": [{"id": "F0NEW", "title": "chart.png"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(60), 10));
    let base = server.uri();
    let c = ctx(&http, &base, &s, &t);
    let sniffed = sniff(PNG);
    let file = FileUpload { name: "../chart.png", bytes: PNG, sniffed: &sniffed, caption: Some("the chart") };
    let route = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1700000000.000100".into()) };
    assert_eq!(Slack.send_file(&c, &route, &file).await, Ok("F0NEW".into()));
    let requests = server.received_requests().await.unwrap();
    let form: Vec<(String, String)> = form_urlencoded::parse(&requests[0].body).into_owned().collect();
    assert_eq!(form, [("filename".to_owned(), "chart.png".to_owned()), ("length".to_owned(), PNG.len().to_string())]);
    assert_eq!(requests[1].body, PNG);
    assert!(requests[1].headers.get("authorization").is_none(), "the upload URL needs no token");
    let complete: serde_json::Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(
        complete,
        json!({"files": [{"id": "F0NEW", "title": "chart.png"}], "channel_id": "C1",
               "thread_ts": "1700000000.000100", "initial_comment": "the chart"})
    );
    assert_eq!(Slack.max_upload_bytes(), 25 * 1024 * 1024);
}
