//! Feishu / Lark open platform: HTTP event callbacks (schema 2.0, `im.message.receive_v1`), the
//! `url_verification` challenge, and text messages through the IM v1 API with a tenant access token;
//! image, file, audio and video messages come in as files (fetched later through the message
//! resources API), and files go out as image or file messages after an upload.
//!
//! The default API base is Feishu's (`https://open.feishu.cn`). Lark (the international edition)
//! has the same API under another host: set `CLAWLESS_FEISHU_API=https://open.larksuite.com`.
//!
//! **Verification.** With an `encrypt_key`, Feishu encrypts every callback body
//! (`{"encrypt": base64(iv ‖ AES-256-CBC(SHA-256(key), iv, PKCS#7(json)))}`) and signs every
//! event: `X-Lark-Signature` = hex SHA-256(`X-Lark-Request-Timestamp` ‖ `X-Lark-Request-Nonce` ‖
//! key ‖ raw body). Without one, bodies are plain JSON and only the `verification_token` inside them
//! (`header.token`, or `token` in schema 1 and the challenge) proves where they came from; that
//! check runs in `parse` because it needs the parsed body. With neither, everything is refused.
//!
//! **The challenge.** Feishu's "receive events" guide describes the signature check for the events
//! it pushes "excluding the request URL verification" (不包括请求网址校验), and the official SDKs
//! answer `url_verification` before they check any signature (lark-oapi's
//! `EventDispatcherHandler.do` returns the challenge and only then calls `_verify_sign`;
//! oapi-sdk-go's `AuthByChallenge` runs before `VerifySign`). So the challenge may come without
//! signature headers. We accept an unsigned request only when an `encrypt_key` is set and the body
//! is *encrypted* with it and decrypts to a `url_verification` (Feishu encrypts the challenge too),
//! and `parse` then checks its token when one is configured. A request without the key cannot make
//! that pass, and the most it gets is its own challenge echoed: the answer stores, queues and sends
//! nothing. A signed challenge is checked like any event.
//!
//! **Freshness.** A recorded callback replayed later is refused, as Slack's are: a signed request
//! whose `X-Lark-Request-Timestamp` (Unix seconds) is more than 5 minutes from now, and, when
//! only the verification token proves the sender, an event whose `header.create_time` (Unix
//! milliseconds, schema 2.0) is; an event without one is refused in that mode. The
//! `url_verification` challenge has no time and is answered as before. Feishu retries an
//! unanswered event for hours: a retry of a token-only event, whose body keeps its
//! `create_time`, is refused once it is 5 minutes old. A replay within the window has the same
//! `event_id`, and delivery ids are kept (and deduplicated) for 30 days.
//!
//! **Groups.** Without the "read all group messages" scope Feishu delivers only group messages
//! that @mention the bot; so when the optional `bot_open_id` is not set, any mention in a group
//! counts as addressing the bot. With `bot_open_id` set, only a mention of that open_id does.
//!
//! **Threads.** A message in a thread (话题: it carries a `thread_id`) belongs to the thread's
//! conversation, `{chat}:{root message id}`, and is answered in the thread: a reply to the root
//! with `reply_in_thread: true`.
//!
//! Events carry no display name for the sender (looking it up needs the contact scope and an API
//! call), so the sender's name is their `open_id`.

mod crypto;
mod media;
mod parse;
mod send;
#[cfg(test)]
mod tests;

pub use crypto::{decrypt, encrypt, signature};

use super::{
    Channel, ChannelKeys, Inbound, NoRoute, ParseError, SendContext, SendError, VerifyError, WebhookInput, is_fresh,
    secrets_match, unmask_links,
};
use crate::channels::DownloadError;
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
use crate::domain::media::{FileUpload, MediaSource};
use crate::domain::model::{ChannelKind, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::TextLimit;

pub const SIGNATURE_HEADER: &str = "x-lark-signature";
pub const TIMESTAMP_HEADER: &str = "x-lark-request-timestamp";
pub const NONCE_HEADER: &str = "x-lark-request-nonce";

pub struct Feishu;

/// Makes an answer safe in a Feishu text message. Text messages read `<at user_id="…">name</at>`
/// as a mention (`user_id="all"` is everyone in the group; an open_id, union_id or user_id names
/// one person), `[text](link)` as a hyperlink, and `<b>`, `<i>`, `<u>`, `<s>` as styles (shown
/// as written unless balanced). So:
/// - a zero-width space goes after the `<` of every `at` tag, opening or closing, whatever its
///   case and spacing, and after the `@` of the `@_all` / `@_user_N` mention placeholders: the
///   text shows as written (the space has no width) and holds no tag. Not `&lt;`: text messages
///   have no documented entities, so an escape could show as the four characters `&lt;`;
/// - masked links are unmasked as on Discord ([`unmask_links`]): `text (https://…)`;
/// - style tags are left alone: they format, they notify nobody.
pub fn neutralise(text: &str) -> String {
    const ZWSP: char = '\u{200B}';
    let text = unmask_links(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..=lt]);
        rest = &rest[lt + 1..];
        let tag = rest.trim_start().strip_prefix('/').unwrap_or(rest.trim_start()).trim_start();
        let is_at = tag.get(..2).is_some_and(|name| name.eq_ignore_ascii_case("at"))
            && !tag[2..].starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-');
        if is_at {
            out.push(ZWSP);
        }
    }
    out.push_str(rest);
    let mut placeholders = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("@_") {
        placeholders.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let name = &rest[1..];
        let is_placeholder = name.get(..3).is_some_and(|n| n.eq_ignore_ascii_case("all"))
            || name.get(..5).is_some_and(|n| n.eq_ignore_ascii_case("user_"));
        if is_placeholder {
            placeholders.push(ZWSP);
        }
    }
    placeholders.push_str(rest);
    placeholders
}

#[async_trait::async_trait]
impl Channel for Feishu {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Feishu
    }

    /// Feishu's API; Lark's is `https://open.larksuite.com` (set `CLAWLESS_FEISHU_API`).
    fn default_api_base(&self) -> &'static str {
        "https://open.feishu.cn"
    }

    fn keys(&self) -> ChannelKeys {
        ChannelKeys {
            required: &["app_id", "app_secret"],
            optional: &["encrypt_key", "verification_token", "bot_open_id"],
        }
    }

    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String> {
        if secrets.get("encrypt_key").is_none() && secrets.get("verification_token").is_none() {
            return Err("set encrypt_key or verification_token (both, preferably): without either no callback can \
                        be verified, so every one would be refused"
                .into());
        }
        let app_id = secrets.get("app_id").map(|s| s.expose()).unwrap_or_default();
        let rest = app_id.strip_prefix("cli_").unwrap_or_default();
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("app_id does not look like a Feishu/Lark app id (cli_…)".into());
        }
        if let Some(open_id) = secrets.get("bot_open_id")
            && !open_id.expose().starts_with("ou_")
        {
            return Err("bot_open_id does not look like an open_id (ou_…)".into());
        }
        Ok(())
    }

    /// With an `encrypt_key`: the `X-Lark-Signature` over the raw body and a timestamp within 5
    /// minutes of now (or an unsigned challenge encrypted with the key, see the module doc).
    /// Without one, the token and the event's time are checked in `parse`.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError> {
        let encrypt_key = secrets.get("encrypt_key");
        if encrypt_key.is_none() && secrets.get("verification_token").is_none() {
            return Err(VerifyError::NotConfigured("encrypt_key or verification_token"));
        }
        if input.method != "POST" {
            return Err(VerifyError::Missing("POST"));
        }
        let Some(key) = encrypt_key else { return Ok(()) };
        let key = key.expose();
        let (Some(timestamp), Some(nonce), Some(presented)) =
            (input.header(TIMESTAMP_HEADER), input.header(NONCE_HEADER), input.header(SIGNATURE_HEADER))
        else {
            if crypto::is_encrypted_challenge(key, input.body) {
                return Ok(());
            }
            let missing = [SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER]
                .into_iter()
                .find(|h| input.header(h).is_none())
                .unwrap_or(SIGNATURE_HEADER);
            return Err(VerifyError::Missing(missing));
        };
        let expected = signature(timestamp, nonce, key, input.body);
        if !secrets_match(presented.trim().to_ascii_lowercase().as_bytes(), expected.as_bytes()) {
            return Err(VerifyError::Mismatch);
        }
        match timestamp.trim().parse::<i64>() {
            Ok(seconds) if is_fresh(seconds, input.now_secs) => Ok(()),
            _ => Err(VerifyError::Stale),
        }
    }

    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError> {
        parse::parse_callback(secrets, input.body, input.now_secs)
    }

    /// Feishu takes at most 150 KB per text message request. The text travels JSON-encoded inside
    /// `content`, itself a JSON string in the body, so each newline grows to 3 bytes and each quote
    /// or backslash to 4: 100 KiB of text leaves room for a text of which a sixth is quotes.
    fn text_limit(&self) -> TextLimit {
        TextLimit::Bytes(100 * 1024)
    }

    fn neutralise(&self, text: &str) -> String {
        neutralise(text)
    }

    fn formatting_hint(&self) -> &'static str {
        "Format as plain text; no Markdown."
    }

    /// A chat id (`oc_…`) does not say whether the chat is one-to-one.
    fn is_direct(&self, _conversation: &ConversationId) -> bool {
        false
    }

    /// A thread's conversation (`{chat}:{root message}`) is answered in its thread.
    fn standing_route(&self, conversation: &ConversationId) -> Result<ReplyRoute, NoRoute> {
        Ok(ReplyRoute::Feishu {
            chat_id: conversation.chat().to_owned(),
            reply_to_message_id: None,
            thread_root_id: conversation.thread_part().map(str::to_owned),
        })
    }

    /// A one-to-one chat has its own chat id, which the user's id does not give.
    fn direct_route(&self, _user_id: &str) -> Option<ReplyRoute> {
        None
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

    /// The message resources API with the tenant access token.
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

    /// Files up to 25 MiB (Feishu takes 30 MB; images only up to 10 MiB, which
    /// [`Channel::send_file`] checks itself).
    fn max_upload_bytes(&self) -> u64 {
        media::MAX_UPLOAD_BYTES
    }

    async fn mark_working(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        _message_at_ms: i64,
    ) -> Result<Option<String>, SendError> {
        send::add_working_reaction(ctx, route).await
    }

    async fn unmark_working(&self, ctx: &SendContext<'_>, _route: &ReplyRoute, mark: &str) -> Result<(), SendError> {
        send::remove_working_reaction(ctx, mark).await
    }

    async fn post_status(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
    ) -> Result<Option<String>, SendError> {
        send::post_status_card(ctx, route, text).await.map(Some)
    }

    async fn edit_status(
        &self,
        ctx: &SendContext<'_>,
        _route: &ReplyRoute,
        status: &str,
        text: &str,
    ) -> Result<(), SendError> {
        send::patch_status_card(ctx, status, text).await
    }
}
