//! Bot trigger patterns. Operators write them, so they are compiled by the `regex` crate (linear
//! time, no backtracking blow-up) with a size limit, and matching is bounded by the input size.

use regex::{Regex, RegexBuilder};

/// Compiled size limit: plenty for "@andy|hey andy", far too small for a pathological pattern.
const SIZE_LIMIT: usize = 64 * 1024;
const MAX_PATTERN_CHARS: usize = 200;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid trigger pattern: {0}")]
pub struct TriggerError(String);

#[derive(Debug, Clone)]
pub struct Trigger(Regex);

impl Trigger {
    pub fn compile(pattern: &str) -> Result<Trigger, TriggerError> {
        if pattern.is_empty() || pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(TriggerError(format!("must be 1 to {MAX_PATTERN_CHARS} characters")));
        }
        RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map(Trigger)
            .map_err(|e| TriggerError(e.to_string().lines().last().unwrap_or("").to_owned()))
    }

    pub fn matches(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_case_insensitively() {
        let t = Trigger::compile(r"^@andy\b").unwrap();
        assert!(t.matches("@Andy what's up"));
        assert!(!t.matches("hi @andy"));
    }

    #[test]
    fn rejects_empty_huge_and_invalid_patterns() {
        assert!(Trigger::compile("").is_err());
        assert!(Trigger::compile(&"a".repeat(201)).is_err());
        assert!(Trigger::compile("(unclosed").is_err());
        assert!(Trigger::compile(r"\w{1000}\w{1000}").is_err(), "exceeds the size limit");
    }

    #[test]
    fn a_classic_catastrophic_pattern_runs_in_linear_time() {
        let t = Trigger::compile(r"(a+)+$").unwrap();
        let input = format!("{}b", "a".repeat(50_000));
        assert!(!t.matches(&input));
    }
}
