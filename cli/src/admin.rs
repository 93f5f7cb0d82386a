//! Operator actions: tenants, bots, channels. The same code runs against AWS and the local stack;
//! only the AWS configuration differs.

use std::collections::BTreeMap;

use clawless_shared::channels;
use clawless_shared::config::PlatformConfig;
use clawless_shared::ids::{BotId, TenantId};
use clawless_shared::model::{Bot, BotSettings, ChannelBinding, ChannelKind, Tenant, now_ms};
use clawless_shared::secrets::{ChannelSecrets, Secret, SecretStore, SecretsError, SsmClient};
use clawless_shared::store::{DynamoClient, Store, StoreError};
use clawless_shared::trigger::Trigger;
use serde::Serialize;

/// The model providers a bot may name (the agent's `CLAWLESS_MODEL_PROVIDER` values).
pub const MODEL_PROVIDERS: [&str; 3] = ["bedrock", "openai", "offline"];
/// Longest bot persona, in characters.
pub const MAX_PERSONA_CHARS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelAdded {
    pub bot_id: String,
    pub channel: String,
    pub webhook_url: String,
    /// Whether the webhook was registered with the channel (Telegram `setWebhook`).
    pub registered: bool,
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

    pub async fn create_bot(&self, tenant: &str, name: &str, settings: BotSettings) -> Result<Bot, AdminError> {
        let tenant_id = TenantId::parse(tenant).map_err(|e| AdminError::Invalid(e.to_string()))?;
        if let Some(pattern) = &settings.trigger {
            Trigger::compile(pattern).map_err(|e| AdminError::Invalid(e.to_string()))?;
        }
        if let Some(provider) = &settings.model_provider
            && !MODEL_PROVIDERS.contains(&provider.as_str())
        {
            return Err(AdminError::Invalid(format!(
                "unknown model provider {provider:?} (accepted values: {})",
                MODEL_PROVIDERS.join(", ")
            )));
        }
        if settings.persona.as_ref().is_some_and(|p| p.chars().count() > MAX_PERSONA_CHARS) {
            return Err(AdminError::Invalid(format!("persona is limited to {MAX_PERSONA_CHARS} characters")));
        }
        Ok(self.store.create_bot(&tenant_id, &valid_name("bot", name)?, &settings).await?)
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
        register: bool,
    ) -> Result<ChannelAdded, AdminError> {
        let bot_id = BotId::parse(bot).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let kind: ChannelKind =
            channel.parse().map_err(|e: clawless_shared::model::UnknownChannel| AdminError::Invalid(e.to_string()))?;
        let channel = channels::channel(kind)
            .ok_or_else(|| AdminError::Invalid(format!("channel {kind} is not supported yet")))?;
        let keys = channel.keys();
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
        let secrets = ChannelSecrets(values);
        channel.validate_settings(&secrets).map_err(AdminError::Invalid)?;
        if register && kind != ChannelKind::Telegram {
            return Err(AdminError::Invalid(format!(
                "--register is only available for telegram; register the {kind} URL in its console"
            )));
        }

        let record = self
            .store
            .load_bot(&bot_id)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("bot {bot_id} does not exist")))?;
        let parameter = self.secrets.channel_parameter(&record.bot.tenant_id, &bot_id, kind);
        // Secrets first: a binding never points at a parameter that is not there.
        self.secrets.put(&parameter, &secrets).await?;
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
        let webhook_url = format!("{}/webhook/{kind}/{bot_id}", base.trim_end_matches('/'));
        if register {
            if !webhook_url.starts_with("https://") && !webhook_url.starts_with("http://") {
                return Err(AdminError::Invalid("cannot register without the API URL (pass --api-url)".into()));
            }
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            let api_base = channels::api_base(channel);
            channels::telegram::set_webhook(&http, &api_base, &secrets, &webhook_url).await.map_err(|e| {
                AdminError::Invalid(format!("the channel is stored, but registering the webhook failed: {e}"))
            })?;
        }
        Ok(ChannelAdded { bot_id: bot_id.to_string(), channel: kind.to_string(), webhook_url, registered: register })
    }
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
}
