//! The task service against the in-memory record store and Scheduler.

use std::sync::Arc;

use super::memory::{MemorySchedules, MemoryTasks};
use super::*;
use crate::domain::ids::ConversationId;

const NOW: i64 = 1_772_446_043_000; // 2026-03-02T10:07:23Z

fn conversation(chat: &str) -> ConversationRef {
    ConversationRef {
        tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
        bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse(chat).unwrap(),
    }
}

fn target() -> ScheduleTarget {
    ScheduleTarget {
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:scheduler".into(),
        role_arn: "arn:aws:iam::123456789012:role/clawless-scheduler-invoke".into(),
        dead_letter_arn: None,
    }
}

struct Fixture {
    tasks: Arc<MemoryTasks>,
    schedules: Arc<MemorySchedules>,
    manager: TaskManager,
}

fn fixture(max: u32, default_timezone: Option<&str>) -> Fixture {
    let tasks = Arc::new(MemoryTasks::default());
    let schedules = Arc::new(MemorySchedules::default());
    let settings = TaskSettings {
        target: Some(target()),
        max_per_bot: max,
        default_timezone: default_timezone.map(str::to_owned),
    };
    let manager = TaskManager::new(tasks.clone(), schedules.clone(), settings);
    Fixture { tasks, schedules, manager }
}

fn new_task(kind: ScheduleType, value: &str, timezone: Option<&str>) -> NewTask {
    NewTask {
        prompt: "Remind the team about the stand-up".into(),
        schedule_type: kind,
        schedule_value: value.into(),
        context_mode: ContextMode::Group,
        timezone: timezone.map(str::to_owned),
        created_by: "4242".into(),
    }
}

#[tokio::test]
async fn a_cron_task_gets_its_schedule_with_the_scheduler_function_as_target() {
    let f = fixture(20, None);
    let conv = conversation("4242");
    let task =
        f.manager.create(&conv, new_task(ScheduleType::Cron, "0 9 * * 1", Some("Europe/Berlin")), NOW).await.unwrap();
    assert_eq!(task.schedule_value, "0 9 ? * MON *");
    assert_eq!(task.expression, "cron(0 9 ? * MON *)");
    assert_eq!(task.view().next_run.as_deref(), Some("2026-03-09T09:00:00+01:00"));
    assert_eq!(task.route, ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None });
    assert!(task.is_direct);

    let name = format!("t0123456789abcdef0123-{}-{}", conv.bot_id, &task.task_id.as_str()[1..]);
    assert_eq!(name.len(), 64, "Scheduler's limit");
    assert_eq!(task.schedule_name(), name);
    let schedule = f.schedules.get(&name).unwrap();
    assert_eq!(schedule.target, target());
    assert_eq!(schedule.definition.timezone, "Europe/Berlin");
    assert!(schedule.definition.enabled && !schedule.definition.one_time);
    let input: serde_json::Value = serde_json::from_str(&schedule.input).unwrap();
    assert_eq!(input["kind"], "scheduled_task");
    assert_eq!(input["task_id"], task.task_id.as_str());
    assert_eq!(input["scheduled_time"], "<aws.scheduler.scheduled-time>");
}

#[tokio::test]
async fn pause_and_resume_keep_the_target_and_input() {
    let f = fixture(20, Some("UTC"));
    let conv = conversation("4242");
    let task = f.manager.create(&conv, new_task(ScheduleType::Interval, "15 minutes", None), NOW).await.unwrap();
    let name = task.schedule_name();
    let before = f.schedules.get(&name).unwrap();
    assert_eq!(before.definition.expression, "rate(15 minutes)");
    assert_eq!(before.definition.start.unwrap().to_string(), "2026-03-02T10:22:00Z");

    let scope = Scope::Conversation(conv.clone());
    let paused = f.manager.pause(&scope, task.task_id.as_str(), NOW + 1000).await.unwrap();
    assert_eq!(paused.status, TaskStatus::Paused);
    assert_eq!(paused.next_run_ms, None);
    let disabled = f.schedules.get(&name).unwrap();
    assert!(!disabled.definition.enabled);
    assert_eq!((disabled.target, disabled.input), (before.target.clone(), before.input.clone()));
    // Pausing again is harmless.
    f.manager.pause(&scope, task.task_id.as_str(), NOW + 2000).await.unwrap();

    let later = NOW + 3_600_000;
    let resumed = f.manager.resume(&scope, task.task_id.as_str(), later).await.unwrap();
    assert_eq!(resumed.status, TaskStatus::Active);
    // The rhythm from the first firing (10:22) is kept: after 11:07:23 comes 11:22.
    assert_eq!(resumed.view().next_run.as_deref(), Some("2026-03-02T11:22:00+00:00"));
    let enabled = f.schedules.get(&name).unwrap();
    assert!(enabled.definition.enabled);
    assert_eq!((enabled.target, enabled.input), (before.target, before.input));
}

#[tokio::test]
async fn an_agent_sees_and_changes_only_its_own_conversation() {
    let f = fixture(20, Some("UTC"));
    let mine = conversation("4242");
    let other = conversation("777");
    let theirs = f.manager.create(&other, new_task(ScheduleType::Interval, "1h", None), NOW).await.unwrap();
    let own = f.manager.create(&mine, new_task(ScheduleType::Interval, "2h", None), NOW).await.unwrap();

    let scope = Scope::Conversation(mine.clone());
    let listed = f.manager.list(&scope).await.unwrap();
    assert_eq!(listed.iter().map(|t| &t.task_id).collect::<Vec<_>>(), [&own.task_id]);
    for result in [
        f.manager.pause(&scope, theirs.task_id.as_str(), NOW).await,
        f.manager.cancel(&scope, theirs.task_id.as_str()).await,
        f.manager.update(&scope, theirs.task_id.as_str(), TaskChanges::default(), NOW).await,
    ] {
        assert!(matches!(result, Err(TaskError::NotFound(_))), "{result:?}");
    }
    assert!(matches!(f.manager.get(&scope, "not-a-task").await, Err(TaskError::NotFound(_))));
    // The operator sees the bot's tasks.
    let bot = Scope::Bot { tenant_id: mine.tenant_id.clone(), bot_id: mine.bot_id.clone() };
    assert_eq!(f.manager.list(&bot).await.unwrap().len(), 2);
    assert_eq!(f.tasks.all().iter().find(|t| t.task_id == theirs.task_id).unwrap().status, TaskStatus::Active);
}

#[tokio::test]
async fn a_bot_has_at_most_its_limit_of_open_tasks() {
    let f = fixture(2, Some("UTC"));
    let conv = conversation("4242");
    let a = f.manager.create(&conv, new_task(ScheduleType::Interval, "1m", None), NOW).await.unwrap();
    f.manager.create(&conv, new_task(ScheduleType::Interval, "2m", None), NOW).await.unwrap();
    let refused = f.manager.create(&conv, new_task(ScheduleType::Interval, "3m", None), NOW).await;
    assert_eq!(refused.unwrap_err(), TaskError::LimitReached { max: 2 });
    assert_eq!(f.schedules.names().len(), 2, "nothing was scheduled for the refused task");
    f.manager.cancel(&Scope::Conversation(conv.clone()), a.task_id.as_str()).await.unwrap();
    assert_eq!(f.schedules.names().len(), 1, "cancel deletes the schedule");
    f.manager.create(&conv, new_task(ScheduleType::Interval, "3m", None), NOW).await.unwrap();
}

#[tokio::test]
async fn bad_schedules_are_refused_with_clear_errors_and_nothing_is_stored() {
    let f = fixture(20, None);
    let conv = conversation("4242");
    for (kind, value, tz, expected) in [
        (ScheduleType::Interval, "0 minutes", None, "at least 1 minute"),
        (ScheduleType::Interval, "30 seconds", None, "whole minutes"),
        (ScheduleType::Cron, "0 9 * * MON *", None, "cannot both"),
        (ScheduleType::Cron, "61 * * * *", None, "minutes"),
        (ScheduleType::Once, "2026-03-03T09:00", None, "give a timezone"),
        (ScheduleType::Once, "2026-03-01T09:00", Some("Europe/Berlin"), "not in the future"),
        (ScheduleType::Once, "2026-03-03T09:00", Some("Moon/Base"), "unknown timezone"),
        (ScheduleType::Cron, "0 0 1 1 ? 2020", None, "never fires"),
    ] {
        let e = f.manager.create(&conv, new_task(kind, value, tz), NOW).await.unwrap_err();
        assert!(e.to_string().contains(expected), "{value}: {e}");
    }
    let mut empty = new_task(ScheduleType::Interval, "1h", None);
    empty.prompt = "  ".into();
    assert!(f.manager.create(&conv, empty, NOW).await.unwrap_err().to_string().contains("prompt is empty"));
    assert!(f.tasks.all().is_empty() && f.schedules.names().is_empty());
}

#[tokio::test]
async fn once_uses_the_configured_zone_and_deletes_itself_after_it_fired() {
    let f = fixture(20, Some("America/New_York"));
    let conv = conversation("4242");
    let task = f.manager.create(&conv, new_task(ScheduleType::Once, "2026-03-03 09:00", None), NOW).await.unwrap();
    assert_eq!(task.timezone, "America/New_York");
    assert_eq!(task.expression, "at(2026-03-03T09:00:00)");
    assert_eq!(task.next_run_ms, Some("2026-03-03T14:00:00Z".parse::<Timestamp>().unwrap().as_millisecond()));
    let schedule = f.schedules.get(&task.schedule_name()).unwrap();
    assert!(schedule.definition.one_time, "ActionAfterCompletion DELETE");
}

#[tokio::test]
async fn a_failed_schedule_takes_the_record_back() {
    let f = fixture(1, Some("UTC"));
    let conv = conversation("4242");
    *f.schedules.fail_next_create.lock().unwrap() = true;
    assert!(f.manager.create(&conv, new_task(ScheduleType::Interval, "1h", None), NOW).await.is_err());
    assert!(f.tasks.all().is_empty());
    f.manager.create(&conv, new_task(ScheduleType::Interval, "1h", None), NOW).await.unwrap();
}

#[tokio::test]
async fn update_changes_the_schedule_but_not_its_target() {
    let f = fixture(20, Some("UTC"));
    let conv = conversation("4242");
    let scope = Scope::Conversation(conv.clone());
    let task = f.manager.create(&conv, new_task(ScheduleType::Interval, "1h", None), NOW).await.unwrap();
    let before = f.schedules.get(&task.schedule_name()).unwrap();
    f.manager.pause(&scope, task.task_id.as_str(), NOW).await.unwrap();
    let changes = TaskChanges {
        prompt: Some("Post the weekly report".into()),
        schedule_type: Some(ScheduleType::Cron),
        schedule_value: Some("0 17 ? * FRI *".into()),
        context_mode: Some(ContextMode::Isolated),
        timezone: Some("Europe/Paris".into()),
    };
    let updated = f.manager.update(&scope, task.task_id.as_str(), changes, NOW).await.unwrap();
    assert_eq!(updated.expression, "cron(0 17 ? * FRI *)");
    assert_eq!(updated.context_mode, ContextMode::Isolated);
    assert_eq!(updated.status, TaskStatus::Paused);
    let after = f.schedules.get(&task.schedule_name()).unwrap();
    assert_eq!(after.definition.expression, "cron(0 17 ? * FRI *)");
    assert_eq!(after.definition.timezone, "Europe/Paris");
    assert!(!after.definition.enabled, "a paused task stays paused");
    assert_eq!((after.target, after.input), (before.target, before.input));
    let stored = f.tasks.all().remove(0);
    assert_eq!(stored.prompt, "Post the weekly report");

    let only_type = TaskChanges { schedule_type: Some(ScheduleType::Once), ..TaskChanges::default() };
    assert!(f.manager.update(&scope, task.task_id.as_str(), only_type, NOW).await.is_err());
}

#[test]
fn configuration_from_the_environment() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &'static str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    assert_eq!(TaskConfig::from_lookup(vars(&[])).unwrap(), None);
    let c = TaskConfig::from_lookup(vars(&[
        ("CLAWLESS_SCHEDULE_GROUP", "clawless"),
        ("CLAWLESS_SCHEDULER_FUNCTION_ARN", "arn:f"),
        ("CLAWLESS_SCHEDULER_ROLE_ARN", "arn:r"),
        ("CLAWLESS_DEFAULT_TIMEZONE", "Europe/Berlin"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(c.group, "clawless");
    assert_eq!(c.settings.max_per_bot, DEFAULT_MAX_TASKS_PER_BOT);
    let target = c.settings.target.unwrap();
    assert_eq!(target.role_arn, "arn:r");
    assert_eq!(target.dead_letter_arn, None, "no dead-letter queue unless configured");
    let with_dlq = TaskConfig::from_lookup(vars(&[
        ("CLAWLESS_SCHEDULE_GROUP", "clawless"),
        ("CLAWLESS_SCHEDULER_FUNCTION_ARN", "arn:f"),
        ("CLAWLESS_SCHEDULER_ROLE_ARN", "arn:r"),
        ("CLAWLESS_SCHEDULE_DLQ_ARN", "arn:aws:sqs:us-east-1:123456789012:clawless-schedule-dlq"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(
        with_dlq.settings.target.unwrap().dead_letter_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:clawless-schedule-dlq")
    );
    assert!(
        TaskConfig::from_lookup(vars(&[("CLAWLESS_SCHEDULE_GROUP", "g"), ("CLAWLESS_SCHEDULER_ROLE_ARN", "r")]))
            .is_err()
    );
    assert!(
        TaskConfig::from_lookup(vars(&[("CLAWLESS_SCHEDULE_GROUP", "g"), ("CLAWLESS_DEFAULT_TIMEZONE", "Nowhere")]))
            .is_err()
    );
}

#[test]
fn routes_and_directness_come_from_the_conversation() {
    let slack = ConversationRef { channel: ChannelKind::Slack, ..conversation("D0123") };
    assert_eq!(standing_route(&slack).unwrap(), ReplyRoute::Slack { channel_id: "D0123".into(), thread_ts: None });
    assert!(is_direct_conversation(&slack));
    assert!(!is_direct_conversation(&conversation("-1001234567890")), "a Telegram group");
    let odd = conversation("not-a-number");
    assert!(standing_route(&odd).is_err());
}
