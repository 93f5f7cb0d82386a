//! `clawless quota` and `clawless usage`: a tenant's limits ([`clawless_core::quota`]: the monthly
//! token budget, concurrent agent runs, messages per minute) and its use, as an operator sets and
//! reads them. The dispatcher enforces them before any agent run; a change applies within the
//! functions' cache time (a minute by default).

use clap::Subcommand;
use clawless_core::admin::{Acting, QuotaChange};
use clawless_core::domain::usage::TenantQuota;
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

fn shown_quota(tenant_id: &str, quota: &TenantQuota) -> (Value, String) {
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
            let change = QuotaChange { monthly_tokens, concurrent_runs, messages_per_minute, bot_messages_per_minute };
            let quota = admin.service().set_quota(&Acting::Operator, &tenant, change).await?;
            Ok(shown_quota(tenant.trim(), &quota))
        }
        QuotaAction::Show { tenant } => {
            let quota = admin.service().quota(&Acting::Operator, &tenant).await?;
            Ok(shown_quota(tenant.trim(), &quota))
        }
    }
}

pub async fn run_usage(admin: &Admin, action: UsageAction) -> Result<(Value, String), AdminError> {
    let UsageAction::Show { tenant, month } = action;
    let usage = admin.service().usage(&Acting::Operator, &tenant, month.as_deref()).await?;
    let (tenant_id, month, budget) = (usage.tenant_id.clone(), usage.month.clone(), usage.monthly_tokens);
    let used = clawless_core::domain::usage::MonthUse {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        runs: usage.runs,
        messages: usage.messages,
        file_bytes_in: usage.file_bytes_in,
        file_bytes_out: usage.file_bytes_out,
    };
    let remaining = budget.map(|b| b.saturating_sub(used.tokens()));
    let text = format!(
        "tenant {tenant_id}, {month}: {} input + {} output tokens over {} runs ({} messages); files {} in, {} out; budget {}",
        used.input_tokens,
        used.output_tokens,
        used.runs,
        used.messages,
        clawless_core::domain::media::megabytes(used.file_bytes_in),
        clawless_core::domain::media::megabytes(used.file_bytes_out),
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
            "file_bytes_in": used.file_bytes_in,
            "file_bytes_out": used.file_bytes_out,
            "budget_tokens": budget,
            "remaining_tokens": remaining,
        }),
        text,
    ))
}
