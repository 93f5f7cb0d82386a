//! `chat.postMessage` (buttons in Block Kit) and what Slack's answers mean.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::channels::{SendContext, SendError, describe_http_error, retry_after_header};
use crate::domain::envelope::Button;
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::text::{TextLimit, split_message};

/// Block Kit limits: a section's text, a button's label and value, an actions block's elements.
const MAX_SECTION_CHARS: usize = 3000;
const MAX_BUTTON_LABEL_CHARS: usize = 75;
const MAX_BUTTON_VALUE_CHARS: usize = 2000;
const MAX_ACTIONS: usize = 25;

/// Block Kit for an answer with buttons: the (already neutralised) text in mrkdwn sections, then
/// an `actions` block whose buttons carry their command as `value`, so a click comes back as a
/// `block_actions` message with that text. `None` without buttons (the plain `text` is enough).
fn blocks(text: &str, buttons: &[Button]) -> Option<serde_json::Value> {
    let elements: Vec<_> = buttons
        .iter()
        .filter(|b| !b.label.is_empty() && !b.command.is_empty() && b.command.chars().count() <= MAX_BUTTON_VALUE_CHARS)
        .take(MAX_ACTIONS)
        .enumerate()
        .map(|(i, b)| {
            let label: String = b.label.chars().take(MAX_BUTTON_LABEL_CHARS).collect();
            let mut button = json!({
                "type": "button",
                "action_id": format!("button_{i}"),
                "text": {"type": "plain_text", "text": label},
                "value": b.command,
            });
            if b.danger {
                button["style"] = json!("danger");
            }
            button
        })
        .collect();
    if elements.is_empty() {
        return None;
    }
    let mut blocks: Vec<_> = split_message(text, TextLimit::Chars(MAX_SECTION_CHARS))
        .into_iter()
        .filter(|section| !section.trim().is_empty())
        .map(|section| json!({"type": "section", "text": {"type": "mrkdwn", "text": section}}))
        .collect();
    blocks.push(json!({"type": "actions", "elements": elements}));
    Some(json!(blocks))
}

#[derive(Debug, Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// What a Web API `error` means for a retry.
fn classify(error: &str, status: reqwest::StatusCode, retry_after: Option<Duration>) -> SendError {
    match error {
        "ratelimited" | "rate_limited" => {
            SendError::RateLimited { retry_after: retry_after.unwrap_or(Duration::from_secs(1)) }
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            SendError::Temporary(format!("Slack: {error}"))
        }
        _ if status.is_server_error() => SendError::Temporary(format!("Slack HTTP {status}: {error}")),
        // channel_not_found, not_in_channel, is_archived, invalid_auth, account_inactive,
        // token_revoked, msg_too_long, …: the same request cannot succeed later.
        _ => SendError::Permanent(format!("Slack: {error}")),
    }
}

/// Posts one message with `chat.postMessage`, in the route's thread where it has one.
pub(super) async fn post_message(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    text: &str,
    buttons: &[Button],
) -> Result<String, SendError> {
    let ReplyRoute::Slack { channel_id, thread_ts } = route else {
        return Err(SendError::Permanent("not a Slack route".into()));
    };
    let token =
        ctx.secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))?;
    let mut body = json!({
        "channel": channel_id,
        // With blocks, Slack shows the blocks and uses this for notifications.
        "text": text,
        "unfurl_links": false,
        "unfurl_media": false,
        // The text is already escaped (`neutralise`): Slack must not look for names to link.
        "link_names": false,
        "parse": "none",
    });
    if let Some(thread) = thread_ts {
        body["thread_ts"] = json!(thread);
    }
    if let Some(blocks) = blocks(text, buttons) {
        body["blocks"] = blocks;
    }
    let url = format!("{}/chat.postMessage", ctx.api_base.trim_end_matches('/'));
    let response = ctx
        .http
        .post(&url)
        .bearer_auth(token.expose())
        .json(&body)
        .send()
        .await
        .map_err(|e| SendError::Temporary(describe_http_error(ChannelKind::Slack, &e)))?;
    let status = response.status();
    let retry_after = retry_after_header(response.headers());
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(classify("ratelimited", status, retry_after));
    }
    match response.json::<ApiResponse>().await.ok() {
        Some(ApiResponse { ok: true, ts, .. }) => Ok(ts.unwrap_or_default()),
        Some(ApiResponse { error, .. }) => {
            Err(classify(error.as_deref().unwrap_or("unknown_error"), status, retry_after))
        }
        None if status.is_server_error() => Err(SendError::Temporary(format!("Slack HTTP {status}"))),
        None => Err(SendError::Permanent(format!("Slack HTTP {status} with an unreadable body"))),
    }
}
