//! Webhook load benchmark (figures, not pass/fail): 2,000 valid Telegram updates from 50 chats at
//! concurrency 8 over keep-alive connections to the local API, against the release webhook
//! binary. 45 chats are private (every message is answered: queued only), 5 are groups whose
//! messages the bot does not answer (kept as context: stored only). Prints requests/s, latency
//! percentiles, CPU per request of the webhook processes and of moto, the webhook's peak RSS, the
//! AWS calls per accepted request (counted by a proxy between the function and moto), and the
//! exactly-once checks:
//! - every private update queued exactly once (the drainer's receipts) and none stored by the
//!   webhook; every group update stored exactly once and none queued;
//! - after the drain, the dispatcher's store-and-dedupe write (the DynamoDB adapter's
//!   `store_dispatched`, which the dispatcher makes once AgentCore has a message; no agent runs
//!   here) on every message drained, then on each again as a redelivery past SQS's window: the
//!   first takes every delivery id once, the second none;
//! - then every update stored exactly once in the table; and wrong-secret requests cost no AWS
//!   call.
//!
//! The targets are printed beside the figures, never asserted.
//!
//! Concurrency: the webhook binary uses `lambda_http::run`, which handles one event at a time per
//! process (classic Lambda), so the function runs as 8 processes, like 8 Lambda execution
//! environments. No dispatcher consumes the inbound queue: `scripts/drain-queue.py` drains it in
//! a process of its own (moto's SendMessage slows down as a queue fills).
//!
//! Run through `scripts/bench-webhook.sh`, which builds the release binaries first. Binaries are
//! read from `CLAWLESS_BENCH_BIN_DIR` (default target/release).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

mod common;
use common::{bench_bot, clock_ticks, cpu_ticks, peak_rss_kib, repo_root};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clawless_aws::dynamodb::Store;
use clawless_core::domain::envelope::InboundEnvelope;
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::{ChannelKind, Role};
use clawless_core::ports::ConversationRepo;
use clawless_local::{LocalOptions, LocalStack};

const REQUESTS: usize = 2_000;
const CHATS: i64 = 50;
const CONCURRENCY: usize = 8;
const WARM_UP: usize = 32;
const WRONG_SECRET: usize = 20;
const SECRET: &str = common::BENCH_SECRET;
const DRAIN_IDLE_SECS: u64 = 10;

/// Every `GROUP_EVERY`-th chat is a group whose messages are kept as context.
const GROUP_EVERY: i64 = 10;

const TARGET_CALLS: f64 = 1.0;
/// The calls that carry a message: queued (one or a batch), or stored as context.
const MESSAGE_CALLS: [&str; 3] = ["sqs:SendMessage", "sqs:SendMessageBatch", "dynamodb:PutItem"];
const TARGET_CPU_MS: f64 = 0.9;
const TARGET_RSS_MIB: f64 = 32.0;

fn update(update_id: u64, chat: i64, date: i64) -> String {
    let kind = if is_group(chat) { "group" } else { "private" };
    serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100_000,
            "from": {"id": 4242, "is_bot": false, "first_name": "Load", "last_name": format!("{chat}")},
            "chat": {"id": chat, "type": kind, "first_name": "Load"},
            "date": date,
            "text": format!("load test message {update_id}"),
        }
    })
    .to_string()
}

/// Chat `n` of 0..CHATS: private chats have positive ids, groups negative ones (as Telegram's).
fn chat_id(n: i64) -> i64 {
    if n % GROUP_EVERY == GROUP_EVERY - 1 { -(1_000_000 + n) } else { 1_000_000 + n }
}

fn is_group(chat: i64) -> bool {
    chat < 0
}

fn chat_of(i: usize) -> i64 {
    chat_id(i as i64 % CHATS)
}

struct LoadResult {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    elapsed: Duration,
}

/// Sends the updates `ids` to `url` from `CONCURRENCY` tasks sharing one keep-alive client.
async fn send_all(http: &reqwest::Client, url: &str, secret: &str, ids: Vec<u64>) -> LoadResult {
    let date = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
    let bodies: Arc<Vec<String>> =
        Arc::new(ids.iter().enumerate().map(|(i, id)| update(*id, chat_of(i), date)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, url, secret, bodies, next) =
            (http.clone(), url.to_owned(), secret.to_owned(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let status = match http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-telegram-bot-api-secret-token", &secret)
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                latencies.push(sent.elapsed());
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses)
        }));
    }
    let mut result = LoadResult { latencies: Vec::new(), statuses: BTreeMap::new(), elapsed: Duration::ZERO };
    for task in tasks {
        let (latencies, statuses) = task.await.expect("load task");
        result.latencies.extend(latencies);
        for (status, n) in statuses {
            *result.statuses.entry(status).or_default() += n;
        }
    }
    result.elapsed = started.elapsed();
    result.latencies.sort();
    result
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

fn target(ok: bool) -> &'static str {
    if ok { "within target" } else { "OVER target" }
}

#[tokio::main]
async fn main() {
    let bin_dir = std::env::var_os("CLAWLESS_BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release"));
    let ticks = clock_ticks();

    let mut options = LocalOptions::new(repo_root(), bin_dir);
    options.agent_idle_timeout = Duration::from_secs(600);
    options.event_source_mappings = false;
    options.count_aws_calls = true;
    options.instances = HashMap::from([("WebhookFunction".to_owned(), CONCURRENCY)]);
    let stack = LocalStack::start(options).await.expect("local stack");
    let (tenant, bot) = bench_bot(&stack, "loadtest").await;
    let url = format!("{}/webhook/telegram/{}", stack.endpoints.api_url, bot.bot_id.as_str());

    // The drainer: a process of its own, started before the first update reaches the queue.
    let queue_url = stack.resources.queue_urls.get("InboundQueue").expect("inbound queue").clone();
    let bodies_file = std::env::temp_dir().join(format!("clawless-bench-drained-{}.jsonl", std::process::id()));
    let drainer = tokio::process::Command::new(repo_root().join(".clawless/venv/bin/python"))
        .arg(repo_root().join("scripts/drain-queue.py"))
        .args(["--endpoint", &stack.endpoints.aws_endpoint_url, "--region", &stack.endpoints.region])
        .args(["--queue-url", &queue_url, "--idle", &DRAIN_IDLE_SECS.to_string()])
        .arg("--bodies")
        .arg(&bodies_file)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("scripts/drain-queue.py starts");

    let http = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().expect("client");
    let webhook = &stack.functions["WebhookFunction"];

    // Warm-up: every process starts, loads the bot and its secret, opens its connections.
    let warm_ids: Vec<u64> = (1..=WARM_UP as u64).collect();
    let warm = send_all(&http, &url, SECRET, warm_ids.clone()).await;
    let pids = webhook.pids();
    let moto_pid = stack.moto_pid();

    let cpu_before: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let moto_before = moto_pid.and_then(cpu_ticks);
    let calls_before = stack.aws_calls();

    let load_ids: Vec<u64> = (1_000..1_000 + REQUESTS as u64).collect();
    let load = send_all(&http, &url, SECRET, load_ids.clone()).await;

    let cpu_after: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let moto_after = moto_pid.and_then(cpu_ticks);
    let calls_after = stack.aws_calls();
    let pids_after = webhook.pids();

    // Wrong secret: refused, nothing stored, no AWS call.
    let wrong_ids: Vec<u64> = (900_000..900_000 + WRONG_SECRET as u64).collect();
    let wrong = send_all(&http, &url, "not-the-secret", wrong_ids.clone()).await;
    let calls_after_wrong = stack.aws_calls();

    let drained = drainer.wait_with_output().await.expect("drainer finishes");
    let drained: serde_json::Value = serde_json::from_slice(&drained.stdout)
        .unwrap_or_else(|e| panic!("drainer printed no JSON ({e}): {}", String::from_utf8_lossy(&drained.stdout)));

    // DynamoDB, right after the load: every conversation's partition, through the store's own
    // reader. Only the group messages (kept as context) are stored by the webhook.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    let conversations: Vec<ConversationRef> = (0..CHATS)
        .map(|n| ConversationRef {
            tenant_id: TenantId::parse(tenant.tenant_id.as_str()).expect("tenant id"),
            bot_id: BotId::parse(bot.bot_id.as_str()).expect("bot id"),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse(&chat_id(n).to_string()).expect("chat id"),
        })
        .collect();
    let stored_lines = |store: Store, conversations: Vec<ConversationRef>| async move {
        let mut stored: BTreeMap<String, (usize, bool)> = BTreeMap::new();
        for conversation in &conversations {
            for item in store.conversation(conversation).await.expect("conversation") {
                if item.role == Role::User {
                    let entry = stored.entry(item.message_id).or_default();
                    entry.0 += 1;
                    entry.1 |= item.dispatched_at_ms.is_some();
                }
            }
        }
        stored
    };
    let stored_by_webhook = stored_lines(store.clone(), conversations.clone()).await;

    // The dispatcher's store-and-dedupe write on every message drained, as the dispatcher makes it
    // once AgentCore accepted one; then on each again, as a redelivery after SQS's window would.
    let drained_bodies = std::fs::read_to_string(&bodies_file).unwrap_or_default();
    let _ = std::fs::remove_file(&bodies_file);
    let envelopes: Vec<InboundEnvelope> = drained_bodies
        .lines()
        .map(|line| serde_json::from_str(line).expect("a drained body is an inbound envelope"))
        .collect();
    let mut first_pass = 0;
    for envelope in &envelopes {
        first_pass += usize::from(store.store_dispatched(envelope.item()).await.expect("store_dispatched"));
    }
    let mut second_pass = 0;
    for envelope in &envelopes {
        second_pass += usize::from(store.store_dispatched(envelope.item()).await.expect("store_dispatched"));
    }
    let stored = stored_lines(store.clone(), conversations).await;

    // ---- figures ----
    let expected: BTreeSet<String> = warm_ids.iter().chain(&load_ids).map(u64::to_string).collect();
    let accepted = load.statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum::<usize>();
    let rps = REQUESTS as f64 / load.elapsed.as_secs_f64();
    let cpu_ms: Vec<Option<f64>> = cpu_before
        .iter()
        .zip(&cpu_after)
        .map(|(b, a)| Some((a.as_ref()? - b.as_ref()?) as f64 * 1000.0 / ticks))
        .collect();
    let webhook_cpu_ms: f64 = cpu_ms.iter().flatten().sum();
    let moto_cpu_ms = match (moto_before, moto_after) {
        (Some(b), Some(a)) => Some((a - b) as f64 * 1000.0 / ticks),
        _ => None,
    };
    let rss_kib: Vec<Option<u64>> = pids.iter().map(|p| peak_rss_kib(*p)).collect();
    let max_rss_mib = rss_kib.iter().flatten().max().map(|k| *k as f64 / 1024.0).unwrap_or(f64::NAN);
    let sum_rss_mib = rss_kib.iter().flatten().sum::<u64>() as f64 / 1024.0;
    let calls = diff(&calls_after, &calls_before);
    let total_calls: u64 = calls.values().sum();
    let wrong_calls = diff(&calls_after_wrong, &calls_after);

    let host = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "Webhook load benchmark: {REQUESTS} Telegram updates, {CHATS} chats, concurrency {CONCURRENCY}, \
         {} webhook processes (one event at a time each); host {host}, {cores} cores, CLK_TCK {ticks}",
        pids.len()
    );
    println!(
        "warm-up: {WARM_UP} updates, statuses {:?}; webhook pids stable during the load: {}",
        warm.statuses,
        pids == pids_after
    );
    println!("statuses             {:?} ({accepted} accepted)", load.statuses);
    println!("throughput           {rps:.1} requests/s ({:.2} s)", load.elapsed.as_secs_f64());
    println!(
        "latency ms           p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&load.latencies, 50.0),
        percentile(&load.latencies, 90.0),
        percentile(&load.latencies, 99.0),
        percentile(&load.latencies, 100.0)
    );
    let per_request = webhook_cpu_ms / REQUESTS as f64;
    println!(
        "webhook CPU          {webhook_cpu_ms:.0} ms in all, {per_request:.3} ms/request   (target <= {TARGET_CPU_MS} ms: {})",
        target(per_request <= TARGET_CPU_MS)
    );
    println!(
        "  per process ms     {}",
        cpu_ms.iter().map(|c| c.map(|c| format!("{c:.0}")).unwrap_or("?".into())).collect::<Vec<_>>().join(" ")
    );
    match moto_cpu_ms {
        Some(moto) => println!(
            "moto CPU             {moto:.0} ms in all, {:.3} ms/request (includes serving the drainer); webhook/moto {:.3}",
            moto / REQUESTS as f64,
            webhook_cpu_ms / moto
        ),
        None => println!("moto CPU             ? (no moto pid)"),
    }
    println!(
        "webhook peak RSS     max {max_rss_mib:.1} MiB per process, {sum_rss_mib:.1} MiB summed   (target <= {TARGET_RSS_MIB} MiB: {})",
        target(max_rss_mib <= TARGET_RSS_MIB)
    );
    println!(
        "  per process MiB    {}",
        rss_kib
            .iter()
            .map(|k| k.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("?".into()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let per_accepted = total_calls as f64 / accepted.max(1) as f64;
    // Each message's own call (queued, or stored as context) versus the bot record and channel
    // secret each process re-reads once its cache (`CLAWLESS_CACHE_SECONDS`, 60 s) expires, which
    // depends on how long the load runs, not on the requests.
    let message_calls: u64 = calls.iter().filter(|(op, _)| MESSAGE_CALLS.contains(&op.as_str())).map(|(_, n)| n).sum();
    let per_message = message_calls as f64 / accepted.max(1) as f64;
    println!(
        "AWS calls            {total_calls} in all, {per_accepted:.3} per accepted request; the message's own call \
         ({}) {per_message:.3} per accepted request   (target <= {TARGET_CALLS}: {}), cache refreshes {:.3}",
        MESSAGE_CALLS.join(", "),
        target(per_message <= TARGET_CALLS),
        (total_calls - message_calls) as f64 / accepted.max(1) as f64,
    );
    for (operation, n) in &calls {
        println!("  {operation:<30} {n:>6}  {:.3}/request", *n as f64 / accepted.max(1) as f64);
    }
    println!("AWS calls before the load (start + warm-up), all processes: {calls_before:?}");

    // ---- correctness ----
    // `send_all` sends the i-th id of each call to `chat_of(i)`.
    let in_groups = |ids: &[u64]| -> Vec<String> {
        ids.iter().enumerate().filter(|(i, _)| is_group(chat_of(*i))).map(|(_, id)| id.to_string()).collect()
    };
    let group_ids: BTreeSet<String> = in_groups(&warm_ids).into_iter().chain(in_groups(&load_ids)).collect();
    let answered_ids: BTreeSet<String> = expected.difference(&group_ids).cloned().collect();
    let queued: BTreeSet<String> = drained["message_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let queued_once = queued == answered_ids && drained["duplicates"] == 0;
    println!(
        "queue (drainer)      received {}, unique message ids {}, duplicates {}, unique dedup ids {}; \
         exactly the {} private-chat updates: {queued_once}",
        drained["received"],
        drained["unique_message_ids"],
        drained["duplicates"],
        drained["unique_dedup_ids"],
        answered_ids.len(),
    );
    let webhook_stored_once = group_ids.iter().all(|id| stored_by_webhook.get(id) == Some(&(1, false)))
        && stored_by_webhook.len() == group_ids.len();
    println!(
        "webhook stored       {} lines right after the load; exactly the {} group updates, once each, unmarked: \
         {webhook_stored_once}",
        stored_by_webhook.values().map(|(n, _)| n).sum::<usize>(),
        group_ids.len(),
    );
    let takes_once = first_pass == answered_ids.len() && second_pass == 0 && envelopes.len() == answered_ids.len();
    println!(
        "dispatcher's write   {} drained messages: {first_pass} stored with their mark, then {second_pass} of them again \
         (a redelivery after SQS's window finds its delivery id taken): {takes_once}",
        envelopes.len(),
    );
    let stored_once = expected.iter().all(|id| stored.get(id).map(|(n, _)| *n) == Some(1));
    let marked_right = stored.iter().all(|(id, (_, marked))| *marked == answered_ids.contains(id));
    let stored_extra: Vec<&String> = stored.keys().filter(|id| !expected.contains(*id)).collect();
    println!(
        "DynamoDB             {} user messages stored, {} expected; each exactly once: {stored_once}; \
         dispatched mark on exactly the private ones: {marked_right}; unexpected: {}",
        stored.values().map(|(n, _)| n).sum::<usize>(),
        expected.len(),
        stored_extra.len()
    );
    let wrong_stored = wrong_ids.iter().filter(|id| stored.contains_key(&id.to_string())).count();
    println!(
        "wrong secret         {WRONG_SECRET} requests, statuses {:?}; stored {wrong_stored}; AWS calls {:?}",
        wrong.statuses, wrong_calls
    );
    let all_ok = queued_once
        && webhook_stored_once
        && takes_once
        && stored_once
        && marked_right
        && stored_extra.is_empty()
        && wrong.statuses.get(&401) == Some(&WRONG_SECRET)
        && wrong_stored == 0
        && wrong_calls.is_empty();
    println!("correctness          {}", if all_ok { "all checks hold" } else { "SOME CHECKS FAILED (see above)" });
}
