//! The scope key in Secrets Manager.

use async_trait::async_trait;
use clawless_core::config::{ConfigError, required};
use clawless_core::ports::ScopeKeys;

use crate::sdk::describe_sdk_error;
use clawless_core::domain::scope::{ScopeError, ScopeKey};

/// The scope key, read from Secrets Manager on first use and kept for the life of the process
/// (the functions that need it: dispatcher, reply, scheduler, approval-timeout).
pub struct ScopeKeySource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    key: tokio::sync::OnceCell<ScopeKey>,
}

impl ScopeKeySource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into(), key: tokio::sync::OnceCell::new() }
    }

    /// `CLAWLESS_SCOPE_KEY_SECRET` (required: without a key nothing an agent sends can be
    /// checked, so the function refuses to start).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let id = required("CLAWLESS_SCOPE_KEY_SECRET")?;
        Ok(Self::new(aws_sdk_secretsmanager::Client::new(sdk), id))
    }
}

#[async_trait]
impl ScopeKeys for ScopeKeySource {
    async fn get(&self) -> Result<&ScopeKey, ScopeError> {
        self.key
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.secret_id)
                    .send()
                    .await
                    .map_err(|e| ScopeError::Unavailable(describe_sdk_error(&e)))?;
                let value =
                    out.secret_string().ok_or_else(|| ScopeError::Unavailable("the secret has no string".into()))?;
                ScopeKey::new(value.trim().as_bytes())
            })
            .await
    }
}
