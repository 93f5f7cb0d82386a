//! Slack over HTTP: request signing (`X-Slack-Signature`), the Events API, slash commands and
//! interactive payloads, `chat.postMessage` (with Block Kit buttons when an answer has them).
//!
//! What a Slack app must subscribe to: the `message.channels`, `message.groups`, `message.im` and
//! `message.mpim` bot events. Slack sends both a `message` and an `app_mention` event for one
//! mention in a channel, under different `event_id`s; answering both would answer twice, and
//! keeping only `app_mention` would lose the messages that do not mention the bot (which a bot's
//! trigger pattern may still want). So `message` events are kept, whether they mention the bot is
//! read from their text (`<@bot_user_id>`), and `app_mention` events are acknowledged and dropped.

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::{
    Channel, ChannelKeys, HttpAnswer, Inbound, ParseError, ParsedMessage, SendContext, SendError, VerifyError,
    WebhookInput, break_mentions, describe_http_error, hmac_sha256_hex_matches, is_fresh, retry_after_header,
};
use crate::domain::envelope::Button;
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::model::{ChannelKind, InboundMessage, ReplyRoute, Sender};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::{TextLimit, split_message};

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Slack's rule: a request whose timestamp is further than this from now is refused (replays).
pub const MAX_AGE_SECS: i64 = super::MAX_REQUEST_AGE_SECS;
/// The only signature version Slack uses.
const VERSION: &str = "v0";
/// Block Kit limits: a section's text, a button's label and value, an actions block's elements.
const MAX_SECTION_CHARS: usize = 3000;
const MAX_BUTTON_LABEL_CHARS: usize = 75;
const MAX_BUTTON_VALUE_CHARS: usize = 2000;
const MAX_ACTIONS: usize = 25;

pub struct Slack;

/// The `X-Slack-Signature` value Slack sends for `body` at `timestamp`: `v0=` + hex
/// HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`). Used by tests and tools that play Slack.
pub fn sign_request(signing_secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{VERSION}:{timestamp}:").as_bytes());
    mac.update(body);
    format!("{VERSION}={}", hex::encode(mac.finalize().into_bytes()))
}

fn id<T>(parse: impl FnOnce(&str) -> Result<T, crate::domain::ids::IdError>, value: &str) -> Result<T, ParseError> {
    parse(value).map_err(|e| ParseError::Invalid(e.to_string()))
}

/// Milliseconds from a Slack timestamp (`"1355517523.000005"`: seconds, a dot, microseconds),
/// without going through a float.
fn ts_millis(ts: &str) -> Option<i64> {
    let (secs, fraction) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis = format!("{:0<3}", &fraction[..fraction.len().min(3)]);
    secs.parse::<i64>().ok()?.checked_mul(1000)?.checked_add(millis.parse::<i64>().ok()?)
}

fn ignored(why: &str) -> Inbound {
    Inbound::Deliveries { messages: vec![], ack: HttpAnswer::json(200, &json!({ "ignored": why })) }
}

/// The empty 200 Slack expects for slash commands and interactions (anything else would be shown
/// to the person as a message).
fn empty_ack() -> HttpAnswer {
    HttpAnswer::text(200, "")
}

/// Does `text` mention the user `user_id` (`<@U123>`, or the older `<@U123|name>`)?
fn mentions_user(text: &str, user_id: &str) -> bool {
    text.contains(&format!("<@{user_id}>")) || text.contains(&format!("<@{user_id}|"))
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    /// Kept as JSON: events other than messages have other shapes (`user` is an object in some).
    #[serde(default)]
    event: Option<serde_json::Value>,
    #[serde(default)]
    authorizations: Vec<Authorization>,
}

#[derive(Debug, Deserialize)]
struct Authorization {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageEvent {
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

fn parse_events_api(body: &[u8], bot_user_setting: Option<&str>) -> Result<Inbound, ParseError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    match envelope.kind.as_str() {
        "url_verification" => {
            let challenge =
                envelope.challenge.ok_or_else(|| ParseError::Invalid("url_verification without a challenge".into()))?;
            return Ok(Inbound::Answer(HttpAnswer::json(200, &json!({ "challenge": challenge }))));
        }
        "event_callback" => {}
        _ => return Ok(ignored("not an event callback")),
    }
    let event = envelope.event.ok_or_else(|| ParseError::Invalid("event_callback without an event".into()))?;
    match event.get("type").and_then(|t| t.as_str()) {
        Some("message") => {}
        // Slack also sends the mention as a `message` event, which is the one answered.
        Some("app_mention") => return Ok(ignored("app_mention: answered through its message event")),
        _ => return Ok(ignored("not a message event")),
    }
    let event: MessageEvent = serde_json::from_value(event).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let bot_user_id = bot_user_setting
        .map(str::to_owned)
        .or_else(|| envelope.authorizations.first().and_then(|a| a.user_id.clone()))
        .filter(|u| !u.is_empty());
    match event.subtype.as_deref() {
        None | Some("thread_broadcast") | Some("file_share") => {}
        Some("bot_message") => return Ok(ignored("sent by a bot")),
        Some(_) => return Ok(ignored("not a new message")),
    }
    // Loop guard: never answer bots, our own messages included.
    if event.bot_id.is_some() {
        return Ok(ignored("sent by a bot"));
    }
    let user = event.user.ok_or_else(|| ParseError::Invalid("message without a user".into()))?;
    if bot_user_id.as_deref() == Some(user.as_str()) {
        return Ok(ignored("sent by this bot"));
    }
    let Some(text) = event.text.filter(|t| !t.trim().is_empty()) else { return Ok(ignored("no text")) };
    let channel = event.channel.ok_or_else(|| ParseError::Invalid("message without a channel".into()))?;
    let ts = event.ts.ok_or_else(|| ParseError::Invalid("message without a ts".into()))?;
    let sent_at_ms = ts_millis(&ts).ok_or_else(|| ParseError::Invalid(format!("unreadable ts {ts:?}")))?;
    let event_id = envelope.event_id.ok_or_else(|| ParseError::Invalid("event_callback without an event_id".into()))?;
    let is_direct = event.channel_type.as_deref() == Some("im");
    // In a channel, answer in the message's thread (its own ts starts one); in a DM, in the DM
    // itself, unless the person wrote inside a thread there.
    let thread_ts = match (is_direct, event.thread_ts) {
        (_, Some(thread)) => Some(thread),
        (true, None) => None,
        (false, None) => Some(ts),
    };
    let mentions_bot = bot_user_id.as_deref().is_some_and(|bot| mentions_user(&text, bot));
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id: id(ConversationId::parse, &channel)?,
            mentions_bot,
            message: InboundMessage {
                message_id: id(MessageId::parse, &event_id)?,
                sent_at_ms,
                sender: Sender { id: user.clone(), name: user, is_bot: false },
                text,
                is_direct,
                route: ReplyRoute::Slack { channel_id: channel, thread_ts },
            },
        }],
        ack: HttpAnswer::ok(),
    })
}

/// A slash command: addressed to the bot, so it always triggers an answer.
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
    let text = format!("{command} {}", fields.get("text").map(String::as_str).unwrap_or_default()).trim().to_owned();
    let name = fields.get("user_name").filter(|n| !n.is_empty()).unwrap_or(user_id).clone();
    Ok(Inbound::Deliveries {
        messages: vec![ParsedMessage {
            conversation_id: id(ConversationId::parse, channel_id)?,
            mentions_bot: true,
            message: InboundMessage {
                message_id: id(MessageId::parse, trigger_id)?,
                sent_at_ms,
                sender: Sender { id: user_id.clone(), name, is_bot: false },
                text,
                is_direct: true,
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
            conversation_id: id(ConversationId::parse, &channel_id)?,
            mentions_bot: true,
            message: InboundMessage {
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

fn parse_form(body: &[u8], sent_at_ms: i64) -> Result<Inbound, ParseError> {
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

fn is_form(input: &WebhookInput<'_>) -> bool {
    match input.header("content-type") {
        Some(ct) => ct.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"),
        None => input.body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{'),
    }
}

/// Makes an answer literal text in Slack: `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;`,
/// the escapes Slack asks for in text that is not markup. Every control sequence starts with
/// `<`, so none survives: user and group pings (`<@U…>`, `<!subteam^…>`), `<!here>`,
/// `<!channel>`, `<!everyone>`, channel links and links whose label is not their target
/// (`<https://evil.example|https://app.slack.com/signin>`) all show as typed and do nothing.
/// A bare URL, where Slack links it, can only show as itself. The bare words `@channel`,
/// `@here` and `@everyone` get a zero-width space after the `@`, so nothing (an app setting, a
/// future default) can turn them into mentions. mrkdwn (`*bold*`, `_italic_`, code) is kept.
pub fn neutralise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    break_mentions(&out, &["channel", "here", "everyone"])
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

#[async_trait::async_trait]
impl Channel for Slack {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn default_api_base(&self) -> &'static str {
        "https://slack.com/api"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys { required: &["signing_secret", "bot_token"], optional: &["bot_user_id"] }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        let secret = secrets.get("signing_secret").map(|s| s.expose()).unwrap_or_default();
        if secret.len() < 8
            || secret.len() > 256
            || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("signing_secret must be the app's signing secret (Basic Information → App Credentials)".into());
        }
        let token = secrets.get("bot_token").map(|s| s.expose()).unwrap_or_default();
        if !token.starts_with("xoxb-") || token.len() <= 5 || token.chars().any(|c| c.is_whitespace()) {
            return Err("bot_token must be a bot token (xoxb-…)".into());
        }
        if let Some(user) = secrets.get("bot_user_id").map(|s| s.expose())
            && (!user.starts_with(['U', 'W']) || !user.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        {
            return Err("bot_user_id must be the bot's Slack user id (U…)".into());
        }
        Ok(())
    }

    /// `X-Slack-Signature` must be HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`), and the
    /// timestamp within 5 minutes of now.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        let secret = secrets.get("signing_secret").ok_or(VerifyError::NotConfigured("signing_secret"))?;
        if input.method != "POST" {
            return Err(VerifyError::Missing("POST"));
        }
        let timestamp = input.header(TIMESTAMP_HEADER).ok_or(VerifyError::Missing(TIMESTAMP_HEADER))?.trim();
        let signature = input.header(SIGNATURE_HEADER).ok_or(VerifyError::Missing(SIGNATURE_HEADER))?.trim();
        let Ok(seconds) = timestamp.parse::<i64>() else { return Err(VerifyError::Stale) };
        if !is_fresh(seconds, input.now_secs) {
            return Err(VerifyError::Stale);
        }
        let Some(presented) = signature.strip_prefix("v0=") else { return Err(VerifyError::Mismatch) };
        let message: [&[u8]; 4] = [b"v0:", timestamp.as_bytes(), b":", input.body];
        if hmac_sha256_hex_matches(secret.expose().as_bytes(), &message, presented) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        if is_form(input) {
            // The verified request time; a retried request keeps its ids, so the stored key is stable.
            let seconds = input.header(TIMESTAMP_HEADER).and_then(|t| t.trim().parse::<i64>().ok());
            parse_form(input.body, seconds.unwrap_or(input.now_secs).saturating_mul(1000))
        } else {
            parse_events_api(input.body, secrets.get("bot_user_id").map(|s| s.expose()))
        }
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4000)
    }

    fn neutralise(&self, text: &str) -> String {
        neutralise(text)
    }

    async fn send(
        &self,
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
            .map_err(|e| SendError::Temporary(describe_http_error(self.kind(), &e)))?;
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::cache::TtlCache;
    use crate::domain::secrets::Secret;

    /// Slack's documented example (docs.slack.dev, "Verifying requests from Slack").
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: i64 = 1531420618;
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
        ChannelSecrets(pairs.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
    }

    fn doc_secrets() -> ChannelSecrets {
        secrets(&[("signing_secret", DOC_SECRET), ("bot_token", "xoxb-1-2-abc")])
    }

    fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn signed(timestamp: i64, signature: &str) -> http::HeaderMap {
        headers(&[
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, signature.to_owned()),
            ("content-type", "application/x-www-form-urlencoded".to_owned()),
        ])
    }

    fn input<'a>(headers: &'a http::HeaderMap, body: &'a [u8], now_secs: i64) -> WebhookInput<'a> {
        WebhookInput { method: "POST", headers, query: "", body, now_secs }
    }

    #[test]
    fn slacks_documented_example_verifies() {
        let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
        assert_eq!(Slack.verify(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), DOC_TIMESTAMP + 10)), Ok(()));
        assert_eq!(sign_request(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.as_bytes()), DOC_SIGNATURE);
        // Upper-case hex is the same signature.
        let upper = format!("v0={}", DOC_SIGNATURE[3..].to_uppercase());
        let h = signed(DOC_TIMESTAMP, &upper);
        assert_eq!(Slack.verify(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), DOC_TIMESTAMP)), Ok(()));
    }

    #[test]
    fn verify_rejects_tampering_wrong_secrets_staleness_and_missing_parts() {
        let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
        let now = DOC_TIMESTAMP;
        let tampered = DOC_BODY.replace("roadrunner", "roadrunnex");
        assert_eq!(Slack.verify(&doc_secrets(), &input(&h, tampered.as_bytes(), now)), Err(VerifyError::Mismatch));
        let wrong = secrets(&[("signing_secret", "8f742231b10e8888abcd99yyyzzz85a6")]);
        assert_eq!(Slack.verify(&wrong, &input(&h, DOC_BODY.as_bytes(), now)), Err(VerifyError::Mismatch));
        // The timestamp is signed: another one with the same signature fails.
        let moved = signed(DOC_TIMESTAMP + 1, DOC_SIGNATURE);
        assert_eq!(Slack.verify(&doc_secrets(), &input(&moved, DOC_BODY.as_bytes(), now)), Err(VerifyError::Mismatch));
        // Without the version prefix, or with junk, nothing matches.
        let bare = signed(DOC_TIMESTAMP, &DOC_SIGNATURE[3..]);
        assert_eq!(Slack.verify(&doc_secrets(), &input(&bare, DOC_BODY.as_bytes(), now)), Err(VerifyError::Mismatch));
        // 5 minutes either way is the limit.
        for (now, expected) in [
            (DOC_TIMESTAMP + 300, Ok(())),
            (DOC_TIMESTAMP - 300, Ok(())),
            (DOC_TIMESTAMP + 301, Err(VerifyError::Stale)),
            (DOC_TIMESTAMP - 301, Err(VerifyError::Stale)),
        ] {
            assert_eq!(Slack.verify(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), now)), expected, "now {now}");
        }
        let junk_time = headers(&[(TIMESTAMP_HEADER, "soon".into()), (SIGNATURE_HEADER, DOC_SIGNATURE.into())]);
        assert_eq!(Slack.verify(&doc_secrets(), &input(&junk_time, DOC_BODY.as_bytes(), now)), Err(VerifyError::Stale));
        let no_sig = headers(&[(TIMESTAMP_HEADER, DOC_TIMESTAMP.to_string())]);
        assert_eq!(
            Slack.verify(&doc_secrets(), &input(&no_sig, DOC_BODY.as_bytes(), now)),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        let no_time = headers(&[(SIGNATURE_HEADER, DOC_SIGNATURE.into())]);
        assert_eq!(
            Slack.verify(&doc_secrets(), &input(&no_time, DOC_BODY.as_bytes(), now)),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        // No secret configured: everything is refused, even a request signed with an empty key.
        let empty_key = signed(DOC_TIMESTAMP, &sign_request("", DOC_TIMESTAMP, DOC_BODY.as_bytes()));
        for s in [secrets(&[]), secrets(&[("signing_secret", "")])] {
            assert_eq!(
                Slack.verify(&s, &input(&empty_key, DOC_BODY.as_bytes(), now)),
                Err(VerifyError::NotConfigured("signing_secret"))
            );
        }
        let get = WebhookInput { method: "GET", ..input(&h, DOC_BODY.as_bytes(), now) };
        assert_eq!(Slack.verify(&doc_secrets(), &get), Err(VerifyError::Missing("POST")));
    }

    fn only(inbound: Inbound) -> ParsedMessage {
        match inbound {
            Inbound::Deliveries { mut messages, .. } if messages.len() == 1 => messages.remove(0),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn none(inbound: Inbound) -> HttpAnswer {
        match inbound {
            Inbound::Deliveries { messages, ack } if messages.is_empty() => ack,
            other => panic!("expected no message, got {other:?}"),
        }
    }

    fn parse_json(body: &str, settings: &ChannelSecrets) -> Result<Inbound, ParseError> {
        let h = headers(&[("content-type", "application/json".into())]);
        Slack.parse(settings, &input(&h, body.as_bytes(), 1_700_000_000))
    }

    fn event(event: serde_json::Value) -> String {
        json!({
            "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": "Ev0001", "event_time": 1_700_000_000,
            "authorizations": [{"user_id": "UBOT", "is_bot": true}],
            "event": event,
        })
        .to_string()
    }

    #[test]
    fn url_verification_is_answered_with_the_challenge() {
        let body = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let Inbound::Answer(answer) = parse_json(body, &secrets(&[])).unwrap() else { panic!("not an answer") };
        assert_eq!(answer.status, 200);
        let value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(value["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
        assert!(matches!(parse_json(r#"{"type":"url_verification"}"#, &secrets(&[])), Err(ParseError::Invalid(_))));
    }

    #[test]
    fn channel_message_is_answered_in_its_thread() {
        let body = event(json!({"type": "message", "channel": "C024BE91L", "user": "U2147483697",
            "text": "<@UBOT> Live long and prospect.", "ts": "1355517523.000005", "event_ts": "1355517523.000005",
            "channel_type": "channel"}));
        let parsed = only(parse_json(&body, &secrets(&[])).unwrap());
        assert_eq!(parsed.conversation_id.as_str(), "C024BE91L");
        assert_eq!(parsed.message.message_id.as_str(), "Ev0001");
        assert_eq!(parsed.message.sent_at_ms, 1_355_517_523_000);
        assert_eq!(
            parsed.message.sender,
            Sender { id: "U2147483697".into(), name: "U2147483697".into(), is_bot: false }
        );
        assert_eq!(parsed.message.text, "<@UBOT> Live long and prospect.");
        assert!(!parsed.message.is_direct);
        assert!(parsed.mentions_bot, "the bot user comes from authorizations[0]");
        assert_eq!(
            parsed.message.route,
            ReplyRoute::Slack { channel_id: "C024BE91L".into(), thread_ts: Some("1355517523.000005".into()) }
        );
    }

    #[test]
    fn thread_replies_stay_in_their_thread_and_dms_are_direct() {
        let body = event(json!({"type": "message", "subtype": "thread_broadcast", "channel": "C1", "user": "U1",
            "text": "in a thread", "ts": "1700000001.123456", "thread_ts": "1700000000.000100", "channel_type": "channel"}));
        let parsed = only(parse_json(&body, &secrets(&[])).unwrap());
        assert_eq!(parsed.message.sent_at_ms, 1_700_000_001_123);
        assert!(!parsed.mentions_bot);
        assert_eq!(
            parsed.message.route,
            ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1700000000.000100".into()) }
        );

        let dm = event(json!({"type": "message", "channel": "D1", "user": "U1", "text": "hi", "ts": "1700000001.5",
            "channel_type": "im"}));
        let parsed = only(parse_json(&dm, &secrets(&[])).unwrap());
        assert!(parsed.message.is_direct);
        assert_eq!(parsed.message.sent_at_ms, 1_700_000_001_500);
        assert_eq!(parsed.message.route, ReplyRoute::Slack { channel_id: "D1".into(), thread_ts: None });
    }

    #[test]
    fn mentions_use_the_configured_bot_user_first() {
        let body = event(json!({"type": "message", "channel": "C1", "user": "U1", "text": "hey <@UOTHER|other>",
            "ts": "1.0", "channel_type": "channel"}));
        assert!(!only(parse_json(&body, &secrets(&[])).unwrap()).mentions_bot);
        assert!(only(parse_json(&body, &secrets(&[("bot_user_id", "UOTHER")])).unwrap()).mentions_bot);
        let no_auth = json!({"type": "event_callback", "event_id": "Ev2", "event": {"type": "message",
            "channel": "C1", "user": "U1", "text": "<@UBOT> hi", "ts": "1.0"}})
        .to_string();
        assert!(!only(parse_json(&no_auth, &secrets(&[])).unwrap()).mentions_bot, "no bot user known");
    }

    #[test]
    fn loop_guard_and_unhandled_events_are_acknowledged_without_messages() {
        let s = secrets(&[]);
        for ev in [
            json!({"type": "message", "channel": "C1", "user": "U1", "bot_id": "B1", "text": "x", "ts": "1.0"}),
            json!({"type": "message", "subtype": "bot_message", "channel": "C1", "bot_id": "B1", "text": "x", "ts": "1.0"}),
            json!({"type": "message", "channel": "C1", "user": "UBOT", "text": "my own answer", "ts": "1.0"}),
            json!({"type": "message", "subtype": "message_changed", "channel": "C1", "message": {"text": "x"}, "ts": "1.0"}),
            json!({"type": "message", "subtype": "file_share", "channel": "C1", "user": "U1", "text": "", "ts": "1.0"}),
            json!({"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> hi", "ts": "1.0"}),
            json!({"type": "user_change", "user": {"id": "U1", "name": "x"}}),
        ] {
            let ack = none(parse_json(&event(ev.clone()), &s).unwrap());
            assert_eq!(ack.status, 200, "{ev}");
        }
        // A bot user configured by the operator is guarded as well.
        let own = event(json!({"type": "message", "channel": "C1", "user": "UME", "text": "x", "ts": "1.0"}));
        none(parse_json(&own, &secrets(&[("bot_user_id", "UME")])).unwrap());
        none(parse_json(r#"{"type":"app_rate_limited","minute_rate_limited":1}"#, &s).unwrap());
    }

    #[test]
    fn malformed_events_are_rejected() {
        let s = secrets(&[]);
        assert!(matches!(parse_json("{nope", &s), Err(ParseError::Json(_))));
        assert!(matches!(parse_json(r#"{"event":{}}"#, &s), Err(ParseError::Json(_))));
        assert!(matches!(parse_json(r#"{"type":"event_callback"}"#, &s), Err(ParseError::Invalid(_))));
        for ev in [
            json!({"type": "message", "channel": "C1", "text": "x", "ts": "1.0"}),
            json!({"type": "message", "user": "U1", "text": "x", "ts": "1.0"}),
            json!({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "yesterday"}),
            json!({"type": "message", "channel": "C#1", "user": "U1", "text": "x", "ts": "1.0"}),
        ] {
            assert!(matches!(parse_json(&event(ev.clone()), &s), Err(ParseError::Invalid(_))), "{ev}");
        }
    }

    #[test]
    fn slash_commands_are_addressed_to_the_bot_and_answered_with_an_empty_200() {
        let h = signed(DOC_TIMESTAMP, DOC_SIGNATURE);
        let inbound = Slack.parse(&doc_secrets(), &input(&h, DOC_BODY.as_bytes(), DOC_TIMESTAMP + 3)).unwrap();
        let Inbound::Deliveries { mut messages, ack } = inbound else { panic!("not a delivery") };
        assert_eq!((ack.status, ack.body.len()), (200, 0));
        let parsed = messages.remove(0);
        assert_eq!(parsed.message.text, "/webhook-collect");
        assert_eq!(parsed.message.message_id.as_str(), "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
        assert_eq!(parsed.message.sent_at_ms, DOC_TIMESTAMP * 1000, "the signed request time");
        assert_eq!(parsed.message.sender.name, "roadrunner");
        assert_eq!(parsed.message.sender.id, "U2CERLKJA");
        assert!(parsed.mentions_bot && parsed.message.is_direct);
        assert_eq!(parsed.conversation_id.as_str(), "G8PSS9T3V");
        assert_eq!(parsed.message.route, ReplyRoute::Slack { channel_id: "G8PSS9T3V".into(), thread_ts: None });

        let with_text = DOC_BODY.replace("text=&", "text=summarise+the+thread&");
        let parsed = only(Slack.parse(&doc_secrets(), &input(&h, with_text.as_bytes(), DOC_TIMESTAMP)).unwrap());
        assert_eq!(parsed.message.text, "/webhook-collect summarise the thread");

        let no_trigger = DOC_BODY.split("&trigger_id").next().unwrap();
        assert!(matches!(
            Slack.parse(&doc_secrets(), &input(&h, no_trigger.as_bytes(), DOC_TIMESTAMP)),
            Err(ParseError::Invalid(_))
        ));
        let unknown = b"token=x&team_id=T1";
        assert!(matches!(Slack.parse(&doc_secrets(), &input(&h, unknown, DOC_TIMESTAMP)), Err(ParseError::Invalid(_))));
        let ssl = Slack.parse(&doc_secrets(), &input(&h, b"ssl_check=1&token=x", DOC_TIMESTAMP)).unwrap();
        assert!(matches!(ssl, Inbound::Answer(HttpAnswer { status: 200, .. })));
    }

    fn form(payload: &serde_json::Value) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn button_clicks_become_messages_carrying_the_value() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U123", "username": "ada", "name": "ada", "team_id": "T1"},
            "api_app_id": "A1", "token": "x",
            "container": {"type": "message", "message_ts": "1700000000.000200", "channel_id": "C9", "is_ephemeral": false},
            "trigger_id": "123.456.abc",
            "channel": {"id": "C9", "name": "general"},
            "message": {"type": "message", "ts": "1700000000.000200", "text": "Approve?"},
            "response_url": "https://hooks.slack.com/actions/x",
            "actions": [{"action_id": "approval", "block_id": "b1", "value": "approve:r0123456789abcdef0123",
                         "type": "button", "action_ts": "1700000010.000300"}]
        });
        let h = signed(DOC_TIMESTAMP, "v0=00");
        let inbound = Slack.parse(&doc_secrets(), &input(&h, &form(&payload), 0)).unwrap();
        let Inbound::Deliveries { mut messages, ack } = inbound else { panic!("not a delivery") };
        assert_eq!((ack.status, ack.body.len()), (200, 0));
        assert_eq!(messages.len(), 1);
        let parsed = messages.remove(0);
        assert_eq!(parsed.message.text, "approve:r0123456789abcdef0123");
        assert_eq!(parsed.message.message_id.as_str(), "123.456.abc");
        assert_eq!(parsed.message.sent_at_ms, 1_700_000_010_000);
        assert_eq!(parsed.message.sender, Sender { id: "U123".into(), name: "ada".into(), is_bot: false });
        assert!(parsed.mentions_bot);
        assert_eq!(
            parsed.message.route,
            ReplyRoute::Slack { channel_id: "C9".into(), thread_ts: Some("1700000000.000200".into()) }
        );

        // Two actions, one without a value: distinct ids, the action_id as text.
        let mut two = payload.clone();
        two["actions"] = json!([{"action_id": "first", "value": "1"}, {"action_id": "second"}]);
        let Inbound::Deliveries { messages, .. } = Slack.parse(&doc_secrets(), &input(&h, &form(&two), 0)).unwrap()
        else {
            panic!()
        };
        let ids: Vec<_> = messages.iter().map(|m| m.message.message_id.as_str().to_owned()).collect();
        assert_eq!(ids, ["123.456.abc:0", "123.456.abc:1"]);
        assert_eq!(messages[1].message.text, "second");
        assert_eq!(messages[1].message.sent_at_ms, DOC_TIMESTAMP * 1000);

        // Other interaction types are acknowledged; a payload that is not JSON is refused.
        let modal = json!({"type": "view_submission", "user": {"id": "U1"}});
        assert_eq!(none(Slack.parse(&doc_secrets(), &input(&h, &form(&modal), 0)).unwrap()).status, 200);
        let junk = b"payload=%7Bnope";
        assert!(matches!(Slack.parse(&doc_secrets(), &input(&h, junk, 0)), Err(ParseError::Json(_))));
    }

    #[test]
    fn neutralise_turns_every_control_sequence_into_literal_text() {
        let cases = [
            // A link whose label is another address: both show, neither is a link.
            (
                "Sign in: <https://evil.example|https://app.slack.com/signin>",
                "Sign in: &lt;https://evil.example|https://app.slack.com/signin&gt;",
            ),
            (
                "hi <!here> and <!channel> and <!everyone>",
                "hi &lt;!here&gt; and &lt;!channel&gt; and &lt;!everyone&gt;",
            ),
            ("ask <@U123> or <@W0ABC|ada>", "ask &lt;@U123&gt; or &lt;@W0ABC|ada&gt;"),
            ("ping <!subteam^S012AB|@oncall>", "ping &lt;!subteam^S012AB|@oncall&gt;"),
            ("see <#C0123|general>", "see &lt;#C0123|general&gt;"),
            // Bare words cannot become mentions either.
            ("plain @channel, @Here and @everyone.", "plain @\u{200B}channel, @\u{200B}Here and @\u{200B}everyone."),
            // Ordinary text renders as written (Slack shows the escapes as the characters).
            ("Use <b> tags", "Use &lt;b&gt; tags"),
            ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
            // An answer that already holds an escape shows it as typed, not as `<`.
            ("&lt;!here&gt;", "&amp;lt;!here&amp;gt;"),
            // mrkdwn, bare URLs, mail addresses and words starting with a mention word are kept.
            (
                "*bold* _it_ `code` https://example.com ops@heresy.example @heresy",
                "*bold* _it_ `code` https://example.com ops@heresy.example @heresy",
            ),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(neutralise(input), expected, "{input}");
            assert_eq!(Slack.neutralise(input), expected, "the channel's step is this one");
        }
        // Whatever the nesting, nothing that starts a control sequence is left.
        for sneaky in ["<!foo <!channel>>", "<<!here>!here>", "<!date^1|<!everyone>>", "<@U1|<!here>>", "<<<>>>"] {
            let out = neutralise(sneaky);
            assert!(!out.contains(['<', '>']), "{sneaky} → {out}");
        }
    }

    #[test]
    fn settings_are_checked() {
        let ok = secrets(&[("signing_secret", "8f742231b10e8888abcd99yyyzzz85a5"), ("bot_token", "xoxb-1-2-abc")]);
        assert_eq!(Slack.validate_settings(&ok), Ok(()));
        for bad in [
            secrets(&[("signing_secret", "short"), ("bot_token", "xoxb-1-2-abc")]),
            secrets(&[("signing_secret", "8f742231 b10e8888"), ("bot_token", "xoxb-1-2-abc")]),
            secrets(&[("signing_secret", "8f742231b10e8888abcd"), ("bot_token", "xoxp-user-token")]),
            secrets(&[
                ("signing_secret", "8f742231b10e8888abcd"),
                ("bot_token", "xoxb-1-2-abc"),
                ("bot_user_id", "bot"),
            ]),
        ] {
            assert!(Slack.validate_settings(&bad).is_err(), "{bad:?}");
        }
    }

    fn ctx<'a>(
        http: &'a reqwest::Client,
        base: &'a str,
        s: &'a ChannelSecrets,
        t: &'a TtlCache<String, String>,
    ) -> SendContext<'a> {
        SendContext { http, api_base: base, secrets: s, tokens: t }
    }

    #[tokio::test]
    async fn send_posts_the_neutralised_text_to_the_thread_without_unfurls() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .and(header("authorization", "Bearer xoxb-1-2-abc"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1700000000.000900"})),
            )
            .expect(2)
            .mount(&server)
            .await;
        let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(1), 1));
        let base = server.uri();
        let route = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1.2".into()) };
        // As the reply flow sends it: neutralised, then posted as it is.
        let text = Slack.neutralise("<!channel> <https://evil.example|https://app.slack.com/signin> <@U123>");
        let id = Slack.send(&ctx(&http, &base, &s, &t), &route, &text, &[]).await.unwrap();
        assert_eq!(id, "1700000000.000900");
        let sent: serde_json::Value =
            serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
        assert_eq!(
            sent,
            json!({
                "channel": "C1",
                "thread_ts": "1.2",
                "text": "&lt;!channel&gt; &lt;https://evil.example|https://app.slack.com/signin&gt; &lt;@U123&gt;",
                "unfurl_links": false,
                "unfurl_media": false,
                "link_names": false,
                "parse": "none",
            })
        );
        // A DM has no thread.
        let dm = ReplyRoute::Slack { channel_id: "D1".into(), thread_ts: None };
        Slack.send(&ctx(&http, &base, &s, &t), &dm, "x", &[]).await.unwrap();
        let sent: serde_json::Value =
            serde_json::from_slice(&server.received_requests().await.unwrap()[1].body).unwrap();
        assert_eq!(
            sent,
            json!({"channel": "D1", "text": "x", "unfurl_links": false, "unfurl_media": false, "link_names": false,
                   "parse": "none"})
        );
    }

    #[tokio::test]
    async fn send_maps_slack_errors() {
        let cases: Vec<(ResponseTemplate, SendError)> = vec![
            (
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "3")
                    .set_body_json(json!({"ok": false, "error": "ratelimited"})),
                SendError::RateLimited { retry_after: Duration::from_secs(3) },
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "ratelimited"})),
                SendError::RateLimited { retry_after: Duration::from_secs(1) },
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "channel_not_found"})),
                SendError::Permanent("Slack: channel_not_found".into()),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "not_in_channel"})),
                SendError::Permanent("Slack: not_in_channel".into()),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
                SendError::Permanent("Slack: invalid_auth".into()),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "msg_too_long"})),
                SendError::Permanent("Slack: msg_too_long".into()),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "internal_error"})),
                SendError::Temporary("Slack: internal_error".into()),
            ),
            (
                ResponseTemplate::new(503).set_body_json(json!({"ok": false, "error": "service_unavailable"})),
                SendError::Temporary("Slack: service_unavailable".into()),
            ),
            (
                ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
                SendError::Temporary("Slack HTTP 502 Bad Gateway".into()),
            ),
        ];
        let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(1), 1));
        let route = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: None };
        for (response, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST")).and(path("/chat.postMessage")).respond_with(response).mount(&server).await;
            let base = server.uri();
            assert_eq!(Slack.send(&ctx(&http, &base, &s, &t), &route, "x", &[]).await, Err(expected));
        }
        // Nothing listening: temporary, and the URL (which could hold secrets) is not printed.
        let closed = "http://127.0.0.1:9";
        assert!(
            matches!(Slack.send(&ctx(&http, closed, &s, &t), &route, "x", &[]).await, Err(SendError::Temporary(m)) if !m.contains("127.0.0.1"))
        );
        // Other channels' routes and a missing token are permanent.
        let tg = ReplyRoute::Telegram { chat_id: 1, message_thread_id: None, reply_to_message_id: None };
        assert!(matches!(Slack.send(&ctx(&http, closed, &s, &t), &tg, "x", &[]).await, Err(SendError::Permanent(_))));
        let no_token = secrets(&[("signing_secret", DOC_SECRET)]);
        assert!(matches!(
            Slack.send(&ctx(&http, closed, &no_token, &t), &route, "x", &[]).await,
            Err(SendError::Permanent(_))
        ));
    }

    #[tokio::test]
    async fn send_puts_buttons_in_block_kit_with_the_text_as_fallback() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.1"})))
            .mount(&server)
            .await;
        let (http, s, t) = (reqwest::Client::new(), doc_secrets(), TtlCache::new(Duration::from_secs(1), 1));
        let base = server.uri();
        let route = ReplyRoute::Slack { channel_id: "U0APPROVER".into(), thread_ts: None };
        let buttons = [
            Button::new("Approve once", "/approve pr1 once"),
            Button::new("", "/approve pr1 2h"),
            Button::danger("Reject", "/reject pr1"),
        ];
        let text = Slack.neutralise("Permission request pr1 <!here>\nReply /approve pr1 <hours>h");
        Slack.send(&ctx(&http, &base, &s, &t), &route, &text, &buttons).await.unwrap();
        Slack.send(&ctx(&http, &base, &s, &t), &route, "no buttons", &[]).await.unwrap();
        let long = "word ".repeat(700);
        Slack.send(&ctx(&http, &base, &s, &t), &route, &long, &buttons[..1]).await.unwrap();
        let sent: Vec<serde_json::Value> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        // The notice's text, escaped, is both the notification fallback and the section; the
        // buttons are Block Kit elements, not text, so neutralising leaves them working.
        let shown = "Permission request pr1 &lt;!here&gt;\nReply /approve pr1 &lt;hours&gt;h";
        assert_eq!(
            sent[0],
            json!({
                "channel": "U0APPROVER",
                "text": shown,
                "unfurl_links": false,
                "unfurl_media": false,
                "link_names": false,
                "parse": "none",
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": shown}},
                    {"type": "actions", "elements": [
                        {"type": "button", "action_id": "button_0", "text": {"type": "plain_text", "text": "Approve once"},
                         "value": "/approve pr1 once"},
                        {"type": "button", "action_id": "button_1", "text": {"type": "plain_text", "text": "Reject"},
                         "value": "/reject pr1", "style": "danger"}
                    ]}
                ]
            }),
            "a button without a label is dropped; action ids stay unique"
        );
        assert!(sent[1].get("blocks").is_none(), "{}", sent[1]);
        // A section holds at most 3,000 characters: a longer piece takes several.
        let sections: Vec<_> =
            sent[2]["blocks"].as_array().unwrap().iter().filter(|b| b["type"] == "section").collect();
        assert_eq!(sections.len(), 2);
        assert!(sections.iter().all(|b| b["text"]["text"].as_str().unwrap().chars().count() <= 3000));
        assert_eq!(sent[2]["blocks"].as_array().unwrap().last().unwrap()["type"], "actions");

        // What a click on such a button sends back is the command, as text.
        let payload = json!({
            "type": "block_actions", "trigger_id": "9.9.click", "user": {"id": "U0APPROVER", "name": "boss"},
            "channel": {"id": "D0DM"}, "container": {"message_ts": "1.1", "channel_id": "D0DM"},
            "actions": [sent[0]["blocks"][1]["elements"][0].clone()],
        });
        let h = signed(DOC_TIMESTAMP, "v0=00");
        let parsed = only(Slack.parse(&doc_secrets(), &input(&h, &form(&payload), 0)).unwrap());
        assert_eq!(parsed.message.text, "/approve pr1 once");
        assert_eq!(parsed.message.sender.id, "U0APPROVER");
    }
}
