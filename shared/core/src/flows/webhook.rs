//! The webhook path, for every channel: verify on the raw bytes, parse, then one AWS call, then
//! answer. Nothing slow happens here, so every channel gets its answer within its deadline.
//!
//! A message the bot must answer is only enqueued, under its delivery id as the FIFO
//! deduplication id ([`InboundEnvelope::dedup_id`]); the dispatcher stores it when it hands it to
//! an agent, and skips it if that delivery id was stored before (a redelivery after SQS's 5-minute
//! window). A group message kept only as context is only stored (one conditional put; a
//! redelivery finds it there). Nothing is answered 200 before that call succeeded: a failure
//! answers 500 so the channel retries, and a retry is safe on both paths.

use std::sync::Arc;

use serde_json::json;
use tracing::Instrument;

use crate::access::{GroupPolicy, prefilter};
use crate::channels;

use crate::channels::{HttpAnswer, Inbound, ParseError, VerifyError, WebhookInput};
use crate::domain::envelope::{ENVELOPE_VERSION, InboundEnvelope};
use crate::domain::ids::{BotId, ConversationRef};
use crate::domain::model::{BotStatus, ChannelKind, ConversationMessage};
use crate::domain::records::{BotRecord, StoreOutcome};
use crate::flows::directory::BotDirectory;
use crate::ports::{ConversationRepo, InboundQueue};

/// Largest webhook body we accept. Channel events are a few KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A webhook request as the HTTP adapter hands it over: raw body bytes, exactly as received.
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    pub channel: &'a str,
    pub bot_id: &'a str,
    pub headers: &'a http::HeaderMap,
    pub query: &'a str,
    pub body: &'a [u8],
}

fn error(status: u16, message: impl Into<String>) -> HttpAnswer {
    HttpAnswer::json(status, &json!({ "error": message.into() }))
}

fn retry_later() -> HttpAnswer {
    error(500, "temporary failure, retry later")
}

pub struct WebhookService {
    directory: BotDirectory,
    conversations: Arc<dyn ConversationRepo>,
    inbound: Arc<dyn InboundQueue>,
}

impl WebhookService {
    pub fn new(
        directory: BotDirectory,
        conversations: Arc<dyn ConversationRepo>,
        inbound: Arc<dyn InboundQueue>,
    ) -> Self {
        Self { directory, conversations, inbound }
    }

    pub async fn handle(&self, req: WebhookRequest<'_>) -> HttpAnswer {
        if req.body.len() > MAX_BODY_BYTES {
            return error(413, format!("body is larger than {MAX_BODY_BYTES} bytes"));
        }
        let Ok(kind) = req.channel.parse::<ChannelKind>() else { return error(404, "unknown channel") };
        let Some(channel) = channels::channel(kind) else {
            return error(404, format!("channel {kind} is not supported yet"));
        };
        let Ok(bot_id) = BotId::parse(req.bot_id) else { return error(404, "unknown bot") };

        let record = match self.directory.bot(&bot_id).await {
            Ok(Some(record)) => record,
            Ok(None) => return error(404, "unknown bot"),
            Err(e) => {
                tracing::error!(bot_id = %bot_id, error = %e, "could not load the bot");
                return retry_later();
            }
        };
        let secrets = match record.channel(kind) {
            Some(binding) => match self.directory.channel_secrets(binding).await {
                Ok(secrets) => secrets,
                Err(e) => {
                    tracing::error!(bot_id = %bot_id, error = %e, "could not load the channel secrets");
                    return retry_later();
                }
            },
            None => None,
        };
        let Some(secrets) = secrets else {
            tracing::warn!(bot_id = %bot_id, channel = %kind, event = "webhook_rejected", "channel not configured; refusing");
            return error(401, "unauthorized");
        };

        let now_secs = crate::domain::model::now_ms() / 1000;
        let input =
            WebhookInput { method: req.method, headers: req.headers, query: req.query, body: req.body, now_secs };
        if let Err(e) = channel.verify(&secrets, &input) {
            log_rejected(&bot_id, kind, &e);
            return error(401, "unauthorized");
        }
        let (messages, ack) = match channel.parse(&secrets, &input) {
            Ok(Inbound::Answer(answer)) => return answer,
            Ok(Inbound::Deliveries { messages, ack }) => (messages, ack),
            Err(ParseError::Unauthorized(e)) => {
                log_rejected(&bot_id, kind, &e);
                return error(401, "unauthorized");
            }
            Err(e) => return error(400, e.to_string()),
        };
        // Verified but the bot is off: nothing runs, yet nothing is lost either (kept as history,
        // acknowledged so the channel does not retry).
        let disabled = record.bot.status != BotStatus::Active;
        let mut queued = Vec::new();
        for parsed in messages {
            let access = &record.bot.access;
            // Under `groups open` every group message is answered.
            let triggers = parsed.message.is_direct
                || parsed.mentions_bot
                || access.groups == GroupPolicy::Open
                || record.trigger.as_ref().is_some_and(|t| t.matches(&parsed.message.text));
            // The tenant comes from the bot record, never from the request.
            let item = ConversationMessage {
                conversation: ConversationRef {
                    tenant_id: record.bot.tenant_id.clone(),
                    bot_id: bot_id.clone(),
                    channel: kind,
                    conversation_id: parsed.conversation_id,
                },
                message: parsed.message,
            };
            // What the cached record already refuses is neither stored nor queued; the
            // dispatcher decides the rest with fresh reads.
            if let Some(reason) = prefilter(access, &item) {
                crate::access::gate::refused(&item, reason);
                continue;
            }
            if triggers && !disabled {
                queued.push(InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item });
            } else if let Err(answer) = self.keep_as_context(&record, item).await {
                return answer;
            }
        }
        if let Err(answer) = self.enqueue(&record, &queued).await {
            return answer;
        }
        ack
    }

    /// Stores a message the bot does not answer, as history for later runs: one conditional put.
    async fn keep_as_context(&self, record: &BotRecord, item: ConversationMessage) -> Result<(), HttpAnswer> {
        let span = super::message_span(&item.conversation, item.message.message_id.as_str(), None);
        async {
            let bot_id = &record.bot.bot_id;
            let stored = self.conversations.store_inbound(&item).await.map_err(|e| {
                tracing::error!(bot_id = %bot_id, error = %e, "could not store the message");
                retry_later()
            })?;
            let duplicate = !matches!(stored, StoreOutcome::Stored);
            if !duplicate {
                crate::observe::metrics::count(
                    crate::observe::metrics::Metric::MessagesIn,
                    &item.conversation.tenant_id,
                );
            }
            log_accepted(&item, false, Some(duplicate));
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Queues the messages the bot answers (one call for all of a request's, normally one). Not
    /// stored here: the dispatcher stores each as it hands it to an agent, which is also where a
    /// redelivery past SQS's deduplication window is recognised. Whether a message is new is not
    /// known here, so `MessagesIn` is counted by the dispatcher.
    async fn enqueue(&self, record: &BotRecord, queued: &[InboundEnvelope]) -> Result<(), HttpAnswer> {
        if queued.is_empty() {
            return Ok(());
        }
        self.inbound.send_inbound_all(queued).await.map_err(|e| {
            tracing::error!(bot_id = %record.bot.bot_id, error = %e, messages = queued.len(), "could not enqueue");
            retry_later()
        })?;
        for envelope in queued {
            let item = envelope.item();
            let _span = super::message_span(&item.conversation, item.message.message_id.as_str(), None).entered();
            log_accepted(item, true, None);
        }
        Ok(())
    }
}

/// `duplicate`: for a stored context line, whether it was there already (unknown for a queued one).
fn log_accepted(item: &ConversationMessage, queued: bool, duplicate: Option<bool>) {
    tracing::info!(
        event = "webhook_accepted",
        tenant_id = %item.conversation.tenant_id,
        bot_id = %item.conversation.bot_id,
        channel = %item.conversation.channel,
        message_id = %item.message.message_id,
        duplicate,
        queued,
    );
}

fn log_rejected(bot_id: &BotId, channel: ChannelKind, reason: &VerifyError) {
    tracing::warn!(bot_id = %bot_id, %channel, event = "webhook_rejected", reason = %reason, "verification failed");
}

#[cfg(test)]
mod tests;
