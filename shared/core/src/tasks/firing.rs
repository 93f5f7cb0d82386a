//! What the scheduler function does when EventBridge Scheduler fires a task's schedule.
//!
//! The schedule's input names the task (tenant, bot, task id) and carries the firing's
//! scheduled time (`<aws.scheduler.scheduled-time>`, filled in by Scheduler). The function:
//! 1. checks the bot still exists, belongs to the tenant and is active, and loads the task; a
//!    task that is gone (or whose bot is gone) has its schedule deleted, a paused one has it
//!    disabled, and nothing runs;
//! 2. records the run once per firing (last run, next run, run count; a one-time task completes);
//! 3. stores the firing as a message of the task's conversation (id `task-{task}-{unix seconds}`,
//!    sender `scheduler`, text the prompt), so the dispatcher, history and answers work as for
//!    any message;
//! 4. queues a `scheduled_task` envelope on the inbound FIFO queue in the conversation's group,
//!    deduplicated per firing (never by content: two firings a minute apart both run).
//!
//! Every step is idempotent, so a retried invocation runs the firing once.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ScheduleApi, ScheduleType, Task, TaskError, TaskRepo, TaskStatus, schedule_name};
use crate::domain::envelope::{ENVELOPE_VERSION, InboundEnvelope};
use crate::domain::ids::{BotId, MessageId, TaskId, TenantId};
use crate::domain::model::{BotStatus, ConversationMessage, InboundMessage, Sender};
use crate::domain::records::StoreOutcome;
use crate::domain::scope::ScopeToken;
use crate::ports::{BotRepo, ConversationRepo, InboundQueue, QueueError, ScopeKeys, StoreError};

/// The sender id of a scheduled firing's message.
pub const SCHEDULER_SENDER_ID: &str = "scheduler";
/// The sender name the agent sees (`[scheduled task] …`).
pub const SCHEDULER_SENDER_NAME: &str = "scheduled task";
/// Scheduler fills these in when it invokes the target.
pub const SCHEDULED_TIME_PLACEHOLDER: &str = "<aws.scheduler.scheduled-time>";
pub const EXECUTION_ID_PLACEHOLDER: &str = "<aws.scheduler.execution-id>";

fn one() -> u32 {
    1
}

/// The scheduler function's event: the input of a task's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SchedulerEvent {
    ScheduledTask {
        #[serde(default = "one")]
        v: u32,
        tenant_id: TenantId,
        bot_id: BotId,
        task_id: TaskId,
        /// When this firing was due (RFC 3339); without it, the current minute.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheduled_time: Option<String>,
        /// Scheduler's id of this invocation (for logs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<String>,
        /// The scope token of the task's conversation. The agent that created the schedule wrote
        /// this input, so it proves nothing else: the firing runs only if the token matches the
        /// conversation of the task record it names.
        #[serde(default, skip_serializing_if = "ScopeToken::is_empty")]
        scope: ScopeToken,
    },
}

/// The input JSON a task's schedule delivers to the scheduler function.
pub fn target_input(task: &Task) -> String {
    let event = SchedulerEvent::ScheduledTask {
        v: 1,
        tenant_id: task.conversation.tenant_id.clone(),
        bot_id: task.conversation.bot_id.clone(),
        task_id: task.task_id.clone(),
        scheduled_time: Some(SCHEDULED_TIME_PLACEHOLDER.to_owned()),
        execution_id: Some(EXECUTION_ID_PLACEHOLDER.to_owned()),
        scope: task.scope.clone(),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// The message id of the firing of `task` scheduled at `at`.
pub fn firing_message_id(task: &TaskId, at: Timestamp) -> Result<MessageId, TaskError> {
    MessageId::parse(&format!("task-{task}-{}", at.as_second())).map_err(|e| TaskError::Invalid(e.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FireOutcome {
    /// Stored in the conversation and queued for the dispatcher.
    Enqueued { message_id: String, run_count: u64, next_run_ms: Option<i64> },
    /// This firing was stored and handed to the agent before (a retried invocation).
    AlreadyDispatched { message_id: String },
    /// The task no longer exists: its schedule was deleted.
    TaskGone,
    /// The bot no longer exists: the schedule (and the task) were deleted.
    BotGone,
    /// The bot is disabled: nothing runs; the schedule stays for when it is enabled again.
    BotInactive,
    /// The task is paused: its schedule was disabled.
    Paused,
    /// A one-time task that already ran: its schedule was deleted.
    Completed,
    /// The event names a tenant that does not own the bot: nothing is touched.
    TenantMismatch,
    /// The event's scope token is not the task's conversation's (a forged or foreign schedule),
    /// or the task's route leads elsewhere: nothing runs (`security_violation`).
    ScopeMismatch,
}

impl FireOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            FireOutcome::Enqueued { .. } => "enqueued",
            FireOutcome::AlreadyDispatched { .. } => "already_dispatched",
            FireOutcome::TaskGone => "task_gone",
            FireOutcome::BotGone => "bot_gone",
            FireOutcome::BotInactive => "bot_inactive",
            FireOutcome::Paused => "paused",
            FireOutcome::Completed => "completed",
            FireOutcome::TenantMismatch => "tenant_mismatch",
            FireOutcome::ScopeMismatch => "scope_mismatch",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FireError {
    #[error("invalid event: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Scope(#[from] crate::domain::scope::ScopeError),
}

/// The scheduler function's work (see the module docs).
pub struct TaskFiring {
    bots: Arc<dyn BotRepo>,
    conversations: Arc<dyn ConversationRepo>,
    tasks: Arc<dyn TaskRepo>,
    schedules: Arc<dyn ScheduleApi>,
    inbound: Arc<dyn InboundQueue>,
    scope: Arc<dyn ScopeKeys>,
}

/// The ports [`TaskFiring`] works through.
pub struct FiringPorts {
    pub bots: Arc<dyn BotRepo>,
    pub conversations: Arc<dyn ConversationRepo>,
    pub tasks: Arc<dyn TaskRepo>,
    pub schedules: Arc<dyn ScheduleApi>,
    pub inbound: Arc<dyn InboundQueue>,
    pub scope: Arc<dyn ScopeKeys>,
}

impl TaskFiring {
    pub fn new(ports: FiringPorts) -> Self {
        let FiringPorts { bots, conversations, tasks, schedules, inbound, scope } = ports;
        Self { bots, conversations, tasks, schedules, inbound, scope }
    }

    pub async fn fire(&self, event: SchedulerEvent, now_ms: i64) -> Result<FireOutcome, FireError> {
        let SchedulerEvent::ScheduledTask { tenant_id, bot_id, task_id, scheduled_time, execution_id, scope, .. } =
            event;
        let now = Timestamp::from_millisecond(now_ms).map_err(|e| FireError::Invalid(e.to_string()))?;
        let scheduled = match scheduled_time.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => raw.parse::<Timestamp>().map_err(|_| {
                FireError::Invalid(format!(
                    "scheduled_time {:?} is not an RFC 3339 time",
                    raw.chars().take(40).collect::<String>()
                ))
            })?,
            None => Timestamp::from_second(now.as_second().div_euclid(60) * 60).unwrap_or(now),
        };
        let name = schedule_name(&tenant_id, &bot_id, &task_id);
        let log_outcome = |outcome: &FireOutcome| {
            tracing::info!(event = "task_fired", tenant_id = %tenant_id, bot_id = %bot_id, task_id = %task_id,
                scheduled_time = %scheduled, execution_id = execution_id.as_deref().unwrap_or(""), outcome = outcome.name());
        };

        let Some(record) = self.bots.load_bot(&bot_id).await? else {
            if let Some(task) = self.tasks.get(&tenant_id, &bot_id, &task_id).await? {
                self.tasks.remove(&task).await?;
            }
            self.schedules.delete(&name).await?;
            let outcome = FireOutcome::BotGone;
            log_outcome(&outcome);
            return Ok(outcome);
        };
        if record.bot.tenant_id != tenant_id {
            // Schedule inputs are ours, so this is a forged or corrupted event: touch nothing.
            tracing::error!(event = "security_tenant_mismatch", bot_id = %bot_id, claimed_tenant = %tenant_id,
                task_id = %task_id, "scheduler event names a tenant that does not own the bot");
            return Ok(FireOutcome::TenantMismatch);
        }
        let Some(task) = self.tasks.get(&tenant_id, &bot_id, &task_id).await? else {
            self.schedules.delete(&name).await?;
            let outcome = FireOutcome::TaskGone;
            log_outcome(&outcome);
            return Ok(outcome);
        };
        let bound = self.scope.get().await?.verify(&task.conversation, &scope)
            && task.conversation.tenant_id == tenant_id
            && task.conversation.bot_id == bot_id
            && task.route.belongs_to(&task.conversation);
        if !bound {
            crate::flows::reports::security_violation(
                &task.conversation,
                "schedule",
                "scope token does not match the task's conversation",
            );
            return Ok(FireOutcome::ScopeMismatch);
        }
        if record.bot.status != BotStatus::Active {
            let outcome = FireOutcome::BotInactive;
            log_outcome(&outcome);
            return Ok(outcome);
        }
        let scheduled_ms = scheduled.as_millisecond();
        match task.status {
            TaskStatus::Paused => {
                self.schedules.set_enabled(&name, false, now).await?;
                let outcome = FireOutcome::Paused;
                log_outcome(&outcome);
                return Ok(outcome);
            }
            // A retry of the firing that completed it goes on (idempotently); any other is stale.
            TaskStatus::Completed if task.last_run_ms != Some(scheduled_ms) => {
                self.schedules.delete(&name).await?;
                let outcome = FireOutcome::Completed;
                log_outcome(&outcome);
                return Ok(outcome);
            }
            _ => {}
        }

        let spec = task.spec()?;
        let anchor = task.anchor_ms.and_then(|ms| Timestamp::from_millisecond(ms).ok());
        let next = spec.next_after(scheduled.max(now), anchor, &task.time_zone());
        let one_time = task.schedule_type == ScheduleType::Once;
        let next_run_ms = if one_time { None } else { next.map(Timestamp::as_millisecond) };
        let recorded = self.tasks.record_run(&task, scheduled_ms, next_run_ms, one_time).await?;

        let message_id = firing_message_id(&task.task_id, scheduled)?;
        let item = ConversationMessage {
            conversation: task.conversation.clone(),
            message: InboundMessage {
                attachments: Vec::new(),
                message_id: message_id.clone(),
                sent_at_ms: scheduled_ms,
                sender: Sender { id: SCHEDULER_SENDER_ID.into(), name: SCHEDULER_SENDER_NAME.into(), is_bot: false },
                text: task.prompt.clone(),
                is_direct: task.is_direct,
                route: task.route.clone(),
            },
        };
        if let StoreOutcome::Duplicate { dispatched: true } = self.conversations.store_inbound(&item).await? {
            let outcome = FireOutcome::AlreadyDispatched { message_id: message_id.to_string() };
            log_outcome(&outcome);
            return Ok(outcome);
        }
        let envelope = InboundEnvelope::ScheduledTask {
            v: ENVELOPE_VERSION,
            item,
            task_id: task.task_id.clone(),
            isolated: task.context_mode == super::ContextMode::Isolated,
        };
        self.inbound.send_inbound(&envelope).await?;
        let outcome = FireOutcome::Enqueued {
            message_id: message_id.to_string(),
            run_count: task.run_count + u64::from(recorded),
            next_run_ms,
        };
        log_outcome(&outcome);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_names_the_task_and_asks_for_the_scheduled_time() {
        let raw = include_str!("../../../../events/scheduler-task.json");
        let event: SchedulerEvent = serde_json::from_str(raw).unwrap();
        let SchedulerEvent::ScheduledTask { task_id, scheduled_time, .. } = &event;
        assert_eq!(task_id.as_str(), "k0123456789abcdef0123");
        assert_eq!(scheduled_time.as_deref(), Some("2026-03-02T09:00:00Z"));

        let bad = raw.replace("t0123456789abcdef0123", "../other");
        assert!(serde_json::from_str::<SchedulerEvent>(&bad).is_err(), "ids are parsed, never trusted");

        let id = firing_message_id(task_id, "2026-03-02T09:00:00Z".parse().unwrap()).unwrap();
        assert_eq!(id.as_str(), "task-k0123456789abcdef0123-1772442000");
        let next = firing_message_id(task_id, "2026-03-02T09:01:00Z".parse().unwrap()).unwrap();
        assert_ne!(id, next, "each firing has its own id");
    }
}
