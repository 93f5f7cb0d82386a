//! Permission profiles in SSM Parameter Store (String parameters of JSON):
//! `{prefix}/tenants/{tenant}/profile` and, per end user of the tenant's bots,
//! `{prefix}/tenants/{tenant}/users/{channel}/{user id}/profile`. Under the tenant's path, so
//! IAM can let an agent read its own tenant's profiles and nothing else.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;

use crate::aws::describe_sdk_error;
use crate::ids::TenantId;
use crate::permissions::{PermissionProfile, ProfileError, UserRef};

#[derive(Debug, thiserror::Error)]
pub enum ProfileStoreError {
    #[error("SSM {operation} failed for {name}: {detail}")]
    Aws { operation: &'static str, name: String, detail: String },
    #[error("profile {name} is invalid: {source}")]
    Invalid { name: String, source: ProfileError },
}

/// Which profile applied, for display and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    User,
    Tenant,
    Default,
}

impl ProfileSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSource::User => "user",
            ProfileSource::Tenant => "tenant",
            ProfileSource::Default => "default",
        }
    }
}

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

    pub async fn put(
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
    pub async fn get(
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

    /// The profile that applies to `user`: their override, else the tenant's, else least privilege.
    pub async fn resolve(
        &self,
        tenant: &TenantId,
        user: Option<&UserRef>,
    ) -> Result<(PermissionProfile, ProfileSource), ProfileStoreError> {
        if let Some(u) = user
            && let Some(p) = self.get(tenant, Some(u)).await?
        {
            return Ok((p, ProfileSource::User));
        }
        Ok(match self.get(tenant, None).await? {
            Some(p) => (p, ProfileSource::Tenant),
            None => (PermissionProfile::least_privilege(), ProfileSource::Default),
        })
    }
}
