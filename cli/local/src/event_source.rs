//! Plays Lambda's SQS event-source mapping: polls a queue, invokes the function with a batch,
//! deletes only what succeeded (`ReportBatchItemFailures`). Failed messages stay invisible for
//! the queue's visibility timeout and come back, until the redrive policy moves them to the DLQ.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::body::Bytes;
use serde_json::{Value, json};

use super::lambda::FunctionHandle;

pub struct SqsMapping {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
    pub function: FunctionHandle,
    /// Where a soak test reads what was received (see [`crate::faults::Deliveries`]).
    #[cfg(feature = "test-support")]
    pub deliveries: std::sync::Arc<crate::faults::Deliveries>,
}

impl SqsMapping {
    pub async fn run(self) {
        let mut idle = Duration::from_millis(20);
        loop {
            match self.poll_once().await {
                Ok(0) => {
                    tokio::time::sleep(idle).await;
                    idle = (idle * 2).min(Duration::from_millis(250));
                }
                Ok(_) => idle = Duration::from_millis(20),
                Err(e) => {
                    tracing::warn!(queue = %self.queue_url, error = %e, "polling failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One receive → invoke → delete round. Returns how many messages it received.
    pub async fn poll_once(&self) -> Result<usize, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let mut receipts = HashMap::new();
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let id = m.message_id.clone().unwrap_or_default();
                #[cfg(feature = "test-support")]
                {
                    let group = m.attributes.as_ref().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId));
                    self.deliveries.record(
                        &self.queue_url,
                        group.cloned().unwrap_or_default(),
                        m.body.clone().unwrap_or_default(),
                    );
                }
                receipts.insert(id.clone(), m.receipt_handle.clone().unwrap_or_default());
                let attributes: serde_json::Map<String, Value> = m
                    .attributes
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                    .collect();
                json!({
                    "messageId": id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        let count = records.len();
        let event = json!({ "Records": records });
        let succeeded: Vec<String> = match self.function.invoke(Bytes::from(event.to_string())).await {
            Ok(answer) => {
                let failed = if self.report_batch_item_failures { failed_ids(&answer, &receipts) } else { Ok(vec![]) };
                match failed {
                    Ok(failed) => receipts.keys().filter(|id| !failed.contains(id)).cloned().collect(),
                    // An answer Lambda cannot read counts as a failure of the whole batch.
                    Err(()) => vec![],
                }
            }
            Err(e) => {
                tracing::warn!(function = %self.function.name(), error = %e, "batch failed; messages return after the visibility timeout");
                vec![]
            }
        };
        if !succeeded.is_empty() {
            let entries = succeeded
                .iter()
                .enumerate()
                .filter_map(|(i, id)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(&receipts[id])
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(count)
    }
}

/// The ids in `batchItemFailures`. An id that is not in the batch makes the whole answer invalid,
/// as it does for Lambda.
fn failed_ids(answer: &[u8], receipts: &HashMap<String, String>) -> Result<Vec<String>, ()> {
    let value: Value = serde_json::from_slice(answer).map_err(|_| ())?;
    let Some(failures) = value.get("batchItemFailures") else { return Ok(vec![]) };
    let mut ids = Vec::new();
    for failure in failures.as_array().ok_or(())? {
        let id = failure.get("itemIdentifier").and_then(Value::as_str).ok_or(())?;
        if !receipts.contains_key(id) {
            return Err(());
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}
