//! The reply path, for every channel: one reply-queue message → the channel's send API, split at
//! the channel's limit. Each reply is sent once as far as the channel allows (a crash between a
//! successful send and recording it can repeat that one piece), and a partly sent answer resumes
//! where it stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::cache::TtlCache;
use crate::channels;
use crate::channels::{Channel, SendContext, SendError};
use crate::domain::envelope::{Button, ReplyEnvelope};
use crate::domain::model::ChannelKind;
use crate::domain::records::{ReplyClaim, ReplyState};
use crate::domain::scope::ScopeError;
use crate::domain::secrets::SecretsError;
use crate::flows::directory::BotDirectory;
use crate::flows::reports::security_violation;
use crate::ports::StoreError;
use crate::ports::{ConversationRepo, LimitRepo, RunStatusRepo, ScopeKeys, UsageRepo};

mod progress;
pub use progress::ProgressOutcome;

/// Longest total wait for a channel's `retry_after` inside one invocation; longer waits go back
/// to the queue (the message returns after its visibility timeout).
const MAX_INLINE_RETRY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("sending failed and will be retried: {0}")]
    Retry(SendError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        pieces: usize,
    },
    /// Sent (or given up) earlier: a redelivery.
    AlreadyDone,
    /// Will never be sent; the reason is logged.
    Rejected(String),
}

/// The API base URL of each channel (`CLAWLESS_<CHANNEL>_API` or the channel's default).
pub struct ChannelApis(HashMap<ChannelKind, String>);

impl ChannelApis {
    pub fn from_env() -> Self {
        Self(
            ChannelKind::ALL
                .iter()
                .filter_map(|k| channels::channel(*k))
                .map(|c| (c.kind(), channels::api_base(c)))
                .collect(),
        )
    }

    /// `kind`'s API at `base` (a local stand-in), every other channel at its default.
    pub fn with(kind: ChannelKind, base: impl Into<String>) -> Self {
        Self(HashMap::from([(kind, base.into())]))
    }

    pub fn get(&self, channel: &dyn Channel) -> String {
        self.0.get(&channel.kind()).cloned().unwrap_or_else(|| channel.default_api_base().to_owned())
    }
}

pub struct ReplyService {
    directory: BotDirectory,
    http: reqwest::Client,
    apis: ChannelApis,
    tokens: TtlCache<String, String>,
    scope: Arc<dyn ScopeKeys>,
    conversations: Arc<dyn ConversationRepo>,
    usage: Arc<dyn UsageRepo>,
    limits: Arc<dyn LimitRepo>,
    statuses: Arc<dyn RunStatusRepo>,
    /// Where answers' files wait in each conversation's outbox; `None`: files are not sent.
    files: Option<Arc<dyn crate::ports::ConversationFiles>>,
}

/// The ports the reply function works through.
pub struct ReplyPorts {
    pub directory: BotDirectory,
    pub conversations: Arc<dyn ConversationRepo>,
    pub usage: Arc<dyn UsageRepo>,
    /// Where a run's end frees its concurrent-run slot.
    pub limits: Arc<dyn LimitRepo>,
    pub scope: Arc<dyn ScopeKeys>,
    /// Runs' signs of life (status message, reaction), see [`ReplyService::progress`].
    pub statuses: Arc<dyn RunStatusRepo>,
}

/// Where a conversation's messages go: its channel, the bot's secrets for it and the
/// channel's API, as [`ReplyService::target`] found them.
struct Target {
    channel: &'static dyn Channel,
    secrets: Arc<crate::domain::secrets::ChannelSecrets>,
    api_base: String,
    bot_name: String,
}

impl ReplyService {
    pub fn new(ports: ReplyPorts, http: reqwest::Client, apis: ChannelApis) -> Self {
        let ReplyPorts { directory, conversations, usage, limits, scope, statuses } = ports;
        let tokens = TtlCache::new(Duration::from_secs(30 * 60), 1000);
        Self { directory, http, apis, tokens, scope, conversations, usage, limits, statuses, files: None }
    }

    /// Answers' files are read from `files` (the conversations' outboxes) and uploaded.
    pub fn with_files(mut self, files: Arc<dyn crate::ports::ConversationFiles>) -> Self {
        self.files = Some(files);
        self
    }

    /// The channel, secrets and API a conversation's messages go out through, or why there are
    /// none (the bot is gone or not the tenant's, the channel is not bound or has no secrets).
    async fn target(&self, c: &crate::domain::ids::ConversationRef) -> Result<Result<Target, String>, DeliveryError> {
        let Some(record) = self.directory.bot(&c.bot_id).await? else {
            return Ok(Err("bot no longer exists".into()));
        };
        // A reply may only speak for the tenant, bot and channel of the conversation it answers.
        if record.bot.tenant_id != c.tenant_id {
            return Ok(Err("reply names a tenant that does not own the bot".into()));
        }
        let Some(channel) = channels::channel(c.channel) else {
            return Ok(Err(format!("sending on {} is not supported yet", c.channel)));
        };
        let Some(binding) = record.channel(c.channel) else {
            return Ok(Err(format!("bot has no {} channel", c.channel)));
        };
        let Some(secrets) = self.directory.channel_secrets(binding).await? else {
            return Ok(Err(format!("{} secrets are not configured", c.channel)));
        };
        let api_base = self.apis.get(channel);
        Ok(Ok(Target { channel, secrets, api_base, bot_name: record.bot.name.clone() }))
    }

    fn send_context<'a>(&'a self, target: &'a Target, send_key: Option<&'a str>) -> SendContext<'a> {
        SendContext {
            http: &self.http,
            api_base: &target.api_base,
            secrets: &target.secrets,
            tokens: &self.tokens,
            send_key,
        }
    }

    pub async fn deliver(&self, reply: ReplyEnvelope) -> Result<DeliveryOutcome, DeliveryError> {
        let span = super::message_span(&reply.conversation, &reply.reply_id(), reply.trace_id.as_deref());
        self.deliver_in_span(reply).instrument(span).await
    }

    async fn deliver_in_span(&self, reply: ReplyEnvelope) -> Result<DeliveryOutcome, DeliveryError> {
        let c = &reply.conversation;
        let reject = |why: String| {
            tracing::error!(event = "reply_rejected", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reply_id = %reply.reply_id(), reason = %why);
            Ok(DeliveryOutcome::Rejected(why))
        };
        // Whoever put it on the queue (an agent, or trusted code) holds this conversation's token,
        // or it is not sent: a microVM only ever gets the token of the conversation it serves.
        if !self.scope.get().await?.verify(c, &reply.scope) {
            security_violation(c, "reply", "scope token does not match the conversation");
            return Ok(DeliveryOutcome::Rejected("scope token does not match the conversation".into()));
        }
        if !reply.route.belongs_to(c) {
            security_violation(c, "reply", "route leads outside the conversation");
            return Ok(DeliveryOutcome::Rejected("route leads outside the conversation".into()));
        }
        if reply.route.channel() != c.channel {
            return reject("reply route is for another channel".into());
        }
        let target = match self.target(c).await? {
            Ok(target) => target,
            Err(why) => return reject(why),
        };
        let channel = target.channel;

        // One read, no claim write (see `Store::reply_progress` for why none is needed); the
        // line is written once, after the last piece (and after each earlier piece of a split
        // answer, so a retry resumes after it).
        let (claim, line) = self.conversations.reply_progress(&reply, &target.bot_name).await?;
        let mut sent_ids = match claim {
            ReplyClaim::Done(_) => {
                // A final answer sent before a crash that came before its run's end was shown.
                self.end_run_of(&reply, crate::domain::progress::STATUS_DONE_TEXT).await;
                return Ok(DeliveryOutcome::AlreadyDone);
            }
            ReplyClaim::New => Vec::new(),
            ReplyClaim::Retry { sent_ids } => sent_ids,
        };
        // Agent answers and platform notices alike: neutralised for the channel, then split.
        // The files `send_file` handed over follow the text, each one more piece.
        let mut pieces: Vec<Piece> = if reply.text.trim().is_empty() && !reply.files.is_empty() {
            Vec::new()
        } else {
            channels::outbound_pieces(channel, &reply.text).into_iter().map(Piece::Text).collect()
        };
        let texts = pieces.len();
        if !reply.files.is_empty() {
            // Only the outbox of the conversation the token was checked for: a key elsewhere is
            // an agent reaching for another conversation's files.
            let outbox = crate::domain::media::outbox_prefix(c);
            if reply.files.iter().any(|f| !f.key.starts_with(&outbox) || f.key.contains("/../")) {
                security_violation(c, "reply", "file outside the conversation's outbox");
                return Ok(DeliveryOutcome::Rejected("file outside the conversation's outbox".into()));
            }
            pieces.extend(reply.files.iter().take(crate::domain::media::MAX_FILES_PER_REPLY).cloned().map(Piece::File));
        }
        let reply_id = reply.reply_id();
        let already = sent_ids.len().min(pieces.len());
        for (i, piece) in pieces.iter().enumerate().skip(already) {
            let send_key = format!("{reply_id}#p{i}");
            let ctx = self.send_context(&target, Some(&send_key));
            let sent = match piece {
                Piece::Text(text) => {
                    send_with_retry(channel, &ctx, &reply, text, piece_buttons(&reply.buttons, i, texts)).await
                }
                Piece::File(file) => self.send_file(channel, &ctx, &reply, file).await?,
            };
            match sent {
                Ok(id) => {
                    sent_ids.push(id);
                    if i + 1 < pieces.len() {
                        // Progress first: a retry resumes after the last piece sent.
                        self.conversations.record_reply(&line, ReplyState::Sending, &sent_ids).await?;
                    }
                }
                Err(SendError::Permanent(why)) => {
                    crate::observe::metrics::count(crate::observe::metrics::Metric::ChannelSendErrors, &c.tenant_id);
                    self.conversations.record_reply(&line, ReplyState::Failed, &sent_ids).await?;
                    // The run happened (and spent tokens) whether or not its answer got through.
                    self.record_run(&reply).await?;
                    self.end_run_of(&reply, crate::domain::progress::STATUS_ENDED_TEXT).await;
                    return reject(why);
                }
                Err(e) => {
                    crate::observe::metrics::count(crate::observe::metrics::Metric::ChannelSendErrors, &c.tenant_id);
                    tracing::warn!(event = "reply_deferred", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reply_id = %reply.reply_id(), error = %e);
                    return Err(DeliveryError::Retry(e));
                }
            }
        }
        self.conversations.record_reply(&line, ReplyState::Sent, &sent_ids).await?;
        // Sent and recorded: the outbox copies have done their job (a failure leaves them to
        // nobody, which the log says).
        if let Some(files) = &self.files {
            for file in &reply.files {
                if let Err(e) = files.delete_file(&file.key).await {
                    tracing::warn!(event = "outbox_cleanup_failed", error = %e);
                }
            }
        }
        let sent_now = pieces.len().saturating_sub(already);
        crate::observe::metrics::record(
            crate::observe::metrics::Metric::RepliesOut,
            sent_now as f64,
            Some(&c.tenant_id),
        );
        tracing::info!(event = "reply_sent", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reply_id = %reply.reply_id(), pieces = pieces.len());
        self.record_run(&reply).await?;
        // After the answer, so the answer never waits for it.
        self.end_run_of(&reply, crate::domain::progress::STATUS_DONE_TEXT).await;
        Ok(DeliveryOutcome::Sent { pieces: pieces.len() })
    }
}

/// One message of an answer: a piece of its text, or a file.
enum Piece {
    Text(String),
    File(crate::domain::media::OutgoingFile),
}

impl ReplyService {
    /// Sends one file from the conversation's outbox: uploaded as it is, or, where it cannot be
    /// (gone, over the channel's limit), a line saying so in its place, so the answer still
    /// ends and is recorded.
    async fn send_file(
        &self,
        channel: &dyn Channel,
        ctx: &SendContext<'_>,
        reply: &ReplyEnvelope,
        file: &crate::domain::media::OutgoingFile,
    ) -> Result<Result<String, SendError>, DeliveryError> {
        use crate::domain::media::{FileUpload, megabytes, safe_file_name, sniff};
        let name = safe_file_name(&file.name, "bin");
        let limit = channel.max_upload_bytes();
        // The name is the agent's: neutralised like every text the reply flow sends.
        let Some(files) = &self.files else {
            let note = format!("({name} could not be sent here.)");
            return Ok(send_with_retry(channel, ctx, reply, &channel.neutralise(&note), &[]).await);
        };
        let fetched = files.get_file(&file.key, limit).await?;
        let bytes = match fetched {
            Some(Ok(bytes)) => bytes,
            Some(Err(too_large)) => {
                let note = format!(
                    "({name} is {}; files sent here may be at most {}.)",
                    megabytes(too_large.size),
                    megabytes(limit)
                );
                return Ok(send_with_retry(channel, ctx, reply, &channel.neutralise(&note), &[]).await);
            }
            None => {
                let note = format!("({name} is no longer there to send.)");
                return Ok(send_with_retry(channel, ctx, reply, &channel.neutralise(&note), &[]).await);
            }
        };
        let sniffed = sniff(&bytes);
        let caption = file.caption.as_deref().map(|c| channel.neutralise(c));
        let upload = FileUpload { name: &name, bytes: &bytes, sniffed: &sniffed, caption: caption.as_deref() };
        let sent = with_inline_retry(channel, || channel.send_file(ctx, &reply.route, &upload)).await;
        if sent.is_ok() {
            let tenant = &reply.conversation.tenant_id;
            let month = crate::domain::model::month_of(crate::domain::model::now_ms());
            let size = bytes.len() as u64;
            crate::observe::metrics::record(crate::observe::metrics::Metric::FileBytesOut, size as f64, Some(tenant));
            if let Err(e) = self.usage.add_file_bytes(tenant, &month, 0, size).await {
                // The file went out; a lost count must not send it again.
                tracing::warn!(event = "file_bytes_not_counted", error = %e);
            }
        }
        Ok(sent)
    }

    /// Records the summary a run's final answer carries, after its line is written: token use
    /// (one `ADD`; a redelivery finds the line done and does not come here again, so a crash
    /// between the two writes can lose one run's count but never count it twice) and answered
    /// marks, and the run's slot freed. Its scope token was checked before anything was sent.
    async fn record_run(&self, reply: &ReplyEnvelope) -> Result<(), DeliveryError> {
        let Some(run) = &reply.run else { return Ok(()) };
        let c = &reply.conversation;
        let messages = run.messages(Some(&reply.in_reply_to));
        if run.input_tokens > 0 || run.output_tokens > 0 {
            let month = crate::domain::model::month_of(crate::domain::model::now_ms());
            self.usage.add_token_usage(&c.tenant_id, &month, run.input_tokens, run.output_tokens, messages).await?;
            crate::observe::metrics::tokens(&c.tenant_id, run.input_tokens, run.output_tokens);
        }
        crate::flows::reports::mark_answered(self.conversations.as_ref(), c, run).await?;
        crate::flows::reports::release_run(self.limits.as_ref(), c, &reply.in_reply_to, run).await?;
        Ok(())
    }
}

/// The buttons piece `i` of `count` carries: all of them on the last piece (under the whole text
/// they refer to), none on the others.
fn piece_buttons(buttons: &[Button], i: usize, count: usize) -> &[Button] {
    if i + 1 == count { buttons } else { &[] }
}

async fn send_with_retry(
    channel: &dyn Channel,
    ctx: &SendContext<'_>,
    reply: &ReplyEnvelope,
    text: &str,
    buttons: &[Button],
) -> Result<String, SendError> {
    with_inline_retry(channel, || channel.send(ctx, &reply.route, text, buttons)).await
}

/// Runs one call to `channel`, waiting out its rate limits inline for up to
/// [`MAX_INLINE_RETRY_WAIT`] in all; a longer wait is left to the queue.
async fn with_inline_retry<F, Fut>(channel: &dyn Channel, mut call: F) -> Result<String, SendError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, SendError>>,
{
    let mut waited = Duration::ZERO;
    loop {
        match call().await {
            Err(SendError::RateLimited { retry_after }) if waited + retry_after <= MAX_INLINE_RETRY_WAIT => {
                tracing::info!(event = "rate_limited", channel = %channel.kind(), wait_ms = retry_after.as_millis() as u64);
                tokio::time::sleep(retry_after).await;
                waited += retry_after;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
