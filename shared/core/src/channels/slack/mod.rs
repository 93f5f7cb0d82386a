//! Slack over HTTP: request signing (`X-Slack-Signature`), the Events API, slash commands and
//! interactive payloads, `chat.postMessage` (with Block Kit buttons when an answer has them), and
//! files both ways (a message's `files` in, the external upload flow out).
//!
//! What a Slack app must subscribe to: the `message.channels`, `message.groups`, `message.im` and
//! `message.mpim` bot events. Slack sends both a `message` and an `app_mention` event for one
//! mention in a channel, under different `event_id`s; answering both would answer twice, and
//! keeping only `app_mention` would lose the messages that do not mention the bot (which a bot's
//! trigger pattern may still want). So `message` events are kept, whether they mention the bot is
//! read from their text (`<@bot_user_id>`), and `app_mention` events are acknowledged and dropped.

mod events;
mod forms;
mod media;
mod send;
#[cfg(test)]
mod tests;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    Channel, ChannelKeys, Inbound, NoRoute, ParseError, SendContext, SendError, VerifyError, WebhookInput,
    break_mentions, hmac_sha256_hex_matches, is_fresh,
};
use crate::channels::DownloadError;
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
use crate::domain::media::{FileUpload, MediaSource};
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Slack's rule: a request whose timestamp is further than this from now is refused (replays).
pub const MAX_AGE_SECS: i64 = super::MAX_REQUEST_AGE_SECS;
/// The only signature version Slack uses.
const VERSION: &str = "v0";

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
        if forms::is_form(input) {
            // The verified request time; a retried request keeps its ids, so the stored key is stable.
            let seconds = input.header(TIMESTAMP_HEADER).and_then(|t| t.trim().parse::<i64>().ok());
            forms::parse_form(input.body, seconds.unwrap_or(input.now_secs).saturating_mul(1000))
        } else {
            events::parse_events_api(input.body, secrets.get("bot_user_id").map(|s| s.expose()))
        }
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4000)
    }

    fn neutralise(&self, text: &str) -> String {
        neutralise(text)
    }

    fn formatting_hint(&self) -> &'static str {
        "Format with Slack mrkdwn (*bold*, _italic_, `code`, ```blocks```); no tables or headings."
    }

    /// Direct message channels' ids start with `D`.
    fn is_direct(&self, conversation: &ConversationId) -> bool {
        conversation.as_str().starts_with('D')
    }

    /// A thread's conversation (`{channel}:{thread_ts}`) is answered in its thread.
    fn standing_route(&self, conversation: &ConversationId) -> Result<ReplyRoute, NoRoute> {
        Ok(ReplyRoute::Slack {
            channel_id: conversation.chat().to_owned(),
            thread_ts: conversation.thread_part().map(str::to_owned),
        })
    }

    /// `chat.postMessage` to a user id posts in the bot's direct messages with that user.
    fn direct_route(&self, user_id: &str) -> Option<ReplyRoute> {
        Some(ReplyRoute::Slack { channel_id: user_id.to_owned(), thread_ts: None })
    }

    async fn send(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
        buttons: &[Button],
    ) -> Result<String, SendError> {
        send::post_message(ctx, route, text, buttons).await
    }

    /// `url_private_download` with the bot token, from `files.slack.com` (or the API base's host)
    /// only.
    async fn download(
        &self,
        ctx: &SendContext<'_>,
        source: &MediaSource,
        max_bytes: u64,
    ) -> Result<Vec<u8>, DownloadError> {
        media::download(ctx, source, max_bytes).await
    }

    async fn send_file(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        file: &FileUpload<'_>,
    ) -> Result<String, SendError> {
        media::send_file(ctx, route, file).await
    }

    /// Slack takes files up to 1 GB; the platform's own limit is the lower one.
    fn max_upload_bytes(&self) -> u64 {
        crate::domain::media::MAX_OUTBOUND_BYTES
    }

    async fn mark_working(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        message_at_ms: i64,
    ) -> Result<Option<String>, SendError> {
        send::add_working_reaction(ctx, route, message_at_ms).await
    }

    async fn unmark_working(&self, ctx: &SendContext<'_>, route: &ReplyRoute, mark: &str) -> Result<(), SendError> {
        send::remove_working_reaction(ctx, route, mark).await
    }

    async fn post_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
    ) -> Result<Option<String>, SendError> {
        send::post_message(ctx, route, text, &[]).await.map(Some)
    }

    async fn edit_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        status: &str,
        text: &str,
    ) -> Result<(), SendError> {
        send::update_message(ctx, route, status, text).await
    }
}
