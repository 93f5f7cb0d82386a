//! WhatsApp Cloud API: the webhook's GET verification (`hub.challenge`), `X-Hub-Signature-256`
//! on every notification, batched `messages` notifications, and text messages through
//! `POST /{phone_number_id}/messages` of the Graph API.
//!
//! One notification may carry several entries, each several changes, each several messages (and
//! delivery `statuses`, which are ignored); every message becomes its own delivery, keyed by its
//! `wamid`. Only changes for this bot's `phone_number_id` are read: an app subscribed to several
//! numbers receives all of them at every number's URL.
//!
//! Meta retries a notification that did not get a 200 for up to 7 days; the platform keeps
//! delivery ids for 30 days, so a retried message is answered once.
//!
//! Messages sent in WhatsApp groups (they carry a `group_id`) are not answered yet: an answer
//! would need a group route (`recipient_type: group`), and answering in private would leak the
//! group's conversation to one member.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Channel, ChannelKeys, HttpAnswer, Inbound, ParseError, ParsedMessage, SendContext, SendError, VerifyError,
    WebhookInput, describe_http_error, hmac_sha256_hex_matches, retry_after_header, secrets_match,
};
use crate::domain::envelope;
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{ChannelKind, InboundMessage, ReplyRoute, Sender};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Throughput (130429), pair rate (131056), account rate (80007) and app call (4) limits.
const RATE_LIMIT_CODES: [i64; 4] = [130429, 131056, 80007, 4];
/// 24-hour window closed (131047), undeliverable (131026), invalid parameter (100), bad token (190).
const PERMANENT_CODES: [i64; 4] = [131047, 131026, 100, 190];
/// Unknown error (131000), service unavailable (2), unknown API error (1).
const TEMPORARY_CODES: [i64; 3] = [131000, 2, 1];

pub struct Whatsapp;

/// `sha256=` + hex HMAC-SHA256(app_secret, body): what Meta puts in `X-Hub-Signature-256`.
/// The platform only checks signatures; this is here for tests, sample events and tools.
pub fn signature_header(app_secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(default)]
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct MessagesValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    button: Option<Button>,
    #[serde(default)]
    interactive: Option<Interactive>,
}

#[derive(Debug, Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Button {
    #[serde(default)]
    text: String,
    #[serde(default)]
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Option<Reply>,
    #[serde(default)]
    list_reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
}

fn first_non_empty(a: &str, b: &str) -> Option<String> {
    [a, b].into_iter().map(str::trim).find(|s| !s.is_empty()).map(str::to_owned)
}

/// The text a person sent: a text body, a quick-reply button, or an interactive reply.
fn message_text(msg: &WaMessage) -> Option<String> {
    match msg.kind.as_str() {
        "text" => msg.text.as_ref().map(|t| t.body.clone()).filter(|t| !t.trim().is_empty()),
        "button" => msg.button.as_ref().and_then(|b| first_non_empty(&b.text, &b.payload)),
        "interactive" => {
            let i = msg.interactive.as_ref()?;
            let reply = i.button_reply.as_ref().or(i.list_reply.as_ref())?;
            first_non_empty(&reply.title, &reply.id)
        }
        _ => None,
    }
}

fn parse_notification(body: &[u8], phone_number_id: &str, now_secs: i64) -> Result<Inbound, ParseError> {
    let notification: Notification = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    if notification.object != "whatsapp_business_account" {
        return Ok(Inbound::Deliveries {
            messages: vec![],
            ack: HttpAnswer::json(200, &json!({ "ignored": "not a WhatsApp Business Account notification" })),
        });
    }
    let mut parsed = Vec::new();
    for change in notification.entry.iter().flat_map(|e| &e.changes) {
        if change.field != "messages" {
            continue;
        }
        let Some(value) = change.value.clone() else { continue };
        let value: MessagesValue =
            serde_json::from_value(value).map_err(|e| ParseError::Invalid(format!("messages change: {e}")))?;
        if value.metadata.as_ref().map(|m| m.phone_number_id.as_str()) != Some(phone_number_id) {
            // Another number of the same app: not this bot's.
            continue;
        }
        for raw in value.messages {
            // One odd message must not make Meta retry the whole batch: it is skipped alone.
            let msg: WaMessage = match serde_json::from_value(raw) {
                Ok(msg) => msg,
                Err(e) => {
                    tracing::warn!(channel = "whatsapp", error = %e, "skipping a malformed message");
                    continue;
                }
            };
            if msg.group_id.is_some() {
                continue;
            }
            let Some(text) = message_text(&msg) else { continue };
            let (Ok(conversation_id), Ok(message_id)) = (ConversationId::parse(&msg.from), MessageId::parse(&msg.id))
            else {
                tracing::warn!(channel = "whatsapp", "skipping a message with an unusable sender or id");
                continue;
            };
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == msg.from)
                .and_then(|c| c.profile.as_ref())
                .map(|p| p.name.trim().to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| msg.from.clone());
            let sent_at_secs = msg.timestamp.as_deref().and_then(|t| t.trim().parse::<i64>().ok()).unwrap_or(now_secs);
            parsed.push(ParsedMessage {
                conversation_id,
                mentions_bot: false,
                message: InboundMessage {
                    message_id,
                    sent_at_ms: sent_at_secs.saturating_mul(1000),
                    sender: Sender { id: msg.from.clone(), name, is_bot: false },
                    text,
                    is_direct: true,
                    route: ReplyRoute::Whatsapp { to: msg.from, reply_to_message_id: Some(msg.id) },
                },
            });
        }
    }
    Ok(Inbound::Deliveries { messages: parsed, ack: HttpAnswer::ok() })
}

#[async_trait::async_trait]
impl Channel for Whatsapp {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn default_api_base(&self) -> &'static str {
        "https://graph.facebook.com/v21.0"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys { required: &["app_secret", "verify_token", "access_token", "phone_number_id"], optional: &[] }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        let id = secrets.get("phone_number_id").map(|s| s.expose()).unwrap_or_default();
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err("phone_number_id must be the digits of the number's id in Meta's app dashboard \
                        (not the phone number itself)"
                .into());
        }
        let token = secrets.get("access_token").map(|s| s.expose()).unwrap_or_default();
        if token.chars().any(char::is_whitespace) {
            return Err("access_token must not contain whitespace".into());
        }
        Ok(())
    }

    /// GET: the subscription handshake (`hub.mode=subscribe`, `hub.verify_token`). POST:
    /// `X-Hub-Signature-256` over the raw body with the app secret.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        match input.method {
            "GET" => {
                let configured = secrets.get("verify_token").ok_or(VerifyError::NotConfigured("verify_token"))?;
                let mode = input.query_param("hub.mode").ok_or(VerifyError::Missing("hub.mode"))?;
                let presented =
                    input.query_param("hub.verify_token").ok_or(VerifyError::Missing("hub.verify_token"))?;
                let token_ok = secrets_match(presented.as_bytes(), configured.expose().as_bytes());
                if mode == "subscribe" && token_ok { Ok(()) } else { Err(VerifyError::Mismatch) }
            }
            "POST" => {
                let secret = secrets.get("app_secret").ok_or(VerifyError::NotConfigured("app_secret"))?;
                let presented = input.header(SIGNATURE_HEADER).ok_or(VerifyError::Missing(SIGNATURE_HEADER))?;
                let hex = presented.trim().strip_prefix("sha256=").ok_or(VerifyError::Mismatch)?;
                if hmac_sha256_hex_matches(secret.expose().as_bytes(), &[input.body], hex) {
                    Ok(())
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
            _ => Err(VerifyError::Missing("GET or POST")),
        }
    }

    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        if input.method == "GET" {
            let challenge = input
                .query_param("hub.challenge")
                .ok_or_else(|| ParseError::Invalid("hub.challenge is missing".into()))?;
            return Ok(Inbound::Answer(HttpAnswer::text(200, challenge)));
        }
        let phone_number_id = secrets
            .get("phone_number_id")
            .ok_or(ParseError::Unauthorized(VerifyError::NotConfigured("phone_number_id")))?;
        parse_notification(input.body, phone_number_id.expose(), input.now_secs)
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4096)
    }

    /// Text only: no buttons here (an approval notice's text lists its commands).
    /// Nothing to change. A text message is plain text with WhatsApp's own emphasis (`*bold*`,
    /// `_italic_`, `~strike~`, code), none of which notifies anyone or hides a link; links show
    /// as the URL itself (previews are off). Mentions exist only in groups, which are not
    /// answered, so every answer goes to the one person who wrote.
    fn neutralise(&self, text: &str) -> String {
        text.to_owned()
    }

    async fn send(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
        _buttons: &[envelope::Button],
    ) -> Result<String, SendError> {
        let ReplyRoute::Whatsapp { to, reply_to_message_id } = route else {
            return Err(SendError::Permanent("not a WhatsApp route".into()));
        };
        let token = ctx
            .secrets
            .get("access_token")
            .ok_or_else(|| SendError::Permanent("access_token is not configured".into()))?;
        let phone_number_id = ctx
            .secrets
            .get("phone_number_id")
            .map(|s| s.expose())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| SendError::Permanent("phone_number_id is not configured".into()))?;
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": { "preview_url": false, "body": text },
        });
        if let Some(id) = reply_to_message_id {
            body["context"] = json!({ "message_id": id });
        }
        let url = format!("{}/{phone_number_id}/messages", ctx.api_base.trim_end_matches('/'));
        let response = ctx
            .http
            .post(&url)
            .bearer_auth(token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Temporary(describe_http_error(self.kind(), &e)))?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Option<Value> = response.json().await.ok();
        if status.is_success()
            && let Some(id) = answer.as_ref().and_then(|a| a.pointer("/messages/0/id")).and_then(Value::as_str)
        {
            return Ok(id.to_owned());
        }
        let error = answer.as_ref().and_then(|a| a.get("error"));
        let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
        let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
        let describe =
            || format!("WhatsApp HTTP {status} code {}: {message}", code.map_or("-".into(), |c| c.to_string()));
        if status.as_u16() == 429 || code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c)) {
            return Err(SendError::RateLimited { retry_after: retry_after.unwrap_or(Duration::from_secs(2)) });
        }
        if code.is_some_and(|c| PERMANENT_CODES.contains(&c)) {
            return Err(SendError::Permanent(describe()));
        }
        if status.is_server_error() || code.is_some_and(|c| TEMPORARY_CODES.contains(&c)) {
            return Err(SendError::Temporary(describe()));
        }
        if status.is_success() {
            // 200 without a message id: Meta did not say it took the message; try again later.
            return Err(SendError::Temporary("WhatsApp answered without a message id".into()));
        }
        Err(SendError::Permanent(describe()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::cache::TtlCache;
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
        assert_eq!(
            Whatsapp.verify(&unconfigured, &post(&headers, body)),
            Err(VerifyError::NotConfigured("app_secret"))
        );
        let put = WebhookInput { method: "PUT", ..post(&headers, body) };
        assert_eq!(Whatsapp.verify(&secrets(), &put), Err(VerifyError::Missing("GET or POST")));
    }

    #[test]
    fn get_verification_echoes_the_challenge() {
        let h = http::HeaderMap::new();
        let good = format!("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}");
        assert_eq!(Whatsapp.verify(&secrets(), &get(&h, &good)), Ok(()));
        assert_eq!(
            Whatsapp.parse(&secrets(), &get(&h, &good)),
            Ok(Inbound::Answer(HttpAnswer::text(200, "1158201444")))
        );
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
        let contacts =
            json!([{"profile": {"name": "Ada"}, "wa_id": "111"}, {"profile": {"name": "Bo"}, "wa_id": "222"}]);
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
        assert_eq!(texts, ["Option one", "row-2"]);

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
        let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens: &tokens };
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
        let ctx = SendContext { http: &http, api_base: &base, secrets: &secrets, tokens: &tokens };
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
}
