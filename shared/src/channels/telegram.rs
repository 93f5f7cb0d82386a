//! Telegram Bot API: webhook secret token, `Update` parsing, `sendMessage`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{ParseError, SendError, VerifyError, secrets_match};
use crate::ids::{ConversationId, MessageId};
use crate::model::{InboundMessage, ReplyRoute, Sender};
use crate::secrets::ChannelSecrets;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// Telegram's limit for one message's text.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Checks `X-Telegram-Bot-Api-Secret-Token` against the bot's `webhook_secret`. With no secret
/// configured, every request is refused.
pub fn verify(secrets: Option<&ChannelSecrets>, presented: Option<&[u8]>) -> Result<(), VerifyError> {
    let configured =
        secrets.and_then(|s| s.get("webhook_secret")).ok_or(VerifyError::NotConfigured("webhook_secret"))?;
    let presented = presented.ok_or(VerifyError::MissingHeader(SECRET_HEADER))?;
    if secrets_match(presented, configured.expose().as_bytes()) { Ok(()) } else { Err(VerifyError::Mismatch) }
}

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

/// What a verified update means for us.
#[derive(Debug, PartialEq, Eq)]
pub enum ParsedUpdate {
    Message {
        conversation_id: ConversationId,
        message: InboundMessage,
    },
    /// An update we do not act on (edits, joins, messages without text, messages from bots).
    Ignored {
        update_id: i64,
        why: &'static str,
    },
}

pub fn parse_update(body: &[u8]) -> Result<ParsedUpdate, ParseError> {
    let update: Update = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let Some(msg) = update.message else {
        return Ok(ParsedUpdate::Ignored { update_id: update.update_id, why: "not a new message" });
    };
    let Some(text) = msg.text.or(msg.caption) else {
        return Ok(ParsedUpdate::Ignored { update_id: update.update_id, why: "no text" });
    };
    let from = msg.from.ok_or_else(|| ParseError::Invalid("message without sender".into()))?;
    if from.is_bot {
        // Loop guard: never answer bots, our own messages included.
        return Ok(ParsedUpdate::Ignored { update_id: update.update_id, why: "sent by a bot" });
    }
    let name = match (&from.last_name, &from.username) {
        (Some(last), _) => format!("{} {last}", from.first_name),
        (None, Some(user)) if from.first_name.is_empty() => user.clone(),
        _ => from.first_name.clone(),
    };
    let conversation_id =
        ConversationId::parse(&msg.chat.id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let message_id = MessageId::parse(&update.update_id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    Ok(ParsedUpdate::Message {
        conversation_id,
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

/// Sends one message with `sendMessage` and returns Telegram's message id.
pub async fn send_message(
    http: &reqwest::Client,
    api_base: &str,
    bot_token: &str,
    route: &ReplyRoute,
    text: &str,
) -> Result<String, SendError> {
    let ReplyRoute::Telegram { chat_id, message_thread_id, reply_to_message_id } = route;
    let mut body = json!({
        "chat_id": chat_id,
        "text": text,
        "link_preview_options": {"is_disabled": true},
    });
    if let Some(thread) = message_thread_id {
        body["message_thread_id"] = json!(thread);
    }
    if let Some(reply_to) = reply_to_message_id {
        body["reply_parameters"] = json!({"message_id": reply_to, "allow_sending_without_reply": true});
    }
    let url = format!("{}/bot{}/sendMessage", api_base.trim_end_matches('/'), bot_token);
    // The URL holds the token: errors must not print it, so the reqwest error is reduced to its kind.
    let response =
        http.post(&url).json(&body).send().await.map_err(|e| SendError::Temporary(describe_http_error(&e)))?;
    let status = response.status();
    let parsed: Option<ApiResponse> = response.json().await.ok();
    match parsed {
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
                Err(SendError::Permanent(format!("Telegram {code}: {description}")))
            }
        }
        None if status.is_server_error() => Err(SendError::Temporary(format!("Telegram HTTP {status}"))),
        None => Err(SendError::Permanent(format!("Telegram HTTP {status} with an unreadable body"))),
    }
}

fn describe_http_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "request to Telegram timed out".into()
    } else if e.is_connect() {
        "could not connect to Telegram".into()
    } else {
        "request to Telegram failed".into()
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
        ChannelSecrets(m)
    }

    #[test]
    fn verify_fails_closed() {
        assert_eq!(verify(None, Some(b"x")), Err(VerifyError::NotConfigured("webhook_secret")));
        assert_eq!(verify(Some(&secrets("")), Some(b"")), Err(VerifyError::NotConfigured("webhook_secret")));
        assert_eq!(verify(Some(&secrets("s3cret")), None), Err(VerifyError::MissingHeader(SECRET_HEADER)));
        assert_eq!(verify(Some(&secrets("s3cret")), Some(b"s3cre")), Err(VerifyError::Mismatch));
        assert_eq!(verify(Some(&secrets("s3cret")), Some(b"s3cret")), Ok(()));
    }

    #[test]
    fn parses_a_private_text_message() {
        let body = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":42,"is_bot":false,"first_name":"Ada","last_name":"L"},"chat":{"id":42,"type":"private"},"date":1700000000,"text":"hi"}}"#;
        let ParsedUpdate::Message { conversation_id, message } = parse_update(body).unwrap() else { panic!() };
        assert_eq!(conversation_id.as_str(), "42");
        assert_eq!(message.message_id.as_str(), "9");
        assert_eq!(message.sent_at_ms, 1_700_000_000_000);
        assert_eq!(message.sender.name, "Ada L");
        assert!(message.is_direct);
        assert_eq!(
            message.route,
            ReplyRoute::Telegram { chat_id: 42, message_thread_id: None, reply_to_message_id: Some(7) }
        );
    }

    #[test]
    fn ignores_bots_and_non_messages() {
        let from_bot = br#"{"update_id":9,"message":{"message_id":7,"from":{"id":1,"is_bot":true,"first_name":"B"},"chat":{"id":42,"type":"group"},"date":1,"text":"x"}}"#;
        assert!(matches!(parse_update(from_bot).unwrap(), ParsedUpdate::Ignored { why: "sent by a bot", .. }));
        assert!(matches!(
            parse_update(br#"{"update_id":10,"edited_message":{}}"#).unwrap(),
            ParsedUpdate::Ignored { .. }
        ));
        assert!(matches!(parse_update(b"{nope"), Err(ParseError::Json(_))));
        assert!(matches!(parse_update(br#"{"message":{}}"#), Err(ParseError::Json(_))));
    }
}
