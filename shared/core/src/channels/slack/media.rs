//! Files: the `files` a `message` event carries (as attachments, fetched later with the bot
//! token from `files.slack.com`), and uploads through Slack's external upload flow
//! (`files.getUploadURLExternal`, the bytes to the URL it gives, `files.completeUploadExternal`
//! to share the file in the chat), the one Slack keeps since `files.upload` was retired.

use serde::Deserialize;
use serde_json::{Value, json};

use super::send::call_api;
use crate::channels::api::{Refusal, describe_http_error};
use crate::channels::media::{file_url_allowed, foreign_source};
use crate::channels::{DownloadError, SendContext, SendError, download_capped};
use crate::domain::media::{
    Attachment, FileUpload, MAX_ATTACHMENTS_PER_MESSAGE, MediaKind, MediaSource, safe_file_name,
};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Where Slack serves private files: the only host a Slack file URL is fetched from (besides the
/// configured API base's, where a stand-in serves them).
pub(super) const FILE_HOSTS: &[&str] = &["files.slack.com"];

/// A file object of a `message` event, as far as it is read.
#[derive(Debug, Deserialize)]
pub(super) struct SlackFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    mimetype: Option<String>,
    /// `slack_audio` for a voice clip recorded in Slack.
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    url_private: Option<String>,
    #[serde(default)]
    url_private_download: Option<String>,
}

/// The attachments of a message's files: the download URL (the plain private URL where there is
/// none), at most [`MAX_ATTACHMENTS_PER_MESSAGE`]. A file without a URL (deleted, or over the
/// workspace's storage limit: `mode` `tombstone` or `hidden_by_limit`) is skipped. The MIME type
/// is the sender's client's word for it, a hint only.
pub(super) fn attachments(files: Vec<SlackFile>) -> Vec<Attachment> {
    files
        .into_iter()
        .filter_map(|f| {
            let url = f.url_private_download.or(f.url_private).filter(|u| !u.is_empty())?;
            let mime = f.mimetype.unwrap_or_default();
            // A clip recorded in Slack is a voice note; otherwise the declared type hints.
            let kind = if f.subtype.as_deref() == Some("slack_audio") && !mime.starts_with("image/") {
                MediaKind::Voice
            } else {
                MediaKind::from_mime_hint(&mime)
            };
            Some(Attachment {
                kind,
                source: MediaSource::SlackFile { url },
                name: f.name.filter(|n| !n.is_empty()),
                declared_size: f.size,
            })
        })
        .take(MAX_ATTACHMENTS_PER_MESSAGE)
        .collect()
}

/// Fetches a Slack file with the bot token, only from [`FILE_HOSTS`] or the API base's host:
/// the token goes nowhere else.
pub(super) async fn download(
    ctx: &SendContext<'_>,
    source: &MediaSource,
    max_bytes: u64,
) -> Result<Vec<u8>, DownloadError> {
    let MediaSource::SlackFile { url } = source else { return Err(foreign_source(ChannelKind::Slack)) };
    if !file_url_allowed(url, FILE_HOSTS, ctx.api_base) {
        return Err(DownloadError::Permanent("the Slack file URL is not on Slack's file host".into()));
    }
    let token =
        ctx.secrets.get("bot_token").ok_or_else(|| DownloadError::Permanent("bot_token is not configured".into()))?;
    download_capped(ChannelKind::Slack, ctx.http.get(url).bearer_auth(token.expose()), max_bytes).await
}

/// Uploads `file` and shares it in the route's channel (and thread) with its caption as the
/// message's comment; returns the file's id.
pub(super) async fn send_file(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    file: &FileUpload<'_>,
) -> Result<String, SendError> {
    let ReplyRoute::Slack { channel_id, thread_ts } = route else {
        return Err(SendError::Permanent("not a Slack route".into()));
    };
    let name = safe_file_name(file.name, &file.sniffed.extension);
    let length = file.bytes.len().to_string();
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("filename", &name)
        .append_pair("length", &length)
        .finish();
    let as_form = |r: reqwest::RequestBuilder| {
        r.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(form)
    };
    let answer = call_api(ctx, "files.getUploadURLExternal", as_form, &[]).await?.unwrap_or_default();
    let upload_url = answer.get("upload_url").and_then(Value::as_str).filter(|u| !u.is_empty());
    let file_id = answer.get("file_id").and_then(Value::as_str).filter(|id| !id.is_empty());
    let (Some(upload_url), Some(file_id)) = (upload_url, file_id) else {
        return Err(SendError::Temporary("Slack gave no upload URL".into()));
    };
    // The upload URL is itself the credential (no token goes with it), and a URL Slack did not
    // make could not be trusted with the bytes: it must be https, or the stand-in's own.
    if !upload_url.starts_with("https://") && !file_url_allowed(upload_url, &[], ctx.api_base) {
        return Err(SendError::Permanent("Slack's upload URL is not https".into()));
    }
    let upload = ctx
        .http
        .post(upload_url)
        .timeout(crate::channels::media::UPLOAD_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(file.bytes.to_vec());
    let status =
        upload.send().await.map_err(|e| SendError::Temporary(describe_http_error(ChannelKind::Slack, &e)))?.status();
    if !status.is_success() {
        return Err(Refusal::new(status, format!("Slack file upload HTTP {status}")).into_error());
    }
    let mut body = json!({ "files": [{ "id": file_id, "title": name }], "channel_id": channel_id });
    if let Some(thread) = thread_ts {
        body["thread_ts"] = json!(thread);
    }
    if let Some(caption) = file.caption.filter(|c| !c.trim().is_empty()) {
        body["initial_comment"] = json!(caption);
    }
    call_api(ctx, "files.completeUploadExternal", |r| r.json(&body), &[]).await?;
    Ok(file_id.to_owned())
}
