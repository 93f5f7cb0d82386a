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
use serde_json::{Value, json};

use super::{Tool, ToolBox, ToolContext, ToolError, optional_str, required_str};
use crate::provider::ToolSpec;
use crate::services::TenantServices;

/// Who a task created by the agent is recorded as created by.
const CREATED_BY: &str = "agent";

/// Adds the six task tools, working through `services`.
pub fn register(tools: &mut ToolBox, services: Arc<dyn TenantServices>) {
    for op in [Op::Schedule, Op::List, Op::Pause, Op::Resume, Op::Cancel, Op::Update] {
        tools.add(Arc::new(TaskTool { op, services: Arc::clone(&services) }));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Schedule,
    List,
    Pause,
    Resume,
    Cancel,
    Update,
}

pub struct TaskTool {
    op: Op,
    services: Arc<dyn TenantServices>,
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

fn schedule_properties() -> Value {
    json!({
        "schedule_type": {"type": "string", "enum": ["cron", "interval", "once"]},
        "schedule_value": {"type": "string", "description": SCHEDULE_HELP},
        "context_mode": {
            "type": "string",
            "enum": ["group", "isolated"],
            "description": "group: the run sees this conversation's history; isolated: it starts fresh."
        },
        "timezone": {
            "type": "string",
            "description": "IANA time zone (e.g. Europe/Berlin) for cron and local times; default: the platform's."
        }
    })
}

fn task_id_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"task_id": {"type": "string", "description": "The task's id (from list_tasks)."}},
        "required": ["task_id"]
    })
}

fn optional_enum<T>(input: &Value, key: &str, parse: fn(&str) -> Result<T, TaskError>) -> Result<Option<T>, ToolError> {
    optional_str(input, key).map(parse).transpose().map_err(to_tool_error)
}

impl TaskTool {
    async fn manager(&self, ctx: &ToolContext) -> Result<TaskManager, ToolError> {
        self.services
            .tasks(&ctx.conversation)
            .await
            .ok_or_else(|| ToolError::Failed("scheduled tasks are not configured on this platform".into()))
    }
}

#[async_trait]
impl Tool for TaskTool {
    fn spec(&self) -> ToolSpec {
        let (name, description, input_schema) = match self.op {
            Op::Schedule => {
                let mut properties = schedule_properties();
                properties["prompt"] = json!({"type": "string", "description": "What to do when it fires, written as an instruction to yourself."});
                (
                    "schedule_task",
                    format!(
                        "Schedule work for later or on repeat in this conversation (reminders, periodic checks). When \
                         it fires you get the prompt as a message and your answer is posted here; nobody is waiting \
                         then. {SCHEDULE_HELP}"
                    ),
                    json!({
                        "type": "object",
                        "properties": properties,
                        "required": ["prompt", "schedule_type", "schedule_value"]
                    }),
                )
            }
            Op::List => (
                "list_tasks",
                "List this conversation's scheduled tasks with their status and next and last run.".to_owned(),
                json!({"type": "object", "properties": {}}),
            ),
            Op::Pause => {
                ("pause_task", "Pause a scheduled task (it stops firing until resumed).".to_owned(), task_id_schema())
            }
            Op::Resume => ("resume_task", "Resume a paused task from its next firing.".to_owned(), task_id_schema()),
            Op::Cancel => ("cancel_task", "Cancel a scheduled task for good.".to_owned(), task_id_schema()),
            Op::Update => {
                let mut properties = schedule_properties();
                properties["task_id"] = json!({"type": "string"});
                properties["prompt"] = json!({"type": "string"});
                (
                    "update_task",
                    format!("Change a scheduled task: give only what changes. {SCHEDULE_HELP}"),
                    json!({"type": "object", "properties": properties, "required": ["task_id"]}),
                )
            }
        };
        ToolSpec { name: name.into(), description, input_schema }
    }

    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError> {
        let scope = Scope::Conversation(ctx.conversation.clone());
        let now = now_ms();
        match self.op {
            Op::Schedule => {
                let new = NewTask {
                    prompt: required_str(input, "prompt")?.to_owned(),
                    schedule_type: ScheduleType::parse(required_str(input, "schedule_type")?).map_err(to_tool_error)?,
                    schedule_value: required_str(input, "schedule_value")?.to_owned(),
                    context_mode: optional_enum(input, "context_mode", ContextMode::parse)?
                        .unwrap_or(ContextMode::Group),
                    timezone: optional_str(input, "timezone").map(str::to_owned),
                    created_by: CREATED_BY.into(),
                };
                let manager = self.manager(ctx).await?;
                let task = manager.create(&ctx.conversation, new, now).await.map_err(to_tool_error)?;
                Ok(shown(&task))
            }
            Op::List => {
                let tasks = self.manager(ctx).await?.list(&scope).await.map_err(to_tool_error)?;
                let views: Vec<_> = tasks.iter().map(Task::view).collect();
                Ok(json!({ "tasks": views }).to_string())
            }
            Op::Pause | Op::Resume | Op::Cancel => {
                let id = required_str(input, "task_id")?;
                let manager = self.manager(ctx).await?;
                let task = match self.op {
                    Op::Pause => manager.pause(&scope, id, now).await,
                    Op::Resume => manager.resume(&scope, id, now).await,
                    _ => manager.cancel(&scope, id).await,
                }
                .map_err(to_tool_error)?;
                if self.op == Op::Cancel {
                    return Ok(json!({ "cancelled": task.task_id.as_str() }).to_string());
                }
                Ok(shown(&task))
            }
            Op::Update => {
                let id = required_str(input, "task_id")?;
                let changes = TaskChanges {
                    prompt: optional_str(input, "prompt").map(str::to_owned),
                    schedule_type: optional_enum(input, "schedule_type", ScheduleType::parse)?,
                    schedule_value: optional_str(input, "schedule_value").map(str::to_owned),
                    context_mode: optional_enum(input, "context_mode", ContextMode::parse)?,
                    timezone: optional_str(input, "timezone").map(str::to_owned),
                };
                let task = self.manager(ctx).await?.update(&scope, id, changes, now).await.map_err(to_tool_error)?;
                Ok(shown(&task))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use clawless_core::domain::permissions::PermissionProfile;
    use clawless_core::tasks::memory::{MemorySchedules, MemoryTasks};
    use clawless_core::tasks::{ScheduleTarget, TaskSettings};

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
