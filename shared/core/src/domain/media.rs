//! Files in and out of a conversation: what a channel message carries (a reference the channel's
//! API resolves, never the bytes: the webhook stays fast and stores nothing it has not checked),
//! what the dispatcher stored after downloading it (the key in the memory bucket and the type the
//! bytes themselves show), and what an agent hands back for the reply function to upload.
//!
//! Keys live under the conversation's own prefix in the memory bucket
//! (`tenants/{t}/bots/{b}/conversations/{channel}/{conversation}/`), the one prefix the
//! conversation's handed credentials reach: an agent reads its own conversation's attachments and
//! writes its own outbox, and IAM refuses it every other.

use serde::{Deserialize, Serialize};

use crate::domain::ids::{ConversationRef, MessageId};

/// The largest file taken in from a chat.
pub const MAX_INBOUND_BYTES: u64 = 20 * 1024 * 1024;
/// The largest file sent back to a chat (channels' own bot limits can be lower).
pub const MAX_OUTBOUND_BYTES: u64 = 25 * 1024 * 1024;
/// At most this many files per message are taken in (a Slack message can carry many).
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;
/// At most this many files one answer sends.
pub const MAX_FILES_PER_REPLY: usize = 10;

/// What kind of file the channel says it is (its own word for it; the bytes decide the type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Document,
    Voice,
    Audio,
    Video,
}

impl MediaKind {
    /// How people speak of it: "photo", "voice note", …
    pub fn word(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
            MediaKind::Voice => "voice note",
            MediaKind::Audio => "audio file",
            MediaKind::Video => "video",
        }
    }

    /// The kind a declared MIME type suggests (a hint for how to speak of the file; its bytes
    /// still decide what it is): images are photos, audio and video what they say, the rest
    /// documents.
    pub fn from_mime_hint(mime: &str) -> Self {
        if mime.starts_with("image/") {
            MediaKind::Photo
        } else if mime.starts_with("audio/") {
            MediaKind::Audio
        } else if mime.starts_with("video/") {
            MediaKind::Video
        } else {
            MediaKind::Document
        }
    }
}

/// Where a channel keeps a file, as its webhook named it. Resolved only by trusted code, with
/// the bot's own token for that channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum MediaSource {
    /// Telegram: `getFile` then `{api}/file/bot{token}/{file_path}`.
    TelegramFile { file_id: String },
    /// Slack: `url_private_download`, fetched with the bot token.
    SlackFile { url: String },
    /// Discord: an attachment's CDN URL (no token needed, but only Discord's own hosts are
    /// fetched).
    DiscordAttachment { url: String },
    /// WhatsApp Cloud API: the media id, resolved to a short-lived URL, fetched with the token.
    WhatsappMedia { media_id: String },
    /// Feishu: the message resources API, `type` `image` or `file`.
    FeishuResource { message_id: String, file_key: String, resource_type: String },
}

/// A file a channel message carries, before anything was downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: MediaKind,
    pub source: MediaSource,
    /// The name the sender gave it, if any (shown to the model, never trusted for the type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The size the channel declared, if it did: a file declared over the limit is refused
    /// without a download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_size: Option<u64>,
}

/// What the bytes of a file are, judged from their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaClass {
    Image,
    Document,
    Audio,
    Video,
    /// Nothing the platform recognises: kept as a file in the workspace only.
    Other,
}

/// A file's type as its bytes show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sniffed {
    /// A MIME type (`image/png`), `application/octet-stream` when nothing matched, or
    /// `text/plain` for valid UTF-8 text.
    pub media_type: String,
    /// The usual extension for it (`png`), `bin` for unknown bytes.
    pub extension: String,
    pub class: MediaClass,
}

/// Judges `bytes` by their magic numbers, never by a name or a declared type.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if let Some(t) = infer::get(bytes) {
        let class = match t.matcher_type() {
            infer::MatcherType::Image => MediaClass::Image,
            infer::MatcherType::Audio => MediaClass::Audio,
            infer::MatcherType::Video => MediaClass::Video,
            infer::MatcherType::Doc | infer::MatcherType::Text => MediaClass::Document,
            infer::MatcherType::Archive if t.mime_type() == "application/pdf" => MediaClass::Document,
            _ => MediaClass::Other,
        };
        return Sniffed { media_type: t.mime_type().to_string(), extension: t.extension().to_string(), class };
    }
    if !bytes.is_empty() && std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0) {
        return Sniffed { media_type: "text/plain".into(), extension: "txt".into(), class: MediaClass::Document };
    }
    Sniffed { media_type: "application/octet-stream".into(), extension: "bin".into(), class: MediaClass::Other }
}

/// A file the dispatcher downloaded and stored for one message, as the invocation hands it to
/// the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    /// The object key in the memory bucket, under the conversation's prefix.
    pub key: String,
    pub kind: MediaKind,
    #[serde(flatten)]
    pub sniffed: Sniffed,
    pub size: u64,
    /// The sender's name for it, if any (untrusted text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The prefix every file of `c` lives under.
pub fn conversation_files_prefix(c: &ConversationRef) -> String {
    format!("tenants/{}/bots/{}/conversations/{}/{}", c.tenant_id, c.bot_id, c.channel, c.conversation_id)
}

/// Where the `index`-th file of message `message_id` is stored: the same key for every attempt,
/// so a retried download overwrites, never adds.
pub fn attachment_key(c: &ConversationRef, message_id: &MessageId, index: usize, extension: &str) -> String {
    let digest = crate::domain::ids::short_digest(&[message_id.as_str()]);
    format!("{}/attachments/{digest}/{index}.{extension}", conversation_files_prefix(c))
}

/// The prefix an agent's outgoing files for `c` go under.
pub fn outbox_prefix(c: &ConversationRef) -> String {
    format!("{}/outbox/", conversation_files_prefix(c))
}

/// A file an answer sends: the agent put it in the conversation's outbox; the reply function
/// reads it there (only under the conversation the reply's scope token names) and uploads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingFile {
    /// The outbox object's key.
    pub key: String,
    /// The file name the chat shows.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// A file ready to upload to a channel: its bytes and what they are.
pub struct FileUpload<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    pub sniffed: &'a Sniffed,
    pub caption: Option<&'a str>,
}

/// A file name made safe to show and to send in a multipart header: the last path component,
/// printable characters only, at most 100 bytes; `file.{ext}` when nothing is left.
pub fn safe_file_name(name: &str, extension: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out = String::new();
    for ch in base.chars() {
        if ch.is_control() || matches!(ch, '"' | '\\' | '/' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            continue;
        }
        if out.len() + ch.len_utf8() > 100 {
            break;
        }
        out.push(ch);
    }
    let trimmed = out.trim().trim_start_matches('.').to_string();
    if trimmed.is_empty() { format!("file.{extension}") } else { trimmed }
}

/// Bytes as megabytes with one decimal, for messages to people.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    const OGG: &[u8] = b"OggS\0\x02\0\0\0\0\0\0\0\0";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";

    #[test]
    fn the_bytes_decide_the_type() {
        assert_eq!(sniff(PNG).media_type, "image/png");
        assert_eq!(sniff(PNG).class, MediaClass::Image);
        assert_eq!(sniff(JPEG).media_type, "image/jpeg");
        assert_eq!(sniff(PDF).media_type, "application/pdf");
        assert_eq!(sniff(PDF).class, MediaClass::Document);
        assert_eq!(sniff(OGG).class, MediaClass::Audio);
        assert_eq!(sniff(b"just some notes\n").class, MediaClass::Document);
        assert_eq!(sniff(b"just some notes\n").media_type, "text/plain");
        assert_eq!(sniff(b"\0\x01\x02garbage").class, MediaClass::Other);
        assert_eq!(sniff(b"").class, MediaClass::Other);
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(safe_file_name("../../etc/passwd", "bin"), "passwd");
        assert_eq!(safe_file_name("a\"b\r\nc.pdf", "pdf"), "abc.pdf");
        assert_eq!(safe_file_name("", "png"), "file.png");
        assert_eq!(safe_file_name(".hidden", "txt"), "hidden");
        assert_eq!(safe_file_name("evil\u{202e}fdp.exe", "bin"), "evilfdp.exe");
        assert!(safe_file_name(&"x".repeat(500), "bin").len() <= 100);
    }

    #[test]
    fn keys_stay_under_the_conversation() {
        let c = crate::testing::conversation("4242");
        let key = attachment_key(&c, &MessageId::parse("42").unwrap(), 0, "png");
        assert!(key.starts_with(&conversation_files_prefix(&c)), "{key}");
        assert!(key.ends_with("/0.png"));
        assert!(outbox_prefix(&c).starts_with(&conversation_files_prefix(&c)));
    }
}
