//! `shell`: runs a command in the session workspace.
//!
//! The child gets a cleared environment (only `PATH`, `HOME`, `LANG`: the agent's credentials and
//! keys are not inherited), no stdin, its own process group, and capped output. In production
//! each conversation has its own microVM, so the shell cannot reach other sessions' files.
//!
//! What runs is supervised by `process` (nothing a command starts outlives the call); with
//! `shell_read_only` in the profile, `policy` decides what may run at all.

mod policy;
mod process;

use std::num::NonZeroU64;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

pub use self::policy::{READ_ONLY_COMMANDS, read_only_argv};
pub use self::process::{CHILD_PATH, Captured, MAX_STREAM_BYTES, RunOutput, init_process_guard, run};
use super::workspace::{ensure, quota_note, usage};
use super::{ToolContext, ToolError, ToolName, TypedTool, truncate_output};
use crate::untrusted::{self, Kind};

/// Time limit per command unless the call asks for less.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest command accepted, in bytes.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;

pub struct Shell;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellInput {
    /// The command line, e.g. `ls -la` or `grep -n TODO notes.md`.
    #[schemars(length(min = 1, max = MAX_COMMAND_BYTES))]
    pub command: String,
    /// Seconds before the command is killed.
    #[schemars(range(min = 1, max = DEFAULT_TIMEOUT_SECS), extend("default" = DEFAULT_TIMEOUT_SECS))]
    pub timeout_secs: Option<NonZeroU64>,
}

const DEFAULT_TIMEOUT_SECS: u64 = DEFAULT_TIMEOUT.as_secs();

#[async_trait]
impl TypedTool for Shell {
    type Input = ShellInput;

    fn name(&self) -> ToolName {
        ToolName::Shell
    }

    fn description(&self) -> String {
        "Run a command with /bin/sh in this conversation's private workspace (the current folder) and get its \
         exit code, stdout and stderr. No network credentials or secrets are available to it, stdin is empty, and \
         it is killed after `timeout_secs` (at most 30); background processes are killed when the command ends. \
         Each output stream is cut at 64 KiB. If the profile is read-only, only one simple command (ls, cat, head, \
         tail, wc, grep, find, stat, du, df, date, echo, pwd, sort, uniq, cut, tr, file) with workspace-relative \
         paths is allowed: no pipes, redirections, `;`, `&`, `$` or backticks."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: ShellInput) -> Result<String, ToolError> {
        let command = input.command.as_str();
        if command.trim().is_empty() {
            return Err(ToolError::InvalidInput("`command` is empty".into()));
        }
        if command.len() > MAX_COMMAND_BYTES {
            return Err(ToolError::InvalidInput(format!("`command` is longer than {MAX_COMMAND_BYTES} bytes")));
        }
        if command.contains('\0') {
            return Err(ToolError::InvalidInput("`command` contains a NUL byte".into()));
        }
        // Longer than the limit is cut to it rather than refused.
        let timeout = input.timeout_secs.map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s.get()).min(DEFAULT_TIMEOUT));
        let argv = if ctx.profile.shell_read_only {
            read_only_argv(command)?
        } else {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), command.to_owned()]
        };
        let workspace = ensure(&ctx.workspace)?;
        let run = run(&workspace, &argv, timeout).await?;
        let mut report = run.report();
        // A command can write past the workspace's quota (only `file_write` enforces it); say so,
        // so the model knows why later writes are refused and can free space.
        if !ctx.profile.shell_read_only
            && let Some(note) = quota_note(usage(&workspace))
        {
            report = format!("{note}\n{report}");
        }
        if run.timed_out {
            return Err(ToolError::Failed(truncate_output(&format!(
                "timed out after {} s; the command and everything it started were killed.\n{report}",
                timeout.as_secs()
            ))));
        }
        Ok(truncate_output(&report))
    }
}

impl RunOutput {
    fn report(&self) -> String {
        let mut out = match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit code: {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "exit status unknown".to_owned(),
        };
        for (name, c) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if c.total == 0 {
                continue;
            }
            out.push('\n');
            out.push_str(&untrusted::wrap(
                Kind::CommandOutput,
                &[("stream", name)],
                String::from_utf8_lossy(&c.bytes).trim_end_matches('\n'),
            ));
            if c.total > c.bytes.len() {
                out.push_str(&format!("\n[{name} was {} bytes; only the first {} were kept]", c.total, c.bytes.len()));
            }
        }
        if self.stdout.total == 0 && self.stderr.total == 0 {
            out.push_str("\n(no output)");
        }
        out
    }
}
