//! Fires EventBridge Scheduler schedules locally: moto stores schedules but never fires them.
//!
//! Every tick the loop lists the schedules of the platform's group, reads each one
//! (`GetSchedule`), works out the firings due since it last looked from the expression
//! (`at()`, `rate()`, `cron()`), time zone, start and end dates and state, and invokes the
//! target function through the local Lambda host with the target's `Input`, filling in
//! `<aws.scheduler.scheduled-time>`, `<aws.scheduler.schedule-arn>`,
//! `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` as Scheduler does. A
//! one-time schedule whose `ActionAfterCompletion` is `DELETE` is deleted after it fired. A
//! disabled schedule does not fire, and when enabled again it fires from then on (missed
//! firings are not made up). A failed invocation is retried twice.
//!
//! Time: the loop reads a [`SchedulerClock`]: the wall clock, plus an offset tests can move
//! forward (`SchedulerClock::advance`), or a time tests freeze and set
//! (`SchedulerClock::freeze`, `SchedulerClock::set`), so firings a minute apart happen a
//! second apart, exactly when a test says. Moving the clock needs the `test-support` feature:
//! without it, the clock is the wall clock. Only the local scheduler reads this clock; the
//! functions and agents keep the wall clock. The tick interval is
//! [`super::LocalOptions::scheduler_tick`] (default 1 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{ActionAfterCompletion, ScheduleState};
use axum::body::Bytes;
use clawless_core::tasks::cron::Cron;
use clawless_core::tasks::spec::rate_minutes;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::lambda::FunctionHandle;

/// Most firings of one schedule per tick (after a long pause of the loop, or a big jump of the clock).
const MAX_FIRINGS_PER_TICK: usize = 10;
const ATTEMPTS: u32 = 3;

const NOT_FROZEN: i64 = i64::MIN;

/// The local scheduler's time: the wall clock plus an offset, or a frozen time.
#[derive(Debug)]
pub struct SchedulerClock {
    offset_ms: AtomicI64,
    frozen_ms: AtomicI64,
}

impl Default for SchedulerClock {
    fn default() -> Self {
        Self { offset_ms: AtomicI64::new(0), frozen_ms: AtomicI64::new(NOT_FROZEN) }
    }
}

impl SchedulerClock {
    pub fn now(&self) -> Timestamp {
        let frozen = self.frozen_ms.load(Ordering::SeqCst);
        if frozen != NOT_FROZEN {
            return Timestamp::from_millisecond(frozen).unwrap_or_else(|_| Timestamp::now());
        }
        let now = Timestamp::now();
        now.checked_add(jiff::SignedDuration::from_millis(self.offset_ms.load(Ordering::SeqCst))).unwrap_or(now)
    }

    /// Moves the local scheduler's time forward by `by` (frozen or not).
    #[cfg(any(test, feature = "test-support"))]
    pub fn advance(&self, by: Duration) {
        let by = by.as_millis() as i64;
        if self
            .frozen_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| (f != NOT_FROZEN).then_some(f + by))
            .is_err()
        {
            self.offset_ms.fetch_add(by, Ordering::SeqCst);
        }
    }

    /// Stops the clock at its current time: it moves only by [`Self::advance`] and [`Self::set`].
    #[cfg(any(test, feature = "test-support"))]
    pub fn freeze(&self) -> Timestamp {
        let now = self.now().as_millisecond();
        self.frozen_ms.store(now, Ordering::SeqCst);
        Timestamp::from_millisecond(now).unwrap_or_else(|_| Timestamp::now())
    }

    /// Stops the clock at `at`.
    #[cfg(any(test, feature = "test-support"))]
    pub fn set(&self, at: Timestamp) {
        self.frozen_ms.store(at.as_millisecond(), Ordering::SeqCst);
    }

    /// How far ahead of the wall clock the scheduler is.
    #[cfg(any(test, feature = "test-support"))]
    pub fn offset(&self) -> Duration {
        let ahead = self.now().as_millisecond() - Timestamp::now().as_millisecond();
        Duration::from_millis(ahead.max(0) as u64)
    }
}

/// One firing the loop made, for tests and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub schedule: String,
    pub scheduled_time: Timestamp,
    /// The function's answer, or the error after the last attempt.
    pub result: Result<String, String>,
}

#[derive(Debug, Clone)]
struct Seen {
    /// Firings at or before this were handled (or skipped while disabled).
    through: Timestamp,
    /// A one-time schedule that fired (and was not deleted).
    done: bool,
}

pub struct LocalScheduler {
    client: Client,
    group: String,
    functions: HashMap<String, FunctionHandle>,
    clock: Arc<SchedulerClock>,
    seen: Mutex<HashMap<String, Seen>>,
    firings: Mutex<Vec<Firing>>,
    executions: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The function an ARN names (`…:function:NAME`, optionally with a qualifier).
fn function_name(arn: &str) -> Option<&str> {
    let rest = arn.split(":function:").nth(1)?;
    Some(rest.split(':').next().unwrap_or(rest))
}

fn timestamp(dt: Option<&aws_smithy_types::DateTime>) -> Option<Timestamp> {
    dt.and_then(|d| Timestamp::from_second(d.secs()).ok())
}

/// When a schedule fires, as `GetSchedule` describes it.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleTimes<'a> {
    pub expression: &'a str,
    pub timezone: &'a str,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub created: Timestamp,
}

/// The firings of a schedule in `(after, until]`, oldest first, at most `max`.
pub fn due_firings(
    when: &ScheduleTimes<'_>,
    after: Timestamp,
    until: Timestamp,
    max: usize,
) -> Result<Vec<Timestamp>, String> {
    let ScheduleTimes { expression, timezone, start, end, created } = *when;
    let tz = TimeZone::get(timezone).map_err(|e| format!("time zone {timezone:?}: {e}"))?;
    let expression = expression.trim();
    let mut out = Vec::new();
    let within = |t: Timestamp| t > after && t <= until && end.is_none_or(|e| t <= e);
    if let Some(at) = expression.strip_prefix("at(").and_then(|r| r.strip_suffix(')')) {
        let dt: DateTime = at.parse().map_err(|e| format!("at({at}): {e}"))?;
        let t = tz.to_timestamp(dt).map_err(|e| format!("at({at}): {e}"))?;
        // One-time schedules ignore start and end dates.
        if t > after && t <= until {
            out.push(t);
        }
    } else if let Some(minutes) = rate_minutes(expression) {
        // The first firing is the start date, or the creation when there is none.
        let anchor = start.unwrap_or(created);
        let period = i64::from(minutes) * 60;
        let first_k = if after < anchor { 0 } else { (after.as_second() - anchor.as_second()) / period + 1 };
        let mut k = first_k;
        while out.len() < max {
            let t = Timestamp::from_second(anchor.as_second() + k * period).map_err(|e| e.to_string())?;
            if !within(t) {
                break;
            }
            out.push(t);
            k += 1;
        }
    } else if expression.starts_with("cron(") {
        let cron = Cron::parse(expression).map_err(|e| e.to_string())?;
        let mut from = match start {
            Some(s) if s > after => s.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap_or(s),
            _ => after,
        };
        while out.len() < max {
            let Some(t) = cron.next_after(from, &tz) else { break };
            if !within(t) {
                break;
            }
            out.push(t);
            from = t;
        }
    } else {
        return Err(format!("unknown schedule expression {expression:?}"));
    }
    Ok(out)
}

impl LocalScheduler {
    pub fn new(
        client: Client,
        group: String,
        functions: HashMap<String, FunctionHandle>,
        clock: Arc<SchedulerClock>,
    ) -> Self {
        Self {
            client,
            group,
            functions,
            clock,
            seen: Mutex::new(HashMap::new()),
            firings: Mutex::new(Vec::new()),
            executions: AtomicU64::new(0),
        }
    }

    /// The clock the loop reads (tests move it).
    #[cfg(feature = "test-support")]
    pub fn clock(&self) -> &Arc<SchedulerClock> {
        &self.clock
    }

    /// Every firing so far, oldest first.
    #[cfg(feature = "test-support")]
    pub fn firings(&self) -> Vec<Firing> {
        lock(&self.firings).clone()
    }

    /// Ticks until the task is aborted.
    pub async fn run(self: Arc<Self>, every: Duration) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "local scheduler tick failed");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn names(&self) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_schedules()
                .group_name(&self.group)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| format!("ListSchedules: {}", aws_sdk_scheduler::error::DisplayErrorContext(e)))?;
            names.extend(out.schedules().iter().filter_map(|s| s.name().map(str::to_owned)));
            token = out.next_token().map(str::to_owned).filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// One pass: fires what is due now.
    pub async fn tick(&self) -> Result<(), String> {
        let now = self.clock.now();
        let names = self.names().await?;
        lock(&self.seen).retain(|name, _| names.contains(name));
        for name in names {
            let schedule = match self.client.get_schedule().group_name(&self.group).name(&name).send().await {
                Ok(s) => s,
                // Deleted between the listing and now.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => continue,
                Err(e) => {
                    return Err(format!("GetSchedule {name}: {}", aws_sdk_scheduler::error::DisplayErrorContext(e)));
                }
            };
            if let Err(e) = self.fire_due(&name, &schedule, now).await {
                tracing::warn!(schedule = %name, error = %e, "local scheduler skipped a schedule");
            }
        }
        Ok(())
    }

    async fn fire_due(&self, name: &str, schedule: &GetScheduleOutput, now: Timestamp) -> Result<(), String> {
        // First sight: firings count from its creation (or from now, if the clock is behind that).
        let created = timestamp(schedule.creation_date()).map_or(now, |c| c.min(now));
        let seen = lock(&self.seen).get(name).cloned().unwrap_or(Seen { through: created, done: false });
        let enabled = schedule.state() != Some(&ScheduleState::Disabled);
        if !enabled || seen.done {
            lock(&self.seen).insert(name.to_owned(), Seen { through: now, ..seen });
            return Ok(());
        }
        let expression = schedule.schedule_expression().unwrap_or_default();
        let one_time = expression.starts_with("at(");
        let when = ScheduleTimes {
            expression,
            timezone: schedule.schedule_expression_timezone().unwrap_or("UTC"),
            start: timestamp(schedule.start_date()),
            end: timestamp(schedule.end_date()),
            created: timestamp(schedule.creation_date()).unwrap_or(created),
        };
        let due = due_firings(&when, seen.through, now, MAX_FIRINGS_PER_TICK)?;
        let target = schedule.target().ok_or("no target")?;
        let function = function_name(target.arn())
            .and_then(|f| self.functions.get(f))
            .ok_or_else(|| format!("target {} is not a local function", target.arn()))?;
        let mut through = seen.through;
        for at in due {
            let result = self.invoke(function, schedule, at).await;
            if let Err(e) = &result {
                tracing::warn!(schedule = %name, scheduled_time = %at, error = %e, "local scheduler: the target failed");
            }
            lock(&self.firings).push(Firing { schedule: name.to_owned(), scheduled_time: at, result });
            through = at;
        }
        let fired_once = one_time && through > seen.through;
        lock(&self.seen).insert(name.to_owned(), Seen { through: through.max(now), done: fired_once });
        if fired_once && schedule.action_after_completion() == Some(&ActionAfterCompletion::Delete) {
            self.client
                .delete_schedule()
                .group_name(&self.group)
                .name(name)
                .send()
                .await
                .map_err(|e| format!("DeleteSchedule: {}", aws_sdk_scheduler::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }

    /// Invokes the target with its input as Scheduler would, retrying a failure twice.
    async fn invoke(
        &self,
        function: &FunctionHandle,
        schedule: &GetScheduleOutput,
        at: Timestamp,
    ) -> Result<String, String> {
        let input = schedule.target().and_then(|t| t.input()).unwrap_or("{}");
        let execution = self.executions.fetch_add(1, Ordering::Relaxed);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let payload = input
                .replace("<aws.scheduler.scheduled-time>", &at.to_string())
                .replace("<aws.scheduler.schedule-arn>", schedule.arn().unwrap_or_default())
                .replace("<aws.scheduler.execution-id>", &format!("local-{}-{execution:08}", std::process::id()))
                .replace("<aws.scheduler.attempt-number>", &attempt.to_string());
            match function.invoke(Bytes::from(payload)).await {
                Ok(answer) => return Ok(String::from_utf8_lossy(&answer).into_owned()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn due_firings_of_each_kind() {
        let created = t("2026-03-02T10:00:10Z");
        let due = |expression: &str, timezone: &str, start: Option<&str>, after: &str, until: &str| {
            let when = ScheduleTimes { expression, timezone, start: start.map(t), end: None, created };
            due_firings(&when, t(after), t(until), 10).unwrap().iter().map(Timestamp::to_string).collect::<Vec<_>>()
        };
        assert_eq!(
            due("rate(1 minute)", "UTC", Some("2026-03-02T10:01:00Z"), "2026-03-02T10:00:10Z", "2026-03-02T10:03:30Z"),
            ["2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z", "2026-03-02T10:03:00Z"]
        );
        assert_eq!(
            due("rate(1 minute)", "UTC", Some("2026-03-02T10:01:00Z"), "2026-03-02T10:02:00Z", "2026-03-02T10:03:30Z"),
            ["2026-03-02T10:03:00Z"]
        );
        assert_eq!(
            due("at(2026-03-02T11:00:00)", "Europe/Berlin", None, "2026-03-02T09:00:00Z", "2026-03-02T10:30:00Z"),
            ["2026-03-02T10:00:00Z"]
        );
        assert!(due("at(2026-03-02T11:00:00)", "UTC", None, "2026-03-02T09:00:00Z", "2026-03-02T10:30:00Z").is_empty());
        assert_eq!(
            due("cron(*/15 * * * ? *)", "UTC", None, "2026-03-02T10:00:10Z", "2026-03-02T10:31:00Z"),
            ["2026-03-02T10:15:00Z", "2026-03-02T10:30:00Z"]
        );
        let bad = ScheduleTimes { expression: "every day", timezone: "UTC", start: None, end: None, created };
        assert!(due_firings(&bad, created, created, 10).is_err());
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:SchedulerFunction"),
            Some("SchedulerFunction")
        );
        assert_eq!(function_name("arn:aws:lambda:us-east-1:1:function:F:live"), Some("F"));
    }

    #[test]
    fn the_clock_moves_forward_only_for_the_local_scheduler() {
        let clock = SchedulerClock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(120));
        assert!(clock.now().as_second() - before.as_second() >= 120);
        assert!(clock.offset() >= Duration::from_secs(119));
        let frozen = clock.freeze();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), frozen, "a frozen clock stands still");
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now().as_second(), frozen.as_second() + 60);
        clock.set(t("2030-01-01T00:00:00Z"));
        assert_eq!(clock.now(), t("2030-01-01T00:00:00Z"));
    }
}
