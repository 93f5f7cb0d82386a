//! WhatsApp Cloud API: the webhook's GET verification (`hub.challenge`), `X-Hub-Signature-256`
//! on every notification, batched `messages` notifications (text, replies, and media messages,
//! whose files are fetched later by media id), and text and media messages through
//! `POST /{phone_number_id}/messages` of the Graph API (media uploaded to `/media` first).
//!
//! One notification may carry several entries, each several changes, each several messages (and
//! delivery `statuses`, which are ignored); every message becomes its own delivery, keyed by its
//! `wamid`. Only changes for this bot's `phone_number_id` are read: an app subscribed to several
//! numbers receives all of them at every number's URL.
//!
//! Meta retries a notification that did not get a 200 for up to 7 days; the platform keeps
//! delivery ids for 30 days, so a retried message is answered once.
//!
//! Messages sent in WhatsApp groups (they carry a `group_id`) are not answered yet: an answer
//! would need a group route (`recipient_type: group`), and answering in private would leak the
//! group's conversation to one member.

mod media;
mod parse;
mod send;
#[cfg(test)]
mod tests;

use super::{
    Channel, ChannelKeys, HttpAnswer, Inbound, NoRoute, ParseError, SendContext, SendError, VerifyError, WebhookInput,
    hmac_sha256_hex_matches, secrets_match,
};
use crate::channels::DownloadError;
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
use crate::domain::media::{FileUpload, MediaSource};
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

pub struct Whatsapp;

/// `sha256=` + hex HMAC-SHA256(app_secret, body): what Meta puts in `X-Hub-Signature-256`.
/// The platform only checks signatures; this is here for tests, sample events and tools.
pub fn signature_header(app_secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait::async_trait]
impl Channel for Whatsapp {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn default_api_base(&self) -> &'static str {
        "https://graph.facebook.com/v21.0"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys { required: &["app_secret", "verify_token", "access_token", "phone_number_id"], optional: &[] }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        let id = secrets.get("phone_number_id").map(|s| s.expose()).unwrap_or_default();
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err("phone_number_id must be the digits of the number's id in Meta's app dashboard \
                        (not the phone number itself)"
                .into());
        }
        let token = secrets.get("access_token").map(|s| s.expose()).unwrap_or_default();
        if token.chars().any(char::is_whitespace) {
            return Err("access_token must not contain whitespace".into());
        }
        Ok(())
    }

    /// GET: the subscription handshake (`hub.mode=subscribe`, `hub.verify_token`). POST:
    /// `X-Hub-Signature-256` over the raw body with the app secret.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        match input.method {
            "GET" => {
                let configured = secrets.get("verify_token").ok_or(VerifyError::NotConfigured("verify_token"))?;
                let mode = input.query_param("hub.mode").ok_or(VerifyError::Missing("hub.mode"))?;
                let presented =
                    input.query_param("hub.verify_token").ok_or(VerifyError::Missing("hub.verify_token"))?;
                let token_ok = secrets_match(presented.as_bytes(), configured.expose().as_bytes());
                if mode == "subscribe" && token_ok { Ok(()) } else { Err(VerifyError::Mismatch) }
            }
            "POST" => {
                let secret = secrets.get("app_secret").ok_or(VerifyError::NotConfigured("app_secret"))?;
                let presented = input.header(SIGNATURE_HEADER).ok_or(VerifyError::Missing(SIGNATURE_HEADER))?;
                let hex = presented.trim().strip_prefix("sha256=").ok_or(VerifyError::Mismatch)?;
                if hmac_sha256_hex_matches(secret.expose().as_bytes(), &[input.body], hex) {
                    Ok(())
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
            _ => Err(VerifyError::Missing("GET or POST")),
        }
    }

    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        if input.method == "GET" {
            let challenge = input
                .query_param("hub.challenge")
                .ok_or_else(|| ParseError::Invalid("hub.challenge is missing".into()))?;
            return Ok(Inbound::Answer(HttpAnswer::text(200, challenge)));
        }
        let phone_number_id = secrets
            .get("phone_number_id")
            .ok_or(ParseError::Unauthorized(VerifyError::NotConfigured("phone_number_id")))?;
        parse::parse_notification(input.body, phone_number_id.expose(), input.now_secs)
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4096)
    }

    /// Nothing to change. A text message is plain text with WhatsApp's own emphasis (`*bold*`,
    /// `_italic_`, `~strike~`, code), none of which notifies anyone or hides a link; links show
    /// as the URL itself (previews are off). Mentions exist only in groups, which are not
    /// answered, so every answer goes to the one person who wrote.
    fn neutralise(&self, text: &str) -> String {
        text.to_owned()
    }

    fn formatting_hint(&self) -> &'static str {
        "Format for WhatsApp (*bold*, _italic_, ```code```); keep it short, no tables or links lists."
    }

    /// Group messages are not answered, so every conversation is with one person.
    fn is_direct(&self, _conversation: &ConversationId) -> bool {
        true
    }

    fn standing_route(&self, conversation: &ConversationId) -> Result<ReplyRoute, NoRoute> {
        Ok(ReplyRoute::Whatsapp { to: conversation.as_str().to_owned(), reply_to_message_id: None })
    }

    /// Messages to a person go to their WhatsApp id.
    fn direct_route(&self, user_id: &str) -> Option<ReplyRoute> {
        Some(ReplyRoute::Whatsapp { to: user_id.to_owned(), reply_to_message_id: None })
    }

    /// Text only: no buttons here (an approval notice's text lists its commands).
    async fn send(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
        _buttons: &[Button],
    ) -> Result<String, SendError> {
        send::send_text(ctx, route, text).await
    }

    /// `GET /{media_id}` for the media's URL, then the URL with the token (from Meta's media
    /// host or the API base's host only).
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

    /// 16 MiB, the Cloud API's limit for images, audio and video (documents may be larger).
    fn max_upload_bytes(&self) -> u64 {
        media::MAX_UPLOAD_BYTES
    }

    /// WhatsApp cannot edit a message, so a run shows only this (no status message).
    async fn typing(&self, ctx: &SendContext<'_>, route: &ReplyRoute) -> Result<(), SendError> {
        send::send_typing(ctx, route).await
    }
}
