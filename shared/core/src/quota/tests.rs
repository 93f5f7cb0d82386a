//! The budget's own rules; the dispatcher's side is in `flows/dispatch/tests/budget.rs`.

use super::*;

#[test]
fn days_are_utc_calendar_days() {
    assert_eq!(day_of(0), "1970-01-01");
    assert_eq!(day_of(1_709_251_199_999), "2024-02-29");
    assert_eq!(day_of(1_709_251_200_000), "2024-03-01");
    assert_eq!(day_of(-1), "1969-12-31");
}
