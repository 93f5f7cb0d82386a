//! Channel secrets in SSM Parameter Store (SecureString JSON objects of strings).

use async_trait::async_trait;
use aws_sdk_ssm::Client;
pub use aws_sdk_ssm::Client as SsmClient;
use aws_sdk_ssm::types::ParameterType;

use clawless_core::domain::ids::{BotId, TenantId};
use clawless_core::domain::model::ChannelKind;
use clawless_core::domain::secrets::{ChannelSecrets, SecretsError};
use clawless_core::ports::SecretSource;

use crate::sdk::describe_sdk_error;

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
        SecretSource::get(self, name).await
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

#[async_trait]
impl SecretSource for SecretStore {
    async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError> {
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
}

#[async_trait]
impl clawless_core::admin::ports::ChannelSecretWriter for SecretStore {
    fn channel_parameter(&self, tenant: &TenantId, bot: &BotId, channel: ChannelKind) -> String {
        SecretStore::channel_parameter(self, tenant, bot, channel)
    }

    async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError> {
        SecretSource::get(self, name).await
    }

    async fn put(&self, name: &str, secrets: &ChannelSecrets) -> Result<(), SecretsError> {
        SecretStore::put(self, name, secrets).await
    }

    async fn delete(&self, name: &str) -> Result<(), SecretsError> {
        match self.client.delete_parameter().name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(()),
            Err(e) => Err(SecretsError::Aws {
                operation: "DeleteParameter",
                name: name.to_owned(),
                detail: describe_sdk_error(&e),
            }),
        }
    }

    async fn api_url(&self) -> Result<Option<String>, SecretsError> {
        self.get_string(&format!("{}/platform/api-url", self.prefix)).await
    }
}
