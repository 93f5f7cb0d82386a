//! Chat channels behind one trait: verify an incoming webhook on its raw bytes, parse it into
//! domain messages, send an answer. One module per channel; what they share (constant-time
//! comparison, HMAC, errors, the request and answer shapes) lives here, so no verification or
//! chunking logic is written twice.

pub mod api;
pub mod discord;
pub mod feishu;
pub mod slack;
pub mod telegram;
pub mod whatsapp;

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cache::TtlCache;
use crate::domain::envelope::Button;
use crate::domain::ids::ConversationId;
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
    /// Messages for the bot (possibly none), and what to answer once they are stored and queued.
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
pub struct SendContext<'a> {
    pub http: &'a reqwest::Client,
    /// The channel's API base URL (`CLAWLESS_<CHANNEL>_API` or the channel's default).
    pub api_base: &'a str,
    pub secrets: &'a ChannelSecrets,
    /// Short-lived access tokens a channel obtains before it can send (Feishu), per container.
    pub tokens: &'a TtlCache<String, String>,
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
}

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

/// Unmasks Markdown masked links: `[text](https://…)` reads `text (https://…)`, so the target
/// is in sight and `[https://good.example](https://evil.example)` or `[Sign in to
/// Slack](https://evil.example)` cannot pass for what they are not. Only a link whose text is its
/// own target is kept. Every masked link rather than those whose text "looks like" an address:
/// lookalike dots, invisible characters and plain words defeat any such test.
///
/// Each `](` followed by an address is looked at, and a link is kept only when the text between
/// it and the nearest `[` before it has no bracket: then that `[` is where a Markdown parser
/// starts the link too, so the text judged is the text shown. Anything less plain is broken by a
/// space between `]` and `(`, which no parser reads as a link. Nothing here creates a new `](`,
/// and the work is linear in the text's length, whatever it holds.
pub fn unmask_links(text: &str) -> String {
    let bytes = text.as_bytes();
    // Found on the original text: each `](` to break, and whether its `[` is dropped too.
    let mut breaks: Vec<(usize, Option<usize>)> = Vec::new();
    let mut last_open: Option<usize> = None;
    // Whether a `]` came after `last_open` (kept rather than searched for: linear time).
    let mut closed_since_open = false;
    // The bytes read to judge what follows the latest `](` that is no link: a `[` dropped in
    // there could make it one (`](x[https://…` is no link, `](xhttps://…` would be).
    let mut inert_head = 0..0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'[' => (last_open, closed_since_open) = (Some(i), false),
            b']' => {
                let plain = !closed_since_open;
                closed_since_open = true;
                if bytes.get(i + 1) != Some(&b'(') {
                    continue;
                }
                let target = text[i + 2..].trim_start_matches(|c: char| c.is_whitespace() || c == '<');
                if !is_address(target) {
                    let start = text.len() - target.len();
                    let head = target.char_indices().nth(ADDRESS_HEAD).map_or(target.len(), |(at, _)| at);
                    inert_head = i + 2..start + head;
                    continue;
                }
                let Some(open) = last_open else { continue };
                if plain && is_own_target(&text[open + 1..i], target) {
                    continue;
                }
                // Dropping the `[` must change no other `](`: not join a `]` before it with a `(`
                // after it into a new one, nor alter what follows one that is no link. (A kept
                // link's own address holds no `[`, so no drop alters it.)
                let joins = open > 0 && bytes[open - 1] == b']' && bytes.get(open + 1) == Some(&b'(');
                let drop = plain && !joins && !inert_head.contains(&open);
                breaks.push((i, drop.then_some(open)));
            }
            _ => {}
        }
    }
    if breaks.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + breaks.len());
    let mut copied = 0;
    for (close, open) in breaks {
        if let Some(open) = open {
            out.push_str(&text[copied..open]);
            copied = open + 1;
        }
        out.push_str(&text[copied..close]);
        out.push_str(if open.is_some() { " " } else { "] " });
        copied = close + 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// How much of what follows `](` is read to tell an address from anything else.
const ADDRESS_HEAD: usize = 40;

/// Does `target` start with an address a link can lead to (`scheme:…`, `//…`, `www.…`)? Code
/// such as `handlers[0](event)` or `f[0](x: 1)` has brackets and parentheses too, and is left
/// alone.
fn is_address(target: &str) -> bool {
    let head: String = target.chars().take(ADDRESS_HEAD).collect::<String>().to_ascii_lowercase();
    let (scheme, after) = head.split_once(':').unwrap_or_default();
    head.starts_with("//")
        || head.starts_with("www.")
        || (scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && after.starts_with(|c: char| c != ':' && !c.is_whitespace()))
}

/// Is `shown` the address that `target` (what follows `](`) starts with, ignoring the scheme,
/// a trailing `/`, `<…>` and case? The address ends at whitespace, `>` or the `)` closing the
/// parenthesis. Only as much of `target` is read as could match `shown`.
fn is_own_target(shown: &str, target: &str) -> bool {
    fn plain(s: &str) -> String {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>').to_lowercase();
        let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(&s);
        s.trim_end_matches('/').to_owned()
    }
    let budget = shown.len() + "https://".len() + "/".len();
    let mut depth = 0usize;
    let mut end = None;
    for (i, c) in target.char_indices() {
        if i > budget {
            return false;
        }
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                end = Some(i);
                break;
            }
            ')' => depth -= 1,
            '>' => {
                end = Some(i);
                break;
            }
            c if c.is_whitespace() => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let address = &target[..end.unwrap_or(target.len())];
    !address.is_empty() && plain(shown) == plain(address)
}

/// Puts a zero-width space after the `@` of each `@word` (any case, as a whole word: not
/// `@heresy`), so it shows as typed but no longer reads as that mention.
pub fn break_mentions(text: &str, words: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let mention = words.iter().any(|word| {
            rest.get(..word.len()).is_some_and(|head| head.eq_ignore_ascii_case(word))
                && !rest[word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
        });
        if mention {
            out.push('\u{200B}');
        }
    }
    out.push_str(rest);
    out
}

/// `CLAWLESS_<CHANNEL>_API`, else the channel's default.
pub fn api_base(channel: &dyn Channel) -> String {
    let var = format!("CLAWLESS_{}_API", channel.kind().as_str().to_ascii_uppercase());
    std::env::var(&var).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| channel.default_api_base().to_owned())
}

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

    #[test]
    fn masked_links_are_unmasked_unless_they_show_their_target() {
        let cases = [
            ("[https://good.example](https://evil.example)", "https://good.example (https://evil.example)"),
            ("see [the docs](https://docs.rs/x).", "see the docs (https://docs.rs/x)."),
            ("[https://a.example](https://a.example/)", "[https://a.example](https://a.example/)"),
            ("[a.example](<HTTPS://A.example>)", "[a.example](<HTTPS://A.example>)"),
            // Not a link (no address after `](`), or no brackets at all: unchanged.
            ("arr[i](x) f[0](x: 1) v[0](xs::y)", "arr[i](x) f[0](x: 1) v[0](xs::y)"),
            ("a] (https://x.example) and ](https://x.example)", "a] (https://x.example) and ](https://x.example)"),
            // A `]` inside the text is as a parser may read it (`[a] b](…)` is one link): broken.
            ("[a] b](https://x.example)", "[a] b] (https://x.example)"),
            // Without any `)`, a parser that needs one shows no link; breaking it anyway is harmless.
            ("[https://good.example](https://evil.example", "https://good.example (https://evil.example"),
            // A `[` right after a `]` stays, or dropping it would make a new `](`.
            ("x][(https://a.example](https://b.example)", "x][(https://a.example] (https://b.example)"),
            // A second link after the first one's `]` shares its `[`: broken, not trusted.
            ("[a](https://b.example) c](https://d.example)", "a (https://b.example) c] (https://d.example)"),
        ];
        for (input, expected) in cases {
            assert_eq!(unmask_links(input), expected, "{input}");
        }
    }

    /// Every `](` left after unmasking belongs to a link whose text is its own target.
    #[test]
    fn no_disguised_link_survives_unmasking() {
        let pieces = [
            "[",
            "]",
            "(",
            ")",
            "](",
            "https://e.example",
            "https://g.example",
            "https:",
            "//g",
            "www.e",
            ":",
            " ",
            "<",
            ">",
            "x",
            "\\",
            "\n",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..50_000 {
            let mut text = String::new();
            for _ in 0..14 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let out = unmask_links(&text);
            for (i, _) in out.match_indices("](") {
                let target = out[i + 2..].trim_start_matches(|c: char| c.is_whitespace() || c == '<');
                if !is_address(target) {
                    continue;
                }
                // With no `[` before it, no link.
                let Some(open) = out[..i].rfind('[') else { continue };
                let shown = &out[open + 1..i];
                assert!(!shown.contains(']') && is_own_target(shown, target), "{text:?} → {out:?}");
            }
        }
    }

    #[test]
    fn unmasking_is_linear_in_the_text() {
        let hostile = format!("[{}", "](https://e.example ".repeat(50_000));
        let started = std::time::Instant::now();
        let out = unmask_links(&hostile);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(!out.contains("]("));
        let one_open = format!("[{}](https://e.example)", "x".repeat(200_000));
        assert_eq!(unmask_links(&one_open), format!("{} (https://e.example)", "x".repeat(200_000)));
    }

    #[test]
    fn mention_words_are_broken_only_as_whole_words() {
        let out = break_mentions("@everyone @Here! @heresy a@here.example @here_x @", &["everyone", "here"]);
        assert_eq!(out, "@\u{200B}everyone @\u{200B}Here! @heresy a@\u{200B}here.example @here_x @");
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
