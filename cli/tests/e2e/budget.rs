//! A tenant's monthly token budget end to end on the local stack: set with `clawless quota set`,
//! counted by the reply function from each run's report, enforced by the dispatcher. Once it is
//! spent, no agent runs (so the model is not called), each conversation gets one clear answer
//! that day, and the operator gets a `BudgetExhausted` metric.

use std::time::Duration;

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_core::quota::BUDGET_SPENT_ANSWER;
use serde_json::Value;

use crate::support::*;
use crate::telegram::{say_directly as say, sent_messages, telegram_stand_in, texts_to, wait_for_text_to};

const WAIT: Duration = Duration::from_secs(45);
const ADA: i64 = 4242;
const BEA: i64 = 5151;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spent_budget_stops_model_calls_with_one_clear_answer_per_conversation_a_day() {
    let model = ModelStandIn::bedrock(vec![ScriptedTurn::Text("First answer.".into())]).await;
    model.fix_usage(30, 20);
    let telegram = telegram_stand_in().await;
    let env = vec![("CLAWLESS_MODEL_PROVIDER", "bedrock".to_owned()), ("CLAWLESS_BEDROCK_ENDPOINT", model.url())];
    let stack = start_stack_with_agent_env(telegram.uri(), env).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let tenant = bot.tenant_id.as_str();

    // Bad input changes nothing.
    let refused = clawless(&stack, &["quota", "set", "--tenant", tenant]).unwrap_err();
    assert!(refused.contains("nothing to set"), "{refused}");
    assert!(clawless(&stack, &["quota", "set", "--tenant", "nobody", "--monthly-tokens", "5"]).is_err());
    assert!(clawless(&stack, &["usage", "show", "--tenant", tenant, "--month", "2026-13"]).is_err());
    let shown = clawless(&stack, &["quota", "show", "--tenant", tenant]).unwrap();
    assert_eq!(shown["monthly_tokens"], Value::Null);

    let set = clawless(&stack, &["quota", "set", "--tenant", tenant, "--monthly-tokens", "40"]).unwrap();
    assert_eq!(set["monthly_tokens"], 40);

    // Within the budget: answered, and the run's 30 + 20 tokens are counted.
    say(&bot, 1, ADA, "hello").await;
    wait_for_text_to(&telegram, ADA, "First answer.").await;
    let usage = eventually(WAIT, "the run's tokens in the month's usage", || async {
        let usage = clawless(&stack, &["usage", "show", "--tenant", tenant]).unwrap();
        (usage["runs"] == 1).then_some(usage)
    })
    .await;
    assert_eq!(usage["input_tokens"], 30, "{usage}");
    assert_eq!(usage["output_tokens"], 20, "{usage}");
    assert_eq!(usage["messages"], 1, "{usage}");
    assert_eq!(usage["budget_tokens"], 40, "{usage}");
    assert_eq!(usage["remaining_tokens"], 0, "{usage}");
    assert_eq!(usage["tenant_id"], tenant);
    assert_eq!(usage["month"].as_str().map(str::len), Some(7), "{usage}");
    let sessions = stack.agentcore.running_sessions().await;

    // Spent: Ada's next message gets the clear answer; a new conversation (Bea) gets its own one,
    // without any agent starting for it; later messages that day get nothing more.
    say(&bot, 2, ADA, "and now?").await;
    wait_for_text_to(&telegram, ADA, BUDGET_SPENT_ANSWER).await;
    say(&bot, 3, BEA, "me too").await;
    wait_for_text_to(&telegram, BEA, BUDGET_SPENT_ANSWER).await;
    say(&bot, 4, ADA, "still?").await;
    say(&bot, 5, BEA, "hello??").await;
    quiet(&stack).await;

    assert_eq!(model.requests().len(), 1, "no model call once the budget was spent");
    assert_eq!(stack.agentcore.running_sessions().await, sessions, "no agent started for Bea");
    let sent = sent_messages(&telegram).await;
    assert_eq!(texts_to(&sent, ADA), ["First answer.", BUDGET_SPENT_ANSWER]);
    assert_eq!(texts_to(&sent, BEA), [BUDGET_SPENT_ANSWER]);
    assert_eq!(metric_lines(tenant, "BudgetExhausted"), 4, "each refused message is counted for the operator");
    let usage = clawless(&stack, &["usage", "show", "--tenant", tenant]).unwrap();
    assert_eq!((usage["runs"].as_u64(), usage["input_tokens"].as_u64()), (Some(1), Some(30)), "{usage}");
}
