//! The Events API: the `url_verification` challenge and `message` events (a mention is read
//! from the text; `app_mention` events are acknowledged and dropped, see the module doc).

use serde::Deserialize;
use serde_json::json;

use super::{id, ts_millis};
use crate::channels::{HttpAnswer, Inbound, ParseError, ParsedMessage};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{InboundMessage, ReplyRoute, Sender};

fn ignored(why: &str) -> Inbound {
    Inbound::Deliveries { messages: vec![], ack: HttpAnswer::json(200, &json!({ "ignored": why })) }
}

/// Does `text` mention the user `user_id` (`<@U123>`, or the older `<@U123|name>`)?
fn mentions_user(text: &str, user_id: &str) -> bool {
    text.contains(&format!("<@{user_id}>")) || text.contains(&format!("<@{user_id}|"))
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    /// Kept as JSON: events other than messages have other shapes (`user` is an object in some).
    #[serde(default)]
    event: Option<serde_json::Value>,
    #[serde(default)]
    authorizations: Vec<Authorization>,
}

#[derive(Debug, Deserialize)]
struct Authorization {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageEvent {
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    /// Files shared with the message (subtype `file_share`, or files added to a text).
    #[serde(default)]
    files: Vec<super::media::SlackFile>,
}

pub(super) fn parse_events_api(body: &[u8], bot_user_setting: Option<&str>) -> Result<Inbound, ParseError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    match envelope.kind.as_str() {
        "url_verification" => {
            let challenge =
                envelope.challenge.ok_or_else(|| ParseError::Invalid("url_verification without a challenge".into()))?;
            return Ok(Inbound::Answer(HttpAnswer::json(200, &json!({ "challenge": challenge }))));
        }
        "event_callback" => {}
        _ => return Ok(ignored("not an event callback")),
    }
    let event = envelope.event.ok_or_else(|| ParseError::Invalid("event_callback without an event".into()))?;
    match event.get("type").and_then(|t| t.as_str()) {
        Some("message") => {}
        // Slack also sends the mention as a `message` event, which is the one answered.
        Some("app_mention") => return Ok(ignored("app_mention: answered through its message event")),
        _ => return Ok(ignored("not a message event")),
    }
    let event: MessageEvent = serde_json::from_value(event).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let bot_user_id = bot_user_setting
        .map(str::to_owned)
        .or_else(|| envelope.authorizations.first().and_then(|a| a.user_id.clone()))
        .filter(|u| !u.is_empty());
    match event.subtype.as_deref() {
        None | Some("thread_broadcast") | Some("file_share") => {}
        Some("bot_message") => return Ok(ignored("sent by a bot")),
        Some(_) => return Ok(ignored("not a new message")),
    }
    // Loop guard: never answer bots, our own messages included.
    if event.bot_id.is_some() {
        return Ok(ignored("sent by a bot"));
    }
    let user = event.user.ok_or_else(|| ParseError::Invalid("message without a user".into()))?;
    if bot_user_id.as_deref() == Some(user.as_str()) {
        return Ok(ignored("sent by this bot"));
    }
    let attachments = super::media::attachments(event.files);
    // A file without a caption is a message with empty text.
    let text = event.text.filter(|t| !t.trim().is_empty()).unwrap_or_default();
    if text.is_empty() && attachments.is_empty() {
        return Ok(ignored("no text"));
    }
    let channel = event.channel.ok_or_else(|| ParseError::Invalid("message without a channel".into()))?;
    let ts = event.ts.ok_or_else(|| ParseError::Invalid("message without a ts".into()))?;
    let sent_at_ms = ts_millis(&ts).ok_or_else(|| ParseError::Invalid(format!("unreadable ts {ts:?}")))?;
    let event_id = envelope.event_id.ok_or_else(|| ParseError::Invalid("event_callback without an event_id".into()))?;
    let is_direct = event.channel_type.as_deref() == Some("im");
    // In a channel, answer in the message's thread (its own ts starts one); in a DM, in the DM
    // itself, unless the person wrote inside a thread there.
    let thread_ts = match (is_direct, event.thread_ts) {
        (_, Some(thread)) => Some(thread),
        (true, None) => None,
        (false, None) => Some(ts),
    };
    let mentions_bot = bot_user_id.as_deref().is_some_and(|bot| mentions_user(&text, bot));
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            // A thread is a conversation of its own; a DM outside any thread is the DM's.
            conversation_id: match &thread_ts {
                Some(thread) => {
                    ConversationId::thread(&channel, thread).map_err(|e| ParseError::Invalid(e.to_string()))?
                }
                None => id(ConversationId::parse, &channel)?,
            },
            mentions_bot,
            message: InboundMessage {
                attachments,
                message_id: id(MessageId::parse, &event_id)?,
                sent_at_ms,
                sender: Sender { id: user.clone(), name: user, is_bot: false },
                text,
                is_direct,
                route: ReplyRoute::Slack { channel_id: channel, thread_ts },
            },
        }],
        ack: HttpAnswer::ok(),
    })
}
