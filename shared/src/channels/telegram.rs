//! Telegram Bot API: the webhook's secret token, `Update` parsing, `sendMessage`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{
    Channel, ChannelKeys, HttpAnswer, Inbound, ParseError, ParsedMessage, SendContext, SendError, VerifyError,
    WebhookInput, describe_http_error, secrets_match,
};
use crate::ids::{ConversationId, MessageId};
use crate::model::{ChannelKind, InboundMessage, ReplyRoute, Sender};
use crate::secrets::ChannelSecrets;
use crate::text::TextLimit;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

pub struct Telegram;

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<TgMessage>,
}

#[derive(Debug, Deserialize)]
struct TgMessage {
    message_id: i64,
    #[serde(default)]
    message_thread_id: Option<i64>,
    #[serde(default)]
    from: Option<TgUser>,
    chat: TgChat,
    date: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    entities: Vec<TgEntity>,
    #[serde(default)]
    reply_to_message: Option<Box<TgReplied>>,
}

#[derive(Debug, Deserialize)]
struct TgReplied {
    #[serde(default)]
    from: Option<TgUser>,
}

#[derive(Debug, Deserialize)]
struct TgEntity {
    #[serde(rename = "type")]
    kind: String,
    offset: usize,
    length: usize,
}

#[derive(Debug, Deserialize)]
struct TgUser {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TgChat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

/// Text of an entity; Telegram measures offsets in UTF-16 code units.
fn entity_text(text: &str, entity: &TgEntity) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    let end = (entity.offset + entity.length).min(units.len());
    String::from_utf16_lossy(&units[entity.offset.min(end)..end])
}

/// Does the message address the bot: an @mention of its username, a /command@username, or a
/// reply to one of its messages? (`bot_username` is the optional `bot_username` setting.)
fn mentions(msg: &TgMessage, text: &str, bot_username: Option<&str>) -> bool {
    let Some(username) = bot_username.map(|u| u.trim_start_matches('@').to_ascii_lowercase()) else { return false };
    let replied_to_bot = msg
        .reply_to_message
        .as_ref()
        .and_then(|r| r.from.as_ref())
        .and_then(|f| f.username.as_deref())
        .is_some_and(|u| u.eq_ignore_ascii_case(&username));
    replied_to_bot
        || msg.entities.iter().any(|e| {
            let t = entity_text(text, e).to_ascii_lowercase();
            (e.kind == "mention" && t == format!("@{username}"))
                || (e.kind == "bot_command" && t.ends_with(&format!("@{username}")))
        })
}

fn parse_update(body: &[u8], bot_username: Option<&str>) -> Result<Inbound, ParseError> {
    let update: Update = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let ignored =
        |why: &str| Inbound::Deliveries { messages: vec![], ack: HttpAnswer::json(200, &json!({ "ignored": why })) };
    let Some(msg) = update.message else { return Ok(ignored("not a new message")) };
    let Some(text) = msg.text.clone().or(msg.caption.clone()) else { return Ok(ignored("no text")) };
    let from = msg.from.as_ref().ok_or_else(|| ParseError::Invalid("message without sender".into()))?;
    if from.is_bot {
        // Loop guard: never answer bots, our own messages included.
        return Ok(ignored("sent by a bot"));
    }
    let name = match (&from.last_name, &from.username) {
        (Some(last), _) => format!("{} {last}", from.first_name),
        (None, Some(user)) if from.first_name.is_empty() => user.clone(),
        _ => from.first_name.clone(),
    };
    let conversation_id =
        ConversationId::parse(&msg.chat.id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let message_id = MessageId::parse(&update.update_id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let mentions_bot = mentions(&msg, &text, bot_username);
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id,
            mentions_bot,
            message: InboundMessage {
                message_id,
                sent_at_ms: msg.date.saturating_mul(1000),
                sender: Sender { id: from.id.to_string(), name, is_bot: false },
                text,
                is_direct: msg.chat.kind == "private",
                route: ReplyRoute::Telegram {
                    chat_id: msg.chat.id,
                    message_thread_id: msg.message_thread_id,
                    reply_to_message_id: Some(msg.message_id),
                },
            },
        }],
        ack: HttpAnswer::ok(),
    })
}

#[derive(Debug, Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Debug, Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

#[async_trait::async_trait]
impl Channel for Telegram {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn default_api_base(&self) -> &'static str {
        "https://api.telegram.org"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys { required: &["bot_token", "webhook_secret"], optional: &["bot_username"] }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        let secret = secrets.get("webhook_secret").map(|s| s.expose()).unwrap_or_default();
        if secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err("webhook_secret must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)".into());
        }
        let token = secrets.get("bot_token").map(|s| s.expose()).unwrap_or_default();
        if !token.contains(':') || token.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err("bot_token does not look like a Telegram bot token (<digits>:<key>)".into());
        }
        Ok(())
    }

    /// `X-Telegram-Bot-Api-Secret-Token` must equal the bot's `webhook_secret`.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        let configured = secrets.get("webhook_secret").ok_or(VerifyError::NotConfigured("webhook_secret"))?;
        if input.method != "POST" {
            return Err(VerifyError::Missing("POST"));
        }
        let presented = input.headers.get(SECRET_HEADER).ok_or(VerifyError::Missing(SECRET_HEADER))?;
        if secrets_match(presented.as_bytes(), configured.expose().as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        parse_update(input.body, secrets.get("bot_username").map(|s| s.expose()))
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4096)
    }

    async fn send(&self, ctx: &SendContext<'_>, route: &ReplyRoute, text: &str) -> Result<String, SendError> {
        let ReplyRoute::Telegram { chat_id, message_thread_id, reply_to_message_id } = route else {
            return Err(SendError::Permanent("not a Telegram route".into()));
        };
        let token =
            ctx.secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))?;
        let mut body = json!({ "chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": true} });
        if let Some(thread) = message_thread_id {
            body["message_thread_id"] = json!(thread);
        }
        if let Some(reply_to) = reply_to_message_id {
            body["reply_parameters"] = json!({"message_id": reply_to, "allow_sending_without_reply": true});
        }
        let url = format!("{}/bot{}/sendMessage", ctx.api_base.trim_end_matches('/'), token.expose());
        let response = ctx
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Temporary(describe_http_error(self.kind(), &e)))?;
        let status = response.status();
        match response.json::<ApiResponse>().await.ok() {
            Some(ApiResponse { ok: true, result, .. }) => Ok(result
                .and_then(|r| r.get("message_id").and_then(|id| id.as_i64()))
                .map(|id| id.to_string())
                .unwrap_or_default()),
            Some(ApiResponse { error_code, description, parameters, .. }) => {
                let code = error_code.unwrap_or(status.as_u16());
                let description = description.unwrap_or_default();
                if code == 429 {
                    let secs = parameters.and_then(|p| p.retry_after).unwrap_or(1);
                    Err(SendError::RateLimited { retry_after: Duration::from_secs(secs) })
                } else if code >= 500 {
                    Err(SendError::Temporary(format!("Telegram {code}: {description}")))
                } else {
                    // 400 chat not found, 403 blocked by the user, 401 bad token: retrying cannot help.
                    Err(SendError::Permanent(format!("Telegram {code}: {description}")))
                }
            }
            None if status.is_server_error() => Err(SendError::Temporary(format!("Telegram HTTP {status}"))),
            None => Err(SendError::Permanent(format!("Telegram HTTP {status} with an unreadable body"))),
        }
    }
}

/// Registers the webhook with Telegram (`setWebhook` with the secret token).
pub async fn set_webhook(
    http: &reqwest::Client,
    api_base: &str,
    secrets: &ChannelSecrets,
    webhook_url: &str,
) -> Result<(), SendError> {
    let token = secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))?;
    let secret =
        secrets.get("webhook_secret").ok_or_else(|| SendError::Permanent("webhook_secret is not configured".into()))?;
    let url = format!("{}/bot{}/setWebhook", api_base.trim_end_matches('/'), token.expose());
    let body = json!({ "url": webhook_url, "secret_token": secret.expose(), "allowed_updates": ["message"] });
    let response = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| SendError::Temporary(describe_http_error(ChannelKind::Telegram, &e)))?;
    let status = response.status();
    match response.json::<ApiResponse>().await.ok() {
        Some(ApiResponse { ok: true, .. }) => Ok(()),
        Some(ApiResponse { description, .. }) => {
            Err(SendError::Permanent(format!("setWebhook failed: {}", description.unwrap_or_default())))
        }
        None => Err(SendError::Temporary(format!("setWebhook: Telegram HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::secrets::Secret;

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
        let parsed = only(parse_update(body, None).unwrap());
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
    fn group_mentions_are_recognised_by_username() {
        let body = "{\"update_id\":9,\"message\":{\"message_id\":7,\"from\":{\"id\":42,\"first_name\":\"Ada\"},\"chat\":{\"id\":-100,\"type\":\"group\"},\"date\":1,\"text\":\"\u{1F600} @Helper_Bot hi\",\"entities\":[{\"type\":\"mention\",\"offset\":3,\"length\":11}]}}";
        let parsed = only(parse_update(body.as_bytes(), Some("helper_bot")).unwrap());
        assert!(parsed.mentions_bot, "the emoji is two UTF-16 units; the mention must still be found");
        assert!(!parsed.message.is_direct);
        let plain = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":42,"first_name":"Ada"},"chat":{"id":-100,"type":"group"},"date":1,"text":"hi all"}}"#;
        assert!(!only(parse_update(plain, Some("helper_bot")).unwrap()).mentions_bot);
    }

    #[test]
    fn ignores_bots_and_non_messages() {
        let from_bot = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":1,"is_bot":true,"first_name":"B"},"chat":{"id":42,"type":"group"},"date":1,"text":"x"}}"#;
        assert!(
            matches!(parse_update(from_bot, None).unwrap(), Inbound::Deliveries { messages, .. } if messages.is_empty())
        );
        assert!(
            matches!(parse_update(br#"{"update_id":10,"edited_message":{}}"#, None).unwrap(), Inbound::Deliveries { messages, .. } if messages.is_empty())
        );
        assert!(matches!(parse_update(b"{nope", None), Err(ParseError::Json(_))));
        assert!(matches!(parse_update(br#"{"message":{}}"#, None), Err(ParseError::Json(_))));
    }
}
