//! Media: the image, document, audio, video and sticker messages of a notification (a media id,
//! resolved later with `GET /{media_id}` to a short-lived URL, fetched with the access token),
//! and files sent by uploading them (`POST /{phone_number_id}/media`) and sending a message that
//! names the uploaded media's id.

use serde::Deserialize;
use serde_json::{Value, json};

use super::send::{credentials, post_message, refusal};
use crate::channels::api::exchange;
use crate::channels::media::{file_part, file_url_allowed, foreign_source};
use crate::channels::{DownloadError, SendContext, SendError, download_capped};
use crate::domain::media::{Attachment, FileUpload, MediaClass, MediaKind, MediaSource, safe_file_name};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Where Meta serves media: the only host a media URL is fetched from with the token (besides
/// the configured API base's, where a stand-in serves it).
pub(super) const MEDIA_HOSTS: &[&str] = &["lookaside.fbsbx.com"];
/// The Cloud API's limit for images, audio and video (documents may be up to 100 MB, but one
/// limit for every file keeps an answer's files from failing by type).
pub(super) const MAX_UPLOAD_BYTES: u64 = 16 * 1024 * 1024;
/// The audio types a WhatsApp `audio` message plays; other audio goes as a document.
const AUDIO_TYPES: [&str; 5] = ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"];
/// The video types a `video` message plays.
const VIDEO_TYPES: [&str; 2] = ["video/mp4", "video/3gpp"];

/// A media object of a message (`image`, `document`, `audio`, `video`, `sticker`).
#[derive(Debug, Deserialize)]
pub(super) struct WaMedia {
    #[serde(default)]
    id: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    /// A voice note recorded in WhatsApp (on `audio`).
    #[serde(default)]
    voice: bool,
}

impl WaMedia {
    pub(super) fn caption(&self) -> Option<&str> {
        self.caption.as_deref().filter(|c| !c.trim().is_empty())
    }
}

/// The attachment a media message carries, by its `type`; `None` for other types or a media
/// object without an id. WhatsApp declares no size in the notification.
pub(super) fn attachment(kind: &str, media: &WaMedia) -> Option<Attachment> {
    let kind = match kind {
        "image" | "sticker" => MediaKind::Photo,
        "document" => MediaKind::Document,
        "audio" if media.voice => MediaKind::Voice,
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        _ => return None,
    };
    (!media.id.is_empty()).then(|| Attachment {
        kind,
        source: MediaSource::WhatsappMedia { media_id: media.id.clone() },
        name: media.filename.clone().filter(|n| !n.is_empty()),
        declared_size: None,
    })
}

/// Media ids go into a URL path: only the characters Meta's ids use.
fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Resolves the media id to its URL (`GET /{media_id}`, which also declares the size: a file
/// over the limit is refused there) and fetches it with the token, only from [`MEDIA_HOSTS`] or
/// the API base's host.
pub(super) async fn download(
    ctx: &SendContext<'_>,
    source: &MediaSource,
    max_bytes: u64,
) -> Result<Vec<u8>, DownloadError> {
    let MediaSource::WhatsappMedia { media_id } = source else { return Err(foreign_source(ChannelKind::Whatsapp)) };
    if !is_plain_id(media_id) {
        return Err(DownloadError::Permanent("malformed WhatsApp media id".into()));
    }
    let (token, _) = credentials(ctx)?;
    let url = format!("{}/{media_id}", ctx.api_base.trim_end_matches('/'));
    let answer = exchange(ChannelKind::Whatsapp, ctx.http.get(&url).bearer_auth(token.expose())).await?;
    if !answer.status.is_success() {
        return Err(refusal(&answer, "media lookup").into());
    }
    let body = answer.body.unwrap_or_default();
    if let Some(size) = body.get("file_size").and_then(Value::as_u64)
        && size > max_bytes
    {
        return Err(DownloadError::TooLarge { size: Some(size), limit: max_bytes });
    }
    let Some(media_url) = body.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
        return Err(DownloadError::Temporary("WhatsApp gave no media URL".into()));
    };
    if !file_url_allowed(media_url, MEDIA_HOSTS, ctx.api_base) {
        return Err(DownloadError::Permanent("the WhatsApp media URL is not on Meta's media host".into()));
    }
    download_capped(ChannelKind::Whatsapp, ctx.http.get(media_url).bearer_auth(token.expose()), max_bytes).await
}

/// How a file goes out: the message type that shows it best, given what its bytes are.
fn message_type(file: &FileUpload<'_>) -> &'static str {
    let media_type = file.sniffed.media_type.as_str();
    match file.sniffed.class {
        MediaClass::Image if matches!(media_type, "image/jpeg" | "image/png") => "image",
        MediaClass::Audio if AUDIO_TYPES.contains(&media_type) => "audio",
        MediaClass::Video if VIDEO_TYPES.contains(&media_type) => "video",
        _ => "document",
    }
}

/// Uploads `file` and sends it to the route's person (as a reply where the route names a
/// message): an image (JPEG or PNG), a playable audio or video, else a document with its file
/// name. The caption goes with images, videos and documents; WhatsApp's audio messages have
/// none, so an audio file's caption is not sent.
pub(super) async fn send_file(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    file: &FileUpload<'_>,
) -> Result<String, SendError> {
    let ReplyRoute::Whatsapp { to, reply_to_message_id } = route else {
        return Err(SendError::Permanent("not a WhatsApp route".into()));
    };
    let (token, phone_number_id) = credentials(ctx)?;
    let kind = message_type(file);
    // A document is sent as what it is; a type WhatsApp would refuse as media goes as bytes.
    let declared = if kind == "document" && file.sniffed.class == MediaClass::Other {
        "application/octet-stream".to_owned()
    } else {
        file.sniffed.media_type.clone()
    };
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", declared)
        .part("file", file_part(file));
    let url = format!("{}/{phone_number_id}/media", ctx.api_base.trim_end_matches('/'));
    let answer = exchange(
        ChannelKind::Whatsapp,
        ctx.http.post(&url).timeout(crate::channels::media::UPLOAD_TIMEOUT).bearer_auth(token.expose()).multipart(form),
    )
    .await?;
    let media_id = answer.body.as_ref().and_then(|b| b.get("id")).and_then(Value::as_str).map(str::to_owned);
    let media_id = match media_id {
        Some(id) if answer.status.is_success() && !id.is_empty() => id,
        _ if answer.status.is_success() => return Err(SendError::Temporary("WhatsApp gave no media id".into())),
        _ => return Err(refusal(&answer, "media upload")),
    };
    let mut media = json!({ "id": media_id });
    if kind != "audio"
        && let Some(caption) = file.caption.filter(|c| !c.trim().is_empty())
    {
        media["caption"] = json!(caption);
    }
    if kind == "document" {
        media["filename"] = json!(safe_file_name(file.name, &file.sniffed.extension));
    }
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: media,
    });
    if let Some(id) = reply_to_message_id {
        body["context"] = json!({ "message_id": id });
    }
    post_message(ctx, &body).await
}
