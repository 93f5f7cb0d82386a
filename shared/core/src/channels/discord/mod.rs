//! Discord over its HTTP interactions endpoint: Ed25519 request signatures, slash commands and
//! message components (buttons, menus), answers as interaction follow-ups.
//!
//! Only interactions arrive by HTTP. Ordinary messages in guild channels and DMs reach a bot only
//! over Discord's gateway, a websocket the bot must hold open and heartbeat; a Lambda function
//! cannot hold a connection between invocations, so this channel answers what people address to
//! the bot as slash commands or button clicks. (Sending to a channel without an interaction, with
//! the bot token, is supported for answers that are not follow-ups.) A thread is a channel of its
//! own with a parent: an interaction from one belongs to the conversation `{parent}:{thread}`.
//!
//! The chat commands are application commands (`/help`, `/new`, `/status`, `/usage`, `/reset`,
//! beside `/ask`): `clawless channel add --register` puts them with one bulk overwrite.
//!
//! Buttons under an answer go out as an action row of button components whose `custom_id` is the
//! button's command; a click comes back as a component interaction whose text is that `custom_id`.
//!
//! Discord must have an answer within 3 seconds, so the webhook acknowledges a command with a
//! deferred response (the person sees "thinking…"); the first follow-up replaces that, and the
//! interaction's token stays valid for 15 minutes.

mod interactions;
mod media;
mod send;
#[cfg(test)]
mod tests;

use ed25519_dalek::{Signature, VerifyingKey};

use super::{
    Channel, ChannelKeys, Inbound, NoRoute, ParseError, SendContext, SendError, VerifyError, WebhookInput,
    WebhookRegistration, break_mentions, is_fresh, unmask_links,
};
use crate::channels::DownloadError;
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
use crate::domain::media::{FileUpload, MediaSource};
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Discord's epoch (the first second of 2015) in Unix milliseconds: snowflakes count from it.
pub const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

pub struct Discord;

/// The public key of an Ed25519 key pair from its 32-byte seed, hex (what the Developer Portal
/// shows as the application's public key). Used by tests and tools that play Discord.
pub fn public_key_hex(seed: &[u8; 32]) -> String {
    hex::encode(ed25519_dalek::SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

/// The `X-Signature-Ed25519` value Discord sends: hex Ed25519 signature of `timestamp` + `body`.
/// Used by tests and tools that play Discord.
pub fn sign_request(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    use ed25519_dalek::Signer;
    let message = [timestamp.as_bytes(), body].concat();
    hex::encode(ed25519_dalek::SigningKey::from_bytes(seed).sign(&message).to_bytes())
}

/// When a snowflake id was made, in Unix milliseconds.
pub fn snowflake_ms(id: &str) -> Option<i64> {
    let id: u64 = id.parse().ok()?;
    i64::try_from(id >> 22).ok()?.checked_add(DISCORD_EPOCH_MS)
}

fn public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

fn is_snowflake(value: &str) -> bool {
    (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// Makes an answer safe in a Discord message. Pings are stopped where Discord decides them:
/// every message is sent with `allowed_mentions: {"parse": []}`, so `@everyone`, `@here`,
/// `<@id>`, `<@&role>` notify nobody whatever the text says (`<#channel>` only links a channel).
/// The text itself gets two changes: masked links are unmasked ([`unmask_links`]:
/// `[https://good.example](https://evil.example)` reads `https://good.example
/// (https://evil.example)`), and `@everyone` / `@here` get a zero-width space after the `@`, so
/// they do not show highlighted as if everyone had been called.
pub fn neutralise(text: &str) -> String {
    break_mentions(&unmask_links(text), &["everyone", "here"])
}

/// Checks `signature_hex` (the `X-Signature-Ed25519` header) as the key's strict Ed25519
/// signature of `timestamp` followed by `body`.
fn check_signature(key: &VerifyingKey, signature_hex: &[u8], timestamp: &[u8], body: &[u8]) -> Result<(), VerifyError> {
    let signature: [u8; 64] = std::str::from_utf8(signature_hex)
        .ok()
        .and_then(|s| hex::decode(s.trim()).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Mismatch)?;
    let message = [timestamp, body].concat();
    key.verify_strict(&message, &Signature::from_bytes(&signature)).map_err(|_| VerifyError::Mismatch)
}

#[async_trait::async_trait]
impl Channel for Discord {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Discord
    }

    fn default_api_base(&self) -> &'static str {
        "https://discord.com/api/v10"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys { required: &["public_key", "application_id", "bot_token"], optional: &[] }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        let key = secrets.get("public_key").map(|s| s.expose()).unwrap_or_default();
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) || public_key(key).is_none() {
            return Err(
                "public_key must be the application's public key: 64 hex characters (General Information)".into()
            );
        }
        let application_id = secrets.get("application_id").map(|s| s.expose()).unwrap_or_default();
        if !is_snowflake(application_id) {
            return Err("application_id must be the application's id (digits)".into());
        }
        let token = secrets.get("bot_token").map(|s| s.expose()).unwrap_or_default();
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("bot_token must be the bot's token, without spaces".into());
        }
        Ok(())
    }

    /// `X-Signature-Ed25519` must be the application key's signature of `X-Signature-Timestamp`
    /// followed by the raw body, and that timestamp (Unix seconds) within 5 minutes of now: a
    /// recorded request replayed later is refused like Slack's. Discord probes the endpoint with
    /// bad signatures and expects 401.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        let configured = secrets.get("public_key").ok_or(VerifyError::NotConfigured("public_key"))?;
        let key = public_key(configured.expose()).ok_or(VerifyError::NotConfigured("valid public_key"))?;
        if input.method != "POST" {
            return Err(VerifyError::Missing("POST"));
        }
        let signature = input.headers.get(SIGNATURE_HEADER).ok_or(VerifyError::Missing(SIGNATURE_HEADER))?;
        let timestamp = input.headers.get(TIMESTAMP_HEADER).ok_or(VerifyError::Missing(TIMESTAMP_HEADER))?;
        check_signature(&key, signature.as_bytes(), timestamp.as_bytes(), input.body)?;
        let seconds = std::str::from_utf8(timestamp.as_bytes()).ok().and_then(|t| t.trim().parse::<i64>().ok());
        match seconds {
            Some(seconds) if is_fresh(seconds, input.now_secs) => Ok(()),
            _ => Err(VerifyError::Stale),
        }
    }

    fn parse(&self, _secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        interactions::parse_interaction(input.body)
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(2000)
    }

    fn neutralise(&self, text: &str) -> String {
        neutralise(text)
    }

    fn formatting_hint(&self) -> &'static str {
        "Format with Discord Markdown; keep answers under 2000 characters where you can."
    }

    /// A channel id does not say whether the channel is a DM.
    fn is_direct(&self, _conversation: &ConversationId) -> bool {
        false
    }

    /// A thread's conversation (`{parent}:{thread}`) is answered in its thread.
    fn standing_route(&self, conversation: &ConversationId) -> Result<ReplyRoute, NoRoute> {
        Ok(ReplyRoute::Discord {
            channel_id: conversation.chat().to_owned(),
            interaction: None,
            thread_id: conversation.thread_part().map(str::to_owned),
        })
    }

    /// A DM has its own channel id, which the user id does not give.
    fn direct_route(&self, _user_id: &str) -> Option<ReplyRoute> {
        None
    }

    /// The chat commands (and `ask`) as the application's slash commands.
    fn webhook_registration(&self) -> Option<&dyn WebhookRegistration> {
        Some(self)
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

    /// An attachment's CDN URL, from Discord's CDN hosts (or the API base's host) only.
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

    /// 10 MiB: a bot's limit on a server without boosts, the one it can count on anywhere.
    fn max_upload_bytes(&self) -> u64 {
        media::MAX_UPLOAD_BYTES
    }

    /// An interaction's deferred response already shows "thinking…" for the whole run, so
    /// there is no typing to send; its status is that response, edited in place.
    async fn post_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
    ) -> Result<Option<String>, SendError> {
        send::edit_original(ctx, route, text).await
    }

    async fn edit_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        _status: &str,
        text: &str,
    ) -> Result<(), SendError> {
        send::edit_original(ctx, route, text).await.map(|_| ())
    }
}

#[async_trait::async_trait]
impl WebhookRegistration for Discord {
    /// Registers the application's commands only: Discord takes the Interactions Endpoint URL
    /// after it has checked it with a signed `PING`, so the operator enters it in the Developer
    /// Portal once the channel is stored.
    async fn register_webhook(
        &self,
        http: &reqwest::Client,
        api_base: &str,
        secrets: &ChannelSecrets,
        _webhook_url: &str,
    ) -> Result<(), SendError> {
        send::register_commands(http, api_base, secrets).await
    }
}
