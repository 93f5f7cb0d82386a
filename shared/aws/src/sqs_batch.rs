//! Runs an SQS FIFO batch the way Lambda expects: messages of one group in order, groups in
//! parallel, and failures reported per message (`ReportBatchItemFailures`). Once a message of a
//! group fails, the later ones of that group are reported failed unrun, so order is kept.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::de::DeserializeOwned;

pub async fn run_fifo_batch<T, E, F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    T: DeserializeOwned,
    E: Display,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for record in event.records {
        let group = record.attributes.get("MessageGroupId").cloned().unwrap_or_default();
        let at = *index.entry(group.clone()).or_insert_with(|| {
            groups.push((group, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(record);
    }

    let handle = &handle;
    let runs = groups.into_iter().map(|(group, records)| async move {
        let mut failed: Vec<String> = Vec::new();
        for record in records {
            let id = record.message_id.clone().unwrap_or_default();
            if !failed.is_empty() {
                failed.push(id);
                continue;
            }
            let outcome = match serde_json::from_str::<T>(record.body.as_deref().unwrap_or("")) {
                Ok(body) => handle(body).await.map_err(|e| e.to_string()),
                // A body we cannot read will not get better: it goes back until the DLQ takes it.
                Err(e) => Err(format!("unreadable message body: {e}")),
            };
            if let Err(error) = outcome {
                tracing::warn!(message_id = %id, group = %group, %error, "message failed; it and the rest of its group go back to the queue");
                failed.push(id);
            }
        }
        failed
    });
    let failed = futures::future::join_all(runs).await.into_iter().flatten();

    let mut response = SqsBatchResponse::default();
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn record(id: &str, group: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    #[tokio::test]
    async fn a_failure_holds_back_the_rest_of_its_group_only() {
        let mut event = SqsEvent::default();
        event.records = vec![
            record("a1", "A", "1"),
            record("b1", "B", "10"),
            record("a2", "A", "-2"),
            record("a3", "A", "3"),
            record("b2", "B", "not json"),
            record("b3", "B", "11"),
            record("c1", "C", "12"),
        ];
        let seen = Mutex::new(Vec::new());
        let response = run_fifo_batch(event, |n: i64| {
            seen.lock().unwrap().push(n);
            async move { if n < 0 { Err("negative") } else { Ok(()) } }
        })
        .await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["a2", "a3", "b2", "b3"]);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, [-2, 1, 10, 12], "a3 and b3 must not run after their group failed");
    }
}
