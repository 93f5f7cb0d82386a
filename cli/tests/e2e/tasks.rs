//! Scheduled tasks end to end: the agent (a scripted Bedrock model) schedules a recurring and a
//! one-time task with its tools; the local scheduler fires them from moto's EventBridge
//! Scheduler (its clock frozen and moved by the test); the scheduler function queues each firing
//! in the conversation and the answers reach Telegram. Pause stops firings, resume restarts them
//! with the schedule's target unchanged, two firings a minute apart both run, cancel removes the
//! schedule.

use std::time::Duration;

use aws_sdk_scheduler::types::ScheduleState;
use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_aws::dynamodb::Store;
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::support::*;
use crate::telegram::{post_update, sample_update, sent_messages, telegram_stand_in};

const WAIT: Duration = Duration::from_secs(45);

async fn stack(telegram: String, model: String) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.channel_apis = [("telegram".to_owned(), telegram)].into();
    options.agent_env =
        vec![("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()), ("CLAWLESS_BEDROCK_ENDPOINT".into(), model)];
    options.scheduler_tick = Duration::from_millis(150);
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

async fn messages_at_least(telegram: &wiremock::MockServer, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} messages at the Telegram stand-in"), || async {
        let sent = sent_messages(telegram).await;
        (sent.len() >= n).then_some(sent)
    })
    .await
}

fn find<'a>(tasks: &'a Value, schedule_type: &str) -> &'a Value {
    tasks["tasks"].as_array().unwrap().iter().find(|t| t["schedule_type"] == schedule_type).unwrap()
}

fn time(value: &Value) -> Timestamp {
    value.as_str().unwrap_or_else(|| panic!("a time, not {value}")).parse().unwrap()
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_second(t.as_second() + secs).unwrap()
}

/// (state, target arn, role arn, input) of a schedule, or None if it is gone.
async fn schedule(stack: &LocalStack, name: &str) -> Option<(ScheduleState, String, String, String, Option<String>)> {
    let client = aws_sdk_scheduler::Client::new(&stack.sdk);
    let out = client.get_schedule().group_name(&stack.stack).name(name).send().await.ok()?;
    let target = out.target().unwrap();
    Some((
        out.state().cloned().unwrap(),
        target.arn().to_owned(),
        target.role_arn().to_owned(),
        target.input().unwrap_or_default().to_owned(),
        out.action_after_completion().map(|a| a.as_str().to_owned()),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_tasks_fire_pause_resume_and_cancel() {
    let call = |input: Value| ScriptedTurn::ToolCall { name: "schedule_task".into(), input };
    let model = ModelStandIn::bedrock(vec![
        call(json!({
            "prompt": "Remind the team about the stand-up",
            "schedule_type": "interval",
            "schedule_value": "1 minute",
            "context_mode": "isolated"
        })),
        call(json!({"prompt": "Check the status page", "schedule_type": "once", "schedule_value": "in 3 minutes"})),
        ScriptedTurn::Text("I scheduled both.".into()),
        ScriptedTurn::Text("Stand-up reminder 1".into()),
        ScriptedTurn::Text("Stand-up reminder 2".into()),
        ScriptedTurn::Text("The status page is green.".into()),
        ScriptedTurn::Text("Stand-up reminder 3".into()),
    ])
    .await;
    let telegram = telegram_stand_in().await;
    let stack = stack(telegram.uri(), model.url()).await;
    let scheduler = stack.scheduler.clone().expect("the template has a schedule group");
    let clock = scheduler.clock().clone();
    clock.freeze();
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    // Scheduling is privileged: least privilege would only ask for approval.
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--preset", "web-agent"]).unwrap();

    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await.status(), 200);
    let sent = messages_at_least(&telegram, 1).await;
    assert_eq!(sent[0]["text"], "I scheduled both.");

    let tasks = clawless(&stack, &["tasks", "list", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 2, "{tasks}");
    let interval = find(&tasks, "interval").clone();
    let once = find(&tasks, "once").clone();
    for task in [&interval, &once] {
        assert_eq!(task["bot_id"], bot.bot_id.as_str());
        assert_eq!(task["conversation_id"], "4242");
        assert_eq!(task["status"], "active");
        assert_eq!(task["timezone"], "UTC");
        assert_eq!(task["run_count"], 0);
        assert_eq!(task["last_run"], Value::Null);
    }
    assert_eq!(interval["schedule_value"], "1 minute");
    assert_eq!(interval["context_mode"], "isolated");
    assert_eq!(once["context_mode"], "group");
    let (interval_id, once_id) = (interval["task_id"].as_str().unwrap(), once["task_id"].as_str().unwrap());
    let first = time(&interval["next_run"]);
    let at = time(&once["next_run"]);

    let name_of = |task: &str| format!("{}-{}-{}", bot.tenant_id, bot.bot_id, &task[1..]);
    let (interval_name, once_name) = (name_of(interval_id), name_of(once_id));
    let original = schedule(&stack, &interval_name).await.expect("the interval's schedule");
    assert_eq!(original.0, ScheduleState::Enabled);
    assert!(original.1.ends_with(":function:SchedulerFunction"), "{}", original.1);
    assert!(original.2.ends_with(":role/clawless-scheduler-invoke"), "{}", original.2);
    let input: Value = serde_json::from_str(&original.3).unwrap();
    assert_eq!(input["task_id"], interval_id);
    assert_eq!(input["scheduled_time"], "<aws.scheduler.scheduled-time>");
    let one_time = schedule(&stack, &once_name).await.expect("the one-time schedule");
    assert_eq!(one_time.4.as_deref(), Some("DELETE"));

    // Two firings a minute apart: both run (nothing deduplicates them by content).
    clock.set(first);
    let sent = messages_at_least(&telegram, 2).await;
    assert_eq!(sent[1]["text"], "Stand-up reminder 1");
    clock.set(plus(first, 60));
    let sent = messages_at_least(&telegram, 3).await;
    assert_eq!(sent[2]["text"], "Stand-up reminder 2");
    // Answers to firings go to the chat itself, not as a reply to an old message.
    assert!(sent[1..].iter().all(|m| m["chat_id"] == 4242 && m.get("reply_parameters").is_none()), "{sent:?}");

    let requests = model.requests();
    let firing = requests[3].to_string();
    assert!(firing.contains("[scheduled task] Remind the team about the stand-up"), "{firing}");
    assert!(firing.contains("nobody is waiting"), "the prompt says nobody waits");
    assert!(!firing.contains("hello bot"), "an isolated task runs without the conversation's history");

    // Pause: no firing, the schedule disabled with the same target.
    let paused = clawless(&stack, &["tasks", "pause", "--bot", &bot.bot_id, "--task", interval_id]).unwrap();
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["next_run"], Value::Null);
    let disabled = schedule(&stack, &interval_name).await.unwrap();
    assert_eq!(disabled.0, ScheduleState::Disabled);
    assert_eq!((&disabled.1, &disabled.2, &disabled.3), (&original.1, &original.2, &original.3));

    // The one-time task fires (in the conversation's context) while the interval is paused.
    assert!(at > plus(first, 60), "the one-time task comes after the second reminder");
    clock.set(at);
    let sent = messages_at_least(&telegram, 4).await;
    assert_eq!(sent[3]["text"], "The status page is green.");
    let requests = model.requests();
    let firing = requests[5].to_string();
    assert!(firing.contains("Check the status page") && firing.contains("hello bot"), "{firing}");
    eventually(WAIT, "the one-time schedule to delete itself", || async {
        schedule(&stack, &once_name).await.is_none().then_some(())
    })
    .await;
    let tasks = clawless(&stack, &["tasks", "list", "--bot", &bot.bot_id]).unwrap();
    let done = find(&tasks, "once");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["run_count"], 1);
    assert_eq!(time(&done["last_run"]), at);
    let interval_firings = scheduler.firings().iter().filter(|f| f.schedule == interval_name).count();
    assert_eq!(interval_firings, 2, "a paused task does not fire");

    // Resume: the same target, firing again from the next minute on.
    let resumed = clawless(&stack, &["tasks", "resume", "--bot", &bot.bot_id, "--task", interval_id]).unwrap();
    assert_eq!(resumed["status"], "active");
    let enabled = schedule(&stack, &interval_name).await.unwrap();
    assert_eq!(enabled.0, ScheduleState::Enabled);
    assert_eq!((&enabled.1, &enabled.2, &enabled.3), (&original.1, &original.2, &original.3));
    let next = plus(first, 60 * ((at.as_second() - first.as_second()) / 60 + 1));
    clock.set(next);
    let sent = messages_at_least(&telegram, 5).await;
    assert_eq!(sent[4]["text"], "Stand-up reminder 3");
    let tasks = clawless(&stack, &["tasks", "list", "--bot", &bot.bot_id]).unwrap();
    let running = find(&tasks, "interval");
    assert_eq!(running["run_count"], 3);
    assert_eq!(time(&running["last_run"]), next);

    // Every firing is a message of the conversation, with its own id.
    let conversation = ConversationRef {
        tenant_id: TenantId::parse(&bot.tenant_id).unwrap(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse("4242").unwrap(),
    };
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.tables["DataTable"]);
    let lines = store.conversation(&conversation).await.unwrap();
    let fired: Vec<&str> = lines.iter().filter(|m| m.sender_id == "scheduler").map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        fired,
        [
            format!("task-{interval_id}-{}", first.as_second()),
            format!("task-{interval_id}-{}", first.as_second() + 60),
            format!("task-{once_id}-{}", at.as_second()),
            format!("task-{interval_id}-{}", next.as_second()),
        ]
    );

    // Cancel: the schedule is gone and nothing fires any more.
    let cancelled = clawless(&stack, &["tasks", "cancel", "--bot", &bot.bot_id, "--task", interval_id]).unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(schedule(&stack, &interval_name).await.is_none(), "cancel deletes the schedule");
    let tasks = clawless(&stack, &["tasks", "list", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1, "only the completed one-time task is left: {tasks}");
    let firings = scheduler.firings().len();
    clock.set(plus(next, 600));
    tokio::time::sleep(Duration::from_secs(1)).await;
    quiet(&stack).await;
    assert_eq!(scheduler.firings().len(), firings);
    assert_eq!(sent_messages(&telegram).await.len(), 5);
    assert!(scheduler.firings().iter().all(|f| f.result.as_ref().is_ok_and(|r| r.contains("\"enqueued\""))));

    let err = clawless(&stack, &["tasks", "pause", "--bot", &bot.bot_id, "--task", interval_id]).unwrap_err();
    assert!(err.contains("no task"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_function_stops_cleanly_for_a_task_that_is_gone() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let function = &stack.functions["SchedulerFunction"];
    let event = sample_event("scheduler-task.json");

    // The sample event names a bot that does not exist.
    let answer: Value = serde_json::from_slice(&function.invoke(event.to_string().into()).await.unwrap()).unwrap();
    assert_eq!(answer["outcome"], "bot_gone", "{answer}");

    // A real bot, a task that does not exist (or was cancelled): its schedule is deleted.
    let client = aws_sdk_scheduler::Client::new(&stack.sdk);
    let name = format!("{}-{}-0123456789abcdef0123", bot.tenant_id, bot.bot_id);
    let target = aws_sdk_scheduler::types::Target::builder()
        .arn("arn:aws:lambda:us-east-1:123456789012:function:SchedulerFunction")
        .role_arn("arn:aws:iam::123456789012:role/clawless-scheduler-invoke")
        .input("{}")
        .build()
        .unwrap();
    let window = aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
        .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
        .build()
        .unwrap();
    client
        .create_schedule()
        .group_name(&stack.stack)
        .name(&name)
        .schedule_expression("rate(1 day)")
        .flexible_time_window(window)
        .target(target)
        .send()
        .await
        .unwrap();
    let real = event
        .to_string()
        .replace("t0123456789abcdef0123", &bot.tenant_id)
        .replace("b0123456789abcdef0123", &bot.bot_id);
    let answer: Value = serde_json::from_slice(&function.invoke(real.into()).await.unwrap()).unwrap();
    assert_eq!(answer["outcome"], "task_gone", "{answer}");
    assert!(schedule(&stack, &name).await.is_none(), "the orphaned schedule is deleted");

    // Another tenant's id with this bot: refused, nothing touched.
    let other = clawless(&stack, &["tenant", "create", "--name", "other"]).unwrap();
    let forged = event
        .to_string()
        .replace("t0123456789abcdef0123", other["tenant_id"].as_str().unwrap())
        .replace("b0123456789abcdef0123", &bot.bot_id);
    let answer: Value = serde_json::from_slice(&function.invoke(forged.into()).await.unwrap()).unwrap();
    assert_eq!(answer["outcome"], "tenant_mismatch", "{answer}");

    let bad = r#"{"kind":"scheduled_task","tenant_id":"t0123456789abcdef0123","bot_id":"b0123456789abcdef0123","task_id":"../x"}"#;
    assert!(function.invoke(bad.into()).await.is_err(), "a malformed task id is refused");
}
