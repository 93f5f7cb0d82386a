//! `shell`: runs a command in the session workspace.
//!
//! The child gets a cleared environment (only `PATH`, `HOME`, `LANG`: the agent's credentials and
//! keys are not inherited), no stdin, its own process group (killed as a whole on timeout and when
//! the command ends, so nothing it started lingers), and capped output. The agent process makes
//! itself non-dumpable first, so a child running as the same user cannot read the agent's
//! `/proc/<pid>/environ` or memory. In production each conversation has its own microVM, so the
//! shell cannot reach other sessions' files.
//!
//! With `shell_read_only` in the profile, only one simple command from [`READ_ONLY_COMMANDS`] runs,
//! without a shell: no metacharacters, no options that write files or run programs, and only
//! workspace-relative paths.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::workspace::ensure;
use super::{Tool, ToolContext, ToolError, required_str, truncate_output};
use crate::provider::ToolSpec;

/// Time limit per command unless the call asks for less.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes kept of each of stdout and stderr.
pub const MAX_STREAM_BYTES: usize = 64 * 1024;
/// Longest command accepted, in bytes.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;
/// The child's whole `PATH`.
pub const CHILD_PATH: &str = "/usr/bin:/bin";

/// The commands a read-only profile may run.
pub const READ_ONLY_COMMANDS: [&str; 18] = [
    "ls", "cat", "head", "tail", "wc", "grep", "find", "stat", "du", "df", "date", "echo", "pwd", "sort", "uniq",
    "cut", "tr", "file",
];

/// Characters a read-only command may not contain anywhere (shell syntax, escapes).
const READ_ONLY_FORBIDDEN: [char; 11] = [';', '&', '|', '>', '<', '`', '$', '(', ')', '\\', '\n'];

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
        let report = run.report();
        if run.timed_out {
            return Err(ToolError::Failed(truncate_output(&format!(
                "timed out after {} s; the command and everything it started were killed.\n{report}",
                timeout.as_secs()
            ))));
        }
        Ok(truncate_output(&report))
    }
}

/// What a finished (or killed) command left.
#[derive(Debug)]
pub struct RunOutput {
    /// `None` if it was killed by a signal.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// The first [`MAX_STREAM_BYTES`] of a stream and its full length.
#[derive(Debug, Default)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub total: usize,
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
            out.push_str(&format!("\n--- {name} ---\n"));
            out.push_str(String::from_utf8_lossy(&c.bytes).trim_end_matches('\n'));
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

/// Runs `argv` (no shell unless `argv` names one) in `workspace` with a clean environment and
/// its own process group, killing the group after `timeout` and once the command has ended.
pub async fn run(workspace: &Path, argv: &[String], timeout: Duration) -> Result<RunOutput, ToolError> {
    let (program, args) = argv.split_first().ok_or_else(|| ToolError::InvalidInput("no command".into()))?;
    harden_process();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(workspace)
        .env_clear()
        .env("PATH", CHILD_PATH)
        .env("HOME", workspace)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child =
        command.spawn().map_err(|e| ToolError::Failed(format!("could not start the command: {}", e.kind())))?;
    // The group id is the child's pid (process_group(0)); the guard kills the group even if this
    // future is dropped by the run's own tool timeout.
    let group = GroupKill(child.id().and_then(|id| i32::try_from(id).ok()));
    let stdout = child.stdout.take().map(|s| tokio::spawn(capture(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(capture(s)));

    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => (Some(status), false),
        Ok(Err(e)) => {
            group.kill();
            return Err(ToolError::Failed(format!("could not wait for the command: {}", e.kind())));
        }
        Err(_) => {
            group.kill();
            let _ = child.kill().await;
            (None, true)
        }
    };
    // Background processes would otherwise keep the pipes open (and run on).
    group.kill();
    let stdout = collect(stdout).await;
    let stderr = collect(stderr).await;
    Ok(RunOutput {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout,
        stderr,
    })
}

/// Reads a whole stream, keeping the first [`MAX_STREAM_BYTES`] and counting the rest, so the
/// child never blocks on a full pipe.
async fn capture<R: AsyncRead + Unpin>(mut stream: R) -> Captured {
    let mut captured = Captured::default();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return captured,
            Ok(n) => {
                let room = MAX_STREAM_BYTES.saturating_sub(captured.bytes.len());
                captured.bytes.extend_from_slice(&buf[..n.min(room)]);
                captured.total += n;
            }
        }
    }
}

async fn collect(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    let Some(mut task) = task else { return Captured::default() };
    // A process that left the group (setsid) may hold the pipe open; do not wait for it.
    match tokio::time::timeout(Duration::from_secs(2), &mut task).await {
        Ok(Ok(c)) => c,
        _ => {
            task.abort();
            Captured::default()
        }
    }
}

/// Kills a process group: explicitly, and again on drop.
struct GroupKill(Option<i32>);

impl GroupKill {
    fn kill(&self) {
        if let Some(pgid) = self.0.filter(|p| *p > 1) {
            // SAFETY: kill(2) takes plain integers; a negative pid addresses the group we created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes the agent process non-dumpable (once): its `/proc/<pid>/environ` and memory then belong
/// to root, so commands running as the agent's (non-root) user cannot read its credentials.
fn harden_process() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes a flag of this process.
            let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            if rc != 0 {
                tracing::warn!(event = "harden_failed", "could not make the agent process non-dumpable");
            }
        });
    }
}

/// The argv of a read-only command, or a refusal saying what the profile allows.
pub fn read_only_argv(command: &str) -> Result<Vec<String>, ToolError> {
    if let Some(c) = command.chars().find(|c| READ_ONLY_FORBIDDEN.contains(c) || (c.is_control() && *c != '\t')) {
        return Err(read_only_refusal(&format!("`{}` is not allowed", c.escape_default())));
    }
    let words = split_words(command)?;
    let Some((name, args)) = words.split_first() else {
        return Err(ToolError::InvalidInput("`command` is empty".into()));
    };
    if !READ_ONLY_COMMANDS.contains(&name.as_str()) {
        return Err(read_only_refusal(&format!("`{}` is not one of the allowed commands", name.escape_default())));
    }
    check_read_only_args(name, args)?;
    let program = find_program(name)
        .ok_or_else(|| ToolError::Failed(format!("`{name}` is not installed in this environment")))?;
    let mut argv = vec![program.to_string_lossy().into_owned()];
    argv.extend(args.iter().cloned());
    Ok(argv)
}

fn read_only_refusal(why: &str) -> ToolError {
    ToolError::Refused(format!(
        "{why}: this profile allows read-only commands only: one command from {} with workspace-relative \
         paths, and no pipes, redirections, `;`, `&`, `$`, backticks or parentheses",
        READ_ONLY_COMMANDS.join(", ")
    ))
}

/// Splits on whitespace; single and double quotes group words (no escapes: `\` and `$` are
/// refused before this).
fn split_words(command: &str) -> Result<Vec<String>, ToolError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ToolError::InvalidInput("`command` has an unclosed quote".into()));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Refuses options that would write files, run programs or change the system, and paths that
/// leave the workspace.
fn check_read_only_args(name: &str, args: &[String]) -> Result<(), ToolError> {
    let mut options_done = false;
    for arg in args {
        if escapes_workspace(arg) {
            return Err(read_only_refusal(&format!(
                "`{}` is outside the workspace (absolute paths and `..` are not allowed)",
                arg.escape_default()
            )));
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if options_done || !arg.starts_with('-') || arg == "-" {
            continue;
        }
        let bad = match name {
            "find" => matches!(
                arg.as_str(),
                "-delete" | "-exec" | "-execdir" | "-ok" | "-okdir" | "-fprint" | "-fprint0" | "-fprintf" | "-fls"
            ),
            "sort" => {
                short_cluster_has(arg, &['o', 'T'])
                    || long_option_is(arg, &["output", "compress-program", "temporary-directory"])
            }
            "date" => short_cluster_has(arg, &['s']) || long_option_is(arg, &["set"]),
            "file" => short_cluster_has(arg, &['C']) || long_option_is(arg, &["compile"]),
            _ => false,
        };
        if bad {
            return Err(read_only_refusal(&format!(
                "`{name} {}` can change files or run programs",
                arg.escape_default()
            )));
        }
    }
    // uniq's second operand is an output file.
    if name == "uniq" && count_uniq_operands(args) > 1 {
        return Err(read_only_refusal("`uniq INPUT OUTPUT` writes a file; give at most one file"));
    }
    Ok(())
}

/// `-abc` style arguments containing one of `letters`.
fn short_cluster_has(arg: &str, letters: &[char]) -> bool {
    !arg.starts_with("--") && arg.len() > 1 && arg[1..].chars().any(|c| letters.contains(&c))
}

/// `--name[=value]` where `name` is one of `names` or an abbreviation of it (GNU accepts those).
fn long_option_is(arg: &str, names: &[&str]) -> bool {
    let Some(rest) = arg.strip_prefix("--") else { return false };
    let name = rest.split('=').next().unwrap_or("");
    !name.is_empty() && names.iter().any(|n| n.starts_with(name))
}

/// uniq's file operands (options taking a separate value skipped).
fn count_uniq_operands(args: &[String]) -> usize {
    let mut count = 0;
    let mut skip_next = false;
    let mut options_done = false;
    for arg in args {
        if skip_next {
            skip_next = false;
        } else if options_done || !arg.starts_with('-') || arg == "-" {
            count += 1;
        } else if arg == "--" {
            options_done = true;
        } else if matches!(arg.as_str(), "-f" | "-s" | "-w") {
            skip_next = true;
        }
    }
    count
}

/// Whether an argument names a path outside the workspace: absolute, `..`, or such a value
/// attached to an option (`--from=/x`, `-f/x`).
fn escapes_workspace(arg: &str) -> bool {
    let mut values = vec![arg];
    if let Some((_, value)) = arg.split_once('=') {
        values.push(value);
    }
    if let Some(rest) = arg.strip_prefix('-').filter(|r| !r.starts_with('-')) {
        values.push(rest.trim_start_matches(|c: char| c.is_ascii_alphabetic()));
    }
    values.iter().any(|v| v.starts_with('/') || v.starts_with('~') || v.split('/').any(|part| part == ".."))
}

fn find_program(name: &str) -> Option<PathBuf> {
    CHILD_PATH.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(command: &str) -> bool {
        matches!(read_only_argv(command), Err(ToolError::Refused(_)))
    }

    #[test]
    fn read_only_refuses_shell_syntax_and_other_commands() {
        for c in [
            "rm x",
            "cat a; rm b",
            "echo $(id)",
            "echo `id`",
            "ls > f",
            "cat < /etc/passwd",
            "ls | sh",
            "ls && rm x",
            "ls &",
            "ls\nrm x",
            "/bin/rm x",
            "sh -c ls",
            "env",
            "find . -delete",
            "find . -exec rm {} +",
            "find . -fprint out",
            "sort -o out in",
            "sort -ro out in",
            "sort --output=out in",
            "sort --out=out in",
            "sort --compress-program=sh in",
            "date -s 2020-01-01",
            "date --set=2020-01-01",
            "file -C",
            "uniq in out",
            "cat /etc/passwd",
            "cat ../other/secret",
            "cat a/../../b",
            "grep -f/etc/passwd x",
            "grep --file=/etc/passwd x",
            "cat ~/x",
            "echo \\x",
        ] {
            assert!(refused(c), "{c:?} should be refused");
        }
    }

    #[test]
    fn read_only_allows_simple_reads() {
        for c in [
            "ls -la",
            "cat notes.txt",
            "grep -rn 'two words' .",
            "find . -name '*.md'",
            "sort -k2 -n data.csv",
            "uniq -c sorted.txt",
            "date +%s",
            "wc -l a b",
            "head -n 5 \"my file.txt\"",
        ] {
            let argv = read_only_argv(c).unwrap_or_else(|e| panic!("{c:?} should be allowed: {e}"));
            assert!(argv[0].starts_with('/'), "runs the program by absolute path");
        }
        let argv = read_only_argv("grep -n 'a b' \"c d\"").unwrap();
        assert_eq!(&argv[1..], ["-n", "a b", "c d"]);
        assert!(matches!(read_only_argv("cat 'open"), Err(ToolError::InvalidInput(_))));
    }
}
