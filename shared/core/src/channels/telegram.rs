//! Telegram Bot API: the webhook's secret token, `Update` parsing (messages and inline keyboard
//! clicks), `sendMessage` (with an inline keyboard for buttons).

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{
    Channel, ChannelKeys, HttpAnswer, Inbound, ParseError, ParsedMessage, SendContext, SendError, VerifyError,
    WebhookInput, describe_http_error, secrets_match,
};
use crate::domain::envelope::Button;
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{ChannelKind, InboundMessage, ReplyRoute, Sender};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Telegram's limit on an inline keyboard button's `callback_data`.
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;
/// The updates the webhook is registered for.
pub const ALLOWED_UPDATES: &[&str] = &["message", "callback_query"];

pub struct Telegram;

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<TgMessage>,
    #[serde(default)]
    callback_query: Option<TgCallbackQuery>,
}

/// A click on an inline keyboard button under one of the bot's messages.
#[derive(Debug, Deserialize)]
struct TgCallbackQuery {
    id: String,
    from: TgUser,
    /// The message the button is under; absent for messages sent in inline mode.
    #[serde(default)]
    message: Option<TgClickedMessage>,
    /// The button's `callback_data` (absent for game buttons).
    #[serde(default)]
    data: Option<String>,
}

/// The message a button was clicked under (`date` is 0 when it is no longer accessible).
#[derive(Debug, Deserialize)]
struct TgClickedMessage {
    message_id: i64,
    #[serde(default)]
    message_thread_id: Option<i64>,
    chat: TgChat,
    #[serde(default)]
    date: i64,
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

fn display_name(from: &TgUser) -> String {
    match (&from.last_name, &from.username) {
        (Some(last), _) => format!("{} {last}", from.first_name),
        (None, Some(user)) if from.first_name.is_empty() => user.clone(),
        _ => from.first_name.clone(),
    }
}

fn parse_update(body: &[u8], bot_username: Option<&str>, now_secs: i64) -> Result<Inbound, ParseError> {
    let update: Update = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let ignored =
        |why: &str| Inbound::Deliveries { messages: vec![], ack: HttpAnswer::json(200, &json!({ "ignored": why })) };
    if let Some(query) = update.callback_query {
        return parse_callback_query(update.update_id, query, now_secs);
    }
    let Some(msg) = update.message else { return Ok(ignored("not a new message")) };
    let Some(text) = msg.text.clone().or(msg.caption.clone()) else { return Ok(ignored("no text")) };
    let from = msg.from.as_ref().ok_or_else(|| ParseError::Invalid("message without sender".into()))?;
    if from.is_bot {
        // Loop guard: never answer bots, our own messages included.
        return Ok(ignored("sent by a bot"));
    }
    let name = display_name(from);
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

/// A button click becomes a message from the clicker, in the chat of the message the button is
/// under, whose text is the button's `callback_data` (its command): it then goes the way the typed
/// command would. The delivery id is the `update_id`, as for messages. Telegram gives a click no
/// time, so the clicked message's time is used: a redelivered update keeps its storage key. The
/// webhook's answer is itself the `answerCallbackQuery` call (Telegram runs a method given in the
/// webhook response), so the button's spinner stops without another request.
fn parse_callback_query(update_id: i64, query: TgCallbackQuery, now_secs: i64) -> Result<Inbound, ParseError> {
    let ack = HttpAnswer::json(200, &json!({ "method": "answerCallbackQuery", "callback_query_id": query.id }));
    let ignored = Inbound::Deliveries { messages: vec![], ack: ack.clone() };
    if query.from.is_bot {
        return Ok(ignored);
    }
    // Game buttons carry no data; a message sent in inline mode has no chat to answer in.
    let Some(text) = query.data.filter(|d| !d.trim().is_empty()) else { return Ok(ignored) };
    let Some(clicked) = query.message else { return Ok(ignored) };
    let conversation_id =
        ConversationId::parse(&clicked.chat.id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let message_id = MessageId::parse(&update_id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let sent_secs = if clicked.date > 0 { clicked.date } else { now_secs };
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id,
            // A click on the bot's own message is addressed to the bot.
            mentions_bot: true,
            message: InboundMessage {
                message_id,
                sent_at_ms: sent_secs.saturating_mul(1000),
                sender: Sender { id: query.from.id.to_string(), name: display_name(&query.from), is_bot: false },
                text,
                is_direct: clicked.chat.kind == "private",
                route: ReplyRoute::Telegram {
                    chat_id: clicked.chat.id,
                    message_thread_id: clicked.message_thread_id,
                    reply_to_message_id: Some(clicked.message_id),
                },
            },
        }],
        ack,
    })
}

/// The inline keyboard for `buttons` (one row), without a button whose command would not fit in
/// `callback_data`.
fn inline_keyboard(buttons: &[Button]) -> Option<serde_json::Value> {
    let row: Vec<_> = buttons
        .iter()
        .filter(|b| {
            let fits = !b.label.is_empty() && !b.command.is_empty() && b.command.len() <= MAX_CALLBACK_DATA_BYTES;
            if !fits {
                tracing::warn!(event = "button_dropped", channel = "telegram", label = %b.label, "the button's command does not fit in callback_data (1-64 bytes)");
            }
            fits
        })
        .map(|b| json!({ "text": b.label, "callback_data": b.command }))
        .collect();
    (!row.is_empty()).then(|| json!({ "inline_keyboard": [row] }))
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
        parse_update(input.body, secrets.get("bot_username").map(|s| s.expose()), input.now_secs)
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4096)
    }

    /// Nothing to change. Messages go without `parse_mode` or `entities`, so Telegram reads no
    /// markup in them: `<b>`, `*bold*`, `[text](url)` and `tg://user?id=…` show as typed, and the
    /// mentions that need markup (`text_mention`, links to a user) cannot be made. Telegram itself
    /// highlights `@username`, `/command`, URLs and the like in plain text: there is no "everyone"
    /// in Telegram, and a `@username` notifies that one person, as when any member writes it, so
    /// it is kept (an answer may well name someone). A tapped `/command` is sent as the tapper's
    /// own message and checked like one they typed.
    fn neutralise(&self, text: &str) -> String {
        text.to_owned()
    }

    async fn send(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
        buttons: &[Button],
    ) -> Result<String, SendError> {
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
        if let Some(keyboard) = inline_keyboard(buttons) {
            body["reply_markup"] = keyboard;
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
    let body = json!({ "url": webhook_url, "secret_token": secret.expose(), "allowed_updates": ALLOWED_UPDATES });
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
        old["callback_query"]["message"] =
            json!({"message_id": 555, "chat": {"id": 9001, "type": "private"}, "date": 0});
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
        let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens };
        let route =
            ReplyRoute::Telegram { chat_id: -100123, message_thread_id: Some(7), reply_to_message_id: Some(99) };
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
        let ctx = SendContext { http: &http, api_base: &base, secrets: &s, tokens: &tokens };
        let route = ReplyRoute::Telegram { chat_id: 9001, message_thread_id: None, reply_to_message_id: None };
        let buttons = [
            Button::new("Approve once", "/approve pr1 once"),
            Button::new("Too long", format!("/approve {} once", "x".repeat(60))),
            Button::danger("Reject", "/reject pr1"),
        ];
        assert_eq!(Telegram.send(&ctx, &route, "Permission request pr1", &buttons).await.unwrap(), "555");
        assert_eq!(Telegram.send(&ctx, &route, "no buttons", &[]).await.unwrap(), "555");
        let sent: Vec<serde_json::Value> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
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
}
