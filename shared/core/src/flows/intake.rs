//! Taking a message's files in: the dispatcher downloads each with the channel's own API and the
//! bot's own token (the webhook only named them, and stays fast), judges its type by its bytes,
//! and stores it under the conversation's prefix in the memory bucket, where the conversation's
//! handed credentials let its agent read it and nothing else does.
//!
//! - One key per message and file ([`attachment_key`]): a retried download overwrites, so a
//!   redelivered message stores nothing twice.
//! - Over [`MAX_INBOUND_BYTES`] (declared, or found while downloading): refused with a clear
//!   answer to the sender, nothing stored.
//! - A download that fails in a way a retry can fix fails the dispatch, so the queue retries it,
//!   until the message is [`GIVE_UP_AFTER_MS`] old: then the run goes on without the file (the
//!   model is told), so one unreachable file never holds the conversation's later messages back
//!   for long.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TtlCache;
use crate::channels::{self, DownloadError, SendContext};
use crate::domain::media::{
    MAX_ATTACHMENTS_PER_MESSAGE, MAX_INBOUND_BYTES, MediaKind, StoredAttachment, attachment_key, megabytes, sniff,
};
use crate::domain::model::month_of;
use crate::domain::model::{ConversationMessage, now_ms};
use crate::domain::records::BotRecord;
use crate::flows::directory::BotDirectory;
use crate::flows::reply::ChannelApis;
use crate::ports::{ConversationFiles, StoreError, UsageRepo};

/// How long downloads of a message's files are retried before its run goes on without them.
pub const GIVE_UP_AFTER_MS: i64 = 2 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Worth retrying through the queue.
    #[error("a file could not be downloaded yet: {0}")]
    Retry(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What came of a message's files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TakenIn {
    /// Stored, for the agent.
    pub stored: Vec<StoredAttachment>,
    /// For the model: what it does not get and why (trusted text).
    pub notes: Vec<String>,
    /// For the sender: files refused as too large.
    pub refusals: Vec<String>,
    /// Bytes stored (counted in the tenant's usage).
    pub bytes: u64,
}

pub struct MediaIntake {
    files: Arc<dyn ConversationFiles>,
    usage: Arc<dyn UsageRepo>,
    http: reqwest::Client,
    apis: ChannelApis,
    tokens: TtlCache<String, String>,
}

impl MediaIntake {
    /// `usage`: where the bytes stored are counted in the tenant's month.
    pub fn new(
        files: Arc<dyn ConversationFiles>,
        usage: Arc<dyn UsageRepo>,
        http: reqwest::Client,
        apis: ChannelApis,
    ) -> Self {
        Self { files, usage, http, apis, tokens: TtlCache::new(Duration::from_secs(30 * 60), 1000) }
    }

    /// Downloads and stores `item`'s files (see the module doc).
    pub async fn take_in(
        &self,
        directory: &BotDirectory,
        record: &BotRecord,
        item: &ConversationMessage,
    ) -> Result<TakenIn, IntakeError> {
        let mut out = TakenIn::default();
        let attachments = &item.message.attachments;
        if attachments.is_empty() {
            return Ok(out);
        }
        let c = &item.conversation;
        let channel = channels::channel(c.channel);
        let binding = record.channel(c.channel);
        let secrets = match binding {
            Some(binding) => directory
                .channel_secrets(binding)
                .await
                .map_err(|e| IntakeError::Retry(format!("channel secrets: {e}")))?,
            None => None,
        };
        let (Some(channel), Some(secrets)) = (channel, secrets) else {
            out.notes.push(format!("The message carried {} file(s) the platform could not fetch.", attachments.len()));
            return Ok(out);
        };
        let api_base = self.apis.get(channel);
        let ctx = SendContext {
            http: &self.http,
            api_base: &api_base,
            secrets: &secrets,
            tokens: &self.tokens,
            send_key: None,
        };
        let giving_up = now_ms().saturating_sub(item.message.sent_at_ms) > GIVE_UP_AFTER_MS;
        if attachments.len() > MAX_ATTACHMENTS_PER_MESSAGE {
            out.notes.push(format!(
                "The message carried {} files; only the first {MAX_ATTACHMENTS_PER_MESSAGE} were taken.",
                attachments.len()
            ));
        }
        for (index, attachment) in attachments.iter().take(MAX_ATTACHMENTS_PER_MESSAGE).enumerate() {
            let what = describe(attachment.kind, attachment.name.as_deref());
            if let Some(size) = attachment.declared_size.filter(|s| *s > MAX_INBOUND_BYTES) {
                refuse(&mut out, &what, Some(size));
                continue;
            }
            let bytes = match channel.download(&ctx, &attachment.source, MAX_INBOUND_BYTES).await {
                Ok(bytes) => bytes,
                Err(DownloadError::TooLarge { size, .. }) => {
                    refuse(&mut out, &what, size);
                    continue;
                }
                Err(DownloadError::Temporary(why)) if !giving_up => {
                    tracing::warn!(event = "attachment_retry", tenant_id = %c.tenant_id, bot_id = %c.bot_id, message_id = %item.message.message_id, index, error = %why);
                    return Err(IntakeError::Retry(why));
                }
                Err(e) => {
                    tracing::warn!(event = "attachment_failed", tenant_id = %c.tenant_id, bot_id = %c.bot_id, message_id = %item.message.message_id, index, error = %e);
                    out.notes.push(format!("The {what} could not be downloaded from the chat, so it is not here."));
                    continue;
                }
            };
            let sniffed = sniff(&bytes);
            let key = attachment_key(c, &item.message.message_id, index, &sniffed.extension);
            let size = bytes.len() as u64;
            self.files.put_file(&key, bytes, &sniffed.media_type).await?;
            tracing::info!(event = "attachment_stored", tenant_id = %c.tenant_id, bot_id = %c.bot_id, message_id = %item.message.message_id, index, size, media_type = %sniffed.media_type);
            out.bytes += size;
            out.stored.push(StoredAttachment {
                key,
                kind: attachment.kind,
                sniffed,
                size,
                name: attachment.name.clone(),
            });
        }
        if out.bytes > 0 {
            // Counted after storing: a retry after a failure here counts the message's files
            // again, which over-counts rather than losing a stored file.
            self.usage.add_file_bytes(&c.tenant_id, &month_of(now_ms()), out.bytes, 0).await?;
            crate::observe::metrics::record(
                crate::observe::metrics::Metric::FileBytesIn,
                out.bytes as f64,
                Some(&c.tenant_id),
            );
        }
        Ok(out)
    }
}

fn refuse(out: &mut TakenIn, what: &str, size: Option<u64>) {
    let size = size.map(|s| format!(" ({})", megabytes(s))).unwrap_or_default();
    let limit = megabytes(MAX_INBOUND_BYTES);
    out.refusals.push(format!("Your {what}{size} is larger than {limit}, the most I can take, so I did not keep it."));
    out.notes.push(format!("The sender's {what} was larger than {limit} and was refused; it is not here."));
}

/// "photo", "document \"report.pdf\"", … as people say it.
fn describe(kind: MediaKind, name: Option<&str>) -> String {
    let word = kind.word();
    match name {
        Some(name) => format!("{word} \"{}\"", crate::domain::media::safe_file_name(name, "bin")),
        None => word.to_owned(),
    }
}
