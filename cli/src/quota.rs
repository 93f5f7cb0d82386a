//! `clawless quota` and `clawless usage`: a tenant's monthly token budget ([`clawless_core::quota`])
//! and its use, as an operator sets and reads them. The dispatcher enforces the budget before any
//! agent run; a change applies within the functions' cache time (a minute by default).

use clap::Subcommand;
use clawless_core::domain::ids::TenantId;
use clawless_core::domain::model::{month_of, now_ms};
use clawless_core::ports::UsageRepo;
use serde_json::{Value, json};

use crate::admin::{Admin, AdminError};

#[derive(Subcommand)]
pub enum QuotaAction {
    /// Set the tenant's limits. Only the monthly token budget is enforced so far; the other two
    /// are refused with an error rather than stored unenforced.
    Set {
        #[arg(long)]
        tenant: String,
        /// Input + output tokens per calendar month (UTC); 0 removes the budget.
        #[arg(long)]
        monthly_tokens: Option<u64>,
        /// Concurrent agent runs per tenant (not built yet: refused).
        #[arg(long)]
        concurrent_runs: Option<u64>,
        /// Messages per minute per bot (not built yet: refused).
        #[arg(long)]
        messages_per_minute: Option<u64>,
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

fn shown_quota(tenant_id: &TenantId, budget: Option<u64>) -> (Value, String) {
    let text = match budget {
        Some(tokens) => format!("tenant {tenant_id}: monthly token budget {tokens}"),
        None => format!("tenant {tenant_id}: no monthly token budget"),
    };
    (
        json!({"tenant_id": tenant_id, "monthly_tokens": budget, "concurrent_runs": null, "messages_per_minute": null}),
        text,
    )
}

pub async fn run_quota(admin: &Admin, action: QuotaAction) -> Result<(Value, String), AdminError> {
    match action {
        QuotaAction::Set { tenant, monthly_tokens, concurrent_runs, messages_per_minute } => {
            if concurrent_runs.is_some() || messages_per_minute.is_some() {
                return Err(AdminError::Invalid(
                    "--concurrent-runs and --messages-per-minute are not enforced yet, so they are not stored; \
                     nothing was changed"
                        .into(),
                ));
            }
            let Some(tokens) = monthly_tokens else {
                return Err(AdminError::Invalid("nothing to set: give --monthly-tokens N".into()));
            };
            let tenant_id = known_tenant(admin, &tenant).await?;
            let budget = (tokens > 0).then_some(tokens);
            admin.store().set_monthly_budget(&tenant_id, budget).await?;
            Ok(shown_quota(&tenant_id, budget))
        }
        QuotaAction::Show { tenant } => {
            let tenant_id = known_tenant(admin, &tenant).await?;
            let budget = admin.store().monthly_budget(&tenant_id).await?;
            Ok(shown_quota(&tenant_id, budget))
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
    let budget = admin.store().monthly_budget(&tenant_id).await?;
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
    fn months_are_yyyy_mm() {
        assert_eq!(parse_month("2026-12").unwrap(), "2026-12");
        for bad in ["2026-13", "2026-00", "2026-1", "26-12", "2026/12", "", "2026-12-01"] {
            assert!(parse_month(bad).is_err(), "{bad:?}");
        }
    }
}
