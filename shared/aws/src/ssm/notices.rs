//! Each tenant's approval-notice settings (template, summary switch) in SSM Parameter Store: one
//! String parameter of JSON per tenant, `/clawless/{stack}/tenants/{tenant}/approvals/notice`.
//! The reply function may only read that path; the operator's CLI writes it.

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;

use clawless_core::approvals::wording::{NoticeSettings, NoticeSettingsRepo, NoticeStoreError};
use clawless_core::domain::ids::TenantId;

use crate::sdk::describe_sdk_error;

#[derive(Clone)]
pub struct NoticeStore {
    client: Client,
    prefix: String,
}

impl NoticeStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into().trim_end_matches('/').to_owned() }
    }

    pub fn parameter(&self, tenant: &TenantId) -> String {
        format!("{}/tenants/{tenant}/approvals/notice", self.prefix)
    }
}

#[async_trait]
impl NoticeSettingsRepo for NoticeStore {
    async fn get(&self, tenant: &TenantId) -> Result<Option<NoticeSettings>, NoticeStoreError> {
        let name = self.parameter(tenant);
        let raw = match self.client.get_parameter().name(&name).send().await {
            Ok(out) => out.parameter.and_then(|p| p.value),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => None,
            Err(e) => {
                return Err(NoticeStoreError::Aws { operation: "GetParameter", name, detail: describe_sdk_error(&e) });
            }
        };
        match raw {
            None => Ok(None),
            Some(raw) => NoticeSettings::from_json(&raw)
                .map(Some)
                .map_err(|e| NoticeStoreError::Malformed { name, detail: e.to_string() }),
        }
    }

    async fn put(&self, tenant: &TenantId, settings: &NoticeSettings) -> Result<(), NoticeStoreError> {
        let name = self.parameter(tenant);
        self.client
            .put_parameter()
            .name(&name)
            .value(settings.to_json())
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| NoticeStoreError::Aws { operation: "PutParameter", name, detail: describe_sdk_error(&e) })?;
        Ok(())
    }

    async fn delete(&self, tenant: &TenantId) -> Result<bool, NoticeStoreError> {
        let name = self.parameter(tenant);
        match self.client.delete_parameter().name(&name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(false),
            Err(e) => Err(NoticeStoreError::Aws { operation: "DeleteParameter", name, detail: describe_sdk_error(&e) }),
        }
    }
}
