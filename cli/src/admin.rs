//! Operator actions: tenants, bots, channels, profiles, approvals, tasks, users. The operations
//! themselves live in the core ([`clawless_core::admin`]), shared with the admin API behind the
//! console; the CLI acts as the operator (any tenant). The same code runs against AWS and the
//! local stack; only the AWS configuration differs.

use clawless_aws::dynamodb::{DynamoClient, Store};
use clawless_aws::ssm::notices::NoticeStore;
use clawless_aws::ssm::secrets::SsmClient;
use clawless_core::admin::{Acting, AdminService};
pub use clawless_core::admin::{
    AdminError, BotPatch, BotView, ChannelAdded, MAX_PERSONA_CHARS, MODEL_PROVIDERS, ShownProfile, TaskAction,
};
use clawless_core::approvals::ApproverConfig;
use clawless_core::config::PlatformConfig;
use clawless_core::domain::model::{Bot, BotSettings, BotStatus, Tenant};
use clawless_core::domain::permissions::PermissionRequest;
use clawless_core::tasks::TaskView;

pub struct Admin {
    store: Store,
    /// Each tenant's approval-notice wording (`approvals notice`).
    notices: NoticeStore,
    service: AdminService,
}

const OPERATOR: Acting = Acting::Operator;

impl Admin {
    /// `user_pool_id`: the console's user pool, for `user` commands (`None`: they say there is none).
    pub fn new(sdk: &aws_config::SdkConfig, stack: &str) -> Self {
        Self::with_user_pool(sdk, stack, None)
    }

    pub fn with_user_pool(sdk: &aws_config::SdkConfig, stack: &str, user_pool_id: Option<String>) -> Self {
        let platform = PlatformConfig::for_stack(stack);
        Self {
            store: Store::new(DynamoClient::new(sdk), &platform.table),
            notices: NoticeStore::new(SsmClient::new(sdk), &platform.parameter_prefix),
            service: clawless_aws::wiring::admin_service(sdk, &platform, None, user_pool_id),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn notices(&self) -> &NoticeStore {
        &self.notices
    }

    pub fn service(&self) -> &AdminService {
        &self.service
    }

    /// Webhook URLs printed with `base` instead of the API URL the stack recorded.
    pub fn with_api_url(mut self, base: Option<String>) -> Self {
        self.service = self.service.with_api_url(base);
        self
    }

    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, AdminError> {
        self.service.create_tenant(&OPERATOR, name).await
    }

    pub async fn create_bot(&self, tenant: &str, name: &str, settings: BotSettings) -> Result<Bot, AdminError> {
        self.service.create_bot(&OPERATOR, tenant, name, settings).await
    }

    pub async fn list_bots(&self, tenant: &str) -> Result<Vec<BotView>, AdminError> {
        self.service.list_bots(&OPERATOR, tenant).await
    }

    pub async fn show_bot(&self, bot: &str) -> Result<BotView, AdminError> {
        self.service.bot(&OPERATOR, bot).await
    }

    pub async fn set_bot_status(&self, bot: &str, status: BotStatus) -> Result<BotView, AdminError> {
        self.service.update_bot(&OPERATOR, bot, BotPatch { status: Some(status), ..Default::default() }).await
    }

    pub async fn delete_bot(&self, bot: &str) -> Result<(), AdminError> {
        self.service.delete_bot(&OPERATOR, bot).await
    }

    /// Stores a tenant's profile, or a user's override, from a preset or a comma-separated tool list.
    pub async fn set_profile(
        &self,
        tenant: &str,
        user: Option<&str>,
        preset: Option<&str>,
        tools: Option<&str>,
    ) -> Result<ShownProfile, AdminError> {
        let tools: Option<Vec<String>> = tools.map(|t| t.split(',').map(str::to_owned).collect());
        self.service.set_profile(&OPERATOR, tenant, user, preset, tools.as_deref(), "clawless-cli").await
    }

    /// The profile that applies (the user's, else the tenant's, else the default).
    pub async fn show_profile(&self, tenant: &str, user: Option<&str>) -> Result<ShownProfile, AdminError> {
        self.service.show_profile(&OPERATOR, tenant, user).await
    }

    /// Makes `user` on `channel` of `bot` the tenant's approver (notices go to their direct chat
    /// with the bot; their `/approve` and `/reject` are the only ones that count).
    pub async fn set_approver(
        &self,
        tenant: &str,
        bot: &str,
        channel: &str,
        user: &str,
    ) -> Result<ApproverConfig, AdminError> {
        self.service.set_approver(&OPERATOR, tenant, bot, channel, user).await
    }

    /// A tenant's permission requests, oldest first, optionally only those with `status`.
    pub async fn list_approvals(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> Result<Vec<PermissionRequest>, AdminError> {
        self.service.list_approvals(&OPERATOR, tenant, status).await
    }

    /// A bot's scheduled tasks, oldest first.
    pub async fn list_tasks(&self, bot: &str) -> Result<Vec<TaskView>, AdminError> {
        self.service.list_tasks(&OPERATOR, bot).await
    }

    /// Pauses, resumes or cancels one of a bot's tasks.
    pub async fn task_action(&self, bot: &str, task: &str, action: TaskAction) -> Result<TaskView, AdminError> {
        self.service.task_action(&OPERATOR, bot, task, action).await
    }

    /// Stores the channel's keys as a SecureString and attaches the channel to the bot.
    pub async fn add_channel(
        &self,
        bot: &str,
        channel: &str,
        settings: &[(String, String)],
        register: bool,
    ) -> Result<ChannelAdded, AdminError> {
        self.service.add_channel(&OPERATOR, bot, channel, settings, register).await
    }

    pub async fn remove_channel(&self, bot: &str, channel: &str) -> Result<(), AdminError> {
        self.service.remove_channel(&OPERATOR, bot, channel).await
    }

    pub async fn rotate_channel(
        &self,
        bot: &str,
        channel: &str,
        settings: &[(String, String)],
    ) -> Result<ChannelAdded, AdminError> {
        self.service.rotate_channel(&OPERATOR, bot, channel, settings).await
    }

    pub async fn add_user(
        &self,
        tenant: &str,
        email: &str,
        role: &str,
        password: Option<&str>,
    ) -> Result<clawless_core::admin::ports::UserEntry, AdminError> {
        self.service.add_user(&OPERATOR, tenant, email, role, password).await
    }

    pub async fn list_users(&self, tenant: &str) -> Result<Vec<clawless_core::admin::ports::UserEntry>, AdminError> {
        self.service.list_users(&OPERATOR, tenant).await
    }

    pub async fn remove_user(
        &self,
        tenant: &str,
        email: &str,
    ) -> Result<clawless_core::admin::ports::UserEntry, AdminError> {
        self.service.remove_user(&OPERATOR, tenant, email).await
    }
}

/// Parses `--set key=value`.
pub fn parse_setting(raw: &str) -> Result<(String, String), String> {
    // Never echo `raw`: without a `=` it may be a bare secret.
    let (key, value) = raw.split_once('=').ok_or_else(|| "expected key=value (no `=` found)".to_owned())?;
    if key.is_empty() {
        return Err("the key before = is empty".into());
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_without_echoing_values() {
        assert_eq!(parse_setting("bot_token=1:a=b").unwrap(), ("bot_token".into(), "1:a=b".into()));
        let err = parse_setting("supersecretvalue").unwrap_err();
        assert!(!err.contains("supersecretvalue"), "a bare value may be a secret: {err}");
        assert!(parse_setting("=x").is_err());
    }
}
