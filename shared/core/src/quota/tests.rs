//! The budget's own rules; the dispatcher's side is in `flows/dispatch/tests/budget.rs`.

use super::*;

#[test]
fn days_are_utc_calendar_days() {
    assert_eq!(day_of(0), "1970-01-01");
    assert_eq!(day_of(1_709_251_199_999), "2024-02-29");
    assert_eq!(day_of(1_709_251_200_000), "2024-03-01");
    assert_eq!(day_of(-1), "1969-12-31");
}

#[test]
fn a_month_s_use_is_its_input_and_output_tokens() {
    let used = MonthUse { input_tokens: 7, output_tokens: 5, runs: 3, messages: 4 };
    assert_eq!(used.tokens(), 12);
    assert_eq!(MonthUse { input_tokens: u64::MAX, output_tokens: 1, runs: 0, messages: 0 }.tokens(), u64::MAX);
}
