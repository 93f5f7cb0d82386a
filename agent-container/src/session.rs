//! The ordered worker: per runtime session one task answers the accepted messages in the order
//! they were accepted. Messages that arrive while a run is going are answered together in the
//! next run. (AgentCore gives each conversation its own microVM, so a
//! process normally has exactly one session; the map only makes that assumption unnecessary.)

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use clawless_core::domain::envelope::{AckStatus, AgentInvocation};
use clawless_core::domain::ids::{MessageId, RuntimeSessionId};
use clawless_core::domain::model::HistoryEntry;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use crate::agent_loop::{AgentDeps, Outcome, RetryPolicy};
use crate::agent_loop::{run, run_span};
use crate::health::{Health, WorkGuard};

/// The last `capacity` message ids accepted, to recognise redeliveries.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    set: HashSet<MessageId>,
    order: VecDeque<MessageId>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, set: HashSet::new(), order: VecDeque::new() }
    }

    /// Remembers `id`; false if it was already remembered.
    pub fn insert(&mut self, id: &MessageId) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.set.insert(id.clone());
        self.order.push_back(id.clone());
        true
    }

    pub fn remove(&mut self, id: &MessageId) {
        if self.set.remove(id) {
            self.order.retain(|kept| kept != id);
        }
    }

    pub fn contains(&self, id: &MessageId) -> bool {
        self.set.contains(id)
    }

    /// Drops from `unanswered` (the lost work the dispatcher found) every message this process
    /// accepted: it is answered here or still queued here, not lost. Only a recycled microVM's
    /// messages are (and messages older than this ring remembers, which are long answered or
    /// marked). Returns how many were dropped.
    pub fn drop_accepted(&self, unanswered: &mut Vec<HistoryEntry>) -> usize {
        let before = unanswered.len();
        unanswered.retain(|h| !MessageId::parse(&h.message_id).is_ok_and(|id| self.contains(&id)));
        before - unanswered.len()
    }
}

/// One accepted message waiting for (or in) the worker. Counts as work until dropped.
struct Job {
    session: RuntimeSessionId,
    invocation: AgentInvocation,
    _work: WorkGuard,
}

/// Most messages answered together in one run.
pub const MAX_BATCH: usize = 20;

async fn run_worker(deps: Arc<AgentDeps>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        // Everything that arrived during the previous run goes into this one.
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let span = run_span(&jobs[0].session, &jobs[jobs.len() - 1].invocation);
        let deps = Arc::clone(&deps);
        // Each run is its own task, awaited at once: order is kept, and a panic during one run
        // ends that run only, not the session's worker.
        let task = tokio::spawn(async move {
            let batch: Vec<AgentInvocation> = jobs.iter().map(|j| j.invocation.clone()).collect();
            let outcome = run(&deps, &jobs[0].session, &batch).await;
            drop(jobs);
            outcome
        });
        if let Err(e) = task.await {
            span.in_scope(|| {
                tracing::error!(
                    event = "message_task_failed",
                    panicked = e.is_panic(),
                    "answering the message stopped unexpectedly"
                );
            });
        }
    }
}

struct SessionHandle {
    tx: mpsc::UnboundedSender<Job>,
    recent: RecentIds,
    worker: JoinHandle<()>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("the agent is shutting down")]
    ShuttingDown,
}

struct SessionsInner {
    closed: bool,
    map: HashMap<RuntimeSessionId, SessionHandle>,
}

/// The sessions of this process and their workers.
pub struct Sessions {
    deps: Arc<AgentDeps>,
    health: Arc<Health>,
    recent_capacity: usize,
    inner: Mutex<SessionsInner>,
}

impl Sessions {
    pub fn new(deps: AgentDeps, health: Arc<Health>, recent_capacity: usize) -> Self {
        Self {
            deps: Arc::new(deps),
            health,
            recent_capacity,
            inner: Mutex::new(SessionsInner { closed: false, map: HashMap::new() }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SessionsInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn_worker(&self) -> (mpsc::UnboundedSender<Job>, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, tokio::spawn(run_worker(Arc::clone(&self.deps), rx)))
    }

    /// Queues `invocation` for `session`'s worker, unless its message id was accepted recently.
    /// Must be called inside a Tokio runtime (it may start the worker).
    /// Lost work it names that this process accepted itself is dropped (see
    /// [`RecentIds::drop_accepted`]).
    pub fn submit(&self, session: RuntimeSessionId, mut invocation: AgentInvocation) -> Result<AckStatus, SubmitError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(SubmitError::ShuttingDown);
        }
        let message_id = invocation.item.message.message_id.clone();
        let handle = match inner.map.get_mut(&session) {
            Some(handle) => handle,
            None => {
                let (tx, worker) = self.spawn_worker();
                tracing::info!(event = "session_started", "session worker started");
                let handle = SessionHandle { tx, recent: RecentIds::new(self.recent_capacity), worker };
                inner.map.entry(session.clone()).or_insert(handle)
            }
        };
        if handle.recent.contains(&message_id) {
            return Ok(AckStatus::Duplicate);
        }
        // Before remembering this id, so the ring cannot forget an earlier one first.
        handle.recent.drop_accepted(&mut invocation.unanswered);
        handle.recent.insert(&message_id);
        if handle.tx.is_closed() {
            // Cannot happen while the worker loop is alive; restart it rather than lose the session.
            let (tx, worker) = self.spawn_worker();
            handle.tx = tx;
            handle.worker = worker;
        }
        let job = Job { session, invocation, _work: self.health.begin() };
        if handle.tx.send(job).is_err() {
            handle.recent.remove(&message_id);
            return Err(SubmitError::ShuttingDown);
        }
        Ok(AckStatus::Accepted)
    }

    /// Refuses new messages, lets every worker finish what it accepted, and waits at most `grace`.
    /// True if all the work finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let workers: Vec<JoinHandle<()>> = {
            let mut inner = self.lock();
            inner.closed = true;
            // Dropping the senders ends each worker's loop once its queue is empty.
            inner.map.drain().map(|(_, handle)| handle.worker).collect()
        };
        let all = async {
            for worker in workers {
                let _ = worker.await;
            }
        };
        match tokio::time::timeout(grace, all).await {
            Ok(()) => true,
            Err(_) => {
                tracing::error!(
                    event = "shutdown_incomplete",
                    pending = self.health.pending(),
                    grace_ms = grace.as_millis() as u64,
                    "shutdown grace period over with messages still unanswered"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{PingStatus, system_clock};
    use crate::provider::{ModelError, ModelProvider, ModelRequest, ModelResponse, OfflineProvider};
    use crate::reply_sink::MemoryReplySink;
    use crate::services::MemoryServices;
    use crate::testing::{agent_deps, agent_deps_with, history, invocation};
    use async_trait::async_trait;
    use clawless_core::domain::envelope::ENVELOPE_VERSION;

    fn deps(sink: Arc<MemoryReplySink>) -> AgentDeps {
        agent_deps(Arc::new(OfflineProvider), sink)
    }

    #[test]
    fn retry_delays_double_and_are_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_after(1), Duration::from_millis(200));
        assert_eq!(policy.delay_after(2), Duration::from_millis(400));
        assert_eq!(policy.delay_after(4), Duration::from_millis(1600));
        assert_eq!(policy.delay_after(40), Duration::from_secs(5));
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut recent = RecentIds::new(2);
        let id = |s: &str| MessageId::parse(s).unwrap();
        assert!(recent.insert(&id("1")));
        assert!(!recent.insert(&id("1")));
        assert!(recent.insert(&id("2")));
        assert!(recent.insert(&id("3")));
        assert!(!recent.contains(&id("1")), "the oldest id is forgotten");
        assert!(recent.contains(&id("2")) && recent.contains(&id("3")));
        recent.remove(&id("2"));
        assert!(recent.insert(&id("2")));
    }

    fn entry(id: &str, text: &str) -> HistoryEntry {
        HistoryEntry {
            role: clawless_core::domain::model::Role::User,
            message_id: id.into(),
            sender_name: "Ada".into(),
            text: text.into(),
            at_ms: 1_700_000_000_000 + id.parse::<i64>().unwrap_or(0),
        }
    }

    #[test]
    fn lost_work_this_process_accepted_is_dropped() {
        let mut recent = RecentIds::new(10);
        recent.insert(&MessageId::parse("1").unwrap());
        recent.insert(&MessageId::parse("3").unwrap());
        let mut unanswered = vec![entry("1", "mine"), entry("2", "lost"), entry("3", "mine too"), entry("4", "lost")];
        assert_eq!(recent.drop_accepted(&mut unanswered), 2);
        let ids: Vec<&str> = unanswered.iter().map(|h| h.message_id.as_str()).collect();
        assert_eq!(ids, ["2", "4"], "only messages another (recycled) microVM accepted are lost work");
        assert_eq!(recent.drop_accepted(&mut unanswered), 0);
    }

    /// Answers like the offline provider and keeps what it was asked.
    #[derive(Default)]
    struct Recording(Mutex<Vec<ModelRequest>>);

    #[async_trait]
    impl ModelProvider for Recording {
        fn name(&self) -> &'static str {
            "recording"
        }
        async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
            self.0.lock().unwrap().push(request.clone());
            OfflineProvider.complete(request).await
        }
    }

    #[tokio::test]
    async fn lost_work_is_taken_up_once_and_own_messages_are_not() {
        let sink = Arc::new(MemoryReplySink::new());
        let services = Arc::new(MemoryServices::default());
        let model = Arc::new(Recording::default());
        let health = Arc::new(Health::new(system_clock()));
        let deps = agent_deps_with(model.clone(), sink.clone(), services.clone());
        let sessions = Sessions::new(deps, Arc::clone(&health), 10);
        let idle = || async {
            while health.pending() > 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };

        let first = invocation("4242", "10", "first question", vec![]);
        let session = first.item.conversation.runtime_session_id();
        assert_eq!(sessions.submit(session.clone(), first), Ok(AckStatus::Accepted));
        idle().await;
        // The dispatcher saw 10 without a reply line yet (the reply function had not recorded
        // it) and 5, which a recycled microVM accepted and never answered.
        let mut second = invocation("4242", "11", "second question", vec![]);
        second.unanswered = vec![entry("5", "the lost question"), entry("10", "first question")];
        assert_eq!(sessions.submit(session.clone(), second), Ok(AckStatus::Accepted));
        idle().await;
        // Next time the dispatcher finds 5 marked; 10 and 11 have their reply lines.
        assert_eq!(
            sessions.submit(session.clone(), invocation("4242", "12", "third", vec![])),
            Ok(AckStatus::Accepted)
        );
        idle().await;
        assert!(sessions.shutdown(Duration::from_secs(5)).await);

        let requests = model.0.lock().unwrap().clone();
        assert_eq!(requests.len(), 3);
        let waiting = requests[1].messages.last().unwrap().text();
        assert!(waiting.contains("the lost question") && waiting.contains("second question"), "{waiting}");
        assert!(!waiting.contains("first question"), "a message this process answered is not lost work: {waiting}");
        assert!(!requests[2].messages.iter().any(|m| m.text().contains("the lost question")));
        let replied: Vec<String> = sink.replies().iter().map(|r| r.in_reply_to.to_string()).collect();
        assert_eq!(replied, ["10", "11", "12"], "one answer per run, none twice");
        // Only the lost message is marked: each answered message is marked by its reply line.
        let marked: Vec<String> = sink.answered().into_iter().map(|(_, id)| id).collect();
        assert_eq!(marked, ["5"]);
    }

    #[tokio::test]
    async fn runs_without_a_reply_mark_every_message() {
        let services = Arc::new(MemoryServices::default());
        let mut inv = invocation("4242", "21", "hello", vec![]);
        inv.unanswered = vec![entry("20", "lost")];
        let session = inv.item.conversation.runtime_session_id();
        let batch = [invocation("4242", "19", "earlier", vec![]), inv];

        let sink = Arc::new(MemoryReplySink::new());
        let failing = agent_deps_with(Arc::new(Failing), sink.clone(), services.clone());
        assert_eq!(run(&failing, &session, &batch).await, Outcome::ModelFailed);
        let marked = |s: &MemoryReplySink| s.answered().into_iter().map(|(_, id)| id).collect::<Vec<_>>();
        // The model failed: the notice answers 21 (its reply line marks it) and its summary marks the rest.
        assert_eq!(marked(&sink), ["19", "20"]);
        assert_eq!(sink.replies().iter().map(|r| r.in_reply_to.to_string()).collect::<Vec<_>>(), ["21"]);

        let no_queue_sink = Arc::new(MemoryReplySink::failing_first(5));
        let no_queue = agent_deps_with(Arc::new(OfflineProvider), no_queue_sink.clone(), services.clone());
        assert_eq!(run(&no_queue, &session, &batch).await, Outcome::ReplyFailed);
        assert_eq!(marked(&no_queue_sink), ["19", "20", "21"]);

        // With a reply queued, the others of the batch are marked, not the one it answers.
        let replying_sink = Arc::new(MemoryReplySink::new());
        let replying = agent_deps_with(Arc::new(OfflineProvider), replying_sink.clone(), services.clone());
        assert!(matches!(run(&replying, &session, &batch).await, Outcome::Replied { .. }));
        assert_eq!(marked(&replying_sink), ["19", "20"]);
        assert_eq!(replying_sink.replies()[0].in_reply_to.as_str(), "21");
    }

    #[tokio::test]
    async fn answer_builds_the_reply_envelope() {
        let sink = Arc::new(MemoryReplySink::new());
        let inv = invocation("4242", "1001", "hello", history(1));
        let session = inv.item.conversation.runtime_session_id();
        let outcome = run(&deps(Arc::clone(&sink)), &session, std::slice::from_ref(&inv)).await;
        assert_eq!(outcome, Outcome::Replied { sink_id: "mem-1".into(), attempts: 1 });
        let replies = sink.replies();
        assert_eq!(replies.len(), 1);
        let reply = &replies[0];
        assert_eq!(reply.v, ENVELOPE_VERSION);
        assert_eq!(reply.conversation, inv.item.conversation);
        assert_eq!(reply.in_reply_to, inv.item.message.message_id);
        assert_eq!(reply.in_reply_to_at_ms, inv.item.message.sent_at_ms);
        assert_eq!(reply.seq, 1);
        assert_eq!(reply.route, inv.item.message.route);
        assert_eq!(reply.text, "Hello Ada! You said: hello\n(I remember 1 earlier message in this conversation.)");
    }

    #[tokio::test]
    async fn answer_retries_the_reply() {
        let sink = Arc::new(MemoryReplySink::failing_first(3));
        let inv = invocation("4242", "1001", "hello", vec![]);
        let session = inv.item.conversation.runtime_session_id();
        let outcome = run(&deps(Arc::clone(&sink)), &session, std::slice::from_ref(&inv)).await;
        assert_eq!(outcome, Outcome::Replied { sink_id: "mem-1".into(), attempts: 4 });
        assert_eq!(sink.attempts(), 4);
    }

    #[tokio::test]
    async fn answer_gives_up_after_the_last_attempt() {
        let sink = Arc::new(MemoryReplySink::failing_first(5));
        let inv = invocation("4242", "1001", "hello", vec![]);
        let session = inv.item.conversation.runtime_session_id();
        assert_eq!(run(&deps(Arc::clone(&sink)), &session, std::slice::from_ref(&inv)).await, Outcome::ReplyFailed);
        assert_eq!(sink.attempts(), 5);
        assert!(sink.replies().is_empty());
    }

    struct Failing;

    #[async_trait]
    impl ModelProvider for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        async fn complete(&self, _: &ModelRequest) -> Result<ModelResponse, ModelError> {
            Err(ModelError::Provider { provider: "failing", detail: "down".into() })
        }
    }

    /// Panics on messages saying "panic", answers the others.
    struct Panicky;

    #[async_trait]
    impl ModelProvider for Panicky {
        fn name(&self) -> &'static str {
            "panicky"
        }
        async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
            let last = request.messages.last().ok_or(ModelError::NoUserMessage)?;
            assert!(!last.text().ends_with("] panic"), "provider blew up");
            OfflineProvider.complete(request).await
        }
    }

    #[tokio::test]
    async fn model_failure_sends_a_notice_instead_of_silence() {
        let sink = Arc::new(MemoryReplySink::new());
        let deps = agent_deps(Arc::new(Failing), sink.clone());
        let inv = invocation("4242", "1001", "hello", vec![]);
        let session = inv.item.conversation.runtime_session_id();
        assert_eq!(run(&deps, &session, std::slice::from_ref(&inv)).await, Outcome::ModelFailed);
        let replies = sink.replies();
        assert_eq!(replies.len(), 1, "exactly one notice");
        assert_eq!(replies[0].text, crate::agent_loop::MODEL_FAILED_ANSWER);
        assert_eq!(replies[0].in_reply_to.as_str(), "1001");
        assert!(replies[0].run.is_some(), "the notice carries the run's summary, as an answer would");
    }

    #[tokio::test]
    async fn worker_survives_failures_and_panics() {
        let sink = Arc::new(MemoryReplySink::failing_first(5));
        let health = Arc::new(Health::new(system_clock()));
        let deps = agent_deps(Arc::new(Panicky), sink.clone());
        let sessions = Sessions::new(deps, Arc::clone(&health), 10);
        let first = invocation("4242", "1", "reply fails 5 times", vec![]);
        let session = first.item.conversation.runtime_session_id();
        // One at a time (each after the previous run ended), so they are not answered together.
        let idle = || async {
            while health.pending() > 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        assert_eq!(sessions.submit(session.clone(), first), Ok(AckStatus::Accepted));
        idle().await;
        assert_eq!(sink.attempts(), 5, "the first reply failed every attempt");
        assert_eq!(sessions.submit(session.clone(), invocation("4242", "2", "panic", vec![])), Ok(AckStatus::Accepted));
        idle().await;
        assert_eq!(sessions.submit(session.clone(), invocation("4242", "3", "fine", vec![])), Ok(AckStatus::Accepted));
        let replies = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].in_reply_to.as_str(), "3");
        assert!(sessions.shutdown(Duration::from_secs(5)).await);
        assert_eq!(health.snapshot().status, PingStatus::Healthy, "failed and panicked work is finished too");
    }

    #[tokio::test]
    async fn submit_after_shutdown_is_refused() {
        let sink = Arc::new(MemoryReplySink::new());
        let sessions = Sessions::new(deps(sink), Arc::new(Health::new(system_clock())), 10);
        assert!(sessions.shutdown(Duration::from_secs(1)).await);
        let inv = invocation("4242", "1", "late", vec![]);
        let session = inv.item.conversation.runtime_session_id();
        assert_eq!(sessions.submit(session, inv), Err(SubmitError::ShuttingDown));
    }
}
