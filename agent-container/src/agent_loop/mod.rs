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

mod answered;
mod limits;
mod progress;
mod reply;
#[cfg(test)]
mod tests;
mod tool_calls;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clawless_core::approvals::RESUME_SUFFIX;
use clawless_core::domain::envelope::{AgentInvocation, OnceGrant};
use clawless_core::domain::ids::RuntimeSessionId;
use clawless_core::domain::model::{HistoryEntry, Role};
use clawless_core::domain::permissions::{ALWAYS_BLOCKED, UserRef};
use clawless_core::safety;
use serde_json::Value;
use tracing::{Instrument, Span};

pub use self::answered::AnsweredHere;
pub use self::limits::{
    LIMITS_ANSWER, MAX_OUTPUT_TOKENS, MAX_RUN_TOKENS, MAX_TOOL_CALLS_PER_RESPONSE, MAX_TOOL_CALLS_PER_RUN, MAX_TURNS,
    MODEL_FAILED_ANSWER, RUN_WALL_TIME, RunLimits, TOOL_TIME,
};
pub use self::reply::RetryPolicy;
use self::reply::{report_run, run_summary, send_reply};
use self::tool_calls::{RunScope, tool_results};
use crate::memory::{MemoryLayer, PROMPT_LAYER_CHARS, head_tail};
use crate::prompt::{PromptContext, system_prompt};
use crate::provider::{ChatMessage, ChatRole, ModelRequest, ModelResponse, Providers, TokenUsage, push_message};
use crate::reply_sink::ReplySink;
use crate::services::TenantServices;
use crate::tools::{ToolBox, ToolContext, web::WebSettings};
use crate::untrusted;

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
    /// The answers this process sent, per session (see [`AnsweredHere`]).
    pub answered: AnsweredHere,
    /// How often a run reports progress while it lasts (`CLAWLESS_PROGRESS_SECS`); `None`: no
    /// reports (see [`progress`]).
    pub progress_every: Option<std::time::Duration>,
    /// Voice notes and audio to text (see [`crate::attachments`]).
    pub transcripts: Arc<dyn crate::attachments::Transcripts>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The final answer is in the sink, under this id, after this many attempts.
    Replied { sink_id: String, attempts: u32 },
    /// The model failed; the notice [`MODEL_FAILED_ANSWER`] was sent in its place.
    ModelFailed,
    /// The model answered with nothing; nothing was sent.
    EmptyAnswer,
    /// Every attempt to send the reply failed.
    ReplyFailed,
}

/// Answers `batch` (the conversation's waiting messages, oldest first; the last is the one the
/// answer replies to), in its [`run_span`]. Never panics on bad input and never logs message
/// text.
pub async fn run(deps: &AgentDeps, session: &RuntimeSessionId, batch: &[AgentInvocation]) -> Outcome {
    let Some(latest) = batch.last() else { return Outcome::EmptyAnswer };
    answer(deps, session, batch, latest).instrument(run_span(session, latest)).await
}

/// The span a run's events belong to: whose conversation it is and which message the run
/// answers. The events themselves carry only what is particular to them.
pub fn run_span(session: &RuntimeSessionId, latest: &AgentInvocation) -> Span {
    let c = &latest.item.conversation;
    tracing::info_span!(
        "run",
        tenant_id = %c.tenant_id,
        bot_id = %c.bot_id,
        session_id = %session,
        message_id = %latest.item.message.message_id,
        trace_id = latest.trace_id.as_deref(),
    )
}

/// The run itself: [`run`] without its span.
async fn answer(
    deps: &AgentDeps,
    session: &RuntimeSessionId,
    batch: &[AgentInvocation],
    latest: &AgentInvocation,
) -> Outcome {
    let started = Instant::now();
    let conversation = &latest.item.conversation;
    let message = &latest.item.message;

    // Earlier messages a recycled microVM never answered (found by the dispatcher; those this
    // process accepted itself were dropped when it accepted the invocation) come first.
    let mut waiting: Vec<HistoryEntry> = Vec::new();
    for lost in batch.iter().flat_map(|inv| &inv.unanswered) {
        if !waiting.iter().any(|w| w.message_id == lost.message_id) {
            waiting.push(lost.clone());
        }
    }
    if !waiting.is_empty() {
        tracing::info!(
            event = "lost_work_taken_up",
            messages = waiting.len(),
            "answering messages a recycled session never answered"
        );
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
        tracing::info!(
            event = "run_batched",
            messages = waiting.len(),
            "answering several waiting messages in one run"
        );
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
    // A `/reset` erased the conversation's layer: a copy cached before it must not come back.
    if batch.iter().any(|inv| inv.memory_reset_at_ms.is_some()) {
        deps.services.forget_memory(conversation);
    }
    let memory = deps.services.memory(conversation);
    let mut layers = Vec::new();
    for layer in MemoryLayer::ALL {
        match memory.read(layer).await {
            Ok(Some(text)) if !text.trim().is_empty() => layers.push((layer, head_tail(&text, PROMPT_LAYER_CHARS))),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(event = "memory_read_failed", layer = %layer, error = %e, "memory layer skipped")
            }
        }
    }

    // The bot's skills: names and descriptions for the prompt; the bodies only on `skill_read`.
    let skills = deps.services.skills(conversation);
    let skill_list = match skills.as_ref() {
        Some(s) => s.index().await.map(|i| i.skills).unwrap_or_else(|e| {
            tracing::warn!(event = "skills_read_failed", error = %e, "skills left out of the prompt");
            Vec::new()
        }),
        None => Vec::new(),
    };

    // The bot's MCP servers, for this run only: their tools join the built-ins and pass the
    // same gate (the sessions end when the run's tool box and `_mcp` are dropped).
    let mut tools = deps.tools.clone();
    let _mcp = crate::mcp::RunServers::connect(&latest.mcp_servers, &mut tools).await;
    let offered = tools.offered(&profile);
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
        skills: &skill_list,
    });
    // Long-term memory (AgentCore Memory backend only): recalled records as untrusted blocks.
    let long_term = deps.services.long_term(conversation);
    let system =
        crate::long_term::with_recalled(system, &crate::long_term::recall(long_term.as_deref(), &waiting).await);

    let mut messages = Vec::new();
    let in_run: BTreeSet<&str> = waiting.iter().map(|w| w.message_id.as_str()).collect();
    for h in latest.history.iter().filter(|h| !in_run.contains(h.message_id.as_str())) {
        push_message(&mut messages, history_message(h, message.is_direct));
        // This process's answer to it, where the history does not hold its line yet.
        if let Some(answer) = deps.answered.missing_answer(session, h, &latest.history) {
            push_message(&mut messages, ChatMessage::assistant_text(answer));
        }
    }
    for w in &waiting {
        push_message(&mut messages, ChatMessage::user_text(format!("[{}] {}", one_line(&w.sender_name), w.text)));
    }
    // The files the batch's messages carried, after their texts.
    let workspace = deps.workspace_root.join(session.as_str());
    let files = deps.services.files(conversation);
    // Transcripts with the handed credentials where transcription is on, else the run's default.
    let tenant_transcripts = if batch.iter().any(|inv| !inv.attachments.is_empty()) {
        deps.services.transcripts(conversation)
    } else {
        None
    };
    let transcripts = tenant_transcripts.as_deref().unwrap_or(deps.transcripts.as_ref());
    for inv in batch.iter().filter(|inv| !inv.attachments.is_empty() || !inv.attachment_notes.is_empty()) {
        let prepared = crate::attachments::prepare(files.as_deref(), inv, &workspace, transcripts).await;
        if !prepared.blocks.is_empty() {
            push_message(
                &mut messages,
                ChatMessage { role: crate::provider::ChatRole::User, content: prepared.blocks },
            );
        }
    }

    // Typing (and for a long run, a status message) from here to the answer.
    let heartbeat = progress::Heartbeat::start(&deps.sink, deps.progress_every, latest, started).await;
    // The tenant's own provider (resolved by the dispatcher, with its key) over the bot's choice
    // among the platform's.
    let provider = match &latest.provider {
        Some(grant) => deps.providers.for_grant(grant),
        None => deps.providers.get(latest.bot.model_provider.as_deref().and_then(|p| p.parse().ok())),
    };
    let model_id = match &latest.provider {
        Some(grant) => Some(grant.model.clone()),
        None => latest.bot.model_id.clone(),
    };
    let ctx = ToolContext {
        conversation: conversation.clone(),
        workspace,
        profile: profile.clone(),
        memory,
        outbox: Mutex::new(Vec::new()),
        web: deps.web.clone(),
        files: files.clone(),
        outgoing: Mutex::new(Vec::new()),
        run_id: message.message_id.to_string(),
        skills,
    };
    let mut usage = TokenUsage::default();
    let mut seq = 0u32;
    let mut final_text: Option<String> = None;
    // Everything the run does, tool calls included, ends at this instant.
    let deadline = started + deps.limits.wall_time;
    let scope = RunScope {
        deps,
        ctx: &ctx,
        profile: &profile,
        latest,
        once_grants: &once_grants,
        deadline,
        heartbeat: heartbeat.as_ref(),
        tools: &tools,
    };
    let mut tool_calls_run = 0u32;
    // Intermediate replies sent so far (the outbox keeps the run's, so its limit is per run).
    let mut relayed = 0usize;
    let mut stopped_at_limit = false;

    for turn in 1..=deps.limits.max_turns {
        let request = ModelRequest {
            model_id: model_id.clone(),
            system: system.clone(),
            messages: messages.clone(),
            tools: offered.clone(),
            max_output_tokens: deps.limits.max_output_tokens,
        };
        if let Some(heartbeat) = &heartbeat {
            heartbeat.thinking().await;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response: ModelResponse = match tokio::time::timeout(remaining, provider.complete(&request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(event = "model_failed", provider = provider.name(), turn, error = %e, "the model could not answer");
                break;
            }
            Err(_) => {
                tracing::warn!(event = "run_limit", limit = "wall_time", turn, "run stopped at its wall-time limit");
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
            send_reply(deps, latest, seq, text, None, Vec::new()).await;
        }
        push_message(&mut messages, ChatMessage { role: ChatRole::User, content: results });
        if Instant::now() >= deadline {
            tracing::warn!(
                event = "run_limit",
                limit = "wall_time",
                turn,
                "run stopped at its wall-time limit during tool calls"
            );
            stopped_at_limit = true;
            break;
        }
        if usage.total() >= deps.limits.max_tokens {
            tracing::warn!(
                event = "run_limit",
                limit = "tokens",
                tokens = usage.total(),
                "run stopped at its token limit"
            );
            stopped_at_limit = true;
            break;
        }
        if turn == deps.limits.max_turns {
            tracing::warn!(event = "run_limit", limit = "turns", turns = turn, "run stopped at its turn limit");
            stopped_at_limit = true;
        }
    }

    // No report after this: the run's answer (or its report) is next on the queue.
    if let Some(heartbeat) = heartbeat {
        heartbeat.stop().await;
    }
    let text = match final_text {
        Some(t) if !t.trim().is_empty() => t,
        Some(_) => {
            tracing::warn!(
                event = "model_empty_answer",
                provider = provider.name(),
                "the model answered with nothing; no reply sent"
            );
            report_run(deps, latest, run_summary(usage, &waiting, None)).await;
            return Outcome::EmptyAnswer;
        }
        None if stopped_at_limit || seq > 0 || usage.total() > 0 => LIMITS_ANSWER.to_owned(),
        None => {
            // The model never answered (every retry failed): the sender gets a notice rather than
            // silence, and the notice's summary marks the waiting messages answered, as an answer's
            // would. Only if even the notice cannot be queued are they reported without one.
            seq += 1;
            let summary = run_summary(usage, &waiting, Some(message.message_id.as_str()));
            let notice = send_reply(deps, latest, seq, MODEL_FAILED_ANSWER.to_owned(), Some(summary), Vec::new()).await;
            if matches!(notice, Outcome::Replied { .. }) {
                deps.answered.remember(session, message.message_id.as_str(), MODEL_FAILED_ANSWER);
            } else {
                report_run(deps, latest, run_summary(usage, &waiting, None)).await;
            }
            return Outcome::ModelFailed;
        }
    };

    // Second net after the tool gate: an answer that claims a tool the profile does not allow
    // (which cannot have run) is logged, so a model pretending to have used it is seen.
    for finding in safety::audit_response(&text, &offered_names) {
        tracing::warn!(event = "permission_denied", source = "response_audit", tool = %finding.tool, "the answer claims a tool the profile does not allow");
        tool_calls::denied(latest, &finding.tool, "claimed_in_answer");
    }

    seq += 1;
    let summary = run_summary(usage, &waiting, Some(message.message_id.as_str()));
    let outcome = send_reply(deps, latest, seq, text.clone(), Some(summary), ctx.take_files()).await;
    if matches!(outcome, Outcome::Replied { .. }) {
        deps.answered.remember(session, message.message_id.as_str(), &text);
        crate::long_term::remember(long_term.as_deref(), &waiting, &text).await;
        // The message the answer replies to is not marked (one write less per message): the
        // reply function's line (`{sk}#r{seq}`) marks it answered for the dispatcher. Until that
        // line is written the dispatcher still hands it on as unanswered, and this process skips
        // it as its own. The window: if this microVM is recycled (or stopped idle) after the
        // reply is queued and before the reply function records it (normally about a second;
        // longer while a channel refuses sends and the reply waits on its queue), the next
        // message's new microVM answers it again.
        let tenant = &latest.item.conversation.tenant_id;
        let metrics = clawless_core::observe::metrics::Metric::AgentRuns;
        clawless_core::observe::metrics::count(metrics, tenant);
        let duration = clawless_core::observe::metrics::Metric::AgentRunDuration;
        clawless_core::observe::metrics::record(duration, started.elapsed().as_millis() as f64, Some(tenant));
        tracing::info!(
            event = "run_finished",
            replies = seq,
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            duration_ms = started.elapsed().as_millis() as u64,
            "run finished"
        );
    } else {
        report_run(deps, latest, run_summary(usage, &waiting, None)).await;
    }
    outcome
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
