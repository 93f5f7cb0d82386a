//! Telegram Bot API: the webhook's secret token, `Update` parsing (messages and inline keyboard
//! clicks), `sendMessage` (with an inline keyboard for buttons).

mod media;
mod parse;
mod send;
#[cfg(test)]
mod tests;

use super::{
    Channel, ChannelKeys, Inbound, NoRoute, ParseError, SendContext, SendError, VerifyError, WebhookInput,
    WebhookRegistration, secrets_match,
};
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Telegram's limit on an inline keyboard button's `callback_data`.
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;
/// The updates the webhook is registered for.
pub const ALLOWED_UPDATES: &[&str] = &["message", "callback_query"];

pub struct Telegram;

#[async_trait::async_trait]
impl Channel for Telegram {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn default_api_base(&self) -> &'static str {
        "https://api.telegram.org"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys { required: &["bot_token", "webhook_secret"], optional: &["bot_username"] }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        let secret = secrets.get("webhook_secret").map(|s| s.expose()).unwrap_or_default();
        if secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err("webhook_secret must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)".into());
        }
        let token = secrets.get("bot_token").map(|s| s.expose()).unwrap_or_default();
        if !token.contains(':') || token.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err("bot_token does not look like a Telegram bot token (<digits>:<key>)".into());
        }
        Ok(())
    }

    /// `X-Telegram-Bot-Api-Secret-Token` must equal the bot's `webhook_secret`.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        let configured = secrets.get("webhook_secret").ok_or(VerifyError::NotConfigured("webhook_secret"))?;
        if input.method != "POST" {
            return Err(VerifyError::Missing("POST"));
        }
        let presented = input.headers.get(SECRET_HEADER).ok_or(VerifyError::Missing(SECRET_HEADER))?;
        if secrets_match(presented.as_bytes(), configured.expose().as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        parse::parse_update(input.body, secrets.get("bot_username").map(|s| s.expose()), input.now_secs)
    }

    fn text_limit(&self) -> TextLimit {
        TextLimit::Chars(4096)
    }

    /// Nothing to change. Messages go without `parse_mode` or `entities`, so Telegram reads no
    /// markup in them: `<b>`, `*bold*`, `[text](url)` and `tg://user?id=…` show as typed, and the
    /// mentions that need markup (`text_mention`, links to a user) cannot be made. Telegram itself
    /// highlights `@username`, `/command`, URLs and the like in plain text: there is no "everyone"
    /// in Telegram, and a `@username` notifies that one person, as when any member writes it, so
    /// it is kept (an answer may well name someone). A tapped `/command` is sent as the tapper's
    /// own message and checked like one they typed.
    fn neutralise(&self, text: &str) -> String {
        text.to_owned()
    }

    fn formatting_hint(&self) -> &'static str {
        "Format with plain text and simple Markdown (*bold*, `code`); no tables."
    }

    /// A private chat's id is its user's id, a positive number; groups' and channels' are
    /// negative.
    fn is_direct(&self, conversation: &ConversationId) -> bool {
        conversation.chat().parse::<i64>().is_ok_and(|n| n > 0)
    }

    /// A forum topic's conversation (`{chat}:{topic}`) is answered in its topic.
    fn standing_route(&self, conversation: &ConversationId) -> Result<ReplyRoute, NoRoute> {
        let chat_id = conversation.chat().parse().map_err(|_| NoRoute("this Telegram chat id is not numeric"))?;
        let message_thread_id = match conversation.thread_part() {
            Some(topic) => Some(topic.parse().map_err(|_| NoRoute("this Telegram topic id is not numeric"))?),
            None => None,
        };
        Ok(ReplyRoute::Telegram { chat_id, message_thread_id, reply_to_message_id: None })
    }

    /// The private chat with a user has the user's id.
    fn direct_route(&self, user_id: &str) -> Option<ReplyRoute> {
        let chat_id = user_id.parse().ok()?;
        Some(ReplyRoute::Telegram { chat_id, message_thread_id: None, reply_to_message_id: None })
    }

    /// `setWebhook`, with the webhook secret as the token Telegram presents.
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
        send::send_message(ctx, route, text, buttons).await
    }

    async fn download(
        &self,
        ctx: &SendContext<'_>,
        source: &crate::domain::media::MediaSource,
        max_bytes: u64,
    ) -> Result<Vec<u8>, crate::channels::DownloadError> {
        media::download(ctx, source, max_bytes.min(media::MAX_BOT_DOWNLOAD_BYTES)).await
    }

    async fn send_file(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        file: &crate::domain::media::FileUpload<'_>,
    ) -> Result<String, SendError> {
        media::send_file(ctx, route, file).await
    }

    /// Bots may send files up to 50 MB; the platform's cap is lower.
    fn max_upload_bytes(&self) -> u64 {
        crate::domain::media::MAX_OUTBOUND_BYTES
    }

    async fn typing(&self, ctx: &SendContext<'_>, route: &ReplyRoute) -> Result<(), SendError> {
        send::send_typing(ctx, route).await
    }

    async fn post_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
    ) -> Result<Option<String>, SendError> {
        send::send_message(ctx, route, text, &[]).await.map(Some)
    }

    async fn edit_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        status: &str,
        text: &str,
    ) -> Result<(), SendError> {
        send::edit_message_text(ctx, route, status, text).await
    }
}

#[async_trait::async_trait]
impl WebhookRegistration for Telegram {
    async fn register_webhook(
        &self,
        http: &reqwest::Client,
        api_base: &str,
        secrets: &ChannelSecrets,
        webhook_url: &str,
    ) -> Result<(), SendError> {
        send::set_webhook(http, api_base, secrets, webhook_url).await
    }
}
