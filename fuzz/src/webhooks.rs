//! The five channels' webhooks as the webhook function runs them: `verify` on the raw request,
//! then `parse` only if it passed, then the inbound queue's envelope for every parsed message.
//!
//! Input: a flags byte, then either the body alone (bit 0 set: the target signs the body with
//! the channel's test secret, so the fuzzer reaches the parser) or the signature headers as
//! lines followed by the body (bit 0 clear: the fuzzer's own headers, so the refusal paths are
//! fuzzed). The other bits choose the method, content type and which secrets are configured, per
//! channel below. The secrets are the sample events' test values (`events/README.md`).
//!
//! Checked besides "no panic": a request signed with the configured secret at the present time
//! verifies, and every parsed message's inbound envelope decodes back to itself (what the webhook
//! enqueues, the dispatcher must read).

use std::collections::BTreeMap;

use clawless_core::channels::discord::{self, Discord};
use clawless_core::channels::feishu::{self, Feishu};
use clawless_core::channels::slack::{self, Slack};
use clawless_core::channels::telegram::{self, Telegram};
use clawless_core::channels::whatsapp::{self, Whatsapp};
use clawless_core::channels::{Channel, Inbound, WebhookInput};
use clawless_core::domain::envelope::{ENVELOPE_VERSION, InboundEnvelope};
use clawless_core::domain::ids::{BotId, ConversationRef, TenantId};
use clawless_core::domain::model::ConversationMessage;
use clawless_core::domain::secrets::{ChannelSecrets, Secret};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::bytes::{Bytes, bit};

/// The requests' clock: the Unix second the sample events were signed at.
pub const NOW: i64 = 1_763_740_800;

pub const TELEGRAM_SECRET: &str = "test-webhook-secret-not-for-production";
pub const SLACK_SIGNING_SECRET: &str = "test-slack-signing-secret-not-for-production";
pub const SLACK_BOT_USER: &str = "U0BOT0001";
/// RFC 8032 section 7.1, test 1: the secret key (seed) and its public key.
pub const DISCORD_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
pub const DISCORD_PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub const FEISHU_ENCRYPT_KEY: &str = "test-feishu-encrypt-key-not-for-production";
pub const FEISHU_TOKEN: &str = "test-feishu-verification-token-not-for-production";
pub const WHATSAPP_APP_SECRET: &str = "test-whatsapp-app-secret-not-for-production";
pub const WHATSAPP_VERIFY_TOKEN: &str = "test-whatsapp-verify-token-not-for-production";
pub const WHATSAPP_PHONE_NUMBER_ID: &str = "106540352242922";

fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
    ChannelSecrets(pairs.iter().map(|(k, v)| ((*k).to_owned(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
}

/// Headers from (name, value) pairs; a value no HTTP request could carry is left out, as it
/// could never reach the function.
fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    map
}

/// How far a request got: what the seeds' test checks, so a seed that no longer reaches the
/// parser (a changed secret, a stale timestamp) is noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    Refused,
    Unparsed,
    Answered,
    Delivered(usize),
}

/// Verify, then parse what verified, then check each parsed message's way to the dispatcher.
/// `signed`: the request carries a valid signature made now, so it must verify.
fn deliver(channel: &dyn Channel, secrets: &ChannelSecrets, input: &WebhookInput<'_>, signed: bool) -> Reached {
    let verified = channel.verify(secrets, input);
    assert!(!signed || verified.is_ok(), "{}: a validly signed request was refused: {verified:?}", channel.kind());
    if verified.is_err() {
        return Reached::Refused;
    }
    let messages = match channel.parse(secrets, input) {
        Ok(Inbound::Deliveries { messages, .. }) => messages,
        Ok(Inbound::Answer(_)) => return Reached::Answered,
        Err(_) => return Reached::Unparsed,
    };
    let delivered = messages.len();
    let tenant_id = TenantId::parse("t0123456789abcdef0123").expect("a valid tenant id");
    let bot_id = BotId::parse("b0123456789abcdef0123").expect("a valid bot id");
    for parsed in messages {
        let _ = channel.is_direct(&parsed.conversation_id);
        let _ = channel.standing_route(&parsed.conversation_id);
        let item = ConversationMessage {
            conversation: ConversationRef {
                tenant_id: tenant_id.clone(),
                bot_id: bot_id.clone(),
                channel: channel.kind(),
                conversation_id: parsed.conversation_id,
            },
            message: parsed.message,
        };
        let envelope = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item };
        let json = serde_json::to_string(&envelope).expect("an envelope always encodes");
        let decoded = serde_json::from_str::<InboundEnvelope>(&json);
        assert_eq!(
            decoded.as_ref().ok(),
            Some(&envelope),
            "{}: the queued envelope does not decode: {json}",
            channel.kind()
        );
        let _ = envelope.dedup_id();
    }
    Reached::Delivered(delivered)
}

/// Flags: bit 0 signed (the body follows; else a line with the secret header, then the body),
/// bit 1 GET instead of POST, bit 2 `bot_username` configured.
pub fn webhook_telegram(data: &[u8]) {
    telegram(data);
}

/// [`webhook_telegram`], saying how far the request got.
pub fn telegram(data: &[u8]) -> Reached {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let signed = bit(flags, 0);
    let presented = if signed { TELEGRAM_SECRET.as_bytes() } else { input.line() };
    let body = input.rest();
    let method = if bit(flags, 1) { "GET" } else { "POST" };
    let mut keys = vec![("webhook_secret", TELEGRAM_SECRET), ("bot_token", "123:abc")];
    if bit(flags, 2) {
        keys.push(("bot_username", "helper_bot"));
    }
    let headers = headers(&[(telegram::SECRET_HEADER, presented)]);
    let request = WebhookInput { method, headers: &headers, query: "", body, now_secs: NOW };
    deliver(&Telegram, &secrets(&keys), &request, signed && method == "POST")
}

/// Flags: bit 0 signed now (the body follows; else lines with the timestamp and the signature,
/// then the body), bit 1 `content-type: application/x-www-form-urlencoded`, bit 2
/// `content-type: application/json` (neither: no content type), bit 3 `bot_user_id` configured,
/// bit 4 GET instead of POST.
pub fn webhook_slack(data: &[u8]) {
    slack(data);
}

/// [`webhook_slack`], saying how far the request got.
pub fn slack(data: &[u8]) -> Reached {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let signed = bit(flags, 0);
    let (timestamp, signature) =
        if signed { (Vec::new(), Vec::new()) } else { (input.line().to_vec(), input.line().to_vec()) };
    let body = input.rest();
    let (timestamp, signature) = if signed {
        (NOW.to_string().into_bytes(), slack::sign_request(SLACK_SIGNING_SECRET, NOW, body).into_bytes())
    } else {
        (timestamp, signature)
    };
    let content_type: &[u8] = if bit(flags, 1) {
        b"application/x-www-form-urlencoded"
    } else if bit(flags, 2) {
        b"application/json"
    } else {
        b""
    };
    let mut pairs = vec![(slack::TIMESTAMP_HEADER, &timestamp[..]), (slack::SIGNATURE_HEADER, &signature[..])];
    if !content_type.is_empty() {
        pairs.push(("content-type", content_type));
    }
    let headers = headers(&pairs);
    let mut keys = vec![("signing_secret", SLACK_SIGNING_SECRET), ("bot_token", "xoxb-1-2-abc")];
    if bit(flags, 3) {
        keys.push(("bot_user_id", SLACK_BOT_USER));
    }
    let method = if bit(flags, 4) { "GET" } else { "POST" };
    let request = WebhookInput { method, headers: &headers, query: "", body, now_secs: NOW };
    deliver(&Slack, &secrets(&keys), &request, signed && method == "POST")
}

/// Flags: bit 0 signed now with the test key (the body follows; else lines with the signature
/// and the timestamp, then the body), bit 1 GET instead of POST, bit 2 no `public_key`
/// configured (everything must be refused).
pub fn webhook_discord(data: &[u8]) {
    discord(data);
}

/// [`webhook_discord`], saying how far the request got.
pub fn discord(data: &[u8]) -> Reached {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let signed = bit(flags, 0);
    let (signature, timestamp) =
        if signed { (Vec::new(), Vec::new()) } else { (input.line().to_vec(), input.line().to_vec()) };
    let body = input.rest();
    let (signature, timestamp) = if signed {
        let timestamp = NOW.to_string();
        (discord::sign_request(&DISCORD_SEED, &timestamp, body).into_bytes(), timestamp.into_bytes())
    } else {
        (signature, timestamp)
    };
    let headers = headers(&[(discord::SIGNATURE_HEADER, &signature), (discord::TIMESTAMP_HEADER, &timestamp)]);
    let configured = !bit(flags, 2);
    let key = if configured { DISCORD_PUBLIC_KEY } else { "" };
    let keys = [("public_key", key), ("application_id", "1100000000000000001"), ("bot_token", "TOKEN")];
    let method = if bit(flags, 1) { "GET" } else { "POST" };
    let request = WebhookInput { method, headers: &headers, query: "", body, now_secs: NOW };
    deliver(&Discord, &secrets(&keys), &request, signed && configured && method == "POST")
}

/// Flags: bits 0-1 the configuration (0 `encrypt_key` and `verification_token`, 1 the key only,
/// 2 the token only, 3 neither: everything refused), bit 2 signed now with the key (the body
/// follows; else lines with the timestamp, nonce and signature, then the body), bit 3 the body is
/// encrypted with the key first (`{"encrypt": …}`, as Feishu sends it with a key set), bit 4 no
/// signature headers at all (Feishu's unsigned challenge), bit 5 `bot_open_id` configured, bit 6
/// GET instead of POST.
pub fn webhook_feishu(data: &[u8]) {
    feishu(data);
}

/// [`webhook_feishu`], saying how far the request got.
pub fn feishu(data: &[u8]) -> Reached {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let (with_key, with_token) = match flags & 0b11 {
        0 => (true, true),
        1 => (true, false),
        2 => (false, true),
        _ => (false, false),
    };
    let signed = bit(flags, 2);
    let (mut timestamp, mut nonce, mut signature) = if signed {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        (input.line().to_vec(), input.line().to_vec(), input.line().to_vec())
    };
    let plain = input.rest();
    let encrypted;
    let body = if bit(flags, 3) {
        encrypted = serde_json::json!({ "encrypt": feishu::encrypt(FEISHU_ENCRYPT_KEY, [7; 16], plain) }).to_string();
        encrypted.as_bytes()
    } else {
        plain
    };
    if signed {
        timestamp = NOW.to_string().into_bytes();
        nonce = b"nonce-123".to_vec();
        let stamp = NOW.to_string();
        signature = feishu::signature(&stamp, "nonce-123", FEISHU_ENCRYPT_KEY, body).into_bytes();
    }
    let unsigned = bit(flags, 4);
    let headers = if unsigned {
        HeaderMap::new()
    } else {
        headers(&[
            (feishu::TIMESTAMP_HEADER, &timestamp),
            (feishu::NONCE_HEADER, &nonce),
            (feishu::SIGNATURE_HEADER, &signature),
        ])
    };
    let mut keys = vec![("app_id", "cli_a1b2c3d4e5f6a7b8"), ("app_secret", "app-secret")];
    if with_key {
        keys.push(("encrypt_key", FEISHU_ENCRYPT_KEY));
    }
    if with_token {
        keys.push(("verification_token", FEISHU_TOKEN));
    }
    if bit(flags, 5) {
        keys.push(("bot_open_id", "ou_bot"));
    }
    let method = if bit(flags, 6) { "GET" } else { "POST" };
    let request = WebhookInput { method, headers: &headers, query: "", body, now_secs: NOW };
    // With the key, a signed request verifies; without it, only the token in the body (checked
    // by `parse`) vouches, so every POST passes `verify`.
    let must_verify = method == "POST" && ((with_key && signed && !unsigned) || (!with_key && with_token));
    deliver(&Feishu, &secrets(&keys), &request, must_verify)
}

/// Flags: bit 0 signed (POST: `X-Hub-Signature-256` over the body; GET: the query starts with
/// `hub.mode=subscribe&hub.verify_token=<the token>&`), bit 1 GET (the rest is the query string)
/// instead of POST (else, unsigned, a line with the signature header, then the body).
pub fn webhook_whatsapp(data: &[u8]) {
    whatsapp(data);
}

/// [`webhook_whatsapp`], saying how far the request got.
pub fn whatsapp(data: &[u8]) -> Reached {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let signed = bit(flags, 0);
    let keys = secrets(&[
        ("app_secret", WHATSAPP_APP_SECRET),
        ("verify_token", WHATSAPP_VERIFY_TOKEN),
        ("access_token", "EAAtest"),
        ("phone_number_id", WHATSAPP_PHONE_NUMBER_ID),
    ]);
    if bit(flags, 1) {
        let rest = String::from_utf8_lossy(input.rest());
        let query = if signed {
            format!("hub.mode=subscribe&hub.verify_token={WHATSAPP_VERIFY_TOKEN}&{rest}")
        } else {
            rest.into_owned()
        };
        let headers = HeaderMap::new();
        let request = WebhookInput { method: "GET", headers: &headers, query: &query, body: b"", now_secs: NOW };
        return deliver(&Whatsapp, &keys, &request, signed);
    }
    let presented = if signed { Vec::new() } else { input.line().to_vec() };
    let body = input.rest();
    let presented = if signed { whatsapp::signature_header(WHATSAPP_APP_SECRET, body).into_bytes() } else { presented };
    let headers = headers(&[(whatsapp::SIGNATURE_HEADER, &presented)]);
    let request = WebhookInput { method: "POST", headers: &headers, query: "", body, now_secs: NOW };
    deliver(&Whatsapp, &keys, &request, signed)
}
