//! SQS adapter for the two FIFO queues: inbound (webhook/scheduler → dispatcher) and reply
//! (agent → reply function). One message group per conversation keeps each conversation in order.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
pub use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clawless_core::ports::{InboundQueue, ReplyQueue};
use serde::Serialize;

use crate::sdk::describe_sdk_error;
use clawless_core::domain::envelope::{InboundEnvelope, ReplyEnvelope};

pub use clawless_core::ports::QueueError;

#[derive(Clone)]
pub struct FifoQueue {
    client: Client,
    url: String,
}

impl FifoQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `body` in `group`. The same `dedup_id` within SQS's 5-minute window is dropped by SQS.
    pub async fn send_json<T: Serialize>(&self, body: &T, group: &str, dedup_id: &str) -> Result<String, QueueError> {
        let body = serde_json::to_string(body).map_err(|e| QueueError::Encode(e.to_string()))?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(dedup_id)
            .send()
            .await
            .map_err(|e| QueueError::Send {
                queue: queue_name(&self.url).to_owned(),
                detail: describe_sdk_error(&e),
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}

/// SQS's limits on one `SendMessageBatch`: entries, and the bodies' bytes together.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

#[async_trait]
impl InboundQueue for FifoQueue {
    async fn send_inbound(&self, envelope: &InboundEnvelope) -> Result<String, QueueError> {
        self.send_json(envelope, &envelope.item().conversation.message_group_id(), &envelope.dedup_id()).await
    }

    async fn send_inbound_again(&self, envelope: &InboundEnvelope, attempt: &str) -> Result<String, QueueError> {
        let dedup = clawless_core::domain::ids::short_digest(&[&envelope.dedup_id(), attempt]);
        self.send_json(envelope, &envelope.item().conversation.message_group_id(), &dedup).await
    }

    /// One `SendMessage` for one message; several (a WhatsApp notification can carry a few) go in
    /// one `SendMessageBatch` while they fit SQS's batch limits. Entries keep their order, so the
    /// messages of one conversation stay in order in its group.
    async fn send_inbound_all(&self, envelopes: &[InboundEnvelope]) -> Result<(), QueueError> {
        match envelopes {
            [] => Ok(()),
            [one] => self.send_inbound(one).await.map(|_| ()),
            many => {
                let mut batch: Vec<SendMessageBatchRequestEntry> = Vec::new();
                let mut bytes = 0;
                for (i, envelope) in many.iter().enumerate() {
                    let body = serde_json::to_string(envelope).map_err(|e| QueueError::Encode(e.to_string()))?;
                    if batch.len() == BATCH_ENTRIES || (!batch.is_empty() && bytes + body.len() > BATCH_BYTES) {
                        self.send_batch(std::mem::take(&mut batch)).await?;
                        bytes = 0;
                    }
                    bytes += body.len();
                    let entry = SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(body)
                        .message_group_id(envelope.item().conversation.message_group_id())
                        .message_deduplication_id(envelope.dedup_id())
                        .build()
                        .map_err(|e| QueueError::Encode(e.to_string()))?;
                    batch.push(entry);
                }
                self.send_batch(batch).await
            }
        }
    }
}

impl FifoQueue {
    /// One `SendMessageBatch`: `Ok` only if SQS took every entry (a duplicate within the
    /// deduplication window counts as taken, as with `SendMessage`).
    async fn send_batch(&self, entries: Vec<SendMessageBatchRequestEntry>) -> Result<(), QueueError> {
        let out =
            self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await.map_err(
                |e| QueueError::Send { queue: queue_name(&self.url).to_owned(), detail: describe_sdk_error(&e) },
            )?;
        match out.failed() {
            [] => Ok(()),
            failed => Err(QueueError::Send {
                queue: queue_name(&self.url).to_owned(),
                detail: failed.iter().map(|f| format!("{}: {}", f.id(), f.code())).collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

#[async_trait]
impl ReplyQueue for FifoQueue {
    async fn send_reply(&self, reply: &ReplyEnvelope) -> Result<String, QueueError> {
        self.send_json(reply, &reply.conversation.message_group_id(), &reply.dedup_id()).await
    }
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}
