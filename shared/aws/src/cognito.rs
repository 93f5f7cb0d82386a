//! The console's logins in a Cognito user pool ([`UserDirectory`]). A user's tenant and role are
//! custom attributes written here, by trusted code, with `AdminCreateUser`; the app client the
//! console signs in with may not write them.

use async_trait::async_trait;
pub use aws_sdk_cognitoidentityprovider::Client as CognitoClient;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use clawless_core::admin::ports::{DirectoryError, UserDirectory};
use clawless_core::domain::ids::TenantId;

use crate::sdk::describe_sdk_error;

pub struct UserPool {
    client: CognitoClient,
    pool_id: String,
}

impl UserPool {
    pub fn new(client: CognitoClient, pool_id: impl Into<String>) -> Self {
        Self { client, pool_id: pool_id.into() }
    }

    /// Adds an existing login to a group (`platform-admin`): an operator's act, never the API's.
    pub async fn add_to_group(&self, username: &str, group: &str) -> Result<(), DirectoryError> {
        self.client
            .admin_add_user_to_group()
            .user_pool_id(&self.pool_id)
            .username(username)
            .group_name(group)
            .send()
            .await
            .map_err(|e| DirectoryError::Failed(describe_sdk_error(&e)))?;
        Ok(())
    }
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, DirectoryError> {
    AttributeType::builder().name(name).value(value).build().map_err(|e| DirectoryError::Failed(e.to_string()))
}

#[async_trait]
impl UserDirectory for UserPool {
    async fn create_user(
        &self,
        tenant_id: &TenantId,
        email: &str,
        role: &str,
        password: Option<&str>,
    ) -> Result<String, DirectoryError> {
        let mut request = self
            .client
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .user_attributes(attribute("email", email)?)
            .user_attributes(attribute("email_verified", "true")?)
            .user_attributes(attribute("custom:tenant_id", tenant_id.as_str())?)
            .user_attributes(attribute("custom:role", role)?);
        if password.is_some() {
            // The operator hands the password over; Cognito mails nothing.
            request = request.message_action(MessageActionType::Suppress);
        }
        let out = request.send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_username_exists_exception() => DirectoryError::Exists(email.to_owned()),
            Some(s) if s.is_invalid_parameter_exception() || s.is_invalid_password_exception() => {
                DirectoryError::Invalid(s.meta().message().unwrap_or("invalid user").to_owned())
            }
            _ => DirectoryError::Failed(describe_sdk_error(&e)),
        })?;
        let username = out.user.and_then(|u| u.username).unwrap_or_else(|| email.to_owned());
        if let Some(password) = password {
            let set = self
                .client
                .admin_set_user_password()
                .user_pool_id(&self.pool_id)
                .username(&username)
                .password(password)
                .permanent(true)
                .send()
                .await;
            if let Err(e) = set {
                // No half-made login: a user without the password asked for is removed again.
                let _ = self.delete_user(&username).await;
                return Err(match e.as_service_error() {
                    Some(s) if s.is_invalid_password_exception() || s.is_invalid_parameter_exception() => {
                        DirectoryError::Invalid(format!(
                            "the password does not meet the pool's policy: {}",
                            s.meta().message().unwrap_or("too weak")
                        ))
                    }
                    _ => DirectoryError::Failed(describe_sdk_error(&e)),
                });
            }
        }
        Ok(username)
    }

    async fn delete_user(&self, username: &str) -> Result<(), DirectoryError> {
        match self.client.admin_delete_user().user_pool_id(&self.pool_id).username(username).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_user_not_found_exception()) => Ok(()),
            Err(e) => Err(DirectoryError::Failed(describe_sdk_error(&e))),
        }
    }
}
