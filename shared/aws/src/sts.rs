//! Tenant-scoped credentials from STS AssumeRole (see `clawless_core::domain::credentials` for
//! what they allow and why).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use clawless_core::config::{ConfigError, required};
use clawless_core::domain::credentials::{
    CREDENTIAL_SECONDS, CredentialError, MIN_REMAINING_MS, TenantCredentials, session_policy,
};
use clawless_core::domain::ids::ConversationRef;
use clawless_core::domain::model::now_ms;
use clawless_core::domain::secrets::Secret;
use clawless_core::ports::CredentialIssuer;

use crate::sdk::describe_sdk_error;

/// Most conversations whose credentials a dispatcher container keeps.
const CACHE_CAPACITY: usize = 1_000;

/// Obtains and caches the credentials the dispatcher hands to agents.
pub struct CredentialVendor {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    memory_bucket_arn: String,
    cache: Mutex<HashMap<String, TenantCredentials>>,
}

impl CredentialVendor {
    pub fn new(sts: aws_sdk_sts::Client, role_arn: impl Into<String>, memory_bucket_arn: impl Into<String>) -> Self {
        Self {
            sts,
            role_arn: role_arn.into(),
            memory_bucket_arn: memory_bucket_arn.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// `CLAWLESS_TENANT_ROLE_ARN` and `CLAWLESS_MEMORY_BUCKET_ARN` (both required).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws_sdk_sts::Client::new(sdk),
            required("CLAWLESS_TENANT_ROLE_ARN")?,
            required("CLAWLESS_MEMORY_BUCKET_ARN")?,
        ))
    }
}

#[async_trait]
impl CredentialIssuer for CredentialVendor {
    /// Credentials for `conversation`: cached ones with enough life left, else new ones.
    async fn for_conversation(&self, conversation: &ConversationRef) -> Result<TenantCredentials, CredentialError> {
        let key = conversation.partition_key();
        let now = now_ms();
        if let Some(c) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
            && c.expires_at_ms - now >= MIN_REMAINING_MS
        {
            return Ok(c.clone());
        }
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            // Not a secret, and in CloudTrail: who the credentials were for.
            .role_session_name(format!("agent-{}", conversation.tenant_id))
            .duration_seconds(CREDENTIAL_SECONDS)
            .tags(tag("tenant_id", conversation.tenant_id.as_str())?)
            .tags(tag("bot_id", conversation.bot_id.as_str())?)
            .policy(session_policy(&self.memory_bucket_arn, conversation))
            .send()
            .await
            .map_err(|e| CredentialError::AssumeRole(describe_sdk_error(&e)))?;
        let c = out.credentials.ok_or(CredentialError::Empty)?;
        let expires_at_ms = c.expiration.to_millis().unwrap_or(now + i64::from(CREDENTIAL_SECONDS) * 1000);
        let credentials = TenantCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: Secret::new(c.secret_access_key),
            session_token: Secret::new(c.session_token),
            // A clock ahead of STS's would otherwise hand out credentials about to expire.
            expires_at_ms: expires_at_ms.min(now + i64::from(CREDENTIAL_SECONDS) * 1000),
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.expires_at_ms - now >= MIN_REMAINING_MS);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, credentials.clone());
        Ok(credentials)
    }
}

fn tag(key: &str, value: &str) -> Result<aws_sdk_sts::types::Tag, CredentialError> {
    aws_sdk_sts::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| CredentialError::AssumeRole(e.to_string()))
}
