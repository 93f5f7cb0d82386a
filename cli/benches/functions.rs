//! Function benchmarks (figures, not pass/fail): for each function's release binary, the init
//! time (process start until it first asks the Lambda Runtime API for an event) beside a
//! hello-world `lambda_runtime` binary measured in the same run, and the peak RSS after handling
//! its sample event from `events/` against the local stack.
//!
//! The agent's own cost beside them: its start (process start until `/ping` first answers, median
//! of the same number of starts), its resident memory idle after that start, and its peak
//! resident memory after answering the dispatcher's sample event through the local stack (one
//! whole run: invocation, memory reads, the offline model, the reply on the queue).
//!
//! Run through `scripts/bench-functions.sh`, which builds the release binaries first (and adds the
//! zipped arm64 sizes and the agent image's size). Binaries are read from `CLAWLESS_BENCH_BIN_DIR` (default target/release).

use std::path::{Path, PathBuf};

mod common;
use common::{agent_pids, bench_bot, peak_rss_kib, repo_root, rss_kib};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use clawless_local::{LocalOptions, LocalStack};

const INIT_RUNS: usize = 15;

/// Spawns `binary` against a listener that plays the Runtime API and times the first connection.
fn init_time(binary: &Path, env: &[(String, String)]) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("addr").to_string();
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    // A function whose init fails exits without connecting: fail the bench rather than hang.
    listener.set_nonblocking(true).expect("nonblocking listener");
    let elapsed = loop {
        match listener.accept() {
            Ok(_) => break started.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("{} exited during init ({status}) without asking for an event", binary.display());
                }
                assert!(started.elapsed() < Duration::from_secs(30), "{}: no connection in 30 s", binary.display());
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

/// Spawns the agent and times its start until `GET /ping` first answers 200; returns that time,
/// and the process's resident memory (KiB) right after.
fn agent_start(binary: &Path, env: &[(String, String)]) -> (Duration, Option<u64>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PORT", port.to_string())
        .env("CLAWLESS_LISTEN_HOST", "127.0.0.1")
        .env("CLAWLESS_MODEL_PROVIDER", "offline")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let elapsed = loop {
        if ping(port) {
            break started.elapsed();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{} exited ({status}) before answering /ping", binary.display());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}: no /ping answer in 30 s", binary.display());
        std::thread::sleep(Duration::from_micros(100));
    };
    let rss = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    (elapsed, rss)
}

/// Whether `GET /ping` on the port answers 200 (a plain HTTP/1.1 exchange, no client library, so
/// the measurement is the agent's time and not a client's setup).
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn sample(name: &str, tenant: &str, bot: &str) -> Bytes {
    let text = std::fs::read_to_string(repo_root().join("events").join(name)).expect("sample event");
    Bytes::from(text.replace("t0123456789abcdef0123", tenant).replace("b0123456789abcdef0123", bot))
}

#[tokio::main]
async fn main() {
    let bin_dir = std::env::var_os("CLAWLESS_BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release"));
    let env: Vec<(String, String)> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("CLAWLESS_INBOUND_QUEUE_URL", "http://127.0.0.1:9/123456789012/q.fifo"),
        ("CLAWLESS_SCHEDULE_GROUP", "clawless"),
        ("CLAWLESS_REPLY_QUEUE_URL", "http://127.0.0.1:9/123456789012/r.fifo"),
        ("CLAWLESS_AGENT_RUNTIME_ARN", "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x"),
        // The approval timeout is set with the schedule group or not at all (ApprovalFlow::from_env).
        ("CLAWLESS_APPROVAL_TIMEOUT_ARN", "arn:aws:lambda:us-east-1:123456789012:function:approval-timeout"),
        ("CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/approval-invoke"),
        // What the dispatcher vends agents: tenant credentials and scope tokens (read on first use).
        ("CLAWLESS_TENANT_ROLE_ARN", "arn:aws:iam::123456789012:role/tenant-access"),
        ("CLAWLESS_MEMORY_BUCKET_ARN", "arn:aws:s3:::memory"),
        ("CLAWLESS_SCOPE_KEY_SECRET", "arn:aws:secretsmanager:us-east-1:123456789012:secret:scope"),
        // The admin function's user pool (its keys are fetched on the first request, not at init).
        ("CLAWLESS_COGNITO_ISSUER", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench"),
        ("CLAWLESS_COGNITO_CLIENT_ID", "bench"),
        ("CLAWLESS_COGNITO_USER_POOL_ID", "us-east-1_bench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();

    let hello = bin_dir.join("examples/hello_lambda");
    let functions = [
        ("WebhookFunction", "webhook", Some("webhook-telegram.json")),
        ("DispatcherFunction", "dispatcher", Some("dispatcher-inbound.json")),
        ("ReplyFunction", "reply", Some("reply-telegram.json")),
        ("ApprovalTimeoutFunction", "approval-timeout", Some("approval-timeout.json")),
        ("SchedulerFunction", "scheduler", Some("scheduler-task.json")),
        ("AdminFunction", "admin", Some("admin-list-bots.json")),
    ];

    // Init times, interleaved with the baseline so drift affects both alike.
    let mut hello_samples = Vec::new();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); functions.len()];
    for _ in 0..INIT_RUNS {
        hello_samples.push(init_time(&hello, &env));
        for (i, (_, binary, _)) in functions.iter().enumerate() {
            samples[i].push(init_time(&bin_dir.join(binary), &env));
        }
    }
    let hello_init = median(hello_samples);
    let agent_binary = bin_dir.join("clawless-agent");
    let agent: Vec<(Duration, Option<u64>)> = (0..INIT_RUNS).map(|_| agent_start(&agent_binary, &env)).collect();
    let agent_init = median(agent.iter().map(|(d, _)| *d).collect());
    let mut idle_rss: Vec<u64> = agent.iter().filter_map(|(_, r)| *r).collect();
    idle_rss.sort_unstable();

    // Peak RSS after one sample event, against the local stack with the release binaries.
    let mut options = LocalOptions::new(repo_root(), bin_dir.clone());
    options.agent_idle_timeout = Duration::from_secs(600);
    let stack = LocalStack::start(options).await.expect("local stack");
    let (tenant, bot) = bench_bot(&stack, "bench").await;

    println!("Function benchmarks ({} init runs each, median; host {}):", INIT_RUNS, std::env::consts::ARCH);
    println!("{:<18} {:>10} {:>10} {:>14}", "function", "init ms", "x hello", "peak RSS MiB");
    println!("{:<18} {:>10.2} {:>10} {:>14}", "hello-world", hello_init.as_secs_f64() * 1000.0, "1.00", "-");
    for (i, (logical_id, binary, event)) in functions.iter().enumerate() {
        let init = median(samples[i].clone());
        let handle = &stack.functions[*logical_id];
        if let Some(event) = event {
            let _ = handle.invoke(sample(event, tenant.tenant_id.as_str(), bot.bot_id.as_str())).await;
        }
        let rss = handle.pids().first().and_then(|pid| peak_rss_kib(*pid)).map(|k| format!("{:.1}", k as f64 / 1024.0));
        println!(
            "{:<18} {:>10.2} {:>10.2} {:>14}",
            binary,
            init.as_secs_f64() * 1000.0,
            init.as_secs_f64() / hello_init.as_secs_f64(),
            rss.unwrap_or_else(|| "?".into())
        );
    }

    // The dispatcher's sample event above started an agent session and its run: wait for the
    // answer to be sent, then read the agent's peak memory.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack.outbox.sent().await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run_peak = agent_pids().into_iter().filter_map(peak_rss_kib).max();
    let mib = |k: u64| format!("{:.1}", k as f64 / 1024.0);
    println!();
    println!("Agent ({} starts, median; host {}):", INIT_RUNS, std::env::consts::ARCH);
    println!("{:<40} {:>10.2}", "start until /ping answers, ms", agent_init.as_secs_f64() * 1000.0);
    println!(
        "{:<40} {:>10}",
        "RSS idle after start, MiB (median)",
        idle_rss.get(idle_rss.len() / 2).map(|k| mib(*k)).unwrap_or_else(|| "?".into())
    );
    println!(
        "{:<40} {:>10}",
        "peak RSS after one run, MiB",
        run_peak.map(mib).unwrap_or_else(|| "? (no agent process found)".into())
    );
}
