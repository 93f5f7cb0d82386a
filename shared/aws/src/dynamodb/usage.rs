//! Token use: `{tenant}#USAGE` / `MONTH#{yyyy-mm}` counters and `RUN#{hash}` once-markers.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use clawless_core::domain::usage::{MonthUse, TenantQuota};

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
        self.month_update(tenant_id, month)
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
            file_bytes_in: n("file_bytes_in"),
            file_bytes_out: n("file_bytes_out"),
        })
    }

    /// `ADD file_bytes_in, file_bytes_out` on the tenant's month.
    async fn add_file_bytes(
        &self,
        tenant_id: &TenantId,
        month: &str,
        inbound: u64,
        outbound: u64,
    ) -> Result<(), StoreError> {
        self.month_update(tenant_id, month)
            .update_expression("ADD file_bytes_in :i, file_bytes_out :o")
            .expression_attribute_values(":i", aws_sdk_dynamodb::types::AttributeValue::N(inbound.to_string()))
            .expression_attribute_values(":o", aws_sdk_dynamodb::types::AttributeValue::N(outbound.to_string()))
            .send()
            .await
            .map_err(|e| store_error("UpdateItem", &e))?;
        Ok(())
    }

    /// `{tenant}#USAGE` / `QUOTA`: `monthly_tokens`, `concurrent_runs`, `messages_per_minute`,
    /// `bot_messages_per_minute`, each absent when not set; written by the operator's CLI only.
    async fn quota(&self, tenant_id: &TenantId) -> Result<TenantQuota, StoreError> {
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
        let Some(item) = out.item else { return Ok(TenantQuota::default()) };
        fn number<T: std::str::FromStr>(
            item: &HashMap<String, AttributeValue>,
            name: &str,
        ) -> Result<Option<T>, StoreError> {
            match item.get(name) {
                None => Ok(None),
                Some(v) => v.as_n().ok().and_then(|n| n.parse::<T>().ok()).map(Some).ok_or_else(|| {
                    StoreError::Corrupt { what: "quota", detail: format!("{name} is not a whole number in range") }
                }),
            }
        }
        Ok(TenantQuota {
            monthly_tokens: number(&item, "monthly_tokens")?,
            concurrent_runs: number(&item, "concurrent_runs")?,
            messages_per_minute: number(&item, "messages_per_minute")?,
            bot_messages_per_minute: number(&item, "bot_messages_per_minute")?,
        })
    }

    async fn set_quota(&self, tenant_id: &TenantId, quota: &TenantQuota) -> Result<(), StoreError> {
        let limits = [
            ("monthly_tokens", quota.monthly_tokens),
            ("concurrent_runs", quota.concurrent_runs.map(u64::from)),
            ("messages_per_minute", quota.messages_per_minute.map(u64::from)),
            ("bot_messages_per_minute", quota.bot_messages_per_minute.map(u64::from)),
        ];
        let mut item =
            HashMap::from([("pk".to_owned(), s(format!("{tenant_id}#USAGE"))), ("sk".to_owned(), s(QUOTA_SK))]);
        for (name, value) in limits {
            if let Some(value) = value {
                item.insert(name.to_owned(), AttributeValue::N(value.to_string()));
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error("PutItem", &e))?;
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

impl Store {
    /// An UpdateItem on the tenant's month (`{tenant}#USAGE` / `MONTH#{month}`).
    fn month_update(
        &self,
        tenant_id: &TenantId,
        month: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
    }
}
