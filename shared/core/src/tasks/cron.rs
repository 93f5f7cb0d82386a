//! Cron expressions as EventBridge Scheduler reads them, and the common five-field form
//! converted to them.
//!
//! AWS form, six fields: `minutes hours day-of-month month day-of-week year`, with
//! day-of-week 1-7 = SUN-SAT, and a `?` in exactly one of day-of-month and day-of-week.
//! Supported: numbers, names (`JAN`-`DEC`, `SUN`-`SAT`), `*`, `?`, lists `,`, ranges `-`,
//! steps `/`, and the day wildcards `L` (last day of the month; in day-of-week alone, Saturday),
//! `nW` (weekday nearest day n), `LW` (last weekday of the month), `dL` (last weekday d of the
//! month) and `d#n` (n-th weekday d of the month).
//!
//! Five-field form (`minute hour day-of-month month day-of-week`, day-of-week 0-7 with 0 and 7
//! = Sunday): converted to the AWS form with year `*`. Standard cron fires when either day
//! field matches if both are restricted; EventBridge cannot say that, so such an expression is
//! refused with an explanation rather than silently changed.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// Why a cron expression was refused. The text says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct CronError {
    pub expression: String,
    pub reason: String,
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;
/// How far ahead the next firing is looked for.
const SEARCH_DAYS: usize = 366 * 8;

/// A set of small numbers as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bits(u64);

impl Bits {
    fn has(self, n: u32) -> bool {
        n < 64 && self.0 & (1 << n) != 0
    }
    fn set(&mut self, n: u32) {
        self.0 |= 1 << n;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`: the day-of-week field decides.
    Unspecified,
    Days(Bits),
    /// `L`
    Last,
    /// `LW`
    LastWeekday,
    /// `nW`
    NearestWeekday(i8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    /// `?`: the day-of-month field decides.
    Unspecified,
    /// Weekdays, 0 = Sunday.
    Days(Bits),
    /// `dL`: the last weekday `d` of the month (0 = Sunday).
    Last(i8),
    /// `d#n`: the n-th weekday `d` of the month.
    Nth(i8, i8),
}

/// A parsed AWS cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: Bits,
    hours: Bits,
    day_of_month: DayOfMonth,
    months: Bits,
    day_of_week: DayOfWeek,
    /// Years as offsets from 1970 (`None`: every year).
    years: Option<Vec<bool>>,
}

impl Cron {
    /// Parses the AWS six-field form, or converts the five-field form; `cron(...)` around either
    /// is accepted.
    pub fn parse(raw: &str) -> Result<Cron, CronError> {
        let trimmed = raw.trim();
        let inner = trimmed.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')).unwrap_or(trimmed).trim();
        let fields: Vec<&str> = inner.split_whitespace().collect();
        match fields.len() {
            6 => Self::parse_aws(&fields.join(" ")),
            5 => Self::parse_aws(&convert_five_fields(&fields).map_err(|reason| err(inner, reason))?),
            n => Err(err(
                inner,
                format!(
                    "has {n} fields; give six (AWS: minutes hours day-of-month month day-of-week year, e.g. \
                     `0 9 ? * MON *`) or five (minute hour day-of-month month day-of-week, e.g. `0 9 * * 1`)"
                ),
            )),
        }
    }

    fn parse_aws(text: &str) -> Result<Cron, CronError> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let e = |reason: String| err(text, reason);
        let minutes = numbers(f[0], 0, 59, None).map_err(|r| e(format!("minutes: {r}")))?;
        let hours = numbers(f[1], 0, 23, None).map_err(|r| e(format!("hours: {r}")))?;
        let months = numbers(f[3], 1, 12, Some(&MONTHS)).map_err(|r| e(format!("month: {r}")))?;
        let day_of_month = parse_day_of_month(f[2]).map_err(|r| e(format!("day-of-month: {r}")))?;
        let day_of_week = parse_day_of_week(f[4]).map_err(|r| e(format!("day-of-week: {r}")))?;
        match (&day_of_month, &day_of_week) {
            (DayOfMonth::Unspecified, DayOfWeek::Unspecified) => {
                return Err(e("only one of day-of-month and day-of-week may be `?`".into()));
            }
            (DayOfMonth::Unspecified, _) | (_, DayOfWeek::Unspecified) => {}
            _ => {
                return Err(e(
                    "day-of-month and day-of-week cannot both be given: put `?` in one of them (e.g. `0 9 ? * MON *` \
                     or `0 9 1 * ? *`)"
                        .into(),
                ));
            }
        }
        let years = if f[5] == "*" {
            None
        } else {
            let mut set = vec![false; (LAST_YEAR - FIRST_YEAR + 1) as usize];
            for n in values(f[5], FIRST_YEAR as u32, LAST_YEAR as u32, None).map_err(|r| e(format!("year: {r}")))? {
                set[(n as i32 - FIRST_YEAR) as usize] = true;
            }
            Some(set)
        };
        Ok(Cron { text: text.to_owned(), minutes, hours, day_of_month, months, day_of_week, years })
    }

    /// The six fields, as EventBridge Scheduler wants them inside `cron(...)`.
    pub fn fields(&self) -> &str {
        &self.text
    }

    /// `cron(...)`.
    pub fn expression(&self) -> String {
        format!("cron({})", self.text)
    }

    fn matches_day(&self, date: Date) -> bool {
        let year_ok = match &self.years {
            None => true,
            Some(set) => set.get((i32::from(date.year()) - FIRST_YEAR) as usize).copied().unwrap_or(false),
        };
        if !year_ok || !self.months.has(date.month() as u32) {
            return false;
        }
        let day = date.day();
        let last = date.days_in_month();
        let weekday = date.weekday().to_sunday_zero_offset();
        let dom = match self.day_of_month {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(days) => days.has(day as u32),
            DayOfMonth::Last => day == last,
            DayOfMonth::LastWeekday => day == nearest_weekday(date, last),
            DayOfMonth::NearestWeekday(n) => n <= last && day == nearest_weekday(date, n),
        };
        let dow = match self.day_of_week {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(days) => days.has(weekday as u32),
            DayOfWeek::Last(d) => weekday == d && day + 7 > last,
            DayOfWeek::Nth(d, n) => weekday == d && (day - 1) / 7 + 1 == n,
        };
        dom && dow
    }

    /// The first firing strictly after `after`, evaluated in `tz` (`None`: none within 8 years).
    /// A local time that does not exist (a daylight-saving gap) fires at the same wall-clock
    /// distance after the gap; a repeated one fires once, at its first occurrence.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).date();
        let mut date = start;
        for _ in 0..SEARCH_DAYS {
            if self.matches_day(date) {
                for hour in 0..24 {
                    if !self.hours.has(hour) {
                        continue;
                    }
                    for minute in 0..60 {
                        if !self.minutes.has(minute) {
                            continue;
                        }
                        let dt = DateTime::new(date.year(), date.month(), date.day(), hour as i8, minute as i8, 0, 0);
                        if let Ok(ts) = dt.and_then(|dt| tz.to_timestamp(dt))
                            && ts > after
                        {
                            return Some(ts);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

fn err(expression: &str, reason: impl Into<String>) -> CronError {
    CronError { expression: expression.chars().take(100).collect(), reason: reason.into() }
}

/// The weekday nearest day `n` of `date`'s month, without leaving the month.
fn nearest_weekday(date: Date, n: i8) -> i8 {
    let Ok(target) = Date::new(date.year(), date.month(), n) else { return -1 };
    let last = date.days_in_month();
    match target.weekday().to_sunday_zero_offset() {
        6 if n == 1 => 3,
        6 => n - 1,
        0 if n == last => n - 2,
        0 => n + 1,
        _ => n,
    }
}

/// One value: a number in `min..=max`, or a name from `names` (numbered from `min`).
fn value(token: &str, min: u32, max: u32, names: Option<&[&str]>) -> Result<u32, String> {
    if let Some(names) = names
        && let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(token))
    {
        return Ok(min + i as u32);
    }
    let n: u32 = token
        .parse()
        .map_err(|_| format!("{token:?} is not a number{}", if names.is_some() { " or name" } else { "" }))?;
    if n < min || n > max {
        return Err(format!("{n} is outside {min}-{max}"));
    }
    Ok(n)
}

/// Every value a field of lists, ranges and steps names.
fn values(field: &str, min: u32, max: u32, names: Option<&[&str]>) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in field.split(',') {
        if item.is_empty() {
            return Err("empty list item".into());
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("step {s:?} is not a number"))?;
                if step == 0 {
                    return Err("a step of 0 never advances".into());
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, min, max, names)?, value(b, min, max, names)?);
            if a > b {
                return Err(format!("range {range} runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range, min, max, names)?;
            // `5/15` means from 5 to the end in steps of 15.
            (a, if item.contains('/') { max } else { a })
        };
        out.extend((from..=to).step_by(step as usize));
    }
    Ok(out)
}

fn numbers(field: &str, min: u32, max: u32, names: Option<&[&str]>) -> Result<Bits, String> {
    if field == "?" {
        return Err("`?` is only allowed in day-of-month or day-of-week".into());
    }
    let mut bits = Bits::default();
    for n in values(field, min, max, names)? {
        bits.set(n);
    }
    Ok(bits)
}

fn parse_day_of_month(field: &str) -> Result<DayOfMonth, String> {
    let upper = field.to_ascii_uppercase();
    match upper.as_str() {
        "?" => return Ok(DayOfMonth::Unspecified),
        "L" => return Ok(DayOfMonth::Last),
        "LW" => return Ok(DayOfMonth::LastWeekday),
        _ => {}
    }
    if let Some(n) = upper.strip_suffix('W') {
        return Ok(DayOfMonth::NearestWeekday(value(n, 1, 31, None)? as i8));
    }
    if upper.contains('L') || upper.contains('W') || upper.contains('#') {
        return Err(format!("{field:?}: use L, LW or nW alone in this field"));
    }
    numbers(field, 1, 31, None).map(DayOfMonth::Days)
}

fn parse_day_of_week(field: &str) -> Result<DayOfWeek, String> {
    let upper = field.to_ascii_uppercase();
    // AWS numbers days 1-7 = SUN-SAT; stored 0-6.
    let day = |t: &str| value(t, 1, 7, Some(&DAYS)).map(|d| (d - 1) as i8);
    match upper.as_str() {
        "?" => return Ok(DayOfWeek::Unspecified),
        "L" => return Ok(DayOfWeek::Days(Bits(1 << 6))),
        _ => {}
    }
    if let Some((d, n)) = upper.split_once('#') {
        let n: i8 =
            n.parse().ok().filter(|n| (1..=5).contains(n)).ok_or_else(|| format!("{field:?}: after # give 1-5"))?;
        return Ok(DayOfWeek::Nth(day(d)?, n));
    }
    if let Some(d) = upper.strip_suffix('L') {
        return Ok(DayOfWeek::Last(day(d)?));
    }
    let mut bits = Bits::default();
    for d in values(&upper, 1, 7, Some(&DAYS))? {
        bits.set(d - 1);
    }
    Ok(DayOfWeek::Days(bits))
}

/// `minute hour day-of-month month day-of-week` → the six AWS fields.
fn convert_five_fields(f: &[&str]) -> Result<String, String> {
    let (minute, hour, dom, month, dow) = (f[0], f[1], f[2], f[3], f[4]);
    // Month names contain L (JUL) and weekday names W (WED), so only the letters no name has count.
    for (name, field, special) in [
        ("minute", minute, &['?', '#', 'L', 'W'][..]),
        ("hour", hour, &['?', '#', 'L', 'W'][..]),
        ("day-of-month", dom, &['?', '#', 'L', 'W'][..]),
        ("day-of-week", dow, &['?', '#', 'L'][..]),
    ] {
        if field.to_ascii_uppercase().contains(special) {
            return Err(format!("{name}: `?`, `L`, `W` and `#` belong to the six-field AWS form"));
        }
    }
    if month.contains('?') {
        return Err("month: `?` is not allowed".into());
    }
    let dom_any = dom == "*";
    let dow_any = dow == "*";
    if !dom_any && !dow_any {
        return Err("both day-of-month and day-of-week are restricted; standard cron fires when either matches, \
             which EventBridge cannot express: schedule two tasks, or restrict only one of them"
            .into());
    }
    let aws_dow = if dow_any {
        "?".to_owned()
    } else {
        // Standard numbering: 0-7 with 0 and 7 = Sunday; names as in AWS.
        let mut days = Bits::default();
        for d in values(&dow.to_ascii_uppercase(), 0, 7, Some(&DAYS))? {
            days.set(d % 7);
        }
        render_days(days)
    };
    let aws_dom = if dow_any { dom.to_owned() } else { "?".to_owned() };
    Ok(format!("{minute} {hour} {aws_dom} {month} {aws_dow} *"))
}

/// Weekdays (0 = Sunday) as AWS names, runs of three or more as ranges: `MON-FRI`, `SUN,SAT`.
fn render_days(days: Bits) -> String {
    let mut parts = Vec::new();
    let mut d = 0;
    while d < 7 {
        if !days.has(d) {
            d += 1;
            continue;
        }
        let start = d;
        while d + 1 < 7 && days.has(d + 1) {
            d += 1;
        }
        if d - start >= 2 {
            parts.push(format!("{}-{}", DAYS[start as usize], DAYS[d as usize]));
        } else {
            parts.extend((start..=d).map(|i| DAYS[i as usize].to_owned()));
        }
        d += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let cron = Cron::parse(expr).unwrap();
        cron.next_after(ts(after), &TimeZone::get(tz).unwrap()).unwrap().to_string()
    }

    #[test]
    fn five_fields_become_six() {
        assert_eq!(Cron::parse("0 9 * * 1").unwrap().fields(), "0 9 ? * MON *");
        assert_eq!(Cron::parse("*/15 * * * *").unwrap().fields(), "*/15 * * * ? *");
        assert_eq!(Cron::parse("30 8 * * 1-5").unwrap().fields(), "30 8 ? * MON-FRI *");
        assert_eq!(Cron::parse("0 0 * * 0,6").unwrap().fields(), "0 0 ? * SUN,SAT *");
        assert_eq!(Cron::parse("0 0 * * 7").unwrap().fields(), "0 0 ? * SUN *");
        assert_eq!(Cron::parse("0 12 1 * *").unwrap().fields(), "0 12 1 * ? *");
        assert_eq!(Cron::parse("0 9 * * mon,wed,fri").unwrap().fields(), "0 9 ? * MON,WED,FRI *");
        let e = Cron::parse("0 9 1 * 1").unwrap_err();
        assert!(e.reason.contains("either matches"), "{e}");
    }

    #[test]
    fn aws_form_is_checked() {
        assert_eq!(Cron::parse("cron(0 9 ? * MON *)").unwrap().expression(), "cron(0 9 ? * MON *)");
        for (bad, why) in [
            ("0 9 * * MON *", "cannot both"),
            ("0 9 ? * ? *", "only one"),
            ("60 9 ? * MON *", "minutes"),
            ("0 24 * * ? *", "hours"),
            ("0 9 32 * ? *", "day-of-month"),
            ("0 9 ? 13 * *", "month"),
            ("0 9 ? * 8 *", "day-of-week"),
            ("0 9 ? * MON 1960", "year"),
            ("0 9 * *", "4 fields"),
            ("0 */0 * * ? *", "step of 0"),
            ("0 9-5 * * ? *", "backwards"),
        ] {
            let e = Cron::parse(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn next_firing_in_a_time_zone() {
        // Monday 2024-06-03 09:00 in Berlin is 07:00Z.
        assert_eq!(next("0 9 ? * MON *", "2024-06-01T00:00:00Z", "Europe/Berlin"), "2024-06-03T07:00:00Z");
        assert_eq!(next("0 9 ? * MON *", "2024-06-03T07:00:00Z", "Europe/Berlin"), "2024-06-10T07:00:00Z");
        assert_eq!(next("*/15 * * * ? *", "2024-06-01T10:07:00Z", "UTC"), "2024-06-01T10:15:00Z");
        assert_eq!(next("0 0 L * ? *", "2024-02-10T00:00:00Z", "UTC"), "2024-02-29T00:00:00Z");
        // The second Tuesday of July 2024 is the 9th.
        assert_eq!(next("0 8 ? * 3#2 *", "2024-07-01T00:00:00Z", "UTC"), "2024-07-09T08:00:00Z");
        // The last Friday of May 2024 is the 31st.
        assert_eq!(next("0 8 ? * 6L *", "2024-05-01T00:00:00Z", "UTC"), "2024-05-31T08:00:00Z");
        // 2024-06-15 is a Saturday: the nearest weekday is Friday the 14th.
        assert_eq!(next("0 8 15W * ? *", "2024-06-01T00:00:00Z", "UTC"), "2024-06-14T08:00:00Z");
        // The last weekday of August 2024 (the 31st is a Saturday) is Friday the 30th.
        assert_eq!(next("0 8 LW * ? *", "2024-08-01T00:00:00Z", "UTC"), "2024-08-30T08:00:00Z");
        assert_eq!(next("0 0 1 1 ? 2030", "2024-08-01T00:00:00Z", "UTC"), "2030-01-01T00:00:00Z");
        assert!(
            Cron::parse("0 0 1 1 ? 2020").unwrap().next_after(ts("2024-01-01T00:00:00Z"), &TimeZone::UTC).is_none()
        );
    }

    #[test]
    fn daylight_saving_time() {
        // New York springs forward on 2024-03-10 at 02:00: 02:30 does not exist and fires at 03:30 EDT.
        assert_eq!(next("30 2 * * ? *", "2024-03-10T00:00:00Z", "America/New_York"), "2024-03-10T07:30:00Z");
        // Daily 09:00 keeps the wall-clock time across the change.
        assert_eq!(next("0 9 * * ? *", "2024-03-09T15:00:00Z", "America/New_York"), "2024-03-10T13:00:00Z");
        assert_eq!(next("0 9 * * ? *", "2024-03-08T15:00:00Z", "America/New_York"), "2024-03-09T14:00:00Z");
    }
}
