//! What the benchmarks share: paths, /proc readings, and a bot to load.

#![allow(dead_code)]

use std::path::PathBuf;

use clawless_cli::admin::Admin;
use clawless_core::domain::model::{Bot, Tenant};
use clawless_local::LocalStack;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A `/proc/<pid>/status` memory field (`VmHWM`, `VmRSS`, …) in KiB (Linux).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident set size of a process in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

/// Resident set size of a process in KiB now (VmRSS).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// The `p` quantile (0 to 1) of `samples`, nearest rank; NaN when there are none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() - 1) as f64 * p).round() as usize]
}

/// The agent processes a bench's local stack started (children of this process).
pub fn agent_pids() -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                let Some((name, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(')')) else {
                    return false;
                };
                // Field 4, the parent's pid, is the second field after the name.
                name.starts_with("clawless-agent") && rest.split_whitespace().nth(1) == Some(me.as_str())
            })
        })
        .collect()
}

/// Clock ticks per second of /proc's CPU times.
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process in clock ticks, from /proc/<pid>/stat (Linux).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields that follow start after its closing ')'.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
}

/// CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_ticks(pid).map(|t| t as f64 / clock_ticks())
}

/// The webhook secret of the benchmark bots (the sample events' documented test secret).
pub const BENCH_SECRET: &str = "test-webhook-secret-not-for-production";

/// A tenant, a bot and its Telegram channel, created through the operator code path.
pub async fn bench_bot(stack: &LocalStack, tenant_name: &str) -> (Tenant, Bot) {
    let admin = Admin::new(&stack.sdk, &stack.stack);
    let tenant = admin.create_tenant(tenant_name).await.expect("tenant");
    // Open: the benches measure the message path, not pairing.
    let settings = clawless_core::domain::model::BotSettings {
        dm: Some(clawless_core::access::DmPolicy::Open),
        ..Default::default()
    };
    let bot = admin.create_bot(tenant.tenant_id.as_str(), "bench", settings).await.expect("bot");
    let settings =
        [("bot_token".to_owned(), "1:bench".to_owned()), ("webhook_secret".to_owned(), BENCH_SECRET.to_owned())];
    admin.add_channel(bot.bot_id.as_str(), "telegram", &settings, false).await.expect("channel");
    (tenant, bot)
}
