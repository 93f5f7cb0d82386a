//! What the admin operations need beyond the message path's ports: tenants and bots as an
//! operator changes them, the indexes the console lists from, channel secrets written and
//! deleted, and the user directory (Cognito in AWS).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{BotId, ConversationRef, TenantId};
use crate::domain::model::{Bot, BotSettings, ChannelBinding, ChannelKind, Tenant};
use crate::domain::records::MessageItem;
use crate::domain::secrets::{ChannelSecrets, SecretsError};
use crate::ports::{BotRepo, StoreError};

/// One page of a list, and where the next one starts (an opaque cursor; `None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A conversation of a bot, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub channel: ChannelKind,
    pub conversation_id: String,
    pub first_seen_ms: i64,
    #[serde(default)]
    pub last_seen_ms: i64,
}

impl ConversationSummary {
    /// `{channel}:{conversation_id}`: how paths name it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.channel, self.conversation_id)
    }
}

/// A console user of a tenant, as the tenant's index lists it (Cognito holds the login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub tenant_id: TenantId,
    pub email: String,
    pub role: String,
    pub username: String,
    pub created_at_ms: i64,
}

/// Tenants and bots as an operator or a tenant admin changes them, and the per-tenant indexes
/// the console lists from.
#[async_trait]
pub trait TenantAdminRepo: BotRepo {
    async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError>;
    async fn get_tenant(&self, tenant_id: &TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Creates a bot under an existing tenant (and its entry in the tenant's bot index).
    async fn create_bot(&self, tenant_id: &TenantId, name: &str, settings: &BotSettings) -> Result<Bot, StoreError>;
    /// The ids of the tenant's bots (its bot index).
    async fn list_bots(&self, tenant_id: &TenantId) -> Result<Vec<BotId>, StoreError>;
    /// Replaces an existing bot's record (`NotFound` if it is gone).
    async fn update_bot(&self, bot: &Bot) -> Result<(), StoreError>;
    /// Deletes the bot record, its channel bindings and its index entry (its conversations stay
    /// until they expire).
    async fn delete_bot(&self, bot: &Bot) -> Result<(), StoreError>;
    /// Attaches (or replaces) a channel on an existing bot.
    async fn put_channel(&self, binding: &ChannelBinding) -> Result<(), StoreError>;
    async fn delete_channel(&self, bot_id: &BotId, kind: ChannelKind) -> Result<(), StoreError>;
    /// A bot's conversations, as the dispatcher noted them.
    async fn conversations(
        &self,
        tenant_id: &TenantId,
        bot_id: &BotId,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ConversationSummary>, StoreError>;
    /// A conversation's lines, newest first.
    async fn messages_page(
        &self,
        conversation: &ConversationRef,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<MessageItem>, StoreError>;
    async fn put_user(&self, user: &UserEntry) -> Result<(), StoreError>;
    async fn delete_user(&self, tenant_id: &TenantId, email: &str) -> Result<(), StoreError>;
    async fn list_users(&self, tenant_id: &TenantId) -> Result<Vec<UserEntry>, StoreError>;
    async fn user(&self, tenant_id: &TenantId, email: &str) -> Result<Option<UserEntry>, StoreError>;
}

/// Channel secrets as the admin writes them (the message path only reads them).
#[async_trait]
pub trait ChannelSecretWriter: Send + Sync {
    /// The parameter a bot's channel keys live in.
    fn channel_parameter(&self, tenant: &TenantId, bot: &BotId, channel: ChannelKind) -> String;
    async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError>;
    async fn put(&self, name: &str, secrets: &ChannelSecrets) -> Result<(), SecretsError>;
    /// Deletes the parameter; gone already is fine.
    async fn delete(&self, name: &str) -> Result<(), SecretsError>;
    /// The API's base URL as the deployed stack recorded it.
    async fn api_url(&self) -> Result<Option<String>, SecretsError>;
}

/// A user directory call that failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("a user {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the user directory failed: {0}")]
    Failed(String),
}

/// The console's logins (a Cognito user pool in AWS). Only trusted code sets a user's tenant and
/// role; the users themselves can change neither.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// Creates the login with `tenant_id` and `role` as attributes; without a password Cognito
    /// mails a temporary one. Returns the username.
    async fn create_user(
        &self,
        tenant_id: &TenantId,
        email: &str,
        role: &str,
        password: Option<&str>,
    ) -> Result<String, DirectoryError>;
    /// Deletes the login; gone already is fine.
    async fn delete_user(&self, username: &str) -> Result<(), DirectoryError>;
}
