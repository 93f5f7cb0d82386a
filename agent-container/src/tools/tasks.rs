//! The task tools: `schedule_task`, `list_tasks`, `pause_task`, `resume_task`, `cancel_task`,
//! `update_task`. They are privileged (the tenant's profile must allow each; the `web-agent`
//! preset does) and see only the tasks of the conversation they run in: another conversation's
//! task is "not found", whatever its id.
//!
//! The work is [`clawless_core::tasks::TaskManager`]'s (validation, the per-bot limit, the
//! record and its EventBridge Scheduler schedule), reached through
//! [`TenantServices::tasks`] with the tenant's credentials. Answers are JSON the model can read:
//! a task, or `{"tasks": [...]}`.

use std::sync::Arc;

use async_trait::async_trait;
use clawless_core::domain::model::now_ms;
use clawless_core::tasks::{ContextMode, NewTask, ScheduleType, Scope, Task, TaskChanges, TaskError, TaskManager};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolBox, ToolContext, ToolError, ToolName, TypedTool};
use crate::services::TenantServices;

/// Who a task created by the agent is recorded as created by.
const CREATED_BY: &str = "agent";

/// Adds the six task tools, working through `services`.
pub fn register(tools: &mut ToolBox, services: Arc<dyn TenantServices>) {
    let tasks = || TaskTools { services: Arc::clone(&services) };
    tools.add(Arc::new(ScheduleTaskTool(tasks())));
    tools.add(Arc::new(ListTasksTool(tasks())));
    tools.add(Arc::new(TaskStateTool(tasks(), StateChange::Pause)));
    tools.add(Arc::new(TaskStateTool(tasks(), StateChange::Resume)));
    tools.add(Arc::new(TaskStateTool(tasks(), StateChange::Cancel)));
    tools.add(Arc::new(UpdateTaskTool(tasks())));
}

/// What every task tool works with: the tenant's task manager, reached with its credentials.
struct TaskTools {
    services: Arc<dyn TenantServices>,
}

impl TaskTools {
    async fn manager(&self, ctx: &ToolContext) -> Result<TaskManager, ToolError> {
        self.services
            .tasks(&ctx.conversation)
            .await
            .ok_or_else(|| ToolError::Failed("scheduled tasks are not configured on this platform".into()))
    }
}

fn to_tool_error(e: TaskError) -> ToolError {
    match e {
        TaskError::Invalid(_)
        | TaskError::Cron(_)
        | TaskError::NotFound(_)
        | TaskError::WrongState { .. }
        | TaskError::Conflict(_) => ToolError::InvalidInput(e.to_string()),
        TaskError::LimitReached { .. } => ToolError::Refused(e.to_string()),
        TaskError::NotConfigured(_) | TaskError::Store(_) | TaskError::Schedule(_) => ToolError::Failed(e.to_string()),
    }
}

fn shown(task: &Task) -> String {
    serde_json::to_string(&task.view()).unwrap_or_default()
}

const SCHEDULE_HELP: &str = "schedule_type `cron`: AWS six fields (`0 9 ? * MON *`) or five fields (`0 9 * * 1` = \
    Mondays 09:00); `interval`: `15 minutes`, `2 hours`, `1 day` (at least 1 minute); `once`: a local time \
    `2030-01-31T09:00` (in `timezone`), an instant with offset `2030-01-31T08:00:00Z`, or `in 2 hours`.";
const CONTEXT_MODE_HELP: &str = "group: the run sees this conversation's history; isolated: it starts fresh.";
const TIMEZONE_HELP: &str = "IANA time zone (e.g. Europe/Berlin) for cron and local times; default: the platform's.";
/// The kinds of schedule and context mode as offered to the model. The values are parsed by
/// [`ScheduleType::parse`] and [`ContextMode::parse`], which also take a few other spellings.
const SCHEDULE_TYPES: [ScheduleType; 3] = [ScheduleType::Cron, ScheduleType::Interval, ScheduleType::Once];
const CONTEXT_MODES: [ContextMode; 2] = [ContextMode::Group, ContextMode::Isolated];

fn optional_enum<T>(raw: Option<&str>, parse: fn(&str) -> Result<T, TaskError>) -> Result<Option<T>, ToolError> {
    raw.map(parse).transpose().map_err(to_tool_error)
}

/// `schedule_task`.
struct ScheduleTaskTool(TaskTools);

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScheduleTaskInput {
    /// What to do when it fires, written as an instruction to yourself.
    pub prompt: String,
    #[schemars(extend("enum" = SCHEDULE_TYPES))]
    pub schedule_type: String,
    #[schemars(description = SCHEDULE_HELP)]
    pub schedule_value: String,
    #[schemars(extend("enum" = CONTEXT_MODES), description = CONTEXT_MODE_HELP)]
    pub context_mode: Option<String>,
    #[schemars(description = TIMEZONE_HELP)]
    pub timezone: Option<String>,
}

#[async_trait]
impl TypedTool for ScheduleTaskTool {
    type Input = ScheduleTaskInput;

    fn name(&self) -> ToolName {
        ToolName::ScheduleTask
    }

    fn description(&self) -> String {
        format!(
            "Schedule work for later or on repeat in this conversation (reminders, periodic checks). When it fires \
             you get the prompt as a message and your answer is posted here; nobody is waiting then. {SCHEDULE_HELP}"
        )
    }

    async fn run(&self, ctx: &ToolContext, input: ScheduleTaskInput) -> Result<String, ToolError> {
        let new = NewTask {
            prompt: input.prompt,
            schedule_type: ScheduleType::parse(&input.schedule_type).map_err(to_tool_error)?,
            schedule_value: input.schedule_value,
            context_mode: optional_enum(input.context_mode.as_deref(), ContextMode::parse)?
                .unwrap_or(ContextMode::Group),
            timezone: input.timezone,
            created_by: CREATED_BY.into(),
        };
        let manager = self.0.manager(ctx).await?;
        let task = manager.create(&ctx.conversation, new, now_ms()).await.map_err(to_tool_error)?;
        Ok(shown(&task))
    }
}

/// `list_tasks`.
struct ListTasksTool(TaskTools);

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTasksInput {}

#[async_trait]
impl TypedTool for ListTasksTool {
    type Input = ListTasksInput;

    fn name(&self) -> ToolName {
        ToolName::ListTasks
    }

    fn description(&self) -> String {
        "List this conversation's scheduled tasks with their status and next and last run.".into()
    }

    async fn run(&self, ctx: &ToolContext, _: ListTasksInput) -> Result<String, ToolError> {
        let scope = Scope::Conversation(ctx.conversation.clone());
        let tasks = self.0.manager(ctx).await?.list(&scope).await.map_err(to_tool_error)?;
        let views: Vec<_> = tasks.iter().map(Task::view).collect();
        Ok(json!({ "tasks": views }).to_string())
    }
}

/// `pause_task`, `resume_task` and `cancel_task`: one task changes state.
struct TaskStateTool(TaskTools, StateChange);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateChange {
    Pause,
    Resume,
    Cancel,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TaskIdInput {
    /// The task's id (from list_tasks).
    pub task_id: String,
}

#[async_trait]
impl TypedTool for TaskStateTool {
    type Input = TaskIdInput;

    fn name(&self) -> ToolName {
        match self.1 {
            StateChange::Pause => ToolName::PauseTask,
            StateChange::Resume => ToolName::ResumeTask,
            StateChange::Cancel => ToolName::CancelTask,
        }
    }

    fn description(&self) -> String {
        match self.1 {
            StateChange::Pause => "Pause a scheduled task (it stops firing until resumed).",
            StateChange::Resume => "Resume a paused task from its next firing.",
            StateChange::Cancel => "Cancel a scheduled task for good.",
        }
        .into()
    }

    async fn run(&self, ctx: &ToolContext, input: TaskIdInput) -> Result<String, ToolError> {
        let scope = Scope::Conversation(ctx.conversation.clone());
        let id = input.task_id.as_str();
        let manager = self.0.manager(ctx).await?;
        let now = now_ms();
        let task = match self.1 {
            StateChange::Pause => manager.pause(&scope, id, now).await,
            StateChange::Resume => manager.resume(&scope, id, now).await,
            StateChange::Cancel => manager.cancel(&scope, id).await,
        }
        .map_err(to_tool_error)?;
        if self.1 == StateChange::Cancel {
            return Ok(json!({ "cancelled": task.task_id.as_str() }).to_string());
        }
        Ok(shown(&task))
    }
}

/// `update_task`.
struct UpdateTaskTool(TaskTools);

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateTaskInput {
    pub task_id: String,
    pub prompt: Option<String>,
    #[schemars(extend("enum" = SCHEDULE_TYPES))]
    pub schedule_type: Option<String>,
    #[schemars(description = SCHEDULE_HELP)]
    pub schedule_value: Option<String>,
    #[schemars(extend("enum" = CONTEXT_MODES), description = CONTEXT_MODE_HELP)]
    pub context_mode: Option<String>,
    #[schemars(description = TIMEZONE_HELP)]
    pub timezone: Option<String>,
}

#[async_trait]
impl TypedTool for UpdateTaskTool {
    type Input = UpdateTaskInput;

    fn name(&self) -> ToolName {
        ToolName::UpdateTask
    }

    fn description(&self) -> String {
        format!("Change a scheduled task: give only what changes. {SCHEDULE_HELP}")
    }

    async fn run(&self, ctx: &ToolContext, input: UpdateTaskInput) -> Result<String, ToolError> {
        let scope = Scope::Conversation(ctx.conversation.clone());
        let changes = TaskChanges {
            prompt: input.prompt,
            schedule_type: optional_enum(input.schedule_type.as_deref(), ScheduleType::parse)?,
            schedule_value: input.schedule_value,
            context_mode: optional_enum(input.context_mode.as_deref(), ContextMode::parse)?,
            timezone: input.timezone,
        };
        let manager = self.0.manager(ctx).await?;
        let task = manager.update(&scope, &input.task_id, changes, now_ms()).await.map_err(to_tool_error)?;
        Ok(shown(&task))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use clawless_core::domain::permissions::PermissionProfile;
    use clawless_core::tasks::memory::{MemorySchedules, MemoryTasks};
    use clawless_core::tasks::{ScheduleTarget, TaskSettings};
    use serde_json::Value;

    use super::*;
    use crate::services::MemoryServices;
    use crate::testing::conversation;

    fn services(schedules: Arc<MemorySchedules>) -> Arc<dyn TenantServices> {
        let settings = TaskSettings {
            target: Some(ScheduleTarget {
                function_arn: "arn:f".into(),
                role_arn: "arn:r".into(),
                dead_letter_arn: None,
            }),
            max_per_bot: 20,
            default_timezone: Some("UTC".into()),
        };
        let manager = TaskManager::new(Arc::new(MemoryTasks::default()), schedules, settings);
        Arc::new(MemoryServices { tasks: Some(manager), ..MemoryServices::default() })
    }

    fn ctx(chat: &str) -> ToolContext {
        ToolContext {
            files: None,
            outgoing: std::sync::Mutex::new(Vec::new()),
            run_id: "test-run".into(),
            skills: None,
            conversation: conversation(chat),
            workspace: std::env::temp_dir(),
            profile: PermissionProfile::preset("web-agent").unwrap(),
            memory: Arc::new(crate::services::InMemoryLayers::default()),
            outbox: Mutex::new(Vec::new()),
            web: Default::default(),
        }
    }

    fn tools(services: Arc<dyn TenantServices>) -> ToolBox {
        let mut tools = ToolBox::empty();
        register(&mut tools, services);
        tools
    }

    async fn call(tools: &ToolBox, ctx: &ToolContext, name: &str, input: Value) -> Result<Value, ToolError> {
        let out = tools.get(name).unwrap().call(ctx, &input).await?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    #[tokio::test]
    async fn schedule_list_pause_resume_cancel_in_one_conversation() {
        let schedules = Arc::new(MemorySchedules::default());
        let tools = tools(services(schedules.clone()));
        let here = ctx("4242");
        let task = call(
            &tools,
            &here,
            "schedule_task",
            json!({"prompt": "Check the status page", "schedule_type": "interval", "schedule_value": "1 hour", "context_mode": "isolated"}),
        )
        .await
        .unwrap();
        assert_eq!(task["schedule_value"], "1 hour");
        assert_eq!(task["context_mode"], "isolated");
        assert_eq!(task["status"], "active");
        let id = task["task_id"].as_str().unwrap().to_owned();

        let listed = call(&tools, &here, "list_tasks", json!({})).await.unwrap();
        assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);
        // Another conversation of the same bot sees nothing and can change nothing.
        let elsewhere = ctx("777");
        assert_eq!(call(&tools, &elsewhere, "list_tasks", json!({})).await.unwrap()["tasks"], json!([]));
        let err = call(&tools, &elsewhere, "cancel_task", json!({"task_id": id})).await.unwrap_err();
        assert!(matches!(err, ToolError::InvalidInput(ref m) if m.contains("no task")), "{err}");

        assert_eq!(call(&tools, &here, "pause_task", json!({"task_id": id})).await.unwrap()["status"], "paused");
        let name = format!("t0123456789abcdef0123-b0123456789abcdef0123-{}", &id[1..]);
        assert!(!schedules.get(&name).unwrap().definition.enabled);
        assert_eq!(call(&tools, &here, "resume_task", json!({"task_id": id})).await.unwrap()["status"], "active");
        let updated =
            call(&tools, &here, "update_task", json!({"task_id": id, "prompt": "Check it twice"})).await.unwrap();
        assert_eq!(updated["prompt"], "Check it twice");
        assert_eq!(call(&tools, &here, "cancel_task", json!({"task_id": id})).await.unwrap()["cancelled"], id);
        assert!(schedules.names().is_empty());
    }

    #[tokio::test]
    async fn bad_input_gets_a_clear_error() {
        let tools = tools(services(Arc::new(MemorySchedules::default())));
        let here = ctx("4242");
        for (input, expected) in [
            (json!({"prompt": "x", "schedule_type": "interval", "schedule_value": "0 minutes"}), "at least 1 minute"),
            (json!({"prompt": "x", "schedule_type": "weekly", "schedule_value": "1h"}), "unknown schedule_type"),
            (json!({"prompt": "x", "schedule_type": "cron", "schedule_value": "0 9 * *"}), "fields"),
            (
                json!({"prompt": "x", "schedule_type": "once", "schedule_value": "2001-01-01T09:00"}),
                "not in the future",
            ),
            (json!({"schedule_type": "once", "schedule_value": "in 1 hour"}), "`prompt`"),
            (
                json!({"prompt": "x", "schedule_type": "interval", "schedule_value": "1h", "context_mode": "shared"}),
                "context_mode",
            ),
        ] {
            let err = call(&tools, &here, "schedule_task", input).await.unwrap_err();
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
    }

    #[tokio::test]
    async fn without_configuration_the_tools_say_so() {
        let tools = tools(Arc::new(MemoryServices::default()));
        let err = call(&tools, &ctx("4242"), "list_tasks", json!({})).await.unwrap_err();
        assert!(matches!(err, ToolError::Failed(ref m) if m.contains("not configured")), "{err}");
        let names: Vec<String> =
            tools.offered(&PermissionProfile::preset("web-agent").unwrap()).into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["cancel_task", "list_tasks", "pause_task", "resume_task", "schedule_task", "update_task"]);
        assert!(tools.offered(&PermissionProfile::least_privilege()).is_empty(), "scheduling is privileged");
    }
}
