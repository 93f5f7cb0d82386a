//! A run's signs of life on its channel, from the agent's progress reports
//! ([`crate::domain::progress`]): the typing indicator on every report; on the first, a
//! "working" reaction on the user's message where the channel has no typing indicator (Slack,
//! Feishu); once the run is long and has used a tool, one status message, edited in place at most
//! every [`STATUS_EDIT_GAP_MS`]. When the run ends (its final answer, or its run report), the
//! status message gets a closing line and the reaction comes off; the answer itself is a message
//! of its own after the status (so it notifies, carries its buttons and splits as any answer).
//!
//! None of this may cost an answer: a report shares its FIFO group with the run's answer, so each
//! channel call is bounded by [`LIVENESS_CALL_TIMEOUT`] and every failure is logged and dropped.
//! A report is never retried (a late typing indicator is noise): [`ReplyService::progress`]
//! returns no error.

use std::future::Future;

use super::*;
use crate::domain::envelope::AgentReport;
use crate::domain::ids::ConversationRef;
use crate::domain::model::{ReplyRoute, now_ms};
use crate::domain::progress::{RunProgress, RunStatus, STATUS_EDIT_GAP_MS};

/// Longest one typing action, reaction or status edit may take: the run's answer may be
/// waiting behind it in the FIFO group.
const LIVENESS_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// What became of a progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressOutcome {
    /// The typing indicator (and whatever else the run called for) was sent, as far as the
    /// channel took it.
    Shown,
    /// Nothing shown; the reason is logged (too old, the run has ended, no channel to show it on).
    Skipped(&'static str),
    /// Refused as a security violation (another conversation's token, a route out of it).
    Refused(&'static str),
}

impl ReplyService {
    /// Shows a run's progress report on its channel (see the module doc). Never fails: whatever
    /// goes wrong is logged, and the report is done with.
    pub async fn progress(&self, report: RunProgress) -> ProgressOutcome {
        let span = super::super::message_span(&report.conversation, report.in_reply_to.as_str(), None);
        self.progress_in_span(report).instrument(span).await
    }

    async fn progress_in_span(&self, p: RunProgress) -> ProgressOutcome {
        let c = &p.conversation;
        let skip = |why: &'static str| {
            tracing::info!(event = "progress_skipped", tenant_id = %c.tenant_id, bot_id = %c.bot_id, reason = why);
            ProgressOutcome::Skipped(why)
        };
        let key = match self.scope.get().await {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(event = "progress_failed", tenant_id = %c.tenant_id, error = %e);
                return skip("scope key unavailable");
            }
        };
        // The same checks as a reply's: only the conversation's own run shows anything, and only
        // in its own chat.
        if !key.verify(c, &p.scope) {
            security_violation(c, "progress", "scope token does not match the conversation");
            return ProgressOutcome::Refused("scope token does not match the conversation");
        }
        if !p.route.belongs_to(c) {
            security_violation(c, "progress", "route leads outside the conversation");
            return ProgressOutcome::Refused("route leads outside the conversation");
        }
        if !p.is_fresh(now_ms()) {
            return skip("too old");
        }
        let target = match self.target(c).await {
            Ok(Ok(target)) => target,
            Ok(Err(_)) => return skip("no channel to show it on"),
            Err(e) => {
                tracing::warn!(event = "progress_failed", tenant_id = %c.tenant_id, error = %e);
                return skip("bot or secrets unavailable");
            }
        };
        let stored = match self.statuses.run_status(c, p.in_reply_to_at_ms, p.in_reply_to.as_str()).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(event = "progress_failed", tenant_id = %c.tenant_id, error = %e);
                return skip("run status unavailable");
            }
        };
        let mut status = stored.unwrap_or_else(|| RunStatus::new(c, p.in_reply_to.as_str(), p.in_reply_to_at_ms));
        if status.closed {
            return skip("the run has ended");
        }
        let before = status.clone();
        let (channel, ctx) = (target.channel, self.send_context(&target, None));

        quietly(c, "typing", channel.typing(&ctx, &p.route)).await;
        if status.reaction.is_none() && status.version == 0 {
            let marked = quietly(c, "mark_working", channel.mark_working(&ctx, &p.route, p.in_reply_to_at_ms)).await;
            status.reaction = marked.flatten();
        }
        if p.wants_status() {
            let text = channel.neutralise(&p.status_text());
            let now = now_ms();
            match status.status_id.clone() {
                None => {
                    let posted = quietly(c, "post_status", channel.post_status(&ctx, &p.route, &text)).await;
                    if let Some(id) = posted.flatten().filter(|id| !id.is_empty()) {
                        (status.status_id, status.status_text, status.edited_at_ms) = (Some(id), Some(text), now);
                    }
                }
                Some(id)
                    if status.status_text.as_deref() != Some(text.as_str())
                        && now.saturating_sub(status.edited_at_ms) >= STATUS_EDIT_GAP_MS =>
                {
                    if quietly(c, "edit_status", channel.edit_status(&ctx, &p.route, &id, &text)).await.is_some() {
                        (status.status_text, status.edited_at_ms) = (Some(text), now);
                    }
                }
                Some(_) => {}
            }
        }
        // Stored only once there is something to take down or edit later.
        if status != before {
            status.version += 1;
            self.put_status(&status).await;
        }
        ProgressOutcome::Shown
    }

    /// Ends the run a final answer closes (`reply.run` set): see [`ReplyService::end_run`].
    pub(super) async fn end_run_of(&self, reply: &ReplyEnvelope, closing: &str) {
        if reply.run.is_some() {
            let c = &reply.conversation;
            self.end_run(c, reply.in_reply_to.as_str(), reply.in_reply_to_at_ms, Some(&reply.route), closing).await;
        }
    }

    /// Ends the run that a report the report flow has acted on closes (a run report: the run
    /// sent no final answer). Its token was checked there.
    pub async fn end_reported_run(&self, report: &AgentReport) {
        if let Some((c, in_reply_to, at_ms)) = report.ended_run() {
            self.end_run(c, in_reply_to.as_str(), at_ms, None, crate::domain::progress::STATUS_ENDED_TEXT).await;
        }
    }

    /// Takes down a run's signs of life: its status message gets `closing`, its reaction comes
    /// off, and its item is marked closed so a late report shows nothing. `route` is the run's
    /// (from its answer); without one, the conversation's standing route. Logged, never failed:
    /// the answer went out already.
    pub async fn end_run(
        &self,
        c: &ConversationRef,
        in_reply_to: &str,
        in_reply_to_at_ms: i64,
        route: Option<&ReplyRoute>,
        closing: &str,
    ) {
        let status = match self.statuses.run_status(c, in_reply_to_at_ms, in_reply_to).await {
            Ok(Some(status)) if !status.closed => status,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(event = "run_end_failed", tenant_id = %c.tenant_id, error = %e);
                return;
            }
        };
        let target = match self.target(c).await {
            Ok(Ok(target)) => Some(target),
            Ok(Err(_)) => None,
            Err(e) => {
                tracing::warn!(event = "run_end_failed", tenant_id = %c.tenant_id, error = %e);
                None
            }
        };
        if let Some(target) = &target {
            let channel = target.channel;
            let standing = channel.standing_route(&c.conversation_id).ok();
            if let Some(route) = route.or(standing.as_ref()) {
                let ctx = self.send_context(target, None);
                if let Some(id) = &status.status_id {
                    let text = channel.neutralise(closing);
                    quietly(c, "edit_status", channel.edit_status(&ctx, route, id, &text)).await;
                }
                if let Some(mark) = &status.reaction {
                    quietly(c, "unmark_working", channel.unmark_working(&ctx, route, mark)).await;
                }
            }
        }
        let closed = RunStatus { closed: true, version: status.version + 1, ..status };
        self.put_status(&closed).await;
    }

    async fn put_status(&self, status: &RunStatus) {
        let c = &status.conversation;
        match self.statuses.put_run_status(status).await {
            Ok(true) => {}
            // Another write came first (a redelivery's): it holds what it showed.
            Ok(false) => tracing::info!(event = "run_status_conflict", tenant_id = %c.tenant_id, bot_id = %c.bot_id),
            Err(e) => tracing::warn!(event = "run_status_failed", tenant_id = %c.tenant_id, error = %e),
        }
    }
}

/// Runs one channel call for a run's signs of life within [`LIVENESS_CALL_TIMEOUT`]; its result,
/// or `None` (logged) if it failed or took too long.
async fn quietly<T>(
    c: &ConversationRef,
    what: &'static str,
    call: impl Future<Output = Result<T, SendError>>,
) -> Option<T> {
    match tokio::time::timeout(LIVENESS_CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::warn!(event = "liveness_failed", tenant_id = %c.tenant_id, bot_id = %c.bot_id, what, error = %e);
            None
        }
        Err(_) => {
            tracing::warn!(event = "liveness_failed", tenant_id = %c.tenant_id, bot_id = %c.bot_id, what, error = "timed out");
            None
        }
    }
}
