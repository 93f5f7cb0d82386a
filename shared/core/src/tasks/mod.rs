//! Scheduled tasks: an agent asks for work later or repeatedly ("remind the team every Monday at
//! 9", "check this page in an hour"). A task belongs to one tenant, bot and conversation.
//!
//! - [`spec`] and [`cron`]: the schedule, checked (cron in the AWS six-field or the common
//!   five-field form, intervals of at least a minute, one-time in the future in a time zone) and
//!   turned into an EventBridge Scheduler expression; next firings.
//! - [`TaskManager`]: create, list, pause, resume, cancel, update. The task record (DynamoDB,
//!   [`store`]) is the truth; the EventBridge Scheduler schedule ([`crate::schedules`]) fires it.
//!   Pause and resume only switch the schedule's state: its target is sent back unchanged.
//! - [`firing`]: what the scheduler function does when a schedule fires.
//! - [`memory`]: in-memory stand-ins for the record store and Scheduler (tests).
//!
//! Limits: at most [`DEFAULT_MAX_TASKS_PER_BOT`] open (active or paused) tasks per bot, counted
//! atomically with the task records; intervals of at least one minute; prompts of at most
//! [`MAX_PROMPT_CHARS`] characters.

pub mod cron;
pub mod firing;
pub mod memory;
pub mod spec;

use crate::domain::scope::ScopeToken;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::channels;
use crate::domain::ids::{BotId, ConversationRef, TaskId, TenantId};
use crate::domain::model::{ChannelKind, ReplyRoute};

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

/// Creates and changes tasks, keeping the record and the schedule in step.
#[derive(Clone)]
pub struct TaskManager {
    repo: Arc<dyn TaskRepo>,
    schedules: Arc<dyn ScheduleApi>,
    settings: TaskSettings,
    /// The conversation's token, given to the tasks this manager creates (an agent's run).
    scope: ScopeToken,
}

fn now_ts(now_ms: i64) -> Timestamp {
    ts(now_ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn check_prompt(prompt: &str) -> Result<String, TaskError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(TaskError::Invalid("prompt is empty: say what the task should do".into()));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(TaskError::Invalid(format!("prompt is longer than {MAX_PROMPT_CHARS} characters")));
    }
    Ok(prompt.to_owned())
}

/// The schedule of a task: checked, with its zone, expression, anchor and next firing.
struct Planned {
    spec: ScheduleSpec,
    timezone: String,
    expression: String,
    value: String,
    anchor_ms: Option<i64>,
    next_run_ms: Option<i64>,
}

impl TaskManager {
    pub fn new(repo: Arc<dyn TaskRepo>, schedules: Arc<dyn ScheduleApi>, settings: TaskSettings) -> Self {
        Self { repo, schedules, settings, scope: ScopeToken::default() }
    }

    /// Tasks created through this manager carry `scope` (the run's conversation token).
    pub fn with_scope(mut self, scope: ScopeToken) -> Self {
        self.scope = scope;
        self
    }

    pub fn settings(&self) -> &TaskSettings {
        &self.settings
    }

    /// The zone a task uses: the one it names, else the configured one (else UTC, which only a
    /// local one-time value refuses: see [`ScheduleSpec::parse`]).
    fn plan(
        &self,
        kind: ScheduleType,
        value: &str,
        timezone: Option<&str>,
        now: Timestamp,
        keep_anchor: Option<i64>,
    ) -> Result<Planned, TaskError> {
        let named = timezone.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        let chosen = named.or_else(|| self.settings.default_timezone.clone());
        let tz = chosen.as_deref().map(spec::time_zone).transpose()?;
        let spec = ScheduleSpec::parse(kind, value, tz.as_ref(), now)?;
        let tz = tz.unwrap_or(TimeZone::UTC);
        let timezone = chosen.unwrap_or_else(|| "UTC".to_owned());
        let anchor = match keep_anchor.and_then(ts) {
            Some(a) if matches!(spec, ScheduleSpec::Interval { .. }) => Some(a),
            _ => spec.first_anchor(now),
        };
        let next = spec.next_after(now, anchor, &tz).ok_or_else(|| {
            TaskError::Invalid("this schedule never fires (no time matches within the next 8 years)".into())
        })?;
        Ok(Planned {
            expression: spec.expression(&tz),
            value: spec.normalized_value(&tz),
            spec,
            timezone,
            anchor_ms: anchor.map(Timestamp::as_millisecond),
            next_run_ms: Some(next.as_millisecond()),
        })
    }

    fn target(&self) -> Result<&ScheduleTarget, TaskError> {
        self.settings.target.as_ref().ok_or(TaskError::NotConfigured("no scheduler target"))
    }

    /// Schedules a new task in `conversation`.
    pub async fn create(&self, conversation: &ConversationRef, new: NewTask, now_ms: i64) -> Result<Task, TaskError> {
        let target = self.target()?.clone();
        let prompt = check_prompt(&new.prompt)?;
        let planned =
            self.plan(new.schedule_type, &new.schedule_value, new.timezone.as_deref(), now_ts(now_ms), None)?;
        let task = Task {
            task_id: TaskId::generate(),
            conversation: conversation.clone(),
            prompt,
            schedule_type: planned.spec.kind(),
            schedule_value: planned.value,
            expression: planned.expression,
            timezone: planned.timezone,
            context_mode: new.context_mode,
            status: TaskStatus::Active,
            anchor_ms: planned.anchor_ms,
            next_run_ms: planned.next_run_ms,
            last_run_ms: None,
            run_count: 0,
            route: standing_route(conversation)?,
            is_direct: is_direct_conversation(conversation),
            scope: self.scope.clone(),
            created_by: new.created_by.chars().take(128).collect(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        self.repo.insert(&task, self.settings.max_per_bot).await?;
        let input = firing::target_input(&task);
        if let Err(e) = self.schedules.create(&task.schedule_name(), &task.definition(), &target, &input).await {
            // Without its schedule the record would never fire: take it back.
            if let Err(undo) = self.repo.remove(&task).await {
                tracing::error!(event = "task_rollback_failed", task_id = %task.task_id, error = %undo, "task stored without a schedule");
            }
            return Err(e);
        }
        tracing::info!(event = "task_created", tenant_id = %conversation.tenant_id, bot_id = %conversation.bot_id, task_id = %task.task_id, schedule_type = task.schedule_type.as_str(), "scheduled task created");
        Ok(task)
    }

    /// The tasks in `scope`, oldest first.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<Task>, TaskError> {
        let (tenant, bot) = scope.tenant_and_bot();
        let mut tasks: Vec<Task> =
            self.repo.list(tenant, bot).await?.into_iter().filter(|t| scope.contains(t)).collect();
        tasks.sort_by_key(|t| (t.created_at_ms, t.task_id.to_string()));
        Ok(tasks)
    }

    /// One task in `scope`; a task outside it is [`TaskError::NotFound`], as if it did not exist.
    pub async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        let id = TaskId::parse(task_id.trim())
            .map_err(|_| TaskError::NotFound(task_id.chars().take(40).collect::<String>()))?;
        let (tenant, bot) = scope.tenant_and_bot();
        match self.repo.get(tenant, bot, &id).await? {
            Some(task) if scope.contains(&task) => Ok(task),
            _ => Err(TaskError::NotFound(id.to_string())),
        }
    }

    /// Stops firings; the schedule is disabled with its target unchanged.
    pub async fn pause(&self, scope: &Scope, task_id: &str, now_ms: i64) -> Result<Task, TaskError> {
        let mut task = self.get(scope, task_id).await?;
        match task.status {
            TaskStatus::Completed => {
                return Err(TaskError::WrongState {
                    task_id: task.task_id.to_string(),
                    status: "completed",
                    detail: "it already ran",
                });
            }
            TaskStatus::Active => {
                self.repo.set_status(&task, TaskStatus::Paused, None, now_ms).await?;
                task.status = TaskStatus::Paused;
                task.next_run_ms = None;
            }
            TaskStatus::Paused => {}
        }
        // Also when already paused: a retry finishes a pause whose schedule update failed.
        if !self.schedules.set_enabled(&task.schedule_name(), false, now_ts(now_ms)).await? {
            tracing::warn!(event = "task_schedule_missing", task_id = %task.task_id, "paused task had no schedule");
        }
        Ok(task)
    }

    /// Restarts firings from the next one after now; the schedule is enabled with its target
    /// unchanged (or created again if it went missing).
    pub async fn resume(&self, scope: &Scope, task_id: &str, now_ms: i64) -> Result<Task, TaskError> {
        let mut task = self.get(scope, task_id).await?;
        let now = now_ts(now_ms);
        match task.status {
            TaskStatus::Completed => {
                return Err(TaskError::WrongState {
                    task_id: task.task_id.to_string(),
                    status: "completed",
                    detail: "it already ran; schedule a new task",
                });
            }
            TaskStatus::Paused => {
                let next = task.spec()?.next_after(now, task.anchor_ms.and_then(ts), &task.time_zone());
                let one_time = task.schedule_type == ScheduleType::Once;
                let ahead = |n: &Timestamp| !one_time || n.as_second() >= now.as_second() + spec::MIN_ONCE_LEAD_SECS;
                let Some(next) = next.filter(ahead) else {
                    return Err(TaskError::WrongState {
                        task_id: task.task_id.to_string(),
                        status: "paused",
                        detail: "its time passed while it was paused; update it with a new time",
                    });
                };
                self.repo.set_status(&task, TaskStatus::Active, Some(next.as_millisecond()), now_ms).await?;
                task.status = TaskStatus::Active;
                task.next_run_ms = Some(next.as_millisecond());
            }
            TaskStatus::Active => {}
        }
        if !self.schedules.set_enabled(&task.schedule_name(), true, now).await? {
            tracing::warn!(event = "task_schedule_missing", task_id = %task.task_id, "creating the schedule again");
            let target = self.target()?.clone();
            self.schedules
                .create(&task.schedule_name(), &task.definition(), &target, &firing::target_input(&task))
                .await?;
        }
        Ok(task)
    }

    /// Removes the task and its schedule.
    pub async fn cancel(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        let task = self.get(scope, task_id).await?;
        // The record first: once it is gone nothing runs, even if the schedule still fires
        // (the scheduler function deletes a schedule whose task is gone).
        self.repo.remove(&task).await?;
        if let Err(e) = self.schedules.delete(&task.schedule_name()).await {
            tracing::warn!(event = "task_schedule_delete_failed", task_id = %task.task_id, error = %e, "the scheduler function removes it when it fires");
        }
        tracing::info!(event = "task_cancelled", tenant_id = %task.conversation.tenant_id, task_id = %task.task_id, "scheduled task cancelled");
        Ok(task)
    }

    /// Changes the prompt, schedule or context mode. A new schedule keeps the target and state.
    pub async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        changes: TaskChanges,
        now_ms: i64,
    ) -> Result<Task, TaskError> {
        let mut task = self.get(scope, task_id).await?;
        if task.status == TaskStatus::Completed {
            return Err(TaskError::WrongState {
                task_id: task.task_id.to_string(),
                status: "completed",
                detail: "it already ran; schedule a new task",
            });
        }
        if let Some(prompt) = &changes.prompt {
            task.prompt = check_prompt(prompt)?;
        }
        if let Some(mode) = changes.context_mode {
            task.context_mode = mode;
        }
        let schedule_changes =
            changes.schedule_type.is_some() || changes.schedule_value.is_some() || changes.timezone.is_some();
        if schedule_changes {
            let kind = changes.schedule_type.unwrap_or(task.schedule_type);
            if kind != task.schedule_type && changes.schedule_value.is_none() {
                return Err(TaskError::Invalid("a new schedule_type needs its schedule_value".into()));
            }
            let value = changes.schedule_value.clone().unwrap_or_else(|| task.schedule_value.clone());
            let timezone = changes.timezone.clone().unwrap_or_else(|| task.timezone.clone());
            // An unchanged interval keeps its rhythm.
            let keep =
                (kind == task.schedule_type && changes.schedule_value.is_none()).then_some(task.anchor_ms).flatten();
            let planned = self.plan(kind, &value, Some(&timezone), now_ts(now_ms), keep)?;
            task.schedule_type = planned.spec.kind();
            task.schedule_value = planned.value;
            task.expression = planned.expression;
            task.timezone = planned.timezone;
            task.anchor_ms = planned.anchor_ms;
            task.next_run_ms = if task.status == TaskStatus::Active { planned.next_run_ms } else { None };
        }
        task.updated_at_ms = now_ms;
        self.repo.update_definition(&task).await?;
        if schedule_changes
            && !self.schedules.redefine(&task.schedule_name(), &task.definition(), now_ts(now_ms)).await?
        {
            let target = self.target()?.clone();
            self.schedules
                .create(&task.schedule_name(), &task.definition(), &target, &firing::target_input(&task))
                .await?;
        }
        Ok(task)
    }
}

#[cfg(test)]
mod tests;
