//! Files: attachment options of application commands (an option of type ATTACHMENT holds an
//! attachment id, which `data.resolved.attachments` resolves to its CDN URL), downloaded from
//! Discord's CDN hosts only; and files sent as a message with a multipart body (`payload_json`
//! and `files[0]`), where the text would go.

use serde::Deserialize;
use serde_json::{Value, json};

use super::send::{SUPPRESS_EMBEDS, message_request, refusal};
use crate::channels::api::exchange;
use crate::channels::media::{file_part, file_url_allowed, foreign_source};
use crate::channels::{DownloadError, SendContext, SendError, download_capped};
use crate::domain::media::{
    Attachment, FileUpload, MAX_ATTACHMENTS_PER_MESSAGE, MediaKind, MediaSource, safe_file_name,
};
use crate::domain::model::{ChannelKind, ReplyRoute};

/// Application command option type of an attachment.
pub(super) const ATTACHMENT_OPTION: u64 = 11;
/// Discord's CDN hosts: the only hosts an attachment URL is fetched from (besides the configured
/// API base's, where a stand-in serves them).
pub(super) const CDN_HOSTS: &[&str] = &["cdn.discordapp.com", "media.discordapp.net"];
/// A bot's upload limit on a server without boosts (10 MiB since 2024; boosted servers allow
/// more, but the bot cannot know which it posts in before it tries).
pub(super) const MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct ResolvedAttachment {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    content_type: Option<String>,
}

/// The ids of the attachment options in `options`, subcommands' included, in order.
fn attachment_ids(options: &[Value], out: &mut Vec<String>) {
    for option in options {
        if option.get("type").and_then(Value::as_u64) == Some(ATTACHMENT_OPTION) {
            match option.get("value") {
                Some(Value::String(id)) => out.push(id.clone()),
                Some(Value::Number(id)) => out.push(id.to_string()),
                _ => {}
            }
        }
        if let Some(nested) = option.get("options").and_then(Value::as_array) {
            attachment_ids(nested, out);
        }
    }
}

/// The attachments a command's `data` carries, resolved through `data.resolved.attachments`;
/// an id that does not resolve is skipped. The content type is the sender's, a hint only.
pub(super) fn attachments(data: &Value) -> Vec<Attachment> {
    let mut ids = Vec::new();
    if let Some(options) = data.get("options").and_then(Value::as_array) {
        attachment_ids(options, &mut ids);
    }
    ids.iter()
        .filter_map(|id| {
            let resolved = data.pointer("/resolved/attachments")?.get(id)?.clone();
            let resolved: ResolvedAttachment = serde_json::from_value(resolved).ok()?;
            let url = resolved.url.filter(|u| !u.is_empty())?;
            let mime = resolved.content_type.unwrap_or_default();
            let kind = MediaKind::from_mime_hint(&mime);
            Some(Attachment {
                kind,
                source: MediaSource::DiscordAttachment { url },
                name: resolved.filename.filter(|n| !n.is_empty()),
                declared_size: resolved.size,
            })
        })
        .take(MAX_ATTACHMENTS_PER_MESSAGE)
        .collect()
}

/// Fetches an attachment from Discord's CDN (its URL is signed; no token goes with it), only
/// from [`CDN_HOSTS`] or the API base's host: the URL came in a request, and trusted code must
/// not be made to fetch anything else.
pub(super) async fn download(
    ctx: &SendContext<'_>,
    source: &MediaSource,
    max_bytes: u64,
) -> Result<Vec<u8>, DownloadError> {
    let MediaSource::DiscordAttachment { url } = source else { return Err(foreign_source(ChannelKind::Discord)) };
    if !file_url_allowed(url, CDN_HOSTS, ctx.api_base) {
        return Err(DownloadError::Permanent("the attachment URL is not on Discord's CDN".into()));
    }
    download_capped(ChannelKind::Discord, ctx.http.get(url), max_bytes).await
}

/// Sends `file` as a message with the caption as its content, where a text answer would go
/// (the interaction's follow-up, else the channel or thread); nobody is pinged.
pub(super) async fn send_file(
    ctx: &SendContext<'_>,
    route: &ReplyRoute,
    file: &FileUpload<'_>,
) -> Result<String, SendError> {
    let name = safe_file_name(file.name, &file.sniffed.extension);
    let mut payload = json!({
        "allowed_mentions": { "parse": [] },
        "flags": SUPPRESS_EMBEDS,
        "attachments": [{ "id": 0, "filename": name }],
    });
    if let Some(caption) = file.caption.filter(|c| !c.trim().is_empty()) {
        payload["content"] = json!(caption);
    }
    let form = reqwest::multipart::Form::new()
        .text("payload_json", payload.to_string())
        .part("files[0]", file_part(file).file_name(name));
    let answer = exchange(
        ChannelKind::Discord,
        message_request(ctx, route)?.timeout(crate::channels::media::UPLOAD_TIMEOUT).multipart(form),
    )
    .await?;
    if answer.status.is_success() {
        let id = answer.body.as_ref().and_then(|b| b.get("id")).map(|id| match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        return Ok(id.unwrap_or_default());
    }
    Err(refusal(&answer))
}
