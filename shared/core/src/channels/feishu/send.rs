//! Text messages through the IM v1 API, with the tenant access token they need (cached, and
//! fetched again once when Feishu says it is no longer valid), and what Feishu's answers mean.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::channels::api::{ApiAnswer, Refusal, exchange};
use crate::channels::{SendContext, SendError};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Error codes meaning the tenant access token is missing, invalid or expired: get a new one.
const TOKEN_INVALID_CODES: [i64; 3] = [99991661, 99991663, 99991668];
/// "Request trigger frequency limit".
const RATE_LIMITED_CODE: i64 = 99991400;
/// Header with the seconds until a rate limit resets.
pub(super) const RATE_LIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";

/// What one API call came to.
enum ApiFailure {
    /// The tenant access token is not (or no longer) valid.
    TokenInvalid,
    Send(SendError),
}

/// Reads a Feishu API answer: `Ok` with the JSON body when `code` is 0, else what went wrong.
/// Feishu's codes say more than its statuses: a rate limit may come as a code, and a token that
/// is no longer valid is worth one new token.
fn read_answer(answer: ApiAnswer, what: &str) -> Result<Value, ApiFailure> {
    let status = answer.status;
    let reset = answer
        .headers
        .get(RATE_LIMIT_RESET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let code = answer.body.as_ref().and_then(|b| b.get("code")).and_then(Value::as_i64);
    let msg = answer.body.as_ref().and_then(|b| b.get("msg")).and_then(Value::as_str).unwrap_or_default().to_owned();
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS || code == Some(RATE_LIMITED_CODE);
    if !rate_limited {
        if code.is_some_and(|c| TOKEN_INVALID_CODES.contains(&c)) {
            return Err(ApiFailure::TokenInvalid);
        }
        if let (Some(0), Some(body)) = (code, answer.body)
            && status.is_success()
        {
            return Ok(body);
        }
    }
    let detail = match code {
        _ if status.is_server_error() => format!("Feishu {what}: HTTP {status} code {code:?} {msg}"),
        // 230002 bot not in the chat, 230011 message withdrawn, bad app credentials, …
        Some(code) => format!("Feishu {what}: code {code}: {msg}"),
        None => format!("Feishu {what}: HTTP {status} with an unreadable body"),
    };
    Err(ApiFailure::Send(Refusal::new(status, detail).rate_limited(rate_limited).retry_after(reset).into_error()))
}

/// The tenant access token, cached per container. The key names the app and a digest of its
/// secret: another tenant who registers the same `app_id` with a different secret never gets
/// this app's token from the cache.
pub(super) async fn tenant_token(ctx: &SendContext<'_>, app_id: &str, app_secret: &str) -> Result<String, SendError> {
    let key = token_cache_key(app_id, app_secret);
    if let Some(token) = ctx.tokens.get(&key) {
        return Ok(token);
    }
    let url = format!("{}/open-apis/auth/v3/tenant_access_token/internal", ctx.api_base.trim_end_matches('/'));
    let request = ctx.http.post(&url).json(&json!({ "app_id": app_id, "app_secret": app_secret }));
    let answer = exchange(ChannelKind::Feishu, request).await?;
    let body = read_answer(answer, "tenant_access_token").map_err(|f| match f {
        ApiFailure::Send(e) => e,
        ApiFailure::TokenInvalid => SendError::Permanent("Feishu refused the app credentials".into()),
    })?;
    let token = body
        .get("tenant_access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SendError::Temporary("Feishu answered without tenant_access_token".into()))?
        .to_owned();
    ctx.tokens.insert(key, token.clone());
    Ok(token)
}

pub(super) fn token_cache_key(app_id: &str, app_secret: &str) -> String {
    let digest = Sha256::digest(app_secret.as_bytes());
    format!("feishu:{app_id}:{}", hex::encode(&digest[..8]))
}

/// Message ids go into a URL path: only the characters Feishu's ids use.
pub(super) fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Feishu's request de-duplication key for a send (`uuid`: at most one message per uuid within
/// an hour, at most 50 characters): the first 32 hex digits of the SHA-256 of the send key, so
/// every attempt at one piece carries the same one whatever the reply id's length.
pub(super) fn send_uuid(send_key: &str) -> String {
    hex::encode(Sha256::digest(send_key.as_bytes()))[..32].to_owned()
}

/// Sends one text message: into the route's thread (a reply to its root with
/// `reply_in_thread`), else a reply to the route's message where it names one, else a message in
/// its chat.
pub(super) async fn send_text(ctx: &SendContext<'_>, route: &ReplyRoute, text: &str) -> Result<String, SendError> {
    let content = json!({ "text": text }).to_string();
    send_message(ctx, route, "text", content, ctx.send_key.map(send_uuid)).await
}

/// Sends one message of `msg_type` with `content` (its JSON, as a string) where an answer goes
/// (see [`send_text`]), with `uuid` as its de-duplication key if given; its message id.
pub(super) async fn send_message(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    msg_type: &str,
    content: String,
    uuid: Option<String>,
) -> Result<String, SendError> {
    let ReplyRoute::Feishu { chat_id, reply_to_message_id, thread_root_id } = route else {
        return Err(SendError::Permanent("not a Feishu route".into()));
    };
    let base = ctx.api_base.trim_end_matches('/');
    // In a thread every answer is a reply to its root, kept in the thread: the root is what the
    // conversation names, so a thread's route reaches no other message (and inside a thread
    // Feishu makes every reply one to the root anyway).
    let (reply_to, in_thread) = match thread_root_id {
        Some(root) => (Some(root), true),
        None => (reply_to_message_id.as_ref(), false),
    };
    let (url, mut body) = match reply_to {
        Some(id) if is_plain_id(id) => {
            let mut body = json!({ "msg_type": msg_type, "content": content });
            if in_thread {
                body["reply_in_thread"] = Value::Bool(true);
            }
            (format!("{base}/open-apis/im/v1/messages/{id}/reply"), body)
        }
        Some(_) => return Err(SendError::Permanent("the route's message id is not a Feishu message id".into())),
        None => (
            format!("{base}/open-apis/im/v1/messages?receive_id_type=chat_id"),
            json!({ "receive_id": chat_id, "msg_type": msg_type, "content": content }),
        ),
    };
    if let (Some(uuid), Some(fields)) = (uuid, body.as_object_mut()) {
        fields.insert("uuid".into(), Value::String(uuid));
    }
    let answer = authorized(ctx, "send message", |http, token| http.post(&url).bearer_auth(token).json(&body)).await?;
    Ok(answer.pointer("/data/message_id").and_then(Value::as_str).unwrap_or_default().to_owned())
}

/// The app's credentials: `app_id` and `app_secret`.
pub(super) fn app_credentials<'a>(ctx: &'a SendContext<'_>) -> Result<(&'a str, &'a str), SendError> {
    let app_id = ctx.secrets.get("app_id").ok_or_else(|| SendError::Permanent("app_id is not configured".into()))?;
    let app_secret =
        ctx.secrets.get("app_secret").ok_or_else(|| SendError::Permanent("app_secret is not configured".into()))?;
    Ok((app_id.expose(), app_secret.expose()))
}

/// Makes the request `build` gives with the tenant access token, once more with a new token if
/// Feishu says the cached one is no longer valid; the answer's body when its `code` is 0.
pub(super) async fn authorized(
    ctx: &SendContext<'_>,
    what: &str,
    build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> Result<Value, SendError> {
    let (app_id, app_secret) = app_credentials(ctx)?;
    let mut refreshed = false;
    loop {
        let token = tenant_token(ctx, app_id, app_secret).await?;
        let answer = exchange(ChannelKind::Feishu, build(ctx.http, &token)).await?;
        match read_answer(answer, what) {
            Ok(answer) => return Ok(answer),
            Err(ApiFailure::TokenInvalid) if !refreshed => {
                // Expired or revoked before the cache let go of it: get a new one, once.
                ctx.tokens.invalidate(&token_cache_key(app_id, app_secret));
                refreshed = true;
            }
            Err(ApiFailure::TokenInvalid) => {
                return Err(SendError::Temporary("Feishu refused a freshly issued access token".into()));
            }
            Err(ApiFailure::Send(e)) => return Err(e),
        }
    }
}

/// The reaction a message being worked on gets: Feishu's `Typing` emoji, the nearest thing it
/// has to a typing indicator.
const WORKING_EMOJI: &str = "Typing";

/// Adds [`WORKING_EMOJI`] to the message the route replies to (`POST …/messages/{id}/reactions`);
/// the handle is `{message_id}/{reaction_id}`. A route that names no message marks nothing.
pub(super) async fn add_working_reaction(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
) -> Result<Option<String>, SendError> {
    let ReplyRoute::Feishu { reply_to_message_id: Some(message_id), .. } = route else { return Ok(None) };
    if !is_plain_id(message_id) {
        return Err(SendError::Permanent("reply_to_message_id is not a Feishu message id".into()));
    }
    let url = format!("{}/open-apis/im/v1/messages/{message_id}/reactions", ctx.api_base.trim_end_matches('/'));
    let body = json!({ "reaction_type": { "emoji_type": WORKING_EMOJI } });
    let answer = authorized(ctx, "add reaction", |http, token| http.post(&url).bearer_auth(token).json(&body)).await?;
    let reaction = answer.pointer("/data/reaction_id").and_then(Value::as_str).filter(|id| is_plain_id(id));
    Ok(reaction.map(|reaction| format!("{message_id}/{reaction}")))
}

/// Deletes the reaction `mark` (`{message_id}/{reaction_id}`, from [`add_working_reaction`]).
pub(super) async fn remove_working_reaction(ctx: &SendContext<'_>, mark: &str) -> Result<(), SendError> {
    let Some((message_id, reaction)) = mark.split_once('/').filter(|(m, r)| is_plain_id(m) && is_plain_id(r)) else {
        return Err(SendError::Permanent("not a Feishu reaction handle".into()));
    };
    let url =
        format!("{}/open-apis/im/v1/messages/{message_id}/reactions/{reaction}", ctx.api_base.trim_end_matches('/'));
    authorized(ctx, "delete reaction", |http, token| http.delete(&url).bearer_auth(token)).await.map(|_| ())
}

/// A status card: one plain-text block, shared (`update_multi`), so a patch changes it for
/// everyone in the chat. Only cards can be patched; a text message cannot.
fn status_card(text: &str) -> String {
    json!({
        "config": { "update_multi": true },
        "elements": [{ "tag": "div", "text": { "tag": "plain_text", "content": text } }],
    })
    .to_string()
}

/// Posts a status card where an answer would go (in the route's thread, else a reply to the
/// route's message, else in its chat); returns its message id.
pub(super) async fn post_status_card(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    text: &str,
) -> Result<String, SendError> {
    let ReplyRoute::Feishu { chat_id, reply_to_message_id, thread_root_id } = route else {
        return Err(SendError::Permanent("not a Feishu route".into()));
    };
    let base = ctx.api_base.trim_end_matches('/');
    let content = status_card(text);
    // Where the answer goes: in a thread, a reply to its root kept in the thread.
    let (reply_to, in_thread) = match thread_root_id {
        Some(root) => (Some(root), true),
        None => (reply_to_message_id.as_ref(), false),
    };
    let (url, body) = match reply_to {
        Some(id) if is_plain_id(id) => {
            let mut body = json!({ "msg_type": "interactive", "content": content });
            if in_thread {
                body["reply_in_thread"] = Value::Bool(true);
            }
            (format!("{base}/open-apis/im/v1/messages/{id}/reply"), body)
        }
        Some(_) => return Err(SendError::Permanent("reply_to_message_id is not a Feishu message id".into())),
        None => (
            format!("{base}/open-apis/im/v1/messages?receive_id_type=chat_id"),
            json!({ "receive_id": chat_id, "msg_type": "interactive", "content": content }),
        ),
    };
    let answer = authorized(ctx, "send status", |http, token| http.post(&url).bearer_auth(token).json(&body)).await?;
    Ok(answer.pointer("/data/message_id").and_then(Value::as_str).unwrap_or_default().to_owned())
}

/// Patches the status card `message_id` to `text` (`PATCH …/messages/{id}`).
pub(super) async fn patch_status_card(ctx: &SendContext<'_>, message_id: &str, text: &str) -> Result<(), SendError> {
    if !is_plain_id(message_id) {
        return Err(SendError::Permanent("not a Feishu message id".into()));
    }
    let url = format!("{}/open-apis/im/v1/messages/{message_id}", ctx.api_base.trim_end_matches('/'));
    let body = json!({ "content": status_card(text) });
    authorized(ctx, "patch status", |http, token| http.patch(&url).bearer_auth(token).json(&body)).await.map(|_| ())
}
