//! Skeleton: validates the Scheduler input. Loading the task and enqueueing its run on the
//! inbound queue is not built yet; the handler says so instead of pretending.

use clawless_shared::ids::{BotId, TenantId};
use lambda_runtime::{Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedulerEvent {
    ScheduledTask { tenant_id: TenantId, bot_id: BotId, task_id: String },
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TaskOutcome {
    pub outcome: &'static str,
    pub task_id: String,
}

pub async fn handle(event: LambdaEvent<SchedulerEvent>) -> Result<TaskOutcome, Error> {
    let SchedulerEvent::ScheduledTask { tenant_id, bot_id, task_id } = event.payload;
    if task_id.is_empty() || task_id.len() > 64 || !task_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("invalid task id {task_id:?}").into());
    }
    tracing::warn!(%tenant_id, %bot_id, %task_id, event = "scheduled_task_not_built", "scheduled tasks are not implemented yet");
    Ok(TaskOutcome { outcome: "not_implemented", task_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sample_event_parses_and_is_reported_as_not_built() {
        let raw = include_str!("../../../events/scheduler-task.json");
        let event: SchedulerEvent = serde_json::from_str(raw).unwrap();
        let out = handle(LambdaEvent::new(event, Default::default())).await.unwrap();
        assert_eq!(out.outcome, "not_implemented");
    }
}
