//! Interactions as Discord posts them: the endpoint's `PING`, slash commands (their options
//! rendered as text, so the chat commands `/help`, `/new`, `/status`, `/usage`, `/reset` read as
//! typed; attachment options become the message's files instead) and message components (button clicks, menu choices), each acknowledged with the
//! deferred response Discord needs within 3 seconds. An interaction from a thread belongs to the
//! thread's conversation.

use serde::Deserialize;
use serde_json::{Value, json};

use super::snowflake_ms;
use crate::channels::{HttpAnswer, Inbound, ParseError, ParsedMessage};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{DiscordInteraction, InboundMessage, ReplyRoute, Sender};

/// Interaction types.
const PING: u64 = 1;
const APPLICATION_COMMAND: u64 = 2;
const MESSAGE_COMPONENT: u64 = 3;
/// Interaction callback types.
const PONG: u64 = 1;
const DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: u64 = 5;
const DEFERRED_UPDATE_MESSAGE: u64 = 6;

/// Application command option types whose options are nested options.
const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;
const STRING: u64 = 3;

#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    application_id: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    channel: Option<PartialChannel>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct PartialChannel {
    id: String,
    #[serde(default, rename = "type")]
    kind: Option<u64>,
    #[serde(default)]
    parent_id: Option<String>,
}

/// Channel types of threads: announcement, public and private.
const THREAD_TYPES: [u64; 3] = [10, 11, 12];

#[derive(Debug, Deserialize)]
struct Member {
    #[serde(default)]
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    global_name: Option<String>,
    #[serde(default)]
    bot: bool,
}

#[derive(Debug, Deserialize)]
struct CommandData {
    name: String,
    #[serde(default)]
    options: Vec<CommandOption>,
}

#[derive(Debug, Deserialize)]
struct CommandOption {
    name: String,
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    options: Vec<CommandOption>,
}

#[derive(Debug, Deserialize)]
struct ComponentData {
    custom_id: String,
    #[serde(default)]
    values: Vec<String>,
}

fn option_value(value: &Option<Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// `/name` and its options: the value alone for a single string option (`/ask what is up`),
/// else `name=value` pairs; subcommands by name (`/config set key=x`).
fn render_options(options: &[CommandOption], out: &mut String) {
    // Attachments are the message's files, not text (their option's value is only an id).
    let options: Vec<&CommandOption> = options.iter().filter(|o| o.kind != super::media::ATTACHMENT_OPTION).collect();
    if let [only] = options.as_slice()
        && only.kind == STRING
    {
        out.push(' ');
        out.push_str(&option_value(&only.value));
        return;
    }
    for option in options {
        out.push(' ');
        out.push_str(&option.name);
        if matches!(option.kind, SUB_COMMAND | SUB_COMMAND_GROUP) {
            render_options(&option.options, out);
        } else {
            out.push('=');
            out.push_str(&option_value(&option.value));
        }
    }
}

fn command_text(data: Value) -> Result<String, ParseError> {
    let data: CommandData = serde_json::from_value(data).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let mut text = format!("/{}", data.name);
    render_options(&data.options, &mut text);
    Ok(text)
}

/// A button's `custom_id`; a select menu's choices follow it (`pick a,b`).
fn component_text(data: Value) -> Result<String, ParseError> {
    let data: ComponentData = serde_json::from_value(data).map_err(|e| ParseError::Invalid(e.to_string()))?;
    Ok(if data.values.is_empty() { data.custom_id } else { format!("{} {}", data.custom_id, data.values.join(",")) })
}

pub(super) fn parse_interaction(body: &[u8]) -> Result<Inbound, ParseError> {
    let interaction: Interaction = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let invalid = |what: &str| ParseError::Invalid(format!("interaction without {what}"));
    let (ack_type, text, attachments) = match interaction.kind {
        PING => return Ok(Inbound::Answer(HttpAnswer::json(200, &json!({ "type": PONG })))),
        APPLICATION_COMMAND => {
            let data = interaction.data.ok_or_else(|| invalid("data"))?;
            let attachments = super::media::attachments(&data);
            (DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, command_text(data)?, attachments)
        }
        MESSAGE_COMPONENT => {
            (DEFERRED_UPDATE_MESSAGE, component_text(interaction.data.ok_or_else(|| invalid("data"))?)?, Vec::new())
        }
        other => return Err(ParseError::Invalid(format!("interaction type {other} is not handled"))),
    };
    let ack = HttpAnswer::json(200, &json!({ "type": ack_type }));
    let id = interaction.id.ok_or_else(|| invalid("an id"))?;
    let application_id = interaction.application_id.ok_or_else(|| invalid("an application_id"))?;
    let token = interaction.token.filter(|t| !t.is_empty()).ok_or_else(|| invalid("a token"))?;
    let thread_parent = match &interaction.channel {
        Some(PartialChannel { kind: Some(kind), parent_id, .. }) if THREAD_TYPES.contains(kind) => {
            Some(parent_id.clone().filter(|p| !p.is_empty()).ok_or_else(|| invalid("its thread's parent_id"))?)
        }
        _ => None,
    };
    let channel_id =
        interaction.channel_id.or(interaction.channel.map(|c| c.id)).ok_or_else(|| invalid("a channel"))?;
    let user = interaction.member.and_then(|m| m.user).or(interaction.user).ok_or_else(|| invalid("a user"))?;
    let sent_at_ms = snowflake_ms(&id).ok_or_else(|| ParseError::Invalid(format!("id {id:?} is not a snowflake")))?;
    if user.bot {
        // Loop guard: never answer bots.
        return Ok(Inbound::Deliveries { messages: vec![], ack });
    }
    let name = user.global_name.filter(|n| !n.is_empty()).unwrap_or(if user.username.is_empty() {
        user.id.clone()
    } else {
        user.username
    });
    let to_invalid = |e: crate::domain::ids::IdError| ParseError::Invalid(e.to_string());
    // A thread is a conversation of its own, named under its parent channel (`{parent}:{thread}`),
    // which is what group allowlists list; answers go into the thread.
    let (conversation_id, channel_id, thread_id) = match thread_parent {
        Some(parent) => (ConversationId::thread(&parent, &channel_id).map_err(to_invalid)?, parent, Some(channel_id)),
        None => (ConversationId::parse(&channel_id).map_err(to_invalid)?, channel_id, None),
    };
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id,
            // A command or a click is addressed to the bot.
            mentions_bot: true,
            message: InboundMessage {
                attachments,
                message_id: MessageId::parse(&id).map_err(to_invalid)?,
                sent_at_ms,
                sender: Sender { id: user.id, name, is_bot: false },
                text,
                is_direct: interaction.guild_id.is_none(),
                route: ReplyRoute::Discord {
                    channel_id,
                    interaction: Some(DiscordInteraction { application_id, token }),
                    thread_id,
                },
            },
        }],
        ack,
    })
}
