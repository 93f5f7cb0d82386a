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
    ALWAYS_BLOCKED, MAX_REQUEST_ARGUMENTS_BYTES, PermissionProfile, PermissionRequest, REQUEST_TTL_MS, ToolDecision,
    UserRef,
};
use clawless_shared::safety;
use serde_json::Value;

use crate::memory::{MemoryLayer, PROMPT_LAYER_CHARS, head_tail};
use crate::prompt::{PromptContext, system_prompt};
use crate::provider::{Block, ChatMessage, ChatRole, ModelRequest, ModelResponse, Providers, TokenUsage, push_message};
use crate::reply_sink::ReplySink;
use crate::services::TenantServices;
use crate::tools::{ToolBox, ToolContext, ToolError, truncate_output, validate_input, web::WebSettings};
use crate::untrusted;

/// Model calls per run.
pub const MAX_TURNS: u32 = 8;
/// Input plus output tokens per run.
pub const MAX_RUN_TOKENS: u64 = 200_000;
/// Output tokens per model call.
pub const MAX_OUTPUT_TOKENS: u32 = 2_048;
/// Wall time per run, tool calls included. The handed credentials are reused only while more
/// than this remains of them, so it must not grow past 5 minutes.
pub const RUN_WALL_TIME: Duration = Duration::from_secs(300);
/// Wall time per tool call (never past the run's deadline).
pub const TOOL_TIME: Duration = Duration::from_secs(60);
/// Tool calls run from one model response; the others get an error result.
pub const MAX_TOOL_CALLS_PER_RESPONSE: u32 = 8;
/// Tool calls run in one run; the others get an error result.
pub const MAX_TOOL_CALLS_PER_RUN: u32 = 32;

/// Bounds on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Model calls per run.
    pub max_turns: u32,
    /// Input plus output tokens per run.
    pub max_tokens: u64,
    /// Output tokens per model call.
    pub max_output_tokens: u32,
    /// Wall time per run: model calls and tool calls alike stop at the deadline.
    pub wall_time: Duration,
    /// Wall time per tool call.
    pub tool_time: Duration,
    /// Tool calls run from one model response.
    pub max_tool_calls_per_response: u32,
    /// Tool calls run in one run.
    pub max_tool_calls_per_run: u32,
    /// How long a permission request waits for the approver.
    pub approval_ttl: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_turns: MAX_TURNS,
            max_tokens: MAX_RUN_TOKENS,
            max_output_tokens: MAX_OUTPUT_TOKENS,
            wall_time: RUN_WALL_TIME,
            tool_time: TOOL_TIME,
            max_tool_calls_per_response: MAX_TOOL_CALLS_PER_RESPONSE,
            max_tool_calls_per_run: MAX_TOOL_CALLS_PER_RUN,
            approval_ttl: Duration::from_millis(REQUEST_TTL_MS as u64),
        }
    }
}

/// The answer of a run that stopped at one of its limits before the model answered.
pub const LIMITS_ANSWER: &str = "I could not finish this within my limits. Please try again with a smaller request.";

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
    // Everything the run does, tool calls included, ends at this instant.
    let deadline = started + deps.limits.wall_time;
    let scope = RunScope { deps, ctx: &ctx, profile: &profile, log: &log, latest, once_grants: &once_grants, deadline };
    let mut tool_calls_run = 0u32;
    // Intermediate replies sent so far (the outbox keeps the run's, so its limit is per run).
    let mut relayed = 0usize;
    let mut stopped_at_limit = false;

    for turn in 1..=deps.limits.max_turns {
        let request = ModelRequest {
            model_id: latest.bot.model_id.clone(),
            system: system.clone(),
            messages: messages.clone(),
            tools: offered.clone(),
            max_output_tokens: deps.limits.max_output_tokens,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response: ModelResponse = match tokio::time::timeout(remaining, provider.complete(&request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(event = "model_failed", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, session_id = %session, message_id = %message.message_id, provider = provider.name(), turn, error = %e, "the model could not answer");
                break;
            }
            Err(_) => {
                tracing::warn!(event = "run_limit", limit = "wall_time", tenant_id = %conversation.tenant_id, session_id = %session, turn, "run stopped at its wall-time limit");
                stopped_at_limit = true;
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
        let results = tool_results(&scope, calls, &mut tool_calls_run).await;
        for text in ctx.outbox_from(relayed) {
            relayed += 1;
            seq += 1;
            send_reply(deps, &log, latest, seq, text, None).await;
        }
        push_message(&mut messages, ChatMessage { role: ChatRole::User, content: results });
        if Instant::now() >= deadline {
            tracing::warn!(event = "run_limit", limit = "wall_time", tenant_id = %conversation.tenant_id, session_id = %session, turn, "run stopped at its wall-time limit during tool calls");
            stopped_at_limit = true;
            break;
        }
        if usage.total() >= deps.limits.max_tokens {
            tracing::warn!(event = "run_limit", limit = "tokens", tenant_id = %conversation.tenant_id, session_id = %session, tokens = usage.total(), "run stopped at its token limit");
            stopped_at_limit = true;
            break;
        }
        if turn == deps.limits.max_turns {
            tracing::warn!(event = "run_limit", limit = "turns", tenant_id = %conversation.tenant_id, session_id = %session, turns = turn, "run stopped at its turn limit");
            stopped_at_limit = true;
        }
    }

    let text = match final_text {
        Some(t) if !t.trim().is_empty() => t,
        Some(_) => {
            tracing::warn!(event = "model_empty_answer", tenant_id = %conversation.tenant_id, session_id = %session, message_id = %message.message_id, provider = provider.name(), "the model answered with nothing; no reply sent");
            report_run(deps, latest, run_summary(usage, &waiting, None)).await;
            return Outcome::EmptyAnswer;
        }
        None if stopped_at_limit || seq > 0 || usage.total() > 0 => LIMITS_ANSWER.to_owned(),
        None => {
            report_run(deps, latest, run_summary(usage, &waiting, None)).await;
            return Outcome::ModelFailed;
        }
    };

    // Second net after the tool gate: an answer that claims a tool the profile does not allow
    // (which cannot have run) is logged, so a model pretending to have used it is seen.
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
pub fn history_message(h: &HistoryEntry, is_direct: bool) -> ChatMessage {
    match h.role {
        Role::Assistant => ChatMessage::assistant_text(h.text.clone()),
        Role::User if is_direct => ChatMessage::user_text(format!("[{}] {}", one_line(&h.sender_name), h.text)),
        Role::User => ChatMessage::user_text(untrusted::wrap(
            untrusted::Kind::GroupMessage,
            &[("sender", &one_line(&h.sender_name))],
            &h.text,
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

/// What a run's tool calls are checked and run with.
struct RunScope<'a> {
    deps: &'a AgentDeps,
    ctx: &'a ToolContext,
    profile: &'a PermissionProfile,
    log: &'a LogIds<'a>,
    latest: &'a AgentInvocation,
    once_grants: &'a Mutex<Vec<OnceGrant>>,
    /// Everything the run does ends at this instant.
    deadline: Instant,
}

/// The results of one model response's tool calls, one per call and in order (the model's
/// protocol wants a result for every call). Only calls within the run's deadline and its
/// per-response and per-run call limits run; `tool_calls_run` counts the run's calls so far.
async fn tool_results(
    scope: &RunScope<'_>,
    calls: Vec<(String, String, Value)>,
    tool_calls_run: &mut u32,
) -> Vec<Block> {
    let limits = &scope.deps.limits;
    let c = scope.log.conversation;
    let mut results = Vec::with_capacity(calls.len());
    for (index, (id, name, input)) in calls.into_iter().enumerate() {
        let (content, is_error) = if Instant::now() >= scope.deadline {
            time_is_up(limits)
        } else if index >= limits.max_tool_calls_per_response as usize {
            tracing::warn!(event = "run_limit", limit = "tool_calls_per_response", tenant_id = %c.tenant_id, session_id = %scope.log.session, tool = %name, "tool call over the per-response limit not run");
            (
                format!(
                    "Not run: at most {} tool calls are run from one response (the per-response limit). Call \
                     the rest in your next response if you still need them.",
                    limits.max_tool_calls_per_response
                ),
                true,
            )
        } else if *tool_calls_run >= limits.max_tool_calls_per_run {
            tracing::warn!(event = "run_limit", limit = "tool_calls_per_run", tenant_id = %c.tenant_id, session_id = %scope.log.session, tool = %name, "tool call over the per-run limit not run");
            (
                format!(
                    "Not run: this run has used all of its {} tool calls (the per-run limit). Answer with what \
                     you have.",
                    limits.max_tool_calls_per_run
                ),
                true,
            )
        } else {
            *tool_calls_run += 1;
            call_tool(scope, &name, &input).await
        };
        results.push(Block::ToolResult { tool_use_id: id, content, is_error });
    }
    results
}

/// Checks and runs one tool call; returns the result text for the model and whether it failed.
async fn call_tool(scope: &RunScope<'_>, name: &str, input: &Value) -> (String, bool) {
    let RunScope { deps, ctx, profile, log, latest, once_grants, deadline } = *scope;
    let c = log.conversation;
    let decision = profile.decide(name);
    if matches!(decision, ToolDecision::Allowed | ToolDecision::NeedsApproval)
        && let Err(e) = validate_input(name, input)
    {
        // Refused whole, never cut: a cut input would run (or be put to an approver) as
        // something the model did not ask for.
        tracing::warn!(event = "tool_rejected", reason = "input_limit", tenant_id = %c.tenant_id, session_id = %log.session, tool = name, error = %e, "tool input over its limits refused");
        return (ToolError::from(e).to_string(), true);
    }
    match decision {
        ToolDecision::Invalid => {
            tracing::warn!(event = "tool_rejected", reason = "invalid_name", tenant_id = %c.tenant_id, session_id = %log.session, "the model called a malformed tool name");
            ("There is no tool with that name.".into(), true)
        }
        ToolDecision::Blocked => {
            tracing::warn!(event = "permission_denied", source = "tool_gate", reason = "always_blocked", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, message_id = log.message_id, tool = name, "always-blocked tool refused");
            (format!("The tool `{name}` is blocked by platform policy and can never be used. Do not try again."), true)
        }
        ToolDecision::NeedsApproval => {
            // Built from the whole input: the hash an approval covers is of exactly what runs.
            let request = PermissionRequest::new(
                c,
                &latest.item.message,
                name,
                input,
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
                    return run_tool(deps, ctx, log, name, input, deadline).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(event = "grant_lookup_failed", tenant_id = %c.tenant_id, error = %e, "treating as not approved")
                }
            }
            if request.arguments.len() > MAX_REQUEST_ARGUMENTS_BYTES {
                tracing::warn!(event = "permission_denied", source = "tool_gate", reason = "not_in_profile", tenant_id = %c.tenant_id, bot_id = %c.bot_id, session_id = %log.session, message_id = log.message_id, tool = name, bytes = request.arguments.len(), "tool outside the profile refused; too large to put to an approver");
                return (
                    format!(
                        "The tool `{name}` is not allowed for this user without approval, and this call is too \
                         large to ask for one: its arguments are {} bytes; the limit for an approval request is \
                         {MAX_REQUEST_ARGUMENTS_BYTES}. Make the call smaller, or tell the user the tool needs to \
                         be allowed in their profile.",
                        request.arguments.len()
                    ),
                    true,
                );
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
        ToolDecision::Allowed => run_tool(deps, ctx, log, name, input, deadline).await,
    }
}

/// Runs a tool the gate let through (input already validated), until its own time limit or the
/// run's deadline, whichever comes first.
async fn run_tool(
    deps: &AgentDeps,
    ctx: &ToolContext,
    log: &LogIds<'_>,
    name: &str,
    input: &Value,
    deadline: Instant,
) -> (String, bool) {
    let c = log.conversation;
    let Some(tool) = deps.tools.get(name) else {
        return (format!("The tool `{name}` is not available here."), true);
    };
    let started = Instant::now();
    let left = deadline.saturating_duration_since(started);
    if left.is_zero() {
        return time_is_up(&deps.limits);
    }
    let limit = deps.limits.tool_time.min(left);
    let result = match tokio::time::timeout(limit, tool.call(ctx, input)).await {
        Ok(r) => r,
        // Dropping the call's future ends what it started (the shell kills its processes).
        Err(_) if left <= deps.limits.tool_time => Err(ToolError::Failed(format!(
            "stopped after {}: the run's time is up (its limit is {})",
            shown_duration(limit),
            shown_duration(deps.limits.wall_time)
        ))),
        Err(_) => Err(ToolError::Failed(format!("timed out after {}", shown_duration(deps.limits.tool_time)))),
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

/// The result of a tool call not run because the run's deadline has passed.
fn time_is_up(limits: &RunLimits) -> (String, bool) {
    (
        format!(
            "Not run: the run's time is up (its limit is {}). No more tools run in this run.",
            shown_duration(limits.wall_time)
        ),
        true,
    )
}

/// `300 s`, or `250 ms` below a second (tests shorten the limits).
fn shown_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
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
    use crate::reply_sink::MemoryReplySink;
    use crate::services::MemoryServices;
    use crate::testing::{ScriptedProvider, agent_deps_with, answer, invocation, last_tool_results, tool_calls};
    use crate::tools::Tool;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A tool that counts the calls that started and those that finished, and naps in between.
    struct Probe {
        nap: Duration,
        started: AtomicU32,
        finished: AtomicU32,
    }

    impl Probe {
        fn new(nap: Duration) -> Arc<Self> {
            Arc::new(Self { nap, started: AtomicU32::new(0), finished: AtomicU32::new(0) })
        }
    }

    #[async_trait::async_trait]
    impl Tool for Probe {
        fn spec(&self) -> crate::provider::ToolSpec {
            crate::provider::ToolSpec {
                name: "probe".into(),
                description: "test probe".into(),
                input_schema: serde_json::json!({"type": "object"}),
            }
        }
        async fn call(&self, _: &ToolContext, _: &Value) -> Result<String, ToolError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.nap).await;
            self.finished.fetch_add(1, Ordering::SeqCst);
            Ok("probed".into())
        }
    }

    /// Deps with `model`, the probe tool allowed, and `limits`.
    fn probe_deps(
        model: Arc<ScriptedProvider>,
        probe: &Arc<Probe>,
        limits: RunLimits,
    ) -> (AgentDeps, Arc<MemoryReplySink>) {
        let sink = Arc::new(MemoryReplySink::new());
        let profile = PermissionProfile { tools: ["probe".to_owned()].into(), ..PermissionProfile::least_privilege() };
        let services = Arc::new(MemoryServices::with_profile(profile));
        let mut deps = agent_deps_with(model, sink.clone(), services);
        deps.tools.add(Arc::clone(probe) as Arc<dyn Tool>);
        deps.limits = limits;
        (deps, sink)
    }

    fn probes(n: usize) -> ModelResponse {
        tool_calls((0..n).map(|_| ("probe", serde_json::json!({}))).collect())
    }

    async fn run_once(deps: &AgentDeps) -> Outcome {
        let inv = invocation("4242", "1001", "go", Vec::new());
        let session = inv.item.conversation.runtime_session_id();
        run(deps, &session, std::slice::from_ref(&inv)).await
    }

    #[tokio::test]
    async fn a_response_runs_at_most_its_per_response_limit_of_tool_calls() {
        let max = MAX_TOOL_CALLS_PER_RESPONSE as usize;
        let model = Arc::new(ScriptedProvider::new(vec![probes(max), probes(max + 1), answer("done")]));
        let probe = Probe::new(Duration::ZERO);
        let (deps, sink) = probe_deps(model.clone(), &probe, RunLimits::default());
        assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
        assert_eq!(sink.replies()[0].text, "done");

        let requests = model.requests();
        assert_eq!(requests.len(), 3);
        let exactly = last_tool_results(&requests[1]);
        assert_eq!(exactly.len(), max);
        assert!(exactly.iter().all(|(_, text, err)| !err && text == "probed"), "{exactly:?}");
        let over = last_tool_results(&requests[2]);
        assert_eq!(over.len(), max + 1, "every call gets a result");
        assert!(over[..max].iter().all(|(_, text, err)| !err && text == "probed"), "{over:?}");
        let (id, text, err) = &over[max];
        assert_eq!(id, &format!("call-{}", max + 1));
        assert!(*err && text.contains("at most 8 tool calls are run from one response"), "{text}");
        assert_eq!(probe.started.load(Ordering::SeqCst), 2 * MAX_TOOL_CALLS_PER_RESPONSE);
    }

    #[tokio::test]
    async fn a_run_runs_at_most_its_per_run_limit_of_tool_calls() {
        let per_response = MAX_TOOL_CALLS_PER_RESPONSE as usize;
        let responses = (MAX_TOOL_CALLS_PER_RUN / MAX_TOOL_CALLS_PER_RESPONSE) as usize;
        let mut script: Vec<ModelResponse> = (0..responses).map(|_| probes(per_response)).collect();
        script.push(probes(1));
        script.push(answer("done"));
        let model = Arc::new(ScriptedProvider::new(script));
        let probe = Probe::new(Duration::ZERO);
        let (deps, sink) = probe_deps(model.clone(), &probe, RunLimits::default());
        assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
        assert_eq!(sink.replies()[0].text, "done");

        let requests = model.requests();
        assert_eq!(requests.len(), responses + 2);
        let ran: usize = requests[1..=responses]
            .iter()
            .flat_map(last_tool_results)
            .filter(|(_, text, err)| !err && text == "probed")
            .count();
        assert_eq!(ran, MAX_TOOL_CALLS_PER_RUN as usize, "exactly the limit runs");
        let over = last_tool_results(&requests[responses + 1]);
        assert_eq!(over.len(), 1);
        assert!(over[0].2 && over[0].1.contains("all of its 32 tool calls"), "{over:?}");
        assert_eq!(probe.started.load(Ordering::SeqCst), MAX_TOOL_CALLS_PER_RUN);
    }

    #[tokio::test]
    async fn a_run_makes_at_most_its_model_calls() {
        let tool_turns = |n: u32| (0..n).map(|_| probes(1)).collect::<Vec<_>>();
        // Exactly the limit: the last call answers.
        let mut script = tool_turns(MAX_TURNS - 1);
        script.push(answer("done"));
        let model = Arc::new(ScriptedProvider::new(script));
        let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
        run_once(&deps).await;
        assert_eq!(model.requests().len(), MAX_TURNS as usize);
        assert_eq!(sink.replies()[0].text, "done");
        // One more would be needed: the run stops with the limits answer.
        let mut script = tool_turns(MAX_TURNS);
        script.push(answer("done"));
        let model = Arc::new(ScriptedProvider::new(script));
        let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
        run_once(&deps).await;
        assert_eq!(model.requests().len(), MAX_TURNS as usize);
        assert_eq!(sink.replies()[0].text, LIMITS_ANSWER);
    }

    #[tokio::test]
    async fn a_run_that_has_used_its_tokens_makes_no_further_model_call() {
        let spending = |total: u64| {
            let mut r = probes(1);
            r.usage = TokenUsage { input_tokens: total - 1, output_tokens: 1 };
            r
        };
        // One token short of the limit: the model is called again.
        let model = Arc::new(ScriptedProvider::new(vec![spending(MAX_RUN_TOKENS - 1), answer("done")]));
        let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
        run_once(&deps).await;
        assert_eq!(model.requests().len(), 2);
        assert_eq!(sink.replies()[0].text, "done");
        // At the limit: no further call, the limits answer.
        let model = Arc::new(ScriptedProvider::new(vec![spending(MAX_RUN_TOKENS), answer("done")]));
        let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
        run_once(&deps).await;
        assert_eq!(model.requests().len(), 1);
        assert_eq!(sink.replies()[0].text, LIMITS_ANSWER);
        assert_eq!(sink.usage(), (MAX_RUN_TOKENS - 1, 1), "the tokens are reported");
    }

    #[tokio::test]
    async fn a_run_sends_at_most_its_intermediate_replies() {
        use crate::tools::send_message::MAX_MESSAGES_PER_RUN;
        let say = |n: usize| {
            tool_calls((0..n).map(|i| ("send_message", serde_json::json!({ "text": format!("step {i}") }))).collect())
        };
        // Over two responses: the limit counts the run, not one response.
        let first = MAX_MESSAGES_PER_RUN - 2;
        let model = Arc::new(ScriptedProvider::new(vec![say(first), say(2), say(1), answer("done")]));
        let (deps, sink) = probe_deps(model.clone(), &Probe::new(Duration::ZERO), RunLimits::default());
        run_once(&deps).await;
        let texts: Vec<String> = sink.replies().into_iter().map(|r| r.text).collect();
        assert_eq!(texts.len(), MAX_MESSAGES_PER_RUN + 1, "exactly the limit, then the answer: {texts:?}");
        assert_eq!(texts.last().map(String::as_str), Some("done"));
        let over = last_tool_results(&model.requests()[3]);
        assert!(over[0].2 && over[0].1.contains("at most 5 messages per run"), "{over:?}");
    }

    #[tokio::test]
    async fn the_run_deadline_covers_tool_calls() {
        // Twelve slow calls in one response: only those that fit before the deadline run, the
        // one running at the deadline is cut off, and the run ends there with the limits answer.
        let wall = Duration::from_millis(600);
        let nap = Duration::from_millis(200);
        let model = Arc::new(ScriptedProvider::new(vec![probes(12), answer("too late")]));
        let probe = Probe::new(nap);
        let limits = RunLimits { wall_time: wall, max_tool_calls_per_response: 12, ..RunLimits::default() };
        let (deps, sink) = probe_deps(model.clone(), &probe, limits);
        let started = Instant::now();
        assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));
        let took = started.elapsed();
        assert!(took < wall + Duration::from_millis(300), "the run ended at its deadline, not after {took:?}");
        assert_eq!(sink.replies()[0].text, LIMITS_ANSWER);
        assert_eq!(model.requests().len(), 1, "no model call after the deadline");
        let (began, ended) = (probe.started.load(Ordering::SeqCst), probe.finished.load(Ordering::SeqCst));
        assert!(began <= 3, "{began} calls started");
        assert_eq!(began, ended + 1, "exactly one call was cut off at the deadline ({began} started, {ended} ended)");
    }

    #[tokio::test]
    async fn calls_at_and_after_the_deadline_are_cut_off_or_not_run() {
        let model = Arc::new(ScriptedProvider::new(Vec::new()));
        let probe = Probe::new(Duration::from_millis(100));
        let limits = RunLimits { wall_time: Duration::from_millis(250), ..RunLimits::default() };
        let (deps, _sink) = probe_deps(model, &probe, limits);
        let inv = invocation("4242", "1001", "go", Vec::new());
        let session = inv.item.conversation.runtime_session_id();
        let user = UserRef::new(inv.item.conversation.channel, "4242").unwrap();
        let profile = deps.services.profile(&inv.item.conversation, &user).await;
        let ctx = ToolContext {
            conversation: inv.item.conversation.clone(),
            workspace: deps.workspace_root.join(session.as_str()),
            profile: profile.clone(),
            memory: deps.services.memory(&inv.item.conversation),
            outbox: Mutex::new(Vec::new()),
            web: deps.web.clone(),
        };
        let log = LogIds { conversation: &inv.item.conversation, session: &session, message_id: "1001" };
        let once_grants = Mutex::new(Vec::new());
        let scope = RunScope {
            deps: &deps,
            ctx: &ctx,
            profile: &profile,
            log: &log,
            latest: &inv,
            once_grants: &once_grants,
            deadline: Instant::now() + limits.wall_time,
        };
        let calls = (1..=5).map(|i| (format!("c{i}"), "probe".to_owned(), serde_json::json!({}))).collect();
        let mut count = 0;
        let results = tool_results(&scope, calls, &mut count).await;
        let texts: Vec<(String, bool)> = results
            .into_iter()
            .map(|b| match b {
                Block::ToolResult { content, is_error, .. } => (content, is_error),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts[0], ("probed".to_owned(), false));
        assert_eq!(texts[1], ("probed".to_owned(), false));
        let cut = &texts[2].0;
        assert!(texts[2].1 && cut.starts_with("failed: stopped after "), "{texts:?}");
        assert!(cut.ends_with("ms: the run's time is up (its limit is 250 ms)"), "{cut}");
        for (text, is_error) in &texts[3..] {
            assert!(*is_error && text.starts_with("Not run: the run's time is up (its limit is 250 ms)"), "{text}");
        }
        assert_eq!(count, 3, "calls not run do not count");
    }

    #[tokio::test]
    async fn a_tool_call_is_cut_at_its_own_time_limit() {
        let model = Arc::new(ScriptedProvider::new(vec![probes(1), answer("done")]));
        let probe = Probe::new(Duration::from_millis(400));
        let limits = RunLimits { tool_time: Duration::from_millis(100), ..RunLimits::default() };
        let (deps, sink) = probe_deps(model.clone(), &probe, limits);
        run_once(&deps).await;
        let results = last_tool_results(&model.requests()[1]);
        assert_eq!(results[0].1, "failed: timed out after 100 ms");
        assert_eq!(probe.finished.load(Ordering::SeqCst), 0);
        assert_eq!(sink.replies()[0].text, "done", "the run goes on");
        assert_eq!(model.requests()[0].max_output_tokens, MAX_OUTPUT_TOKENS, "every model call carries its cap");
    }

    #[tokio::test]
    async fn oversized_inputs_are_refused_by_name_before_any_gate_and_approval_requests_are_bounded() {
        // `shell` needs approval under least privilege: the request carries the whole input.
        let command = |n: usize| serde_json::json!({"command": "x".repeat(n)});
        let fits = MAX_REQUEST_ARGUMENTS_BYTES - r#"{"command":""}"#.len();
        let model = Arc::new(ScriptedProvider::new(vec![
            tool_calls(vec![("shell", command(fits)), ("shell", command(fits + 1))]),
            tool_calls(vec![("shell", command(crate::tools::MAX_INPUT_STRING_CHARS + 1))]),
            answer("done"),
        ]));
        let sink = Arc::new(MemoryReplySink::new());
        let deps = agent_deps_with(model.clone(), sink.clone(), Arc::new(MemoryServices::default()));
        assert!(matches!(run_once(&deps).await, Outcome::Replied { .. }));

        let requests = sink.requests();
        assert_eq!(requests.len(), 1, "only the call that fits is put to an approver");
        assert_eq!(requests[0].arguments.len(), MAX_REQUEST_ARGUMENTS_BYTES);
        let expected = PermissionRequest::new(
            &requests[0].conversation,
            &invocation("4242", "1001", "go", Vec::new()).item.message,
            "shell",
            &command(fits),
            "",
            0,
            1,
        );
        assert_eq!(requests[0].arguments_hash, expected.arguments_hash, "the hash is of the whole input");

        let model_requests = model.requests();
        let first = last_tool_results(&model_requests[1]);
        assert!(first[0].2 && first[0].1.contains("approval request"), "{first:?}");
        assert!(
            first[1].2
                && first[1].1.contains("its arguments are 32001 bytes; the limit for an approval request is 32000"),
            "{first:?}"
        );
        let second = last_tool_results(&model_requests[2]);
        assert_eq!(second[0].1, "invalid input: input field `command` is 32001 characters; the limit is 32000");
    }

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
