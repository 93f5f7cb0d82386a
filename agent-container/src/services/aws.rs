//! [`TenantServices`] on AWS, with credentials scoped to one tenant.
//!
//! The agent's own role may only assume the tenant-access role, tagging the session with the
//! tenant id (`sts:AssumeRole` + `sts:TagSession`). That role's policies key every grant on the
//! tag: DynamoDB items whose partition key starts with the tenant id (`dynamodb:LeadingKeys`),
//! S3 objects under `tenants/{tenant}/`, SSM parameters under `.../tenants/{tenant}/`. So even a
//! bug in this process cannot read or write another tenant's data with these clients.
//! Without a role ARN (local runs) the process's own credentials are used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use clawless_shared::approvals::{ApprovalStore, Grant};
use clawless_shared::cache::TtlCache;
use clawless_shared::ids::{ConversationRef, TenantId};
use clawless_shared::model::now_ms;
use clawless_shared::permissions::{PermissionProfile, PermissionRequest, UserRef};
use clawless_shared::profiles::ProfileStore;
use clawless_shared::schedules::{SchedulerClient, Schedules};
use clawless_shared::store::Store;
use clawless_shared::tasks::store::TaskStore;
use clawless_shared::tasks::{TaskConfig, TaskManager};

use super::{ServiceError, TenantServices};
use crate::memory::{MemoryLayers, S3Memory};
use crate::provider::TokenUsage;

/// Names and settings of the tenant data.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub table: String,
    pub parameter_prefix: String,
    pub memory_bucket: String,
    pub tenant_role_arn: Option<String>,
    pub profile_cache: Duration,
    /// Scheduled tasks (schedule group, scheduler target); `None`: the task tools say so.
    pub tasks: Option<TaskConfig>,
}

/// The clients of one tenant.
#[derive(Clone)]
struct TenantClients {
    store: Store,
    profiles: ProfileStore,
    s3: aws_sdk_s3::Client,
    /// Task records and schedules, with the tenant's credentials.
    tasks: Option<TaskManager>,
}

pub struct AwsTenantServices {
    base: SdkConfig,
    settings: AwsSettings,
    tenants: Mutex<HashMap<TenantId, TenantClients>>,
    profiles: TtlCache<(TenantId, String), PermissionProfile>,
}

impl AwsTenantServices {
    pub fn new(base: SdkConfig, settings: AwsSettings) -> Self {
        let profiles = TtlCache::new(settings.profile_cache, 256);
        Self { base, settings, tenants: Mutex::new(HashMap::new()), profiles }
    }

    /// The SDK configuration whose credentials reach only `tenant`'s data.
    pub async fn tenant_sdk_config(&self, tenant: &TenantId) -> SdkConfig {
        let Some(role) = &self.settings.tenant_role_arn else { return self.base.clone() };
        let provider = AssumeRoleProvider::builder(role.clone())
            .session_name(format!("clawless-{tenant}"))
            .tags([("tenant_id", tenant.as_str())])
            .configure(&self.base)
            .build()
            .await;
        self.base
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
            .build()
    }

    async fn clients(&self, tenant: &TenantId) -> TenantClients {
        if let Some(c) = self.tenants.lock().unwrap_or_else(PoisonError::into_inner).get(tenant) {
            return c.clone();
        }
        let sdk = self.tenant_sdk_config(tenant).await;
        let clients = TenantClients {
            store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), self.settings.table.clone()),
            profiles: ProfileStore::new(aws_sdk_ssm::Client::new(&sdk), self.settings.parameter_prefix.clone()),
            s3: s3_client(&sdk),
            tasks: self.settings.tasks.as_ref().map(|config| {
                TaskManager::new(
                    Arc::new(TaskStore::new(aws_sdk_dynamodb::Client::new(&sdk), self.settings.table.clone())),
                    Arc::new(Schedules::new(SchedulerClient::new(&sdk), config.group.clone())),
                    config.settings.clone(),
                )
            }),
        };
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner).entry(tenant.clone()).or_insert(clients).clone()
    }

    fn cached_clients(&self, tenant: &TenantId) -> Option<TenantClients> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner).get(tenant).cloned()
    }
}

/// An S3 client; path-style addressing when an endpoint override points at an emulator.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// `yyyy-mm` (UTC) of a time in ms since the epoch.
pub fn month_of(ms: i64) -> String {
    // Days to civil date (Howard Hinnant's algorithm).
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

fn storage(what: &'static str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Storage { what, detail: e.to_string() }
}

#[async_trait]
impl TenantServices for AwsTenantServices {
    async fn profile(&self, conversation: &ConversationRef, user: &UserRef) -> PermissionProfile {
        let tenant = &conversation.tenant_id;
        let key = (tenant.clone(), user.to_string());
        if let Some(p) = self.profiles.get(&key) {
            return p;
        }
        let clients = self.clients(tenant).await;
        match clients.profiles.resolve(tenant, Some(user)).await {
            Ok((profile, source)) => {
                tracing::debug!(event = "profile_loaded", tenant_id = %tenant, source = source.as_str());
                self.profiles.insert(key, profile.clone());
                profile
            }
            Err(e) => {
                // Fail closed: no tools beyond replying until the profile can be read.
                tracing::error!(event = "profile_load_failed", tenant_id = %tenant, error = %e, "using least privilege");
                PermissionProfile::least_privilege()
            }
        }
    }

    fn memory(&self, conversation: &ConversationRef) -> Arc<dyn MemoryLayers> {
        // `profile` runs first in every run and builds the tenant's clients.
        let s3 = match self.cached_clients(&conversation.tenant_id) {
            Some(c) => c.s3,
            None => s3_client(&self.base),
        };
        Arc::new(S3Memory::new(s3, self.settings.memory_bucket.clone(), conversation.clone()))
    }

    async fn record_usage(&self, conversation: &ConversationRef, usage: TokenUsage) -> Result<(), ServiceError> {
        let tenant = &conversation.tenant_id;
        let clients = self.clients(tenant).await;
        clients
            .store
            .add_token_usage(tenant, &month_of(now_ms()), usage.input_tokens, usage.output_tokens)
            .await
            .map_err(|e| storage("recording token use", e))
    }

    async fn take_grant(&self, wanted: &PermissionRequest) -> Result<Option<Grant>, ServiceError> {
        let clients = self.clients(&wanted.conversation.tenant_id).await;
        ApprovalStore::new(clients.store.clone())
            .take_grant(wanted, now_ms())
            .await
            .map_err(|e| storage("looking for an approval", e))
    }

    fn forget_profile(&self, conversation: &ConversationRef, user: &UserRef) {
        self.profiles.invalidate(&(conversation.tenant_id.clone(), user.to_string()));
    }

    async fn request_permission(&self, request: &PermissionRequest) -> Result<(), ServiceError> {
        let clients = self.clients(&request.conversation.tenant_id).await;
        clients.store.put_permission_request(request).await.map(|_| ()).map_err(|e| storage("storing the request", e))
    }

    async fn mark_answered(
        &self,
        conversation: &ConversationRef,
        messages: &[(i64, String)],
    ) -> Result<(), ServiceError> {
        let clients = self.clients(&conversation.tenant_id).await;
        for (at_ms, id) in messages {
            clients.store.mark_answered(conversation, *at_ms, id).await.map_err(|e| storage("marking answered", e))?;
        }
        Ok(())
    }

    async fn tasks(&self, conversation: &ConversationRef) -> Option<TaskManager> {
        self.settings.tasks.as_ref()?;
        self.clients(&conversation.tenant_id).await.tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(month_of(1_700_000_000_000), "2023-11");
        assert_eq!(month_of(1_709_251_199_999), "2024-02"); // 2024-02-29T23:59:59.999Z
        assert_eq!(month_of(1_709_251_200_000), "2024-03");
    }
}
