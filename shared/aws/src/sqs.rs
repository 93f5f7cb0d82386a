//! SQS adapter for the two FIFO queues: inbound (webhook/scheduler → dispatcher) and reply
//! (agent → reply function). One message group per conversation keeps each conversation in order.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
pub use aws_sdk_sqs::Client as SqsClient;
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

#[async_trait]
impl InboundQueue for FifoQueue {
    async fn send_inbound(&self, envelope: &InboundEnvelope) -> Result<String, QueueError> {
        self.send_json(envelope, &envelope.item().conversation.message_group_id(), &envelope.dedup_id()).await
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
