//! What a tenant used in a month: the counters the budget is checked against and `usage show`
//! prints.

/// A tenant's use in one month, as the reply function counts it from run summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthUse {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub runs: u64,
    /// The messages runs took (a run that merges several counts each; commands and refused
    /// messages run nothing and count nothing).
    pub messages: u64,
}

impl MonthUse {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_s_use_is_its_input_and_output_tokens() {
        let used = MonthUse { input_tokens: 7, output_tokens: 5, runs: 3, messages: 4 };
        assert_eq!(used.tokens(), 12);
        assert_eq!(MonthUse { input_tokens: u64::MAX, output_tokens: 1, runs: 0, messages: 0 }.tokens(), u64::MAX);
    }
}
