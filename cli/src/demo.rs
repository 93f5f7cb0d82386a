//! The demo `clawless local up` seeds: a tenant, a bot with open DMs (so the README's test
//! message is answered without pairing) and a Telegram channel, and a script that sends a message.

use std::path::{Path, PathBuf};

use clawless_core::domain::model::BotSettings;
use clawless_local::LocalStack;

use crate::admin::Admin;

/// Creates the demo tenant, bot and Telegram channel, and writes `send-test-message.sh` into `dir`.
pub async fn seed_demo(stack: &LocalStack, dir: &Path) -> Result<(PathBuf, String), String> {
    let admin = Admin::new(&stack.sdk, &stack.stack).with_api_url(Some(stack.endpoints.api_url.clone()));
    let tenant = admin.create_tenant("demo").await.map_err(|e| e.to_string())?;
    let bot = admin
        // Open, so the README's test message is answered without pairing first.
        .create_bot(
            tenant.tenant_id.as_str(),
            "demo-bot",
            BotSettings { dm: Some(clawless_core::access::DmPolicy::Open), ..BotSettings::default() },
        )
        .await
        .map_err(|e| e.to_string())?;
    let secret = hex::encode(rand::random::<[u8; 16]>());
    let settings =
        [("bot_token".to_owned(), "000000:local-demo-token".to_owned()), ("webhook_secret".to_owned(), secret.clone())];
    let added =
        admin.add_channel(bot.bot_id.as_str(), "telegram", &settings, false).await.map_err(|e| e.to_string())?;
    let script = dir.join("send-test-message.sh");
    let body = format!(
        r#"#!/usr/bin/env bash
# Sends a Telegram-style update to the local clawless webhook (written by `clawless local up`).
#   send-test-message.sh 'hello bot'
#   send-test-message.sh --photo FILE ['caption']      a photo (the stand-in holds the file)
#   send-test-message.sh --document FILE ['caption']   a document
set -euo pipefail
kind=text
file=
case "${{1:-}}" in
  --photo|--document)
    kind="${{1#--}}"
    file="${{2:?usage: send-test-message.sh --photo FILE [caption]}}"
    [ -f "$file" ] || {{ echo "no such file: $file" >&2; exit 2; }}
    shift 2
    ;;
esac
text="${{1:-}}"
[ "$kind" = text ] && text="${{text:-hello bot}}"
update_id="$(date +%s%N | cut -c1-15)"
file_id=
if [ -n "$file" ]; then
  # The Telegram stand-in serves the file to the dispatcher's getFile and file download.
  file_id="local-$update_id"
  name="$(basename "$file" | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip()))')"
  curl -sS -f -X POST '{stand_in}/_files/telegram/'"$file_id"'?name='"$name" --data-binary @"$file" >/dev/null
fi
body="$(python3 - "$update_id" "$kind" "$text" "$file_id" "${{file:-}}" <<'PY'
import json, os, sys, time
update_id, kind, text, file_id, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
message = {{"message_id": update_id % 1000000, "from": {{"id": 42, "is_bot": False, "first_name": "Ada"}},
           "chat": {{"id": 42, "type": "private"}}, "date": int(time.time())}}
if kind == "text":
    message["text"] = text
else:
    size = os.path.getsize(path)
    if kind == "photo":
        message["photo"] = [{{"file_id": file_id, "file_unique_id": file_id, "file_size": size, "width": 0, "height": 0}}]
    else:
        message["document"] = {{"file_id": file_id, "file_unique_id": file_id, "file_size": size, "file_name": os.path.basename(path)}}
    if text:
        message["caption"] = text
print(json.dumps({{"update_id": update_id, "message": message}}))
PY
)"
curl -sS -X POST '{url}' -H 'content-type: application/json' -H 'x-telegram-bot-api-secret-token: {secret}' --data "$body"
echo
"#,
        url = added.webhook_url,
        stand_in = stack.stand_in_url,
    );
    std::fs::write(&script, body).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700));
    }
    Ok((script, tenant.tenant_id.to_string()))
}

/// Attaches the demo MCP server to the demo tenant's bot as `demo`, and lets the tenant's
/// profile call its `lookup_order` (its `add` stays outside, so a call of it shows the approval
/// path). Returns the running server; it stops when dropped.
pub async fn attach_demo_mcp(stack: &LocalStack, tenant_id: &str) -> Result<clawless_mcp::demo::DemoMcpServer, String> {
    use clawless_mcp::demo::{DEMO_HEADER, DEMO_SERVER_NAME, DemoMcpServer};
    let key = hex::encode(rand::random::<[u8; 16]>());
    let server = DemoMcpServer::start(DEMO_HEADER, &key).map_err(|e| format!("demo MCP server: {e}"))?;
    let admin = Admin::new(&stack.sdk, &stack.stack);
    let bots = admin.list_bots(tenant_id).await.map_err(|e| e.to_string())?;
    let bot = bots.first().ok_or("the demo tenant has no bot")?;
    let platform = clawless_core::config::PlatformConfig::for_stack(&stack.stack);
    let secrets = clawless_aws::ssm::secrets::SecretStore::new(
        clawless_aws::ssm::secrets::SsmClient::new(&stack.sdk),
        &platform.parameter_prefix,
    );
    let header = Some((DEMO_HEADER.to_owned(), clawless_core::domain::secrets::Secret::new(key)));
    crate::mcp::add_server(
        &admin,
        &secrets,
        &platform.parameter_prefix,
        bot.bot.bot_id.as_str(),
        DEMO_SERVER_NAME,
        server.url(),
        header,
        10,
    )
    .await
    .map_err(|e| e.to_string())?;
    admin
        .set_profile(tenant_id, None, None, Some(&format!("mcp:{DEMO_SERVER_NAME}:lookup_order")))
        .await
        .map_err(|e| e.to_string())?;
    Ok(server)
}

/// A console login for the demo tenant: its email and a fresh password (printed once by
/// `clawless local up`, never stored).
pub struct DemoLogin {
    pub email: String,
    pub password: String,
}

/// Creates the demo tenant's admin login in the local user pool.
pub async fn seed_demo_login(stack: &LocalStack, tenant_id: &str) -> Result<DemoLogin, String> {
    let pool = stack.endpoints.cognito_user_pool_id.clone().ok_or("the template has no user pool")?;
    let admin = Admin::with_user_pool(&stack.sdk, &stack.stack, Some(pool));
    // Upper and lower case, digits and a symbol: what a production pool's policy asks for.
    let password = format!("Demo-{}-9x", hex::encode(rand::random::<[u8; 8]>()));
    let email = "admin@demo.local".to_owned();
    admin.add_user(tenant_id, &email, "admin", Some(&password)).await.map_err(|e| e.to_string())?;
    Ok(DemoLogin { email, password })
}
