//! How a `shell` call's processes are started, captured and ended.
//!
//! **Nothing outlives the call.** A process group is not enough: `setsid` or a double fork leaves
//! it, and the orphan would be adopted by init and run on. [`init_process_guard`] (called at
//! start-up, and again before any command, once per process) makes the agent process a child
//! subreaper, so every orphan of a command is adopted by the agent instead and stays its
//! descendant. When a call ends (done, failed, timed out, or its future dropped by the run's own
//! time limit) the group is killed, then every descendant of the agent process that started no
//! earlier than the command is found through `/proc` (parent links), sent SIGKILL and, once it
//! is the agent's child, reaped; this repeats until none is left (a bounded number of rounds, so
//! a fork bomb cannot hold the call forever). Killing descendants wholesale is right because the
//! agent starts no processes but shell commands, and calls are serialised within the process (one
//! conversation per agent, one command at a time; a lock makes it so even for concurrent runs).
//! Signals go through a pidfd after re-reading the process's start time, so a pid that was freed
//! and reused by an unrelated process in between is never signalled. A PID namespace would do
//! this more simply but needs privileges (or a user namespace) the agent does not have.
//!
//! The same guard makes the agent process non-dumpable, so a child running as the same user
//! cannot read the agent's `/proc/<pid>/environ` or memory.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::tools::ToolError;

/// Bytes kept of each of stdout and stderr.
pub const MAX_STREAM_BYTES: usize = 64 * 1024;
/// The child's whole `PATH`.
pub const CHILD_PATH: &str = "/usr/bin:/bin";

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

/// One command at a time per process: when a call ends, every process started since its command
/// is ended, which must not reach another call's processes.
static ONE_CALL_AT_A_TIME: LazyLock<Arc<tokio::sync::Mutex<()>>> = LazyLock::new(Default::default);

/// Runs `argv` (no shell unless `argv` names one) in `workspace` with a clean environment and
/// its own process group, killing it after `timeout`; when the call ends, everything the command
/// started is killed too (see the module doc).
pub async fn run(workspace: &Path, argv: &[String], timeout: Duration) -> Result<RunOutput, ToolError> {
    let (program, args) = argv.split_first().ok_or_else(|| ToolError::InvalidInput("no command".into()))?;
    init_process_guard();
    let turn = Arc::clone(&ONE_CALL_AT_A_TIME).lock_owned().await;
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
    // The group id is the child's pid (process_group(0)). The guard ends the group and every
    // process started since, even if this future is dropped by the run's own tool timeout.
    let mut call = CallGuard::new(child.id().and_then(|id| i32::try_from(id).ok()), turn);
    let stdout = child.stdout.take().map(|s| tokio::spawn(capture(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(capture(s)));

    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => (Some(status), false),
        Ok(Err(e)) => {
            call.end();
            return Err(ToolError::Failed(format!("could not wait for the command: {}", e.kind())));
        }
        Err(_) => {
            call.end();
            let _ = child.kill().await;
            (None, true)
        }
    };
    // Background processes would otherwise keep the pipes open (and run on).
    call.end();
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

/// One shell call's processes: its group, and every descendant of the agent process started no
/// earlier than its command. Ended explicitly, and again on drop; holds the call's turn until then.
struct CallGuard {
    /// The command's pid, which is also its process group id.
    pid: Option<i32>,
    /// The command's start time (clock ticks since boot, as in `/proc/<pid>/stat`).
    started: u64,
    ended: bool,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl CallGuard {
    fn new(pid: Option<i32>, turn: tokio::sync::OwnedMutexGuard<()>) -> Self {
        // Read before the command can have been reaped (only this call waits for it). Unreadable,
        // every descendant counts: calls are serialised, so all of them are this call's anyway.
        let started = pid.and_then(proc_stat).map_or(0, |s| s.started);
        Self { pid, started, ended: false, _turn: turn }
    }

    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Some(pgid) = self.pid.filter(|p| *p > 1) {
            // SAFETY: kill(2) takes plain integers; a negative pid addresses the group we created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        end_descendants(self.started, self.pid);
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.end();
    }
}

/// Makes the agent process a child subreaper and non-dumpable, once per process. Call it at
/// start-up, before any command runs: then orphans of commands (`setsid`, double forks) are
/// adopted by the agent, which can find and end them, and a command running as the agent's
/// (non-root) user cannot read the agent's `/proc/<pid>/environ` or memory (they belong to root).
pub fn init_process_guard() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes a flag of this process.
            if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
                tracing::warn!(event = "harden_failed", "could not make the agent process non-dumpable");
            }
            // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only changes a flag of this process.
            if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
                tracing::warn!(
                    event = "harden_failed",
                    "could not make the agent process a child subreaper; processes that leave a command's group may outlive it"
                );
            }
        });
    }
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    pid: i32,
    ppid: i32,
    zombie: bool,
    /// Clock ticks after boot.
    started: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// Fields after the command name (which may hold spaces and parentheses, so the last `)` ends
/// it): state is the 3rd field of the line, ppid the 4th, starttime the 22nd.
fn parse_stat(pid: i32, stat: &str) -> Option<ProcStat> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        zombie: matches!(*fields.first()?, "Z" | "X"),
        ppid: fields.get(1)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

/// Every process in `/proc`.
fn processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok()).filter_map(proc_stat).collect()
}

/// The descendants of `root` in `table`, through parent links (`root` itself excluded).
fn descendants(root: i32, table: &[ProcStat]) -> Vec<ProcStat> {
    let mut found: Vec<ProcStat> = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for p in table.iter().filter(|p| p.ppid == parent && p.pid != root) {
            if !found.iter().any(|f| f.pid == p.pid) {
                found.push(*p);
                parents.push(p.pid);
            }
        }
    }
    found
}

/// Rounds of "find, kill, reap" before giving up (a few milliseconds each).
const MAX_ROUNDS: usize = 200;

/// Kills every descendant of this process started at or after `since` and reaps those that
/// became its children, until none is left. `spared` (the command itself) is killed but never
/// reaped here: tokio waits for it.
fn end_descendants(since: u64, spared: Option<i32>) {
    #[cfg(target_os = "linux")]
    {
        let Ok(me) = i32::try_from(std::process::id()) else { return };
        for _ in 0..MAX_ROUNDS {
            let table = processes();
            let mut left = false;
            for p in descendants(me, &table).into_iter().filter(|p| p.started >= since) {
                if !p.zombie {
                    kill_same_process(&p);
                    left = true;
                } else if p.ppid == me && Some(p.pid) != spared {
                    let mut status = 0;
                    // SAFETY: waitpid on one specific child of ours, without blocking.
                    unsafe {
                        libc::waitpid(p.pid, &mut status, libc::WNOHANG);
                    }
                    left = true;
                } else if p.ppid != me {
                    // Its parent is still ending; once gone, the zombie is ours to reap.
                    left = true;
                }
            }
            if !left {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        tracing::warn!(event = "shell_cleanup_incomplete", "processes a command started were still starting");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (since, spared);
}

/// SIGKILL to `p` if the pid still names the process that was read (same start time).
#[cfg(target_os = "linux")]
fn kill_same_process(p: &ProcStat) {
    let same = |pid: i32| proc_stat(pid).is_some_and(|now| now.started == p.started && !now.zombie);
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new file descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.pid, 0) };
    if fd < 0 {
        // A kernel before 5.3 has no pidfds: check and signal by pid (a window of microseconds).
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) && same(p.pid) {
            // SAFETY: kill(2) takes plain integers.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
        }
        return;
    }
    let Ok(fd) = libc::c_int::try_from(fd) else { return };
    // The descriptor pins the process that had the pid when it was opened; if that is still the
    // one read from /proc, the signal can only reach it.
    if same(p.pid) {
        // SAFETY: pidfd_send_signal(2) with a pidfd we own, a signal number, no siginfo, no flags.
        unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, fd, libc::SIGKILL, std::ptr::null::<libc::siginfo_t>(), 0);
        }
    }
    // SAFETY: closing the descriptor pidfd_open gave us.
    unsafe {
        libc::close(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 987654 2281472 224 18446744073709551615";
        let p = parse_stat(4242, line).unwrap();
        assert_eq!((p.pid, p.ppid, p.zombie, p.started), (4242, 17, false, 987654));
        let zombie = "77 (sh) Z 1 77 77 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 123 0 0";
        assert!(parse_stat(77, zombie).unwrap().zombie);
        assert!(parse_stat(1, "1 (init").is_none());
        assert!(parse_stat(1, "1 (init) S").is_none());
    }

    #[test]
    fn descendants_follow_parent_links_and_skip_the_root() {
        let p = |pid, ppid| ProcStat { pid, ppid, zombie: false, started: 0 };
        let table = [p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(20, 1), p(21, 20)];
        let mut found: Vec<i32> = descendants(10, &table).iter().map(|d| d.pid).collect();
        found.sort_unstable();
        assert_eq!(found, [11, 12, 13]);
        assert!(descendants(12, &table).is_empty());
    }
}
