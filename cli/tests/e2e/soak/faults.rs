//! The soak's fault schedule, all of it from one seed: which channel API refuses sends and how,
//! when an agent's microVM or a function's process is killed (by progress: after how many
//! messages were sent, so a replay with the same seed injects the same faults at the same points
//! of the run), how the model misbehaves on which message, and which deliveries are duplicated.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clawless_agent::stand_ins::echo::ModelFault;
use clawless_local::LocalStack;
use clawless_local::faults::ChannelFault;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::channels::CHANNELS;

/// The functions a soak kills mid-batch (the local Lambda host restarts them).
pub const FUNCTIONS: [&str; 3] = ["WebhookFunction", "DispatcherFunction", "ReplyFunction"];

#[derive(Debug, Clone)]
pub enum Action {
    Refuse { channel: &'static str, fault: ChannelFault, sends: u32 },
    KillAgent { pick: u64 },
    KillFunction { function: &'static str, pick: usize },
}

/// How a message is delivered more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Duplicate {
    /// The same update twice at the same time.
    Concurrent,
    /// The same update again once it was answered.
    AfterAnswer,
    /// An earlier update of the conversation again, after later ones.
    OutOfOrder,
    /// An earlier update's queue message again with a new deduplication id: what SQS lets
    /// through once its 5-minute deduplication window has passed (emulated, not waited for).
    AfterDedupWindow,
}

impl Duplicate {
    pub fn kind(self) -> &'static str {
        match self {
            Duplicate::Concurrent => "duplicate: same update twice at once",
            Duplicate::AfterAnswer => "duplicate: same update after its answer",
            Duplicate::OutOfOrder => "duplicate: earlier update, out of order",
            Duplicate::AfterDedupWindow => "duplicate: queue redelivery past the dedup window",
        }
    }
}

/// A stable 64-bit mix of the seed and a value (SplitMix64), for per-message decisions that do
/// not depend on the order the conversations run in.
pub fn mix(seed: u64, value: u64) -> u64 {
    let mut z = seed ^ value.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fraction(seed: u64, value: u64) -> f64 {
    (mix(seed, value) >> 11) as f64 / (1u64 << 53) as f64
}

fn key_value(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// The model's fault for a run whose newest message is `key`: slow 6%, one failed attempt 4%,
/// every attempt failed 2%, past the run's limit 2% (and each kind once for sure).
pub fn model_fault(seed: u64, key: &str) -> Option<ModelFault> {
    // Every kind at least once, whatever the seed: message 2 of conversations 0 to 3.
    let forced = [
        ModelFault::ErrorAlways,
        ModelFault::PastLimit(Duration::from_secs(7)),
        ModelFault::ErrorOnce,
        ModelFault::Slow(Duration::from_millis(1500)),
    ];
    if let Some((c, 2)) = super::check::parse_marker(key)
        && let Some(fault) = forced.get(c)
    {
        return Some(*fault);
    }
    let x = fraction(seed ^ 0x006d_6f64_656c, key_value(key));
    match x {
        x if x < 0.06 => Some(ModelFault::Slow(Duration::from_millis(1500))),
        x if x < 0.10 => Some(ModelFault::ErrorOnce),
        x if x < 0.12 => Some(ModelFault::ErrorAlways),
        x if x < 0.14 => Some(ModelFault::PastLimit(Duration::from_secs(7))),
        _ => None,
    }
}

/// The duplicate delivery (if any) of message `k` of conversation `c`: 14% of messages (and each
/// kind once for sure).
pub fn duplicate(seed: u64, c: usize, k: usize) -> Option<Duplicate> {
    // Every kind at least once, whatever the seed: message 2 of conversations 4 to 7.
    let forced = [Duplicate::Concurrent, Duplicate::AfterAnswer, Duplicate::OutOfOrder, Duplicate::AfterDedupWindow];
    if k == 2
        && let Some(dup) = c.checked_sub(4).and_then(|i| forced.get(i))
    {
        return Some(*dup);
    }
    let x = fraction(seed ^ 0x0064_7570, (c as u64) << 32 | k as u64);
    match x {
        x if x < 0.04 => Some(Duplicate::Concurrent),
        x if x < 0.08 => Some(Duplicate::AfterAnswer),
        x if x < 0.11 && k > 1 => Some(Duplicate::OutOfOrder),
        x if x < 0.14 && k > 1 => Some(Duplicate::AfterDedupWindow),
        _ => None,
    }
}

/// The schedule of refused sends and kills for `messages` messages: (after how many were sent,
/// what), in order.
pub fn schedule(seed: u64, messages: usize) -> Vec<(usize, Action)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    // Thresholds in the first 85% of the run, so every fault has later messages around it.
    let at = |rng: &mut StdRng| rng.random_range(messages / 20..=messages * 85 / 100);
    let stretches = (messages / 25).max(10);
    for i in 0..stretches {
        let channel = CHANNELS[i % CHANNELS.len()].name();
        // The first three stretches are one of each kind, whatever the seed.
        let kind = if i < 3 { [0, 9, 19][i] } else { rng.random_range(0..20) };
        let (fault, sends) = match kind {
            0..9 => (ChannelFault::RateLimited { secs: 1 }, 3),
            9..16 => (ChannelFault::ServerError, 2),
            _ => (ChannelFault::Hang(Duration::from_secs(11)), 1),
        };
        out.push((at(&mut rng), Action::Refuse { channel, fault, sends }));
    }
    for _ in 0..(messages / 50).max(4) {
        out.push((at(&mut rng), Action::KillAgent { pick: rng.random::<u64>() }));
    }
    for i in 0..(messages / 60).max(3) {
        out.push((
            at(&mut rng),
            Action::KillFunction { function: FUNCTIONS[i % FUNCTIONS.len()], pick: rng.random::<u32>() as usize },
        ));
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

/// What the soak injected besides the channel refusals and the model's faults (those two count
/// themselves): kills and duplicates, by kind.
#[derive(Default)]
pub struct Injected {
    counts: Mutex<BTreeMap<String, u64>>,
    /// When each reply-function process was killed.
    reply_kills: Mutex<Vec<Instant>>,
}

impl Injected {
    pub fn count(&self, kind: impl Into<String>) {
        *self.counts.lock().unwrap().entry(kind.into()).or_default() += 1;
    }

    pub fn all(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap().clone()
    }

    pub fn reply_kills(&self) -> Vec<Instant> {
        self.reply_kills.lock().unwrap().clone()
    }
}

/// Performs one scheduled action on the stack.
pub async fn perform(stack: &LocalStack, action: &Action, injected: &Injected) {
    match action {
        Action::Refuse { channel, fault, sends } => stack.outbox.faults.refuse(channel, *fault, *sends),
        Action::KillAgent { pick } => {
            if stack.agentcore.kill_agent(*pick).await.is_some() {
                injected.count("agent microVM killed (SIGKILL)");
            }
        }
        Action::KillFunction { function, pick } => {
            let pids = stack.functions[*function].pids();
            if let Some(pid) = pids.get(pick % pids.len().max(1)) {
                let killed = tokio::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().await;
                if killed.is_ok_and(|s| s.success()) {
                    if *function == "ReplyFunction" {
                        injected.reply_kills.lock().unwrap().push(Instant::now());
                    }
                    injected.count(format!("{function} process killed (SIGKILL)"));
                }
            }
        }
    }
}
