//! A bot's remote MCP servers end to end, against the demo MCP server (`clawless_mcp::demo`,
//! streamable HTTP behind a secret header): `mcp add` reaches the server and stores its header
//! value as a secret; the dispatcher hands a run its own bot's servers; the scripted model calls
//! `mcp__{server}__{tool}`, the server gets the header, and the result reaches the model as
//! untrusted content. A tool outside the profile is put to the approver and runs once after
//! `/approve`. Another tenant's bot neither sees nor reaches the server. No secret reaches a log
//! line, a model request or the CLI's output.

use std::io::Write;
use std::process::Stdio;

use clawless_agent::stand_ins::ScriptedTurn;
use clawless_local::LocalStack;
use clawless_mcp::demo::{DEMO_HEADER, DemoMcpServer};
use serde_json::{Value, json};

use crate::approvals::{APPROVER, REQUESTER, approver_says, stack_with_approver_and, update, wait_for_text};
use crate::support::*;
use crate::telegram::post_update;

/// `clawless --json ARGS` with `input` on its standard input.
pub(crate) fn clawless_with_stdin(stack: &LocalStack, args: &[&str], input: &str) -> Result<Value, String> {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clawless"))
        .arg("--json")
        .args(args)
        .env("AWS_ENDPOINT_URL", &stack.endpoints.aws_endpoint_url)
        .env("AWS_REGION", &stack.endpoints.region)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("CLAWLESS_API_URL")
        .env_remove("CLAWLESS_STACK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clawless runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("stdin written");
    }
    let out = child.wait_with_output().expect("clawless ends");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stdout.contains(input.trim()) && !stderr.contains(input.trim()), "the CLI printed the secret");
    if !out.status.success() {
        return Err(stderr);
    }
    serde_json::from_str(&stdout).map_err(|e| format!("not one JSON object ({e}): {stdout}"))
}

/// Registers `server` as `crm` on `bot` with its header value `secret`.
fn add_crm(stack: &LocalStack, bot: &str, server: &DemoMcpServer, secret: &str) -> Value {
    let args = [
        "mcp",
        "add",
        "--bot",
        bot,
        "--name",
        "crm",
        "--url",
        server.url(),
        "--secret-header",
        DEMO_HEADER,
        "--timeout-s",
        "10",
    ];
    clawless_with_stdin(stack, &args, &format!("{secret}\n")).expect("mcp add")
}

/// Tool names the model was offered in a Converse request.
fn offered(request: &Value) -> Vec<String> {
    request["toolConfig"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// No log line of the run, and no model request, holds `secret`.
fn nowhere(model_requests: &[Value], secret: &str) {
    let lines = clawless_local::output_lines(secret);
    assert!(lines.is_empty(), "a log line holds the secret: {lines:?}");
    for request in model_requests {
        assert!(!request.to_string().contains(secret), "a model request holds the secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_mcp_tool_gets_the_secret_header_and_its_result_reaches_the_model() {
    let secret = "mcp-secret-7d1c9f0a";
    let server = DemoMcpServer::start(DEMO_HEADER, secret).unwrap();
    let script = vec![
        ScriptedTurn::ToolCall { name: "mcp__crm__lookup_order".into(), input: json!({"order_id": "A-1001"}) },
        ScriptedTurn::EchoLastToolResult { prefix: "Found: ".into() },
    ];
    let (stack, telegram, bot, model) = stack_with_approver_and(script, Vec::new()).await;

    // A wrong key changes nothing: `mcp add` reaches the server first.
    let args =
        ["mcp", "add", "--bot", &bot.bot_id, "--name", "crm", "--url", server.url(), "--secret-header", DEMO_HEADER];
    let refused = clawless_with_stdin(&stack, &args, "wrong-key\n").unwrap_err();
    assert!(refused.contains("could not add the server"), "{refused}");
    let listed = clawless(&stack, &["mcp", "list", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(listed, json!({"bot_id": bot.bot_id, "servers": []}));
    // Junk is refused with what to change.
    let bad = clawless(&stack, &["mcp", "add", "--bot", &bot.bot_id, "--name", "Bad-Name", "--url", server.url()])
        .unwrap_err();
    assert!(bad.contains("invalid MCP server name"), "{bad}");
    let bad =
        clawless(&stack, &["mcp", "add", "--bot", &bot.bot_id, "--name", "crm", "--url", "http://mcp.example.com/mcp"])
            .unwrap_err();
    assert!(bad.contains("https"), "{bad}");

    let added = add_crm(&stack, &bot.bot_id, &server, secret);
    assert_eq!(added["name"], "crm");
    let listed = clawless(&stack, &["mcp", "list", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(listed["bot_id"], bot.bot_id.as_str());
    assert_eq!(listed["servers"][0]["name"], "crm");
    assert_eq!(listed["servers"][0]["url"], server.url());
    assert_eq!(listed["servers"][0]["tools"], json!(["add", "lookup_order"]));
    let profile =
        clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--tools", "mcp:crm:lookup_order"]).unwrap();
    assert!(profile.to_string().contains("mcp:crm:lookup_order"), "{profile}");

    let response =
        post_update(&bot.webhook_url, Some(TEST_SECRET), &update(1, REQUESTER, "where is order A-1001?")).await;
    assert_eq!(response.status(), 200);
    let texts = wait_for_text(&telegram, REQUESTER, "Found: ").await;
    let answer = texts.iter().find(|t| t.contains("Found: ")).unwrap();
    assert!(answer.contains("Order A-1001: shipped"), "the server's answer reached the model: {answer}");
    assert!(answer.contains(r#"kind="mcp_result""#), "delivered as untrusted content: {answer}");
    assert_eq!(server.calls().len(), 1);
    assert_eq!(server.calls()[0].tool, "lookup_order");
    assert_eq!(server.calls()[0].arguments, json!({"order_id": "A-1001"}));

    let requests = model.requests();
    let tools = offered(&requests[0]);
    assert!(tools.contains(&"mcp__crm__lookup_order".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"mcp__crm__add".to_owned()), "only what the profile allows is offered: {tools:?}");
    quiet(&stack).await;
    nowhere(&model.requests(), secret);

    let removed = clawless(&stack, &["mcp", "remove", "--bot", &bot.bot_id, "--name", "crm"]).unwrap();
    assert_eq!(removed, json!({"bot_id": bot.bot_id, "name": "crm", "removed": true}));
    let again = clawless(&stack, &["mcp", "remove", "--bot", &bot.bot_id, "--name", "crm"]).unwrap_err();
    assert!(again.contains("not found"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_mcp_tool_outside_the_profile_runs_once_after_approve() {
    let secret = "mcp-secret-2b8e4c61";
    let server = DemoMcpServer::start(DEMO_HEADER, secret).unwrap();
    let call = ScriptedTurn::ToolCall { name: "mcp__crm__add".into(), input: json!({"a": 2, "b": 40}) };
    let script = vec![
        call.clone(),
        ScriptedTurn::Text("That needs approval; I asked.".into()),
        call,
        ScriptedTurn::EchoLastToolResult { prefix: "Sum: ".into() },
    ];
    let (stack, telegram, bot, model) = stack_with_approver_and(script, Vec::new()).await;
    add_crm(&stack, &bot.bot_id, &server, secret);

    let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &update(1, REQUESTER, "add 2 and 40")).await;
    assert_eq!(response.status(), 200);
    wait_for_text(&telegram, REQUESTER, "That needs approval").await;
    let notice = wait_for_text(&telegram, APPROVER, "Permission request").await;
    let notice = notice.iter().find(|t| t.contains("Permission request")).unwrap();
    assert!(notice.contains("mcp__crm__add") && notice.contains(r#"{"a":2,"b":40}"#), "{notice}");
    assert!(server.calls().is_empty(), "nothing ran before the approval");
    let listed = clawless(&stack, &["approvals", "list", "--tenant", &bot.tenant_id, "--status", "pending"]).unwrap();
    let request_id = listed["requests"][0]["request_id"].as_str().unwrap().to_owned();

    let setup = crate::approvals::Setup { stack, telegram, bot, request_id: request_id.clone() };
    approver_says(&setup, 2, &format!("/approve {request_id} once")).await;
    let texts = wait_for_text(&setup.telegram, REQUESTER, "Sum: ").await;
    assert!(texts.iter().any(|t| t.contains("Sum: ") && t.contains("42")), "{texts:?}");
    quiet(&setup.stack).await;
    assert_eq!(server.calls().len(), 1, "ran once: {:?}", server.calls());
    nowhere(&model.requests(), secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_tenants_bot_neither_sees_nor_reaches_the_server() {
    let secret = "mcp-secret-91aa03e5";
    let server = DemoMcpServer::start(DEMO_HEADER, secret).unwrap();
    let script = vec![
        ScriptedTurn::ToolCall { name: "mcp__crm__lookup_order".into(), input: json!({"order_id": "A-1001"}) },
        ScriptedTurn::EchoLastToolResult { prefix: "Result: ".into() },
    ];
    let (stack, telegram, owner, model) = stack_with_approver_and(script, Vec::new()).await;
    add_crm(&stack, &owner.bot_id, &server, secret);
    clawless(&stack, &["profile", "set", "--tenant", &owner.tenant_id, "--tools", "mcp:crm"]).unwrap();
    // `mcp add` itself reached the server; nothing after this may.
    let reached_before = server.authorized() + server.refused();

    // Tenant B: its own bot, its profile even names `mcp:crm`.
    let other = onboard_telegram_bot(&stack, "other-webhook-secret");
    assert_ne!(other.tenant_id, owner.tenant_id);
    clawless(&stack, &["profile", "set", "--tenant", &other.tenant_id, "--tools", "mcp:crm"]).unwrap();
    assert_eq!(clawless(&stack, &["mcp", "list", "--bot", &other.bot_id]).unwrap()["servers"], json!([]));
    let removed = clawless(&stack, &["mcp", "remove", "--bot", &other.bot_id, "--name", "crm"]).unwrap_err();
    assert!(removed.contains("not found"), "{removed}");

    let response =
        post_update(&other.webhook_url, Some("other-webhook-secret"), &update(1, REQUESTER, "where is A-1001?")).await;
    assert_eq!(response.status(), 200);
    let texts = wait_for_text(&telegram, REQUESTER, "Result: ").await;
    let answer = texts.iter().find(|t| t.contains("Result: ")).unwrap();
    assert!(answer.contains("not available"), "B's agent has no such tool: {answer}");
    assert!(!answer.contains("shipped"), "{answer}");
    let tools = offered(&model.requests()[0]);
    assert!(tools.iter().all(|t| !t.starts_with("mcp__")), "B is offered none of A's tools: {tools:?}");
    quiet(&stack).await;
    assert_eq!(server.authorized() + server.refused(), reached_before, "B's run never reached A's server");
    assert!(server.calls().is_empty());
    nowhere(&model.requests(), secret);
}
