//! Chat commands end to end on the local stack: `/help` and `/status` are answered by the
//! dispatcher without a model call, and `/new` empties the next run's history; Discord's are
//! application commands registered by `channel add --register`, Slack's slash commands.

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_core::chat_commands::{NEW_ANSWER, RESET_DONE};
use serde_json::Value;

use crate::support::*;
use crate::telegram::{say_directly as say, sent_messages, telegram_stand_in, texts_to, wait_for_text_to};

const ADA: i64 = 4242;

/// Every text of a Converse request's messages, joined.
fn request_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn help_and_status_make_no_model_call_and_new_empties_the_next_runs_history() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::Text("Noted: the blue door.".into()),
        ScriptedTurn::Text("Which door do you mean?".into()),
    ])
    .await;
    model.fix_usage(120, 30);
    let telegram = telegram_stand_in().await;
    let env = vec![("CLAWLESS_MODEL_PROVIDER", "bedrock".to_owned()), ("CLAWLESS_BEDROCK_ENDPOINT", model.url())];
    let stack = start_stack_with_agent_env(telegram.uri(), env).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--tools", "web_fetch"]).unwrap();

    say(&bot, 1, ADA, "remember the blue door").await;
    wait_for_text_to(&telegram, ADA, "Noted: the blue door.").await;
    eventually(std::time::Duration::from_secs(45), "the run's tokens counted", || async {
        let usage = clawless(&stack, &["usage", "show", "--tenant", &bot.tenant_id]).unwrap();
        (usage["runs"] == 1).then_some(())
    })
    .await;
    assert_eq!(model.requests().len(), 1);

    say(&bot, 2, ADA, "/help").await;
    let texts = wait_for_text_to(&telegram, ADA, "/new: start a fresh conversation").await;
    assert!(texts.last().unwrap().contains("/status"), "{texts:?}");
    say(&bot, 3, ADA, "/status").await;
    let texts = wait_for_text_to(&telegram, ADA, "Model: platform default").await;
    let status = texts.last().unwrap();
    assert!(status.contains("web_fetch"), "the profile's tools: {status}");
    assert!(status.contains("120 input + 30 output tokens over 1 runs; no monthly budget"), "{status}");
    assert!(status.contains("Pending permission requests: 0"), "{status}");
    quiet(&stack).await;
    assert_eq!(model.requests().len(), 1, "/help and /status made no model call");

    say(&bot, 4, ADA, "/new").await;
    wait_for_text_to(&telegram, ADA, NEW_ANSWER).await;
    say(&bot, 5, ADA, "what door?").await;
    wait_for_text_to(&telegram, ADA, "Which door do you mean?").await;
    let requests = model.requests();
    assert_eq!(requests.len(), 2, "only the two messages for the agent reached the model");
    assert!(request_text(&requests[0]).contains("remember the blue door"));
    let after_new = request_text(&requests[1]);
    assert!(after_new.contains("what door?"), "{after_new}");
    for before in ["blue door", "/help", "/status", "/new", "Model: platform default"] {
        assert!(!after_new.contains(before), "{before:?} is before /new: {after_new}");
    }
    let sent = sent_messages(&telegram).await;
    assert_eq!(texts_to(&sent, ADA).len(), 5, "one answer each");
}

/// The conversation memory layer's object in the stack's memory bucket, if there is one.
async fn conversation_memory(stack: &clawless_local::LocalStack, bot: &TelegramBot) -> Option<String> {
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&stack.sdk).force_path_style(true).build());
    let key = format!("tenants/{}/bots/{}/conversations/telegram/{ADA}/memory.md", bot.tenant_id, bot.bot_id);
    let bucket = &stack.resources.buckets["MemoryBucket"];
    let object = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_erases_the_conversation_memory_and_the_next_run_sees_none_of_it() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCall {
            name: "memory_write".into(),
            input: serde_json::json!({"layer": "conversation", "content": "Ada likes green tea.", "mode": "replace"}),
        },
        ScriptedTurn::Text("Saved.".into()),
        ScriptedTurn::Text("You like green tea.".into()),
        ScriptedTurn::Text("I do not know yet.".into()),
    ])
    .await;
    let telegram = telegram_stand_in().await;
    let stack = start_bedrock_stack(&telegram, &model).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);

    say(&bot, 1, ADA, "remember that I like green tea").await;
    wait_for_text_to(&telegram, ADA, "Saved.").await;
    assert_eq!(conversation_memory(&stack, &bot).await.as_deref(), Some("Ada likes green tea."));
    say(&bot, 2, ADA, "what do I like?").await;
    wait_for_text_to(&telegram, ADA, "You like green tea.").await;
    assert!(model.requests()[2]["system"].to_string().contains("green tea"), "the layer is in the prompt");

    // `/reset`: answered without a model call, the layer erased.
    say(&bot, 3, ADA, "/reset").await;
    wait_for_text_to(&telegram, ADA, RESET_DONE).await;
    assert_eq!(model.requests().len(), 3, "no model call for /reset");
    assert_eq!(conversation_memory(&stack, &bot).await, None, "the conversation's layer is gone");

    // The same agent session, within its memory cache time: neither the layer nor the history.
    say(&bot, 4, ADA, "what do I like now?").await;
    wait_for_text_to(&telegram, ADA, "I do not know yet.").await;
    let last = model.requests()[3].clone();
    assert!(!last["system"].to_string().contains("green tea"), "{}", last["system"]);
    let seen = request_text(&last);
    assert!(!seen.contains("remember that I like") && !seen.contains("what do I like?"), "{seen}");
    let sent = sent_messages(&telegram).await;
    assert_eq!(texts_to(&sent, ADA).len(), 4);
}

/// Discord's chat commands are application commands, registered by `channel add --register`
/// (with `/ask` kept); Slack's are slash commands, `/status` through an umbrella command since
/// Slack keeps `/status` for itself. Both are answered by the dispatcher, with no model call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discord_application_commands_and_slack_slash_commands_make_no_model_call() {
    use crate::discord::{APPLICATION_ID, TEST_PUBLIC_KEY, post_interaction};
    use crate::slack::{onboard_slack_bot, post_slash_command};

    let model = ModelStandIn::bedrock(vec![]).await;
    let env = vec![("CLAWLESS_MODEL_PROVIDER", "bedrock".to_owned()), ("CLAWLESS_BEDROCK_ENDPOINT", model.url())];
    // Nothing is sent on Telegram; Discord and Slack answer through the local run's stand-ins.
    let stack = start_stack_with_agent_env("http://127.0.0.1:9".into(), env).await;

    let tenant = clawless(&stack, &["tenant", "create", "--name", "acme"]).unwrap();
    let bot =
        clawless(&stack, &["bot", "create", "--tenant", tenant["tenant_id"].as_str().unwrap(), "--name", "d"]).unwrap();
    let bot_id = bot["bot_id"].as_str().unwrap();
    assert_eq!(stack.outbox.discord_commands(APPLICATION_ID).await, None);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawless"))
        .args(["--json", "channel", "add", "--bot", bot_id, "--type", "discord", "--register"])
        .args(["--set", &format!("public_key={TEST_PUBLIC_KEY}"), "--set", &format!("application_id={APPLICATION_ID}")])
        .args(["--set", "bot_token=TEST.discord-bot-token.not-for-production"])
        .args(["--api-url", &stack.endpoints.api_url])
        .env("AWS_ENDPOINT_URL", &stack.endpoints.aws_endpoint_url)
        .env("AWS_REGION", &stack.endpoints.region)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CLAWLESS_DISCORD_API", &stack.channel_apis["discord"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["registered"], true);
    let commands = stack.outbox.discord_commands(APPLICATION_ID).await.expect("commands registered");
    let names: Vec<&str> = commands.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ask", "help", "new", "reset", "status", "usage"], "the existing /ask is kept");
    assert_eq!(commands[0]["options"][0]["name"], "question");

    // `/status` from a guild channel: deferred, then answered by the dispatcher's follow-up.
    let status = serde_json::json!({
        "id": "1441458133401900011", "application_id": APPLICATION_ID, "type": 2, "version": 1,
        "token": "test-interaction-token-status", "guild_id": "1000000000000000001",
        "channel_id": "1000000000000000005",
        "member": {"user": {"id": "4242424242424242", "username": "ada", "global_name": "Ada"}, "roles": []},
        "data": {"id": "1300000000000000003", "name": "status", "type": 1}
    });
    let webhook = added["webhook_url"].as_str().unwrap();
    let response = post_interaction(webhook, &status.to_string()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), serde_json::json!({"type": 5}));
    let sent = eventually(std::time::Duration::from_secs(45), "the /status follow-up", || async {
        let sent = stack.outbox.sent().await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].channel, "discord");
    assert_eq!(sent[0].interaction.as_deref(), Some("test-interaction-token-status"));
    assert!(sent[0].text.starts_with("Model: platform default"), "{:?}", sent[0].text);
    assert!(sent[0].text.contains("Pending permission requests: 0"), "{:?}", sent[0].text);

    // Slack: the app's `/help`, and `/status` as `/clawless status`, from a channel.
    let slack = onboard_slack_bot(&stack);
    for (i, (command, text, expected)) in
        [("/help", "", "/new: start a fresh conversation"), ("/clawless", "status", "Model: platform default")]
            .into_iter()
            .enumerate()
    {
        let trigger = format!("13345224609.738474920.8088930838d88f008e0{i}");
        let fields = [
            ("team_id", "T0123ABCD"),
            ("channel_id", "C0COMMANDS"),
            ("channel_name", "general"),
            ("user_id", "U0123ABCD"),
            ("user_name", "ada"),
            ("command", command),
            ("text", text),
            ("trigger_id", trigger.as_str()),
        ];
        let response = post_slash_command(&slack.webhook_url, &fields).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "", "Slack shows any other answer to the person");
        let sent = eventually(std::time::Duration::from_secs(45), expected, || async {
            let sent = stack.outbox.sent().await;
            (sent.len() == i + 2).then_some(sent)
        })
        .await;
        let answer = sent.last().unwrap();
        assert_eq!((answer.channel, &answer.chat_id), ("slack", &serde_json::json!("C0COMMANDS")));
        assert!(answer.text.contains(expected), "{command} {text}: {:?}", answer.text);
    }
    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 3, "one answer each");
    assert!(model.requests().is_empty(), "no command reached the model");
}
