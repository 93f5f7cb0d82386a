//! What the quotas count besides usage, in the tenant's usage partition (`{tenant}#USAGE`):
//! - `RUNS`: the runs under way and waiting conversations, one item written whole under its
//!   version `v` (`runs`: conversation digest → {`m` message id, `u` until ms}; `waiting`:
//!   conversation digest → {`k` sort key, `s` since ms});
//! - `RATE#{minute}#{key}`: a message counter `n` per key and minute, expiring after two minutes.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use clawless_core::domain::usage::{RunSlot, RunSlots, WaitingRun};
use clawless_core::ports::LimitRepo;

use super::*;

const RUNS_SK: &str = "RUNS";

/// Operands DynamoDB takes in one `IN`.
const IN_OPERANDS: usize = 100;

fn number(value: Option<&AttributeValue>) -> Option<i64> {
    value.and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

fn text(value: Option<&AttributeValue>) -> Option<String> {
    value.and_then(|v| v.as_s().ok()).cloned()
}

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt { what: "run slots", detail: detail.to_owned() }
}

#[async_trait]
impl LimitRepo for Store {
    async fn run_slots(&self, tenant_id: &TenantId) -> Result<RunSlots, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(RUNS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", &e))?;
        let Some(item) = out.item else { return Ok(RunSlots::default()) };
        let mut slots = RunSlots {
            version: number(item.get("v")).and_then(|v| u64::try_from(v).ok()).ok_or_else(|| corrupt("no version"))?,
            ..RunSlots::default()
        };
        if let Some(runs) = item.get("runs").and_then(|v| v.as_m().ok()) {
            for (conversation, run) in runs {
                let run = run.as_m().map_err(|_| corrupt("a run is not a map"))?;
                let (Some(message_id), Some(until_ms)) = (text(run.get("m")), number(run.get("u"))) else {
                    return Err(corrupt("a run lacks its message or time"));
                };
                slots.runs.insert(conversation.clone(), RunSlot { message_id, until_ms });
            }
        }
        if let Some(waiting) = item.get("waiting").and_then(|v| v.as_m().ok()) {
            for (conversation, wait) in waiting {
                let wait = wait.as_m().map_err(|_| corrupt("a waiting mark is not a map"))?;
                let (Some(sort_key), Some(since_ms)) = (text(wait.get("k")), number(wait.get("s"))) else {
                    return Err(corrupt("a waiting mark lacks its key or time"));
                };
                slots.waiting.insert(conversation.clone(), WaitingRun { sort_key, since_ms });
            }
        }
        Ok(slots)
    }

    async fn put_run_slots(&self, tenant_id: &TenantId, slots: &RunSlots) -> Result<bool, StoreError> {
        let runs = slots
            .runs
            .iter()
            .map(|(c, run)| {
                let value = HashMap::from([
                    ("m".to_owned(), s(run.message_id.clone())),
                    ("u".to_owned(), AttributeValue::N(run.until_ms.to_string())),
                ]);
                (c.clone(), AttributeValue::M(value))
            })
            .collect();
        let waiting = slots
            .waiting
            .iter()
            .map(|(c, wait)| {
                let value = HashMap::from([
                    ("k".to_owned(), s(wait.sort_key.clone())),
                    ("s".to_owned(), AttributeValue::N(wait.since_ms.to_string())),
                ]);
                (c.clone(), AttributeValue::M(value))
            })
            .collect();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("{tenant_id}#USAGE")))
            .item("sk", s(RUNS_SK))
            .item("v", AttributeValue::N((slots.version + 1).to_string()))
            .item("runs", AttributeValue::M(runs))
            .item("waiting", AttributeValue::M(waiting));
        let put = if slots.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("v = :v")
                .expression_attribute_values(":v", AttributeValue::N(slots.version.to_string()))
        };
        conditional(put.send().await)
    }

    /// `REMOVE runs.#c` (and the version moved on, so a writer that read before fails and reads
    /// again) if the slot's message is one of `answered`.
    async fn release_run(&self, conversation: &ConversationRef, answered: &[&str]) -> Result<bool, StoreError> {
        let tenant_id = &conversation.tenant_id;
        let digest = clawless_core::quota::conversation_digest(conversation);
        for chunk in answered.chunks(IN_OPERANDS) {
            let names: Vec<String> = (0..chunk.len()).map(|i| format!(":a{i}")).collect();
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(format!("{tenant_id}#USAGE")))
                .key("sk", s(RUNS_SK))
                .update_expression("REMOVE runs.#c ADD v :one")
                .condition_expression(format!("runs.#c.m IN ({})", names.join(", ")))
                .expression_attribute_names("#c", digest.clone())
                .expression_attribute_values(":one", AttributeValue::N("1".into()));
            for (name, id) in names.iter().zip(chunk) {
                update = update.expression_attribute_values(name, s(*id));
            }
            if conditional(update.send().await)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn count_message(&self, tenant_id: &TenantId, key: &str, minute: i64) -> Result<u64, StoreError> {
        let expires = minute.saturating_add(2).saturating_mul(60);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("RATE#{minute}#{key}")))
            .update_expression("ADD n :one SET expires_at = :e")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":e", AttributeValue::N(expires.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| store_error("UpdateItem", &e))?;
        out.attributes
            .and_then(|a| number(a.get("n")))
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| StoreError::Corrupt { what: "rate", detail: "the count came back without a number".into() })
    }
}
