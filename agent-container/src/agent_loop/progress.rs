//! The run's signs of life for trusted code: a progress report on the reply queue once the run
//! has lasted [`FIRST_AFTER`], then every `progress_every` while it lasts and when a tool starts, so the reply function
//! can show the channel's typing indicator and a status message (the agent holds no channel
//! token). Best effort: one try each, bounded, never in the way of the answer. [`Heartbeat::stop`]
//! comes before the final answer is queued, so no report follows it on the FIFO.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clawless_core::domain::envelope::{AgentInvocation, AgentReport, ENVELOPE_VERSION};
use clawless_core::domain::model::now_ms;
use clawless_core::domain::progress::{ProgressPhase, RunProgress};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use crate::reply_sink::ReplySink;

/// The first report waits this long (or `progress_every`, if shorter): an answer quicker than
/// that needs no typing indicator, and costs no report (each is a queue message and a
/// reply-function invocation).
pub(super) const FIRST_AFTER: Duration = Duration::from_millis(1500);
/// A tool start closer than this to the last report waits for the next heartbeat, which
/// carries it: a response calling many tools at once sends one report, not one per tool.
const MIN_GAP: Duration = Duration::from_secs(1);
/// Longest a report may take to queue: tool calls wait for a tool start's report.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

struct State {
    seq: u32,
    tools_used: u32,
    phase: ProgressPhase,
    /// `None` until the first report.
    last_sent: Option<Instant>,
    stopped: bool,
}

struct Shared {
    sink: Arc<dyn ReplySink>,
    /// The run's report with this run's fields; each report copies it.
    template: RunProgress,
    started: Instant,
    state: Mutex<State>,
    stop: Notify,
}

/// A run's progress reports; dropped or stopped, it sends no more.
pub(super) struct Heartbeat {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts the heartbeat (its first report after [`FIRST_AFTER`]), if reports are on
    /// (`every`) and someone is waiting (not a scheduled run).
    pub(super) async fn start(
        sink: &Arc<dyn ReplySink>,
        every: Option<Duration>,
        latest: &AgentInvocation,
        started: Instant,
    ) -> Option<Self> {
        let every = every.filter(|e| !e.is_zero() && !latest.scheduled)?;
        let message = &latest.item.message;
        let template = RunProgress {
            v: ENVELOPE_VERSION,
            scope: latest.scope.clone(),
            conversation: latest.item.conversation.clone(),
            in_reply_to: message.message_id.clone(),
            in_reply_to_at_ms: message.sent_at_ms,
            route: message.route.clone(),
            seq: 0,
            sent_at_ms: 0,
            elapsed_ms: 0,
            tools_used: 0,
            phase: ProgressPhase::Thinking,
        };
        let state = State { seq: 0, tools_used: 0, phase: ProgressPhase::Thinking, last_sent: None, stopped: false };
        let shared = Arc::new(Shared {
            sink: Arc::clone(sink),
            template,
            started,
            state: Mutex::new(state),
            stop: Notify::new(),
        });
        let first = FIRST_AFTER.min(every);
        let beating = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let wait = match beating.state.lock().await.last_sent {
                    Some(last) => every.saturating_sub(last.elapsed()),
                    None => first.saturating_sub(beating.started.elapsed()),
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = beating.stop.notified() => return,
                }
                let mut state = beating.state.lock().await;
                if state.stopped {
                    return;
                }
                let due = match state.last_sent {
                    Some(last) => last.elapsed() >= every,
                    None => beating.started.elapsed() >= first,
                };
                if due {
                    beating.emit(&mut state).await;
                }
            }
        });
        Some(Self { shared, task: Some(task) })
    }

    /// A tool starts: reported at once once the run has reported at all, unless a report went
    /// out within [`MIN_GAP`]; before that, the first report carries it.
    pub(super) async fn tool_started(&self, name: &str) {
        let mut state = self.shared.state.lock().await;
        state.tools_used = state.tools_used.saturating_add(1);
        state.phase = ProgressPhase::Tool { name: name.to_owned() };
        if !state.stopped && state.last_sent.is_some_and(|last| last.elapsed() >= MIN_GAP) {
            self.shared.emit(&mut state).await;
        }
    }

    /// The run waits for the model again (the next report says so).
    pub(super) async fn thinking(&self) {
        self.shared.state.lock().await.phase = ProgressPhase::Thinking;
    }

    /// Stops the reports, waiting out one being sent: after this, nothing more is queued.
    pub(super) async fn stop(mut self) {
        self.shared.state.lock().await.stopped = true;
        self.shared.stop.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Shared {
    /// Queues one report with the run's state now; one try, within [`SEND_TIMEOUT`].
    async fn emit(&self, state: &mut State) {
        state.seq += 1;
        state.last_sent = Some(Instant::now());
        let report = AgentReport::Progress(RunProgress {
            seq: state.seq,
            sent_at_ms: now_ms(),
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            tools_used: state.tools_used,
            phase: state.phase.clone(),
            ..self.template.clone()
        });
        match tokio::time::timeout(SEND_TIMEOUT, self.sink.report(&report)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(event = "progress_not_sent", seq = state.seq, error = %e),
            Err(_) => tracing::warn!(event = "progress_not_sent", seq = state.seq, error = "timed out"),
        }
    }
}
