//! The files in `events/` drive the real function binaries (through the local Lambda host), so
//! they stay valid for `sam local invoke -e` and `cargo lambda invoke --data-file`.

use std::time::Duration;

use crate::support::*;
use axum::body::Bytes;
use serde_json::Value;

/// Puts a real bot's ids and secret into a sample event that uses the documented test ids.
fn with_bot(event: &Value, bot: &TelegramBot) -> Bytes {
    let text = event
        .to_string()
        .replace("t0123456789abcdef0123", &bot.tenant_id)
        .replace("b0123456789abcdef0123", &bot.bot_id);
    Bytes::from(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_events_plain_base64_and_wrong_secret() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let webhook = &stack.functions["WebhookFunction"];

    for (file, status) in [
        ("webhook-telegram.json", 200),
        ("webhook-telegram-base64.json", 200),
        ("webhook-telegram-wrong-secret.json", 401),
    ] {
        let answer = webhook.invoke(with_bot(&sample_event(file), &bot)).await.unwrap();
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["statusCode"], status, "{file}: {answer}");
    }
    // Two accepted updates (plain and base64): two answers.
    eventually(Duration::from_secs(30), "two answers", || async {
        (stack.outbox.sent().await.len() == 2).then_some(())
    })
    .await;
}

/// A click on an inline keyboard button: the webhook's answer is the `answerCallbackQuery` call,
/// and the click goes on as the button's command (here refused: Ada is not the approver).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_event_telegram_button_click() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let answer = stack.functions["WebhookFunction"]
        .invoke(with_bot(&sample_event("webhook-telegram-callback.json"), &bot))
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["method"], "answerCallbackQuery");
    assert_eq!(body["callback_query_id"], "8412569301467321345");
    let sent = eventually(Duration::from_secs(30), "the refusal", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert!(sent[0].text.contains("Only this workspace's approver"), "{:?}", sent[0].text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatcher_and_reply_events() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);

    // Without its conversation's scope token the sample reply is refused (the sample cannot
    // carry one: each stack has its own key).
    let unsigned = with_bot(&sample_event("reply-telegram.json"), &bot);
    let answer = stack.functions["ReplyFunction"].invoke(unsigned.clone()).await.unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["batchItemFailures"], Value::Array(vec![]), "refused, not retried: {answer}");
    assert!(stack.outbox.sent().await.is_empty(), "an unsigned reply is never sent");

    // With the token trusted code minted, it is sent, once, however often it is delivered.
    let mut event: Value = serde_json::from_slice(&unsigned).unwrap();
    let mut body: clawless_core::domain::envelope::ReplyEnvelope =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    body.scope = stack.scope_key().await.unwrap().mint(&body.conversation);
    event["Records"][0]["body"] = Value::String(serde_json::to_string(&body).unwrap());
    let reply = Bytes::from(event.to_string());
    for _ in 0..2 {
        let answer = stack.functions["ReplyFunction"].invoke(reply.clone()).await.unwrap();
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["batchItemFailures"], Value::Array(vec![]), "{answer}");
    }
    let sent = stack.outbox.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "Hello Ada! You said: hello bot");

    // The dispatcher event carries the message the reply answered, as the webhook queued it
    // (not stored: the dispatcher stores it once AgentCore has it). Handed over once, then skipped.
    let dispatcher_event = with_bot(&sample_event("dispatcher-inbound.json"), &bot);
    for _ in 0..2 {
        let answer = stack.functions["DispatcherFunction"].invoke(dispatcher_event.clone()).await.unwrap();
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["batchItemFailures"], Value::Array(vec![]), "{answer}");
    }
    quiet(&stack).await;
    let store = clawless_aws::dynamodb::Store::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.resources.tables["DataTable"],
    );
    let lines = store.conversation(&body.conversation).await.unwrap();
    let message = lines.iter().find(|l| l.message_id == "100001").expect("stored by the dispatcher");
    assert!(message.dispatched_at_ms.is_some(), "{message:?}");
    // The agent's answer has the id of the reply already sent: not sent again.
    assert_eq!(stack.outbox.sent().await.len(), 1);
}

/// The progress sample: refused without its conversation's token; with it (and sent just now),
/// Telegram's typing action and the run's one status message, not posted again by a second copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reply_progress_event_types_and_posts_one_status() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let unsigned = with_bot(&sample_event("reply-progress.json"), &bot);
    let reply = &stack.functions["ReplyFunction"];
    let answer: Value = serde_json::from_slice(&reply.invoke(unsigned.clone()).await.unwrap()).unwrap();
    assert_eq!(answer["batchItemFailures"], Value::Array(vec![]), "refused, not retried: {answer}");
    assert!(stack.outbox.actions().await.is_empty() && stack.outbox.sent().await.is_empty());

    let mut event: Value = serde_json::from_slice(&unsigned).unwrap();
    let report: clawless_core::domain::envelope::AgentReport =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    let clawless_core::domain::envelope::AgentReport::Progress(mut progress) = report else {
        panic!("the sample is a progress report")
    };
    progress.scope = stack.scope_key().await.unwrap().mint(&progress.conversation);
    progress.sent_at_ms = clawless_core::domain::model::now_ms();
    let body = clawless_core::domain::envelope::AgentReport::Progress(progress);
    event["Records"][0]["body"] = Value::String(serde_json::to_string(&body).unwrap());
    let signed = Bytes::from(event.to_string());
    for _ in 0..2 {
        let answer: Value = serde_json::from_slice(&reply.invoke(signed.clone()).await.unwrap()).unwrap();
        assert_eq!(answer["batchItemFailures"], Value::Array(vec![]), "{answer}");
    }
    let typing: Vec<_> = stack.outbox.actions().await.into_iter().filter(|a| a.kind == "typing").collect();
    assert_eq!(typing.len(), 2, "typing on each report");
    let sent = stack.outbox.sent().await;
    assert_eq!(sent.len(), 1, "one status message for the run");
    assert_eq!(sent[0].text, "Working on it… 2 tool calls so far, now: web_fetch");
}

/// The chat command sample: `/status`, answered by the dispatcher itself (no agent session), once
/// however often it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatcher_command_event_is_answered_without_an_agent() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let event = with_bot(&sample_event("dispatcher-command.json"), &bot);
    for _ in 0..2 {
        let answer = stack.functions["DispatcherFunction"].invoke(event.clone()).await.unwrap();
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["batchItemFailures"], Value::Array(vec![]), "{answer}");
    }
    let sent = eventually(Duration::from_secs(30), "the /status answer", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 1, "answered once");
    assert!(sent[0].text.starts_with("Model: platform default"), "{:?}", sent[0].text);
    assert_eq!(stack.agentcore.running_sessions().await, 0, "no agent ran");
}

/// The scheduler function's sample event is exercised in `tasks.rs`; the approval flow's
/// timeouts in `approvals.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_timeout_sample_event_runs() {
    let stack = start_stack(None).await;
    let event = Bytes::from(sample_event("approval-timeout.json").to_string());
    let answer: Value =
        serde_json::from_slice(&stack.functions["ApprovalTimeoutFunction"].invoke(event).await.unwrap()).unwrap();
    assert_eq!(answer["outcome"], "not_found", "the sample request does not exist: {answer}");
    let bad = Bytes::from(r#"{"kind":"approval_timeout","tenant_id":"nope","request_id":"r1"}"#);
    assert!(stack.functions["ApprovalTimeoutFunction"].invoke(bad).await.is_err());
}

/// The admin sample: the claims API Gateway's authorizer passed along count for nothing; without
/// a token the function itself verifies, it is 401. With a real ID token in its place it lists
/// the caller's bots.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_sample_event_needs_a_token_the_function_verifies() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let admin = &stack.functions["AdminFunction"];
    let sample = sample_event("admin-list-bots.json");
    let answer: Value = serde_json::from_slice(&admin.invoke(with_bot(&sample, &bot)).await.unwrap()).unwrap();
    assert_eq!(answer["statusCode"], 401, "the authorizer's claims alone are not trusted: {answer}");

    let password = "Sample-Event-Passw0rd!";
    clawless(
        &stack,
        &[
            "user",
            "add",
            "--tenant",
            &bot.tenant_id,
            "--email",
            "admin@example.com",
            "--role",
            "admin",
            "--password",
            password,
        ],
    )
    .unwrap();
    let token = crate::admin_api::sign_in(&stack, "admin@example.com", password).await;
    let event = with_bot(&sample, &bot);
    let event = String::from_utf8_lossy(&event).replace("REPLACE-WITH-A-COGNITO-ID-TOKEN", &token);
    let answer: Value = serde_json::from_slice(&admin.invoke(Bytes::from(event)).await.unwrap()).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["bots"][0]["bot_id"], bot.bot_id.as_str(), "{body}");
}
