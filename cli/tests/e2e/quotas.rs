//! Message rates and the concurrent-run cap end to end on the local stack, set with
//! `clawless quota set` and enforced by the dispatcher: a message over a rate gets one clear
//! answer and no model call; a message over the cap waits in its queue (going round its FIFO
//! group) and is answered once a run ends, never dropped.

use std::time::Duration;

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_aws::dynamodb::Store;
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_core::domain::usage::RunSlot;
use clawless_core::ports::LimitRepo;
use clawless_core::quota::{RATE_ANSWER, conversation_digest};
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::Value;

use crate::support::*;
use crate::telegram::{say_directly as say, sent_messages, telegram_stand_in, texts_to, wait_for_text_to};

const ADA: i64 = 4242;
const BEA: i64 = 5151;

/// A stack whose agents call `model` and whose dispatcher waits `wait_seconds` for a run slot
/// before a message goes round its group.
async fn stack(telegram: &wiremock::MockServer, model: &ModelStandIn, wait_seconds: u32) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.channel_apis = [("telegram".to_owned(), telegram.uri())].into();
    options.agent_env =
        vec![("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()), ("CLAWLESS_BEDROCK_ENDPOINT".into(), model.url())];
    options.function_env = vec![("CLAWLESS_RUN_WAIT_SECONDS".into(), wait_seconds.to_string())];
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_concurrency_cap_delays_a_run_and_never_drops_it() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::Text("Answer for Ada.".into()),
        ScriptedTurn::Text("Answer for Bea.".into()),
    ])
    .await;
    // Ada's run holds the only slot for 4 s; the dispatcher waits 1 s at a time.
    model.delay_answers(Duration::from_secs(4));
    let telegram = telegram_stand_in().await;
    let stack = stack(&telegram, &model, 1).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let tenant = bot.tenant_id.as_str();

    let set = clawless(&stack, &["quota", "set", "--tenant", tenant, "--concurrent-runs", "1"]).unwrap();
    assert_eq!(set["concurrent_runs"], 1, "{set}");
    assert_eq!(set["monthly_tokens"], Value::Null, "{set}");
    let shown = clawless(&stack, &["quota", "show", "--tenant", tenant]).unwrap();
    assert_eq!(shown, set);

    say(&bot, 1, ADA, "first").await;
    eventually(Duration::from_secs(30), "Ada's run under way", || async {
        (!model.requests().is_empty()).then_some(())
    })
    .await;
    say(&bot, 2, BEA, "second").await;
    // Without the cap Bea's run would call the model at once; with it, not while Ada's holds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(model.requests().len(), 1, "Bea's run waits for the slot");
    assert!(texts_to(&sent_messages(&telegram).await, ADA).is_empty(), "Ada's run is still under way");
    wait_for_text_to(&telegram, BEA, "Answer for Bea.").await;

    let sent = sent_messages(&telegram).await;
    let order: Vec<i64> = sent.iter().filter_map(|m| m["chat_id"].as_i64()).collect();
    assert_eq!(order, [ADA, BEA], "Bea's run started only once Ada's ended");
    assert_eq!(texts_to(&sent, ADA), ["Answer for Ada."]);
    assert_eq!(texts_to(&sent, BEA), ["Answer for Bea."]);
    assert_eq!(model.requests().len(), 2);
    assert!(metric_lines(tenant, "RunsWaiting") >= 1, "Bea's message waited at the cap");
    let dlq = clawless(&stack, &["dlq", "list"]).unwrap();
    assert_eq!(dlq.to_string().matches("message_id").count(), 0, "nothing dead-lettered: {dlq}");

    // The cap removed: both run at once again.
    let cleared = clawless(&stack, &["quota", "set", "--tenant", tenant, "--concurrent-runs", "0"]).unwrap();
    assert_eq!(cleared["concurrent_runs"], Value::Null, "{cleared}");

    // The slots item on the table, through the adapter: both runs' ends freed their slots, a
    // writer on an old version loses, and only the message a slot holds frees it.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.tables["DataTable"]);
    let tenant_id = TenantId::parse(&bot.tenant_id).unwrap();
    let slots = eventually(Duration::from_secs(10), "both slots freed", || async {
        let slots = store.run_slots(&tenant_id).await.unwrap();
        slots.runs.is_empty().then_some(slots)
    })
    .await;
    assert!(slots.version >= 3 && slots.waiting.is_empty(), "{slots:?}");
    let conversation = ConversationRef {
        tenant_id: tenant_id.clone(),
        bot_id: BotId::parse(&bot.bot_id).unwrap(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse(&ADA.to_string()).unwrap(),
    };
    let mut taken = slots.clone();
    taken.runs.insert(conversation_digest(&conversation), RunSlot { message_id: "m1".into(), until_ms: i64::MAX });
    assert!(store.put_run_slots(&tenant_id, &taken).await.unwrap());
    assert!(!store.put_run_slots(&tenant_id, &taken).await.unwrap(), "the version moved on");
    assert!(!store.release_run(&conversation, &["m0", "m2"]).await.unwrap(), "another message");
    assert_eq!(store.run_slots(&tenant_id).await.unwrap().runs.len(), 1);
    assert!(store.release_run(&conversation, &["m0", "m1"]).await.unwrap());
    let after = store.run_slots(&tenant_id).await.unwrap();
    assert!(after.runs.is_empty() && after.version == taken.version + 2, "{after:?}");
    assert_eq!(store.count_message(&tenant_id, "k", 7).await.unwrap(), 1);
    assert_eq!(store.count_message(&tenant_id, "k", 7).await.unwrap(), 2);
    assert_eq!(store.count_message(&tenant_id, "k", 8).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_over_the_message_rate_gets_one_answer_and_no_model_call() {
    let model = ModelStandIn::bedrock(vec![ScriptedTurn::Text("Hello Ada.".into())]).await;
    let telegram = telegram_stand_in().await;
    let stack = stack(&telegram, &model, 20).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let tenant = bot.tenant_id.as_str();
    let set = clawless(&stack, &["quota", "set", "--tenant", tenant, "--messages-per-minute", "1"]).unwrap();
    assert_eq!(set["messages_per_minute"], 1, "{set}");

    // All three in one UTC minute: start early in one.
    let into_minute = clawless_core::domain::model::now_ms().rem_euclid(60_000);
    if into_minute > 40_000 {
        tokio::time::sleep(Duration::from_millis(u64::try_from(60_000 - into_minute).unwrap_or(0) + 200)).await;
    }
    say(&bot, 1, ADA, "hello").await;
    wait_for_text_to(&telegram, ADA, "Hello Ada.").await;
    say(&bot, 2, ADA, "again").await;
    wait_for_text_to(&telegram, ADA, RATE_ANSWER).await;
    say(&bot, 3, ADA, "and again").await;
    quiet(&stack).await;

    let sent = sent_messages(&telegram).await;
    assert_eq!(texts_to(&sent, ADA), ["Hello Ada.", RATE_ANSWER], "one answer a minute over the rate");
    assert_eq!(model.requests().len(), 1, "no model call over the rate");
    assert_eq!(metric_lines(tenant, "RateLimited"), 2);
    // Another user has their own rate.
    say(&bot, 4, BEA, "hi").await;
    wait_for_text_to(&telegram, BEA, "(script finished)").await;
}
