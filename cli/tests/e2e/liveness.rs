//! "The conversation feels alive", end to end on the local stack: an agent's progress reports go
//! through the reply queue to the reply function, which shows Telegram's typing action while a
//! run lasts and, for a long run with tools, one status message edited in place, then closed
//! once the answer is out. And a forged report shows nothing anywhere.

use std::time::{Duration, Instant};

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_aws::sqs::FifoQueue;
use clawless_core::domain::envelope::{AgentReport, ENVELOPE_VERSION};
use clawless_core::domain::ids::MessageId;
use clawless_core::domain::model::{ReplyRoute, now_ms};
use clawless_core::domain::progress::{ProgressPhase, RunProgress, STATUS_DONE_TEXT};
use clawless_local::channel_api::ChannelAction;
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::json;

use crate::support::*;
use crate::telegram::{conversation, say_directly};

const WAIT: Duration = Duration::from_secs(60);

/// A stack on the built-in channel stand-ins whose agents call `model` and report progress
/// every second.
async fn stack_with_progress(model: &ModelStandIn) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.agent_env = vec![
        ("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()),
        ("CLAWLESS_BEDROCK_ENDPOINT".into(), model.url()),
        ("CLAWLESS_PROGRESS_SECS".into(), "1".into()),
    ];
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

fn actions_of<'a>(actions: &'a [ChannelAction], kind: &str) -> Vec<&'a ChannelAction> {
    actions.iter().filter(|a| a.channel == "telegram" && a.kind == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_run_types_edits_its_status_message_then_answers() {
    // Four tool rounds and the answer, each model turn taking 2 s: a run of about 10 s.
    let read = || ScriptedTurn::ToolCall { name: "memory_read".into(), input: json!({}) };
    let write = ScriptedTurn::ToolCall {
        name: "memory_write".into(),
        input: json!({"layer": "conversation", "content": "Ada asked for the plan.", "mode": "replace"}),
    };
    let model =
        ModelStandIn::bedrock(vec![read(), read(), write, read(), ScriptedTurn::Text("Here is the plan.".into())])
            .await;
    model.delay_answers(Duration::from_secs(2));
    let stack = stack_with_progress(&model).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let asked = Instant::now();
    say_directly(&bot, 5001, 4242, "what is the plan?").await;

    let sent = eventually(WAIT, "the answer", || async {
        let sent = stack.outbox.sent().await;
        sent.iter().any(|m| m.text == "Here is the plan.").then_some(sent)
    })
    .await;
    let answered_at = sent.iter().find(|m| m.text == "Here is the plan.").map(|m| m.at).unwrap();
    // Exactly two messages: the status (posted once, not again on each report), then the answer.
    let texts: Vec<&str> = sent.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with("Working on it…"), "{texts:?}");
    assert_eq!(texts[1], "Here is the plan.");
    assert!(sent.iter().all(|m| m.chat_id == json!(4242)));

    // Typing through the run, in the user's chat, every second or so.
    let actions = eventually(WAIT, "the status closed", || async {
        let actions = stack.outbox.actions().await;
        actions_of(&actions, "edit").iter().any(|a| a.text == STATUS_DONE_TEXT).then_some(actions)
    })
    .await;
    let typing = actions_of(&actions, "typing");
    assert!(typing.len() >= 5, "a ~10 s run reports about every second: {} typing actions", typing.len());
    assert!(typing.iter().all(|a| a.target == json!(4242) && a.text == "typing"));
    assert!(typing.iter().all(|a| a.at >= asked && a.at <= answered_at), "typing only while the run lasts");

    // The status edited in place as the tools ran, at most every 3 s, then closed after the answer.
    let edits = actions_of(&actions, "edit");
    let (working, done): (Vec<&ChannelAction>, Vec<&ChannelAction>) =
        edits.iter().copied().partition(|a| a.text.starts_with("Working on it…"));
    assert!(!working.is_empty(), "the status is edited while tools run: {edits:?}");
    assert_ne!(working[0].text, texts[0], "an edit changes the text");
    assert!(working.windows(2).all(|w| w[1].at.duration_since(w[0].at) >= Duration::from_millis(2_500)), "{edits:?}");
    assert_eq!(done.len(), 1);
    assert!(done[0].at >= answered_at, "closed after the answer went out");
    let status = json!({"chat_id": 4242, "message_id": 1});
    assert!(edits.iter().all(|a| a.target == status), "every edit is of the one status message: {edits:?}");

    // Nothing after the run: no typing once it has answered.
    quiet(&stack).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(actions_of(&stack.outbox.actions().await, "typing").len(), typing.len());
    assert_eq!(stack.outbox.sent().await.len(), 2);
}

/// A progress report is the agent's claim like any other: with another conversation's token,
/// or a route out of its own chat, the reply function shows nothing and logs a security event;
/// the conversation's own report shows typing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_progress_report_shows_nothing() {
    let stack = start_stack(None).await;
    let a = onboard_telegram_bot(&stack, TEST_SECRET);
    let b = onboard_telegram_bot(&stack, TEST_SECRET);
    let key = stack.scope_key().await.unwrap();
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&stack.sdk), &stack.resources.queue_urls["ReplyQueue"]);
    // A report for `bot`'s chat 4242 carrying `token_of`'s token for that chat, its route into `route_chat`.
    let progress = |bot: &TelegramBot, token_of: &TelegramBot, route_chat: i64, seq: u32| {
        AgentReport::Progress(RunProgress {
            v: ENVELOPE_VERSION,
            scope: key.mint(&conversation(token_of, "4242")),
            conversation: conversation(bot, "4242"),
            in_reply_to: MessageId::parse("5001").unwrap(),
            in_reply_to_at_ms: now_ms(),
            route: ReplyRoute::Telegram { chat_id: route_chat, message_thread_id: None, reply_to_message_id: None },
            seq,
            sent_at_ms: now_ms(),
            elapsed_ms: 9_000,
            tools_used: 3,
            phase: ProgressPhase::Tool { name: "shell".into() },
        })
    };
    let forged = [
        progress(&b, &a, 4242, 1), // B's chat with A's token
        progress(&a, &a, 9999, 2), // A's own token, its route into another chat
    ];
    for (i, report) in forged.iter().enumerate() {
        let (c, _) = report.claim();
        queue.send_json(report, &c.message_group_id(), &format!("forged-progress-{i}")).await.unwrap();
    }
    quiet(&stack).await;
    assert!(stack.outbox.actions().await.is_empty(), "{:?}", stack.outbox.actions().await);
    assert!(stack.outbox.sent().await.is_empty());
    let violations: Vec<_> = clawless_local::output_lines(&a.tenant_id)
        .into_iter()
        .chain(clawless_local::output_lines(&b.tenant_id))
        .filter(|(_, line)| line.contains("security_violation") && line.contains("progress"))
        .collect();
    assert!(violations.len() >= 2, "both refusals logged: {violations:?}");

    // The control: A's own report in A's own chat shows typing (and, long with tools, its status).
    let own = progress(&a, &a, 4242, 3);
    let (c, _) = own.claim();
    queue.send_json(&own, &c.message_group_id(), "own-progress").await.unwrap();
    let actions = eventually(WAIT, "the typing action", || async {
        let actions = stack.outbox.actions().await;
        (!actions.is_empty()).then_some(actions)
    })
    .await;
    assert_eq!((actions[0].kind, actions[0].target.clone()), ("typing", json!(4242)));
}
