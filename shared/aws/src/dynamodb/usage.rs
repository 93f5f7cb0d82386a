//! Token use: `{tenant}#USAGE` / `MONTH#{yyyy-mm}` counters and `RUN#{hash}` once-markers.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use clawless_core::domain::usage::MonthUse;

use super::*;

#[async_trait]
impl UsageRepo for Store {
    /// Adds a run's token use to the tenant's month (`{tenant}#USAGE` / `MONTH#{yyyy-mm}`).
    async fn add_token_usage(
        &self,
        tenant_id: &TenantId,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
        messages: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
            .update_expression(USAGE_ADD)
            .set_expression_attribute_values(Some(usage_values(input_tokens, output_tokens, messages)))
            .send()
            .await
            .map_err(|e| store_error("UpdateItem", &e))?;
        Ok(())
    }

    /// Adds one run's token use to the tenant's month, once: a marker item keyed by the run's
    /// conversation and message (`{tenant}#USAGE` / `RUN#{hash}`, kept past the month) is written
    /// in the same transaction, so a redelivered report counts nothing. `false` if it was counted
    /// before. Only trusted code calls this (the reply function, from an agent's run report).
    async fn add_run_usage(
        &self,
        conversation: &ConversationRef,
        in_reply_to: &str,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
        messages: u64,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
        let tenant_id = &conversation.tenant_id;
        let run = clawless_core::domain::ids::short_digest(&[&conversation.partition_key(), in_reply_to]);
        let ttl = now_ms() / 1000 + 40 * 86_400;
        let build =
            |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt { what: "usage", detail: e.to_string() };
        let marker = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("{tenant_id}#USAGE")))
            .item("sk", s(format!("RUN#{run}")))
            .item("expires_at", AttributeValue::N(ttl.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let add = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
            .update_expression(USAGE_ADD)
            .set_expression_attribute_values(Some(usage_values(input_tokens, output_tokens, messages)))
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().update(add).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    matches!(s, aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t)
                        if t.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed"))
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error("TransactWriteItems", &e)),
        }
    }

    /// A tenant's token use in one month: (input, output, runs), read as [`Self::month_use`].
    async fn token_usage(&self, tenant_id: &TenantId, month: &str) -> Result<(u64, u64, u64), StoreError> {
        let used = self.month_use(tenant_id, month).await?;
        Ok((used.input_tokens, used.output_tokens, used.runs))
    }

    /// The month's counters, with `messages` (items written before it was counted read 0).
    async fn month_use(&self, tenant_id: &TenantId, month: &str) -> Result<MonthUse, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", &e))?;
        let Some(item) = out.item else { return Ok(MonthUse::default()) };
        let n = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok(MonthUse {
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
            runs: n("runs"),
            messages: n("messages"),
        })
    }

    /// `{tenant}#USAGE` / `QUOTA`: `monthly_tokens`, written by the operator's CLI only.
    async fn monthly_budget(&self, tenant_id: &TenantId) -> Result<Option<u64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(QUOTA_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", &e))?;
        let Some(item) = out.item else { return Ok(None) };
        match item.get("monthly_tokens").map(|v| v.as_n().ok().and_then(|n| n.parse::<u64>().ok())) {
            None => Ok(None),
            Some(Some(tokens)) => Ok(Some(tokens)),
            Some(None) => {
                Err(StoreError::Corrupt { what: "quota", detail: "monthly_tokens is not a whole number".into() })
            }
        }
    }

    async fn set_monthly_budget(&self, tenant_id: &TenantId, tokens: Option<u64>) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(QUOTA_SK));
        let update = match tokens {
            Some(tokens) => update
                .update_expression("SET monthly_tokens = :t")
                .expression_attribute_values(":t", AttributeValue::N(tokens.to_string())),
            None => update.update_expression("REMOVE monthly_tokens"),
        };
        update.send().await.map_err(|e| store_error("UpdateItem", &e))?;
        Ok(())
    }

    /// `{tenant}#USAGE` / `NOTICE#{day}#{conversation digest}`, put once (expires after two days).
    async fn claim_budget_notice(&self, conversation: &ConversationRef, day: &str) -> Result<bool, StoreError> {
        let tenant_id = &conversation.tenant_id;
        let digest = clawless_core::domain::ids::short_digest(&[&conversation.partition_key()]);
        let ttl = now_ms() / 1000 + 2 * 86_400;
        conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("{tenant_id}#USAGE")))
                .item("sk", s(format!("NOTICE#{day}#{digest}")))
                .item("expires_at", AttributeValue::N(ttl.to_string()))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
        )
    }
}

/// The sort key of a tenant's quota item, in its usage partition.
const QUOTA_SK: &str = "QUOTA";
