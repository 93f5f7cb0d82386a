//! What the benchmarks share: paths, /proc readings, and a bot to load.

#![allow(dead_code)]

use std::path::PathBuf;

use clawless_cli::admin::Admin;
use clawless_core::domain::model::{Bot, Tenant};
use clawless_local::LocalStack;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Peak resident set size of a process in KiB (VmHWM), from /proc (Linux).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident set size of a process in KiB now (VmRSS), from /proc (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
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
    let bot = admin.create_bot(tenant.tenant_id.as_str(), "bench", Default::default()).await.expect("bot");
    let settings =
        [("bot_token".to_owned(), "1:bench".to_owned()), ("webhook_secret".to_owned(), BENCH_SECRET.to_owned())];
    admin.add_channel(bot.bot_id.as_str(), "telegram", &settings, None, false).await.expect("channel");
    (tenant, bot)
}
