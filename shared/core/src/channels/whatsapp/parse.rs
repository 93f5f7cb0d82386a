//! Notifications: every message of a batch for this bot's number becomes its own delivery
//! (delivery statuses, group messages and what has neither text nor a file are skipped).

use serde::Deserialize;
use serde_json::{Value, json};

use super::media::{WaMedia, attachment};
use crate::channels::{HttpAnswer, Inbound, ParseError, ParsedMessage};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{InboundMessage, ReplyRoute, Sender};

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
    #[serde(default)]
    image: Option<WaMedia>,
    #[serde(default)]
    document: Option<WaMedia>,
    #[serde(default)]
    audio: Option<WaMedia>,
    #[serde(default)]
    video: Option<WaMedia>,
    #[serde(default)]
    sticker: Option<WaMedia>,
}

impl WaMessage {
    /// The media object of a media message, the one its `type` names.
    fn media(&self) -> Option<&WaMedia> {
        match self.kind.as_str() {
            "image" => self.image.as_ref(),
            "document" => self.document.as_ref(),
            "audio" => self.audio.as_ref(),
            "video" => self.video.as_ref(),
            "sticker" => self.sticker.as_ref(),
            _ => None,
        }
    }
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

/// The text a person sent: a text body, a quick-reply button, an interactive reply, or a media
/// message's caption.
fn message_text(msg: &WaMessage) -> Option<String> {
    if let Some(media) = msg.media() {
        return media.caption().map(str::to_owned);
    }
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

pub(super) fn parse_notification(body: &[u8], phone_number_id: &str, now_secs: i64) -> Result<Inbound, ParseError> {
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
            let attachments: Vec<_> = msg.media().and_then(|m| attachment(&msg.kind, m)).into_iter().collect();
            // A file without a caption is a message with empty text.
            let text = match message_text(&msg) {
                Some(text) => text,
                None if !attachments.is_empty() => String::new(),
                None => continue,
            };
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
                    attachments,
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
