//! The fault-injection soak: many messages over many conversations on all five channels, on a
//! fresh local stack, while the channel APIs refuse sends (429 with the channel's wait, 500,
//! requests that hang past the sender's timeout), agents' microVMs and function processes are
//! SIGKILLed mid-run, the model is slow, fails or runs past the run's limit, and deliveries are
//! duplicated (at once, after the answer, out of order, and past the FIFO deduplication window).
//! At the end every message must be answered exactly once, in order within its conversation, or
//! be in a dead-letter queue with the reason; the test prints the counts and the faults.
//!
//! Each conversation is a user who waits for the answer (at most [`ANSWER_WAIT`]) before the next
//! message. Its last message is sent after the scheduled faults are over: a message whose agent
//! was killed is taken up by the conversation's next message (the dispatcher's lost-work rule),
//! so a conversation needs one.
//!
//! Size: `CLAWLESS_SOAK_MESSAGES` (default 200) over `CLAWLESS_SOAK_CONVERSATIONS` (default 20);
//! `CLAWLESS_SOAK_SEED` replays a run (it is printed). `scripts/soak.sh` runs 1,000 over 50.

mod channels;
mod check;
mod faults;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clawless_agent::stand_ins::echo::{EchoModel, markers};
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};

use self::channels::{Bots, Channel};
use self::check::{Answer, Verdict, classify, excuse_resends, judge, parse_marker, text};
use self::faults::{Duplicate, Injected, duplicate, model_fault, perform, schedule};
use crate::support::repo_root;

/// How long a conversation waits for an answer before it sends its next message.
const ANSWER_WAIT: Duration = Duration::from_secs(40);
/// Queue visibility timeouts for the soak (the template's are 60 s and 90 s): a failed batch
/// returns sooner, still after the function's timeout. Time compressed, nothing else changed.
const INBOUND_VISIBILITY_SECS: &str = "20";
const REPLY_VISIBILITY_SECS: &str = "25";
/// The agents' run limit in the soak (`CLAWLESS_RUN_SECONDS`), below the model's hang.
const RUN_SECONDS: &str = "4";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Soak {
    stack: LocalStack,
    bots: Bots,
    seed: u64,
    sent: AtomicUsize,
    injected: Injected,
    inbound_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Soak {
    /// The answers at the stand-ins that belong to conversation `c`, in order.
    async fn answers(&self, c: usize) -> Vec<Answer> {
        let sent = self.stack.outbox.sent().await;
        sent.iter().filter(|m| self.bots.conversation_of(m) == Some(c)).map(|m| classify(c, &m.text)).collect()
    }

    /// The answers of conversation `c` with when the stand-ins took them.
    async fn answers_at(&self, c: usize) -> Vec<(Answer, Instant)> {
        let sent = self.stack.outbox.sent().await;
        sent.iter().filter(|m| self.bots.conversation_of(m) == Some(c)).map(|m| (classify(c, &m.text), m.at)).collect()
    }

    /// Waits until an answer after the first `before` answers of conversation `c` names message
    /// `k` or is a notice; false after [`ANSWER_WAIT`].
    async fn wait_for_answer(&self, c: usize, k: usize, before: usize) -> bool {
        let started = Instant::now();
        while started.elapsed() < ANSWER_WAIT {
            let answers = self.answers(c).await;
            if answers.iter().skip(before).any(|a| match a {
                Answer::Echo(ks) => ks.contains(&k),
                _ => true,
            }) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Delivers the queue message of an earlier update of conversation `c` (message `j`) again,
    /// with a deduplication id SQS has not seen: a redelivery past the deduplication window.
    async fn redeliver_from_queue(&self, c: usize, j: usize) -> bool {
        let wanted = format!("soak-{c}-{j}");
        let deliveries = self.stack.deliveries.of(&self.inbound_url);
        let Some((group, body)) = deliveries.into_iter().find(|(_, body)| markers(body).contains(&wanted)) else {
            return false;
        };
        self.sqs
            .send_message()
            .queue_url(&self.inbound_url)
            .message_group_id(group)
            .message_deduplication_id(format!("soak-redelivery-{c}-{j}-{}", rand::random::<u32>()))
            .message_body(body)
            .send()
            .await
            .is_ok()
    }

    /// One conversation: `messages` messages, each waited for, with its duplicates.
    async fn converse(self: Arc<Self>, c: usize, messages: usize, last: bool) {
        let mut bodies: Vec<String> = Vec::new();
        for k in 1..=messages {
            let body = self.bots.message(c, k, &text(c, k));
            bodies.push(body.clone());
            let before = self.answers(c).await.len();
            let dup = if last { None } else { duplicate(self.seed, c, k) };
            match dup {
                Some(Duplicate::Concurrent) => {
                    tokio::join!(self.bots.deliver(c, &body), self.bots.deliver(c, &body));
                }
                _ => {
                    self.bots.deliver(c, &body).await;
                }
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            if let Some(Duplicate::OutOfOrder) = dup {
                let j = k - 1 - (faults::mix(self.seed, k as u64) as usize % (k - 1).min(3));
                self.bots.deliver(c, &bodies[j - 1]).await;
            }
            self.wait_for_answer(c, k, before).await;
            match dup {
                Some(Duplicate::AfterAnswer) => {
                    self.bots.deliver(c, &body).await;
                }
                Some(Duplicate::AfterDedupWindow) if !self.redeliver_from_queue(c, k - 1).await => continue,
                _ => {}
            }
            if let Some(dup) = dup {
                self.injected.count(format!("{} ({})", dup.kind(), Channel::of(c).name()));
            }
            // A user reads the answer before writing again.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

async fn start(echo: &EchoModel) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.agent_env = vec![
        ("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()),
        ("CLAWLESS_BEDROCK_ENDPOINT".into(), echo.url()),
        ("CLAWLESS_RUN_SECONDS".into(), RUN_SECONDS.into()),
    ];
    for f in faults::FUNCTIONS {
        options.instances.insert(f.to_owned(), 2);
    }
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

/// The dead-letter queues' messages: (c, k) → (queue, reason).
async fn dead_letters(soak: &Soak, failed: &BTreeMap<String, u64>) -> BTreeMap<(usize, usize), (String, String)> {
    let mut out = BTreeMap::new();
    for (queue, why) in [
        ("InboundDeadLetterQueue", "its dispatch failed on each of the inbound queue's 5 receives"),
        ("ReplyDeadLetterQueue", "its reply failed on each of the reply queue's 5 receives"),
    ] {
        let url = &soak.stack.resources.queue_urls[queue];
        loop {
            let received = soak
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(600)
                .send()
                .await
                .expect("read the DLQ");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                for (c, k) in markers(m.body().unwrap_or_default()).iter().filter_map(|m| parse_marker(m)) {
                    let faults: Vec<String> = failed.iter().map(|(kind, n)| format!("{n} × {kind}")).collect();
                    out.insert((c, k), (queue.to_owned(), format!("{why} (faults then: {})", faults.join(", "))));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_with_faults_answers_every_message_once_in_order() {
    let total = env_usize("CLAWLESS_SOAK_MESSAGES", 200).max(24);
    // At least 8 (the forced faults live in conversations 0 to 7), each with at least 3 messages.
    let conversations = env_usize("CLAWLESS_SOAK_CONVERSATIONS", 20).clamp(8, total / 3);
    let seed = std::env::var("CLAWLESS_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u32>() as u64);
    println!(
        "soak: {total} messages over {conversations} conversations, seed {seed} (replay: CLAWLESS_SOAK_SEED={seed})"
    );
    let started = Instant::now();

    let echo = EchoModel::bedrock(Box::new(move |key| model_fault(seed, key)));
    let stack = start(&echo).await;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    for (queue, secs) in [("InboundQueue", INBOUND_VISIBILITY_SECS), ("ReplyQueue", REPLY_VISIBILITY_SECS)] {
        sqs.set_queue_attributes()
            .queue_url(&stack.resources.queue_urls[queue])
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, secs)
            .send()
            .await
            .expect("visibility timeout set");
    }
    let bots = Bots::onboard(&stack);
    let inbound_url = stack.resources.queue_urls["InboundQueue"].clone();
    let soak = Arc::new(Soak {
        stack,
        bots,
        seed,
        sent: AtomicUsize::new(0),
        injected: Injected::default(),
        inbound_url,
        sqs,
    });

    // The main phase: every conversation but its last message, with the scheduled faults.
    let per = move |c: usize| total / conversations + usize::from(c < total % conversations);
    let plan = schedule(seed, total);
    let done = Arc::new(AtomicBool::new(false));
    let scheduler = {
        let (soak, done) = (soak.clone(), done.clone());
        tokio::spawn(async move {
            for (at, action) in plan {
                while soak.sent.load(Ordering::Relaxed) < at && !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if done.load(Ordering::Relaxed) {
                    break;
                }
                perform(&soak.stack, &action, &soak.injected).await;
            }
        })
    };
    let drivers: Vec<_> =
        (0..conversations).map(|c| tokio::spawn(soak.clone().converse(c, per(c) - 1, false))).collect();
    for d in drivers {
        d.await.expect("conversation driver");
    }
    done.store(true, Ordering::Relaxed);
    scheduler.await.expect("fault scheduler");
    // The last message of each conversation, after the faults (see the module docs).
    let closers: Vec<_> = (0..conversations)
        .map(|c| {
            let soak = soak.clone();
            tokio::spawn(async move {
                let k = per(c);
                let body = soak.bots.message(c, k, &text(c, k));
                let before = soak.answers(c).await.len();
                soak.bots.deliver(c, &body).await;
                soak.sent.fetch_add(1, Ordering::Relaxed);
                soak.wait_for_answer(c, k, before).await;
            })
        })
        .collect();
    for d in closers {
        d.await.expect("closing message");
    }
    // Let retries, redeliveries and late duplicates land: queues empty and agents idle, twice.
    let settle = Instant::now();
    let mut quiet_rounds = 0;
    while quiet_rounds < 2 && settle.elapsed() < Duration::from_secs(240) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let queued: u64 =
            soak.stack.queued_messages().await.iter().filter(|(q, _)| !q.contains("DeadLetter")).map(|(_, n)| *n).sum();
        let busy = soak.stack.agentcore.busy_sessions().await;
        quiet_rounds = if queued == 0 && busy == 0 { quiet_rounds + 1 } else { 0 };
    }
    let wall = started.elapsed();

    // The faults, by kind.
    let mut table: BTreeMap<String, u64> = BTreeMap::new();
    for ((channel, kind), n) in soak.stack.outbox.faults.injected() {
        *table.entry(format!("channel API {kind} ({channel})")).or_default() += n;
    }
    for (kind, n) in echo.injected() {
        *table.entry(kind.to_owned()).or_default() += n;
    }
    table.extend(soak.injected.all());

    // The verdict, per conversation.
    let dlq = dead_letters(&soak, &table).await;
    let unanswered_runs = echo.unanswered();
    let mut verdict = Verdict::default();
    let reply_kills = soak.injected.reply_kills();
    for c in 0..conversations {
        let timed = soak.answers_at(c).await;
        let answers: Vec<Answer> = timed.iter().map(|(a, _)| a.clone()).collect();
        let mut failed: Vec<(usize, Vec<usize>)> = unanswered_runs
            .iter()
            .filter_map(|(key, run)| {
                let (kc, kk) = parse_marker(key)?;
                (kc == c).then(|| (kk, run.iter().filter_map(|m| parse_marker(m)).map(|(_, k)| k).collect()))
            })
            .collect();
        failed.sort();
        let failed: Vec<Vec<usize>> = failed.into_iter().map(|(_, ks)| ks).collect();
        let dlq_c: BTreeMap<usize, (String, String)> =
            dlq.iter().filter(|((cc, _), _)| *cc == c).map(|((_, k), v)| (*k, v.clone())).collect();
        let troubled = verdict.lost.len()
            + verdict.duplicated.len()
            + verdict.out_of_order.len()
            + verdict.resent_after_reply_kill.len();
        judge(&mut verdict, c, per(c), &answers, &failed, &dlq_c);
        excuse_resends(&mut verdict, c, &timed, &reply_kills);
        if verdict.lost.len()
            + verdict.duplicated.len()
            + verdict.out_of_order.len()
            + verdict.resent_after_reply_kill.len()
            > troubled
        {
            println!(
                "soak: conversation {c} ({}): answers {answers:?}; failed model runs {failed:?}",
                Channel::of(c).name()
            );
        }
    }

    println!(
        "\n==== soak report (seed {seed}; {total} messages, {conversations} conversations, all five channels; {:.0} s) ====",
        wall.as_secs_f64()
    );
    println!("{:<72} {:>7}", "fault injected", "count");
    for (kind, n) in &table {
        println!("{kind:<72} {n:>7}");
    }
    println!("{:<72} {:>7}", "model requests (all)", echo.requests());
    println!();
    let channels: BTreeSet<&str> = (0..conversations).map(|c| Channel::of(c).name()).collect();
    println!(
        "{:<72} {:>7}",
        format!("messages sent ({})", channels.into_iter().collect::<Vec<_>>().join(", ")),
        verdict.sent
    );
    println!("{:<72} {:>7}", "answered exactly once, in order", verdict.answered_once);
    println!("{:<72} {:>7}", "  of which by a notice (the model never answered their run)", verdict.by_notice);
    println!("{:<72} {:>7}", "in a dead-letter queue", verdict.in_dlq.len());
    for (c, k, queue, reason) in &verdict.in_dlq {
        println!("  soak-{c}-{k} in {queue}: {reason}");
    }
    let named =
        |list: &[(usize, usize)]| list.iter().map(|(c, k)| format!("soak-{c}-{k}")).collect::<Vec<_>>().join(" ");
    println!("{:<72} {:>7}  {}", "lost", verdict.lost.len(), named(&verdict.lost));
    println!("{:<72} {:>7}  {}", "duplicated", verdict.duplicated.len(), named(&verdict.duplicated));
    println!(
        "{:<72} {:>7}  {}",
        "answered twice: resent after a reply process was killed mid-send",
        verdict.resent_after_reply_kill.len(),
        named(&verdict.resent_after_reply_kill)
    );
    println!("{:<72} {:>7}  {}", "out of order", verdict.out_of_order.len(), named(&verdict.out_of_order));
    println!("{:<72} {:>7}", "unexplained answers", verdict.unexplained.len());
    for what in &verdict.unexplained {
        println!("  {what}");
    }
    println!("==== end of soak report ====\n");

    assert_eq!(verdict.sent, total, "every message was sent");
    assert!(verdict.lost.is_empty(), "lost: {:?}", verdict.lost);
    assert!(verdict.duplicated.is_empty(), "duplicated: {:?}", verdict.duplicated);
    assert!(verdict.out_of_order.is_empty(), "out of order: {:?}", verdict.out_of_order);
    assert!(verdict.unexplained.is_empty(), "unexplained: {:?}", verdict.unexplained);
    assert_eq!(verdict.answered_once + verdict.resent_after_reply_kill.len() + verdict.in_dlq.len(), total);
    // A soak that injected nothing proves nothing.
    for kind in ["agent microVM killed (SIGKILL)", "model error (every attempt)", "model past the run's limit"] {
        assert!(table.get(kind).copied().unwrap_or(0) > 0, "no {kind} was injected");
    }
    for prefix in ["channel API 429", "channel API 500", "duplicate: queue redelivery", "duplicate: earlier update"] {
        assert!(table.keys().any(|k| k.starts_with(prefix)), "no {prefix} was injected");
    }
    assert!(table.keys().any(|k| k.contains("process killed")), "no function process was killed");
    assert!(verdict.by_notice > 0, "no message was answered by a notice");
}
