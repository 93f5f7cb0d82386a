//! The bounds on one run (model calls, tokens, wall time, tool calls) and what the model is told
//! of a call not run because of them.

use std::time::Duration;

use clawless_core::domain::permissions::REQUEST_TTL_MS;

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
/// The notice a run sends when the model gave no answer at all (it failed on every retry).
pub const MODEL_FAILED_ANSWER: &str =
    "I could not get an answer from the model just now. Please try again in a moment.";

/// The result of a tool call not run because the run's deadline has passed.
pub(super) fn time_is_up(limits: &RunLimits) -> (String, bool) {
    (
        format!(
            "Not run: the run's time is up (its limit is {}). No more tools run in this run.",
            shown_duration(limits.wall_time)
        ),
        true,
    )
}

/// `300 s`, or `250 ms` below a second (tests shorten the limits).
pub(super) fn shown_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
}
