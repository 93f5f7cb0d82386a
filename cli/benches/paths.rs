//! Dispatcher and reply path benchmarks (figures, not pass/fail), against a fresh local stack with
//! the release binaries:
//!
//! - dispatcher: inbound messages across several conversations, put on the inbound FIFO queue as
//!   the webhook would (queued only: the dispatcher stores each as it hands it over), drained by the SQS event-source mapping into the dispatcher and
//!   on to AgentCore; messages/s, AWS calls per message, and per-conversation order of the agents'
//!   answers on the reply queue;
//! - reply: replies put straight on the reply queue (every 5th long enough to be split into three
//!   Telegram pieces), drained into the reply function and the Telegram stand-in; replies/s, AWS
//!   calls per reply, and per-chat order in the stand-in's outbox.
//!
//! The bench drives the stack's own `SqsMapping` (one poller per queue unless
//! `CLAWLESS_BENCH_POLLERS` says otherwise), so it can time the drain and count the mapping's SQS
//! calls. The functions' AWS calls are counted by the stack's counting proxy; `InvokeAgentRuntime`
//! goes to the AgentCore stand-in and is counted here as one per dispatched message.
//!
//! Figures go to stdout and to `target/bench-figures-paths.json` (read by `scripts/cost-model.py`).
//! Binaries are read from `CLAWLESS_BENCH_BIN_DIR` (default target/release); `CLAWLESS_BENCH_N`
//! sets the message count (default 500).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

mod common;
use common::{bench_bot, cpu_seconds, percentile, repo_root};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clawless_aws::dynamodb::Store;
use clawless_aws::sqs::FifoQueue;
use clawless_core::domain::envelope::{ENVELOPE_VERSION, InboundEnvelope, ReplyEnvelope};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_core::domain::model::{ChannelKind, ConversationMessage, InboundMessage, ReplyRoute, Sender};
use clawless_core::ports::{ConversationRepo, InboundQueue, ReplyQueue};
use clawless_local::event_source::SqsMapping;
use clawless_local::{LocalOptions, LocalStack};
use serde_json::json;

const CONVERSATIONS: usize = 20;
const LONG_EVERY: usize = 5;
const LONG_CHARS: usize = 9_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

fn conversation(tenant: &TenantId, bot: &BotId, c: usize) -> ConversationRef {
    ConversationRef {
        tenant_id: tenant.clone(),
        bot_id: bot.clone(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse(&chat_id(c).to_string()).expect("conversation id"),
    }
}

fn chat_id(c: usize) -> i64 {
    10_000 + c as i64
}

/// What one drain of a queue did: how long, how many polls, and the batches' wall times.
#[derive(Default)]
struct Drain {
    elapsed: Duration,
    received: usize,
    polls: usize,
    non_empty_polls: usize,
    batch_ms: Vec<f64>,
}

/// Runs `pollers` copies of the mapping until `expected` messages were received (or `timeout`).
async fn drain(mapping: Arc<SqsMapping>, pollers: usize, expected: usize, timeout: Duration) -> Drain {
    let received = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..pollers.max(1) {
        let mapping = mapping.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut polls = 0;
            let mut non_empty = 0;
            let mut batch_ms = Vec::new();
            while received.load(Ordering::SeqCst) < expected && started.elapsed() < timeout {
                let t = Instant::now();
                match mapping.poll_once().await {
                    Ok(0) => {
                        polls += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok(n) => {
                        polls += 1;
                        non_empty += 1;
                        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                        received.fetch_add(n, Ordering::SeqCst);
                    }
                    Err(e) => {
                        eprintln!("poll failed: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            (polls, non_empty, batch_ms)
        }));
    }
    let mut out = Drain::default();
    for task in tasks {
        let (polls, non_empty, batch_ms) = task.await.expect("poller");
        out.polls += polls;
        out.non_empty_polls += non_empty;
        out.batch_ms.extend(batch_ms);
    }
    out.elapsed = started.elapsed();
    out.received = received.load(Ordering::SeqCst);
    out
}

/// The number in `marker{n}` inside `text`, if present.
fn marker(text: &str, marker: &str) -> Option<usize> {
    let rest = &text[text.find(marker)? + marker.len()..];
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// Receives and deletes everything on the reply queue until `expected` messages were seen,
/// returning the bodies in the order SQS handed them out.
async fn read_reply_queue(sqs: &aws_sdk_sqs::Client, url: &str, expected: usize, timeout: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut bodies = Vec::new();
    while bodies.len() < expected && started.elapsed() < timeout {
        let out = match sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await {
            Ok(out) => out,
            Err(e) => {
                eprintln!("receive failed: {}", aws_sdk_sqs::error::DisplayErrorContext(e));
                continue;
            }
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let mut entries = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            bodies.push(m.body.clone().unwrap_or_default());
            entries.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .expect("entry"),
            );
        }
        sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.expect("delete");
    }
    bodies
}

fn long_text(i: usize) -> String {
    let mut text = format!("r{i:04} long answer\n\n");
    let mut line = 0;
    while text.len() < LONG_CHARS {
        text.push_str(&format!("Paragraph {line} of reply {i}: the quick brown fox jumps over the lazy dog.\n"));
        if line % 5 == 4 {
            text.push('\n');
        }
        line += 1;
    }
    text.truncate(LONG_CHARS);
    text
}

#[tokio::main]
async fn main() {
    let n = env_usize("CLAWLESS_BENCH_N", 500);
    let pollers = env_usize("CLAWLESS_BENCH_POLLERS", 1);
    let bin_dir = std::env::var_os("CLAWLESS_BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release"));

    let mut options = LocalOptions::new(repo_root(), bin_dir);
    options.agent_idle_timeout = Duration::from_secs(600);
    // The bench drives the mappings itself, so it can time the drain.
    options.event_source_mappings = false;
    options.count_aws_calls = true;
    options.instances.insert("DispatcherFunction".into(), pollers);
    options.instances.insert("ReplyFunction".into(), pollers);
    let stack = LocalStack::start(options).await.expect("local stack");

    let (tenant, bot) = bench_bot(&stack, "bench").await;

    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), stack.resources.tables["DataTable"].clone());
    let inbound_url = stack.resources.queue_urls["InboundQueue"].clone();
    let reply_url = stack.resources.queue_urls["ReplyQueue"].clone();
    let inbound = FifoQueue::new(sqs.clone(), inbound_url.clone());
    let replies = FifoQueue::new(sqs.clone(), reply_url.clone());
    let mapping = |queue: &str, function: &str| {
        Arc::new(SqsMapping {
            sqs: sqs.clone(),
            queue_url: stack.resources.queue_urls[queue].clone(),
            queue_arn: stack.resources.queue_arns[queue].clone(),
            region: stack.endpoints.region.clone(),
            batch_size: 10,
            report_batch_item_failures: true,
            function: stack.functions[function].clone(),
            deliveries: stack.deliveries.clone(),
        })
    };
    let dispatch_mapping = mapping("InboundQueue", "DispatcherFunction");
    let reply_mapping = mapping("ReplyQueue", "ReplyFunction");

    let base_ms: i64 = 1_800_000_000_000;
    let inbound_item = |c: usize, i: usize| ConversationMessage {
        conversation: conversation(&tenant.tenant_id, &bot.bot_id, c),
        message: InboundMessage {
            attachments: Vec::new(),
            message_id: MessageId::parse(&format!("{}", 1_000_000 + i)).expect("message id"),
            sent_at_ms: base_ms + i as i64 * 10,
            sender: Sender { id: chat_id(c).to_string(), name: "Ada".into(), is_bot: false },
            text: format!("c{c:02} m{i:04}"),
            is_direct: true,
            route: ReplyRoute::Telegram { chat_id: chat_id(c), message_thread_id: None, reply_to_message_id: None },
        },
    };
    let put_inbound = |items: Vec<ConversationMessage>| {
        let inbound = &inbound;
        async move {
            for item in items {
                inbound
                    .send_inbound(&InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item })
                    .await
                    .expect("send_inbound");
            }
        }
    };

    // ---------------------------------------------------------------- dispatcher
    // Warm-up: one message per conversation starts every session's agent and warms the
    // dispatcher's bot cache. Message numbers 0..CONVERSATIONS.
    put_inbound((0..CONVERSATIONS).map(|c| inbound_item(c, c)).collect()).await;
    let warm = drain(dispatch_mapping.clone(), pollers, CONVERSATIONS, Duration::from_secs(120)).await;

    // The measured messages: numbers CONVERSATIONS.., round-robin over the conversations.
    let first = CONVERSATIONS;
    let items: Vec<ConversationMessage> = (first..first + n).map(|i| inbound_item(i % CONVERSATIONS, i)).collect();
    put_inbound(items.clone()).await;

    let calls_before = stack.aws_calls();
    let moto_cpu_before = stack.moto_pid().and_then(cpu_seconds);
    let dispatcher_pids = stack.functions["DispatcherFunction"].pids();
    let fn_cpu = |pids: &[u32]| pids.iter().filter_map(|p| cpu_seconds(*p)).sum::<f64>();
    let dispatcher_cpu_before = fn_cpu(&dispatcher_pids);
    let dispatch = drain(dispatch_mapping.clone(), pollers, n, Duration::from_secs(600)).await;
    let dispatch_calls = diff(&stack.aws_calls(), &calls_before);
    let dispatch_moto_cpu = stack.moto_pid().and_then(cpu_seconds).zip(moto_cpu_before).map(|(a, b)| a - b);
    let dispatch_fn_cpu = fn_cpu(&dispatcher_pids) - dispatcher_cpu_before;

    // Every message stored with its dispatched mark (after AgentCore accepted it)?
    let mut dispatched = 0;
    for c in 0..CONVERSATIONS {
        let lines = store.conversation(&conversation(&tenant.tenant_id, &bot.bot_id, c)).await.expect("conversation");
        dispatched += lines.iter().filter(|m| m.dispatched_at_ms.is_some()).count();
    }
    let dispatched_measured = dispatched.saturating_sub(CONVERSATIONS);

    // The agents' answers on the reply queue, in per-conversation order? Read them straight off
    // the queue (the reply function is not consuming it yet).
    let answers = read_reply_queue(&sqs, &reply_url, n + CONVERSATIONS, Duration::from_secs(120)).await;
    let mut last_seen: HashMap<usize, usize> = HashMap::new();
    let mut out_of_order = 0;
    for body in &answers {
        let Some(said) = body.find("You said: c").map(|at| &body[at..]) else { continue };
        let (Some(c), Some(i)) = (marker(said, "You said: c"), marker(said, " m")) else { continue };
        if let Some(prev) = last_seen.insert(c, i)
            && prev >= i
        {
            out_of_order += 1;
        }
    }
    let every_conversation_complete = (0..CONVERSATIONS)
        .all(|c| last_seen.get(&c).copied() == (first..first + n).rev().find(|i| i % CONVERSATIONS == c));

    // ---------------------------------------------------------------- reply
    let mut expected_pieces = 0;
    let mut reply_envelopes = Vec::new();
    let key = stack.scope_key().await.expect("scope key");
    for (k, item) in items.iter().enumerate() {
        let long = k % LONG_EVERY == LONG_EVERY - 1;
        let text = if long { long_text(k) } else { format!("r{k:04} Hello Ada! You said: {}", item.message.text) };
        expected_pieces += if long { 3 } else { 1 };
        reply_envelopes.push(ReplyEnvelope {
            files: Vec::new(),
            v: ENVELOPE_VERSION,
            conversation: item.conversation.clone(),
            // A different seq from the agents' own answers (seq 1), so these are new replies.
            in_reply_to: item.message.message_id.clone(),
            in_reply_to_at_ms: item.message.sent_at_ms,
            seq: 2,
            text,
            route: item.message.route.clone(),
            buttons: Vec::new(),
            scope: key.mint(&item.conversation),
            run: None,
            trace_id: None,
        });
    }
    // Warm-up reply (bot record, channel secrets, HTTP client), then the measured ones.
    let warm_reply = ReplyEnvelope { seq: 3, text: "warm-up".into(), ..reply_envelopes[0].clone() };
    replies.send_reply(&warm_reply).await.expect("send_reply");
    drain(reply_mapping.clone(), pollers, 1, Duration::from_secs(60)).await;
    let outbox_before = stack.outbox.sent().await.len();
    for reply in &reply_envelopes {
        replies.send_reply(reply).await.expect("send_reply");
    }

    let calls_before = stack.aws_calls();
    let moto_cpu_before = stack.moto_pid().and_then(cpu_seconds);
    let reply_pids = stack.functions["ReplyFunction"].pids();
    let reply_cpu_before = fn_cpu(&reply_pids);
    let reply = drain(reply_mapping.clone(), pollers, n, Duration::from_secs(600)).await;
    let reply_calls = diff(&stack.aws_calls(), &calls_before);
    let reply_moto_cpu = stack.moto_pid().and_then(cpu_seconds).zip(moto_cpu_before).map(|(a, b)| a - b);
    let reply_fn_cpu = fn_cpu(&reply_pids) - reply_cpu_before;
    let sent = stack.outbox.sent().await;
    let sent = &sent[outbox_before.min(sent.len())..];

    // Per chat, the replies' first pieces in order and every piece there.
    let mut last_reply: HashMap<String, usize> = HashMap::new();
    let mut reply_out_of_order = 0;
    for m in sent {
        if let Some(k) = marker(&m.text, "r").filter(|_| m.text.starts_with('r'))
            && let Some(prev) = last_reply.insert(m.chat_id.to_string(), k)
            && prev >= k
        {
            reply_out_of_order += 1;
        }
    }

    // ---------------------------------------------------------------- report
    let per = |calls: &BTreeMap<String, u64>, count: usize| -> Vec<(String, f64)> {
        calls.iter().map(|(k, v)| (k.clone(), *v as f64 / count.max(1) as f64)).collect()
    };
    let total = |calls: &BTreeMap<String, u64>| calls.values().sum::<u64>() as f64;
    let dispatch_rate = dispatch.received as f64 / dispatch.elapsed.as_secs_f64();
    let reply_rate = reply.received as f64 / reply.elapsed.as_secs_f64();
    // Per message: the functions' counted calls, InvokeAgentRuntime (one per dispatched message,
    // counted here), and the mapping's ReceiveMessage + DeleteMessageBatch (counted here).
    let dispatch_fn_calls = total(&dispatch_calls) / n as f64;
    let dispatch_mapping_calls = (dispatch.polls + dispatch.non_empty_polls) as f64 / n as f64;
    let reply_fn_calls = total(&reply_calls) / n as f64;
    let reply_mapping_calls = (reply.polls + reply.non_empty_polls) as f64 / n as f64;

    println!(
        "Path benchmarks: {n} messages over {CONVERSATIONS} conversations, {pollers} poller(s) and function instance(s) per queue, host {} ({} cores)",
        std::env::consts::ARCH,
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0)
    );
    println!();
    println!("{:<44} {:>14} {:>14}", "", "dispatcher", "reply");
    println!("{:<44} {:>14} {:>14}", "messages drained", dispatch.received, reply.received);
    println!("{:<44} {:>14.1} {:>14.1}", "wall time s", dispatch.elapsed.as_secs_f64(), reply.elapsed.as_secs_f64());
    println!("{:<44} {:>14.1} {:>14.1}", "messages/s", dispatch_rate, reply_rate);
    println!(
        "{:<44} {:>14.1} {:>14.1}",
        "messages per batch (avg)",
        dispatch.received as f64 / dispatch.non_empty_polls.max(1) as f64,
        reply.received as f64 / reply.non_empty_polls.max(1) as f64
    );
    println!(
        "{:<44} {:>14.1} {:>14.1}",
        "batch wall ms p50 (receive+invoke+delete)",
        percentile(&dispatch.batch_ms, 0.5),
        percentile(&reply.batch_ms, 0.5)
    );
    println!(
        "{:<44} {:>14.1} {:>14.1}",
        "batch wall ms p90",
        percentile(&dispatch.batch_ms, 0.9),
        percentile(&reply.batch_ms, 0.9)
    );
    println!(
        "{:<44} {:>14.2} {:>14.2}",
        "function CPU ms per message",
        dispatch_fn_cpu * 1000.0 / n as f64,
        reply_fn_cpu * 1000.0 / n as f64
    );
    println!(
        "{:<44} {:>14.2} {:>14.2}",
        "moto CPU ms per message",
        dispatch_moto_cpu.unwrap_or(f64::NAN) * 1000.0 / n as f64,
        reply_moto_cpu.unwrap_or(f64::NAN) * 1000.0 / n as f64
    );
    println!(
        "{:<44} {:>14.2} {:>14.2}",
        "AWS calls per message by the function",
        dispatch_fn_calls + 1.0,
        reply_fn_calls
    );
    println!("{:<44} {:>14.2} {:>14.2}", "  + SQS calls by the mapping", dispatch_mapping_calls, reply_mapping_calls);
    for (k, v) in per(&dispatch_calls, n) {
        println!("{:<44} {:>14.2} {:>14}", format!("  dispatcher {k}"), v, "");
    }
    println!("{:<44} {:>14.2} {:>14}", "  dispatcher agentcore:InvokeAgentRuntime", 1.0, "");
    for (k, v) in per(&reply_calls, n) {
        println!("{:<44} {:>14} {:>14.2}", format!("  reply {k}"), "", v);
    }
    println!(
        "{:<44} {:>14} {:>14}",
        "order kept per conversation",
        format!("{}", out_of_order == 0 && every_conversation_complete),
        format!("{}", reply_out_of_order == 0)
    );
    println!(
        "dispatcher: {dispatched_measured}/{n} marked dispatched; {} agent answers read off the reply queue ({} expected, {out_of_order} out of order); warm-up {} messages in {:.1} s (starts {CONVERSATIONS} agent sessions)",
        answers.len(),
        n + CONVERSATIONS,
        warm.received,
        warm.elapsed.as_secs_f64()
    );
    println!(
        "reply: {} Telegram sends for {expected_pieces} expected pieces (every {LONG_EVERY}th reply {LONG_CHARS} chars); {reply_out_of_order} out of order",
        sent.len()
    );
    println!(
        "note: the agents answered while the dispatcher ran (their processes and their SendMessage calls shared the 2 cores), \
and every AWS call goes to moto on the same machine; the rates are this machine's, not Lambda's."
    );

    let figures = json!({
        "source": "cli/benches/paths.rs",
        "host": { "arch": std::env::consts::ARCH, "cores": std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0) },
        "messages": n,
        "conversations": CONVERSATIONS,
        "pollers": pollers,
        "dispatcher": {
            "messages_per_s": dispatch_rate,
            "batch_size_avg": dispatch.received as f64 / dispatch.non_empty_polls.max(1) as f64,
            "batch_wall_ms_p50": percentile(&dispatch.batch_ms, 0.5),
            "batch_wall_ms_p90": percentile(&dispatch.batch_ms, 0.9),
            "function_cpu_ms_per_message": dispatch_fn_cpu * 1000.0 / n as f64,
            "aws_calls_per_message": dispatch_fn_calls + 1.0,
            "mapping_sqs_calls_per_message": dispatch_mapping_calls,
            "calls": per(&dispatch_calls, n).into_iter().collect::<BTreeMap<_, _>>(),
            "order_kept": out_of_order == 0 && every_conversation_complete,
        },
        "reply": {
            "replies_per_s": reply_rate,
            "pieces": sent.len(),
            "batch_size_avg": reply.received as f64 / reply.non_empty_polls.max(1) as f64,
            "batch_wall_ms_p50": percentile(&reply.batch_ms, 0.5),
            "batch_wall_ms_p90": percentile(&reply.batch_ms, 0.9),
            "function_cpu_ms_per_message": reply_fn_cpu * 1000.0 / n as f64,
            "aws_calls_per_message": reply_fn_calls,
            "mapping_sqs_calls_per_message": reply_mapping_calls,
            "calls": per(&reply_calls, n).into_iter().collect::<BTreeMap<_, _>>(),
            "order_kept": reply_out_of_order == 0,
        },
    });
    let path = repo_root().join("target/bench-figures-paths.json");
    match std::fs::write(&path, serde_json::to_string_pretty(&figures).unwrap_or_default() + "\n") {
        Ok(()) => println!("figures written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
