//! `clawless quota` and `clawless usage`: a tenant's limits ([`clawless_core::quota`]: the monthly
//! token budget, concurrent agent runs, messages per minute) and its use, as an operator sets and
//! reads them. The dispatcher enforces them before any agent run; a change applies within the
//! functions' cache time (a minute by default).

use clap::Subcommand;
use clawless_core::domain::ids::TenantId;
use clawless_core::domain::model::{month_of, now_ms};
use clawless_core::domain::usage::TenantQuota;
use clawless_core::ports::UsageRepo;
use serde_json::{Value, json};

use crate::admin::{Admin, AdminError};

#[derive(Subcommand)]
pub enum QuotaAction {
    /// Set the tenant's limits; those not given stay as they are, and 0 removes one.
    Set {
        #[arg(long)]
        tenant: String,
        /// Input + output tokens per calendar month (UTC).
        #[arg(long)]
        monthly_tokens: Option<u64>,
        /// Agent runs under way at once across the tenant's conversations; a message over the cap
        /// waits in its queue until a run ends.
        #[arg(long)]
        concurrent_runs: Option<u32>,
        /// Messages per minute one user may send one of the tenant's bots.
        #[arg(long)]
        messages_per_minute: Option<u32>,
        /// Messages per minute one bot takes from all its users together.
        #[arg(long)]
        bot_messages_per_minute: Option<u32>,
    },
    /// The tenant's limits.
    Show {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
pub enum UsageAction {
    /// The tenant's token use in a month against its budget.
    Show {
        #[arg(long)]
        tenant: String,
        /// yyyy-mm (UTC); default: this month.
        #[arg(long)]
        month: Option<String>,
    },
}

/// A known tenant's id, or a clear error.
async fn known_tenant(admin: &Admin, tenant: &str) -> Result<TenantId, AdminError> {
    let tenant_id = TenantId::parse(tenant.trim()).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if admin.store().get_tenant(&tenant_id).await?.is_none() {
        return Err(AdminError::Invalid(format!("no tenant {tenant_id}")));
    }
    Ok(tenant_id)
}

/// `yyyy-mm` with a real month, or a clear error.
fn parse_month(month: &str) -> Result<String, AdminError> {
    let valid = month.len() == 7
        && month.as_bytes()[4] == b'-'
        && month[..4].bytes().all(|b| b.is_ascii_digit())
        && month[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    if valid { Ok(month.to_owned()) } else { Err(AdminError::Invalid(format!("month {month:?} is not yyyy-mm"))) }
}

fn shown_quota(tenant_id: &TenantId, quota: &TenantQuota) -> (Value, String) {
    let shown = |limit: Option<u64>| limit.map_or_else(|| "none".to_owned(), |n| n.to_string());
    let text = format!(
        "tenant {tenant_id}: monthly tokens {}, concurrent runs {}, messages per minute {} per user, {} per bot",
        shown(quota.monthly_tokens),
        shown(quota.concurrent_runs.map(u64::from)),
        shown(quota.messages_per_minute.map(u64::from)),
        shown(quota.bot_messages_per_minute.map(u64::from)),
    );
    (
        json!({
            "tenant_id": tenant_id,
            "monthly_tokens": quota.monthly_tokens,
            "concurrent_runs": quota.concurrent_runs,
            "messages_per_minute": quota.messages_per_minute,
            "bot_messages_per_minute": quota.bot_messages_per_minute,
        }),
        text,
    )
}

/// `Some(0)` removes a limit, `Some(n)` sets it, `None` keeps it.
fn changed<T: Copy + PartialEq + Default>(given: Option<T>, current: Option<T>) -> Option<T> {
    match given {
        None => current,
        Some(n) if n == T::default() => None,
        Some(n) => Some(n),
    }
}

pub async fn run_quota(admin: &Admin, action: QuotaAction) -> Result<(Value, String), AdminError> {
    match action {
        QuotaAction::Set { tenant, monthly_tokens, concurrent_runs, messages_per_minute, bot_messages_per_minute } => {
            if monthly_tokens.is_none()
                && concurrent_runs.is_none()
                && messages_per_minute.is_none()
                && bot_messages_per_minute.is_none()
            {
                return Err(AdminError::Invalid(
                    "nothing to set: give --monthly-tokens, --concurrent-runs, --messages-per-minute or \
                     --bot-messages-per-minute"
                        .into(),
                ));
            }
            let tenant_id = known_tenant(admin, &tenant).await?;
            let current = admin.store().quota(&tenant_id).await?;
            let quota = TenantQuota {
                monthly_tokens: changed(monthly_tokens, current.monthly_tokens),
                concurrent_runs: changed(concurrent_runs, current.concurrent_runs),
                messages_per_minute: changed(messages_per_minute, current.messages_per_minute),
                bot_messages_per_minute: changed(bot_messages_per_minute, current.bot_messages_per_minute),
            };
            admin.store().set_quota(&tenant_id, &quota).await?;
            Ok(shown_quota(&tenant_id, &quota))
        }
        QuotaAction::Show { tenant } => {
            let tenant_id = known_tenant(admin, &tenant).await?;
            let quota = admin.store().quota(&tenant_id).await?;
            Ok(shown_quota(&tenant_id, &quota))
        }
    }
}

pub async fn run_usage(admin: &Admin, action: UsageAction) -> Result<(Value, String), AdminError> {
    let UsageAction::Show { tenant, month } = action;
    let month = match month {
        Some(month) => parse_month(month.trim())?,
        None => month_of(now_ms()),
    };
    let tenant_id = known_tenant(admin, &tenant).await?;
    let used = admin.store().month_use(&tenant_id, &month).await?;
    let budget = admin.store().quota(&tenant_id).await?.monthly_tokens;
    let remaining = budget.map(|b| b.saturating_sub(used.tokens()));
    let text = format!(
        "tenant {tenant_id}, {month}: {} input + {} output tokens over {} runs ({} messages); budget {}",
        used.input_tokens,
        used.output_tokens,
        used.runs,
        used.messages,
        match (budget, remaining) {
            (Some(b), Some(r)) => format!("{b}, {r} left"),
            _ => "none".into(),
        }
    );
    Ok((
        json!({
            "tenant_id": tenant_id,
            "month": month,
            "input_tokens": used.input_tokens,
            "output_tokens": used.output_tokens,
            "runs": used.runs,
            "messages": used.messages,
            "budget_tokens": budget,
            "remaining_tokens": remaining,
        }),
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_not_given_stays_and_zero_removes_it() {
        assert_eq!(changed(None, Some(5u32)), Some(5));
        assert_eq!(changed(Some(0u32), Some(5)), None);
        assert_eq!(changed(Some(7u32), None), Some(7));
    }

    #[test]
    fn months_are_yyyy_mm() {
        assert_eq!(parse_month("2026-12").unwrap(), "2026-12");
        for bad in ["2026-13", "2026-00", "2026-1", "26-12", "2026/12", "", "2026-12-01"] {
            assert!(parse_month(bad).is_err(), "{bad:?}");
        }
    }
}
