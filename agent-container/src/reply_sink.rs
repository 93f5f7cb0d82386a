//! Where answers go: the reply FIFO queue in production, memory in tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use clawless_shared::approvals::ApprovalNotice;
use clawless_shared::envelope::ReplyEnvelope;
use clawless_shared::queue::{FifoQueue, QueueError};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("reply sink unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ReplySink: Send + Sync + 'static {
    /// Delivers one reply; returns the sink's id for it (the SQS message id).
    async fn send(&self, reply: &ReplyEnvelope) -> Result<String, SinkError>;

    /// Asks the platform to tell the tenant's approver about a stored permission request. The
    /// agent never addresses the approver itself: the reply function loads who that is.
    async fn notify_approval(&self, _notice: &ApprovalNotice) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The reply FIFO queue (agent → reply function).
#[derive(Clone)]
pub struct SqsReplySink {
    queue: FifoQueue,
}

impl SqsReplySink {
    pub fn new(queue: FifoQueue) -> Self {
        Self { queue }
    }
}

#[async_trait]
impl ReplySink for SqsReplySink {
    async fn send(&self, reply: &ReplyEnvelope) -> Result<String, SinkError> {
        Ok(self.queue.send_reply(reply).await?)
    }

    async fn notify_approval(&self, notice: &ApprovalNotice) -> Result<(), SinkError> {
        self.queue.send_json(notice, &notice.group(), &notice.request_id).await?;
        Ok(())
    }
}

/// Keeps replies in memory, in the order they were sent. Can fail its first sends on purpose.
pub struct MemoryReplySink {
    replies: Mutex<Vec<ReplyEnvelope>>,
    failures_left: AtomicU32,
    attempts: AtomicU32,
    count: watch::Sender<usize>,
}

impl Default for MemoryReplySink {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplySink {
    pub fn new() -> Self {
        Self::failing_first(0)
    }

    /// A sink whose first `failures` sends fail.
    pub fn failing_first(failures: u32) -> Self {
        Self {
            replies: Mutex::new(Vec::new()),
            failures_left: AtomicU32::new(failures),
            attempts: AtomicU32::new(0),
            count: watch::Sender::new(0),
        }
    }

    pub fn replies(&self) -> Vec<ReplyEnvelope> {
        self.replies.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sends tried, failed ones included.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` replies arrived (or `timeout` passed); returns all replies so far.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReplyEnvelope> {
        let mut rx = self.count.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        self.replies()
    }
}

#[async_trait]
impl ReplySink for MemoryReplySink {
    async fn send(&self, reply: &ReplyEnvelope) -> Result<String, SinkError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let failing = self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if failing {
            return Err(SinkError::Unavailable("injected failure".into()));
        }
        let len = {
            let mut replies = self.replies.lock().unwrap_or_else(PoisonError::into_inner);
            replies.push(reply.clone());
            replies.len()
        };
        self.count.send_replace(len);
        Ok(format!("mem-{len}"))
    }
}
