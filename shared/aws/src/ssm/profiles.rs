//! Permission profiles in SSM Parameter Store (String parameters of JSON).

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;

use clawless_core::domain::ids::TenantId;
use clawless_core::domain::permissions::{PermissionProfile, UserRef};
use clawless_core::domain::profiles::ProfileStoreError;
use clawless_core::ports::ProfileRepo;

use crate::sdk::describe_sdk_error;

#[derive(Clone)]
pub struct ProfileStore {
    client: Client,
    prefix: String,
}

impl ProfileStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into().trim_end_matches('/').to_owned() }
    }

    pub fn parameter(&self, tenant: &TenantId, user: Option<&UserRef>) -> String {
        match user {
            None => format!("{}/tenants/{tenant}/profile", self.prefix),
            Some(u) => format!("{}/tenants/{tenant}/users/{}/{}/profile", self.prefix, u.channel, u.user_id),
        }
    }
}

#[async_trait]
impl ProfileRepo for ProfileStore {
    async fn put(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
        profile: &PermissionProfile,
    ) -> Result<(), ProfileStoreError> {
        let name = self.parameter(tenant, user);
        self.client
            .put_parameter()
            .name(&name)
            .value(profile.to_json())
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| ProfileStoreError::Aws { operation: "PutParameter", name, detail: describe_sdk_error(&e) })?;
        Ok(())
    }

    /// The stored profile at exactly this level, if any.
    async fn get(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
    ) -> Result<Option<PermissionProfile>, ProfileStoreError> {
        let name = self.parameter(tenant, user);
        let raw = match self.client.get_parameter().name(&name).send().await {
            Ok(out) => out.parameter.and_then(|p| p.value),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => None,
            Err(e) => {
                return Err(ProfileStoreError::Aws { operation: "GetParameter", name, detail: describe_sdk_error(&e) });
            }
        };
        match raw {
            None => Ok(None),
            Some(raw) => PermissionProfile::from_json(&raw)
                .map(Some)
                .map_err(|source| ProfileStoreError::Invalid { name, source }),
        }
    }
}
