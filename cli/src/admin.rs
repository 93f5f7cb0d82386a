//! Operator actions: tenants, bots, channels. The same code runs against AWS and the local stack;
//! only the AWS configuration differs.

use std::collections::BTreeMap;

use clawless_aws::dynamodb::tasks::TaskStore;
use clawless_aws::dynamodb::{DynamoClient, Store};
use clawless_aws::scheduler::{SchedulerClient, Schedules};
use clawless_aws::ssm::notices::NoticeStore;
use clawless_aws::ssm::profiles::ProfileStore;
use clawless_aws::ssm::secrets::{SecretStore, SsmClient};
use clawless_core::approvals::ApproverConfig;
use clawless_core::channels;
use clawless_core::config::PlatformConfig;
use clawless_core::domain::ids::{BotId, TenantId};
use clawless_core::domain::model::{Bot, BotSettings, ChannelBinding, ChannelKind, Tenant, now_ms};
use clawless_core::domain::permissions::{PermissionProfile, PermissionRequest, RequestStatus, UserRef};
use clawless_core::domain::profiles::{ProfileSource, ProfileStoreError};
use clawless_core::domain::secrets::{ChannelSecrets, Secret, SecretsError};
use clawless_core::domain::trigger::Trigger;
use clawless_core::ports::{ApprovalRepo, BotRepo, ProfileRepo, StoreError};
use clawless_core::tasks::{Scope, TaskError, TaskManager, TaskSettings, TaskView};
use serde::Serialize;

/// The model providers a bot may name (the agent's `CLAWLESS_MODEL_PROVIDER` values).
pub const MODEL_PROVIDERS: [&str; 3] = ["bedrock", "openai", "offline"];
/// Longest bot persona, in characters.
pub const MAX_PERSONA_CHARS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Profiles(#[from] ProfileStoreError),
    #[error(transparent)]
    Tasks(#[from] TaskError),
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelAdded {
    pub bot_id: String,
    pub channel: String,
    pub webhook_url: String,
    /// Whether the webhook was registered with the channel (Telegram `setWebhook`).
    pub registered: bool,
}

pub struct Admin {
    store: Store,
    secrets: SecretStore,
    profiles: ProfileStore,
    /// Each tenant's approval-notice wording (`approvals notice`).
    notices: NoticeStore,
    /// A bot's scheduled tasks; the schedule group is named after the stack (template.yaml).
    tasks: TaskManager,
    platform: PlatformConfig,
}

/// What a task action acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    Pause,
    Resume,
    Cancel,
}

/// A profile as `profile show` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShownProfile {
    pub tenant_id: String,
    pub user: Option<String>,
    /// `user`, `tenant` or `default` (least privilege: nothing stored).
    pub source: &'static str,
    pub preset: Option<String>,
    /// Every tool the agent may run under it, the always-allowed ones included.
    pub tools: Vec<String>,
    pub shell_read_only: bool,
    pub file_prefixes: Vec<String>,
}

fn parse_tenant(tenant: &str) -> Result<TenantId, AdminError> {
    TenantId::parse(tenant.trim()).map_err(|e| AdminError::Invalid(e.to_string()))
}

fn valid_name(what: &str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!("{what} name must be 1 to 100 printable characters")));
    }
    Ok(name.to_owned())
}

impl Admin {
    pub fn new(sdk: &aws_config::SdkConfig, stack: &str) -> Self {
        let platform = PlatformConfig::for_stack(stack);
        Self {
            store: Store::new(DynamoClient::new(sdk), &platform.table),
            secrets: SecretStore::new(SsmClient::new(sdk), &platform.parameter_prefix),
            profiles: ProfileStore::new(SsmClient::new(sdk), &platform.parameter_prefix),
            notices: NoticeStore::new(SsmClient::new(sdk), &platform.parameter_prefix),
            // Operators list and change tasks; only agents create them (no scheduler target here).
            tasks: TaskManager::new(
                std::sync::Arc::new(TaskStore::new(DynamoClient::new(sdk), &platform.table)),
                std::sync::Arc::new(Schedules::new(SchedulerClient::new(sdk), stack)),
                TaskSettings::default(),
            ),
            platform,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn notices(&self) -> &NoticeStore {
        &self.notices
    }

    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, AdminError> {
        Ok(self.store.create_tenant(&valid_name("tenant", name)?).await?)
    }

    pub async fn create_bot(&self, tenant: &str, name: &str, settings: BotSettings) -> Result<Bot, AdminError> {
        let tenant_id = TenantId::parse(tenant).map_err(|e| AdminError::Invalid(e.to_string()))?;
        if let Some(pattern) = &settings.trigger {
            Trigger::compile(pattern).map_err(|e| AdminError::Invalid(e.to_string()))?;
        }
        if let Some(provider) = &settings.model_provider
            && !MODEL_PROVIDERS.contains(&provider.as_str())
        {
            return Err(AdminError::Invalid(format!(
                "unknown model provider {provider:?} (accepted values: {})",
                MODEL_PROVIDERS.join(", ")
            )));
        }
        if settings.persona.as_ref().is_some_and(|p| p.chars().count() > MAX_PERSONA_CHARS) {
            return Err(AdminError::Invalid(format!("persona is limited to {MAX_PERSONA_CHARS} characters")));
        }
        Ok(self.store.create_bot(&tenant_id, &valid_name("bot", name)?, &settings).await?)
    }

    /// Stores a tenant's profile, or a user's override, from a preset or a tool list.
    pub async fn set_profile(
        &self,
        tenant: &str,
        user: Option<&str>,
        preset: Option<&str>,
        tools: Option<&str>,
    ) -> Result<ShownProfile, AdminError> {
        let tenant_id = parse_tenant(tenant)?;
        let user = user.map(UserRef::parse).transpose().map_err(AdminError::Invalid)?;
        let mut profile = match (preset, tools) {
            (Some(p), None) => PermissionProfile::preset(p),
            (None, Some(t)) => PermissionProfile::with_tools(t.split(',')),
            _ => return Err(AdminError::Invalid("give exactly one of --preset and --tools".into())),
        }
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
        if self.store.get_tenant(&tenant_id).await?.is_none() {
            return Err(AdminError::Invalid(format!("tenant {tenant_id} does not exist")));
        }
        profile.updated_by = Some("clawless-cli".into());
        profile.updated_at_ms = Some(now_ms());
        self.profiles.put(&tenant_id, user.as_ref(), &profile).await?;
        self.show_profile(tenant, user.as_ref().map(|u| u.to_string()).as_deref()).await
    }

    /// The profile that applies (the user's, else the tenant's, else the default).
    pub async fn show_profile(&self, tenant: &str, user: Option<&str>) -> Result<ShownProfile, AdminError> {
        let tenant_id = parse_tenant(tenant)?;
        let user = user.map(UserRef::parse).transpose().map_err(AdminError::Invalid)?;
        let (profile, source): (PermissionProfile, ProfileSource) =
            self.profiles.resolve(&tenant_id, user.as_ref()).await?;
        Ok(ShownProfile {
            tenant_id: tenant_id.to_string(),
            user: user.map(|u| u.to_string()),
            source: source.as_str(),
            preset: profile.preset.clone(),
            tools: profile.allowed_tools().into_iter().collect(),
            shell_read_only: profile.shell_read_only,
            file_prefixes: profile.file_prefixes.clone(),
        })
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
        let tenant_id = parse_tenant(tenant)?;
        let bot_id = BotId::parse(bot.trim()).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let channel: ChannelKind = channel.parse().map_err(|e| AdminError::Invalid(format!("{e}")))?;
        let user = UserRef::new(channel, user.trim()).map_err(AdminError::Invalid)?;
        let record = self
            .store
            .load_bot(&bot_id)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("bot {bot_id} does not exist")))?;
        if record.bot.tenant_id != tenant_id {
            return Err(AdminError::Invalid(format!("bot {bot_id} does not belong to tenant {tenant_id}")));
        }
        if record.channel(channel).is_none() {
            return Err(AdminError::Invalid(format!("bot {bot_id} has no {channel} channel (add it first)")));
        }
        let approver = ApproverConfig { tenant_id, bot_id, channel, user_id: user.user_id, updated_at_ms: now_ms() };
        if approver.route().is_none() {
            return Err(AdminError::Invalid(format!(
                "approver notices are not supported on {channel} yet (use telegram, slack or whatsapp)"
            )));
        }
        approver.conversation().map_err(|e| AdminError::Invalid(e.to_string()))?;
        self.store.put_approver(&approver).await.map_err(|e| AdminError::Invalid(e.to_string()))?;
        Ok(approver)
    }

    /// A tenant's permission requests, oldest first, optionally only those with `status`.
    pub async fn list_approvals(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> Result<Vec<PermissionRequest>, AdminError> {
        let tenant_id = parse_tenant(tenant)?;
        let status: Option<RequestStatus> = status
            .map(|s| {
                serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).map_err(|_| {
                    AdminError::Invalid(format!("unknown status {s:?} (pending, approved, rejected, expired)"))
                })
            })
            .transpose()?;
        let mut requests = self.store.requests(&tenant_id).await?;
        if let Some(status) = status {
            requests.retain(|r| r.status == status);
        }
        Ok(requests)
    }

    /// The scope of a bot's tasks (the tenant comes from the bot record).
    async fn bot_scope(&self, bot: &str) -> Result<Scope, AdminError> {
        let bot_id = BotId::parse(bot.trim()).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let record = self
            .store
            .load_bot(&bot_id)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("bot {bot_id} does not exist")))?;
        Ok(Scope::Bot { tenant_id: record.bot.tenant_id, bot_id })
    }

    /// A bot's scheduled tasks, oldest first.
    pub async fn list_tasks(&self, bot: &str) -> Result<Vec<TaskView>, AdminError> {
        let scope = self.bot_scope(bot).await?;
        Ok(self.tasks.list(&scope).await?.iter().map(|t| t.view()).collect())
    }

    /// Pauses, resumes or cancels one of a bot's tasks; the task as it is afterwards (as it was,
    /// for a cancelled one).
    pub async fn task_action(&self, bot: &str, task: &str, action: TaskAction) -> Result<TaskView, AdminError> {
        let scope = self.bot_scope(bot).await?;
        let now = now_ms();
        let task = match action {
            TaskAction::Pause => self.tasks.pause(&scope, task, now).await?,
            TaskAction::Resume => self.tasks.resume(&scope, task, now).await?,
            TaskAction::Cancel => self.tasks.cancel(&scope, task).await?,
        };
        Ok(task.view())
    }

    /// The API's base URL as the deployed stack recorded it in SSM.
    pub async fn recorded_api_url(&self) -> Result<Option<String>, AdminError> {
        let name = format!("{}/platform/api-url", self.platform.parameter_prefix);
        Ok(self.secrets.get_string(&name).await?)
    }

    /// Stores the channel's keys as a SecureString and attaches the channel to the bot.
    pub async fn add_channel(
        &self,
        bot: &str,
        channel: &str,
        settings: &[(String, String)],
        api_url: Option<&str>,
        register: bool,
    ) -> Result<ChannelAdded, AdminError> {
        let bot_id = BotId::parse(bot).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let kind: ChannelKind = channel
            .parse()
            .map_err(|e: clawless_core::domain::model::UnknownChannel| AdminError::Invalid(e.to_string()))?;
        let channel = channels::channel(kind)
            .ok_or_else(|| AdminError::Invalid(format!("channel {kind} is not supported yet")))?;
        let keys = channel.keys();
        let mut values = BTreeMap::new();
        for (key, value) in settings {
            if !keys.required.contains(&key.as_str()) && !keys.optional.contains(&key.as_str()) {
                let known = [keys.required, keys.optional].concat().join(", ");
                return Err(AdminError::Invalid(format!("unknown key {key:?} for {kind} (known: {known})")));
            }
            if values.insert(key.clone(), Secret::new(value.clone())).is_some() {
                return Err(AdminError::Invalid(format!("key {key:?} is given twice")));
            }
        }
        let missing: Vec<_> =
            keys.required.iter().filter(|k| values.get(**k).is_none_or(|v| v.expose().is_empty())).collect();
        if !missing.is_empty() {
            let missing = missing.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
            return Err(AdminError::Invalid(format!("{kind} needs --set for: {missing}")));
        }
        let secrets = ChannelSecrets(values);
        channel.validate_settings(&secrets).map_err(AdminError::Invalid)?;
        let registration = match channel.webhook_registration() {
            Some(registration) if register => Some(registration),
            None if register => {
                return Err(AdminError::Invalid(format!(
                    "--register is only available for {}; register the {kind} URL in its console",
                    registering_channels()
                )));
            }
            _ => None,
        };

        let record = self
            .store
            .load_bot(&bot_id)
            .await?
            .ok_or_else(|| AdminError::Invalid(format!("bot {bot_id} does not exist")))?;
        let parameter = self.secrets.channel_parameter(&record.bot.tenant_id, &bot_id, kind);
        // Secrets first: a binding never points at a parameter that is not there.
        self.secrets.put(&parameter, &secrets).await?;
        self.store
            .put_channel(&ChannelBinding {
                bot_id: bot_id.clone(),
                tenant_id: record.bot.tenant_id.clone(),
                channel: kind,
                secret_parameter: parameter,
                added_at_ms: now_ms(),
            })
            .await?;

        let base = match api_url {
            Some(url) => url.to_owned(),
            None => self.recorded_api_url().await?.unwrap_or_else(|| "<api-url>".to_owned()),
        };
        let webhook_url = format!("{}/webhook/{kind}/{bot_id}", base.trim_end_matches('/'));
        if let Some(registration) = registration {
            if !webhook_url.starts_with("https://") && !webhook_url.starts_with("http://") {
                return Err(AdminError::Invalid("cannot register without the API URL (pass --api-url)".into()));
            }
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            let api_base = channels::api_base(channel);
            registration.register_webhook(&http, &api_base, &secrets, &webhook_url).await.map_err(|e| {
                AdminError::Invalid(format!("the channel is stored, but registering it with {kind} failed: {e}"))
            })?;
        }
        Ok(ChannelAdded { bot_id: bot_id.to_string(), channel: kind.to_string(), webhook_url, registered: register })
    }
}

/// The channels `--register` can register with (Telegram's webhook and command menu, Discord's
/// application commands), for the error that names them.
fn registering_channels() -> String {
    let names: Vec<&str> = ChannelKind::ALL
        .into_iter()
        .filter(|kind| channels::channel(*kind).is_some_and(|channel| channel.webhook_registration().is_some()))
        .map(ChannelKind::as_str)
        .collect();
    names.join(", ")
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
