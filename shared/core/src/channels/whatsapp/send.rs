//! Text messages through the Graph API's `/{phone_number_id}/messages`, and what Meta's error
//! codes mean.

use std::time::Duration;

use serde_json::{Value, json};

use crate::channels::api::{ApiAnswer, Refusal, exchange};
use crate::channels::{SendContext, SendError};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Throughput (130429), pair rate (131056), account rate (80007) and app call (4) limits.
const RATE_LIMIT_CODES: [i64; 4] = [130429, 131056, 80007, 4];
/// 24-hour window closed (131047), undeliverable (131026), invalid parameter (100), bad token (190).
const PERMANENT_CODES: [i64; 4] = [131047, 131026, 100, 190];
/// Unknown error (131000), service unavailable (2), unknown API error (1).
const TEMPORARY_CODES: [i64; 3] = [131000, 2, 1];
/// The wait when Meta rate-limits without a `Retry-After`, longer than the shared default: the
/// same person can be sent only so many messages in a few seconds (the pair rate, 131056).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Sends one text message to the route's person, as a reply to their message where the route
/// names one; link previews are off.
pub(super) async fn send_text(ctx: &SendContext<'_>, route: &ReplyRoute, text: &str) -> Result<String, SendError> {
    let ReplyRoute::Whatsapp { to, reply_to_message_id } = route else {
        return Err(SendError::Permanent("not a WhatsApp route".into()));
    };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "preview_url": false, "body": text },
    });
    if let Some(id) = reply_to_message_id {
        body["context"] = json!({ "message_id": id });
    }
    post_message(ctx, &body).await
}

/// Posts one message (`POST /{phone_number_id}/messages`); the sent message's `wamid`.
pub(super) async fn post_message(ctx: &SendContext<'_>, body: &Value) -> Result<String, SendError> {
    let (token, phone_number_id) = credentials(ctx)?;
    let url = format!("{}/{phone_number_id}/messages", ctx.api_base.trim_end_matches('/'));
    let answer = exchange(ChannelKind::Whatsapp, ctx.http.post(&url).bearer_auth(token.expose()).json(body)).await?;
    let sent_id = answer.body.as_ref().and_then(|a| a.pointer("/messages/0/id")).and_then(Value::as_str);
    if answer.status.is_success()
        && let Some(id) = sent_id
    {
        return Ok(id.to_owned());
    }
    Err(refusal(&answer, "send"))
}

/// What a Graph API answer that is not a success (or a success without what was asked for)
/// means, by Meta's error codes; `what` names the call.
pub(super) fn refusal(answer: &ApiAnswer, what: &str) -> SendError {
    let status = answer.status;
    let error = answer.body.as_ref().and_then(|a| a.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
    let described =
        format!("WhatsApp {what} HTTP {status} code {}: {message}", code.map_or("-".into(), |c| c.to_string()));
    let (retryable, detail) = match code {
        Some(c) if PERMANENT_CODES.contains(&c) => (Some(false), described),
        Some(c) if TEMPORARY_CODES.contains(&c) => (Some(true), described),
        // 200 without a message id: Meta did not say it took the message; try again later.
        _ if status.is_success() => (Some(true), "WhatsApp answered without a message id".to_owned()),
        _ => (None, described),
    };
    let rate_limited = code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c));
    let wait = answer.retry_after().unwrap_or(DEFAULT_RETRY_AFTER);
    Refusal::new(status, detail).rate_limited(rate_limited).retry_after(Some(wait)).retryable(retryable).into_error()
}

/// The typing indicator on the message the route replies to: Meta marks that message read and
/// shows "typing…" for up to 25 seconds or until the next message
/// (`{"status": "read", "message_id", "typing_indicator": {"type": "text"}}`). A route that names
/// no message (a scheduled run's) shows nothing.
pub(super) async fn send_typing(ctx: &SendContext<'_>, route: &ReplyRoute) -> Result<(), SendError> {
    let ReplyRoute::Whatsapp { reply_to_message_id: Some(message_id), .. } = route else { return Ok(()) };
    let (token, phone_number_id) = credentials(ctx)?;
    let body = json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
        "typing_indicator": { "type": "text" },
    });
    let url = format!("{}/{phone_number_id}/messages", ctx.api_base.trim_end_matches('/'));
    let answer = exchange(ChannelKind::Whatsapp, ctx.http.post(&url).bearer_auth(token.expose()).json(&body)).await?;
    if answer.status.is_success() {
        return Ok(());
    }
    let message = answer.body.as_ref().and_then(|a| a.pointer("/error/message")).and_then(Value::as_str);
    Err(Refusal::new(
        answer.status,
        format!("WhatsApp typing: HTTP {}: {}", answer.status, message.unwrap_or_default()),
    )
    .retry_after(answer.retry_after())
    .into_error())
}

/// The access token and the sending phone number's id (digits only: it goes into the URL path).
pub(super) fn credentials<'a>(
    ctx: &'a SendContext<'_>,
) -> Result<(&'a crate::domain::secrets::Secret, &'a str), SendError> {
    let token =
        ctx.secrets.get("access_token").ok_or_else(|| SendError::Permanent("access_token is not configured".into()))?;
    let phone_number_id = ctx
        .secrets
        .get("phone_number_id")
        .map(|s| s.expose())
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| SendError::Permanent("phone_number_id is not configured".into()))?;
    Ok((token, phone_number_id))
}
