//! Task records in the platform's DynamoDB table.
//!
//! Keys: `{tenant}#TASK#{bot}` / `TASK#{task}` for a task, and `{tenant}#TASK#{bot}` / `COUNT`
//! holding `open_tasks`, the bot's active and paused tasks. Creating a task and taking a slot
//! is one transaction (so the per-bot limit holds under concurrent runs), and so are completing
//! or deleting an open task and giving its slot back. The partition key starts with the tenant
//! id, so the agent's tenant-scoped credentials reach these items (`dynamodb:LeadingKeys`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::sdk::describe_sdk_error;
use clawless_core::domain::ids::{BotId, TaskId, TenantId};
use clawless_core::tasks::{COMPLETED_RETENTION_SECS, ContextMode, Task, TaskError, TaskRepo, TaskStatus};

#[derive(Serialize, Deserialize)]
struct TaskItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(flatten)]
    task: Task,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn task_partition(tenant: &TenantId, bot: &BotId) -> String {
    format!("{tenant}#TASK#{bot}")
}

fn task_sort(task: &TaskId) -> String {
    format!("TASK#{task}")
}

const COUNT_SK: &str = "COUNT";

fn aws_err<E, R>(operation: &str, e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> TaskError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    TaskError::Store(format!("DynamoDB {operation}: {}", describe_sdk_error(e)))
}

fn build_err(e: impl std::fmt::Display) -> TaskError {
    TaskError::Store(e.to_string())
}

#[derive(Clone)]
pub struct TaskStore {
    client: Client,
    table: String,
}

impl TaskStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn key(task: &Task) -> (String, String) {
        (task_partition(&task.conversation.tenant_id, &task.conversation.bot_id), task_sort(&task.task_id))
    }

    /// Gives back one of the bot's slots (part of a transaction).
    fn release_slot(&self, pk: &str) -> Result<TransactWriteItem, TaskError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(COUNT_SK))
            .update_expression("ADD open_tasks :minus")
            .expression_attribute_values(":minus", n(-1))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, TaskError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_transaction_canceled_exception()) => Ok(false),
            Err(e) => Err(aws_err("TransactWriteItems", &e)),
        }
    }

    async fn delete_once(&self, task: &Task) -> Result<Option<bool>, TaskError> {
        let (pk, sk) = Self::key(task);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(task.status.as_str()))
            .build()
            .map_err(build_err)?;
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        if task.status.is_open() {
            items.push(self.release_slot(&pk)?);
        }
        // `None`: the status changed meanwhile (read it again).
        Ok(self.transact(items).await?.then_some(true))
    }
}

#[async_trait]
impl TaskRepo for TaskStore {
    async fn insert(&self, task: &Task, max_open: u32) -> Result<(), TaskError> {
        let (pk, sk) = Self::key(task);
        let item = TaskItem { pk: pk.clone(), sk, expires_at: None, task: task.clone() };
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&item).map_err(build_err)?;
        let take_slot = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(COUNT_SK))
            .update_expression("SET open_tasks = if_not_exists(open_tasks, :zero) + :one")
            .condition_expression("attribute_not_exists(open_tasks) OR open_tasks < :max")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max_open))
            .build()
            .map_err(build_err)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(take_slot).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    let put_failed = reasons.get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
                    if put_failed {
                        Err(TaskError::Conflict(task.task_id.to_string()))
                    } else {
                        Err(TaskError::LimitReached { max: max_open })
                    }
                }
                _ => Err(aws_err("TransactWriteItems", &e)),
            },
        }
    }

    async fn get(&self, tenant: &TenantId, bot: &BotId, task: &TaskId) -> Result<Option<Task>, TaskError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(task_partition(tenant, bot)))
            .key("sk", s(task_sort(task)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_err("GetItem", &e))?;
        out.item.map(|item| serde_dynamo::from_item::<_, TaskItem>(item).map(|i| i.task).map_err(build_err)).transpose()
    }

    async fn list(&self, tenant: &TenantId, bot: &BotId) -> Result<Vec<Task>, TaskError> {
        let mut tasks = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :task)")
                .expression_attribute_values(":pk", s(task_partition(tenant, bot)))
                .expression_attribute_values(":task", s("TASK#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| aws_err("Query", &e))?;
            for item in out.items.unwrap_or_default() {
                tasks.push(serde_dynamo::from_item::<_, TaskItem>(item).map_err(build_err)?.task);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(tasks);
            }
        }
    }

    async fn set_status(
        &self,
        task: &Task,
        to: TaskStatus,
        next_run_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), TaskError> {
        if !to.is_open() || !task.status.is_open() {
            return Err(TaskError::Store("set_status moves between active and paused only".into()));
        }
        let (pk, sk) = Self::key(task);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", s(task.status.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", n(now_ms));
        request = match next_run_ms {
            Some(next) => request
                .update_expression("SET #status = :to, updated_at_ms = :now, next_run_ms = :next")
                .expression_attribute_values(":next", n(next)),
            None => request.update_expression("SET #status = :to, updated_at_ms = :now REMOVE next_run_ms"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(TaskError::Conflict(task.task_id.to_string()))
            }
            Err(e) => Err(aws_err("UpdateItem", &e)),
        }
    }

    async fn update_definition(&self, task: &Task) -> Result<(), TaskError> {
        let (pk, sk) = Self::key(task);
        let mut set = vec![
            "prompt = :prompt",
            "schedule_type = :type",
            "schedule_value = :value",
            "expression = :expr",
            "timezone = :tz",
            "context_mode = :mode",
            "updated_at_ms = :now",
        ];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":prompt", s(&task.prompt))
            .expression_attribute_values(":type", s(task.schedule_type.as_str()))
            .expression_attribute_values(":value", s(&task.schedule_value))
            .expression_attribute_values(":expr", s(&task.expression))
            .expression_attribute_values(":tz", s(&task.timezone))
            .expression_attribute_values(
                ":mode",
                s(if task.context_mode == ContextMode::Isolated { "isolated" } else { "group" }),
            )
            .expression_attribute_values(":now", n(task.updated_at_ms));
        match task.anchor_ms {
            Some(a) => {
                set.push("anchor_ms = :anchor");
                request = request.expression_attribute_values(":anchor", n(a));
            }
            None => remove.push("anchor_ms"),
        }
        match task.next_run_ms {
            Some(next) => {
                set.push("next_run_ms = :next");
                request = request.expression_attribute_values(":next", n(next));
            }
            None => remove.push("next_run_ms"),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(TaskError::NotFound(task.task_id.to_string()))
            }
            Err(e) => Err(aws_err("UpdateItem", &e)),
        }
    }

    async fn remove(&self, task: &Task) -> Result<bool, TaskError> {
        let mut current = task.clone();
        // The status decides whether a slot comes back; if it changed meanwhile, read it again.
        for _ in 0..3 {
            if let Some(done) = self.delete_once(&current).await? {
                return Ok(done);
            }
            match self.get(&task.conversation.tenant_id, &task.conversation.bot_id, &task.task_id).await? {
                Some(fresh) => current = fresh,
                None => return Ok(false),
            }
        }
        Err(TaskError::Conflict(task.task_id.to_string()))
    }

    async fn record_run(
        &self,
        task: &Task,
        scheduled_ms: i64,
        next_run_ms: Option<i64>,
        completes: bool,
    ) -> Result<bool, TaskError> {
        let (pk, sk) = Self::key(task);
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .expression_attribute_values(":t", n(scheduled_ms))
            .expression_attribute_values(":one", n(1));
        let mut set = vec!["last_run_ms = :t"];
        let mut condition =
            "attribute_exists(pk) AND (attribute_not_exists(last_run_ms) OR last_run_ms < :t)".to_owned();
        if let Some(next) = next_run_ms {
            set.push("next_run_ms = :next");
            update = update.expression_attribute_values(":next", n(next));
        }
        if completes {
            set.push("#status = :completed");
            set.push("expires_at = :expires");
            condition.push_str(" AND #status <> :completed");
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":completed", s(TaskStatus::Completed.as_str()))
                .expression_attribute_values(":expires", n(scheduled_ms / 1000 + COMPLETED_RETENTION_SECS));
        }
        let mut expression = format!("SET {} ADD run_count :one", set.join(", "));
        if next_run_ms.is_none() {
            expression.push_str(" REMOVE next_run_ms");
        }
        let update = update.update_expression(expression).condition_expression(condition).build().map_err(build_err)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if completes && task.status.is_open() {
            items.push(self.release_slot(&pk)?);
        }
        self.transact(items).await
    }
}
