//! What operators see of one message in the local run's output: CloudWatch EMF metric lines from
//! the functions and the agent, the audit event of the invocation, and the X-Ray trace id each
//! function's log span carries.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;
use crate::telegram::{post_update, sample_update, sent_messages, telegram_stand_in};

/// The JSON lines the stack's processes wrote that mention `tenant`.
fn json_lines(tenant: &str) -> Vec<(String, Value)> {
    clawless_local::output_lines(tenant)
        .into_iter()
        .filter_map(|(tag, line)| serde_json::from_str(&line).ok().map(|v| (tag, v)))
        .collect()
}

/// The EMF metric names written by processes whose tag starts with `tag`.
fn metrics_from(lines: &[(String, Value)], tag: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|(t, v)| t.starts_with(tag) && v.get("_aws").is_some())
        .flat_map(|(_, v)| {
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["Name"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_message_leaves_metrics_an_audit_event_and_trace_ids_in_the_logs() {
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await.status(), 200);
    eventually(Duration::from_secs(30), "the reply at the Telegram stand-in", || async {
        (!sent_messages(&telegram).await.is_empty()).then_some(())
    })
    .await;

    let lines = eventually(Duration::from_secs(10), "every service's metric lines", || async {
        let lines = json_lines(&bot.tenant_id);
        let all = metrics_from(&lines, "");
        ["MessagesIn", "AgentInvocations", "RepliesOut", "AgentRuns", "AgentRunDuration"]
            .iter()
            .all(|m| all.iter().any(|n| n == m))
            .then_some(lines)
    })
    .await;
    // A message the bot answers is stored, and so counted in, by the dispatcher (the webhook only
    // queues it and cannot tell a first delivery from a late redelivery).
    let dispatcher = metrics_from(&lines, "DispatcherFunction");
    assert!(dispatcher.contains(&"MessagesIn".to_owned()) && dispatcher.contains(&"AgentInvocations".to_owned()));
    assert!(!metrics_from(&lines, "WebhookFunction").contains(&"MessagesIn".to_owned()));
    assert!(metrics_from(&lines, "ReplyFunction").contains(&"RepliesOut".to_owned()));
    let agent = metrics_from(&lines, "agent");
    assert!(agent.contains(&"AgentRuns".to_owned()) && agent.contains(&"AgentRunDuration".to_owned()), "{agent:?}");
    let emf = lines.iter().find(|(t, v)| t.starts_with("DispatcherFunction") && v.get("_aws").is_some()).unwrap();
    assert_eq!(emf.1["Service"], "DispatcherFunction", "{}", emf.1);
    assert_eq!(emf.1["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Clawless");

    // The dispatcher's audit event names the tenant, bot and session, and the invocation's trace.
    let audit: Vec<&Value> = lines
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["audit"] == "clawless.v1" && v["kind"] == "agent_invocation")
        .collect();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["bot_id"], bot.bot_id.as_str());
    assert_eq!(audit[0]["detail"]["message_id"], "100001");
    let trace = audit[0]["trace_id"].as_str().expect("a trace id");
    assert!(trace.starts_with("Root=1-") && trace.len() > 30, "{trace}");
    assert!(!audit[0].to_string().contains("hello bot"), "no message text in audit events");

    // The dispatcher's trace rides in the invocation to the agent and in its reply to the reply
    // function: the agent's run and the reply function's message span carry the same id.
    let agent_traced = lines
        .iter()
        .filter(|(t, _)| t.starts_with("agent"))
        .any(|(_, v)| v["span"]["name"] == "run" && v["span"]["trace_id"] == trace);
    assert!(agent_traced, "the agent's run span carries the dispatcher's trace id {trace}");
    let reply_traced = lines.iter().filter(|(t, _)| t.starts_with("ReplyFunction")).any(|(_, v)| {
        v["spans"].as_array().into_iter().flatten().any(|s| s["name"] == "message" && s["trace_id"] == trace)
    });
    assert!(reply_traced, "the reply function's message span carries the dispatcher's trace id {trace}");

    // Each function's log lines for the message carry a trace id in the span.
    for tag in ["WebhookFunction", "DispatcherFunction", "ReplyFunction"] {
        let traced = lines.iter().filter(|(t, _)| t.starts_with(tag)).any(|(_, v)| {
            v["spans"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == "message" && s["trace_id"].as_str().is_some_and(|t| t.starts_with("Root=1-")))
        });
        assert!(traced, "{tag} logs no message span with a trace id");
    }
}
