//! A task's schedule as the agent's `schedule_task` gives it: the schedule type, the time zone
//! and the value (cron, interval or once), checked and turned into EventBridge Scheduler's
//! expression and the next firing.
//!
//! Input: a flags byte (bits 0-1 the schedule type as written: `cron`, `interval`, `once`, or
//! the next line taken as the type's name; bits 2-7 move "now" by that many weeks and a few
//! hours), a line with the time zone name (empty: none), then the value.
//!
//! Checked besides "no panic": what parses keeps parsing to the same schedule from its stored
//! form (cron's six fields, the interval's `N unit`, which `rate_minutes` also reads back from
//! the expression), and the next firing is after now.

use clawless_core::tasks::cron::Cron;
use clawless_core::tasks::spec::{ScheduleSpec, ScheduleType, parse_interval, rate_minutes, time_zone};
use jiff::Timestamp;

use crate::bytes::Bytes;

/// 2025-11-21T16:00:00Z, the sample events' time.
const BASE_NOW: i64 = 1_763_740_800;

pub fn schedules(data: &[u8]) {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let kind = match flags & 0b11 {
        0 => Ok(ScheduleType::Cron),
        1 => Ok(ScheduleType::Interval),
        2 => Ok(ScheduleType::Once),
        _ => ScheduleType::parse(&String::from_utf8_lossy(input.line())),
    };
    let shift = i64::from(flags >> 2);
    let now = Timestamp::from_second(BASE_NOW + shift * (7 * 86_400 + 3_607)).expect("within jiff's range");
    let zone_name = String::from_utf8_lossy(input.line()).into_owned();
    let value = String::from_utf8_lossy(input.rest()).into_owned();
    let Ok(kind) = kind else { return };
    let tz = if zone_name.is_empty() {
        None
    } else {
        match time_zone(&zone_name) {
            Ok(tz) => Some(tz),
            Err(_) => return,
        }
    };
    let Ok(spec) = ScheduleSpec::parse(kind, &value, tz.as_ref(), now) else { return };
    assert_eq!(spec.kind(), kind);
    let zone = tz.unwrap_or(jiff::tz::TimeZone::UTC);
    let expression = spec.expression(&zone);
    let stored = spec.normalized_value(&zone);
    match &spec {
        ScheduleSpec::Cron(cron) => {
            let again = Cron::parse(&stored);
            assert_eq!(again.as_ref().ok(), Some(cron), "cron {value:?} stored as {stored:?} reads differently");
            assert_eq!(Cron::parse(&expression).ok().as_ref(), Some(cron), "cron expression {expression:?}");
        }
        ScheduleSpec::Interval { minutes } => {
            assert_eq!(rate_minutes(&expression), Some(*minutes), "rate expression {expression:?}");
            assert_eq!(parse_interval(&stored).ok(), Some(*minutes), "interval stored as {stored:?}");
        }
        ScheduleSpec::Once { at } => {
            assert!(at.as_second() >= now.as_second() + 60, "once {value:?} at {at} is not a minute after {now}");
        }
    }
    let anchor = spec.first_anchor(now);
    if let Some(next) = spec.next_after(now, anchor, &zone) {
        assert!(next > now, "{value:?}: the next firing {next} is not after {now}");
    }
}
