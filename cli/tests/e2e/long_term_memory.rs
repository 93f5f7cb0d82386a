//! Long-term memory through AgentCore Memory (`CLAWLESS_MEMORY_BACKEND=agentcore`), against its
//! local stand-in: a turn is stored as an event of the bot's actor, a later conversation of the
//! same bot gets the record in its model request (as an untrusted block), and another tenant's
//! bot asking the same gets nothing of it. Every call is signed with the credentials the
//! dispatcher handed the run, never the agent's own.

use std::time::Duration;

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_agent::untrusted::{self, Kind};
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::Value;

use crate::support::*;
use crate::telegram::{say_directly, sent_messages, telegram_stand_in};

const FACT: &str = "my favourite colour is teal";
const QUESTION: &str = "what is my favourite colour?";

fn system_text(request: &Value) -> String {
    request["system"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect()
}

async fn answers(telegram: &wiremock::MockServer, n: usize) {
    eventually(Duration::from_secs(45), "the answers", || async {
        (sent_messages(telegram).await.len() >= n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agentcore_memory_stores_a_turn_and_recalls_it_for_the_same_bot_only() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::Text("Noted.".into()),
        ScriptedTurn::Text("Teal.".into()),
        ScriptedTurn::Text("I don't know.".into()),
    ])
    .await;
    let telegram = telegram_stand_in().await;
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.channel_apis = [("telegram".to_owned(), telegram.uri())].into();
    options.agent_env =
        vec![("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()), ("CLAWLESS_BEDROCK_ENDPOINT".into(), model.url())];
    options.memory_backend = Some("agentcore".into());
    let stack = LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"));
    let memory = stack.agentcore_memory.clone().expect("the agentcore backend starts the memory stand-in");
    let ours = onboard_telegram_bot(&stack, TEST_SECRET);
    let theirs = onboard_telegram_bot(&stack, TEST_SECRET);
    assert_ne!(ours.tenant_id, theirs.tenant_id);

    // 1. Ada tells our bot a fact: the turn is stored as an event of the bot's actor, in the
    //    conversation's session.
    say_directly(&ours, 1, 4242, FACT).await;
    answers(&telegram, 1).await;
    quiet(&stack).await;
    let actor = format!("{}-{}", ours.tenant_id, ours.bot_id);
    let events = memory.events();
    assert_eq!(events.len(), 1, "one event per answered run: {events:?}");
    assert_eq!(events[0].0, actor);
    assert!(events[0].1.starts_with(&format!("{actor}-c")), "the session is the conversation's: {}", events[0].1);
    let namespace = format!("/actors/{actor}/facts");
    assert_eq!(memory.records(), vec![(namespace.clone(), FACT.to_owned())]);

    // 2. Bob, in another conversation of the same bot, asks: the record is in the model request,
    //    as an untrusted long-term memory block.
    say_directly(&ours, 2, 5151, QUESTION).await;
    answers(&telegram, 2).await;
    quiet(&stack).await;
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert!(!system_text(&requests[0]).contains(FACT), "nothing was stored before the first run");
    let recalled = untrusted::wrap(Kind::Memory, &[("layer", "long_term")], FACT);
    assert!(system_text(&requests[1]).contains(&recalled), "recalled: {}", system_text(&requests[1]));

    // 3. Another tenant's bot asked the same gets nothing of it.
    say_directly(&theirs, 3, 4242, QUESTION).await;
    answers(&telegram, 3).await;
    quiet(&stack).await;
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert!(!system_text(&requests[2]).contains("teal"), "another tenant's run saw the record");
    assert!(!system_text(&requests[2]).contains("Long-term memory"));

    // Each run searched only its own bot's namespace and stored as its own actor, signed with the
    // handed credentials (STS session keys), never the microVM's own (`test` locally); the two
    // tenants' runs used different credentials.
    let calls = memory.calls();
    let searched: Vec<&str> =
        calls.iter().filter(|c| c.operation == "RetrieveMemoryRecords").map(|c| c.scope.as_str()).collect();
    let theirs_namespace = format!("/actors/{}-{}/facts", theirs.tenant_id, theirs.bot_id);
    assert_eq!(searched, vec![namespace.as_str(), namespace.as_str(), theirs_namespace.as_str()]);
    let stored: Vec<&str> = calls.iter().filter(|c| c.operation == "CreateEvent").map(|c| c.scope.as_str()).collect();
    let theirs_actor = format!("{}-{}", theirs.tenant_id, theirs.bot_id);
    assert_eq!(stored, vec![actor.as_str(), actor.as_str(), theirs_actor.as_str()]);
    assert!(calls.iter().all(|c| c.access_key_id != "test"), "a call used the agent's own credentials: {calls:?}");
    let first_key = &calls[0].access_key_id;
    let last_key = &calls[calls.len() - 1].access_key_id;
    assert_ne!(first_key, last_key, "the other tenant's run was signed with its own handed credentials");

    // No message text in any log line of either tenant, and no failed memory call.
    for tenant in [&ours.tenant_id, &theirs.tenant_id] {
        for (tag, line) in clawless_local::output_lines(tenant) {
            assert!(!line.contains("teal") && !line.contains("favourite"), "{tag} logged message text: {line}");
            assert!(
                !line.contains("long_term_recall_failed") && !line.contains("long_term_store_failed"),
                "{tag}: {line}"
            );
        }
    }
}

/// The template's semantic strategy writes to the namespace the agent searches and IAM allows.
#[test]
fn the_template_strategy_namespace_is_the_one_the_agent_searches() {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    assert!(template.contains(&format!("- \"{}\"", clawless_local::agentcore_memory::NAMESPACE_TEMPLATE)));
    let c = clawless_agent::testing::conversation("42");
    assert_eq!(
        clawless_agent::long_term::namespace(&c),
        clawless_local::agentcore_memory::NAMESPACE_TEMPLATE
            .replace("{actorId}", &clawless_agent::long_term::actor_id(&c))
    );
    assert!(template.contains(
        "bedrock-agentcore:namespace: \"/actors/${aws:PrincipalTag/tenant_id}-${aws:PrincipalTag/bot_id}/facts\""
    ));
}
