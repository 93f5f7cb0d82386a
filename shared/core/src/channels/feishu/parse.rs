//! Callbacks: the `url_verification` challenge and `im.message.receive_v1` events (schema
//! 2.0), with the verification token and, without an `encrypt_key`, the event's own time checked.

use serde::Deserialize;
use serde_json::{Value, json};

use super::crypto::plaintext;
use crate::channels::{HttpAnswer, Inbound, ParseError, ParsedMessage, VerifyError, is_fresh, secrets_match};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{InboundMessage, ReplyRoute, Sender};
use crate::domain::secrets::ChannelSecrets;

/// Checks the token a callback carries against the configured `verification_token`, if any.
fn check_token(secrets: &ChannelSecrets, presented: Option<&str>) -> Result<(), ParseError> {
    let Some(configured) = secrets.get("verification_token") else { return Ok(()) };
    let presented = presented.ok_or(ParseError::Unauthorized(VerifyError::Missing("token")))?;
    if secrets_match(presented.as_bytes(), configured.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ParseError::Unauthorized(VerifyError::Mismatch))
    }
}

#[derive(Debug, Deserialize)]
struct Callback {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    header: Option<EventHeader>,
    #[serde(default)]
    event: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct EventHeader {
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    create_time: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct MessageReceived {
    sender: EventSender,
    message: EventMessage,
}

#[derive(Debug, Deserialize)]
struct EventSender {
    #[serde(default)]
    sender_id: Option<UserIds>,
    #[serde(default)]
    sender_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct UserIds {
    #[serde(default)]
    open_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    union_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventMessage {
    message_id: String,
    /// The first message of the reply tree; in a thread (话题), its root.
    #[serde(default)]
    root_id: Option<String>,
    chat_id: String,
    /// Set (`omt_…`) on messages in a thread; a quote reply outside threads has none.
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    chat_type: Option<String>,
    message_type: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    mentions: Vec<Mention>,
    #[serde(default)]
    create_time: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Mention {
    key: String,
    #[serde(default)]
    id: Option<UserIds>,
    #[serde(default)]
    name: String,
}

/// Milliseconds from a string or a number.
fn millis(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Longest text the mention names may grow a message to; placeholders past it stay as they
/// are. A message can hold no more than the body the webhook accepts.
const MAX_NAMED_TEXT_BYTES: usize = 256 * 1024;

/// Replaces the `@_user_N` placeholders of a text message with `@name`, in one pass over the
/// text: a name put in is never searched for placeholders itself. Names are chosen by people,
/// and replacing placeholder after placeholder in the whole text let a name holding another
/// mention's placeholder double the text, mention after mention (nine such mentions in a 2 KB
/// event took the webhook past 2 GB).
fn with_mention_names(text: &str, mentions: &[Mention]) -> String {
    let mut ordered: Vec<&Mention> = mentions.iter().filter(|m| !m.key.is_empty()).collect();
    // Longest first, so `@_user_1` never eats the start of `@_user_10`.
    ordered.sort_by_key(|m| std::cmp::Reverse(m.key.len()));
    let mut named = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let mention = ordered.iter().find(|m| rest.starts_with(m.key.as_str()));
        match mention {
            Some(m) if named.len() + 1 + m.name.len() <= MAX_NAMED_TEXT_BYTES => {
                named.push('@');
                named.push_str(&m.name);
                rest = &rest[m.key.len()..];
            }
            _ => {
                named.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    named
}

/// The thread a message is in, named by its root message: a thread is a conversation of its own
/// (`{chat}:{root}`). By the root, not the `omt_` thread id, because Feishu's send API cannot
/// address a thread by its id: an answer reaches it only as a reply to its root with
/// `reply_in_thread`, and a scheduled answer has only the conversation id to go by. In a thread
/// every message's `root_id` is the root (Feishu's rule); the root itself, opening a topic in a
/// topic group, has the thread id but no `root_id`. A quote reply outside threads (`root_id`
/// without `thread_id`) stays in its chat's conversation.
fn thread_root(msg: &EventMessage) -> Option<String> {
    msg.thread_id.as_deref().filter(|t| !t.is_empty())?;
    Some(msg.root_id.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| msg.message_id.clone()))
}

fn ignored(why: &str) -> Inbound {
    Inbound::Deliveries { messages: vec![], ack: HttpAnswer::json(200, &json!({ "ignored": why })) }
}

pub(super) fn parse_callback(secrets: &ChannelSecrets, body: &[u8], now_secs: i64) -> Result<Inbound, ParseError> {
    let value = plaintext(secrets, body)?;
    let callback: Callback = serde_json::from_value(value).map_err(|e| ParseError::Json(e.to_string()))?;
    // Schema 2.0 carries the token in `header`; schema 1 and the challenge at the top.
    let token = callback.header.as_ref().and_then(|h| h.token.as_deref()).or(callback.token.as_deref());
    check_token(secrets, token)?;

    if callback.kind.as_deref() == Some("url_verification") {
        let challenge =
            callback.challenge.ok_or_else(|| ParseError::Invalid("url_verification without challenge".into()))?;
        return Ok(Inbound::Answer(HttpAnswer::json(200, &json!({ "challenge": challenge }))));
    }
    let Some(header) = callback.header else { return Ok(ignored("not a schema 2.0 event")) };
    if secrets.get("encrypt_key").is_none() {
        // Only the token vouches for this event, and it is the same in every event: the event's
        // own time is what tells a fresh delivery from a recorded one replayed.
        let created_ms = millis(header.create_time.as_ref())
            .ok_or(ParseError::Unauthorized(VerifyError::Missing("header.create_time")))?;
        if !is_fresh(created_ms.div_euclid(1000), now_secs) {
            return Err(ParseError::Unauthorized(VerifyError::Stale));
        }
    }
    if header.event_type.as_deref() != Some("im.message.receive_v1") {
        return Ok(ignored("not a received message"));
    }
    let event = callback.event.ok_or_else(|| ParseError::Invalid("im.message.receive_v1 without event".into()))?;
    let received: MessageReceived =
        serde_json::from_value(event).map_err(|e| ParseError::Invalid(format!("im.message.receive_v1: {e}")))?;
    if received.sender.sender_type.as_deref() != Some("user") {
        // Loop guard: never answer apps, this bot included.
        return Ok(ignored("not sent by a user"));
    }
    let msg = received.message;
    let mut attachments = Vec::new();
    let text = if msg.message_type == "text" {
        #[derive(Deserialize)]
        struct TextContent {
            text: String,
        }
        let content: TextContent = serde_json::from_str(&msg.content)
            .map_err(|e| ParseError::Invalid(format!("text message content is not {{\"text\": …}}: {e}")))?;
        let text = with_mention_names(&content.text, &msg.mentions);
        if text.trim().is_empty() {
            return Ok(ignored("empty text"));
        }
        text
    } else if let Some(attachment) = super::media::attachment(&msg.message_type, &msg.content, &msg.message_id) {
        // Feishu's file messages carry no text: the message is its file.
        attachments.push(attachment);
        String::new()
    } else {
        return Ok(ignored("neither text nor a file"));
    };
    let ids = received.sender.sender_id.unwrap_or_default();
    let sender_id = ids
        .open_id
        .or(ids.user_id)
        .or(ids.union_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ParseError::Invalid("message without sender id".into()))?;
    let event_id = header.event_id.ok_or_else(|| ParseError::Invalid("event without header.event_id".into()))?;
    let message_id = MessageId::parse(&event_id).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let thread_root_id = thread_root(&msg);
    let conversation_id = match &thread_root_id {
        Some(root) => ConversationId::thread(&msg.chat_id, root),
        None => ConversationId::parse(&msg.chat_id),
    }
    .map_err(|e| ParseError::Invalid(e.to_string()))?;
    let is_direct = msg.chat_type.as_deref() == Some("p2p");
    let mentions_bot = match secrets.get("bot_open_id") {
        Some(bot) => msg
            .mentions
            .iter()
            .any(|m| m.id.as_ref().and_then(|id| id.open_id.as_deref()).is_some_and(|id| id == bot.expose())),
        None => !is_direct && !msg.mentions.is_empty(),
    };
    let sent_at_ms = millis(msg.create_time.as_ref())
        .or_else(|| millis(header.create_time.as_ref()))
        .unwrap_or(now_secs.saturating_mul(1000));
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id,
            mentions_bot,
            message: InboundMessage {
                attachments,
                message_id,
                sent_at_ms,
                sender: Sender { id: sender_id.clone(), name: sender_id, is_bot: false },
                text,
                is_direct,
                route: ReplyRoute::Feishu {
                    chat_id: msg.chat_id,
                    reply_to_message_id: Some(msg.message_id),
                    thread_root_id,
                },
            },
        }],
        ack: HttpAnswer::ok(),
    })
}
