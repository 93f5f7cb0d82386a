//! EventBridge Scheduler adapter for task schedules, all in the platform's schedule group.
//!
//! - create: the target is the scheduler function (its ARN, the role Scheduler assumes to invoke
//!   it, and the task's input JSON); flexible time window off; one-time (`at()`) schedules delete
//!   themselves after they fired (`ActionAfterCompletion: DELETE`); retries for at most an hour,
//!   then the firing goes to the dead-letter queue when one is configured ([`target`], which the
//!   approval timeouts' schedules use too).
//! - enable/disable and redefine: `UpdateSchedule` replaces every field, so the schedule is read
//!   first (`GetSchedule`) and everything not being changed is sent back as read: above all the
//!   target (replacing it on pause would leave a schedule that fires nothing).
//! - A recurring schedule's start date in the past may be refused on update, so an interval's
//!   start moves to its next firing (the rhythm is kept).

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState,
    Target,
};
use aws_smithy_types::DateTime;
use jiff::Timestamp;

use crate::sdk::describe_sdk_error;
use clawless_core::approvals::ApprovalError;
use clawless_core::domain::permissions::PermissionRequest;
use clawless_core::ports::TimeoutScheduler;
use clawless_core::tasks::spec::rate_minutes;
use clawless_core::tasks::{ScheduleApi, ScheduleDefinition, ScheduleTarget, TaskError};

pub use aws_sdk_scheduler::Client as SchedulerClient;

/// How long Scheduler keeps retrying a firing the function could not take.
pub const MAX_EVENT_AGE_SECS: i32 = 3600;
pub const MAX_RETRY_ATTEMPTS: i32 = 5;

/// A schedule's target as every schedule of the platform has it: the function, the role Scheduler
/// assumes to invoke it, the input, retries for at most [`MAX_EVENT_AGE_SECS`], and, when given,
/// the standard SQS queue Scheduler sends a firing to once those retries are spent (what it could
/// not deliver: throttled, refused, the function or its permission gone). Without a queue such a
/// firing is dropped, unseen.
pub fn target(
    arn: &str,
    role_arn: &str,
    input: impl Into<String>,
    dead_letter_arn: Option<&str>,
) -> Result<Target, aws_sdk_scheduler::error::BuildError> {
    let retry = RetryPolicy::builder()
        .maximum_event_age_in_seconds(MAX_EVENT_AGE_SECS)
        .maximum_retry_attempts(MAX_RETRY_ATTEMPTS)
        .build();
    Target::builder()
        .arn(arn)
        .role_arn(role_arn)
        .input(input)
        .retry_policy(retry)
        .set_dead_letter_config(dead_letter_arn.map(|arn| DeadLetterConfig::builder().arn(arn).build()))
        .build()
}

fn err<E, R>(operation: &str, e: &aws_sdk_scheduler::error::SdkError<E, R>) -> TaskError
where
    E: aws_sdk_scheduler::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    TaskError::Schedule(format!("{operation}: {}", describe_sdk_error(e)))
}

fn build_err(e: impl std::fmt::Display) -> TaskError {
    TaskError::Schedule(e.to_string())
}

fn state(enabled: bool) -> ScheduleState {
    if enabled { ScheduleState::Enabled } else { ScheduleState::Disabled }
}

/// A start date Scheduler accepts on update: an interval's start in the past moves to its next
/// firing after `now`, keeping the rhythm. Other start dates stay as they are.
pub fn current_start(start: Option<&DateTime>, expression: &str, now: Timestamp) -> Option<DateTime> {
    let start = start?;
    let secs = start.secs();
    match rate_minutes(expression) {
        Some(minutes) if secs <= now.as_second() => {
            let period = i64::from(minutes) * 60;
            let k = (now.as_second() - secs) / period + 1;
            Some(DateTime::from_secs(secs + k * period))
        }
        _ => Some(*start),
    }
}

#[derive(Clone)]
pub struct Schedules {
    client: Client,
    group: String,
}

impl Schedules {
    pub fn new(client: Client, group: impl Into<String>) -> Self {
        Self { client, group: group.into() }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    async fn read(&self, name: &str) -> Result<Option<GetScheduleOutput>, TaskError> {
        match self.client.get_schedule().group_name(&self.group).name(name).send().await {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(err("GetSchedule", &e)),
        }
    }

    /// Sends `current` back with the given changes (everything else as read).
    async fn write_back(
        &self,
        name: &str,
        current: GetScheduleOutput,
        definition: Option<&ScheduleDefinition>,
        enabled: Option<bool>,
        now: Timestamp,
    ) -> Result<(), TaskError> {
        let target = current.target().cloned().ok_or_else(|| TaskError::Schedule(format!("{name} has no target")))?;
        let expression = match definition {
            Some(d) => d.expression.clone(),
            None => current.schedule_expression().unwrap_or_default().to_owned(),
        };
        let timezone = match definition {
            Some(d) => Some(d.timezone.clone()),
            None => current.schedule_expression_timezone().map(str::to_owned),
        };
        let start = match definition {
            Some(d) => d.start.map(|t| DateTime::from_secs(t.as_second())),
            None => current.start_date().copied(),
        };
        let action = match definition {
            Some(d) if d.one_time => Some(ActionAfterCompletion::Delete),
            Some(_) => Some(ActionAfterCompletion::None),
            None => current.action_after_completion().cloned(),
        };
        let state = match enabled {
            Some(e) => Some(state(e)),
            None => current.state().cloned(),
        };
        let window = current.flexible_time_window().cloned().map(Ok).unwrap_or_else(|| {
            FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(build_err)
        })?;
        self.client
            .update_schedule()
            .group_name(&self.group)
            .name(name)
            .schedule_expression(&expression)
            .set_schedule_expression_timezone(timezone)
            .set_start_date(current_start(start.as_ref(), &expression, now))
            .set_end_date(current.end_date().copied())
            .set_description(current.description().map(str::to_owned))
            .set_kms_key_arn(current.kms_key_arn().map(str::to_owned))
            .set_action_after_completion(action)
            .set_state(state)
            .flexible_time_window(window)
            .target(target)
            .send()
            .await
            .map_err(|e| err("UpdateSchedule", &e))?;
        Ok(())
    }
}

#[async_trait]
impl ScheduleApi for Schedules {
    async fn create(
        &self,
        name: &str,
        definition: &ScheduleDefinition,
        target: &ScheduleTarget,
        input: &str,
    ) -> Result<(), TaskError> {
        let target = self::target(&target.function_arn, &target.role_arn, input, target.dead_letter_arn.as_deref())
            .map_err(build_err)?;
        let window = FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(build_err)?;
        let action = if definition.one_time { ActionAfterCompletion::Delete } else { ActionAfterCompletion::None };
        self.client
            .create_schedule()
            .group_name(&self.group)
            .name(name)
            .schedule_expression(&definition.expression)
            .schedule_expression_timezone(&definition.timezone)
            .set_start_date(definition.start.map(|t| DateTime::from_secs(t.as_second())))
            .flexible_time_window(window)
            .target(target)
            .state(state(definition.enabled))
            .action_after_completion(action)
            .description("clawless scheduled task")
            .send()
            .await
            .map_err(|e| err("CreateSchedule", &e))?;
        Ok(())
    }

    async fn set_enabled(&self, name: &str, enabled: bool, now: Timestamp) -> Result<bool, TaskError> {
        let Some(current) = self.read(name).await? else { return Ok(false) };
        if current.state() == Some(&state(enabled)) {
            return Ok(true);
        }
        self.write_back(name, current, None, Some(enabled), now).await?;
        Ok(true)
    }

    async fn redefine(&self, name: &str, definition: &ScheduleDefinition, now: Timestamp) -> Result<bool, TaskError> {
        let Some(current) = self.read(name).await? else { return Ok(false) };
        self.write_back(name, current, Some(definition), None, now).await?;
        Ok(true)
    }

    async fn delete(&self, name: &str) -> Result<bool, TaskError> {
        match self.client.delete_schedule().group_name(&self.group).name(name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(false),
            Err(e) => Err(err("DeleteSchedule", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_retries_and_dead_letters_when_a_queue_is_given() {
        let queue = "arn:aws:sqs:us-east-1:123456789012:clawless-schedule-dlq";
        let t = target("arn:f", "arn:r", "{}", Some(queue)).unwrap();
        assert_eq!(t.dead_letter_config().and_then(|d| d.arn()), Some(queue));
        let retry = t.retry_policy().unwrap();
        assert_eq!(retry.maximum_event_age_in_seconds(), Some(MAX_EVENT_AGE_SECS));
        assert_eq!(retry.maximum_retry_attempts(), Some(MAX_RETRY_ATTEMPTS));
        let without = target("arn:f", "arn:r", "{}", None).unwrap();
        assert!(without.dead_letter_config().is_none());
        assert!(without.retry_policy().is_some());
    }

    #[test]
    fn an_interval_start_in_the_past_moves_to_its_next_firing() {
        let now: Timestamp = "2026-03-02T10:07:23Z".parse().unwrap();
        let start = DateTime::from_secs("2026-03-02T09:00:00Z".parse::<Timestamp>().unwrap().as_second());
        let moved = current_start(Some(&start), "rate(15 minutes)", now).unwrap();
        assert_eq!(moved.secs(), "2026-03-02T10:15:00Z".parse::<Timestamp>().unwrap().as_second());
        let future = DateTime::from_secs(now.as_second() + 600);
        assert_eq!(current_start(Some(&future), "rate(15 minutes)", now), Some(future));
        assert_eq!(current_start(Some(&start), "cron(0 9 ? * MON *)", now), Some(start));
        assert_eq!(current_start(None, "rate(1 hour)", now), None);
    }
}

/// The one-time schedules that expire requests (`apr-{request id}` in the platform's group).
#[derive(Clone)]
pub struct TimeoutSchedules {
    pub client: aws_sdk_scheduler::Client,
    pub group: String,
    /// The approval-timeout function, and the role Scheduler assumes to invoke it.
    pub target_arn: String,
    pub role_arn: String,
    /// Where Scheduler puts a timeout it could not deliver (`CLAWLESS_SCHEDULE_DLQ_ARN`; optional).
    pub dead_letter_arn: Option<String>,
}

impl TimeoutSchedules {
    pub fn name(request_id: &str) -> String {
        format!("apr-{request_id}")
    }
}

#[async_trait]
impl TimeoutScheduler for TimeoutSchedules {
    /// Creates the schedule firing at the request's expiry; an existing one is fine (retries).
    async fn create(&self, request: &PermissionRequest) -> Result<(), ApprovalError> {
        use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode};
        let at = jiff::Timestamp::from_millisecond(request.expires_at_ms)
            .map_err(|e| ApprovalError::Invalid(e.to_string()))?
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string();
        let input = serde_json::json!({
            "kind": "approval_timeout",
            "tenant_id": request.conversation.tenant_id,
            "request_id": request.request_id,
        })
        .to_string();
        let build = |e: aws_sdk_scheduler::error::BuildError| ApprovalError::Schedule {
            operation: "CreateSchedule",
            detail: e.to_string(),
        };
        let target = target(&self.target_arn, &self.role_arn, input, self.dead_letter_arn.as_deref()).map_err(build)?;
        let window = FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(build)?;
        let result = self
            .client
            .create_schedule()
            .group_name(&self.group)
            .name(Self::name(&request.request_id))
            .schedule_expression(format!("at({at})"))
            .schedule_expression_timezone("UTC")
            .action_after_completion(ActionAfterCompletion::Delete)
            .flexible_time_window(window)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => Ok(()),
            Err(e) => Err(ApprovalError::Schedule { operation: "CreateSchedule", detail: describe_sdk_error(&e) }),
        }
    }

    /// Deletes the schedule of a decided request; already gone is fine.
    async fn delete(&self, request_id: &str) -> Result<(), ApprovalError> {
        let result = self.client.delete_schedule().group_name(&self.group).name(Self::name(request_id)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(ApprovalError::Schedule { operation: "DeleteSchedule", detail: describe_sdk_error(&e) }),
        }
    }
}
