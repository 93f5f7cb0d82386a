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
set -euo pipefail
text="${{1:-hello bot}}"
update_id="$(date +%s%N | cut -c1-15)"
body="$(python3 -c 'import json,sys,time; print(json.dumps({{"update_id": int(sys.argv[1]), "message": {{"message_id": int(sys.argv[1]) % 1000000, "from": {{"id": 42, "is_bot": False, "first_name": "Ada"}}, "chat": {{"id": 42, "type": "private"}}, "date": int(time.time()), "text": sys.argv[2]}}}}))' "$update_id" "$text")"
curl -sS -X POST '{url}' -H 'content-type: application/json' -H 'x-telegram-bot-api-secret-token: {secret}' --data "$body"
echo
"#,
        url = added.webhook_url,
    );
    std::fs::write(&script, body).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700));
    }
    Ok((script, tenant.tenant_id.to_string()))
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
