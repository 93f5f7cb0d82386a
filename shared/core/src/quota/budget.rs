//! A tenant's monthly token budget.
//!
//! The budget (`monthly_tokens` in the tenant's limits) is set by the operator; the
//! month's use (`{tenant}#USAGE` / `MONTH#{yyyy-mm}`) is added by the reply function from each
//! run's summary, every turn counted, replies or not. Agents hold no credentials for either item
//! (their role has no DynamoDB access), so neither can be raised or reset from inside a microVM.
//!
//! Once the month's input and output tokens reach the budget, a message gets no agent run (so no
//! model call): the conversation's first such message of the day is answered with
//! [`BUDGET_SPENT_ANSWER`] (one conditional put per conversation and UTC day decides which), and
//! each refusal counts `BudgetExhausted` for the operator. Runs already under way finish, so the
//! month can end a few runs over budget, never more than the runs in flight.
//!
//! Calls: with a budget set, each message reads the month's use once (strongly consistent).

use super::Quotas;
use crate::approvals::ApprovalError;
use crate::domain::model::{ConversationMessage, month_of, now_ms};
use crate::observe::{audit, metrics};

/// What a message gets once its tenant's monthly budget is spent (once per conversation a day).
pub const BUDGET_SPENT_ANSWER: &str = "This assistant has used its token budget for this month, so it cannot answer \
     now. Its operator has been told; it will answer again when the budget is raised or the month turns.";

/// Whether a message may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetCheck {
    /// No budget, or some left.
    Within,
    /// Spent: no run. `answered`: this message got the day's notice.
    Spent { answered: bool },
}

/// `yyyy-mm-dd` (UTC) of a time in ms since the epoch: one notice per conversation per day.
pub fn day_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "out-of-range".to_owned())
}

impl Quotas {
    /// Checks `item`'s tenant against its budget; when spent, answers the conversation's first
    /// refused message of the day and counts the refusal.
    pub async fn check_budget(&self, item: &ConversationMessage) -> Result<BudgetCheck, ApprovalError> {
        let c = &item.conversation;
        let Some(budget) = self.quota(&c.tenant_id).await?.monthly_tokens else { return Ok(BudgetCheck::Within) };
        let now = now_ms();
        let used = self.usage.month_use(&c.tenant_id, &month_of(now)).await?;
        if used.tokens() < budget {
            return Ok(BudgetCheck::Within);
        }
        let answered = self.usage.claim_budget_notice(c, &day_of(now)).await?;
        if answered {
            self.flow.answer(item, BUDGET_SPENT_ANSWER).await?;
        }
        tracing::warn!(event = "budget_exhausted", tenant_id = %c.tenant_id, bot_id = %c.bot_id, budget, used = used.tokens(), answered);
        metrics::count(metrics::Metric::BudgetExhausted, &c.tenant_id);
        audit::emit(
            audit::AuditKind::BudgetExhausted,
            c,
            serde_json::json!({
                "message_id": item.message.message_id.as_str(),
                "budget_tokens": budget,
                "used_tokens": used.tokens(),
                "answered": answered,
            }),
        );
        Ok(BudgetCheck::Spent { answered })
    }
}
