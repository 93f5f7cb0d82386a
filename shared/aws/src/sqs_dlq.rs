//! Dead-letter queues, for operators: how many messages wait, a look at some of them without
//! taking them (received, then made visible again at once), and moving them back to their source
//! FIFO queue.
//!
//! The move is done by hand (receive, send, delete) rather than with SQS's `StartMessageMoveTask`:
//! moto, the emulator the local run and the tests use, does not implement that action, and done by
//! hand the same code runs locally and on AWS. Each message goes back in its own message group, with
//! a deduplication id derived from its message id, and is deleted from the DLQ only once it was
//! sent: a second run, or one that stopped between the send and the delete, sends the same id
//! again, which SQS drops within its 5-minute deduplication window; after that the platform's own
//! idempotency (stored message ids, reply lines) still answers once.

use std::collections::{HashMap, HashSet};
use std::fmt;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName,
};

use crate::sdk::describe_sdk_error;

/// How long a peeked message would stay hidden if it were not made visible again (a peek that
/// dies half-way gives its messages back after this).
const PEEK_VISIBILITY_SECS: i32 = 30;
/// How long a message being moved stays hidden: enough for one send and one delete.
const MOVE_VISIBILITY_SECS: i32 = 60;
/// Long polling, so an empty answer means an empty queue rather than a sampled subset of it.
const WAIT_SECS: i32 = 1;
/// The most messages one receive returns.
const BATCH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("queue {queue} does not exist (is the stack deployed, and is --stack right?)")]
    NotFound { queue: String },
    #[error("{action} on queue {queue} failed: {detail}")]
    Sqs { queue: String, action: &'static str, detail: String },
}

/// A queue the operator names by its name (the stack's names, as template.yaml sets them).
#[derive(Clone)]
pub struct NamedQueue {
    client: Client,
    name: String,
    url: String,
}

/// Approximate message counts, as SQS reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
}

/// A message as a DLQ holds it. Its body is kept out of `Debug`: it may carry a person's text or
/// a scope token.
pub struct DeadMessage {
    pub message_id: String,
    /// `MessageGroupId` (FIFO queues only).
    pub group_id: Option<String>,
    /// When it was first sent, to the source queue (`SentTimestamp`), in Unix milliseconds.
    pub sent_at_ms: Option<i64>,
    /// `ApproximateReceiveCount`: the failed attempts, and every peek since.
    pub receive_count: Option<u32>,
    body: String,
    receipt_handle: String,
    attributes: Option<HashMap<String, MessageAttributeValue>>,
}

impl DeadMessage {
    pub fn body(&self) -> &str {
        &self.body
    }

    fn from_sdk(m: Message) -> Self {
        let system = m.attributes.unwrap_or_default();
        let get = |name: MessageSystemAttributeName| system.get(&name).cloned();
        Self {
            message_id: m.message_id.unwrap_or_default(),
            group_id: get(MessageSystemAttributeName::MessageGroupId),
            sent_at_ms: get(MessageSystemAttributeName::SentTimestamp).and_then(|v| v.parse().ok()),
            receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount).and_then(|v| v.parse().ok()),
            body: m.body.unwrap_or_default(),
            receipt_handle: m.receipt_handle.unwrap_or_default(),
            attributes: m.message_attributes.filter(|a| !a.is_empty()),
        }
    }
}

impl fmt::Debug for DeadMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadMessage")
            .field("message_id", &self.message_id)
            .field("group_id", &self.group_id)
            .field("sent_at_ms", &self.sent_at_ms)
            .field("receive_count", &self.receive_count)
            .finish_non_exhaustive()
    }
}

/// What became of one message in a redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Sent to the source queue and deleted from the DLQ.
    Moved,
    /// Not sent; it stays in the DLQ.
    NotSent(String),
    /// Sent, but still in the DLQ: a second redrive sends it again under the same deduplication id.
    NotDeleted(String),
    /// Left in the DLQ because an earlier message of its group was not sent, so it cannot overtake it.
    HeldBack,
}

impl MoveOutcome {
    pub fn is_moved(&self) -> bool {
        *self == MoveOutcome::Moved
    }
}

/// The deduplication id a message is sent back under: the same for every redrive of the same DLQ
/// message, and never the id it had (that one may still be in the source queue's window).
pub fn redrive_dedup_id(message_id: &str) -> String {
    clawless_core::domain::ids::short_digest(&["clawless-redrive", message_id])
}

impl NamedQueue {
    /// The queue called `name`, or [`DlqError::NotFound`].
    pub async fn resolve(client: &Client, name: &str) -> Result<Self, DlqError> {
        match client.get_queue_url().queue_name(name).send().await {
            Ok(out) => {
                Ok(Self { client: client.clone(), name: name.to_owned(), url: out.queue_url.unwrap_or_default() })
            }
            Err(e) => {
                let detail = describe_sdk_error(&e);
                let missing = e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist())
                    || detail.contains("NonExistentQueue")
                    || detail.contains("QueueDoesNotExist");
                if missing {
                    Err(DlqError::NotFound { queue: name.to_owned() })
                } else {
                    Err(DlqError::Sqs { queue: name.to_owned(), action: "GetQueueUrl", detail })
                }
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, action: &'static str, detail: String) -> DlqError {
        DlqError::Sqs { queue: self.name.clone(), action, detail }
    }

    pub async fn depth(&self) -> Result<Depth, DlqError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| self.err("GetQueueAttributes", describe_sdk_error(&e)))?;
        let attributes = out.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Depth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }

    async fn receive(&self, max: usize, visibility_secs: i32) -> Result<Vec<DeadMessage>, DlqError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .visibility_timeout(visibility_secs)
            .wait_time_seconds(WAIT_SECS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| self.err("ReceiveMessage", describe_sdk_error(&e)))?;
        Ok(out.messages.unwrap_or_default().into_iter().map(DeadMessage::from_sdk).collect())
    }

    /// Makes `messages` visible again at once. A failure is only logged: they come back by
    /// themselves when their visibility timeout ends.
    async fn release<'a>(&self, messages: impl IntoIterator<Item = &'a DeadMessage>) {
        let messages: Vec<&DeadMessage> = messages.into_iter().collect();
        for chunk in messages.chunks(BATCH) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(&m.receipt_handle)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await;
            let failed = match out {
                Ok(out) => out.failed.len(),
                Err(e) => {
                    tracing::warn!(queue = %self.name, error = %describe_sdk_error(&e), "could not make peeked messages visible again");
                    chunk.len()
                }
            };
            if failed > 0 {
                tracing::warn!(queue = %self.name, failed, seconds = PEEK_VISIBILITY_SECS, "peeked messages come back after their visibility timeout");
            }
        }
    }

    /// Up to `limit` messages, oldest first as SQS hands them out, left in the queue. Each peek
    /// counts as a receive (`ApproximateReceiveCount` goes up). In a FIFO queue a group's messages
    /// beyond one receive's batch stay hidden while the first ones are held, so a peek may show
    /// fewer than the queue has.
    pub async fn peek(&self, limit: usize) -> Result<Vec<DeadMessage>, DlqError> {
        let mut seen: Vec<DeadMessage> = Vec::new();
        while seen.len() < limit {
            match self.receive(limit - seen.len(), PEEK_VISIBILITY_SECS).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => seen.extend(batch),
                Err(e) => {
                    self.release(&seen).await;
                    return Err(e);
                }
            }
        }
        self.release(&seen).await;
        Ok(seen)
    }

    /// Moves every message of this DLQ to `source`, in the order SQS hands them out: sent with its
    /// group and body (and message attributes) under [`redrive_dedup_id`], then deleted here.
    /// A message that could not be sent holds back the rest of its group (they stay here, visible
    /// again when the run ends, and a later run moves them in order). Each message is tried once
    /// per run.
    pub async fn redrive_to(&self, source: &NamedQueue) -> Result<Vec<(DeadMessage, MoveOutcome)>, DlqError> {
        let mut done: Vec<(DeadMessage, MoveOutcome)> = Vec::new();
        // Message ids met in this run (taken, or sent to the source): one that shows up again
        // has come back (failed again, or hidden for longer than this run took) and is left alone.
        let mut met: HashSet<String> = HashSet::new();
        let mut held_groups: HashSet<String> = HashSet::new();
        // Messages met again: kept hidden until the end, so the run goes on to the ones behind.
        let mut returned: Vec<DeadMessage> = Vec::new();
        loop {
            let batch = match self.receive(BATCH, MOVE_VISIBILITY_SECS).await {
                Ok(batch) => batch,
                // What was moved is reported; the rest stays for the next run.
                Err(e) if !done.is_empty() => {
                    tracing::warn!(queue = %self.name, error = %e, "redrive stopped early");
                    break;
                }
                Err(e) => return Err(e),
            };
            let only_met = batch.iter().all(|m| met.contains(&m.message_id));
            for message in batch {
                if !met.insert(message.message_id.clone()) {
                    returned.push(message);
                    continue;
                }
                let outcome = match &message.group_id {
                    Some(group) if held_groups.contains(group) => MoveOutcome::HeldBack,
                    Some(group) => self.move_one(&message, group, source, &mut met).await,
                    None => MoveOutcome::NotSent("no MessageGroupId (not a FIFO dead-letter queue)".into()),
                };
                if let (MoveOutcome::NotSent(_), Some(group)) = (&outcome, &message.group_id) {
                    held_groups.insert(group.clone());
                }
                done.push((message, outcome));
            }
            if only_met {
                break;
            }
        }
        // What stays in the DLQ is visible again at once for the next run (by its latest receipt).
        let again: HashSet<&str> = returned.iter().map(|m| m.message_id.as_str()).collect();
        let stays = done.iter().filter(|(m, o)| !o.is_moved() && !again.contains(m.message_id.as_str()));
        self.release(returned.iter().chain(stays.map(|(m, _)| m))).await;
        Ok(done)
    }

    async fn move_one(
        &self,
        message: &DeadMessage,
        group: &str,
        source: &NamedQueue,
        met: &mut HashSet<String>,
    ) -> MoveOutcome {
        let sent = source
            .client
            .send_message()
            .queue_url(&source.url)
            .message_body(&message.body)
            .message_group_id(group)
            .message_deduplication_id(redrive_dedup_id(&message.message_id))
            .set_message_attributes(message.attributes.clone())
            .send()
            .await;
        match sent {
            Ok(out) => {
                if let Some(id) = out.message_id {
                    met.insert(id);
                }
            }
            Err(e) => {
                return MoveOutcome::NotSent(format!("SendMessage to {}: {}", source.name, describe_sdk_error(&e)));
            }
        }
        match self.client.delete_message().queue_url(&self.url).receipt_handle(&message.receipt_handle).send().await {
            Ok(_) => MoveOutcome::Moved,
            Err(e) => MoveOutcome::NotDeleted(format!("DeleteMessage: {}", describe_sdk_error(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dedup_id_is_stable_and_new() {
        let id = redrive_dedup_id("8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d");
        assert_eq!(id, redrive_dedup_id("8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d"));
        assert_ne!(id, redrive_dedup_id("8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5e"));
        assert_ne!(id, "8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d");
        assert!(id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn debug_leaves_the_body_out() {
        let message = DeadMessage {
            message_id: "m1".into(),
            group_id: Some("g".into()),
            sent_at_ms: Some(1),
            receive_count: Some(5),
            body: "{\"text\":\"private words\",\"scope\":\"v1.token\"}".into(),
            receipt_handle: "r".into(),
            attributes: None,
        };
        let shown = format!("{message:?}");
        assert!(!shown.contains("private") && !shown.contains("token") && shown.contains("m1"), "{shown}");
    }
}
