//! Chat channels behind one trait: verify an incoming webhook on its raw bytes, parse it into
//! domain messages, send an answer, and every other way the channels differ (where answers go
//! without a message to reply to, which chats are direct, how to format). One folder per channel:
//! adding one is a new folder and its line in [`channel`]; callers ask [`channel`] and never
//! match on the kind. What the channels share lives here (constant-time comparison, HMAC,
//! freshness, errors, the request and answer shapes), in [`api`] (the trip to a channel's API and
//! what a refusal means) and in `markup` (masked links and mass mentions made literal), so no
//! verification, error mapping or chunking logic is written twice.

pub mod api;
pub mod discord;
pub mod feishu;
mod markup;
pub mod media;
pub mod slack;
pub mod telegram;
pub mod whatsapp;

pub use markup::{break_mentions, unmask_links};
pub use media::{DownloadError, download_capped};

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cache::TtlCache;
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
use crate::domain::media::{FileUpload, MediaSource};
use crate::domain::model::{ChannelKind, InboundMessage, ReplyRoute};
use crate::domain::secrets::ChannelSecrets;
use crate::domain::text::{TextLimit, split_message};

/// Compares a presented secret with the configured one in constant time, lengths included
/// (both sides are hashed first, so the comparison never leaks the secret's length).
pub fn secrets_match(presented: &[u8], configured: &[u8]) -> bool {
    let a = Sha256::digest(presented);
    let b = Sha256::digest(configured);
    a.ct_eq(&b).into()
}

/// Checks `presented_hex` (a hex HMAC-SHA256, any case) against HMAC-SHA256(`key`, `message`) in
/// constant time.
pub fn hmac_sha256_hex_matches(key: &[u8], message: &[&[u8]], presented_hex: &str) -> bool {
    let Ok(presented) = hex::decode(presented_hex.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
    for part in message {
        mac.update(part);
    }
    mac.verify_slice(&presented).is_ok()
}

/// How far a request's timestamp may be from now, either way, before the request is refused as a
/// replay: Slack's rule, kept by every channel whose requests carry a time.
pub const MAX_REQUEST_AGE_SECS: i64 = 5 * 60;

/// Whether a request stamped `timestamp_secs` is within [`MAX_REQUEST_AGE_SECS`] of `now_secs`
/// (without overflow, whatever the request claims).
pub fn is_fresh(timestamp_secs: i64, now_secs: i64) -> bool {
    timestamp_secs.abs_diff(now_secs) <= MAX_REQUEST_AGE_SECS.unsigned_abs()
}

/// A webhook request as received: raw body bytes exactly as the channel sent them.
pub struct WebhookInput<'a> {
    pub method: &'a str,
    pub headers: &'a http::HeaderMap,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub body: &'a [u8],
    /// Unix seconds now (a parameter, so timestamp checks are testable).
    pub now_secs: i64,
}

impl WebhookInput<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// One query parameter, decoded as a form (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

/// What the webhook answers the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self { status, content_type: "application/json", body: value.to_string().into_bytes() }
    }
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8", body: text.into().into_bytes() }
    }
    pub fn ok() -> Self {
        Self::json(200, &serde_json::json!({ "ok": true }))
    }
}

/// One message for the bot, parsed from a verified webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMessage {
    pub conversation_id: ConversationId,
    pub message: InboundMessage,
    /// The message mentions the bot (or is a command to it), so it triggers an answer in a group.
    pub mentions_bot: bool,
}

/// What a verified webhook means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Answer the channel directly, store nothing (URL verification, pings, challenges).
    Answer(HttpAnswer),
    /// Messages for the bot (possibly none), and what to answer once each is queued (or, kept as
    /// context, stored).
    Deliveries { messages: Vec<ParsedMessage>, ack: HttpAnswer },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the channel has no {0} configured, so every request is refused")]
    NotConfigured(&'static str),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("request is too old or from the future")]
    Stale,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is malformed: {0}")]
    Invalid(String),
    /// A check that needs the parsed body failed (a verification token, say).
    #[error("unauthorized: {0}")]
    Unauthorized(VerifyError),
}

/// Why a send did not go through, and what the caller should do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The channel asks us to slow down.
    #[error("rate limited by the channel, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// Worth retrying later (5xx, network).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying cannot help (blocked by the user, chat gone, bad token).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// What a send needs besides the route and text.
#[derive(Clone, Copy)]
pub struct SendContext<'a> {
    pub http: &'a reqwest::Client,
    /// The channel's API base URL (`CLAWLESS_<CHANNEL>_API` or the channel's default).
    pub api_base: &'a str,
    pub secrets: &'a ChannelSecrets,
    /// Short-lived access tokens a channel obtains before it can send (Feishu), per container.
    pub tokens: &'a TtlCache<String, String>,
    /// The same for every attempt at one piece of one reply (`{reply id}#p{piece}`), different for
    /// every other: a channel whose send API takes an idempotency key (Feishu's `uuid`) passes
    /// it, so a retry after the channel took the send but before the reply function recorded it
    /// does not post the piece twice. `None` sends without one.
    pub send_key: Option<&'a str>,
}

/// The keys `clawless channel add --set` accepts.
pub struct ChannelKeys {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

/// One chat platform.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;

    /// The API base URL when `CLAWLESS_<CHANNEL>_API` is not set.
    fn default_api_base(&self) -> &'static str;

    fn keys(&self) -> ChannelKeys;

    /// Checks the operator's settings before they are stored (formats, one-of rules).
    fn validate_settings(&self, secrets: &ChannelSecrets) -> Result<(), String>;

    /// Verifies the request on its raw bytes, before anything is parsed. Fails closed.
    fn verify(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<(), VerifyError>;

    /// Parses a verified request. Drops the bot's own messages and other bots'.
    fn parse(&self, secrets: &ChannelSecrets, input: &WebhookInput<'_>) -> Result<Inbound, ParseError>;

    /// The longest piece of text one message may carry.
    fn text_limit(&self) -> TextLimit;

    /// Makes an answer's text safe to post here: the channel's markup that would notify people
    /// (everyone, a group, a user) or show a link as something it is not renders as literal
    /// text instead. Answers come from agents, which read strangers' text and can be made to
    /// write anything; platform notices quote what agents and users wrote. Required, with no
    /// default, so a new channel has to decide; [`outbound_pieces`] applies it to every text
    /// the reply flow sends, before [`Channel::send`] sees it.
    fn neutralise(&self, text: &str) -> String;

    /// How to format answers here, one line of the agent's system prompt: the markup this
    /// channel shows (the reply function sends answers as they are written) and its limits.
    fn formatting_hint(&self) -> &'static str;

    /// Whether `conversation` is one-to-one, as far as its id says. Unknown counts as a group,
    /// the cautious reading: group history is treated as untrusted.
    fn is_direct(&self, conversation: &ConversationId) -> bool;

    /// Where answers to `conversation` go when they answer no message (a scheduled task's
    /// runs): the chat itself, with no message to reply to, no thread and no interaction. Every
    /// channel's conversation id is its chat's id.
    fn standing_route(&self, conversation: &ConversationId) -> Result<ReplyRoute, NoRoute>;

    /// The bot's private chat with the user `user_id`, where approver notices go, if the user
    /// id alone names it on this channel.
    fn direct_route(&self, user_id: &str) -> Option<ReplyRoute>;

    /// How `clawless channel add --register` tells the channel the bot's webhook URL, where the
    /// channel has an API for it; `None`: the operator enters it in the channel's console.
    fn webhook_registration(&self) -> Option<&dyn WebhookRegistration> {
        None
    }

    /// Sends one piece of an answer as it is given (already neutralised, see
    /// [`outbound_pieces`]); returns the channel's id for the sent message. `buttons` (given with
    /// the last piece only) go under the text where the channel has buttons, each sending its
    /// `command` back as the clicker's message; channels without them ignore it.
    async fn send(
        &self,
        ctx: &SendContext<'_>,
        route: &ReplyRoute,
        text: &str,
        buttons: &[Button],
    ) -> Result<String, SendError>;

    /// Downloads a file a message of this channel carries (`source`, as [`Channel::parse`] put
    /// it), at most `max_bytes` of it, with the bot's own token. Trusted code only: the
    /// dispatcher, after the webhook answered. A source of another channel is refused.
    async fn download(
        &self,
        _ctx: &SendContext<'_>,
        _source: &MediaSource,
        _max_bytes: u64,
    ) -> Result<Vec<u8>, DownloadError> {
        Err(DownloadError::Permanent(format!("{} cannot take files in yet", self.kind())))
    }

    /// Sends a file into `route`'s chat, with its caption (already neutralised); returns the
    /// channel's id for the sent message. The bytes were judged already (`file.sniffed`).
    async fn send_file(
        &self,
        _ctx: &SendContext<'_>,
        _route: &ReplyRoute,
        _file: &FileUpload<'_>,
    ) -> Result<String, SendError> {
        Err(SendError::Permanent(format!("{} cannot send files yet", self.kind())))
    }

    /// The largest file a bot may send here (the channel's own limit, at most
    /// [`crate::domain::media::MAX_OUTBOUND_BYTES`]).
    fn max_upload_bytes(&self) -> u64 {
        crate::domain::media::MAX_OUTBOUND_BYTES
    }

    // A run's signs of life (see `crate::domain::progress`). Each has a default that does
    // nothing, for a channel without the feature; the reply flow swallows their errors, so a
    // failed one never holds back or loses an answer.

    /// Shows the channel's typing indicator in `route`'s chat for a few seconds (the reply
    /// flow calls it on each of a run's progress reports).
    async fn typing(&self, _ctx: &SendContext<'_>, _route: &ReplyRoute) -> Result<(), SendError> {
        Ok(())
    }

    /// Marks the message a run answers (sent at `message_at_ms`) as being worked on, where the
    /// channel has no typing indicator and shows that with a reaction; returns what
    /// [`Channel::unmark_working`] needs to take it down, `None` if nothing was marked.
    async fn mark_working(
        &self,
        _ctx: &SendContext<'_>,
        _route: &ReplyRoute,
        _message_at_ms: i64,
    ) -> Result<Option<String>, SendError> {
        Ok(None)
    }

    /// Takes down what [`Channel::mark_working`] put up (`mark` is its handle).
    async fn unmark_working(&self, _ctx: &SendContext<'_>, _route: &ReplyRoute, _mark: &str) -> Result<(), SendError> {
        Ok(())
    }

    /// Posts a status message (already neutralised) that [`Channel::edit_status`] can change;
    /// returns its id, or `None` where the channel cannot edit a message (nothing is sent then).
    async fn post_status(
        &self,
        _ctx: &SendContext<'_>,
        _route: &ReplyRoute,
        _text: &str,
    ) -> Result<Option<String>, SendError> {
        Ok(None)
    }

    /// Changes the status message `status` (an id [`Channel::post_status`] returned) to `text`.
    async fn edit_status(
        &self,
        _ctx: &SendContext<'_>,
        _route: &ReplyRoute,
        _status: &str,
        _text: &str,
    ) -> Result<(), SendError> {
        Ok(())
    }
}

/// Registering the bot's webhook URL with the channel through its API.
#[async_trait::async_trait]
pub trait WebhookRegistration: Send + Sync {
    /// Tells the channel to deliver the bot's updates to `webhook_url`, presenting the bot's
    /// webhook secret with each.
    async fn register_webhook(
        &self,
        http: &reqwest::Client,
        api_base: &str,
        secrets: &ChannelSecrets,
        webhook_url: &str,
    ) -> Result<(), SendError>;
}

/// A conversation id that names no chat answers can be sent to on its channel; the message says
/// why.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct NoRoute(pub &'static str);

/// The implementation of a channel, if it is built.
pub fn channel(kind: ChannelKind) -> Option<&'static dyn Channel> {
    match kind {
        ChannelKind::Telegram => Some(&telegram::Telegram),
        ChannelKind::Slack => Some(&slack::Slack),
        ChannelKind::Discord => Some(&discord::Discord),
        ChannelKind::Feishu => Some(&feishu::Feishu),
        ChannelKind::Whatsapp => Some(&whatsapp::Whatsapp),
    }
}

/// The pieces `text` goes out as on `channel`: neutralised once, then split at the channel's
/// limit. Neutralising first means each piece fits the limit as it is sent (escapes make a text
/// longer), and a piece, being a part of neutralised text, holds no markup the whole did not.
pub fn outbound_pieces(channel: &dyn Channel, text: &str) -> Vec<String> {
    split_message(&channel.neutralise(text), channel.text_limit())
}

/// `CLAWLESS_<CHANNEL>_API`, else the channel's default.
pub fn api_base(channel: &dyn Channel) -> String {
    let var = format!("CLAWLESS_{}_API", channel.kind().as_str().to_ascii_uppercase());
    std::env::var(&var).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| channel.default_api_base().to_owned())
}

#[cfg(test)]
mod liveness_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match(b"abc", b"abc"));
        assert!(!secrets_match(b"abc", b"abd"));
        assert!(!secrets_match(b"abc", b"abcd"));
        assert!(!secrets_match(b"", b"abc"));
    }

    #[test]
    fn hmac_hex_compares_case_insensitively_and_rejects_junk() {
        // RFC 4231 test case 2.
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(hmac_sha256_hex_matches(b"Jefe", &[b"what do ya want ", b"for nothing?"], expected));
        assert!(hmac_sha256_hex_matches(b"Jefe", &[b"what do ya want for nothing?"], &expected.to_uppercase()));
        assert!(!hmac_sha256_hex_matches(b"Jefe", &[b"what do ya want for nothing!"], expected));
        assert!(!hmac_sha256_hex_matches(b"Jefe", &[b"x"], "not hex"));
    }

    #[test]
    fn freshness_is_five_minutes_either_way_and_never_overflows() {
        let now = 1_763_740_800;
        for (ts, fresh) in [(now, true), (now - 300, true), (now + 300, true), (now - 301, false), (now + 301, false)] {
            assert_eq!(is_fresh(ts, now), fresh, "{ts}");
        }
        assert!(!is_fresh(i64::MIN, now));
        assert!(!is_fresh(i64::MAX, now));
        assert!(!is_fresh(i64::MAX, i64::MIN));
    }

    /// The reply flow's pieces: each channel's step, then its limit, for every channel.
    #[test]
    fn outbound_pieces_are_neutralised_then_split() {
        for kind in ChannelKind::ALL {
            let Some(channel) = channel(kind) else { continue };
            let text =
                "<at user_id=\"all\">x</at> <!here> [https://g.example](https://e.example) @everyone ".repeat(400);
            let pieces = outbound_pieces(channel, &text);
            assert_eq!(pieces, split_message(&channel.neutralise(&text), channel.text_limit()), "{kind}");
            let limit = channel.text_limit();
            for piece in &pieces {
                let size = match limit {
                    TextLimit::Chars(n) => (piece.chars().count(), n),
                    TextLimit::Bytes(n) => (piece.len(), n),
                };
                assert!(size.0 <= size.1, "{kind}: {} over {}", size.0, size.1);
            }
        }
        let slack = outbound_pieces(&slack::Slack, "a < b").concat();
        assert_eq!(slack, "a &lt; b");
        let telegram = outbound_pieces(&telegram::Telegram, "<b>[x](https://e.example)</b> @everyone").concat();
        assert_eq!(telegram, "<b>[x](https://e.example)</b> @everyone", "Telegram and WhatsApp send plain text");
    }

    /// Where each channel's standing and direct routes lead, and which chats it counts as direct.
    #[test]
    fn routes_and_directness_per_channel() {
        let id = |s: &str| ConversationId::parse(s).unwrap();
        let built = |kind| channel(kind).unwrap();

        let telegram = built(ChannelKind::Telegram);
        let chat = |chat_id| ReplyRoute::Telegram { chat_id, message_thread_id: None, reply_to_message_id: None };
        assert_eq!(telegram.standing_route(&id("-1001234567890")), Ok(chat(-1_001_234_567_890)));
        assert!(telegram.standing_route(&id("general")).is_err());
        assert_eq!(telegram.direct_route("4242"), Some(chat(4242)));
        assert_eq!(telegram.direct_route("ada"), None);
        assert!(telegram.is_direct(&id("4242")));
        assert!(!telegram.is_direct(&id("-100123")) && !telegram.is_direct(&id("ada")));

        let slack = built(ChannelKind::Slack);
        let to = |channel_id: &str| ReplyRoute::Slack { channel_id: channel_id.into(), thread_ts: None };
        assert_eq!(slack.standing_route(&id("C0123")), Ok(to("C0123")));
        assert_eq!(slack.direct_route("U0123"), Some(to("U0123")));
        assert!(slack.is_direct(&id("D0123")) && !slack.is_direct(&id("C0123")));

        let discord = built(ChannelKind::Discord);
        let in_channel = ReplyRoute::Discord { channel_id: "1100".into(), interaction: None, thread_id: None };
        assert_eq!(discord.standing_route(&id("1100")), Ok(in_channel));
        assert_eq!(discord.direct_route("80351110224678912"), None);
        assert!(!discord.is_direct(&id("1100")));

        let feishu = built(ChannelKind::Feishu);
        let in_chat = ReplyRoute::Feishu { chat_id: "oc_1".into(), reply_to_message_id: None, thread_root_id: None };
        assert_eq!(feishu.standing_route(&id("oc_1")), Ok(in_chat));
        assert_eq!(feishu.direct_route("ou_1"), None);
        assert!(!feishu.is_direct(&id("oc_1")));

        let whatsapp = built(ChannelKind::Whatsapp);
        let person = ReplyRoute::Whatsapp { to: "16505551234".into(), reply_to_message_id: None };
        assert_eq!(whatsapp.standing_route(&id("16505551234")), Ok(person.clone()));
        assert_eq!(whatsapp.direct_route("16505551234"), Some(person));
        assert!(whatsapp.is_direct(&id("16505551234")));

        for kind in ChannelKind::ALL {
            let channel = built(kind);
            assert_eq!(channel.kind(), kind);
            assert!(channel.formatting_hint().starts_with("Format"), "{kind}");
            // Telegram registers its webhook URL and command menu, Discord its application commands.
            let registers = matches!(kind, ChannelKind::Telegram | ChannelKind::Discord);
            assert_eq!(channel.webhook_registration().is_some(), registers, "{kind}");
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let headers = http::HeaderMap::new();
        let input = WebhookInput {
            method: "GET",
            headers: &headers,
            query: "hub.mode=subscribe&hub.challenge=a%2Bb+c&x",
            body: b"",
            now_secs: 0,
        };
        assert_eq!(input.query_param("hub.mode").as_deref(), Some("subscribe"));
        assert_eq!(input.query_param("hub.challenge").as_deref(), Some("a+b c"));
        assert_eq!(input.query_param("missing"), None);
    }
}
