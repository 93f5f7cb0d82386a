//! The admin API end to end on the local stack: Cognito logins (moto's user pool, its real ID
//! tokens and JWKS), the admin function behind the local API Gateway, the table and parameters.
//!
//! - the caller's tenant comes from the verified token: tenant B's token gets 404 for each of
//!   tenant A's resources, and nothing of A changes;
//! - members read, admins write (a member's write: 403);
//! - no token, a forged token, an expired genuine token: 401;
//! - a platform admin may act on another tenant (`?tenant=`), and each such call is audited;
//! - every write is an audit event with its actor; channel keys never come back;
//! - a console decision is the same single conditional write as `/approve`: a second one is 409.

use std::time::Duration;

use clawless_core::admin::identity::PLATFORM_ADMIN_GROUP;
use clawless_core::domain::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use clawless_core::domain::model::{ChannelKind, InboundMessage, ReplyRoute, Sender};
use clawless_core::domain::permissions::PermissionRequest;
use clawless_local::LocalStack;
use serde_json::{Value, json};

use crate::support::*;

const PASSWORD: &str = "Admin-Test-Passw0rd!";

pub(crate) struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(stack: &LocalStack) -> Self {
        Self {
            base: stack.endpoints.admin_api_url.clone().expect("the local run serves the admin API"),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.parse().expect("a method"), &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("the API answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// Signs in with Cognito's `InitiateAuth` on the emulator, as the console does: the ID token.
pub(crate) async fn sign_in(stack: &LocalStack, email: &str, password: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/", stack.endpoints.aws_endpoint_url.trim_end_matches('/')))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth")
        .body(
            json!({
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": stack.endpoints.cognito_client_id.clone().expect("a user pool client"),
                "AuthParameters": {"USERNAME": email, "PASSWORD": password},
            })
            .to_string(),
        )
        .send()
        .await
        .expect("cognito answers")
        .json()
        .await
        .expect("JSON");
    answer["AuthenticationResult"]["IdToken"].as_str().unwrap_or_else(|| panic!("no ID token: {answer}")).to_owned()
}

/// A token signed by `sign_jwt.py` (moto's key: `genuine`; a fresh one: `forged`).
fn signed(kind: &str, claims: &Value) -> String {
    let python = repo_root().join(".clawless/venv/bin/python");
    let out = std::process::Command::new(python)
        .arg(repo_root().join("cli/tests/e2e/support/sign_jwt.py"))
        .arg(kind)
        .arg(claims.to_string())
        .output()
        .expect("the moto venv's python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn add_user(stack: &LocalStack, tenant: &str, email: &str, role: &str) {
    let user =
        clawless(stack, &["user", "add", "--tenant", tenant, "--email", email, "--role", role, "--password", PASSWORD])
            .unwrap();
    assert_eq!(
        (user["tenant_id"].as_str(), user["email"].as_str(), user["role"].as_str()),
        (Some(tenant), Some(email), Some(role))
    );
    assert!(user["username"].is_string(), "{user}");
}

fn tenant(stack: &LocalStack, name: &str) -> String {
    clawless(stack, &["tenant", "create", "--name", name]).unwrap()["tenant_id"].as_str().unwrap().to_owned()
}

/// A pending permission request of `tenant`'s bot, stored as an agent's report would leave it.
async fn pending_request(stack: &LocalStack, tenant: &str, bot: &str) -> String {
    let store = clawless_aws::dynamodb::Store::new(
        clawless_aws::dynamodb::DynamoClient::new(&stack.sdk),
        format!("{}-data", stack.stack),
    );
    let conversation = ConversationRef {
        tenant_id: TenantId::parse(tenant).unwrap(),
        bot_id: BotId::parse(bot).unwrap(),
        channel: ChannelKind::Telegram,
        conversation_id: ConversationId::parse("4242").unwrap(),
    };
    let now = clawless_core::domain::model::now_ms();
    let message = InboundMessage {
        attachments: Vec::new(),
        message_id: MessageId::parse("41").unwrap(),
        sent_at_ms: now,
        sender: Sender { id: "4242".into(), name: "Ada".into(), is_bot: false },
        text: "save a note".into(),
        is_direct: true,
        route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None },
    };
    let request = PermissionRequest::new(
        &conversation,
        &message,
        "file_write",
        &json!({"path": "notes/a.txt", "content": "hello"}),
        "to save the note",
        now,
        30 * 60_000,
    );
    assert!(store.put_request(&request).await.unwrap());
    request.request_id.to_string()
}

fn audit_lines(tenant: &str, kind: &str) -> Vec<Value> {
    clawless_local::output_lines(tenant)
        .into_iter()
        .filter_map(|(_, line)| serde_json::from_str::<Value>(&line).ok())
        .filter(|v| v["audit"] == "clawless.v1" && v["kind"] == kind && v["tenant_id"] == tenant)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_reach_only_their_own_resources_and_roles_decide_writes() {
    let stack = start_stack(None).await;
    let api = Api::new(&stack);
    let (a, b) = (tenant(&stack, "acme"), tenant(&stack, "globex"));
    add_user(&stack, &a, "admin@acme.test", "admin");
    add_user(&stack, &a, "member@acme.test", "member");
    add_user(&stack, &b, "admin@globex.test", "admin");
    let listed = clawless(&stack, &["user", "list", "--tenant", &a]).unwrap();
    assert_eq!(listed["users"].as_array().map(Vec::len), Some(2), "{listed}");
    let a_admin = sign_in(&stack, "admin@acme.test", PASSWORD).await;
    let a_member = sign_in(&stack, "member@acme.test", PASSWORD).await;
    let b_admin = sign_in(&stack, "admin@globex.test", PASSWORD).await;

    let (status, me) = api.call(Some(&a_admin), "GET", "/me", None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me, json!({"tenant_id": a, "email": "admin@acme.test", "role": "admin", "platform_admin": false}));

    // Tenant A's admin builds a bot with a Telegram channel.
    let (status, bot) =
        api.call(Some(&a_admin), "POST", "/bots", Some(json!({"name": "helper", "persona": "brief"}))).await;
    assert_eq!(status, 201, "{bot}");
    let bot_id = bot["bot_id"].as_str().unwrap().to_owned();
    assert_eq!((bot["tenant_id"].as_str(), bot["status"].as_str()), (Some(a.as_str()), Some("active")));
    let token = "123456:secret-bot-token";
    let (status, channel) = api
        .call(
            Some(&a_admin),
            "POST",
            &format!("/bots/{bot_id}/channels"),
            Some(json!({"type": "telegram", "keys": {"bot_token": token, "webhook_secret": "hook-secret-1"}})),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    assert_eq!(channel["webhook_url"], format!("{}/webhook/telegram/{bot_id}", stack.endpoints.api_url));
    assert!(channel["steps"].as_str().is_some_and(|s| s.contains("setWebhook")), "{channel}");
    let (_, shown) = api.call(Some(&a_admin), "GET", &format!("/bots/{bot_id}"), None).await;
    assert_eq!(shown["channels"][0]["type"], "telegram", "{shown}");
    for answer in [&channel, &shown] {
        assert!(
            !answer.to_string().contains(token) && !answer.to_string().contains("hook-secret-1"),
            "keys are write-only: {answer}"
        );
    }
    let request_id = pending_request(&stack, &a, &bot_id).await;

    // Tenant B's admin: every one of A's resources is "not found", and nothing of A changes.
    let bot_path = format!("/bots/{bot_id}");
    let foreign: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", bot_path.clone(), None),
        ("PATCH", bot_path.clone(), Some(json!({"status": "disabled"}))),
        ("DELETE", bot_path.clone(), None),
        (
            "POST",
            format!("{bot_path}/channels"),
            Some(json!({"type": "telegram", "keys": {"bot_token": "1:x", "webhook_secret": "y"}})),
        ),
        ("DELETE", format!("{bot_path}/channels/telegram"), None),
        (
            "POST",
            format!("{bot_path}/channels/telegram/rotate"),
            Some(json!({"keys": {"bot_token": "1:x", "webhook_secret": "y"}})),
        ),
        ("POST", format!("{bot_path}/channels/telegram/register"), None),
        ("GET", format!("{bot_path}/access"), None),
        ("PUT", format!("{bot_path}/access"), Some(json!({"dm": "open"}))),
        ("POST", format!("{bot_path}/access/allow"), Some(json!({"user": "telegram:666"}))),
        ("POST", format!("{bot_path}/access/approve"), Some(json!({"code": "ABCD2345"}))),
        ("GET", format!("{bot_path}/tasks"), None),
        ("POST", format!("{bot_path}/tasks/k0000000000000000000/pause"), None),
        ("GET", format!("{bot_path}/conversations"), None),
        ("GET", format!("{bot_path}/conversations/telegram%3A4242/messages"), None),
        ("POST", format!("/approvals/{request_id}/decision"), Some(json!({"decision": "once"}))),
    ];
    for (method, path, body) in &foreign {
        let (status, answer) = api.call(Some(&b_admin), method, path, body.clone()).await;
        assert_eq!(status, 404, "{method} {path} as tenant B: {answer}");
    }
    let (status, missing) = api.call(Some(&b_admin), "GET", "/bots/b00000000000000000000", None).await;
    assert_eq!(
        (status, &missing),
        (404, &json!({"error": "bot b00000000000000000000 not found"})),
        "a missing bot looks the same"
    );
    let (_, b_bots) = api.call(Some(&b_admin), "GET", "/bots", None).await;
    assert_eq!(b_bots, json!({"bots": []}), "B lists none of A's bots");
    let (_, b_approvals) = api.call(Some(&b_admin), "GET", "/approvals", None).await;
    assert_eq!(b_approvals, json!({"requests": []}));
    let (_, still) = api.call(Some(&a_admin), "GET", &bot_path, None).await;
    assert_eq!(still, shown, "nothing of A changed");
    let (_, pending) = api.call(Some(&a_admin), "GET", "/approvals?status=pending", None).await;
    assert_eq!(pending["requests"][0]["request_id"], request_id.as_str(), "{pending}");
    // A body or query naming another tenant changes nothing: the tenant is the token's.
    let (status, _) = api.call(Some(&b_admin), "GET", &format!("/bots?tenant={a}"), None).await;
    assert_eq!(status, 403, "only platform admins may name a tenant");

    // A member reads and may not write.
    let (status, _) = api.call(Some(&a_member), "GET", "/bots", None).await;
    assert_eq!(status, 200);
    for (method, path, body) in [
        ("POST", "/bots".to_owned(), Some(json!({"name": "x"}))),
        ("PATCH", bot_path.clone(), Some(json!({"status": "disabled"}))),
        ("DELETE", bot_path.clone(), None),
        ("POST", format!("/approvals/{request_id}/decision"), Some(json!({"decision": "once"}))),
        ("POST", "/users".to_owned(), Some(json!({"email": "x@acme.test", "role": "admin"}))),
        ("PUT", "/quota".to_owned(), Some(json!({"monthly_tokens": 1}))),
    ] {
        let (status, answer) = api.call(Some(&a_member), method, &path, body).await;
        assert_eq!(status, 403, "{method} {path} as a member: {answer}");
    }

    // The console decision: once, through the same conditional write as the chat's.
    let (status, decided) = api
        .call(Some(&a_admin), "POST", &format!("/approvals/{request_id}/decision"), Some(json!({"decision": "once"})))
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decision"]["by"], "console:admin@acme.test");
    let (status, again) = api
        .call(Some(&a_admin), "POST", &format!("/approvals/{request_id}/decision"), Some(json!({"decision": "reject"})))
        .await;
    assert_eq!(status, 409, "decided once only: {again}");

    // The bot's access policy: modes and the allowlist, as `clawless access` changes them.
    let (status, access) = api.call(Some(&a_admin), "GET", &format!("{bot_path}/access"), None).await;
    assert_eq!((status, access["dm"].as_str()), (200, Some("pairing")), "{access}");
    let (_, access) =
        api.call(Some(&a_admin), "PUT", &format!("{bot_path}/access"), Some(json!({"dm": "allowlist"}))).await;
    assert_eq!(access["dm"], "allowlist", "{access}");
    let (_, access) = api
        .call(Some(&a_admin), "POST", &format!("{bot_path}/access/allow"), Some(json!({"user": "telegram:4242"})))
        .await;
    assert_eq!(access["allowed"], json!([{"user": "telegram:4242"}]), "{access}");
    let shown = clawless(&stack, &["access", "show", "--bot", &bot_id]).unwrap();
    assert_eq!(shown, access, "the CLI and the API share one implementation");
    let (status, _) = api
        .call(Some(&a_member), "POST", &format!("{bot_path}/access/revoke"), Some(json!({"user": "telegram:4242"})))
        .await;
    assert_eq!(status, 403);
    let (_, access) = api
        .call(Some(&a_admin), "POST", &format!("{bot_path}/access/revoke"), Some(json!({"user": "telegram:4242"})))
        .await;
    assert_eq!(access["allowed"], json!([]), "{access}");
    let (status, bad) = api
        .call(Some(&a_admin), "POST", &format!("{bot_path}/access/approve"), Some(json!({"code": "NOPE0000"})))
        .await;
    assert_eq!(status, 400, "{bad}");

    // Admin writes: a PATCH, quota, users, a rotate; each audited with its actor.
    let (status, patched) =
        api.call(Some(&a_admin), "PATCH", &bot_path, Some(json!({"status": "disabled", "persona": null}))).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!((patched["status"].as_str(), patched.get("persona")), (Some("disabled"), None));
    let (status, quota) = api.call(Some(&a_admin), "PUT", "/quota", Some(json!({"monthly_tokens": 5000}))).await;
    assert_eq!((status, quota["monthly_tokens"].as_u64()), (200, Some(5000)), "{quota}");
    let (status, usage) = api.call(Some(&a_member), "GET", "/usage", None).await;
    assert_eq!((status, usage["monthly_tokens"].as_u64()), (200, Some(5000)), "{usage}");
    let (status, rotated) = api
        .call(
            Some(&a_admin),
            "POST",
            &format!("{bot_path}/channels/telegram/rotate"),
            Some(json!({"keys": {"bot_token": "123456:new-token", "webhook_secret": "hook-secret-2"}})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let (status, user) = api
        .call(
            Some(&a_admin),
            "POST",
            "/users",
            Some(json!({"email": "new@acme.test", "role": "member", "password": PASSWORD})),
        )
        .await;
    assert_eq!((status, user["tenant_id"].as_str()), (201, Some(a.as_str())), "{user}");
    let (status, _) = api.call(Some(&a_admin), "DELETE", "/users/new%40acme.test", None).await;
    assert_eq!(status, 200);
    let (status, bad) = api.call(Some(&a_admin), "POST", "/bots", Some(json!({"name": ""}))).await;
    assert_eq!((status, bad["error"].is_string()), (400, true), "{bad}");

    let audited = audit_lines(&a, "admin_action");
    assert!(audited.len() >= 7, "every write is audited: {audited:?}");
    assert!(audited.iter().all(|l| l["detail"]["actor"] == "admin@acme.test"), "{audited:?}");
    assert!(
        audit_lines(&b, "admin_action").is_empty(),
        "B's refused calls changed nothing: {:?}",
        audit_lines(&b, "admin_action")
    );
    drop(stack);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_forged_and_expired_tokens_are_refused() {
    let stack = start_stack(None).await;
    let api = Api::new(&stack);
    let a = tenant(&stack, "acme");
    add_user(&stack, &a, "admin@acme.test", "admin");
    let genuine = sign_in(&stack, "admin@acme.test", PASSWORD).await;
    let (status, _) = api.call(Some(&genuine), "GET", "/me", None).await;
    assert_eq!(status, 200);

    let pool = stack.endpoints.cognito_user_pool_id.clone().unwrap();
    let client = stack.endpoints.cognito_client_id.clone().unwrap();
    let now = clawless_core::domain::model::now_ms() / 1000;
    let claims = |exp: i64, aud: &str, tenant: &str| {
        json!({
            "iss": format!("https://cognito-idp.{}.amazonaws.com/{pool}", stack.endpoints.region),
            "sub": "00000000-0000-0000-0000-000000000001", "aud": aud, "token_use": "id",
            "iat": now - 7200, "exp": exp, "email": "admin@acme.test",
            "custom:tenant_id": tenant, "custom:role": "admin",
        })
    };
    // The same key and claims as a real one, but expired an hour ago.
    let expired = signed("genuine", &claims(now - 3600, &client, &a));
    // Claims that name another tenant, signed by someone else's key.
    let forged = signed("forged", &claims(now + 3600, &client, &a));
    // A genuine signature for another app client.
    let other_client = signed("genuine", &claims(now + 3600, "someone-elses-client", &a));
    // The payload of the real token with its tenant swapped, under the real signature.
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    payload["custom:tenant_id"] = json!("t00000000000000000000");
    parts[1] = engine.encode(payload.to_string());
    let tampered = parts.join(".");

    for (what, token) in [
        ("no token", None),
        ("not a JWT", Some("nonsense")),
        ("expired", Some(expired.as_str())),
        ("forged", Some(forged.as_str())),
        ("another app client", Some(other_client.as_str())),
        ("tampered", Some(tampered.as_str())),
    ] {
        let (status, answer) = api.call(token, "GET", "/bots", None).await;
        assert_eq!(status, 401, "{what}: {answer}");
        let (status, _) = api.call(token, "POST", "/bots", Some(json!({"name": "x"}))).await;
        assert_eq!(status, 401, "{what}");
    }
    let (_, bots) = api.call(Some(&genuine), "GET", "/bots", None).await;
    assert_eq!(bots, json!({"bots": []}), "nothing was created by a refused token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_admin_acts_across_tenants_and_is_audited() {
    let stack = start_stack(None).await;
    let api = Api::new(&stack);
    let (ops, b) = (tenant(&stack, "operator"), tenant(&stack, "globex"));
    add_user(&stack, &ops, "ops@clawless.test", "admin");
    // Only an operator with AWS access puts someone in the group (never the API).
    let pool = clawless_aws::cognito::UserPool::new(
        clawless_aws::cognito::CognitoClient::new(&stack.sdk),
        stack.endpoints.cognito_user_pool_id.clone().unwrap(),
    );
    pool.add_to_group("ops@clawless.test", PLATFORM_ADMIN_GROUP).await.unwrap();
    let token = sign_in(&stack, "ops@clawless.test", PASSWORD).await;
    let (_, me) = api.call(Some(&token), "GET", "/me", None).await;
    assert_eq!(me["platform_admin"], true, "{me}");

    let (status, bot) =
        api.call(Some(&token), "POST", &format!("/bots?tenant={b}"), Some(json!({"name": "support"}))).await;
    assert_eq!((status, bot["tenant_id"].as_str()), (201, Some(b.as_str())), "{bot}");
    let (status, listed) = api.call(Some(&token), "GET", &format!("/bots?tenant={b}"), None).await;
    assert_eq!((status, listed["bots"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    let shown = clawless(&stack, &["bot", "list", "--tenant", &b]).unwrap();
    assert_eq!(shown["bots"][0]["name"], "support", "{shown}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    let audited = audit_lines(&b, "platform_admin_action");
    assert_eq!(audited.len(), 2, "each cross-tenant call is audited: {audited:?}");
    assert!(audited.iter().all(|l| l["detail"]["actor"] == "ops@clawless.test"), "{audited:?}");
    assert_eq!(audit_lines(&b, "admin_action").len(), 1, "and the write as a write");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_lists_shows_disables_rotates_and_deletes() {
    let stack = start_stack(None).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let listed = clawless(&stack, &["bot", "list", "--tenant", &bot.tenant_id]).unwrap();
    assert_eq!(listed["bots"][0]["bot_id"], bot.bot_id.as_str(), "{listed}");
    let shown = clawless(&stack, &["bot", "show", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(shown["channels"][0]["type"], "telegram", "{shown}");
    let off = clawless(&stack, &["bot", "disable", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(off["status"], "disabled");
    let on = clawless(&stack, &["bot", "enable", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(on["status"], "active");
    let rotated = clawless(
        &stack,
        &[
            "channel",
            "rotate",
            "--bot",
            &bot.bot_id,
            "--type",
            "telegram",
            "--set",
            "bot_token=9:new",
            "--set",
            "webhook_secret=new-secret",
        ],
    )
    .unwrap();
    assert_eq!(rotated["rotated"], true);
    let err = clawless(
        &stack,
        &["channel", "rotate", "--bot", &bot.bot_id, "--type", "telegram", "--set", "bot_token=9:new"],
    )
    .unwrap_err();
    assert!(err.contains("webhook_secret"), "all required keys: {err}");
    let removed = clawless(&stack, &["channel", "remove", "--bot", &bot.bot_id, "--type", "telegram"]).unwrap();
    assert_eq!(removed["removed"], true);
    let shown = clawless(&stack, &["bot", "show", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(shown["channels"], json!([]));
    let deleted = clawless(&stack, &["bot", "delete", "--bot", &bot.bot_id]).unwrap();
    assert_eq!(deleted["deleted"], true);
    let err = clawless(&stack, &["bot", "show", "--bot", &bot.bot_id]).unwrap_err();
    assert!(err.contains("not found"), "{err}");
    let listed = clawless(&stack, &["bot", "list", "--tenant", &bot.tenant_id]).unwrap();
    assert_eq!(listed["bots"], json!([]));
}

/// The history: a bot's conversations (from the index the dispatcher notes) and their lines,
/// newest first, a page at a time; a disabled bot's messages are kept, not answered.
#[tokio::test(flavor = "multi_thread")]
async fn history_pages_through_a_conversation_and_a_disabled_bot_keeps_messages() {
    use crate::telegram::{direct_update, post_update};
    let mut options = clawless_local::LocalOptions::new(repo_root(), clawless_local::default_bin_dir());
    // A disable takes effect within the functions' cache time: a second here.
    options.function_env = vec![("CLAWLESS_CACHE_SECONDS".into(), "1".into())];
    let stack = LocalStack::start(options).await.unwrap();
    let api = Api::new(&stack);
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    add_user(&stack, &bot.tenant_id, "admin@acme.test", "admin");
    let token = sign_in(&stack, "admin@acme.test", PASSWORD).await;
    for (i, text) in ["one", "two"].iter().enumerate() {
        post_update(&bot.webhook_url, Some(TEST_SECRET), &direct_update(500 + i as i64, 4242, text)).await;
        eventually(Duration::from_secs(30), "the answer", || async {
            (stack.outbox.sent().await.len() == i + 1).then_some(())
        })
        .await;
    }
    let (status, listed) = api.call(Some(&token), "GET", &format!("/bots/{}/conversations", bot.bot_id), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["conversations"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["conversations"][0]["conversation_key"], "telegram:4242");

    // Four lines (two messages, two answers), two a page, newest first.
    let path = format!("/bots/{}/conversations/telegram%3A4242/messages?limit=2", bot.bot_id);
    let (_, first) = api.call(Some(&token), "GET", &path, None).await;
    let texts = |page: &Value| -> Vec<String> {
        page["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        texts(&first)[0],
        "Hello Ada! You said: two\n(I remember 2 earlier messages in this conversation.)",
        "{first}"
    );
    assert_eq!(texts(&first)[1], "two");
    assert_eq!(first["messages"][1]["role"], "user");
    let cursor = first["next_cursor"].as_str().expect("more pages").to_owned();
    let (_, second) = api.call(Some(&token), "GET", &format!("{path}&cursor={cursor}"), None).await;
    assert_eq!(texts(&second)[1], "one", "{second}");
    // A cursor names a position, never a partition: junk is refused, not followed.
    let (status, junk) = api.call(Some(&token), "GET", &format!("{path}&cursor=VEVOQU5UI3QwMDA"), None).await;
    assert_eq!(status, 400, "{junk}");

    // Disabled: the next message is kept in the history and not answered.
    let (status, _) =
        api.call(Some(&token), "PATCH", &format!("/bots/{}", bot.bot_id), Some(json!({"status": "disabled"}))).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    post_update(&bot.webhook_url, Some(TEST_SECRET), &direct_update(510, 4242, "are you there?")).await;
    let kept = eventually(Duration::from_secs(30), "the message kept", || async {
        let (_, page) = api.call(Some(&token), "GET", &path, None).await;
        (texts(&page)[0] == "are you there?").then_some(page)
    })
    .await;
    assert_eq!(kept["messages"][0]["role"], "user");
    quiet(&stack).await;
    assert_eq!(stack.outbox.sent().await.len(), 2, "a disabled bot answers nothing");
}
