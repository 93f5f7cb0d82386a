//! What an operator (the CLI) and a tenant's admins (the admin API behind the console) do to
//! tenants, bots, channels, profiles, approvals, tasks, history, usage and users: one
//! implementation for both. Every call names who acts ([`Acting`]); a tenant may only reach its
//! own resources, and anything of another tenant is `NotFound`, exactly as something that does
//! not exist.

pub mod access;
pub mod api;
pub mod identity;
pub mod ports;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::approvals::{ApprovalError, ApprovalFlow, ApproverConfig, Decided, Scope};
use crate::channels;
use crate::domain::ids::{BotId, ConversationId, ConversationRef, TenantId};
use crate::domain::model::Role as LineRole;
use crate::domain::model::{Bot, BotSettings, BotStatus, ChannelBinding, ChannelKind, Tenant, month_of, now_ms};
use crate::domain::permissions::{DecisionRecord, PermissionProfile, PermissionRequest, RequestStatus, UserRef};
use crate::domain::profiles::ProfileStoreError;
use crate::domain::secrets::{ChannelSecrets, Secret, SecretsError};
use crate::domain::trigger::Trigger;
use crate::domain::usage::TenantQuota;
use crate::ports::{ApprovalRepo, ProfileRepo, StoreError, UsageRepo};
use crate::tasks::{Scope as TaskScope, TaskError, TaskManager, TaskView};
use ports::{ChannelSecretWriter, DirectoryError, Page, TenantAdminRepo, UserDirectory, UserEntry};

/// The model providers a bot may name (the agent's `CLAWLESS_MODEL_PROVIDER` values).
pub const MODEL_PROVIDERS: [&str; 3] = ["bedrock", "openai", "offline"];
/// Longest bot persona, in characters.
pub const MAX_PERSONA_CHARS: usize = 2_000;
/// Most items one page of a list holds.
pub const MAX_PAGE: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Profiles(#[from] ProfileStoreError),
    #[error(transparent)]
    Tasks(#[from] TaskError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
}

/// Who a call acts for: the operator (any tenant; the CLI, which holds AWS credentials for the
/// whole stack) or one tenant (the admin API, from a verified token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    Operator,
    Tenant(TenantId),
}

impl Acting {
    fn may_see(&self, tenant: &TenantId) -> bool {
        match self {
            Acting::Operator => true,
            Acting::Tenant(t) => t == tenant,
        }
    }
}

/// A console user's role in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    Admin,
    Member,
}

impl UserRole {
    pub fn parse(raw: &str) -> Result<Self, AdminError> {
        match raw.trim() {
            "admin" => Ok(UserRole::Admin),
            "member" => Ok(UserRole::Member),
            other => Err(AdminError::Invalid(format!("unknown role {other:?} (admin or member)"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Member => "member",
        }
    }
}

/// A channel attached (or its keys rotated): where the channel must send its webhooks.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelAdded {
    pub bot_id: String,
    pub channel: String,
    pub webhook_url: String,
    /// Whether the webhook was registered with the channel's API.
    pub registered: bool,
    /// Where to paste the webhook URL, in words.
    pub steps: String,
}

/// A bot as lists and pages show it: its record and its channels' webhook URLs (never keys).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BotView {
    #[serde(flatten)]
    pub bot: Bot,
    pub channels: Vec<ChannelView>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelView {
    #[serde(rename = "type")]
    pub kind: ChannelKind,
    pub webhook_url: String,
    pub added_at_ms: i64,
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

/// A change to a bot: `None` leaves a field; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct BotPatch {
    pub name: Option<String>,
    pub persona: Option<Option<String>>,
    pub model_provider: Option<Option<String>>,
    pub model_id: Option<Option<String>>,
    pub trigger: Option<Option<String>>,
    pub status: Option<BotStatus>,
    pub dm: Option<crate::access::DmPolicy>,
    pub groups: Option<crate::access::GroupPolicy>,
}

/// What a task action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    Pause,
    Resume,
    Cancel,
}

/// A decision on a permission request from outside a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleDecision {
    /// `None`: reject.
    pub scope: Option<Scope>,
    pub reason: Option<String>,
    /// If given, the request's arguments hash must start with it (what the decider saw).
    pub arguments_hash: Option<String>,
    /// Names this attempt, so a retry of it redoes its steps instead of finding it decided.
    pub attempt: String,
}

/// A conversation line as the history shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HistoryLine {
    pub role: &'static str,
    pub sender: String,
    pub text: String,
    pub at_ms: i64,
}

/// A tenant's month against its budget.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UsageView {
    pub tenant_id: String,
    pub month: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens: u64,
    pub runs: u64,
    pub messages: u64,
    pub monthly_tokens: Option<u64>,
    /// Bytes of files taken in from chats and sent to them.
    pub file_bytes_in: u64,
    pub file_bytes_out: u64,
}

/// Everything the admin operations use.
pub struct AdminPorts {
    pub repo: Arc<dyn TenantAdminRepo>,
    pub secrets: Arc<dyn ChannelSecretWriter>,
    pub profiles: Arc<dyn ProfileRepo>,
    pub approvals: Arc<dyn ApprovalRepo>,
    pub access: Arc<dyn crate::access::AccessRepo>,
    pub usage: Arc<dyn UsageRepo>,
    pub tasks: TaskManager,
    /// Decisions outside a chat (the admin API); the CLI has none.
    pub flow: Option<ApprovalFlow>,
    /// The console's logins; `None` where there is no user pool.
    pub users: Option<Arc<dyn UserDirectory>>,
}

pub struct AdminService {
    ports: AdminPorts,
    http: reqwest::Client,
    api_url: Mutex<Option<String>>,
}

fn parse_tenant(tenant: &str) -> Result<TenantId, AdminError> {
    TenantId::parse(tenant.trim()).map_err(|e| AdminError::Invalid(e.to_string()))
}

fn parse_bot(bot: &str) -> Result<BotId, AdminError> {
    BotId::parse(bot.trim()).map_err(|e| AdminError::Invalid(e.to_string()))
}

fn parse_kind(channel: &str) -> Result<ChannelKind, AdminError> {
    channel.trim().parse().map_err(|e: crate::domain::model::UnknownChannel| AdminError::Invalid(e.to_string()))
}

fn valid_name(what: &str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!("{what} name must be 1 to 100 printable characters")));
    }
    Ok(name.to_owned())
}

fn check_settings(trigger: Option<&str>, provider: Option<&str>, persona: Option<&str>) -> Result<(), AdminError> {
    if let Some(pattern) = trigger {
        Trigger::compile(pattern).map_err(|e| AdminError::Invalid(e.to_string()))?;
    }
    if let Some(provider) = provider
        && !MODEL_PROVIDERS.contains(&provider)
    {
        return Err(AdminError::Invalid(format!(
            "unknown model provider {provider:?} (accepted values: {})",
            MODEL_PROVIDERS.join(", ")
        )));
    }
    if persona.is_some_and(|p| p.chars().count() > MAX_PERSONA_CHARS) {
        return Err(AdminError::Invalid(format!("persona is limited to {MAX_PERSONA_CHARS} characters")));
    }
    Ok(())
}

/// An email as a login name: trimmed, lower-cased, one `@`, printable, at most 254 characters.
pub fn parse_email(raw: &str) -> Result<String, AdminError> {
    let email = raw.trim().to_ascii_lowercase();
    let ok = email.len() <= 254
        && email.split('@').count() == 2
        && email.split('@').all(|part| !part.is_empty())
        && email.contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '#');
    if !ok {
        return Err(AdminError::Invalid(format!("{:?} is not an email address", raw.trim())));
    }
    Ok(email)
}

/// `yyyy-mm` with a real month, or a clear error.
pub fn parse_month(month: &str) -> Result<String, AdminError> {
    let valid = month.len() == 7
        && month.as_bytes()[4] == b'-'
        && month[..4].bytes().all(|b| b.is_ascii_digit())
        && month[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    if valid { Ok(month.to_owned()) } else { Err(AdminError::Invalid(format!("month {month:?} is not yyyy-mm"))) }
}

/// Where to paste a channel's webhook URL, in words.
pub fn setup_steps(kind: ChannelKind, webhook_url: &str) -> String {
    match kind {
        ChannelKind::Telegram => format!(
            "Register it: the console's Register button (or `clawless channel add --register`) calls Telegram's setWebhook with {webhook_url} and your webhook_secret as secret_token."
        ),
        ChannelKind::Slack => format!(
            "In api.slack.com/apps → your app: Event Subscriptions → Request URL = {webhook_url}; Interactivity & Shortcuts → Request URL = the same; subscribe to message.im, message.channels and app_mention."
        ),
        ChannelKind::Discord => format!(
            "In the Discord Developer Portal → your application → General Information: Interactions Endpoint URL = {webhook_url}. The Register button puts the slash commands."
        ),
        ChannelKind::Whatsapp => format!(
            "In the Meta App Dashboard → WhatsApp → Configuration: Callback URL = {webhook_url}, Verify token = your verify_token; subscribe to messages."
        ),
        ChannelKind::Feishu => format!(
            "In the Feishu/Lark developer console → your app → Event Subscriptions: Request URL = {webhook_url}; add the im.message.receive_v1 event."
        ),
    }
}

/// The channels the Register action registers with (the others say where to paste the URL).
fn registering_channels() -> String {
    let names: Vec<&str> = ChannelKind::ALL
        .into_iter()
        .filter(|kind| channels::channel(*kind).is_some_and(|channel| channel.webhook_registration().is_some()))
        .map(ChannelKind::as_str)
        .collect();
    names.join(", ")
}

impl AdminService {
    /// `http` calls the channels' APIs when a webhook is registered (the process's one client).
    pub fn new(ports: AdminPorts, http: reqwest::Client) -> Self {
        Self { ports, http, api_url: Mutex::new(None) }
    }

    /// The HTTP client the service was given, for the caller's other calls (the token keys).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn ports(&self) -> &AdminPorts {
        &self.ports
    }

    /// Uses `url` for webhook URLs instead of the one the stack recorded.
    pub fn with_api_url(self, url: Option<String>) -> Self {
        if let Ok(mut slot) = self.api_url.lock() {
            *slot = url;
        }
        self
    }

    async fn api_base(&self) -> Result<String, AdminError> {
        if let Some(url) = self.api_url.lock().ok().and_then(|u| u.clone()) {
            return Ok(url);
        }
        let recorded = self.ports.secrets.api_url().await?.unwrap_or_else(|| "<api-url>".to_owned());
        if let Ok(mut slot) = self.api_url.lock() {
            *slot = Some(recorded.clone());
        }
        Ok(recorded)
    }

    fn webhook_url(base: &str, kind: ChannelKind, bot_id: &BotId) -> String {
        format!("{}/webhook/{kind}/{bot_id}", base.trim_end_matches('/'))
    }

    /// A tenant that exists and `acting` may see.
    pub async fn tenant(&self, acting: &Acting, tenant: &str) -> Result<Tenant, AdminError> {
        let tenant_id = parse_tenant(tenant)?;
        if !acting.may_see(&tenant_id) {
            return Err(AdminError::NotFound(format!("tenant {tenant_id}")));
        }
        self.ports.repo.get_tenant(&tenant_id).await?.ok_or_else(|| AdminError::NotFound(format!("tenant {tenant_id}")))
    }

    pub async fn create_tenant(&self, acting: &Acting, name: &str) -> Result<Tenant, AdminError> {
        if *acting != Acting::Operator {
            return Err(AdminError::Forbidden("only the operator creates tenants".into()));
        }
        Ok(self.ports.repo.create_tenant(&valid_name("tenant", name)?).await?)
    }

    /// A bot `acting` may see, with its channels.
    pub async fn bot_record(
        &self,
        acting: &Acting,
        bot: &str,
    ) -> Result<crate::domain::records::BotRecord, AdminError> {
        let bot_id = parse_bot(bot)?;
        match self.ports.repo.load_bot(&bot_id).await? {
            Some(record) if acting.may_see(&record.bot.tenant_id) => Ok(record),
            _ => Err(AdminError::NotFound(format!("bot {bot_id}"))),
        }
    }

    async fn view(&self, record: crate::domain::records::BotRecord) -> Result<BotView, AdminError> {
        let base = self.api_base().await?;
        let channels = record
            .channels
            .iter()
            .map(|c| ChannelView {
                kind: c.channel,
                webhook_url: Self::webhook_url(&base, c.channel, &c.bot_id),
                added_at_ms: c.added_at_ms,
            })
            .collect();
        Ok(BotView { bot: record.bot, channels })
    }

    pub async fn bot(&self, acting: &Acting, bot: &str) -> Result<BotView, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        self.view(record).await
    }

    pub async fn create_bot(
        &self,
        acting: &Acting,
        tenant: &str,
        name: &str,
        settings: BotSettings,
    ) -> Result<Bot, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        check_settings(settings.trigger.as_deref(), settings.model_provider.as_deref(), settings.persona.as_deref())?;
        Ok(self.ports.repo.create_bot(&tenant.tenant_id, &valid_name("bot", name)?, &settings).await?)
    }

    pub async fn list_bots(&self, acting: &Acting, tenant: &str) -> Result<Vec<BotView>, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let mut views = Vec::new();
        for bot_id in self.ports.repo.list_bots(&tenant.tenant_id).await? {
            if let Some(record) = self.ports.repo.load_bot(&bot_id).await?
                && record.bot.tenant_id == tenant.tenant_id
            {
                views.push(self.view(record).await?);
            }
        }
        Ok(views)
    }

    pub async fn update_bot(&self, acting: &Acting, bot: &str, patch: BotPatch) -> Result<BotView, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        let mut b = record.bot.clone();
        if let Some(name) = &patch.name {
            b.name = valid_name("bot", name)?;
        }
        if let Some(persona) = patch.persona {
            b.persona = persona;
        }
        if let Some(provider) = patch.model_provider {
            b.model_provider = provider;
        }
        if let Some(model) = patch.model_id {
            b.model_id = model;
        }
        if let Some(trigger) = patch.trigger {
            b.trigger = trigger;
        }
        if let Some(status) = patch.status {
            b.status = status;
        }
        if let Some(dm) = patch.dm {
            b.access.dm = dm;
        }
        if let Some(groups) = patch.groups {
            b.access.groups = groups;
        }
        check_settings(b.trigger.as_deref(), b.model_provider.as_deref(), b.persona.as_deref())?;
        self.ports.repo.update_bot(&b).await?;
        self.bot(acting, b.bot_id.as_str()).await
    }

    /// Deletes a bot: its scheduled tasks, its channels' keys, its record and bindings.
    pub async fn delete_bot(&self, acting: &Acting, bot: &str) -> Result<(), AdminError> {
        let record = self.bot_record(acting, bot).await?;
        let scope = TaskScope::Bot { tenant_id: record.bot.tenant_id.clone(), bot_id: record.bot.bot_id.clone() };
        for task in self.ports.tasks.list(&scope).await? {
            if let Err(e) = self.ports.tasks.cancel(&scope, task.task_id.as_str()).await {
                tracing::warn!(event = "bot_delete_task_cancel_failed", bot_id = %record.bot.bot_id, task_id = %task.task_id, error = %e);
            }
        }
        for binding in &record.channels {
            self.ports.secrets.delete(&binding.secret_parameter).await?;
        }
        let provider_key = record.provider.as_ref().and_then(|p| p.key_parameter.as_ref());
        for parameter in record.mcp_servers.iter().filter_map(|s| s.secret_parameter.as_ref()).chain(provider_key) {
            self.ports.secrets.delete(parameter).await?;
        }
        self.ports.repo.delete_bot(&record.bot).await?;
        Ok(())
    }

    /// Parses and checks a channel's keys for `kind`: every key known, the required ones given.
    fn channel_secrets(kind: ChannelKind, settings: &[(String, String)]) -> Result<ChannelSecrets, AdminError> {
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
            return Err(AdminError::Invalid(format!("{kind} needs these keys: {missing}")));
        }
        let secrets = ChannelSecrets(values);
        channel.validate_settings(&secrets).map_err(AdminError::Invalid)?;
        Ok(secrets)
    }

    async fn register(&self, kind: ChannelKind, secrets: &ChannelSecrets, webhook_url: &str) -> Result<(), AdminError> {
        let channel = channels::channel(kind)
            .ok_or_else(|| AdminError::Invalid(format!("channel {kind} is not supported yet")))?;
        let Some(registration) = channel.webhook_registration() else {
            return Err(AdminError::Invalid(format!(
                "registering is only available for {}; register the {kind} URL in its console",
                registering_channels()
            )));
        };
        if !webhook_url.starts_with("https://") && !webhook_url.starts_with("http://") {
            return Err(AdminError::Invalid("cannot register without the API URL (pass --api-url)".into()));
        }
        let api_base = channels::api_base(channel);
        registration.register_webhook(&self.http, &api_base, secrets, webhook_url).await.map_err(|e| {
            AdminError::Invalid(format!("the channel is stored, but registering it with {kind} failed: {e}"))
        })
    }

    /// Stores the channel's keys (write-only: never returned) and attaches the channel.
    pub async fn add_channel(
        &self,
        acting: &Acting,
        bot: &str,
        channel: &str,
        settings: &[(String, String)],
        register: bool,
    ) -> Result<ChannelAdded, AdminError> {
        let kind = parse_kind(channel)?;
        let secrets = Self::channel_secrets(kind, settings)?;
        if register && channels::channel(kind).is_some_and(|c| c.webhook_registration().is_none()) {
            return Err(AdminError::Invalid(format!(
                "--register is only available for {}; register the {kind} URL in its console",
                registering_channels()
            )));
        }
        let record = self.bot_record(acting, bot).await?;
        let bot_id = record.bot.bot_id.clone();
        let parameter = self.ports.secrets.channel_parameter(&record.bot.tenant_id, &bot_id, kind);
        // Secrets first: a binding never points at a parameter that is not there.
        self.ports.secrets.put(&parameter, &secrets).await?;
        self.ports
            .repo
            .put_channel(&ChannelBinding {
                bot_id: bot_id.clone(),
                tenant_id: record.bot.tenant_id.clone(),
                channel: kind,
                secret_parameter: parameter,
                added_at_ms: now_ms(),
            })
            .await?;
        let webhook_url = Self::webhook_url(&self.api_base().await?, kind, &bot_id);
        if register {
            self.register(kind, &secrets, &webhook_url).await?;
        }
        Ok(ChannelAdded {
            bot_id: bot_id.to_string(),
            channel: kind.to_string(),
            steps: setup_steps(kind, &webhook_url),
            webhook_url,
            registered: register,
        })
    }

    /// Replaces a channel's keys (the binding stays; the functions see the new keys within their
    /// cache time).
    pub async fn rotate_channel(
        &self,
        acting: &Acting,
        bot: &str,
        channel: &str,
        settings: &[(String, String)],
    ) -> Result<ChannelAdded, AdminError> {
        let kind = parse_kind(channel)?;
        let secrets = Self::channel_secrets(kind, settings)?;
        let record = self.bot_record(acting, bot).await?;
        let binding = record
            .channel(kind)
            .ok_or_else(|| AdminError::NotFound(format!("{kind} channel of bot {}", record.bot.bot_id)))?;
        self.ports.secrets.put(&binding.secret_parameter, &secrets).await?;
        let webhook_url = Self::webhook_url(&self.api_base().await?, kind, &record.bot.bot_id);
        Ok(ChannelAdded {
            bot_id: record.bot.bot_id.to_string(),
            channel: kind.to_string(),
            steps: setup_steps(kind, &webhook_url),
            webhook_url,
            registered: false,
        })
    }

    /// Registers an attached channel's webhook with its API where the channel allows it.
    pub async fn register_channel(
        &self,
        acting: &Acting,
        bot: &str,
        channel: &str,
    ) -> Result<ChannelAdded, AdminError> {
        let kind = parse_kind(channel)?;
        let record = self.bot_record(acting, bot).await?;
        let binding = record
            .channel(kind)
            .ok_or_else(|| AdminError::NotFound(format!("{kind} channel of bot {}", record.bot.bot_id)))?;
        let webhook_url = Self::webhook_url(&self.api_base().await?, kind, &record.bot.bot_id);
        let registrable = channels::channel(kind).is_some_and(|c| c.webhook_registration().is_some());
        if registrable {
            let secrets = self
                .ports
                .secrets
                .get(&binding.secret_parameter)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("the keys of the {kind} channel")))?;
            self.register(kind, &secrets, &webhook_url).await?;
        }
        Ok(ChannelAdded {
            bot_id: record.bot.bot_id.to_string(),
            channel: kind.to_string(),
            steps: setup_steps(kind, &webhook_url),
            webhook_url,
            registered: registrable,
        })
    }

    /// Detaches a channel and deletes its keys.
    pub async fn remove_channel(&self, acting: &Acting, bot: &str, channel: &str) -> Result<(), AdminError> {
        let kind = parse_kind(channel)?;
        let record = self.bot_record(acting, bot).await?;
        let binding = record
            .channel(kind)
            .ok_or_else(|| AdminError::NotFound(format!("{kind} channel of bot {}", record.bot.bot_id)))?;
        // Binding first: no binding ever points at a deleted parameter.
        self.ports.repo.delete_channel(&record.bot.bot_id, kind).await?;
        self.ports.secrets.delete(&binding.secret_parameter).await?;
        Ok(())
    }

    /// Stores a tenant's profile, or a user's override, from a preset or a tool list.
    pub async fn set_profile(
        &self,
        acting: &Acting,
        tenant: &str,
        user: Option<&str>,
        preset: Option<&str>,
        tools: Option<&[String]>,
        by: &str,
    ) -> Result<ShownProfile, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let user = user.map(UserRef::parse).transpose().map_err(AdminError::Invalid)?;
        let mut profile = match (preset, tools) {
            (Some(p), None) => PermissionProfile::preset(p),
            (None, Some(t)) => PermissionProfile::with_tools(t.iter().map(String::as_str)),
            _ => return Err(AdminError::Invalid("give exactly one of a preset and a tool list".into())),
        }
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
        profile.updated_by = Some(by.to_owned());
        profile.updated_at_ms = Some(now_ms());
        self.ports.profiles.put(&tenant.tenant_id, user.as_ref(), &profile).await?;
        self.show_profile(acting, tenant.tenant_id.as_str(), user.as_ref().map(|u| u.to_string()).as_deref()).await
    }

    /// The profile that applies (the user's, else the tenant's, else the default).
    pub async fn show_profile(
        &self,
        acting: &Acting,
        tenant: &str,
        user: Option<&str>,
    ) -> Result<ShownProfile, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let user = user.map(UserRef::parse).transpose().map_err(AdminError::Invalid)?;
        let (profile, source) = self.ports.profiles.resolve(&tenant.tenant_id, user.as_ref()).await?;
        Ok(ShownProfile {
            tenant_id: tenant.tenant_id.to_string(),
            user: user.map(|u| u.to_string()),
            source: source.as_str(),
            preset: profile.preset.clone(),
            tools: profile.allowed_tools().into_iter().collect(),
            shell_read_only: profile.shell_read_only,
            file_prefixes: profile.file_prefixes.clone(),
        })
    }

    /// Makes `user` on `channel` of `bot` the tenant's approver.
    pub async fn set_approver(
        &self,
        acting: &Acting,
        tenant: &str,
        bot: &str,
        channel: &str,
        user: &str,
    ) -> Result<ApproverConfig, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let kind = parse_kind(channel)?;
        let user = UserRef::new(kind, user.trim()).map_err(AdminError::Invalid)?;
        // Another tenant's bot is as unknown as a missing one.
        let record = self.bot_record(&Acting::Tenant(tenant.tenant_id.clone()), bot).await?;
        if record.channel(kind).is_none() {
            return Err(AdminError::Invalid(format!("bot {} has no {kind} channel (add it first)", record.bot.bot_id)));
        }
        let approver = ApproverConfig {
            tenant_id: tenant.tenant_id,
            bot_id: record.bot.bot_id,
            channel: kind,
            user_id: user.user_id,
            updated_at_ms: now_ms(),
        };
        if approver.route().is_none() {
            return Err(AdminError::Invalid(format!(
                "approver notices are not supported on {kind} yet (use telegram, slack or whatsapp)"
            )));
        }
        approver.conversation().map_err(|e| AdminError::Invalid(e.to_string()))?;
        self.ports.approvals.put_approver(&approver).await?;
        Ok(approver)
    }

    pub async fn approver(&self, acting: &Acting, tenant: &str) -> Result<Option<ApproverConfig>, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        Ok(self.ports.approvals.approver(&tenant.tenant_id).await?)
    }

    /// A tenant's permission requests, oldest first, optionally only those with `status`.
    pub async fn list_approvals(
        &self,
        acting: &Acting,
        tenant: &str,
        status: Option<&str>,
    ) -> Result<Vec<PermissionRequest>, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let status: Option<RequestStatus> = status
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).map_err(|_| {
                    AdminError::Invalid(format!("unknown status {s:?} (pending, approved, rejected, expired)"))
                })
            })
            .transpose()?;
        let mut requests = self.ports.approvals.requests(&tenant.tenant_id).await?;
        if let Some(status) = status {
            requests.retain(|r| r.status == status);
        }
        Ok(requests)
    }

    /// Decides a permission request outside a chat: the same conditional write as `/approve`.
    pub async fn decide(
        &self,
        acting: &Acting,
        tenant: &str,
        request_id: &str,
        decision: ConsoleDecision,
        by: &str,
    ) -> Result<PermissionRequest, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let flow =
            self.ports.flow.as_ref().ok_or_else(|| AdminError::Invalid("decisions are not available here".into()))?;
        let request_id = request_id.trim();
        let Some(request) = self.ports.approvals.request(&tenant.tenant_id, request_id).await? else {
            return Err(AdminError::NotFound(format!("permission request {request_id}")));
        };
        if let Some(hash) = decision.arguments_hash.as_deref().filter(|h| !request.arguments_hash.starts_with(*h)) {
            return Err(AdminError::Conflict(format!(
                "{hash} is not the hash of request {request_id}'s arguments: reload and look again"
            )));
        }
        if let Some(reason) = &decision.reason
            && (reason.chars().count() > 500 || reason.chars().any(char::is_control))
        {
            return Err(AdminError::Invalid("a reason is at most 500 printable characters".into()));
        }
        let record = DecisionRecord {
            how: decision.scope.map(Scope::how).unwrap_or("rejected").to_owned(),
            by: by.to_owned(),
            at_ms: now_ms(),
            hours: match decision.scope {
                Some(Scope::Hours(h)) => Some(h),
                _ => None,
            },
            reason: decision.reason.clone(),
            message_id: Some(format!("console:{}", decision.attempt)),
        };
        match flow.decide_elsewhere(&tenant.tenant_id, request_id, decision.scope, record).await? {
            Decided::Now(r) => Ok(self.ports.approvals.request(&tenant.tenant_id, request_id).await?.unwrap_or(r)),
            Decided::NotFound => Err(AdminError::NotFound(format!("permission request {request_id}"))),
            Decided::Expired(r) => {
                Err(AdminError::Conflict(format!("request {} expired; it can no longer be decided", r.request_id)))
            }
            Decided::Already(r) => {
                let how = r.decision.as_ref().map(|d| d.how.as_str()).unwrap_or("decided");
                Err(AdminError::Conflict(format!("request {} was already decided ({how})", r.request_id)))
            }
        }
    }

    async fn task_scope(&self, acting: &Acting, bot: &str) -> Result<TaskScope, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        Ok(TaskScope::Bot { tenant_id: record.bot.tenant_id, bot_id: record.bot.bot_id })
    }

    /// A bot's scheduled tasks, oldest first.
    pub async fn list_tasks(&self, acting: &Acting, bot: &str) -> Result<Vec<TaskView>, AdminError> {
        let scope = self.task_scope(acting, bot).await?;
        Ok(self.ports.tasks.list(&scope).await?.iter().map(|t| t.view()).collect())
    }

    /// Pauses, resumes or cancels one of a bot's tasks; the task as it is afterwards (as it was,
    /// for a cancelled one).
    pub async fn task_action(
        &self,
        acting: &Acting,
        bot: &str,
        task: &str,
        action: TaskAction,
    ) -> Result<TaskView, AdminError> {
        let scope = self.task_scope(acting, bot).await?;
        let now = now_ms();
        let task = match action {
            TaskAction::Pause => self.ports.tasks.pause(&scope, task, now).await,
            TaskAction::Resume => self.ports.tasks.resume(&scope, task, now).await,
            TaskAction::Cancel => self.ports.tasks.cancel(&scope, task).await,
        }?;
        Ok(task.view())
    }

    /// A bot's conversations, a page at a time.
    pub async fn conversations(
        &self,
        acting: &Acting,
        bot: &str,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ports::ConversationSummary>, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        Ok(self
            .ports
            .repo
            .conversations(&record.bot.tenant_id, &record.bot.bot_id, cursor, limit.clamp(1, MAX_PAGE))
            .await?)
    }

    /// A conversation's lines, newest first, a page at a time. `key` is `{channel}:{conversation}`.
    pub async fn messages(
        &self,
        acting: &Acting,
        bot: &str,
        key: &str,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<HistoryLine>, AdminError> {
        let record = self.bot_record(acting, bot).await?;
        let (channel, id) =
            key.split_once(':').ok_or_else(|| AdminError::Invalid("a conversation is named {channel}:{id}".into()))?;
        let conversation = ConversationRef {
            tenant_id: record.bot.tenant_id.clone(),
            bot_id: record.bot.bot_id.clone(),
            channel: parse_kind(channel)?,
            conversation_id: ConversationId::parse(id).map_err(|e| AdminError::Invalid(e.to_string()))?,
        };
        let page = self.ports.repo.messages_page(&conversation, cursor, limit.clamp(1, MAX_PAGE)).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|m| HistoryLine {
                    role: if m.role == LineRole::User { "user" } else { "assistant" },
                    sender: m.sender_name,
                    text: m.text,
                    at_ms: m.at_ms,
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// A tenant's use in `month` (yyyy-mm; default this month) against its budget.
    pub async fn usage(&self, acting: &Acting, tenant: &str, month: Option<&str>) -> Result<UsageView, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let month = match month.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => parse_month(m)?,
            None => month_of(now_ms()),
        };
        let used = self.ports.usage.month_use(&tenant.tenant_id, &month).await?;
        let quota = self.ports.usage.quota(&tenant.tenant_id).await?;
        Ok(UsageView {
            tenant_id: tenant.tenant_id.to_string(),
            month,
            input_tokens: used.input_tokens,
            output_tokens: used.output_tokens,
            tokens: used.tokens(),
            runs: used.runs,
            messages: used.messages,
            monthly_tokens: quota.monthly_tokens,
            file_bytes_in: used.file_bytes_in,
            file_bytes_out: used.file_bytes_out,
        })
    }

    pub async fn quota(&self, acting: &Acting, tenant: &str) -> Result<TenantQuota, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        Ok(self.ports.usage.quota(&tenant.tenant_id).await?)
    }

    /// Changes the limits given (0 removes one); the others stay.
    pub async fn set_quota(
        &self,
        acting: &Acting,
        tenant: &str,
        change: QuotaChange,
    ) -> Result<TenantQuota, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let mut quota = self.ports.usage.quota(&tenant.tenant_id).await?;
        if let Some(v) = change.monthly_tokens {
            quota.monthly_tokens = (v > 0).then_some(v);
        }
        if let Some(v) = change.concurrent_runs {
            quota.concurrent_runs = (v > 0).then_some(v);
        }
        if let Some(v) = change.messages_per_minute {
            quota.messages_per_minute = (v > 0).then_some(v);
        }
        if let Some(v) = change.bot_messages_per_minute {
            quota.bot_messages_per_minute = (v > 0).then_some(v);
        }
        self.ports.usage.set_quota(&tenant.tenant_id, &quota).await?;
        Ok(quota)
    }

    fn users(&self) -> Result<&Arc<dyn UserDirectory>, AdminError> {
        self.ports.users.as_ref().ok_or_else(|| AdminError::Invalid("this stack has no user pool".into()))
    }

    /// Creates a console login in `tenant` with `role`.
    pub async fn add_user(
        &self,
        acting: &Acting,
        tenant: &str,
        email: &str,
        role: &str,
        password: Option<&str>,
    ) -> Result<UserEntry, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let email = parse_email(email)?;
        let role = UserRole::parse(role)?;
        let users = self.users()?;
        if self.ports.repo.user(&tenant.tenant_id, &email).await?.is_some() {
            return Err(AdminError::Conflict(format!("a user {email} already exists")));
        }
        let username =
            users.create_user(&tenant.tenant_id, &email, role.as_str(), password).await.map_err(|e| match e {
                DirectoryError::Exists(what) => AdminError::Conflict(format!("a user {what} already exists")),
                DirectoryError::Invalid(why) => AdminError::Invalid(why),
                other => AdminError::Directory(other),
            })?;
        let entry = UserEntry {
            tenant_id: tenant.tenant_id,
            email,
            role: role.as_str().to_owned(),
            username,
            created_at_ms: now_ms(),
        };
        self.ports.repo.put_user(&entry).await?;
        Ok(entry)
    }

    pub async fn list_users(&self, acting: &Acting, tenant: &str) -> Result<Vec<UserEntry>, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        Ok(self.ports.repo.list_users(&tenant.tenant_id).await?)
    }

    /// Deletes a console login of `tenant`.
    pub async fn remove_user(&self, acting: &Acting, tenant: &str, email: &str) -> Result<UserEntry, AdminError> {
        let tenant = self.tenant(acting, tenant).await?;
        let email = parse_email(email)?;
        let entry = self
            .ports
            .repo
            .user(&tenant.tenant_id, &email)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("user {email}")))?;
        self.users()?.delete_user(&entry.username).await?;
        self.ports.repo.delete_user(&tenant.tenant_id, &email).await?;
        Ok(entry)
    }
}

/// A change of limits: `None` keeps one, `Some(0)` removes it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaChange {
    pub monthly_tokens: Option<u64>,
    pub concurrent_runs: Option<u32>,
    pub messages_per_minute: Option<u32>,
    pub bot_messages_per_minute: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_junk_refused() {
        assert_eq!(parse_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in
            ["", "ada", "ada@", "@example.com", "a@b@c.com", "a b@c.com", "a/b@c.com", "a#b@c.com", "ada@example"]
        {
            assert!(parse_email(bad).is_err(), "{bad:?}");
        }
        assert!(parse_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn months_are_yyyy_mm() {
        assert_eq!(parse_month("2026-12").unwrap(), "2026-12");
        for bad in ["2026-13", "2026-00", "2026-1", "26-12", "2026/12", "", "2026-12-01"] {
            assert!(parse_month(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_are_admin_or_member() {
        assert_eq!(UserRole::parse("admin").unwrap(), UserRole::Admin);
        assert_eq!(UserRole::parse("member").unwrap(), UserRole::Member);
        assert!(UserRole::parse("owner").is_err());
        assert!(UserRole::parse("Admin").is_err(), "exact, as the token's claim is compared");
    }

    #[test]
    fn a_tenant_sees_only_itself_and_the_operator_every_tenant() {
        let (a, b) = (TenantId::generate(), TenantId::generate());
        assert!(Acting::Tenant(a.clone()).may_see(&a));
        assert!(!Acting::Tenant(a.clone()).may_see(&b));
        assert!(Acting::Operator.may_see(&b));
    }

    #[test]
    fn every_channel_says_where_its_webhook_url_goes() {
        for kind in ChannelKind::ALL {
            let steps = setup_steps(kind, "https://api.example/webhook/x/b1");
            assert!(steps.contains("https://api.example/webhook/x/b1"), "{kind}: {steps}");
        }
    }
}
