//! The tool gate: every call the model makes is checked again against the profile (the model was
//! offered only what it allows) and the input limits, then run, run with an approval, or put to
//! the approver; and calls are bounded by the run's time and call limits.

use std::sync::Mutex;
use std::time::Instant;

use clawless_core::approvals::Grant;
use clawless_core::domain::envelope::{AgentInvocation, AgentReport, ENVELOPE_VERSION, OnceGrant};
use clawless_core::domain::model::now_ms;
use clawless_core::domain::permissions::{
    MAX_REQUEST_ARGUMENTS_BYTES, PermissionProfile, PermissionRequest, ToolDecision,
};
use clawless_core::observe::{audit, metrics};
use serde_json::Value;

use super::AgentDeps;
use super::limits::{shown_duration, time_is_up};
use crate::provider::Block;
use crate::tools::{ToolContext, ToolError, truncate_output, validate_input};

/// Uses up the run's approve-once grant if it covers `wanted`: same tool, same arguments, same
/// requester (another user in the same group does not get it).
pub(super) fn take_once_grant(grants: &Mutex<Vec<OnceGrant>>, wanted: &PermissionRequest) -> Option<Grant> {
    let mut grants = grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = grants.iter().position(|g| {
        g.tool == wanted.tool && g.arguments_hash == wanted.arguments_hash && g.requester_id == wanted.requester_id
    })?;
    Some(Grant::Once { request_id: grants.remove(at).request_id })
}

/// What a run's tool calls are checked and run with.
pub(super) struct RunScope<'a> {
    pub(super) deps: &'a AgentDeps,
    pub(super) ctx: &'a ToolContext,
    pub(super) profile: &'a PermissionProfile,
    pub(super) latest: &'a AgentInvocation,
    pub(super) once_grants: &'a Mutex<Vec<OnceGrant>>,
    /// Everything the run does ends at this instant.
    pub(super) deadline: Instant,
    /// The run's progress reports, if on.
    pub(super) heartbeat: Option<&'a super::progress::Heartbeat>,
    /// The run's tools: the built-ins and the bot's MCP servers' tools.
    pub(super) tools: &'a crate::tools::ToolBox,
}

/// The results of one model response's tool calls, one per call and in order (the model's
/// protocol wants a result for every call). Only calls within the run's deadline and its
/// per-response and per-run call limits run; `tool_calls_run` counts the run's calls so far.
pub(super) async fn tool_results(
    scope: &RunScope<'_>,
    calls: Vec<(String, String, Value)>,
    tool_calls_run: &mut u32,
) -> Vec<Block> {
    let limits = &scope.deps.limits;
    let mut results = Vec::with_capacity(calls.len());
    for (index, (id, name, input)) in calls.into_iter().enumerate() {
        let (content, is_error) = if Instant::now() >= scope.deadline {
            time_is_up(limits)
        } else if index >= limits.max_tool_calls_per_response as usize {
            tracing::warn!(event = "run_limit", limit = "tool_calls_per_response", tool = %name, "tool call over the per-response limit not run");
            (
                format!(
                    "Not run: at most {} tool calls are run from one response (the per-response limit). Call \
                     the rest in your next response if you still need them.",
                    limits.max_tool_calls_per_response
                ),
                true,
            )
        } else if *tool_calls_run >= limits.max_tool_calls_per_run {
            tracing::warn!(event = "run_limit", limit = "tool_calls_per_run", tool = %name, "tool call over the per-run limit not run");
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
            if let Some(heartbeat) = scope.heartbeat {
                heartbeat.tool_started(&name).await;
            }
            call_tool(scope, &name, &input).await
        };
        results.push(Block::ToolResult { tool_use_id: id, content, is_error });
    }
    results
}

/// The metric and audit event of a tool call the gate refused.
pub(super) fn denied(latest: &AgentInvocation, tool: &str, reason: &str) {
    let c = &latest.item.conversation;
    metrics::count(metrics::Metric::PermissionDenials, &c.tenant_id);
    let detail =
        serde_json::json!({"tool": tool, "reason": reason, "message_id": latest.item.message.message_id.as_str()});
    audit::emit(audit::AuditKind::PermissionDenied, c, detail);
}

/// Checks and runs one tool call; returns the result text for the model and whether it failed.
async fn call_tool(scope: &RunScope<'_>, name: &str, input: &Value) -> (String, bool) {
    let RunScope { deps, ctx, profile, latest, once_grants, deadline, tools, .. } = *scope;
    let decision = profile.decide(name);
    if matches!(decision, ToolDecision::Allowed | ToolDecision::NeedsApproval)
        && let Err(e) = validate_input(name, input)
    {
        // Refused whole, never cut: a cut input would run (or be put to an approver) as
        // something the model did not ask for.
        tracing::warn!(event = "tool_rejected", reason = "input_limit", tool = name, error = %e, "tool input over its limits refused");
        return (ToolError::from(e).to_string(), true);
    }
    match decision {
        ToolDecision::Invalid => {
            tracing::warn!(event = "tool_rejected", reason = "invalid_name", "the model called a malformed tool name");
            ("There is no tool with that name.".into(), true)
        }
        ToolDecision::Blocked => {
            tracing::warn!(
                event = "permission_denied",
                source = "tool_gate",
                reason = "always_blocked",
                tool = name,
                "always-blocked tool refused"
            );
            denied(latest, name, "always_blocked");
            (format!("The tool `{name}` is blocked by platform policy and can never be used. Do not try again."), true)
        }
        ToolDecision::NeedsApproval => {
            // Built from the whole input: the hash an approval covers is of exactly what runs.
            let request = PermissionRequest::new(
                &latest.item.conversation,
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
                    tracing::info!(event = "token_used", tool = name, grant = kind, request_id = %request_id, "an approval lets the tool run");
                    return run_tool(deps, tools, ctx, name, input, deadline).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(event = "grant_lookup_failed", error = %e, "treating as not approved")
                }
            }
            if request.arguments.len() > MAX_REQUEST_ARGUMENTS_BYTES {
                tracing::warn!(
                    event = "permission_denied",
                    source = "tool_gate",
                    reason = "not_in_profile",
                    tool = name,
                    bytes = request.arguments.len(),
                    "tool outside the profile refused; too large to put to an approver"
                );
                denied(latest, name, "not_in_profile");
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
            tracing::warn!(event = "permission_denied", source = "tool_gate", reason = "not_in_profile", tool = name, request_id = %request.request_id, "tool outside the profile refused; approval requested");
            denied(latest, name, "not_in_profile");
            let report = AgentReport::PermissionRequest {
                v: ENVELOPE_VERSION,
                scope: latest.scope.clone(),
                request: Box::new(request.clone()),
            };
            match deps.sink.report(&report).await {
                Ok(_) => {
                    tracing::info!(event = "approval_requested", request_id = %request.request_id, tool = name, risk = request.risk.as_str(), "permission request sent to the platform");
                }
                Err(e) => {
                    tracing::error!(event = "approval_request_failed", request_id = %request.request_id, error = %e, "permission request not sent")
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
        ToolDecision::Allowed => run_tool(deps, tools, ctx, name, input, deadline).await,
    }
}

/// Runs a tool the gate let through (input already validated), until its own time limit or the
/// run's deadline, whichever comes first.
async fn run_tool(
    deps: &AgentDeps,
    tools: &crate::tools::ToolBox,
    ctx: &ToolContext,
    name: &str,
    input: &Value,
    deadline: Instant,
) -> (String, bool) {
    let Some(tool) = tools.get(name) else {
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
    tracing::info!(
        event = "tool_called",
        tool = name,
        ok,
        duration_ms = started.elapsed().as_millis() as u64,
        "tool call finished"
    );
    match result {
        Ok(text) => (truncate_output(&text), false),
        Err(e) => {
            if matches!(e, ToolError::Refused(_)) {
                tracing::warn!(event = "tool_refused", tool = name, error = %e, "tool refused the call");
            }
            (e.to_string(), true)
        }
    }
}
