//! The web console (`console/`) in a real browser against the local stack: Debian's `chromium`,
//! headless, driven by the `playwright-core` library from `console/tests/flow.mjs`.
//!
//! This test starts the stack (the built-in channel stand-ins, a scripted Bedrock model, a 1 s
//! cache so a disabled bot is noticed at once), creates a tenant and its admin with the CLI as an
//! operator would, then runs the Node script, which signs in with Cognito at phone width, creates
//! a bot, adds its Telegram channel, talks to it through the webhook exactly as Telegram does,
//! reads the history, approves a permission request with one click, sees the chat hear it,
//! disables the bot and sees the next message ignored (see the script's header for every step).
//! Afterwards the test checks the outcome in the store and through the CLI.
//!
//! What it needs, and never skips without (a missing piece fails the test):
//! - `chromium` (`CHROMIUM`, else `/usr/bin/chromium`): `scripts/test.sh` installs Debian's
//!   package when it is missing.
//! - Node and npm, and the console built: `scripts/test.sh` runs `npm ci` and `npm run build` in
//!   `console/` before the tests; run alone (`cargo test -p clawless-cli --test e2e -- console`),
//!   this test does the same when `console/node_modules` or `console/dist` is missing or older
//!   than what it is made from.
//!
//! Screenshots of every page go to `target/console-screenshots/`; `docs/console.png` (the
//! approvals page at phone width) is written when it is missing, or again with
//! `CLAWLESS_CONSOLE_SCREENSHOT=update`, so an ordinary run leaves the work tree clean.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_aws::dynamodb::Store;
use clawless_core::domain::ids::BotId;
use clawless_core::domain::model::BotStatus;
use clawless_core::ports::BotRepo;
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::{Value, json};

use crate::support::*;

const EMAIL: &str = "ops-admin@example.com";
const PASSWORD: &str = "Console-Test-passw0rd!";
const APPROVED_REPLY: &str = "The Q3 report is written.";
/// How long the browser script may take at most (it has its own, shorter waits per step).
const FLOW_TIMEOUT: Duration = Duration::from_secs(300);

/// What the scripted model asks `file_write` to write: long, with markup in it, so the approvals
/// page must show all of it, as text.
fn tool_content() -> String {
    format!("Q3 <script>alert('x')</script> & <b>totals</b>: {}end.", "revenue up, costs down; ".repeat(12))
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no chromium at {} (set CHROMIUM, or `apt-get install chromium`; scripts/test.sh installs it)",
        path.display()
    );
    path
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> SystemTime {
    let mut latest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let time = if path.is_dir() { newest(&path) } else { modified(&path).unwrap_or(SystemTime::UNIX_EPOCH) };
        latest = latest.max(time);
    }
    latest
}

fn npm(console: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(console)
        .status()
        .unwrap_or_else(|e| panic!("npm {args:?} did not start ({e}): the console test needs Node and npm"));
    assert!(status.success(), "npm {args:?} in {} failed: {status}", console.display());
}

/// Installs the console's packages and builds it when either is missing or stale.
fn build_console(console: &Path) {
    let lock = console.join("package-lock.json");
    let installed = console.join("node_modules/.package-lock.json");
    if modified(&installed).is_none() || modified(&lock) > modified(&installed) {
        npm(console, &["ci", "--no-audit", "--no-fund"]);
    }
    let built = modified(&console.join("dist/index.html"));
    let sources = [
        newest(&console.join("src")),
        modified(&console.join("index.html")).unwrap_or(SystemTime::UNIX_EPOCH),
        modified(&console.join("vite.config.ts")).unwrap_or(SystemTime::UNIX_EPOCH),
        modified(&lock).unwrap_or(SystemTime::UNIX_EPOCH),
    ];
    if built.is_none() || sources.iter().any(|s| Some(*s) > built) {
        npm(console, &["run", "build"]);
    }
    assert!(console.join("dist/index.html").is_file(), "the console build wrote no dist/index.html");
}

/// The stack: the built-in channel stand-ins (so the Node script can read what they sent at
/// `{stand_in_url}/_outbox`), the scripted model, and a bot cache of 1 s.
async fn start(model: &ModelStandIn) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.agent_env =
        vec![("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()), ("CLAWLESS_BEDROCK_ENDPOINT".into(), model.url())];
    options.function_env = vec![("CLAWLESS_CACHE_SECONDS".into(), "1".into())];
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

/// Runs `node console/tests/flow.mjs` with `env`, killing it after [`FLOW_TIMEOUT`].
fn run_flow(root: &Path, env: Vec<(&'static str, String)>) -> std::process::ExitStatus {
    let mut child = Command::new("node")
        .arg("console/tests/flow.mjs")
        .current_dir(root)
        .envs(env)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("node did not start ({e}): the console test needs Node"));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            return status;
        }
        if started.elapsed() > FLOW_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("console/tests/flow.mjs took longer than {FLOW_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_runs_a_bot_in_a_real_browser() {
    let root = repo_root();
    let chromium = chromium();
    build_console(&root.join("console"));

    let content = tool_content();
    let arguments = json!({"path": "q3-report.txt", "content": content});
    let model = ModelStandIn::bedrock(vec![
        // The first message: a plain answer.
        ScriptedTurn::Text("Hello! I am the console's helper.".into()),
        // The second: a tool outside least privilege, so a permission request waits.
        ScriptedTurn::ToolCall { name: "file_write".into(), input: arguments.clone() },
        ScriptedTurn::Text("That needs approval; I asked.".into()),
        // Once approved, the run resumes: the tool now runs, then the answer.
        ScriptedTurn::ToolCall { name: "file_write".into(), input: arguments.clone() },
        ScriptedTurn::Text(APPROVED_REPLY.into()),
    ])
    .await;
    let stack = start(&model).await;

    let tenant = clawless(&stack, &["tenant", "create", "--name", "console-co"]).unwrap();
    let tenant_id = tenant["tenant_id"].as_str().unwrap().to_owned();
    let user = clawless(
        &stack,
        &["user", "add", "--tenant", &tenant_id, "--email", EMAIL, "--role", "admin", "--password", PASSWORD],
    )
    .unwrap();
    assert_eq!(user["tenant_id"], tenant_id.as_str(), "{user}");
    assert_eq!(user["email"], EMAIL, "{user}");
    assert_eq!(user["role"], "admin", "{user}");

    let console_url = stack.endpoints.console_url.clone().expect("the local run serves the console");
    assert_eq!(console_url, format!("{}/console/", stack.endpoints.api_url));
    let shots = root.join("target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let docs_shot = root.join("docs/console.png");
    let update_docs = !docs_shot.exists() || std::env::var("CLAWLESS_CONSOLE_SCREENSHOT").as_deref() == Ok("update");
    let result_file = shots.join("result.json");
    let env = vec![
        ("CONSOLE_URL", console_url),
        ("CONSOLE_EMAIL", EMAIL.to_owned()),
        ("CONSOLE_PASSWORD", PASSWORD.to_owned()),
        ("API_URL", stack.endpoints.api_url.clone()),
        ("OUTBOX_URL", format!("{}/_outbox", stack.stand_in_url)),
        ("CONSOLE_SCREENSHOTS", shots.display().to_string()),
        ("CONSOLE_DOCS_SCREENSHOT", if update_docs { docs_shot.display().to_string() } else { String::new() }),
        ("CHROMIUM", chromium.display().to_string()),
        ("CONSOLE_EXPECT_TOOL_CONTENT", content.clone()),
        ("CONSOLE_APPROVED_REPLY", APPROVED_REPLY.to_owned()),
        ("CONSOLE_RESULT", result_file.display().to_string()),
    ];
    let flow_root = root.clone();
    let status = tokio::task::spawn_blocking(move || run_flow(&flow_root, env)).await.unwrap();
    assert!(status.success(), "console/tests/flow.mjs failed ({status}); screenshots in {}", shots.display());

    // What the browser did, as the store and the CLI see it.
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&result_file).unwrap()).unwrap();
    assert_eq!(result["tenant_id"], tenant_id.as_str(), "the console showed the admin's tenant: {result}");
    assert!(
        result["register_error"].is_null(),
        "the console's Register (Telegram's setWebhook): {}",
        result["register_error"]
    );
    let bot_id = result["bot_id"].as_str().unwrap();
    let request_id = result["request_id"].as_str().unwrap();

    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.tables["DataTable"]);
    let bot = store.load_bot(&BotId::parse(bot_id).unwrap()).await.unwrap().expect("the bot the console created");
    assert_eq!(bot.bot.tenant_id.to_string(), tenant_id);
    assert_eq!(bot.bot.name, "Console <i>helper</i>");
    assert_eq!(bot.bot.status, BotStatus::Disabled, "the console disabled it");
    assert_eq!(bot.bot.persona.as_deref(), Some("You write the quarterly reports.\nBe brief."), "the console's edit");
    assert_eq!(bot.bot.trigger.as_deref(), Some("^report"));
    assert_eq!(bot.channels.len(), 1, "one Telegram channel");
    let deleted = BotId::parse(result["deleted_bot_id"].as_str().unwrap()).unwrap();
    assert!(store.load_bot(&deleted).await.unwrap().is_none(), "the bot the console deleted is gone");

    let listed = clawless(&stack, &["approvals", "list", "--tenant", &tenant_id]).unwrap();
    let requests = listed["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{listed}");
    let request = &requests[0];
    assert_eq!(request["request_id"], request_id);
    assert_eq!(request["tool"], "file_write");
    assert_eq!(request["status"], "approved", "{request}");
    assert_eq!(request["decision"]["how"], "once", "{request}");
    let by = request["decision"]["by"].as_str().unwrap_or_default();
    assert!(by.contains(EMAIL), "decided by the console's user: {request}");
    assert!(request["used_at_ms"].is_i64(), "the once-approval was used by the resumed run: {request}");
    let stored: Value = serde_json::from_str(request["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(stored, arguments);

    // The requester's chat: the answer, the notice of the wait, the outcome and the resumed
    // answer, and nothing after the bot was disabled.
    let texts: Vec<String> = stack
        .outbox
        .sent()
        .await
        .into_iter()
        .filter(|m| m.channel == "telegram" && m.chat_id.to_string().trim_matches('"') == "4242")
        .map(|m| m.text)
        .collect();
    assert!(texts.iter().any(|t| t.contains(APPROVED_REPLY)), "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("approved `file_write` once")), "{texts:#?}");
    // One turn for the first message, two for the second (the call, then the answer after the
    // refusal), two for the resumed run; none for the message to the disabled bot.
    assert_eq!(model.requests().len(), 5, "{:#?}", model.requests());

    for page in
        ["01-sign-in", "03-bot", "04-history", "05-approvals-phone", "06-approvals-decided", "09-usage", "10-users"]
    {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", png.display());
    }
}
