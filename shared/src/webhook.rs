//! The webhook path: verify, store, enqueue, answer. Nothing slow happens here, so every channel
//! gets its answer within its deadline.

use serde_json::{Value, json};

use crate::channels::{VerifyError, telegram};
use crate::directory::BotDirectory;
use crate::envelope::{ENVELOPE_VERSION, InboundEnvelope};
use crate::ids::{BotId, ConversationRef};
use crate::model::{BotStatus, ChannelKind, ConversationMessage};
use crate::queue::FifoQueue;
use crate::store::StoreOutcome;

/// Largest webhook body we accept. Telegram updates are a few KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A webhook request as the HTTP adapter hands it over: raw body bytes, exactly as received.
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    pub channel: &'a str,
    pub bot_id: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: Value,
}

impl WebhookResponse {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }
    fn error(status: u16, message: impl Into<String>) -> Self {
        Self { status, body: json!({ "error": message.into() }) }
    }
}

pub struct WebhookService {
    directory: BotDirectory,
    inbound: FifoQueue,
}

impl WebhookService {
    pub fn new(directory: BotDirectory, inbound: FifoQueue) -> Self {
        Self { directory, inbound }
    }

    pub async fn handle(&self, req: WebhookRequest<'_>) -> WebhookResponse {
        if req.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::error(413, format!("body is larger than {MAX_BODY_BYTES} bytes"));
        }
        let Ok(channel) = req.channel.parse::<ChannelKind>() else {
            return WebhookResponse::error(404, "unknown channel");
        };
        if channel != ChannelKind::Telegram {
            return WebhookResponse::error(404, format!("channel {channel} is not supported yet"));
        }
        if req.method != "POST" {
            return WebhookResponse::error(405, "use POST");
        }
        let Ok(bot_id) = BotId::parse(req.bot_id) else {
            return WebhookResponse::error(404, "unknown bot");
        };

        let record = match self.directory.bot(&bot_id).await {
            Ok(Some(record)) => record,
            Ok(None) => return WebhookResponse::error(404, "unknown bot"),
            Err(e) => {
                tracing::error!(bot_id = %bot_id, error = %e, "could not load the bot");
                return WebhookResponse::error(500, "temporary failure, retry later");
            }
        };
        let secrets = match record.channel(channel) {
            Some(binding) => match self.directory.channel_secrets(binding).await {
                Ok(secrets) => secrets,
                Err(e) => {
                    tracing::error!(bot_id = %bot_id, error = %e, "could not load the channel secrets");
                    return WebhookResponse::error(500, "temporary failure, retry later");
                }
            },
            None => None,
        };

        let presented = req.headers.get(telegram::SECRET_HEADER).map(|v| v.as_bytes());
        if let Err(e) = telegram::verify(secrets.as_deref(), presented) {
            if matches!(e, VerifyError::NotConfigured(_)) {
                tracing::warn!(bot_id = %bot_id, %channel, event = "webhook_rejected", "channel secret not configured; refusing");
            } else {
                tracing::warn!(bot_id = %bot_id, %channel, event = "webhook_rejected", reason = %e, "verification failed");
            }
            return WebhookResponse::error(401, "unauthorized");
        }

        if record.bot.status != BotStatus::Active {
            // Verified but the bot is off: acknowledge so the channel does not retry.
            return WebhookResponse::ok(json!({ "ignored": "bot is disabled" }));
        }

        let (conversation_id, message) = match telegram::parse_update(req.body) {
            Ok(telegram::ParsedUpdate::Message { conversation_id, message }) => (conversation_id, message),
            Ok(telegram::ParsedUpdate::Ignored { why, .. }) => return WebhookResponse::ok(json!({ "ignored": why })),
            Err(e) => return WebhookResponse::error(400, e.to_string()),
        };

        // The tenant comes from the bot record, never from the request.
        let item = ConversationMessage {
            conversation: ConversationRef {
                tenant_id: record.bot.tenant_id.clone(),
                bot_id: bot_id.clone(),
                channel,
                conversation_id,
            },
            message,
        };
        let stored = match self.directory.store().store_inbound(&item).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(bot_id = %bot_id, error = %e, "could not store the message");
                return WebhookResponse::error(500, "temporary failure, retry later");
            }
        };
        // A duplicate is enqueued again: if the first attempt stored but failed to enqueue, this
        // finishes it; if it did enqueue, SQS deduplication or the dispatcher drops the copy.
        let envelope = InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item };
        if let Err(e) = self.inbound.send_inbound(&envelope).await {
            tracing::error!(bot_id = %bot_id, error = %e, "could not enqueue the message");
            return WebhookResponse::error(500, "temporary failure, retry later");
        }
        let InboundEnvelope::ChannelMessage { item, .. } = &envelope;
        tracing::info!(
            event = "webhook_accepted",
            tenant_id = %item.conversation.tenant_id,
            bot_id = %bot_id,
            %channel,
            message_id = %item.message.message_id,
            duplicate = stored == StoreOutcome::Duplicate,
        );
        WebhookResponse::ok(json!({ "ok": true }))
    }
}
