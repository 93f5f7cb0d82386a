//! Files: `getFile` then the file URL (`{api}/file/bot{token}/{file_path}`) to take one in;
//! `sendPhoto` or `sendDocument` (multipart) to send one.

use serde_json::json;

use super::send::{call, call_request};
use crate::channels::media::{DownloadError, download_capped};
use crate::channels::{SendContext, SendError};
use crate::domain::media::{FileUpload, MediaClass, MediaSource};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// The largest file a bot may download through the Bot API (Telegram's own limit).
pub const MAX_BOT_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;
/// The largest photo `sendPhoto` takes; larger images go as documents.
const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// The longest caption Telegram shows.
const MAX_CAPTION_CHARS: usize = 1024;

pub(super) async fn download(
    ctx: &SendContext<'_>,
    source: &MediaSource,
    max_bytes: u64,
) -> Result<Vec<u8>, DownloadError> {
    let MediaSource::TelegramFile { file_id } = source else {
        return Err(DownloadError::Permanent("not a Telegram file".into()));
    };
    let file = call(ctx, "getFile", &json!({ "file_id": file_id })).await?.unwrap_or_default();
    if let Some(size) = file.get("file_size").and_then(serde_json::Value::as_u64)
        && size > max_bytes
    {
        return Err(DownloadError::TooLarge { size: Some(size), limit: max_bytes });
    }
    let Some(path) = file.get("file_path").and_then(serde_json::Value::as_str) else {
        // Telegram gives no path for files over its bot download limit.
        return Err(DownloadError::TooLarge { size: None, limit: max_bytes.min(MAX_BOT_DOWNLOAD_BYTES) });
    };
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(DownloadError::Permanent("Telegram gave a malformed file path".into()));
    }
    let token =
        ctx.secrets.get("bot_token").ok_or_else(|| DownloadError::Permanent("bot_token is not configured".into()))?;
    let url = format!("{}/file/bot{}/{path}", ctx.api_base.trim_end_matches('/'), token.expose());
    download_capped(ChannelKind::Telegram, ctx.http.get(&url), max_bytes).await
}

/// `sendPhoto` for an image Telegram shows as a photo (JPEG, PNG, WebP up to 10 MB), else
/// `sendDocument`, so the person gets the exact bytes; in the route's topic and as a reply.
pub(super) async fn send_file(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    file: &FileUpload<'_>,
) -> Result<String, SendError> {
    let ReplyRoute::Telegram { chat_id, message_thread_id, reply_to_message_id } = route else {
        return Err(SendError::Permanent("not a Telegram route".into()));
    };
    let as_photo = file.sniffed.class == MediaClass::Image
        && matches!(file.sniffed.media_type.as_str(), "image/jpeg" | "image/png" | "image/webp")
        && file.bytes.len() <= MAX_PHOTO_BYTES;
    let (method, field) = if as_photo { ("sendPhoto", "photo") } else { ("sendDocument", "document") };
    let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
        .file_name(file.name.to_owned())
        .mime_str(&file.sniffed.media_type)
        .map_err(|_| SendError::Permanent("the file's type cannot be sent".into()))?;
    let mut form = reqwest::multipart::Form::new().text("chat_id", chat_id.to_string()).part(field, part);
    if let Some(thread) = message_thread_id {
        form = form.text("message_thread_id", thread.to_string());
    }
    if let Some(reply_to) = reply_to_message_id {
        form = form
            .text("reply_parameters", json!({"message_id": reply_to, "allow_sending_without_reply": true}).to_string());
    }
    if let Some(caption) = file.caption.filter(|c| !c.trim().is_empty()) {
        form = form.text("caption", caption.chars().take(MAX_CAPTION_CHARS).collect::<String>());
    }
    let token =
        ctx.secrets.get("bot_token").ok_or_else(|| SendError::Permanent("bot_token is not configured".into()))?;
    let url = format!("{}/bot{}/{method}", ctx.api_base.trim_end_matches('/'), token.expose());
    let result =
        call_request(ctx.http.post(&url).timeout(crate::channels::media::UPLOAD_TIMEOUT).multipart(form)).await?;
    Ok(result.and_then(|r| r.get("message_id").and_then(|id| id.as_i64())).map(|id| id.to_string()).unwrap_or_default())
}
