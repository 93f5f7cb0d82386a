//! A run's signs of life: `{tenant}#CONV#{bot}#{channel}#{conversation}` /
//! `STATUS#{sent_at_ms:013}#{message_id}`, beside the conversation's lines (outside their `MSG#`
//! range), kept a day. Written by the reply function only, with a version condition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use clawless_core::domain::progress::{RUN_STATUS_TTL_SECS, RunStatus, run_status_sort_key};

use super::*;

/// The stored shape: the key, the status fields and the TTL.
#[derive(Serialize, Deserialize)]
struct RunStatusItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_text: Option<String>,
    #[serde(default)]
    edited_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reaction: Option<String>,
    #[serde(default)]
    closed: bool,
    version: u64,
    expires_at: i64,
}

#[async_trait]
impl RunStatusRepo for Store {
    async fn run_status(
        &self,
        conversation: &ConversationRef,
        in_reply_to_at_ms: i64,
        in_reply_to: &str,
    ) -> Result<Option<RunStatus>, StoreError> {
        let sk = run_status_sort_key(in_reply_to_at_ms, in_reply_to);
        let item: Option<RunStatusItem> = self.get_item("run status", conversation.partition_key(), sk, true).await?;
        Ok(item.map(|item| RunStatus {
            conversation: conversation.clone(),
            in_reply_to: in_reply_to.to_owned(),
            in_reply_to_at_ms,
            status_id: item.status_id,
            status_text: item.status_text,
            edited_at_ms: item.edited_at_ms,
            reaction: item.reaction,
            closed: item.closed,
            version: item.version,
        }))
    }

    async fn put_run_status(&self, status: &RunStatus) -> Result<bool, StoreError> {
        let item = RunStatusItem {
            pk: status.conversation.partition_key(),
            sk: status.sort_key(),
            status_id: status.status_id.clone(),
            status_text: status.status_text.clone(),
            edited_at_ms: status.edited_at_ms,
            reaction: status.reaction.clone(),
            closed: status.closed,
            version: status.version,
            expires_at: now_ms() / 1000 + RUN_STATUS_TTL_SECS,
        };
        let put = self.client.put_item().table_name(&self.table).set_item(Some(to_item(&item)?));
        // The first write creates the item; every later one replaces the version it read.
        let put = match status.version.checked_sub(1) {
            None | Some(0) => put.condition_expression("attribute_not_exists(pk)"),
            Some(before) => put
                .condition_expression("version = :before")
                .expression_attribute_values(":before", AttributeValue::N(before.to_string())),
        };
        conditional(put.send().await)
    }
}
