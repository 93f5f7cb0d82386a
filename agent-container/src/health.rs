//! The `/ping` state AgentCore polls: `HealthyBusy` while any message is queued or being answered
//! (so the microVM is not reclaimed mid-answer), `Healthy` otherwise. `time_of_last_update` is the
//! moment of the last status change, never refreshed while the status stays the same.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Source of Unix time in seconds; injectable so tests can control it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PingStatus {
    Healthy,
    HealthyBusy,
}

/// Body of `GET /ping`, as AgentCore expects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    pub status: PingStatus,
    /// Unix seconds of the last status change (process start until the first change).
    pub time_of_last_update: u64,
}

struct Inner {
    /// Messages accepted and not yet finished (queued or running).
    pending: usize,
    changed_at: u64,
}

impl Inner {
    fn status(&self) -> PingStatus {
        if self.pending == 0 { PingStatus::Healthy } else { PingStatus::HealthyBusy }
    }
}

pub struct Health {
    clock: Clock,
    inner: Mutex<Inner>,
}

impl Health {
    /// Starts `Healthy`, with the current time as the last update.
    pub fn new(clock: Clock) -> Self {
        let now = clock();
        Self { clock, inner: Mutex::new(Inner { pending: 0, changed_at: now }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot leave the counter half-updated, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one more unit of work; the work counts until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> WorkGuard {
        let mut inner = self.lock();
        let before = inner.status();
        inner.pending += 1;
        if inner.status() != before {
            inner.changed_at = (self.clock)();
        }
        WorkGuard { health: Arc::clone(self) }
    }

    fn finish(&self) {
        let mut inner = self.lock();
        let before = inner.status();
        inner.pending = inner.pending.saturating_sub(1);
        if inner.status() != before {
            inner.changed_at = (self.clock)();
        }
    }

    pub fn snapshot(&self) -> PingResponse {
        let inner = self.lock();
        PingResponse { status: inner.status(), time_of_last_update: inner.changed_at }
    }

    /// Messages queued or running.
    pub fn pending(&self) -> usize {
        self.lock().pending
    }
}

/// One unit of work in progress; dropping it (normally, or while a panic unwinds) ends the work.
pub struct WorkGuard {
    health: Arc<Health>,
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        self.health.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn fake_clock(start: u64) -> (Arc<AtomicU64>, Clock) {
        let now = Arc::new(AtomicU64::new(start));
        let reader = Arc::clone(&now);
        (now, Arc::new(move || reader.load(Ordering::SeqCst)))
    }

    #[test]
    fn starts_healthy_at_creation_time() {
        let (_, clock) = fake_clock(100);
        let health = Health::new(clock);
        assert_eq!(health.snapshot(), PingResponse { status: PingStatus::Healthy, time_of_last_update: 100 });
    }

    #[test]
    fn timestamp_changes_only_on_status_transitions() {
        let (now, clock) = fake_clock(100);
        let health = Arc::new(Health::new(clock));

        now.store(110, Ordering::SeqCst);
        assert_eq!(health.snapshot().time_of_last_update, 100, "no transition, no new timestamp");

        let first = health.begin();
        assert_eq!(health.snapshot(), PingResponse { status: PingStatus::HealthyBusy, time_of_last_update: 110 });

        now.store(120, Ordering::SeqCst);
        let second = health.begin();
        drop(first);
        assert_eq!(
            health.snapshot(),
            PingResponse { status: PingStatus::HealthyBusy, time_of_last_update: 110 },
            "still busy: more work and less work do not move the timestamp"
        );

        now.store(130, Ordering::SeqCst);
        drop(second);
        assert_eq!(health.snapshot(), PingResponse { status: PingStatus::Healthy, time_of_last_update: 130 });
        assert_eq!(health.pending(), 0);
    }

    #[test]
    fn serializes_as_agentcore_expects() {
        let json =
            serde_json::to_value(PingResponse { status: PingStatus::HealthyBusy, time_of_last_update: 7 }).unwrap();
        assert_eq!(json, serde_json::json!({"status": "HealthyBusy", "time_of_last_update": 7}));
    }
}
