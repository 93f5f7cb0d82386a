//! A tenant's quotas, enforced by the dispatcher before any agent run, with counters no agent can
//! write (agents hold no credentials for the table):
//! - a monthly token budget ([`budget`]): spent, no run and one answer per conversation a day;
//! - messages per minute, per user of a bot and per bot overall ([`rate`]): over, no run and one
//!   answer per user a minute;
//! - agent runs under way at once ([`runs`]): at the cap, the message waits its turn in its FIFO
//!   group, never dropped.
//!
//! The limits (`{tenant}#USAGE` / `QUOTA`) are set by the operator (`clawless quota set`) and read
//! once per tenant per `CLAWLESS_CACHE_SECONDS` (60) and process; a tenant without limits costs
//! nothing more per message.

mod budget;
mod rate;
mod runs;

use std::sync::Arc;
use std::time::Duration;

pub use budget::{BUDGET_SPENT_ANSWER, BudgetCheck, day_of};
pub use rate::{RATE_ANSWER, RateCheck};
pub use runs::{RunCheck, RunSettings, conversation_digest};

use crate::approvals::{ApprovalError, ApprovalFlow};
use crate::cache::TtlCache;
use crate::domain::ids::TenantId;
use crate::domain::usage::TenantQuota;
use crate::ports::{LimitRepo, UsageRepo};

/// The dispatcher's quota checks over one cached read of each tenant's limits.
pub struct Quotas {
    usage: Arc<dyn UsageRepo>,
    limits: Arc<dyn LimitRepo>,
    /// The reply queue and scope key for the answers, and the inbound queue a waiting message
    /// goes round on, built when first needed.
    flow: ApprovalFlow,
    quotas: TtlCache<TenantId, TenantQuota>,
    runs: RunSettings,
}

impl Quotas {
    pub fn new(
        usage: Arc<dyn UsageRepo>,
        limits: Arc<dyn LimitRepo>,
        flow: ApprovalFlow,
        cache_ttl: Duration,
        runs: RunSettings,
    ) -> Self {
        Self { usage, limits, flow, quotas: TtlCache::new(cache_ttl, 1024), runs }
    }

    /// The tenant's limits, cached.
    async fn quota(&self, tenant_id: &TenantId) -> Result<TenantQuota, ApprovalError> {
        if let Some(quota) = self.quotas.get(tenant_id) {
            return Ok(quota);
        }
        let quota = self.usage.quota(tenant_id).await?;
        self.quotas.insert(tenant_id.clone(), quota);
        Ok(quota)
    }
}

#[cfg(test)]
mod tests;
