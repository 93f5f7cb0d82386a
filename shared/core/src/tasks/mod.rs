//! Scheduled tasks: an agent asks for work later or repeatedly ("remind the team every Monday at
//! 9", "check this page in an hour"). A task belongs to one tenant, bot and conversation.
//!
//! - [`spec`] and [`cron`]: the schedule, checked (cron in the AWS six-field or the common
//!   five-field form, intervals of at least a minute, one-time in the future in a time zone) and
//!   turned into an EventBridge Scheduler expression; next firings.
//! - [`TaskManager`]: create, list, pause, resume, cancel, update. The task record (DynamoDB,
//!   through [`TaskRepo`]) is the truth; the EventBridge Scheduler schedule ([`ScheduleApi`]) fires it.
//!   Pause and resume only switch the schedule's state: its target is sent back unchanged.
//! - [`firing`]: what the scheduler function does when a schedule fires.
//! - [`memory`]: in-memory stand-ins for the record store and Scheduler (tests).
//!
//! Limits: at most [`DEFAULT_MAX_TASKS_PER_BOT`] open (active or paused) tasks per bot, counted
//! atomically with the task records; intervals of at least one minute; prompts of at most
//! [`MAX_PROMPT_CHARS`] characters.

pub mod cron;
pub mod firing;
mod manager;
pub mod memory;
pub mod spec;

use crate::domain::scope::ScopeToken;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::channels;
use crate::domain::ids::{BotId, ConversationRef, TaskId, TenantId};
use crate::domain::model::{ChannelKind, ReplyRoute};

pub use manager::TaskManager;
pub use spec::{ScheduleSpec, ScheduleType};

/// Open (active or paused) tasks a bot may have.
pub const DEFAULT_MAX_TASKS_PER_BOT: u32 = 20;
/// Longest task prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 4_000;
/// How long a completed one-time task stays listed.
pub const COMPLETED_RETENTION_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Cron(#[from] cron::CronError),
    #[error("this bot already has {max} open scheduled tasks (the limit); cancel one first")]
    LimitReached { max: u32 },
    #[error("no task {0} here")]
    NotFound(String),
    #[error("task {task_id} is {status}: {detail}")]
    WrongState { task_id: String, status: &'static str, detail: &'static str },
    #[error("task {0} changed at the same time; try again")]
    Conflict(String),
    #[error("scheduled tasks are not configured here ({0})")]
    NotConfigured(&'static str),
    #[error("task storage failed: {0}")]
    Store(String),
    #[error("EventBridge Scheduler failed: {0}")]
    Schedule(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextMode {
    /// The run sees the conversation's history.
    Group,
    /// The run starts without the conversation's history.
    Isolated,
}

impl ContextMode {
    pub fn parse(raw: &str) -> Result<Self, TaskError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "group" => Ok(ContextMode::Group),
            "isolated" => Ok(ContextMode::Isolated),
            other => Err(TaskError::Invalid(format!(
                "unknown context_mode {:?} (group or isolated)",
                other.chars().take(20).collect::<String>()
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Active,
    Paused,
    /// A one-time task that ran.
    Completed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Active => "active",
            TaskStatus::Paused => "paused",
            TaskStatus::Completed => "completed",
        }
    }

    /// Active and paused tasks hold one of the bot's slots.
    pub fn is_open(self) -> bool {
        !matches!(self, TaskStatus::Completed)
    }
}

/// A scheduled task as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub task_id: TaskId,
    #[serde(flatten)]
    pub conversation: ConversationRef,
    pub prompt: String,
    pub schedule_type: ScheduleType,
    /// Normalised: six cron fields, `15 minutes`, or the local time of a one-time task.
    pub schedule_value: String,
    /// The EventBridge Scheduler expression.
    pub expression: String,
    /// IANA name the expression is evaluated in.
    pub timezone: String,
    pub context_mode: ContextMode,
    pub status: TaskStatus,
    /// An interval's first firing (the schedule's start date); later ones follow every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_ms: Option<i64>,
    #[serde(default)]
    pub run_count: u64,
    /// Where the answers go: the conversation itself, not a message in it.
    pub route: ReplyRoute,
    /// Whether the conversation is one-to-one (as far as its id tells; groups otherwise).
    #[serde(default)]
    pub is_direct: bool,
    /// The channel user whose run created it.
    /// The scope token of the conversation that created it (see [`crate::scope`]): the
    /// schedule's input carries it, and a schedule made again later (resume, update) reuses it.
    #[serde(default, skip_serializing_if = "ScopeToken::is_empty")]
    pub scope: ScopeToken,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

fn ts(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

impl Task {
    /// The schedule's name in the group: starts with the tenant id, so IAM can keep each
    /// tenant to its own schedules (`{tenant}-*`).
    pub fn schedule_name(&self) -> String {
        schedule_name(&self.conversation.tenant_id, &self.conversation.bot_id, &self.task_id)
    }

    pub fn time_zone(&self) -> TimeZone {
        TimeZone::get(&self.timezone).unwrap_or(TimeZone::UTC)
    }

    /// The stored schedule, parsed again (stored values were checked when stored).
    pub fn spec(&self) -> Result<ScheduleSpec, TaskError> {
        let tz = self.time_zone();
        match self.schedule_type {
            ScheduleType::Cron => Ok(ScheduleSpec::Cron(cron::Cron::parse(&self.schedule_value)?)),
            ScheduleType::Interval => {
                Ok(ScheduleSpec::Interval { minutes: spec::parse_interval(&self.schedule_value)? })
            }
            ScheduleType::Once => {
                let dt: jiff::civil::DateTime =
                    self.schedule_value.parse().map_err(|_| TaskError::Invalid("stored one-time value".into()))?;
                let at = tz.to_timestamp(dt).map_err(|_| TaskError::Invalid("stored one-time value".into()))?;
                Ok(ScheduleSpec::Once { at })
            }
        }
    }

    /// What EventBridge Scheduler gets for this task.
    pub fn definition(&self) -> ScheduleDefinition {
        ScheduleDefinition {
            expression: self.expression.clone(),
            timezone: self.timezone.clone(),
            start: self.anchor_ms.and_then(ts),
            one_time: self.schedule_type == ScheduleType::Once,
            enabled: self.status == TaskStatus::Active,
        }
    }

    /// The task as the CLI and the agent's tools show it.
    pub fn view(&self) -> TaskView {
        let tz = self.time_zone();
        let show = |ms: Option<i64>| {
            ms.and_then(ts).map(|t| {
                let zoned = t.to_zoned(tz.clone());
                t.display_with_offset(zoned.offset()).to_string()
            })
        };
        TaskView {
            task_id: self.task_id.to_string(),
            bot_id: self.conversation.bot_id.to_string(),
            channel: self.conversation.channel,
            conversation_id: self.conversation.conversation_id.to_string(),
            prompt: self.prompt.clone(),
            schedule_type: self.schedule_type,
            schedule_value: self.schedule_value.clone(),
            timezone: self.timezone.clone(),
            context_mode: self.context_mode,
            status: self.status,
            next_run: show(self.next_run_ms),
            last_run: show(self.last_run_ms),
            run_count: self.run_count,
        }
    }
}

/// A task's schedule name: `{tenant}-{bot}-{task id without its `k`}`, exactly 64 characters,
/// Scheduler's limit. The bot is in the name so that IAM can hold an agent's credentials to its
/// own bot's schedules (`${tenant_id}-${bot_id}-*`): a schedule's input carries its conversation's
/// scope token, which another bot's agent must not be able to read. The task id's type letter is
/// dropped to fit; the rest of it is unique on its own.
pub fn schedule_name(tenant: &TenantId, bot: &BotId, task: &TaskId) -> String {
    let id = task.as_str();
    format!("{tenant}-{bot}-{}", id.strip_prefix('k').unwrap_or(id))
}

/// A task as shown (JSON of `clawless tasks list` and of the agent's task tools). Times are
/// RFC 3339 with the task's time zone offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskView {
    pub task_id: String,
    pub bot_id: String,
    pub channel: ChannelKind,
    pub conversation_id: String,
    pub prompt: String,
    pub schedule_type: ScheduleType,
    pub schedule_value: String,
    pub timezone: String,
    pub context_mode: ContextMode,
    pub status: TaskStatus,
    pub next_run: Option<String>,
    pub last_run: Option<String>,
    pub run_count: u64,
}

/// The schedule EventBridge Scheduler keeps for a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDefinition {
    pub expression: String,
    pub timezone: String,
    /// Start date (intervals: their first firing).
    pub start: Option<Timestamp>,
    /// One-time: the schedule deletes itself after it fired.
    pub one_time: bool,
    pub enabled: bool,
}

/// What every schedule invokes: the scheduler function, through the role EventBridge Scheduler
/// assumes; and where Scheduler puts a firing it could not deliver after its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleTarget {
    pub function_arn: String,
    pub role_arn: String,
    /// A standard SQS queue (`CLAWLESS_SCHEDULE_DLQ_ARN`); `None` (local runs, tests): a firing
    /// that cannot be delivered is dropped after the retries.
    pub dead_letter_arn: Option<String>,
}

/// Where the answers to a conversation's scheduled runs go: the conversation itself (no message
/// to reply to, no thread, no interaction), as its channel names it.
pub fn standing_route(conversation: &ConversationRef) -> Result<ReplyRoute, TaskError> {
    let channel = channels::channel(conversation.channel)
        .ok_or_else(|| TaskError::Invalid(format!("sending on {} is not supported yet", conversation.channel)))?;
    channel.standing_route(&conversation.conversation_id).map_err(|e| TaskError::Invalid(e.to_string()))
}

/// Whether a conversation is one-to-one, as far as its id says (unknown counts as a group, the
/// cautious reading: group history is treated as untrusted).
pub fn is_direct_conversation(conversation: &ConversationRef) -> bool {
    channels::channel(conversation.channel).is_some_and(|channel| channel.is_direct(&conversation.conversation_id))
}

/// A new task as an agent asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub prompt: String,
    pub schedule_type: ScheduleType,
    pub schedule_value: String,
    pub context_mode: ContextMode,
    pub timezone: Option<String>,
    pub created_by: String,
}

/// Changes to a task; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskChanges {
    pub prompt: Option<String>,
    pub schedule_type: Option<ScheduleType>,
    pub schedule_value: Option<String>,
    pub context_mode: Option<ContextMode>,
    pub timezone: Option<String>,
}

/// Who is asking: an agent sees only its conversation's tasks; an operator a bot's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Conversation(ConversationRef),
    Bot { tenant_id: TenantId, bot_id: BotId },
}

impl Scope {
    fn tenant_and_bot(&self) -> (&TenantId, &BotId) {
        match self {
            Scope::Conversation(c) => (&c.tenant_id, &c.bot_id),
            Scope::Bot { tenant_id, bot_id } => (tenant_id, bot_id),
        }
    }

    fn contains(&self, task: &Task) -> bool {
        match self {
            Scope::Conversation(c) => task.conversation == *c,
            Scope::Bot { tenant_id, bot_id } => {
                task.conversation.tenant_id == *tenant_id && task.conversation.bot_id == *bot_id
            }
        }
    }
}

/// Task records. [`store::TaskStore`] keeps them in DynamoDB; [`memory::MemoryTasks`] in memory.
#[async_trait]
pub trait TaskRepo: Send + Sync {
    /// Stores a new task, taking one of the bot's `max_open` slots (atomically).
    async fn insert(&self, task: &Task, max_open: u32) -> Result<(), TaskError>;
    async fn get(&self, tenant: &TenantId, bot: &BotId, task: &TaskId) -> Result<Option<Task>, TaskError>;
    async fn list(&self, tenant: &TenantId, bot: &BotId) -> Result<Vec<Task>, TaskError>;
    /// Moves `task` from its stored status (`task.status`) to `to`; [`TaskError::Conflict`] if
    /// it changed meanwhile. Completing frees the slot.
    async fn set_status(
        &self,
        task: &Task,
        to: TaskStatus,
        next_run_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), TaskError>;
    /// Stores the prompt, schedule and context mode of `task`.
    async fn update_definition(&self, task: &Task) -> Result<(), TaskError>;
    /// Deletes the record (freeing its slot if open). `false` if it was not there.
    async fn remove(&self, task: &Task) -> Result<bool, TaskError>;
    /// Records the firing scheduled at `scheduled_ms` once: `false` if it (or a later one) was
    /// already recorded. `completes` marks a one-time task completed.
    async fn record_run(
        &self,
        task: &Task,
        scheduled_ms: i64,
        next_run_ms: Option<i64>,
        completes: bool,
    ) -> Result<bool, TaskError>;
}

/// The schedules of one group. [`clawless_aws::scheduler::Schedules`] is EventBridge Scheduler;
/// [`memory::MemorySchedules`] keeps them in memory.
#[async_trait]
pub trait ScheduleApi: Send + Sync {
    async fn create(
        &self,
        name: &str,
        definition: &ScheduleDefinition,
        target: &ScheduleTarget,
        input: &str,
    ) -> Result<(), TaskError>;
    /// Enables or disables the schedule, sending everything else (the target above all) back as
    /// it is. `false` if there is no such schedule.
    async fn set_enabled(&self, name: &str, enabled: bool, now: Timestamp) -> Result<bool, TaskError>;
    /// Replaces the expression, time zone, start date and after-completion action, keeping the
    /// target. `false` if there is no such schedule.
    async fn redefine(&self, name: &str, definition: &ScheduleDefinition, now: Timestamp) -> Result<bool, TaskError>;
    /// `false` if there was no such schedule.
    async fn delete(&self, name: &str) -> Result<bool, TaskError>;
}

/// Settings of the task service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettings {
    /// `None`: tasks can be listed and changed but not created (the CLI).
    pub target: Option<ScheduleTarget>,
    pub max_per_bot: u32,
    /// The configured time zone (IANA), used when a task names none.
    pub default_timezone: Option<String>,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self { target: None, max_per_bot: DEFAULT_MAX_TASKS_PER_BOT, default_timezone: None }
    }
}

/// The configuration of scheduled tasks, from the environment (the template sets it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskConfig {
    /// `CLAWLESS_SCHEDULE_GROUP`.
    pub group: String,
    pub settings: TaskSettings,
}

impl TaskConfig {
    /// `CLAWLESS_SCHEDULE_GROUP` (required), `CLAWLESS_SCHEDULER_FUNCTION_ARN` and
    /// `CLAWLESS_SCHEDULER_ROLE_ARN` (both or neither: where schedules can be created),
    /// `CLAWLESS_SCHEDULE_DLQ_ARN` (optional: the schedules' dead-letter queue), `CLAWLESS_DEFAULT_TIMEZONE`, `CLAWLESS_MAX_TASKS_PER_BOT` (default 20). `None` without a group.
    pub fn from_lookup(get: impl Fn(&'static str) -> Option<String>) -> Result<Option<Self>, TaskError> {
        let get = |name| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let Some(group) = get("CLAWLESS_SCHEDULE_GROUP") else { return Ok(None) };
        let target = match (get("CLAWLESS_SCHEDULER_FUNCTION_ARN"), get("CLAWLESS_SCHEDULER_ROLE_ARN")) {
            (Some(function_arn), Some(role_arn)) => {
                Some(ScheduleTarget { function_arn, role_arn, dead_letter_arn: get("CLAWLESS_SCHEDULE_DLQ_ARN") })
            }
            (None, None) => None,
            _ => {
                return Err(TaskError::Invalid(
                    "set both CLAWLESS_SCHEDULER_FUNCTION_ARN and CLAWLESS_SCHEDULER_ROLE_ARN, or neither".into(),
                ));
            }
        };
        let default_timezone = get("CLAWLESS_DEFAULT_TIMEZONE");
        if let Some(tz) = &default_timezone {
            spec::time_zone(tz)?;
        }
        let max_per_bot = match get("CLAWLESS_MAX_TASKS_PER_BOT") {
            None => DEFAULT_MAX_TASKS_PER_BOT,
            Some(raw) => raw
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| TaskError::Invalid("CLAWLESS_MAX_TASKS_PER_BOT must be 1 to 1000".into()))?,
        };
        Ok(Some(Self { group, settings: TaskSettings { target, max_per_bot, default_timezone } }))
    }

    pub fn from_env() -> Result<Option<Self>, TaskError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests;
