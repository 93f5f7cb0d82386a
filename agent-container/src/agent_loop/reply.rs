//! Getting a run's results to trusted code: its replies (with retries), and the run report that
//! carries token use and answered marks when no final answer does.

use std::time::Duration;

use clawless_core::domain::envelope::{AgentInvocation, AgentReport, ENVELOPE_VERSION, ReplyEnvelope, RunSummary};
use clawless_core::domain::ids::MessageId;
use clawless_core::domain::model::HistoryEntry;

use super::{AgentDeps, Outcome};
use crate::provider::TokenUsage;

/// How sending a reply is retried: `attempts` tries in all, waiting `first_delay` after the first
/// failure and doubling the wait after each further one (capped at `max_delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 5, first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// The run's summary for trusted code: its token use (every run counts, replied or not) and the
/// waiting messages to mark answered, except `replied` (the message whose answer went to the
/// reply queue: its reply line marks it). Runs that ended without a reply mark everything, so no
/// later run takes their messages up as lost work.
pub(super) fn run_summary(usage: TokenUsage, waiting: &[HistoryEntry], replied: Option<&str>) -> RunSummary {
    RunSummary {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        answered: waiting
            .iter()
            .filter(|w| Some(w.message_id.as_str()) != replied)
            .filter_map(|w| MessageId::parse(&w.message_id).ok().map(|id| (w.at_ms, id)))
            .collect(),
    }
}

/// Reports a run that sent no final answer (the final answer carries its summary otherwise).
pub(super) async fn report_run(deps: &AgentDeps, latest: &AgentInvocation, run: RunSummary) {
    let conversation = &latest.item.conversation;
    if run.answered.is_empty() && run.input_tokens == 0 && run.output_tokens == 0 {
        return;
    }
    let report = AgentReport::RunReport {
        v: ENVELOPE_VERSION,
        scope: latest.scope.clone(),
        conversation: conversation.clone(),
        in_reply_to: latest.item.message.message_id.clone(),
        run,
    };
    let attempts = deps.retry.attempts.max(1);
    for attempt in 1..=attempts {
        match deps.sink.report(&report).await {
            Ok(_) => return,
            Err(e) if attempt < attempts => {
                tracing::warn!(event = "run_report_retry", attempt, error = %e);
                tokio::time::sleep(deps.retry.delay_after(attempt)).await;
            }
            Err(e) => {
                tracing::warn!(event = "run_report_failed", error = %e, "token use and answered marks not reported (a recycled session may answer the messages again)");
            }
        }
    }
}

/// Puts one reply on the sink, with retries; `run` on the run's final answer.
pub(super) async fn send_reply(
    deps: &AgentDeps,
    latest: &AgentInvocation,
    seq: u32,
    text: String,
    run: Option<RunSummary>,
    files: Vec<clawless_core::domain::media::OutgoingFile>,
) -> Outcome {
    let message = &latest.item.message;
    let reply = ReplyEnvelope {
        files,
        v: ENVELOPE_VERSION,
        conversation: latest.item.conversation.clone(),
        in_reply_to: message.message_id.clone(),
        in_reply_to_at_ms: message.sent_at_ms,
        seq,
        text,
        route: message.route.clone(),
        buttons: Vec::new(),
        scope: latest.scope.clone(),
        run,
        trace_id: latest.trace_id.clone(),
    };
    let attempts = deps.retry.attempts.max(1);
    for attempt in 1..=attempts {
        match deps.sink.send(&reply).await {
            Ok(sink_id) => {
                tracing::info!(event = "reply_enqueued", reply_id = %reply.reply_id(), sink_id = %sink_id, attempts = attempt, "reply enqueued");
                return Outcome::Replied { sink_id, attempts: attempt };
            }
            Err(e) if attempt < attempts => {
                let delay = deps.retry.delay_after(attempt);
                tracing::warn!(event = "reply_retry", attempt, delay_ms = delay.as_millis() as u64, error = %e, "sending the reply failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                tracing::error!(event = "reply_failed", attempts, error = %e, "the reply could not be enqueued; giving up");
            }
        }
    }
    Outcome::ReplyFailed
}
