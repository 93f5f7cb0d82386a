//! A message's files as the model gets them. The dispatcher stored each under the
//! conversation's prefix; the run reads it there with the handed credentials (which reach no
//! other conversation's), copies it into the session's workspace (where the `file` tool reads
//! it), and turns it into content:
//! - images: image blocks, in a format every provider takes (PNG, JPEG, GIF, WebP) and within
//!   Converse's limits (3.75 MB, 8000 px a side); anything else is decoded and re-encoded as a
//!   JPEG scaled to [`SCALED_SIDE`];
//! - documents Converse reads (PDF, CSV, Word, Excel, HTML, text, Markdown; at most 4.5 MB):
//!   document blocks; every document is in the workspace either way;
//! - voice notes and audio: the transcript, when one was made (marked as a transcript of the
//!   user's voice note).
//!
//! Everything a file brings is untrusted: its name and transcript go inside an `attachment`
//! block; a document's or image's own content reaches the model as the provider's block, which
//! no instruction in it can turn into a platform message.

use std::io::Cursor;
use std::path::Path;

use clawless_core::domain::envelope::AgentInvocation;
use clawless_core::domain::media::{
    MAX_INBOUND_BYTES, MediaClass, StoredAttachment, conversation_files_prefix, megabytes, safe_file_name, sniff,
};
use clawless_core::ports::ConversationFiles;

use crate::provider::{Block, ImageFormat};
use crate::untrusted;

/// Converse's largest image.
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// Converse's longest image side.
pub const MAX_IMAGE_SIDE: u32 = 8000;
/// The longest side an image is scaled to when it has to be re-encoded.
pub const SCALED_SIDE: u32 = 2048;
/// Converse's largest document.
pub const MAX_DOCUMENT_BYTES: usize = 4_500_000;
/// The workspace folder files are copied into.
pub const WORKSPACE_FOLDER: &str = "attachments";

/// What a batch's files give the model: content blocks and, first, one text block naming
/// them.
#[derive(Debug, Default)]
pub struct Prepared {
    pub blocks: Vec<Block>,
}

/// Reads `invocation`'s files and notes (see the module doc). `files`: the conversation's files
/// with the handed credentials; `None` (no credentials) names the files as unreadable.
pub async fn prepare(
    files: Option<&dyn ConversationFiles>,
    invocation: &AgentInvocation,
    workspace: &Path,
    transcripts: &dyn Transcripts,
) -> Prepared {
    let mut out = Prepared::default();
    let mut described = Vec::new();
    for note in &invocation.attachment_notes {
        // Written by trusted code (the dispatcher), so outside any untrusted block.
        described.push(format!("[platform] {note}"));
    }
    let prefix = format!("{}/attachments/", conversation_files_prefix(&invocation.item.conversation));
    for (index, stored) in invocation.attachments.iter().enumerate() {
        let what = stored.kind.word();
        if !stored.key.starts_with(&prefix) {
            tracing::warn!(event = "attachment_refused", reason = "outside the conversation");
            continue;
        }
        let bytes = match files {
            Some(files) => match files.get_file(&stored.key, MAX_INBOUND_BYTES).await {
                Ok(Some(Ok(bytes))) => bytes,
                Ok(Some(Err(_))) | Ok(None) | Err(_) => {
                    tracing::warn!(event = "attachment_unreadable", index);
                    described.push(format!("[platform] The user's {what} could not be read."));
                    continue;
                }
            },
            None => {
                described.push(format!("[platform] The user's {what} could not be read."));
                continue;
            }
        };
        let sniffed = sniff(&bytes);
        let name = safe_file_name(stored.name.as_deref().unwrap_or(""), &sniffed.extension);
        let digest = stored.key.rsplit('/').nth(1).unwrap_or("file");
        let relative = format!("{WORKSPACE_FOLDER}/{digest}-{index}-{name}");
        let in_workspace = match write_workspace(workspace, &relative, &bytes).await {
            Ok(()) => Some(relative),
            Err(e) => {
                tracing::warn!(event = "attachment_workspace_failed", error = %e);
                None
            }
        };
        let mut attributes: Vec<(&'static str, String)> = vec![
            ("sent_as", what.to_owned()),
            ("type", sniffed.media_type.clone()),
            ("size", megabytes(bytes.len() as u64)),
        ];
        if let Some(sender_name) = &stored.name {
            attributes.push(("name", sender_name.clone()));
        }
        if let Some(path) = &in_workspace {
            attributes.push(("workspace_path", path.clone()));
        }
        let mut content = String::new();
        match sniffed.class {
            MediaClass::Image => match image_block(&bytes) {
                Some(block) => out.blocks.push(block),
                None => content.push_str("(an image the model cannot be shown)"),
            },
            MediaClass::Document => match document_format(&sniffed.media_type) {
                Some(format) if bytes.len() <= MAX_DOCUMENT_BYTES => out.blocks.push(Block::Document {
                    format: format.to_owned(),
                    name: format!("attachment {}", index + 1),
                    bytes: bytes.clone(),
                }),
                _ => content.push_str("(read it from the workspace with the file tool)"),
            },
            MediaClass::Audio => match transcripts.transcribe(stored, &bytes).await {
                Ok(text) => {
                    attributes.push(("transcript_of", format!("the user's {what}")));
                    content.push_str(&text);
                }
                Err(why) => content.push_str(&format!("(no transcript: {why})")),
            },
            MediaClass::Video | MediaClass::Other => content.push_str("(kept in the workspace only)"),
        }
        let attributes: Vec<(&'static str, &str)> = attributes.iter().map(|(k, v)| (*k, v.as_str())).collect();
        described.push(untrusted::wrap(untrusted::Kind::Attachment, &attributes, &content));
    }
    if !described.is_empty() {
        out.blocks.insert(0, Block::Text(described.join("\n")));
    }
    out
}

/// Turns a voice note's bytes into text.
#[async_trait::async_trait]
pub trait Transcripts: Send + Sync {
    /// The transcript, or why there is none (shown to the model).
    async fn transcribe(&self, stored: &StoredAttachment, bytes: &[u8]) -> Result<String, String>;
}

/// No transcription configured.
pub struct NoTranscripts;

#[async_trait::async_trait]
impl Transcripts for NoTranscripts {
    async fn transcribe(&self, _stored: &StoredAttachment, _bytes: &[u8]) -> Result<String, String> {
        Err("transcription is not turned on for this platform".into())
    }
}

async fn write_workspace(workspace: &Path, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = workspace.join(relative);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(path, bytes).await
}

/// Converse's document format for a media type, where it reads that type.
fn document_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/html" => "html",
        "text/markdown" => "md",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        _ => return None,
    })
}

/// The image as a block the providers take: as it is when its format and size allow, else
/// decoded, scaled to fit [`SCALED_SIDE`] and re-encoded as JPEG. `None` if it cannot be decoded.
pub fn image_block(bytes: &[u8]) -> Option<Block> {
    let format = ImageFormat::from_media_type(&sniff(bytes).media_type);
    let dimensions = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok();
    let fits = |(w, h): (u32, u32)| w <= MAX_IMAGE_SIDE && h <= MAX_IMAGE_SIDE;
    if let Some(format) = format
        && bytes.len() <= MAX_IMAGE_BYTES
        && dimensions.is_some_and(fits)
    {
        return Some(Block::Image { format, bytes: bytes.to_vec() });
    }
    let decoded = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.decode().ok()?;
    let mut side = SCALED_SIDE;
    loop {
        let scaled = if decoded.width() > side || decoded.height() > side {
            decoded.resize(side, side, image::imageops::FilterType::Triangle)
        } else {
            decoded.clone()
        };
        let mut out = Vec::new();
        scaled.to_rgb8().write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg).ok()?;
        if out.len() <= MAX_IMAGE_BYTES || side <= 256 {
            return Some(Block::Image { format: ImageFormat::Jpeg, bytes: out });
        }
        side /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn an_image_that_fits_goes_as_it_is() {
        let bytes = png(64, 48);
        let Some(Block::Image { format, bytes: sent }) = image_block(&bytes) else { panic!("no image block") };
        assert_eq!(format, ImageFormat::Png);
        assert_eq!(sent, bytes, "the exact bytes");
    }

    #[test]
    fn an_oversized_image_is_scaled_down_to_a_jpeg() {
        let bytes = png(8100, 10);
        let Some(Block::Image { format, bytes: sent }) = image_block(&bytes) else { panic!("no image block") };
        assert_eq!(format, ImageFormat::Jpeg);
        let (w, h) =
            image::ImageReader::new(Cursor::new(&sent)).with_guessed_format().unwrap().into_dimensions().unwrap();
        assert!(w <= SCALED_SIDE && h <= SCALED_SIDE, "{w}x{h}");
    }

    #[test]
    fn a_bmp_is_re_encoded_and_garbage_is_not_an_image() {
        let img = image::RgbImage::from_pixel(10, 10, image::Rgb([1, 2, 3]));
        let mut bmp = Vec::new();
        image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut bmp), image::ImageFormat::Bmp).unwrap();
        assert!(matches!(image_block(&bmp), Some(Block::Image { format: ImageFormat::Jpeg, .. })));
        assert!(image_block(b"\x89PNG\r\n\x1a\nnot really").is_none());
    }
}
