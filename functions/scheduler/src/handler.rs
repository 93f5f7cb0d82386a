//! Thin adapter: the Scheduler input → the shared task-firing flow → a small JSON answer.

use std::sync::Arc;

use clawless_core::config;

use clawless_aws::dynamodb::tasks::TaskStore;
use clawless_aws::dynamodb::{DynamoClient, Store};
use clawless_aws::scheduler::{SchedulerClient, Schedules};
use clawless_aws::secrets_manager::ScopeKeySource;
use clawless_aws::sqs::{FifoQueue, SqsClient};
use clawless_core::config::PlatformConfig;
use clawless_core::domain::model::now_ms;
use clawless_core::tasks::TaskConfig;
use clawless_core::tasks::firing::{FiringPorts, SchedulerEvent, TaskFiring};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

pub async fn build() -> Result<TaskFiring, Error> {
    let platform = PlatformConfig::from_env()?;
    let inbound_url = config::required("CLAWLESS_INBOUND_QUEUE_URL")?;
    let tasks = TaskConfig::from_env()?.ok_or(config::ConfigError::Missing("CLAWLESS_SCHEDULE_GROUP"))?;
    let aws = clawless_aws::sdk::load_sdk_config().await;
    let dynamodb = DynamoClient::new(&aws);
    let store = Arc::new(Store::new(dynamodb.clone(), &platform.table));
    Ok(TaskFiring::new(FiringPorts {
        bots: store.clone(),
        conversations: store,
        tasks: Arc::new(TaskStore::new(dynamodb, &platform.table)),
        schedules: Arc::new(Schedules::new(SchedulerClient::new(&aws), tasks.group)),
        inbound: Arc::new(FifoQueue::new(SqsClient::new(&aws), inbound_url)),
        scope: Arc::new(ScopeKeySource::from_env(&aws)?),
    }))
}

/// Fails (so Scheduler retries) only when the firing could not be handled; a task that is gone,
/// paused or whose bot is off is a clean stop.
pub async fn handle(firing: &TaskFiring, event: LambdaEvent<SchedulerEvent>) -> Result<Value, Error> {
    let SchedulerEvent::ScheduledTask { task_id, .. } = &event.payload;
    let task_id = task_id.to_string();
    let outcome = firing.fire(event.payload, now_ms()).await?;
    let mut answer = serde_json::to_value(&outcome)?;
    answer["task_id"] = json!(task_id);
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_parses() {
        let raw = include_str!("../../../events/scheduler-task.json");
        let event: SchedulerEvent = serde_json::from_str(raw).unwrap();
        let SchedulerEvent::ScheduledTask { task_id, scheduled_time, .. } = event;
        assert_eq!(task_id.as_str(), "k0123456789abcdef0123");
        assert!(scheduled_time.is_some());
        assert!(serde_json::from_str::<SchedulerEvent>(r#"{"kind":"scheduled_task","tenant_id":"nope"}"#).is_err());
    }
}
