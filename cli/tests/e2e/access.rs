//! Access policies end to end on the local stack: a stranger under `pairing` gets one code and
//! no agent run; approved (by the operator or by the approver's `/pair`), they are answered;
//! revoked, they are refused at their next message; a DM pairing admits nobody in a group the
//! `groups allowlist` does not list, and nothing of a refused message is stored.

use std::time::Duration;

use clawless_aws::dynamodb::{ConversationRepo, Store};
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use clawless_core::domain::model::{ChannelKind, Role};
use serde_json::json;

use crate::support::*;
use crate::telegram::{post_update, sent_messages, telegram_stand_in, texts_to, wait_for_text_to};

const WAIT: Duration = Duration::from_secs(45);
const ADA: i64 = 4242;
const BEA: i64 = 5151;
const APPROVER: i64 = 9001;
const LISTED_GROUP: i64 = -100;
const OTHER_GROUP: i64 = -200;

fn update(update_id: i64, from: i64, chat: i64, text: &str) -> String {
    let kind = if chat == from { "private" } else { "supergroup" };
    // A leading @clawd_bot is a mention, as Telegram marks it.
    let entities = if text.starts_with("@clawd_bot") {
        json!([{"type": "mention", "offset": 0, "length": 10}])
    } else {
        json!([])
    };
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": from, "is_bot": false, "first_name": "Ada"},
            "chat": {"id": chat, "type": kind},
            "date": 1763740800 + update_id,
            "text": text,
            "entities": entities,
        }
    })
    .to_string()
}

/// The code in the pairing reply.
fn code_in(text: &str) -> String {
    let rest = text.split("Your pairing code is ").nth(1).expect("a pairing reply");
    rest.split_whitespace().next().unwrap().to_owned()
}

struct Bot {
    tenant_id: String,
    bot_id: String,
    webhook_url: String,
}

impl Bot {
    fn conversation(&self, chat: i64) -> ConversationRef {
        ConversationRef {
            tenant_id: TenantId::parse(&self.tenant_id).unwrap(),
            bot_id: BotId::parse(&self.bot_id).unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse(&chat.to_string()).unwrap(),
        }
    }
}

/// A bot created with the CLI's defaults but `--groups allowlist` listing one group.
fn onboard(stack: &clawless_local::LocalStack) -> Bot {
    let tenant = clawless(stack, &["tenant", "create", "--name", "acme"]).unwrap();
    let tenant_id = tenant["tenant_id"].as_str().unwrap().to_owned();
    let bot = clawless(stack, &["bot", "create", "--tenant", &tenant_id, "--name", "helper", "--groups", "allowlist"])
        .unwrap();
    assert_eq!((bot["dm"].as_str(), bot["groups"].as_str()), (Some("pairing"), Some("allowlist")), "{bot}");
    let bot_id = bot["bot_id"].as_str().unwrap().to_owned();
    let secret = format!("webhook_secret={TEST_SECRET}");
    let args = ["channel", "add", "--bot", &bot_id, "--type", "telegram", "--set", "bot_token=123:abc"];
    let added = clawless(stack, &[&args[..], &["--set", &secret, "--set", "bot_username=clawd_bot"]].concat()).unwrap();
    let group = format!("telegram:{LISTED_GROUP}");
    let allowed = clawless(stack, &["access", "allow", "--bot", &bot_id, "--group", &group]).unwrap();
    assert_eq!(allowed["allowed_groups"], json!([group]));
    let approver = APPROVER.to_string();
    let set =
        ["approver", "set", "--tenant", &tenant_id, "--bot", &bot_id, "--channel", "telegram", "--user", &approver];
    clawless(stack, &set).unwrap();
    Bot { tenant_id, bot_id, webhook_url: added["webhook_url"].as_str().unwrap().to_owned() }
}

async fn say(bot: &Bot, update_id: i64, from: i64, chat: i64, text: &str) {
    let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &update(update_id, from, chat, text)).await;
    assert_eq!(response.status(), 200);
}

async fn inbound_lines(store: &Store, bot: &Bot, chat: i64) -> usize {
    store.conversation(&bot.conversation(chat)).await.unwrap().iter().filter(|l| l.role == Role::User).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_pair_approved_users_are_answered_revoked_ones_refused_and_groups_kept_apart() {
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard(&stack);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));

    // A stranger's first DM: one code, no agent run, nothing of theirs stored.
    say(&bot, 1, ADA, ADA, "hello?").await;
    let texts = wait_for_text_to(&telegram, ADA, "Your pairing code is").await;
    let code = code_in(&texts[0]);
    // A flood within the hour: no second code.
    for i in 2..6 {
        say(&bot, i, ADA, ADA, &format!("let me in {i}")).await;
    }
    quiet(&stack).await;
    assert_eq!(texts_to(&sent_messages(&telegram).await, ADA).len(), 1, "one code per user per hour");
    assert_eq!(stack.agentcore.running_sessions().await, 0, "no agent ran");
    assert_eq!(inbound_lines(&store, &bot, ADA).await, 0, "a refused message is not stored");
    let shown = clawless(&stack, &["access", "show", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(shown["dm"], "pairing");
    assert_eq!(shown["allowed"], json!([]));
    assert_eq!(shown["pending"][0]["code"], code.as_str());
    assert_eq!(shown["pending"][0]["user"], format!("telegram:{ADA}"));
    assert!(shown["pending"][0]["expires_at_ms"].as_i64().unwrap() > clawless_core::domain::model::now_ms());

    // A wrong code approves nothing; the right one lets Ada in, and she is answered.
    assert!(clawless(&stack, &["access", "approve", "--bot", &bot.bot_id, "--code", "ZZZZZZZZ"]).is_err());
    let approved = clawless(&stack, &["access", "approve", "--bot", &bot.bot_id, "--code", &code]).unwrap();
    assert_eq!(approved["allowed"], json!([{"user": format!("telegram:{ADA}")}]));
    assert_eq!(approved["pending"], json!([]));
    say(&bot, 10, ADA, ADA, "now?").await;
    wait_for_text_to(&telegram, ADA, "You said: now?").await;

    // Her DM pairing counts for nothing in a group the allowlist does not name: not answered,
    // not even stored as context. The listed group answers her mention.
    say(&bot, 11, ADA, OTHER_GROUP, "@clawd_bot answer me here").await;
    say(&bot, 12, ADA, LISTED_GROUP, "@clawd_bot and here").await;
    wait_for_text_to(&telegram, LISTED_GROUP, "You said:").await;
    quiet(&stack).await;
    assert!(texts_to(&sent_messages(&telegram).await, OTHER_GROUP).is_empty());
    assert_eq!(inbound_lines(&store, &bot, OTHER_GROUP).await, 0);

    // Revoked: refused at her very next message (a stranger again: a new code, no answer).
    clawless(&stack, &["access", "revoke", "--bot", &bot.bot_id, "--user", &format!("telegram:{ADA}")]).unwrap();
    say(&bot, 13, ADA, ADA, "still there?").await;
    quiet(&stack).await;
    let texts = texts_to(&sent_messages(&telegram).await, ADA);
    assert!(!texts.iter().any(|t| t.contains("still there?")), "{texts:?}");
    let lines = store.conversation(&bot.conversation(ADA)).await.unwrap();
    assert!(!lines.iter().any(|l| l.text == "still there?"), "not stored");

    // The approver pairs Bea with /pair in their own chat (not on any allowlist themselves).
    say(&bot, 20, BEA, BEA, "hi").await;
    let texts = wait_for_text_to(&telegram, BEA, "Your pairing code is").await;
    let bea_code = code_in(&texts[0]);
    say(&bot, 21, BEA, BEA, &format!("/pair {bea_code}")).await;
    say(&bot, 22, APPROVER, APPROVER, "/pair AAAAAAAA").await;
    wait_for_text_to(&telegram, APPROVER, "No pending pairing code AAAAAAAA").await;
    say(&bot, 23, APPROVER, APPROVER, &format!("/pair {}", bea_code.to_lowercase())).await;
    wait_for_text_to(&telegram, APPROVER, &format!("Paired: telegram:{BEA}")).await;
    say(&bot, 24, BEA, BEA, "thanks").await;
    let texts = wait_for_text_to(&telegram, BEA, "You said: thanks").await;
    assert!(!texts.iter().any(|t| t.contains("Paired")), "a stranger's own /pair approved nothing: {texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_commands_check_their_input_and_disabled_modes_drop_at_the_webhook() {
    let telegram = telegram_stand_in().await;
    let stack = start_stack(Some(telegram.uri())).await;
    let bot = onboard(&stack);
    let b = bot.bot_id.as_str();
    assert!(clawless(&stack, &["access", "set", "--bot", b, "--dm", "sometimes"]).is_err());
    assert!(clawless(&stack, &["access", "set", "--bot", b]).is_err());
    assert!(clawless(&stack, &["access", "allow", "--bot", b, "--user", "fax:1"]).is_err());
    assert!(
        clawless(&stack, &["access", "allow", "--bot", b, "--user", "telegram:1", "--group", "telegram:-1"]).is_err()
    );
    assert!(clawless(&stack, &["access", "show", "--bot", "b00000000000000000000"]).is_err());
    let set = clawless(&stack, &["access", "set", "--bot", b, "--dm", "disabled", "--groups", "disabled"]).unwrap();
    assert_eq!((set["dm"].as_str(), set["groups"].as_str()), (Some("disabled"), Some("disabled")));
    let allowed = clawless(&stack, &["access", "allow", "--bot", b, "--user", &format!("telegram:{ADA}")]).unwrap();
    assert_eq!(allowed["allowed"], json!([{"user": format!("telegram:{ADA}")}]));
    // Nothing was sent yet, so the webhook loads the bot as set: everything is dropped there.
    say(&bot, 1, ADA, ADA, "hello").await;
    say(&bot, 2, ADA, LISTED_GROUP, "chatter in the group").await;
    quiet(&stack).await;
    assert!(sent_messages(&telegram).await.is_empty());
    let store = Store::new(aws_sdk_dynamodb::Client::new(&stack.sdk), format!("{}-data", stack.stack));
    assert_eq!(inbound_lines(&store, &bot, ADA).await, 0);
    assert_eq!(inbound_lines(&store, &bot, LISTED_GROUP).await, 0);
    let revoked =
        clawless(&stack, &["access", "revoke", "--bot", b, "--group", &format!("telegram:{LISTED_GROUP}")]).unwrap();
    assert_eq!(revoked["allowed_groups"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_demo_is_answered() {
    // What `clawless local up` seeds and the README tells to run: its bot is `open`.
    let stack = start_stack(None).await;
    let dir =
        std::env::temp_dir().join(format!("clawless-demo-{}-{}", std::process::id(), stack.endpoints.api_url.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let (script, tenant) = clawless_cli::demo::seed_demo(&stack, &dir).await.unwrap();
    let demo_mcp = clawless_cli::demo::attach_demo_mcp(&stack, &tenant).await.unwrap();
    let out = std::process::Command::new("bash").arg(&script).arg("hello bot").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "the demo bot's answer", || async {
        let sent = stack.outbox.sent().await;
        sent.iter().any(|m| m.text == "Hello Ada! You said: hello bot").then_some(())
    })
    .await;
    // `--photo FILE caption`: the stand-in holds the file, the dispatcher downloads it.
    let photo = dir.join("receipt.png");
    std::fs::write(&photo, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let out =
        std::process::Command::new("bash").arg(&script).arg("--photo").arg(&photo).arg("a receipt").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "the photo downloaded and answered", || async {
        let downloaded =
            stack.outbox.downloads().await.iter().any(|(c, id)| c == "telegram" && id.starts_with("local-"));
        let answered = stack.outbox.sent().await.len() >= 2;
        (downloaded && answered).then_some(())
    })
    .await;
    // The README's MCP line: the offline model calls the demo server's tool, its answer comes back.
    let call = r#"call mcp__demo__lookup_order {"order_id": "A-1001"}"#;
    let out = std::process::Command::new("bash").arg(&script).arg(call).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "the demo MCP tool's answer", || async {
        let sent = stack.outbox.sent().await;
        sent.iter()
            .any(|m| m.text.contains("The tool answered:") && m.text.contains("Order A-1001: shipped"))
            .then_some(())
    })
    .await;
    assert_eq!(demo_mcp.calls().len(), 1);
    let missing =
        std::process::Command::new("bash").arg(&script).arg("--photo").arg(dir.join("nope.png")).output().unwrap();
    assert!(!missing.status.success(), "a missing file is refused");
    let _ = std::fs::remove_dir_all(&dir);
}
