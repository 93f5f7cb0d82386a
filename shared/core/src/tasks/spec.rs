//! What a task's schedule says, checked and normalised: cron (AWS or five-field), interval
//! (`rate(...)`, at least one minute) or once (`at(...)` in a time zone, in the future). Each
//! becomes the EventBridge Scheduler expression and answers "when is the next firing".

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::TaskError;
use super::cron::Cron;

/// Longest interval: a year.
pub const MAX_INTERVAL_MINUTES: u32 = 366 * 24 * 60;
/// A one-time task must be at least this far ahead (EventBridge Scheduler fires with 60-second
/// precision).
pub const MIN_ONCE_LEAD_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleType {
    Cron,
    Interval,
    Once,
}

impl ScheduleType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleType::Cron => "cron",
            ScheduleType::Interval => "interval",
            ScheduleType::Once => "once",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, TaskError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "cron" => Ok(ScheduleType::Cron),
            "interval" | "rate" => Ok(ScheduleType::Interval),
            "once" | "at" => Ok(ScheduleType::Once),
            other => Err(TaskError::Invalid(format!(
                "unknown schedule_type {:?} (cron, interval or once)",
                other.chars().take(20).collect::<String>()
            ))),
        }
    }
}

/// A checked schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleSpec {
    Cron(Cron),
    Interval { minutes: u32 },
    Once { at: Timestamp },
}

/// A time zone by IANA name.
pub fn time_zone(name: &str) -> Result<TimeZone, TaskError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(TaskError::Invalid("timezone must be an IANA name such as Europe/Berlin or UTC".into()));
    }
    TimeZone::get(name).map_err(|_| {
        TaskError::Invalid(format!(
            "unknown timezone {:?}: use an IANA name such as Europe/Berlin, America/New_York or UTC",
            name.chars().take(64).collect::<String>()
        ))
    })
}

fn invalid(msg: impl Into<String>) -> TaskError {
    TaskError::Invalid(msg.into())
}

/// `15 minutes`, `15m`, `2 hours`, `2h`, `1 day`, `120s`, `rate(5 minutes)` → minutes.
pub fn parse_interval(raw: &str) -> Result<u32, TaskError> {
    let text = raw.trim().to_ascii_lowercase();
    let text = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')).unwrap_or(&text).trim().to_owned();
    let text = text.strip_prefix("every ").unwrap_or(&text).trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let hint = "give the interval with a unit, e.g. `15 minutes`, `2 hours` or `1 day` (at least 1 minute)";
    if number.is_empty() {
        return Err(invalid(format!("interval {:?}: {hint}", raw.chars().take(40).collect::<String>())));
    }
    let n: u64 = number.parse().map_err(|_| invalid(format!("interval {number:?} is too large")))?;
    let minutes = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => {
            if !n.is_multiple_of(60) {
                return Err(invalid(format!(
                    "interval of {n} seconds: intervals are whole minutes (at least 1 minute)"
                )));
            }
            n / 60
        }
        "m" | "min" | "mins" | "minute" | "minutes" => n,
        "h" | "hr" | "hrs" | "hour" | "hours" => n.saturating_mul(60),
        "d" | "day" | "days" => n.saturating_mul(24 * 60),
        "" => return Err(invalid(format!("interval {n} has no unit: {hint}"))),
        other => {
            return Err(invalid(format!(
                "unknown interval unit {:?}: {hint}",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    if minutes < 1 {
        return Err(invalid(format!("the interval must be at least 1 minute ({hint})")));
    }
    if minutes > u64::from(MAX_INTERVAL_MINUTES) {
        return Err(invalid("the interval must be at most 366 days"));
    }
    Ok(minutes as u32)
}

/// `rate(...)` for a number of minutes, in the largest whole unit (`rate(1 hour)`, `rate(90 minutes)`).
pub fn rate_expression(minutes: u32) -> String {
    let (n, unit) = if minutes.is_multiple_of(24 * 60) {
        (minutes / (24 * 60), "day")
    } else if minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("rate({n} {unit}{})", if n == 1 { "" } else { "s" })
}

/// The minutes of a `rate(...)` expression (as [`rate_expression`] writes them).
pub fn rate_minutes(expression: &str) -> Option<u32> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    parse_interval(inner).ok()
}

/// A relative time (`in 2 hours`, `+30m`) as a duration.
fn relative(text: &str) -> Option<Result<SignedDuration, TaskError>> {
    let rest = text.strip_prefix("in ").or_else(|| text.strip_prefix('+'))?;
    Some(parse_interval(rest).map(|m| SignedDuration::from_mins(i64::from(m))))
}

fn civil(text: &str) -> Option<DateTime> {
    let text = text.replacen(' ', "T", 1);
    text.parse::<DateTime>().ok()
}

fn format_civil(dt: DateTime) -> String {
    dt.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

impl ScheduleSpec {
    /// Checks `value` for `kind`. `tz` (given or configured) interprets local one-time values,
    /// which are refused without one; `now` is for one-time checks and relative times. (Cron is
    /// evaluated in the task's zone later, see [`ScheduleSpec::next_after`].)
    pub fn parse(
        kind: ScheduleType,
        value: &str,
        tz: Option<&TimeZone>,
        now: Timestamp,
    ) -> Result<ScheduleSpec, TaskError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid("schedule_value is empty"));
        }
        if value.len() > 200 {
            return Err(invalid("schedule_value is longer than 200 characters"));
        }
        match kind {
            ScheduleType::Cron => Ok(ScheduleSpec::Cron(Cron::parse(value)?)),
            ScheduleType::Interval => Ok(ScheduleSpec::Interval { minutes: parse_interval(value)? }),
            ScheduleType::Once => {
                let lower = value.to_ascii_lowercase();
                let at = if let Some(duration) = relative(&lower) {
                    now.checked_add(duration?).map_err(|_| invalid("that time is out of range"))?
                } else if let Ok(ts) = value.parse::<Timestamp>() {
                    // An absolute instant (with Z or an offset).
                    ts
                } else if let Some(dt) =
                    civil(value.strip_prefix("at(").and_then(|v| v.strip_suffix(')')).unwrap_or(value))
                {
                    let tz = tz.ok_or_else(|| {
                        invalid(format!(
                            "{value:?} is a local time: give a timezone (IANA name, e.g. Europe/Berlin), or an \
                             instant with an offset such as 2030-01-01T09:00:00+01:00"
                        ))
                    })?;
                    tz.to_timestamp(dt).map_err(|_| invalid("that time is out of range"))?
                } else {
                    return Err(invalid(format!(
                        "once: {:?} is not a time; give a local time like 2030-01-01T09:00 (with a timezone), an \
                         instant like 2030-01-01T08:00:00Z, or a relative time like `in 2 hours`",
                        value.chars().take(60).collect::<String>()
                    )));
                };
                // Whole seconds: `at()` has no fractions.
                let at = Timestamp::from_second(at.as_second()).map_err(|_| invalid("that time is out of range"))?;
                if at.as_second() < now.as_second() + MIN_ONCE_LEAD_SECS {
                    return Err(invalid(format!(
                        "once: {} is not in the future (at least a minute from now, {})",
                        at,
                        Timestamp::from_second(now.as_second()).unwrap_or(now)
                    )));
                }
                Ok(ScheduleSpec::Once { at })
            }
        }
    }

    pub fn kind(&self) -> ScheduleType {
        match self {
            ScheduleSpec::Cron(_) => ScheduleType::Cron,
            ScheduleSpec::Interval { .. } => ScheduleType::Interval,
            ScheduleSpec::Once { .. } => ScheduleType::Once,
        }
    }

    /// The EventBridge Scheduler expression, evaluated in `tz`.
    pub fn expression(&self, tz: &TimeZone) -> String {
        match self {
            ScheduleSpec::Cron(cron) => cron.expression(),
            ScheduleSpec::Interval { minutes } => rate_expression(*minutes),
            ScheduleSpec::Once { at } => format!("at({})", format_civil(at.to_zoned(tz.clone()).datetime())),
        }
    }

    /// The value as stored and shown: six cron fields, `15 minutes`, or the local time in `tz`.
    pub fn normalized_value(&self, tz: &TimeZone) -> String {
        match self {
            ScheduleSpec::Cron(cron) => cron.fields().to_owned(),
            ScheduleSpec::Interval { minutes } => {
                let rate = rate_expression(*minutes);
                rate.trim_start_matches("rate(").trim_end_matches(')').to_owned()
            }
            ScheduleSpec::Once { at } => format_civil(at.to_zoned(tz.clone()).datetime()),
        }
    }

    /// The first firing strictly after `after`. `anchor` is an interval's first firing (its
    /// schedule's start date); firings follow it every interval.
    pub fn next_after(&self, after: Timestamp, anchor: Option<Timestamp>, tz: &TimeZone) -> Option<Timestamp> {
        match self {
            ScheduleSpec::Cron(cron) => cron.next_after(after, tz),
            ScheduleSpec::Interval { minutes } => {
                let anchor = anchor?;
                if anchor > after {
                    return Some(anchor);
                }
                let period = i64::from(*minutes) * 60;
                let k = (after.as_second() - anchor.as_second()) / period + 1;
                Timestamp::from_second(anchor.as_second() + k * period).ok()
            }
            ScheduleSpec::Once { at } => (*at > after).then_some(*at),
        }
    }

    /// An interval's first firing for a task created at `now`: one interval later, on a whole minute.
    pub fn first_anchor(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            ScheduleSpec::Interval { minutes } => {
                let minute = now.as_second().div_euclid(60) * 60;
                Timestamp::from_second(minute + i64::from(*minutes) * 60).ok()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-02T10:07:23Z".parse().unwrap()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn intervals_are_whole_minutes_of_at_least_one() {
        assert_eq!(parse_interval("15 minutes").unwrap(), 15);
        assert_eq!(parse_interval("15m").unwrap(), 15);
        assert_eq!(parse_interval("every 2 hours").unwrap(), 120);
        assert_eq!(parse_interval("1 day").unwrap(), 1440);
        assert_eq!(parse_interval("rate(5 minutes)").unwrap(), 5);
        assert_eq!(parse_interval("120s").unwrap(), 2);
        for bad in ["0 minutes", "30 seconds", "90s", "5", "five minutes", "5 fortnights", "", "400 days"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(parse_interval("0m").unwrap_err().to_string().contains("at least 1 minute"));
        assert!(parse_interval("5").unwrap_err().to_string().contains("no unit"));
    }

    #[test]
    fn rate_expressions_are_valid_for_eventbridge() {
        assert_eq!(rate_expression(1), "rate(1 minute)");
        assert_eq!(rate_expression(15), "rate(15 minutes)");
        assert_eq!(rate_expression(60), "rate(1 hour)");
        assert_eq!(rate_expression(90), "rate(90 minutes)");
        assert_eq!(rate_expression(2880), "rate(2 days)");
        for m in [1, 2, 59, 60, 61, 1440, 4000] {
            assert_eq!(rate_minutes(&rate_expression(m)), Some(m));
        }
    }

    #[test]
    fn once_uses_the_time_zone_and_must_be_in_the_future() {
        let spec = ScheduleSpec::parse(ScheduleType::Once, "2026-03-03T09:00", Some(&berlin()), now()).unwrap();
        assert_eq!(spec, ScheduleSpec::Once { at: "2026-03-03T08:00:00Z".parse().unwrap() });
        assert_eq!(spec.expression(&berlin()), "at(2026-03-03T09:00:00)");
        assert_eq!(spec.normalized_value(&berlin()), "2026-03-03T09:00:00");
        // The same local time in New York is another instant.
        let ny = TimeZone::get("America/New_York").unwrap();
        let other = ScheduleSpec::parse(ScheduleType::Once, "2026-03-03 09:00", Some(&ny), now()).unwrap();
        assert_eq!(other, ScheduleSpec::Once { at: "2026-03-03T14:00:00Z".parse().unwrap() });
        // An instant with an offset needs no zone; it is written in the task's zone.
        let abs = ScheduleSpec::parse(ScheduleType::Once, "2026-03-03T09:00:00+01:00", None, now()).unwrap();
        assert_eq!(abs.expression(&berlin()), "at(2026-03-03T09:00:00)");
        let rel = ScheduleSpec::parse(ScheduleType::Once, "in 1 hour", None, now()).unwrap();
        assert_eq!(rel, ScheduleSpec::Once { at: "2026-03-02T11:07:23Z".parse().unwrap() });

        let e = ScheduleSpec::parse(ScheduleType::Once, "2026-03-03T09:00", None, now()).unwrap_err();
        assert!(e.to_string().contains("give a timezone"), "{e}");
        let e = ScheduleSpec::parse(ScheduleType::Once, "2026-03-02T11:07:00", Some(&berlin()), now()).unwrap_err();
        assert!(e.to_string().contains("not in the future"), "{e}");
        assert!(ScheduleSpec::parse(ScheduleType::Once, "in 30s", None, now()).is_err());
        assert!(ScheduleSpec::parse(ScheduleType::Once, "tomorrow-ish", Some(&berlin()), now()).is_err());
    }

    #[test]
    fn next_firings() {
        let tz = TimeZone::UTC;
        let every_15 = ScheduleSpec::Interval { minutes: 15 };
        let anchor = every_15.first_anchor(now()).unwrap();
        assert_eq!(anchor.to_string(), "2026-03-02T10:22:00Z");
        assert_eq!(every_15.next_after(now(), Some(anchor), &tz), Some(anchor));
        assert_eq!(every_15.next_after(anchor, Some(anchor), &tz).unwrap().to_string(), "2026-03-02T10:37:00Z");
        let later: Timestamp = "2026-03-02T11:00:00Z".parse().unwrap();
        assert_eq!(every_15.next_after(later, Some(anchor), &tz).unwrap().to_string(), "2026-03-02T11:07:00Z");
        let once = ScheduleSpec::Once { at: later };
        assert_eq!(once.next_after(now(), None, &tz), Some(later));
        assert_eq!(once.next_after(later, None, &tz), None);
        let cron = ScheduleSpec::parse(ScheduleType::Cron, "0 9 * * 1", None, now()).unwrap();
        assert_eq!(cron.expression(&tz), "cron(0 9 ? * MON *)");
        assert_eq!(cron.next_after(now(), None, &berlin()).unwrap().to_string(), "2026-03-09T08:00:00Z");
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert!(time_zone("Europe/Berlin").is_ok());
        assert!(time_zone("UTC").is_ok());
        let e = time_zone("Mars/Olympus").unwrap_err();
        assert!(e.to_string().contains("IANA"), "{e}");
        assert_eq!(ScheduleType::parse("Interval").unwrap(), ScheduleType::Interval);
        assert!(ScheduleType::parse("weekly").is_err());
    }
}
