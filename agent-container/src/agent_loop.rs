//! One run of the agent: the model, the tools it calls, and the answer, for the messages a
//! conversation has waiting.
//!
//! Enforcement happens here, in code, twice: the model is offered only the tools the profile
//! allows ([`ToolBox::offered`]), and every call is checked again ([`PermissionProfile::decide`])
//! before it runs. A call outside the profile is not run: a permission request goes to trusted
//! code (the reply function stores it and tells the approver) and the model is told the tool
//! needs approval. Always-blocked tools never run.
//!
//! The run works with what its invocation carried: the credentials the dispatcher vended for
//! this tenant and bot, the conversation's scope token (attached to every reply and report), and
//! at most one approve-once grant. Token use and answered marks go out in one run report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clawless_shared::approvals::{Grant, RESUME_SUFFIX};
use clawless_shared::envelope::{AgentInvocation, AgentReport, ENVELOPE_VERSION, OnceGrant, ReplyEnvelope, RunSummary};
use clawless_shared::ids::{ConversationRef, MessageId, RuntimeSessionId};
use clawless_shared::model::{HistoryEntry, Role, now_ms};
use clawless_shared::permissions::{
    ALWAYS_BLOCKED, PermissionProfile, PermissionRequest, REQUEST_TTL_MS, ToolDecision, UserRef,
};
use clawless_shared::safety;
use serde_json::Value;

use crate::memory::{MemoryLayer, PROMPT_LAYER_CHARS, head_tail};
use crate::prompt::{PromptContext, system_prompt};
use crate::provider::{Block, ChatMessage, ChatRole, ModelRequest, ModelResponse, Providers, TokenUsage, push_message};
use crate::reply_sink::ReplySink;
use crate::services::TenantServices;
use crate::tools::{ToolBox, ToolContext, ToolError, truncate_input, truncate_output, web::WebSettings};

/// Bounds on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Model calls per run.
    pub max_turns: u32,
    /// Input plus output tokens per run.
    pub max_tokens: u64,
    /// Output tokens per model call.
    pub max_output_tokens: u32,
    /// Wall time per run.
    pub wall_time: Duration,
    /// Wall time per tool call.
    pub tool_time: Duration,
    /// How long a permission request waits for the approver.
    pub approval_ttl: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_turns: 8,
            max_tokens: 200_000,
            max_output_tokens: 2_048,
            wall_time: Duration::from_secs(300),
            tool_time: Duration::from_secs(60),
            approval_ttl: Duration::from_millis(REQUEST_TTL_MS as u64),
        }
    }
}

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

/// What a run needs. Built once per process.
pub struct AgentDeps {
    pub providers: Providers,
    pub tools: ToolBox,
    pub services: Arc<dyn TenantServices>,
    pub sink: Arc<dyn ReplySink>,
    pub retry: RetryPolicy,
    pub limits: RunLimits,
    /// Each session's workspace is a directory under this one.
    pub workspace_root: PathBuf,
    pub web: WebSettings,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The final answer is in the sink, under this id, after this many attempts.
    Replied { sink_id: String, attempts: u32 },
    /// The model failed; nothing (final) was sent.
    ModelFailed,
    /// The model answered with nothing; nothing was sent.
    EmptyAnswer,
    /// Every attempt to send the reply failed.
    ReplyFailed,
}

/// Answers `batch` (the conversation's waiting messages, oldest first; the last is the one the
/// answer replies to). Never panics on bad input and never logs message text.
pub async fn run(deps: &AgentDeps, session: &RuntimeSessionId, batch: &[AgentInvocation]) -> Outcome {
    let Some(latest) = batch.last() else { return Outcome::EmptyAnswer };
    let started = Instant::now();
    let conversation = &latest.item.conversation;
    let message = &latest.item.message;
    let log = LogIds { conversation, session, message_id: message.message_id.as_str() };

    // Earlier messages a recycled microVM never answered (found by the dispatcher; those this
    // process accepted itself were dropped when it accepted the invocation) come first.
    let mut waiting: Vec<HistoryEntry> = Vec::new();
    for lost in batch.iter().flat_map(|inv| &inv.unanswered) {
        if !waiting.iter().any(|w| w.message_id == lost.message_id) {
            waiting.push(lost.clone());
        }
    }
    if !waiting.is_empty() {
        tracing::info!(event = "lost_work_taken_up", tenant_id = %conversation.tenant_id, session_id = %session, messages = waiting.len(), "answering messages a recycled session never answered");
    }
    for inv in batch {
        let m = &inv.item.message;
        if !waiting.iter().any(|w| w.message_id == m.message_id.as_str()) {
            waiting.push(HistoryEntry {
                role: Role::User,
                message_id: m.message_id.to_string(),
                sender_name: m.sender.name.clone(),
                text: m.text.clone(),
                at_ms: m.sent_at_ms,
            });
        }
    }
    waiting.sort_by(|a, b| (a.at_ms, &a.message_id).cmp(&(b.at_ms, &b.message_id)));
    if waiting.len() > 1 {
        tracing::info!(event = "run_batched", tenant_id = %conversation.tenant_id, session_id = %session, messages = waiting.len(), "answering several waiting messages in one run");
    }

    deps.services.begin_run(conversation, latest.credentials.as_ref(), &latest.scope);
    // The approve-once grant of a resumed run, usable for one matching call.
    let once_grants: Mutex<Vec<OnceGrant>> = Mutex::new(batch.iter().filter_map(|inv| inv.grant.clone()).collect());

    let user = UserRef::new(conversation.channel, &message.sender.id)
        .unwrap_or_else(|_| UserRef { channel: conversation.channel, user_id: "unknown".into() });
    // A run resumed after an approval must see a profile the approval just changed.
    if waiting.iter().any(|w| w.message_id.ends_with(RESUME_SUFFIX)) {
        deps.services.forget_profile(conversation, &user);
    }
    let profile = deps.services.profile(conversation, &user).await;
    let memory = deps.services.memory(conversation);
    let mut layers = Vec::new();
    for layer in MemoryLayer::ALL {
        match memory.read(layer).await {
            Ok(Some(text)) if !text.trim().is_empty() => layers.push((layer, head_tail(&text, PROMPT_LAYER_CHARS))),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(event = "memory_read_failed", tenant_id = %conversation.tenant_id, layer = %layer, error = %e, "memory layer skipped")
            }
        }
    }

    let offered = deps.tools.offered(&profile);
    let offered_names: BTreeSet<String> = offered.iter().map(|t| t.name.clone()).collect();
    let system = system_prompt(&PromptContext {
        bot_name: &latest.bot.name,
        persona: latest.bot.persona.as_deref(),
        conversation,
        is_direct: message.is_direct,
        scheduled: latest.scheduled,
        memory: &layers,
        allowed_tools: &offered_names,
        blocked_tools: &ALWAYS_BLOCKED,
    });

    let mut messages = Vec::new();
    let in_run: BTreeSet<&str> = waiting.iter().map(|w| w.message_id.as_str()).collect();
    for h in latest.history.iter().filter(|h| !in_run.contains(h.message_id.as_str())) {
        push_message(&mut messages, history_message(h, message.is_direct));
    }
    for w in &waiting {
        push_message(&mut messages, ChatMessage::user_text(format!("[{}] {}", one_line(&w.sender_name), w.text)));
    }

    let provider = deps.providers.get(latest.bot.model_provider.as_deref().and_then(|p| p.parse().ok()));
    let ctx = ToolContext {
        conversation: conversation.clone(),
        workspace: deps.workspace_root.join(session.as_str()),
        profile: profile.clone(),
        memory,
        outbox: Mutex::new(Vec::new()),
        web: deps.web.clone(),
    };
    let mut usage = TokenUsage::default();
    let mut seq = 0u32;
    let mut final_text: Option<String> = None;

    for turn in 1..=deps.limits.max_turns {
        let request = ModelRequest {
            model_id: latest.bot.model_id.clone(),
            system: system.clone(),
            messages: messages.clone(),
            tools: offered.clone(),
            max_output_tokens: deps.limits.max_output_tokens,
        };
        let remaining = deps.limits.wall_time.saturating_sub(started.elapsed());
        let response: ModelResponse = match tokio::time::timeout(remaining, provider.complete(&request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(event = "model_failed", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, session_id = %session, message_id = %message.message_id, provider = provider.name(), turn, error = %e, "the model could not answer");
                break;
            }
            Err(_) => {
                tracing::warn!(event = "run_limit", limit = "wall_time", tenant_id = %conversation.tenant_id, session_id = %session, turn, "run stopped at its wall-time limit");
                break;
            }
        };
        usage.add(response.usage);
        push_message(&mut messages, response.message.clone());
        let calls: Vec<(String, String, Value)> =
            response.tool_uses().into_iter().map(|(i, n, v)| (i.to_owned(), n.to_owned(), v.clone())).collect();
        if calls.is_empty() {
            final_text = Some(response.message.text());
            break;
        }
        let mut results = Vec::with_capacity(calls.len());
        for (id, name, input) in calls {
            let (content, is_error) = call_tool(deps, &ctx, &profile, &log, latest, &once_grants, &name, &input).await;
            results.push(Block::ToolResult { tool_use_id: id, content, is_error });
        }
        for text in ctx.take_outbox() {
            seq += 1;
            send_reply(deps, &log, latest, seq, text, None).await;
        }
        push_message(&mut messages, ChatMessage { role: ChatRole::User, content: results });
        if usage.total() >= deps.limits.max_tokens {
            tracing::warn!(event = "run_limit", limit = "tokens", tenant_id = %conversation.tenant_id, session_id = %session, tokens = usage.total(), "run stopped at its token limit");
            break;
        }
        if turn == deps.limits.max_turns {
            tracing::warn!(event = "run_limit", limit = "turns", tenant_id = %conversation.tenant_id, session_id = %session, turns = turn, "run stopped at its turn limit");
        }
    }

    let text = match final_text {
        Some(t) if !t.trim().is_empty() => t,
        Some(_) => {
            tracing::warn!(event = "model_empty_answer", tenant_id = %conversation.tenant_id, session_id = %session, message_id = %message.message_id, provider = provider.name(), "the model answered with nothing; no reply sent");
            report_run(deps, latest, run_summary(usage, &waiting, None)).await;
            return Outcome::EmptyAnswer;
        }
        None if seq > 0 || usage.total() > 0 => {
            "I could not finish this within my limits. Please try again with a smaller request.".to_owned()
        }
        None => {
            report_run(deps, latest, run_summary(usage, &waiting, None)).await;
            return Outcome::ModelFailed;
        }
    };

    // Second net (seed 000's response audit): log claims of tools the profile does not allow.
    for finding in safety::audit_response(&text, &offered_names) {
        tracing::warn!(event = "permission_denied", source = "response_audit", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, session_id = %session, message_id = %message.message_id, tool = %finding.tool, "the answer claims a tool the profile does not allow");
    }

    seq += 1;
    let summary = run_summary(usage, &waiting, Some(message.message_id.as_str()));
    let outcome = send_reply(deps, &log, latest, seq, text, Some(summary)).await;
    if matches!(outcome, Outcome::Replied { .. }) {
        // The message the answer replies to is not marked (one write less per message): the
        // reply function's line (`{sk}#r{seq}`) marks it answered for the dispatcher. Until that
        // line is written the dispatcher still hands it on as unanswered, and this process skips
        // it as its own. The window: if this microVM is recycled (or stopped idle) after the
        // reply is queued and before the reply function records it (normally about a second;
        // longer while a channel refuses sends and the reply waits on its queue), the next
        // message's new microVM answers it again.
        tracing::info!(event = "run_finished", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, session_id = %session, message_id = %message.message_id, replies = seq, input_tokens = usage.input_tokens, output_tokens = usage.output_tokens, duration_ms = started.elapsed().as_millis() as u64, "run finished");
    } else {
        report_run(deps, latest, run_summary(usage, &waiting, None)).await;
    }
    outcome
}

struct LogIds<'a> {
    conversation: &'a ConversationRef,
    session: &'a RuntimeSessionId,
    message_id: &'a str,
}

/// A history line as the model sees it. In groups, other people's lines are untrusted content.
fn history_message(h: &HistoryEntry, is_direct: bool) -> ChatMessage {
    match h.role {
        Role::Assistant => ChatMessage::assistant_text(h.text.clone()),
        Role::User if is_direct => ChatMessage::user_text(format!("[{}] {}", one_line(&h.sender_name), h.text)),
        Role::User => ChatMessage::user_text(format!(
            "<untrusted_group_message sender=\"{}\">\n{}\n</untrusted_group_message>",
            one_line(&h.sender_name).replace('"', "'"),
            h.text.replace("</untrusted_group_message>", "")
        )),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(64).collect()
}

/// Uses up the run's approve-once grant if it covers `wanted`: same tool, same arguments, same
/// requester (another user in the same group does not get it).
fn take_once_grant(grants: &Mutex<Vec<OnceGrant>>, wanted: &PermissionRequest) -> Option<Grant> {
    let mut grants = grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = grants.iter().position(|g| {
        g.tool == wanted.tool && g.arguments_hash == wanted.arguments_hash && g.requester_id == wanted.requester_id
    })?;
    Some(Grant::Once { request_id: grants.remove(at).request_id })
}

/// Checks and runs one tool call; returns the result text for the model and whether it failed.
#[allow(clippy::too_many_arguments)]
async fn call_tool(
    deps: &AgentDeps,
    ctx: &ToolContext,
    profile: &PermissionProfile,
    log: &LogIds<'_>,
    latest: &AgentInvocation,
    once_grants: &Mutex<Vec<OnceGrant>>,
    name: &str,
    input: &Value,
) -> (String, bool) {
    let c = log.conversation;
    match profile.decide(name) {
        ToolDecision::Invalid => {
            tracing::warn!(event = "tool_rejected", reason = "invalid_name", tenant_id = %c.tenant_id, session_id = %log.session, "the model called a malformed tool name");
            ("There is no tool with that name.".into(), true)
        }
        ToolDecision::Blocked => {
            tracing::warn!(event = "permission_denied", source = "tool_gate", reason = "always_blocked", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, message_id = log.message_id, tool = name, "always-blocked tool refused");
            (format!("The tool `{name}` is blocked by platform policy and can never be used. Do not try again."), true)
        }
        ToolDecision::NeedsApproval => {
            let input = truncate_input(input);
            let request = PermissionRequest::new(
                c,
                &latest.item.message,
                name,
                &input,
                &latest.item.message.text,
                now_ms(),
                deps.limits.approval_ttl.as_millis() as i64,
            );
            let found = match take_once_grant(once_grants, &request) {
                Some(grant) => Ok(Some(grant)),
                None => deps.services.temporary_grant(&request).await,
            };
            match found {
                Ok(Some(grant)) => {
                    let (kind, request_id) = match &grant {
                        Grant::Once { request_id } => ("once", request_id),
                        Grant::Temporary { request_id, .. } => ("temporary", request_id),
                    };
                    tracing::info!(event = "token_used", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, tool = name, grant = kind, request_id = %request_id, "an approval lets the tool run");
                    return run_tool(deps, ctx, log, name, &input).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(event = "grant_lookup_failed", tenant_id = %c.tenant_id, error = %e, "treating as not approved")
                }
            }
            tracing::warn!(event = "permission_denied", source = "tool_gate", reason = "not_in_profile", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, message_id = log.message_id, tool = name, request_id = %request.request_id, "tool outside the profile refused; approval requested");
            let report = AgentReport::PermissionRequest {
                v: ENVELOPE_VERSION,
                scope: latest.scope.clone(),
                request: Box::new(request.clone()),
            };
            match deps.sink.report(&report).await {
                Ok(_) => {
                    tracing::info!(event = "approval_requested", tenant_id = %c.tenant_id, request_id = %request.request_id, tool = name, risk = request.risk.as_str(), "permission request sent to the platform");
                }
                Err(e) => {
                    tracing::error!(event = "approval_request_failed", tenant_id = %c.tenant_id, request_id = %request.request_id, error = %e, "permission request not sent")
                }
            }
            (
                format!(
                    "The tool `{name}` is not allowed for this user without approval. An approval request \
                     ({}) was sent to the administrator. Tell the user it needs approval; do not retry it now.",
                    request.request_id
                ),
                true,
            )
        }
        ToolDecision::Allowed => run_tool(deps, ctx, log, name, &truncate_input(input)).await,
    }
}

/// Runs a tool the gate let through (input already truncated).
async fn run_tool(deps: &AgentDeps, ctx: &ToolContext, log: &LogIds<'_>, name: &str, input: &Value) -> (String, bool) {
    let c = log.conversation;
    let Some(tool) = deps.tools.get(name) else {
        return (format!("The tool `{name}` is not available here."), true);
    };
    let started = Instant::now();
    let result = match tokio::time::timeout(deps.limits.tool_time, tool.call(ctx, input)).await {
        Ok(r) => r,
        Err(_) => Err(ToolError::Failed(format!("timed out after {} s", deps.limits.tool_time.as_secs()))),
    };
    let ok = result.is_ok();
    tracing::info!(event = "tool_called", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, message_id = log.message_id, tool = name, ok, duration_ms = started.elapsed().as_millis() as u64, "tool call finished");
    match result {
        Ok(text) => (truncate_output(&text), false),
        Err(e) => {
            if matches!(e, ToolError::Refused(_)) {
                tracing::warn!(event = "tool_refused", tenant_id = %c.tenant_id, session_id = %log.session, tool = name, error = %e, "tool refused the call");
            }
            (e.to_string(), true)
        }
    }
}

/// The run's summary for trusted code: its token use (every run counts, replied or not) and the
/// waiting messages to mark answered, except `replied` (the message whose answer went to the
/// reply queue: its reply line marks it). Runs that ended without a reply mark everything, so no
/// later run takes their messages up as lost work.
fn run_summary(usage: TokenUsage, waiting: &[HistoryEntry], replied: Option<&str>) -> RunSummary {
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
async fn report_run(deps: &AgentDeps, latest: &AgentInvocation, run: RunSummary) {
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
                tracing::warn!(event = "run_report_retry", tenant_id = %conversation.tenant_id, attempt, error = %e);
                tokio::time::sleep(deps.retry.delay_after(attempt)).await;
            }
            Err(e) => {
                tracing::warn!(event = "run_report_failed", tenant_id = %conversation.tenant_id, error = %e, "token use and answered marks not reported (a recycled session may answer the messages again)");
            }
        }
    }
}

/// Puts one reply on the sink, with retries; `run` on the run's final answer.
async fn send_reply(
    deps: &AgentDeps,
    log: &LogIds<'_>,
    latest: &AgentInvocation,
    seq: u32,
    text: String,
    run: Option<RunSummary>,
) -> Outcome {
    let c = log.conversation;
    let message = &latest.item.message;
    let reply = ReplyEnvelope {
        v: ENVELOPE_VERSION,
        conversation: c.clone(),
        in_reply_to: message.message_id.clone(),
        in_reply_to_at_ms: message.sent_at_ms,
        seq,
        text,
        route: message.route.clone(),
        buttons: Vec::new(),
        scope: latest.scope.clone(),
        run,
    };
    let attempts = deps.retry.attempts.max(1);
    for attempt in 1..=attempts {
        match deps.sink.send(&reply).await {
            Ok(sink_id) => {
                tracing::info!(event = "reply_enqueued", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, message_id = log.message_id, reply_id = %reply.reply_id(), sink_id = %sink_id, attempts = attempt, "reply enqueued");
                return Outcome::Replied { sink_id, attempts: attempt };
            }
            Err(e) if attempt < attempts => {
                let delay = deps.retry.delay_after(attempt);
                tracing::warn!(event = "reply_retry", tenant_id = %c.tenant_id, session_id = %log.session, message_id = log.message_id, attempt, delay_ms = delay.as_millis() as u64, error = %e, "sending the reply failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                tracing::error!(event = "reply_failed", tenant_id = %c.tenant_id, session_id = %log.session, message_id = log.message_id, attempts, error = %e, "the reply could not be enqueued; giving up");
            }
        }
    }
    Outcome::ReplyFailed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::invocation;

    #[test]
    fn the_approve_once_grant_lets_one_matching_call_of_its_requester_through() {
        let inv = invocation("4242", "1001", "go", Vec::new());
        let request = |sender: &str, args: Value| {
            let mut message = inv.item.message.clone();
            message.sender.id = sender.into();
            PermissionRequest::new(&inv.item.conversation, &message, "shell", &args, "", 0, 60_000)
        };
        let wanted = request("4242", serde_json::json!({"command": "ls"}));
        let grants = Mutex::new(vec![OnceGrant {
            request_id: "pr1".into(),
            tool: "shell".into(),
            arguments_hash: wanted.arguments_hash.clone(),
            requester_id: "4242".into(),
        }]);
        assert_eq!(
            take_once_grant(&grants, &request("5151", serde_json::json!({"command": "ls"}))),
            None,
            "another user"
        );
        assert_eq!(
            take_once_grant(&grants, &request("4242", serde_json::json!({"command": "rm -rf /"}))),
            None,
            "other arguments"
        );
        assert_eq!(take_once_grant(&grants, &wanted), Some(Grant::Once { request_id: "pr1".into() }));
        assert_eq!(take_once_grant(&grants, &wanted), None, "once");
    }
}
