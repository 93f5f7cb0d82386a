//! Form-encoded requests: slash commands, interactive payloads (button clicks and menu choices)
//! and the certificate check of a slash command's URL.

use std::collections::HashMap;

use serde::Deserialize;

use super::{id, ts_millis};
use crate::channels::{HttpAnswer, Inbound, ParseError, ParsedMessage, WebhookInput};
use crate::chat_commands::parse_chat_command;
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{InboundMessage, ReplyRoute, Sender};

/// The empty 200 Slack expects for slash commands and interactions (anything else would be shown
/// to the person as a message).
fn empty_ack() -> HttpAnswer {
    HttpAnswer::text(200, "")
}

/// The message a slash command is: `{command} {text}`, so an app's `/help`, `/new`, `/usage` and
/// `/reset` read as the chat commands they name. Slack keeps `/status` for itself (an app cannot
/// register it), so a command whose whole text is one chat command's name is that command:
/// `/clawless status` is `/status` (and `/ask help` is `/help`).
fn slash_command_text(command: &str, text: &str) -> String {
    let word = text.trim().trim_start_matches('/');
    let named = format!("/{word}");
    let is_command_name = !word.is_empty() && !word.contains(char::is_whitespace) && !word.contains('@');
    if parse_chat_command(command).is_none() && is_command_name && parse_chat_command(&named).is_some() {
        return named.to_ascii_lowercase();
    }
    format!("{command} {text}").trim().to_owned()
}

/// A slash command: addressed to the bot, so it always triggers an answer. Slack runs an app's
/// slash commands outside threads only, so it is the channel's (or DM's) conversation; direct
/// only in a DM (`D…`), so a slash command in a channel meets the group policy, as a message there
/// would, and a DM pairing never admits anyone in a channel.
fn parse_slash_command(fields: &HashMap<String, String>, sent_at_ms: i64) -> Result<Inbound, ParseError> {
    let field = |name: &'static str| {
        fields
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ParseError::Invalid(format!("slash command without {name}")))
    };
    let command = field("command")?;
    let user_id = field("user_id")?;
    let channel_id = field("channel_id")?;
    let trigger_id = field("trigger_id")?;
    let text = slash_command_text(command, fields.get("text").map(String::as_str).unwrap_or_default());
    let name = fields.get("user_name").filter(|n| !n.is_empty()).unwrap_or(user_id).clone();
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id: id(ConversationId::parse, channel_id)?,
            mentions_bot: true,
            message: InboundMessage {
                attachments: Vec::new(),
                message_id: id(MessageId::parse, trigger_id)?,
                sent_at_ms,
                sender: Sender { id: user_id.clone(), name, is_bot: false },
                text,
                is_direct: channel_id.starts_with('D'),
                route: ReplyRoute::Slack { channel_id: channel_id.clone(), thread_ts: None },
            },
        }],
        ack: empty_ack(),
    })
}

#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    user: Option<InteractionUser>,
    #[serde(default)]
    channel: Option<IdOnly>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    message: Option<ContainerMessage>,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct InteractionUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ContainerMessage {
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    selected_option: Option<SelectedOption>,
    #[serde(default)]
    action_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SelectedOption {
    value: String,
}

/// Button clicks and menu choices (`block_actions`): one message per action, whose text is the
/// action's `value` (a button's or the chosen option's), else its `action_id`. Approval buttons
/// carry their decision in the value, so the text is exactly what the button was given.
fn parse_interaction(payload: &str, fallback_ms: i64) -> Result<Inbound, ParseError> {
    let interaction: Interaction = serde_json::from_str(payload).map_err(|e| ParseError::Json(e.to_string()))?;
    if interaction.kind != "block_actions" {
        return Ok(Inbound::Deliveries { messages: vec![], ack: empty_ack() });
    }
    let user = interaction.user.ok_or_else(|| ParseError::Invalid("block_actions without a user".into()))?;
    let container = interaction.container.unwrap_or(Container { channel_id: None, message_ts: None, thread_ts: None });
    let channel_id = interaction
        .channel
        .map(|c| c.id)
        .or(container.channel_id)
        .ok_or_else(|| ParseError::Invalid("block_actions without a channel".into()))?;
    let is_direct = channel_id.starts_with('D');
    let thread_ts = container.thread_ts.or(interaction.message.and_then(|m| m.thread_ts)).or(if is_direct {
        None
    } else {
        container.message_ts.clone()
    });
    let name = user.name.or(user.username).filter(|n| !n.is_empty()).unwrap_or_else(|| user.id.clone());
    let count = interaction.actions.len();
    let mut messages = Vec::with_capacity(count);
    for (i, action) in interaction.actions.into_iter().enumerate() {
        let delivery = match (&interaction.trigger_id, &container.message_ts) {
            (Some(trigger), _) if count == 1 => trigger.clone(),
            (Some(trigger), _) => format!("{trigger}:{i}"),
            (None, Some(ts)) => format!("{ts}:{}", action.action_id),
            (None, None) => return Err(ParseError::Invalid("block_actions without a trigger_id".into())),
        };
        let text = action
            .value
            .filter(|v| !v.is_empty())
            .or(action.selected_option.map(|o| o.value))
            .unwrap_or_else(|| action.action_id.clone());
        messages.push(ParsedMessage {
            // The conversation of the thread the clicked message is in, as for messages.
            conversation_id: match &thread_ts {
                Some(thread) => {
                    ConversationId::thread(&channel_id, thread).map_err(|e| ParseError::Invalid(e.to_string()))?
                }
                None => id(ConversationId::parse, &channel_id)?,
            },
            mentions_bot: true,
            message: InboundMessage {
                attachments: Vec::new(),
                message_id: id(MessageId::parse, &delivery)?,
                sent_at_ms: action.action_ts.as_deref().and_then(ts_millis).unwrap_or(fallback_ms),
                sender: Sender { id: user.id.clone(), name: name.clone(), is_bot: false },
                text,
                is_direct,
                route: ReplyRoute::Slack { channel_id: channel_id.clone(), thread_ts: thread_ts.clone() },
            },
        });
    }
    Ok(Inbound::Deliveries { messages, ack: empty_ack() })
}

pub(super) fn parse_form(body: &[u8], sent_at_ms: i64) -> Result<Inbound, ParseError> {
    let fields: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    if let Some(payload) = fields.get("payload") {
        parse_interaction(payload, sent_at_ms)
    } else if fields.contains_key("command") {
        parse_slash_command(&fields, sent_at_ms)
    } else if fields.get("ssl_check").is_some_and(|v| v == "1") {
        // Slack checks the certificate of a slash command's URL with this.
        Ok(Inbound::Answer(empty_ack()))
    } else {
        Err(ParseError::Invalid("form body is neither a slash command nor an interaction payload".into()))
    }
}

pub(super) fn is_form(input: &WebhookInput<'_>) -> bool {
    match input.header("content-type") {
        Some(ct) => ct.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"),
        None => input.body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{'),
    }
}
