//! The task service: create, list, pause, resume, cancel and update, keeping the record and
//! the schedule in step.

use std::sync::Arc;

use super::*;

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
