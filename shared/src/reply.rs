//! The reply path: one reply-queue message → the channel's send API, exactly once per reply id
//! as far as the channel allows (a crash between a successful send and recording it can repeat
//! that one reply).

use std::time::Duration;

use crate::channels::{SendError, telegram};
use crate::directory::BotDirectory;
use crate::envelope::ReplyEnvelope;
use crate::model::ChannelKind;
use crate::secrets::SecretsError;
use crate::store::{ReplyClaim, ReplyState, StoreError};
use crate::text::split_message;

/// Longest wait for a channel's `retry_after` inside one invocation; longer waits go back to the queue.
const MAX_INLINE_RETRY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
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

pub struct ChannelApis {
    pub telegram: String,
}

impl ChannelApis {
    pub fn from_env() -> Self {
        Self {
            telegram: crate::config::optional("CLAWLESS_TELEGRAM_API")
                .unwrap_or_else(|| telegram::DEFAULT_API_BASE.to_owned()),
        }
    }
}

pub struct ReplyService {
    directory: BotDirectory,
    http: reqwest::Client,
    apis: ChannelApis,
}

impl ReplyService {
    pub fn new(directory: BotDirectory, http: reqwest::Client, apis: ChannelApis) -> Self {
        Self { directory, http, apis }
    }

    pub async fn deliver(&self, reply: ReplyEnvelope) -> Result<DeliveryOutcome, DeliveryError> {
        let c = &reply.conversation;
        let reject = |why: String| {
            tracing::error!(event = "reply_rejected", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reason = %why);
            Ok(DeliveryOutcome::Rejected(why))
        };
        let Some(record) = self.directory.bot(&c.bot_id).await? else {
            return reject("bot no longer exists".into());
        };
        // A reply may only speak for the tenant, bot and channel of the conversation it answers.
        if record.bot.tenant_id != c.tenant_id {
            return reject("reply names a tenant that does not own the bot".into());
        }
        if reply.route.channel() != c.channel {
            return reject("reply route is for another channel".into());
        }
        let Some(binding) = record.channel(c.channel) else {
            return reject(format!("bot has no {} channel", c.channel));
        };
        let Some(secrets) = self.directory.channel_secrets(binding).await? else {
            return reject(format!("{} secrets are not configured", c.channel));
        };

        match self.directory.store().claim_reply(&reply, &record.bot.name).await? {
            ReplyClaim::Done(_) => return Ok(DeliveryOutcome::AlreadyDone),
            ReplyClaim::New | ReplyClaim::Retry => {}
        }

        let (token, limit) = match c.channel {
            ChannelKind::Telegram => (secrets.get("bot_token"), telegram::MAX_MESSAGE_CHARS),
            other => return reject(format!("sending on {other} is not supported yet")),
        };
        let Some(token) = token else {
            self.directory.store().finish_reply(&reply, ReplyState::Failed, &[]).await?;
            return reject("bot_token is not configured".into());
        };

        let pieces = split_message(&reply.text, limit);
        let mut sent_ids = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            match self.send_with_retry(token.expose(), &reply, piece).await {
                Ok(id) => sent_ids.push(id),
                Err(SendError::Permanent(why)) => {
                    self.directory.store().finish_reply(&reply, ReplyState::Failed, &sent_ids).await?;
                    return reject(why);
                }
                Err(e) => return Err(DeliveryError::Retry(e)),
            }
        }
        self.directory.store().finish_reply(&reply, ReplyState::Sent, &sent_ids).await?;
        tracing::info!(event = "reply_sent", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reply_id = %reply.reply_id(), pieces = pieces.len());
        Ok(DeliveryOutcome::Sent { pieces: pieces.len() })
    }

    async fn send_with_retry(&self, token: &str, reply: &ReplyEnvelope, text: &str) -> Result<String, SendError> {
        let mut waited = Duration::ZERO;
        loop {
            match telegram::send_message(&self.http, &self.apis.telegram, token, &reply.route, text).await {
                Err(SendError::RateLimited { retry_after }) if waited + retry_after <= MAX_INLINE_RETRY_WAIT => {
                    tokio::time::sleep(retry_after).await;
                    waited += retry_after;
                }
                other => return other,
            }
        }
    }
}
