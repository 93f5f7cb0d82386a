//! Test helpers: a fresh local stack per test (its own moto on a free port), the `clawless`
//! binary against it, and polling with a deadline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::Value;

// The storage ports, so tests can read and seed the table through the DynamoDB adapter.
pub use clawless_core::ports::{ApprovalRepo, ConversationRepo, ReplyQueue, UsageRepo};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A fresh stack; `telegram_api` replaces the built-in Telegram stand-in.
pub async fn start_stack(telegram_api: Option<String>) -> LocalStack {
    start_stack_with(telegram_api.map(|url| ("telegram", url)).into_iter().collect()).await
}

/// A fresh stack whose channels send to the given API base URLs (`("slack", url)`, …).
pub async fn start_stack_with(channel_apis: Vec<(&str, String)>) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.channel_apis = channel_apis.into_iter().map(|(c, u)| (c.to_owned(), u)).collect();
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

/// A fresh stack whose Telegram sends go to `telegram_api` and whose agents get `agent_env`
/// (model provider settings, …).
pub async fn start_stack_with_agent_env(telegram_api: String, agent_env: Vec<(&str, String)>) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.channel_apis = [("telegram".to_owned(), telegram_api)].into();
    options.agent_env = agent_env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

/// A fresh stack whose Telegram sends go to `telegram` and whose agents call the scripted Bedrock
/// `model`.
pub async fn start_bedrock_stack(
    telegram: &wiremock::MockServer,
    model: &clawless_agent::stand_ins::ModelStandIn,
) -> LocalStack {
    start_bedrock_stack_with(telegram, model, Vec::new()).await
}

/// [`start_bedrock_stack`], with `function_env` added to every function's environment.
pub async fn start_bedrock_stack_with(
    telegram: &wiremock::MockServer,
    model: &clawless_agent::stand_ins::ModelStandIn,
    function_env: Vec<(&str, String)>,
) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.channel_apis = [("telegram".to_owned(), telegram.uri())].into();
    options.agent_env =
        vec![("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()), ("CLAWLESS_BEDROCK_ENDPOINT".into(), model.url())];
    options.function_env = function_env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

/// Runs `clawless --json ARGS` against the stack through the standard AWS environment variables.
pub fn clawless(stack: &LocalStack, args: &[&str]) -> Result<Value, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawless"))
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
        .output()
        .expect("clawless runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A tenant, a bot and one channel, created with the CLI.
pub struct Onboarded {
    pub tenant_id: String,
    pub bot_id: String,
    pub webhook_url: String,
}

/// Creates a tenant, a bot and its `channel` with the CLI, as an operator would, and checks the
/// webhook URL it prints.
pub fn onboard_bot(stack: &LocalStack, channel: &str, settings: &[(&str, &str)]) -> Onboarded {
    let tenant = clawless(stack, &["tenant", "create", "--name", "acme"]).unwrap();
    let tenant_id = tenant["tenant_id"].as_str().unwrap().to_owned();
    // Open DMs: these tests are about the message path; access policies have their own (access.rs).
    let bot = clawless(stack, &["bot", "create", "--tenant", &tenant_id, "--name", "helper", "--dm", "open"]).unwrap();
    let bot_id = bot["bot_id"].as_str().unwrap().to_owned();
    let sets: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["channel", "add", "--bot", &bot_id, "--type", channel];
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    let added = clawless(stack, &args).unwrap();
    assert_eq!(added["channel"], channel);
    let webhook_url = added["webhook_url"].as_str().unwrap().to_owned();
    assert_eq!(webhook_url, format!("{}/webhook/{channel}/{bot_id}", stack.endpoints.api_url));
    Onboarded { tenant_id, bot_id, webhook_url }
}

pub struct TelegramBot {
    pub tenant_id: String,
    pub bot_id: String,
    pub webhook_url: String,
}

pub const TEST_SECRET: &str = "test-webhook-secret-not-for-production";

pub fn onboard_telegram_bot(stack: &LocalStack, secret: &str) -> TelegramBot {
    let bot = onboard_bot(stack, "telegram", &[("bot_token", "123456:TEST-token"), ("webhook_secret", secret)]);
    TelegramBot { tenant_id: bot.tenant_id, bot_id: bot.bot_id, webhook_url: bot.webhook_url }
}

/// Reads a file of `events/` as JSON.
pub fn sample_event(name: &str) -> Value {
    let path = repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no queue holds a message (visible or in flight), then a little longer.
pub async fn quiet(stack: &LocalStack) {
    // Twice: an agent that finishes a run may have just put its reply on the queue.
    for _ in 0..2 {
        eventually(Duration::from_secs(30), "queues to drain and agents to go idle", || async {
            let drained = stack.queued_messages().await.values().all(|n| *n == 0);
            (drained && stack.agentcore.busy_sessions().await == 0).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// How many EMF lines named `metric` the stack's processes wrote for `tenant`.
pub fn metric_lines(tenant: &str, metric: &str) -> usize {
    clawless_local::output_lines(tenant)
        .into_iter()
        .filter_map(|(_, line)| serde_json::from_str::<Value>(&line).ok())
        .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == metric)
        .count()
}
