//! The whole path, end to end (figures, not pass/fail): Telegram updates into the webhook
//! (through the local API Gateway), the inbound FIFO queue, the dispatcher, AgentCore (one agent
//! process per conversation, the offline model), the reply queue, the reply function and the
//! Telegram stand-in, on a fresh local stack with the release binaries.
//!
//! Two phases:
//!
//! - **latency**, one message at a time (round-robin over the conversations, each waited for
//!   until its answer is at the stand-in and the queues are quiet), so every AWS call and every
//!   invocation in a message's window is that message's. Per message: the end-to-end time, each
//!   function's invocation time (the local Lambda host's), the agent's run time (its own
//!   `run_finished` figure), and the time their AWS calls spent in the emulator (two counting
//!   proxies: the functions' and the agents'). Platform overhead = the functions' invocations +
//!   the agent's run − their emulator time. What the end-to-end time holds beyond that is the
//!   stand-ins': the local event-source mappings' polling (they back off to 250 ms between empty
//!   polls, where Lambda long-polls), the API Gateway and AgentCore stand-ins, the emulator.
//! - **load**, 8 senders at once over the conversations: messages/s, and the CPU each component
//!   used per message (webhook, dispatcher, agent, reply processes; moto; this process, which
//!   plays API Gateway, the event-source mappings, AgentCore and the channel).
//!
//! Every message must be answered exactly once, in order per conversation; the bench says so.
//! `CLAWLESS_BENCH_N` (latency messages, default 200), `CLAWLESS_BENCH_LOAD_N` (default 400),
//! `CLAWLESS_BENCH_BIN_DIR` (default target/release). Figures also go to
//! `target/bench-figures-e2e.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{BENCH_SECRET, agent_pids, bench_bot, cpu_seconds, peak_rss_kib, percentile, repo_root};

use clawless_local::aws_counter::AwsCallCounter;
use clawless_local::lambda::Invocation;
use clawless_local::moto::MotoServer;
use clawless_local::{AwsTarget, LocalOptions, LocalStack};
use serde_json::json;

const CONVERSATIONS: usize = 20;
const CONCURRENCY: usize = 8;
const FUNCTIONS: [&str; 3] = ["WebhookFunction", "DispatcherFunction", "ReplyFunction"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn chat(c: usize) -> i64 {
    7_000_000 + c as i64
}

fn update(update_id: u64, c: usize, text: &str) -> String {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": chat(c), "is_bot": false, "first_name": "Ada"},
            "chat": {"id": chat(c), "type": "private", "first_name": "Ada"},
            "date": 1_800_000_000 + update_id as i64,
            "text": text,
        }
    })
    .to_string()
}

/// The message numbers the stand-in's outbox has answered, in the order they arrived.
async fn answered(stack: &LocalStack) -> Vec<(String, usize)> {
    stack
        .outbox
        .sent()
        .await
        .iter()
        .filter_map(|m| {
            let at = m.text.find("You said: e2e-")? + "You said: e2e-".len();
            let n = m.text[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()?;
            Some((m.chat_id.to_string(), n))
        })
        .collect()
}

async fn post(http: &reqwest::Client, url: &str, body: String) {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", BENCH_SECRET)
        .body(body)
        .send()
        .await
        .expect("webhook answers");
    assert!(response.status().is_success(), "webhook answered {}", response.status());
}

/// Waits until `n` answers are at the stand-in and every queue is empty.
async fn settle(stack: &LocalStack, n: usize, timeout: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        // The outbox is this process's own; the queues are asked (the emulator's CPU) only once
        // every answer is in, and not often.
        if answered(stack).await.len() < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        if stack.queued_messages().await.values().all(|v| *v == 0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The agents' `run_finished` durations (ms) in the captured output, oldest first.
fn run_durations(tenant: &str) -> Vec<f64> {
    clawless_local::output_lines("\"run_finished\"")
        .into_iter()
        .filter(|(_, line)| line.contains(tenant))
        .filter_map(|(_, line)| serde_json::from_str::<serde_json::Value>(&line).ok()?["duration_ms"].as_f64())
        .collect()
}

fn invocations_since(stack: &LocalStack, function: &str, since: Instant) -> Vec<Invocation> {
    stack.functions[function].invocations().into_iter().filter(|i| i.started >= since).collect()
}

fn cpu(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| cpu_seconds(*p)).sum()
}

#[tokio::main]
async fn main() {
    let n = env_usize("CLAWLESS_BENCH_N", 200);
    let load_n = env_usize("CLAWLESS_BENCH_LOAD_N", 400);
    let bin_dir = std::env::var_os("CLAWLESS_BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release"));

    // moto started here, so the agents' calls can go through a counting proxy of their own.
    let moto = MotoServer::start(&repo_root(), 0).await.expect("moto starts");
    let agent_counter = Arc::new(AwsCallCounter::new(&moto.endpoint));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("agent proxy listener");
    let agent_proxy = format!("http://{}", listener.local_addr().expect("addr"));
    let router = clawless_local::aws_counter::router(agent_counter.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let mut options = LocalOptions::new(repo_root(), bin_dir);
    options.aws = AwsTarget::Endpoint(moto.endpoint.clone());
    options.agent_idle_timeout = Duration::from_secs(600);
    options.count_aws_calls = true;
    options.agent_env.push(("AWS_ENDPOINT_URL".into(), agent_proxy));
    for f in FUNCTIONS {
        options.instances.insert(f.to_owned(), 2);
    }
    let stack = LocalStack::start(options).await.expect("local stack");
    let (tenant, bot) = bench_bot(&stack, "e2e").await;
    let tenant = tenant.tenant_id.as_str().to_owned();
    let url = format!("{}/webhook/telegram/{}", stack.endpoints.api_url, bot.bot_id.as_str());
    let http = reqwest::Client::new();

    // Warm-up: one message per conversation starts its agent session and every process.
    for c in 0..CONVERSATIONS {
        post(&http, &url, update(c as u64 + 1, c, &format!("e2e-{c}"))).await;
    }
    assert!(settle(&stack, CONVERSATIONS, Duration::from_secs(120)).await, "warm-up answered");
    let mut next_id = CONVERSATIONS as u64 + 1;

    // ---------------------------------------------------------------- latency
    let mut total_ms = Vec::new();
    let mut overhead_ms = Vec::new();
    let mut emulator_ms = Vec::new();
    let mut hop_ms: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for k in 0..n {
        let c = k % CONVERSATIONS;
        let number = CONVERSATIONS + k;
        let expected = CONVERSATIONS + k + 1;
        let runs_before = run_durations(&tenant).len();
        let fn_aws = stack.aws_time();
        let agent_aws = agent_counter.upstream_time();
        next_id += 1;
        let started = Instant::now();
        post(&http, &url, update(next_id, c, &format!("e2e-{number}"))).await;
        while answered(&stack).await.len() < expected {
            assert!(started.elapsed() < Duration::from_secs(60), "message {number} answered within 60 s");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let total = started.elapsed();
        assert!(settle(&stack, expected, Duration::from_secs(60)).await, "queues quiet after {number}");
        // Let the last log lines of the run arrive.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut platform = 0.0;
        for f in FUNCTIONS {
            let ms: f64 = invocations_since(&stack, f, started).iter().map(|i| i.took.as_secs_f64() * 1000.0).sum();
            hop_ms.entry(f).or_default().push(ms);
            platform += ms;
        }
        let agent_run: f64 = run_durations(&tenant).iter().skip(runs_before).sum();
        hop_ms.entry("agent run").or_default().push(agent_run);
        platform += agent_run;
        let emulator = (stack.aws_time() - fn_aws + (agent_counter.upstream_time() - agent_aws)).as_secs_f64() * 1000.0;
        total_ms.push(total.as_secs_f64() * 1000.0);
        emulator_ms.push(emulator);
        overhead_ms.push((platform - emulator).max(0.0));
    }

    // ---------------------------------------------------------------- load
    let component_pids = |stack: &LocalStack| -> Vec<(&'static str, Vec<u32>)> {
        vec![
            ("webhook", stack.functions["WebhookFunction"].pids()),
            ("dispatcher", stack.functions["DispatcherFunction"].pids()),
            ("agent", agent_pids()),
            ("reply", stack.functions["ReplyFunction"].pids()),
            ("moto (emulator)", moto.pid().into_iter().collect()),
            ("stand-ins (this process)", vec![std::process::id()]),
        ]
    };
    let before: Vec<(&str, f64)> = component_pids(&stack).iter().map(|(name, pids)| (*name, cpu(pids))).collect();
    let first = CONVERSATIONS + n;
    let expected = first + load_n;
    let started = Instant::now();
    // Each sender takes whole conversations, so messages of one conversation go in order.
    let mut senders = Vec::new();
    for s in 0..CONCURRENCY {
        let (http, url) = (http.clone(), url.clone());
        let base_id = next_id + 1;
        senders.push(tokio::spawn(async move {
            for k in (0..load_n).filter(|k| (k % CONVERSATIONS) % CONCURRENCY == s) {
                let c = k % CONVERSATIONS;
                post(&http, &url, update(base_id + k as u64, c, &format!("e2e-{}", first + k))).await;
            }
        }));
    }
    for s in senders {
        s.await.expect("sender");
    }
    let accepted = started.elapsed();
    let settled = settle(&stack, expected, Duration::from_secs(600)).await;
    let load_wall = started.elapsed();
    let after: Vec<(&str, f64)> = component_pids(&stack).iter().map(|(name, pids)| (*name, cpu(pids))).collect();
    let cpu_ms: Vec<(&str, f64)> =
        after.iter().zip(&before).map(|((name, a), (_, b))| (*name, (a - b) * 1000.0 / load_n as f64)).collect();
    let platform_cpu_ms: f64 = cpu_ms.iter().take(4).map(|(_, ms)| ms).sum();
    let agent_peak_kib = agent_pids().into_iter().filter_map(peak_rss_kib).max();

    // ---------------------------------------------------------------- checks
    let all = answered(&stack).await;
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut last: HashMap<String, usize> = HashMap::new();
    let mut out_of_order = 0;
    for (chat, number) in &all {
        *seen.entry(*number).or_default() += 1;
        if let Some(prev) = last.insert(chat.clone(), *number)
            && prev > *number
        {
            out_of_order += 1;
        }
    }
    let duplicated = seen.values().filter(|v| **v > 1).count();
    let missing = (0..expected).filter(|k| !seen.contains_key(k)).count();

    // ---------------------------------------------------------------- report
    let cores = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0);
    println!(
        "End-to-end benchmark: webhook → inbound FIFO → dispatcher → agent (offline model) → reply FIFO → reply → Telegram stand-in"
    );
    println!("host {} ({cores} cores); {CONVERSATIONS} conversations; release binaries", std::env::consts::ARCH);
    println!();
    println!("Latency, one message at a time ({n} messages), ms:");
    println!("{:<44} {:>8} {:>8} {:>8}", "", "p50", "p90", "p99");
    let row = |name: &str, v: &[f64]| {
        println!("{:<44} {:>8.1} {:>8.1} {:>8.1}", name, percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99))
    };
    row("end to end (webhook POST → answer at the channel)", &total_ms);
    row("platform overhead (without the emulator)", &overhead_ms);
    row("emulator time of the platform's AWS calls", &emulator_ms);
    for (hop, v) in &hop_ms {
        let name = match *hop {
            "WebhookFunction" => "  webhook invocation",
            "DispatcherFunction" => "  dispatcher invocation (incl. the agent's ack)",
            "ReplyFunction" => "  reply invocations (answer + run report)",
            _ => "  agent run (its run_finished)",
        };
        row(name, v);
    }
    let hop_sum: Vec<f64> = (0..n).map(|k| hop_ms.values().map(|v| v[k]).sum::<f64>()).collect();
    let waits: Vec<f64> = total_ms.iter().zip(&hop_sum).map(|(t, h)| (t - h).max(0.0)).collect();
    row("rest: queues, polling, stand-ins", &waits);
    println!("target: p99 platform overhead ≤ 50 ms without the emulator");
    println!();
    println!(
        "Load, {CONCURRENCY} senders ({load_n} messages): accepted in {:.1} s, all answered in {:.1} s ({}): {:.1} messages/s",
        accepted.as_secs_f64(),
        load_wall.as_secs_f64(),
        if settled { "settled" } else { "NOT settled" },
        load_n as f64 / load_wall.as_secs_f64()
    );
    println!("{:<32} {:>16}", "CPU per message", "ms");
    for (name, ms) in &cpu_ms {
        println!("{:<32} {:>16.2}", name, ms);
    }
    println!(
        "{:<32} {:>16.2}   → {:.0} messages/s per core of platform code",
        "platform (the first four)",
        platform_cpu_ms,
        1000.0 / platform_cpu_ms
    );
    println!(
        "agent peak RSS: {}",
        agent_peak_kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "?".into())
    );
    println!();
    println!(
        "exactly once: {} answers for {expected} messages; {missing} missing, {duplicated} duplicated, {out_of_order} out of order",
        all.len()
    );

    let figures = json!({
        "source": "cli/benches/end_to_end.rs",
        "host": { "arch": std::env::consts::ARCH, "cores": cores },
        "latency": {
            "messages": n,
            "end_to_end_ms": {"p50": percentile(&total_ms, 0.5), "p90": percentile(&total_ms, 0.9), "p99": percentile(&total_ms, 0.99)},
            "overhead_ms": {"p50": percentile(&overhead_ms, 0.5), "p90": percentile(&overhead_ms, 0.9), "p99": percentile(&overhead_ms, 0.99)},
            "emulator_ms_p50": percentile(&emulator_ms, 0.5),
            "hops_ms_p50": hop_ms.iter().map(|(k, v)| (k.to_string(), percentile(v, 0.5))).collect::<BTreeMap<_, _>>(),
        },
        "load": {
            "messages": load_n,
            "messages_per_s": load_n as f64 / load_wall.as_secs_f64(),
            "cpu_ms_per_message": cpu_ms.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "platform_cpu_ms_per_message": platform_cpu_ms,
        },
        "agent": { "peak_rss_kib": agent_peak_kib },
        "exactly_once": { "missing": missing, "duplicated": duplicated, "out_of_order": out_of_order },
    });
    let path = repo_root().join("target/bench-figures-e2e.json");
    match std::fs::write(&path, serde_json::to_string_pretty(&figures).unwrap_or_default() + "\n") {
        Ok(()) => println!("figures written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    if missing + duplicated + out_of_order > 0 || !settled {
        std::process::exit(1);
    }
}
