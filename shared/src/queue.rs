//! SQS adapter for the two FIFO queues: inbound (webhook/scheduler → dispatcher) and reply
//! (agent → reply function). One message group per conversation keeps each conversation in order.

use aws_sdk_sqs::Client;
pub use aws_sdk_sqs::Client as SqsClient;
use serde::Serialize;

use crate::aws::describe_sdk_error;
use crate::envelope::{InboundEnvelope, ReplyEnvelope};
use crate::ids::short_digest;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS SendMessage to {queue} failed: {detail}")]
    Send { queue: String, detail: String },
    #[error("could not encode the message: {0}")]
    Encode(String),
}

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

    pub async fn send_inbound(&self, envelope: &InboundEnvelope) -> Result<String, QueueError> {
        // One id per stored message: a scheduled firing's message id names the task and the
        // firing's time, so two firings never share one (whatever their text).
        let item = envelope.item();
        let c = &item.conversation;
        let dedup = short_digest(&[c.bot_id.as_str(), c.channel.as_str(), item.message.message_id.as_str()]);
        self.send_json(envelope, &c.message_group_id(), &dedup).await
    }

    pub async fn send_reply(&self, reply: &ReplyEnvelope) -> Result<String, QueueError> {
        let c = &reply.conversation;
        let dedup =
            short_digest(&[c.bot_id.as_str(), c.channel.as_str(), c.conversation_id.as_str(), &reply.reply_id()]);
        self.send_json(reply, &c.message_group_id(), &dedup).await
    }
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}
