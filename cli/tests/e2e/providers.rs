//! Tenants' own model providers end to end: `clawless provider set` stores a key under the
//! tenant, the dispatcher hands it to that tenant's runs only, and the agent calls the tenant's
//! provider (an OpenAI-compatible or Anthropic stand-in speaking the real wire format). No key
//! is ever printed by `provider show` or written to any log line.

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_local::LocalStack;
use serde_json::{Value, json};

use crate::agent::converse;
use crate::mcp::clawless_with_stdin;
use crate::support::*;
use crate::telegram::telegram_stand_in;

fn set_provider(stack: &LocalStack, tenant: &str, kind: &str, base_url: &str, key: &str) -> Value {
    let args = [
        "provider",
        "set",
        "--tenant",
        tenant,
        "--type",
        kind,
        "--model",
        "tenant-model",
        "--base-url",
        base_url,
        "--api-key-stdin",
    ];
    clawless_with_stdin(stack, &args, &format!("  {key}\n")).expect("provider set")
}

/// No captured line of any function or agent holds `key`.
fn assert_no_log_line_holds(key: &str) {
    let lines = clawless_local::output_lines(key);
    assert!(lines.is_empty(), "a log line holds a provider key: {lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_tenant_provider_receives_that_tenants_key_only() {
    const KEY_A: &str = "sk-e2e-tenant-a-7f3c1d";
    const KEY_B: &str = "sk-e2e-tenant-b-92ab4e";
    let model =
        ModelStandIn::openai(vec![ScriptedTurn::Text("answer A".into()), ScriptedTurn::Text("answer B".into())]).await;
    let telegram = telegram_stand_in().await;
    // The platform's own provider stays offline: only a tenant's setting reaches the stand-in.
    let stack = start_stack(Some(telegram.uri())).await;
    let a = onboard_telegram_bot(&stack, TEST_SECRET);
    let b = onboard_telegram_bot(&stack, TEST_SECRET);
    assert_ne!(a.tenant_id, b.tenant_id);

    let shown = clawless(&stack, &["provider", "show", "--tenant", &a.tenant_id]).unwrap();
    assert_eq!(
        shown,
        json!({"tenant_id": a.tenant_id, "bot_id": null, "type": "bedrock", "model": null, "base_url": null,
               "has_api_key": false, "source": "platform"})
    );
    let set = set_provider(&stack, &a.tenant_id, "openai", &model.url(), KEY_A);
    assert_eq!((set["source"].as_str(), set["has_api_key"].as_bool()), (Some("tenant"), Some(true)));
    set_provider(&stack, &b.tenant_id, "openai", &model.url(), KEY_B);
    // Another tenant's bot is unknown to this tenant.
    let err = clawless_with_stdin(
        &stack,
        &[
            "provider",
            "set",
            "--tenant",
            &a.tenant_id,
            "--bot",
            &b.bot_id,
            "--type",
            "openai",
            "--model",
            "m",
            "--base-url",
            &model.url(),
            "--api-key-stdin",
        ],
        "sk-e2e-never-stored-55",
    )
    .unwrap_err();
    assert!(err.contains("not found"), "{err}");
    // Bad input: a clear error, nothing changed.
    let err = clawless_with_stdin(
        &stack,
        &["provider", "set", "--tenant", &a.tenant_id, "--type", "openai", "--model", "m", "--api-key-stdin"],
        "sk-e2e-never-stored-66",
    )
    .unwrap_err();
    assert!(err.contains("--base-url"), "{err}");

    let shown = clawless(&stack, &["provider", "show", "--tenant", &a.tenant_id, "--bot", &a.bot_id]).unwrap();
    assert_eq!(
        shown,
        json!({"tenant_id": a.tenant_id, "bot_id": a.bot_id, "type": "openai", "model": "tenant-model",
               "base_url": model.url(), "has_api_key": true, "source": "tenant"})
    );
    assert!(!shown.to_string().contains(KEY_A));

    let sent = converse(&a, &telegram, 1).await;
    assert_eq!(sent[0]["text"], "answer A");
    let sent = converse(&b, &telegram, 2).await;
    assert_eq!(sent[1]["text"], "answer B");
    assert_eq!(
        model.credentials(),
        vec![Some(KEY_A.to_owned()), Some(KEY_B.to_owned())],
        "A's key on A's request only, B's on B's"
    );
    assert_eq!(model.requests()[0]["model"], "tenant-model");
    quiet(&stack).await;
    for key in [KEY_A, KEY_B, "sk-e2e-never-stored"] {
        assert_no_log_line_holds(key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anthropic_provider_runs_the_tool_loop() {
    const KEY: &str = "sk-ant-e2e-c0ffee-41";
    let model = ModelStandIn::anthropic(vec![
        ScriptedTurn::ToolCall {
            name: "memory_write".into(),
            input: json!({"layer": "conversation", "content": "Ada likes green tea.", "mode": "replace"}),
        },
        ScriptedTurn::EchoLastToolResult { prefix: "Noted. The tool said: ".into() },
    ])
    .await;
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    set_provider(&stack, &bot.tenant_id, "anthropic", &model.url(), KEY);

    let sent = converse(&bot, &telegram, 1).await;
    let text = sent[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Noted. The tool said: ") && text.len() > 22, "{text}");

    let requests = model.requests();
    assert_eq!(requests.len(), 2, "one call for the tool, one for the answer");
    let offered: Vec<&str> =
        requests[0]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(offered.contains(&"memory_write"), "{offered:?}");
    assert!(requests[0]["messages"].to_string().contains("hello bot"));
    let last = requests[1]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    let result = &last["content"][0];
    assert_eq!((result["type"].as_str(), result["tool_use_id"].as_str()), (Some("tool_result"), Some("toolu_1")));
    assert!(text.ends_with(result["content"].as_str().unwrap()), "the answer carries the tool's result");
    assert_eq!(model.credentials(), vec![Some(KEY.to_owned()); 2]);
    quiet(&stack).await;
    assert_no_log_line_holds(KEY);
}
