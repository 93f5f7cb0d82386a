//! `chat.postMessage` (buttons in Block Kit) and what Slack's answers mean.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::channels::api::{Refusal, exchange};
use crate::channels::{SendContext, SendError};
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
}

/// What a Web API `error` means for a retry: Slack's names for a rate limit and for its passing
/// failures are its own; any other error (channel_not_found, not_in_channel, is_archived,
/// invalid_auth, account_inactive, token_revoked, msg_too_long, …) is one the same request meets
/// again later, unless the status is a 5xx.
fn refusal(error: &str, status: StatusCode) -> Refusal {
    let rate_limited = matches!(error, "ratelimited" | "rate_limited");
    let passing = matches!(error, "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout");
    let detail = if !passing && status.is_server_error() {
        format!("Slack HTTP {status}: {error}")
    } else {
        format!("Slack: {error}")
    };
    Refusal::new(status, detail).rate_limited(rate_limited).retryable(passing.then_some(true))
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
    Ok(call(ctx, "chat.postMessage", &body, &[]).await?.unwrap_or_default())
}

/// Calls the Web API method `method` with `body`; the answer's `ts` on success. An error named
/// in `harmless` (the state asked for is there already) counts as success.
async fn call(
    ctx: &SendContext<'_>,
    method: &str,
    body: &serde_json::Value,
    harmless: &[&str],
) -> Result<Option<String>, SendError> {
    let answer = call_api(ctx, method, |r| r.json(body), harmless).await?;
    Ok(answer.and_then(|a| a.get("ts").and_then(|ts| ts.as_str()).map(str::to_owned)))
}

/// Calls the Web API method `method` with the bot token and the arguments `args` puts on the
/// request (a JSON or a form body); the answer on success, `None` for an error named in
/// `harmless`.
pub(super) async fn call_api(
    ctx: &SendContext<'_>,
    method: &str,
    args: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    harmless: &[&str],
) -> Result<Option<serde_json::Value>, SendError> {
    let token =
        ctx.secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))?;
    let url = format!("{}/{method}", ctx.api_base.trim_end_matches('/'));
    let request = args(ctx.http.post(&url).bearer_auth(token.expose()));
    let answer = exchange(ChannelKind::Slack, request).await?;
    let wait = answer.retry_after();
    match answer.body_as::<ApiResponse>() {
        Some(ApiResponse { ok: true, .. }) => Ok(answer.body),
        Some(ApiResponse { error: Some(error), .. }) if harmless.contains(&error.as_str()) => Ok(None),
        Some(ApiResponse { error, .. }) => {
            Err(refusal(error.as_deref().unwrap_or("unknown_error"), answer.status).retry_after(wait).into_error())
        }
        None => Err(Refusal::unreadable("Slack", answer.status).retry_after(wait).into_error()),
    }
}

/// The reaction a message being worked on gets (`:eyes:`, Slack's usual "looking at it").
const WORKING_REACTION: &str = "eyes";

/// The `ts` of the message a run answers, where the route shows it: a channel message is
/// answered in a thread under itself, so its route's `thread_ts` is its own `ts` (the same
/// millisecond as the message). A DM outside a thread, or a reply inside one, does not carry it.
fn message_ts(route: &ReplyRoute, message_at_ms: i64) -> Option<(&str, &str)> {
    let ReplyRoute::Slack { channel_id, thread_ts: Some(ts) } = route else { return None };
    (super::ts_millis(ts) == Some(message_at_ms)).then_some((channel_id.as_str(), ts.as_str()))
}

/// `reactions.add` of [`WORKING_REACTION`] on the message a run answers, where the route shows
/// its `ts`; the handle is `ts`.
pub(super) async fn add_working_reaction(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    message_at_ms: i64,
) -> Result<Option<String>, SendError> {
    let Some((channel, ts)) = message_ts(route, message_at_ms) else { return Ok(None) };
    let body = json!({ "channel": channel, "timestamp": ts, "name": WORKING_REACTION });
    call(ctx, "reactions.add", &body, &["already_reacted"]).await?;
    Ok(Some(ts.to_owned()))
}

/// `reactions.remove` of what [`add_working_reaction`] put on the message `ts`.
pub(super) async fn remove_working_reaction(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    ts: &str,
) -> Result<(), SendError> {
    let ReplyRoute::Slack { channel_id, .. } = route else {
        return Err(SendError::Permanent("not a Slack route".into()));
    };
    let body = json!({ "channel": channel_id, "timestamp": ts, "name": WORKING_REACTION });
    call(ctx, "reactions.remove", &body, &["no_reaction"]).await.map(|_| ())
}

/// `chat.update` of the bot's message `ts` in the route's channel, as plain (already
/// neutralised) text.
pub(super) async fn update_message(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    ts: &str,
    text: &str,
) -> Result<(), SendError> {
    let ReplyRoute::Slack { channel_id, .. } = route else {
        return Err(SendError::Permanent("not a Slack route".into()));
    };
    let body = json!({ "channel": channel_id, "ts": ts, "text": text, "link_names": false, "parse": "none" });
    call(ctx, "chat.update", &body, &[]).await.map(|_| ())
}
