//! What a tenant used in a month (the counters the budget is checked against and `usage show`
//! prints), the limits the operator sets ([`TenantQuota`]), and the tenant's runs under way
//! ([`RunSlots`], what the concurrency cap counts).

use std::collections::BTreeMap;

/// A tenant's use in one month, as the reply function counts it from run summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthUse {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub runs: u64,
    /// The messages runs took (a run that merges several counts each; commands and refused
    /// messages run nothing and count nothing).
    pub messages: u64,
    /// Bytes of files people sent that were stored, and of files agents sent to chats.
    pub file_bytes_in: u64,
    pub file_bytes_out: u64,
}

impl MonthUse {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A tenant's limits, set by the operator (`clawless quota set`); `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantQuota {
    /// Input + output tokens per calendar month (UTC).
    pub monthly_tokens: Option<u64>,
    /// Agent runs under way at once, across the tenant's conversations.
    pub concurrent_runs: Option<u32>,
    /// Messages per minute one user may send one bot.
    pub messages_per_minute: Option<u32>,
    /// Messages per minute one bot takes from everyone together.
    pub bot_messages_per_minute: Option<u32>,
}

impl TenantQuota {
    /// Whether any message rate is set (without one, the dispatcher counts nothing per minute).
    pub fn limits_rate(&self) -> bool {
        self.messages_per_minute.is_some() || self.bot_messages_per_minute.is_some()
    }
}

/// A run under way in one conversation: the newest message handed to its agent, and when the
/// run's time limit ends it at the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSlot {
    pub message_id: String,
    pub until_ms: i64,
}

/// A conversation whose next message waits for a free slot: that message's sort key, so the
/// conversation's later messages wait behind it rather than overtake it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRun {
    pub sort_key: String,
    pub since_ms: i64,
}

/// A tenant's runs under way and conversations waiting, keyed by conversation digest, as one
/// item read and written whole under `version` (a conditional write: two dispatchers cannot both
/// take the last slot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSlots {
    /// The version read; 0 when there was no item.
    pub version: u64,
    pub runs: BTreeMap<String, RunSlot>,
    pub waiting: BTreeMap<String, WaitingRun>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_s_use_is_its_input_and_output_tokens() {
        let used = MonthUse { input_tokens: 7, output_tokens: 5, runs: 3, messages: 4, ..MonthUse::default() };
        assert_eq!(used.tokens(), 12);
        assert_eq!(MonthUse { input_tokens: u64::MAX, output_tokens: 1, ..MonthUse::default() }.tokens(), u64::MAX);
    }
}
