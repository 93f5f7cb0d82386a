//! Operator actions: tenants, bots, channels. The same code runs against AWS and the local stack;
//! only the AWS configuration differs.

use std::collections::BTreeMap;

use clawless_shared::config::PlatformConfig;
use clawless_shared::ids::{BotId, TenantId};
use clawless_shared::model::{Bot, ChannelBinding, ChannelKind, Tenant, now_ms};
use clawless_shared::secrets::{ChannelSecrets, Secret, SecretStore, SecretsError, SsmClient};
use clawless_shared::store::{DynamoClient, Store, StoreError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The keys `channel add --set` accepts per channel, and which are required.
struct ChannelKeys {
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

fn channel_keys(kind: ChannelKind) -> Option<ChannelKeys> {
    match kind {
        ChannelKind::Telegram => Some(ChannelKeys { required: &["bot_token", "webhook_secret"], optional: &[] }),
        // The other channels arrive with their webhook and reply support.
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelAdded {
    pub bot_id: String,
    pub channel: String,
    pub webhook_url: String,
}

pub struct Admin {
    store: Store,
    secrets: SecretStore,
    platform: PlatformConfig,
}

fn valid_name(what: &str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!("{what} name must be 1 to 100 printable characters")));
    }
    Ok(name.to_owned())
}

impl Admin {
    pub fn new(sdk: &aws_config::SdkConfig, stack: &str) -> Self {
        let platform = PlatformConfig::for_stack(stack);
        Self {
            store: Store::new(DynamoClient::new(sdk), &platform.table),
            secrets: SecretStore::new(SsmClient::new(sdk), &platform.parameter_prefix),
            platform,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, AdminError> {
        Ok(self.store.create_tenant(&valid_name("tenant", name)?).await?)
    }

    pub async fn create_bot(&self, tenant: &str, name: &str) -> Result<Bot, AdminError> {
        let tenant_id = TenantId::parse(tenant).map_err(|e| AdminError::Invalid(e.to_string()))?;
        Ok(self.store.create_bot(&tenant_id, &valid_name("bot", name)?).await?)
    }

    /// The API's base URL as the deployed stack recorded it in SSM.
    pub async fn recorded_api_url(&self) -> Result<Option<String>, AdminError> {
        let name = format!("{}/platform/api-url", self.platform.parameter_prefix);
        Ok(self.secrets.get_string(&name).await?)
    }

    /// Stores the channel's keys as a SecureString and attaches the channel to the bot.
    pub async fn add_channel(
        &self,
        bot: &str,
        channel: &str,
        settings: &[(String, String)],
        api_url: Option<&str>,
    ) -> Result<ChannelAdded, AdminError> {
        let bot_id = BotId::parse(bot).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let kind: ChannelKind =
            channel.parse().map_err(|e: clawless_shared::model::UnknownChannel| AdminError::Invalid(e.to_string()))?;
        let keys =
            channel_keys(kind).ok_or_else(|| AdminError::Invalid(format!("channel {kind} is not supported yet")))?;
        let mut values = BTreeMap::new();
        for (key, value) in settings {
            if !keys.required.contains(&key.as_str()) && !keys.optional.contains(&key.as_str()) {
                let known = [keys.required, keys.optional].concat().join(", ");
                return Err(AdminError::Invalid(format!("unknown key {key:?} for {kind} (known: {known})")));
            }
            if values.insert(key.clone(), Secret::new(value.clone())).is_some() {
                return Err(AdminError::Invalid(format!("key {key:?} is given twice")));
            }
        }
        let missing: Vec<_> =
            keys.required.iter().filter(|k| values.get(**k).is_none_or(|v| v.expose().is_empty())).collect();
        if !missing.is_empty() {
            let missing = missing.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
            return Err(AdminError::Invalid(format!("{kind} needs --set for: {missing}")));
        }
        if kind == ChannelKind::Telegram {
            validate_telegram(&values)?;
        }

        let record = self
            .store
            .load_bot(&bot_id)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("bot {bot_id} does not exist")))?;
        let parameter = self.secrets.channel_parameter(&record.bot.tenant_id, &bot_id, kind);
        // Secrets first: a binding never points at a parameter that is not there.
        self.secrets.put(&parameter, &ChannelSecrets(values)).await?;
        self.store
            .put_channel(&ChannelBinding {
                bot_id: bot_id.clone(),
                tenant_id: record.bot.tenant_id.clone(),
                channel: kind,
                secret_parameter: parameter,
                added_at_ms: now_ms(),
            })
            .await?;

        let base = match api_url {
            Some(url) => url.to_owned(),
            None => self.recorded_api_url().await?.unwrap_or_else(|| "<api-url>".to_owned()),
        };
        Ok(ChannelAdded {
            bot_id: bot_id.to_string(),
            channel: kind.to_string(),
            webhook_url: format!("{}/webhook/{kind}/{bot_id}", base.trim_end_matches('/')),
        })
    }
}

/// Telegram's own rules, checked before anything is stored.
fn validate_telegram(values: &BTreeMap<String, Secret>) -> Result<(), AdminError> {
    let secret = values.get("webhook_secret").map(Secret::expose).unwrap_or_default();
    if secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(AdminError::Invalid(
            "webhook_secret must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)".into(),
        ));
    }
    let token = values.get("bot_token").map(Secret::expose).unwrap_or_default();
    if !token.contains(':') || token.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(AdminError::Invalid("bot_token does not look like a Telegram bot token (<digits>:<key>)".into()));
    }
    Ok(())
}

/// Parses `--set key=value`.
pub fn parse_setting(raw: &str) -> Result<(String, String), String> {
    // Never echo `raw`: without a `=` it may be a bare secret.
    let (key, value) = raw.split_once('=').ok_or_else(|| "expected key=value (no `=` found)".to_owned())?;
    if key.is_empty() {
        return Err("the key before = is empty".into());
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_without_echoing_values() {
        assert_eq!(parse_setting("bot_token=1:a=b").unwrap(), ("bot_token".into(), "1:a=b".into()));
        let err = parse_setting("supersecretvalue").unwrap_err();
        assert!(!err.contains("supersecretvalue"), "a bare value may be a secret: {err}");
        assert!(parse_setting("=x").is_err());
    }

    #[test]
    fn telegram_rules() {
        let mut v = BTreeMap::new();
        v.insert("bot_token".to_owned(), Secret::new("123:abc"));
        v.insert("webhook_secret".to_owned(), Secret::new("ok_secret-1"));
        assert!(validate_telegram(&v).is_ok());
        v.insert("webhook_secret".to_owned(), Secret::new("no spaces"));
        assert!(validate_telegram(&v).is_err());
    }
}
