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

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

pub use self::policy::{READ_ONLY_COMMANDS, read_only_argv};
pub use self::process::{CHILD_PATH, Captured, MAX_STREAM_BYTES, RunOutput, init_process_guard, run};
use super::workspace::{ensure, quota_note, usage};
use super::{Tool, ToolContext, ToolError, required_str, truncate_output};
use crate::provider::ToolSpec;
use crate::untrusted::{self, Kind};

/// Time limit per command unless the call asks for less.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest command accepted, in bytes.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;

pub struct Shell;

#[async_trait]
impl Tool for Shell {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "shell".into(),
            description: "Run a command with /bin/sh in this conversation's private workspace (the current \
                          folder) and get its exit code, stdout and stderr. No network credentials or secrets are \
                          available to it, stdin is empty, and it is killed after `timeout_secs` (at most 30); \
                          background processes are killed when the command ends. Each output stream is cut at \
                          64 KiB. If the profile is read-only, only one simple command (ls, cat, head, tail, wc, \
                          grep, find, stat, du, df, date, echo, pwd, sort, uniq, cut, tr, file) with \
                          workspace-relative paths is allowed: no pipes, redirections, `;`, `&`, `$` or backticks."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "command": {
                        "type": "string",
                        "description": "The command line, e.g. `ls -la` or `grep -n TODO notes.md`.",
                        "minLength": 1,
                        "maxLength": MAX_COMMAND_BYTES
                    },
                    "timeout_secs": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": DEFAULT_TIMEOUT.as_secs(),
                        "default": DEFAULT_TIMEOUT.as_secs(),
                        "description": "Seconds before the command is killed."
                    }
                },
                "required": ["command"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError> {
        let command = required_str(input, "command")?;
        if command.trim().is_empty() {
            return Err(ToolError::InvalidInput("`command` is empty".into()));
        }
        if command.len() > MAX_COMMAND_BYTES {
            return Err(ToolError::InvalidInput(format!("`command` is longer than {MAX_COMMAND_BYTES} bytes")));
        }
        if command.contains('\0') {
            return Err(ToolError::InvalidInput("`command` contains a NUL byte".into()));
        }
        let timeout = match input.get("timeout_secs") {
            None | Some(Value::Null) => DEFAULT_TIMEOUT,
            Some(v) => match v.as_u64() {
                Some(s) if s >= 1 => Duration::from_secs(s).min(DEFAULT_TIMEOUT),
                _ => return Err(ToolError::InvalidInput("`timeout_secs` must be a whole number from 1 to 30".into())),
            },
        };
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
