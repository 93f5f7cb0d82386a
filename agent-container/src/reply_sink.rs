//! Where answers and reports go: the reply FIFO queue in production (sent with the credentials
//! the dispatcher handed the run; the microVM's own role cannot send), memory in tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use clawless_aws::sqs::FifoQueue;
use clawless_core::domain::envelope::{AgentReport, ReplyEnvelope, RunSummary};
use clawless_core::domain::ids::short_digest;
use clawless_core::ports::{QueueError, ReplyQueue};
use tokio::sync::watch;

use crate::services::aws::HandedCredentials;

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

    /// Hands trusted code a report (a permission request, the end of a run): in the same FIFO
    /// group as the conversation's replies, so it arrives after them.
    async fn report(&self, report: &AgentReport) -> Result<String, SinkError>;
}

/// The queue's deduplication id of a report: one per request, one per run, one per progress
/// report of a run.
pub fn report_dedup_id(report: &AgentReport) -> String {
    let (c, _) = report.claim();
    match report {
        AgentReport::PermissionRequest { request, .. } => short_digest(&["request", &request.request_id]),
        AgentReport::RunReport { in_reply_to, .. } => short_digest(&["run", &c.partition_key(), in_reply_to.as_str()]),
        AgentReport::Progress(p) => {
            short_digest(&["progress", &c.partition_key(), p.in_reply_to.as_str(), &p.seq.to_string()])
        }
    }
}

/// The reply FIFO queue (agent → reply function), with the run's handed credentials.
#[derive(Clone)]
pub struct SqsReplySink {
    handed: Arc<HandedCredentials>,
    queue_url: String,
}

impl SqsReplySink {
    pub fn new(handed: Arc<HandedCredentials>, queue_url: impl Into<String>) -> Self {
        Self { handed, queue_url: queue_url.into() }
    }

    fn queue(&self, conversation: &clawless_core::domain::ids::ConversationRef) -> Result<FifoQueue, SinkError> {
        let (sdk, _) =
            self.handed.config(&conversation.tenant_id).map_err(|e| SinkError::Unavailable(e.to_string()))?;
        Ok(FifoQueue::new(aws_sdk_sqs::Client::new(&sdk), self.queue_url.clone()))
    }
}

#[async_trait]
impl ReplySink for SqsReplySink {
    async fn send(&self, reply: &ReplyEnvelope) -> Result<String, SinkError> {
        Ok(self.queue(&reply.conversation)?.send_reply(reply).await?)
    }

    async fn report(&self, report: &AgentReport) -> Result<String, SinkError> {
        let (c, _) = report.claim();
        Ok(self.queue(c)?.send_json(report, &c.message_group_id(), &report_dedup_id(report)).await?)
    }
}

/// Keeps replies in memory, in the order they were sent. Can fail its first sends on purpose.
pub struct MemoryReplySink {
    replies: Mutex<Vec<ReplyEnvelope>>,
    reports: Mutex<Vec<AgentReport>>,
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
            reports: Mutex::new(Vec::new()),
            failures_left: AtomicU32::new(failures),
            attempts: AtomicU32::new(0),
            count: watch::Sender::new(0),
        }
    }

    pub fn replies(&self) -> Vec<ReplyEnvelope> {
        self.replies.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn reports(&self) -> Vec<AgentReport> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The progress reports so far.
    pub fn progress(&self) -> Vec<clawless_core::domain::progress::RunProgress> {
        self.reports()
            .into_iter()
            .filter_map(|r| match r {
                AgentReport::Progress(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// The permission requests reported so far.
    pub fn requests(&self) -> Vec<clawless_core::domain::permissions::PermissionRequest> {
        self.reports()
            .into_iter()
            .filter_map(|r| match r {
                AgentReport::PermissionRequest { request, .. } => Some(*request),
                AgentReport::RunReport { .. } | AgentReport::Progress(_) => None,
            })
            .collect()
    }

    /// The run summaries so far: on final answers and in run reports.
    fn runs(&self) -> Vec<RunSummary> {
        let on_replies = self.replies().into_iter().filter_map(|r| r.run);
        let in_reports = self.reports().into_iter().filter_map(|r| match r {
            AgentReport::RunReport { run, .. } => Some(run),
            AgentReport::PermissionRequest { .. } | AgentReport::Progress(_) => None,
        });
        on_replies.chain(in_reports).collect()
    }

    /// Token use reported so far: (input, output).
    pub fn usage(&self) -> (u64, u64) {
        self.runs().iter().fold((0, 0), |(i, o), r| (i + r.input_tokens, o + r.output_tokens))
    }

    /// Messages reported answered so far: (sent_at_ms, message id).
    pub fn answered(&self) -> Vec<(i64, String)> {
        self.runs()
            .iter()
            .flat_map(|r| r.answered.iter().map(|(at, id)| (*at, id.to_string())).collect::<Vec<_>>())
            .collect()
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

    async fn report(&self, report: &AgentReport) -> Result<String, SinkError> {
        let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports.push(report.clone());
        Ok(format!("report-{}", reports.len()))
    }
}
