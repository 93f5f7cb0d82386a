//! Channel secrets in SSM Parameter Store: one SecureString per bot and channel, holding a JSON
//! object of the channel's keys. Values never reach logs: `Secret` redacts itself.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ssm::Client;
pub use aws_sdk_ssm::Client as SsmClient;
use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

use crate::aws::describe_sdk_error;
use crate::ids::{BotId, TenantId};
use crate::model::ChannelKind;

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The keys of one channel binding (`bot_token`, `webhook_secret`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelSecrets(pub BTreeMap<String, Secret>);

impl ChannelSecrets {
    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.0.get(key).filter(|s| !s.expose().is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("SSM {operation} failed for {name}: {detail}")]
    Aws { operation: &'static str, name: String, detail: String },
    #[error("parameter {name} is not a JSON object of strings")]
    Malformed { name: String },
}

#[derive(Clone)]
pub struct SecretStore {
    client: Client,
    prefix: String,
}

impl SecretStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into().trim_end_matches('/').to_owned() }
    }

    /// `/clawless/{stack}/tenants/{tenant}/bots/{bot}/channels/{kind}`: under the tenant, so IAM
    /// can grant one tenant's path and nothing else.
    pub fn channel_parameter(&self, tenant: &TenantId, bot: &BotId, channel: ChannelKind) -> String {
        format!("{}/tenants/{tenant}/bots/{bot}/channels/{channel}", self.prefix)
    }

    pub async fn put(&self, name: &str, secrets: &ChannelSecrets) -> Result<(), SecretsError> {
        let value = serde_json::to_string(secrets).map_err(|_| SecretsError::Malformed { name: name.to_owned() })?;
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| SecretsError::Aws {
                operation: "PutParameter",
                name: name.to_owned(),
                detail: describe_sdk_error(&e),
            })?;
        Ok(())
    }

    /// `None` when the parameter does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError> {
        let result = self.client.get_parameter().name(name).with_decryption(true).send().await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => return Ok(None),
            Err(e) => {
                return Err(SecretsError::Aws {
                    operation: "GetParameter",
                    name: name.to_owned(),
                    detail: describe_sdk_error(&e),
                });
            }
        };
        let raw = out.parameter.and_then(|p| p.value).unwrap_or_default();
        serde_json::from_str(&raw).map(Some).map_err(|_| SecretsError::Malformed { name: name.to_owned() })
    }

    pub async fn get_string(&self, name: &str) -> Result<Option<String>, SecretsError> {
        let result = self.client.get_parameter().name(name).send().await;
        match result {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
            Err(e) => Err(SecretsError::Aws {
                operation: "GetParameter",
                name: name.to_owned(),
                detail: describe_sdk_error(&e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut map = BTreeMap::new();
        map.insert("bot_token".to_owned(), Secret::new("123:ABC-very-secret"));
        let secrets = ChannelSecrets(map);
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(secrets.get("bot_token").unwrap().expose(), "123:ABC-very-secret");
    }

    #[test]
    fn empty_values_count_as_missing() {
        let mut map = BTreeMap::new();
        map.insert("webhook_secret".to_owned(), Secret::new(""));
        assert!(ChannelSecrets(map).get("webhook_secret").is_none());
    }
}
