//! Files: `image`, `file`, `audio` and `media` (video) messages (a key, fetched later through
//! the message resources API with the tenant access token), and files sent by uploading them
//! (`im/v1/images` for images, `im/v1/files` for everything else) and sending a message that
//! names the uploaded key.

use serde_json::{Value, json};

use super::send::{app_credentials, authorized, is_plain_id, send_message, send_uuid, tenant_token, token_cache_key};
use crate::channels::media::{file_part, foreign_source};
use crate::channels::{DownloadError, SendContext, SendError, download_capped};
use crate::domain::media::{Attachment, FileUpload, MediaClass, MediaKind, MediaSource, megabytes, safe_file_name};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Feishu's limit for an image upload.
pub(super) const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;
/// Feishu takes files up to 30 MB; the platform's own limit is the lower one.
pub(super) const MAX_UPLOAD_BYTES: u64 = crate::domain::media::MAX_OUTBOUND_BYTES;

/// The attachment a message of `message_type` carries (its `content` JSON as given), with the
/// message's own id, which the resources API needs; `None` for a message that carries none.
/// Images are fetched as `type=image`, everything else as `type=file`. The names are the
/// sender's; Feishu declares no size.
pub(super) fn attachment(message_type: &str, content: &str, message_id: &str) -> Option<Attachment> {
    let content: Value = serde_json::from_str(content).ok()?;
    let text = |key: &str| content.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
    let (kind, file_key, resource_type) = match message_type {
        "image" => (MediaKind::Photo, text("image_key")?, "image"),
        "file" => (MediaKind::Document, text("file_key")?, "file"),
        "audio" => (MediaKind::Voice, text("file_key")?, "file"),
        "media" => (MediaKind::Video, text("file_key")?, "file"),
        _ => return None,
    };
    Some(Attachment {
        kind,
        source: MediaSource::FeishuResource {
            message_id: message_id.to_owned(),
            file_key,
            resource_type: resource_type.to_owned(),
        },
        name: text("file_name"),
        declared_size: None,
    })
}

/// Fetches a message's resource (`GET /open-apis/im/v1/messages/{id}/resources/{key}?type=…`)
/// with the tenant access token. A refusal that is not worth a retry may be a token Feishu no
/// longer takes (its binary download answers carry no code to tell): it is tried once more with
/// a new token.
pub(super) async fn download(
    ctx: &SendContext<'_>,
    source: &MediaSource,
    max_bytes: u64,
) -> Result<Vec<u8>, DownloadError> {
    let MediaSource::FeishuResource { message_id, file_key, resource_type } = source else {
        return Err(foreign_source(ChannelKind::Feishu));
    };
    if !is_plain_id(message_id) || !is_plain_id(file_key) || !matches!(resource_type.as_str(), "image" | "file") {
        return Err(DownloadError::Permanent("malformed Feishu resource".into()));
    }
    let url = format!(
        "{}/open-apis/im/v1/messages/{message_id}/resources/{file_key}?type={resource_type}",
        ctx.api_base.trim_end_matches('/')
    );
    let (app_id, app_secret) = app_credentials(ctx)?;
    let mut refreshed = false;
    loop {
        let token = tenant_token(ctx, app_id, app_secret).await?;
        match download_capped(ChannelKind::Feishu, ctx.http.get(&url).bearer_auth(&token), max_bytes).await {
            Err(DownloadError::Permanent(_)) if !refreshed => {
                ctx.tokens.invalidate(&token_cache_key(app_id, app_secret));
                refreshed = true;
            }
            other => return other,
        }
    }
}

/// The `file_type` of an upload to `im/v1/files`, from the type the bytes show.
fn file_type(file: &FileUpload<'_>) -> &'static str {
    match file.sniffed.media_type.as_str() {
        "application/pdf" => "pdf",
        "application/msword" | "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "doc",
        "application/vnd.ms-excel" | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xls",
        "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "ppt",
        "video/mp4" => "mp4",
        "audio/ogg" | "audio/opus" => "opus",
        _ => "stream",
    }
}

/// Uploads `file` and sends it where an answer goes (in the route's thread, else as a reply to
/// its message, else in its chat): an image (by what its bytes are) as an `image` message, every
/// other file as a `file` message. Feishu's image and file messages carry no text, so a
/// non-empty caption follows as a text message of its own. Each message carries a `uuid` derived
/// from the send key, so a retry after a partial success posts neither twice.
pub(super) async fn send_file(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    file: &FileUpload<'_>,
) -> Result<String, SendError> {
    if !matches!(route, ReplyRoute::Feishu { .. }) {
        return Err(SendError::Permanent("not a Feishu route".into()));
    }
    let base = ctx.api_base.trim_end_matches('/');
    let (msg_type, content) = if file.sniffed.class == MediaClass::Image {
        if file.bytes.len() as u64 > MAX_IMAGE_BYTES {
            return Err(SendError::Permanent(format!(
                "the image is {}, over Feishu's limit for images ({})",
                megabytes(file.bytes.len() as u64),
                megabytes(MAX_IMAGE_BYTES)
            )));
        }
        let url = format!("{base}/open-apis/im/v1/images");
        let form = || reqwest::multipart::Form::new().text("image_type", "message").part("image", file_part(file));
        let answer = authorized(ctx, "upload image", |http, token| {
            http.post(&url).timeout(crate::channels::media::UPLOAD_TIMEOUT).bearer_auth(token).multipart(form())
        })
        .await?;
        let key = uploaded_key(&answer, "image_key")?;
        ("image", json!({ "image_key": key }).to_string())
    } else {
        let url = format!("{base}/open-apis/im/v1/files");
        let name = safe_file_name(file.name, &file.sniffed.extension);
        let form = || {
            reqwest::multipart::Form::new()
                .text("file_type", file_type(file))
                .text("file_name", name.clone())
                .part("file", file_part(file))
        };
        let answer = authorized(ctx, "upload file", |http, token| {
            http.post(&url).timeout(crate::channels::media::UPLOAD_TIMEOUT).bearer_auth(token).multipart(form())
        })
        .await?;
        let key = uploaded_key(&answer, "file_key")?;
        ("file", json!({ "file_key": key }).to_string())
    };
    let sent = send_message(ctx, route, msg_type, content, ctx.send_key.map(send_uuid)).await?;
    if let Some(caption) = file.caption.filter(|c| !c.trim().is_empty()) {
        let content = json!({ "text": caption }).to_string();
        let uuid = ctx.send_key.map(|key| send_uuid(&format!("{key}#caption")));
        send_message(ctx, route, "text", content, uuid).await?;
    }
    Ok(sent)
}

/// The key an upload answered with (`data.image_key` or `data.file_key`).
fn uploaded_key(answer: &Value, field: &str) -> Result<String, SendError> {
    answer
        .pointer(&format!("/data/{field}"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| SendError::Temporary(format!("Feishu answered the upload without {field}")))
}
