//! Telegram `Update`s: new messages (with the mention rules for groups) and clicks on inline
//! keyboard buttons, each as the message it stands for.

use serde::Deserialize;
use serde_json::json;

use crate::channels::{HttpAnswer, Inbound, ParseError, ParsedMessage};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::media::{Attachment, MediaKind, MediaSource};
use crate::domain::model::{InboundMessage, ReplyRoute, Sender};

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
    #[serde(default)]
    is_topic_message: bool,
    chat: TgChat,
    #[serde(default)]
    date: i64,
}

#[derive(Debug, Deserialize)]
struct TgMessage {
    message_id: i64,
    #[serde(default)]
    message_thread_id: Option<i64>,
    /// Set on messages in a forum topic (`message_thread_id` alone also marks a reply thread).
    #[serde(default)]
    is_topic_message: bool,
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
    /// A photo in several sizes, smallest first: the largest is taken.
    #[serde(default)]
    photo: Vec<TgFile>,
    #[serde(default)]
    document: Option<TgFile>,
    #[serde(default)]
    voice: Option<TgFile>,
    #[serde(default)]
    audio: Option<TgFile>,
    #[serde(default)]
    video: Option<TgFile>,
}

/// A file a message carries (`PhotoSize`, `Document`, `Voice`, `Audio`, `Video` share these).
#[derive(Debug, Deserialize)]
struct TgFile {
    file_id: String,
    #[serde(default)]
    file_size: Option<u64>,
    #[serde(default)]
    file_name: Option<String>,
}

impl TgMessage {
    /// The files the message carries: the largest size of a photo, and any document, voice
    /// note, audio or video.
    fn attachments(&self) -> Vec<Attachment> {
        let largest_photo = self.photo.iter().max_by_key(|p| p.file_size.unwrap_or(0));
        let files = [
            (MediaKind::Photo, largest_photo),
            (MediaKind::Document, self.document.as_ref()),
            (MediaKind::Voice, self.voice.as_ref()),
            (MediaKind::Audio, self.audio.as_ref()),
            (MediaKind::Video, self.video.as_ref()),
        ];
        files
            .into_iter()
            .filter_map(|(kind, file)| {
                let file = file?;
                Some(Attachment {
                    kind,
                    source: MediaSource::TelegramFile { file_id: file.file_id.clone() },
                    name: file.file_name.clone(),
                    declared_size: file.file_size,
                })
            })
            .collect()
    }
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

pub(super) fn parse_update(body: &[u8], bot_username: Option<&str>, now_secs: i64) -> Result<Inbound, ParseError> {
    let update: Update = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let ignored =
        |why: &str| Inbound::Deliveries { messages: vec![], ack: HttpAnswer::json(200, &json!({ "ignored": why })) };
    if let Some(query) = update.callback_query {
        return parse_callback_query(update.update_id, query, now_secs);
    }
    let Some(msg) = update.message else { return Ok(ignored("not a new message")) };
    let attachments = msg.attachments();
    let Some(text) = msg.text.clone().or(msg.caption.clone()).or_else(|| (!attachments.is_empty()).then(String::new))
    else {
        return Ok(ignored("no text"));
    };
    let from = msg.from.as_ref().ok_or_else(|| ParseError::Invalid("message without sender".into()))?;
    if from.is_bot {
        // Loop guard: never answer bots, our own messages included.
        return Ok(ignored("sent by a bot"));
    }
    let name = display_name(from);
    let conversation_id = conversation_of(msg.chat.id, msg.is_topic_message, msg.message_thread_id)?;
    let message_id = MessageId::parse(&update.update_id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let mentions_bot = mentions(&msg, &text, bot_username);
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id,
            mentions_bot,
            message: InboundMessage {
                attachments,
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
/// A forum topic is a conversation of its own (`{chat}:{topic}`); anything else is its chat's.
fn conversation_of(chat_id: i64, is_topic: bool, thread: Option<i64>) -> Result<ConversationId, ParseError> {
    let id = match thread.filter(|_| is_topic) {
        Some(topic) => ConversationId::thread(&chat_id.to_string(), &topic.to_string()),
        None => ConversationId::parse(&chat_id.to_string()),
    };
    id.map_err(|e| ParseError::Invalid(e.to_string()))
}

fn parse_callback_query(update_id: i64, query: TgCallbackQuery, now_secs: i64) -> Result<Inbound, ParseError> {
    let ack = HttpAnswer::json(200, &json!({ "method": "answerCallbackQuery", "callback_query_id": query.id }));
    let ignored = Inbound::Deliveries { messages: vec![], ack: ack.clone() };
    if query.from.is_bot {
        return Ok(ignored);
    }
    // Game buttons carry no data; a message sent in inline mode has no chat to answer in.
    let Some(text) = query.data.filter(|d| !d.trim().is_empty()) else { return Ok(ignored) };
    let Some(clicked) = query.message else { return Ok(ignored) };
    let conversation_id = conversation_of(clicked.chat.id, clicked.is_topic_message, clicked.message_thread_id)?;
    let message_id = MessageId::parse(&update_id.to_string()).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let sent_secs = if clicked.date > 0 { clicked.date } else { now_secs };
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id,
            // A click on the bot's own message is addressed to the bot.
            mentions_bot: true,
            message: InboundMessage {
                attachments: Vec::new(),
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
