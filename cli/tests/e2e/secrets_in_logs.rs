//! No secret reaches a log line. One stack gets every kind of secret an operator sets: a
//! channel's bot token and webhook secret, a tenant's model provider key, an MCP server's header
//! value. A message then uses all of them (the webhook checks the secret, the tenant's
//! OpenAI-compatible provider answers with a call of the MCP tool, the reply goes out with the
//! bot token), a forged webhook is refused, and every line the functions and agents wrote is
//! searched for each value; so is every model request and everything the CLI printed.

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_mcp::demo::{DEMO_HEADER, DemoMcpServer};
use serde_json::json;

use crate::approvals::{REQUESTER, update, wait_for_text};
use crate::mcp::clawless_with_stdin;
use crate::support::*;
use crate::telegram::{post_update, telegram_stand_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_set_reaches_any_log_line() {
    const BOT_TOKEN: &str = "778899:AAE-logcheck-bot-token-5c2f";
    const WEBHOOK_SECRET: &str = "logcheck-webhook-secret-91d7";
    const PROVIDER_KEY: &str = "sk-logcheck-provider-key-3e6a";
    const MCP_HEADER: &str = "logcheck-mcp-header-value-b04c";

    let server = DemoMcpServer::start(DEMO_HEADER, MCP_HEADER).unwrap();
    let model = ModelStandIn::openai(vec![
        ScriptedTurn::ToolCall { name: "mcp__crm__lookup_order".into(), input: json!({"order_id": "A-7"}) },
        ScriptedTurn::EchoLastToolResult { prefix: "Found: ".into() },
    ])
    .await;
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard_bot(&stack, "telegram", &[("bot_token", BOT_TOKEN), ("webhook_secret", WEBHOOK_SECRET)]);
    let base_url = model.url();
    let args = [
        "provider",
        "set",
        "--tenant",
        &bot.tenant_id,
        "--type",
        "openai",
        "--model",
        "m",
        "--base-url",
        &base_url,
        "--api-key-stdin",
    ];
    clawless_with_stdin(&stack, &args, &format!("{PROVIDER_KEY}\n")).expect("provider set");
    let args =
        ["mcp", "add", "--bot", &bot.bot_id, "--name", "crm", "--url", server.url(), "--secret-header", DEMO_HEADER];
    clawless_with_stdin(&stack, &args, &format!("{MCP_HEADER}\n")).expect("mcp add");
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--tools", "mcp:crm"]).unwrap();
    let shown = [
        clawless(&stack, &["bot", "show", "--bot", &bot.bot_id]).unwrap(),
        clawless(&stack, &["mcp", "list", "--bot", &bot.bot_id]).unwrap(),
        clawless(&stack, &["provider", "show", "--tenant", &bot.tenant_id]).unwrap(),
    ];

    let forged = post_update(&bot.webhook_url, Some("not-the-secret"), &update(1, REQUESTER, "hi")).await;
    assert_ne!(forged.status(), 200);
    let response = post_update(&bot.webhook_url, Some(WEBHOOK_SECRET), &update(2, REQUESTER, "where is A-7?")).await;
    assert_eq!(response.status(), 200);
    wait_for_text(&telegram, REQUESTER, "Found: ").await;
    quiet(&stack).await;
    assert_eq!(server.calls().len(), 1, "the MCP tool ran with its header");
    assert_eq!(model.credentials(), vec![Some(PROVIDER_KEY.to_owned()); 2], "the provider got the key");

    let everything = clawless_local::output_lines(&bot.tenant_id);
    assert!(everything.len() > 10, "the run's lines were captured: {}", everything.len());
    for secret in [BOT_TOKEN, WEBHOOK_SECRET, PROVIDER_KEY, MCP_HEADER] {
        let lines = clawless_local::output_lines(secret);
        assert!(lines.is_empty(), "a log line holds a secret: {lines:?}");
        for request in model.requests() {
            assert!(!request.to_string().contains(secret), "a model request holds a secret");
        }
        for out in &shown {
            assert!(!out.to_string().contains(secret), "the CLI printed a secret: {out}");
        }
    }
}
