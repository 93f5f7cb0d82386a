//! Messages out: an interaction's follow-up (or a channel message with the bot token, into a
//! thread where the route names one), buttons as action rows, the application's commands, and
//! what Discord's answers mean.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::is_snowflake;
use crate::channels::api::{ApiAnswer, Refusal, exchange};
use crate::channels::{SendContext, SendError};
use crate::domain::envelope::Button;
use crate::domain::model::{ChannelKind, DiscordInteraction, ReplyRoute};
use crate::domain::secrets::{ChannelSecrets, Secret};

/// Message flag: no link previews.
pub(super) const SUPPRESS_EMBEDS: u64 = 1 << 2;
/// Component types and button styles; Discord's limits on buttons.
const ACTION_ROW: u64 = 1;
const BUTTON: u64 = 2;
const PRIMARY: u64 = 1;
const DANGER: u64 = 4;
const MAX_CUSTOM_ID_CHARS: usize = 100;
const MAX_LABEL_CHARS: usize = 80;
const BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;
/// Application command type (a slash command) and option type (a string).
const CHAT_INPUT: u64 = 1;
const STRING_OPTION: u64 = 3;

/// Action rows of buttons (five to a row, at most five rows), each button's `custom_id` its
/// command; a button whose command is longer than a `custom_id` may be is dropped.
fn components(buttons: &[Button]) -> Vec<Value> {
    let usable: Vec<Value> = buttons
        .iter()
        .filter(|b| !b.label.is_empty() && !b.command.is_empty() && b.command.chars().count() <= MAX_CUSTOM_ID_CHARS)
        .take(BUTTONS_PER_ROW * MAX_ROWS)
        .map(|b| {
            let label: String = b.label.chars().take(MAX_LABEL_CHARS).collect();
            json!({
                "type": BUTTON,
                "style": if b.danger { DANGER } else { PRIMARY },
                "label": label,
                "custom_id": b.command,
            })
        })
        .collect();
    usable.chunks(BUTTONS_PER_ROW).map(|row| json!({ "type": ACTION_ROW, "components": row })).collect()
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    retry_after: Option<f64>,
}

/// Posts one message: the interaction's follow-up when the route has one, else a message in
/// the channel with the bot token. Nobody is pinged and no link previewed.
pub(super) async fn post_message(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    text: &str,
    buttons: &[Button],
) -> Result<String, SendError> {
    // No @everyone, @here, role or user pings, whatever the text says; no link previews.
    let mut body = json!({ "content": text, "allowed_mentions": { "parse": [] }, "flags": SUPPRESS_EMBEDS });
    let rows = components(buttons);
    if !rows.is_empty() {
        body["components"] = json!(rows);
    }
    let request = message_request(ctx, route)?;
    let answer = exchange(ChannelKind::Discord, request.json(&body)).await?;
    if answer.status.is_success() {
        let id = answer.body.as_ref().and_then(|b| b.get("id")).map(|id| match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        return Ok(id.unwrap_or_default());
    }
    Err(refusal(&answer))
}

/// Where a message for `route` is posted: the interaction's follow-up when the route has one
/// (no bot token needed; `wait` makes Discord return the message), else the channel, or the
/// thread the route names, with the bot token.
pub(super) fn message_request(ctx: &SendContext<'_>, route: &ReplyRoute) -> Result<reqwest::RequestBuilder, SendError> {
    let ReplyRoute::Discord { channel_id, interaction, thread_id } = route else {
        return Err(SendError::Permanent("not a Discord route".into()));
    };
    let base = ctx.api_base.trim_end_matches('/');
    Ok(match interaction {
        Some(interaction) => ctx.http.post(format!("{}?wait=true", webhook_url(base, interaction)?)),
        None => {
            // A thread is a channel: a message to it goes into the thread. (A follow-up goes
            // where its interaction was, the thread included.)
            let target = thread_id.as_ref().unwrap_or(channel_id);
            if !is_snowflake(channel_id) || !is_snowflake(target) {
                return Err(SendError::Permanent("malformed channel id in the route".into()));
            }
            ctx.http
                .post(format!("{base}/channels/{target}/messages"))
                .header(reqwest::header::AUTHORIZATION, format!("Bot {}", bot_token(ctx.secrets)?.expose()))
        }
    })
}

fn bot_token(secrets: &ChannelSecrets) -> Result<&Secret, SendError> {
    secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))
}

/// The application's global commands: the chat commands the platform answers itself, and `ask`
/// (a string option, `question`, and an optional attachment, `file`), which reaches the agent as
/// `/ask {question}` with the file as the message's attachment.
pub(super) fn application_commands() -> Value {
    let chat = crate::chat_commands::COMMAND_MENU.iter().copied();
    let mut commands = vec![json!({
        "name": "ask", "type": CHAT_INPUT, "description": "Ask the assistant",
        "options": [
            {"type": STRING_OPTION, "name": "question", "description": "What to ask", "required": true},
            {"type": super::media::ATTACHMENT_OPTION, "name": "file", "description": "A file to ask about", "required": false},
        ],
    })];
    commands
        .extend(chat.map(|(name, description)| json!({"name": name, "type": CHAT_INPUT, "description": description})));
    Value::Array(commands)
}

/// Puts [`application_commands`] as the application's global commands (`PUT
/// /applications/{id}/commands`, a bulk overwrite: commands not listed are deleted, so running it
/// again changes nothing).
pub(super) async fn register_commands(
    http: &reqwest::Client,
    api_base: &str,
    secrets: &ChannelSecrets,
) -> Result<(), SendError> {
    let application_id = secrets.get("application_id").map(|s| s.expose()).unwrap_or_default();
    if !is_snowflake(application_id) {
        return Err(SendError::Permanent("application_id is not configured as an application id".into()));
    }
    let url = format!("{}/applications/{application_id}/commands", api_base.trim_end_matches('/'));
    let request = http
        .put(url)
        .header(reqwest::header::AUTHORIZATION, format!("Bot {}", bot_token(secrets)?.expose()))
        .json(&application_commands());
    let answer = exchange(ChannelKind::Discord, request).await?;
    if answer.status.is_success() { Ok(()) } else { Err(refusal(&answer)) }
}

/// The interaction's webhook (`{base}/webhooks/{application}/{token}`). The ids come from a
/// verified request, but they go into a URL path: nothing that could leave the path segment
/// (`/`, `?`, `#`, `%`) is let through.
fn webhook_url(base: &str, interaction: &DiscordInteraction) -> Result<String, SendError> {
    let DiscordInteraction { application_id, token } = interaction;
    let token_ok = !token.is_empty()
        && token.len() <= 1000
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'='));
    if !is_snowflake(application_id) || !token_ok {
        return Err(SendError::Permanent("malformed interaction in the route".into()));
    }
    Ok(format!("{base}/webhooks/{application_id}/{token}"))
}

/// The status of an interaction's run: its original response (the deferred "thinking…" the
/// webhook answered with), edited in place. A route without an interaction has none.
pub(super) const ORIGINAL_RESPONSE: &str = "@original";

/// Edits the interaction's original response to `text` (`PATCH …/messages/@original`); nobody
/// is pinged and no link previewed. `None` for a route without an interaction (nothing sent).
pub(super) async fn edit_original(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    text: &str,
) -> Result<Option<String>, SendError> {
    let ReplyRoute::Discord { interaction: Some(interaction), .. } = route else { return Ok(None) };
    let url = format!("{}/messages/{ORIGINAL_RESPONSE}", webhook_url(ctx.api_base.trim_end_matches('/'), interaction)?);
    let body = json!({ "content": text, "allowed_mentions": { "parse": [] }, "flags": SUPPRESS_EMBEDS });
    let answer = exchange(ChannelKind::Discord, ctx.http.patch(url).json(&body)).await?;
    if answer.status.is_success() {
        return Ok(Some(ORIGINAL_RESPONSE.to_owned()));
    }
    Err(refusal(&answer))
}

/// What a Discord answer that is not a success means.
pub(super) fn refusal(answer: &ApiAnswer) -> SendError {
    let error = answer.body_as::<ApiError>();
    // A rate limit's wait is in the body (fractional seconds) and in `Retry-After`.
    let body_wait = error
        .as_ref()
        .and_then(|e| e.retry_after)
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e6)
        .map(Duration::from_secs_f64);
    let detail = match error {
        Some(ApiError { message, code, .. }) => {
            format!("{} (code {})", message.unwrap_or_default(), code.unwrap_or_default())
        }
        None => "unreadable body".to_owned(),
    };
    // 401/403 (bad token, no access), 404 (unknown channel, interaction expired), 400: permanent.
    let refusal = Refusal::new(answer.status, format!("Discord HTTP {}: {detail}", answer.status));
    refusal.retry_after(body_wait.or(answer.retry_after())).into_error()
}
