//! In-memory stand-ins for the task records and EventBridge Scheduler, with the same rules
//! (slots per bot, conditional status changes, once-per-firing runs; a disabled schedule keeps
//! its target). For unit tests here and in the agent.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use jiff::Timestamp;

use super::{ScheduleApi, ScheduleDefinition, ScheduleTarget, Task, TaskError, TaskRepo, TaskStatus};
use crate::domain::ids::{BotId, TaskId, TenantId};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Task records by (tenant, bot, task).
#[derive(Default)]
pub struct MemoryTasks {
    tasks: Mutex<BTreeMap<(String, String, String), Task>>,
}

fn key(tenant: &TenantId, bot: &BotId, task: &TaskId) -> (String, String, String) {
    (tenant.to_string(), bot.to_string(), task.to_string())
}

fn task_key(task: &Task) -> (String, String, String) {
    key(&task.conversation.tenant_id, &task.conversation.bot_id, &task.task_id)
}

impl MemoryTasks {
    pub fn all(&self) -> Vec<Task> {
        lock(&self.tasks).values().cloned().collect()
    }
}

#[async_trait]
impl TaskRepo for MemoryTasks {
    async fn insert(&self, task: &Task, max_open: u32) -> Result<(), TaskError> {
        let mut tasks = lock(&self.tasks);
        let open = tasks
            .values()
            .filter(|t| {
                t.conversation.tenant_id == task.conversation.tenant_id
                    && t.conversation.bot_id == task.conversation.bot_id
                    && t.status.is_open()
            })
            .count();
        if open >= max_open as usize {
            return Err(TaskError::LimitReached { max: max_open });
        }
        tasks.insert(task_key(task), task.clone());
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, bot: &BotId, task: &TaskId) -> Result<Option<Task>, TaskError> {
        Ok(lock(&self.tasks).get(&key(tenant, bot, task)).cloned())
    }

    async fn list(&self, tenant: &TenantId, bot: &BotId) -> Result<Vec<Task>, TaskError> {
        Ok(lock(&self.tasks)
            .values()
            .filter(|t| t.conversation.tenant_id == *tenant && t.conversation.bot_id == *bot)
            .cloned()
            .collect())
    }

    async fn set_status(
        &self,
        task: &Task,
        to: TaskStatus,
        next_run_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), TaskError> {
        let mut tasks = lock(&self.tasks);
        let stored = tasks.get_mut(&task_key(task)).filter(|t| t.status == task.status);
        let Some(stored) = stored else { return Err(TaskError::Conflict(task.task_id.to_string())) };
        stored.status = to;
        stored.next_run_ms = next_run_ms;
        stored.updated_at_ms = now_ms;
        Ok(())
    }

    async fn update_definition(&self, task: &Task) -> Result<(), TaskError> {
        let mut tasks = lock(&self.tasks);
        let Some(stored) = tasks.get_mut(&task_key(task)) else {
            return Err(TaskError::NotFound(task.task_id.to_string()));
        };
        let (status, last, runs) = (stored.status, stored.last_run_ms, stored.run_count);
        *stored = Task { status, last_run_ms: last, run_count: runs, ..task.clone() };
        Ok(())
    }

    async fn remove(&self, task: &Task) -> Result<bool, TaskError> {
        Ok(lock(&self.tasks).remove(&task_key(task)).is_some())
    }

    async fn record_run(
        &self,
        task: &Task,
        scheduled_ms: i64,
        next_run_ms: Option<i64>,
        completes: bool,
    ) -> Result<bool, TaskError> {
        let mut tasks = lock(&self.tasks);
        let Some(stored) = tasks.get_mut(&task_key(task)) else { return Ok(false) };
        if stored.last_run_ms.is_some_and(|last| last >= scheduled_ms) {
            return Ok(false);
        }
        stored.last_run_ms = Some(scheduled_ms);
        stored.next_run_ms = next_run_ms;
        stored.run_count += 1;
        if completes {
            stored.status = TaskStatus::Completed;
        }
        Ok(true)
    }
}

/// A schedule as the stand-in keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySchedule {
    pub definition: ScheduleDefinition,
    pub target: ScheduleTarget,
    pub input: String,
}

/// Schedules by name.
#[derive(Default)]
pub struct MemorySchedules {
    schedules: Mutex<BTreeMap<String, MemorySchedule>>,
    /// Fail the next `create` (to test the rollback).
    pub fail_next_create: Mutex<bool>,
}

impl MemorySchedules {
    pub fn get(&self, name: &str) -> Option<MemorySchedule> {
        lock(&self.schedules).get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        lock(&self.schedules).keys().cloned().collect()
    }
}

#[async_trait]
impl ScheduleApi for MemorySchedules {
    async fn create(
        &self,
        name: &str,
        definition: &ScheduleDefinition,
        target: &ScheduleTarget,
        input: &str,
    ) -> Result<(), TaskError> {
        if std::mem::take(&mut *lock(&self.fail_next_create)) {
            return Err(TaskError::Schedule("injected failure".into()));
        }
        let mut schedules = lock(&self.schedules);
        if schedules.contains_key(name) {
            return Err(TaskError::Schedule(format!("schedule {name} already exists")));
        }
        schedules.insert(
            name.to_owned(),
            MemorySchedule { definition: definition.clone(), target: target.clone(), input: input.to_owned() },
        );
        Ok(())
    }

    async fn set_enabled(&self, name: &str, enabled: bool, _now: Timestamp) -> Result<bool, TaskError> {
        Ok(lock(&self.schedules).get_mut(name).map(|s| s.definition.enabled = enabled).is_some())
    }

    async fn redefine(&self, name: &str, definition: &ScheduleDefinition, _now: Timestamp) -> Result<bool, TaskError> {
        Ok(lock(&self.schedules)
            .get_mut(name)
            .map(|s| {
                let enabled = s.definition.enabled;
                s.definition = ScheduleDefinition { enabled, ..definition.clone() };
            })
            .is_some())
    }

    async fn delete(&self, name: &str) -> Result<bool, TaskError> {
        Ok(lock(&self.schedules).remove(name).is_some())
    }
}
