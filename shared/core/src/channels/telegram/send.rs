//! `sendMessage` (buttons as an inline keyboard), `setWebhook` with `setMyCommands`, and what Telegram's answers
//! to them mean.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{ALLOWED_UPDATES, MAX_CALLBACK_DATA_BYTES};
use crate::channels::api::{Refusal, exchange};
use crate::channels::{SendContext, SendError};
use crate::domain::envelope::Button;
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;

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

/// Sends one message with `sendMessage`: plain text (no `parse_mode`), no link previews, in the
/// route's topic and as a reply where it names a message.
pub(super) async fn send_message(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    text: &str,
    buttons: &[Button],
) -> Result<String, SendError> {
    let ReplyRoute::Telegram { chat_id, message_thread_id, reply_to_message_id } = route else {
        return Err(SendError::Permanent("not a Telegram route".into()));
    };
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
    let result = call(ctx, "sendMessage", &body).await?;
    Ok(result.and_then(|r| r.get("message_id").and_then(|id| id.as_i64())).map(|id| id.to_string()).unwrap_or_default())
}

/// Calls the Bot API method `method` with `body`; its `result` on success.
pub(super) async fn call(
    ctx: &SendContext<'_>,
    method: &str,
    body: &serde_json::Value,
) -> Result<Option<serde_json::Value>, SendError> {
    let token =
        ctx.secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))?;
    let url = format!("{}/bot{}/{method}", ctx.api_base.trim_end_matches('/'), token.expose());
    call_request(ctx.http.post(&url).json(body)).await
}

/// Sends a Bot API request (JSON or multipart) and reads its answer: its `result` on success.
pub(super) async fn call_request(request: reqwest::RequestBuilder) -> Result<Option<serde_json::Value>, SendError> {
    let answer = exchange(ChannelKind::Telegram, request).await?;
    match answer.body_as::<ApiResponse>() {
        Some(ApiResponse { ok: true, result, .. }) => Ok(result),
        Some(ApiResponse { error_code, description, parameters, .. }) => {
            // Telegram's code is the HTTP status it stands for (400 chat not found, 403 blocked by
            // the user, 401 bad token, 429 with the wait in `parameters`).
            let code = error_code.unwrap_or(answer.status.as_u16());
            let detail = format!("Telegram {code}: {}", description.unwrap_or_default());
            let wait = parameters.and_then(|p| p.retry_after).map(Duration::from_secs);
            Err(Refusal::new(code, detail).retry_after(wait).into_error())
        }
        None => Err(Refusal::unreadable("Telegram", answer.status).into_error()),
    }
}

/// `sendChatAction` `typing` in the route's chat (and topic): shown for about 5 seconds, or until
/// the bot's next message.
pub(super) async fn send_typing(ctx: &SendContext<'_>, route: &ReplyRoute) -> Result<(), SendError> {
    let ReplyRoute::Telegram { chat_id, message_thread_id, .. } = route else {
        return Err(SendError::Permanent("not a Telegram route".into()));
    };
    let mut body = json!({ "chat_id": chat_id, "action": "typing" });
    if let Some(thread) = message_thread_id {
        body["message_thread_id"] = json!(thread);
    }
    call(ctx, "sendChatAction", &body).await.map(|_| ())
}

/// `editMessageText` of the bot's message `message_id` in the route's chat. An edit to the
/// text it already has is no failure (Telegram refuses it as "message is not modified").
pub(super) async fn edit_message_text(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    message_id: &str,
    text: &str,
) -> Result<(), SendError> {
    let ReplyRoute::Telegram { chat_id, .. } = route else {
        return Err(SendError::Permanent("not a Telegram route".into()));
    };
    let Ok(message_id) = message_id.parse::<i64>() else {
        return Err(SendError::Permanent("not a Telegram message id".into()));
    };
    let body = json!({
        "chat_id": chat_id,
        "message_id": message_id,
        "text": text,
        "link_preview_options": {"is_disabled": true},
    });
    match call(ctx, "editMessageText", &body).await {
        Err(SendError::Permanent(detail)) if detail.contains("message is not modified") => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Registers the webhook with Telegram (`setWebhook` with the secret token).
pub(super) async fn set_webhook(
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
    let answer = exchange(ChannelKind::Telegram, http.post(&url).json(&body)).await?;
    api_answer("setWebhook", &answer)?;
    // The command menu Telegram shows under "/": the chat commands the platform answers itself.
    let url = format!("{}/bot{}/setMyCommands", api_base.trim_end_matches('/'), token.expose());
    let commands: Vec<_> = crate::chat_commands::COMMAND_MENU
        .iter()
        .map(|(command, description)| json!({ "command": command, "description": description }))
        .collect();
    let answer = exchange(ChannelKind::Telegram, http.post(&url).json(&json!({ "commands": commands }))).await?;
    api_answer("setMyCommands", &answer)
}

/// A Bot API method's `{"ok": …}` answer as a result.
fn api_answer(method: &str, answer: &crate::channels::api::ApiAnswer) -> Result<(), SendError> {
    match answer.body_as::<ApiResponse>() {
        Some(ApiResponse { ok: true, .. }) => Ok(()),
        Some(ApiResponse { description, .. }) => {
            Err(SendError::Permanent(format!("{method} failed: {}", description.unwrap_or_default())))
        }
        None => Err(SendError::Temporary(format!("{method}: Telegram HTTP {}", answer.status))),
    }
}
