//! Text messages through the Graph API's `/{phone_number_id}/messages`, and what Meta's error
//! codes mean.

use std::time::Duration;

use serde_json::{Value, json};

use crate::channels::{SendContext, SendError, describe_http_error, retry_after_header};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Throughput (130429), pair rate (131056), account rate (80007) and app call (4) limits.
const RATE_LIMIT_CODES: [i64; 4] = [130429, 131056, 80007, 4];
/// 24-hour window closed (131047), undeliverable (131026), invalid parameter (100), bad token (190).
const PERMANENT_CODES: [i64; 4] = [131047, 131026, 100, 190];
/// Unknown error (131000), service unavailable (2), unknown API error (1).
const TEMPORARY_CODES: [i64; 3] = [131000, 2, 1];

/// Sends one text message to the route's person, as a reply to their message where the route
/// names one; link previews are off.
pub(super) async fn send_text(ctx: &SendContext<'_>, route: &ReplyRoute, text: &str) -> Result<String, SendError> {
    let ReplyRoute::Whatsapp { to, reply_to_message_id } = route else {
        return Err(SendError::Permanent("not a WhatsApp route".into()));
    };
    let token =
        ctx.secrets.get("access_token").ok_or_else(|| SendError::Permanent("access_token is not configured".into()))?;
    let phone_number_id = ctx
        .secrets
        .get("phone_number_id")
        .map(|s| s.expose())
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| SendError::Permanent("phone_number_id is not configured".into()))?;
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
    let url = format!("{}/{phone_number_id}/messages", ctx.api_base.trim_end_matches('/'));
    let response = ctx
        .http
        .post(&url)
        .bearer_auth(token.expose())
        .json(&body)
        .send()
        .await
        .map_err(|e| SendError::Temporary(describe_http_error(ChannelKind::Whatsapp, &e)))?;
    let status = response.status();
    let retry_after = retry_after_header(response.headers());
    let answer: Option<Value> = response.json().await.ok();
    if status.is_success()
        && let Some(id) = answer.as_ref().and_then(|a| a.pointer("/messages/0/id")).and_then(Value::as_str)
    {
        return Ok(id.to_owned());
    }
    let error = answer.as_ref().and_then(|a| a.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
    let describe = || format!("WhatsApp HTTP {status} code {}: {message}", code.map_or("-".into(), |c| c.to_string()));
    if status.as_u16() == 429 || code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c)) {
        return Err(SendError::RateLimited { retry_after: retry_after.unwrap_or(Duration::from_secs(2)) });
    }
    if code.is_some_and(|c| PERMANENT_CODES.contains(&c)) {
        return Err(SendError::Permanent(describe()));
    }
    if status.is_server_error() || code.is_some_and(|c| TEMPORARY_CODES.contains(&c)) {
        return Err(SendError::Temporary(describe()));
    }
    if status.is_success() {
        // 200 without a message id: Meta did not say it took the message; try again later.
        return Err(SendError::Temporary("WhatsApp answered without a message id".into()));
    }
    Err(SendError::Permanent(describe()))
}
